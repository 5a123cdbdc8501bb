//! `list`, `show` and `export`: read-only views of the stored certificates.

use clap::Args;
use pok_domain::Certificate;
use pok_domain::StateKind;
use pok_domain::lifecycle::CertificateId;
use pok_domain::ports::CertificateQuery;
use pok_domain::values::{CourseKey, UserId};
use pok_domain::{CertificateService, Error};

use super::view::{Detail, EventView, Summary};
use crate::commands::{Ctx, parse_course, parse_user};
use crate::error::CliError;
use crate::output::{self, Format, Row};

/// Filters shared by `list` and `export`.
#[derive(Debug, Args)]
pub struct Filters {
    /// Only this course.
    #[arg(long, value_parser = parse_course)]
    course: Option<CourseKey>,
    /// Only these states (repeat, or separate with commas): requested, issuing, processing,
    /// emitted, failed, needs_review, rejected, revoked, superseded.
    #[arg(long, value_name = "STATE", value_delimiter = ',', value_parser = parse_state)]
    state: Vec<StateKind>,
    /// Only this learner (LMS user id).
    #[arg(long, value_parser = parse_user)]
    user: Option<UserId>,
}

impl Filters {
    fn query(&self, limit: Option<u32>) -> CertificateQuery {
        CertificateQuery {
            course_key: self.course.clone(),
            states: self.state.clone(),
            user_id: self.user,
            limit,
        }
    }
}

/// A state argument.
pub(crate) fn parse_state(s: &str) -> Result<StateKind, String> {
    StateKind::parse(s).map_err(|e| e.to_string())
}

/// Options of `certificates list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    filters: Filters,
    /// Show at most this many, newest first (0: all).
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

/// Options of `certificates show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A certificate id, or a user id and a course key.
    #[arg(value_name = "ID | USER COURSE", num_args = 1..=2, required = true)]
    target: Vec<String>,
}

/// Options of `certificates export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    filters: Filters,
}

/// Runs `certificates list`.
pub(crate) async fn list(ctx: &Ctx, args: ListArgs) -> Result<(), CliError> {
    let wired = ctx.wire().await?;
    let limit = (args.limit > 0).then_some(args.limit);
    let found = wired
        .service
        .certificates()
        .list(&args.filters.query(limit.map(|l| l.saturating_add(1))))
        .await?;
    let more = limit.is_some_and(|l| found.len() > l as usize);
    let shown: Vec<Summary> = found
        .iter()
        .take(limit.map_or(usize::MAX, |l| l as usize))
        .map(Summary::from)
        .collect();
    output::rows(ctx.format(), &shown)?;
    if more && ctx.format() == Format::Table {
        eprintln!(
            "(the newest {} are shown; --limit 0 shows all)",
            shown.len()
        );
    }
    Ok(())
}

/// Finds the certificate a `show` (or an action) names: an id, or a learner and a course.
pub(crate) async fn find(
    service: &CertificateService,
    target: &[String],
) -> Result<Certificate, CliError> {
    match target {
        [id] => {
            let id = CertificateId::parse(id).map_err(|e| {
                CliError::Usage(format!(
                    "{e} (give a certificate id, or a user id and a course key)"
                ))
            })?;
            Ok(service
                .certificates()
                .get(id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("certificate {id}")))?)
        }
        [user, course] => {
            let user = UserId::parse(user).map_err(|e| CliError::Usage(format!("USER: {e}")))?;
            let course =
                CourseKey::parse(course).map_err(|e| CliError::Usage(format!("COURSE: {e}")))?;
            Ok(service
                .certificates()
                .find_live(user, &course)
                .await?
                .ok_or_else(|| {
                    Error::NotFound(format!("a certificate of user {user} in {course}"))
                })?)
        }
        _ => Err(CliError::Usage(
            "give a certificate id, or a user id and a course key".into(),
        )),
    }
}

/// Runs `certificates show`.
pub(crate) async fn show(ctx: &Ctx, args: ShowArgs) -> Result<(), CliError> {
    let wired = ctx.wire().await?;
    let cert = find(&wired.service, &args.target).await?;
    let history: Vec<EventView> = wired
        .service
        .certificates()
        .history(cert.id)
        .await?
        .iter()
        .map(EventView::from)
        .collect();
    let mut detail = Detail::new(&cert, &ctx.loaded.settings.public_url);
    match ctx.format() {
        Format::Table => {
            let mut s = output::record_text(&output::Record::fields(&detail));
            s.push_str("\nhistory:\n");
            s.push_str(&output::table(
                EventView::HEADERS,
                &history.iter().map(Row::cells).collect::<Vec<_>>(),
            ));
            output::text(&s)
        }
        Format::Json => {
            detail.history = Some(history);
            output::json(&detail)
        }
        Format::Csv => output::rows(Format::Csv, &[detail]),
    }
}

/// Runs `certificates export`.
pub(crate) async fn export(ctx: &Ctx, args: ExportArgs) -> Result<(), CliError> {
    let format = match ctx.format_given {
        None | Some(Format::Csv) => Format::Csv,
        Some(Format::Json) => Format::Json,
        Some(Format::Table) => {
            return Err(CliError::Usage(
                "export writes --format csv (default) or --format json; use `certificates list` for a table".into(),
            ));
        }
    };
    let wired = ctx.wire().await?;
    let found = wired
        .service
        .certificates()
        .list(&args.filters.query(None))
        .await?;
    let public_url = &ctx.loaded.settings.public_url;
    let all: Vec<Detail> = found.iter().map(|c| Detail::new(c, public_url)).collect();
    match format {
        Format::Json => output::json(&all),
        _ => output::rows(Format::Csv, &all),
    }
}
