//! Back-fill of many learners against POK's rate limit.
//!
//! The simulator answers every call after the POK latency and accepts at most `rate_limit`
//! calls a second (a token bucket holding one second of calls; the rest get 429 with
//! `Retry-After`). Every issuing call is logged with the time of its answer and its status,
//! so the achieved rate is read from what POK saw, not from what the client believes.
//!
//! The binary is told the limit (`OPENEDX_POK_RATE_LIMIT`, as an operator who knows POK's
//! limit would set it), so its POK client spaces its calls instead of running into 429s;
//! `--no-client-rate-limit` measures it without.
//!
//! Two ways to drive it:
//! - **cli** (preferred): the real admin binary as a subprocess,
//!   `openedx-pok courses link ...` then
//!   `openedx-pok --format json certificates backfill --csv FILE --rate 0 --issue-now`
//!   (records every line, runs the service's worker in that process until all are sent);
//! - **worker**: the service's worker in this process, after recording the learners with
//!   `CertificateService::request_certificate`, when the binary is missing or lacks the
//!   command.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use pok_domain::Actor;
use pok_http::filters::CreationBody;
use pok_sim::fixtures;
use serde_json::Value;

use crate::support::{
    BACKFILL_COURSE, InProcess, Res, ServiceOpts, Sim, Verdicts, creation_body, users,
};

/// How the back-fill is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// The CLI when the binary has `certificates backfill`, else the worker.
    Auto,
    /// `openedx-pok certificates backfill --issue-now` as a subprocess.
    Cli,
    /// The service's worker in this process.
    Worker,
}

/// What the back-fill benchmark runs.
#[derive(Debug, Clone)]
pub struct BackfillOpts {
    /// Learners to back-fill.
    pub learners: usize,
    /// The simulator's limit, in calls per second.
    pub rate_limit: u32,
    /// POK latency.
    pub latency_ms: u64,
    /// Jobs the worker runs at once (`OPENEDX_POK_WORKER_CONCURRENCY`).
    pub worker_concurrency: usize,
    /// Whether the binary's POK client is told the simulator's limit
    /// (`OPENEDX_POK_RATE_LIMIT`); CLI mode only.
    pub client_rate_limit: bool,
    /// CLI or worker.
    pub mode: Mode,
    /// The `openedx-pok` binary.
    pub binary: PathBuf,
    /// Give up waiting after this long.
    pub max_wait: Duration,
}

/// The environment of a subprocess: only what the settings need, so that no stray
/// `OPENEDX_POK_*` variable of the caller changes the measurement.
pub fn service_env(sim: &Sim, db: &Path) -> Vec<(String, String)> {
    vec![
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("DATABASE_URL".into(), format!("sqlite://{}", db.display())),
        ("POK_API_URL".into(), sim.base_url.clone()),
        ("POK_API_KEY".into(), sim.handle.api_key().to_owned()),
    ]
}

/// Links `course` to the simulator's graded template through the real binary, filling its two
/// parameters from the grade and the course title: what an administrator does before a
/// back-fill, and what the memory benchmark needs before creation calls are accepted.
pub async fn link_graded_course(
    binary: &Path,
    course: &str,
    env: &[(String, String)],
    dir: &Path,
) -> Res<()> {
    let param_grade = format!("{}=grade", fixtures::PARAM_GRADE_LABEL);
    let param_course = format!("{}=course_title", fixtures::PARAM_COURSE_LABEL);
    let args = [
        "courses",
        "link",
        course,
        fixtures::TEMPLATE_GRADED,
        "--param",
        &param_grade,
        "--param",
        &param_course,
    ];
    let (ok, _, err) = run_cli(binary, &args, env, dir).await?;
    if !ok {
        return Err(format!("`openedx-pok courses link` failed: {err}").into());
    }
    Ok(())
}

/// Runs `binary args` with `env` in `dir` (off the async threads); returns status, stdout,
/// stderr.
pub async fn run_cli(
    binary: &Path,
    args: &[&str],
    env: &[(String, String)],
    dir: &Path,
) -> Res<(bool, String, String)> {
    let mut cmd = Command::new(binary);
    cmd.args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(dir)
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || cmd.output()).await??;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// Whether `binary` exists and knows `certificates backfill --issue-now`.
async fn cli_available(binary: &Path) -> bool {
    if !binary.is_file() {
        return false;
    }
    let dir = std::env::temp_dir();
    match run_cli(
        binary,
        &["certificates", "backfill", "--help"],
        &[("PATH".into(), std::env::var("PATH").unwrap_or_default())],
        &dir,
    )
    .await
    {
        Ok((ok, out, _)) => ok && out.contains("--issue-now"),
        Err(_) => false,
    }
}

const NAMES: &[&str] = &[
    "Ada Lovelace",
    "José María García Pérez",
    "Grace Brewster Hopper",
    "Ludwig van Beethoven",
    "Nguyễn Thị Minh Khai",
];

fn write_csv(path: &Path, first: u64, n: usize) -> Res<()> {
    let mut csv = String::from("user_id,username,email,full_name,course_key,mode,grade,language\n");
    for i in 0..n {
        let user = first + i as u64;
        let _ = writeln!(
            csv,
            "{user},learner{user},learner{user}@example.org,{},{BACKFILL_COURSE},verified,0.93,{}",
            NAMES[i % NAMES.len()],
            if i % 2 == 0 { "es" } else { "en" }
        );
    }
    std::fs::write(path, csv)?;
    Ok(())
}

/// Drives the back-fill through the real binary; returns the wall time of the back-fill
/// command and a description of its outcome.
async fn through_cli(opts: &BackfillOpts, sim: &Sim) -> Res<(Duration, String)> {
    let dir = tempfile::tempdir()?;
    let mut env = service_env(sim, &dir.path().join("backfill.sqlite3"));
    env.push((
        "OPENEDX_POK_WORKER_CONCURRENCY".into(),
        opts.worker_concurrency.to_string(),
    ));
    let mut shown_env = format!("OPENEDX_POK_WORKER_CONCURRENCY={}", opts.worker_concurrency);
    if opts.client_rate_limit {
        env.push(("OPENEDX_POK_RATE_LIMIT".into(), opts.rate_limit.to_string()));
        let _ = write!(shown_env, " OPENEDX_POK_RATE_LIMIT={}", opts.rate_limit);
    }
    link_graded_course(&opts.binary, BACKFILL_COURSE, &env, dir.path()).await?;
    let csv = dir.path().join("learners.csv");
    write_csv(&csv, users(opts.learners), opts.learners)?;
    sim.set(opts.latency_ms, Some(opts.rate_limit));
    let csv_arg = csv.display().to_string();
    let max_wait = opts.max_wait.as_secs().to_string();
    let args = [
        "--format",
        "json",
        "certificates",
        "backfill",
        "--csv",
        &csv_arg,
        "--rate",
        "0",
        "--issue-now",
        "--max-wait",
        &max_wait,
    ];
    println!(
        "  command: {shown_env} {} {}",
        opts.binary.display(),
        args.join(" ")
    );
    let started = Instant::now();
    let (ok, out, err) = run_cli(&opts.binary, &args, &env, dir.path()).await?;
    let wall = started.elapsed();
    let report: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    let outcome = if report.is_null() {
        format!(
            "exit {}, no JSON report; stderr: {}",
            if ok { "0" } else { "non-zero" },
            err.lines().last().unwrap_or_default()
        )
    } else {
        format!(
            "exit {}; recorded {}, already {}, issuing states {}, pending {}",
            if ok { "0" } else { "non-zero" },
            report["recorded"],
            report["already"],
            report["issuing"]["states"],
            report["issuing"]["pending"],
        )
    };
    Ok((wall, outcome))
}

/// Drives the back-fill through the service's worker in this process.
async fn through_worker(opts: &BackfillOpts, sim: &Sim) -> Res<(Duration, String)> {
    let service_opts = ServiceOpts {
        database: None,
        pool_size: 8,
        worker_concurrency: opts.worker_concurrency,
    };
    let bench = InProcess::start(sim, &service_opts, &[BACKFILL_COURSE]).await?;
    sim.set(opts.latency_ms, Some(opts.rate_limit));
    let started = Instant::now();
    let first = users(opts.learners);
    let mut recorded = 0usize;
    for i in 0..opts.learners {
        let body: CreationBody =
            serde_json::from_value(creation_body(first + i as u64, BACKFILL_COURSE))?;
        let request = body.into_request()?;
        bench
            .service
            .request_certificate(&request, Actor::Admin("bench".into()))
            .await?;
        recorded += 1;
    }
    let deadline = started + opts.max_wait;
    loop {
        let ok = sim
            .issues
            .entries()
            .iter()
            .filter(|(_, s)| (200..300).contains(s))
            .count();
        if ok >= opts.learners || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let wall = started.elapsed();
    let states = bench.service.certificates().count_by_state().await?;
    bench.stop().await;
    Ok((wall, format!("recorded {recorded}; states {states:?}")))
}

/// Runs the back-fill benchmark and prints its lines.
pub async fn run(opts: &BackfillOpts, verdicts: &mut Verdicts) -> Res<()> {
    println!(
        "\n# Back-fill of {} learners: POK latency {} ms, rate limit {}/s, worker concurrency {}, client rate limit {}",
        opts.learners,
        opts.latency_ms,
        opts.rate_limit,
        opts.worker_concurrency,
        if opts.client_rate_limit {
            format!("{}/s", opts.rate_limit)
        } else {
            "off".to_owned()
        }
    );
    let mode = match opts.mode {
        Mode::Auto if cli_available(&opts.binary).await => Mode::Cli,
        Mode::Auto => {
            println!(
                "  {} is missing or has no `certificates backfill --issue-now`: measuring the worker in this process",
                opts.binary.display()
            );
            Mode::Worker
        }
        other => other,
    };
    let sim = Sim::start().await?;
    let (wall, outcome) = if mode == Mode::Cli {
        println!("  driving the real binary: {}", opts.binary.display());
        through_cli(opts, &sim).await?
    } else {
        println!(
            "  driving the service's worker in this process (request_certificate, then the worker drains the queue)"
        );
        if opts.client_rate_limit {
            println!(
                "  note: the in-process worker's POK client has no rate limit (only the binary reads OPENEDX_POK_RATE_LIMIT)"
            );
        }
        through_worker(opts, &sim).await?
    };
    println!("  outcome: {outcome}");
    let entries = {
        let mut e = sim.issues.entries();
        e.sort_by_key(|(t, _)| *t);
        e
    };
    let ok: Vec<Instant> = entries
        .iter()
        .filter(|(_, s)| (200..300).contains(s))
        .map(|(t, _)| *t)
        .collect();
    let limited = entries.iter().filter(|(_, s)| *s == 429).count();
    let other = entries.len() - ok.len() - limited;
    let (dupes, at_pok) = sim.duplicates(BACKFILL_COURSE);
    let limit = f64::from(opts.rate_limit);
    #[allow(clippy::cast_precision_loss)]
    let rate_between = |a: usize, b: usize| -> f64 {
        let span = ok[b].duration_since(ok[a]).as_secs_f64();
        if span > 0.0 {
            (b - a) as f64 / span
        } else {
            0.0
        }
    };
    let n = ok.len();
    println!(
        "  issuing calls answered by the simulator: {n} accepted, {limited} refused with 429, {other} other"
    );
    println!(
        "  credentials at the simulator for the course: {at_pok} for {} learners; learners with more than one: {dupes}",
        opts.learners
    );
    if n < 2 {
        verdicts.push(
            "back-fill rate / rate limit",
            "no credential issued",
            ">= 95 %",
            Some(false),
        );
        return Ok(());
    }
    let whole = rate_between(0, n - 1);
    let steady = rate_between(n / 10, n * 9 / 10);
    #[allow(clippy::cast_precision_loss)]
    let end_to_end = n as f64 / wall.as_secs_f64();
    println!(
        "  first to last credential: {:.1} s, {whole:.2}/s = {:.1} % of the limit",
        ok[n - 1].duration_since(ok[0]).as_secs_f64(),
        whole / limit * 100.0
    );
    println!(
        "  steady part (10th to 90th percentile of credentials): {steady:.2}/s = {:.1} % of the limit",
        steady / limit * 100.0
    );
    println!(
        "  whole command (start-up, recording, issuing, final wait): {:.1} s, {end_to_end:.2} credentials/s = {:.1} % of the limit",
        wall.as_secs_f64(),
        end_to_end / limit * 100.0
    );
    let mut per = String::new();
    let bucket = Duration::from_secs(20);
    let mut start = ok[0];
    let mut count = 0usize;
    for t in &ok {
        while t.duration_since(start) >= bucket {
            #[allow(clippy::cast_precision_loss)]
            let _ = write!(per, " {:.1}", count as f64 / bucket.as_secs_f64());
            start += bucket;
            count = 0;
        }
        count += 1;
    }
    println!("  credentials/s per 20 s from the first one:{per} (then {count} in the last part)");
    let share = whole.min(steady) / limit * 100.0;
    verdicts.push(
        format!(
            "back-fill ({}) rate / rate limit {}/s (lower of whole, steady)",
            if mode == Mode::Cli { "CLI" } else { "worker" },
            opts.rate_limit
        ),
        format!("{:.2}/s = {share:.1} %", whole.min(steady)),
        ">= 95 %",
        Some(share >= 95.0),
    );
    verdicts.push(
        "back-fill duplicates (learners with two credentials)",
        format!("{dupes} ({at_pok} credentials, {} learners)", opts.learners),
        "0",
        Some(dupes == 0 && usize::try_from(at_pok).is_ok_and(|c| c <= opts.learners)),
    );
    verdicts.push(
        "back-fill whole command rate / rate limit (no target)",
        format!("{end_to_end:.2}/s = {:.1} %", end_to_end / limit * 100.0),
        "-",
        None,
    );
    Ok(())
}
