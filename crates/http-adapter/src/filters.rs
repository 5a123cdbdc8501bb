//! The two filter endpoints the LMS steps call, and their request and answer bodies (see
//! `docs/http-contract.md`).
//!
//! A request is read in three steps, each with its own answer: the body within the size
//! limit (413), JSON syntax (400), then members and values, checked by the domain's value
//! parsers (422 naming the member). Only then is a use case called.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pok_domain::filters::CreationRequest;
use pok_domain::issuing::Signatory;
use pok_domain::lifecycle::Actor;
use pok_domain::service::CreationAnswer;
use pok_domain::values::{CourseKey, CourseMode, Grade, UserId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::metrics::FilterOutcome;
use crate::page_cache::PageKey;
use crate::pages::{self, View};
use crate::problem::{Error, Problem};
use crate::state::AppState;
use crate::translations::Language;

/// `POST` path of `CertificateCreationRequested`.
pub const CREATION_PATH: &str = "/v1/filters/certificate-creation-requested";
/// `POST` path of `CertificateRenderStarted`.
pub const RENDER_PATH: &str = "/v1/filters/certificate-render-started";

/// The metrics label of a filter path.
pub(crate) fn endpoint_name(path: &str) -> &'static str {
    match path {
        CREATION_PATH => "creation",
        RENDER_PATH => "render",
        _ => "other",
    }
}

/// The learner, as the LMS step describes them. Only `id` is required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LearnerBody {
    /// The LMS user id (a positive integer).
    #[schema(minimum = 1)]
    pub id: i64,
    /// `user.username`.
    #[serde(default)]
    pub username: Option<String>,
    /// `user.email`.
    #[serde(default)]
    pub email: Option<String>,
    /// `user.profile.name`.
    #[serde(default)]
    pub full_name: Option<String>,
    /// `user.first_name` (often empty).
    #[serde(default)]
    pub first_name: Option<String>,
    /// `user.last_name` (often empty).
    #[serde(default)]
    pub last_name: Option<String>,
    /// The learner's preferred language (`pref-lang` or `profile.language`).
    #[serde(default)]
    pub language: Option<String>,
}

/// A signatory of the course certificate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SignatoryBody {
    /// Name as printed.
    #[serde(default)]
    pub name: Option<String>,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Organisation.
    #[serde(default)]
    pub organization: Option<String>,
}

/// The course. Only `key` is required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CourseBody {
    /// `course-v1:Org+Course+Run` or `Org/Course/Run`.
    #[schema(
        pattern = r"^(course-v1:[A-Za-z0-9._~%-]+\+[A-Za-z0-9._~%-]+\+[A-Za-z0-9._~%-]+|[A-Za-z0-9._~%-]+/[A-Za-z0-9._~%-]+/[A-Za-z0-9._~%-]+)$",
        max_length = 255
    )]
    pub key: String,
    /// The course's display name.
    #[serde(default)]
    pub title: Option<String>,
    /// The certificate configuration's signatories.
    #[serde(default)]
    pub signatories: Option<Vec<SignatoryBody>>,
}

/// The grade: the LMS's grade object, or a bare fraction (other plugins send `0.9`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum GradeBody {
    /// A fraction from 0 to 1.
    Fraction(f64),
    /// The course-grade object.
    Detailed {
        /// A fraction from 0 to 1 (despite its name).
        #[serde(default)]
        #[schema(minimum = 0, maximum = 1)]
        percent: Option<f64>,
        /// Whether the learner passed.
        #[serde(default)]
        passed: Option<bool>,
    },
}

/// The platform sending the request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlatformBody {
    /// `PLATFORM_NAME`.
    #[serde(default)]
    pub name: Option<String>,
    /// `LANGUAGE_CODE`.
    #[serde(default)]
    pub language: Option<String>,
}

/// `CertificateCreationRequested`. Required: `user.id`, `course.key`, `mode`, `status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreationBody {
    /// The learner.
    pub user: LearnerBody,
    /// The course.
    pub course: CourseBody,
    /// The enrolment mode (`honor`, `verified`, ...): letters, digits, `-` and `_`.
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,100}$")]
    pub mode: String,
    /// The certificate status the LMS is about to create (`downloadable`, ...).
    pub status: String,
    /// The grade, if any.
    #[serde(default)]
    pub grade: Option<GradeBody>,
    /// `self` or `batch`.
    #[serde(default)]
    pub generation_mode: Option<String>,
    /// The request's `Accept-Language`.
    #[serde(default)]
    pub accept_language: Option<String>,
    /// The platform.
    #[serde(default)]
    pub platform: Option<PlatformBody>,
}

/// `CertificateRenderStarted`. Required: `course_key`, `user_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RenderBody {
    /// The course: `course-v1:Org+Course+Run` or `Org/Course/Run`.
    #[schema(
        pattern = r"^(course-v1:[A-Za-z0-9._~%-]+\+[A-Za-z0-9._~%-]+\+[A-Za-z0-9._~%-]+|[A-Za-z0-9._~%-]+/[A-Za-z0-9._~%-]+/[A-Za-z0-9._~%-]+)$",
        max_length = 255
    )]
    pub course_key: String,
    /// The certificate's owner (`accomplishment_user_id`), not the visitor.
    #[schema(minimum = 1)]
    pub user_id: i64,
    /// The LMS's own certificate verify id; accepted for the logs of the LMS, not used.
    #[serde(default)]
    pub verify_uuid: Option<String>,
    /// The page's language (`user_language`).
    #[serde(default)]
    pub language: Option<String>,
    /// The visitor's `Accept-Language`.
    #[serde(default)]
    pub accept_language: Option<String>,
    /// `platform_name`; accepted, not used.
    #[serde(default)]
    pub platform_name: Option<String>,
}

/// What became of a creation request that lets the LMS continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreationOutcome {
    /// Recorded and queued for issuing at POK.
    Enqueued,
    /// Recorded before; nothing new.
    AlreadyRequested,
    /// Not a POK certificate; the LMS proceeds as usual.
    NotOurs,
}

/// The answer to `CertificateCreationRequested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum CreationAnswerBody {
    /// The LMS goes on.
    Continue {
        /// What we did.
        outcome: CreationOutcome,
        /// Our certificate's id (enqueued, already requested).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        certificate_id: Option<String>,
        /// Why (not ours).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The LMS must not create its certificate.
    Prevent {
        /// Why, for the LMS's logs.
        message: String,
    },
}

/// The answer to `CertificateRenderStarted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RenderAnswerBody {
    /// Not a POK certificate: the LMS renders its own page.
    Continue,
    /// The LMS returns this page as the response.
    Render {
        /// The HTTP status of the page (200, 410, 4xx, 5xx).
        status: u16,
        /// Its content type.
        content_type: String,
        /// The HTML.
        body: String,
        /// Headers to add to the response (`Retry-After` on a processing page).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    /// The LMS redirects to this service's public page of the certificate.
    Redirect {
        /// Always under this service's public base URL.
        url: String,
    },
}

/// Reads a JSON body: 413 over the limit, 400 for bad syntax, 422 naming the member that is
/// missing or of the wrong type.
pub(crate) fn parse_json<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, Error> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge { limit }
        } else {
            Error::UnreadableBody(rejection.body_text())
        }
    })?;
    // Syntax first, over the whole body (trailing data included), so that 400 means "not
    // JSON" and 422 "JSON of the wrong shape", whatever the order of the mistakes.
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
        .map_err(|e| Error::MalformedJson(e.to_string()))?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        member_error(&path, &e.into_inner())
    })?;
    Ok(value)
}

/// A type or presence error at `path` (`.` for the top level), naming the member.
fn member_error(path: &str, error: &serde_json::Error) -> Error {
    let text = error.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text);
    let parent = if path == "." { "" } else { path };
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        let field = if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}.{name}")
        };
        return Error::InvalidField {
            field,
            reason: "is required".to_owned(),
        };
    }
    let reason = if message.contains("untagged enum GradeBody") {
        "expected a fraction from 0 to 1, an object with `percent` and `passed`, or null".to_owned()
    } else {
        message.to_owned()
    };
    Error::InvalidField {
        field: if parent.is_empty() {
            "(body)".to_owned()
        } else {
            parent.to_owned()
        },
        reason,
    }
}

/// Re-labels a value parser's error with the request member it came from.
fn at(member: &'static str) -> impl Fn(pok_domain::Error) -> Error {
    move |e| match e {
        pok_domain::Error::Invalid { reason, .. } => Error::InvalidField {
            field: member.to_owned(),
            reason,
        },
        other => Error::Domain(other),
    }
}

/// Empty strings count as absent: the LMS sends `""` for unset profile fields.
fn present(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty())
}

impl CreationBody {
    /// Checks the structural members with the domain's parsers and builds the domain's
    /// request. Learner data stays raw: its absence is the domain's decision.
    pub fn into_request(self) -> Result<CreationRequest, Error> {
        let user_id = UserId::new(self.user.id).map_err(at("user.id"))?;
        let course_key = CourseKey::parse(&self.course.key).map_err(at("course.key"))?;
        let mode = CourseMode::parse(&self.mode).map_err(at("mode"))?;
        let (grade, passed) = match self.grade {
            None => (None, None),
            Some(GradeBody::Fraction(f)) => (Some(Grade::new(f).map_err(at("grade"))?), None),
            Some(GradeBody::Detailed { percent, passed }) => (
                percent
                    .map(Grade::new)
                    .transpose()
                    .map_err(at("grade.percent"))?,
                passed,
            ),
        };
        let platform = self.platform.unwrap_or_default();
        let signatories = self
            .course
            .signatories
            .unwrap_or_default()
            .into_iter()
            .map(|s| Signatory {
                name: s.name.unwrap_or_default(),
                title: s.title.unwrap_or_default(),
                organization: s.organization.unwrap_or_default(),
            })
            .filter(|s| !s.name.trim().is_empty())
            .collect();
        Ok(CreationRequest {
            user_id: Some(user_id),
            username: self.user.username.unwrap_or_default(),
            email: present(self.user.email),
            full_name: present(self.user.full_name),
            first_name: present(self.user.first_name),
            last_name: present(self.user.last_name),
            language: present(self.user.language),
            accept_language: present(self.accept_language),
            course_key: Some(course_key),
            course_title: present(self.course.title),
            mode: Some(mode),
            status: self.status.trim().to_owned(),
            grade,
            passed,
            generation_mode: present(self.generation_mode),
            signatories,
            platform_name: present(platform.name),
            platform_language: present(platform.language),
        })
    }
}

/// Attaches the outcome word for the metrics.
fn with_outcome(answer: impl IntoResponse, outcome: &'static str) -> Response {
    let mut response = answer.into_response();
    response.extensions_mut().insert(FilterOutcome(outcome));
    response
}

/// `CertificateCreationRequested`: records and queues the certificate in one transaction and
/// answers; never calls POK.
#[utoipa::path(
    post,
    path = "/v1/filters/certificate-creation-requested",
    tag = "filters",
    request_body = CreationBody,
    responses(
        (status = 200, description = "What the LMS should do", body = CreationAnswerBody),
        (status = 400, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A member is missing or invalid; `field` names it", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable; the step applies its `on_error`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("shared_secret" = []))
)]
pub(crate) async fn creation(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let body: CreationBody = parse_json(body, state.body_limit())?;
    let request = body.into_request()?;
    let course = request
        .course_key
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let answer = state
        .service()
        .request_certificate(&request, Actor::Lms)
        .await?;
    let (outcome, body) = match answer {
        CreationAnswer::Enqueued(id) => (
            "enqueued",
            CreationAnswerBody::Continue {
                outcome: CreationOutcome::Enqueued,
                certificate_id: Some(id.to_string()),
                message: None,
            },
        ),
        CreationAnswer::AlreadyRequested(id) => (
            "already_requested",
            CreationAnswerBody::Continue {
                outcome: CreationOutcome::AlreadyRequested,
                certificate_id: Some(id.to_string()),
                message: None,
            },
        ),
        CreationAnswer::NotOurs(why) => (
            "not_ours",
            CreationAnswerBody::Continue {
                outcome: CreationOutcome::NotOurs,
                certificate_id: None,
                message: Some(why),
            },
        ),
        CreationAnswer::Prevent(why) => ("prevent", CreationAnswerBody::Prevent { message: why }),
    };
    tracing::info!(course = %course, outcome, "creation request answered");
    Ok(with_outcome(Json(body), outcome))
}

/// `CertificateRenderStarted`: decides from stored data which page the LMS shows; only a
/// preview calls POK.
#[utoipa::path(
    post,
    path = "/v1/filters/certificate-render-started",
    tag = "filters",
    request_body = RenderBody,
    responses(
        (status = 200, description = "What the LMS should show", body = RenderAnswerBody),
        (status = 400, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A member is missing or invalid; `field` names it", body = Problem, content_type = "application/problem+json"),
    ),
    security(("shared_secret" = []))
)]
pub(crate) async fn render(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let body: RenderBody = parse_json(body, state.body_limit())?;
    let user = UserId::new(body.user_id).map_err(at("user_id"))?;
    let course = CourseKey::parse(&body.course_key).map_err(at("course_key"))?;
    let language = Language::choose(body.language.as_deref(), body.accept_language.as_deref());
    let key = PageKey::Learner(user, course.clone(), language);
    let now = state.service().now();
    if let Some(answer) = state.pages().get(&key, now) {
        tracing::info!(course = %course, outcome = "emitted", "render request answered");
        return Ok(with_outcome(json_body(answer), "emitted"));
    }
    let view = match state.service().render_for_learner(user, &course).await {
        Ok(decision) => pages::view(&state, decision, language).await,
        Err(e) => View::Page(pages::error_page(&state, &Error::from(e), language)),
    };
    let keep = matches!(&view, View::Page(page) if state.pages().wants(page));
    let (outcome, answer) = match view {
        View::NotOurs => ("not_ours", RenderAnswerBody::Continue),
        View::Redirect(id) => (
            "moved",
            RenderAnswerBody::Redirect {
                url: state.certificate_url(id),
            },
        ),
        View::Page(page) => {
            let mut headers = BTreeMap::new();
            if let Some(after) = page.retry_after {
                headers.insert("Retry-After".to_owned(), after.as_secs().to_string());
            }
            (
                page.kind,
                RenderAnswerBody::Render {
                    status: page.status.as_u16(),
                    content_type: pages::HTML.to_owned(),
                    body: page.html,
                    headers,
                },
            )
        }
    };
    tracing::info!(course = %course, outcome, "render request answered");
    // Serialising our own answer cannot fail; were it to, the answer is sent uncached.
    if let (true, Ok(json)) = (keep, serde_json::to_vec(&answer)) {
        let json = Bytes::from(json);
        state.pages().keep(key, json.clone(), now);
        return Ok(with_outcome(json_body(json), outcome));
    }
    Ok(with_outcome(Json(answer), outcome))
}

/// An answer already serialised as JSON.
fn json_body(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: DeserializeOwned>(json: &str) -> Result<T, Error> {
        parse_json(Ok(Bytes::from(json.to_owned())), 1000)
    }

    #[test]
    fn members_are_named_by_their_path() {
        let e = parse::<CreationBody>(r#"{"user": {"id": "x"}, "course": {"key": "a/b/c"}, "mode": "honor", "status": "downloadable"}"#).unwrap_err();
        assert_eq!(e.field(), Some("user.id"), "{e}");
        let e = parse::<CreationBody>(
            r#"{"user": {"id": 1}, "course": {}, "mode": "honor", "status": "downloadable"}"#,
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("course.key"), "{e}");
        let e = parse::<CreationBody>(
            r#"{"user": {"id": 1}, "course": {"key": "a/b/c"}, "status": "x"}"#,
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("mode"), "{e}");
        let e = parse::<CreationBody>(r#"{"user": {"id": 1}, "course": {"key": "a/b/c"}, "mode": "honor", "status": "x", "grade": "A"}"#).unwrap_err();
        assert_eq!(e.field(), Some("grade"), "{e}");
        assert_eq!(
            parse::<CreationBody>("{").unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse::<CreationBody>("{} x").unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn grades_come_as_numbers_objects_or_nothing() {
        let base = r#"{"user": {"id": 1}, "course": {"key": "a/b/c"}, "mode": "honor", "status": "downloadable""#;
        for (grade, expected) in [
            (r#", "grade": 0.5"#, Some(0.5)),
            (
                r#", "grade": {"percent": 0.75, "passed": true, "letter_grade": "B"}"#,
                Some(0.75),
            ),
            (r#", "grade": null"#, None),
            ("", None),
        ] {
            let body: CreationBody = parse(&format!("{base}{grade}}}")).unwrap();
            let req = body.into_request().unwrap();
            assert_eq!(req.grade.map(Grade::fraction), expected, "{grade}");
        }
        let body: CreationBody =
            parse(&format!(r#"{base}, "grade": {{"percent": 93}}}}"#)).unwrap();
        assert_eq!(
            body.into_request().unwrap_err().field(),
            Some("grade.percent")
        );
    }
}
