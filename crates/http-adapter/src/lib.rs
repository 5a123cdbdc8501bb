//! The axum service the LMS calls: the two filter endpoints, the certificate pages, and the
//! endpoints for operations. The HTTP contract is `docs/http-contract.md`.
//!
//! # Layout
//! - [`state`](AppState): what handlers share — the domain's [`CertificateService`], the
//!   shared secret, the public base URL, the body limit, the [`Readiness`] check, the
//!   [`Metrics`] and the compiled templates.
//! - `auth`: the bearer-token check (constant time) in front of the filter endpoints.
//! - [`filters`]: the two filter endpoints and their JSON bodies; they read the body (413,
//!   400, 422), call a use case, and answer. Creation never calls POK; render hands the
//!   decision to `pages`.
//! - `pages`: turns a [`pok_domain::filters::RenderDecision`] into HTML (minijinja templates
//!   from `templates/`, auto-escaped), for the render filter and the public routes
//!   `/certificates/{id}` and `/certificates/{id}/image`; `translations` holds the texts
//!   (English, Spanish) and `share` the LinkedIn, X and Facebook links.
//! - [`problem`]: the crate's one [`Error`] type, its one mapping onto status codes, and the
//!   `application/problem+json` answer; our faults are logged under a reference id.
//! - [`metrics`](Metrics): Prometheus series, the `/metrics` endpoint, and [`MeteredGateway`],
//!   the POK gateway decorator that counts POK calls and credits.
//! - `operations`: `/health`, `/ready`, the 404 fallback. `openapi`: `/openapi.json`.
//!
//! A request flows: request id and trace span (every route) → for filters, metrics → auth →
//! body limit → handler → use case → answer (JSON, or a page inside JSON for render). Logs
//! carry the request id and never personal data (no e-mail, name, user id or token).

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

mod auth;
pub mod filters;
mod metrics;
mod openapi;
mod operations;
mod page_cache;
mod pages;
pub mod problem;
mod share;
mod state;
mod translations;

pub use metrics::{MeteredGateway, Metrics};
pub use openapi::ApiDoc;
pub use pok_domain::CertificateService;
pub use problem::Error;
pub use state::{AlwaysReady, AppState, HttpSettings, Readiness};

#[doc(hidden)]
pub use pok_domain as domain;

/// The header carrying the request id (set when the caller did not send one, echoed back).
const REQUEST_ID: &str = "x-request-id";

/// Every route of the service, with request ids, tracing, and — on the filter endpoints —
/// metrics, the bearer check and the body limit.
pub fn router(state: AppState) -> Router {
    let filters = Router::new()
        .route(filters::CREATION_PATH, post(filters::creation))
        .route(filters::RENDER_PATH, post(filters::render))
        .layer(DefaultBodyLimit::max(state.body_limit()))
        .layer(from_fn_with_state(state.clone(), auth::require_bearer))
        .layer(from_fn_with_state(state.clone(), metrics::track_filter));
    Router::new()
        .merge(filters)
        .route("/certificates/{id}", get(pages::certificate_page))
        .route("/certificates/{id}/image", get(pages::certificate_image))
        .route("/health", get(operations::health))
        .route("/ready", get(operations::ready))
        .route("/metrics", get(metrics::scrape))
        .route("/openapi.json", get(openapi::document))
        .fallback(operations::no_route)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
        .with_state(state)
}

/// One span per request: method, path (which holds at most a certificate id) and request
/// id. Headers are left out: they carry the bearer token.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
    )
}

/// Serves `router` on an already-bound listener until `shutdown` completes, then lets
/// requests in flight finish. Taking the listener lets tests bind port 0 and read the
/// address first.
///
/// # Errors
/// The listener's I/O errors.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
