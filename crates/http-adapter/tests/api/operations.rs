//! `/health`, `/ready`, `/metrics`, `/openapi.json`, request ids and unknown routes.

use axum::http::StatusCode;
use pok_http::filters::CREATION_PATH;

use crate::helpers::{TestApp, creation_body};

#[tokio::test]
async fn health_is_always_ok() {
    let app = TestApp::new();
    app.readiness.set(false);
    let answer = app.get("/health").await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "ok")
    );
}

#[tokio::test]
async fn ready_follows_the_readiness_check_without_showing_why() {
    let app = TestApp::new();
    assert_eq!(app.get("/ready").await.status, StatusCode::OK);
    app.readiness.set(false);
    let answer = app.get("/ready").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!answer.body.contains("db.internal"), "{}", answer.body);
}

#[tokio::test]
async fn metrics_count_filters_certificates_jobs_pok_calls_and_credits() {
    let app = TestApp::new();
    app.link_course().await;
    app.request_certificate(&creation_body()).await;
    app.post_with(CREATION_PATH, "{}", None).await;
    app.service.pok().organization().await.unwrap();
    let answer = app.get("/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.header("content-type").contains("openmetrics-text"));
    let text = &answer.body;
    for line in [
        r#"openedx_pok_filter_calls_total{endpoint="creation",outcome="enqueued"} 1"#,
        r#"openedx_pok_filter_calls_total{endpoint="creation",outcome="unauthorized"} 1"#,
        r#"openedx_pok_filter_duration_seconds_count{endpoint="creation"} 2"#,
        r#"openedx_pok_certificates{state="requested"} 1"#,
        r#"openedx_pok_certificates{state="emitted"} 0"#,
        r#"openedx_pok_jobs{kind="issue"} 1"#,
        r#"openedx_pok_pok_calls_total{endpoint="organization",outcome="ok"} 1"#,
        "openedx_pok_pok_available_credits 100",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_both_filters() {
    let app = TestApp::new();
    let answer = app.get("/openapi.json").await;
    assert_eq!(answer.status, StatusCode::OK);
    let doc = answer.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/v1/filters/certificate-creation-requested"));
    assert!(paths.contains_key("/v1/filters/certificate-render-started"));
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "CreationBody",
        "RenderBody",
        "CreationAnswerBody",
        "RenderAnswerBody",
        "Problem",
    ] {
        assert!(schemas.contains_key(name), "{name}");
    }
    assert!(doc["components"]["securitySchemes"]["shared_secret"].is_object());
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_keeps_the_callers() {
    let app = TestApp::new();
    let answer = app.get("/health").await;
    assert_eq!(answer.header("x-request-id").len(), 36);
    let answer = app
        .get_with("/health", &[("x-request-id", "lms-abc-123")])
        .await;
    assert_eq!(answer.header("x-request-id"), "lms-abc-123");
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = TestApp::new();
    let answer = app.get("/v1/nothing").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.header("content-type"), "application/problem+json");
}
