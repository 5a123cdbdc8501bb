//! The certificate aggregate and its state machine.
//!
//! ```text
//! requested ──begin_attempt──▶ issuing ──accepted──▶ processing ──observe──▶ emitted
//!     ▲                          │  │                    │                    │
//!     │ retry (admin)            │  └─unknown──▶ needs-review ──accepted──────┘
//!     │                          └─failed──▶ failed ──begin_attempt──▶ issuing
//!     └──────────── failed / needs-review              processing ──observe(final)──▶ rejected
//! any live state ──revoke──▶ revoked;  settled states ──supersede──▶ superseded
//! ```
//!
//! Each transition is a method that either changes the state and returns the
//! [`CertificateEvent`] to store in the history, or refuses with
//! [`Error::IllegalTransition`] and changes nothing. Persistence stores the fields as they are
//! and rebuilds the aggregate with [`Certificate::restore`].

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, FailureClass, GatewayError, Result};
use crate::issuing::IssueRequest;
use crate::retry::RetryPolicy;
use crate::values::{CourseKey, CourseMode, CredentialId, Grade, UserId};

/// The unguessable public id of a certificate, used in its public URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CertificateId(Uuid);

impl CertificateId {
    /// A fresh random (v4) id: unguessable, so that a public URL reveals nothing else.
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    /// Parses the hyphenated form used in URLs and storage.
    pub fn parse(input: &str) -> Result<Self> {
        Uuid::parse_str(input.trim()).map(Self).map_err(|_| {
            Error::invalid("certificate_id", format!("not a UUID: {:?}", input.trim()))
        })
    }

    /// The UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for CertificateId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for CertificateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

/// The states of a certificate; see the module doc for the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    /// Recorded and queued; nothing sent to POK yet.
    Requested,
    /// A request to POK may be in flight.
    Issuing,
    /// POK accepted the credential and is still working on it.
    Processing,
    /// POK emitted the credential: it can be shown.
    Emitted,
    /// The last attempt failed in a way that is safe to retry (or retries ran out).
    Failed,
    /// An attempt ended without knowing whether POK created the credential: a person must look.
    NeedsReview,
    /// POK ended the credential with a final failure (aborted, signature rejected).
    Rejected,
    /// Revoked by an administrator (or found revoked at POK).
    Revoked,
    /// Replaced by a re-issued certificate.
    Superseded,
}

impl StateKind {
    /// Every state, for listings and metrics.
    pub const ALL: [Self; 9] = [
        Self::Requested,
        Self::Issuing,
        Self::Processing,
        Self::Emitted,
        Self::Failed,
        Self::NeedsReview,
        Self::Rejected,
        Self::Revoked,
        Self::Superseded,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Issuing => "issuing",
            Self::Processing => "processing",
            Self::Emitted => "emitted",
            Self::Failed => "failed",
            Self::NeedsReview => "needs_review",
            Self::Rejected => "rejected",
            Self::Revoked => "revoked",
            Self::Superseded => "superseded",
        }
    }

    /// Parses the stored spelling (also accepts `needs-review`).
    pub fn parse(input: &str) -> Result<Self> {
        let s = input.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "state",
                    format!(
                        "unknown state {input:?}; expected one of {}",
                        Self::ALL.map(Self::as_str).join(", ")
                    ),
                )
            })
    }

    /// Whether the certificate still counts as the learner's one certificate for its course
    /// (only superseded ones do not; a revoked one still blocks a silent new request).
    pub fn is_live(self) -> bool {
        self != Self::Superseded
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a POK credential state string means for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PokState {
    /// `emitted`: the only state in which the certificate can be shown.
    Emitted,
    /// `aborted`, `signatureRejected`: POK's final failures.
    Rejected(String),
    /// `revoked` at POK.
    Revoked,
    /// Everything else, including states we have never heard of: "not yet".
    Pending(String),
}

impl PokState {
    /// Classifies a state string from POK. Never fails: an unknown string is kept and means
    /// "not yet", because POK adds states without notice.
    pub fn classify(raw: &str) -> Self {
        match raw.trim().to_ascii_lowercase().as_str() {
            "emitted" => Self::Emitted,
            "aborted" | "signaturerejected" => Self::Rejected(raw.trim().to_owned()),
            "revoked" => Self::Revoked,
            _ => Self::Pending(raw.trim().to_owned()),
        }
    }
}

/// Who caused a transition, for the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Actor {
    /// The LMS, through a filter call.
    Lms,
    /// The background worker.
    Worker,
    /// An administrator, by the name they gave (never an e-mail).
    Admin(String),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lms => f.write_str("lms"),
            Self::Worker => f.write_str("worker"),
            Self::Admin(name) => write!(f, "admin:{name}"),
        }
    }
}

impl Actor {
    /// Parses the stored spelling.
    pub fn parse(input: &str) -> Self {
        match input {
            "lms" => Self::Lms,
            "worker" => Self::Worker,
            other => Self::Admin(other.strip_prefix("admin:").unwrap_or(other).to_owned()),
        }
    }
}

/// One line of a certificate's history: who moved it from where to where, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateEvent {
    /// The certificate.
    pub certificate_id: CertificateId,
    /// When.
    pub at: DateTime<Utc>,
    /// The state before (`None` when the certificate was created).
    pub from: Option<StateKind>,
    /// The state after.
    pub to: StateKind,
    /// Who.
    pub actor: Actor,
    /// Why, in words for an administrator; no personal data.
    pub reason: String,
}

/// The mutable part of a certificate, changed only by the transitions below.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lifecycle {
    /// The current state (`None` only inside `Default`, never in a stored certificate).
    pub state: Option<StateKind>,
    /// How many issuing attempts were started.
    pub attempts: u32,
    /// When the next automatic attempt is due (failed), if any.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last failure, in words without personal data.
    pub last_error: Option<String>,
    /// POK's id for the credential, once POK accepted it.
    pub credential_id: Option<CredentialId>,
    /// POK's own state string, kept as POK spelled it.
    pub pok_state: Option<String>,
    /// POK's public view URL.
    pub view_url: Option<String>,
    /// When we saw the credential emitted.
    pub emitted_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revocation_reason: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The certificate that replaced this one.
    pub superseded_by: Option<CertificateId>,
}

/// One learner's certificate for one course: what we send to POK and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    /// Public id.
    pub id: CertificateId,
    /// The learner.
    pub user_id: UserId,
    /// The learner's username when the certificate was requested (for administrators).
    pub username: String,
    /// The course.
    pub course_key: CourseKey,
    /// The enrolment mode.
    pub mode: CourseMode,
    /// The grade, when the LMS sent one.
    pub grade: Option<Grade>,
    /// Everything POK needs, frozen when the request was recorded so that every retry sends the
    /// same credential.
    pub request: IssueRequest,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version: storage refuses a save whose version moved meanwhile.
    pub version: i64,
    lifecycle: Lifecycle,
}

/// The facts of a new certificate, before it has a state.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCertificate {
    /// The learner.
    pub user_id: UserId,
    /// The learner's username.
    pub username: String,
    /// The course.
    pub course_key: CourseKey,
    /// The enrolment mode.
    pub mode: CourseMode,
    /// The grade.
    pub grade: Option<Grade>,
    /// What to send to POK.
    pub request: IssueRequest,
}

impl Certificate {
    /// Records a new request: the certificate starts in `requested`.
    pub fn request(
        new: NewCertificate,
        now: DateTime<Utc>,
        actor: Actor,
        reason: &str,
    ) -> (Self, CertificateEvent) {
        let cert = Self {
            id: CertificateId::new(),
            user_id: new.user_id,
            username: new.username,
            course_key: new.course_key,
            mode: new.mode,
            grade: new.grade,
            request: new.request,
            created_at: now,
            updated_at: now,
            version: 0,
            lifecycle: Lifecycle {
                state: Some(StateKind::Requested),
                ..Lifecycle::default()
            },
        };
        let event = CertificateEvent {
            certificate_id: cert.id,
            at: now,
            from: None,
            to: StateKind::Requested,
            actor,
            reason: reason.to_owned(),
        };
        (cert, event)
    }

    /// Rebuilds a stored certificate. Only storage adapters call this; the fields are trusted
    /// because only the transitions below ever wrote them.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        id: CertificateId,
        new: NewCertificate,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        version: i64,
        state: StateKind,
        lifecycle: Lifecycle,
    ) -> Self {
        Self {
            id,
            user_id: new.user_id,
            username: new.username,
            course_key: new.course_key,
            mode: new.mode,
            grade: new.grade,
            request: new.request,
            created_at,
            updated_at,
            version,
            lifecycle: Lifecycle {
                state: Some(state),
                ..lifecycle
            },
        }
    }

    /// The current state.
    pub fn state(&self) -> StateKind {
        self.lifecycle.state.unwrap_or(StateKind::Requested)
    }

    /// Whether the certificate failed and an automatic retry is queued for it. Such a
    /// certificate needs nobody yet, and may not be retried by hand (see [`Self::retry`]).
    pub fn retry_scheduled(&self) -> bool {
        self.state() == StateKind::Failed && self.lifecycle.next_attempt_at.is_some()
    }

    /// Everything about where the certificate stands.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    fn refuse(&self, action: &'static str) -> Error {
        Error::IllegalTransition {
            from: self.state(),
            action,
        }
    }

    fn move_to(
        &mut self,
        to: StateKind,
        now: DateTime<Utc>,
        actor: Actor,
        reason: impl Into<String>,
    ) -> CertificateEvent {
        let from = self.state();
        self.lifecycle.state = Some(to);
        self.updated_at = now;
        CertificateEvent {
            certificate_id: self.id,
            at: now,
            from: Some(from),
            to,
            actor,
            reason: reason.into(),
        }
    }

    /// Marks that a request to POK is about to be sent. Stored *before* the request goes out,
    /// so that a crash while it is in flight is found later as `issuing`, not forgotten.
    pub fn begin_attempt(&mut self, now: DateTime<Utc>) -> Result<CertificateEvent> {
        match self.state() {
            StateKind::Requested | StateKind::Failed => {
                self.lifecycle.attempts += 1;
                self.lifecycle.next_attempt_at = None;
                let n = self.lifecycle.attempts;
                Ok(self.move_to(
                    StateKind::Issuing,
                    now,
                    Actor::Worker,
                    format!("attempt {n}"),
                ))
            }
            _ => Err(self.refuse("start issuing")),
        }
    }

    /// POK accepted the credential. Also allowed from `needs-review`: a slow attempt that
    /// finally answers settles the doubt.
    pub fn accepted(
        &mut self,
        credential_id: CredentialId,
        pok_state: &str,
        view_url: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<CertificateEvent> {
        match self.state() {
            StateKind::Issuing | StateKind::NeedsReview => {
                self.lifecycle.credential_id = Some(credential_id);
                self.lifecycle.last_error = None;
                self.apply_pok_state(pok_state, view_url, now, "POK accepted the credential")
            }
            _ => Err(self.refuse("record POK's acceptance of")),
        }
    }

    /// A fresh look at the credential at POK.
    pub fn observe(
        &mut self,
        pok_state: &str,
        view_url: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<CertificateEvent> {
        match self.state() {
            StateKind::Processing | StateKind::Emitted => {
                self.apply_pok_state(pok_state, view_url, now, "POK reported a new state")
            }
            _ => Err(self.refuse("refresh")),
        }
    }

    fn apply_pok_state(
        &mut self,
        raw: &str,
        view_url: Option<String>,
        now: DateTime<Utc>,
        why: &str,
    ) -> Result<CertificateEvent> {
        self.lifecycle.pok_state = Some(raw.trim().to_owned());
        if view_url.is_some() {
            self.lifecycle.view_url = view_url;
        }
        let reason = format!("{why}: {}", raw.trim());
        Ok(match PokState::classify(raw) {
            PokState::Emitted => {
                if self.lifecycle.emitted_at.is_none() {
                    self.lifecycle.emitted_at = Some(now);
                }
                self.move_to(StateKind::Emitted, now, Actor::Worker, reason)
            }
            PokState::Pending(_) => self.move_to(StateKind::Processing, now, Actor::Worker, reason),
            PokState::Rejected(_) => {
                self.lifecycle.last_error = Some(reason.clone());
                self.move_to(StateKind::Rejected, now, Actor::Worker, reason)
            }
            PokState::Revoked => {
                self.lifecycle.revocation_reason = Some("revoked at POK".to_owned());
                self.lifecycle.revoked_at = Some(now);
                self.move_to(StateKind::Revoked, now, Actor::Worker, reason)
            }
        })
    }

    /// An issuing attempt failed. The failure's class decides: retry later (within the
    /// policy's limits), give up visibly, or ask a person because POK may have acted.
    pub fn attempt_failed(
        &mut self,
        error: &GatewayError,
        policy: &RetryPolicy,
        now: DateTime<Utc>,
    ) -> Result<CertificateEvent> {
        if self.state() != StateKind::Issuing {
            return Err(self.refuse("record a failed attempt of"));
        }
        self.lifecycle.last_error = Some(error.reason.clone());
        match error.class {
            FailureClass::OutcomeUnknown => Ok(self.move_to(
                StateKind::NeedsReview,
                now,
                Actor::Worker,
                format!("outcome unknown, not retried blindly: {}", error.reason),
            )),
            FailureClass::Permanent => {
                self.lifecycle.next_attempt_at = None;
                Ok(self.move_to(
                    StateKind::Failed,
                    now,
                    Actor::Worker,
                    format!("POK refused the request; not retried: {}", error.reason),
                ))
            }
            FailureClass::SafeToRetry => {
                let attempts = self.lifecycle.attempts;
                if let Some(at) =
                    policy.next_attempt(attempts, error.retry_after, self.jitter(), now)
                {
                    self.lifecycle.next_attempt_at = Some(at);
                    Ok(self.move_to(
                        StateKind::Failed,
                        now,
                        Actor::Worker,
                        format!("attempt {attempts} failed, retry at {at}: {}", error.reason),
                    ))
                } else {
                    self.lifecycle.next_attempt_at = None;
                    Ok(self.move_to(
                        StateKind::Failed,
                        now,
                        Actor::Worker,
                        format!("gave up after {attempts} attempts: {}", error.reason),
                    ))
                }
            }
        }
    }

    /// A deterministic spread in `[0, 1)` per certificate and attempt, so that certificates
    /// that failed together do not all retry at the same instant (jitter without randomness,
    /// which keeps the domain pure and its tests repeatable).
    fn jitter(&self) -> f64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self
            .id
            .as_uuid()
            .as_bytes()
            .iter()
            .chain(&self.lifecycle.attempts.to_le_bytes())
        {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        #[allow(clippy::cast_precision_loss)]
        let j = (h >> 11) as f64 / (1u64 << 53) as f64;
        j
    }

    /// A certificate found in `issuing` with nobody working on it (its worker died mid-call):
    /// POK may or may not have the credential, so a person must decide.
    pub fn interrupted(&mut self, now: DateTime<Utc>) -> Result<CertificateEvent> {
        if self.state() != StateKind::Issuing {
            return Err(self.refuse("mark as interrupted"));
        }
        let reason = "an attempt was interrupted while POK may have been creating the credential";
        self.lifecycle.last_error = Some(reason.to_owned());
        Ok(self.move_to(StateKind::NeedsReview, now, Actor::Worker, reason))
    }

    /// An administrator sends the certificate back to the queue: after a permanent failure was
    /// fixed, after retries ran out, or after checking at POK that a doubtful attempt created
    /// nothing.
    ///
    /// Refused while an automatic retry is still scheduled: that attempt's job is already in
    /// the queue, and a second job for the same certificate could find the first one's attempt
    /// in flight and take it for an interrupted one.
    pub fn retry(&mut self, now: DateTime<Utc>, actor: Actor) -> Result<CertificateEvent> {
        if self.retry_scheduled() {
            return Err(self.refuse("retry by hand (an automatic retry is already scheduled)"));
        }
        match self.state() {
            StateKind::Failed | StateKind::NeedsReview => {
                self.lifecycle.next_attempt_at = None;
                Ok(self.move_to(StateKind::Requested, now, actor, "queued again by hand"))
            }
            _ => Err(self.refuse("retry")),
        }
    }

    /// Revokes the certificate. POK has no known revocation endpoint, so this is recorded here
    /// (the page shows it revoked); an administrator revokes it at POK too.
    pub fn revoke(
        &mut self,
        reason: &str,
        now: DateTime<Utc>,
        actor: Actor,
    ) -> Result<CertificateEvent> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::invalid("reason", "a revocation needs a reason"));
        }
        match self.state() {
            StateKind::Revoked | StateKind::Superseded | StateKind::Issuing => {
                Err(self.refuse("revoke"))
            }
            _ => {
                self.lifecycle.revocation_reason = Some(reason.to_owned());
                self.lifecycle.revoked_at = Some(now);
                self.lifecycle.next_attempt_at = None;
                Ok(self.move_to(StateKind::Revoked, now, actor, format!("revoked: {reason}")))
            }
        }
    }

    /// Replaces this certificate with a re-issued one. Not while a request may be in flight or
    /// while the certificate is still queued (retry it instead).
    pub fn supersede(
        &mut self,
        by: CertificateId,
        now: DateTime<Utc>,
        actor: Actor,
    ) -> Result<CertificateEvent> {
        match self.state() {
            StateKind::Emitted
            | StateKind::Processing
            | StateKind::Failed
            | StateKind::NeedsReview
            | StateKind::Rejected
            | StateKind::Revoked => {
                self.lifecycle.superseded_by = Some(by);
                self.lifecycle.next_attempt_at = None;
                Ok(self.move_to(
                    StateKind::Superseded,
                    now,
                    actor,
                    format!("re-issued as {by}"),
                ))
            }
            _ => Err(self.refuse("re-issue")),
        }
    }
}

/// Shorthand used by tests of other modules.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::issuing::{IssueRequest, Receiver};
    use crate::values::{DateFormat, Email, EmissionType, LanguageTag, TemplateId};
    use chrono::TimeZone;

    pub fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()
    }

    pub fn request() -> IssueRequest {
        IssueRequest {
            template_id: TemplateId::parse("tpl-1").unwrap(),
            page_id: None,
            emission_type: EmissionType::Pok,
            date_format: DateFormat::DayMonthYear,
            emission_date: t0(),
            title: "Intro".into(),
            emitter: "OrgX".into(),
            tags: vec!["StudentId:42".into()],
            custom_parameters: std::collections::BTreeMap::new(),
            receiver: Receiver {
                email: Email::parse("ada@example.org").unwrap(),
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                language: LanguageTag::parse("en").unwrap(),
                identification: "42".into(),
            },
        }
    }

    pub fn new_certificate() -> NewCertificate {
        NewCertificate {
            user_id: UserId::new(42).unwrap(),
            username: "ada".into(),
            course_key: CourseKey::parse("course-v1:OrgX+CS101+2026").unwrap(),
            mode: CourseMode::parse("verified").unwrap(),
            grade: Some(Grade::new(0.93).unwrap()),
            request: request(),
        }
    }

    pub fn certificate() -> Certificate {
        Certificate::request(new_certificate(), t0(), Actor::Lms, "test").0
    }

    /// A certificate driven into `state` through legal transitions only.
    pub fn in_state(state: StateKind) -> Certificate {
        let mut c = certificate();
        let now = t0();
        let cred = || CredentialId::parse("cred-1").unwrap();
        let policy = RetryPolicy::default();
        match state {
            StateKind::Requested => {}
            StateKind::Issuing => {
                c.begin_attempt(now).unwrap();
            }
            StateKind::Processing => {
                c.begin_attempt(now).unwrap();
                c.accepted(cred(), "processing", None, now).unwrap();
            }
            StateKind::Emitted => {
                c.begin_attempt(now).unwrap();
                c.accepted(cred(), "emitted", Some("https://view".into()), now)
                    .unwrap();
            }
            StateKind::Failed => {
                c.begin_attempt(now).unwrap();
                c.attempt_failed(&GatewayError::retryable("503", None), &policy, now)
                    .unwrap();
            }
            StateKind::NeedsReview => {
                c.begin_attempt(now).unwrap();
                c.attempt_failed(&GatewayError::outcome_unknown("timeout"), &policy, now)
                    .unwrap();
            }
            StateKind::Rejected => {
                c.begin_attempt(now).unwrap();
                c.accepted(cred(), "aborted", None, now).unwrap();
            }
            StateKind::Revoked => {
                c.revoke("fraud", now, Actor::Admin("root".into())).unwrap();
            }
            StateKind::Superseded => {
                c.revoke("name", now, Actor::Admin("root".into())).unwrap();
                c.supersede(CertificateId::new(), now, Actor::Admin("root".into()))
                    .unwrap();
            }
        }
        assert_eq!(c.state(), state);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    fn cred() -> CredentialId {
        CredentialId::parse("cred-1").unwrap()
    }

    #[test]
    fn every_pok_state_of_the_api_notes_is_classified() {
        for (raw, expected) in [
            ("emitted", PokState::Emitted),
            ("aborted", PokState::Rejected("aborted".into())),
            (
                "signatureRejected",
                PokState::Rejected("signatureRejected".into()),
            ),
            ("revoked", PokState::Revoked),
            ("draft", PokState::Pending("draft".into())),
            (
                "waitingForApproval",
                PokState::Pending("waitingForApproval".into()),
            ),
            ("processing", PokState::Pending("processing".into())),
            (
                "requestingSignature",
                PokState::Pending("requestingSignature".into()),
            ),
            (
                "requestingChange",
                PokState::Pending("requestingChange".into()),
            ),
            ("deferred", PokState::Pending("deferred".into())),
            ("somethingNew", PokState::Pending("somethingNew".into())),
            ("", PokState::Pending(String::new())),
        ] {
            assert_eq!(PokState::classify(raw), expected, "{raw}");
        }
    }

    #[test]
    fn a_new_certificate_is_requested_and_its_creation_is_in_the_history() {
        let (c, e) = Certificate::request(new_certificate(), t0(), Actor::Lms, "filter");
        assert_eq!(c.state(), StateKind::Requested);
        assert_eq!(
            (e.from, e.to, e.actor),
            (None, StateKind::Requested, Actor::Lms)
        );
        assert_eq!(e.certificate_id, c.id);
    }

    #[test]
    fn the_happy_path_goes_requested_issuing_processing_emitted() {
        let mut c = certificate();
        let e1 = c.begin_attempt(t0()).unwrap();
        assert_eq!(
            (e1.from, e1.to),
            (Some(StateKind::Requested), StateKind::Issuing)
        );
        assert_eq!(c.lifecycle().attempts, 1);
        let e2 = c.accepted(cred(), "processing", None, t0()).unwrap();
        assert_eq!(e2.to, StateKind::Processing);
        assert_eq!(c.lifecycle().pok_state.as_deref(), Some("processing"));
        let e3 = c
            .observe("emitted", Some("https://pok/view/1".into()), t0())
            .unwrap();
        assert_eq!(
            (e3.from, e3.to),
            (Some(StateKind::Processing), StateKind::Emitted)
        );
        assert_eq!(
            c.lifecycle().view_url.as_deref(),
            Some("https://pok/view/1")
        );
        assert_eq!(c.lifecycle().emitted_at, Some(t0()));
        assert_eq!(c.lifecycle().credential_id, Some(cred()));
    }

    #[test]
    fn unknown_pok_states_keep_the_certificate_processing() {
        let mut c = in_state(StateKind::Processing);
        let e = c.observe("quantumEntangled", None, t0()).unwrap();
        assert_eq!(e.to, StateKind::Processing);
        assert_eq!(c.lifecycle().pok_state.as_deref(), Some("quantumEntangled"));
    }

    #[test]
    fn final_pok_states_end_in_rejected_or_revoked() {
        let mut c = in_state(StateKind::Processing);
        assert_eq!(
            c.observe("signatureRejected", None, t0()).unwrap().to,
            StateKind::Rejected
        );
        let mut c = in_state(StateKind::Emitted);
        assert_eq!(
            c.observe("revoked", None, t0()).unwrap().to,
            StateKind::Revoked
        );
        assert_eq!(
            c.lifecycle().revocation_reason.as_deref(),
            Some("revoked at POK")
        );
    }

    #[test]
    fn failure_classes_decide_between_retry_review_and_giving_up() {
        let policy = RetryPolicy::default();
        let mut c = in_state(StateKind::Issuing);
        c.attempt_failed(&GatewayError::retryable("503", None), &policy, t0())
            .unwrap();
        assert_eq!(c.state(), StateKind::Failed);
        assert!(c.lifecycle().next_attempt_at.unwrap() > t0());

        let mut c = in_state(StateKind::Issuing);
        c.attempt_failed(
            &GatewayError::outcome_unknown("timeout after sending"),
            &policy,
            t0(),
        )
        .unwrap();
        assert_eq!(c.state(), StateKind::NeedsReview);
        assert_eq!(
            c.lifecycle().last_error.as_deref(),
            Some("timeout after sending")
        );

        let mut c = in_state(StateKind::Issuing);
        c.attempt_failed(&GatewayError::permanent("400 missing grade"), &policy, t0())
            .unwrap();
        assert_eq!(c.state(), StateKind::Failed);
        assert_eq!(
            c.lifecycle().next_attempt_at,
            None,
            "a permanent failure is not retried"
        );
    }

    #[test]
    fn retries_stop_at_the_policy_limit_with_a_visible_failure() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let mut c = certificate();
        for attempt in 1..=3 {
            c.begin_attempt(t0()).unwrap();
            c.attempt_failed(&GatewayError::retryable("503", None), &policy, t0())
                .unwrap();
            assert_eq!(c.state(), StateKind::Failed);
            assert_eq!(c.retry_scheduled(), attempt < 3, "attempt {attempt}");
            assert_eq!(
                c.lifecycle().next_attempt_at.is_some(),
                attempt < 3,
                "attempt {attempt}"
            );
        }
        assert!(c.lifecycle().last_error.as_deref().unwrap().contains("503"));
    }

    #[test]
    fn a_late_acceptance_settles_a_needs_review_certificate() {
        let mut c = in_state(StateKind::NeedsReview);
        c.accepted(cred(), "emitted", None, t0()).unwrap();
        assert_eq!(c.state(), StateKind::Emitted);
    }

    #[test]
    fn an_interrupted_attempt_needs_review() {
        let mut c = in_state(StateKind::Issuing);
        assert_eq!(c.interrupted(t0()).unwrap().to, StateKind::NeedsReview);
        assert!(c.interrupted(t0()).is_err());
    }

    #[test]
    fn admin_actions_follow_the_table() {
        use StateKind::*;
        // (state, retry allowed, revoke allowed, supersede allowed)
        let table = [
            (Requested, false, true, false),
            (Issuing, false, false, false),
            (Processing, false, true, true),
            (Emitted, false, true, true),
            (Failed, false, true, true), // an automatic retry is scheduled
            (NeedsReview, true, true, true),
            (Rejected, false, true, true),
            (Revoked, false, false, true),
            (Superseded, false, false, false),
        ];
        let admin = || Actor::Admin("root".into());
        for (state, retry, revoke, supersede) in table {
            assert_eq!(
                in_state(state).retry(t0(), admin()).is_ok(),
                retry,
                "retry {state}"
            );
            assert_eq!(
                in_state(state).revoke("why", t0(), admin()).is_ok(),
                revoke,
                "revoke {state}"
            );
            assert_eq!(
                in_state(state)
                    .supersede(CertificateId::new(), t0(), admin())
                    .is_ok(),
                supersede,
                "supersede {state}"
            );
        }
    }

    #[test]
    fn a_failed_certificate_can_be_retried_by_hand_once_automatic_retries_stopped() {
        let mut c = in_state(StateKind::Issuing);
        c.attempt_failed(
            &GatewayError::permanent("400"),
            &RetryPolicy::default(),
            t0(),
        )
        .unwrap();
        let e = c.retry(t0(), Actor::Admin("root".into())).unwrap();
        assert_eq!(
            (e.from, e.to),
            (Some(StateKind::Failed), StateKind::Requested)
        );
    }

    #[test]
    fn illegal_transitions_are_typed_errors_and_change_nothing() {
        let mut c = in_state(StateKind::Emitted);
        let before = c.clone();
        let err = c.begin_attempt(t0()).unwrap_err();
        assert_eq!(
            err,
            Error::IllegalTransition {
                from: StateKind::Emitted,
                action: "start issuing"
            }
        );
        assert_eq!(c, before);
        assert!(
            in_state(StateKind::Requested)
                .observe("emitted", None, t0())
                .is_err()
        );
        assert!(
            in_state(StateKind::Emitted)
                .attempt_failed(&GatewayError::permanent("x"), &RetryPolicy::default(), t0())
                .is_err()
        );
    }

    #[test]
    fn a_revocation_needs_a_reason() {
        let mut c = in_state(StateKind::Emitted);
        assert!(matches!(
            c.revoke("  ", t0(), Actor::Admin("a".into())),
            Err(Error::Invalid {
                field: "reason",
                ..
            })
        ));
        assert_eq!(c.state(), StateKind::Emitted);
    }

    #[test]
    fn states_and_actors_round_trip_through_their_stored_spelling() {
        for s in StateKind::ALL {
            assert_eq!(StateKind::parse(s.as_str()).unwrap(), s);
        }
        assert_eq!(
            StateKind::parse("needs-review").unwrap(),
            StateKind::NeedsReview
        );
        assert!(StateKind::parse("lost").is_err());
        for a in [Actor::Lms, Actor::Worker, Actor::Admin("root".into())] {
            assert_eq!(Actor::parse(&a.to_string()), a);
        }
    }

    #[test]
    fn jitter_differs_between_certificates_and_stays_in_range() {
        let a = certificate();
        let b = certificate();
        assert!((0.0..1.0).contains(&a.jitter()));
        assert!((a.jitter() - b.jitter()).abs() > f64::EPSILON);
    }
}
