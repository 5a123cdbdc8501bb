//! `courses link|unlink|list|show|enable|disable`.

use crate::support::{COURSE, Env};

#[test]
fn a_course_is_linked_listed_shown_disabled_enabled_and_unlinked() {
    let env = Env::new();
    let linked = env
        .run(&[
            "courses",
            "link",
            COURSE,
            "tpl-graded",
            "--param",
            "grade=grade",
            "--param",
            "course=course_title",
            "--modes",
            "verified,professional",
            "--page",
            "page-modern",
            "--title",
            "Intro",
            "--format",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(linked["template_id"], "tpl-graded");
    assert_eq!(linked["enabled"], true);
    assert_eq!(
        linked["allowed_modes"],
        serde_json::json!(["verified", "professional"])
    );

    let list = env
        .run(&["courses", "list", "--format", "json"])
        .ok()
        .json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let table = env.run(&["courses", "list"]).ok();
    assert!(
        table.stdout.contains("grade=grade; course=course_title"),
        "{}",
        table.stdout
    );

    let shown = env.run(&["courses", "show", COURSE]).ok();
    assert!(
        shown.stdout.contains("page-modern") && shown.stdout.contains("Intro"),
        "{}",
        shown.stdout
    );

    env.run(&["courses", "disable", COURSE]).ok();
    let show = env
        .run(&["courses", "show", COURSE, "--format", "json"])
        .ok()
        .json();
    assert_eq!(show["enabled"], false);
    env.run(&["courses", "enable", COURSE]).ok();
    let show = env
        .run(&["courses", "show", COURSE, "--format", "json"])
        .ok()
        .json();
    assert_eq!(show["enabled"], true);

    // Destructive: refused without a terminal unless --yes.
    env.run(&["courses", "unlink", COURSE]).fails(2, &["--yes"]);
    assert_eq!(
        env.run(&["courses", "list", "--format", "json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    env.run(&["courses", "unlink", COURSE, "--yes"]).ok();
    assert!(
        env.run(&["courses", "list", "--format", "json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    env.run(&["courses", "show", COURSE])
        .fails(1, &["not linked"]);
    env.run(&["courses", "unlink", COURSE, "--yes"])
        .fails(1, &["not linked"]);
}

#[test]
fn a_course_without_a_link_shows_the_default_template() {
    let mut env = Env::new();
    env.set("POK_TEMPLATE_ID", "tpl-simple");
    let shown = env
        .run(&["courses", "show", COURSE, "--format", "json"])
        .ok()
        .json();
    assert_eq!(shown["template_id"], "tpl-simple");
    assert_eq!(shown["source"], "default");
}

#[test]
fn bad_links_are_refused_with_the_problem_named_and_nothing_saved() {
    let env = Env::new();
    env.run(&[
        "courses",
        "link",
        COURSE,
        "tpl-graded",
        "--param",
        "grade=grade",
    ])
    .fails(2, &["course", "--param"]);
    env.run(&[
        "courses",
        "link",
        COURSE,
        "tpl-graded",
        "--param",
        "grade=grade",
        "--param",
        "course=course_title",
        "--param",
        "colour=literal:red",
    ])
    .fails(2, &["no parameter colour"]);
    env.run(&["courses", "link", "course-v1:OrgX+CS101", "tpl-simple"])
        .fails(2, &["course_key", "three parts"]);
    env.run(&[
        "courses",
        "link",
        COURSE,
        "tpl-simple",
        "--param",
        "grade=gradee",
    ])
    .fails(2, &["unknown source"]);
    env.run(&[
        "courses",
        "link",
        COURSE,
        "tpl-simple",
        "--emission-type",
        "paper",
    ])
    .fails(2, &["emission_type"]);
    env.run(&["courses", "link", COURSE, "no-such-template"])
        .fails(1, &["404"]);
    assert!(
        env.run(&["courses", "list", "--format", "json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    env.run(&["courses", "enable", COURSE])
        .fails(1, &["not linked"]);
}
