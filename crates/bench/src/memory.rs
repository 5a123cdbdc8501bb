//! Resident memory of the real service process under many concurrent keep-alive connections.
//!
//! Starts `openedx-pok serve` (worker on, defaults otherwise) on a temporary SQLite file,
//! pointed at this process's simulator, links a course, then opens `connections` keep-alive
//! connections (one HTTP/1.1 client each) that send requests back to back for `seconds`: per
//! ten requests, one creation filter call for a new learner, then the render filter and the
//! public page of that learner's certificate in turn. `VmRSS`, `VmHWM`, the threads and the
//! open descriptors of the process are read from `/proc/PID/` every 100 ms.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::backfill::{link_graded_course, service_env};
use crate::support::{
    COURSE, CREATION_PATH, RENDER_PATH, Res, SECRET, Sim, Verdicts, creation_body, timed_loop,
    users,
};

/// What the memory benchmark runs.
#[derive(Debug, Clone)]
pub struct MemoryOpts {
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Seconds of load.
    pub seconds: u64,
    /// POK latency.
    pub latency_ms: u64,
    /// The `openedx-pok` binary.
    pub binary: PathBuf,
    /// Extra environment for `serve` (`--serve-env`).
    pub extra_env: Vec<(String, String)>,
}

/// One reading of `/proc/PID/`.
#[derive(Debug, Clone, Copy, Default)]
struct Reading {
    at: Duration,
    rss_kib: u64,
    hwm_kib: u64,
    threads: u64,
    fds: u64,
}

fn read_proc(pid: u32, at: Duration) -> Option<Reading> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    Some(Reading {
        at,
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        threads: field("Threads:"),
        fds,
    })
}

fn mib(kib: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let k = kib as f64;
    k / 1024.0
}

fn mb(kib: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let k = kib as f64;
    k * 1024.0 / 1e6
}

/// Stops the service with SIGTERM (as an orchestrator would), then kills it if it is still
/// there after 20 s.
async fn stop(mut child: Child) -> Res<()> {
    let pid = child.id().to_string();
    let _ = tokio::task::spawn_blocking(move || {
        Command::new("kill")
            .args(["-TERM", &pid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    })
    .await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        if Instant::now() > deadline {
            child.kill()?;
            let _ = tokio::task::spawn_blocking(move || child.wait()).await?;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_healthy(http: &reqwest::Client, base: &str, child: &mut Child) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(format!("the service exited at start-up ({status}); see its log").into());
        }
        if http
            .get(format!("{base}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the service did not answer /health within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn spawn_serve(binary: &Path, env: &[(String, String)], dir: &Path) -> Res<Child> {
    let log = std::fs::File::create(dir.join("serve.log"))?;
    Ok(Command::new(binary)
        .arg("serve")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?)
}

/// What a connection knows about its current learner.
#[derive(Debug, Clone, Default)]
struct Learner {
    user: u64,
    certificate: String,
}

/// One request of connection `caller`'s cycle.
async fn step(
    client: reqwest::Client,
    base: Arc<String>,
    learner: Arc<Mutex<Learner>>,
    i: usize,
) -> bool {
    let current = learner
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if i.is_multiple_of(10) || current.certificate.is_empty() {
        let user = users(1);
        let Ok(r) = client
            .post(format!("{base}{CREATION_PATH}"))
            .bearer_auth(SECRET)
            .json(&creation_body(user, COURSE))
            .send()
            .await
        else {
            return false;
        };
        let Ok(answer) = r.json::<Value>().await else {
            return false;
        };
        let Some(id) = answer["certificate_id"].as_str() else {
            return false;
        };
        *learner.lock().unwrap_or_else(PoisonError::into_inner) = Learner {
            user,
            certificate: id.to_owned(),
        };
        return true;
    }
    let sent = if i % 2 == 1 {
        client
            .post(format!("{base}{RENDER_PATH}"))
            .bearer_auth(SECRET)
            .json(&json!({"course_key": COURSE, "user_id": current.user, "language": "es"}))
            .send()
            .await
    } else {
        client
            .get(format!("{base}/certificates/{}", current.certificate))
            .send()
            .await
    };
    match sent {
        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
        _ => false,
    }
}

/// Runs the memory benchmark and prints its lines.
pub async fn run(opts: &MemoryOpts, http: &reqwest::Client, verdicts: &mut Verdicts) -> Res<()> {
    println!(
        "\n# Resident memory of `openedx-pok serve` under {} concurrent keep-alive connections ({} s, POK latency {} ms)",
        opts.connections, opts.seconds, opts.latency_ms
    );
    if !opts.binary.is_file() {
        println!(
            "  SKIPPED: {} is missing (cargo build --release -p openedx-pok)",
            opts.binary.display()
        );
        verdicts.push("service resident memory", "not measured", "<= 60 MB", None);
        return Ok(());
    }
    let sim = Sim::start().await?;
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut env = service_env(&sim, &dir.path().join("memory.sqlite3"));
    env.extend([
        ("OPENEDX_POK_SECRET".to_owned(), SECRET.to_owned()),
        ("OPENEDX_POK_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
    ]);
    link_graded_course(&opts.binary, COURSE, &env, dir.path()).await?;
    sim.set(opts.latency_ms, None);
    env.extend(opts.extra_env.iter().cloned());
    let mut child = spawn_serve(&opts.binary, &env, dir.path())?;
    let pid = child.id();
    println!(
        "  {} serve (pid {pid}), defaults but for DATABASE_URL, POK_API_URL/KEY, OPENEDX_POK_SECRET, OPENEDX_POK_LISTEN{}; log level info",
        opts.binary.display(),
        opts.extra_env
            .iter()
            .fold(String::new(), |mut acc, (k, v)| {
                let _ = write!(acc, ", {k}={v}");
                acc
            })
    );
    if let Err(e) = wait_healthy(http, &base, &mut child).await {
        let _ = stop(child).await;
        return Err(e);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let origin = Instant::now();
    let idle = read_proc(pid, Duration::ZERO).ok_or("cannot read /proc/PID/status")?;

    let readings = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (readings, done) = (Arc::clone(&readings), Arc::clone(&done));
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Some(r) = read_proc(pid, origin.elapsed()) {
                    readings
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(r);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let mut clients = Vec::with_capacity(opts.connections);
    for _ in 0..opts.connections {
        clients.push(
            reqwest::Client::builder()
                .http1_only()
                .pool_max_idle_per_host(1)
                .build()?,
        );
    }
    let clients = Arc::new(clients);
    let learners: Arc<Vec<Arc<Mutex<Learner>>>> = Arc::new(
        (0..opts.connections)
            .map(|_| Arc::new(Mutex::new(Learner::default())))
            .collect(),
    );
    let load_start = origin.elapsed();
    let shared_base = Arc::new(base.clone());
    let sample = timed_loop(
        Duration::from_secs(opts.seconds),
        opts.connections,
        move |caller, i| {
            step(
                clients[caller].clone(),
                Arc::clone(&shared_base),
                Arc::clone(&learners[caller]),
                i,
            )
        },
    )
    .await;
    let load_end = origin.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let after = read_proc(pid, origin.elapsed()).unwrap_or_default();
    stop(child).await?;

    let readings = readings
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let during: Vec<Reading> = readings
        .iter()
        .filter(|r| r.at >= load_start && r.at <= load_end)
        .copied()
        .collect();
    let peak_rss = readings.iter().map(|r| r.rss_kib).max().unwrap_or(0);
    let hwm = readings
        .iter()
        .map(|r| r.hwm_kib)
        .max()
        .unwrap_or(0)
        .max(after.hwm_kib);
    let peak_fds = during.iter().map(|r| r.fds).max().unwrap_or(0);
    let peak_threads = during.iter().map(|r| r.threads).max().unwrap_or(0);
    let half = load_start + load_end.saturating_sub(load_start) / 2;
    let mut steady: Vec<u64> = during
        .iter()
        .filter(|r| r.at >= half)
        .map(|r| r.rss_kib)
        .collect();
    steady.sort_unstable();
    let steady_median = steady.get(steady.len() / 2).copied().unwrap_or(0);
    println!(
        "{}",
        sample.line(&format!(
            "load: {} connections, 1 creation + 9 renders/pages per 10",
            opts.connections
        ))
    );
    println!(
        "  open descriptors in the service at peak: {peak_fds} (sockets + files); threads at peak: {peak_threads}"
    );
    println!(
        "  VmRSS idle before load: {:.1} MiB ({:.1} MB)",
        mib(idle.rss_kib),
        mb(idle.rss_kib)
    );
    println!(
        "  VmRSS steady (median of the second half of the load): {:.1} MiB ({:.1} MB)",
        mib(steady_median),
        mb(steady_median)
    );
    println!(
        "  VmRSS peak sampled: {:.1} MiB ({:.1} MB); VmHWM (kernel's peak): {:.1} MiB ({:.1} MB)",
        mib(peak_rss),
        mb(peak_rss),
        mib(hwm),
        mb(hwm)
    );
    println!(
        "  VmRSS 5 s after the load: {:.1} MiB ({:.1} MB)",
        mib(after.rss_kib),
        mb(after.rss_kib)
    );
    let peak = hwm.max(peak_rss);
    verdicts.push(
        format!(
            "service peak resident memory (VmHWM), {} connections",
            opts.connections
        ),
        format!("{:.1} MB ({:.1} MiB)", mb(peak), mib(peak)),
        "<= 60 MB",
        Some(mb(peak) <= 60.0 && sample.errors == 0),
    );
    verdicts.push(
        "service steady resident memory under load",
        format!(
            "{:.1} MB ({:.1} MiB)",
            mb(steady_median),
            mib(steady_median)
        ),
        "<= 60 MB",
        Some(mb(steady_median) <= 60.0),
    );
    Ok(())
}
