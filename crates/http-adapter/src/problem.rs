//! The crate's one error type and its one translation into HTTP.
//!
//! Every failure a handler meets becomes an [`Error`]; [`Error::status`] is the only place
//! where a kind of failure is given a status code (the domain's variants included), and the
//! `IntoResponse` below the only place that turns it into an `application/problem+json`
//! (RFC 9457) answer. Certificate pages use the same status for their HTML error page.
//!
//! Our own faults (5xx) are logged with their whole chain under a reference id and answered
//! with a generic text and that id; the visitor's (4xx) are answered with what is wrong and
//! the field, and logged without the detail (which may echo personal data from the body).

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The media type of problem answers.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Everything that can go wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `Authorization: Bearer <shared secret>`, or a wrong one.
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// The request body is over the configured limit.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request body could not be read.
    #[error("the request body could not be read: {0}")]
    UnreadableBody(String),
    /// The body is not JSON at all (syntax error, truncated, trailing data).
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON, but a member is missing, of the wrong type or not a valid value.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// Where the member is in the request body, dotted (`user.id`, `course.key`).
        field: String,
        /// What is wrong, for the sender.
        reason: String,
    },
    /// No route matches the request.
    #[error("no such resource")]
    NoRoute,
    /// A page could not be rendered (a bug in a template).
    #[error("template failure: {0}")]
    Template(#[from] minijinja::Error),
    /// An answer from POK that we cannot use (e.g. an image URL that is not http(s)).
    #[error("unusable answer from POK: {0}")]
    UnusableAnswer(String),
    /// The use cases failed; see [`Error::status`] for each variant.
    #[error(transparent)]
    Domain(#[from] pok_domain::Error),
}

impl Error {
    /// The status code of each kind of failure: the one mapping of the crate.
    pub fn status(&self) -> StatusCode {
        use pok_domain::Error as D;
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnreadableBody(_) | Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::InvalidField { .. } | Self::Domain(D::Invalid { .. }) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::NoRoute | Self::Domain(D::NotFound(_)) => StatusCode::NOT_FOUND,
            Self::Domain(D::Conflict(_) | D::IllegalTransition { .. }) => StatusCode::CONFLICT,
            Self::Template(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Domain(D::Storage(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::UnusableAnswer(_) | Self::Domain(D::Gateway(_)) => StatusCode::BAD_GATEWAY,
        }
    }

    /// The request member that is wrong, when one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidField { field, .. } => Some(field),
            Self::Domain(pok_domain::Error::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }

    /// Logs the failure under a fresh reference id and returns the id, which the answer
    /// shows so that a report can be matched with the log line.
    ///
    /// Our faults are logged at `error` with the whole chain (the domain's texts carry no
    /// personal data by contract); the visitor's at `info` with the status and field only.
    pub fn log(&self) -> Reference {
        let reference = Reference::new();
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(
                %reference,
                status = status.as_u16(),
                error = %chain(self),
                "request failed on our side"
            );
        } else {
            tracing::info!(
                %reference,
                status = status.as_u16(),
                field = self.field(),
                "request refused"
            );
        }
        reference
    }

    /// What the answer says: the error's own text for the visitor's mistakes, a generic text
    /// for ours (never the internal error).
    fn public_detail(&self) -> String {
        if self.status().is_server_error() {
            "the service could not complete the request; quote the reference when reporting it"
                .to_owned()
        } else {
            match self {
                Self::InvalidField { reason, .. }
                | Self::Domain(pok_domain::Error::Invalid { reason, .. }) => reason.clone(),
                other => other.to_string(),
            }
        }
    }

    /// The RFC 9457 body for this failure.
    pub fn problem(&self, reference: Reference) -> Problem {
        let status = self.status();
        Problem {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.public_detail(),
            field: self.field().map(str::to_owned),
            reference: reference.to_string(),
        }
    }
}

/// The error and every source below it, joined, for the log line of our own faults.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let _ = write!(text, ": {e}");
        source = e.source();
    }
    text
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let reference = self.log();
        let problem = self.problem(reference);
        let mut response = (
            self.status(),
            [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
            serde_json::to_string(&problem).unwrap_or_default(),
        )
            .into_response();
        if matches!(self, Self::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// An id that ties an answer (a problem, an error page) to its log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference(Uuid);

impl Reference {
    /// A fresh random id.
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl Default for Reference {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

/// An `application/problem+json` body (RFC 9457) with two extension members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What is wrong (4xx) or a generic text (5xx).
    pub detail: String,
    /// The request member that is wrong, dotted (`user.id`, `course.key`), when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The id of the log line about this answer.
    pub reference: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use pok_domain::{Error as D, GatewayError, StateKind};

    #[test]
    fn every_domain_variant_has_its_status() {
        for (error, status) in [
            (D::invalid("course_key", "bad"), 422),
            (D::NotFound("certificate x".into()), 404),
            (D::Conflict("moved".into()), 409),
            (
                D::IllegalTransition {
                    from: StateKind::Revoked,
                    action: "revoke",
                },
                409,
            ),
            (D::Storage("disk".into()), 503),
            (D::Gateway(GatewayError::permanent("400")), 502),
        ] {
            assert_eq!(Error::from(error).status().as_u16(), status);
        }
    }

    #[test]
    fn our_faults_never_show_their_text() {
        let e = Error::from(D::Storage("password=hunter2 at db.internal".into()));
        let p = e.problem(Reference::new());
        assert!(!p.detail.contains("hunter2"), "{}", p.detail);
        assert_eq!(p.status, 503);
        let invalid = Error::from(D::invalid("course_key", "expected three parts"));
        let p = invalid.problem(Reference::new());
        assert_eq!(
            (p.field.as_deref(), p.detail.as_str()),
            (Some("course_key"), "expected three parts")
        );
    }

    #[test]
    fn the_log_chain_includes_every_source() {
        let e = Error::from(D::Gateway(GatewayError::outcome_unknown("timeout")));
        assert!(chain(&e).contains("timeout"), "{}", chain(&e));
    }
}
