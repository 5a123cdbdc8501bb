//! `certificates reconcile`: local states against POK's, drift repaired through the domain's
//! `refresh`, and the certificates that need a person listed with what to do.
//!
//! What a POK state means locally is the domain's rule: each certificate is copied and the
//! copy is shown POK's answer (`observe`, or `accepted` for needs-review); when the copy ends
//! in another state than the stored one, the certificate has drifted. Nothing here maps POK
//! states by itself.

use clap::Args;
use pok_domain::lifecycle::PokState;
use pok_domain::ports::CertificateQuery;
use pok_domain::values::CourseKey;
use pok_domain::{Certificate, StateKind};
use serde::Serialize;

use crate::commands::{Ctx, parse_course};
use crate::error::CliError;
use crate::output::{self, Format, Progress, Row};

/// Options of `certificates reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Report only: ask POK, but change nothing here.
    #[arg(long)]
    dry_run: bool,
    /// Only this course.
    #[arg(long, value_parser = parse_course)]
    course: Option<CourseKey>,
}

/// What was found about one certificate.
#[derive(Debug, Serialize)]
struct Finding {
    certificate_id: String,
    user_id: i64,
    course_key: String,
    local_state: StateKind,
    /// POK's state of the credential, when POK was asked.
    pok_state: Option<String>,
    /// `repaired`, `would_repair`, `repair_failed`, `needs_person`, `pok_error`.
    action: &'static str,
    /// What happened, or what to do.
    detail: String,
}

impl Row for Finding {
    const HEADERS: &'static [&'static str] = &[
        "CERTIFICATE",
        "USER",
        "COURSE",
        "LOCAL",
        "AT POK",
        "ACTION",
        "DETAIL",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.certificate_id.clone(),
            self.user_id.to_string(),
            self.course_key.clone(),
            self.local_state.to_string(),
            self.pok_state.clone().unwrap_or_else(|| "-".into()),
            self.action.replace('_', " "),
            self.detail.clone(),
        ]
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
struct Report {
    dry_run: bool,
    /// Certificates with a credential compared with POK.
    checked: u64,
    /// Of those, the ones whose state agrees with POK's.
    in_sync: u64,
    /// Of those, the ones that did not.
    drift: u64,
    /// Drifted certificates brought in line.
    repaired: u64,
    /// Findings that need a person (or a repair that failed).
    attention: u64,
    findings: Vec<Finding>,
}

fn finding(
    c: &Certificate,
    pok_state: Option<String>,
    action: &'static str,
    detail: String,
) -> Finding {
    Finding {
        certificate_id: c.id.to_string(),
        user_id: c.user_id.get(),
        course_key: c.course_key.to_string(),
        local_state: c.state(),
        pok_state,
        action,
        detail,
    }
}

/// Runs `certificates reconcile`.
pub(crate) async fn run(ctx: &Ctx, args: ReconcileArgs) -> Result<(), CliError> {
    let wired = ctx.wire().await?;
    let service = &wired.service;
    let query = |states: Vec<StateKind>| CertificateQuery {
        course_key: args.course.clone(),
        states,
        ..CertificateQuery::default()
    };
    let with_credential: Vec<Certificate> = service
        .certificates()
        .list(&query(vec![
            StateKind::Processing,
            StateKind::Emitted,
            StateKind::NeedsReview,
            StateKind::Revoked,
            StateKind::Superseded,
        ]))
        .await?
        .into_iter()
        .filter(|c| c.lifecycle().credential_id.is_some())
        .collect();
    let mut report = Report {
        dry_run: args.dry_run,
        checked: 0,
        in_sync: 0,
        drift: 0,
        repaired: 0,
        attention: 0,
        findings: Vec::new(),
    };
    let mut progress = Progress::new("asking POK", with_credential.len() as u64);
    for c in &with_credential {
        compare(ctx, service, c, args.dry_run, &mut report).await;
        progress.inc(&format!("drift {}", report.drift));
    }
    progress.finish("done");
    for c in service
        .certificates()
        .list(&query(vec![StateKind::NeedsReview]))
        .await?
    {
        if c.lifecycle().credential_id.is_some() {
            continue;
        }
        report.attention += 1;
        report.findings.push(finding(
            &c,
            None,
            "needs_person",
            format!(
                "an attempt may have created a credential at POK ({}). Look for it there (tags StudentId:{} and CourseId:{}): found, `certificates resolve {} --credential CRED`; not there, `certificates retry {}`",
                c.lifecycle().last_error.clone().unwrap_or_default(),
                c.user_id,
                c.course_key,
                c.id,
                c.id
            ),
        ));
    }
    for c in service
        .certificates()
        .list(&query(vec![StateKind::Failed]))
        .await?
    {
        if c.retry_scheduled() {
            continue;
        }
        report.attention += 1;
        report.findings.push(finding(
            &c,
            None,
            "needs_person",
            format!(
                "failed for good ({}): fix the cause, then `certificates retry {}`",
                c.lifecycle().last_error.clone().unwrap_or_default(),
                c.id
            ),
        ));
    }
    print(ctx.format(), &report)?;
    let unrepaired = if args.dry_run { report.drift } else { 0 };
    if report.attention > 0 || unrepaired > 0 {
        return Err(CliError::failed(format!(
            "{} certificate(s) need a person{}",
            report.attention,
            if unrepaired > 0 {
                format!(", {unrepaired} drifted (run without --dry-run to repair)")
            } else {
                String::new()
            }
        )));
    }
    Ok(())
}

/// Compares one certificate with its credential at POK, and repairs or reports.
async fn compare(
    ctx: &Ctx,
    service: &pok_domain::CertificateService,
    c: &Certificate,
    dry_run: bool,
    report: &mut Report,
) {
    let Some(cred) = c.lifecycle().credential_id.clone() else {
        return;
    };
    report.checked += 1;
    let status = match service.pok().credential(&cred).await {
        Ok(s) => s,
        Err(e) => {
            report.attention += 1;
            report.findings.push(finding(
                c,
                None,
                "pok_error",
                format!("credential {cred}: {e}"),
            ));
            return;
        }
    };
    let at_pok = PokState::classify(&status.state);
    if matches!(c.state(), StateKind::Revoked | StateKind::Superseded) {
        if at_pok == PokState::Revoked {
            report.in_sync += 1;
        } else {
            report.attention += 1;
            report.findings.push(finding(
                c,
                Some(status.state.clone()),
                "needs_person",
                format!(
                    "{} here but still valid at POK: revoke credential {cred} in POK's dashboard",
                    c.state()
                ),
            ));
        }
        return;
    }
    let mut probe = c.clone();
    let now = service.now();
    let seen = match c.state() {
        StateKind::NeedsReview => {
            probe.accepted(cred.clone(), &status.state, status.view_url.clone(), now)
        }
        _ => probe.observe(&status.state, status.view_url.clone(), now),
    };
    if seen.is_err() || probe.state() == c.state() {
        report.in_sync += 1;
        return;
    }
    report.drift += 1;
    if dry_run {
        report.findings.push(finding(
            c,
            Some(status.state.clone()),
            "would_repair",
            format!(
                "would become {} (`certificates refresh {}`)",
                probe.state(),
                c.id
            ),
        ));
        return;
    }
    match service.refresh(c.id, ctx.actor.clone()).await {
        Ok(after) => {
            report.repaired += 1;
            report.findings.push(finding(
                c,
                Some(status.state.clone()),
                "repaired",
                format!("now {}", after.state()),
            ));
        }
        Err(e) => {
            report.attention += 1;
            report.findings.push(finding(
                c,
                Some(status.state.clone()),
                "repair_failed",
                e.to_string(),
            ));
        }
    }
}

fn print(format: Format, report: &Report) -> Result<(), CliError> {
    match format {
        Format::Json => output::json(report),
        Format::Csv => output::rows(Format::Csv, &report.findings),
        Format::Table => {
            let mut s = format!(
                "{} certificate(s) with a POK credential checked{}: {} in sync, {} drifted{}; {} need a person\n",
                report.checked,
                if report.dry_run {
                    " (dry run: nothing changed)"
                } else {
                    ""
                },
                report.in_sync,
                report.drift,
                if report.dry_run {
                    String::new()
                } else {
                    format!(" ({} repaired)", report.repaired)
                },
                report.attention
            );
            if !report.findings.is_empty() {
                s.push('\n');
                s.push_str(&output::table(
                    Finding::HEADERS,
                    &report.findings.iter().map(Row::cells).collect::<Vec<_>>(),
                ));
            }
            output::text(&s)
        }
    }
}
