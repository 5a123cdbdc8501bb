//! `pok-bench`: measures what the LMS and an operator feel, and prints it beside the targets
//! of issue 8 (`docs/performance.md` records a run with the machine and the command).
//!
//! # Layout
//! - `creation`: the creation filter's latency (p50, p99) and throughput at 1, 10 and 100
//!   concurrent callers, POK answering at once and after 2 s, beside a synchronous baseline
//!   route that calls `PokGateway::issue` while the caller waits (what the existing Python
//!   plugin does inside the LMS request).
//! - `render`: the render filter and the public page of an emitted certificate beside a bare
//!   axum route, then the same work without TCP, the use cases alone and single storage reads,
//!   to show where the time goes; `sqlite_limit` checks one cost the profile found.
//! - `backfill`: 10,000 learners against the simulator's rate limit, through the real
//!   `openedx-pok certificates backfill --issue-now` (or the worker in this process): achieved
//!   rate as a share of the limit, and duplicates.
//! - `memory`: resident memory of the real `openedx-pok serve` process under 200 concurrent
//!   keep-alive connections.
//! - `support`: load generators, the simulator with its log of issuing calls, the in-process
//!   service, and the verdicts.
//!
//! The creation and render benchmarks run the service in this process (on a temporary SQLite
//! file unless `--database` says otherwise), so their numbers compare with each other; the
//! back-fill and memory benchmarks run the release binary next to this one as a subprocess.

mod backfill;
mod creation;
mod memory;
mod render;
mod sqlite_limit;
mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use crate::support::{Res, ServiceOpts, Verdicts};

/// A benchmark to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    /// Creation filter latency and throughput beside the synchronous baseline.
    Creation,
    /// Render of an emitted certificate beside a bare axum route, with a breakdown.
    Render,
    /// Back-fill against POK's rate limit.
    Backfill,
    /// Resident memory of `openedx-pok serve` under many connections.
    Memory,
    /// All of the above, in that order.
    All,
}

/// Measures the service against the POK simulator and prints the numbers beside the targets.
#[derive(Debug, Parser)]
#[command(name = "pok-bench")]
#[allow(clippy::struct_field_names)]
struct Args {
    /// Which benchmarks to run.
    #[arg(value_enum, default_values_t = [Which::All])]
    which: Vec<Which>,

    /// Creation: requests to the service per (latency, callers).
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Creation: concurrent callers, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    concurrency: Vec<usize>,
    /// Creation: POK latencies in milliseconds, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "0,2000")]
    pok_latency_ms: Vec<u64>,
    /// Creation: synchronous baseline requests per caller (each waits for POK).
    #[arg(long, default_value_t = 10)]
    sync_rounds: usize,
    /// Creation: open-loop arrival rates (requests per second), comma separated; empty for
    /// none.
    #[arg(long, value_delimiter = ',', default_value = "20,200")]
    open_rates: Vec<f64>,
    /// Creation: seconds of each open-loop measurement.
    #[arg(long, default_value_t = 10)]
    open_seconds: u64,

    /// Render: seconds of each measurement.
    #[arg(long, default_value_t = 5)]
    render_seconds: u64,
    /// Render: concurrent callers.
    #[arg(long, default_value_t = 32)]
    render_concurrency: usize,
    /// Render: other certificates stored before measuring.
    #[arg(long, default_value_t = 2000)]
    render_rows: usize,

    /// Back-fill: learners.
    #[arg(long, default_value_t = 10_000)]
    learners: usize,
    /// Back-fill: the simulator's rate limit, in calls per second.
    #[arg(long, default_value_t = 50)]
    rate_limit: u32,
    /// Back-fill: the worker's concurrency (default: enough calls in flight to fill the
    /// limit at the simulated latency, rate limit x latency).
    #[arg(long)]
    backfill_worker_concurrency: Option<usize>,
    /// Back-fill: drive the real CLI, the worker in this process, or pick (auto).
    #[arg(long, value_enum, default_value_t = backfill::Mode::Auto)]
    backfill_mode: backfill::Mode,
    /// Back-fill: do not tell the binary the simulator's limit (by default it runs with
    /// OPENEDX_POK_RATE_LIMIT set to --rate-limit, so that its POK client spaces its calls).
    #[arg(long)]
    no_client_rate_limit: bool,

    /// Memory: concurrent keep-alive connections.
    #[arg(long, default_value_t = 200)]
    connections: usize,
    /// Memory: seconds of load.
    #[arg(long, default_value_t = 30)]
    memory_seconds: u64,
    /// Memory: an extra environment variable for `openedx-pok serve`, KEY=VALUE (repeat), e.g.
    /// MALLOC_ARENA_MAX=2 or OPENEDX_POK_DATABASE_POOL_SIZE=4.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_env)]
    serve_env: Vec<(String, String)>,

    /// POK latency of the render, back-fill and memory benchmarks, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    latency_ms: u64,
    /// The `openedx-pok` binary (default: next to this one, e.g. target/release/).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// In-process service: database connections (the service's default is 8).
    #[arg(long, default_value_t = 8)]
    pool_size: u32,
    /// In-process service: jobs the worker runs at once (the service's default is 8); 0 runs
    /// no worker (to see what the worker's writes cost the filters).
    #[arg(long, default_value_t = 8)]
    worker_concurrency: usize,
    /// In-process service: the database (default: a temporary SQLite file per benchmark).
    #[arg(long)]
    database: Option<String>,
}

impl Args {
    fn wants(&self, w: Which) -> bool {
        self.which.contains(&Which::All) || self.which.contains(&w)
    }

    fn binary(&self) -> Res<PathBuf> {
        if let Some(b) = &self.binary {
            return Ok(b.clone());
        }
        let me = std::env::current_exe()?;
        Ok(me.with_file_name(format!("openedx-pok{}", std::env::consts::EXE_SUFFIX)))
    }

    fn service(&self) -> ServiceOpts {
        ServiceOpts {
            database: self.database.clone(),
            pool_size: self.pool_size,
            worker_concurrency: self.worker_concurrency,
        }
    }
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE (got {s:?})"))
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), load average {load}")
}

#[tokio::main]
async fn main() -> Res<()> {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    let binary = args.binary()?;
    println!("pok-bench: {}", machine());
    println!(
        "  build: {}; in-process database: {}",
        if cfg!(debug_assertions) {
            "DEBUG (numbers are meaningless: use --release)"
        } else {
            "release"
        },
        args.database.as_deref().unwrap_or("temporary SQLite file")
    );
    let started = Instant::now();
    let mut verdicts = Verdicts::default();
    if args.wants(Which::Creation) {
        let opts = creation::CreationOpts {
            requests: args.requests,
            concurrency: args.concurrency.clone(),
            latencies_ms: args.pok_latency_ms.clone(),
            sync_rounds: args.sync_rounds,
            open_rates: args.open_rates.clone(),
            open_seconds: args.open_seconds,
            service: args.service(),
        };
        creation::run(&opts, &http, &mut verdicts).await?;
    }
    if args.wants(Which::Render) {
        let opts = render::RenderOpts {
            seconds: args.render_seconds,
            callers: args.render_concurrency,
            rows: args.render_rows,
            latency_ms: args.latency_ms,
            service: args.service(),
        };
        render::run(&opts, &http, &mut verdicts).await?;
    }
    if args.wants(Which::Backfill) {
        let fill = u64::from(args.rate_limit) * args.latency_ms.max(1);
        let concurrency = args.backfill_worker_concurrency.unwrap_or_else(|| {
            usize::try_from(fill.div_ceil(1000))
                .unwrap_or(usize::MAX)
                .max(1)
        });
        let expected = args.learners as u64 / u64::from(args.rate_limit.max(1));
        let opts = backfill::BackfillOpts {
            learners: args.learners,
            rate_limit: args.rate_limit.max(1),
            latency_ms: args.latency_ms,
            worker_concurrency: concurrency,
            client_rate_limit: !args.no_client_rate_limit,
            mode: args.backfill_mode,
            binary: binary.clone(),
            max_wait: Duration::from_secs(expected * 3 + 120),
        };
        backfill::run(&opts, &mut verdicts).await?;
    }
    if args.wants(Which::Memory) {
        let opts = memory::MemoryOpts {
            connections: args.connections,
            seconds: args.memory_seconds,
            latency_ms: args.latency_ms,
            binary,
            extra_env: args.serve_env.clone(),
        };
        memory::run(&opts, &http, &mut verdicts).await?;
    }
    verdicts.print();
    println!(
        "\npok-bench done in {:.0} s; {}",
        started.elapsed().as_secs_f64(),
        machine()
    );
    Ok(())
}
