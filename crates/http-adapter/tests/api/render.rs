//! `POST /v1/filters/certificate-render-started`: one test per decision.

use axum::http::StatusCode;
use pok_domain::fakes::PokCall;
use pok_domain::{Actor, Error as DomainError, GatewayError};
use pok_http::filters::RENDER_PATH;
use serde_json::{Value, json};

use crate::helpers::{BASE, TestApp, creation_body, render_body};

/// Renders for user 42 and returns the JSON answer.
async fn render(app: &TestApp, language: &str) -> Value {
    let answer = app
        .post(RENDER_PATH, render_body(language).to_string())
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.json()
}

/// Renders and returns the page's status and HTML.
async fn page_of(app: &TestApp, language: &str) -> (u64, String) {
    let answer = render(app, language).await;
    let (status, body) = page(&answer);
    (status, body.to_owned())
}

fn page(answer: &Value) -> (u64, &str) {
    assert_eq!(answer["action"], "render", "{answer}");
    assert_eq!(answer["content_type"], "text/html; charset=utf-8");
    (
        answer["status"].as_u64().unwrap(),
        answer["body"].as_str().unwrap(),
    )
}

#[tokio::test]
async fn a_course_that_is_not_ours_continues() {
    let app = TestApp::new();
    assert_eq!(render(&app, "en").await, json!({"action": "continue"}));
}

#[tokio::test]
async fn a_processing_certificate_says_so_and_refreshes_itself() {
    let app = TestApp::new();
    app.link_course().await;
    app.pok.set_issue_state("processing");
    app.request_certificate(&creation_body()).await;
    app.run_jobs().await;
    let answer = render(&app, "en").await;
    let (status, body) = page(&answer);
    assert_eq!(status, 200);
    assert!(body.contains("on its way"), "{body}");
    assert!(
        body.contains(r#"<meta http-equiv="refresh" content="10">"#),
        "{body}"
    );
    assert!(body.contains("every 10 seconds"), "{body}");
    assert_eq!(answer["headers"]["Retry-After"], "10");
    assert!(!body.contains("Lovelace"), "no name on a processing page");
}

#[tokio::test]
async fn a_requested_certificate_is_processing_too() {
    let app = TestApp::new();
    app.link_course().await;
    app.request_certificate(&creation_body()).await;
    let (status, body) = page_of(&app, "en").await;
    assert_eq!(status, 200);
    assert!(body.contains("http-equiv=\"refresh\""));
}

#[tokio::test]
async fn an_emitted_certificate_shows_image_view_download_and_share_links_without_calling_pok() {
    let app = TestApp::new();
    let id = app.emitted_certificate().await;
    let calls_before = app.pok.calls().len();
    let answer = render(&app, "en").await;
    let (status, body) = page(&answer);
    assert_eq!(status, 200);
    assert_eq!(app.pok.calls().len(), calls_before, "rendering called POK");
    let image = format!("{BASE}/certificates/{id}/image").replace('/', "&#x2f;");
    assert!(
        body.contains(&format!(r#"<img class="certificate" src="{image}""#)),
        "{body}"
    );
    assert!(
        body.contains(&format!(r#"class="download" href="{image}" download"#)),
        "{body}"
    );
    assert!(body.contains(r#"class="primary view" href="https:&#x2f;&#x2f;pok.example&#x2f;credential&#x2f;cred-1""#), "{body}");
    assert!(body.contains("https:&#x2f;&#x2f;www.linkedin.com&#x2f;profile&#x2f;add?startTask=CERTIFICATION_NAME&amp;name=Introduction+to+Computer+Science&amp;organizationName=OrgX&amp;issueYear=2026&amp;issueMonth=11&amp;certUrl=https%3A%2F%2Fcertificates.example.org%2Fcertificates%2F"), "{body}");
    assert!(
        body.contains("https:&#x2f;&#x2f;x.com&#x2f;intent&#x2f;tweet?text="),
        "{body}"
    );
    assert!(body.contains("https:&#x2f;&#x2f;www.facebook.com&#x2f;sharer&#x2f;sharer.php?u=https%3A%2F%2Fcertificates.example.org%2Fcertificates%2F"), "{body}");
    assert!(
        body.contains("Ada Lovelace"),
        "the learner's own certificate shows the name"
    );
    assert!(body.contains("November 25, 2026"), "{body}");
    assert!(!body.contains("ada@example.org"));
    assert!(!body.contains(">42<"));
}

#[tokio::test]
async fn a_revoked_certificate_is_gone() {
    let app = TestApp::new();
    app.revoked_certificate().await;
    let answer = render(&app, "en").await;
    let (status, body) = page(&answer);
    assert_eq!(status, 410);
    assert!(body.contains("revoked"), "{body}");
    assert!(
        !body.contains("issued by mistake"),
        "the admin's reason stays internal"
    );
    assert!(!body.contains("Lovelace"));
}

#[tokio::test]
async fn a_certificate_waiting_for_review_shows_a_5xx_error_page_with_a_reference() {
    let app = TestApp::new();
    app.link_course().await;
    app.pok.push_issue_answer(Err(GatewayError::outcome_unknown(
        "timeout after sending to pok-internal-host",
    )));
    app.request_certificate(&creation_body()).await;
    app.run_jobs().await;
    let answer = render(&app, "en").await;
    let (status, body) = page(&answer);
    assert_eq!(status, 503);
    assert!(body.contains("delayed"), "{body}");
    assert!(body.contains(r#"<code class="reference">"#), "{body}");
    assert!(!body.contains("pok-internal-host"));
    assert!(!body.contains("timeout"));
}

#[tokio::test]
async fn a_storage_failure_renders_an_error_page_without_internal_text() {
    let app = TestApp::new();
    app.store.fail_with(Some(DomainError::Storage(
        "pool timed out on db.internal".into(),
    )));
    let answer = render(&app, "en").await;
    let (status, body) = page(&answer);
    assert_eq!(status, 503);
    assert!(body.contains("Something went wrong"), "{body}");
    let reference = body
        .split(r#"<code class="reference">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap();
    assert_eq!(reference.len(), 36, "{reference}");
    assert!(!body.contains("db.internal"));
    assert!(!body.contains("pool timed out"));
}

#[tokio::test]
async fn a_linked_course_without_certificate_shows_the_template_preview() {
    let app = TestApp::new();
    app.link_course().await;
    let answer = render(&app, "en").await;
    let (status, body) = page(&answer);
    assert_eq!(status, 200);
    assert!(
        body.contains("pok.example&#x2f;previews&#x2f;tpl-1.png"),
        "{body}"
    );
    assert_eq!(app.pok.count(PokCall::Preview), 1);
}

#[tokio::test]
async fn a_failing_preview_shows_the_error_page() {
    let app = TestApp::new();
    app.link_course().await;
    app.pok.fail(
        PokCall::Preview,
        GatewayError::retryable("503 from POK", None),
    );
    let answer = render(&app, "en").await;
    let (status, body) = page(&answer);
    assert_eq!(status, 502);
    assert!(body.contains("reference"), "{body}");
    assert!(!body.contains("503 from POK"));
}

#[tokio::test]
async fn a_full_name_with_markup_is_shown_escaped() {
    let app = TestApp::new();
    app.link_course().await;
    let mut body = creation_body();
    body["user"]["full_name"] = "<script>alert('x')</script> Lovelace".into();
    body["course"]["title"] = "Intro <b>bold</b> & more".into();
    app.request_certificate(&body).await;
    app.run_jobs().await;
    let answer = render(&app, "en").await;
    let (_, html) = page(&answer);
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<b>bold</b>"));
    assert!(
        html.contains("Intro &lt;b&gt;bold&lt;&#x2f;b&gt; &amp; more"),
        "{html}"
    );
}

#[tokio::test]
async fn the_page_follows_the_language_and_falls_back_to_english() {
    let app = TestApp::new();
    app.emitted_certificate().await;
    let (_, es) = page_of(&app, "es").await;
    assert!(es.contains(r#"<html lang="es">"#));
    assert!(es.contains("Este certificado fue otorgado a"), "{es}");
    assert!(es.contains("25 de noviembre de 2026"), "{es}");
    let (_, es_ar) = page_of(&app, "es-AR").await;
    assert!(es_ar.contains(r#"<html lang="es">"#));
    let (_, fr) = page_of(&app, "fr").await;
    assert!(fr.contains(r#"<html lang="en">"#));
    let mut body = render_body("fr");
    body["accept_language"] = "fr-FR, es;q=0.7".into();
    let answer = app.post(RENDER_PATH, body.to_string()).await.json();
    assert!(
        answer["body"]
            .as_str()
            .unwrap()
            .contains(r#"<html lang="es">"#)
    );
}

#[tokio::test]
async fn render_requests_are_checked_like_creation_requests() {
    let app = TestApp::new();
    let mut body = render_body("en");
    body["course_key"] = "course-v1:nope".into();
    let answer = app.post(RENDER_PATH, body.to_string()).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.json()["field"], "course_key");
    let answer = app
        .post_with(RENDER_PATH, render_body("en").to_string(), None)
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_emitted_page_is_answered_again_from_memory_per_language() {
    let app = TestApp::new();
    let id = app.emitted_certificate().await;
    let first = app.post(RENDER_PATH, render_body("en").to_string()).await;
    let public = app.get(&format!("/certificates/{id}")).await;
    assert_eq!(public.status, StatusCode::OK);
    // Revoked behind this router's back, as the admin CLI does from its own process.
    app.service
        .revoke(id, "issued by mistake", Actor::Admin("root".into()))
        .await
        .unwrap();

    let again = app.post(RENDER_PATH, render_body("en").to_string()).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.header("content-type"), "application/json");
    assert_eq!(again.body, first.body, "the kept answer, byte for byte");
    let public_again = app.get(&format!("/certificates/{id}")).await;
    assert_eq!(public_again.status, StatusCode::OK);
    assert_eq!(
        public_again.header("content-type"),
        "text/html; charset=utf-8"
    );
    assert!(
        public_again
            .header("content-security-policy")
            .contains("default-src 'none'"),
        "a kept page keeps its headers"
    );
    assert_eq!(public_again.body, public.body);

    // Another language was never kept: it is read from storage and shows the revocation.
    let (status, _) = page_of(&app, "es").await;
    assert_eq!(status, 410);
}
