//! Every call's happy path against wiremock, with answers shaped like POK's.

use std::collections::BTreeMap;

use pok_domain::ports::{PokGateway, PreviewRequest};
use pok_domain::values::{CredentialId, TemplateId};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{COURSE, EMAIL, FIRST_NAME, KEY, LAST_NAME, client, issue_request};

fn auth() -> impl wiremock::Match {
    header("Authorization", format!("ApiKey {KEY}").as_str())
}

#[tokio::test]
async fn organization_is_read_with_the_api_key_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/organization/me"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "65f0c0ffee", "name": "OrgX University", "wallet": "0xabc",
            "availableCredits": 120, "emittedCredentials": 40, "sentCredentials": 45,
            "draftCredentials": 2, "processingCredentials": "3",
            "plan": { "name": "pro" }, "createdAt": "2024-01-01T00:00:00Z"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let org = client(&server.uri()).organization().await.unwrap();
    assert_eq!(org.name, "OrgX University");
    assert_eq!(org.wallet.as_deref(), Some("0xabc"));
    assert_eq!(org.available_credits, Some(120));
    assert_eq!(org.emitted_credentials, Some(40));
    assert_eq!(org.sent_credentials, Some(45));
    assert_eq!(org.draft_credentials, Some(2));
    assert_eq!(org.processing_credentials, Some(3));
}

#[tokio::test]
async fn templates_and_pages_are_listed_with_their_limit() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/template"))
        .and(query_param("limit", "25"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                { "id": "tpl-1", "name": "Certificate A", "orientation": "landscape", "customParameters": [] },
                { "id": "tpl-2", "name": "Certificate B", "thumbnail": "https://cdn/x.png" }
            ],
            "total": 2, "page": 1
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/page"))
        .and(query_param("limit", "5"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [{ "id": "page-1", "name": "Landing", "published": true }]
        })))
        .mount(&server)
        .await;
    let pok = client(&server.uri());
    let templates = pok.templates(25).await.unwrap();
    let got: Vec<(&str, &str)> = templates
        .iter()
        .map(|t| (t.id.as_str(), t.name.as_str()))
        .collect();
    assert_eq!(
        got,
        [("tpl-1", "Certificate A"), ("tpl-2", "Certificate B")]
    );
    let pages = pok.pages(5).await.unwrap();
    assert_eq!(pages[0].id.as_str(), "page-1");
    assert_eq!(pages[0].name, "Landing");
}

#[tokio::test]
async fn a_template_comes_with_its_custom_parameters() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/template/tpl-1"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "tpl-1", "name": "Graded",
            "customParameters": [
                { "id": "p-1", "label": "grade", "type": "text", "required": true },
                { "id": "p-2", "label": "hours" }
            ]
        })))
        .mount(&server)
        .await;
    let t = client(&server.uri())
        .template(&TemplateId::parse("tpl-1").unwrap())
        .await
        .unwrap();
    assert_eq!(t.name, "Graded");
    let params: Vec<(&str, &str)> = t
        .custom_parameters
        .iter()
        .map(|p| (p.id.as_str(), p.label.as_str()))
        .collect();
    assert_eq!(params, [("p-1", "grade"), ("p-2", "hours")]);
}

#[tokio::test]
async fn a_preview_sends_the_template_and_its_parameters() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/template/preview"))
        .and(auth())
        .and(body_json(
            json!({ "id": "tpl-1", "customParameters": { "grade": "[ grade ]" } }),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "url": "https://cdn.pok.tech/previews/abc.png" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let url = client(&server.uri())
        .preview(&PreviewRequest {
            template_id: TemplateId::parse("tpl-1").unwrap(),
            custom_parameters: BTreeMap::from([("grade".into(), "[ grade ]".into())]),
        })
        .await
        .unwrap();
    assert_eq!(url, "https://cdn.pok.tech/previews/abc.png");
}

fn credential_answer(state: &str) -> serde_json::Value {
    json!({
        "id": "cred-9f8e", "state": state, "viewUrl": "https://pok.tech/c/cred-9f8e",
        "createdAt": "2026-11-25T10:00:01Z",
        "credential": {
            "emissionType": "pok", "emissionDate": "2026-11-25T10:00:00Z",
            "title": "Introduction to Computer Science", "emitter": "OrgX",
            "tags": ["StudentId:42", format!("CourseId:{COURSE}"), "Mode:verified"]
        },
        "receiver": { "email": EMAIL, "firstName": FIRST_NAME, "lastName": LAST_NAME },
        "blockchain": { "network": "polygon" }
    })
}

#[tokio::test]
async fn issuing_sends_the_documented_body_and_accepts_any_2xx() {
    for status in [200, 201, 202] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/credential/"))
            .and(auth())
            .and(header("content-type", "application/json"))
            .and(body_json(json!({
                "credential": {
                    "tags": ["StudentId:42", format!("CourseId:{COURSE}"), "Mode:verified"],
                    "skipAcceptance": true,
                    "emissionType": "pok",
                    "dateFormat": "dd/MM/yyyy",
                    "emissionDate": "2026-11-25T10:00:00Z",
                    "title": "Introduction to Computer Science",
                    "emitter": "OrgX"
                },
                "receiver": {
                    "languageTag": "es-AR", "identification": "42",
                    "email": EMAIL, "firstName": FIRST_NAME, "lastName": LAST_NAME
                },
                "customization": {
                    "page": "page-classic",
                    "template": { "id": "tpl-1", "customParameters": { "grade": "93" } }
                }
            })))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(credential_answer("processing")),
            )
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server.uri())
            .issue(&issue_request(42, "tpl-1", &[("grade", "93")]))
            .await
            .unwrap_or_else(|e| panic!("HTTP {status}: {e}"));
        assert_eq!(c.id.as_str(), "cred-9f8e");
        assert_eq!(c.state, "processing");
        assert_eq!(c.view_url.as_deref(), Some("https://pok.tech/c/cred-9f8e"));
        assert_eq!(
            c.raw["blockchain"]["network"], "polygon",
            "the raw answer is kept"
        );
    }
}

#[tokio::test]
async fn a_credential_keeps_unknown_states_and_fields() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/credential/cred-9f8e/"))
        .and(auth())
        .respond_with(
            ResponseTemplate::new(200).set_body_json(credential_answer("anchoringOnChain")),
        )
        .mount(&server)
        .await;
    let c = client(&server.uri())
        .credential(&CredentialId::parse("cred-9f8e").unwrap())
        .await
        .unwrap();
    assert_eq!(c.state, "anchoringOnChain");
    assert_eq!(
        c.raw["credential"]["title"],
        "Introduction to Computer Science"
    );
}

#[tokio::test]
async fn a_credential_with_only_an_id_is_still_a_credential() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/credential/c-1/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "id": "c-1", "state": null })),
        )
        .mount(&server)
        .await;
    let c = client(&server.uri())
        .credential(&CredentialId::parse("c-1").unwrap())
        .await
        .unwrap();
    assert_eq!(c.state, "unknown");
    assert_eq!(c.view_url, None);
}

#[tokio::test]
async fn the_image_url_is_read_from_location() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/credential/cred-9f8e/decrypted-image/"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "location": "https://s3.amazonaws.com/pok/cred-9f8e.jpg?X-Amz-Expires=300",
            "expiresIn": 300
        })))
        .mount(&server)
        .await;
    let url = client(&server.uri())
        .credential_image(&CredentialId::parse("cred-9f8e").unwrap())
        .await
        .unwrap();
    assert_eq!(
        url,
        "https://s3.amazonaws.com/pok/cred-9f8e.jpg?X-Amz-Expires=300"
    );
}

#[tokio::test]
async fn base_urls_with_a_prefix_work_with_and_without_a_trailing_slash() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/pok/v1/organization/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "name": "X" })))
        .expect(2)
        .mount(&server)
        .await;
    for base in [
        format!("{}/pok/v1", server.uri()),
        format!("{}/pok/v1/", server.uri()),
    ] {
        let org = client(&base).organization().await.unwrap();
        assert_eq!(org.name, "X", "{base}");
    }
}
