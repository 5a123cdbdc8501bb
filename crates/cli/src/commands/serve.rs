//! `serve` and `demo`: the HTTP service and the issuing worker in one process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use pok_domain::binding::CourseBinding;
use pok_domain::values::{CourseKey, TemplateId};
use pok_http::{AppState, HttpSettings};
use pok_sim::SimConfig;
use pok_worker::WorkerConfig;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;

use crate::error::CliError;
use crate::settings::Loaded;
use crate::wiring::{self, DatabaseReadiness, PokTarget, Wired};

/// Options of `serve` (everything else is a setting).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Use the built-in POK simulator (same as POK_SIMULATOR=true).
    #[arg(long)]
    simulator: bool,
}

/// Options of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the service listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the built-in POK simulator listens (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    sim_listen: SocketAddr,
    /// The database (a SQLite file by default).
    #[arg(long, default_value = "sqlite://openedx-pok-demo.sqlite3")]
    database: String,
    /// The shared secret the LMS (or curl) sends as a bearer token.
    #[arg(long, default_value = "demo-secret")]
    secret: String,
    /// The simulator emits a credential on the N-th time it is asked about it.
    #[arg(long, default_value_t = 1)]
    emit_after_polls: u32,
}

/// The course `demo` links, Open edX's own demo course.
const DEMO_COURSE: &str = "course-v1:edX+DemoX+Demo_Course";

/// Logs as the settings say: `json` for log collectors, `pretty` for people.
fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub async fn serve(loaded: Loaded, args: ServeArgs) -> Result<(), CliError> {
    init_logging(&loaded.settings.log_format);
    let s = &loaded.settings;
    let simulator = args.simulator || s.pok_simulator;
    let has_key = s
        .pok_api_key
        .as_ref()
        .is_some_and(|k| !k.expose_secret().trim().is_empty());
    if !simulator && !has_key {
        return Err(CliError::Usage(
            "POK_API_KEY is not set. Set it to your organisation's POK API key, or run with \
             --simulator (POK_SIMULATOR=true) to use the built-in POK simulator, or try `demo`."
                .into(),
        ));
    }
    let Some(secret) = s
        .secret
        .clone()
        .filter(|x| !x.expose_secret().trim().is_empty())
    else {
        return Err(CliError::Usage(
            "OPENEDX_POK_SECRET is not set: the LMS steps send it as a bearer token, so the \
             filter endpoints need it (any long random string, the same on both sides)."
                .into(),
        ));
    };
    let listen: SocketAddr = s.listen.parse().map_err(|e| loaded.invalid("listen", e))?;
    let target = if simulator {
        PokTarget::Simulator(SimConfig::default())
    } else {
        PokTarget::Configured
    };
    let wired = wiring::wire(&loaded, target).await?;
    run(&loaded, wired, listen, secret).await
}

pub async fn demo(mut loaded: Loaded, args: DemoArgs) -> Result<(), CliError> {
    init_logging(&loaded.settings.log_format);
    loaded.settings.database_url = args.database.clone();
    // Quick polls, so that the demo shows "emitted" within seconds.
    loaded.settings.poll_first_seconds = 1;
    loaded.settings.poll_cap_seconds = 2;
    loaded.settings.worker_idle_ms = 200;
    let sim = SimConfig {
        listen: args.sim_listen,
        emit_after_polls: Some(args.emit_after_polls),
        ..SimConfig::default()
    };
    let wired = wiring::wire(&loaded, PokTarget::Simulator(sim)).await?;
    let course = CourseKey::parse(DEMO_COURSE)?;
    let template = TemplateId::parse(pok_sim::fixtures::TEMPLATE_SIMPLE)?;
    wired
        .service
        .link_course(CourseBinding::new(course, template))
        .await?;
    let base = format!("http://{}", args.listen);
    let sim_url = wired
        .simulator
        .as_ref()
        .map(pok_sim::RunningSim::base_url)
        .unwrap_or_default();
    println!("openedx-pok demo");
    println!("  service:   {base}");
    println!("  simulator: {sim_url}");
    println!("  database:  {}", args.database);
    println!(
        "  course {DEMO_COURSE} is linked to the simulator's template {}",
        pok_sim::fixtures::TEMPLATE_SIMPLE
    );
    println!();
    println!("Ask for a certificate as the LMS would:");
    println!(
        "  curl -s -H 'Authorization: Bearer {secret}' -H 'Content-Type: application/json' \\\n    \
         -d '{{\"user\":{{\"id\":42,\"username\":\"ada\",\"email\":\"ada@example.org\",\"full_name\":\"Ada Lovelace\"}},\
         \"course\":{{\"key\":\"{DEMO_COURSE}\",\"title\":\"Demo Course\"}},\"mode\":\"honor\",\"status\":\"downloadable\",\
         \"grade\":{{\"percent\":0.93,\"passed\":true}}}}' \\\n    {base}/v1/filters/certificate-creation-requested",
        secret = args.secret
    );
    println!("then open {base}/certificates/<certificate_id from the answer>");
    println!(
        "Admin commands against this demo: DATABASE_URL={} POK_API_URL={sim_url} POK_API_KEY={} openedx-pok certificates list",
        args.database,
        pok_sim::fixtures::API_KEY
    );
    println!("Stop with Ctrl-C.");
    run(&loaded, wired, args.listen, SecretString::from(args.secret)).await
}

/// Serves HTTP and runs the worker until Ctrl-C or SIGTERM, then shuts both down cleanly.
async fn run(
    loaded: &Loaded,
    wired: Wired,
    listen: SocketAddr,
    secret: SecretString,
) -> Result<(), CliError> {
    let s = &loaded.settings;
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        CliError::failed(format!(
            "cannot listen on {listen} ({}): {e}",
            loaded.source_of("listen")
        ))
    })?;
    let local = listener.local_addr()?;
    let public_url = if s.public_url.trim().is_empty() {
        format!("http://{local}")
    } else {
        s.public_url.clone()
    };
    let http = HttpSettings {
        body_limit: s.body_limit_bytes,
        page_cache_ttl: Duration::from_secs(s.page_cache_seconds.into()),
        ..HttpSettings::new(secret, public_url)
    };
    let state = AppState::new(
        wired.service.clone(),
        http,
        Arc::new(DatabaseReadiness(wired.database.clone())),
        wired.metrics.clone(),
    )
    .map_err(|e| CliError::Usage(format!("settings: {e}")))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = s.worker_enabled.then(|| {
        let (timeout, _) = loaded
            .pok_timeouts()
            .unwrap_or((Duration::from_secs(30), Duration::from_secs(5)));
        let config = WorkerConfig {
            id: format!("{}-{}", hostname(), std::process::id()),
            concurrency: s.worker_concurrency.max(1),
            // Longer than any POK call, so that a live worker never loses its job.
            lease: timeout * 2 + Duration::from_secs(30),
            idle_poll: Duration::from_millis(s.worker_idle_ms.max(10)),
            ..WorkerConfig::default()
        };
        tokio::spawn(pok_worker::run(
            wired.service.clone(),
            config,
            stop_rx.clone(),
        ))
    });
    tracing::info!(%local, backend = wired.database.backend_name(), "service listening");
    let mut http_stop = stop_rx.clone();
    let server = pok_http::serve(listener, pok_http::router(state), async move {
        let _ = http_stop.wait_for(|stop| *stop).await;
    });
    let signals = tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    server.await?;
    signals.abort();
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    if let Some(sim) = wired.simulator {
        let _ = sim.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned())
}

/// Ctrl-C, or SIGTERM on Unix (what process managers send).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
