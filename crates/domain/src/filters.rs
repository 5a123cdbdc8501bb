//! The decision rules behind the two Open edX filters, decided from stored data only: the LMS
//! waits for these answers, so none of them calls POK.
//!
//! - [`decide_creation`]: `CertificateCreationRequested` — enqueue, already requested, not ours
//!   (the LMS proceeds as usual) or prevent with a reason.
//! - [`decide_render`]: `CertificateRenderStarted` — emitted, processing, preview, revoked,
//!   error or not ours.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::binding::CourseBinding;
use crate::issuing::{
    IssueRequest, ParamContext, Receiver, Signatory, custom_parameters, negotiate_language,
    split_name, tags,
};
use crate::lifecycle::{Certificate, CertificateId, NewCertificate, StateKind};
use crate::retry::{PollPolicy, RetryPolicy};
use crate::values::{
    CourseKey, CourseMode, DateFormat, Email, Grade, LanguageTag, ParamKeying, PersonName,
    TemplateId, UserId,
};

/// What to do when the LMS sends a learner without a usable name or e-mail (service and staff
/// accounts have no profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncompleteLearner {
    /// Stop the LMS from creating the certificate, with a reason in its logs.
    #[default]
    Prevent,
    /// Let the LMS create its own certificate as if POK were not installed.
    NotOurs,
}

/// Settings the decisions and the issuing rules need.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuingSettings {
    /// `POK_TEMPLATE_ID`: the template for courses without a binding; `None` means such
    /// courses are not ours.
    pub default_template: Option<TemplateId>,
    /// The platform's name, for custom parameters.
    pub platform_name: String,
    /// The last-resort credential language.
    pub default_language: LanguageTag,
    /// Whether custom parameters are keyed by label or id.
    pub param_keying: ParamKeying,
    /// How dates are printed on credentials.
    pub date_format: DateFormat,
    /// What to do with learners without a name or e-mail.
    pub incomplete_learner: IncompleteLearner,
    /// Issuing retries.
    pub retry: RetryPolicy,
    /// Polls of processing credentials.
    pub poll: PollPolicy,
}

impl Default for IssuingSettings {
    fn default() -> Self {
        Self {
            default_template: None,
            platform_name: "Open edX".to_owned(),
            default_language: LanguageTag::parse("en").unwrap_or_else(|_| unreachable!()),
            param_keying: ParamKeying::Label,
            date_format: DateFormat::DayMonthYear,
            incomplete_learner: IncompleteLearner::Prevent,
            retry: RetryPolicy::default(),
            poll: PollPolicy::default(),
        }
    }
}

/// `CertificateCreationRequested`, as the LMS describes it (after the HTTP adapter checked the
/// structural fields). Learner data stays raw here because its absence is a decision, not a
/// malformed request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreationRequest {
    /// The learner.
    pub user_id: Option<UserId>,
    /// The learner's username.
    pub username: String,
    /// `user.email`.
    pub email: Option<String>,
    /// `user.profile.name`.
    pub full_name: Option<String>,
    /// `user.first_name`, often empty.
    pub first_name: Option<String>,
    /// `user.last_name`, often empty.
    pub last_name: Option<String>,
    /// The learner's preferred language.
    pub language: Option<String>,
    /// The request's `Accept-Language`.
    pub accept_language: Option<String>,
    /// The course.
    pub course_key: Option<CourseKey>,
    /// The course's display name.
    pub course_title: Option<String>,
    /// The enrolment mode.
    pub mode: Option<CourseMode>,
    /// The certificate status the LMS is about to create (`downloadable`, ...).
    pub status: String,
    /// The grade.
    pub grade: Option<Grade>,
    /// Whether the learner passed, when the LMS says.
    pub passed: Option<bool>,
    /// `self` or `batch`.
    pub generation_mode: Option<String>,
    /// The course's signatories.
    pub signatories: Vec<Signatory>,
    /// The LMS's platform name, when it sends one.
    pub platform_name: Option<String>,
    /// The LMS's default language, when it sends one.
    pub platform_language: Option<String>,
}

/// The answer to a creation request.
#[derive(Debug, Clone, PartialEq)]
pub enum CreationDecision {
    /// Record this certificate and queue it; the LMS continues.
    Enqueue(Box<NewCertificate>),
    /// The learner already has a certificate for the course; the LMS continues, nothing new.
    AlreadyRequested(CertificateId),
    /// The course or mode does not use POK; the LMS continues as usual.
    NotOurs(String),
    /// The LMS must not create the certificate; the reason goes to its logs.
    Prevent(String),
}

/// The certificate status for which the LMS asks us to issue.
pub const DOWNLOADABLE: &str = "downloadable";

/// The binding that applies to a course: its own, or the default template, or none.
pub fn effective_binding(
    course: &CourseKey,
    binding: Option<&CourseBinding>,
    settings: &IssuingSettings,
) -> Option<CourseBinding> {
    match binding {
        Some(b) => Some(b.clone()),
        None => settings
            .default_template
            .clone()
            .map(|t| CourseBinding::new(course.clone(), t)),
    }
}

/// Decides a creation request. `binding` is the course's stored binding, `existing` the
/// learner's live certificate for the course.
pub fn decide_creation(
    req: &CreationRequest,
    binding: Option<&CourseBinding>,
    settings: &IssuingSettings,
    existing: Option<&Certificate>,
    now: DateTime<Utc>,
) -> CreationDecision {
    let (Some(user_id), Some(course_key), Some(mode)) = (req.user_id, &req.course_key, &req.mode)
    else {
        return CreationDecision::Prevent("user id, course key and mode are required".into());
    };
    let Some(binding) = effective_binding(course_key, binding, settings) else {
        return CreationDecision::NotOurs("the course is not linked to a POK template".into());
    };
    if !binding.enabled {
        return CreationDecision::NotOurs("POK certificates are disabled for this course".into());
    }
    if req.status != DOWNLOADABLE {
        return CreationDecision::NotOurs(format!(
            "status {:?} is not a certificate to issue",
            req.status
        ));
    }
    if !binding.allows_mode(mode) {
        return CreationDecision::NotOurs(format!("mode {mode} does not get a POK credential"));
    }
    if let Some(c) = existing {
        return match c.state() {
            StateKind::Revoked => CreationDecision::Prevent(
                "this learner's certificate for the course was revoked; an administrator can re-issue it"
                    .into(),
            ),
            _ => CreationDecision::AlreadyRequested(c.id),
        };
    }
    let incomplete = |why: String| match settings.incomplete_learner {
        IncompleteLearner::Prevent => CreationDecision::Prevent(why),
        IncompleteLearner::NotOurs => CreationDecision::NotOurs(why),
    };
    let email = match req.email.as_deref().map(Email::parse) {
        Some(Ok(e)) => e,
        Some(Err(e)) => return incomplete(format!("the learner's e-mail is unusable: {e}")),
        None => return incomplete("the learner has no e-mail".into()),
    };
    let joined = || {
        let parts = [req.first_name.as_deref(), req.last_name.as_deref()];
        parts
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let Ok(full) = req
        .full_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map_or_else(|| PersonName::parse(&joined()), PersonName::parse)
    else {
        return incomplete("the learner has no name in their profile".into());
    };
    let (first_name, last_name) =
        split_name(&full, req.first_name.as_deref(), req.last_name.as_deref());
    let language = negotiate_language(
        req.language.as_deref(),
        req.accept_language.as_deref(),
        req.platform_language.as_deref(),
        &settings.default_language,
    );
    let course_title = req
        .course_title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(course_key.as_str());
    let platform_name = req
        .platform_name
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or(&settings.platform_name);
    let ctx = ParamContext {
        grade: req.grade,
        platform_name,
        course_title,
        course_key,
        username: &req.username,
        first_name: &first_name,
        last_name: &last_name,
        mode,
        emission_date: now,
        date_format: settings.date_format,
        signatories: &req.signatories,
    };
    let params = match custom_parameters(&binding, &ctx) {
        Ok(p) => p,
        Err(e) => return CreationDecision::Prevent(e.to_string()),
    };
    let request = IssueRequest {
        template_id: binding.template_id.clone(),
        page_id: binding.page_id.clone(),
        emission_type: binding.emission_type,
        date_format: settings.date_format,
        emission_date: now,
        title: binding
            .title_override
            .clone()
            .unwrap_or_else(|| course_title.to_owned()),
        emitter: binding
            .emitter_override
            .clone()
            .unwrap_or_else(|| course_key.org().to_owned()),
        tags: tags(user_id, course_key, mode),
        custom_parameters: params,
        receiver: Receiver {
            email,
            first_name,
            last_name,
            language,
            identification: user_id.to_string(),
        },
    };
    CreationDecision::Enqueue(Box::new(NewCertificate {
        user_id,
        username: req.username.clone(),
        course_key: course_key.clone(),
        mode: mode.clone(),
        grade: req.grade,
        request,
    }))
}

/// Why a certificate page cannot show a certificate, in words safe for a learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicReason {
    /// Issuing is taking longer than it should; our team is on it.
    Delayed,
    /// POK could not issue the certificate.
    CouldNotIssue,
    /// There is no such certificate.
    NotFound,
}

impl PublicReason {
    /// The HTTP status: our faults are 5xx, the visitor's 4xx.
    pub fn status(self) -> u16 {
        match self {
            Self::Delayed => 503,
            Self::CouldNotIssue => 500,
            Self::NotFound => 404,
        }
    }
}

/// What a certificate page shows.
#[derive(Debug, Clone, PartialEq)]
pub enum RenderDecision {
    /// The course does not use POK and the learner has no POK certificate: the LMS renders.
    NotOurs,
    /// The emitted certificate.
    Emitted(Box<Certificate>),
    /// Not ready yet; the page refreshes itself after `retry_after`.
    Processing {
        /// The certificate.
        certificate_id: CertificateId,
        /// When to look again.
        retry_after: Duration,
    },
    /// No certificate yet, but the course has a template: show what it will look like.
    Preview(Box<CourseBinding>),
    /// Revoked.
    Revoked(Box<Certificate>),
    /// This certificate was re-issued; show the new one.
    Moved(CertificateId),
    /// Nothing to show, for a reason safe to tell the visitor.
    Error(PublicReason),
}

/// How long a processing page waits before it refreshes, at least and at most.
const REFRESH_MIN: Duration = Duration::from_secs(5);
const REFRESH_MAX: Duration = Duration::from_secs(60);

/// Decides what a certificate page shows, from the stored certificate (if any) and the course's
/// effective binding (if any).
pub fn decide_render(
    certificate: Option<&Certificate>,
    binding: Option<&CourseBinding>,
    now: DateTime<Utc>,
) -> RenderDecision {
    let Some(c) = certificate else {
        return match binding {
            Some(b) if b.enabled => RenderDecision::Preview(Box::new(b.clone())),
            _ => RenderDecision::NotOurs,
        };
    };
    let processing = |after: Duration| RenderDecision::Processing {
        certificate_id: c.id,
        retry_after: after.clamp(REFRESH_MIN, REFRESH_MAX),
    };
    match c.state() {
        StateKind::Emitted => RenderDecision::Emitted(Box::new(c.clone())),
        StateKind::Requested | StateKind::Issuing | StateKind::Processing => {
            processing(REFRESH_MIN * 2)
        }
        StateKind::Failed => match c.lifecycle().next_attempt_at {
            Some(at) => processing((at - now).to_std().unwrap_or(REFRESH_MIN)),
            None => RenderDecision::Error(PublicReason::Delayed),
        },
        StateKind::NeedsReview => RenderDecision::Error(PublicReason::Delayed),
        StateKind::Rejected => RenderDecision::Error(PublicReason::CouldNotIssue),
        StateKind::Revoked => RenderDecision::Revoked(Box::new(c.clone())),
        StateKind::Superseded => match c.lifecycle().superseded_by {
            Some(next) => RenderDecision::Moved(next),
            None => RenderDecision::Error(PublicReason::NotFound),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::{ParamMapping, ParamSource};
    use crate::lifecycle::fixtures::{in_state, t0};

    fn course() -> CourseKey {
        CourseKey::parse("course-v1:OrgX+CS101+2026").unwrap()
    }

    fn req() -> CreationRequest {
        CreationRequest {
            user_id: Some(UserId::new(42).unwrap()),
            username: "ada".into(),
            email: Some("ada@example.org".into()),
            full_name: Some("Ada King Lovelace".into()),
            language: Some("es_AR".into()),
            course_key: Some(course()),
            course_title: Some("Computing".into()),
            mode: Some(CourseMode::parse("verified").unwrap()),
            status: DOWNLOADABLE.into(),
            grade: Some(Grade::new(0.93).unwrap()),
            ..CreationRequest::default()
        }
    }

    fn binding() -> CourseBinding {
        let mut b = CourseBinding::new(course(), TemplateId::parse("tpl-1").unwrap());
        b.params = vec![ParamMapping {
            name: "grade".into(),
            source: ParamSource::Grade,
        }];
        b
    }

    fn decide(
        req: &CreationRequest,
        b: Option<&CourseBinding>,
        existing: Option<&Certificate>,
    ) -> CreationDecision {
        decide_creation(req, b, &IssuingSettings::default(), existing, t0())
    }

    #[test]
    fn a_linked_course_enqueues_a_complete_credential() {
        let CreationDecision::Enqueue(new) = decide(&req(), Some(&binding()), None) else {
            panic!("expected enqueue");
        };
        let r = &new.request;
        assert_eq!(r.template_id.as_str(), "tpl-1");
        assert_eq!(
            (
                r.receiver.first_name.as_str(),
                r.receiver.last_name.as_str()
            ),
            ("Ada", "King Lovelace")
        );
        assert_eq!(r.receiver.language.as_str(), "es-AR");
        assert_eq!(r.receiver.identification, "42");
        assert_eq!(r.title, "Computing");
        assert_eq!(r.emitter, "OrgX");
        assert_eq!(r.emission_date, t0());
        assert_eq!(
            r.custom_parameters.get("grade").map(String::as_str),
            Some("93")
        );
        assert_eq!(
            r.tags,
            [
                "StudentId:42",
                "CourseId:course-v1:OrgX+CS101+2026",
                "Mode:verified"
            ]
        );
    }

    #[test]
    fn overrides_from_the_binding_replace_title_and_emitter() {
        let mut b = binding();
        b.title_override = Some("Certified Computing".into());
        b.emitter_override = Some("Org X University".into());
        let CreationDecision::Enqueue(new) = decide(&req(), Some(&b), None) else {
            panic!()
        };
        assert_eq!(new.request.title, "Certified Computing");
        assert_eq!(new.request.emitter, "Org X University");
    }

    #[test]
    fn courses_without_binding_use_the_default_template_or_are_not_ours() {
        assert!(matches!(
            decide(&req(), None, None),
            CreationDecision::NotOurs(_)
        ));
        let settings = IssuingSettings {
            default_template: Some(TemplateId::parse("default-tpl").unwrap()),
            ..IssuingSettings::default()
        };
        let CreationDecision::Enqueue(new) = decide_creation(&req(), None, &settings, None, t0())
        else {
            panic!("expected enqueue with the default template");
        };
        assert_eq!(new.request.template_id.as_str(), "default-tpl");
    }

    #[test]
    fn disabled_courses_other_statuses_and_other_modes_are_not_ours() {
        let mut disabled = binding();
        disabled.enabled = false;
        assert!(matches!(
            decide(&req(), Some(&disabled), None),
            CreationDecision::NotOurs(_)
        ));

        let notpassing = CreationRequest {
            status: "notpassing".into(),
            ..req()
        };
        assert!(matches!(
            decide(&notpassing, Some(&binding()), None),
            CreationDecision::NotOurs(_)
        ));

        let mut verified_only = binding();
        verified_only.allowed_modes = vec![CourseMode::parse("verified").unwrap()];
        let honor = CreationRequest {
            mode: Some(CourseMode::parse("honor").unwrap()),
            ..req()
        };
        assert!(matches!(
            decide(&honor, Some(&verified_only), None),
            CreationDecision::NotOurs(_)
        ));
        assert!(matches!(
            decide(&req(), Some(&verified_only), None),
            CreationDecision::Enqueue(_)
        ));
    }

    #[test]
    fn an_existing_certificate_is_not_requested_twice_and_a_revoked_one_prevents() {
        for state in [
            StateKind::Requested,
            StateKind::Issuing,
            StateKind::Processing,
            StateKind::Emitted,
            StateKind::Failed,
            StateKind::NeedsReview,
            StateKind::Rejected,
        ] {
            let c = in_state(state);
            assert_eq!(
                decide(&req(), Some(&binding()), Some(&c)),
                CreationDecision::AlreadyRequested(c.id),
                "{state}"
            );
        }
        let revoked = in_state(StateKind::Revoked);
        assert!(
            matches!(decide(&req(), Some(&binding()), Some(&revoked)), CreationDecision::Prevent(m) if m.contains("revoked"))
        );
    }

    #[test]
    fn learners_without_name_or_email_follow_the_setting() {
        let no_name = CreationRequest {
            full_name: None,
            ..req()
        };
        assert!(
            matches!(decide(&no_name, Some(&binding()), None), CreationDecision::Prevent(m) if m.contains("name"))
        );
        let bad_email = CreationRequest {
            email: Some("not-an-email".into()),
            ..req()
        };
        assert!(
            matches!(decide(&bad_email, Some(&binding()), None), CreationDecision::Prevent(m) if m.contains("e-mail"))
        );
        let settings = IssuingSettings {
            incomplete_learner: IncompleteLearner::NotOurs,
            ..IssuingSettings::default()
        };
        assert!(matches!(
            decide_creation(&no_name, Some(&binding()), &settings, None, t0()),
            CreationDecision::NotOurs(_)
        ));
        // Django's first and last name are enough when the profile name is empty.
        let django = CreationRequest {
            full_name: Some(" ".into()),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            ..req()
        };
        let CreationDecision::Enqueue(new) = decide(&django, Some(&binding()), None) else {
            panic!()
        };
        assert_eq!(new.request.receiver.last_name, "Lovelace");
    }

    #[test]
    fn a_parameter_without_value_prevents_with_its_name() {
        let no_grade = CreationRequest {
            grade: None,
            ..req()
        };
        assert!(
            matches!(decide(&no_grade, Some(&binding()), None), CreationDecision::Prevent(m) if m.contains("grade"))
        );
    }

    #[test]
    fn missing_structural_fields_prevent() {
        let r = CreationRequest {
            user_id: None,
            ..req()
        };
        assert!(matches!(
            decide(&r, Some(&binding()), None),
            CreationDecision::Prevent(_)
        ));
    }

    #[test]
    fn render_decisions_follow_the_certificate_state() {
        let b = binding();
        for (state, expected) in [
            (StateKind::Requested, "processing"),
            (StateKind::Issuing, "processing"),
            (StateKind::Processing, "processing"),
            (StateKind::Failed, "processing"),
            (StateKind::Emitted, "emitted"),
            (StateKind::NeedsReview, "delayed"),
            (StateKind::Rejected, "could-not-issue"),
            (StateKind::Revoked, "revoked"),
            (StateKind::Superseded, "moved"),
        ] {
            let c = in_state(state);
            let got = match decide_render(Some(&c), Some(&b), t0()) {
                RenderDecision::Processing { retry_after, .. } => {
                    assert!((REFRESH_MIN..=REFRESH_MAX).contains(&retry_after));
                    "processing"
                }
                RenderDecision::Emitted(_) => "emitted",
                RenderDecision::Error(PublicReason::Delayed) => "delayed",
                RenderDecision::Error(PublicReason::CouldNotIssue) => "could-not-issue",
                RenderDecision::Revoked(_) => "revoked",
                RenderDecision::Moved(_) => "moved",
                other => panic!("{state}: {other:?}"),
            };
            assert_eq!(got, expected, "{state}");
        }
    }

    #[test]
    fn a_failed_certificate_that_gave_up_shows_a_delay_error_with_a_5xx() {
        let mut c = in_state(StateKind::Issuing);
        c.attempt_failed(
            &crate::GatewayError::permanent("400"),
            &RetryPolicy::default(),
            t0(),
        )
        .unwrap();
        assert_eq!(
            decide_render(Some(&c), None, t0()),
            RenderDecision::Error(PublicReason::Delayed)
        );
        assert_eq!(PublicReason::Delayed.status(), 503);
        assert_eq!(PublicReason::NotFound.status(), 404);
    }

    #[test]
    fn without_a_certificate_a_linked_course_previews_and_others_are_not_ours() {
        assert!(matches!(
            decide_render(None, Some(&binding()), t0()),
            RenderDecision::Preview(_)
        ));
        let mut disabled = binding();
        disabled.enabled = false;
        assert_eq!(
            decide_render(None, Some(&disabled), t0()),
            RenderDecision::NotOurs
        );
        assert_eq!(decide_render(None, None, t0()), RenderDecision::NotOurs);
    }
}
