//! The commands, one module per command group: `serve` and `demo` (the service), `migrate`,
//! `doctor`, the POK side (`templates`, `pages`, `preview`, `credits`), `courses` and
//! `certificates`. Each module holds its options and a `run` function that calls the domain's
//! use cases through [`crate::wiring`]; argument parsing uses the domain's own value types, so
//! a malformed course key is refused (exit 2) before anything is touched.

mod certificates;
mod courses;
mod credits;
mod doctor;
mod migrate;
mod pages;
mod preview;
mod serve;
mod templates;

use std::path::PathBuf;

use clap::Subcommand;
use pok_domain::Actor;
use pok_domain::lifecycle::CertificateId;
use pok_domain::values::{CourseKey, CredentialId, TemplateId, UserId};

use crate::error::CliError;
use crate::output::Format;
use crate::settings::{self, Loaded};
use crate::wiring::{self, PokTarget, Wired};

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
    /// Apply the database migrations this version needs, or show where the database stands.
    ///
    /// `serve` and the admin commands migrate by themselves; run this on its own to migrate
    /// before a deployment, or with --status to look without changing anything. A database
    /// migrated by a newer version is refused.
    Migrate(migrate::MigrateArgs),
    /// Check the installation and say what to fix: settings, database, POK (reachability and
    /// API key), the default template (POK_TEMPLATE_ID) and every course's template.
    ///
    /// Changes nothing. Exit status 1 when a check fails; warnings alone exit 0.
    Doctor(doctor::DoctorArgs),
    /// The templates (certificate designs) of your organisation at POK.
    #[command(subcommand)]
    Templates(templates::TemplatesCommand),
    /// The landing-page designs of your organisation at POK.
    #[command(subcommand)]
    Pages(pages::PagesCommand),
    /// Print the URL of a template's preview image, by course or by template.
    Preview(preview::PreviewArgs),
    /// Show your organisation's POK credits (available and used), and warn when few are left.
    Credits(credits::CreditsArgs),
    /// Link courses to POK templates, and switch POK issuing on and off per course.
    #[command(subcommand)]
    Courses(courses::CoursesCommand),
    /// Look at, issue, retry, revoke, re-issue, back-fill and reconcile certificates.
    #[command(subcommand)]
    Certificates(certificates::CertificatesCommand),
}

/// The options every command accepts.
#[derive(Debug, Clone, Default)]
pub struct Globals {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--format`.
    pub format: Option<Format>,
    /// `--actor`.
    pub actor: Option<String>,
}

/// What an admin command runs with: the settings, the output format and who is acting.
pub(crate) struct Ctx {
    /// The settings, checked.
    pub loaded: Loaded,
    /// `--format` as given (`None`: the command's default).
    pub format_given: Option<Format>,
    /// The administrator, for histories.
    pub actor: Actor,
}

impl Ctx {
    /// The output format (a table unless `--format` says otherwise).
    pub fn format(&self) -> Format {
        self.format_given.unwrap_or(Format::Table)
    }

    /// The service with its adapters: the database (migrated) and the configured POK.
    pub async fn wire(&self) -> Result<Wired, CliError> {
        wiring::wire(&self.loaded, PokTarget::Configured).await
    }
}

/// Runs a command with the settings from `--config` (or the default file) and the environment.
pub async fn run(command: Command, globals: Globals) -> Result<(), CliError> {
    let config = globals.config.as_deref();
    let command = match command {
        Command::Doctor(args) => return doctor::run(config, globals.format, args).await,
        other => other,
    };
    let loaded = settings::load(config)?;
    let ctx = match command {
        Command::Serve(args) => return serve::serve(loaded, args).await,
        Command::Demo(args) => return serve::demo(loaded, args).await,
        _ => {
            init_logging();
            Ctx {
                loaded,
                format_given: globals.format,
                actor: Actor::Admin(default_actor(globals.actor)),
            }
        }
    };
    match command {
        Command::Migrate(args) => migrate::run(&ctx, args).await,
        Command::Templates(cmd) => templates::run(&ctx, cmd).await,
        Command::Pages(cmd) => pages::run(&ctx, cmd).await,
        Command::Preview(args) => preview::run(&ctx, args).await,
        Command::Credits(args) => credits::run(&ctx, args).await,
        Command::Courses(cmd) => courses::run(&ctx, cmd).await,
        Command::Certificates(cmd) => certificates::run(&ctx, cmd).await,
        Command::Serve(_) | Command::Demo(_) | Command::Doctor(_) => Ok(()),
    }
}

/// Logs of admin commands go to stderr and show errors only, so that they do not drown the
/// output or a progress bar; `RUST_LOG=info` shows every POK call and job.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The acting administrator: `--actor`, else `$USER` (the part before any `@`), else `admin`.
fn default_actor(given: Option<String>) -> String {
    given
        .or_else(|| {
            std::env::var("USER").ok().and_then(|u| {
                let name = u.split('@').next().unwrap_or_default().trim().to_owned();
                parse_actor(&name).ok()
            })
        })
        .unwrap_or_else(|| "admin".to_owned())
}

/// `--actor`: 1 to 64 printable characters, not an e-mail address (histories are shown to
/// other administrators and must not carry personal contact data).
pub fn parse_actor(input: &str) -> Result<String, String> {
    let s = input.trim();
    if s.is_empty() || s.chars().count() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if s.contains('@') {
        return Err("must be a name, not an e-mail address".into());
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(s.to_owned())
}

/// A course key argument (`course-v1:Org+Course+Run` or `Org/Course/Run`).
pub(crate) fn parse_course(input: &str) -> Result<CourseKey, String> {
    CourseKey::parse(input).map_err(|e| e.to_string())
}

/// A user id argument (the LMS's numeric id).
pub(crate) fn parse_user(input: &str) -> Result<UserId, String> {
    UserId::parse(input).map_err(|e| e.to_string())
}

/// A certificate id argument (a UUID).
pub(crate) fn parse_certificate(input: &str) -> Result<CertificateId, String> {
    CertificateId::parse(input).map_err(|e| e.to_string())
}

/// A template id argument.
pub(crate) fn parse_template(input: &str) -> Result<TemplateId, String> {
    TemplateId::parse(input).map_err(|e| e.to_string())
}

/// A POK credential id argument.
pub(crate) fn parse_credential(input: &str) -> Result<CredentialId, String> {
    CredentialId::parse(input).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_are_names_not_addresses() {
        assert_eq!(parse_actor(" ada ").unwrap(), "ada");
        assert!(parse_actor("ada@example.org").is_err());
        assert!(parse_actor("").is_err());
        assert_eq!(default_actor(Some("root".into())), "root");
    }

    #[test]
    fn every_help_text_is_present() {
        use clap::CommandFactory;
        #[derive(Debug, clap::Parser)]
        struct Probe {
            #[command(subcommand)]
            command: Command,
        }
        Probe::command().debug_assert();
    }
}
