//! The creation filter as the LMS feels it, beside a synchronous baseline.
//!
//! For each POK latency, one in-process service (router, worker, SQLite) and one baseline
//! route share the simulator. At 1, 10 and 100 concurrent callers:
//! - **service**: `POST /v1/filters/certificate-creation-requested`, a new learner each time:
//!   the service reads the course's binding and the learner's live certificate, decides, and
//!   records the certificate with its job in one transaction, then answers. The worker issues
//!   in the background meanwhile, as in production.
//! - **synchronous baseline**: `POST /sync/certificate-creation-requested` with the same body,
//!   answered by a handler that does what the existing plugin does inside the LMS request: the
//!   same two reads and the same decision (so POK receives the very `IssueRequest` the worker
//!   would send: template, custom parameters, tags, receiver), then `PokGateway::issue` while
//!   the caller waits. It writes nothing afterwards (the plugin then saves a row), has no
//!   bearer check, metrics or request-id layers, so it is if anything a little faster than
//!   the real thing outside the POK call.
//!
//! Then the service alone in an open loop (requests sent at a fixed rate, 20/s and 200/s by
//! default, latency counted from when each was due), which is how learners finishing courses
//! arrive, unlike 100 callers that each send again the moment they are answered.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use pok_domain::CertificateService;
use pok_domain::filters::{CreationDecision, decide_creation};
use pok_http::filters::CreationBody;
use serde_json::json;
use tokio::net::TcpListener;

use crate::support::{
    COURSE, CREATION_PATH, InProcess, Res, SECRET, SYNC_COURSE, Sample, ServiceOpts, Sim, Verdicts,
    closed_loop, creation_body, open_loop, users,
};

/// What the creation benchmark runs.
#[derive(Debug, Clone)]
pub struct CreationOpts {
    /// Requests to the service per (latency, callers).
    pub requests: usize,
    /// Concurrent callers.
    pub concurrency: Vec<usize>,
    /// POK latencies, in milliseconds.
    pub latencies_ms: Vec<u64>,
    /// Baseline requests per caller (each waits for POK).
    pub sync_rounds: usize,
    /// Open-loop arrival rates (requests per second) for the service.
    pub open_rates: Vec<f64>,
    /// Seconds of each open-loop measurement.
    pub open_seconds: u64,
    /// The service under test.
    pub service: ServiceOpts,
}

/// The baseline's handler: decide as the service does, then call POK while the caller waits.
async fn sync_creation(State(service): State<CertificateService>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<CreationBody>(&body) else {
        return (StatusCode::BAD_REQUEST, "not a creation body").into_response();
    };
    let Ok(request) = body.into_request() else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "invalid creation body").into_response();
    };
    let (Some(user), Some(course)) = (request.user_id, request.course_key.clone()) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "user and course required").into_response();
    };
    let (Ok(binding), Ok(existing)) = (
        service.bindings().get(&course).await,
        service.certificates().find_live(user, &course).await,
    ) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let decision = decide_creation(
        &request,
        binding.as_ref(),
        service.settings(),
        existing.as_ref(),
        service.now(),
    );
    match decision {
        CreationDecision::Enqueue(new) => match service.pok().issue(&new.request).await {
            Ok(credential) => Json(json!({
                "action": "continue",
                "outcome": "issued",
                "state": credential.state,
            }))
            .into_response(),
            Err(_) => StatusCode::BAD_GATEWAY.into_response(),
        },
        other => (
            StatusCode::CONFLICT,
            format!("unexpected decision {other:?}"),
        )
            .into_response(),
    }
}

/// Starts the baseline route on its own port; returns its URL.
async fn start_baseline(service: CertificateService) -> Res<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/sync/certificate-creation-requested", post(sync_creation))
        .with_state(service);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}/sync/certificate-creation-requested"))
}

/// `n` creation requests for new learners of `course` at `url`, from `callers` callers.
async fn creations(
    http: &reqwest::Client,
    url: String,
    course: &'static str,
    n: usize,
    callers: usize,
) -> Sample {
    let first = users(n);
    let http = http.clone();
    let url = Arc::new(url);
    closed_loop(n, callers, move |i| {
        let http = http.clone();
        let url = Arc::clone(&url);
        async move {
            http.post(url.as_str())
                .bearer_auth(SECRET)
                .json(&creation_body(first + i as u64, course))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await
}

/// Creation requests for new learners sent at `rate` a second for `seconds`.
async fn creations_at(http: &reqwest::Client, url: String, rate: f64, seconds: u64) -> Sample {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let n = (rate * seconds as f64).round() as usize;
    let first = users(n);
    let http = http.clone();
    let url = Arc::new(url);
    open_loop(rate, n, move |i| {
        let http = http.clone();
        let url = Arc::clone(&url);
        async move {
            http.post(url.as_str())
                .bearer_auth(SECRET)
                .json(&creation_body(first + i as u64, COURSE))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await
}

/// Runs the creation benchmark and prints its lines.
pub async fn run(opts: &CreationOpts, http: &reqwest::Client, verdicts: &mut Verdicts) -> Res<()> {
    println!("\n# Creation filter: what the LMS waits for (closed loop, new learner per request)");
    println!(
        "  service: in-process router + worker ({} jobs at once) + SQLite pool of {}; baseline: calls POK inside the request",
        opts.service.worker_concurrency, opts.service.pool_size
    );
    for &latency in &opts.latencies_ms {
        let sim = Sim::start().await?;
        let bench = InProcess::start(&sim, &opts.service, &[COURSE, SYNC_COURSE]).await?;
        sim.set(latency, None);
        let sync_url = start_baseline(bench.service.clone()).await?;
        let url = format!("{}{CREATION_PATH}", bench.base);
        for &c in &opts.concurrency {
            let s = creations(http, url.clone(), COURSE, opts.requests, c).await;
            println!(
                "{}",
                s.line(&format!(
                    "service,  POK latency {latency:>4} ms, {c:>3} callers"
                ))
            );
            if latency >= 2000 {
                verdicts.push(
                    format!("creation p99, POK at {latency} ms, {c} callers"),
                    format!("{:.2} ms", s.p99_ms()),
                    "<= 5 ms",
                    Some(s.p99_ms() <= 5.0 && s.errors == 0),
                );
            }
            let n = c * opts.sync_rounds.max(1);
            let b = creations(http, sync_url.clone(), SYNC_COURSE, n, c).await;
            println!(
                "{}",
                b.line(&format!(
                    "baseline, POK latency {latency:>4} ms, {c:>3} callers"
                ))
            );
        }
        for &rate in &opts.open_rates {
            let s = creations_at(http, url.clone(), rate, opts.open_seconds).await;
            println!(
                "{}",
                s.line(&format!(
                    "service,  POK latency {latency:>4} ms, open loop {rate}/s"
                ))
            );
            if latency >= 2000 {
                verdicts.push(
                    format!("creation p99, POK at {latency} ms, open loop {rate} req/s"),
                    format!("{:.2} ms", s.p99_ms()),
                    "<= 5 ms",
                    Some(s.p99_ms() <= 5.0 && s.errors == 0),
                );
            }
        }
        bench.stop().await;
        // Let the calls the worker had in flight land before counting.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (dupes, issued) = sim.duplicates(COURSE);
        println!(
            "  POK latency {latency} ms: the worker issued {issued} credentials during the run; learners with more than one: {dupes}"
        );
    }
    Ok(())
}
