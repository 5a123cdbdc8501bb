//! The OpenAPI document of the filter endpoints, served at `/openapi.json`; generated from the
//! handlers' and bodies' own annotations so that it cannot drift from the code.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::filters::{
    CourseBody, CreationAnswerBody, CreationBody, CreationOutcome, GradeBody, LearnerBody,
    PlatformBody, RenderAnswerBody, RenderBody, SignatoryBody,
};
use crate::problem::Problem;

/// The document: the two filters, their bodies, and the bearer scheme.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "openedx-pok filter API",
        version = "1",
        description = "The two Open edX filters (certificate creation and rendering) served for POK. See docs/http-contract.md."
    ),
    paths(crate::filters::creation, crate::filters::render),
    components(schemas(
        CreationBody, LearnerBody, CourseBody, SignatoryBody, GradeBody, PlatformBody,
        CreationAnswerBody, CreationOutcome, RenderBody, RenderAnswerBody, Problem
    )),
    modifiers(&SharedSecret),
    tags((name = "filters", description = "Called by the LMS's pipeline steps"))
)]
pub struct ApiDoc;

/// Adds the `shared_secret` bearer scheme the filter paths refer to.
struct SharedSecret;

impl Modify for SharedSecret {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "shared_secret",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| ApiDoc::openapi().to_json().unwrap_or_default());

/// `GET /openapi.json`.
pub(crate) async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT.as_str(),
    )
        .into_response()
}
