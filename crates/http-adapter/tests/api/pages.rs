//! The public pages: `GET /certificates/{id}` and `GET /certificates/{id}/image`.

use axum::http::StatusCode;
use pok_domain::GatewayError;
use pok_domain::fakes::PokCall;
use pok_domain::lifecycle::Actor;
use pok_domain::service::Corrections;

use crate::helpers::{BASE, TestApp, creation_body};

#[tokio::test]
async fn an_emitted_certificate_has_a_public_page_with_safe_headers() {
    let app = TestApp::new();
    let id = app.emitted_certificate().await;
    let answer = app.get(&format!("/certificates/{id}")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), "text/html; charset=utf-8");
    assert!(
        answer
            .header("content-security-policy")
            .contains("default-src 'none'")
    );
    assert_eq!(answer.header("x-content-type-options"), "nosniff");
    assert!(answer.body.contains("Ada Lovelace"));
    assert!(answer.body.contains("&#x2f;image"));
}

#[tokio::test]
async fn an_unknown_certificate_is_404_and_a_malformed_id_is_a_4xx() {
    let app = TestApp::new();
    let answer = app
        .get("/certificates/7d0f3c55-4f44-4a8e-9a59-0c5f0e1b1c11")
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(
        answer.body.contains("Certificate not found"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains(r#"<code class="reference">"#));
    for bad in [
        "/certificates/42",
        "/certificates/..%2Fetc",
        "/certificates/%3Cscript%3E",
    ] {
        let answer = app.get(bad).await;
        assert!(answer.status.is_client_error(), "{bad}: {}", answer.status);
        assert!(!answer.body.contains("<script>"));
    }
}

#[tokio::test]
async fn a_processing_public_page_sends_retry_after() {
    let app = TestApp::new();
    app.link_course().await;
    let id = app.request_certificate(&creation_body()).await;
    let answer = app.get(&format!("/certificates/{id}")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("retry-after"), "10");
    assert!(answer.body.contains("http-equiv=\"refresh\""));
}

#[tokio::test]
async fn a_revoked_public_page_is_410() {
    let app = TestApp::new();
    let id = app.revoked_certificate().await;
    let answer = app.get(&format!("/certificates/{id}")).await;
    assert_eq!(answer.status, StatusCode::GONE);
}

#[tokio::test]
async fn a_reissued_certificate_redirects_to_the_new_one_on_this_service() {
    let app = TestApp::new();
    let old = app.emitted_certificate().await;
    let new = app
        .service
        .reissue(old, &Corrections::default(), Actor::Admin("root".into()))
        .await
        .unwrap();
    let answer = app.get(&format!("/certificates/{old}")).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(
        answer.header("location"),
        format!("{BASE}/certificates/{}", new.id)
    );
}

#[tokio::test]
async fn the_image_redirects_to_a_fresh_url_at_pok() {
    let app = TestApp::new();
    let id = app.emitted_certificate().await;
    let answer = app.get(&format!("/certificates/{id}/image")).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(
        answer.header("location"),
        "https://pok.example/images/cred-1.jpg?expires=300"
    );
    assert_eq!(answer.header("cache-control"), "no-store");
    assert_eq!(app.pok.count(PokCall::CredentialImage), 1);
}

#[tokio::test]
async fn the_image_of_a_certificate_not_emitted_is_404() {
    let app = TestApp::new();
    app.link_course().await;
    let id = app.request_certificate(&creation_body()).await;
    let answer = app.get(&format!("/certificates/{id}/image")).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let answer = app
        .get("/certificates/7d0f3c55-4f44-4a8e-9a59-0c5f0e1b1c11/image")
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(app.pok.count(PokCall::CredentialImage), 0);
}

#[tokio::test]
async fn a_pok_failure_on_the_image_is_a_5xx_page() {
    let app = TestApp::new();
    let id = app.emitted_certificate().await;
    app.pok.fail(
        PokCall::CredentialImage,
        GatewayError::retryable("429 slow down", None),
    );
    let answer = app.get(&format!("/certificates/{id}/image")).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert!(!answer.body.contains("429"));
}

#[tokio::test]
async fn a_spanish_visitor_gets_the_spanish_page() {
    let app = TestApp::new();
    let id = app.emitted_certificate().await;
    let answer = app
        .get_with(
            &format!("/certificates/{id}"),
            &[("accept-language", "es-AR,es;q=0.9,en;q=0.5")],
        )
        .await;
    assert!(answer.body.contains(r#"<html lang="es">"#));
    assert!(answer.body.contains("Compartir en X"));
    let answer = app
        .get_with(
            "/certificates/7d0f3c55-4f44-4a8e-9a59-0c5f0e1b1c11",
            &[("accept-language", "es")],
        )
        .await;
    assert!(answer.body.contains("Certificado no encontrado"));
}
