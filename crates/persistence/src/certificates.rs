//! [`CertificateRepository`] on the database: certificates, their frozen requests, their
//! history, and the queue changes that go with them, each write in one transaction.

use async_trait::async_trait;
use diesel::prelude::*;
use pok_domain::ports::{
    CertificateChange, CertificateQuery, CertificateRepository, Created, NewJob,
};
use pok_domain::values::{CourseKey, UserId};
use pok_domain::{Certificate, CertificateEvent, CertificateId, Error, Result, StateKind};

use crate::backend::{DbConnection, StoreError, write_transaction};
use crate::database::Database;
use crate::rows::{CertificateRow, EventRow, JobRow, RequestRow, StoredCertificate};
use crate::schema::{certificate_events, certificate_requests, certificates, jobs};

/// How many times `create` tries again when its insert lost a race whose winner then
/// vanished from the live rows (superseded in the meantime).
const CREATE_ATTEMPTS: usize = 3;

/// Loads certificates with their requests, one query.
macro_rules! with_requests {
    () => {
        certificates::table
            .inner_join(certificate_requests::table)
            .select((CertificateRow::as_select(), RequestRow::as_select()))
    };
}

fn into_domain(rows: (CertificateRow, RequestRow)) -> Result<Certificate> {
    StoredCertificate {
        certificate: rows.0,
        request: rows.1,
    }
    .into_domain()
}

/// One certificate by id.
fn get(conn: &mut DbConnection, id: &str) -> Result<Option<Certificate>, StoreError> {
    // `get_result`, not `first`: the key is unique, and the `LIMIT ?` that `first` adds makes
    // SQLite re-plan the statement on every call (a third of render's CPU, docs/performance.md).
    let row = with_requests!()
        .filter(certificates::id.eq(id))
        .get_result::<(CertificateRow, RequestRow)>(conn)
        .optional()?;
    Ok(row.map(into_domain).transpose()?)
}

/// The live certificate of a learner for a course.
fn find_live(
    conn: &mut DbConnection,
    user: i64,
    course: &str,
) -> Result<Option<Certificate>, StoreError> {
    let row = with_requests!()
        .filter(certificates::user_id.eq(user))
        .filter(certificates::course_key.eq(course))
        .filter(certificates::live.eq(true))
        // Unique (one live certificate per learner and course): no `LIMIT ?`, see `get`.
        .get_result::<(CertificateRow, RequestRow)>(conn)
        .optional()?;
    Ok(row.map(into_domain).transpose()?)
}

/// Inserts a certificate, its request, its first event and its first job.
fn insert(
    conn: &mut DbConnection,
    stored: &StoredCertificate,
    event: &EventRow,
    job: &JobRow,
) -> Result<(), StoreError> {
    diesel::insert_into(certificates::table)
        .values(&stored.certificate)
        .execute(conn)?;
    diesel::insert_into(certificate_requests::table)
        .values(&stored.request)
        .execute(conn)?;
    diesel::insert_into(certificate_events::table)
        .values(event)
        .execute(conn)?;
    diesel::insert_into(jobs::table).values(job).execute(conn)?;
    Ok(())
}

/// A [`CertificateChange`] as rows, ready to apply.
struct PreparedChange {
    /// The certificate after the change, with its new version.
    stored: StoredCertificate,
    /// The version the change was made from.
    expected_version: i64,
    events: Vec<EventRow>,
    complete_job: Option<String>,
    enqueue: Option<JobRow>,
}

impl PreparedChange {
    fn new(change: &CertificateChange) -> Result<Self> {
        let expected_version = change.certificate.version;
        let next = expected_version.checked_add(1).ok_or_else(|| {
            Error::Storage(format!(
                "certificate {}: version {expected_version} cannot grow",
                change.certificate.id
            ))
        })?;
        Ok(Self {
            stored: StoredCertificate::from_domain(&change.certificate, next)?,
            expected_version,
            events: change.events.iter().map(EventRow::from_domain).collect(),
            complete_job: change.complete_job.map(|j| j.to_string()),
            enqueue: change.enqueue.as_ref().map(JobRow::new).transpose()?,
        })
    }

    /// Applies the change inside the caller's transaction: the certificate only if its stored
    /// version is still the expected one, then its history and queue changes. Removing a job
    /// that is already gone is not an error (another worker may have finished it).
    fn apply(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        let id = self.stored.certificate.id.as_str();
        let updated = diesel::update(
            certificates::table
                .filter(certificates::id.eq(id))
                .filter(certificates::version.eq(self.expected_version)),
        )
        .set(&self.stored.certificate)
        .execute(conn)?;
        if updated == 0 {
            let exists = certificates::table
                .filter(certificates::id.eq(id))
                .count()
                .get_result::<i64>(conn)?
                > 0;
            return Err(if exists {
                Error::Conflict(format!(
                    "certificate {id} was changed by someone else (expected version {})",
                    self.expected_version
                ))
            } else {
                Error::NotFound(format!("certificate {id}"))
            }
            .into());
        }
        diesel::update(
            certificate_requests::table.filter(certificate_requests::certificate_id.eq(id)),
        )
        .set(&self.stored.request)
        .execute(conn)?;
        for event in &self.events {
            diesel::insert_into(certificate_events::table)
                .values(event)
                .execute(conn)?;
        }
        if let Some(job) = &self.complete_job {
            diesel::delete(jobs::table.filter(jobs::id.eq(job))).execute(conn)?;
        }
        if let Some(job) = &self.enqueue {
            diesel::insert_into(jobs::table).values(job).execute(conn)?;
        }
        Ok(())
    }
}

/// Turns a uniqueness clash of a certificate insert into the conflict the domain expects.
fn live_clash(course: &str) -> impl FnOnce(StoreError) -> StoreError + '_ {
    move |e| {
        if e.is_unique_violation() {
            Error::Conflict(format!(
                "the learner already has a live certificate for {course}"
            ))
            .into()
        } else {
            e
        }
    }
}

#[async_trait]
impl CertificateRepository for Database {
    async fn create(
        &self,
        certificate: &Certificate,
        event: &CertificateEvent,
        job: &NewJob,
    ) -> Result<Created> {
        let stored = StoredCertificate::from_domain(certificate, certificate.version)?;
        let event = EventRow::from_domain(event);
        let job = JobRow::new(job)?;
        self.write("create certificate", move |conn| {
            let user = stored.certificate.user_id;
            let course = stored.certificate.course_key.clone();
            for _ in 0..CREATE_ATTEMPTS {
                match write_transaction(conn, |tx| insert(tx, &stored, &event, &job)) {
                    Ok(()) => {
                        tracing::debug!(certificate = %stored.certificate.id, "certificate recorded");
                        return Ok(Created::New(stored.clone().into_domain()?));
                    }
                    // The uniqueness rule decided: read the row that won, outside the failed
                    // transaction (PostgreSQL cannot read inside an aborted one).
                    Err(e) if e.is_unique_violation() => {
                        if let Some(existing) = find_live(conn, user, &course)? {
                            tracing::debug!(certificate = %existing.id, "certificate already recorded");
                            return Ok(Created::Existing(existing));
                        }
                        if get(conn, &stored.certificate.id)?.is_some() {
                            return Err(Error::Conflict(format!(
                                "certificate {} already exists",
                                stored.certificate.id
                            ))
                            .into());
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(Error::Conflict(format!(
                "could not record certificate {}: the learner's live certificate kept changing",
                stored.certificate.id
            ))
            .into())
        })
        .await
    }

    async fn save(&self, change: &CertificateChange) -> Result<()> {
        let change = PreparedChange::new(change)?;
        self.write("save certificate", move |conn| {
            write_transaction(conn, |tx| change.apply(tx))
        })
        .await
    }

    async fn replace(
        &self,
        old: &CertificateChange,
        new: &Certificate,
        event: &CertificateEvent,
        job: &NewJob,
    ) -> Result<()> {
        let old = PreparedChange::new(old)?;
        let new = StoredCertificate::from_domain(new, new.version)?;
        let event = EventRow::from_domain(event);
        let job = JobRow::new(job)?;
        self.write("replace certificate", move |conn| {
            write_transaction(conn, |tx| {
                old.apply(tx)?;
                insert(tx, &new, &event, &job).map_err(live_clash(&new.certificate.course_key))
            })
        })
        .await
    }

    async fn get(&self, id: CertificateId) -> Result<Option<Certificate>> {
        self.run("get certificate", move |conn| get(conn, &id.to_string()))
            .await
    }

    async fn find_live(&self, user: UserId, course: &CourseKey) -> Result<Option<Certificate>> {
        let course = course.as_str().to_owned();
        self.run("find live certificate", move |conn| {
            find_live(conn, user.get(), &course)
        })
        .await
    }

    async fn list(&self, query: &CertificateQuery) -> Result<Vec<Certificate>> {
        let course = query.course_key.as_ref().map(|k| k.as_str().to_owned());
        let states: Vec<&'static str> = query.states.iter().map(|s| s.as_str()).collect();
        let user = query.user_id.map(UserId::get);
        let limit = query.limit.map(i64::from);
        self.run("list certificates", move |conn| {
            let mut q = with_requests!().into_boxed();
            if let Some(course) = course {
                q = q.filter(certificates::course_key.eq(course));
            }
            if !states.is_empty() {
                q = q.filter(certificates::state.eq_any(states));
            }
            if let Some(user) = user {
                q = q.filter(certificates::user_id.eq(user));
            }
            q = q.order((certificates::created_at.desc(), certificates::seq.desc()));
            if let Some(limit) = limit {
                q = q.limit(limit);
            }
            let rows = q.load::<(CertificateRow, RequestRow)>(conn)?;
            Ok(rows
                .into_iter()
                .map(into_domain)
                .collect::<Result<Vec<_>>>()?)
        })
        .await
    }

    async fn history(&self, id: CertificateId) -> Result<Vec<CertificateEvent>> {
        let id = id.to_string();
        self.run("certificate history", move |conn| {
            let rows = certificate_events::table
                .filter(certificate_events::certificate_id.eq(id))
                .order((
                    certificate_events::occurred_at.asc(),
                    certificate_events::id.asc(),
                ))
                .select(EventRow::as_select())
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(EventRow::into_domain)
                .collect::<Result<Vec<_>>>()?)
        })
        .await
    }

    async fn count_by_state(&self) -> Result<Vec<(StateKind, u64)>> {
        self.run("count certificates by state", |conn| {
            let rows: Vec<(String, i64)> = certificates::table
                .group_by(certificates::state)
                .select((certificates::state, diesel::dsl::count_star()))
                .load(conn)?;
            let mut counts = rows
                .into_iter()
                .map(|(state, n)| {
                    let kind = StateKind::parse(&state).map_err(|e| {
                        Error::Storage(format!("certificates in stored state {state:?}: {e}"))
                    })?;
                    Ok((kind, u64::try_from(n).unwrap_or(0)))
                })
                .collect::<Result<Vec<_>>>()?;
            counts.sort_by_key(|(kind, _)| *kind);
            Ok(counts)
        })
        .await
    }
}
