//! [`BindingRepository`] on the database: one row per course.

use async_trait::async_trait;
use diesel::prelude::*;
use pok_domain::Result;
use pok_domain::binding::CourseBinding;
use pok_domain::ports::BindingRepository;
use pok_domain::values::CourseKey;

use crate::backend::{StoreError, write_transaction};
use crate::database::Database;
use crate::rows::BindingRow;
use crate::schema::course_bindings;

#[async_trait]
impl BindingRepository for Database {
    async fn get(&self, course: &CourseKey) -> Result<Option<CourseBinding>> {
        let course = course.as_str().to_owned();
        self.run("get binding", move |conn| {
            let row = course_bindings::table
                .filter(course_bindings::course_key.eq(course))
                .select(BindingRow::as_select())
                // The primary key: no `LIMIT ?`, which SQLite re-plans on every call.
                .get_result(conn)
                .optional()?;
            Ok(row.map(BindingRow::into_domain).transpose()?)
        })
        .await
    }

    /// Update, or insert when there was nothing to update; written without a backend's own
    /// upsert syntax so that the statement is the same everywhere. Two concurrent first
    /// upserts of one course both insert: the loser's insert hits the primary key and it
    /// updates instead on its second round.
    async fn upsert(&self, binding: &CourseBinding) -> Result<()> {
        let row = BindingRow::from_domain(binding)?;
        self.write("save binding", move |conn| {
            let mut rounds = 0;
            loop {
                rounds += 1;
                let result = write_transaction(conn, |tx| {
                    let updated = diesel::update(
                        course_bindings::table
                            .filter(course_bindings::course_key.eq(&row.course_key)),
                    )
                    .set(&row)
                    .execute(tx)?;
                    if updated == 0 {
                        diesel::insert_into(course_bindings::table)
                            .values(&row)
                            .execute(tx)?;
                    }
                    Ok::<_, StoreError>(())
                });
                match result {
                    Err(e) if e.is_unique_violation() && rounds < 2 => {}
                    other => return other,
                }
            }
        })
        .await
    }

    async fn delete(&self, course: &CourseKey) -> Result<bool> {
        let course = course.as_str().to_owned();
        self.write("delete binding", move |conn| {
            let removed = diesel::delete(
                course_bindings::table.filter(course_bindings::course_key.eq(course)),
            )
            .execute(conn)?;
            Ok(removed > 0)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<CourseBinding>> {
        self.run("list bindings", |conn| {
            let rows = course_bindings::table
                .order(course_bindings::course_key.asc())
                .select(BindingRow::as_select())
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(BindingRow::into_domain)
                .collect::<Result<Vec<_>>>()?)
        })
        .await
    }
}
