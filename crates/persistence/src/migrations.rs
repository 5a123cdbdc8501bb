//! The embedded migrations, one folder per backend, and running them safely.
//!
//! Each backend has its own SQL (`migrations/sqlite`, `migrations/postgres`,
//! `migrations/mysql`), embedded in the binary so that a deployment needs no files. Before
//! migrating, the database's applied migrations are compared with the ones this build knows: a
//! database migrated by a newer version is refused (an older binary could corrupt it). On
//! PostgreSQL and MySQL a lock serializes replicas that start at the same time.

use diesel::backend::Backend as DieselBackend;
use diesel::migration::{Migration, MigrationSource, MigrationVersion};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use crate::backend::{Backend, DbConnection};
use crate::error::PersistenceError;

#[cfg(feature = "sqlite")]
const SQLITE: EmbeddedMigrations = diesel_migrations::embed_migrations!("migrations/sqlite");
#[cfg(feature = "postgres")]
const POSTGRES: EmbeddedMigrations = diesel_migrations::embed_migrations!("migrations/postgres");
#[cfg(feature = "mysql")]
const MYSQL: EmbeddedMigrations = diesel_migrations::embed_migrations!("migrations/mysql");

/// Where the database stands against the migrations this build carries (for `migrate
/// --status` and the readiness check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// The backend, as [`Backend::name`] spells it.
    pub backend: &'static str,
    /// Migrations applied to the database and known to this build, oldest first.
    pub applied: Vec<String>,
    /// Migrations this build knows that the database lacks, in the order they would run.
    pub pending: Vec<String>,
    /// Versions applied to the database that this build does not know: the database was
    /// migrated by a newer version, and this build refuses to use it.
    pub unknown: Vec<String>,
}

impl MigrationStatus {
    /// Whether the schema is exactly what this build expects.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty()
    }

    /// The error for a database this build must not touch, if it is one.
    pub(crate) fn refuse_newer(&self) -> Result<(), PersistenceError> {
        if self.unknown.is_empty() {
            Ok(())
        } else {
            Err(PersistenceError::NewerSchema {
                backend: self.backend,
                unknown: self.unknown.clone(),
            })
        }
    }
}

/// What to do with the migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Report only.
    Status,
    /// Apply the pending ones (after refusing a newer database).
    Run,
    /// Revert every applied one (tests, tear-down).
    RevertAll,
}

/// Runs `action` with the backend's embedded migrations; returns the status before the action
/// and the names of the migrations it applied or reverted.
pub(crate) fn perform(
    conn: &mut DbConnection,
    action: Action,
) -> Result<(MigrationStatus, Vec<String>), PersistenceError> {
    let backend = conn.backend();
    let fail = |e: Box<dyn std::error::Error + Send + Sync>| PersistenceError::Migration {
        backend: backend.name(),
        reason: e.to_string(),
    };
    let (status, done) = match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(c) => perform_with(c, SQLITE, backend, action).map_err(fail),
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(c) => {
            use diesel::connection::SimpleConnection;
            // A session lock: replicas starting together migrate one after the other.
            let lock = "SELECT pg_advisory_lock(7231963501)";
            let unlock = "SELECT pg_advisory_unlock(7231963501)";
            if action != Action::Status {
                c.batch_execute(lock).map_err(|e| fail(e.into()))?;
            }
            let result = perform_with(c, POSTGRES, backend, action).map_err(fail);
            if action != Action::Status {
                let _ = c.batch_execute(unlock);
            }
            result
        }
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => {
            use diesel::RunQueryDsl;
            use diesel::sql_types::{BigInt, Nullable};
            if action != Action::Status {
                let got: Option<i64> = diesel::select(diesel::dsl::sql::<Nullable<BigInt>>(
                    "GET_LOCK('openedx_pok_migrations', 300)",
                ))
                .get_result(c)
                .map_err(|e| fail(e.into()))?;
                if got != Some(1) {
                    return Err(PersistenceError::Migration {
                        backend: backend.name(),
                        reason: "another process held the migration lock for 5 minutes".into(),
                    });
                }
            }
            let result = perform_with(c, MYSQL, backend, action).map_err(fail);
            if action != Action::Status {
                let _ = diesel::select(diesel::dsl::sql::<Nullable<BigInt>>(
                    "RELEASE_LOCK('openedx_pok_migrations')",
                ))
                .get_result::<Option<i64>>(c);
            }
            result
        }
    }?;
    if action != Action::Status {
        status.refuse_newer()?;
    }
    Ok((status, done))
}

/// Boxed errors of diesel_migrations.
type MigrationResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn perform_with<DB, C>(
    conn: &mut C,
    source: EmbeddedMigrations,
    backend: Backend,
    action: Action,
) -> MigrationResult<(MigrationStatus, Vec<String>)>
where
    DB: DieselBackend,
    C: MigrationHarness<DB>,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let known: Vec<Box<dyn Migration<DB>>> = source.migrations()?;
    let name_of = |version: &MigrationVersion<'_>| {
        known
            .iter()
            .find(|m| m.name().version() == *version)
            .map_or_else(|| version.to_string(), |m| m.name().to_string())
    };
    let mut applied_versions = conn.applied_migrations()?;
    applied_versions.sort();
    let applied: Vec<String> = applied_versions
        .iter()
        .filter(|v| known.iter().any(|m| m.name().version() == **v))
        .map(&name_of)
        .collect();
    let unknown: Vec<String> = applied_versions
        .iter()
        .filter(|v| !known.iter().any(|m| m.name().version() == **v))
        .map(ToString::to_string)
        .collect();
    let pending: Vec<String> = known
        .iter()
        .filter(|m| !applied_versions.contains(&m.name().version()))
        .map(|m| m.name().to_string())
        .collect();
    let status = MigrationStatus {
        backend: backend.name(),
        applied,
        pending,
        unknown,
    };
    // A database migrated by a newer build is left alone; `perform` reports it.
    if action == Action::Status || !status.unknown.is_empty() {
        return Ok((status, Vec::new()));
    }
    let done = match action {
        Action::Status => Vec::new(),
        Action::Run => {
            let ran = conn.run_pending_migrations(source)?;
            ran.iter().map(&name_of).collect()
        }
        Action::RevertAll => {
            let reverted = conn.revert_all_migrations(source)?;
            reverted.iter().map(&name_of).collect()
        }
    };
    Ok((status, done))
}
