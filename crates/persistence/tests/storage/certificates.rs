//! `CertificateRepository`: every call, the uniqueness rule, versions, and all-or-nothing writes.

use std::time::Duration;

use pok_persistence::domain::Error;
use pok_persistence::domain::lifecycle::StateKind;
use pok_persistence::domain::ports::{
    CertificateChange, CertificateQuery, CertificateRepository, Created, JobKind, JobQueue, NewJob,
};
use pok_persistence::domain::retry::RetryPolicy;
use pok_persistence::domain::values::{CredentialId, UserId};
use pok_persistence::domain::{Actor, Certificate, CertificateEvent, CertificateId, GatewayError};
use pok_persistence::testing::TestDatabase;

use crate::common::{at, course, issue_job, requested, t0};

fn admin() -> Actor {
    Actor::Admin("root".into())
}

fn change(certificate: &Certificate, events: Vec<CertificateEvent>) -> CertificateChange {
    CertificateChange {
        certificate: certificate.clone(),
        events,
        complete_job: None,
        enqueue: None,
    }
}

/// Saves a change and mirrors the version bump, as the service does.
async fn save(db: &TestDatabase, change: CertificateChange) -> Certificate {
    let certs: &dyn CertificateRepository = db.database();
    certs.save(&change).await.unwrap();
    let mut c = change.certificate;
    c.version += 1;
    c
}

async fn create(db: &TestDatabase, user: i64, course_n: u32, seconds: i64) -> Certificate {
    let certs: &dyn CertificateRepository = db.database();
    let (c, e) = requested(user, &course(course_n), at(seconds));
    match certs.create(&c, &e, &issue_job(&c)).await.unwrap() {
        Created::New(stored) => stored,
        Created::Existing(_) => panic!("expected a new certificate"),
    }
}

pub async fn create_stores_every_field_and_get_reads_it_back(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    let queue: &dyn JobQueue = db.database();
    let (cert, event) = requested(42, &course(1), t0());
    let created = certs
        .create(&cert, &event, &issue_job(&cert))
        .await
        .unwrap();
    assert_eq!(created, Created::New(cert.clone()));
    assert_eq!(certs.get(cert.id).await.unwrap(), Some(cert.clone()));
    assert_eq!(certs.history(cert.id).await.unwrap(), vec![event.clone()]);
    let jobs = queue
        .claim("w", at(1), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].kind, jobs[0].certificate_id),
        (JobKind::Issue, cert.id)
    );

    // Every lifecycle field: credential, POK state, view URL, emission, revocation.
    let mut c = cert.clone();
    let e1 = c.begin_attempt(at(2)).unwrap();
    let e2 = c
        .accepted(
            CredentialId::parse("cred-1").unwrap(),
            "processing",
            Some("https://pok.example/view/1".into()),
            at(3),
        )
        .unwrap();
    let e3 = c.observe("emitted", None, at(4)).unwrap();
    let e4 = c.revoke("wrong name", at(5), admin()).unwrap();
    let c = save(
        db,
        change(&c, vec![e1.clone(), e2.clone(), e3.clone(), e4.clone()]),
    )
    .await;
    assert_eq!(c.version, 1);
    assert_eq!(certs.get(c.id).await.unwrap(), Some(c.clone()));
    assert_eq!(
        certs.history(c.id).await.unwrap(),
        vec![event, e1, e2, e3, e4]
    );

    // The failure fields: last error and next attempt.
    let mut f = create(db, 42, 2, 0).await;
    let e1 = f.begin_attempt(at(2)).unwrap();
    let e2 = f
        .attempt_failed(
            &GatewayError::retryable("503 from POK", Some(Duration::from_secs(90))),
            &RetryPolicy::default(),
            at(3),
        )
        .unwrap();
    let f = save(db, change(&f, vec![e1, e2])).await;
    assert!(f.lifecycle().next_attempt_at.is_some());
    assert_eq!(f.lifecycle().last_error.as_deref(), Some("503 from POK"));
    assert_eq!(certs.get(f.id).await.unwrap(), Some(f));
    assert_eq!(certs.get(CertificateId::new()).await.unwrap(), None);
}

pub async fn a_second_creation_returns_the_live_certificate(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    let queue: &dyn JobQueue = db.database();
    let first = create(db, 42, 1, 0).await;
    let (again, event) = requested(42, &course(1), at(5));
    let answer = certs
        .create(&again, &event, &issue_job(&again))
        .await
        .unwrap();
    assert_eq!(answer, Created::Existing(first.clone()));
    assert_eq!(certs.get(again.id).await.unwrap(), None);
    assert!(certs.history(again.id).await.unwrap().is_empty());
    assert_eq!(
        queue.count_by_kind().await.unwrap(),
        vec![(JobKind::Issue, 1)]
    );
    assert_eq!(
        certs
            .find_live(UserId::new(42).unwrap(), &course(1))
            .await
            .unwrap(),
        Some(first)
    );
    // Another course, another learner: new certificates.
    create(db, 42, 2, 6).await;
    create(db, 43, 1, 7).await;
    assert_eq!(
        certs
            .find_live(UserId::new(44).unwrap(), &course(1))
            .await
            .unwrap(),
        None
    );
}

pub async fn save_applies_the_change_with_its_history_and_queue_changes(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    let queue: &dyn JobQueue = db.database();
    let mut c = create(db, 42, 1, 0).await;
    let job = queue
        .claim("w", at(1), Duration::from_secs(60), 1)
        .await
        .unwrap()
        .remove(0);
    let e1 = c.begin_attempt(at(2)).unwrap();
    let mut c = save(db, change(&c, vec![e1.clone()])).await;
    let e2 = c
        .accepted(
            CredentialId::parse("cred-7").unwrap(),
            "processing",
            None,
            at(3),
        )
        .unwrap();
    let poll = NewJob {
        kind: JobKind::Refresh,
        certificate_id: c.id,
        run_at: at(60),
        attempts: 1,
    };
    let mut ch = change(&c, vec![e2.clone()]);
    ch.complete_job = Some(job.id);
    ch.enqueue = Some(poll);
    let c = save(db, ch).await;
    assert_eq!(c.version, 2);
    assert_eq!(certs.get(c.id).await.unwrap(), Some(c.clone()));
    assert_eq!(certs.history(c.id).await.unwrap().len(), 3);
    assert_eq!(
        queue.count_by_kind().await.unwrap(),
        vec![(JobKind::Refresh, 1)]
    );
    assert!(
        queue
            .claim("w", at(59), Duration::from_secs(60), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let polls = queue
        .claim("w", at(60), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!((polls.len(), polls[0].attempts), (1, 1));

    // Finishing a job that another worker already removed is not an error.
    let mut ch = change(&c, Vec::new());
    ch.complete_job = Some(job.id);
    let c = save(db, ch).await;
    assert_eq!(certs.get(c.id).await.unwrap().unwrap().version, 3);
}

pub async fn a_stale_version_is_a_conflict_and_changes_nothing(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    let queue: &dyn JobQueue = db.database();
    let c = create(db, 42, 1, 0).await;
    let mut stale = c.clone();
    let mut fresh = c.clone();
    let e = fresh.begin_attempt(at(1)).unwrap();
    let fresh = save(db, change(&fresh, vec![e])).await;

    let e = stale.revoke("too late", at(2), admin()).unwrap();
    let mut ch = change(&stale, vec![e]);
    ch.enqueue = Some(issue_job(&stale));
    let err = certs.save(&ch).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert_eq!(certs.get(c.id).await.unwrap(), Some(fresh));
    assert_eq!(certs.history(c.id).await.unwrap().len(), 2);
    assert_eq!(
        queue.count_by_kind().await.unwrap(),
        vec![(JobKind::Issue, 1)]
    );
}

pub async fn saving_a_missing_certificate_is_not_found(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    let (c, e) = requested(42, &course(1), t0());
    let err = certs.save(&change(&c, vec![e])).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

/// A certificate driven to emitted and saved.
async fn emitted(db: &TestDatabase, user: i64) -> Certificate {
    let mut c = create(db, user, 1, 0).await;
    let e1 = c.begin_attempt(at(1)).unwrap();
    let e2 = c
        .accepted(
            CredentialId::parse("cred-1").unwrap(),
            "emitted",
            None,
            at(2),
        )
        .unwrap();
    save(db, change(&c, vec![e1, e2])).await
}

pub async fn replace_supersedes_the_old_and_records_the_new(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    let queue: &dyn JobQueue = db.database();
    let mut old = emitted(db, 42).await;
    let (new, new_event) = requested(42, &course(1), at(20));
    let old_event = old.supersede(new.id, at(20), admin()).unwrap();
    certs
        .replace(
            &change(&old, vec![old_event.clone()]),
            &new,
            &new_event,
            &issue_job(&new),
        )
        .await
        .unwrap();
    old.version += 1;
    let stored_old = certs.get(old.id).await.unwrap().unwrap();
    assert_eq!(stored_old, old);
    assert_eq!(stored_old.state(), StateKind::Superseded);
    assert_eq!(stored_old.lifecycle().superseded_by, Some(new.id));
    assert_eq!(certs.get(new.id).await.unwrap(), Some(new.clone()));
    assert_eq!(
        certs
            .find_live(UserId::new(42).unwrap(), &course(1))
            .await
            .unwrap(),
        Some(new.clone())
    );
    assert_eq!(
        certs.history(old.id).await.unwrap().last(),
        Some(&old_event)
    );
    assert_eq!(certs.history(new.id).await.unwrap(), vec![new_event]);
    assert_eq!(
        queue.count_by_kind().await.unwrap(),
        vec![(JobKind::Issue, 2)]
    );
    // The superseded certificate no longer blocks a creation, the new one does.
    let (third, e) = requested(42, &course(1), at(30));
    assert_eq!(
        certs.create(&third, &e, &issue_job(&third)).await.unwrap(),
        Created::Existing(new)
    );
}

pub async fn replace_from_a_stale_version_leaves_nothing_behind(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    let queue: &dyn JobQueue = db.database();
    let current = emitted(db, 42).await;
    let mut stale = current.clone();
    stale.version = 0;
    let (new, new_event) = requested(42, &course(1), at(20));
    let old_event = stale.supersede(new.id, at(20), admin()).unwrap();
    let err = certs
        .replace(
            &change(&stale, vec![old_event]),
            &new,
            &new_event,
            &issue_job(&new),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert_eq!(certs.get(current.id).await.unwrap(), Some(current.clone()));
    assert_eq!(certs.get(new.id).await.unwrap(), None);
    assert_eq!(certs.history(current.id).await.unwrap().len(), 3);
    assert_eq!(
        queue.count_by_kind().await.unwrap(),
        vec![(JobKind::Issue, 1)]
    );
}

pub async fn replace_that_would_leave_two_live_certificates_is_refused(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    let current = emitted(db, 42).await;
    let mut revoked = current.clone();
    let e = revoked
        .revoke("not superseded, still live", at(20), admin())
        .unwrap();
    let (new, new_event) = requested(42, &course(1), at(20));
    let err = certs
        .replace(
            &change(&revoked, vec![e]),
            &new,
            &new_event,
            &issue_job(&new),
        )
        .await
        .unwrap_err();
    match err {
        Error::Conflict(why) => assert!(why.contains("live certificate"), "{why}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The old certificate's change was rolled back with the failed insert.
    assert_eq!(certs.get(current.id).await.unwrap(), Some(current));
    assert_eq!(certs.get(new.id).await.unwrap(), None);
}

pub async fn a_create_that_fails_half_way_leaves_nothing_behind(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    let queue: &dyn JobQueue = db.database();
    let (c, e) = requested(42, &course(1), t0());
    // The job is the last insert; it names a certificate that does not exist.
    let mut job = issue_job(&c);
    job.certificate_id = CertificateId::new();
    let err = certs.create(&c, &e, &job).await.unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err:?}");
    assert_eq!(certs.get(c.id).await.unwrap(), None);
    assert!(certs.history(c.id).await.unwrap().is_empty());
    assert!(queue.count_by_kind().await.unwrap().is_empty());
    assert!(certs.count_by_state().await.unwrap().is_empty());
    // Nothing holds the learner's slot either.
    assert_eq!(
        certs.create(&c, &e, &issue_job(&c)).await.unwrap(),
        Created::New(c)
    );
}

pub async fn a_save_that_fails_half_way_leaves_nothing_behind(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    let queue: &dyn JobQueue = db.database();
    let c = create(db, 42, 1, 0).await;
    let job = queue
        .claim("w", at(1), Duration::from_secs(60), 1)
        .await
        .unwrap()
        .remove(0);
    let mut next = c.clone();
    let e = next.begin_attempt(at(2)).unwrap();
    let mut ch = change(&next, vec![e]);
    ch.complete_job = Some(job.id);
    // The last statement fails: a job for a certificate that does not exist.
    ch.enqueue = Some(NewJob {
        kind: JobKind::Refresh,
        certificate_id: CertificateId::new(),
        run_at: at(3),
        attempts: 0,
    });
    let err = certs.save(&ch).await.unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err:?}");
    assert_eq!(certs.get(c.id).await.unwrap(), Some(c.clone()));
    assert_eq!(certs.history(c.id).await.unwrap().len(), 1);
    assert_eq!(
        queue.count_by_kind().await.unwrap(),
        vec![(JobKind::Issue, 1)],
        "the completed job is back"
    );
    // And the same change without the bad job goes through.
    ch.enqueue = None;
    certs.save(&ch).await.unwrap();
}

pub async fn list_filters_and_puts_the_newest_first(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    let u1c1 = create(db, 1, 1, 1).await;
    let u1c2 = create(db, 1, 2, 2).await;
    let mut u2c1 = create(db, 2, 1, 3).await;
    // Same instant as `u2c1`: the insertion order breaks the tie.
    let u3c1 = create(db, 3, 1, 3).await;
    let event = u2c1.begin_attempt(at(4)).unwrap();
    let u2c1 = save(db, change(&u2c1, vec![event])).await;

    let ids = |v: Vec<Certificate>| v.into_iter().map(|cert| cert.id).collect::<Vec<_>>();
    let list = |q: CertificateQuery| async move { ids(certs.list(&q).await.unwrap()) };
    assert_eq!(
        list(CertificateQuery::default()).await,
        vec![u3c1.id, u2c1.id, u1c2.id, u1c1.id]
    );
    assert_eq!(
        list(CertificateQuery {
            course_key: Some(course(1)),
            ..CertificateQuery::default()
        })
        .await,
        vec![u3c1.id, u2c1.id, u1c1.id]
    );
    assert_eq!(
        list(CertificateQuery {
            states: vec![StateKind::Issuing],
            ..CertificateQuery::default()
        })
        .await,
        vec![u2c1.id]
    );
    assert_eq!(
        list(CertificateQuery {
            states: vec![StateKind::Requested, StateKind::Emitted],
            ..CertificateQuery::default()
        })
        .await,
        vec![u3c1.id, u1c2.id, u1c1.id]
    );
    assert_eq!(
        list(CertificateQuery {
            user_id: Some(UserId::new(1).unwrap()),
            ..CertificateQuery::default()
        })
        .await,
        vec![u1c2.id, u1c1.id]
    );
    assert_eq!(
        list(CertificateQuery {
            limit: Some(2),
            ..CertificateQuery::default()
        })
        .await,
        vec![u3c1.id, u2c1.id]
    );
    assert_eq!(
        list(CertificateQuery {
            course_key: Some(course(1)),
            user_id: Some(UserId::new(1).unwrap()),
            states: vec![StateKind::Requested],
            limit: Some(10),
        })
        .await,
        vec![u1c1.id]
    );
    // Whole certificates come back, not just ids.
    let all = certs.list(&CertificateQuery::default()).await.unwrap();
    assert_eq!(all[1], u2c1);
}

pub async fn history_is_oldest_first(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    let mut c = create(db, 42, 1, 0).await;
    let e1 = c.begin_attempt(at(2)).unwrap();
    let mut c = save(db, change(&c, vec![e1])).await;
    // Two lines at the same instant keep their order.
    let e2 = c.interrupted(at(3)).unwrap();
    let e3 = c.retry(at(3), admin()).unwrap();
    let c = save(db, change(&c, vec![e2, e3])).await;
    let states: Vec<(Option<StateKind>, StateKind)> = certs
        .history(c.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.from, e.to))
        .collect();
    assert_eq!(
        states,
        vec![
            (None, StateKind::Requested),
            (Some(StateKind::Requested), StateKind::Issuing),
            (Some(StateKind::Issuing), StateKind::NeedsReview),
            (Some(StateKind::NeedsReview), StateKind::Requested),
        ]
    );
    let history = certs.history(c.id).await.unwrap();
    assert_eq!(history[3].actor, admin());
}

pub async fn counts_by_state(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    assert!(certs.count_by_state().await.unwrap().is_empty());
    create(db, 1, 1, 0).await;
    create(db, 2, 1, 0).await;
    let mut c = create(db, 3, 1, 0).await;
    let e = c.begin_attempt(at(1)).unwrap();
    save(db, change(&c, vec![e])).await;
    assert_eq!(
        certs.count_by_state().await.unwrap(),
        vec![(StateKind::Requested, 2), (StateKind::Issuing, 1)]
    );
}

pub async fn an_unknown_stored_state_is_an_error_naming_the_row(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    let c = create(db, 42, 1, 0).await;
    db.execute_sql(&format!(
        "UPDATE certificates SET state = 'lost' WHERE id = '{}'",
        c.id
    ))
    .await
    .unwrap();
    for err in [
        certs.get(c.id).await.unwrap_err(),
        certs.list(&CertificateQuery::default()).await.unwrap_err(),
    ] {
        let Error::Storage(why) = err else {
            panic!("expected a storage error, got {err:?}");
        };
        assert!(
            why.contains(&c.id.to_string()) && why.contains("lost"),
            "{why}"
        );
    }
    let err = certs.count_by_state().await.unwrap_err();
    assert!(err.to_string().contains("lost"), "{err}");
}
