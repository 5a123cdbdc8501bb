//! `certificates backfill`: exactly one credential per learner, even with POK failing, after
//! an interruption, or with bad lines in the file.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use pok_sim::{Endpoint, FaultKind, Faults};

use crate::support::{COURSE, Env};

/// A CSV of `n` learners (user ids from `first`), with the usual LMS export columns.
fn learners(first: u32, n: u32) -> String {
    let mut csv = String::from("user_id,username,email,full_name,course_key,mode,grade\n");
    for id in first..first + n {
        let _ = writeln!(
            csv,
            "{id},learner{id},learner{id}@example.org,Learner Number {id},{COURSE},honor,0.{:02}",
            id % 100
        );
    }
    csv
}

/// Asserts that POK created exactly one credential for each learner and none for others.
#[track_caller]
fn exactly_one_each(env: &Env, users: impl Iterator<Item = u32>) {
    let stats = env.sim.stats();
    let mut expected = 0;
    for id in users {
        expected += 1;
        assert_eq!(
            stats.created_for(&id.to_string(), COURSE),
            1,
            "learner {id}"
        );
    }
    assert_eq!(
        stats.credentials_created, expected,
        "no credential for anyone else, none twice"
    );
}

#[test]
fn a_backfill_of_300_learners_through_failing_pok_issues_exactly_one_credential_each() {
    let mut env = Env::new();
    env.set("OPENEDX_POK_RETRY_MAX_ATTEMPTS", "50");
    env.link_simple();
    env.sim.set_faults(
        Faults {
            error_rate: 0.15,
            too_many_requests_rate: 0.15,
            ..Faults::none()
        }
        .only(&[Endpoint::Issue]),
    );
    let csv = env.file("learners.csv", &learners(1000, 300));
    let started = Instant::now();
    let report = env
        .run(&[
            "certificates",
            "backfill",
            "--csv",
            csv.to_str().unwrap(),
            "--rate",
            "0",
            "--issue-now",
            "--format",
            "json",
        ])
        .ok()
        .json();
    let elapsed = started.elapsed();
    eprintln!(
        "backfill of 300 learners with 30% of issuing calls failing: {elapsed:?} in all, recording {:.2}s; issuing {}",
        report["seconds"].as_f64().unwrap(),
        report["issuing"]["states"]
    );
    assert_eq!(report["recorded"], 300);
    assert_eq!(report["already"], 0);
    let by_state = &report["issuing"]["states"];
    let sent =
        by_state["processing"].as_u64().unwrap_or(0) + by_state["emitted"].as_u64().unwrap_or(0);
    assert_eq!(sent, 300, "{by_state}");
    let stats = env.sim.stats();
    assert!(
        stats.faults_of(FaultKind::ServerError) > 0
            && stats.faults_of(FaultKind::TooManyRequests) > 0,
        "{stats:?}"
    );
    exactly_one_each(&env, 1000..1300);
}

#[test]
fn an_interrupted_backfill_resumes_without_duplicates() {
    let env = Env::new();
    env.link_simple();
    let csv = env.file("learners.csv", &learners(2000, 200));
    let path = csv.to_str().unwrap();
    // First run: recording at 100 learners a second, interrupted (Ctrl-C) after a moment.
    let child = env
        .command(&["certificates", "backfill", "--csv", path, "--rate", "100/s"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.all().len() < 20 {
        assert!(Instant::now() < deadline, "the first run records nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let first = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_ne!(
        first.status.code(),
        Some(0),
        "an interrupted back-fill does not report success: {stderr}"
    );
    let recorded = env.all().len();
    assert!(
        recorded > 0 && recorded < 200,
        "the first run was cut short after {recorded}: {stderr}"
    );
    assert_eq!(
        env.sim.stats().credentials_created,
        0,
        "back-fill alone only records"
    );

    // Second run: the same file, issued now; the learners of the first run are skipped.
    let report = env
        .run(&[
            "certificates",
            "backfill",
            "--csv",
            path,
            "--rate",
            "0",
            "--issue-now",
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(
        usize::try_from(report["already"].as_u64().unwrap()).unwrap(),
        recorded
    );
    assert_eq!(
        usize::try_from(report["recorded"].as_u64().unwrap()).unwrap(),
        200 - recorded
    );
    assert_eq!(env.all().len(), 200);
    exactly_one_each(&env, 2000..2200);

    // A third run changes nothing.
    let again = env
        .run(&[
            "certificates",
            "backfill",
            "--csv",
            path,
            "--rate",
            "0",
            "--issue-now",
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(again["already"], 200);
    assert_eq!(again["recorded"], 0);
    exactly_one_each(&env, 2000..2200);
}

/// 20 learners; line 7 (the header is line 1) has a malformed e-mail.
fn with_a_bad_line() -> String {
    let mut lines: Vec<String> = learners(3000, 20).lines().map(str::to_owned).collect();
    lines[6] = lines[6].replace("learner3005@example.org", "learner3005.example.org");
    lines.join("\n") + "\n"
}

#[test]
fn a_bad_line_stops_everything_by_default_and_is_skipped_on_request() {
    let env = Env::new();
    env.link_simple();
    let csv = env.file("learners.csv", &with_a_bad_line());
    let path = csv.to_str().unwrap();

    let stopped = env
        .run(&["certificates", "backfill", "--csv", path, "--issue-now"])
        .fails(2, &["line 7", "column email", "nothing was recorded"]);
    assert!(
        !stopped.stderr.contains("line 8"),
        "only the bad line is named: {}",
        stopped.stderr
    );
    assert!(env.all().is_empty(), "stop records nothing");
    assert_eq!(env.sim.stats().credentials_created, 0);

    let dry = env
        .run(&[
            "certificates",
            "backfill",
            "--csv",
            path,
            "--on-bad-line",
            "skip",
            "--dry-run",
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(dry["recorded"], 19);
    assert!(env.all().is_empty(), "a dry run records nothing");

    let skipped = env
        .run(&[
            "certificates",
            "backfill",
            "--csv",
            path,
            "--on-bad-line",
            "skip",
            "--rate",
            "0",
            "--issue-now",
            "--format",
            "json",
        ])
        .ok();
    assert!(
        skipped.stderr.contains("skipping line 7, column email"),
        "{}",
        skipped.stderr
    );
    let report = skipped.json();
    assert_eq!(report["recorded"], 19);
    assert_eq!(report["bad_lines"].as_array().unwrap().len(), 1);
    assert_eq!(report["bad_lines"][0]["line"], 7);
    assert_eq!(report["bad_lines"][0]["column"], "email");
    exactly_one_each(&env, (3000..3020).filter(|id| *id != 3005));
}

#[test]
fn a_file_the_rules_refuse_is_stopped_before_anything_is_recorded() {
    let env = Env::new();
    // The course is not linked: every line is refused, and the course_key column is named.
    let csv = env.file("learners.csv", &learners(4000, 3));
    let path = csv.to_str().unwrap();
    env.run(&["certificates", "backfill", "--csv", path])
        .fails(2, &["line 2, column course_key", "not linked"]);
    // A missing column is named with the header line.
    let no_email = env.file(
        "no-email.csv",
        "user_id,full_name,course_key\n1,Ada,course-v1:OrgX+CS101+2026\n",
    );
    env.run(&[
        "certificates",
        "backfill",
        "--csv",
        no_email.to_str().unwrap(),
    ])
    .fails(2, &["line 1", "email"]);
    // A short line names the first missing column.
    env.link_simple();
    let short = env.file("short.csv", &(learners(4100, 2) + "4200,u,u@example.org\n"));
    env.run(&["certificates", "backfill", "--csv", short.to_str().unwrap()])
        .fails(2, &["line 4, column full_name"]);
    env.run(&["certificates", "backfill", "--csv", "missing.csv"])
        .fails(2, &["missing.csv"]);
    env.run(&["certificates", "backfill", "--csv", path, "--rate", "fast"])
        .fails(2, &["--rate"]);
    assert!(env.all().is_empty());
}
