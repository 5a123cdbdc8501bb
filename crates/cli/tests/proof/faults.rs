//! POK's faults: what is safe to retry is retried a bounded number of times and then stays
//! failed with the reason (a 429 is first sent again by the POK client itself, after the pause
//! POK asked for); what may have created a credential is never sent again and waits for a
//! person; a permanent refusal is not retried.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use pok_sim::{Endpoint, Faults, SimConfig};
use serde_json::Value;

use crate::common::{COURSE, Service};
use crate::eventually;

/// Personal data of the learners of this module, which no log may hold.
fn personal() -> Vec<String> {
    vec!["@example.org".into(), "Faultline".into()]
}

/// A service whose simulator injects `faults` into issuing requests only. POK calls may take
/// 10 s (unless `env` says otherwise), so that a slow machine is not mistaken for a fault.
async fn service(faults: Faults, env: &[(&str, &str)]) -> Service {
    let mut all = vec![("POK_TIMEOUT", "10")];
    all.extend_from_slice(env);
    Service::start(
        SimConfig {
            faults: faults.only(&[Endpoint::Issue]),
            ..SimConfig::default()
        },
        &all,
    )
    .await
}

/// Asks for a certificate for `user`, then waits until `certificates show` reports it at
/// rest (no attempt planned, nothing in progress) and checks that it rests in `state`;
/// returns what it shows.
async fn request_and_settle(svc: &Service, user: i64, state: &str) -> Value {
    let answer = svc.create(user, &format!("Learner{user} Faultline")).await;
    assert_eq!(answer["outcome"], "enqueued", "{answer}");
    let detail = eventually(
        Duration::from_secs(60),
        Duration::from_millis(300),
        "the certificate is at rest",
        || async {
            let detail = svc.show(user).await;
            let moving = ["requested", "issuing", "processing"]
                .iter()
                .any(|s| detail["state"] == *s);
            if moving || !detail["next_attempt_at"].is_null() {
                Err(detail.to_string())
            } else {
                Ok(detail)
            }
        },
    )
    .await;
    assert_eq!(detail["state"], state, "{detail}");
    detail
}

/// Issuing requests POK received.
fn issue_requests(svc: &Service) -> u64 {
    svc.sim.stats().requests_to(Endpoint::Issue)
}

/// Waits longer than the retry delay (1 s in these tests) and checks that POK received no
/// further issuing request.
async fn assert_no_more_attempts(svc: &Service, expected: u64) {
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(issue_requests(svc), expected, "POK was asked again");
}

/// The history lines that moved the certificate to `state`.
fn events_to<'a>(detail: &'a Value, state: &str) -> Vec<&'a Value> {
    detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"] == state)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pok_503s_are_retried_a_bounded_number_of_times_then_stay_failed_with_the_reason() {
    let faults = Faults {
        error_rate: 1.0,
        error_status: 503,
        ..Faults::none()
    };
    let svc = service(faults, &[("OPENEDX_POK_RETRY_MAX_ATTEMPTS", "3")]).await;
    let detail = request_and_settle(&svc, 31, "failed").await;

    assert_eq!(detail["attempts"], 3, "{detail}");
    assert_eq!(issue_requests(&svc), 3);
    let why = detail["last_error"].as_str().unwrap();
    assert!(why.contains("HTTP 503"), "{why}");
    assert_eq!(events_to(&detail, "failed").len(), 3, "{detail}");
    // Administrators find it among the failed certificates.
    let failed = svc
        .admin_json(&["certificates", "list", "--state", "failed"])
        .await;
    assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
    assert_eq!(failed[0]["id"], detail["id"]);
    assert_no_more_attempts(&svc, 3).await;
    assert_eq!(svc.sim.stats().credentials_created, 0);
    svc.assert_logs_clean(&personal());
}

/// `2026-11-25 16:27:33.123456 UTC`, as the history's reasons print times.
fn parse_reason_time(text: &str) -> DateTime<Utc> {
    let naive =
        NaiveDateTime::parse_from_str(text.trim().trim_end_matches(" UTC"), "%Y-%m-%d %H:%M:%S%.f")
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
    naive.and_utc()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pok_429s_are_retried_no_sooner_than_retry_after_then_stay_failed_with_the_reason() {
    let faults = Faults {
        too_many_requests_rate: 1.0,
        retry_after_secs: 2,
        ..Faults::none()
    };
    // Our own delay is 1 s; POK asks for 2 s.
    let svc = service(faults, &[("OPENEDX_POK_RETRY_MAX_ATTEMPTS", "3")]).await;
    let detail = request_and_settle(&svc, 32, "failed").await;

    assert_eq!(detail["attempts"], 3, "{detail}");
    // Each attempt: the POK client sends the refused request twice more after POK's pause
    // (`issue_retries_after_429`), then gives the 429 to the domain.
    assert_eq!(issue_requests(&svc), 3 * 3);
    let why = detail["last_error"].as_str().unwrap();
    assert!(why.contains("HTTP 429"), "{why}");
    // Each planned retry honours Retry-After.
    let failures = events_to(&detail, "failed");
    assert_eq!(failures.len(), 3, "{detail}");
    let planned: Vec<&Value> = failures
        .iter()
        .copied()
        .filter(|e| e["reason"].as_str().unwrap().contains("retry at "))
        .collect();
    assert_eq!(planned.len(), 2, "two retries were planned: {detail}");
    for event in planned {
        let reason = event["reason"].as_str().unwrap();
        let at: DateTime<Utc> = event["at"].as_str().unwrap().parse().unwrap();
        let retry_at = reason
            .split("retry at ")
            .nth(1)
            .and_then(|rest| rest.split(": ").next())
            .map(parse_reason_time)
            .unwrap();
        assert!(
            retry_at - at >= chrono::Duration::milliseconds(1999),
            "retry planned before Retry-After: {event}"
        );
    }
    assert_no_more_attempts(&svc, 3 * 3).await;
    assert_eq!(svc.sim.stats().credentials_created, 0);
    svc.assert_logs_clean(&personal());
}

/// One case where POK may have created the credential: held for review after one request,
/// never sent again.
async fn outcome_unknown(faults: Faults, env: &[(&str, &str)], user: i64, reason: &str) -> Service {
    let svc = service(faults, env).await;
    let detail = request_and_settle(&svc, user, "needs_review").await;
    assert_eq!(detail["attempts"], 1, "{detail}");
    assert_eq!(issue_requests(&svc), 1);
    let why = detail["last_error"].as_str().unwrap();
    assert!(why.contains(reason), "{why}");
    assert_no_more_attempts(&svc, 1).await;
    // The learner sees a delay page with a reference, not an error text.
    let page = svc.render(user).await;
    assert_eq!(page["status"], 503, "{page}");
    assert!(
        !page["body"].as_str().unwrap().contains(why),
        "the internal reason is on the page"
    );
    svc.assert_logs_clean(&personal());
    svc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pok_call_hanging_past_the_timeout_is_held_for_review_and_never_resent() {
    let faults = Faults {
        hang_rate: 1.0,
        hang_ms: 20_000,
        ..Faults::none()
    };
    let svc = outcome_unknown(faults, &[("POK_TIMEOUT", "1")], 33, "did not answer").await;
    // POK did create it: sending it again would have issued a second credential.
    assert_eq!(svc.sim.stats().created_for("33", COURSE), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_from_pok_is_held_for_review_and_never_resent() {
    let faults = Faults {
        malformed_rate: 1.0,
        ..Faults::none()
    };
    let svc = outcome_unknown(faults, &[], 34, "could not be read").await;
    assert_eq!(svc.sim.stats().created_for("34", COURSE), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pok_500_is_held_for_review_and_never_resent() {
    // Unlike a 503, a 500 may come after POK acted.
    let faults = Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::none()
    };
    outcome_unknown(faults, &[], 35, "HTTP 500").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_pok_400_is_not_retried_and_the_certificate_fails_with_pok_s_message() {
    // The default template has two custom parameters that nothing fills: POK answers 400.
    let svc = service(
        Faults::none(),
        &[("POK_TEMPLATE_ID", pok_sim::fixtures::TEMPLATE_GRADED)],
    )
    .await;
    let detail = request_and_settle(&svc, 36, "failed").await;

    assert_eq!(detail["attempts"], 1, "{detail}");
    assert_eq!(issue_requests(&svc), 1);
    let why = detail["last_error"].as_str().unwrap();
    assert!(
        why.contains("HTTP 400") && why.contains("missing custom parameter"),
        "{why}"
    );
    assert_no_more_attempts(&svc, 1).await;
    assert_eq!(svc.sim.stats().credentials_created, 0);
    // The learner sees an error page with a reference.
    let page = svc.render(36).await;
    assert_eq!(page["action"], "render", "{page}");
    assert!(
        page["status"].as_u64().unwrap() >= 500,
        "not an error page: {page}"
    );
    svc.assert_logs_clean(&personal());
}
