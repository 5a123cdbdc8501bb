//! The ports: what the domain needs from the outside world, as traits that adapters implement.
//!
//! - [`PokGateway`]: POK's API (implemented by `pok-client`).
//! - [`CertificateRepository`], [`BindingRepository`], [`JobQueue`]: storage (implemented by
//!   `pok-persistence` on SQLite, PostgreSQL and MySQL/MariaDB).
//! - [`Clock`]: the time, so that tests can fix it.
//!
//! The traits use `async_trait` rather than native `async fn` in traits because the binary picks
//! adapters at run time and shares them as `Arc<dyn …>`, which native async traits do not allow;
//! mockall's `automock` supports the combination. Mocks are generated behind the `mocks`
//! feature so that adapter crates can use them in their own tests.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::binding::CourseBinding;
use crate::error::{Error, GatewayError, Result};
use crate::issuing::IssueRequest;
use crate::lifecycle::{Certificate, CertificateEvent, CertificateId, StateKind};
use crate::values::{CourseKey, CredentialId, PageId, ParamKeying, TemplateId, UserId};

#[cfg(any(test, feature = "mocks"))]
use mockall::automock;

/// The organisation behind the API key, with its credit balance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Organization {
    /// The organisation's name.
    pub name: String,
    /// Its wallet, if it has one.
    pub wallet: Option<String>,
    /// Credits left for issuing.
    pub available_credits: Option<i64>,
    /// Credentials emitted so far.
    pub emitted_credentials: Option<i64>,
    /// Credentials sent so far.
    pub sent_credentials: Option<i64>,
    /// Credentials in draft.
    pub draft_credentials: Option<i64>,
    /// Credentials being processed.
    pub processing_credentials: Option<i64>,
}

/// One custom parameter of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomParameter {
    /// POK's id for it.
    pub id: String,
    /// Its label, as the template designer wrote it.
    pub label: String,
}

impl CustomParameter {
    /// The key a credential uses for this parameter, per the keying setting.
    pub fn key(&self, keying: ParamKeying) -> &str {
        match keying {
            ParamKeying::Label => &self.label,
            ParamKeying::Id => &self.id,
        }
    }
}

/// A template in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSummary {
    /// Its id.
    pub id: TemplateId,
    /// Its name.
    pub name: String,
}

/// One template with its custom parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    /// Its id.
    pub id: TemplateId,
    /// Its name.
    pub name: String,
    /// The parameters every credential of this template must fill.
    pub custom_parameters: Vec<CustomParameter>,
}

/// A landing-page design.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageSummary {
    /// Its id.
    pub id: PageId,
    /// Its name.
    pub name: String,
}

/// A template preview request: the template and a value for every parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewRequest {
    /// The template.
    pub template_id: TemplateId,
    /// A value for every custom parameter (placeholders such as `[ grade ]` where unknown).
    pub custom_parameters: std::collections::BTreeMap<String, String>,
}

/// What POK says about a credential (when issued, and when asked later).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialStatus {
    /// POK's id.
    pub id: CredentialId,
    /// POK's state string, as POK spelled it.
    pub state: String,
    /// The public view URL, once known.
    pub view_url: Option<String>,
    /// POK's whole answer, kept as metadata.
    pub raw: serde_json::Value,
}

/// POK's API, as the domain needs it.
///
/// # Errors
/// Every method returns a [`GatewayError`] whose class says whether the call may be repeated.
/// `issue` in particular must report [`crate::FailureClass::OutcomeUnknown`] whenever the
/// request may have reached POK, and must never retry by itself.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait PokGateway: Send + Sync + 'static {
    /// `GET organization/me`.
    async fn organization(&self) -> Result<Organization, GatewayError>;
    /// `GET template?limit=N`.
    async fn templates(&self, limit: u32) -> Result<Vec<TemplateSummary>, GatewayError>;
    /// `GET template/{id}`.
    async fn template(&self, id: &TemplateId) -> Result<Template, GatewayError>;
    /// `GET page?limit=N`.
    async fn pages(&self, limit: u32) -> Result<Vec<PageSummary>, GatewayError>;
    /// `POST template/preview`: a URL of the rendered preview.
    async fn preview(&self, request: &PreviewRequest) -> Result<String, GatewayError>;
    /// `POST credential/`: issues one credential. Never retried inside the adapter.
    async fn issue(&self, request: &IssueRequest) -> Result<CredentialStatus, GatewayError>;
    /// `GET credential/{id}/`.
    async fn credential(&self, id: &CredentialId) -> Result<CredentialStatus, GatewayError>;
    /// `GET credential/{id}/decrypted-image/`: a short-lived URL of the rendered image.
    async fn credential_image(&self, id: &CredentialId) -> Result<String, GatewayError>;
}

/// The time. A port so that tests can fix it and retry schedules can be checked exactly.
#[cfg_attr(any(test, feature = "mocks"), automock)]
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock, for binaries.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What a job asks the worker to do with its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Send the certificate to POK.
    Issue,
    /// Ask POK how a credential it is processing is doing.
    Refresh,
}

impl JobKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issue => "issue",
            Self::Refresh => "refresh",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(input: &str) -> Result<Self> {
        match input {
            "issue" => Ok(Self::Issue),
            "refresh" => Ok(Self::Refresh),
            other => Err(Error::invalid(
                "job kind",
                format!("unknown job kind {other:?}"),
            )),
        }
    }
}

/// The id of a queued job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobId(pub Uuid);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

/// A job to put in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// What to do.
    pub kind: JobKind,
    /// With which certificate.
    pub certificate_id: CertificateId,
    /// Not before.
    pub run_at: DateTime<Utc>,
    /// How many times this kind of work was already done for the certificate (polls so far),
    /// which sets the next backoff.
    pub attempts: u32,
}

/// A job taken from the queue under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// What to do.
    pub kind: JobKind,
    /// With which certificate.
    pub certificate_id: CertificateId,
    /// When it was due.
    pub run_at: DateTime<Utc>,
    /// Work of this kind done before for the certificate.
    pub attempts: u32,
    /// Who holds the lease.
    pub lease_owner: Option<String>,
    /// Until when; after that another worker may take it.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Why the last run of this job failed, if it did (infrastructure errors only).
    pub last_error: Option<String>,
}

/// A change to one stored certificate, applied in one transaction with the queue changes that
/// go with it (transactional outbox): a certificate never ends up waiting for a job that does
/// not exist, and a finished job never stays queued.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateChange {
    /// The certificate after the change; its `version` is the one read before the change.
    pub certificate: Certificate,
    /// The history lines of the change.
    pub events: Vec<CertificateEvent>,
    /// The job this change finishes, to remove from the queue.
    pub complete_job: Option<JobId>,
    /// A job to queue.
    pub enqueue: Option<NewJob>,
}

/// The result of recording a creation request.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// The certificate was stored and its job queued.
    New(Certificate),
    /// The learner already had a live certificate for the course (perhaps recorded a moment
    /// ago by a concurrent call); nothing was written.
    Existing(Certificate),
}

/// Filters for listing certificates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertificateQuery {
    /// Only this course.
    pub course_key: Option<CourseKey>,
    /// Only these states (any when empty).
    pub states: Vec<StateKind>,
    /// Only this learner.
    pub user_id: Option<UserId>,
    /// At most this many, newest first (all when `None`).
    pub limit: Option<u32>,
}

/// Stored certificates and their history.
///
/// # Errors
/// [`Error::Conflict`] when a save finds the stored version moved (someone else changed the
/// certificate first); [`Error::Storage`] when the database fails.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait CertificateRepository: Send + Sync + 'static {
    /// Stores a new certificate, its first event and its first job in one transaction, unless
    /// the learner already has a live certificate for the course: the database's uniqueness
    /// rule decides, so concurrent duplicates resolve to one row without a race.
    async fn create(
        &self,
        certificate: &Certificate,
        event: &CertificateEvent,
        job: &NewJob,
    ) -> Result<Created>;
    /// Applies a change if the stored version is still `change.certificate.version`, and bumps
    /// the version.
    async fn save(&self, change: &CertificateChange) -> Result<()>;
    /// Re-issuing: saves the old certificate's change (to superseded) and creates the new one
    /// with its event and job, all in one transaction.
    async fn replace(
        &self,
        old: &CertificateChange,
        new: &Certificate,
        event: &CertificateEvent,
        job: &NewJob,
    ) -> Result<()>;
    /// One certificate by id.
    async fn get(&self, id: CertificateId) -> Result<Option<Certificate>>;
    /// The learner's live certificate for a course.
    async fn find_live(&self, user: UserId, course: &CourseKey) -> Result<Option<Certificate>>;
    /// A listing.
    async fn list(&self, query: &CertificateQuery) -> Result<Vec<Certificate>>;
    /// A certificate's history, oldest first.
    async fn history(&self, id: CertificateId) -> Result<Vec<CertificateEvent>>;
    /// How many certificates are in each state (for metrics).
    async fn count_by_state(&self) -> Result<Vec<(StateKind, u64)>>;
}

/// Stored course bindings.
///
/// # Errors
/// [`Error::Storage`] when the database fails.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait BindingRepository: Send + Sync + 'static {
    /// The binding of a course.
    async fn get(&self, course: &CourseKey) -> Result<Option<CourseBinding>>;
    /// Creates or replaces a binding.
    async fn upsert(&self, binding: &CourseBinding) -> Result<()>;
    /// Removes a binding; `false` when there was none.
    async fn delete(&self, course: &CourseKey) -> Result<bool>;
    /// Every binding, by course key.
    async fn list(&self) -> Result<Vec<CourseBinding>>;
}

/// The work queue. Claims are leases: a worker that dies loses its jobs to another worker when
/// the lease expires.
///
/// # Errors
/// [`Error::Storage`] when the database fails.
#[cfg_attr(any(test, feature = "mocks"), automock)]
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Takes up to `max` due jobs (run-at passed, no live lease) for `worker`, each claimed by
    /// exactly one worker even across processes.
    async fn claim(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        max: u32,
    ) -> Result<Vec<Job>>;
    /// Queues a job outside a certificate change (administration).
    async fn enqueue(&self, job: &NewJob) -> Result<JobId>;
    /// Gives a claimed job back without running it (shutdown): due again at once, lease
    /// cleared.
    ///
    /// This and the next two change the job only while `job.lease_owner` still holds its
    /// lease: a worker whose lease expired while it worked finds the job taken by another
    /// worker and changes nothing (the other worker's run decides).
    async fn release(&self, job: &Job) -> Result<()>;
    /// Puts a claimed job back for later after an infrastructure failure, recording why.
    async fn reschedule(&self, job: &Job, run_at: DateTime<Utc>, error: &str) -> Result<()>;
    /// Removes a claimed job that has nothing left to do.
    async fn complete(&self, job: &Job) -> Result<()>;
    /// How many jobs are queued, by kind (for metrics).
    async fn count_by_kind(&self) -> Result<Vec<(JobKind, u64)>>;
}
