//! [`Database`]: the connection pool, migrations and health checks, and the bridge that runs
//! every Diesel call on Tokio's blocking pool.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use diesel::RunQueryDsl;
use diesel::r2d2::{HandleError, ManageConnection, Pool};
use diesel::sql_types::Integer;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::backend::{self, Backend, ConnectError, DbConnection, Manager, StoreError};
use crate::error::PersistenceError;
use crate::migrations::{self, Action, MigrationStatus};

/// Where the service keeps its data when no URL is configured: a SQLite file in the working
/// directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://openedx-pok.sqlite3";

/// How long a call waits for a free pooled connection before failing.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the background task copies SQLite's write-ahead log back into the database file
/// (see [`backend::SQLITE_WAL_AUTOCHECKPOINT`] for why commits no longer do it themselves).
const SQLITE_CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The storage: a pool of connections to one database, implementing the domain's
/// `CertificateRepository`, `BindingRepository` and `JobQueue`.
///
/// Cheap to clone (the pool is shared), so one value can be handed to the service, the worker
/// and the HTTP adapter. Every call borrows a pooled connection on Tokio's blocking thread
/// pool, so the async runtime never waits on the database.
#[derive(Clone)]
pub struct Database {
    shared: Arc<Shared>,
    backend: Backend,
}

/// What all clones of a [`Database`] share; the SQLite checkpoint task holds it weakly.
struct Shared {
    pool: Pool<Manager>,
    /// One permit per pooled connection, taken *before* a call goes to the blocking pool: a
    /// call that waits for a connection waits as a future, not on a blocking thread. Without
    /// it, 200 concurrent requests grew Tokio's blocking pool to 200–380 threads, each
    /// waiting in r2d2, and the service's memory with them (docs/performance.md, section 4).
    permits: Arc<Semaphore>,
    /// SQLite only: one write at a time within this process. SQLite has one writer; a second
    /// connection that tries to write meanwhile is put to sleep by SQLite's busy handler for
    /// 1, 2, 5, 10, … ms and retries, which turned a few concurrent creations into 50–100 ms
    /// answers. Queuing writers here, as futures, hands the lock over as soon as it is free.
    /// (Other processes on the same file, such as the admin CLI, still meet the busy handler.)
    writer: Option<Arc<Semaphore>>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.pool.state();
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
        let permits = usize::try_from(pool_size.max(1)).unwrap_or(1);
        let database = Self {
            shared: Arc::new(Shared {
                pool,
                permits: Arc::new(Semaphore::new(permits)),
                writer: (backend == Backend::Sqlite).then(|| Arc::new(Semaphore::new(1))),
            }),
            backend,
        };
        #[cfg(feature = "sqlite")]
        if backend == Backend::Sqlite {
            database.spawn_checkpoints();
        }
        Ok(database)
    }

    #[cfg(feature = "sqlite")]
    /// SQLite only: checkpoints the write-ahead log about once a second in the background, so
    /// that no request's commit pays for it. The task holds the database weakly and ends soon
    /// after the last clone of this `Database` is dropped.
    fn spawn_checkpoints(&self) {
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        let backend = self.backend;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SQLITE_CHECKPOINT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(shared) = weak.upgrade() else { break };
                let db = Database { shared, backend };
                if let Err(e) = db.admin(backend::checkpoint).await {
                    tracing::warn!(error = %e, "SQLite checkpoint failed; will try again");
                }
            }
        });
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

    /// Waits, as a future, until a pooled connection is free for this call. The permit is
    /// returned by dropping it, after the call gave its connection back.
    async fn wait_for_connection(&self) -> Option<OwnedSemaphorePermit> {
        // The semaphore is never closed, so `None` cannot happen; were it closed, the call
        // would still run and wait in the pool as before.
        Arc::clone(&self.shared.permits).acquire_owned().await.ok()
    }

    /// Runs an administration call (migrations, checks) on a pooled connection on the
    /// blocking pool.
    async fn admin<T, F>(&self, f: F) -> Result<T, PersistenceError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, PersistenceError> + Send + 'static,
        T: Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        let backend = self.backend.name();
        let permit = self.wait_for_connection().await;
        tokio::task::spawn_blocking(move || {
            // Declared before the connection, so dropped after it is back in the pool.
            let _permit = permit;
            let mut conn = shared.pool.get().map_err(|e| PersistenceError::Connect {
                backend,
                reason: e.to_string(),
            })?;
            f(&mut conn)
        })
        .await
        .map_err(|e| PersistenceError::Task(e.to_string()))?
    }

    /// Runs a repository call that writes: as [`Self::run`], after waiting for this process's
    /// turn to write on SQLite (see `Shared::writer`).
    pub(crate) async fn write<T, F>(&self, what: &'static str, f: F) -> pok_domain::Result<T>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let turn = match &self.shared.writer {
            Some(writer) => Arc::clone(writer).acquire_owned().await.ok(),
            None => None,
        };
        self.call(what, turn, f).await
    }

    /// Runs a repository call that only reads on a pooled connection on the blocking pool,
    /// and turns its errors into the domain's. `what` names the call in errors and logs.
    pub(crate) async fn run<T, F>(&self, what: &'static str, f: F) -> pok_domain::Result<T>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.call(what, None, f).await
    }

    async fn call<T, F>(
        &self,
        what: &'static str,
        turn: Option<OwnedSemaphorePermit>,
        f: F,
    ) -> pok_domain::Result<T>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        let permit = self.wait_for_connection().await;
        tokio::task::spawn_blocking(move || {
            // Declared before the connection, so dropped after it is back in the pool.
            let _permits = (turn, permit);
            let mut conn = shared.pool.get().map_err(|e| {
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
