//! `JobQueue`: leases, release, reschedule, completion, order and limits.

use std::time::Duration;

use pok_persistence::domain::Certificate;
use pok_persistence::domain::CertificateId;
use pok_persistence::domain::Error;
use pok_persistence::domain::ports::{CertificateRepository, Created, JobKind, JobQueue, NewJob};
use pok_persistence::testing::TestDatabase;

use crate::common::{at, course, issue_job, requested, t0};

const LEASE: Duration = Duration::from_secs(30);

/// A certificate with its issue job due at `t0`.
async fn certificate(db: &TestDatabase) -> Certificate {
    let certs: &dyn CertificateRepository = db.database();
    let (c, e) = requested(42, &course(1), t0());
    assert!(matches!(
        certs.create(&c, &e, &issue_job(&c)).await.unwrap(),
        Created::New(_)
    ));
    c
}

pub async fn a_job_goes_through_claim_release_reschedule_and_complete(db: &TestDatabase) {
    let queue: &dyn JobQueue = db.database();
    let c = certificate(db).await;

    let job = queue.claim("w1", at(1), LEASE, 10).await.unwrap().remove(0);
    assert_eq!(job.kind, JobKind::Issue);
    assert_eq!(job.certificate_id, c.id);
    assert_eq!(job.run_at, t0());
    assert_eq!(job.attempts, 0);
    assert_eq!(job.lease_owner.as_deref(), Some("w1"));
    assert_eq!(job.lease_expires_at, Some(at(31)));
    assert_eq!(job.last_error, None);
    assert!(
        queue
            .claim("w2", at(2), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );

    queue.release(&job).await.unwrap();
    let again = queue.claim("w2", at(3), LEASE, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].id, again[0].lease_owner.as_deref()),
        (job.id, Some("w2"))
    );

    queue
        .reschedule(&again[0], at(100), "database timeout")
        .await
        .unwrap();
    assert!(
        queue
            .claim("w3", at(99), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let later = queue
        .claim("w3", at(100), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(later.id, job.id);
    assert_eq!(later.run_at, at(100));
    assert_eq!(later.last_error.as_deref(), Some("database timeout"));

    queue.complete(&later).await.unwrap();
    assert!(queue.count_by_kind().await.unwrap().is_empty());
    // A job that is already gone: nothing to do, no error.
    queue.complete(&later).await.unwrap();
    queue.release(&later).await.unwrap();
    queue.reschedule(&later, at(200), "x").await.unwrap();
    assert!(queue.count_by_kind().await.unwrap().is_empty());

    let id = queue
        .enqueue(&NewJob {
            kind: JobKind::Refresh,
            certificate_id: c.id,
            run_at: at(5),
            attempts: 3,
        })
        .await
        .unwrap();
    assert_eq!(
        queue.count_by_kind().await.unwrap(),
        vec![(JobKind::Refresh, 1)]
    );
    let polled = queue.claim("w4", at(300), LEASE, 10).await.unwrap();
    assert_eq!(polled.len(), 1);
    assert_eq!(
        (polled[0].id, polled[0].kind, polled[0].attempts),
        (id, JobKind::Refresh, 3)
    );
}

pub async fn an_expired_lease_is_claimed_again(db: &TestDatabase) {
    let queue: &dyn JobQueue = db.database();
    certificate(db).await;
    let first = queue.claim("crashed", at(1), LEASE, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        queue
            .claim("w2", at(30), LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    let taken = queue.claim("w2", at(31), LEASE, 1).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, first[0].id);
    assert_eq!(taken[0].lease_owner.as_deref(), Some("w2"));
    assert_eq!(taken[0].lease_expires_at, Some(at(61)));
    assert!(
        queue
            .claim("w3", at(60), LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn claims_take_due_jobs_in_order_up_to_the_maximum(db: &TestDatabase) {
    let queue: &dyn JobQueue = db.database();
    let c = certificate(db).await;
    for seconds in [5, 1, 3, 100] {
        queue
            .enqueue(&NewJob {
                kind: JobKind::Refresh,
                certificate_id: c.id,
                run_at: at(seconds),
                attempts: 0,
            })
            .await
            .unwrap();
    }
    assert!(queue.claim("w", at(10), LEASE, 0).await.unwrap().is_empty());
    let run_ats = |jobs: Vec<pok_persistence::domain::ports::Job>| {
        jobs.into_iter().map(|j| j.run_at).collect::<Vec<_>>()
    };
    assert_eq!(
        run_ats(queue.claim("w", at(10), LEASE, 2).await.unwrap()),
        vec![t0(), at(1)]
    );
    assert_eq!(
        run_ats(queue.claim("w", at(10), LEASE, 10).await.unwrap()),
        vec![at(3), at(5)]
    );
    assert!(
        queue
            .claim("w", at(10), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        queue.count_by_kind().await.unwrap(),
        vec![(JobKind::Issue, 1), (JobKind::Refresh, 4)]
    );
}

pub async fn enqueueing_for_a_missing_certificate_is_not_found(db: &TestDatabase) {
    let queue: &dyn JobQueue = db.database();
    let err = queue
        .enqueue(&NewJob {
            kind: JobKind::Issue,
            certificate_id: CertificateId::new(),
            run_at: t0(),
            attempts: 0,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert!(queue.count_by_kind().await.unwrap().is_empty());
}

pub async fn a_worker_whose_lease_expired_cannot_change_the_job_another_worker_holds(
    db: &TestDatabase,
) {
    let queue: &dyn JobQueue = db.database();
    certificate(db).await;
    let stale = queue.claim("w1", at(1), LEASE, 10).await.unwrap().remove(0);
    // w1's lease (30 s) runs out while it works; w2 takes the job over.
    let current = queue
        .claim("w2", at(40), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(current.id, stale.id);

    // Late answers from w1 change nothing: the job stays w2's, due when it was.
    queue.reschedule(&stale, at(500), "late").await.unwrap();
    queue.release(&stale).await.unwrap();
    queue.complete(&stale).await.unwrap();
    assert!(
        queue
            .claim("w3", at(41), LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "w2 still holds the job"
    );
    assert_eq!(
        queue.count_by_kind().await.unwrap(),
        vec![(JobKind::Issue, 1)]
    );

    // w2's own changes apply.
    queue
        .reschedule(&current, at(60), "w2 failed")
        .await
        .unwrap();
    let next = queue
        .claim("w3", at(60), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(next.last_error.as_deref(), Some("w2 failed"));
    queue.complete(&next).await.unwrap();
    assert!(queue.count_by_kind().await.unwrap().is_empty());
}
