//! Every error class, its classification, Retry-After, retries and timeouts.

use std::time::Duration;

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
    let mut cfg = tweak(config(&server.uri()));
    cfg.read_retries = 3; // must not matter: issuing is never retried
    let err = client_with(cfg)
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
async fn a_429_is_safe_to_retry_and_passes_retry_after_on() {
    let (err, n) = issue_against(status(429).insert_header("Retry-After", "7")).await;
    assert_eq!(err.class, FailureClass::SafeToRetry);
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_503_is_safe_to_retry_but_issuing_is_never_retried_inside() {
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
