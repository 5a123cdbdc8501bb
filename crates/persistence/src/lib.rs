//! Diesel storage for the domain's repositories and job queue, on SQLite (the embedded
//! default), PostgreSQL and MySQL/MariaDB (for several replicas sharing one database).
//!
//! # Layout
//! - [`database`]: [`Database`], the value the binary builds once from `DATABASE_URL`: an r2d2
//!   pool, migrations ([`Database::migrate`], [`Database::migration_status`]), health checks
//!   ([`Database::ping`], [`Database::ready`]), and the bridge that runs every Diesel call on
//!   Tokio's blocking pool.
//! - `backend`: the URL → [`Backend`] choice, the `MultiConnection` enum over the compiled-in
//!   backends, per-connection set-up (SQLite: WAL, busy timeout, foreign keys), and the
//!   retrying write transaction (SQLite: `BEGIN IMMEDIATE`).
//! - [`migrations`]: the embedded migrations, one folder per backend, and the refusal of a
//!   database migrated by a newer version.
//! - `schema` and `rows`: the tables as Diesel sees them, and the only conversions between rows
//!   and domain types (an unknown stored value is an error naming the row, never a panic).
//! - `certificates`, `bindings`, `jobs`: the three ports, implemented on [`Database`].
//! - `testing` (feature `testing`): `TestDatabase`, a throwaway migrated database per test on
//!   any backend, for this crate's suite and other crates' end-to-end tests.
//! - [`error`]: [`PersistenceError`] for connecting and migrating; the ports return the
//!   domain's own `Error` (`Conflict` for a uniqueness or version clash, `Storage` otherwise).
//!
//! Data moves one way: a port call turns its domain arguments into rows, hands a closure to
//! `Database::run`, which borrows a pooled connection on a blocking thread and runs the
//! statements (writes inside one transaction), then turns the rows it read back into domain
//! values.
//!
//! # Guarantees
//! - At most one live certificate per (user, course), enforced by a unique index on
//!   `(user_id, course_key, live)` where `live` is TRUE or NULL (superseded): concurrent
//!   duplicate creations resolve to one row, and every caller gets that row.
//! - A certificate change, its history lines and its queue changes commit together or not at
//!   all (transactional outbox); a save whose version moved changes nothing (`Conflict`).
//! - A due job is claimed by exactly one worker, across processes, for the length of its lease.
//!
//! Nothing here logs personal data: logs name certificates by id and operations by name.

mod backend;
mod bindings;
mod certificates;
pub mod database;
pub mod error;
mod jobs;
pub mod migrations;
mod rows;
mod schema;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::Backend;
pub use database::{DEFAULT_DATABASE_URL, Database};
pub use error::PersistenceError;
pub use migrations::MigrationStatus;

#[doc(hidden)]
pub use pok_domain as domain;
