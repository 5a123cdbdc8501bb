//! The storage suite: every test runs once per compiled-in backend (`cargo test -p
//! pok-persistence --all-features` runs all three), each on a database of its own that
//! `TestDatabase` creates, migrates and drops. A backend whose server cannot be reached fails
//! its tests; none is skipped.
//!
//! Servers: PostgreSQL through `POK_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), MySQL/MariaDB through `POK_TEST_MYSQL_URL`
//! (default `mysql://root@127.0.0.1:3306/test`); SQLite needs none.

// Test code: a failed unwrap is a failed test. Clippy's `allow-unwrap-in-tests` only covers
// `#[test]` functions, not the shared test bodies and fixtures of this binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bindings;
mod certificates;
mod common;
mod concurrency;
mod connecting;
mod jobs;
mod migrations;

/// Instantiates each listed test in one module per backend (`sqlite::…`, `postgres::…`,
/// `mysql::…`), behind that backend's feature.
macro_rules! on_every_backend {
    ($($module:ident :: $test:ident),* $(,)?) => {
        on_every_backend!(@one sqlite, Sqlite, "sqlite", $($module::$test),*);
        on_every_backend!(@one postgres, Postgres, "postgres", $($module::$test),*);
        on_every_backend!(@one mysql, Mysql, "mysql", $($module::$test),*);
    };
    (@one $name:ident, $variant:ident, $feature:literal, $($module:ident :: $test:ident),*) => {
        #[cfg(feature = $feature)]
        mod $name {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = crate::common::database(pok_persistence::Backend::$variant).await;
                    crate::$module::$test(&db).await;
                }
            )*
        }
    };
}

on_every_backend!(
    certificates::create_stores_every_field_and_get_reads_it_back,
    certificates::a_second_creation_returns_the_live_certificate,
    certificates::save_applies_the_change_with_its_history_and_queue_changes,
    certificates::a_stale_version_is_a_conflict_and_changes_nothing,
    certificates::saving_a_missing_certificate_is_not_found,
    certificates::replace_supersedes_the_old_and_records_the_new,
    certificates::replace_from_a_stale_version_leaves_nothing_behind,
    certificates::replace_that_would_leave_two_live_certificates_is_refused,
    certificates::a_create_that_fails_half_way_leaves_nothing_behind,
    certificates::a_save_that_fails_half_way_leaves_nothing_behind,
    certificates::list_filters_and_puts_the_newest_first,
    certificates::history_is_oldest_first,
    certificates::counts_by_state,
    certificates::an_unknown_stored_state_is_an_error_naming_the_row,
    bindings::bindings_round_trip_update_and_delete,
    jobs::a_job_goes_through_claim_release_reschedule_and_complete,
    jobs::an_expired_lease_is_claimed_again,
    jobs::a_worker_whose_lease_expired_cannot_change_the_job_another_worker_holds,
    jobs::claims_take_due_jobs_in_order_up_to_the_maximum,
    jobs::enqueueing_for_a_missing_certificate_is_not_found,
    concurrency::fifty_concurrent_creations_make_one_certificate,
    concurrency::two_workers_claim_a_thousand_jobs_exactly_once,
    concurrency::concurrent_saves_of_one_version_let_exactly_one_win,
    migrations::migrations_go_down_and_up_again,
    migrations::a_database_migrated_by_a_newer_version_is_refused,
    migrations::readiness_needs_a_reachable_and_migrated_database,
);
