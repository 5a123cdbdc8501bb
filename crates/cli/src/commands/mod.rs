//! The commands, one module each: `serve` (the service and its worker) and `demo`.
//! Each command parses its own options and calls the domain through [`crate::wiring`].

mod serve;

use std::path::Path;

use clap::Subcommand;

use crate::error::CliError;
use crate::settings;

/// Every command of the binary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: the filter endpoints, the certificate pages and the issuing worker.
    ///
    /// Needs POK_API_KEY and OPENEDX_POK_SECRET, or POK_SIMULATOR=true to use the built-in POK
    /// simulator instead of POK. Stops cleanly on Ctrl-C or SIGTERM: it stops taking jobs,
    /// finishes the ones it holds, and lets requests in flight end.
    Serve(serve::ServeArgs),
    /// Try everything on this machine: the service with the built-in POK simulator on SQLite, a
    /// sample course linked to a simulator template, and the URLs and a curl command to call it.
    Demo(serve::DemoArgs),
}

/// Runs a command with the settings from `config` (or the default file) and the environment.
pub async fn run(command: Command, config: Option<&Path>) -> Result<(), CliError> {
    let loaded = settings::load(config)?;
    match command {
        Command::Serve(args) => serve::serve(loaded, args).await,
        Command::Demo(args) => serve::demo(loaded, args).await,
    }
}
