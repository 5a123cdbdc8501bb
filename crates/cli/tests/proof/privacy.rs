//! What must never leak: secrets and personal data into logs, and hostile text into pages.

use std::time::{Duration, Instant};

use pok_sim::{Endpoint, Faults, SimConfig};
use serde_json::{Value, json};

use crate::common::{COURSE, SECRET, Service};

/// A learner with every personal field filled.
fn zelda(user: i64) -> Value {
    json!({
        "user": {
            "id": user,
            "username": format!("zq{user}"),
            "email": format!("zelda.quartermaine{user}@example.org"),
            "full_name": "Zelda Quartermaine",
            "first_name": "Zelda",
            "last_name": "Quartermaine",
            "language": "es-AR",
        },
        "course": {
            "key": COURSE,
            "title": "Computing 101",
            "signatories": [{"name": "Grace Hopper", "title": "Dean", "organization": "OrgX"}],
        },
        "mode": "verified",
        "status": "downloadable",
        "grade": {"percent": 0.93, "passed": true},
        "accept_language": "es-AR,es;q=0.9,en;q=0.5",
        "platform": {"name": "My Campus", "language": "en"},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_logs_no_api_key_secret_e_mail_or_name() {
    let svc = Service::start(SimConfig::default(), &[("POK_TIMEOUT", "10")]).await;
    let creation = "/v1/filters/certificate-creation-requested";

    // A learner issued at once, then shown on every page.
    let first = svc.create_with(&zelda(1)).await;
    assert_eq!(first["outcome"], "enqueued", "{first}");
    let id = first["certificate_id"].as_str().unwrap().to_owned();
    assert_eq!(
        svc.create_with(&zelda(1)).await["outcome"],
        "already_requested"
    );
    svc.wait_emitted(1).await;
    for path in [
        format!("/certificates/{id}"),
        format!("/certificates/{id}/image"),
    ] {
        let r = svc
            .http
            .get(format!("{}{path}", svc.base))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success() || r.status().is_redirection(),
            "{path}: {}",
            r.status()
        );
    }

    // A learner whose first attempt meets a 503, then a learner whose credential comes back
    // as cut JSON that echoes the receiver (e-mail and name) into the error.
    svc.sim.set_faults(
        Faults {
            error_rate: 1.0,
            max_faults: Some(1),
            ..Faults::none()
        }
        .only(&[Endpoint::Issue]),
    );
    svc.create_with(&zelda(2)).await;
    svc.wait_emitted(2).await;
    svc.sim.set_faults(
        Faults {
            malformed_rate: 1.0,
            ..Faults::none()
        }
        .only(&[Endpoint::Issue]),
    );
    svc.create_with(&zelda(3)).await;
    let start = Instant::now();
    while svc.render(3).await["status"] != 503 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never held for review"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Callers who get it wrong: a wrong token, personal data in the wrong places, a learner
    // without an e-mail address.
    let wrong_token = "wrong-token-d41d8cd98f00";
    let r = svc
        .http
        .post(format!("{}{creation}", svc.base))
        .bearer_auth(wrong_token)
        .json(&zelda(4))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let mut misplaced = zelda(5);
    misplaced["course"]["key"] = json!("zelda.quartermaine5@example.org");
    assert_eq!(svc.post(creation, &misplaced).await.status(), 422);
    let mut misplaced = zelda(6);
    misplaced["user"]["id"] = json!("Zelda Quartermaine");
    assert_eq!(svc.post(creation, &misplaced).await.status(), 422);
    let mut no_email = zelda(7);
    no_email["user"]["email"] = Value::Null;
    assert_eq!(svc.create_with(&no_email).await["action"], "prevent");
    let mut bad_email = zelda(8);
    bad_email["user"]["email"] = json!("zelda quartermaine8@example.org");
    assert_eq!(svc.create_with(&bad_email).await["action"], "prevent");
    let r = svc
        .http
        .get(format!("{}/metrics", svc.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let logs = svc.logs();
    assert!(
        logs.lines().count() > 20,
        "too little was logged to prove anything:\n{logs}"
    );
    svc.assert_logs_clean(&[
        "@example.org".into(),
        "zelda.quartermaine".into(),
        "Zelda".into(),
        "Quartermaine".into(),
        wrong_token.into(),
    ]);
}

/// Hostile values, as the LMS might pass them on from a learner's profile or a course team.
const NAME: &str = r#"Eve "O'Hara" <img src=x onerror=alert(1)>"#;
const TITLE: &str = "</title><script>alert(1)</script>";
const LANGUAGES: [&str; 4] = [
    r#""><script>alert(2)</script>"#,
    r#""><svg onload=alert(3)>"#,
    r"'><iframe src=javascript:alert(4)>",
    r#"en" onmouseover="alert(5)"#,
];

/// The escaped forms the pages must show instead (minijinja escapes `/` as well; browsers
/// read `&#x2f;` as `/`).
const NAME_ESCAPED: &str = "Eve &quot;O&#x27;Hara&quot; &lt;img src=x onerror=alert(1)&gt;";
const TITLE_ESCAPED: &str = "&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;";

/// Checks that a page holds none of the hostile text raw: no script, no foreign tag or
/// attribute, the document's language one of ours, one title.
fn assert_escaped(page: &str, what: &str) {
    let lower = page.to_ascii_lowercase();
    for raw in [NAME, TITLE].iter().chain(LANGUAGES.iter()) {
        assert!(
            !page.contains(raw),
            "{what}: {raw:?} is in the page raw:\n{page}"
        );
    }
    for tag in [
        "<script",
        "<svg",
        "<iframe",
        "onmouseover=\"",
        "=\"javascript:",
    ] {
        assert!(!lower.contains(tag), "{what}: {tag:?} in the page:\n{page}");
    }
    for (at, _) in lower.match_indices("<img") {
        assert!(
            lower[at..].starts_with("<img class=\"certificate\""),
            "{what}: a foreign image tag:\n{page}"
        );
    }
    assert!(
        page.contains("<html lang=\"en\">") || page.contains("<html lang=\"es\">"),
        "{what}: the document's language is not ours:\n{page}"
    );
    assert_eq!(lower.matches("</title>").count(), 1, "{what}:\n{page}");
}

/// A page's HTML with `&#x2f;` read as `/`.
fn text(page: &str) -> String {
    page.replace("&#x2f;", "/")
}

/// The render filter with hostile language preferences.
fn render_body(user: i64) -> Value {
    json!({
        "course_key": COURSE,
        "user_id": user,
        "language": LANGUAGES[0],
        "accept_language": LANGUAGES[1],
        "platform_name": LANGUAGES[2],
    })
}

/// The public page, asked for with a hostile `Accept-Language`.
async fn public_page(svc: &Service, id: &str) -> (u16, String, Option<String>) {
    let r = svc
        .http
        .get(format!("{}/certificates/{id}", svc.base))
        .header("accept-language", LANGUAGES[3])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let csp = r
        .headers()
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, r.text().await.unwrap(), csp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_titles_and_languages_are_escaped_on_every_page() {
    // The page cache off: this test looks at the revoked page right after the CLI revokes
    // (the cache's delay has its own test in tests/cli/certificates.rs).
    let svc = Service::start(
        SimConfig::default(),
        &[
            ("POK_TIMEOUT", "10"),
            ("OPENEDX_POK_PAGE_CACHE_SECONDS", "0"),
        ],
    )
    .await;
    let user = 666;
    let created = svc
        .create_with(&json!({
            "user": {"id": user, "username": "eve", "email": "eve@example.org", "full_name": NAME, "language": LANGUAGES[0]},
            "course": {"key": COURSE, "title": TITLE},
            "mode": "verified",
            "status": "downloadable",
            "accept_language": LANGUAGES[1],
            "platform": {"name": LANGUAGES[2], "language": LANGUAGES[3]},
        }))
        .await;
    assert_eq!(created["outcome"], "enqueued", "{created}");
    let id = created["certificate_id"].as_str().unwrap().to_owned();

    // The certificate, through the render filter, once emitted.
    let start = Instant::now();
    let emitted = loop {
        let answer = svc.render_with(&render_body(user)).await;
        let page = answer["body"].as_str().unwrap_or_default().to_owned();
        assert_escaped(&page, "render filter");
        if answer["status"] == 200 && !page.contains("http-equiv=\"refresh\"") {
            break page;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never emitted: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        text(&emitted).contains(NAME_ESCAPED),
        "the name is shown escaped:\n{emitted}"
    );
    assert!(
        text(&emitted).contains(TITLE_ESCAPED),
        "the title is shown escaped:\n{emitted}"
    );

    // The same certificate on the public page.
    let (status, page, csp) = public_page(&svc, &id).await;
    assert_eq!(status, 200);
    assert_escaped(&page, "public page");
    assert!(text(&page).contains(NAME_ESCAPED) && text(&page).contains(TITLE_ESCAPED));
    assert!(
        csp.is_some_and(|p| p.contains("default-src 'none'")),
        "the public page forbids scripts"
    );

    // The preview a learner without a certificate sees, and the not-found pages.
    let preview = svc.render_with(&render_body(667)).await;
    assert_eq!(preview["status"], 200, "{preview}");
    assert_escaped(preview["body"].as_str().unwrap(), "preview");
    for unknown in [
        "7d4f8a52-9a0e-4c55-8f0b-3b2c5b1d2e10",
        "%22%3E%3Cscript%3Ealert(6)%3C%2Fscript%3E",
    ] {
        let (status, page, _) = public_page(&svc, unknown).await;
        assert_eq!(status, 404);
        assert_escaped(&page, "not-found page");
    }

    // Revoked: the course title is shown again.
    svc.revoke(&id, "escaping test").await;
    let revoked = svc.render_with(&render_body(user)).await;
    assert_eq!(revoked["status"], 410, "{revoked}");
    let page = revoked["body"].as_str().unwrap();
    assert_escaped(page, "revoked page (render filter)");
    assert!(text(page).contains(TITLE_ESCAPED));
    let (status, page, _) = public_page(&svc, &id).await;
    assert_eq!(status, 410);
    assert_escaped(&page, "revoked page (public)");

    svc.assert_logs_clean(&["eve@example.org".into(), "O'Hara".into(), SECRET.into()]);
}
