//! `credits [--warn-below N]`: the organisation's POK credits, for people and for monitoring.

use clap::Args;
use pok_http::Metrics;
use serde::Serialize;

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, Format};
use crate::wiring;

/// Options of `credits`.
#[derive(Debug, Args)]
pub struct CreditsArgs {
    /// Warn (on stderr, exit status 1) when fewer credits than this are available: each new
    /// credential takes one, and POK refuses credentials when none are left. Handy in cron.
    #[arg(long, value_name = "N")]
    warn_below: Option<i64>,
}

/// What `credits` reports.
#[derive(Debug, Serialize)]
struct CreditsView {
    organization: String,
    available: Option<i64>,
    used: Option<i64>,
    emitted: Option<i64>,
    processing: Option<i64>,
    draft: Option<i64>,
    warn_below: Option<i64>,
    low: bool,
}

/// Runs `credits`.
pub(crate) async fn run(ctx: &Ctx, args: CreditsArgs) -> Result<(), CliError> {
    let pok = wiring::gateway(&ctx.loaded, &Metrics::new())?;
    let org = pok.organization().await.map_err(pok_domain::Error::from)?;
    let low = match (args.warn_below, org.available_credits) {
        (Some(min), Some(available)) => available < min,
        _ => false,
    };
    let view = CreditsView {
        organization: org.name.clone(),
        available: org.available_credits,
        used: org.sent_credentials,
        emitted: org.emitted_credentials,
        processing: org.processing_credentials,
        draft: org.draft_credentials,
        warn_below: args.warn_below,
        low,
    };
    let n = |v: Option<i64>| v.map_or_else(|| "unknown".to_owned(), |v| v.to_string());
    match ctx.format() {
        Format::Table => output::text(&output::record_text(&[
            ("organisation", view.organization.clone()),
            ("available", n(view.available)),
            ("used (sent)", n(view.used)),
            ("emitted", n(view.emitted)),
            ("processing", n(view.processing)),
            ("draft", n(view.draft)),
        ]))?,
        format => output::outcome(format, "", &view)?,
    }
    if low {
        return Err(CliError::failed(format!(
            "only {} POK credit(s) left, fewer than {}: buy more before POK refuses new credentials",
            n(view.available),
            n(view.warn_below)
        )));
    }
    Ok(())
}
