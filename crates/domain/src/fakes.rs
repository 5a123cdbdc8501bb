//! In-memory fakes of every port, for the tests of adapters and binaries (behind the `mocks`
//! feature, like the mockall mocks in [`crate::ports`]).
//!
//! Mocks check *calls*; these fakes keep *state*, so that a test can run the real use cases end
//! to end (request a certificate, run its job, render its page) without a database or POK:
//!
//! - [`MemoryStore`]: one value implementing [`CertificateRepository`], [`BindingRepository`]
//!   and [`JobQueue`] over `std::sync::Mutex`-guarded maps. It honours the port contracts that
//!   the use cases rely on: one live certificate per (learner, course) ([`Created::Existing`]),
//!   optimistic versions ([`Error::Conflict`] when a save's version moved), a certificate
//!   change and its queue changes applied together or not at all, leases on claimed jobs.
//!   [`MemoryStore::fail_with`] makes every call fail, to test what adapters do when the
//!   database is down.
//! - [`FixedClock`]: a clock that stands still until the test moves it.
//! - [`FakePok`]: a POK that accepts everything by default, with settable answers and failures
//!   per endpoint and a log of the calls it received (to prove that a path never calls POK).
//!
//! ```
//! use std::sync::Arc;
//! use pok_domain::CertificateService;
//! use pok_domain::fakes::{FakePok, FixedClock, MemoryStore};
//! use pok_domain::filters::IssuingSettings;
//!
//! let store = Arc::new(MemoryStore::new());
//! let pok = Arc::new(FakePok::new());
//! let clock = Arc::new(FixedClock::default());
//! let service = CertificateService::new(
//!     store.clone(),
//!     store.clone(),
//!     store.clone(),
//!     pok.clone(),
//!     clock.clone(),
//!     IssuingSettings::default(),
//! );
//! # let _ = service;
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use crate::binding::CourseBinding;
use crate::error::{Error, GatewayError, Result};
use crate::issuing::IssueRequest;
use crate::lifecycle::{Certificate, CertificateEvent, CertificateId, StateKind};
use crate::ports::{
    BindingRepository, CertificateChange, CertificateQuery, CertificateRepository, Clock, Created,
    CredentialStatus, Job, JobId, JobKind, JobQueue, NewJob, Organization, PageSummary, PokGateway,
    PreviewRequest, Template, TemplateSummary,
};
use crate::values::{CourseKey, CredentialId, TemplateId, UserId};

/// Locks a mutex, ignoring poisoning: a test that panicked while holding the lock has already
/// failed, and the data of a fake is still fine to read for the next assertion.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Default)]
struct Tables {
    /// Certificates in creation order (listings are newest first, as the port says).
    certificates: Vec<Certificate>,
    events: Vec<CertificateEvent>,
    bindings: BTreeMap<CourseKey, CourseBinding>,
    jobs: BTreeMap<JobId, Job>,
    failure: Option<Error>,
}

impl Tables {
    fn check(&self) -> Result<()> {
        self.failure.clone().map_or(Ok(()), Err)
    }

    fn position(&self, id: CertificateId) -> Option<usize> {
        self.certificates.iter().position(|c| c.id == id)
    }

    fn live(&self, user: UserId, course: &CourseKey) -> Option<&Certificate> {
        self.certificates
            .iter()
            .find(|c| c.user_id == user && &c.course_key == course && c.state().is_live())
    }

    fn push_job(&mut self, job: &NewJob) -> JobId {
        let id = JobId(Uuid::new_v4());
        self.jobs.insert(
            id,
            Job {
                id,
                kind: job.kind,
                certificate_id: job.certificate_id,
                run_at: job.run_at,
                attempts: job.attempts,
                lease_owner: None,
                lease_expires_at: None,
                last_error: None,
            },
        );
        id
    }

    /// Checks a change without applying it: the certificate exists and its version is the one
    /// the change was based on.
    fn validate(&self, change: &CertificateChange) -> Result<usize> {
        let id = change.certificate.id;
        let at = self
            .position(id)
            .ok_or_else(|| Error::NotFound(format!("certificate {id}")))?;
        let stored = self.certificates[at].version;
        if stored != change.certificate.version {
            return Err(Error::Conflict(format!(
                "certificate {id} is at version {stored}, the change was based on version {}",
                change.certificate.version
            )));
        }
        Ok(at)
    }

    fn apply(&mut self, at: usize, change: &CertificateChange) {
        let mut saved = change.certificate.clone();
        saved.version += 1;
        self.certificates[at] = saved;
        self.events.extend(change.events.iter().cloned());
        if let Some(job) = change.complete_job {
            self.jobs.remove(&job);
        }
        if let Some(job) = &change.enqueue {
            self.push_job(job);
        }
    }
}

/// Storage in memory: certificates with their history, course bindings and the job queue, in
/// one value so that a certificate change and its queue changes are atomic as in the database.
///
/// Share it as `Arc<MemoryStore>` and pass the same `Arc` for all three repository ports.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every following call fail with `error` (e.g. [`Error::Storage`]) until called
    /// again with `None`: for testing what callers do when the database is down.
    pub fn fail_with(&self, error: Option<Error>) {
        lock(&self.tables).failure = error;
    }

    /// Stores a certificate as it is, replacing one with the same id, without any check: for
    /// seeding a test with a certificate in a given state.
    pub fn put_certificate(&self, certificate: Certificate) {
        let mut t = lock(&self.tables);
        match t.position(certificate.id) {
            Some(at) => t.certificates[at] = certificate,
            None => t.certificates.push(certificate),
        }
    }

    /// Every stored certificate, oldest first.
    pub fn all_certificates(&self) -> Vec<Certificate> {
        lock(&self.tables).certificates.clone()
    }

    /// Every queued job, leased or not, by id.
    pub fn all_jobs(&self) -> Vec<Job> {
        lock(&self.tables).jobs.values().cloned().collect()
    }

    /// Every history line of every certificate, in the order they were written.
    pub fn all_events(&self) -> Vec<CertificateEvent> {
        lock(&self.tables).events.clone()
    }
}

#[async_trait]
impl CertificateRepository for MemoryStore {
    async fn create(
        &self,
        certificate: &Certificate,
        event: &CertificateEvent,
        job: &NewJob,
    ) -> Result<Created> {
        let mut t = lock(&self.tables);
        t.check()?;
        if let Some(existing) = t.live(certificate.user_id, &certificate.course_key) {
            return Ok(Created::Existing(existing.clone()));
        }
        if t.position(certificate.id).is_some() {
            return Err(Error::Conflict(format!(
                "certificate {} already exists",
                certificate.id
            )));
        }
        t.certificates.push(certificate.clone());
        t.events.push(event.clone());
        t.push_job(job);
        Ok(Created::New(certificate.clone()))
    }

    async fn save(&self, change: &CertificateChange) -> Result<()> {
        let mut t = lock(&self.tables);
        t.check()?;
        let at = t.validate(change)?;
        t.apply(at, change);
        Ok(())
    }

    async fn replace(
        &self,
        old: &CertificateChange,
        new: &Certificate,
        event: &CertificateEvent,
        job: &NewJob,
    ) -> Result<()> {
        let mut t = lock(&self.tables);
        t.check()?;
        let at = t.validate(old)?;
        // The uniqueness rule, checked as it will stand after the change: the old certificate
        // may stop being live, and nothing else may be live for the learner and course.
        let still_live = t.live(new.user_id, &new.course_key).map(|c| c.id);
        let blocked = match still_live {
            Some(id) if id == old.certificate.id => old.certificate.state().is_live(),
            Some(_) => true,
            None => false,
        };
        if blocked {
            return Err(Error::Conflict(format!(
                "the learner already has a live certificate for {}",
                new.course_key
            )));
        }
        if t.position(new.id).is_some() {
            return Err(Error::Conflict(format!(
                "certificate {} already exists",
                new.id
            )));
        }
        t.apply(at, old);
        t.certificates.push(new.clone());
        t.events.push(event.clone());
        t.push_job(job);
        Ok(())
    }

    async fn get(&self, id: CertificateId) -> Result<Option<Certificate>> {
        let t = lock(&self.tables);
        t.check()?;
        Ok(t.position(id).map(|at| t.certificates[at].clone()))
    }

    async fn find_live(&self, user: UserId, course: &CourseKey) -> Result<Option<Certificate>> {
        let t = lock(&self.tables);
        t.check()?;
        Ok(t.live(user, course).cloned())
    }

    async fn list(&self, query: &CertificateQuery) -> Result<Vec<Certificate>> {
        let t = lock(&self.tables);
        t.check()?;
        let matching = t.certificates.iter().rev().filter(|c| {
            query.course_key.as_ref().is_none_or(|k| &c.course_key == k)
                && query.user_id.is_none_or(|u| c.user_id == u)
                && (query.states.is_empty() || query.states.contains(&c.state()))
        });
        let limit = query
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        Ok(matching.take(limit).cloned().collect())
    }

    async fn history(&self, id: CertificateId) -> Result<Vec<CertificateEvent>> {
        let t = lock(&self.tables);
        t.check()?;
        Ok(t.events
            .iter()
            .filter(|e| e.certificate_id == id)
            .cloned()
            .collect())
    }

    async fn count_by_state(&self) -> Result<Vec<(StateKind, u64)>> {
        let t = lock(&self.tables);
        t.check()?;
        let mut counts: BTreeMap<StateKind, u64> = BTreeMap::new();
        for c in &t.certificates {
            *counts.entry(c.state()).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }
}

#[async_trait]
impl BindingRepository for MemoryStore {
    async fn get(&self, course: &CourseKey) -> Result<Option<CourseBinding>> {
        let t = lock(&self.tables);
        t.check()?;
        Ok(t.bindings.get(course).cloned())
    }

    async fn upsert(&self, binding: &CourseBinding) -> Result<()> {
        let mut t = lock(&self.tables);
        t.check()?;
        t.bindings
            .insert(binding.course_key.clone(), binding.clone());
        Ok(())
    }

    async fn delete(&self, course: &CourseKey) -> Result<bool> {
        let mut t = lock(&self.tables);
        t.check()?;
        Ok(t.bindings.remove(course).is_some())
    }

    async fn list(&self) -> Result<Vec<CourseBinding>> {
        let t = lock(&self.tables);
        t.check()?;
        Ok(t.bindings.values().cloned().collect())
    }
}

/// Whether the stored job is still leased to the worker that claimed `claimed`, as the
/// database adapters check it: the same owner (a claim by another worker replaced it).
fn still_held(stored: &Job, claimed: &Job) -> bool {
    claimed.lease_owner.is_some() && stored.lease_owner == claimed.lease_owner
}

#[async_trait]
impl JobQueue for MemoryStore {
    async fn claim(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        max: u32,
    ) -> Result<Vec<Job>> {
        let mut t = lock(&self.tables);
        t.check()?;
        let lease =
            chrono::Duration::from_std(lease).map_err(|_| Error::invalid("lease", "too long"))?;
        let mut due: Vec<&mut Job> = t
            .jobs
            .values_mut()
            .filter(|j| j.run_at <= now && j.lease_expires_at.is_none_or(|until| until <= now))
            .collect();
        due.sort_by_key(|j| (j.run_at, j.id));
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        Ok(due
            .into_iter()
            .take(max)
            .map(|j| {
                j.lease_owner = Some(worker.to_owned());
                j.lease_expires_at = Some(now + lease);
                j.clone()
            })
            .collect())
    }

    async fn enqueue(&self, job: &NewJob) -> Result<JobId> {
        let mut t = lock(&self.tables);
        t.check()?;
        Ok(t.push_job(job))
    }

    async fn release(&self, job: &Job) -> Result<()> {
        let mut t = lock(&self.tables);
        t.check()?;
        if let Some(j) = t.jobs.get_mut(&job.id).filter(|j| still_held(j, job)) {
            j.lease_owner = None;
            j.lease_expires_at = None;
        }
        Ok(())
    }

    async fn reschedule(&self, job: &Job, run_at: DateTime<Utc>, error: &str) -> Result<()> {
        let mut t = lock(&self.tables);
        t.check()?;
        if let Some(j) = t.jobs.get_mut(&job.id).filter(|j| still_held(j, job)) {
            j.run_at = run_at;
            j.last_error = Some(error.to_owned());
            j.lease_owner = None;
            j.lease_expires_at = None;
        }
        Ok(())
    }

    async fn complete(&self, job: &Job) -> Result<()> {
        let mut t = lock(&self.tables);
        t.check()?;
        if t.jobs.get(&job.id).is_some_and(|j| still_held(j, job)) {
            t.jobs.remove(&job.id);
        }
        Ok(())
    }

    async fn count_by_kind(&self) -> Result<Vec<(JobKind, u64)>> {
        let t = lock(&self.tables);
        t.check()?;
        let mut counts: BTreeMap<&'static str, (JobKind, u64)> = BTreeMap::new();
        for j in t.jobs.values() {
            counts.entry(j.kind.as_str()).or_insert((j.kind, 0)).1 += 1;
        }
        Ok(counts.into_values().collect())
    }
}

/// A clock that stands still until the test sets or advances it, so that retry schedules and
/// dates on pages are exact.
#[derive(Debug)]
pub struct FixedClock {
    now: Mutex<DateTime<Utc>>,
}

impl FixedClock {
    /// A clock showing `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: DateTime<Utc>) {
        *lock(&self.now) = now;
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        let mut now = lock(&self.now);
        *now += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
    }
}

impl Default for FixedClock {
    /// 2026-11-25 10:00:00 UTC, the date the domain's own tests use.
    fn default() -> Self {
        Self::new(
            Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
                .single()
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        )
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
}

/// The calls [`FakePok`] answers, to set failures per endpoint and to read its call log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PokCall {
    /// `GET organization/me`.
    Organization,
    /// `GET template?limit=N`.
    Templates,
    /// `GET template/{id}`.
    Template,
    /// `GET page?limit=N`.
    Pages,
    /// `POST template/preview`.
    Preview,
    /// `POST credential/`.
    Issue,
    /// `GET credential/{id}/`.
    Credential,
    /// `GET credential/{id}/decrypted-image/`.
    CredentialImage,
}

#[derive(Debug)]
struct PokState {
    organization: Organization,
    templates: BTreeMap<TemplateId, Template>,
    pages: Vec<PageSummary>,
    /// The state POK gives new credentials when no answer is queued.
    issue_state: String,
    issue_answers: VecDeque<Result<CredentialStatus, GatewayError>>,
    issued: Vec<IssueRequest>,
    credentials: BTreeMap<CredentialId, CredentialStatus>,
    failures: BTreeMap<PokCall, GatewayError>,
    calls: Vec<PokCall>,
    next_id: u64,
}

/// A POK in memory. By default it knows no templates (add them with
/// [`FakePok::add_template`]), issues every credential straight to `emitted` with ids
/// `cred-1`, `cred-2`, ... and a view URL under `https://pok.example/`, and answers images and
/// previews with URLs under `https://pok.example/`.
///
/// Answers can be changed per test: [`FakePok::set_issue_state`] for new credentials,
/// [`FakePok::push_issue_answer`] to queue exact answers (failures included) for the next
/// issues, [`FakePok::set_credential_state`] for later polls, and [`FakePok::fail`] to make an
/// endpoint fail until [`FakePok::recover`]. Every call is logged ([`FakePok::calls`]), failed
/// ones included.
#[derive(Debug)]
pub struct FakePok {
    state: Mutex<PokState>,
}

impl Default for FakePok {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the fake's URLs live.
const FAKE_POK_URL: &str = "https://pok.example";

impl FakePok {
    /// A POK with 100 credits, no templates, issuing to `emitted`.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(PokState {
                organization: Organization {
                    name: "Fake organisation".to_owned(),
                    available_credits: Some(100),
                    ..Organization::default()
                },
                templates: BTreeMap::new(),
                pages: Vec::new(),
                issue_state: "emitted".to_owned(),
                issue_answers: VecDeque::new(),
                issued: Vec::new(),
                credentials: BTreeMap::new(),
                failures: BTreeMap::new(),
                calls: Vec::new(),
                next_id: 1,
            }),
        }
    }

    /// Replaces what `organization()` answers.
    pub fn set_organization(&self, organization: Organization) {
        lock(&self.state).organization = organization;
    }

    /// Makes a template known (for `template`, `templates` and previews).
    pub fn add_template(&self, template: Template) {
        lock(&self.state)
            .templates
            .insert(template.id.clone(), template);
    }

    /// Makes a landing page known.
    pub fn add_page(&self, page: PageSummary) {
        lock(&self.state).pages.push(page);
    }

    /// The state new credentials get when no answer is queued (`emitted`, `processing`, ...).
    pub fn set_issue_state(&self, state: &str) {
        state.clone_into(&mut lock(&self.state).issue_state);
    }

    /// Queues the exact answer of the next `issue` call (answers are used in order). A queued
    /// success is also remembered as a credential for later polls.
    pub fn push_issue_answer(&self, answer: Result<CredentialStatus, GatewayError>) {
        lock(&self.state).issue_answers.push_back(answer);
    }

    /// Changes what POK says about a credential from now on (e.g. `emitted` after
    /// `processing`, or `revoked`).
    pub fn set_credential_state(&self, id: &CredentialId, state: &str) {
        let mut s = lock(&self.state);
        let status = s
            .credentials
            .entry(id.clone())
            .or_insert_with(|| fake_status(id, state));
        state.clone_into(&mut status.state);
    }

    /// Makes every call to `call` fail with `error` until [`FakePok::recover`].
    pub fn fail(&self, call: PokCall, error: GatewayError) {
        lock(&self.state).failures.insert(call, error);
    }

    /// Ends a failure set with [`FakePok::fail`].
    pub fn recover(&self, call: PokCall) {
        lock(&self.state).failures.remove(&call);
    }

    /// Every call received so far, in order.
    pub fn calls(&self) -> Vec<PokCall> {
        lock(&self.state).calls.clone()
    }

    /// How many calls of one kind were received.
    pub fn count(&self, call: PokCall) -> usize {
        lock(&self.state)
            .calls
            .iter()
            .filter(|c| **c == call)
            .count()
    }

    /// Every credential request `issue` received, failed ones included.
    pub fn issued(&self) -> Vec<IssueRequest> {
        lock(&self.state).issued.clone()
    }

    /// Logs a call and returns the state, or the failure set for the call.
    fn enter(&self, call: PokCall) -> Result<MutexGuard<'_, PokState>, GatewayError> {
        let mut s = lock(&self.state);
        s.calls.push(call);
        match s.failures.get(&call) {
            Some(e) => Err(e.clone()),
            None => Ok(s),
        }
    }
}

fn fake_status(id: &CredentialId, state: &str) -> CredentialStatus {
    CredentialStatus {
        id: id.clone(),
        state: state.to_owned(),
        view_url: Some(format!("{FAKE_POK_URL}/credential/{id}")),
        raw: serde_json::json!({ "id": id.as_str(), "state": state }),
    }
}

#[async_trait]
impl PokGateway for FakePok {
    async fn organization(&self) -> Result<Organization, GatewayError> {
        Ok(self.enter(PokCall::Organization)?.organization.clone())
    }

    async fn templates(&self, limit: u32) -> Result<Vec<TemplateSummary>, GatewayError> {
        let s = self.enter(PokCall::Templates)?;
        Ok(s.templates
            .values()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|t| TemplateSummary {
                id: t.id.clone(),
                name: t.name.clone(),
            })
            .collect())
    }

    async fn template(&self, id: &TemplateId) -> Result<Template, GatewayError> {
        self.enter(PokCall::Template)?
            .templates
            .get(id)
            .cloned()
            .ok_or_else(|| GatewayError::permanent(format!("404: no template {id}")))
    }

    async fn pages(&self, limit: u32) -> Result<Vec<PageSummary>, GatewayError> {
        let s = self.enter(PokCall::Pages)?;
        Ok(s.pages
            .iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn preview(&self, request: &PreviewRequest) -> Result<String, GatewayError> {
        let s = self.enter(PokCall::Preview)?;
        let Some(template) = s.templates.get(&request.template_id) else {
            return Err(GatewayError::permanent(format!(
                "404: no template {}",
                request.template_id
            )));
        };
        if let Some(missing) = template.custom_parameters.iter().find(|p| {
            !request.custom_parameters.contains_key(&p.label)
                && !request.custom_parameters.contains_key(&p.id)
        }) {
            return Err(GatewayError::permanent(format!(
                "400: parameter {} has no value",
                missing.label
            )));
        }
        Ok(format!(
            "{FAKE_POK_URL}/previews/{}.png",
            request.template_id
        ))
    }

    async fn issue(&self, request: &IssueRequest) -> Result<CredentialStatus, GatewayError> {
        let mut s = self.enter(PokCall::Issue)?;
        s.issued.push(request.clone());
        let answer = if let Some(answer) = s.issue_answers.pop_front() {
            answer
        } else {
            let n = s.next_id;
            s.next_id += 1;
            let id = CredentialId::parse(&format!("cred-{n}"))
                .map_err(|e| GatewayError::permanent(e.to_string()))?;
            Ok(fake_status(&id, &s.issue_state))
        };
        if let Ok(status) = &answer {
            s.credentials.insert(status.id.clone(), status.clone());
        }
        answer
    }

    async fn credential(&self, id: &CredentialId) -> Result<CredentialStatus, GatewayError> {
        self.enter(PokCall::Credential)?
            .credentials
            .get(id)
            .cloned()
            .ok_or_else(|| GatewayError::permanent(format!("404: no credential {id}")))
    }

    async fn credential_image(&self, id: &CredentialId) -> Result<String, GatewayError> {
        let s = self.enter(PokCall::CredentialImage)?;
        if s.credentials.contains_key(id) {
            Ok(format!("{FAKE_POK_URL}/images/{id}.jpg?expires=300"))
        } else {
            Err(GatewayError::permanent(format!("404: no credential {id}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use pollster::block_on;

    use super::*;
    use crate::filters::{CreationRequest, DOWNLOADABLE, IssuingSettings};
    use crate::lifecycle::Actor;
    use crate::lifecycle::fixtures::{certificate, in_state, t0};
    use crate::service::{CertificateService, CreationAnswer, JobOutcome};
    use crate::values::{CourseMode, Grade};

    struct World {
        store: Arc<MemoryStore>,
        pok: Arc<FakePok>,
        clock: Arc<FixedClock>,
        service: CertificateService,
    }

    fn world() -> World {
        let store = Arc::new(MemoryStore::new());
        let pok = Arc::new(FakePok::new());
        let clock = Arc::new(FixedClock::new(t0()));
        let service = CertificateService::new(
            store.clone(),
            store.clone(),
            store.clone(),
            pok.clone(),
            clock.clone(),
            IssuingSettings::default(),
        );
        World {
            store,
            pok,
            clock,
            service,
        }
    }

    fn course() -> CourseKey {
        CourseKey::parse("course-v1:OrgX+CS101+2026").unwrap()
    }

    fn request() -> CreationRequest {
        CreationRequest {
            user_id: Some(UserId::new(42).unwrap()),
            username: "ada".into(),
            email: Some("ada@example.org".into()),
            full_name: Some("Ada Lovelace".into()),
            course_key: Some(course()),
            mode: Some(CourseMode::parse("verified").unwrap()),
            status: DOWNLOADABLE.into(),
            grade: Some(Grade::new(0.9).unwrap()),
            ..CreationRequest::default()
        }
    }

    fn link(w: &World) {
        let b = CourseBinding::new(course(), TemplateId::parse("t").unwrap());
        block_on(BindingRepository::upsert(w.store.as_ref(), &b)).unwrap();
    }

    #[test]
    fn the_use_cases_run_end_to_end_on_the_fakes() {
        let w = world();
        link(&w);
        let CreationAnswer::Enqueued(id) =
            block_on(w.service.request_certificate(&request(), Actor::Lms)).unwrap()
        else {
            panic!("expected enqueued");
        };
        assert!(w.pok.calls().is_empty(), "recording never calls POK");
        assert_eq!(
            block_on(w.service.request_certificate(&request(), Actor::Lms)).unwrap(),
            CreationAnswer::AlreadyRequested(id)
        );
        let jobs = block_on(w.store.claim("w1", t0(), Duration::from_secs(60), 10)).unwrap();
        assert_eq!(jobs.len(), 1);
        let out = block_on(w.service.process_job(&jobs[0])).unwrap();
        assert_eq!(out, JobOutcome::Advanced(StateKind::Emitted));
        assert!(
            w.store.all_jobs().is_empty(),
            "the finished job left the queue"
        );
        assert_eq!(w.pok.count(PokCall::Issue), 1);
        let history = block_on(w.store.history(id)).unwrap();
        assert_eq!(
            history.iter().map(|e| e.to).collect::<Vec<_>>(),
            [StateKind::Requested, StateKind::Issuing, StateKind::Emitted]
        );
        let url = block_on(w.service.image_url(id)).unwrap();
        assert!(
            url.starts_with("https://pok.example/images/cred-1"),
            "{url}"
        );
    }

    #[test]
    fn a_save_based_on_an_old_version_is_a_conflict_and_changes_nothing() {
        let w = world();
        let cert = certificate();
        w.store.put_certificate(cert.clone());
        let change = CertificateChange {
            certificate: cert.clone(),
            events: Vec::new(),
            complete_job: None,
            enqueue: None,
        };
        block_on(w.store.save(&change)).unwrap();
        let err = block_on(w.store.save(&change)).unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert_eq!(w.store.all_certificates()[0].version, 1);
    }

    #[test]
    fn a_second_live_certificate_for_the_same_learner_and_course_is_refused() {
        let w = world();
        let first = certificate();
        let job = NewJob {
            kind: JobKind::Issue,
            certificate_id: first.id,
            run_at: t0(),
            attempts: 0,
        };
        let event = CertificateEvent {
            certificate_id: first.id,
            at: t0(),
            from: None,
            to: StateKind::Requested,
            actor: Actor::Lms,
            reason: "test".into(),
        };
        assert!(matches!(
            block_on(w.store.create(&first, &event, &job)).unwrap(),
            Created::New(_)
        ));
        let second = certificate();
        let Created::Existing(existing) = block_on(w.store.create(&second, &event, &job)).unwrap()
        else {
            panic!("expected the existing certificate");
        };
        assert_eq!(existing.id, first.id);
        assert_eq!(w.store.all_jobs().len(), 1);
    }

    #[test]
    fn claimed_jobs_are_leased_until_released_or_expired() {
        let w = world();
        let cert = certificate();
        block_on(w.store.enqueue(&NewJob {
            kind: JobKind::Issue,
            certificate_id: cert.id,
            run_at: t0(),
            attempts: 0,
        }))
        .unwrap();
        let lease = Duration::from_secs(30);
        let claimed = block_on(w.store.claim("w1", t0(), lease, 5)).unwrap();
        assert_eq!(claimed[0].lease_owner.as_deref(), Some("w1"));
        assert!(
            block_on(w.store.claim("w2", t0(), lease, 5))
                .unwrap()
                .is_empty()
        );
        w.clock.advance(Duration::from_secs(31));
        let later = block_on(w.store.claim("w2", w.clock.now(), lease, 5)).unwrap();
        assert_eq!(later.len(), 1, "an expired lease frees the job");
        block_on(w.store.release(&later[0])).unwrap();
        assert_eq!(
            block_on(w.store.claim("w3", w.clock.now(), lease, 5))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            block_on(w.store.count_by_kind()).unwrap(),
            [(JobKind::Issue, 1)]
        );
    }

    #[test]
    fn a_reissue_supersedes_in_one_step() {
        let w = world();
        let old = in_state(StateKind::Emitted);
        w.store.put_certificate(old.clone());
        let new = block_on(w.service.reissue(
            old.id,
            &crate::service::Corrections::default(),
            Actor::Admin("root".into()),
        ))
        .unwrap();
        let live = block_on(w.store.find_live(old.user_id, &old.course_key))
            .unwrap()
            .unwrap();
        assert_eq!(live.id, new.id);
        let counts = block_on(w.store.count_by_state()).unwrap();
        assert_eq!(
            counts,
            [(StateKind::Requested, 1), (StateKind::Superseded, 1)]
        );
    }

    #[test]
    fn a_failing_store_fails_every_call_until_it_recovers() {
        let w = world();
        w.store
            .fail_with(Some(Error::Storage("disk on fire".into())));
        assert!(matches!(
            block_on(w.service.render_public(CertificateId::new())),
            Err(Error::Storage(_))
        ));
        w.store.fail_with(None);
        assert!(block_on(w.service.render_public(CertificateId::new())).is_ok());
    }

    #[test]
    fn the_fake_pok_answers_as_told_and_logs_every_call() {
        let pok = FakePok::new();
        pok.set_issue_state("processing");
        let first = block_on(pok.issue(&crate::lifecycle::fixtures::request())).unwrap();
        assert_eq!(first.state, "processing");
        pok.set_credential_state(&first.id, "emitted");
        assert_eq!(
            block_on(pok.credential(&first.id)).unwrap().state,
            "emitted"
        );
        pok.push_issue_answer(Err(GatewayError::outcome_unknown("timeout")));
        assert!(block_on(pok.issue(&crate::lifecycle::fixtures::request())).is_err());
        pok.fail(PokCall::Organization, GatewayError::retryable("503", None));
        assert!(block_on(pok.organization()).is_err());
        pok.recover(PokCall::Organization);
        assert_eq!(
            block_on(pok.organization()).unwrap().available_credits,
            Some(100)
        );
        assert_eq!(
            pok.calls(),
            [
                PokCall::Issue,
                PokCall::Credential,
                PokCall::Issue,
                PokCall::Organization,
                PokCall::Organization
            ]
        );
        assert_eq!(pok.issued().len(), 2);
    }
}
