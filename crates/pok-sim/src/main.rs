//! `pok-sim`: runs the POK simulator on a port until Ctrl-C.
//!
//! ```text
//! pok-sim --listen 127.0.0.1:8090 --emit-after-polls 2 --error-rate 0.1 --fault-endpoint issue
//! ```
//! Every flag has an environment variable (`POK_SIM_LISTEN`, ...); `--help` lists them.
//! Faults can be changed while it runs with `PUT /_sim/faults`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pok_sim::{Endpoint, Faults, SimConfig, Simulator, fixtures};

/// An in-memory POK simulator with fault injection.
#[derive(Debug, Parser)]
#[command(name = "pok-sim", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "POK_SIM_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// The API key clients must send (`Authorization: ApiKey <key>`).
    #[arg(long, env = "POK_SIM_API_KEY", default_value = fixtures::API_KEY)]
    api_key: String,
    /// The organisation's credits at start.
    #[arg(long, env = "POK_SIM_CREDITS", default_value_t = fixtures::DEFAULT_CREDITS)]
    credits: i64,
    /// A credential is emitted from the N-th poll (`GET credential/{id}/`) on; 0: at once.
    #[arg(long, env = "POK_SIM_EMIT_AFTER_POLLS", default_value_t = 1)]
    emit_after_polls: u32,
    /// A credential is also emitted this many seconds after its creation.
    #[arg(long, env = "POK_SIM_EMIT_AFTER_SECS")]
    emit_after_secs: Option<f64>,
    /// The URL clients reach the simulator at, for image and preview URLs (default: the
    /// request's Host header).
    #[arg(long, env = "POK_SIM_PUBLIC_URL")]
    public_url: Option<String>,
    /// Seed for the random fault draws.
    #[arg(long, env = "POK_SIM_SEED")]
    seed: Option<u64>,
    /// Milliseconds added to every request.
    #[arg(long, env = "POK_SIM_LATENCY_MS", default_value_t = 0)]
    latency_ms: u64,
    /// Share (0 to 1) of requests answered with --error-status.
    #[arg(long, env = "POK_SIM_ERROR_RATE", default_value_t = 0.0)]
    error_rate: f64,
    /// Status of injected server errors.
    #[arg(long, env = "POK_SIM_ERROR_STATUS", default_value_t = 503)]
    error_status: u16,
    /// Share (0 to 1) of requests answered 429.
    #[arg(long, env = "POK_SIM_TOO_MANY_REQUESTS_RATE", default_value_t = 0.0)]
    too_many_requests_rate: f64,
    /// Retry-After of injected 429s, in seconds.
    #[arg(long, env = "POK_SIM_RETRY_AFTER_SECS", default_value_t = 1)]
    retry_after_secs: u64,
    /// Share (0 to 1) of requests processed and then answered only after --hang-ms.
    #[arg(long, env = "POK_SIM_HANG_RATE", default_value_t = 0.0)]
    hang_rate: f64,
    /// How long a hanging request hangs, in milliseconds.
    #[arg(long, env = "POK_SIM_HANG_MS", default_value_t = 30_000)]
    hang_ms: u64,
    /// Share (0 to 1) of requests processed and answered with truncated JSON.
    #[arg(long, env = "POK_SIM_MALFORMED_RATE", default_value_t = 0.0)]
    malformed_rate: f64,
    /// Share (0 to 1) of requests processed and then cut off mid-answer.
    #[arg(long, env = "POK_SIM_DROP_RATE", default_value_t = 0.0)]
    drop_rate: f64,
    /// At most this many requests per second; more get 429 with Retry-After.
    #[arg(long, env = "POK_SIM_RATE_LIMIT_RPS")]
    rate_limit_rps: Option<u32>,
    /// Restrict faults to this endpoint (repeatable): organization, templates, template,
    /// pages, preview, issue, credential, credential_image.
    #[arg(
        long = "fault-endpoint",
        env = "POK_SIM_FAULT_ENDPOINTS",
        value_delimiter = ','
    )]
    fault_endpoints: Vec<Endpoint>,
    /// Inject at most this many drawn faults (429, 5xx, hang, malformed, drop), then none.
    #[arg(long, env = "POK_SIM_MAX_FAULTS")]
    max_faults: Option<u64>,
}

impl Args {
    fn config(self) -> Result<SimConfig, String> {
        let faults = Faults {
            latency_ms: self.latency_ms,
            error_rate: self.error_rate,
            error_status: self.error_status,
            too_many_requests_rate: self.too_many_requests_rate,
            retry_after_secs: self.retry_after_secs,
            hang_rate: self.hang_rate,
            hang_ms: self.hang_ms,
            malformed_rate: self.malformed_rate,
            drop_rate: self.drop_rate,
            rate_limit_rps: self.rate_limit_rps,
            endpoints: self.fault_endpoints,
            max_faults: self.max_faults,
        };
        faults.validate()?;
        let emit_after = self
            .emit_after_secs
            .map(|s| Duration::try_from_secs_f64(s).map_err(|e| format!("--emit-after-secs: {e}")))
            .transpose()?;
        Ok(SimConfig {
            listen: self.listen,
            api_key: self.api_key,
            credits: self.credits,
            emit_after_polls: Some(self.emit_after_polls),
            emit_after,
            public_url: self.public_url,
            faults,
            seed: self.seed,
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr, so that stdout carries only the lines a script may read (the URL).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = match Args::parse().config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pok-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let api_key = config.api_key.clone();
    let sim = match Simulator::start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("pok-sim: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("pok-sim listening on {}", sim.base_url());
    println!("  API key:  {api_key}");
    println!("  faults:   {}_sim/faults (GET, PUT)", sim.base_url());
    println!("  counters: {}_sim/stats", sim.base_url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("pok-sim: cannot wait for Ctrl-C: {e}");
    }
    match sim.shutdown().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pok-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
