//! `migrate [--status]`: applies the database migrations, or shows where the database stands.

use clap::Args;
use serde::Serialize;
use std::fmt::Write as _;

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, Format};
use crate::wiring;

/// Options of `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Only show which migrations are applied and which are pending; change nothing.
    #[arg(long)]
    status: bool,
}

/// What `migrate --status` reports.
#[derive(Debug, Serialize)]
struct StatusView {
    backend: &'static str,
    current: bool,
    applied: Vec<String>,
    pending: Vec<String>,
    unknown: Vec<String>,
}

/// What `migrate` reports for scripts.
#[derive(Serialize)]
struct Applied<'a> {
    backend: &'a str,
    applied: &'a [String],
}

/// Runs `migrate`.
pub(crate) async fn run(ctx: &Ctx, args: MigrateArgs) -> Result<(), CliError> {
    let db = wiring::connect(&ctx.loaded).await?;
    if args.status {
        let st = db.migration_status().await.map_err(CliError::failed)?;
        let view = StatusView {
            backend: st.backend,
            current: st.is_current(),
            applied: st.applied.clone(),
            pending: st.pending.clone(),
            unknown: st.unknown.clone(),
        };
        if ctx.format() == Format::Table {
            let mut s = format!(
                "database: {} ({})\n",
                st.backend,
                ctx.loaded.source_of("database_url")
            );
            for name in &st.applied {
                let _ = writeln!(s, "  applied  {name}");
            }
            for name in &st.pending {
                let _ = writeln!(s, "  pending  {name}");
            }
            for name in &st.unknown {
                let _ = writeln!(
                    s,
                    "  unknown  {name}  (from a newer version of openedx-pok)"
                );
            }
            s.push_str(if !st.unknown.is_empty() {
                "A newer version migrated this database: upgrade openedx-pok before using it.\n"
            } else if st.pending.is_empty() {
                "Up to date.\n"
            } else {
                "Run `openedx-pok migrate` to apply the pending migrations.\n"
            });
            return output::text(&s);
        }
        return output::outcome(ctx.format(), "", &view);
    }
    let applied = db.migrate().await.map_err(CliError::failed)?;
    let message = if applied.is_empty() {
        format!(
            "database ({}) is up to date; nothing to apply",
            db.backend_name()
        )
    } else {
        format!(
            "applied {} migration(s) to the {} database: {}",
            applied.len(),
            db.backend_name(),
            applied.join(", ")
        )
    };
    output::outcome(
        ctx.format(),
        &message,
        &Applied {
            backend: db.backend_name(),
            applied: &applied,
        },
    )
}
