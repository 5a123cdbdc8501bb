//! `--issue-now`: the issuing worker (`pok_worker::run`, the same loop `serve` runs) started in
//! this process, and the wait until the certificates a command recorded have been sent.
//!
//! The worker takes due jobs from the shared queue, so it may also run jobs of the live
//! service; that is safe (leases give each job to one worker) and only helps. It stops once
//! none of *our* certificates waits to be sent: requested, issuing, or failed with a retry
//! scheduled (and, with `--wait-emitted`, processing at POK). Stopping finishes the jobs it
//! holds; anything left in the queue (a later poll, say) is the service's worker's to run.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use clap::Args;
use pok_domain::lifecycle::CertificateId;
use pok_domain::ports::CertificateQuery;
use pok_domain::values::CourseKey;
use pok_domain::{CertificateService, StateKind};
use pok_worker::WorkerConfig;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::commands::Ctx;
use crate::error::CliError;
use crate::output::Progress;

/// Options for issuing from this process.
#[derive(Debug, Clone, Args)]
pub struct DrainArgs {
    /// Send the certificates to POK from this process (the service's worker does it
    /// otherwise), and wait until each has been accepted by POK, has failed for good, or
    /// needs review. Safe while the service runs: each job goes to one worker.
    #[arg(long)]
    pub issue_now: bool,
    /// With --issue-now: also wait until POK has emitted (or rejected) each credential,
    /// instead of leaving the polling to the service's worker.
    #[arg(long, requires = "issue_now")]
    pub wait_emitted: bool,
    /// With --issue-now: stop waiting after this many seconds (default: no limit; Ctrl-C also
    /// stops cleanly). What is left stays queued for the service's worker.
    #[arg(long, value_name = "SECONDS", requires = "issue_now")]
    pub max_wait: Option<u64>,
}

/// The worker running in this process.
pub(crate) struct Worker {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl Worker {
    /// Starts the worker with the service's settings (concurrency, idle poll, lease).
    pub fn start(ctx: &Ctx, service: &CertificateService) -> Self {
        let s = &ctx.loaded.settings;
        let (timeout, _) = ctx
            .loaded
            .pok_timeouts()
            .unwrap_or((Duration::from_secs(30), Duration::from_secs(5)));
        let config = WorkerConfig {
            id: format!("cli-{}", std::process::id()),
            concurrency: s.worker_concurrency.max(1),
            lease: timeout * 2 + Duration::from_secs(30),
            idle_poll: Duration::from_millis(s.worker_idle_ms.clamp(10, 1000)),
            ..WorkerConfig::default()
        };
        let (stop, stopped) = watch::channel(false);
        let handle = tokio::spawn(pok_worker::run(service.clone(), config, stopped));
        Self { stop, handle }
    }

    /// Stops taking jobs and waits for the ones it holds.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

/// Where the certificates stood when the wait ended.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Drained {
    /// How many of the certificates are in each state.
    pub states: BTreeMap<StateKind, u64>,
    /// How many still waited to be sent (or emitted) when the wait ended.
    pub pending: u64,
    /// The wait was cut short by Ctrl-C.
    pub interrupted: bool,
    /// The wait was cut short by --max-wait.
    pub timed_out: bool,
}

impl Drained {
    fn count(&self, state: StateKind) -> u64 {
        self.states.get(&state).copied().unwrap_or(0)
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .states
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        if parts.is_empty() {
            parts.push("nothing".into());
        }
        let mut s = parts.join(", ");
        if self.interrupted {
            let _ = write!(
                s,
                " — interrupted with {} still queued for the service's worker",
                self.pending
            );
        } else if self.timed_out {
            let _ = write!(
                s,
                " — --max-wait reached with {} still queued for the service's worker",
                self.pending
            );
        }
        s
    }

    /// Exit status 1 when something was not issued: interrupted, timed out, failed for good,
    /// needs review or rejected.
    pub fn into_result(self) -> Result<(), CliError> {
        let bad = self.count(StateKind::Failed)
            + self.count(StateKind::NeedsReview)
            + self.count(StateKind::Rejected);
        if self.interrupted || self.timed_out || self.pending > 0 {
            return Err(CliError::failed(format!(
                "stopped before every certificate was sent ({} pending); they stay queued: the service's worker, or the same command again, sends them",
                self.pending
            )));
        }
        if bad > 0 {
            return Err(CliError::failed(format!(
                "{bad} certificate(s) were not issued (failed, needs_review or rejected): see `certificates list --state failed,needs_review,rejected` and `certificates reconcile`"
            )));
        }
        Ok(())
    }
}

/// Records (`run`) and issues in one go: starts the worker, waits, stops it.
pub(crate) async fn issue_now(
    ctx: &Ctx,
    service: &CertificateService,
    ids: &[CertificateId],
    courses: &[CourseKey],
    args: &DrainArgs,
) -> Result<Drained, CliError> {
    let worker = Worker::start(ctx, service);
    let ids: HashSet<CertificateId> = ids.iter().copied().collect();
    let waited = wait(service, &ids, courses, args).await;
    worker.stop().await;
    let mut drained = waited?;
    drained.states = tally(service, &ids, courses).await?;
    Ok(drained)
}

/// The states that still need the worker.
fn waiting_states(args: &DrainArgs) -> Vec<StateKind> {
    let mut states = vec![StateKind::Requested, StateKind::Issuing, StateKind::Failed];
    if args.wait_emitted {
        states.push(StateKind::Processing);
    }
    states
}

/// How many of `ids` still need the worker.
async fn pending(
    service: &CertificateService,
    ids: &HashSet<CertificateId>,
    courses: &[CourseKey],
    states: &[StateKind],
) -> Result<u64, CliError> {
    let mut n = 0u64;
    for course in courses {
        let query = CertificateQuery {
            course_key: Some(course.clone()),
            states: states.to_vec(),
            ..CertificateQuery::default()
        };
        for c in service.certificates().list(&query).await? {
            let waits = c.state() != StateKind::Failed || c.retry_scheduled();
            if waits && ids.contains(&c.id) {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// How many of `ids` are in each state.
pub(crate) async fn tally(
    service: &CertificateService,
    ids: &HashSet<CertificateId>,
    courses: &[CourseKey],
) -> Result<BTreeMap<StateKind, u64>, CliError> {
    let mut states = BTreeMap::new();
    for course in courses {
        let query = CertificateQuery {
            course_key: Some(course.clone()),
            ..CertificateQuery::default()
        };
        for c in service.certificates().list(&query).await? {
            if ids.contains(&c.id) {
                *states.entry(c.state()).or_default() += 1;
            }
        }
    }
    Ok(states)
}

/// Waits (with progress) until none of `ids` needs the worker, Ctrl-C, or --max-wait.
pub(crate) async fn wait(
    service: &CertificateService,
    ids: &HashSet<CertificateId>,
    courses: &[CourseKey],
    args: &DrainArgs,
) -> Result<Drained, CliError> {
    let states = waiting_states(args);
    let total = ids.len() as u64;
    let first = pending(service, ids, courses, &states).await?;
    let mut progress = Progress::new(
        if args.wait_emitted {
            "emitting"
        } else {
            "issuing"
        },
        total,
    )
    .starting_at(total - first.min(total));
    let started = Instant::now();
    let deadline = args.max_wait.map(|s| started + Duration::from_secs(s));
    let mut drained = Drained::default();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        drained.pending = pending(service, ids, courses, &states).await?;
        progress.set(total - drained.pending.min(total), "");
        if drained.pending == 0 {
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            drained.timed_out = true;
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = &mut ctrl_c => {
                drained.interrupted = true;
                break;
            }
        }
    }
    progress.finish(if drained.pending == 0 {
        "done"
    } else {
        "stopped"
    });
    Ok(drained)
}
