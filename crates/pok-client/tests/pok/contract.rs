//! The contract: the real client against the real simulator, so that the two agree on every
//! call, every check and every fault.

use std::collections::BTreeMap;
use std::time::Duration;

use pok_client::{PokClient, PokClientConfig};
use pok_domain::ports::{PokGateway, PreviewRequest};
use pok_domain::values::{CredentialId, TemplateId};
use pok_domain::{FailureClass, GatewayError};
use pok_sim::fixtures::{self, API_KEY};
use pok_sim::{Endpoint, FaultKind, Faults, RunningSim, SimConfig, Simulator};
use secrecy::SecretString;

use crate::support::{COURSE, issue_request};

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

async fn sim_with(config: SimConfig) -> RunningSim {
    Simulator::start(config).await.unwrap()
}

fn settings(sim: &RunningSim) -> PokClientConfig {
    PokClientConfig {
        base_url: sim.base_url().parse().unwrap(),
        api_key: SecretString::from(API_KEY),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
        read_retries: 0,
        issue_retries_after_429: 0,
        max_retry_wait: Duration::from_secs(2),
        rate_limit: None,
    }
}

fn pok(sim: &RunningSim) -> PokClient {
    PokClient::new(settings(sim)).unwrap()
}

fn graded(student: u32) -> pok_domain::issuing::IssueRequest {
    issue_request(
        student,
        fixtures::TEMPLATE_GRADED,
        &[
            (fixtures::PARAM_GRADE_LABEL, "93"),
            (fixtures::PARAM_COURSE_LABEL, "CS101"),
        ],
    )
}

async fn png_at(url: &str) -> Vec<u8> {
    reqwest::get(url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn every_call_works_against_the_simulator() {
    let sim = sim_with(SimConfig::default()).await;
    let pok = pok(&sim);

    let org = pok.organization().await.unwrap();
    assert_eq!(org.name, fixtures::ORGANIZATION_NAME);
    assert_eq!(org.available_credits, Some(fixtures::DEFAULT_CREDITS));

    let templates = pok.templates(10).await.unwrap();
    let ids: Vec<&str> = templates.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [fixtures::TEMPLATE_SIMPLE, fixtures::TEMPLATE_GRADED]);
    assert_eq!(pok.templates(1).await.unwrap().len(), 1);

    let template = pok
        .template(&TemplateId::parse(fixtures::TEMPLATE_GRADED).unwrap())
        .await
        .unwrap();
    assert_eq!(template.name, fixtures::TEMPLATE_GRADED_NAME);
    let labels: Vec<&str> = template
        .custom_parameters
        .iter()
        .map(|p| p.label.as_str())
        .collect();
    assert_eq!(
        labels,
        [fixtures::PARAM_GRADE_LABEL, fixtures::PARAM_COURSE_LABEL]
    );

    let pages = pok.pages(10).await.unwrap();
    let ids: Vec<&str> = pages.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [fixtures::PAGE_CLASSIC, fixtures::PAGE_MODERN]);

    let preview = pok
        .preview(&PreviewRequest {
            template_id: template.id.clone(),
            custom_parameters: template
                .custom_parameters
                .iter()
                .map(|p| (p.label.clone(), format!("[ {} ]", p.label)))
                .collect(),
        })
        .await
        .unwrap();
    assert!(png_at(&preview).await.starts_with(PNG_SIGNATURE));

    let issued = pok.issue(&graded(42)).await.unwrap();
    assert_eq!(issued.state, "processing");
    assert!(issued.view_url.is_some());
    assert_eq!(
        issued.raw["credential"]["title"],
        "Introduction to Computer Science"
    );
    assert_eq!(sim.credentials_created_for("42", COURSE), 1);

    let polled = pok.credential(&issued.id).await.unwrap();
    assert_eq!(polled.state, "emitted");
    let image = pok.credential_image(&issued.id).await.unwrap();
    assert!(png_at(&image).await.starts_with(PNG_SIGNATURE));

    assert_eq!(
        pok.organization().await.unwrap().available_credits,
        Some(fixtures::DEFAULT_CREDITS - 1)
    );
}

#[tokio::test]
async fn parameters_keyed_by_id_are_accepted_too() {
    let sim = sim_with(SimConfig::default()).await;
    let request = issue_request(
        1,
        fixtures::TEMPLATE_GRADED,
        &[
            (fixtures::PARAM_GRADE_ID, "93"),
            (fixtures::PARAM_COURSE_ID, "CS101"),
        ],
    );
    pok(&sim).issue(&request).await.unwrap();
    assert_eq!(sim.stats().credentials_created, 1);
}

#[tokio::test]
async fn the_simulator_s_refusals_are_permanent_and_explained() {
    let sim = sim_with(SimConfig {
        credits: 1,
        emit_after_polls: None,
        ..SimConfig::default()
    })
    .await;
    let client = pok(&sim);

    let missing = issue_request(1, fixtures::TEMPLATE_GRADED, &[("grade", "93")]);
    let err = client.issue(&missing).await.unwrap_err();
    assert_eq!(err.class, FailureClass::Permanent);
    assert!(err.reason.contains("\"course\""), "{}", err.reason);

    let mut wrong_key = settings(&sim);
    wrong_key.api_key = SecretString::from("not-the-key");
    let err = PokClient::new(wrong_key)
        .unwrap()
        .organization()
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::Permanent);
    assert!(err.reason.contains("401"), "{}", err.reason);

    let err = client
        .template(&TemplateId::parse("tpl-nope").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::Permanent);
    let err = client
        .credential(&CredentialId::parse("cred-nope").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::Permanent);

    let issued = client.issue(&graded(1)).await.unwrap();
    let err = client.credential_image(&issued.id).await.unwrap_err();
    assert_eq!(
        err.class,
        FailureClass::Permanent,
        "no image before emission"
    );

    let err = client.issue(&graded(2)).await.unwrap_err();
    assert_eq!(err.class, FailureClass::Permanent);
    assert!(err.reason.contains("credits"), "{}", err.reason);
    assert_eq!(sim.stats().credentials_created, 1);
}

#[tokio::test]
async fn final_and_unknown_states_reach_the_domain_as_pok_spelled_them() {
    let sim = sim_with(SimConfig::default()).await;
    let client = pok(&sim);
    let issued = client.issue(&graded(1)).await.unwrap();
    for state in ["revoked", "aborted", "signatureRejected", "somethingNew"] {
        assert!(sim.set_credential_state(issued.id.as_str(), state));
        assert_eq!(client.credential(&issued.id).await.unwrap().state, state);
    }
}

/// Issues once with `faults` on the issuing endpoint; returns the error and the credentials
/// the simulator created. Retries are allowed and must not matter: issuing is sent once after
/// every fault but a 429 the client waits out (and these tests' 429 asks for longer).
async fn issue_under(faults: Faults, timeout: Duration) -> (GatewayError, u64) {
    let sim = sim_with(SimConfig {
        faults: faults.only(&[Endpoint::Issue]),
        ..SimConfig::default()
    })
    .await;
    let mut cfg = settings(&sim);
    cfg.timeout = timeout;
    cfg.read_retries = 3;
    cfg.issue_retries_after_429 = 3;
    let err = PokClient::new(cfg)
        .unwrap()
        .issue(&graded(5))
        .await
        .unwrap_err();
    let stats = sim.stats();
    assert_eq!(
        stats.requests_to(Endpoint::Issue),
        1,
        "issuing is sent once"
    );
    (err, stats.created_for("5", COURSE))
}

const PATIENT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_503_is_safe_to_retry_and_created_nothing() {
    let (err, created) = issue_under(
        Faults {
            error_rate: 1.0,
            ..Faults::none()
        },
        PATIENT,
    )
    .await;
    assert_eq!(err.class, FailureClass::SafeToRetry);
    assert_eq!(created, 0);
}

#[tokio::test]
async fn a_500_is_outcome_unknown() {
    let (err, _) = issue_under(
        Faults {
            error_rate: 1.0,
            error_status: 500,
            ..Faults::none()
        },
        PATIENT,
    )
    .await;
    assert_eq!(err.class, FailureClass::OutcomeUnknown);
}

#[tokio::test]
async fn a_429_asking_for_longer_than_the_client_waits_is_safe_to_retry_with_its_retry_after() {
    // The client waits at most 2 s; the simulator asks for 4.
    let (err, created) = issue_under(
        Faults {
            too_many_requests_rate: 1.0,
            retry_after_secs: 4,
            ..Faults::none()
        },
        PATIENT,
    )
    .await;
    assert_eq!(err.class, FailureClass::SafeToRetry);
    assert_eq!(err.retry_after, Some(Duration::from_secs(4)));
    assert_eq!(created, 0);
}

#[tokio::test]
async fn a_hang_past_the_timeout_is_outcome_unknown_and_the_credential_exists() {
    let (err, created) = issue_under(
        Faults {
            hang_rate: 1.0,
            hang_ms: 10_000,
            ..Faults::none()
        },
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(err.class, FailureClass::OutcomeUnknown);
    assert_eq!(created, 1);
}

#[tokio::test]
async fn a_malformed_answer_is_outcome_unknown_and_the_credential_exists() {
    let (err, created) = issue_under(
        Faults {
            malformed_rate: 1.0,
            ..Faults::none()
        },
        PATIENT,
    )
    .await;
    assert_eq!(err.class, FailureClass::OutcomeUnknown);
    assert_eq!(created, 1);
}

#[tokio::test]
async fn accept_then_drop_is_outcome_unknown_and_the_credential_exists() {
    let (err, created) = issue_under(
        Faults {
            drop_rate: 1.0,
            ..Faults::none()
        },
        PATIENT,
    )
    .await;
    assert_eq!(err.class, FailureClass::OutcomeUnknown, "{}", err.reason);
    assert_eq!(created, 1);
}

#[tokio::test]
async fn faults_on_issuing_leave_reads_alone() {
    let sim = sim_with(SimConfig {
        faults: Faults {
            error_rate: 1.0,
            ..Faults::none()
        }
        .only(&[Endpoint::Issue]),
        ..SimConfig::default()
    })
    .await;
    let client = pok(&sim);
    assert!(client.organization().await.is_ok());
    assert!(client.issue(&graded(1)).await.is_err());
}

#[tokio::test]
async fn reads_recover_from_a_transient_fault_by_retrying() {
    for faults in [
        Faults {
            error_rate: 1.0,
            ..Faults::none()
        },
        Faults {
            drop_rate: 1.0,
            ..Faults::none()
        },
        Faults {
            malformed_rate: 1.0,
            ..Faults::none()
        },
        Faults {
            too_many_requests_rate: 1.0,
            retry_after_secs: 1,
            ..Faults::none()
        },
    ] {
        let sim = sim_with(SimConfig {
            faults: Faults {
                max_faults: Some(1),
                ..faults.clone()
            },
            ..SimConfig::default()
        })
        .await;
        let mut cfg = settings(&sim);
        cfg.read_retries = 1;
        let templates = PokClient::new(cfg).unwrap().templates(10).await;
        assert!(templates.is_ok(), "{faults:?}: {templates:?}");
        let stats = sim.stats();
        assert_eq!(stats.requests_to(Endpoint::Templates), 2, "{faults:?}");
    }
}

#[tokio::test]
async fn reads_wait_out_the_rate_limit() {
    let sim = sim_with(SimConfig {
        faults: Faults {
            rate_limit_rps: Some(1),
            ..Faults::none()
        },
        ..SimConfig::default()
    })
    .await;
    let mut cfg = settings(&sim);
    cfg.read_retries = 3;
    let client = PokClient::new(cfg).unwrap();
    for _ in 0..3 {
        client.organization().await.unwrap();
    }
    assert!(sim.stats().faults_of(FaultKind::RateLimit) >= 1);
}

#[tokio::test]
async fn the_simulator_s_previews_fail_without_every_parameter() {
    let sim = sim_with(SimConfig::default()).await;
    let err = pok(&sim)
        .preview(&PreviewRequest {
            template_id: TemplateId::parse(fixtures::TEMPLATE_GRADED).unwrap(),
            custom_parameters: BTreeMap::from([("grade".into(), "90".into())]),
        })
        .await
        .unwrap_err();
    assert_eq!(err.class, FailureClass::Permanent);
    assert!(err.reason.contains("\"course\""), "{}", err.reason);
}

#[tokio::test]
async fn issuing_refused_with_a_429_is_sent_again_and_creates_one_credential() {
    let sim = sim_with(SimConfig {
        faults: Faults {
            too_many_requests_rate: 1.0,
            retry_after_secs: 1,
            max_faults: Some(1),
            ..Faults::none()
        }
        .only(&[Endpoint::Issue]),
        ..SimConfig::default()
    })
    .await;
    let mut cfg = settings(&sim);
    cfg.issue_retries_after_429 = 2;
    let issued = PokClient::new(cfg)
        .unwrap()
        .issue(&graded(6))
        .await
        .unwrap();
    assert_eq!(issued.state, "processing");
    let stats = sim.stats();
    assert_eq!(stats.faults_of(FaultKind::TooManyRequests), 1);
    assert_eq!(stats.requests_to(Endpoint::Issue), 2);
    assert_eq!(stats.created_for("6", COURSE), 1);
}

#[tokio::test]
async fn clones_at_the_simulator_s_rate_limit_are_never_refused() {
    let sim = sim_with(SimConfig {
        faults: Faults {
            rate_limit_rps: Some(20),
            ..Faults::none()
        },
        ..SimConfig::default()
    })
    .await;
    let mut cfg = settings(&sim);
    cfg.rate_limit = Some(20.0);
    let pok = PokClient::new(cfg).unwrap();
    // Twice the simulator's bucket at once, issuing and reads alike.
    let calls: Vec<_> = (0..40u32)
        .map(|i| {
            let pok = pok.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    pok.issue(&graded(100 + i)).await.map(|_| ())
                } else {
                    pok.organization().await.map(|_| ())
                }
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let stats = sim.stats();
    assert_eq!(stats.faults_of(FaultKind::RateLimit), 0, "{stats:?}");
    assert_eq!(stats.requests_to(Endpoint::Issue), 20);
}
