//! The single-certificate actions: `issue`, `retry`, `refresh`, `resolve`, `revoke`,
//! `reissue`. Each is one call to a `CertificateService` use case; the lifecycle rules (what
//! can be revoked, retried, re-issued) live in the domain and its refusals are printed as
//! they are.

use clap::Args;
use pok_domain::filters::{CreationRequest, DOWNLOADABLE};
use pok_domain::lifecycle::CertificateId;
use pok_domain::ports::CertificateQuery;
use pok_domain::service::{Corrections, CreationAnswer};
use pok_domain::values::{
    CourseKey, CourseMode, CredentialId, Email, Grade, LanguageTag, PersonName, UserId,
};
use pok_domain::{Certificate, StateKind};
use serde::Serialize;

use super::drain::{self, DrainArgs};
use super::inspect::parse_state;
use crate::commands::{Ctx, parse_certificate, parse_course, parse_credential, parse_user};
use crate::error::CliError;
use crate::output::{self, Format};

/// Options of `certificates issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The learner's LMS user id.
    #[arg(value_parser = parse_user)]
    user: UserId,
    /// The course key.
    #[arg(value_parser = parse_course)]
    course: CourseKey,
    /// Where POK sends the credential.
    #[arg(long, value_parser = parse_email)]
    email: Email,
    /// The learner's full name as printed on the credential ("Last, First" is read as
    /// written).
    #[arg(long, value_parser = parse_name)]
    name: PersonName,
    /// The learner's username (kept for administrators; some templates print it).
    #[arg(long, default_value = "")]
    username: String,
    /// The enrolment mode (the course's link may restrict modes).
    #[arg(long, default_value = "honor", value_parser = parse_mode)]
    mode: CourseMode,
    /// The grade: a fraction from 0 to 1 (0.93) or a percentage (93%).
    #[arg(long, value_parser = parse_grade)]
    grade: Option<Grade>,
    /// The course's title for the credential (default: the link's title, else the course key).
    #[arg(long)]
    course_title: Option<String>,
    /// The credential's language (BCP 47, e.g. es-AR; default: OPENEDX_POK_DEFAULT_LANGUAGE).
    #[arg(long, value_parser = parse_language)]
    language: Option<LanguageTag>,
    #[command(flatten)]
    drain: DrainArgs,
}

/// Options of `certificates retry`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["id", "state"])))]
pub struct RetryArgs {
    /// The certificate to queue again (failed or needs-review).
    #[arg(value_parser = parse_certificate)]
    id: Option<CertificateId>,
    /// Queue again every certificate in this state; only `failed` is allowed (those with an
    /// automatic retry scheduled are left to it).
    #[arg(long, value_parser = parse_state)]
    state: Option<StateKind>,
    /// With --state: only this course.
    #[arg(long, requires = "state", value_parser = parse_course)]
    course: Option<CourseKey>,
}

/// A certificate id argument.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// The certificate id (see `certificates list`).
    #[arg(value_parser = parse_certificate)]
    id: CertificateId,
}

/// Options of `certificates resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The needs-review certificate.
    #[arg(value_parser = parse_certificate)]
    id: CertificateId,
    /// The id of the credential found at POK for this learner and course.
    #[arg(long, value_parser = parse_credential)]
    credential: CredentialId,
}

/// Options of `certificates revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The certificate to revoke.
    #[arg(value_parser = parse_certificate)]
    id: CertificateId,
    /// Why (kept in the history; no personal data).
    #[arg(long)]
    reason: String,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    yes: bool,
}

/// Options of `certificates reissue`.
#[derive(Debug, Args)]
pub struct ReissueArgs {
    /// The certificate to replace.
    #[arg(value_parser = parse_certificate)]
    id: CertificateId,
    /// The corrected full name.
    #[arg(long, value_parser = parse_name)]
    name: Option<PersonName>,
    /// The corrected e-mail address.
    #[arg(long, value_parser = parse_email)]
    email: Option<Email>,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    yes: bool,
}

fn parse_email(s: &str) -> Result<Email, String> {
    Email::parse(s).map_err(|e| e.to_string())
}
fn parse_name(s: &str) -> Result<PersonName, String> {
    PersonName::parse(s).map_err(|e| e.to_string())
}
fn parse_mode(s: &str) -> Result<CourseMode, String> {
    CourseMode::parse(s).map_err(|e| e.to_string())
}
fn parse_language(s: &str) -> Result<LanguageTag, String> {
    LanguageTag::parse(s).map_err(|e| e.to_string())
}

/// A grade: `0.93` (the LMS's fraction) or `93%`.
pub(crate) fn parse_grade(s: &str) -> Result<Grade, String> {
    let t = s.trim();
    let value = if let Some(p) = t.strip_suffix('%') {
        p.trim()
            .parse::<f64>()
            .map(|p| p / 100.0)
            .map_err(|_| format!("invalid grade: not a number: {t:?}"))?
    } else {
        t.parse::<f64>().map_err(|_| {
            format!("invalid grade: not a number: {t:?} (a fraction such as 0.93, or 93%)")
        })?
    };
    Grade::new(value).map_err(|e| e.to_string())
}

/// What an action reports for scripts.
#[derive(Debug, Serialize)]
struct Done {
    id: String,
    state: StateKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    replaces: Option<String>,
}

fn done(c: &Certificate) -> Done {
    Done {
        id: c.id.to_string(),
        state: c.state(),
        replaces: None,
    }
}

/// Runs `certificates issue`.
pub(crate) async fn issue(ctx: &Ctx, a: IssueArgs) -> Result<(), CliError> {
    let wired = ctx.wire().await?;
    let service = &wired.service;
    let request = CreationRequest {
        user_id: Some(a.user),
        username: a.username,
        email: Some(a.email.to_string()),
        full_name: Some(a.name.to_string()),
        language: a.language.map(|l| l.to_string()),
        course_key: Some(a.course.clone()),
        course_title: a.course_title,
        mode: Some(a.mode),
        status: DOWNLOADABLE.to_owned(),
        grade: a.grade,
        passed: Some(true),
        ..CreationRequest::default()
    };
    let id = match service
        .request_certificate(&request, ctx.actor.clone())
        .await?
    {
        CreationAnswer::Enqueued(id) => id,
        CreationAnswer::AlreadyRequested(id) => {
            let state = service
                .certificates()
                .get(id)
                .await?
                .map_or_else(|| "unknown".to_owned(), |c| c.state().to_string());
            return Err(CliError::failed(format!(
                "user {} already has certificate {id} for {} (state {state}): nothing recorded. \
                 Use `certificates reissue {id}` for a corrected one, or `certificates retry {id}` if it failed",
                a.user, a.course
            )));
        }
        CreationAnswer::NotOurs(why) | CreationAnswer::Prevent(why) => {
            return Err(CliError::failed(format!("not issued: {why}")));
        }
    };
    if a.drain.issue_now {
        let outcome = drain::issue_now(
            ctx,
            service,
            &[id],
            std::slice::from_ref(&a.course),
            &a.drain,
        )
        .await?;
        let cert = service.certificates().get(id).await?;
        let state = cert
            .as_ref()
            .map_or(StateKind::Requested, Certificate::state);
        output::outcome(
            ctx.format(),
            &format!(
                "certificate {id} for user {} in {}: {state}",
                a.user, a.course
            ),
            &Done {
                id: id.to_string(),
                state,
                replaces: None,
            },
        )?;
        return outcome.into_result();
    }
    output::outcome(
        ctx.format(),
        &format!(
            "recorded certificate {id} for user {} in {}; the service's worker sends it to POK \
             shortly (follow it with `certificates show {id}`)",
            a.user, a.course
        ),
        &Done {
            id: id.to_string(),
            state: StateKind::Requested,
            replaces: None,
        },
    )
}

/// What a bulk retry reports for scripts.
#[derive(Serialize)]
struct Bulk<'a> {
    /// Failed certificates left alone because an automatic retry is scheduled.
    scheduled: usize,
    queued: &'a [Done],
    refused: &'a [String],
}

/// Runs `certificates retry`.
pub(crate) async fn retry(ctx: &Ctx, a: RetryArgs) -> Result<(), CliError> {
    if let Some(state) = a.state
        && state != StateKind::Failed
    {
        return Err(CliError::Usage(format!(
            "--state {state}: only failed certificates are retried in bulk. A needs-review \
             certificate may exist at POK already: check there, then `certificates resolve ID \
             --credential CRED` or `certificates retry ID` one by one"
        )));
    }
    let wired = ctx.wire().await?;
    let service = &wired.service;
    if let Some(id) = a.id {
        let c = service.retry(id, ctx.actor.clone()).await?;
        return output::outcome(
            ctx.format(),
            &format!("certificate {id} queued again; the service's worker sends it to POK shortly"),
            &done(&c),
        );
    }
    let failed = service
        .certificates()
        .list(&CertificateQuery {
            course_key: a.course,
            states: vec![StateKind::Failed],
            ..CertificateQuery::default()
        })
        .await?;
    let mut queued = Vec::new();
    let mut refused = Vec::new();
    let mut scheduled = 0usize;
    for c in &failed {
        // An automatic retry is already queued for these: the domain refuses a second job.
        if c.retry_scheduled() {
            scheduled += 1;
            continue;
        }
        match service.retry(c.id, ctx.actor.clone()).await {
            Ok(c) => queued.push(done(&c)),
            Err(e) => refused.push(format!("{}: {e}", c.id)),
        }
    }
    let message = format!(
        "queued {} failed certificate(s) again{}{}",
        queued.len(),
        if scheduled == 0 {
            String::new()
        } else {
            format!("; {scheduled} left alone, an automatic retry is already scheduled for them")
        },
        if refused.is_empty() {
            String::new()
        } else {
            format!("; {} could not be: {}", refused.len(), refused.join("; "))
        }
    );
    match ctx.format() {
        Format::Csv => output::rows(Format::Csv, &queued)?,
        f => output::outcome(
            f,
            &message,
            &Bulk {
                scheduled,
                queued: &queued,
                refused: &refused,
            },
        )?,
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(CliError::failed(format!(
            "{} certificate(s) were not queued",
            refused.len()
        )))
    }
}

impl output::Row for Done {
    const HEADERS: &'static [&'static str] = &["id", "state"];
    fn cells(&self) -> Vec<String> {
        vec![self.id.clone(), self.state.to_string()]
    }
}

/// Runs `certificates refresh`.
pub(crate) async fn refresh(ctx: &Ctx, a: IdArgs) -> Result<(), CliError> {
    let wired = ctx.wire().await?;
    let c = wired.service.refresh(a.id, ctx.actor.clone()).await?;
    let pok = c.lifecycle().pok_state.clone().unwrap_or_default();
    output::outcome(
        ctx.format(),
        &format!("certificate {}: {} (POK says {pok})", c.id, c.state()),
        &done(&c),
    )
}

/// Runs `certificates resolve`.
pub(crate) async fn resolve(ctx: &Ctx, a: ResolveArgs) -> Result<(), CliError> {
    let wired = ctx.wire().await?;
    let c = wired
        .service
        .resolve(a.id, a.credential.clone(), ctx.actor.clone())
        .await?;
    output::outcome(
        ctx.format(),
        &format!(
            "certificate {} settled with credential {}: {}",
            c.id,
            a.credential,
            c.state()
        ),
        &done(&c),
    )
}

/// Runs `certificates revoke`.
pub(crate) async fn revoke(ctx: &Ctx, a: RevokeArgs) -> Result<(), CliError> {
    if a.reason.trim().is_empty() {
        return Err(CliError::Usage(
            "--reason must not be empty: a revocation needs a reason".into(),
        ));
    }
    let wired = ctx.wire().await?;
    let service = &wired.service;
    let before = super::inspect::find(service, &[a.id.to_string()]).await?;
    output::confirm(
        &format!(
            "Revoke certificate {} of user {} in {} (now {})?",
            before.id,
            before.user_id,
            before.course_key,
            before.state()
        ),
        a.yes,
    )?;
    let c = service.revoke(a.id, &a.reason, ctx.actor.clone()).await?;
    let at_pok = c
        .lifecycle()
        .credential_id
        .as_ref()
        .map_or_else(String::new, |cred| {
            format!(". POK has no revocation call: revoke credential {cred} in POK's dashboard too")
        });
    output::outcome(
        ctx.format(),
        &format!("certificate {} revoked{at_pok}", c.id),
        &done(&c),
    )
}

/// Runs `certificates reissue`.
pub(crate) async fn reissue(ctx: &Ctx, a: ReissueArgs) -> Result<(), CliError> {
    let wired = ctx.wire().await?;
    let service = &wired.service;
    let before = super::inspect::find(service, &[a.id.to_string()]).await?;
    output::confirm(
        &format!(
            "Re-issue certificate {} of user {} in {} (now {})? It will be superseded by a new one",
            before.id,
            before.user_id,
            before.course_key,
            before.state()
        ),
        a.yes,
    )?;
    let corrections = Corrections {
        full_name: a.name,
        email: a.email,
    };
    let new = service
        .reissue(a.id, &corrections, ctx.actor.clone())
        .await?;
    let old_cred = before
        .lifecycle()
        .credential_id
        .as_ref()
        .map_or_else(String::new, |cred| {
            format!(". The old credential {cred} stays valid at POK until you revoke it there")
        });
    output::outcome(
        ctx.format(),
        &format!(
            "certificate {} superseded by {} (queued; the service's worker sends it to POK shortly){old_cred}",
            a.id, new.id
        ),
        &Done {
            id: new.id.to_string(),
            state: new.state(),
            replaces: Some(a.id.to_string()),
        },
    )
}
