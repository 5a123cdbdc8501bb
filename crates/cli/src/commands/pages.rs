//! `pages remote`: the landing-page designs of the organisation at POK (for
//! `courses link --page`).

use clap::{Args, Subcommand};
use pok_domain::ports::PageSummary;
use pok_http::Metrics;

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, Row};
use crate::wiring;

/// `pages` subcommands.
#[derive(Debug, Subcommand)]
pub enum PagesCommand {
    /// List the landing-page designs at POK; use an id with `courses link --page`.
    Remote(RemoteArgs),
}

/// Options of `pages remote`.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// List at most this many pages.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
}

impl Row for PageSummary {
    const HEADERS: &'static [&'static str] = &["PAGE", "NAME"];
    fn cells(&self) -> Vec<String> {
        vec![self.id.to_string(), self.name.clone()]
    }
}

/// Runs a `pages` subcommand.
pub(crate) async fn run(ctx: &Ctx, cmd: PagesCommand) -> Result<(), CliError> {
    let PagesCommand::Remote(args) = cmd;
    let pok = wiring::gateway(&ctx.loaded, &Metrics::new())?;
    let list = pok
        .pages(args.limit)
        .await
        .map_err(pok_domain::Error::from)?;
    output::rows(ctx.format(), &list)
}
