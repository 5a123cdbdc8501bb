//! How certificates are listed ([`Summary`]: no e-mail address), shown and exported
//! ([`Detail`]: every field), and how their history reads ([`EventView`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use pok_domain::{Certificate, CertificateEvent, StateKind};
use serde::Serialize;

use crate::output::{self, Record, Row};

/// A line of `certificates list`: who, which course, where it stands, when.
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    pub id: String,
    pub user_id: i64,
    pub username: String,
    pub course_key: String,
    pub mode: String,
    pub state: StateKind,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Certificate> for Summary {
    fn from(c: &Certificate) -> Self {
        Self {
            id: c.id.to_string(),
            user_id: c.user_id.get(),
            username: c.username.clone(),
            course_key: c.course_key.to_string(),
            mode: c.mode.to_string(),
            state: c.state(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl Row for Summary {
    const HEADERS: &'static [&'static str] = &[
        "ID", "USER", "USERNAME", "COURSE", "STATE", "CREATED", "UPDATED",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.user_id.to_string(),
            self.username.clone(),
            self.course_key.clone(),
            self.state.to_string(),
            output::when(self.created_at),
            output::when(self.updated_at),
        ]
    }
}

/// One line of a certificate's history.
#[derive(Debug, Serialize)]
pub(crate) struct EventView {
    pub at: DateTime<Utc>,
    pub from: Option<StateKind>,
    pub to: StateKind,
    pub actor: String,
    pub reason: String,
}

impl From<&CertificateEvent> for EventView {
    fn from(e: &CertificateEvent) -> Self {
        Self {
            at: e.at,
            from: e.from,
            to: e.to,
            actor: e.actor.to_string(),
            reason: e.reason.clone(),
        }
    }
}

impl Row for EventView {
    const HEADERS: &'static [&'static str] = &["AT", "FROM", "TO", "BY", "WHY"];
    fn cells(&self) -> Vec<String> {
        vec![
            output::when(self.at),
            self.from.map_or_else(|| "-".into(), |s| s.to_string()),
            self.to.to_string(),
            self.actor.clone(),
            self.reason.clone(),
        ]
    }
}

/// Every field of a certificate: `show` and `export`. Contains personal data (e-mail, name),
/// which is what an administrator asks these commands for; never logged.
#[derive(Debug, Serialize)]
pub(crate) struct Detail {
    pub id: String,
    pub user_id: i64,
    pub username: String,
    pub course_key: String,
    pub mode: String,
    pub grade: Option<f64>,
    pub state: StateKind,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub credential_id: Option<String>,
    pub pok_state: Option<String>,
    pub view_url: Option<String>,
    pub emitted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revocation_reason: Option<String>,
    pub superseded_by: Option<String>,
    pub page_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub template_id: String,
    pub page_id: Option<String>,
    pub emission_type: String,
    pub emission_date: DateTime<Utc>,
    pub title: String,
    pub emitter: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub language: String,
    pub tags: Vec<String>,
    pub custom_parameters: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<EventView>>,
}

impl Detail {
    /// The full view; `public_url` (the service's base URL, may be empty) gives the page link.
    pub fn new(c: &Certificate, public_url: &str) -> Self {
        let l = c.lifecycle();
        let r = &c.request;
        let base = public_url.trim().trim_end_matches('/');
        Self {
            id: c.id.to_string(),
            user_id: c.user_id.get(),
            username: c.username.clone(),
            course_key: c.course_key.to_string(),
            mode: c.mode.to_string(),
            grade: c.grade.map(f64::from),
            state: c.state(),
            attempts: l.attempts,
            next_attempt_at: l.next_attempt_at,
            last_error: l.last_error.clone(),
            credential_id: l.credential_id.as_ref().map(ToString::to_string),
            pok_state: l.pok_state.clone(),
            view_url: l.view_url.clone(),
            emitted_at: l.emitted_at,
            revoked_at: l.revoked_at,
            revocation_reason: l.revocation_reason.clone(),
            superseded_by: l.superseded_by.map(|s| s.to_string()),
            page_url: (!base.is_empty()).then(|| format!("{base}/certificates/{}", c.id)),
            created_at: c.created_at,
            updated_at: c.updated_at,
            template_id: r.template_id.to_string(),
            page_id: r.page_id.as_ref().map(ToString::to_string),
            emission_type: r.emission_type.to_string(),
            emission_date: r.emission_date,
            title: r.title.clone(),
            emitter: r.emitter.clone(),
            first_name: r.receiver.first_name.clone(),
            last_name: r.receiver.last_name.clone(),
            email: r.receiver.email.to_string(),
            language: r.receiver.language.to_string(),
            tags: r.tags.clone(),
            custom_parameters: r.custom_parameters.clone(),
            history: None,
        }
    }

    fn grade_text(&self) -> String {
        self.grade.map(|g| format!("{g}")).unwrap_or_default()
    }

    fn params_text(&self) -> String {
        self.custom_parameters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Row for Detail {
    const HEADERS: &'static [&'static str] = &[
        "id",
        "user_id",
        "username",
        "course_key",
        "mode",
        "grade",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "credential_id",
        "pok_state",
        "view_url",
        "emitted_at",
        "revoked_at",
        "revocation_reason",
        "superseded_by",
        "page_url",
        "created_at",
        "updated_at",
        "template_id",
        "page_id",
        "emission_type",
        "emission_date",
        "title",
        "emitter",
        "first_name",
        "last_name",
        "email",
        "language",
        "tags",
        "custom_parameters",
    ];
    fn cells(&self) -> Vec<String> {
        let t = |d: Option<DateTime<Utc>>| d.map(|d| d.to_rfc3339()).unwrap_or_default();
        let o = |s: &Option<String>| s.clone().unwrap_or_default();
        vec![
            self.id.clone(),
            self.user_id.to_string(),
            self.username.clone(),
            self.course_key.clone(),
            self.mode.clone(),
            self.grade_text(),
            self.state.to_string(),
            self.attempts.to_string(),
            t(self.next_attempt_at),
            o(&self.last_error),
            o(&self.credential_id),
            o(&self.pok_state),
            o(&self.view_url),
            t(self.emitted_at),
            t(self.revoked_at),
            o(&self.revocation_reason),
            o(&self.superseded_by),
            o(&self.page_url),
            self.created_at.to_rfc3339(),
            self.updated_at.to_rfc3339(),
            self.template_id.clone(),
            o(&self.page_id),
            self.emission_type.clone(),
            self.emission_date.to_rfc3339(),
            self.title.clone(),
            self.emitter.clone(),
            self.first_name.clone(),
            self.last_name.clone(),
            self.email.clone(),
            self.language.clone(),
            self.tags.join(" "),
            serde_json::to_string(&self.custom_parameters).unwrap_or_default(),
        ]
    }
}

impl Record for Detail {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let o = |s: &Option<String>| s.clone().unwrap_or_default();
        vec![
            ("certificate", self.id.clone()),
            ("state", {
                let mut s = self.state.to_string();
                if let Some(p) = &self.pok_state {
                    let _ = write!(s, " (POK: {p})");
                }
                s
            }),
            (
                "user",
                format!("{} {}", self.user_id, self.username)
                    .trim()
                    .to_owned(),
            ),
            ("course", self.course_key.clone()),
            ("mode", self.mode.clone()),
            ("grade", self.grade_text()),
            ("attempts", self.attempts.to_string()),
            ("next attempt", output::when_opt(self.next_attempt_at)),
            ("last error", o(&self.last_error)),
            ("credential", o(&self.credential_id)),
            ("view url", o(&self.view_url)),
            ("page", o(&self.page_url)),
            ("emitted", output::when_opt(self.emitted_at)),
            ("revoked", output::when_opt(self.revoked_at)),
            ("revocation", o(&self.revocation_reason)),
            ("superseded by", o(&self.superseded_by)),
            ("created", output::when(self.created_at)),
            ("updated", output::when(self.updated_at)),
            (
                "receiver",
                format!("{} {}", self.first_name, self.last_name)
                    .trim()
                    .to_owned(),
            ),
            ("email", self.email.clone()),
            ("language", self.language.clone()),
            ("title", self.title.clone()),
            ("emitter", self.emitter.clone()),
            ("template", self.template_id.clone()),
            ("page design", o(&self.page_id)),
            (
                "emission",
                format!(
                    "{} on {}",
                    self.emission_type,
                    self.emission_date.format("%Y-%m-%d")
                ),
            ),
            ("tags", self.tags.join(" ")),
            ("parameters", self.params_text()),
        ]
    }
}
