//! The issuing worker: it claims due jobs from the queue and runs
//! [`CertificateService::process_job`] on each, a bounded number at a time.
//!
//! # Layout
//! - [`WorkerConfig`]: who this worker is, how many jobs it runs at once, how long its leases
//!   last and how often it looks at an empty queue.
//! - [`run`]: the loop. It claims only as many jobs as it has free slots, so every job it holds
//!   is running; on shutdown it stops claiming and waits for the running ones to finish (each
//!   is bounded by the POK timeout), so nothing it holds is left half-done. A job whose worker
//!   dies anyway is taken over by another worker when its lease expires, and the domain turns a
//!   certificate found mid-call into `needs-review` rather than sending it twice.
//!
//! The worker holds no business rule: what a job means is decided in the domain crate.

use std::sync::Arc;
use std::time::Duration;

use pok_domain::CertificateService;
use pok_domain::ports::Job;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This worker's name in job leases (host and process id, say), so that an administrator
    /// can see who holds a job.
    pub id: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// How long a claim lasts. Must exceed the longest POK call, or another worker may take
    /// the job while its POK call is still running (the domain copes, but needlessly).
    pub lease: Duration,
    /// How long to wait before looking again at an empty queue.
    pub idle_poll: Duration,
    /// The delay before a job whose run failed for an infrastructure reason (the database) is
    /// tried again.
    pub error_backoff: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            id: format!("worker-{}", std::process::id()),
            concurrency: 8,
            lease: Duration::from_secs(120),
            idle_poll: Duration::from_millis(500),
            error_backoff: Duration::from_secs(30),
        }
    }
}

/// Runs the worker until `shutdown` turns `true`, then waits for the jobs it holds.
pub async fn run(
    service: CertificateService,
    config: WorkerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut running = JoinSet::new();
    tracing::info!(worker = %config.id, concurrency = config.concurrency, "worker started");
    while !*shutdown.borrow() {
        while running.try_join_next().is_some() {}
        let free = u32::try_from(slots.available_permits()).unwrap_or(u32::MAX);
        let claimed = if free == 0 {
            Vec::new()
        } else {
            match service
                .jobs()
                .claim(&config.id, service.now(), config.lease, free)
                .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!(error = %e, "claiming jobs failed");
                    Vec::new()
                }
            }
        };
        let idle = claimed.is_empty();
        for job in claimed {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let service = service.clone();
            let backoff = config.error_backoff;
            running.spawn(async move {
                run_one(&service, &job, backoff).await;
                drop(permit);
            });
        }
        if idle {
            tokio::select! {
                () = tokio::time::sleep(config.idle_poll) => {}
                _ = shutdown.changed() => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
    }
    tracing::info!(worker = %config.id, holding = running.len(), "worker stopping: finishing the jobs it holds");
    while running.join_next().await.is_some() {}
    tracing::info!(worker = %config.id, "worker stopped");
}

/// Runs one job; an infrastructure failure puts the job back for later with the reason.
async fn run_one(service: &CertificateService, job: &Job, backoff: Duration) {
    let span = tracing::info_span!(
        "job",
        id = %job.id,
        kind = job.kind.as_str(),
        certificate = %job.certificate_id
    );
    async {
        match service.process_job(job).await {
            Ok(outcome) => tracing::info!(?outcome, "job done"),
            Err(e) => {
                tracing::error!(error = %e, "job failed; it will run again later");
                let at = service.now() + chrono::Duration::from_std(backoff).unwrap_or_default();
                if let Err(e) = service.jobs().reschedule(job, at, &e.to_string()).await {
                    tracing::error!(error = %e, "could not reschedule the job; its lease will expire");
                }
            }
        }
    }
    .instrument(span)
    .await;
}
