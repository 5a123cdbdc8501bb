//! Throwaway databases for tests (feature `testing`): this crate's suite and other crates'
//! end-to-end tests get a fresh, migrated database each, and it disappears afterwards.
//!
//! - SQLite: a file in a new temporary directory, removed with it.
//! - PostgreSQL: a uniquely named database created through the admin URL
//!   `POK_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! - MySQL/MariaDB: likewise through `POK_TEST_MYSQL_URL` (default
//!   `mysql://root@127.0.0.1:3306/test`).
//!
//! The database is dropped when the [`TestDatabase`] is (also when the test panics); set
//! `POK_TEST_KEEP_DATABASES=1` to keep it for a look afterwards. A server that cannot be
//! reached is an error, never a skipped test.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pok_persistence::PersistenceError> {
//! use pok_persistence::testing::TestDatabase;
//! let db = TestDatabase::sqlite().await?;
//! db.ping().await?; // `TestDatabase` derefs to `Database`
//! # Ok(()) }
//! ```

use std::ops::Deref;

use diesel::connection::SimpleConnection;

use crate::backend::{self, Backend};
use crate::database::Database;
use crate::error::PersistenceError;

/// The admin URL of the PostgreSQL test server when `POK_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The admin URL of the MySQL/MariaDB test server when `POK_TEST_MYSQL_URL` is not set.
pub const DEFAULT_MYSQL_ADMIN_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// Connections in a test database's pool unless a test asks for another number.
const DEFAULT_POOL_SIZE: u32 = 8;

/// How a test database is removed.
#[derive(Debug)]
enum Cleanup {
    /// The temporary directory holding the SQLite file (and its WAL files).
    Directory(tempfile::TempDir),
    /// A database on a server, dropped through the admin URL.
    Server {
        backend: Backend,
        admin_url: String,
        name: String,
    },
}

/// A fresh, migrated database for one test, removed on drop. Derefs to [`Database`].
#[derive(Debug)]
pub struct TestDatabase {
    database: Database,
    url: String,
    cleanup: Option<Cleanup>,
}

impl TestDatabase {
    /// A SQLite database in a temporary file.
    pub async fn sqlite() -> Result<Self, PersistenceError> {
        Self::new(Backend::Sqlite, DEFAULT_POOL_SIZE).await
    }

    /// A new database on the PostgreSQL test server.
    pub async fn postgres() -> Result<Self, PersistenceError> {
        Self::new(Backend::Postgres, DEFAULT_POOL_SIZE).await
    }

    /// A new database on the MySQL/MariaDB test server.
    pub async fn mysql() -> Result<Self, PersistenceError> {
        Self::new(Backend::Mysql, DEFAULT_POOL_SIZE).await
    }

    /// A database on the backend named by `POK_TEST_BACKEND` (`sqlite`, the default,
    /// `postgres` or `mysql`), so that one end-to-end test can run on any of them.
    pub async fn from_env() -> Result<Self, PersistenceError> {
        let backend = match std::env::var("POK_TEST_BACKEND").as_deref() {
            Err(_) | Ok("" | "sqlite") => Backend::Sqlite,
            Ok("postgres" | "postgresql") => Backend::Postgres,
            Ok("mysql" | "mariadb") => Backend::Mysql,
            Ok(other) => {
                return Err(PersistenceError::InvalidUrl(format!(
                    "POK_TEST_BACKEND={other:?}: expected sqlite, postgres or mysql"
                )));
            }
        };
        Self::new(backend, DEFAULT_POOL_SIZE).await
    }

    /// A database on `backend` with a pool of `pool_size` connections, migrated.
    pub async fn new(backend: Backend, pool_size: u32) -> Result<Self, PersistenceError> {
        let name = format!(
            "pok_test_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..20]
        );
        let (url, cleanup) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("pok-test-")
                    .tempdir()
                    .map_err(|e| {
                        PersistenceError::InvalidUrl(format!("no temporary directory: {e}"))
                    })?;
                let url = format!("sqlite://{}", dir.path().join("pok.sqlite3").display());
                (url, Cleanup::Directory(dir))
            }
            Backend::Postgres | Backend::Mysql => {
                let admin_url = admin_url(backend);
                let url = with_database(&admin_url, &name)?;
                let create = match backend {
                    Backend::Postgres => format!("CREATE DATABASE \"{name}\""),
                    _ => format!(
                        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                    ),
                };
                let admin = admin_url.clone();
                tokio::task::spawn_blocking(move || admin_execute(backend, &admin, &create))
                    .await
                    .map_err(|e| PersistenceError::Task(e.to_string()))??;
                (
                    url,
                    Cleanup::Server {
                        backend,
                        admin_url,
                        name,
                    },
                )
            }
        };
        // From here on, dropping `test` removes the database even if a step fails.
        let database = Database::connect(&url, pool_size).await;
        let mut test = Self {
            database: match database {
                Ok(db) => db,
                Err(e) => {
                    drop_database(Some(cleanup));
                    return Err(e);
                }
            },
            url,
            cleanup: Some(cleanup),
        };
        if let Err(e) = test.database.migrate().await {
            drop_database(test.cleanup.take());
            return Err(e);
        }
        Ok(test)
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Its URL, for a service under test that opens its own pool (`DATABASE_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs raw SQL on the database through a connection of its own, for tests that must put
    /// the data in a state the repositories never write (a corrupt row, a migration from a
    /// newer version).
    pub async fn execute_sql(&self, sql: &str) -> Result<(), PersistenceError> {
        let backend = self.database.backend();
        let url = backend::driver_url(backend, &self.url)?;
        let sql = sql.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut conn =
                backend::establish(backend, &url).map_err(|e| PersistenceError::Connect {
                    backend: backend.name(),
                    reason: e.to_string(),
                })?;
            conn.batch_execute(&sql)
                .map_err(|e| PersistenceError::Query {
                    backend: backend.name(),
                    reason: e.to_string(),
                })
        })
        .await
        .map_err(|e| PersistenceError::Task(e.to_string()))?
    }
}

impl Deref for TestDatabase {
    type Target = Database;

    fn deref(&self) -> &Database {
        &self.database
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::env::var("POK_TEST_KEEP_DATABASES").is_ok_and(|v| v == "1") {
            if let Some(cleanup) = self.cleanup.take() {
                eprintln!("keeping test database {}", self.url);
                if let Cleanup::Directory(dir) = cleanup {
                    let _kept = dir.keep();
                }
            }
            return;
        }
        drop_database(self.cleanup.take());
    }
}

/// The admin URL of the test server for `backend`, from its environment variable.
fn admin_url(backend: Backend) -> String {
    let (var, default) = match backend {
        Backend::Mysql => ("POK_TEST_MYSQL_URL", DEFAULT_MYSQL_ADMIN_URL),
        _ => ("POK_TEST_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL),
    };
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// `url` with its database (the path) replaced by `name`, query string kept.
fn with_database(url: &str, name: &str) -> Result<String, PersistenceError> {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let Some(authority_at) = base.find("://").map(|i| i + 3) else {
        return Err(PersistenceError::InvalidUrl(
            "the test server's admin URL has no scheme".into(),
        ));
    };
    let server = match base[authority_at..].find('/') {
        Some(slash) => &base[..authority_at + slash],
        None => base,
    };
    Ok(match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    })
}

/// Runs one statement on the test server through a connection of its own. The error names the
/// environment variable to set, since an unreachable server fails the test.
fn admin_execute(backend: Backend, admin_url: &str, sql: &str) -> Result<(), PersistenceError> {
    let var = match backend {
        Backend::Mysql => "POK_TEST_MYSQL_URL",
        _ => "POK_TEST_POSTGRES_URL",
    };
    let url = backend::driver_url(backend, admin_url)?;
    let mut conn = backend::establish(backend, &url).map_err(|e| PersistenceError::Connect {
        backend: backend.name(),
        reason: format!(
            "{e} (the {backend} test server is unreachable: start it, or point {var} at one)"
        ),
    })?;
    conn.batch_execute(sql)
        .map_err(|e| PersistenceError::Query {
            backend: backend.name(),
            reason: e.to_string(),
        })
}

/// Removes a test database; failures are printed (a drop cannot fail) and leave a database
/// named `pok_test_…` behind.
fn drop_database(cleanup: Option<Cleanup>) {
    match cleanup {
        None | Some(Cleanup::Directory(_)) => {}
        Some(Cleanup::Server {
            backend,
            admin_url,
            name,
        }) => {
            let sql = match backend {
                // FORCE ends the pool's connections, which may outlive this value in clones.
                Backend::Postgres => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                _ => {
                    format!("SET SESSION lock_wait_timeout = 10; DROP DATABASE IF EXISTS `{name}`")
                }
            };
            if let Err(e) = admin_execute(backend, &admin_url, &sql) {
                eprintln!("could not drop test database {name} ({backend}): {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_part_of_an_admin_url_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("mysql://root:pw@db:3306?ssl_mode=disabled", "x").unwrap(),
            "mysql://root:pw@db:3306/x?ssl_mode=disabled"
        );
        assert!(with_database("127.0.0.1/test", "x").is_err());
    }
}
