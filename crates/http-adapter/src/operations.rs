//! Endpoints for the people and machines that run the service: liveness, readiness, and the
//! fallback for unknown routes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::problem::{Error, Reference};
use crate::state::AppState;

/// `GET /health`: the process answers. Checks nothing else, so that a database outage does
/// not get the process restarted.
pub(crate) async fn health() -> &'static str {
    "ok"
}

/// `GET /ready`: the readiness check passes (the binary's: database reachable, migrations
/// applied). The reason of a failure goes to the log under a reference, not to the caller.
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    match state.readiness().check().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(reason) => {
            let reference = Reference::new();
            tracing::warn!(%reference, reason, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready (reference {reference})"),
            )
                .into_response()
        }
    }
}

/// Any other route: a 404 problem.
pub(crate) async fn no_route() -> Error {
    Error::NoRoute
}
