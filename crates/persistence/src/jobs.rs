//! [`JobQueue`] on the database: due jobs are claimed under a lease, each by one worker only,
//! even when several processes share the database.
//!
//! A claim selects due jobs (run-at passed, no lease or an expired one) and writes the
//! worker's name and the lease's end on them, in one transaction:
//!
//! - PostgreSQL and MySQL/MariaDB lock the selected rows with `FOR UPDATE SKIP LOCKED`, so two
//!   workers claiming at once take different jobs instead of waiting for each other; a row
//!   another worker claimed and committed meanwhile no longer matches and is not selected.
//! - SQLite has no row locks: the transaction starts with `BEGIN IMMEDIATE`, which takes the
//!   database's single write lock first, so claims run one after the other.
//!
//! A worker that dies keeps its jobs only until the lease ends; then any worker claims them.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use pok_domain::ports::{Job, JobId, JobKind, JobQueue, NewJob};
use pok_domain::{Error, Result};

use crate::backend::{DbConnection, StoreError, write_transaction};
use crate::database::Database;
use crate::rows::{JobRow, to_db_time};
use crate::schema::jobs;

/// Longest failure text kept on a job (the column is unbounded; the log is not the place for
/// essays either).
const LAST_ERROR_CHARS: usize = 2000;

/// Selects up to `max` jobs due at `now` (run-at passed, no lease or an expired one), oldest
/// first. A macro, not a value: the selection's backend is fixed where it is used.
macro_rules! due {
    ($now:expr, $max:expr) => {
        jobs::table
            .filter(jobs::run_at.le($now))
            .filter(
                jobs::lease_expires_at
                    .is_null()
                    .or(jobs::lease_expires_at.le($now)),
            )
            .order((jobs::run_at.asc(), jobs::id.asc()))
            .limit($max)
            .select(JobRow::as_select())
    };
}

/// Claims up to `max` due jobs for `worker` inside the caller's transaction.
fn claim(
    conn: &mut DbConnection,
    worker: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
    max: i64,
) -> Result<Vec<JobRow>, StoreError> {
    let mut rows: Vec<JobRow> = match conn {
        // The IMMEDIATE transaction already holds the only write lock.
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => due!(now, max).load(c)?,
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => due!(now, max).for_update().skip_locked().load(c)?,
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => due!(now, max).for_update().skip_locked().load(c)?,
    };
    if rows.is_empty() {
        return Ok(rows);
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    diesel::update(jobs::table.filter(jobs::id.eq_any(ids)))
        .set((
            jobs::lease_owner.eq(worker),
            jobs::lease_expires_at.eq(until),
        ))
        .execute(conn)?;
    for row in &mut rows {
        row.lease_owner = Some(worker.to_owned());
        row.lease_expires_at = Some(until);
    }
    Ok(rows)
}

/// The first [`LAST_ERROR_CHARS`] characters of a failure text.
fn clip(text: &str) -> String {
    match text.char_indices().nth(LAST_ERROR_CHARS) {
        Some((at, _)) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

/// The stored job `job` while the worker that claimed it still holds its lease.
type HeldJob = diesel::dsl::Filter<
    diesel::dsl::Filter<jobs::table, diesel::dsl::Eq<jobs::id, String>>,
    diesel::dsl::Eq<jobs::lease_owner, String>,
>;

/// The rule of `release`, `reschedule` and `complete`: only the lease holder may change a job.
/// A job claimed since by another worker, or never claimed, matches no row and is left alone.
fn held(job: &Job) -> HeldJob {
    jobs::table
        .filter(jobs::id.eq(job.id.to_string()))
        .filter(jobs::lease_owner.eq(job.lease_owner.clone().unwrap_or_default()))
}

#[async_trait]
impl JobQueue for Database {
    async fn claim(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        max: u32,
    ) -> Result<Vec<Job>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let until = chrono::Duration::from_std(lease)
            .ok()
            .and_then(|lease| now.checked_add_signed(lease))
            .ok_or_else(|| Error::invalid("lease", "too long"))?;
        let (now, until) = (to_db_time(now), to_db_time(until));
        let worker = worker.to_owned();
        let rows = self
            .write("claim jobs", move |conn| {
                write_transaction(conn, |tx| claim(tx, &worker, now, until, i64::from(max)))
            })
            .await?;
        rows.into_iter().map(JobRow::into_domain).collect()
    }

    async fn enqueue(&self, job: &NewJob) -> Result<JobId> {
        let row = JobRow::new(job)?;
        let certificate = job.certificate_id;
        let id = row.id.clone();
        self.write("enqueue job", move |conn| {
            match diesel::insert_into(jobs::table).values(&row).execute(conn) {
                Ok(_) => Ok(()),
                Err(e) => {
                    let e = StoreError::from(e);
                    if e.is_foreign_key_violation() {
                        Err(Error::NotFound(format!("certificate {certificate}")).into())
                    } else {
                        Err(e)
                    }
                }
            }
        })
        .await?;
        let uuid = uuid::Uuid::parse_str(&id)
            .map_err(|_| Error::Storage(format!("job {id}: the new id is not a UUID")))?;
        Ok(JobId(uuid))
    }

    async fn release(&self, job: &Job) -> Result<()> {
        let job = held(job);
        self.write("release job", move |conn| {
            diesel::update(job)
                .set((
                    jobs::lease_owner.eq(None::<String>),
                    jobs::lease_expires_at.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn reschedule(&self, job: &Job, run_at: DateTime<Utc>, error: &str) -> Result<()> {
        let job = held(job);
        let run_at = to_db_time(run_at);
        let error = clip(error);
        self.write("reschedule job", move |conn| {
            diesel::update(job)
                .set((
                    jobs::run_at.eq(run_at),
                    jobs::last_error.eq(Some(error)),
                    jobs::lease_owner.eq(None::<String>),
                    jobs::lease_expires_at.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn complete(&self, job: &Job) -> Result<()> {
        let job = held(job);
        self.write("complete job", move |conn| {
            diesel::delete(job).execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn count_by_kind(&self) -> Result<Vec<(JobKind, u64)>> {
        self.run("count jobs by kind", |conn| {
            let rows: Vec<(String, i64)> = jobs::table
                .group_by(jobs::kind)
                .select((jobs::kind, diesel::dsl::count_star()))
                .load(conn)?;
            let mut counts = rows
                .into_iter()
                .map(|(kind, n)| {
                    let parsed = JobKind::parse(&kind).map_err(|e| {
                        Error::Storage(format!("jobs of stored kind {kind:?}: {e}"))
                    })?;
                    Ok((parsed, u64::try_from(n).unwrap_or(0)))
                })
                .collect::<Result<Vec<_>>>()?;
            counts.sort_by_key(|(kind, _)| kind.as_str());
            Ok(counts)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_claims_skip_rows_locked_by_other_workers() {
        let now = to_db_time(Utc::now());
        let sql =
            diesel::debug_query::<diesel::pg::Pg, _>(&due!(now, 5).for_update().skip_locked())
                .to_string();
        assert!(sql.contains("FOR UPDATE SKIP LOCKED"), "{sql}");
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn mysql_claims_skip_rows_locked_by_other_workers() {
        let now = to_db_time(Utc::now());
        let sql = diesel::debug_query::<diesel::mysql::Mysql, _>(
            &due!(now, 5).for_update().skip_locked(),
        )
        .to_string();
        assert!(sql.contains("FOR UPDATE SKIP LOCKED"), "{sql}");
    }

    #[test]
    fn failure_texts_are_clipped_on_a_character_boundary() {
        let long = "é".repeat(LAST_ERROR_CHARS + 10);
        assert_eq!(clip(&long).chars().count(), LAST_ERROR_CHARS);
        assert_eq!(clip("short"), "short");
    }
}
