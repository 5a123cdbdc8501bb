//! [`Database`]: the connection pool, migrations and health checks, and the bridge that runs
//! every Diesel call on Tokio's blocking pool.

use std::fmt;
use std::time::Duration;

use diesel::RunQueryDsl;
use diesel::r2d2::{HandleError, ManageConnection, Pool};
use diesel::sql_types::Integer;

use crate::backend::{self, Backend, ConnectError, DbConnection, Manager, StoreError};
use crate::error::PersistenceError;
use crate::migrations::{self, Action, MigrationStatus};

/// Where the service keeps its data when no URL is configured: a SQLite file in the working
/// directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://openedx-pok.sqlite3";

/// How long a call waits for a free pooled connection before failing.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);

/// The storage: a pool of connections to one database, implementing the domain's
/// `CertificateRepository`, `BindingRepository` and `JobQueue`.
///
/// Cheap to clone (the pool is shared), so one value can be handed to the service, the worker
/// and the HTTP adapter. Every call borrows a pooled connection on Tokio's blocking thread
/// pool, so the async runtime never waits on the database.
#[derive(Clone)]
pub struct Database {
    pool: Pool<Manager>,
    backend: Backend,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.pool.state();
        f.debug_struct("Database")
            .field("backend", &self.backend.name())
            .field("connections", &state.connections)
            .field("idle", &state.idle_connections)
            .finish()
    }
}

/// Logs the pool's background connection failures through `tracing` (the URL is never part of
/// the message).
#[derive(Debug)]
struct LogErrors(Backend);

impl HandleError<ConnectError> for LogErrors {
    fn handle_error(&self, error: ConnectError) {
        tracing::warn!(backend = self.0.name(), %error, "opening a database connection failed");
    }
}

impl Database {
    /// Opens a pool of at most `pool_size` connections to the database at `url` (an empty URL
    /// means [`DEFAULT_DATABASE_URL`]). The backend follows the URL's scheme: `sqlite://PATH`
    /// or a plain path, `postgres://` or `postgresql://`, `mysql://` (also MariaDB).
    ///
    /// One connection is opened at once, so that a wrong address, password or database name
    /// fails here with the driver's own words; the others open when needed. Does not migrate:
    /// call [`Database::migrate`].
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self, PersistenceError> {
        let url = if url.trim().is_empty() {
            DEFAULT_DATABASE_URL
        } else {
            url
        };
        let backend = Backend::from_url(url)?;
        let manager = Manager::new(backend, backend::driver_url(backend, url)?);
        let pool = tokio::task::spawn_blocking(move || {
            drop(manager.connect().map_err(|e| PersistenceError::Connect {
                backend: backend.name(),
                reason: e.0,
            })?);
            Ok::<_, PersistenceError>(
                Pool::builder()
                    .max_size(pool_size.max(1))
                    .min_idle(Some(1))
                    .connection_timeout(CHECKOUT_TIMEOUT)
                    .error_handler(Box::new(LogErrors(backend)))
                    .build_unchecked(manager),
            )
        })
        .await
        .map_err(|e| PersistenceError::Task(e.to_string()))??;
        tracing::info!(
            backend = backend.name(),
            pool_size,
            "database connection pool ready"
        );
        Ok(Self { pool, backend })
    }

    /// The backend this database runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The backend's name (`sqlite`, `postgres`, `mysql`), for logs and `migrate --status`.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Applies the migrations the database lacks, and returns their names (empty when it was
    /// up to date). Refuses a database that a newer version migrated.
    pub async fn migrate(&self) -> Result<Vec<String>, PersistenceError> {
        let (_, applied) = self.migrations(Action::Run).await?;
        for name in &applied {
            tracing::info!(backend = self.backend.name(), migration = %name, "migration applied");
        }
        Ok(applied)
    }

    /// Which migrations are applied, pending, or unknown to this build (`migrate --status`).
    pub async fn migration_status(&self) -> Result<MigrationStatus, PersistenceError> {
        Ok(self.migrations(Action::Status).await?.0)
    }

    /// Reverts every migration, newest first, dropping every table and its data; returns the
    /// reverted names. For tests of the migrations and for tearing a database down, never
    /// called by the service.
    pub async fn revert_all_migrations(&self) -> Result<Vec<String>, PersistenceError> {
        Ok(self.migrations(Action::RevertAll).await?.1)
    }

    async fn migrations(
        &self,
        action: Action,
    ) -> Result<(MigrationStatus, Vec<String>), PersistenceError> {
        self.admin(move |conn| migrations::perform(conn, action))
            .await
    }

    /// Liveness: the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), PersistenceError> {
        let backend = self.backend.name();
        self.admin(move |conn| {
            diesel::select(diesel::dsl::sql::<Integer>("1"))
                .get_result::<i32>(conn)
                .map(drop)
                .map_err(|e| PersistenceError::Query {
                    backend,
                    reason: e.to_string(),
                })
        })
        .await
    }

    /// Readiness: the database answers and its schema is exactly the one this build expects
    /// (no pending migration, none from a newer version).
    pub async fn ready(&self) -> Result<(), PersistenceError> {
        let status = self.migration_status().await?;
        status.refuse_newer()?;
        if status.pending.is_empty() {
            Ok(())
        } else {
            Err(PersistenceError::NotMigrated {
                backend: status.backend,
                pending: status.pending,
            })
        }
    }

    /// Runs an administration call (migrations, checks) on a pooled connection on the
    /// blocking pool.
    async fn admin<T, F>(&self, f: F) -> Result<T, PersistenceError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, PersistenceError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let backend = self.backend.name();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(|e| PersistenceError::Connect {
                backend,
                reason: e.to_string(),
            })?;
            f(&mut conn)
        })
        .await
        .map_err(|e| PersistenceError::Task(e.to_string()))?
    }

    /// Runs a repository call on a pooled connection on the blocking pool, and turns its
    /// errors into the domain's. `what` names the call in errors and logs.
    pub(crate) async fn run<T, F>(&self, what: &'static str, f: F) -> pok_domain::Result<T>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(|e| {
                tracing::warn!(operation = what, error = %e, "no database connection");
                pok_domain::Error::Storage(format!("{what}: no database connection: {e}"))
            })?;
            f(&mut conn).map_err(|e| e.into_domain(what))
        })
        .await
        .map_err(|e| {
            tracing::error!(operation = what, error = %e, "database task failed");
            pok_domain::Error::Storage(format!("{what}: the database task failed: {e}"))
        })?
    }
}
