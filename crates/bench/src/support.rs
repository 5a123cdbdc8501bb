//! What every benchmark shares: load generators and their samples, the POK simulator with a
//! log of issuing calls, the in-process service, request bodies, and the verdicts printed at
//! the end.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use pok_client::{PokClient, PokClientConfig};
use pok_domain::CertificateService;
use pok_domain::binding::{CourseBinding, ParamMapping};
use pok_domain::binding_cache::CachedBindings;
use pok_domain::filters::IssuingSettings;
use pok_domain::ports::{PokGateway, SystemClock};
use pok_domain::values::{CourseKey, TemplateId};
use pok_http::{AlwaysReady, AppState, HttpSettings, MeteredGateway, Metrics};
use pok_persistence::Database;
use pok_sim::{Faults, SimConfig, Simulator, fixtures};
use pok_worker::WorkerConfig;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Errors of the benchmark: anything, with a message.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A benchmark result.
pub type Res<T> = Result<T, BoxError>;

/// The shared secret of the in-process service and of the service process.
pub const SECRET: &str = "bench-secret-0123456789abcdef";
/// The course whose certificates the service records.
pub const COURSE: &str = "course-v1:Bench+B101+2026";
/// The course of the synchronous baseline (its credentials at the simulator are kept apart).
pub const SYNC_COURSE: &str = "course-v1:Bench+SYNC101+2026";
/// The course of the back-fill.
pub const BACKFILL_COURSE: &str = "course-v1:Bench+BF101+2026";
/// The creation filter's path.
pub const CREATION_PATH: &str = "/v1/filters/certificate-creation-requested";
/// The render filter's path.
pub const RENDER_PATH: &str = "/v1/filters/certificate-render-started";

/// Hands out learner ids that no other benchmark of this run uses, so that every creation
/// request is a new certificate even when `--database` is shared.
static NEXT_USER: AtomicU64 = AtomicU64::new(1);

/// `n` consecutive unused learner ids; returns the first.
pub fn users(n: usize) -> u64 {
    NEXT_USER.fetch_add(n as u64, Ordering::Relaxed)
}

/// A creation filter body as the LMS step sends it: a learner with a three-word name, a
/// language, a grade, a signatory, the platform.
pub fn creation_body(user: u64, course: &str) -> Value {
    json!({
        "user": {
            "id": user,
            "username": format!("learner{user}"),
            "email": format!("learner{user}@example.org"),
            "full_name": "Ada María Lovelace",
            "language": "es",
        },
        "course": {
            "key": course,
            "title": "Benchmarking Distributed Systems",
            "signatories": [{"name": "Grace Hopper", "title": "Professor", "organization": "Bench University"}],
        },
        "mode": "verified",
        "status": "downloadable",
        "grade": {"percent": 0.93, "passed": true},
        "generation_mode": "self",
        "accept_language": "es-ES,es;q=0.9,en;q=0.8",
        "platform": {"name": "Bench edX", "language": "en"},
    })
}

/// Latencies of the successful requests of one measurement, its failures and its duration.
#[derive(Debug, Clone)]
pub struct Sample {
    ok: Vec<Duration>,
    /// Requests that failed (transport error or unexpected status).
    pub errors: usize,
    /// From the first request sent to the last answer.
    pub wall: Duration,
}

impl Sample {
    fn new(mut ok: Vec<Duration>, errors: usize, wall: Duration) -> Self {
        ok.sort_unstable();
        Self { ok, errors, wall }
    }

    /// Successful requests.
    pub fn n(&self) -> usize {
        self.ok.len()
    }

    /// The `q` quantile of the latencies (nearest rank), zero without samples.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.ok.is_empty() {
            return Duration::ZERO;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = ((self.ok.len() as f64 * q).ceil() as usize).clamp(1, self.ok.len());
        self.ok[rank - 1]
    }

    /// p50 in milliseconds.
    pub fn p50_ms(&self) -> f64 {
        self.quantile(0.50).as_secs_f64() * 1e3
    }

    /// p99 in milliseconds.
    pub fn p99_ms(&self) -> f64 {
        self.quantile(0.99).as_secs_f64() * 1e3
    }

    /// Successful requests per second of wall time.
    pub fn rate(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let n = self.ok.len() as f64;
        n / self.wall.as_secs_f64().max(1e-9)
    }

    /// One printed line: label, count, p50, p99, throughput, errors.
    pub fn line(&self, label: &str) -> String {
        format!(
            "{label:<58} n={:<6} p50={:>9.2} ms  p99={:>9.2} ms  {:>9.1} req/s{}",
            self.n(),
            self.p50_ms(),
            self.p99_ms(),
            self.rate(),
            if self.errors > 0 {
                format!("  ERRORS={}", self.errors)
            } else {
                String::new()
            }
        )
    }
}

/// Sends `n` requests made by `make(i)` from `callers` concurrent callers, each waiting for
/// its answer before sending the next (a closed loop).
pub async fn closed_loop<F, Fut>(n: usize, callers: usize, make: F) -> Sample
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers.max(1) {
        let make = Arc::clone(&make);
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors) = (Vec::new(), 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break (ok, errors);
                }
                let t = Instant::now();
                if make(i).await {
                    ok.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
        }));
    }
    gather(tasks, start).await
}

/// `callers` concurrent callers send requests made by `make(caller, i)` for `duration`.
pub async fn timed_loop<F, Fut>(duration: Duration, callers: usize, make: F) -> Sample
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let make = Arc::new(make);
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = Vec::new();
    for caller in 0..callers.max(1) {
        let make = Arc::clone(&make);
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors) = (Vec::new(), 0usize);
            let mut i = 0;
            while Instant::now() < end {
                let t = Instant::now();
                if make(caller, i).await {
                    ok.push(t.elapsed());
                } else {
                    errors += 1;
                }
                i += 1;
            }
            (ok, errors)
        }));
    }
    gather(tasks, start).await
}

/// Sends `n` requests made by `make(i)` at a fixed rate, whatever the answers (an open loop,
/// like independent learners finishing courses). Latency is counted from when each request
/// was due, so a late sender cannot hide queueing.
pub async fn open_loop<F, Fut>(rate: f64, n: usize, make: F) -> Sample
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let make = Arc::new(make);
    let interval = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        #[allow(clippy::cast_possible_truncation)]
        let due = start + interval * (i as u32);
        tokio::time::sleep_until(due).await;
        let make = Arc::clone(&make);
        tasks.push(tokio::spawn(async move {
            let ok = make(i).await;
            (ok, due.elapsed())
        }));
    }
    let (mut ok, mut errors) = (Vec::with_capacity(n), 0);
    for t in tasks {
        match t.await {
            Ok((true, latency)) => ok.push(latency),
            _ => errors += 1,
        }
    }
    Sample::new(ok, errors, start.elapsed())
}

async fn gather(tasks: Vec<JoinHandle<(Vec<Duration>, usize)>>, start: Instant) -> Sample {
    let (mut ok, mut errors) = (Vec::new(), 0);
    for t in tasks {
        match t.await {
            Ok((lat, err)) => {
                ok.extend(lat);
                errors += err;
            }
            Err(_) => errors += 1,
        }
    }
    Sample::new(ok, errors, start.elapsed())
}

/// When each issuing call (`POST credential/`) was answered, and with which status.
#[derive(Debug, Clone, Default)]
pub struct IssueLog(Arc<Mutex<Vec<(Instant, u16)>>>);

impl IssueLog {
    /// A copy of the entries so far.
    pub fn entries(&self) -> Vec<(Instant, u16)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn log_issue(State(log): State<IssueLog>, request: Request, next: Next) -> Response {
    let issuing =
        request.method() == Method::POST && request.uri().path().starts_with("/credential");
    let response = next.run(request).await;
    if issuing {
        log.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((Instant::now(), response.status().as_u16()));
    }
    response
}

/// The POK simulator served on a port of this process, with every issuing call logged.
pub struct Sim {
    /// Its controls and counters.
    pub handle: Simulator,
    /// `http://127.0.0.1:PORT/`.
    pub base_url: String,
    /// The issuing calls.
    pub issues: IssueLog,
    task: JoinHandle<()>,
}

impl Sim {
    /// Starts a simulator with no fault (set them with [`Sim::set`] once courses are linked),
    /// credits for any run, and credentials emitted as soon as they are issued.
    pub async fn start() -> Res<Self> {
        let sim = Simulator::new(&SimConfig {
            credits: 1_000_000_000,
            emit_after_polls: Some(0),
            seed: Some(8),
            ..SimConfig::default()
        });
        let issues = IssueLog::default();
        let app = sim
            .router()
            .layer(from_fn_with_state(issues.clone(), log_issue));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            handle: sim,
            base_url: format!("http://{addr}/"),
            issues,
            task,
        })
    }

    /// Every call takes `latency_ms` more, and at most `rate_limit` calls a second are
    /// accepted (the others get 429 with `Retry-After`).
    pub fn set(&self, latency_ms: u64, rate_limit: Option<u32>) {
        self.handle.set_faults(Faults {
            latency_ms,
            rate_limit_rps: rate_limit,
            ..Faults::none()
        });
    }

    /// Learners of `course` with more than one credential at the simulator, and the
    /// credentials of the course.
    pub fn duplicates(&self, course: &str) -> (usize, u64) {
        let stats = self.handle.stats();
        let of_course = stats
            .credentials_by_tags
            .iter()
            .filter(|t| t.course_id.as_deref() == Some(course));
        let (mut dupes, mut total) = (0, 0);
        for t in of_course {
            total += t.count;
            if t.count > 1 {
                dupes += 1;
            }
        }
        (dupes, total)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A POK client for the simulator, counted by the service's metrics like in `serve`.
pub fn gateway(sim: &Sim, metrics: &Metrics) -> Res<Arc<dyn PokGateway>> {
    let client = PokClient::new(
        PokClientConfig::new(sim.handle.api_key().to_owned().into())
            .with_base_url(sim.base_url.parse::<url::Url>()?),
    )?;
    Ok(Arc::new(MeteredGateway::new(client, metrics.clone())))
}

/// The binding the benchmarks link their courses with: the simulator's template with two
/// custom parameters, filled from the grade and the course title.
pub fn graded_binding(course: &str) -> Res<CourseBinding> {
    let mut binding = CourseBinding::new(
        CourseKey::parse(course)?,
        TemplateId::parse(fixtures::TEMPLATE_GRADED)?,
    );
    binding.params = vec![
        ParamMapping::parse(&format!("{}=grade", fixtures::PARAM_GRADE_LABEL))?,
        ParamMapping::parse(&format!("{}=course_title", fixtures::PARAM_COURSE_LABEL))?,
    ];
    Ok(binding)
}

/// How the in-process service is built.
#[derive(Debug, Clone)]
pub struct ServiceOpts {
    /// `--database`, or a temporary SQLite file.
    pub database: Option<String>,
    /// Connections in the pool (the service's default is 8).
    pub pool_size: u32,
    /// Jobs the worker runs at once (the service's default is 8); 0: no worker.
    pub worker_concurrency: usize,
}

/// Serves `service` on a new local port, as `serve` does (its URL is the public base URL),
/// with pages kept for `page_cache_ttl`, until `stop` turns true. Returns the base URL and the
/// router.
async fn serve_on_new_port(
    service: &CertificateService,
    metrics: Metrics,
    page_cache_ttl: Duration,
    mut stop: watch::Receiver<bool>,
) -> Res<(String, Router)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = AppState::new(
        service.clone(),
        HttpSettings {
            page_cache_ttl,
            ..HttpSettings::new(SECRET.to_owned().into(), base.clone())
        },
        Arc::new(AlwaysReady),
        metrics,
    )?;
    let router = pok_http::router(state);
    tokio::spawn(pok_http::serve(listener, router.clone(), async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    Ok((base, router))
}

/// The service wired as `serve` wires it (router, worker, metered POK client), in this
/// process, on a port.
pub struct InProcess {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The use cases, for measurements below HTTP.
    pub service: CertificateService,
    http_stop: watch::Sender<bool>,
    worker_stop: watch::Sender<bool>,
    worker: Option<JoinHandle<()>>,
    sqlite_file: Option<std::path::PathBuf>,
    _dir: tempfile::TempDir,
}

impl InProcess {
    /// Migrates the database, links `courses` to [`graded_binding`], and starts the router and
    /// the worker.
    pub async fn start(sim: &Sim, opts: &ServiceOpts, courses: &[&str]) -> Res<Self> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("bench.sqlite3");
        let url = opts
            .database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", file.display()));
        let db = Database::connect(&url, opts.pool_size).await?;
        db.migrate().await?;
        let metrics = Metrics::new();
        let store = Arc::new(db);
        let bindings = Arc::new(CachedBindings::new(
            store.clone(),
            Arc::new(SystemClock),
            Duration::from_secs(CachedBindings::DEFAULT_TTL_SECONDS.into()),
        ));
        let service = CertificateService::new(
            store.clone(),
            bindings,
            store,
            gateway(sim, &metrics)?,
            Arc::new(SystemClock),
            IssuingSettings::default(),
        );
        for course in courses {
            service.link_course(graded_binding(course)?).await?;
        }
        let (http_stop, stopped) = watch::channel(false);
        let (base, _) = serve_on_new_port(
            &service,
            metrics,
            HttpSettings::DEFAULT_PAGE_CACHE_TTL,
            stopped,
        )
        .await?;
        let (worker_stop, stopped) = watch::channel(false);
        let worker = (opts.worker_concurrency > 0).then(|| {
            tokio::spawn(pok_worker::run(
                service.clone(),
                WorkerConfig {
                    id: "bench-worker".into(),
                    concurrency: opts.worker_concurrency,
                    ..WorkerConfig::default()
                },
                stopped,
            ))
        });
        Ok(Self {
            base,
            service,
            http_stop,
            worker_stop,
            worker,
            sqlite_file: opts.database.is_none().then_some(file),
            _dir: dir,
        })
    }

    /// The same service behind a second router whose page cache is off, served on a port of
    /// its own: every request reads the database and renders the page. Returns its base URL
    /// and the router (for measurements without TCP). Stops with [`Self::stop`].
    pub async fn serve_without_page_cache(&self) -> Res<(String, Router)> {
        serve_on_new_port(
            &self.service,
            Metrics::new(),
            Duration::ZERO,
            self.http_stop.subscribe(),
        )
        .await
    }

    /// The temporary SQLite file, when no `--database` was given.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.sqlite_file.as_deref()
    }

    /// Stops the worker and waits (at most 15 s) for the jobs it holds.
    pub async fn stop_worker(&mut self) {
        let _ = self.worker_stop.send(true);
        if let Some(worker) = self.worker.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), worker).await;
        }
    }

    /// Stops the worker and the HTTP server.
    pub async fn stop(mut self) {
        self.stop_worker().await;
        let _ = self.http_stop.send(true);
    }
}

/// One line of the final comparison with the targets.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// What was measured.
    pub what: String,
    /// The number.
    pub measured: String,
    /// The target.
    pub target: String,
    /// Met, not met, or no target.
    pub met: Option<bool>,
}

/// The verdicts gathered during the run.
#[derive(Debug, Default)]
pub struct Verdicts(pub Vec<Verdict>);

impl Verdicts {
    /// Adds one.
    pub fn push(
        &mut self,
        what: impl Into<String>,
        measured: impl Into<String>,
        target: &str,
        met: Option<bool>,
    ) {
        self.0.push(Verdict {
            what: what.into(),
            measured: measured.into(),
            target: target.to_owned(),
            met,
        });
    }

    /// Prints the table.
    pub fn print(&self) {
        println!("\n# Summary against the targets of issue 8");
        for v in &self.0 {
            let verdict = match v.met {
                Some(true) => "met",
                Some(false) => "NOT MET",
                None => "-",
            };
            println!(
                "{:<62} {:>22}   target {:<16} {verdict}",
                v.what, v.measured, v.target
            );
        }
    }
}
