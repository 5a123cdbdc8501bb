//! The use cases, generic over the ports: every adapter (the HTTP service, the worker, the admin
//! CLI) calls these, so no business rule is written twice.
//!
//! Exactly-once issuing rests on three rules kept here:
//! 1. a certificate is stored as `issuing` *before* the request to POK goes out;
//! 2. a certificate found `issuing` by a worker that holds its job means the previous attempt
//!    died mid-call, so it goes to `needs-review`, never back to POK blindly;
//! 3. every state change is saved with the queue changes that follow from it, under an
//!    optimistic version check, so two workers can never both act on one state.

use std::sync::Arc;

use crate::binding::CourseBinding;
use crate::error::{Error, FailureClass, Result};
use crate::filters::{
    CreationDecision, CreationRequest, IssuingSettings, RenderDecision, decide_creation,
    decide_render, effective_binding,
};
use crate::lifecycle::{
    Actor, Certificate, CertificateEvent, CertificateId, NewCertificate, StateKind,
};
use crate::ports::{
    BindingRepository, CertificateChange, CertificateRepository, Clock, Created, Job, JobKind,
    JobQueue, NewJob, PokGateway, PreviewRequest,
};
use crate::values::{CourseKey, CredentialId, Email, PersonName, UserId};

/// The answer to the LMS for a creation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreationAnswer {
    /// Recorded and queued: the LMS continues.
    Enqueued(CertificateId),
    /// Already recorded before: the LMS continues.
    AlreadyRequested(CertificateId),
    /// Not a POK course or mode: the LMS continues as usual.
    NotOurs(String),
    /// The LMS must not create the certificate.
    Prevent(String),
}

/// What became of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// The certificate moved on; the job is finished.
    Advanced(StateKind),
    /// There was nothing to do (the certificate was revoked, superseded, or already further).
    Nothing,
    /// Someone changed the certificate meanwhile; the job was given back to be looked at again.
    Released,
}

/// Corrections for a re-issue (after a name change, say). `None` keeps the old value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Corrections {
    /// The corrected full name, split again.
    pub full_name: Option<PersonName>,
    /// The corrected e-mail.
    pub email: Option<Email>,
}

/// The use cases, over shared ports.
#[derive(Clone)]
pub struct CertificateService {
    certificates: Arc<dyn CertificateRepository>,
    bindings: Arc<dyn BindingRepository>,
    jobs: Arc<dyn JobQueue>,
    pok: Arc<dyn PokGateway>,
    clock: Arc<dyn Clock>,
    settings: Arc<IssuingSettings>,
}

impl std::fmt::Debug for CertificateService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl CertificateService {
    /// Wires the ports together.
    pub fn new(
        certificates: Arc<dyn CertificateRepository>,
        bindings: Arc<dyn BindingRepository>,
        jobs: Arc<dyn JobQueue>,
        pok: Arc<dyn PokGateway>,
        clock: Arc<dyn Clock>,
        settings: IssuingSettings,
    ) -> Self {
        Self {
            certificates,
            bindings,
            jobs,
            pok,
            clock,
            settings: Arc::new(settings),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &IssuingSettings {
        &self.settings
    }

    /// The certificate repository, for read-only listings by adapters.
    pub fn certificates(&self) -> &dyn CertificateRepository {
        self.certificates.as_ref()
    }

    /// The binding repository, for listings by adapters.
    pub fn bindings(&self) -> &dyn BindingRepository {
        self.bindings.as_ref()
    }

    /// The job queue, for the worker.
    pub fn jobs(&self) -> &dyn JobQueue {
        self.jobs.as_ref()
    }

    /// The POK gateway, for read-only administration (templates, pages, credits).
    pub fn pok(&self) -> &dyn PokGateway {
        self.pok.as_ref()
    }

    /// The clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    async fn get(&self, id: CertificateId) -> Result<Certificate> {
        self.certificates
            .get(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("certificate {id}")))
    }

    /// Saves a change and mirrors the storage's version bump in the caller's copy.
    async fn save(
        &self,
        certificate: &mut Certificate,
        events: Vec<CertificateEvent>,
        complete_job: Option<&Job>,
        enqueue: Option<NewJob>,
    ) -> Result<()> {
        let change = CertificateChange {
            certificate: certificate.clone(),
            events,
            complete_job: complete_job.map(|j| j.id),
            enqueue,
        };
        self.certificates.save(&change).await?;
        certificate.version += 1;
        Ok(())
    }

    /// `CertificateCreationRequested`: decides from stored data and, when the certificate is
    /// ours to issue, records it and queues its issuing in one transaction. Never calls POK.
    pub async fn request_certificate(
        &self,
        req: &CreationRequest,
        actor: Actor,
    ) -> Result<CreationAnswer> {
        let (Some(user), Some(course)) = (req.user_id, req.course_key.as_ref()) else {
            return Ok(CreationAnswer::Prevent(
                "user id and course key are required".into(),
            ));
        };
        let binding = self.bindings.get(course).await?;
        let existing = self.certificates.find_live(user, course).await?;
        let now = self.clock.now();
        match decide_creation(
            req,
            binding.as_ref(),
            &self.settings,
            existing.as_ref(),
            now,
        ) {
            CreationDecision::Enqueue(new) => {
                let reason = match &actor {
                    Actor::Lms => "requested by the LMS",
                    _ => "requested by hand",
                };
                let (cert, event) = Certificate::request(*new, now, actor, reason);
                let job = NewJob {
                    kind: JobKind::Issue,
                    certificate_id: cert.id,
                    run_at: now,
                    attempts: 0,
                };
                Ok(match self.certificates.create(&cert, &event, &job).await? {
                    Created::New(c) => CreationAnswer::Enqueued(c.id),
                    Created::Existing(c) => CreationAnswer::AlreadyRequested(c.id),
                })
            }
            CreationDecision::AlreadyRequested(id) => Ok(CreationAnswer::AlreadyRequested(id)),
            CreationDecision::NotOurs(why) => Ok(CreationAnswer::NotOurs(why)),
            CreationDecision::Prevent(why) => Ok(CreationAnswer::Prevent(why)),
        }
    }

    /// `CertificateRenderStarted` for a learner and course. Reads stored data only.
    pub async fn render_for_learner(
        &self,
        user: UserId,
        course: &CourseKey,
    ) -> Result<RenderDecision> {
        let cert = self.certificates.find_live(user, course).await?;
        let binding = self.bindings.get(course).await?;
        let binding = effective_binding(course, binding.as_ref(), &self.settings);
        Ok(decide_render(
            cert.as_ref(),
            binding.as_ref(),
            self.clock.now(),
        ))
    }

    /// The public certificate page. Reads stored data only; an unknown id is "not found".
    pub async fn render_public(&self, id: CertificateId) -> Result<RenderDecision> {
        Ok(match self.certificates.get(id).await? {
            Some(c) => decide_render(Some(&c), None, self.clock.now()),
            None => RenderDecision::Error(crate::filters::PublicReason::NotFound),
        })
    }

    /// A fresh URL of an emitted certificate's image (POK's URLs are short-lived).
    pub async fn image_url(&self, id: CertificateId) -> Result<String> {
        let cert = self.get(id).await?;
        match (cert.state(), &cert.lifecycle().credential_id) {
            (StateKind::Emitted, Some(cred)) => Ok(self.pok.credential_image(cred).await?),
            _ => Err(Error::NotFound(format!("image of certificate {id}"))),
        }
    }

    /// A preview of a course's template, with placeholders (`[ label ]`) for every parameter,
    /// as POK refuses a preview with a parameter missing.
    pub async fn preview_url(&self, binding: &CourseBinding) -> Result<String> {
        let template = self.pok.template(&binding.template_id).await?;
        let custom_parameters = template
            .custom_parameters
            .iter()
            .map(|p| {
                (
                    p.key(self.settings.param_keying).to_owned(),
                    format!("[ {} ]", p.label),
                )
            })
            .collect();
        Ok(self
            .pok
            .preview(&PreviewRequest {
                template_id: binding.template_id.clone(),
                custom_parameters,
            })
            .await?)
    }

    /// Links a course to a template after checking the mapping against the template's custom
    /// parameters at POK.
    pub async fn link_course(&self, mut binding: CourseBinding) -> Result<CourseBinding> {
        let template = self.pok.template(&binding.template_id).await?;
        binding.check_against(&template, self.settings.param_keying)?;
        let now = self.clock.now();
        if let Some(old) = self.bindings.get(&binding.course_key).await? {
            binding.created_at = old.created_at;
        } else {
            binding.created_at = now;
        }
        binding.updated_at = now;
        self.bindings.upsert(&binding).await?;
        Ok(binding)
    }

    /// Runs one claimed job. Storage failures are returned for the worker to reschedule the
    /// job; POK failures are part of the certificate's lifecycle and end `Ok`.
    pub async fn process_job(&self, job: &Job) -> Result<JobOutcome> {
        let Some(mut cert) = self.certificates.get(job.certificate_id).await? else {
            self.jobs.complete(job).await?;
            return Ok(JobOutcome::Nothing);
        };
        let outcome = match (job.kind, cert.state()) {
            (_, StateKind::Issuing) => {
                let event = cert.interrupted(self.clock.now())?;
                self.save(&mut cert, vec![event], Some(job), None).await
            }
            (JobKind::Issue, StateKind::Requested | StateKind::Failed) => {
                self.issue(&mut cert, job).await
            }
            (JobKind::Refresh, StateKind::Processing) => self.poll(&mut cert, job).await,
            _ => {
                self.jobs.complete(job).await?;
                return Ok(JobOutcome::Nothing);
            }
        };
        match outcome {
            Ok(()) => Ok(JobOutcome::Advanced(cert.state())),
            Err(Error::Conflict(_)) => {
                self.jobs.release(job).await?;
                Ok(JobOutcome::Released)
            }
            Err(e) => Err(e),
        }
    }

    async fn issue(&self, cert: &mut Certificate, job: &Job) -> Result<()> {
        let event = cert.begin_attempt(self.clock.now())?;
        // Rule 1: the intent is stored before the request leaves.
        self.save(cert, vec![event], None, None).await?;
        let answer = self.pok.issue(&cert.request).await;
        let now = self.clock.now();
        let settle = |c: &mut Certificate| -> Result<(CertificateEvent, Option<NewJob>)> {
            match &answer {
                Ok(status) => {
                    let event = c.accepted(
                        status.id.clone(),
                        &status.state,
                        status.view_url.clone(),
                        now,
                    )?;
                    Ok((event, self.follow_up_poll(c, 0)))
                }
                Err(e) => {
                    let event = c.attempt_failed(e, &self.settings.retry, now)?;
                    let next = c.lifecycle().next_attempt_at.map(|at| NewJob {
                        kind: JobKind::Issue,
                        certificate_id: c.id,
                        run_at: at,
                        attempts: c.lifecycle().attempts,
                    });
                    Ok((event, next))
                }
            }
        };
        let (event, next) = settle(cert)?;
        match self.save(cert, vec![event], Some(job), next).await {
            Err(Error::Conflict(_)) => {
                // Our lease ran out while POK was answering and another worker marked the
                // certificate needs-review. A success still settles it; a failure changes
                // nothing (it already waits for a person).
                let mut fresh = self.get(cert.id).await?;
                if answer.is_ok() && fresh.state() == StateKind::NeedsReview {
                    let (event, next) = settle(&mut fresh)?;
                    self.save(&mut fresh, vec![event], Some(job), next).await?;
                }
                *cert = fresh;
                Ok(())
            }
            other => other,
        }
    }

    fn follow_up_poll(&self, cert: &Certificate, polls_done: u32) -> Option<NewJob> {
        (cert.state() == StateKind::Processing).then(|| NewJob {
            kind: JobKind::Refresh,
            certificate_id: cert.id,
            run_at: self
                .settings
                .poll
                .next_poll(polls_done, 0.5, self.clock.now()),
            attempts: polls_done + 1,
        })
    }

    async fn poll(&self, cert: &mut Certificate, job: &Job) -> Result<()> {
        let Some(cred) = cert.lifecycle().credential_id.clone() else {
            self.jobs.complete(job).await?;
            return Ok(());
        };
        match self.pok.credential(&cred).await {
            Ok(status) => {
                let before = (cert.state(), cert.lifecycle().pok_state.clone());
                let event = cert.observe(&status.state, status.view_url, self.clock.now())?;
                let changed = before != (cert.state(), cert.lifecycle().pok_state.clone());
                let events = if changed { vec![event] } else { Vec::new() };
                let next = self.follow_up_poll(cert, job.attempts);
                self.save(cert, events, Some(job), next).await
            }
            Err(e) => {
                let at = self
                    .settings
                    .poll
                    .next_poll(job.attempts, 0.5, self.clock.now());
                self.jobs.reschedule(job, at, &e.reason).await
            }
        }
    }

    /// Asks POK about a certificate now (administration), and saves what it says.
    pub async fn refresh(&self, id: CertificateId, actor: Actor) -> Result<Certificate> {
        let mut cert = self.get(id).await?;
        let Some(cred) = cert.lifecycle().credential_id.clone() else {
            return Err(Error::IllegalTransition {
                from: cert.state(),
                action: "refresh (POK never accepted it)",
            });
        };
        let status = self.pok.credential(&cred).await?;
        let was = cert.state();
        let mut event = match was {
            StateKind::NeedsReview => {
                cert.accepted(cred, &status.state, status.view_url, self.clock.now())?
            }
            _ => cert.observe(&status.state, status.view_url, self.clock.now())?,
        };
        event.actor = actor;
        // A processing certificate already has its poll queued; only one leaving needs-review
        // (which has no job) starts polling.
        let next = if was == StateKind::NeedsReview {
            self.follow_up_poll(&cert, 0)
        } else {
            None
        };
        self.save(&mut cert, vec![event], None, next).await?;
        Ok(cert)
    }

    /// Settles a needs-review certificate with the credential an administrator found at POK.
    pub async fn resolve(
        &self,
        id: CertificateId,
        credential: CredentialId,
        actor: Actor,
    ) -> Result<Certificate> {
        let mut cert = self.get(id).await?;
        if cert.state() != StateKind::NeedsReview {
            return Err(Error::IllegalTransition {
                from: cert.state(),
                action: "resolve",
            });
        }
        let status = self.pok.credential(&credential).await?;
        let mut event =
            cert.accepted(credential, &status.state, status.view_url, self.clock.now())?;
        event.actor = actor;
        let next = self.follow_up_poll(&cert, 0);
        self.save(&mut cert, vec![event], None, next).await?;
        Ok(cert)
    }

    /// Queues a failed or needs-review certificate again (administration).
    pub async fn retry(&self, id: CertificateId, actor: Actor) -> Result<Certificate> {
        let mut cert = self.get(id).await?;
        let event = cert.retry(self.clock.now(), actor)?;
        let job = NewJob {
            kind: JobKind::Issue,
            certificate_id: cert.id,
            run_at: self.clock.now(),
            attempts: cert.lifecycle().attempts,
        };
        self.save(&mut cert, vec![event], None, Some(job)).await?;
        Ok(cert)
    }

    /// Revokes a certificate (administration).
    pub async fn revoke(
        &self,
        id: CertificateId,
        reason: &str,
        actor: Actor,
    ) -> Result<Certificate> {
        let mut cert = self.get(id).await?;
        let event = cert.revoke(reason, self.clock.now(), actor)?;
        self.save(&mut cert, vec![event], None, None).await?;
        Ok(cert)
    }

    /// Re-issues a certificate with corrections: the old one becomes superseded and points to
    /// the new one, which is queued with a fresh emission date. One transaction.
    pub async fn reissue(
        &self,
        id: CertificateId,
        corrections: &Corrections,
        actor: Actor,
    ) -> Result<Certificate> {
        let mut old = self.get(id).await?;
        let now = self.clock.now();
        let mut request = old.request.clone();
        request.emission_date = now;
        if let Some(name) = &corrections.full_name {
            let (first, last) = crate::issuing::split_name(name, None, None);
            request.receiver.first_name = first;
            request.receiver.last_name = last;
        }
        if let Some(email) = &corrections.email {
            request.receiver.email = email.clone();
        }
        let new = NewCertificate {
            user_id: old.user_id,
            username: old.username.clone(),
            course_key: old.course_key.clone(),
            mode: old.mode.clone(),
            grade: old.grade,
            request,
        };
        let (new_cert, new_event) =
            Certificate::request(new, now, actor.clone(), &format!("re-issue of {id}"));
        let old_event = old.supersede(new_cert.id, now, actor)?;
        let old_change = CertificateChange {
            certificate: old,
            events: vec![old_event],
            complete_job: None,
            enqueue: None,
        };
        let job = NewJob {
            kind: JobKind::Issue,
            certificate_id: new_cert.id,
            run_at: now,
            attempts: 0,
        };
        self.certificates
            .replace(&old_change, &new_cert, &new_event, &job)
            .await?;
        Ok(new_cert)
    }

    /// Whether a gateway error means POK may have acted (for adapters' logs and metrics).
    pub fn is_doubtful(error: &Error) -> bool {
        matches!(error, Error::Gateway(g) if g.class == FailureClass::OutcomeUnknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GatewayError;
    use crate::binding::{CourseBinding, ParamMapping};
    use crate::filters::DOWNLOADABLE;
    use crate::lifecycle::fixtures::{certificate, in_state, t0};
    use crate::ports::{
        CredentialStatus, CustomParameter, JobId, MockBindingRepository, MockCertificateRepository,
        MockClock, MockJobQueue, MockPokGateway, Template,
    };
    use crate::values::{CourseMode, Grade, TemplateId};
    use mockall::predicate::eq;
    use pollster::block_on;

    struct Mocks {
        certs: MockCertificateRepository,
        bindings: MockBindingRepository,
        jobs: MockJobQueue,
        pok: MockPokGateway,
    }

    impl Mocks {
        fn new() -> Self {
            Self {
                certs: MockCertificateRepository::new(),
                bindings: MockBindingRepository::new(),
                jobs: MockJobQueue::new(),
                pok: MockPokGateway::new(),
            }
        }

        fn service(self) -> CertificateService {
            let mut clock = MockClock::new();
            clock.expect_now().returning(t0);
            CertificateService::new(
                Arc::new(self.certs),
                Arc::new(self.bindings),
                Arc::new(self.jobs),
                Arc::new(self.pok),
                Arc::new(clock),
                IssuingSettings::default(),
            )
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

    fn job(kind: JobKind, cert: &Certificate) -> Job {
        Job {
            id: JobId(uuid::Uuid::nil()),
            kind,
            certificate_id: cert.id,
            run_at: t0(),
            attempts: 0,
            lease_owner: Some("w1".into()),
            lease_expires_at: None,
            last_error: None,
        }
    }

    fn status(state: &str) -> CredentialStatus {
        CredentialStatus {
            id: CredentialId::parse("cred-1").unwrap(),
            state: state.into(),
            view_url: Some("https://pok/view/cred-1".into()),
            raw: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_creation_request_records_and_enqueues_without_calling_pok() {
        let mut m = Mocks::new();
        m.bindings.expect_get().returning(|c| {
            Ok(Some(CourseBinding::new(
                c.clone(),
                TemplateId::parse("t").unwrap(),
            )))
        });
        m.certs.expect_find_live().returning(|_, _| Ok(None));
        m.certs
            .expect_create()
            .withf(|c, e, j| {
                c.state() == StateKind::Requested
                    && e.to == StateKind::Requested
                    && j.kind == JobKind::Issue
                    && j.certificate_id == c.id
                    && j.run_at == t0()
            })
            .times(1)
            .returning(|c, _, _| Ok(Created::New(c.clone())));
        // No expectation on m.pok: any call to POK fails the test.
        let answer = block_on(m.service().request_certificate(&request(), Actor::Lms)).unwrap();
        assert!(matches!(answer, CreationAnswer::Enqueued(_)));
    }

    #[test]
    fn a_request_for_an_emitted_certificate_never_touches_pok_or_storage_writes() {
        let mut m = Mocks::new();
        let emitted = in_state(StateKind::Emitted);
        let id = emitted.id;
        m.bindings.expect_get().returning(|c| {
            Ok(Some(CourseBinding::new(
                c.clone(),
                TemplateId::parse("t").unwrap(),
            )))
        });
        m.certs
            .expect_find_live()
            .returning(move |_, _| Ok(Some(emitted.clone())));
        let answer = block_on(m.service().request_certificate(&request(), Actor::Lms)).unwrap();
        assert_eq!(answer, CreationAnswer::AlreadyRequested(id));
    }

    #[test]
    fn a_concurrent_duplicate_resolves_to_the_existing_row() {
        let mut m = Mocks::new();
        let other = certificate();
        let id = other.id;
        m.bindings.expect_get().returning(|c| {
            Ok(Some(CourseBinding::new(
                c.clone(),
                TemplateId::parse("t").unwrap(),
            )))
        });
        m.certs.expect_find_live().returning(|_, _| Ok(None));
        m.certs
            .expect_create()
            .returning(move |_, _, _| Ok(Created::Existing(other.clone())));
        let answer = block_on(m.service().request_certificate(&request(), Actor::Lms)).unwrap();
        assert_eq!(answer, CreationAnswer::AlreadyRequested(id));
    }

    #[test]
    fn an_unlinked_course_is_not_ours() {
        let mut m = Mocks::new();
        m.bindings.expect_get().returning(|_| Ok(None));
        m.certs.expect_find_live().returning(|_, _| Ok(None));
        let answer = block_on(m.service().request_certificate(&request(), Actor::Lms)).unwrap();
        assert!(matches!(answer, CreationAnswer::NotOurs(_)));
    }

    /// Expects the save that marks `issuing` before the POK call, then the final save.
    fn expect_two_saves(
        m: &mut Mocks,
        final_check: impl Fn(&CertificateChange) -> bool + Send + 'static,
    ) {
        let mut seq = mockall::Sequence::new();
        m.certs
            .expect_save()
            .withf(|ch| ch.certificate.state() == StateKind::Issuing && ch.complete_job.is_none())
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(()));
        m.certs
            .expect_save()
            .withf(final_check)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(()));
    }

    #[test]
    fn an_issue_job_stores_the_intent_then_the_acceptance_and_schedules_a_poll() {
        let mut m = Mocks::new();
        let cert = certificate();
        let j = job(JobKind::Issue, &cert);
        m.certs
            .expect_get()
            .with(eq(cert.id))
            .returning(move |_| Ok(Some(cert.clone())));
        expect_two_saves(&mut m, |ch| {
            ch.certificate.state() == StateKind::Processing
                && ch.certificate.version == 1
                && ch.complete_job.is_some()
                && ch
                    .enqueue
                    .as_ref()
                    .is_some_and(|j| j.kind == JobKind::Refresh && j.run_at > t0())
        });
        m.pok
            .expect_issue()
            .times(1)
            .returning(|_| Ok(status("processing")));
        let out = block_on(m.service().process_job(&j)).unwrap();
        assert_eq!(out, JobOutcome::Advanced(StateKind::Processing));
    }

    #[test]
    fn an_outcome_unknown_failure_goes_to_needs_review_not_to_a_retry() {
        let mut m = Mocks::new();
        let cert = certificate();
        let j = job(JobKind::Issue, &cert);
        m.certs
            .expect_get()
            .returning(move |_| Ok(Some(cert.clone())));
        expect_two_saves(&mut m, |ch| {
            ch.certificate.state() == StateKind::NeedsReview && ch.enqueue.is_none()
        });
        m.pok
            .expect_issue()
            .times(1)
            .returning(|_| Err(GatewayError::outcome_unknown("timeout after sending")));
        let out = block_on(m.service().process_job(&j)).unwrap();
        assert_eq!(out, JobOutcome::Advanced(StateKind::NeedsReview));
    }

    #[test]
    fn a_safe_failure_is_retried_later_and_a_permanent_one_is_not() {
        for (error, retried) in [
            (
                GatewayError::retryable("503", Some(std::time::Duration::from_secs(90))),
                true,
            ),
            (GatewayError::permanent("400 bad template"), false),
        ] {
            let mut m = Mocks::new();
            let cert = certificate();
            let j = job(JobKind::Issue, &cert);
            m.certs
                .expect_get()
                .returning(move |_| Ok(Some(cert.clone())));
            expect_two_saves(&mut m, move |ch| {
                ch.certificate.state() == StateKind::Failed
                    && ch.enqueue.as_ref().is_some_and(|j| {
                        j.kind == JobKind::Issue && (j.run_at - t0()).num_seconds() >= 90
                    }) == retried
            });
            let e = error.clone();
            m.pok
                .expect_issue()
                .times(1)
                .returning(move |_| Err(e.clone()));
            let out = block_on(m.service().process_job(&j)).unwrap();
            assert_eq!(out, JobOutcome::Advanced(StateKind::Failed), "{error}");
        }
    }

    #[test]
    fn a_certificate_found_issuing_is_never_sent_again() {
        let mut m = Mocks::new();
        let cert = in_state(StateKind::Issuing);
        let j = job(JobKind::Issue, &cert);
        m.certs
            .expect_get()
            .returning(move |_| Ok(Some(cert.clone())));
        m.certs
            .expect_save()
            .withf(|ch| {
                ch.certificate.state() == StateKind::NeedsReview && ch.complete_job.is_some()
            })
            .times(1)
            .returning(|_| Ok(()));
        // No expectation on issue: calling POK would fail the test.
        let out = block_on(m.service().process_job(&j)).unwrap();
        assert_eq!(out, JobOutcome::Advanced(StateKind::NeedsReview));
    }

    #[test]
    fn a_lost_race_before_sending_releases_the_job_without_calling_pok() {
        let mut m = Mocks::new();
        let cert = certificate();
        let j = job(JobKind::Issue, &cert);
        m.certs
            .expect_get()
            .returning(move |_| Ok(Some(cert.clone())));
        m.certs
            .expect_save()
            .times(1)
            .returning(|_| Err(Error::Conflict("version moved".into())));
        m.jobs.expect_release().times(1).returning(|_| Ok(()));
        let out = block_on(m.service().process_job(&j)).unwrap();
        assert_eq!(out, JobOutcome::Released);
    }

    #[test]
    fn a_late_success_settles_a_certificate_another_worker_marked_for_review() {
        let mut m = Mocks::new();
        let cert = certificate();
        let j = job(JobKind::Issue, &cert);
        let mut reviewed = cert.clone();
        reviewed.begin_attempt(t0()).unwrap();
        reviewed.interrupted(t0()).unwrap();
        reviewed.version = 2;
        let mut seq = mockall::Sequence::new();
        m.certs
            .expect_get()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(Some(cert.clone())));
        m.certs
            .expect_save()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(()));
        m.certs
            .expect_save()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Err(Error::Conflict("moved".into())));
        m.certs
            .expect_get()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(Some(reviewed.clone())));
        m.certs
            .expect_save()
            .withf(|ch| ch.certificate.state() == StateKind::Emitted && ch.certificate.version == 2)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(()));
        m.pok
            .expect_issue()
            .times(1)
            .returning(|_| Ok(status("emitted")));
        let out = block_on(m.service().process_job(&j)).unwrap();
        assert_eq!(out, JobOutcome::Advanced(StateKind::Emitted));
    }

    #[test]
    fn a_poll_that_sees_emitted_finishes_without_a_new_job() {
        let mut m = Mocks::new();
        let cert = in_state(StateKind::Processing);
        let j = job(JobKind::Refresh, &cert);
        m.certs
            .expect_get()
            .returning(move |_| Ok(Some(cert.clone())));
        m.pok
            .expect_credential()
            .times(1)
            .returning(|_| Ok(status("emitted")));
        m.certs
            .expect_save()
            .withf(|ch| {
                ch.certificate.state() == StateKind::Emitted
                    && ch.enqueue.is_none()
                    && ch.events.len() == 1
            })
            .times(1)
            .returning(|_| Ok(()));
        let out = block_on(m.service().process_job(&j)).unwrap();
        assert_eq!(out, JobOutcome::Advanced(StateKind::Emitted));
    }

    #[test]
    fn a_poll_without_news_adds_no_history_and_polls_again_later() {
        let mut m = Mocks::new();
        let cert = in_state(StateKind::Processing);
        let mut j = job(JobKind::Refresh, &cert);
        j.attempts = 3;
        m.certs
            .expect_get()
            .returning(move |_| Ok(Some(cert.clone())));
        m.pok
            .expect_credential()
            .returning(|_| Ok(status("processing")));
        m.certs
            .expect_save()
            .withf(|ch| {
                ch.events.is_empty() && ch.enqueue.as_ref().is_some_and(|j| j.attempts == 4)
            })
            .times(1)
            .returning(|_| Ok(()));
        block_on(m.service().process_job(&j)).unwrap();
    }

    #[test]
    fn a_failed_poll_reschedules_the_job() {
        let mut m = Mocks::new();
        let cert = in_state(StateKind::Processing);
        let j = job(JobKind::Refresh, &cert);
        m.certs
            .expect_get()
            .returning(move |_| Ok(Some(cert.clone())));
        m.pok
            .expect_credential()
            .returning(|_| Err(GatewayError::retryable("503", None)));
        m.jobs
            .expect_reschedule()
            .withf(|_, at, why| *at > t0() && why == "503")
            .times(1)
            .returning(|_, _, _| Ok(()));
        block_on(m.service().process_job(&j)).unwrap();
    }

    #[test]
    fn jobs_for_settled_certificates_are_completed_without_work() {
        for state in [
            StateKind::Emitted,
            StateKind::Revoked,
            StateKind::Superseded,
            StateKind::NeedsReview,
        ] {
            let mut m = Mocks::new();
            let cert = in_state(state);
            let j = job(JobKind::Issue, &cert);
            m.certs
                .expect_get()
                .returning(move |_| Ok(Some(cert.clone())));
            m.jobs.expect_complete().times(1).returning(|_| Ok(()));
            assert_eq!(
                block_on(m.service().process_job(&j)).unwrap(),
                JobOutcome::Nothing,
                "{state}"
            );
        }
    }

    #[test]
    fn an_admin_refresh_of_a_processing_certificate_queues_no_second_poll() {
        let mut m = Mocks::new();
        let cert = in_state(StateKind::Processing);
        let id = cert.id;
        m.certs
            .expect_get()
            .returning(move |_| Ok(Some(cert.clone())));
        m.pok
            .expect_credential()
            .returning(|_| Ok(status("processing")));
        m.certs
            .expect_save()
            .withf(|ch| ch.enqueue.is_none())
            .times(1)
            .returning(|_| Ok(()));
        block_on(m.service().refresh(id, Actor::Admin("root".into()))).unwrap();
    }

    #[test]
    fn retry_queues_a_failed_certificate_again() {
        let mut m = Mocks::new();
        let mut cert = in_state(StateKind::Issuing);
        cert.attempt_failed(
            &GatewayError::permanent("400"),
            &crate::retry::RetryPolicy::default(),
            t0(),
        )
        .unwrap();
        let id = cert.id;
        m.certs
            .expect_get()
            .returning(move |_| Ok(Some(cert.clone())));
        m.certs
            .expect_save()
            .withf(|ch| {
                ch.certificate.state() == StateKind::Requested
                    && ch
                        .enqueue
                        .as_ref()
                        .is_some_and(|j| j.kind == JobKind::Issue)
            })
            .times(1)
            .returning(|_| Ok(()));
        let c = block_on(m.service().retry(id, Actor::Admin("root".into()))).unwrap();
        assert_eq!(c.state(), StateKind::Requested);
    }

    #[test]
    fn revoking_a_revoked_certificate_is_refused_and_nothing_is_saved() {
        let mut m = Mocks::new();
        let cert = in_state(StateKind::Revoked);
        let id = cert.id;
        m.certs
            .expect_get()
            .returning(move |_| Ok(Some(cert.clone())));
        let err =
            block_on(m.service().revoke(id, "again", Actor::Admin("root".into()))).unwrap_err();
        assert!(matches!(
            err,
            Error::IllegalTransition {
                from: StateKind::Revoked,
                ..
            }
        ));
    }

    #[test]
    fn reissue_supersedes_the_old_certificate_and_queues_a_corrected_one() {
        let mut m = Mocks::new();
        let cert = in_state(StateKind::Emitted);
        let id = cert.id;
        m.certs
            .expect_get()
            .returning(move |_| Ok(Some(cert.clone())));
        m.certs
            .expect_replace()
            .withf(move |old, new, ev, job| {
                old.certificate.state() == StateKind::Superseded
                    && old.certificate.lifecycle().superseded_by == Some(new.id)
                    && new.state() == StateKind::Requested
                    && new.request.receiver.first_name == "Augusta Ada"
                    && new.request.receiver.last_name == "King"
                    && ev.reason.contains(&id.to_string())
                    && job.certificate_id == new.id
            })
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        let corrections = Corrections {
            full_name: Some(PersonName::parse("King, Augusta Ada").unwrap()),
            email: None,
        };
        block_on(
            m.service()
                .reissue(id, &corrections, Actor::Admin("root".into())),
        )
        .unwrap();
    }

    #[test]
    fn linking_checks_the_mapping_against_the_template_at_pok() {
        let mut m = Mocks::new();
        m.pok.expect_template().returning(|id| {
            Ok(Template {
                id: id.clone(),
                name: "T".into(),
                custom_parameters: vec![CustomParameter {
                    id: "p1".into(),
                    label: "grade".into(),
                }],
            })
        });
        m.bindings.expect_get().returning(|_| Ok(None));
        m.bindings.expect_upsert().times(1).returning(|_| Ok(()));
        let svc = m.service();
        let mut b = CourseBinding::new(course(), TemplateId::parse("t").unwrap());
        let err = block_on(svc.link_course(b.clone())).unwrap_err();
        assert!(err.to_string().contains("grade"), "{err}");
        b.params = vec![ParamMapping::parse("grade=grade").unwrap()];
        let linked = block_on(svc.link_course(b)).unwrap();
        assert_eq!(linked.created_at, t0());
    }

    #[test]
    fn previews_fill_every_parameter_with_a_placeholder() {
        let mut m = Mocks::new();
        m.pok.expect_template().returning(|id| {
            Ok(Template {
                id: id.clone(),
                name: "T".into(),
                custom_parameters: vec![CustomParameter {
                    id: "p1".into(),
                    label: "grade".into(),
                }],
            })
        });
        m.pok
            .expect_preview()
            .withf(|r| r.custom_parameters.get("grade").map(String::as_str) == Some("[ grade ]"))
            .returning(|_| Ok("https://pok/preview.png".into()));
        let b = CourseBinding::new(course(), TemplateId::parse("t").unwrap());
        assert_eq!(
            block_on(m.service().preview_url(&b)).unwrap(),
            "https://pok/preview.png"
        );
    }

    #[test]
    fn the_image_of_an_unemitted_certificate_is_not_found_without_asking_pok() {
        let mut m = Mocks::new();
        let cert = in_state(StateKind::Processing);
        let id = cert.id;
        m.certs
            .expect_get()
            .returning(move |_| Ok(Some(cert.clone())));
        assert!(matches!(
            block_on(m.service().image_url(id)),
            Err(Error::NotFound(_))
        ));
    }
}
