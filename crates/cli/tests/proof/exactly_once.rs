//! Exactly once: concurrent duplicate calls, and replicas sharing one database.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use pok_sim::{Endpoint, SimConfig};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::common::{Backend, COURSE, SECRET, Service, TestDb, creation, simulator};
use crate::{count_states, eventually, metric};

/// POSTs a creation body with the shared secret; returns the status and the answer.
async fn post_creation(http: reqwest::Client, base: String, body: Value) -> (u16, Value) {
    let r = http
        .post(format!("{base}/v1/filters/certificate-creation-requested"))
        .bearer_auth(SECRET)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// 50 creation calls at once for the same learner and course (a double click, an LMS retry
/// storm): one certificate, one credential at POK, one issuing request, one row.
async fn fifty_concurrent_creations(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = simulator(SimConfig::default()).await;
    let svc = Service::launch(&sim, db.url(), &[("POK_TIMEOUT", "10")]).await;
    let user = 4242;

    let mut calls = JoinSet::new();
    for _ in 0..50 {
        calls.spawn(post_creation(
            svc.http.clone(),
            svc.base.clone(),
            creation(user, "Ada Zweistein"),
        ));
    }
    let answers = calls.join_all().await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let ids: BTreeSet<&str> = answers
        .iter()
        .map(|(_, a)| a["certificate_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "every caller gets the same certificate");
    let outcomes = |o: &str| answers.iter().filter(|(_, a)| a["outcome"] == o).count();
    assert_eq!(
        (outcomes("enqueued"), outcomes("already_requested")),
        (1, 49)
    );

    svc.wait_emitted(user).await;
    let stats = sim.stats();
    assert_eq!(stats.created_for(&user.to_string(), COURSE), 1);
    assert_eq!(stats.credentials_created, 1);
    assert_eq!(
        stats.requests_to(Endpoint::Issue),
        1,
        "one issuing request was sent"
    );
    let rows = svc.certificates().await;
    assert_eq!(rows.len(), 1, "one certificate row: {rows:?}");
    assert_eq!(rows[0]["id"], json!(ids.first().unwrap()));
    assert_eq!(rows[0]["user_id"], user);
    assert_eq!(rows[0]["state"], "emitted");
    svc.assert_logs_clean(&["@example.org".into(), "Zweistein".into()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_creations_give_one_credential_and_one_row_on_sqlite() {
    fifty_concurrent_creations(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_creations_give_one_credential_and_one_row_on_postgres() {
    fifty_concurrent_creations(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_creations_give_one_credential_and_one_row_on_mariadb() {
    fifty_concurrent_creations(Backend::Mysql).await;
}

/// Learners issued together by the replicas.
const LEARNERS: i64 = 1000;

/// Two service processes started together on one database (they migrate it in turn), the
/// creation calls spread over both, both workers issuing: every learner gets exactly one
/// credential and every row ends emitted.
async fn two_replicas_issue_each_certificate_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = simulator(SimConfig {
        credits: 10 * LEARNERS,
        ..SimConfig::default()
    })
    .await;
    let env = [("POK_TIMEOUT", "10")];
    let (a, b) = tokio::join!(
        Service::launch(&sim, db.url(), &env),
        Service::launch(&sim, db.url(), &env)
    );

    let slots = Arc::new(Semaphore::new(16));
    let mut calls = JoinSet::new();
    for user in 1..=LEARNERS {
        let svc = if user % 2 == 0 { &a } else { &b };
        let permit = Arc::clone(&slots).acquire_owned().await.unwrap();
        let call = post_creation(
            svc.http.clone(),
            svc.base.clone(),
            creation(user, &format!("Replica{user} Quillfeather")),
        );
        calls.spawn(async move {
            let answer = call.await;
            drop(permit);
            (user, answer)
        });
    }
    for (user, (status, answer)) in calls.join_all().await {
        assert_eq!(status, 200, "learner {user}: {answer}");
        assert_eq!(answer["outcome"], "enqueued", "learner {user}: {answer}");
    }

    let rows = eventually(
        Duration::from_secs(240),
        Duration::from_secs(2),
        "every certificate is emitted",
        || async {
            let rows = a.certificates().await;
            let done = rows.len() == usize::try_from(LEARNERS).unwrap()
                && rows.iter().all(|r| r["state"] == "emitted");
            if done {
                Ok(rows)
            } else {
                Err(format!("{} rows: {:?}", rows.len(), count_states(&rows)))
            }
        },
    )
    .await;

    let users: BTreeSet<i64> = rows
        .iter()
        .map(|r| r["user_id"].as_i64().unwrap())
        .collect();
    assert_eq!(users, (1..=LEARNERS).collect(), "one row per learner");
    let expected = LEARNERS.unsigned_abs();
    let stats = sim.stats();
    assert_eq!(stats.credentials_created, expected);
    assert_eq!(stats.credentials_by_tags.len(), rows.len());
    for tags in &stats.credentials_by_tags {
        assert_eq!(tags.count, 1, "issued more than once: {tags:?}");
        assert_eq!(tags.course_id.as_deref(), Some(COURSE));
    }
    assert_eq!(
        stats.requests_to(Endpoint::Issue),
        expected,
        "no issuing request was ever sent twice"
    );
    // Both replicas issued, and their issuing calls add up to one per learner.
    let series = r#"openedx_pok_pok_calls_total{endpoint="issue",outcome="ok"}"#;
    let (by_a, by_b) = (
        metric(&a.metrics().await, series),
        metric(&b.metrics().await, series),
    );
    assert!(
        by_a > 0 && by_b > 0,
        "a replica stayed idle: {by_a} + {by_b}"
    );
    assert_eq!(by_a + by_b, expected);

    for svc in [&a, &b] {
        svc.assert_logs_clean(&["@example.org".into(), "Quillfeather".into()]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_database_issue_1000_certificates_each_exactly_once() {
    two_replicas_issue_each_certificate_once(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_mariadb_database_issue_1000_certificates_each_exactly_once() {
    two_replicas_issue_each_certificate_once(Backend::Mysql).await;
}
