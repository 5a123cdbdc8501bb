//! Migrations: down and up again, refusal of a newer database, readiness.

use pok_persistence::PersistenceError;
use pok_persistence::domain::ports::{CertificateRepository, Created};
use pok_persistence::testing::TestDatabase;

use crate::common::{course, issue_job, requested, t0};

const INITIAL: &str = "2026-07-01-000000_initial";

pub async fn migrations_go_down_and_up_again(db: &TestDatabase) {
    let certs: &dyn CertificateRepository = db.database();
    let status = db.migration_status().await.unwrap();
    assert_eq!(status.backend, db.backend_name());
    assert_eq!(status.applied, vec![INITIAL]);
    assert!(status.pending.is_empty() && status.unknown.is_empty());
    assert!(status.is_current());
    let (c, e) = requested(42, &course(1), t0());
    certs.create(&c, &e, &issue_job(&c)).await.unwrap();

    assert_eq!(db.revert_all_migrations().await.unwrap(), vec![INITIAL]);
    let status = db.migration_status().await.unwrap();
    assert!(status.applied.is_empty());
    assert_eq!(status.pending, vec![INITIAL]);
    assert!(matches!(
        db.ready().await,
        Err(PersistenceError::NotMigrated { .. })
    ));
    assert!(certs.get(c.id).await.is_err(), "the tables are gone");

    assert_eq!(db.migrate().await.unwrap(), vec![INITIAL]);
    assert!(
        db.migrate().await.unwrap().is_empty(),
        "nothing left to apply"
    );
    db.ready().await.unwrap();
    assert_eq!(certs.get(c.id).await.unwrap(), None);
    assert_eq!(
        certs.create(&c, &e, &issue_job(&c)).await.unwrap(),
        Created::New(c)
    );
}

pub async fn a_database_migrated_by_a_newer_version_is_refused(db: &TestDatabase) {
    db.execute_sql("INSERT INTO __diesel_schema_migrations (version) VALUES ('29990101000000')")
        .await
        .unwrap();
    let status = db.migration_status().await.unwrap();
    assert_eq!(status.unknown, vec!["29990101000000"]);
    assert_eq!(status.applied, vec![INITIAL]);
    assert!(!status.is_current());
    for err in [
        db.migrate().await.unwrap_err(),
        db.ready().await.unwrap_err(),
        db.revert_all_migrations().await.unwrap_err(),
    ] {
        assert!(
            matches!(err, PersistenceError::NewerSchema { .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("newer version") && text.contains("29990101000000"),
            "{text}"
        );
    }
    // Nothing was reverted.
    assert_eq!(db.migration_status().await.unwrap().applied, vec![INITIAL]);
}

pub async fn readiness_needs_a_reachable_and_migrated_database(db: &TestDatabase) {
    db.ping().await.unwrap();
    db.ready().await.unwrap();
    assert_eq!(db.backend().name(), db.backend_name());
}
