//! `migrate`, `doctor`, and the POK side: `templates remote`, `pages remote`, `preview`,
//! `credits`.

use crate::support::{COURSE, Env};

#[test]
fn migrate_applies_the_migrations_and_reports_where_the_database_stands() {
    let env = Env::new();
    let before = env
        .run(&["migrate", "--status", "--format", "json"])
        .ok()
        .json();
    assert_eq!(before["current"], false);
    assert!(!before["pending"].as_array().unwrap().is_empty());
    let applied = env.run(&["migrate"]).ok();
    assert!(applied.stdout.contains("applied"), "{}", applied.stdout);
    let after = env
        .run(&["migrate", "--status", "--format", "json"])
        .ok()
        .json();
    assert_eq!(after["current"], true);
    assert!(after["pending"].as_array().unwrap().is_empty());
    let again = env.run(&["migrate"]).ok();
    assert!(again.stdout.contains("up to date"), "{}", again.stdout);
}

#[test]
fn a_wrong_setting_or_a_missing_config_file_is_a_usage_error_naming_it() {
    let mut env = Env::new();
    env.run(&["migrate", "--config", "missing.toml"])
        .fails(2, &["missing.toml", "no such file"]);
    env.set("OPENEDX_POK_RETRY_MAX_ATTEMPTS", "0");
    env.run(&["migrate"]).fails(2, &["retry_max_attempts"]);
}

#[test]
fn doctor_passes_on_a_healthy_installation() {
    let mut env = Env::new();
    env.set("OPENEDX_POK_SECRET", "s3cret")
        .set("OPENEDX_POK_PUBLIC_URL", "https://certs.example.org");
    env.run(&["migrate"]).ok();
    let run = env.run(&["doctor"]).ok();
    assert!(run.stdout.contains("All checks passed"), "{}", run.stdout);
    let json = env.run(&["doctor", "--format", "json"]).ok().json();
    assert_eq!(json["ok"], true);
    assert!(
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "pok" && c["status"] == "ok")
    );
}

#[test]
fn doctor_says_what_to_fix() {
    let mut env = Env::new();
    env.set("POK_API_KEY", "wrong-key");
    let run = env.run(&["doctor"]).fails(1, &["check(s) failed"]);
    assert!(run.stdout.contains("FAIL  pok"), "{}", run.stdout);
    assert!(
        run.stdout.contains("migration(s) pending"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("openedx-pok migrate"), "{}", run.stdout);
    assert!(run.stdout.contains("POK_API_KEY"), "{}", run.stdout);

    // The default template has parameters that courses without a link cannot fill.
    env.set("POK_API_KEY", env.sim.api_key().to_owned().as_str());
    env.set("POK_TEMPLATE_ID", "tpl-graded");
    env.run(&["migrate"]).ok();
    let json = env
        .run(&["doctor", "--format", "json"])
        .fails(1, &[])
        .json();
    let check = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "default template")
        .unwrap()
        .clone();
    assert_eq!(check["status"], "fail");
    assert!(
        check["detail"].as_str().unwrap().contains("grade, course"),
        "{check}"
    );
    assert!(
        check["fix"].as_str().unwrap().contains("courses link"),
        "{check}"
    );

    env.run(&["doctor", "--format", "yaml"]).fails(2, &["yaml"]);
}

#[test]
fn templates_and_pages_are_listed_from_pok() {
    let env = Env::new();
    let templates = env
        .run(&["templates", "remote", "--format", "json"])
        .ok()
        .json();
    let ids: Vec<&str> = templates
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["tpl-simple", "tpl-graded"]);
    let graded = env.run(&["templates", "remote", "tpl-graded"]).ok();
    assert!(
        graded.stdout.contains("grade") && graded.stdout.contains("p-course"),
        "{}",
        graded.stdout
    );
    let table = env.run(&["templates", "remote"]).ok();
    assert!(table.stdout.starts_with("TEMPLATE"), "{}", table.stdout);
    let pages = env.run(&["pages", "remote", "--format", "csv"]).ok();
    assert!(pages.stdout.starts_with("PAGE,NAME\n"), "{}", pages.stdout);
    assert!(pages.stdout.contains("page-classic"), "{}", pages.stdout);

    env.run(&["templates", "remote", "a b"])
        .fails(2, &["template_id"]);
    env.run(&["templates", "remote", "no-such-template"])
        .fails(1, &["404"]);
    env.run(&["pages", "remote", "--limit", "0"])
        .fails(2, &["--limit"]);
}

#[test]
fn preview_prints_the_url_for_a_template_or_a_course() {
    let env = Env::new();
    let run = env.run(&["preview", "tpl-graded"]).ok();
    assert!(
        run.stdout.trim().ends_with("/_sim/previews/tpl-graded.png"),
        "{}",
        run.stdout
    );
    env.run(&["preview", COURSE])
        .fails(1, &["not linked", "POK_TEMPLATE_ID"]);
    env.link_simple();
    let json = env
        .run(&["preview", COURSE, "--format", "json"])
        .ok()
        .json();
    assert_eq!(json["template_id"], "tpl-simple");
    assert_eq!(json["course_key"], COURSE);
    assert!(json["url"].as_str().unwrap().ends_with("tpl-simple.png"));
    env.run(&["preview", "course-v1:OrgX+CS101"])
        .fails(2, &["course_key", "three parts"]);
}

#[test]
fn credits_shows_the_balance_and_warns_under_a_threshold() {
    let env = Env::new();
    env.sim.set_credits(40);
    let json = env.run(&["credits", "--format", "json"]).ok().json();
    assert_eq!(json["available"], 40);
    assert_eq!(json["organization"], "Simulated University");
    let table = env.run(&["credits", "--warn-below", "10"]).ok();
    assert!(
        table.stdout.contains("available") && table.stdout.contains("40"),
        "{}",
        table.stdout
    );
    env.run(&["credits", "--warn-below", "50"])
        .fails(1, &["40", "fewer than 50"]);
    env.run(&["credits", "--warn-below", "lots"])
        .fails(2, &["--warn-below"]);
}
