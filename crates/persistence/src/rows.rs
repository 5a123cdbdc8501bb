//! Rows as Diesel reads and writes them, and their conversion to and from the domain's types.
//!
//! This is the only place where stored values become domain values. Every stored string is
//! parsed again with the domain's own `parse`, so a row that a newer version or a hand-edit
//! left in a state this build does not know becomes an [`Error::Storage`] naming the row and
//! the column, never a panic. Error texts never quote personal data (e-mail, names, custom
//! parameters): for those only the column is named.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;
use pok_domain::binding::{CourseBinding, ParamMapping};
use pok_domain::issuing::{IssueRequest, Receiver};
use pok_domain::lifecycle::{Lifecycle, NewCertificate};
use pok_domain::ports::{Job, JobId, JobKind, NewJob};
use pok_domain::values::{
    CourseKey, CourseMode, CredentialId, DateFormat, Email, EmissionType, Grade, LanguageTag,
    PageId, TemplateId, UserId,
};
use pok_domain::{Actor, Certificate, CertificateEvent, CertificateId, Error, Result, StateKind};
use uuid::Uuid;

use crate::schema::{
    certificate_events, certificate_requests, certificates, course_bindings, jobs,
};

/// A UTC instant as stored: microsecond precision (what PostgreSQL and MySQL keep), so that
/// every backend reads back exactly what it was given.
pub(crate) fn to_db_time(t: DateTime<Utc>) -> NaiveDateTime {
    t.trunc_subsecs(6).naive_utc()
}

/// A stored instant, which is UTC by construction.
pub(crate) fn from_db_time(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// `Storage` error naming a row, a column and what is wrong with the stored value.
fn corrupt(row: &str, id: &str, column: &str, why: impl std::fmt::Display) -> Error {
    Error::Storage(format!(
        "{row} {id}: the stored {column} is not valid: {why}"
    ))
}

/// Parses one stored value with a domain parser, naming the row and column on failure.
fn parsed<T>(row: &str, id: &str, column: &str, value: Result<T>) -> Result<T> {
    value.map_err(|e| corrupt(row, id, column, e))
}

/// Reads a JSON column. The error gives the position only: the text may hold personal data.
fn from_json<T: serde::de::DeserializeOwned>(
    row: &str,
    id: &str,
    column: &str,
    text: &str,
) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        corrupt(
            row,
            id,
            column,
            format_args!(
                "not the expected JSON ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
        )
    })
}

/// Writes a JSON column.
fn to_json<T: serde::Serialize + ?Sized>(column: &str, value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::Storage(format!("cannot encode {column} as JSON: {e}")))
}

/// A count stored as `INTEGER`.
fn to_db_count(column: &str, n: u32) -> Result<i32> {
    i32::try_from(n).map_err(|_| Error::invalid("attempts", format!("{column} {n} is too large")))
}

/// A stored count back as the domain's `u32`.
fn from_db_count(row: &str, id: &str, column: &str, n: i32) -> Result<u32> {
    u32::try_from(n).map_err(|_| corrupt(row, id, column, format_args!("negative ({n})")))
}

/// The identity and lifecycle of a certificate (`certificates`, without `seq`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = certificates, treat_none_as_null = true)]
pub(crate) struct CertificateRow {
    pub(crate) id: String,
    pub(crate) user_id: i64,
    pub(crate) username: String,
    pub(crate) course_key: String,
    pub(crate) mode: String,
    pub(crate) grade: Option<f64>,
    pub(crate) state: String,
    pub(crate) live: Option<bool>,
    pub(crate) attempts: i32,
    pub(crate) next_attempt_at: Option<NaiveDateTime>,
    pub(crate) last_error: Option<String>,
    pub(crate) credential_id: Option<String>,
    pub(crate) pok_state: Option<String>,
    pub(crate) view_url: Option<String>,
    pub(crate) emitted_at: Option<NaiveDateTime>,
    pub(crate) revocation_reason: Option<String>,
    pub(crate) revoked_at: Option<NaiveDateTime>,
    pub(crate) superseded_by: Option<String>,
    pub(crate) created_at: NaiveDateTime,
    pub(crate) updated_at: NaiveDateTime,
    pub(crate) version: i64,
}

/// The frozen request of a certificate (`certificate_requests`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = certificate_requests, primary_key(certificate_id), treat_none_as_null = true)]
pub(crate) struct RequestRow {
    pub(crate) certificate_id: String,
    pub(crate) template_id: String,
    pub(crate) page_id: Option<String>,
    pub(crate) emission_type: String,
    pub(crate) date_format: String,
    pub(crate) emission_date: NaiveDateTime,
    pub(crate) title: String,
    pub(crate) emitter: String,
    pub(crate) tags: String,
    pub(crate) custom_parameters: String,
    pub(crate) receiver_email: String,
    pub(crate) receiver_first_name: String,
    pub(crate) receiver_last_name: String,
    pub(crate) receiver_language: String,
    pub(crate) receiver_identification: String,
}

/// A certificate as stored: its two rows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredCertificate {
    pub(crate) certificate: CertificateRow,
    pub(crate) request: RequestRow,
}

impl StoredCertificate {
    /// The rows of a domain certificate, stored with `version`.
    pub(crate) fn from_domain(c: &Certificate, version: i64) -> Result<Self> {
        let id = c.id.to_string();
        let l = c.lifecycle();
        let state = c.state();
        let r = &c.request;
        Ok(Self {
            certificate: CertificateRow {
                id: id.clone(),
                user_id: c.user_id.get(),
                username: c.username.clone(),
                course_key: c.course_key.as_str().to_owned(),
                mode: c.mode.as_str().to_owned(),
                grade: c.grade.map(Grade::fraction),
                state: state.as_str().to_owned(),
                live: state.is_live().then_some(true),
                attempts: to_db_count("attempts", l.attempts)?,
                next_attempt_at: l.next_attempt_at.map(to_db_time),
                last_error: l.last_error.clone(),
                credential_id: l.credential_id.as_ref().map(|c| c.as_str().to_owned()),
                pok_state: l.pok_state.clone(),
                view_url: l.view_url.clone(),
                emitted_at: l.emitted_at.map(to_db_time),
                revocation_reason: l.revocation_reason.clone(),
                revoked_at: l.revoked_at.map(to_db_time),
                superseded_by: l.superseded_by.map(|s| s.to_string()),
                created_at: to_db_time(c.created_at),
                updated_at: to_db_time(c.updated_at),
                version,
            },
            request: RequestRow {
                certificate_id: id,
                template_id: r.template_id.as_str().to_owned(),
                page_id: r.page_id.as_ref().map(|p| p.as_str().to_owned()),
                emission_type: r.emission_type.as_str().to_owned(),
                date_format: r.date_format.as_str().to_owned(),
                emission_date: to_db_time(r.emission_date),
                title: r.title.clone(),
                emitter: r.emitter.clone(),
                tags: to_json("tags", &r.tags)?,
                custom_parameters: to_json("custom parameters", &r.custom_parameters)?,
                receiver_email: r.receiver.email.as_str().to_owned(),
                receiver_first_name: r.receiver.first_name.clone(),
                receiver_last_name: r.receiver.last_name.clone(),
                receiver_language: r.receiver.language.as_str().to_owned(),
                receiver_identification: r.receiver.identification.clone(),
            },
        })
    }

    /// The domain certificate these rows hold.
    pub(crate) fn into_domain(self) -> Result<Certificate> {
        let Self {
            certificate: c,
            request: r,
        } = self;
        let row = "certificate";
        let id = c.id.as_str();
        let receiver = Receiver {
            email: parsed(row, id, "receiver e-mail", Email::parse(&r.receiver_email))?,
            first_name: r.receiver_first_name,
            last_name: r.receiver_last_name,
            language: parsed(
                row,
                id,
                "receiver language",
                LanguageTag::parse(&r.receiver_language),
            )?,
            identification: r.receiver_identification,
        };
        let request = IssueRequest {
            template_id: parsed(row, id, "template id", TemplateId::parse(&r.template_id))?,
            page_id: r
                .page_id
                .as_deref()
                .map(|s| parsed(row, id, "page id", PageId::parse(s)))
                .transpose()?,
            emission_type: parsed(
                row,
                id,
                "emission type",
                EmissionType::parse(&r.emission_type),
            )?,
            date_format: parsed(row, id, "date format", DateFormat::parse(&r.date_format))?,
            emission_date: from_db_time(r.emission_date),
            title: r.title,
            emitter: r.emitter,
            tags: from_json(row, id, "tags", &r.tags)?,
            custom_parameters: from_json::<BTreeMap<String, String>>(
                row,
                id,
                "custom parameters",
                &r.custom_parameters,
            )?,
            receiver,
        };
        let new = NewCertificate {
            user_id: parsed(row, id, "user id", UserId::new(c.user_id))?,
            username: c.username,
            course_key: parsed(row, id, "course key", CourseKey::parse(&c.course_key))?,
            mode: parsed(row, id, "mode", CourseMode::parse(&c.mode))?,
            grade: c
                .grade
                .map(|g| parsed(row, id, "grade", Grade::new(g)))
                .transpose()?,
            request,
        };
        let state = parsed(row, id, "state", StateKind::parse(&c.state))?;
        let lifecycle = Lifecycle {
            state: Some(state),
            attempts: from_db_count(row, id, "attempts", c.attempts)?,
            next_attempt_at: c.next_attempt_at.map(from_db_time),
            last_error: c.last_error,
            credential_id: c
                .credential_id
                .as_deref()
                .map(|s| parsed(row, id, "credential id", CredentialId::parse(s)))
                .transpose()?,
            pok_state: c.pok_state,
            view_url: c.view_url,
            emitted_at: c.emitted_at.map(from_db_time),
            revocation_reason: c.revocation_reason,
            revoked_at: c.revoked_at.map(from_db_time),
            superseded_by: c
                .superseded_by
                .as_deref()
                .map(|s| parsed(row, id, "superseded-by", CertificateId::parse(s)))
                .transpose()?,
        };
        Ok(Certificate::restore(
            parsed(row, id, "id", CertificateId::parse(id))?,
            new,
            from_db_time(c.created_at),
            from_db_time(c.updated_at),
            c.version,
            state,
            lifecycle,
        ))
    }
}

/// One history line (`certificate_events`, without its `id`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = certificate_events)]
pub(crate) struct EventRow {
    pub(crate) certificate_id: String,
    pub(crate) occurred_at: NaiveDateTime,
    pub(crate) from_state: Option<String>,
    pub(crate) to_state: String,
    pub(crate) actor: String,
    pub(crate) reason: String,
}

impl EventRow {
    /// The row of a domain event.
    pub(crate) fn from_domain(e: &CertificateEvent) -> Self {
        Self {
            certificate_id: e.certificate_id.to_string(),
            occurred_at: to_db_time(e.at),
            from_state: e.from.map(|s| s.as_str().to_owned()),
            to_state: e.to.as_str().to_owned(),
            actor: e.actor.to_string(),
            reason: e.reason.clone(),
        }
    }

    /// The domain event this row holds.
    pub(crate) fn into_domain(self) -> Result<CertificateEvent> {
        let row = "event of certificate";
        let id = self.certificate_id.as_str();
        Ok(CertificateEvent {
            certificate_id: parsed(row, id, "certificate id", CertificateId::parse(id))?,
            at: from_db_time(self.occurred_at),
            from: self
                .from_state
                .as_deref()
                .map(|s| parsed(row, id, "from-state", StateKind::parse(s)))
                .transpose()?,
            to: parsed(row, id, "to-state", StateKind::parse(&self.to_state))?,
            actor: Actor::parse(&self.actor),
            reason: self.reason,
        })
    }
}

/// One queued job (`jobs`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = jobs)]
pub(crate) struct JobRow {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) certificate_id: String,
    pub(crate) run_at: NaiveDateTime,
    pub(crate) attempts: i32,
    pub(crate) lease_owner: Option<String>,
    pub(crate) lease_expires_at: Option<NaiveDateTime>,
    pub(crate) last_error: Option<String>,
}

impl JobRow {
    /// The row of a new job, with a fresh id and no lease.
    pub(crate) fn new(job: &NewJob) -> Result<Self> {
        Ok(Self {
            id: Uuid::new_v4().hyphenated().to_string(),
            kind: job.kind.as_str().to_owned(),
            certificate_id: job.certificate_id.to_string(),
            run_at: to_db_time(job.run_at),
            attempts: to_db_count("attempts", job.attempts)?,
            lease_owner: None,
            lease_expires_at: None,
            last_error: None,
        })
    }

    /// The domain job this row holds.
    pub(crate) fn into_domain(self) -> Result<Job> {
        let row = "job";
        let id = self.id.as_str();
        Ok(Job {
            id: JobId(parsed(
                row,
                id,
                "id",
                Uuid::parse_str(id).map_err(|_| Error::invalid("job id", "not a UUID")),
            )?),
            kind: parsed(row, id, "kind", JobKind::parse(&self.kind))?,
            certificate_id: parsed(
                row,
                id,
                "certificate id",
                CertificateId::parse(&self.certificate_id),
            )?,
            run_at: from_db_time(self.run_at),
            attempts: from_db_count(row, id, "attempts", self.attempts)?,
            lease_owner: self.lease_owner,
            lease_expires_at: self.lease_expires_at.map(from_db_time),
            last_error: self.last_error,
        })
    }
}

/// A course binding (`course_bindings`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = course_bindings, primary_key(course_key), treat_none_as_null = true)]
pub(crate) struct BindingRow {
    pub(crate) course_key: String,
    pub(crate) template_id: String,
    pub(crate) emission_type: String,
    pub(crate) page_id: Option<String>,
    pub(crate) enabled: bool,
    pub(crate) allowed_modes: String,
    pub(crate) params: String,
    pub(crate) title_override: Option<String>,
    pub(crate) emitter_override: Option<String>,
    pub(crate) created_at: NaiveDateTime,
    pub(crate) updated_at: NaiveDateTime,
}

impl BindingRow {
    /// The row of a domain binding.
    pub(crate) fn from_domain(b: &CourseBinding) -> Result<Self> {
        Ok(Self {
            course_key: b.course_key.as_str().to_owned(),
            template_id: b.template_id.as_str().to_owned(),
            emission_type: b.emission_type.as_str().to_owned(),
            page_id: b.page_id.as_ref().map(|p| p.as_str().to_owned()),
            enabled: b.enabled,
            allowed_modes: to_json("allowed modes", &b.allowed_modes)?,
            params: to_json("parameters", &b.params)?,
            title_override: b.title_override.clone(),
            emitter_override: b.emitter_override.clone(),
            created_at: to_db_time(b.created_at),
            updated_at: to_db_time(b.updated_at),
        })
    }

    /// The domain binding this row holds.
    pub(crate) fn into_domain(self) -> Result<CourseBinding> {
        let row = "binding of course";
        let id = self.course_key.as_str();
        Ok(CourseBinding {
            course_key: parsed(row, id, "course key", CourseKey::parse(id))?,
            template_id: parsed(row, id, "template id", TemplateId::parse(&self.template_id))?,
            emission_type: parsed(
                row,
                id,
                "emission type",
                EmissionType::parse(&self.emission_type),
            )?,
            page_id: self
                .page_id
                .as_deref()
                .map(|s| parsed(row, id, "page id", PageId::parse(s)))
                .transpose()?,
            enabled: self.enabled,
            allowed_modes: from_json::<Vec<CourseMode>>(
                row,
                id,
                "allowed modes",
                &self.allowed_modes,
            )?,
            params: from_json::<Vec<ParamMapping>>(row, id, "parameters", &self.params)?,
            title_override: self.title_override,
            emitter_override: self.emitter_override,
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn instants_are_stored_to_the_microsecond_in_utc() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
            .unwrap()
            .checked_add_signed(chrono::Duration::nanoseconds(123_456_789))
            .unwrap();
        let back = from_db_time(to_db_time(t));
        assert_eq!(back.timestamp_subsec_nanos(), 123_456_000);
    }

    #[test]
    fn an_unknown_stored_state_is_an_error_naming_the_row() {
        let row = EventRow {
            certificate_id: "7f1c3e1e-6a55-4b8e-9a0a-0d8f0f3e6f11".into(),
            occurred_at: to_db_time(Utc::now()),
            from_state: None,
            to_state: "lost".into(),
            actor: "lms".into(),
            reason: "x".into(),
        };
        let err = row.into_domain().unwrap_err().to_string();
        assert!(
            err.contains("7f1c3e1e-6a55-4b8e-9a0a-0d8f0f3e6f11"),
            "{err}"
        );
        assert!(err.contains("to-state"), "{err}");
        assert!(err.contains("lost"), "{err}");
    }

    #[test]
    fn json_errors_do_not_quote_the_stored_text() {
        let err = from_json::<Vec<String>>("certificate", "c1", "tags", r#"["ok", 5]"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("c1") && err.contains("tags"), "{err}");
        let err = from_json::<BTreeMap<String, String>>(
            "certificate",
            "c1",
            "custom parameters",
            r#"{"name": 7, "x": "Ada Lovelace"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("Ada"), "{err}");
    }
}
