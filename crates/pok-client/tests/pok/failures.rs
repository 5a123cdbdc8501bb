//! Every error class, its classification, Retry-After, retries and timeouts; the rate limit and
//! the pause after a 429, shared by clones; issuing sent again after a 429 and only then.

use std::time::{Duration, Instant};

use pok_client::PokClientConfig;
use pok_domain::ports::PokGateway;
use pok_domain::values::{CredentialId, TemplateId};
use pok_domain::{FailureClass, GatewayError};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{EMAIL, KEY, client, client_with, config, issue_request};

async fn issue_against(answer: ResponseTemplate) -> (GatewayError, usize) {
    issue_with(answer, |c| c).await
}

/// Issues once against a server giving `answer`; returns the error and how many requests
/// reached the server.
async fn issue_with(
    answer: ResponseTemplate,
    tweak: impl FnOnce(PokClientConfig) -> PokClientConfig,
) -> (GatewayError, usize) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/credential/"))
        .respond_with(answer)
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    // Neither may matter but for a 429 POK lets us wait out: issuing is never sent again
    // after any other failure.
    cfg.read_retries = 3;
    cfg.issue_retries_after_429 = 3;
    let err = client_with(tweak(cfg))
        .issue(&issue_request(42, "tpl-1", &[]))
        .await
        .unwrap_err();
    let requests = server.received_requests().await.unwrap().len();
    (err, requests)
}

fn status(code: u16) -> ResponseTemplate {
    ResponseTemplate::new(code)
}

#[tokio::test]
async fn refusals_of_the_key_are_permanent() {
    for code in [401, 403] {
        let (err, n) =
            issue_against(status(code).set_body_json(json!({"message": "Unauthorized"}))).await;
        assert_eq!(err.class, FailureClass::Permanent);
        assert!(err.reason.contains("API key"), "{}", err.reason);
        assert_eq!(n, 1);
    }
}

#[tokio::test]
async fn validation_errors_are_permanent_and_carry_pok_s_message() {
    let (err, _) = issue_against(status(400).set_body_json(json!({
        "statusCode": 400,
        "message": ["receiver.firstName should not be empty", "customParameters.grade is required"],
        "error": "Bad Request"
    })))
    .await;
    assert_eq!(err.class, FailureClass::Permanent);
    assert!(err.reason.contains("HTTP 400"), "{}", err.reason);
    assert!(
        err.reason.contains("customParameters.grade is required"),
        "{}",
        err.reason
    );

    let (err, _) =
        issue_against(status(402).set_body_json(json!({"message": "no credits left"}))).await;
    assert_eq!(err.class, FailureClass::Permanent);
    assert!(err.reason.contains("no credits left"));

    let (err, _) = issue_against(status(422).set_body_raw(
        "<html><body><h1>Unprocessable</h1></body></html>",
        "text/html",
    ))
    .await;
    assert_eq!(err.class, FailureClass::Permanent);
    assert!(err.reason.contains("Unprocessable"), "{}", err.reason);
}

#[tokio::test]
async fn not_found_is_permanent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/template/tpl-x"))
        .respond_with(status(404).set_body_json(json!({"message": "Template not found"})))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    cfg.read_retries = 2;
    let err = client_with(cfg)
        .template(&TemplateId::parse("tpl-x").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::Permanent);
    assert!(err.reason.contains("Template not found"), "{}", err.reason);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "permanent failures are not retried"
    );
}

#[tokio::test]
async fn a_429_asking_for_longer_than_the_client_waits_ends_issuing_with_its_retry_after() {
    // The client waits at most 3 s (`max_retry_wait`); POK asks for 7.
    let (err, n) = issue_against(status(429).insert_header("Retry-After", "7")).await;
    assert_eq!(err.class, FailureClass::SafeToRetry);
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_503_is_safe_to_retry_but_issuing_is_not_sent_again_inside() {
    let (err, n) = issue_against(status(503).insert_header("Retry-After", "2")).await;
    assert_eq!(err.class, FailureClass::SafeToRetry);
    assert_eq!(err.retry_after, Some(Duration::from_secs(2)));
    assert_eq!(n, 1);
}

#[tokio::test]
async fn other_5xx_leave_the_outcome_unknown() {
    for code in [500, 502, 504] {
        let (err, n) = issue_against(status(code).set_body_string("upstream failure")).await;
        assert_eq!(err.class, FailureClass::OutcomeUnknown, "{code}");
        assert!(
            err.reason.contains(&format!("HTTP {code}")),
            "{}",
            err.reason
        );
        assert_eq!(n, 1, "{code}");
    }
}

#[tokio::test]
async fn an_issue_that_times_out_has_an_unknown_outcome() {
    let (err, n) = issue_with(
        status(201)
            .set_body_json(json!({"id": "c-1", "state": "processing"}))
            .set_delay(Duration::from_secs(3)),
        |mut c| {
            c.timeout = Duration::from_millis(300);
            c
        },
    )
    .await;
    assert_eq!(err.class, FailureClass::OutcomeUnknown);
    assert!(err.reason.contains("did not answer"), "{}", err.reason);
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_refused_connection_is_safe_to_retry() {
    // A port that was free a moment ago: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = client(&format!("http://{addr}/"))
        .issue(&issue_request(42, "tpl-1", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::SafeToRetry);
    assert!(err.reason.contains("could not connect"), "{}", err.reason);
}

#[tokio::test]
async fn an_undecodable_2xx_to_an_issue_has_an_unknown_outcome() {
    let (err, _) = issue_against(status(201).set_body_raw(
        format!("{{\"id\": \"c-1\", \"receiver\": {{\"email\": \"{EMAIL}\""),
        "application/json",
    ))
    .await;
    assert_eq!(err.class, FailureClass::OutcomeUnknown);
    assert!(err.reason.contains("could not be read"), "{}", err.reason);
    assert!(
        err.reason.contains("\\\"id\\\": \\\"c-1\\\""),
        "an excerpt: {}",
        err.reason
    );
    assert!(!err.reason.contains(EMAIL));

    let (err, _) = issue_against(status(200).set_body_json(json!({"state": "processing"}))).await;
    assert_eq!(
        err.class,
        FailureClass::OutcomeUnknown,
        "no id: POK may still have created it"
    );
    let (err, _) = issue_against(status(204)).await;
    assert_eq!(err.class, FailureClass::OutcomeUnknown);
}

#[tokio::test]
async fn reads_are_retried_after_transient_failures() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/organization/me"))
        .respond_with(status(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/organization/me"))
        .respond_with(status(200).set_body_json(json!({"name": "OrgX"})))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    cfg.read_retries = 2;
    let org = client_with(cfg).organization().await.unwrap();
    assert_eq!(org.name, "OrgX");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn reads_wait_as_retry_after_asks() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/credential/c-1/"))
        .respond_with(status(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/credential/c-1/"))
        .respond_with(status(200).set_body_json(json!({"id": "c-1", "state": "emitted"})))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    cfg.read_retries = 1;
    let c = client_with(cfg)
        .credential(&CredentialId::parse("c-1").unwrap())
        .await
        .unwrap();
    assert_eq!(c.state, "emitted");
    let times: Vec<_> = server.received_requests().await.unwrap();
    assert_eq!(times.len(), 2);
}

#[tokio::test]
async fn reads_give_up_at_once_when_retry_after_is_too_long() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/page"))
        .respond_with(status(429).insert_header("Retry-After", "3600"))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    cfg.read_retries = 5;
    let err = client_with(cfg).pages(10).await.unwrap_err();
    assert_eq!(err.class, FailureClass::SafeToRetry);
    assert_eq!(err.retry_after, Some(Duration::from_secs(3600)));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn reads_stop_after_their_retries() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/template"))
        .respond_with(status(500))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    cfg.read_retries = 2;
    cfg.max_retry_wait = Duration::from_millis(50);
    let err = client_with(cfg).templates(10).await.unwrap_err();
    assert_eq!(err.class, FailureClass::OutcomeUnknown);
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_read_that_times_out_is_outcome_unknown_and_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/credential/c-1/decrypted-image/"))
        .respond_with(
            status(200)
                .set_body_json(json!({"location": "x"}))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    cfg.timeout = Duration::from_millis(200);
    cfg.read_retries = 1;
    cfg.max_retry_wait = Duration::from_millis(10);
    let err = client_with(cfg)
        .credential_image(&CredentialId::parse("c-1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::OutcomeUnknown);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn errors_never_echo_the_key() {
    let (err, _) = issue_against(
        status(400).set_body_json(json!({"message": format!("bad key ApiKey {KEY} for {EMAIL}")})),
    )
    .await;
    assert!(!err.reason.contains(KEY), "{}", err.reason);
    assert!(!err.reason.contains(EMAIL), "{}", err.reason);
    assert!(err.reason.contains("bad key"), "{}", err.reason);
}

// ---------------------------------------------------------------------------------------------
// Issuing after a 429, the pause and the rate limit.

/// A server answering `verb route` with `first` for the first `times` requests, then with
/// `then`.
async fn server_answering(
    verb: &str,
    route: &str,
    first: ResponseTemplate,
    times: u64,
    then: ResponseTemplate,
) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method(verb))
        .and(path(route))
        .respond_with(first)
        .up_to_n_times(times)
        .mount(&server)
        .await;
    Mock::given(method(verb))
        .and(path(route))
        .respond_with(then)
        .mount(&server)
        .await;
    server
}

/// A server answering `POST credential/` with `first` for the first `times` requests, then
/// with a new credential.
async fn issuing_server(first: ResponseTemplate, times: u64) -> MockServer {
    let created = status(201).set_body_json(json!({"id": "c-1", "state": "processing"}));
    server_answering("POST", "/credential/", first, times, created).await
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn issuing_is_sent_again_after_a_429_once_the_pause_is_over() {
    let server = issuing_server(status(429).insert_header("Retry-After", "1"), 1).await;
    let mut cfg = config(&server.uri());
    cfg.issue_retries_after_429 = 2;
    let started = Instant::now();
    let issued = client_with(cfg)
        .issue(&issue_request(42, "tpl-1", &[]))
        .await
        .unwrap();
    assert_eq!(issued.id.as_str(), "c-1");
    assert_eq!(
        requests(&server).await,
        2,
        "the refused request, then one more"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "sent again before Retry-After: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_429_without_retry_after_pauses_for_a_second() {
    let server = issuing_server(status(429), 1).await;
    let mut cfg = config(&server.uri());
    cfg.issue_retries_after_429 = 1;
    let started = Instant::now();
    client_with(cfg)
        .issue(&issue_request(42, "tpl-1", &[]))
        .await
        .unwrap();
    assert_eq!(requests(&server).await, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn issuing_stops_after_its_429_retries_with_the_refusal() {
    let server = issuing_server(status(429).insert_header("Retry-After", "0"), 100).await;
    let mut cfg = config(&server.uri());
    cfg.issue_retries_after_429 = 2;
    let err = client_with(cfg)
        .issue(&issue_request(42, "tpl-1", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::SafeToRetry);
    assert!(err.reason.contains("HTTP 429"), "{}", err.reason);
    assert_eq!(requests(&server).await, 3, "sent once, then twice again");

    // Without retries of its own, the first 429 ends the call.
    let server = issuing_server(status(429).insert_header("Retry-After", "0"), 100).await;
    let err = client_with(config(&server.uri()))
        .issue(&issue_request(42, "tpl-1", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::SafeToRetry);
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn issuing_after_a_500_is_still_sent_once_even_when_a_success_would_follow() {
    for first in [
        status(500),
        status(503),
        status(201).set_body_string("{\"id\": "),
    ] {
        let server = issuing_server(first, 1).await;
        let mut cfg = config(&server.uri());
        cfg.issue_retries_after_429 = 3;
        cfg.read_retries = 3;
        let err = client_with(cfg)
            .issue(&issue_request(42, "tpl-1", &[]))
            .await
            .unwrap_err();
        assert_ne!(err.class, FailureClass::Permanent, "{}", err.reason);
        assert_eq!(requests(&server).await, 1, "{}", err.reason);
    }
}

/// A server answering `GET organization/me` with `first` for the first `times` requests, then
/// with the organisation.
async fn organization_server(first: ResponseTemplate, times: u64) -> MockServer {
    let organization = status(200).set_body_json(json!({"name": "OrgX"}));
    server_answering("GET", "/organization/me", first, times, organization).await
}

#[tokio::test]
async fn a_429_holds_the_next_call_of_every_clone_until_retry_after() {
    let server = organization_server(status(429).insert_header("Retry-After", "1"), 1).await;
    let first = client(&server.uri());
    let second = first.clone();
    let started = Instant::now();
    let err = first.organization().await.unwrap_err();
    assert_eq!(err.class, FailureClass::SafeToRetry);
    // Another clone, another call (no retry involved): it waits for the pause.
    assert_eq!(second.organization().await.unwrap().name, "OrgX");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "sent during the pause: {:?}",
        started.elapsed()
    );
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn a_pause_longer_than_the_client_waits_fails_calls_without_sending_them() {
    let server = organization_server(status(429).insert_header("Retry-After", "3600"), 1).await;
    let first = client(&server.uri());
    first.organization().await.unwrap_err();
    let started = Instant::now();
    let err = first
        .clone()
        .issue(&issue_request(42, "tpl-1", &[]))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "it waited");
    assert_eq!(err.class, FailureClass::SafeToRetry);
    assert!(err.reason.contains("not sent to POK"), "{}", err.reason);
    let wait = err.retry_after.unwrap();
    assert!(
        wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600),
        "{wait:?}"
    );
    assert_eq!(
        requests(&server).await,
        1,
        "only the refused call reached POK"
    );
}

#[tokio::test]
async fn calls_of_every_clone_are_spaced_by_the_rate_limit() {
    let server = organization_server(status(200).set_body_json(json!({"name": "OrgX"})), 1).await;
    let mut cfg = config(&server.uri());
    cfg.rate_limit = Some(20.0); // one call every 50 ms
    let pok = client_with(cfg);
    let started = Instant::now();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let clone = pok.clone();
            tokio::spawn(async move { clone.organization().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let took = started.elapsed();
    // Six calls at once: the first leaves at once, each other one 50 ms after the previous.
    assert!(
        took >= Duration::from_millis(250),
        "6 calls at 20/s: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(requests(&server).await, 6);
}
