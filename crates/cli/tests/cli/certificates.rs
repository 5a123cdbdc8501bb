//! `certificates list|show|export|issue|retry|refresh|resolve|revoke|reissue|reconcile`.

use pok_domain::issuing::{IssueRequest, Receiver};
use pok_domain::ports::PokGateway;
use pok_domain::values::{DateFormat, Email, EmissionType, LanguageTag, TemplateId};
use pok_sim::{Endpoint, Faults};

use crate::support::{COURSE, Env};

#[test]
fn issued_certificates_are_listed_shown_and_exported() {
    let env = Env::new();
    env.link_simple();
    let run = env
        .run(&[
            "certificates",
            "issue",
            "42",
            COURSE,
            "--email",
            "ada@example.org",
            "--name",
            "Ada Lovelace",
            "--username",
            "ada",
            "--grade",
            "93%",
        ])
        .ok();
    assert!(
        run.stdout.contains("recorded certificate"),
        "{}",
        run.stdout
    );
    let emitted = env.issued(43, &["--wait-emitted", "--mode", "verified"]);
    assert_eq!(env.show(&emitted)["state"], "emitted");

    // The default table: ids, users, course, state, dates; never an e-mail address.
    let table = env.run(&["certificates", "list"]).ok();
    assert!(table.stdout.starts_with("ID"), "{}", table.stdout);
    assert!(
        table.stdout.contains("ada") && table.stdout.contains(COURSE),
        "{}",
        table.stdout
    );
    assert!(
        !table.stdout.contains('@'),
        "the listing shows no e-mail:\n{}",
        table.stdout
    );
    let json = env
        .run(&["certificates", "list", "--user", "43", "--format", "json"])
        .ok()
        .json();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["state"], "emitted");
    let filtered = env
        .run(&[
            "certificates",
            "list",
            "--state",
            "emitted,processing",
            "--course",
            COURSE,
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert!(!filtered.as_array().unwrap().is_empty());

    // Show, by id or by learner and course, with the history.
    let shown = env.run(&["certificates", "show", "43", COURSE]).ok();
    assert!(
        shown.stdout.contains("learner43@example.org"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("history:") && shown.stdout.contains("admin:tester"),
        "{}",
        shown.stdout
    );
    let detail = env.show(&emitted);
    let history = detail["history"].as_array().unwrap();
    assert_eq!(history[0]["to"], "requested");
    assert_eq!(history.last().unwrap()["to"], "emitted");
    assert_eq!(detail["mode"], "verified");
    assert!(detail["credential_id"].is_string());

    // Export: every field, e-mail included; CSV by default, JSON on request.
    let csv = env.run(&["certificates", "export"]).ok();
    let mut reader = csv::Reader::from_reader(csv.stdout.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert!(headers.iter().any(|h| h == "email"));
    assert_eq!(reader.records().count(), 2);
    let exported = env
        .run(&["certificates", "export", "--format", "json", "--user", "42"])
        .ok()
        .json();
    assert_eq!(exported[0]["email"], "ada@example.org");
    assert_eq!(exported[0]["grade"], 0.93);
    env.run(&["certificates", "export", "--format", "table"])
        .fails(2, &["csv"]);
}

#[test]
fn bad_certificate_arguments_are_usage_errors_and_change_nothing() {
    let env = Env::new();
    env.link_simple();
    env.run(&[
        "certificates",
        "issue",
        "42",
        "course-v1:OrgX+CS101",
        "--email",
        "a@b.org",
        "--name",
        "A",
    ])
    .fails(2, &["course_key"]);
    env.run(&[
        "certificates",
        "issue",
        "0",
        COURSE,
        "--email",
        "a@b.org",
        "--name",
        "A",
    ])
    .fails(2, &["user_id"]);
    env.run(&[
        "certificates",
        "issue",
        "42",
        COURSE,
        "--email",
        "nope",
        "--name",
        "A",
    ])
    .fails(2, &["email"]);
    env.run(&[
        "certificates",
        "issue",
        "42",
        COURSE,
        "--email",
        "a@b.org",
        "--name",
        "A",
        "--grade",
        "1.5",
    ])
    .fails(2, &["grade"]);
    env.run(&["certificates", "list", "--state", "bogus"])
        .fails(2, &["unknown state"]);
    env.run(&["certificates", "show", "not-an-id"])
        .fails(2, &["certificate_id"]);
    env.run(&["certificates", "show", "42", "bad-course"])
        .fails(2, &["course_key"]);
    env.run(&["certificates", "retry"]).fails(2, &["--state"]);
    env.run(&["certificates", "refresh", "nope"])
        .fails(2, &["certificate_id"]);
    assert!(env.all().is_empty());
    // Not a usage error: the learner already has a certificate, or the course is not ours.
    env.run(&[
        "certificates",
        "issue",
        "42",
        COURSE,
        "--email",
        "a@b.org",
        "--name",
        "A",
    ])
    .ok();
    env.run(&[
        "certificates",
        "issue",
        "42",
        COURSE,
        "--email",
        "a@b.org",
        "--name",
        "A",
    ])
    .fails(1, &["already has certificate", "reissue"]);
    env.run(&[
        "certificates",
        "issue",
        "42",
        "course-v1:Other+X+1",
        "--email",
        "a@b.org",
        "--name",
        "A",
    ])
    .fails(1, &["not issued", "not linked"]);
}

#[test]
fn a_failed_certificate_is_retried() {
    let mut env = Env::new();
    env.set("OPENEDX_POK_RETRY_MAX_ATTEMPTS", "1");
    env.link_simple();
    env.sim.set_faults(
        Faults {
            error_rate: 1.0,
            ..Faults::none()
        }
        .only(&[Endpoint::Issue]),
    );
    let run = env.run(&[
        "certificates",
        "issue",
        "7",
        COURSE,
        "--email",
        "g@example.org",
        "--name",
        "Grace Hopper",
        "--issue-now",
        "--format",
        "json",
    ]);
    let id = run.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        run.code, 1,
        "a certificate that failed makes --issue-now fail: {}",
        run.stderr
    );
    let failed = env.show(&id);
    assert_eq!(failed["state"], "failed");
    assert!(failed["next_attempt_at"].is_null(), "retries ran out");

    env.run(&["certificates", "retry", "--state", "needs_review"])
        .fails(2, &["only failed", "resolve"]);
    let bulk = env
        .run(&[
            "certificates",
            "retry",
            "--state",
            "failed",
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(bulk["queued"][0]["id"], id.as_str());
    let queued = env.show(&id);
    assert_eq!(queued["state"], "requested");
    let last = queued["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["actor"], "admin:tester");
    assert_eq!(last["reason"], "queued again by hand");
    env.run(&["certificates", "retry", &id])
        .fails(1, &["cannot retry", "requested"]);
}

#[test]
fn refresh_asks_pok_now() {
    let env = Env::new();
    env.link_simple();
    let id = env.issued(5, &["--wait-emitted"]);
    let cred = env.show(&id)["credential_id"].as_str().unwrap().to_owned();
    assert!(env.sim.set_credential_state(&cred, "revoked"));
    let out = env
        .run(&[
            "certificates",
            "refresh",
            &id,
            "--actor",
            "ops",
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(out["state"], "revoked");
    let history = env.show(&id)["history"].as_array().unwrap().clone();
    assert_eq!(history.last().unwrap()["actor"], "admin:ops");
    env.run(&["certificates", "refresh", &id, "--actor", "ops@example.org"])
        .fails(2, &["e-mail"]);
}

fn issue_at_the_simulator(env: &Env, user: u32) -> String {
    let client = pok_client::PokClient::new(
        pok_client::PokClientConfig::new(env.sim.api_key().to_owned().into())
            .with_base_url(env.sim.base_url().parse().unwrap()),
    )
    .unwrap();
    let request = IssueRequest {
        template_id: TemplateId::parse("tpl-simple").unwrap(),
        page_id: None,
        emission_type: EmissionType::Pok,
        date_format: DateFormat::DayMonthYear,
        emission_date: chrono::Utc::now(),
        title: "Found at POK".into(),
        emitter: "OrgX".into(),
        tags: vec![format!("StudentId:{user}"), format!("CourseId:{COURSE}")],
        custom_parameters: std::collections::BTreeMap::new(),
        receiver: Receiver {
            email: Email::parse("found@example.org").unwrap(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            language: LanguageTag::parse("en").unwrap(),
            identification: user.to_string(),
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(client.issue(&request))
        .unwrap()
        .id
        .to_string()
}

#[test]
fn a_needs_review_certificate_is_listed_by_reconcile_and_resolved_with_the_credential_found() {
    let env = Env::new();
    env.link_simple();
    // The answer to the issuing call is cut off after POK created the credential.
    env.sim.set_faults(
        Faults {
            drop_rate: 1.0,
            max_faults: Some(1),
            ..Faults::none()
        }
        .only(&[Endpoint::Issue]),
    );
    let run = env.run(&[
        "certificates",
        "issue",
        "9",
        COURSE,
        "--email",
        "a@example.org",
        "--name",
        "Ada Lovelace",
        "--issue-now",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let id = run.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(env.show(&id)["state"], "needs_review");

    let report = env
        .run(&["certificates", "reconcile", "--format", "json"])
        .fails(1, &["need a person"])
        .json();
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["certificate_id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(finding["action"], "needs_person");
    assert!(
        finding["detail"]
            .as_str()
            .unwrap()
            .contains("certificates resolve"),
        "{finding}"
    );

    env.run(&["certificates", "resolve", &id, "--credential", "a b"])
        .fails(2, &["credential_id"]);
    let cred = issue_at_the_simulator(&env, 9);
    let resolved = env
        .run(&[
            "certificates",
            "resolve",
            &id,
            "--credential",
            &cred,
            "--format",
            "json",
        ])
        .ok()
        .json();
    // The simulator emits a credential the first time it is asked about it.
    assert_eq!(resolved["state"], "emitted");
    assert_eq!(env.show(&id)["credential_id"], cred.as_str());
    env.run(&["certificates", "resolve", &id, "--credential", &cred])
        .fails(1, &["cannot resolve"]);
}

#[test]
fn revoke_asks_for_confirmation_and_records_the_reason() {
    let env = Env::new();
    env.link_simple();
    let id = env.issued(11, &["--wait-emitted"]);
    env.run(&["certificates", "revoke", &id, "--reason", "plagiarism"])
        .fails(2, &["--yes"]);
    assert_eq!(
        env.show(&id)["state"],
        "emitted",
        "nothing changed without confirmation"
    );
    env.run(&["certificates", "revoke", &id, "--reason", " ", "--yes"])
        .fails(2, &["reason"]);
    let run = env
        .run(&[
            "certificates",
            "revoke",
            &id,
            "--reason",
            "plagiarism",
            "--yes",
        ])
        .ok();
    assert!(
        run.stdout.contains("revoke credential"),
        "POK has no revocation call: {}",
        run.stdout
    );
    let shown = env.show(&id);
    assert_eq!(shown["state"], "revoked");
    assert_eq!(shown["revocation_reason"], "plagiarism");
    env.run(&["certificates", "revoke", &id, "--reason", "again", "--yes"])
        .fails(1, &["cannot revoke"]);
}

#[test]
fn reissue_supersedes_the_old_certificate_with_a_corrected_one() {
    let env = Env::new();
    env.link_simple();
    let old = env.issued(12, &["--wait-emitted"]);
    env.run(&[
        "certificates",
        "reissue",
        &old,
        "--email",
        "not-an-email",
        "--yes",
    ])
    .fails(2, &["email"]);
    env.run(&[
        "certificates",
        "reissue",
        &old,
        "--name",
        "Lovelace, Augusta Ada",
    ])
    .fails(2, &["--yes"]);
    let out = env
        .run(&[
            "certificates",
            "reissue",
            &old,
            "--name",
            "Lovelace, Augusta Ada",
            "--email",
            "ada@new.example.org",
            "--yes",
            "--format",
            "json",
        ])
        .ok()
        .json();
    let new = out["id"].as_str().unwrap().to_owned();
    assert_eq!(out["replaces"], old.as_str());
    let old_shown = env.show(&old);
    assert_eq!(old_shown["state"], "superseded");
    assert_eq!(old_shown["superseded_by"], new.as_str());
    let new_shown = env.show(&new);
    assert_eq!(new_shown["state"], "requested");
    assert_eq!(new_shown["first_name"], "Augusta Ada");
    assert_eq!(new_shown["last_name"], "Lovelace");
    assert_eq!(new_shown["email"], "ada@new.example.org");
    // `show USER COURSE` now finds the new one.
    let by_learner = env
        .run(&["certificates", "show", "12", COURSE, "--format", "json"])
        .ok()
        .json();
    assert_eq!(by_learner["id"], new.as_str());
}

#[test]
fn reconcile_reports_drift_in_a_dry_run_and_repairs_it_otherwise() {
    let env = Env::new();
    env.link_simple();
    let id = env.issued(21, &["--wait-emitted"]);
    let cred = env.show(&id)["credential_id"].as_str().unwrap().to_owned();
    let clean = env
        .run(&["certificates", "reconcile", "--format", "json"])
        .ok()
        .json();
    assert_eq!(clean["checked"], 1);
    assert_eq!(clean["in_sync"], 1);

    assert!(env.sim.set_credential_state(&cred, "revoked"));
    let dry = env
        .run(&["certificates", "reconcile", "--dry-run", "--format", "json"])
        .fails(1, &["drifted"])
        .json();
    assert_eq!(dry["drift"], 1);
    assert_eq!(dry["findings"][0]["action"], "would_repair");
    assert_eq!(
        env.show(&id)["state"],
        "emitted",
        "a dry run changes nothing"
    );

    let repaired = env
        .run(&["certificates", "reconcile", "--format", "json"])
        .ok()
        .json();
    assert_eq!(repaired["repaired"], 1);
    assert_eq!(env.show(&id)["state"], "revoked");
    let table = env.run(&["certificates", "reconcile"]).ok();
    assert!(table.stdout.contains("1 in sync"), "{}", table.stdout);
    env.run(&["certificates", "reconcile", "--course", "nope"])
        .fails(2, &["course_key"]);
}
