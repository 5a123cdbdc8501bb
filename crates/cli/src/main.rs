//! The `openedx-pok` binary: the certificate service (`serve`, `demo`) and the admin CLI.
//!
//! # Layout
//! - [`settings`]: defaults < `openedx-pok.toml` (or `--config`) < environment, checked once.
//! - [`wiring`]: builds the adapters from the settings and hands them to the domain's
//!   `CertificateService`. The only module that knows every adapter.
//! - [`commands`]: one module per command; each parses its arguments and calls the domain's
//!   use cases through the wired service. No business rule lives here.
//!
//! Exit codes: 0 on success, 1 on a failure, 2 on a usage error (bad arguments or settings).

mod commands;
mod error;
mod settings;
mod wiring;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Issues Open edX course certificates through POK (pok.tech).
///
/// The service answers the LMS's CertificateCreationRequested and CertificateRenderStarted
/// filters; the admin commands manage course templates and certificates. Settings come from
/// openedx-pok.toml (or --config) and the environment: POK_API_URL, POK_API_KEY,
/// POK_TEMPLATE_ID, POK_TIMEOUT, DATABASE_URL and OPENEDX_POK_* (see the README).
#[derive(Debug, Parser)]
#[command(name = "openedx-pok", version, propagate_version = true)]
struct Cli {
    /// A TOML settings file (default: ./openedx-pok.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli.command, cli.config.as_deref())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
