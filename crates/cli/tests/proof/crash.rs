//! Crash recovery: a service killed with SIGKILL in the middle of issuing, restarted on the
//! same database.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pok_sim::{Endpoint, Faults, SimConfig};
use serde_json::Value;

use crate::common::{COURSE, Service, TestDb, simulator};
use crate::{count_states, eventually};

/// Learners asked for before the crash.
const LEARNERS: i64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_killed_while_issuing_loses_no_request_and_issues_none_twice() {
    let db = TestDb::sqlite();
    // POK takes 500 ms per credential and cuts a fifth of its answers after creating the
    // credential ("accept then drop"), before and after the crash.
    let faults = Faults {
        latency_ms: 500,
        drop_rate: 0.2,
        ..Faults::none()
    }
    .only(&[Endpoint::Issue]);
    let sim = simulator(SimConfig {
        faults,
        seed: Some(8),
        ..SimConfig::default()
    })
    .await;
    // A 2 s POK timeout makes the lease of a job 34 s: the restarted service takes over the
    // jobs the dead one held after that.
    let env = [
        ("POK_TIMEOUT", "2"),
        ("POK_CONNECT_TIMEOUT", "1"),
        ("OPENEDX_POK_WORKER_CONCURRENCY", "4"),
    ];
    let mut first = Service::launch(&sim, db.url(), &env).await;
    for user in 1..=LEARNERS {
        let answer = first
            .create(user, &format!("Crash{user} Ravenscroft"))
            .await;
        assert_eq!(answer["outcome"], "enqueued", "learner {user}: {answer}");
    }

    // Kill it right after an issuing request reached POK, so that at least that one is in
    // flight (POK holds each for 500 ms), with most of the work still to do.
    let start = Instant::now();
    let mut seen = sim.stats().requests_to(Endpoint::Issue);
    loop {
        let now = sim.stats().requests_to(Endpoint::Issue);
        if now >= 8 && now > seen {
            break;
        }
        seen = now;
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the worker never started issuing; log:\n{}",
            first.logs()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill();
    let sent_before_crash = sim.stats().requests_to(Endpoint::Issue);
    assert!(
        sent_before_crash < LEARNERS.unsigned_abs(),
        "the crash came too late to prove anything"
    );

    let second = Service::launch(&sim, db.url(), &env).await;
    let rows = eventually(
        Duration::from_secs(150),
        Duration::from_secs(1),
        "every certificate is emitted or needs review",
        || async {
            let rows = second.certificates().await;
            let settled = rows
                .iter()
                .all(|r| r["state"] == "emitted" || r["state"] == "needs_review");
            if rows.len() == usize::try_from(LEARNERS).unwrap() && settled {
                Ok(rows)
            } else {
                Err(format!("{} rows: {:?}", rows.len(), count_states(&rows)))
            }
        },
    )
    .await;

    // None lost: one certificate per learner who asked.
    let by_user: BTreeMap<i64, &Value> = rows
        .iter()
        .map(|r| (r["user_id"].as_i64().unwrap(), r))
        .collect();
    assert_eq!(
        by_user.keys().copied().collect::<Vec<_>>(),
        (1..=LEARNERS).collect::<Vec<_>>()
    );
    // None issued twice, and nothing was sent blindly a second time.
    let stats = sim.stats();
    for tags in &stats.credentials_by_tags {
        assert_eq!(tags.count, 1, "issued more than once: {tags:?}");
    }
    assert!(
        stats.requests_to(Endpoint::Issue) <= LEARNERS.unsigned_abs(),
        "a certificate was sent to POK twice: {} issuing requests for {LEARNERS} learners",
        stats.requests_to(Endpoint::Issue)
    );
    // Emitted means POK has exactly that credential; a credential POK created but that we
    // could not confirm (answer cut, or the crash) waits for a person as needs-review.
    let mut review = Vec::new();
    let mut unknown_locally = 0;
    for (user, row) in &by_user {
        let at_pok = stats.created_for(&user.to_string(), COURSE);
        if row["state"] == "emitted" {
            assert_eq!(at_pok, 1, "learner {user} emitted without a credential");
        } else {
            assert_eq!(row["state"], "needs_review", "learner {user}: {row}");
            unknown_locally += at_pok;
            review.push(*user);
        }
    }
    assert!(
        review.len() < by_user.len(),
        "nothing was emitted: {:?}",
        count_states(&rows)
    );
    assert!(
        unknown_locally > 0,
        "no credential created at POK was left unconfirmed: the faults did not act"
    );

    // Each needs-review certificate says why; the one in flight at the crash was found.
    let mut interrupted = 0;
    for user in &review {
        let detail = second.show(*user).await;
        let why = detail["last_error"].as_str().unwrap_or_default();
        assert!(!why.is_empty(), "learner {user}: {detail}");
        if why.contains("interrupted") {
            interrupted += 1;
        }
    }
    assert!(
        interrupted > 0,
        "no certificate was found interrupted by the crash"
    );
    eprintln!(
        "crash: {sent_before_crash} issuing requests before the kill, {} in all; states {:?}; \
         {} needs review ({interrupted} interrupted by the crash, {unknown_locally} with a \
         credential at POK)",
        stats.requests_to(Endpoint::Issue),
        count_states(&rows),
        review.len()
    );

    // What the learners see: a delay page with a reference, or their certificate.
    let waiting = second.render(review[0]).await;
    assert_eq!(waiting["status"], 503, "{waiting}");
    assert!(
        waiting["body"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("reference")
    );
    let emitted = by_user
        .iter()
        .find(|(_, r)| r["state"] == "emitted")
        .map(|(u, _)| *u)
        .unwrap();
    second.wait_emitted(emitted).await;

    for svc in [&first, &second] {
        svc.assert_logs_clean(&["@example.org".into(), "Ravenscroft".into()]);
    }
}
