//! The `openedx-pok` binary: the certificate service (`serve`, `demo`) and the admin CLI.
//!
//! # Layout
//! - [`settings`]: defaults < `openedx-pok.toml` (or `--config`) < environment, checked once.
//! - [`wiring`]: builds the adapters from the settings and hands them to the domain's
//!   `CertificateService`. The only module that knows every adapter.
//! - [`commands`]: one module per command; each parses its arguments and calls the domain's
//!   use cases through the wired service. No business rule lives here.
//! - [`output`]: tables, JSON and CSV on stdout; confirmations and progress on the terminal.
//!
//! Exit codes: 0 on success, 1 on a failure, 2 on a usage error (bad arguments or settings).

mod commands;
mod error;
mod output;
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
///
/// Admin commands print a table for people by default and JSON or CSV with --format. Exit
/// status: 0 on success, 1 on a failure (POK or the database failed, a rule refused the
/// action), 2 on a usage error (bad arguments, a malformed course key, a bad CSV line, a
/// wrong setting). Bad input changes nothing. RUST_LOG=info shows what happens underneath.
#[derive(Debug, Parser)]
#[command(name = "openedx-pok", version, propagate_version = true)]
struct Cli {
    /// A TOML settings file (default: ./openedx-pok.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Output format of admin commands: table (default, for people), json or csv (for
    /// scripts).
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    format: Option<output::Format>,

    /// Your name in certificate histories (default: $USER, else "admin"). A name, never an
    /// e-mail address: histories are shown to other administrators.
    #[arg(long, global = true, value_name = "NAME", value_parser = commands::parse_actor)]
    actor: Option<String>,

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
    let globals = commands::Globals {
        config: cli.config,
        format: cli.format,
        actor: cli.actor,
    };
    match runtime.block_on(commands::run(cli.command, globals)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
