//! `pok-bench`: measures what the LMS feels, and prints it.
//!
//! # Layout
//! - creation: the creation filter's latency (p50, p99) and throughput at several numbers of
//!   concurrent callers, with the POK simulator answering at once and after 2 s, beside a
//!   "synchronous" route that calls POK while the caller waits (what the existing Python plugin
//!   does inside the LMS).
//! - render: requests per second of the render filter for an emitted certificate, beside a bare
//!   axum "hello" route served the same way, in the same run.
//!
//! Everything runs in this one process (service, worker, simulator and load), on a temporary
//! SQLite file unless `--database` says otherwise, so the numbers compare with each other;
//! `docs/performance.md` records them with the machine and the command.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use clap::Parser;
use pok_client::{PokClient, PokClientConfig};
use pok_domain::CertificateService;
use pok_domain::filters::IssuingSettings;
use pok_domain::ports::{PokGateway, SystemClock};
use pok_domain::values::TemplateId;
use pok_http::{AlwaysReady, AppState, HttpSettings, MeteredGateway, Metrics};
use pok_persistence::Database;
use pok_sim::{Faults, RunningSim, SimConfig, Simulator};
use pok_worker::WorkerConfig;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

const SECRET: &str = "bench-secret";
const COURSE: &str = "course-v1:Bench+B101+2026";

/// Measures the service against the POK simulator.
#[derive(Debug, Parser)]
#[command(name = "pok-bench")]
struct Args {
    /// Creation requests per (latency, concurrency) pair.
    #[arg(long, default_value_t = 500)]
    requests: usize,
    /// Concurrent callers, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    concurrency: Vec<usize>,
    /// POK latencies to simulate, in milliseconds, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "0,2000")]
    pok_latency_ms: Vec<u64>,
    /// Requests of the synchronous baseline per concurrency (it waits for POK each time).
    #[arg(long, default_value_t = 100)]
    sync_requests: usize,
    /// Seconds of load for each render measurement.
    #[arg(long, default_value_t = 5)]
    render_seconds: u64,
    /// Concurrent callers for the render measurement.
    #[arg(long, default_value_t = 32)]
    render_concurrency: usize,
    /// The database (default: a temporary SQLite file).
    #[arg(long)]
    database: Option<String>,
}

/// One service under test: router on a port, worker running, simulator behind it.
struct Bench {
    base: String,
    sim: RunningSim,
    gateway: Arc<dyn PokGateway>,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

async fn start(args: &Args, latency_ms: u64) -> Result<Bench, Box<dyn std::error::Error>> {
    let sim = Simulator::start(SimConfig {
        faults: Faults {
            latency_ms,
            ..Faults::default()
        },
        emit_after_polls: Some(0),
        ..SimConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let url = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.sqlite3").display()));
    let db = Database::connect(&url, 16).await?;
    db.migrate().await?;
    let metrics = Metrics::new();
    let client = PokClient::new(
        PokClientConfig::new(sim.api_key().to_owned().into())
            .with_base_url(sim.base_url().parse::<url::Url>()?),
    )?;
    let gateway: Arc<dyn PokGateway> = Arc::new(MeteredGateway::new(client, metrics.clone()));
    let store = Arc::new(db);
    let service = CertificateService::new(
        store.clone(),
        store.clone(),
        store,
        gateway.clone(),
        Arc::new(SystemClock),
        IssuingSettings {
            default_template: Some(TemplateId::parse(pok_sim::fixtures::TEMPLATE_SIMPLE)?),
            ..IssuingSettings::default()
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = AppState::new(
        service.clone(),
        HttpSettings::new(SECRET.to_owned().into(), format!("http://{addr}")),
        Arc::new(AlwaysReady),
        metrics,
    )?;
    let (stop, stopped) = watch::channel(false);
    let mut http_stop = stopped.clone();
    tokio::spawn(pok_http::serve(
        listener,
        pok_http::router(state),
        async move {
            let _ = http_stop.wait_for(|s| *s).await;
        },
    ));
    tokio::spawn(pok_worker::run(
        service,
        WorkerConfig {
            concurrency: 64,
            idle_poll: Duration::from_millis(50),
            ..WorkerConfig::default()
        },
        stopped,
    ));
    Ok(Bench {
        base: format!("http://{addr}"),
        sim,
        gateway,
        stop,
        _dir: dir,
    })
}

fn creation(user: usize) -> Value {
    json!({
        "user": {"id": user, "username": format!("u{user}"), "email": format!("u{user}@example.org"), "full_name": "Ada Lovelace"},
        "course": {"key": COURSE, "title": "Benchmarking"},
        "mode": "verified",
        "status": "downloadable",
    })
}

/// Sends `n` requests made by `make` with `concurrency` callers; returns each latency.
async fn load<F, Fut>(n: usize, concurrency: usize, make: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let make = make.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break lat;
                }
                let t = Instant::now();
                let ok = make(i).await;
                assert!(ok, "request {i} failed");
                lat.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        if let Ok(lat) = t.await {
            all.extend(lat);
        }
    }
    (all, start.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

fn report(label: &str, mut lat: Vec<Duration>, wall: Duration) {
    lat.sort();
    #[allow(clippy::cast_precision_loss)]
    let rate = lat.len() as f64 / wall.as_secs_f64();
    println!(
        "{label:<52} n={:<5} p50={:>9.2} ms  p99={:>9.2} ms  {rate:>8.1} req/s",
        lat.len(),
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
    );
}

async fn creation_bench(
    args: &Args,
    http: &reqwest::Client,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n# Creation filter: LMS-side latency");
    for &latency in &args.pok_latency_ms {
        let bench = start(args, latency).await?;
        let mut offset = 0;
        for &c in &args.concurrency {
            let url = format!("{}/v1/filters/certificate-creation-requested", bench.base);
            let client = http.clone();
            let base = offset;
            let (lat, wall) = load(args.requests, c, move |i| {
                let client = client.clone();
                let url = url.clone();
                async move {
                    client
                        .post(&url)
                        .bearer_auth(SECRET)
                        .json(&creation(base + i + 1))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success())
                }
            })
            .await;
            offset += args.requests;
            report(
                &format!("service, POK latency {latency} ms, {c} callers"),
                lat,
                wall,
            );
            let gateway = bench.gateway.clone();
            let sync_n = args.sync_requests.min(args.requests).max(c);
            let (lat, wall) = load(sync_n, c, move |_| {
                let gateway = gateway.clone();
                async move { gateway.organization().await.is_ok() }
            })
            .await;
            report(
                &format!("synchronous baseline, POK latency {latency} ms, {c} callers"),
                lat,
                wall,
            );
        }
        let stats = bench.sim.stats();
        let dupes = stats
            .credentials_by_tags
            .iter()
            .filter(|t| t.count > 1)
            .count();
        println!(
            "  (credentials created so far by the worker: {}, learners with more than one: {dupes})",
            stats.credentials_created
        );
        let _ = bench.stop.send(true);
    }
    Ok(())
}

async fn render_bench(
    args: &Args,
    http: &reqwest::Client,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n# Render filter of an emitted certificate vs a bare axum route");
    let bench = start(args, 0).await?;
    let url = format!("{}/v1/filters/certificate-creation-requested", bench.base);
    http.post(&url)
        .bearer_auth(SECRET)
        .json(&creation(1))
        .send()
        .await?;
    let render_url = format!("{}/v1/filters/certificate-render-started", bench.base);
    let body = json!({"course_key": COURSE, "user_id": 1});
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer: Value = http
            .post(&render_url)
            .bearer_auth(SECRET)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        let page = answer["body"].as_str().unwrap_or_default();
        if answer["status"] == 200 && !page.contains("http-equiv=\"refresh\"") {
            break;
        }
        if Instant::now() > deadline {
            return Err("the certificate was never emitted".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let hello = TcpListener::bind("127.0.0.1:0").await?;
    let hello_addr: SocketAddr = hello.local_addr()?;
    tokio::spawn(async move {
        let app = Router::new().route("/hello", get(|| async { "hello" }));
        let _ = axum::serve(hello, app).await;
    });
    let secs = Duration::from_secs(args.render_seconds);
    let c = args.render_concurrency;

    let client = http.clone();
    let n_render = timed_count(secs, c, move || {
        let client = client.clone();
        let url = render_url.clone();
        let body = body.clone();
        async move {
            client
                .post(&url)
                .bearer_auth(SECRET)
                .json(&body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    let client = http.clone();
    let hello_url = format!("http://{hello_addr}/hello");
    let n_hello = timed_count(secs, c, move || {
        let client = client.clone();
        let url = hello_url.clone();
        async move {
            client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    #[allow(clippy::cast_precision_loss)]
    let (r, h) = (
        n_render as f64 / secs.as_secs_f64(),
        n_hello as f64 / secs.as_secs_f64(),
    );
    println!("render filter (emitted certificate), {c} callers: {r:>9.1} req/s");
    println!("bare axum hello route,            {c} callers: {h:>9.1} req/s");
    println!("render / hello: {:.0} %", r / h * 100.0);
    let _ = bench.stop.send(true);
    Ok(())
}

/// How many requests `c` callers complete in `secs`.
async fn timed_count<F, Fut>(secs: Duration, c: usize, make: F) -> usize
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let make = Arc::new(make);
    let end = Instant::now() + secs;
    let mut tasks = Vec::new();
    for _ in 0..c.max(1) {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < end {
                if make().await {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    total
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()?;
    println!(
        "pok-bench: {} cores, database {}",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        args.database.as_deref().unwrap_or("temporary SQLite file")
    );
    creation_bench(&args, &http).await?;
    render_bench(&args, &http).await?;
    Ok(())
}
