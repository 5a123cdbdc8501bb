//! The simulator over real HTTP: its POK endpoints, its checks, its faults and its admin
//! endpoints.

// Test helpers outside `#[test]` functions fail loudly too (clippy.toml only covers the
// functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use pok_sim::fixtures::{self, API_KEY};
use pok_sim::{Endpoint, FaultKind, Faults, RunningSim, SimConfig, Simulator, Stats};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

const COURSE: &str = "course-v1:OrgX+CS101+2026";

async fn start(config: SimConfig) -> RunningSim {
    Simulator::start(config).await.unwrap()
}

fn req(sim: &RunningSim, method: Method, path: &str) -> RequestBuilder {
    Client::new()
        .request(method, format!("{}{path}", sim.base_url()))
        .header("Authorization", format!("ApiKey {API_KEY}"))
}

async fn json_of(r: RequestBuilder) -> (StatusCode, Value) {
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn issue_body(student: u32, params: &Value) -> Value {
    json!({
        "credential": {
            "tags": [format!("StudentId:{student}"), format!("CourseId:{COURSE}"), "Mode:verified"],
            "skipAcceptance": true,
            "emissionType": "pok",
            "dateFormat": "dd/MM/yyyy",
            "emissionDate": "2026-11-25T10:00:00Z",
            "title": "Introduction to Computer Science",
            "emitter": "OrgX"
        },
        "receiver": {
            "languageTag": "en", "identification": student.to_string(),
            "email": "ada@example.org", "firstName": "Ada", "lastName": "Lovelace"
        },
        "customization": {
            "page": fixtures::PAGE_CLASSIC,
            "template": { "id": fixtures::TEMPLATE_GRADED, "customParameters": params }
        }
    })
}

fn graded() -> Value {
    json!({ "grade": "93", "course": "CS101" })
}

async fn issue(sim: &RunningSim, student: u32) -> (StatusCode, Value) {
    json_of(req(sim, Method::POST, "credential/").json(&issue_body(student, &graded()))).await
}

async fn fetch_png(url: &str) -> Vec<u8> {
    let resp = Client::new().get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{url}");
    assert_eq!(resp.headers()["content-type"], "image/png");
    resp.bytes().await.unwrap().to_vec()
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

#[tokio::test]
async fn every_pok_endpoint_answers_as_pok_does() {
    let sim = start(SimConfig::default()).await;

    let (s, org) = json_of(req(&sim, Method::GET, "organization/me")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(org["name"], fixtures::ORGANIZATION_NAME);
    assert_eq!(org["availableCredits"], fixtures::DEFAULT_CREDITS);

    let (_, list) = json_of(req(&sim, Method::GET, "template?limit=1")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let (_, list) = json_of(req(&sim, Method::GET, "template?limit=10")).await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [fixtures::TEMPLATE_SIMPLE, fixtures::TEMPLATE_GRADED]);

    let (_, t) = json_of(req(&sim, Method::GET, "template/tpl-graded")).await;
    assert_eq!(t["name"], fixtures::TEMPLATE_GRADED_NAME);
    assert_eq!(t["customParameters"][0]["id"], fixtures::PARAM_GRADE_ID);
    assert_eq!(
        t["customParameters"][1]["label"],
        fixtures::PARAM_COURSE_LABEL
    );

    let (_, pages) = json_of(req(&sim, Method::GET, "page?limit=5")).await;
    assert_eq!(pages["data"][1]["id"], fixtures::PAGE_MODERN);

    let (s, preview) = json_of(
        req(&sim, Method::POST, "template/preview")
            .json(&json!({ "id": "tpl-graded", "customParameters": graded() })),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        fetch_png(preview["url"].as_str().unwrap())
            .await
            .starts_with(PNG_SIGNATURE)
    );

    let (s, cred) = issue(&sim, 42).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(cred["state"], "processing");
    assert_eq!(cred["receiver"]["firstName"], "Ada");
    let id = cred["id"].as_str().unwrap().to_owned();

    let (s, polled) = json_of(req(&sim, Method::GET, &format!("credential/{id}/"))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(polled["state"], "emitted");
    assert_eq!(
        polled["credential"]["title"],
        "Introduction to Computer Science"
    );
    let view = Client::new()
        .get(polled["viewUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        view.text()
            .await
            .unwrap()
            .contains("Introduction to Computer Science")
    );

    let (s, image) = json_of(req(
        &sim,
        Method::GET,
        &format!("credential/{id}/decrypted-image/"),
    ))
    .await;
    assert_eq!(s, StatusCode::OK);
    let location = image["location"].as_str().unwrap();
    assert!(location.starts_with(&sim.base_url()), "{location}");
    assert!(fetch_png(location).await.starts_with(PNG_SIGNATURE));

    let stats = sim.stats();
    assert_eq!(stats.credits_left, fixtures::DEFAULT_CREDITS - 1);
    assert_eq!(stats.created_for("42", COURSE), 1);
    assert_eq!(stats.requests_to(Endpoint::Templates), 2);
    assert_eq!(stats.requests_to(Endpoint::Issue), 1);
    let (_, org) = json_of(req(&sim, Method::GET, "organization/me")).await;
    assert_eq!(org["availableCredits"], fixtures::DEFAULT_CREDITS - 1);
    assert_eq!(org["emittedCredentials"], 1);
}

#[tokio::test]
async fn every_pok_endpoint_refuses_a_wrong_or_missing_key() {
    let sim = start(SimConfig::default()).await;
    let calls = [
        (Method::GET, "organization/me"),
        (Method::GET, "template?limit=5"),
        (Method::GET, "template/tpl-simple"),
        (Method::GET, "page?limit=5"),
        (Method::POST, "template/preview"),
        (Method::POST, "credential/"),
        (Method::GET, "credential/x/"),
        (Method::GET, "credential/x/decrypted-image/"),
    ];
    for (method, path) in calls {
        let url = format!("{}{path}", sim.base_url());
        let wrong = Client::new()
            .request(method.clone(), &url)
            .header("Authorization", "ApiKey nope")
            .json(&issue_body(1, &graded()))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path}");
        let missing = Client::new().request(method, &url).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(sim.stats().credentials_created, 0);
}

#[tokio::test]
async fn issuing_checks_fields_and_parameters_naming_what_is_wrong() {
    let sim = start(SimConfig::default()).await;
    let mut no_email = issue_body(1, &graded());
    no_email["receiver"]
        .as_object_mut()
        .unwrap()
        .remove("email");
    let (s, e) = json_of(req(&sim, Method::POST, "credential/").json(&no_email)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        e["message"].as_str().unwrap().contains("receiver.email"),
        "{e}"
    );

    let (s, e) = json_of(
        req(&sim, Method::POST, "credential/").json(&issue_body(1, &json!({ "grade": "90" }))),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(e["message"].as_str().unwrap().contains("\"course\""), "{e}");

    let (s, e) =
        json_of(req(&sim, Method::POST, "template/preview").json(&json!({ "id": "tpl-graded" })))
            .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(e["message"].as_str().unwrap().contains("\"grade\""), "{e}");

    let (s, _) = json_of(
        req(&sim, Method::POST, "credential/")
            .body("not json")
            .header("content-type", "application/json"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Keyed by id instead of label: accepted too.
    let by_id = json!({ fixtures::PARAM_GRADE_ID: "93", fixtures::PARAM_COURSE_ID: "CS101" });
    let (s, _) = json_of(req(&sim, Method::POST, "credential/").json(&issue_body(2, &by_id))).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(sim.stats().credentials_created, 1);
}

#[tokio::test]
async fn unknown_things_are_404() {
    let sim = start(SimConfig::default()).await;
    for path in [
        "template/tpl-nope",
        "credential/nope/",
        "credential/nope/decrypted-image/",
    ] {
        let (s, e) = json_of(req(&sim, Method::GET, path)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert!(e["message"].as_str().unwrap().contains("nope"));
    }
}

#[tokio::test]
async fn credits_run_out() {
    let sim = start(SimConfig {
        credits: 1,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(issue(&sim, 1).await.0, StatusCode::CREATED);
    let (s, e) = issue(&sim, 2).await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED);
    assert!(e["message"].as_str().unwrap().contains("credits"));
    let stats = sim.stats();
    assert_eq!((stats.credits_left, stats.credentials_created), (0, 1));
    sim.set_credits(5);
    assert_eq!(issue(&sim, 2).await.0, StatusCode::CREATED);
}

async fn poll_states(sim: &RunningSim, polls: usize) -> Vec<String> {
    let (_, cred) = issue(sim, 1).await;
    let id = cred["id"].as_str().unwrap().to_owned();
    let mut states = vec![cred["state"].as_str().unwrap().to_owned()];
    for _ in 0..polls {
        let (_, c) = json_of(req(sim, Method::GET, &format!("credential/{id}/"))).await;
        states.push(c["state"].as_str().unwrap().to_owned());
    }
    states
}

#[tokio::test]
async fn credentials_emit_after_the_configured_polls_or_time() {
    let three = start(SimConfig {
        emit_after_polls: Some(3),
        ..SimConfig::default()
    })
    .await;
    assert_eq!(
        poll_states(&three, 3).await,
        ["processing", "processing", "processing", "emitted"]
    );
    let at_once = start(SimConfig {
        emit_after_polls: Some(0),
        ..SimConfig::default()
    })
    .await;
    assert_eq!(poll_states(&at_once, 0).await, ["emitted"]);
    let by_time = start(SimConfig {
        emit_after_polls: None,
        emit_after: Some(Duration::ZERO),
        ..SimConfig::default()
    })
    .await;
    assert_eq!(poll_states(&by_time, 1).await, ["emitted", "emitted"]);
    let never = start(SimConfig {
        emit_after_polls: None,
        emit_after: None,
        ..SimConfig::default()
    })
    .await;
    assert!(
        poll_states(&never, 4)
            .await
            .iter()
            .all(|s| s == "processing")
    );
}

#[tokio::test]
async fn a_forced_state_sticks_and_hides_the_image() {
    let sim = start(SimConfig::default()).await;
    let (_, cred) = issue(&sim, 1).await;
    let id = cred["id"].as_str().unwrap().to_owned();
    let (s, forced) = json_of(
        Client::new()
            .put(format!("{}_sim/credentials/{id}/state", sim.base_url()))
            .json(&json!({ "state": "revoked" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(forced["state"], "revoked");
    let (_, c) = json_of(req(&sim, Method::GET, &format!("credential/{id}/"))).await;
    assert_eq!(c["state"], "revoked");
    let (s, _) = json_of(req(
        &sim,
        Method::GET,
        &format!("credential/{id}/decrypted-image/"),
    ))
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(sim.set_credential_state(&id, "aborted"));
    assert_eq!(sim.credential_state(&id).as_deref(), Some("aborted"));
    assert!(!sim.set_credential_state("nope", "aborted"));
}

#[tokio::test]
async fn faults_change_at_run_time_and_can_target_one_endpoint() {
    let sim = start(SimConfig::default()).await;
    let admin = format!("{}_sim/faults", sim.base_url());
    let (s, set) = json_of(
        Client::new()
            .put(&admin)
            .json(&json!({ "error_rate": 1.0, "endpoints": ["issue"] })),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(set["error_status"], 503);
    let (_, got) = json_of(Client::new().get(&admin)).await;
    assert_eq!(got, set);

    assert_eq!(issue(&sim, 1).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        json_of(req(&sim, Method::GET, "organization/me")).await.0,
        StatusCode::OK
    );
    let stats = sim.stats();
    assert_eq!(stats.credentials_created, 0);
    assert_eq!(stats.faults_of(FaultKind::ServerError), 1);

    let (s, e) = json_of(Client::new().put(&admin).json(&json!({ "drop_rate": 2 }))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(e["message"].as_str().unwrap().contains("drop_rate"));

    sim.set_faults(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::none()
    });
    assert_eq!(issue(&sim, 1).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    sim.set_faults(Faults::none());
    assert_eq!(issue(&sim, 1).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn a_fault_budget_fails_exactly_the_next_requests() {
    let sim = start(SimConfig {
        faults: Faults {
            error_rate: 1.0,
            max_faults: Some(1),
            ..Faults::none()
        },
        ..SimConfig::default()
    })
    .await;
    assert_eq!(issue(&sim, 1).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(issue(&sim, 1).await.0, StatusCode::CREATED);
    assert_eq!(sim.faults().max_faults, Some(0));
}

#[tokio::test]
async fn injected_429s_carry_retry_after() {
    let sim = start(SimConfig {
        faults: Faults {
            too_many_requests_rate: 1.0,
            retry_after_secs: 7,
            ..Faults::none()
        },
        ..SimConfig::default()
    })
    .await;
    let resp = req(&sim, Method::GET, "organization/me")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "7");
}

#[tokio::test]
async fn the_rate_limit_answers_429_past_its_rate() {
    let sim = start(SimConfig {
        faults: Faults {
            rate_limit_rps: Some(1),
            ..Faults::none()
        },
        ..SimConfig::default()
    })
    .await;
    let mut limited = Vec::new();
    for _ in 0..5 {
        let resp = req(&sim, Method::GET, "organization/me")
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            limited.push(resp.headers()["retry-after"].to_str().unwrap().to_owned());
        }
    }
    assert!(!limited.is_empty());
    assert!(limited.iter().all(|s| s.parse::<u64>().unwrap() >= 1));
    assert_eq!(
        sim.stats().faults_of(FaultKind::RateLimit),
        limited.len() as u64
    );
}

#[tokio::test]
async fn latency_is_added() {
    let sim = start(SimConfig {
        faults: Faults {
            latency_ms: 150,
            ..Faults::none()
        },
        ..SimConfig::default()
    })
    .await;
    let started = Instant::now();
    let (s, _) = json_of(req(&sim, Method::GET, "organization/me")).await;
    assert_eq!(s, StatusCode::OK);
    // A lower bound only: the sleep guarantees it, however slow the machine.
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn a_hanging_issue_creates_the_credential_but_answers_too_late() {
    let sim = start(SimConfig {
        faults: Faults {
            hang_rate: 1.0,
            hang_ms: 10_000,
            ..Faults::none()
        }
        .only(&[Endpoint::Issue]),
        ..SimConfig::default()
    })
    .await;
    let err = req(&sim, Method::POST, "credential/")
        .json(&issue_body(7, &graded()))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    let stats = sim.stats();
    assert_eq!(stats.created_for("7", COURSE), 1);
    assert_eq!(stats.faults_of(FaultKind::Hang), 1);
    // Shutting down ends the hang instead of waiting for it.
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_malformed_answer_still_creates_the_credential() {
    let sim = start(SimConfig {
        faults: Faults {
            malformed_rate: 1.0,
            ..Faults::none()
        },
        ..SimConfig::default()
    })
    .await;
    let resp = req(&sim, Method::POST, "credential/")
        .json(&issue_body(8, &graded()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let text = resp.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    assert_eq!(sim.stats().created_for("8", COURSE), 1);
}

#[tokio::test]
async fn accept_then_drop_creates_the_credential_and_breaks_the_answer() {
    let sim = start(SimConfig {
        faults: Faults {
            drop_rate: 1.0,
            ..Faults::none()
        },
        ..SimConfig::default()
    })
    .await;
    let outcome = match req(&sim, Method::POST, "credential/")
        .json(&issue_body(9, &graded()))
        .send()
        .await
    {
        Ok(resp) => resp.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(outcome.is_err(), "the answer must not arrive complete");
    assert_eq!(sim.stats().created_for("9", COURSE), 1);
    assert_eq!(sim.stats().faults_of(FaultKind::Drop), 1);
}

#[tokio::test]
async fn stats_over_http_match_the_handle() {
    let sim = start(SimConfig::default()).await;
    issue(&sim, 3).await;
    issue(&sim, 3).await;
    let stats: Stats = Client::new()
        .get(format!("{}_sim/stats", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats, sim.stats());
    assert_eq!(stats.created_for("3", COURSE), 2);
    let raw: Value = serde_json::to_value(&stats).unwrap();
    assert_eq!(raw["requests"]["issue"], 2);
    assert_eq!(raw["credentials_by_tags"][0]["student_id"], "3");
}

#[tokio::test]
async fn serve_takes_a_listener_and_a_shutdown_signal() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sim = Simulator::new(&SimConfig::default());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sim.clone().serve(listener, async move {
        let _ = rx.await;
    }));
    let resp = Client::new()
        .get(format!("http://{addr}/template/tpl-simple"))
        .header("Authorization", format!("ApiKey {}", sim.api_key()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(sim.stats().requests_to(Endpoint::Template), 1);
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}
