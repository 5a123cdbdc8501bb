//! Errors of connecting and migrating. Repository calls return the domain's own
//! [`pok_domain::Error`] instead (a uniqueness or version clash is `Conflict`, anything else
//! `Storage`), so that the use cases never see Diesel.

/// What can go wrong while opening, migrating or checking the database.
///
/// Messages never contain the database URL (it may hold a password) nor personal data.
#[derive(Debug, thiserror::Error)]
pub enum PersistenceError {
    /// The URL's scheme names no database this crate knows.
    #[error(
        "unsupported database URL scheme {scheme:?}: expected sqlite://PATH (or a plain path), \
         postgres://… or postgresql://…, mysql://…"
    )]
    UnsupportedUrl {
        /// The scheme found.
        scheme: String,
    },
    /// The URL is malformed for its backend.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The URL names a backend this binary was built without.
    #[error(
        "the database URL is for {backend}, but this build has no {backend} support: \
         rebuild with the cargo feature `{feature}` (of pok-persistence, or the binary's \
         feature of the same name)"
    )]
    BackendNotCompiled {
        /// The backend the URL names.
        backend: &'static str,
        /// The feature that compiles it in.
        feature: &'static str,
    },
    /// The database could not be reached or refused the connection.
    #[error("cannot connect to the {backend} database: {reason}")]
    Connect {
        /// Which backend.
        backend: &'static str,
        /// The driver's words.
        reason: String,
    },
    /// The database holds migrations this build does not know: a newer version of the service
    /// migrated it. Running an older binary against it could corrupt data, so it is refused.
    #[error(
        "the {backend} database was migrated by a newer version of openedx-pok (unknown \
         migrations: {}); run that version or newer, or restore a backup taken before the upgrade",
        unknown.join(", ")
    )]
    NewerSchema {
        /// Which backend.
        backend: &'static str,
        /// Migrations applied to the database but unknown to this build.
        unknown: Vec<String>,
    },
    /// The schema is behind this build (readiness check): `migrate` has not run.
    #[error(
        "the {backend} database is not migrated: {} pending migration(s) ({}); run `openedx-pok migrate`",
        pending.len(),
        pending.join(", ")
    )]
    NotMigrated {
        /// Which backend.
        backend: &'static str,
        /// The migrations not applied yet.
        pending: Vec<String>,
    },
    /// Running or reverting a migration failed.
    #[error("migrating the {backend} database failed: {reason}")]
    Migration {
        /// Which backend.
        backend: &'static str,
        /// What failed.
        reason: String,
    },
    /// A query of the administration calls (status, readiness) failed.
    #[error("the {backend} database failed: {reason}")]
    Query {
        /// Which backend.
        backend: &'static str,
        /// The driver's words.
        reason: String,
    },
    /// The blocking task running the database call panicked or was cancelled.
    #[error("the database task did not finish: {0}")]
    Task(String),
}
