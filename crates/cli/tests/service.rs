//! End-to-end tests of `openedx-pok serve`: the real binary on a temporary SQLite file, talking
//! to a POK simulator started by the test (so that the test can inject faults and count
//! credentials), called over HTTP as the LMS steps call it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is a failure.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{COURSE, SECRET, Service, creation};
use pok_sim::{Endpoint, Faults, SimConfig};
use serde_json::{Value, json};

#[tokio::test]
async fn a_learner_gets_exactly_one_credential_and_sees_processing_then_emitted() {
    let svc = Service::start(
        SimConfig {
            emit_after_polls: Some(2),
            ..SimConfig::default()
        },
        &[],
    )
    .await;
    let first = svc.create(42, "Ada Lovelace").await;
    assert_eq!(first["action"], "continue");
    assert_eq!(first["outcome"], "enqueued");
    let id = first["certificate_id"].as_str().unwrap().to_owned();
    // The LMS may call again (a regrade, a second click): still one certificate.
    for _ in 0..3 {
        let again = svc.create(42, "Ada Lovelace").await;
        assert_eq!(again["outcome"], "already_requested");
        assert_eq!(again["certificate_id"], id.as_str());
    }
    let early = svc.render(42).await;
    assert_eq!(early["action"], "render");
    assert!(
        early["body"]
            .as_str()
            .unwrap()
            .contains("http-equiv=\"refresh\""),
        "{early}"
    );

    let emitted = svc.wait_emitted(42).await;
    // minijinja escapes '/' as "&#x2f;" too; browsers read both the same.
    let page = emitted["body"].as_str().unwrap().replace("&#x2f;", "/");
    assert!(
        page.contains(&format!("/certificates/{id}/image")),
        "the image goes through us"
    );
    assert!(page.contains("Ada Lovelace"));
    assert!(
        !page.contains("learner42@example.org"),
        "no e-mail on the page"
    );
    assert!(
        page.contains("Computing &lt;b&gt;101&lt;/b&gt;"),
        "the course title is escaped"
    );
    assert_eq!(svc.sim.stats().created_for("42", COURSE), 1);

    // The public page and the image link work without authentication.
    let public = svc
        .http
        .get(format!("{}/certificates/{id}", svc.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 200);
    let image = svc
        .http
        .get(format!("{}/certificates/{id}/image", svc.base))
        .send()
        .await
        .unwrap();
    assert!(image.status().is_redirection(), "{}", image.status());
    let location = image.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&svc.sim.base_url()), "{location}");
    let png = svc
        .http
        .get(&location)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a real image behind the link");
}

#[tokio::test]
async fn pok_failures_are_retried_then_shown_as_a_delay_with_a_reference() {
    let faults = Faults {
        error_rate: 1.0,
        ..Faults::default()
    }
    .only(&[Endpoint::Issue]);
    let svc = Service::start(
        SimConfig {
            faults,
            ..SimConfig::default()
        },
        &[("OPENEDX_POK_RETRY_MAX_ATTEMPTS", "3")],
    )
    .await;
    svc.create(7, "Grace Hopper").await;
    svc.wait_until(
        Duration::from_secs(30),
        "three issuing attempts were made",
        || async {
            svc.sim
                .stats()
                .requests
                .get(&Endpoint::Issue)
                .copied()
                .unwrap_or(0)
                >= 3
        },
    )
    .await;
    let answer = loop {
        let a = svc.render(7).await;
        if a["status"] != 200 {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(answer["status"], 503, "{answer}");
    let page = answer["body"].as_str().unwrap();
    assert!(page.to_lowercase().contains("reference"), "{page}");
    assert!(
        !page.contains("503 Service Unavailable") && !page.contains("POK call failed"),
        "no internal error text"
    );
    // No fourth attempt: the limit holds.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        svc.sim.stats().requests.get(&Endpoint::Issue).copied(),
        Some(3)
    );
    assert_eq!(svc.sim.stats().credentials_created, 0);
}

#[tokio::test]
async fn callers_without_the_secret_and_bad_bodies_get_clear_4xx() {
    let svc = Service::start(SimConfig::default(), &[]).await;
    let url = format!("{}/v1/filters/certificate-creation-requested", svc.base);

    let anonymous = svc
        .http
        .post(&url)
        .json(&creation(1, "A B"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = svc
        .http
        .post(&url)
        .bearer_auth("nope")
        .json(&creation(1, "A B"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let malformed = svc
        .http
        .post(&url)
        .bearer_auth(SECRET)
        .header("content-type", "application/json")
        .body("{\"user\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.headers()["content-type"],
        "application/problem+json"
    );

    let mut bad_key = creation(1, "A B");
    bad_key["course"]["key"] = json!("not a course");
    let invalid = svc
        .post("/v1/filters/certificate-creation-requested", &bad_key)
        .await;
    assert_eq!(invalid.status(), 422);
    let problem: Value = invalid.json().await.unwrap();
    assert_eq!(problem["field"], "course.key", "{problem}");

    let huge = svc
        .http
        .post(&url)
        .bearer_auth(SECRET)
        .header("content-type", "application/json")
        .body(format!("{{\"pad\": \"{}\"}}", "x".repeat(200_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    assert_eq!(svc.sim.stats().credentials_created, 0, "nothing was issued");
}

#[tokio::test]
async fn a_hostile_name_is_escaped_and_never_logged() {
    let svc = Service::start(SimConfig::default(), &[]).await;
    svc.create(9, "<script>alert(1)</script> Mallory").await;
    let page = svc.wait_emitted(9).await["body"]
        .as_str()
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(!page.contains("<script>alert(1)"), "raw script in the page");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped name shown"
    );
    let logs = svc.logs();
    assert!(!logs.is_empty());
    for secret in [
        "learner9@example.org",
        "Mallory",
        SECRET,
        pok_sim::fixtures::API_KEY,
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_the_service_cleanly() {
    let mut svc = Service::start(SimConfig::default(), &[]).await;
    let pid = svc.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = svc.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "still running after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(svc.logs().contains("worker stopped"));
}

#[tokio::test]
async fn a_revocation_from_the_cli_reaches_the_pages_within_the_page_cache_time() {
    let svc = Service::start(
        SimConfig::default(),
        &[("OPENEDX_POK_PAGE_CACHE_SECONDS", "1")],
    )
    .await;
    let id = svc.create(77, "Grace Hopper").await["certificate_id"]
        .as_str()
        .unwrap()
        .to_owned();
    svc.wait_emitted(77).await;
    let public = format!("{}/certificates/{id}", svc.base);
    assert_eq!(svc.http.get(&public).send().await.unwrap().status(), 200);

    // The CLI is another process: the service learns of the revocation from the database once
    // the pages it keeps are older than the setting (1 s here).
    svc.revoke(&id, "cache test").await;
    let revoked = Instant::now();
    loop {
        let filter = svc.render(77).await;
        let page = svc.http.get(&public).send().await.unwrap().status();
        if filter["status"] == 410 && page == 410 {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(3),
            "still shown as emitted {:?} after the revocation: filter {}, public page {page}",
            revoked.elapsed(),
            filter["status"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
