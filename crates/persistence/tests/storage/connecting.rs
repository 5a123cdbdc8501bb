//! Choosing the backend from the URL, and connection failures (once, not per backend).

use pok_persistence::{Backend, DEFAULT_DATABASE_URL, Database, PersistenceError};

#[test]
fn the_backend_follows_the_url_scheme() {
    assert!(matches!(
        Backend::from_url("redis://localhost"),
        Err(PersistenceError::UnsupportedUrl { scheme }) if scheme == "redis"
    ));
    let expect = |url: &str, backend: Backend| match Backend::from_url(url) {
        Ok(b) => assert_eq!(b, backend, "{url}"),
        Err(PersistenceError::BackendNotCompiled {
            backend: name,
            feature,
        }) => {
            assert!(!backend.is_compiled_in(), "{url}");
            assert_eq!((name, feature), (backend.name(), backend.name()));
        }
        Err(e) => panic!("{url}: {e}"),
    };
    expect(DEFAULT_DATABASE_URL, Backend::Sqlite);
    expect("sqlite:///var/lib/pok/db.sqlite3", Backend::Sqlite);
    expect("data/pok.sqlite3", Backend::Sqlite);
    expect("file:///var/lib/pok/db.sqlite3?mode=rwc", Backend::Sqlite);
    expect("postgres://u@h/db", Backend::Postgres);
    expect("postgresql://u@h/db", Backend::Postgres);
    expect("mysql://u@h/db", Backend::Mysql);
    expect("MySQL://u@h/db", Backend::Mysql);
    expect("mariadb://u@h/db", Backend::Mysql);
}

#[cfg(not(all(feature = "sqlite", feature = "postgres", feature = "mysql")))]
#[test]
fn a_backend_that_is_not_compiled_in_names_its_feature() {
    let missing = [Backend::Sqlite, Backend::Postgres, Backend::Mysql]
        .into_iter()
        .find(|b| !b.is_compiled_in())
        .unwrap();
    let url = match missing {
        Backend::Sqlite => "sqlite://x.db",
        Backend::Postgres => "postgres://u@h/db",
        Backend::Mysql => "mysql://u@h/db",
    };
    let text = Backend::from_url(url).unwrap_err().to_string();
    assert!(text.contains(&format!("`{}`", missing.feature())), "{text}");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_refuses_an_in_memory_database_and_a_missing_directory() {
    let err = Database::connect("sqlite://:memory:", 2).await.unwrap_err();
    assert!(matches!(err, PersistenceError::InvalidUrl(_)), "{err:?}");
    let err = Database::connect("sqlite:///nonexistent-dir/for/sure/pok.sqlite3", 2)
        .await
        .unwrap_err();
    assert!(matches!(err, PersistenceError::Connect { .. }), "{err:?}");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_runs_with_wal_and_foreign_keys() {
    use pok_persistence::testing::TestDatabase;
    let db = TestDatabase::sqlite().await.unwrap();
    let path = db.url().strip_prefix("sqlite://").unwrap().to_owned();
    db.ping().await.unwrap();
    assert!(
        std::path::Path::new(&format!("{path}-wal")).exists(),
        "WAL journal in use"
    );
    let err = db
        .execute_sql(
            "INSERT INTO certificate_events (certificate_id, occurred_at, to_state, actor, reason) \
             VALUES ('missing', '2026-01-01 00:00:00', 'requested', 'lms', 'x')",
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("foreign key"),
        "{err}"
    );
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn an_unreachable_server_fails_at_once_without_showing_the_password() {
    let started = std::time::Instant::now();
    let err = Database::connect("postgres://pok:s3cret@127.0.0.1:1/pok", 2)
        .await
        .unwrap_err();
    assert!(matches!(err, PersistenceError::Connect { .. }), "{err:?}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn an_unreachable_mysql_server_fails_at_once_without_showing_the_password() {
    let err = Database::connect("mysql://pok:s3cret@127.0.0.1:1/pok", 2)
        .await
        .unwrap_err();
    assert!(matches!(err, PersistenceError::Connect { .. }), "{err:?}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}
