//! `certificates`: looking at certificates (`list`, `show`, `export`), acting on one
//! (`issue`, `retry`, `refresh`, `resolve`, `revoke`, `reissue`), and working on many
//! (`backfill`, `reconcile`).
//!
//! # Layout
//! - `view`: how a certificate is listed, shown and exported (the only place that decides
//!   which fields a listing shows: the default table shows no e-mail address).
//! - `inspect`: `list`, `show`, `export`.
//! - `actions`: the single-certificate use cases, each one call to `CertificateService`.
//! - `backfill`: CSV → validated creation requests → `request_certificate`, rate-limited.
//! - `drain`: the issuing worker run in this process (`--issue-now`) until the certificates it
//!   was given are sent.
//! - `reconcile`: compares local states with POK's and repairs drift through `refresh`.

mod actions;
mod backfill;
mod drain;
mod inspect;
mod reconcile;
mod view;

use clap::Subcommand;

use super::Ctx;
use crate::error::CliError;

/// `certificates` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertificatesCommand {
    /// List certificates, newest first: id, user id, username, course, state and dates.
    ///
    /// Example: certificates list --course course-v1:OrgX+CS101+2026 --state failed
    List(inspect::ListArgs),
    /// Show one certificate in full (what was sent to POK, where it stands) with its history.
    ///
    /// Give its id, or a user id and a course key for the learner's current certificate in
    /// the course.
    Show(inspect::ShowArgs),
    /// Write every field of the matching certificates, e-mail addresses included, as CSV
    /// (default) or JSON, for spreadsheets and scripts.
    Export(inspect::ExportArgs),
    /// Issue a certificate by hand for a learner in a course, as if the LMS had asked.
    ///
    /// The certificate is recorded and queued; the service's worker sends it to POK within
    /// seconds (or this command does, with --issue-now). The course must be linked (or
    /// POK_TEMPLATE_ID set). A learner who already has a certificate for the course is
    /// refused: use `reissue` to correct one.
    Issue(actions::IssueArgs),
    /// Queue failed certificates again: one by id, or every failed one with --state failed.
    ///
    /// Only certificates whose automatic retries stopped (ran out, or POK refused the request
    /// for good) are queued by hand; one with an automatic retry scheduled is left to it.
    ///
    /// A needs-review certificate is retried only by id, after checking at POK that the
    /// doubtful attempt created nothing (otherwise use `resolve`): retrying it blindly could
    /// give the learner two credentials.
    Retry(actions::RetryArgs),
    /// Ask POK about a certificate's credential now and record what it says.
    Refresh(actions::IdArgs),
    /// Settle a needs-review certificate with the credential found at POK.
    ///
    /// When an attempt ended without knowing whether POK created the credential, look for
    /// it at POK (its tags are StudentId:USER and CourseId:COURSE); if it is there, give its
    /// id here; if it is not, use `retry` instead.
    Resolve(actions::ResolveArgs),
    /// Revoke a certificate: its page shows it revoked and the LMS gets no new one silently.
    ///
    /// POK offers no revocation call: revoke the credential in POK's dashboard as well.
    /// Asks for confirmation (--yes to skip).
    Revoke(actions::RevokeArgs),
    /// Issue a corrected certificate (after a name or e-mail correction): the old one becomes
    /// superseded and points to the new one, which is queued with today's emission date.
    ///
    /// Asks for confirmation (--yes to skip).
    Reissue(actions::ReissueArgs),
    /// Record certificates for many learners from a CSV file (learners who completed a course
    /// before it was linked, say).
    ///
    /// Columns (header line required, any order): user_id, email, full_name (or first_name
    /// and last_name), course_key (or --course), and optionally username, mode, grade (0 to 1,
    /// or a percentage such as 93%), course_title, language. Every line is checked first,
    /// by the same rules the service applies to the LMS's requests; with --on-bad-line stop
    /// (the default) one bad line stops everything before anything is recorded, with
    /// --on-bad-line skip the bad lines are left out and listed. Running the same file
    /// again is safe: learners who already have a certificate are skipped, so an interrupted
    /// back-fill is resumed by running it again.
    ///
    /// Back-fill only records and queues; the service's worker issues at its own pace. With
    /// --issue-now this command runs the worker itself until every recorded certificate has
    /// been sent to POK.
    ///
    /// Example: certificates backfill --csv graduates.csv --rate 5/s --dry-run
    Backfill(backfill::BackfillArgs),
    /// Compare certificates that have a POK credential with POK, repair drift, and list what
    /// needs a person.
    ///
    /// For each certificate with a credential id, asks POK for the credential's state; a
    /// local state that differs from what POK's implies is repaired with `refresh` (unless
    /// --dry-run). Revoked or superseded certificates whose credential is still valid at POK,
    /// needs-review certificates and failed ones that gave up are listed with what to do.
    /// Exit status 1 when something needs a person or drift is left unrepaired, so it can
    /// run from cron.
    Reconcile(reconcile::ReconcileArgs),
}

/// Runs a `certificates` subcommand.
pub(crate) async fn run(ctx: &Ctx, cmd: CertificatesCommand) -> Result<(), CliError> {
    match cmd {
        CertificatesCommand::List(a) => inspect::list(ctx, a).await,
        CertificatesCommand::Show(a) => inspect::show(ctx, a).await,
        CertificatesCommand::Export(a) => inspect::export(ctx, a).await,
        CertificatesCommand::Issue(a) => actions::issue(ctx, a).await,
        CertificatesCommand::Retry(a) => actions::retry(ctx, a).await,
        CertificatesCommand::Refresh(a) => actions::refresh(ctx, a).await,
        CertificatesCommand::Resolve(a) => actions::resolve(ctx, a).await,
        CertificatesCommand::Revoke(a) => actions::revoke(ctx, a).await,
        CertificatesCommand::Reissue(a) => actions::reissue(ctx, a).await,
        CertificatesCommand::Backfill(a) => backfill::run(ctx, a).await,
        CertificatesCommand::Reconcile(a) => reconcile::run(ctx, a).await,
    }
}
