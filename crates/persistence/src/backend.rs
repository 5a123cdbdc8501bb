//! Which database a URL names, the connection to it, and the transactions every write uses.
//!
//! [`DbConnection`] is one Diesel `MultiConnection` over the compiled-in backends: queries are
//! written once against it, and the few backend-specific statements (`FOR UPDATE SKIP
//! LOCKED`, SQLite's `BEGIN IMMEDIATE`, migration locks) match on its variants. The backend is
//! chosen from the URL's scheme here, never by the derive's try-each-in-turn `establish`,
//! because SQLite accepts any string as a file name.

use std::fmt;
use std::thread;
use std::time::Duration;

use diesel::connection::{Connection, SimpleConnection, TransactionManager};
use diesel::r2d2::{ManageConnection, R2D2Connection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::error::PersistenceError;

/// The database systems this crate can store into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite, a file next to the service: the default, for one replica.
    Sqlite,
    /// PostgreSQL, for several replicas sharing one database.
    Postgres,
    /// MySQL or MariaDB (what Open edX sites already run), for several replicas.
    Mysql,
}

impl Backend {
    /// The name used in logs, metrics and `migrate --status`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
        }
    }

    /// The cargo feature of this crate that compiles the backend in.
    pub fn feature(self) -> &'static str {
        self.name()
    }

    /// Whether this build can talk to the backend.
    pub fn is_compiled_in(self) -> bool {
        match self {
            Self::Sqlite => cfg!(feature = "sqlite"),
            Self::Postgres => cfg!(feature = "postgres"),
            Self::Mysql => cfg!(feature = "mysql"),
        }
    }

    /// Reads the backend from a URL's scheme: `postgres://` or `postgresql://`, `mysql://` or
    /// `mariadb://`, and for SQLite `sqlite://PATH`, a `file:` URI or a plain path. Any other
    /// `scheme://` is refused rather than taken for a file name.
    pub fn from_url(url: &str) -> Result<Self, PersistenceError> {
        let url = url.trim();
        let scheme = url
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        let backend = match scheme.as_deref() {
            Some("postgres" | "postgresql") => Self::Postgres,
            Some("mysql" | "mariadb") => Self::Mysql,
            Some("sqlite" | "file") | None => Self::Sqlite,
            Some(other) => {
                return Err(PersistenceError::UnsupportedUrl {
                    scheme: other.to_owned(),
                });
            }
        };
        if backend.is_compiled_in() {
            Ok(backend)
        } else {
            Err(PersistenceError::BackendNotCompiled {
                backend: backend.name(),
                feature: backend.feature(),
            })
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The address as the backend's driver wants it: the scheme in lower case, `mariadb://` as
/// `mysql://`, and for SQLite a file name (or `file:` URI) without `sqlite://`. Refuses an
/// in-memory SQLite database, which every pooled connection would see as a different, empty
/// database.
pub(crate) fn driver_url(backend: Backend, url: &str) -> Result<String, PersistenceError> {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, url),
    };
    match (backend, scheme.as_deref()) {
        (Backend::Sqlite, Some("sqlite") | None) => sqlite_path(rest),
        (Backend::Sqlite, Some(scheme)) => sqlite_path(&format!("{scheme}://{rest}")),
        (Backend::Mysql, _) => Ok(format!("mysql://{rest}")),
        (Backend::Postgres, scheme) => Ok(format!("{}://{rest}", scheme.unwrap_or("postgres"))),
    }
}

/// A SQLite file name, refusing the in-memory forms.
fn sqlite_path(path: &str) -> Result<String, PersistenceError> {
    if path.is_empty() {
        return Err(PersistenceError::InvalidUrl(
            "the SQLite URL names no file (expected sqlite://PATH or a plain path)".into(),
        ));
    }
    if path == ":memory:" || path.contains("mode=memory") {
        return Err(PersistenceError::InvalidUrl(
            "an in-memory SQLite database cannot be shared by a connection pool; use a file \
             (testing::TestDatabase::sqlite() makes a temporary one)"
                .into(),
        ));
    }
    Ok(path.to_owned())
}

/// A connection to whichever backend the URL named.
#[derive(diesel::MultiConnection)]
pub(crate) enum DbConnection {
    /// SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(diesel::SqliteConnection),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(diesel::PgConnection),
    /// MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    Mysql(diesel::MysqlConnection),
}

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!(
    "pok-persistence needs at least one backend: enable its `sqlite`, `postgres` or `mysql` feature"
);

impl DbConnection {
    /// Which backend this connection talks to.
    pub(crate) fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => Backend::Sqlite,
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
            Self::Mysql(_) => Backend::Mysql,
        }
    }
}

/// How long SQLite waits for another writer before giving up with "database is locked".
#[cfg(feature = "sqlite")]
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

/// The write-ahead log's size, in pages, at which a SQLite commit checkpoints by itself.
///
/// SQLite's default (1,000 pages, about 4 MB) makes whichever commit crosses it copy the log
/// back into the database file: one creation in a hundred or two took 15–25 ms instead of 1 ms
/// (docs/performance.md, section 1). [`crate::Database`] checkpoints in the background about
/// once a second instead; this much larger threshold only bounds the log should that task
/// fall behind (or in a process without it).
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE_WAL_AUTOCHECKPOINT: u32 = 20_000;

/// Copies what it can of SQLite's write-ahead log into the database file without waiting for
/// readers or writers (`PASSIVE`), for the background task of [`crate::Database`].
#[cfg(feature = "sqlite")]
pub(crate) fn checkpoint(conn: &mut DbConnection) -> Result<(), PersistenceError> {
    conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")
        .map_err(|e| PersistenceError::Query {
            backend: "sqlite",
            reason: e.to_string(),
        })
}

/// Opens one connection of the chosen backend and sets it up.
///
/// SQLite: a busy timeout (first, so that the following statements wait for other writers),
/// WAL (readers do not block the writer), foreign keys on, `synchronous = NORMAL` (safe with
/// WAL), checkpoints left to the background ([`SQLITE_WAL_AUTOCHECKPOINT`]). MySQL: READ COMMITTED, so that the job queue's locking reads take no gap locks that
/// would block concurrent inserts (Diesel already sets UTC and utf8mb4).
pub(crate) fn establish(backend: Backend, url: &str) -> Result<DbConnection, ConnectError> {
    let fail = |e: diesel::ConnectionError| ConnectError(e.to_string());
    let setup = |e: DieselError| ConnectError(format!("setting up the connection failed: {e}"));
    match backend {
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => {
            let mut conn = diesel::SqliteConnection::establish(url).map_err(fail)?;
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};
                 PRAGMA journal_mode = WAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA wal_autocheckpoint = {SQLITE_WAL_AUTOCHECKPOINT};"
            ))
            .map_err(setup)?;
            Ok(DbConnection::Sqlite(conn))
        }
        #[cfg(feature = "postgres")]
        Backend::Postgres => {
            let mut conn = diesel::PgConnection::establish(url).map_err(fail)?;
            conn.batch_execute("SET TIME ZONE 'UTC'").map_err(setup)?;
            Ok(DbConnection::Postgres(conn))
        }
        #[cfg(feature = "mysql")]
        Backend::Mysql => {
            let mut conn = diesel::MysqlConnection::establish(url).map_err(fail)?;
            conn.batch_execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                .map_err(setup)?;
            Ok(DbConnection::Mysql(conn))
        }
        #[allow(unreachable_patterns)]
        other => Err(ConnectError(format!(
            "the {other} backend is not compiled in (cargo feature `{}`)",
            other.feature()
        ))),
    }
}

/// The r2d2 manager: opens connections of the backend chosen from the URL.
#[derive(Debug, Clone)]
pub(crate) struct Manager {
    backend: Backend,
    url: String,
}

impl Manager {
    /// A manager for `url` (already in the driver's form).
    pub(crate) fn new(backend: Backend, url: String) -> Self {
        Self { backend, url }
    }
}

/// Why the pool could not open a connection, in words (the URL, which may hold a password, is
/// never part of it).
#[derive(Debug)]
pub(crate) struct ConnectError(pub(crate) String);

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectError {}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConnection, ConnectError> {
        establish(self.backend, &self.url)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectError> {
        conn.ping().map_err(|e| ConnectError(e.to_string()))
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// Errors inside the storage code: Diesel's, or a domain error decided while a transaction was
/// open (a version conflict, a row that does not convert), which rolls the transaction back.
#[derive(Debug)]
pub(crate) enum StoreError {
    /// From the database.
    Db(DieselError),
    /// Decided by this crate.
    Domain(pok_domain::Error),
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        Self::Db(e)
    }
}

impl From<pok_domain::Error> for StoreError {
    fn from(e: pok_domain::Error) -> Self {
        Self::Domain(e)
    }
}

impl StoreError {
    /// Whether running the same transaction again may succeed: a deadlock or serialization
    /// failure (reported at once), or SQLite busy (after its busy timeout, or at once for a
    /// stale WAL snapshot). A MySQL lock wait timeout is not retried: it already waited long.
    fn is_transient(&self) -> bool {
        match self {
            Self::Db(DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _)) => {
                true
            }
            Self::Db(DieselError::DatabaseError(_, info)) => {
                let m = info.message().to_ascii_lowercase();
                m.contains("deadlock") || m.contains("database is locked")
            }
            _ => false,
        }
    }

    /// Whether a uniqueness rule refused the write.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            Self::Db(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// Whether a foreign key refused the write (a job or event for a certificate that does not
    /// exist).
    pub(crate) fn is_foreign_key_violation(&self) -> bool {
        matches!(
            self,
            Self::Db(DieselError::DatabaseError(
                DatabaseErrorKind::ForeignKeyViolation,
                _
            ))
        )
    }

    /// The domain's view, for the ports: a uniqueness violation is a conflict, the rest a
    /// storage failure. `what` names the operation for the log line.
    pub(crate) fn into_domain(self, what: &str) -> pok_domain::Error {
        match self {
            Self::Domain(e) => e,
            e if e.is_unique_violation() => {
                pok_domain::Error::Conflict(format!("{what}: a uniqueness rule refused the change"))
            }
            Self::Db(e) => {
                tracing::warn!(operation = what, error = %e, "database call failed");
                pok_domain::Error::Storage(format!("{what}: {e}"))
            }
        }
    }
}

/// How many times a transaction is tried when the database asks to try again.
const TRANSIENT_ATTEMPTS: u32 = 5;

/// Runs a read-write transaction, again (up to a few times, after a short pause) when the
/// database reports a deadlock, a serialization failure or SQLite busy.
///
/// On SQLite the transaction starts with `BEGIN IMMEDIATE`: it takes the write lock at once
/// (waiting for the busy timeout), so a transaction that reads and then writes can never fail
/// half-way because another writer went first. PostgreSQL and MySQL start an ordinary
/// transaction; the statements inside take the row locks they need.
pub(crate) fn write_transaction<T, F>(conn: &mut DbConnection, mut body: F) -> Result<T, StoreError>
where
    F: FnMut(&mut DbConnection) -> Result<T, StoreError>,
{
    let mut attempt = 1;
    loop {
        match write_transaction_once(conn, &mut body) {
            Err(e) if e.is_transient() && attempt < TRANSIENT_ATTEMPTS => {
                tracing::debug!(attempt, error = ?e, "transaction will be tried again");
                thread::sleep(Duration::from_millis(10 * u64::from(attempt)));
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn write_transaction_once<T, F>(conn: &mut DbConnection, body: &mut F) -> Result<T, StoreError>
where
    F: FnMut(&mut DbConnection) -> Result<T, StoreError>,
{
    match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(inner) => {
            diesel::connection::AnsiTransactionManager::begin_transaction_sql(
                inner,
                "BEGIN IMMEDIATE",
            )?;
        }
        #[allow(unreachable_patterns)]
        _ => DbConnection::begin_transaction(conn)?,
    }
    // Commit or roll back through the multi-connection's manager, which hands over to the
    // inner connection's (the one that saw the BEGIN); a failed COMMIT is rolled back there.
    match body(conn) {
        Ok(value) => {
            DbConnection::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => match DbConnection::rollback_transaction(conn) {
            Ok(()) | Err(DieselError::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_urls_are_normalised() {
        let url = |b, u| driver_url(b, u).unwrap();
        assert_eq!(url(Backend::Sqlite, "sqlite:///var/pok.db"), "/var/pok.db");
        assert_eq!(url(Backend::Sqlite, "SQLite://pok.db"), "pok.db");
        assert_eq!(url(Backend::Sqlite, "pok.db"), "pok.db");
        assert_eq!(
            url(Backend::Sqlite, "file:///var/pok.db?mode=rwc"),
            "file:///var/pok.db?mode=rwc"
        );
        assert_eq!(
            url(Backend::Mysql, "MariaDB://u:p@h/db"),
            "mysql://u:p@h/db"
        );
        assert_eq!(
            url(Backend::Postgres, "PostgreSQL://u@h/db"),
            "postgresql://u@h/db"
        );
        for memory in [
            "sqlite://:memory:",
            ":memory:",
            "file:x?mode=memory",
            "sqlite://",
        ] {
            assert!(driver_url(Backend::Sqlite, memory).is_err(), "{memory}");
        }
    }
}
