//! `POST /v1/filters/certificate-creation-requested`.

use axum::http::StatusCode;
use pok_domain::Error as DomainError;
use pok_http::filters::CREATION_PATH;
use serde_json::json;

use crate::helpers::{SECRET, TestApp, creation_body};

#[tokio::test]
async fn a_linked_course_is_recorded_and_queued_without_calling_pok() {
    let app = TestApp::new();
    app.link_course().await;
    let id = app.request_certificate(&creation_body()).await;
    assert!(app.pok.calls().is_empty(), "{:?}", app.pok.calls());
    let jobs = app.store.all_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].certificate_id, id);
}

#[tokio::test]
async fn a_second_request_is_already_requested_with_the_same_id() {
    let app = TestApp::new();
    app.link_course().await;
    let id = app.request_certificate(&creation_body()).await;
    let answer = app.post(CREATION_PATH, creation_body().to_string()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json(),
        json!({"action": "continue", "outcome": "already_requested", "certificate_id": id.to_string()})
    );
    assert_eq!(app.store.all_certificates().len(), 1);
}

#[tokio::test]
async fn an_unlinked_course_is_not_ours() {
    let app = TestApp::new();
    let answer = app.post(CREATION_PATH, creation_body().to_string()).await;
    assert_eq!(answer.status, StatusCode::OK);
    let json = answer.json();
    assert_eq!(json["action"], "continue");
    assert_eq!(json["outcome"], "not_ours");
    assert!(json["message"].as_str().unwrap().contains("not linked"));
    assert!(json.get("certificate_id").is_none());
    assert!(app.store.all_certificates().is_empty());
}

#[tokio::test]
async fn a_learner_without_an_email_is_prevented() {
    let app = TestApp::new();
    app.link_course().await;
    let mut body = creation_body();
    body["user"]["email"] = serde_json::Value::Null;
    let answer = app.post(CREATION_PATH, body.to_string()).await;
    assert_eq!(answer.status, StatusCode::OK);
    let json = answer.json();
    assert_eq!(json["action"], "prevent", "{json}");
    assert!(json["message"].as_str().unwrap().contains("e-mail"));
}

#[tokio::test]
async fn only_the_required_members_are_needed() {
    let app = TestApp::new();
    let body = json!({"user": {"id": 7}, "course": {"key": "OrgX/CS101/2026"}, "mode": "honor", "status": "downloadable", "grade": 0.8});
    let answer = app.post(CREATION_PATH, body.to_string()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.json()["outcome"], "not_ours");
}

#[tokio::test]
async fn a_missing_or_wrong_token_gets_401_problem() {
    let app = TestApp::new();
    app.link_course().await;
    for authorization in [
        None,
        Some("Bearer wrong"),
        Some("Bearer "),
        Some(&format!("Basic {SECRET}") as &str),
        Some(&format!("Bearer {SECRET}x") as &str),
    ] {
        let answer = app
            .post_with(CREATION_PATH, creation_body().to_string(), authorization)
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(answer.header("content-type"), "application/problem+json");
        assert_eq!(answer.header("www-authenticate"), "Bearer");
        assert_eq!(answer.json()["status"], 401);
        assert!(!answer.body.contains(SECRET));
    }
    assert!(app.store.all_certificates().is_empty());
}

#[tokio::test]
async fn an_oversized_body_gets_413_problem() {
    let app = TestApp::with_body_limit(1024);
    let mut body = creation_body();
    body["course"]["title"] = "x".repeat(2000).into();
    let answer = app.post(CREATION_PATH, body.to_string()).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.body
    );
    assert_eq!(answer.header("content-type"), "application/problem+json");
    assert!(answer.json()["detail"].as_str().unwrap().contains("1024"));
}

#[tokio::test]
async fn malformed_json_gets_400_naming_the_problem() {
    let app = TestApp::new();
    let answer = app.post(CREATION_PATH, r#"{"user": {"id": 42,"#).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.header("content-type"), "application/problem+json");
    let json = answer.json();
    let detail = json["detail"].as_str().unwrap();
    assert!(detail.contains("malformed JSON"), "{detail}");
    assert!(detail.contains("line 1"), "{detail}");
}

#[tokio::test]
async fn an_invalid_course_key_gets_422_naming_it() {
    let app = TestApp::new();
    let mut body = creation_body();
    body["course"]["key"] = "not a course".into();
    let answer = app.post(CREATION_PATH, body.to_string()).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let json = answer.json();
    assert_eq!(json["field"], "course.key", "{json}");
    assert!(json["detail"].as_str().unwrap().contains("not a course"));
}

#[tokio::test]
async fn wrong_types_and_values_get_422_naming_the_member() {
    let app = TestApp::new();
    let cases = [
        ("user.id", json!("forty-two")),
        ("user.id", json!(-1)),
        ("mode", json!("ver ified")),
        ("grade.percent", json!({"percent": 93})),
        ("grade", json!("A+")),
        ("status", serde_json::Value::Null),
    ];
    for (field, value) in cases {
        let mut body = creation_body();
        match field {
            "user.id" => body["user"]["id"] = value,
            "grade.percent" => body["grade"] = value,
            other => body[other] = value,
        }
        let answer = app.post(CREATION_PATH, body.to_string()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            answer.body
        );
        assert_eq!(answer.json()["field"], field, "{}", answer.body);
    }
    let mut body = creation_body();
    body.as_object_mut().unwrap().remove("mode");
    let answer = app.post(CREATION_PATH, body.to_string()).await;
    assert_eq!(answer.json()["field"], "mode");
}

#[tokio::test]
async fn a_storage_failure_is_a_503_problem_with_a_reference_and_no_internal_text() {
    let app = TestApp::new();
    app.link_course().await;
    app.store.fail_with(Some(DomainError::Storage(
        "connection refused to db.internal".into(),
    )));
    let answer = app.post(CREATION_PATH, creation_body().to_string()).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let json = answer.json();
    assert!(!answer.body.contains("db.internal"), "{}", answer.body);
    assert_eq!(json["reference"].as_str().unwrap().len(), 36);
}
