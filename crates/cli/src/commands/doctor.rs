//! `doctor`: checks the installation and says what to fix. Changes nothing: it does not even
//! migrate the database, it reports that migrations are pending.
//!
//! Template checks use the domain's own rule (`CourseBinding::check_against`), the one
//! `courses link` applies, so doctor and linking never disagree about a template.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use clap::Args;
use pok_domain::binding::CourseBinding;
use pok_domain::ports::{CertificateQuery, CertificateRepository, PokGateway, Template};
use pok_domain::values::{CourseKey, TemplateId};
use pok_domain::{Error, StateKind};
use pok_http::Metrics;
use pok_persistence::Database;
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::error::CliError;
use crate::output::{self, Format, Row};
use crate::settings::{self, Loaded};
use crate::wiring;

/// Options of `doctor` (none yet: it checks everything it can).
#[derive(Debug, Args)]
pub struct DoctorArgs {}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Ok,
    Warn,
    Fail,
    Skipped,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
            Self::Skipped => "skip",
        }
    }
}

/// One check and, when it did not pass, what to do.
#[derive(Debug, Serialize)]
struct Check {
    #[serde(rename = "check")]
    name: &'static str,
    status: Status,
    detail: String,
    fix: Option<String>,
}

impl Row for Check {
    const HEADERS: &'static [&'static str] = &["CHECK", "STATUS", "DETAIL", "FIX"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.to_owned(),
            self.status.label().to_owned(),
            self.detail.clone(),
            self.fix.clone().unwrap_or_default(),
        ]
    }
}

/// Collects the checks.
#[derive(Default)]
struct Report(Vec<Check>);

impl Report {
    fn add(
        &mut self,
        check: &'static str,
        status: Status,
        detail: impl Into<String>,
        fix: Option<String>,
    ) {
        self.0.push(Check {
            name: check,
            status,
            detail: detail.into(),
            fix,
        });
    }
    fn ok(&mut self, check: &'static str, detail: impl Into<String>) {
        self.add(check, Status::Ok, detail, None);
    }
    fn warn(&mut self, check: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.add(check, Status::Warn, detail, Some(fix.into()));
    }
    fn fail(&mut self, check: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.add(check, Status::Fail, detail, Some(fix.into()));
    }
    fn skip(&mut self, check: &'static str, why: impl Into<String>) {
        self.add(check, Status::Skipped, why, None);
    }
    fn failures(&self) -> usize {
        self.0.iter().filter(|c| c.status == Status::Fail).count()
    }
}

/// The JSON form of the report.
#[derive(Serialize)]
struct ReportView<'a> {
    ok: bool,
    failures: usize,
    checks: &'a [Check],
}

/// Runs `doctor`. Reads the settings itself, so that a wrong setting is reported as a failed
/// check rather than stopping before the report.
pub(crate) async fn run(
    config: Option<&Path>,
    format: Option<Format>,
    _args: DoctorArgs,
) -> Result<(), CliError> {
    super::init_logging();
    let mut report = Report::default();
    match settings::load(config) {
        Ok(loaded) => check_all(&loaded, &mut report).await,
        Err(e) => report.fail(
            "settings",
            e.to_string(),
            "correct the setting named above (file openedx-pok.toml or --config, or the environment)",
        ),
    }
    print(format.unwrap_or(Format::Table), &report)?;
    match report.failures() {
        0 => Ok(()),
        n => Err(CliError::failed(format!(
            "{n} check(s) failed; see FIX above"
        ))),
    }
}

fn print(format: Format, report: &Report) -> Result<(), CliError> {
    match format {
        Format::Json => output::json(&ReportView {
            ok: report.failures() == 0,
            failures: report.failures(),
            checks: &report.0,
        }),
        Format::Csv => output::rows(format, &report.0),
        Format::Table => {
            let mut s = String::new();
            for c in &report.0 {
                let _ = writeln!(s, "{:<5} {:<17} {}", c.status.label(), c.name, c.detail);
                if let Some(fix) = &c.fix {
                    let _ = writeln!(s, "{:<23} fix: {fix}", "");
                }
            }
            match report.failures() {
                0 => s.push_str("All checks passed.\n"),
                n => {
                    let _ = writeln!(s, "{n} check(s) failed.");
                }
            }
            output::text(&s)
        }
    }
}

async fn check_all(loaded: &Loaded, report: &mut Report) {
    check_settings(loaded, report);
    let database = check_database(loaded, report).await;
    let pok = check_pok(loaded, report).await;
    let Some(pok) = pok else {
        report.skip("default template", "POK is not reachable");
        report.skip("course templates", "POK is not reachable");
        return;
    };
    let mut templates = TemplateCache::default();
    check_default_template(loaded, pok.as_ref(), &mut templates, report).await;
    match database {
        Some(db) => check_bindings(loaded, &db, pok.as_ref(), &mut templates, report).await,
        None => report.skip("course templates", "the database is not usable"),
    }
}

fn check_settings(loaded: &Loaded, report: &mut Report) {
    let s = &loaded.settings;
    report.ok(
        "settings",
        format!(
            "read and valid; POK at {} ({})",
            s.pok_api_url,
            loaded.source_of("pok_api_url")
        ),
    );
    if s.pok_simulator {
        report.warn(
            "simulator",
            "POK_SIMULATOR is on: `serve` issues to the built-in simulator, not to POK",
            "unset POK_SIMULATOR in production",
        );
    }
    if s.secret
        .as_ref()
        .is_none_or(|k| k.expose_secret().trim().is_empty())
    {
        report.warn(
            "shared secret",
            "OPENEDX_POK_SECRET is not set: `serve` refuses to start without it",
            "set OPENEDX_POK_SECRET to a long random string, the same in the LMS settings",
        );
    }
    if s.public_url.trim().is_empty() {
        report.warn(
            "public url",
            "OPENEDX_POK_PUBLIC_URL is not set: certificate links will use the listen address",
            "set OPENEDX_POK_PUBLIC_URL to the address learners reach the service at",
        );
    }
}

async fn check_database(loaded: &Loaded, report: &mut Report) -> Option<Database> {
    let db = match wiring::connect(loaded).await {
        Ok(db) => db,
        Err(e) => {
            report.fail(
                "database",
                e.to_string(),
                format!(
                    "check DATABASE_URL ({}) and that the database server is up",
                    loaded.source_of("database_url")
                ),
            );
            return None;
        }
    };
    let status = match db.migration_status().await {
        Ok(s) => s,
        Err(e) => {
            report.fail(
                "database",
                e.to_string(),
                "check the database's permissions and state",
            );
            return None;
        }
    };
    if !status.unknown.is_empty() {
        report.fail(
            "database",
            format!(
                "migrated by a newer version ({})",
                status.unknown.join(", ")
            ),
            "upgrade openedx-pok to the version that migrated it",
        );
        return None;
    }
    if !status.pending.is_empty() {
        report.fail(
            "database",
            format!(
                "{} migration(s) pending: {}",
                status.pending.len(),
                status.pending.join(", ")
            ),
            "run `openedx-pok migrate`",
        );
        return None;
    }
    report.ok(
        "database",
        format!(
            "{}, {} migration(s) applied, schema current",
            status.backend,
            status.applied.len()
        ),
    );
    check_certificates(&db, report).await;
    Some(db)
}

async fn check_certificates(db: &Database, report: &mut Report) {
    let counts = match CertificateRepository::count_by_state(db).await {
        Ok(c) => c,
        Err(e) => {
            report.fail("certificates", e.to_string(), "check the database");
            return;
        }
    };
    let count = |k: StateKind| counts.iter().find(|(s, _)| *s == k).map_or(0, |(_, n)| *n);
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let summary: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    report.ok(
        "certificates",
        if total == 0 {
            "none recorded yet".to_owned()
        } else {
            format!("{total} recorded: {}", summary.join(", "))
        },
    );
    if count(StateKind::NeedsReview) > 0 {
        report.warn(
            "needs review",
            format!(
                "{} certificate(s) may or may not exist at POK and wait for a person",
                count(StateKind::NeedsReview)
            ),
            "run `openedx-pok certificates reconcile` and follow what it says",
        );
    }
    if count(StateKind::Failed) > 0 {
        let query = CertificateQuery {
            states: vec![StateKind::Failed],
            ..CertificateQuery::default()
        };
        let gave_up = CertificateRepository::list(db, &query)
            .await
            .map_or(0, |v| v.iter().filter(|c| !c.retry_scheduled()).count());
        if gave_up > 0 {
            report.warn(
                "failed",
                format!("{gave_up} certificate(s) failed for good (retries ran out or POK refused them)"),
                "see `openedx-pok certificates list --state failed`, fix the cause, then `certificates retry --state failed`",
            );
        }
    }
}

async fn check_pok(loaded: &Loaded, report: &mut Report) -> Option<std::sync::Arc<dyn PokGateway>> {
    let s = &loaded.settings;
    if s.pok_api_key
        .as_ref()
        .is_none_or(|k| k.expose_secret().trim().is_empty())
    {
        report.fail(
            "pok",
            "POK_API_KEY is not set",
            "set POK_API_KEY to your organisation's API key from POK's dashboard",
        );
        return None;
    }
    let gateway = match wiring::gateway(loaded, &Metrics::new()) {
        Ok(g) => g,
        Err(e) => {
            report.fail("pok", e.to_string(), "correct the POK setting named above");
            return None;
        }
    };
    match gateway.organization().await {
        Ok(org) => {
            let credits = org.available_credits.map_or_else(
                || "credits unknown".to_owned(),
                |c| format!("{c} credit(s) available"),
            );
            report.ok(
                "pok",
                format!(
                    "reachable, API key accepted: organisation {:?}, {credits}",
                    org.name
                ),
            );
            if org.available_credits.is_some_and(|c| c <= 0) {
                report.fail(
                    "pok credits",
                    "no credits left: POK refuses every new credential",
                    "buy credits at POK; certificates failing meanwhile can be retried with `certificates retry --state failed`",
                );
            }
            Some(gateway)
        }
        Err(e) => {
            let reason = e.reason.to_ascii_lowercase();
            let fix = if reason.contains("api key") {
                format!(
                    "POK refused the key: check POK_API_KEY ({}) and that it belongs to POK_API_URL's environment (sandbox or production)",
                    loaded.source_of("pok_api_key")
                )
            } else if reason.contains("connect") || reason.contains("within") {
                format!(
                    "check POK_API_URL ({}: {}), the network and any proxy",
                    loaded.source_of("pok_api_url"),
                    s.pok_api_url
                )
            } else {
                "check POK_API_URL and POK's status; try again later".to_owned()
            };
            report.fail("pok", e.to_string(), fix);
            None
        }
    }
}

/// Templates fetched from POK, each once.
#[derive(Default)]
struct TemplateCache(BTreeMap<String, Result<Template, String>>);

impl TemplateCache {
    async fn get(&mut self, pok: &dyn PokGateway, id: &TemplateId) -> Result<Template, String> {
        if let Some(found) = self.0.get(id.as_str()) {
            return found.clone();
        }
        let got = pok.template(id).await.map_err(|e| e.to_string());
        self.0.insert(id.as_str().to_owned(), got.clone());
        got
    }
}

/// A course key for checking a template on its own (the check only reads the template).
fn placeholder_course() -> Result<CourseKey, Error> {
    CourseKey::parse("course-v1:openedx-pok+doctor+default")
}

async fn check_default_template(
    loaded: &Loaded,
    pok: &dyn PokGateway,
    templates: &mut TemplateCache,
    report: &mut Report,
) {
    let settings = match loaded.issuing() {
        Ok(s) => s,
        Err(e) => {
            report.fail("default template", e.to_string(), "correct POK_TEMPLATE_ID");
            return;
        }
    };
    let Some(id) = settings.default_template.clone() else {
        report.ok(
            "default template",
            "POK_TEMPLATE_ID is not set: only courses linked with `courses link` use POK",
        );
        return;
    };
    match templates.get(pok, &id).await {
        Err(e) => report.fail(
            "default template",
            format!("POK_TEMPLATE_ID={id}: {e}"),
            "set POK_TEMPLATE_ID to a template listed by `openedx-pok templates remote`",
        ),
        Ok(template) => {
            let check = placeholder_course()
                .map(|c| CourseBinding::new(c, id.clone()))
                .and_then(|b| b.check_against(&template, settings.param_keying));
            if check.is_ok() {
                report.ok(
                    "default template",
                    format!(
                        "{id} ({}) exists and has no custom parameters",
                        template.name
                    ),
                );
            } else {
                let names: Vec<&str> = template
                    .custom_parameters
                    .iter()
                    .map(|p| p.key(settings.param_keying))
                    .collect();
                report.fail(
                        "default template",
                        format!(
                            "{id} ({}) has custom parameters ({}) that courses without a link of their own cannot fill: POK would refuse their credentials",
                            template.name,
                            names.join(", ")
                        ),
                        format!(
                            "link each course with `openedx-pok courses link COURSE {id} --param NAME=SOURCE ...`, or set POK_TEMPLATE_ID to a template without parameters"
                        ),
                    );
            }
        }
    }
}

async fn check_bindings(
    loaded: &Loaded,
    db: &Database,
    pok: &dyn PokGateway,
    templates: &mut TemplateCache,
    report: &mut Report,
) {
    let bindings = match pok_domain::ports::BindingRepository::list(db).await {
        Ok(b) => b,
        Err(e) => {
            report.fail("course templates", e.to_string(), "check the database");
            return;
        }
    };
    let keying = loaded.issuing().map(|s| s.param_keying).unwrap_or_default();
    let mut broken = 0usize;
    for b in &bindings {
        let checked = match templates.get(pok, &b.template_id).await {
            Err(e) => Err(format!("template {}: {e}", b.template_id)),
            Ok(t) => b.check_against(&t, keying).map_err(|e| e.to_string()),
        };
        if let Err(why) = checked {
            broken += 1;
            report.fail(
                "course template",
                format!(
                    "{}{}: {why}",
                    b.course_key,
                    if b.enabled { "" } else { " (disabled)" }
                ),
                format!(
                    "link it again: `openedx-pok courses link {} TEMPLATE --param NAME=SOURCE ...`",
                    b.course_key
                ),
            );
        }
    }
    if broken == 0 {
        report.ok(
            "course templates",
            format!(
                "{} course(s) linked; every template exists and every parameter is mapped",
                bindings.len()
            ),
        );
    }
}
