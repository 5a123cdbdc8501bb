//! Races: duplicate creations, two workers on one queue, concurrent saves of one version.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pok_persistence::domain::Actor;
use pok_persistence::domain::Error;
use pok_persistence::domain::ports::{
    CertificateChange, CertificateQuery, CertificateRepository, Created, JobKind, JobQueue, NewJob,
};
use pok_persistence::domain::values::UserId;
use pok_persistence::testing::TestDatabase;
use tokio::sync::Barrier;

use crate::common::{at, course, issue_job, requested, t0};

pub async fn fifty_concurrent_creations_make_one_certificate(db: &TestDatabase) {
    const CALLERS: usize = 50;
    let barrier = Arc::new(Barrier::new(CALLERS));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|i| {
            let db = db.database().clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let (c, e) = requested(7, &course(1), at(i64::try_from(i).unwrap()));
                barrier.wait().await;
                CertificateRepository::create(&db, &c, &e, &issue_job(&c))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    eprintln!(
        "{}: {CALLERS} concurrent creations in {:?}",
        db.backend_name(),
        started.elapsed()
    );
    let winners: Vec<_> = answers
        .iter()
        .filter_map(|a| match a {
            Created::New(c) => Some(c.id),
            Created::Existing(_) => None,
        })
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one caller records the certificate"
    );
    for answer in &answers {
        let (Created::New(c) | Created::Existing(c)) = answer;
        assert_eq!(c.id, winners[0], "every caller sees the row that won");
    }
    let certs: &dyn CertificateRepository = db.database();
    let stored = certs
        .list(&CertificateQuery {
            user_id: Some(UserId::new(7).unwrap()),
            ..CertificateQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(certs.history(winners[0]).await.unwrap().len(), 1);
    let queue: &dyn JobQueue = db.database();
    assert_eq!(
        queue.count_by_kind().await.unwrap(),
        vec![(JobKind::Issue, 1)]
    );
}

pub async fn two_workers_claim_a_thousand_jobs_exactly_once(db: &TestDatabase) {
    const JOBS: usize = 1000;
    let certs: &dyn CertificateRepository = db.database();
    let (c, e) = requested(42, &course(1), t0());
    certs.create(&c, &e, &issue_job(&c)).await.unwrap();
    // 999 more, enqueued by a few tasks at once to keep the set-up short.
    let started = Instant::now();
    let fillers: Vec<_> = (0..8)
        .map(|part| {
            let db = db.database().clone();
            tokio::spawn(async move {
                for n in (1..JOBS).filter(|n| n % 8 == part) {
                    let job = NewJob {
                        kind: JobKind::Refresh,
                        certificate_id: c.id,
                        run_at: at(i64::try_from(n % 5).unwrap()),
                        attempts: 0,
                    };
                    JobQueue::enqueue(&db, &job).await.unwrap();
                }
            })
        })
        .collect();
    for f in fillers {
        f.await.unwrap();
    }
    let enqueued = started.elapsed();

    let barrier = Arc::new(Barrier::new(2));
    let started = Instant::now();
    let workers: Vec<_> = ["worker-a", "worker-b"]
        .into_iter()
        .map(|name| {
            let db = db.database().clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let mut claimed = Vec::new();
                loop {
                    let jobs = JobQueue::claim(&db, name, at(10), Duration::from_secs(600), 7)
                        .await
                        .unwrap();
                    if jobs.is_empty() {
                        return claimed;
                    }
                    assert!(jobs.iter().all(|j| j.lease_owner.as_deref() == Some(name)));
                    claimed.extend(jobs.into_iter().map(|j| j.id));
                }
            })
        })
        .collect();
    let mut per_worker = Vec::new();
    for w in workers {
        per_worker.push(w.await.unwrap());
    }
    eprintln!(
        "{}: {JOBS} jobs enqueued in {enqueued:?}, claimed in {:?} ({} by worker-a, {} by worker-b)",
        db.backend_name(),
        started.elapsed(),
        per_worker[0].len(),
        per_worker[1].len()
    );
    let all: Vec<_> = per_worker.concat();
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), JOBS, "every job claimed");
    assert_eq!(unique.len(), JOBS, "no job claimed twice");
    let queue: &dyn JobQueue = db.database();
    assert!(
        queue
            .claim("worker-c", at(10), Duration::from_secs(60), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn concurrent_saves_of_one_version_let_exactly_one_win(db: &TestDatabase) {
    const WRITERS: usize = 10;
    let certs: &dyn CertificateRepository = db.database();
    let (c, e) = requested(42, &course(1), t0());
    certs.create(&c, &e, &issue_job(&c)).await.unwrap();
    let barrier = Arc::new(Barrier::new(WRITERS));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let db = db.database().clone();
            let barrier = barrier.clone();
            let mut mine = c.clone();
            tokio::spawn(async move {
                let event = mine
                    .revoke(
                        &format!("writer {i}"),
                        at(1),
                        Actor::Admin(format!("admin{i}")),
                    )
                    .unwrap();
                let change = CertificateChange {
                    certificate: mine,
                    events: vec![event],
                    complete_job: None,
                    enqueue: Some(NewJob {
                        kind: JobKind::Refresh,
                        certificate_id: c.id,
                        run_at: at(2),
                        attempts: 0,
                    }),
                };
                barrier.wait().await;
                CertificateRepository::save(&db, &change).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(Error::Conflict(_))))
    );
    let stored = certs.get(c.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(certs.history(c.id).await.unwrap().len(), 2);
    let queue: &dyn JobQueue = db.database();
    assert_eq!(
        queue.count_by_kind().await.unwrap(),
        vec![(JobKind::Issue, 1), (JobKind::Refresh, 1)]
    );
}
