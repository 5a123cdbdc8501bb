//! The gate in front of every POK endpoint: counts the request, injects faults, checks the API
//! key.
//!
//! Order, per request: count → (if faults apply to the endpoint) rate limit → latency → one
//! draw: 429 or 5xx answer at once → API key → the handler → hang, malformed or drop act on its
//! answer. So 429 and 5xx never create anything, while hang, malformed and drop happen after a
//! credential was created: the client cannot tell whether it was.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream;

use crate::config::Endpoint;
use crate::pok::Reject;
use crate::state::{Draw, FaultKind, Inner};

/// The largest answer the malformed and drop faults read before cutting it.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// The middleware; its state is the simulator and the endpoint it guards.
pub(crate) async fn gate(
    State((sim, endpoint)): State<(Arc<Inner>, Endpoint)>,
    request: Request,
    next: Next,
) -> Response {
    sim.count_request(endpoint);
    let faults = sim.faults();
    if faults.applies_to(endpoint) {
        if let Some(rps) = faults.rate_limit_rps
            && let Err(wait) = sim.rate_limit(rps)
        {
            sim.count_fault(FaultKind::RateLimit);
            tracing::debug!(%endpoint, "rate limit exceeded");
            let secs = u64::try_from(wait.as_millis().div_ceil(1000)).unwrap_or(u64::MAX);
            return too_many_requests(secs.max(1));
        }
        if faults.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
        }
    }
    let after = match sim.draw(endpoint) {
        Some(Draw::TooManyRequests) => {
            sim.count_fault(FaultKind::TooManyRequests);
            tracing::debug!(%endpoint, "injected 429");
            return too_many_requests(faults.retry_after_secs);
        }
        Some(Draw::ServerError) => {
            sim.count_fault(FaultKind::ServerError);
            tracing::debug!(%endpoint, status = faults.error_status, "injected server error");
            let status = StatusCode::from_u16(faults.error_status)
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return Reject::new(status, "simulated server failure").into_response();
        }
        other => other,
    };
    if !authorised(&request, &sim.api_key) {
        return Reject::new(StatusCode::UNAUTHORIZED, "invalid or missing API key").into_response();
    }
    let response = next.run(request).await;
    match after {
        Some(Draw::Hang) => {
            sim.count_fault(FaultKind::Hang);
            tracing::debug!(%endpoint, hang_ms = faults.hang_ms, "hanging");
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(faults.hang_ms)) => {}
                () = sim.closed() => {}
            }
            response
        }
        Some(Draw::Malformed) => {
            sim.count_fault(FaultKind::Malformed);
            tracing::debug!(%endpoint, "answering malformed JSON");
            let (mut parts, body) = response.into_parts();
            let bytes = to_bytes(body, MAX_ANSWER).await.unwrap_or_default();
            parts.headers.remove(CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(truncated(&bytes)))
        }
        Some(Draw::Drop) => {
            sim.count_fault(FaultKind::Drop);
            tracing::debug!(%endpoint, "dropping the connection mid-answer");
            let (mut parts, body) = response.into_parts();
            let bytes = to_bytes(body, MAX_ANSWER).await.unwrap_or_default();
            parts.headers.remove(CONTENT_LENGTH);
            Response::from_parts(parts, dropping_body(truncated(&bytes)))
        }
        _ => response,
    }
}

/// Whether the request carries `Authorization: ApiKey <key>`.
fn authorised(request: &Request, key: &str) -> bool {
    request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("ApiKey "))
        .is_some_and(|given| given.trim() == key)
}

fn too_many_requests(retry_after_secs: u64) -> Response {
    let mut response =
        Reject::new(StatusCode::TOO_MANY_REQUESTS, "too many requests").into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// The first half of an answer: never valid JSON when the answer was a JSON object or list.
fn truncated(bytes: &Bytes) -> Bytes {
    if bytes.len() < 2 {
        return Bytes::from_static(b"{\"");
    }
    bytes.slice(..bytes.len() / 2)
}

/// A body that sends `first` and then fails, so that the server aborts the connection before
/// the answer is complete. The pause lets the status line and `first` reach the client first.
fn dropping_body(first: Bytes) -> Body {
    let head = stream::iter([Ok::<Bytes, io::Error>(first)]);
    let failure = stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "pok-sim: accept then drop",
        ))
    });
    Body::from_stream(head.chain(failure))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_answers_never_parse() {
        for answer in [
            &br#"{"id":"cred-1","state":"processing"}"#[..],
            b"{}",
            b"[1]",
            b"",
        ] {
            let cut = truncated(&Bytes::copy_from_slice(answer));
            assert!(serde_json::from_slice::<serde_json::Value>(&cut).is_err());
        }
    }
}
