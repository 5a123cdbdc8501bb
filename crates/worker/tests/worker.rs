//! The worker against the domain's in-memory fakes: it issues every queued certificate exactly
//! once with several jobs at a time, and it stops cleanly when told to.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is a failure.

use std::sync::Arc;
use std::time::Duration;

use pok_domain::fakes::{FakePok, FixedClock, MemoryStore, PokCall};
use pok_domain::filters::{CreationRequest, DOWNLOADABLE, IssuingSettings};
use pok_domain::service::CreationAnswer;
use pok_domain::values::{CourseKey, CourseMode, TemplateId, UserId};
use pok_domain::{Actor, CertificateService, StateKind};
use pok_worker::{WorkerConfig, run};
use tokio::sync::watch;

fn service(store: &Arc<MemoryStore>, pok: &Arc<FakePok>) -> CertificateService {
    CertificateService::new(
        store.clone(),
        store.clone(),
        store.clone(),
        pok.clone(),
        Arc::new(FixedClock::default()),
        IssuingSettings {
            default_template: Some(TemplateId::parse("tpl").unwrap()),
            ..IssuingSettings::default()
        },
    )
}

async fn request(service: &CertificateService, user: i64) {
    let req = CreationRequest {
        user_id: Some(UserId::new(user).unwrap()),
        username: format!("learner{user}"),
        email: Some(format!("learner{user}@example.org")),
        full_name: Some("Ada Lovelace".into()),
        course_key: Some(CourseKey::parse("course-v1:OrgX+CS101+2026").unwrap()),
        mode: Some(CourseMode::parse("verified").unwrap()),
        status: DOWNLOADABLE.into(),
        ..CreationRequest::default()
    };
    let answer = service.request_certificate(&req, Actor::Lms).await.unwrap();
    assert!(matches!(answer, CreationAnswer::Enqueued(_)), "{answer:?}");
}

fn config() -> WorkerConfig {
    WorkerConfig {
        id: "test-worker".into(),
        concurrency: 4,
        idle_poll: Duration::from_millis(10),
        ..WorkerConfig::default()
    }
}

#[tokio::test]
async fn every_queued_certificate_is_issued_exactly_once() {
    let store = Arc::new(MemoryStore::new());
    let pok = Arc::new(FakePok::new());
    let service = service(&store, &pok);
    for user in 1..=40 {
        request(&service, user).await;
    }
    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(run(service.clone(), config(), stopped));
    for _ in 0..500 {
        if store
            .all_certificates()
            .iter()
            .all(|c| c.state() == StateKind::Emitted)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("the worker stops when told")
        .unwrap();
    let certs = store.all_certificates();
    assert_eq!(certs.len(), 40);
    assert!(certs.iter().all(|c| c.state() == StateKind::Emitted));
    assert_eq!(
        pok.count(PokCall::Issue),
        40,
        "one POK call per certificate"
    );
    assert!(store.all_jobs().is_empty(), "no job left behind");
}

#[tokio::test]
async fn a_stopped_worker_claims_nothing() {
    let store = Arc::new(MemoryStore::new());
    let pok = Arc::new(FakePok::new());
    let service = service(&store, &pok);
    request(&service, 7).await;
    let (_stop, stopped) = watch::channel(true);
    tokio::time::timeout(Duration::from_secs(5), run(service, config(), stopped))
        .await
        .expect("returns at once");
    assert_eq!(pok.count(PokCall::Issue), 0);
    let jobs = store.all_jobs();
    assert_eq!(jobs.len(), 1, "the job stays queued for another worker");
    assert_eq!(jobs[0].lease_owner, None);
}
