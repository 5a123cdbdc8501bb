//! A check of one cost the profile of the service shows: with the SQLite that
//! `libsqlite3-sys` bundles (3.53), a statement with a bound `LIMIT ?` is re-prepared (parsed
//! and planned again) every time it runs, because SQLite reads the bound limit while planning
//! and marks the statement expired whenever the parameter is bound again. Diesel's `.first()`
//! writes `LIMIT ?`; `.get_result()` does not.
//!
//! The same single-row read of `course_bindings` by its primary key is run on one connection
//! to the benchmark's database file, both ways, so the difference is the re-preparation
//! alone.

use std::path::Path;
use std::time::{Duration, Instant};

use diesel::prelude::*;

use crate::support::Res;

mod schema {
    diesel::table! {
        course_bindings (course_key) {
            course_key -> Text,
            template_id -> Text,
        }
    }
}

use schema::course_bindings;

/// Runs `n` reads each way; returns the time per read with `LIMIT ?` and without.
pub fn compare(db: &Path, course: &str, n: usize) -> Res<(Duration, Duration)> {
    let mut conn = SqliteConnection::establish(&db.display().to_string())?;
    let with_limit = |conn: &mut SqliteConnection| {
        course_bindings::table
            .filter(course_bindings::course_key.eq(course))
            .select(course_bindings::template_id)
            .first::<String>(conn)
    };
    let without_limit = |conn: &mut SqliteConnection| {
        course_bindings::table
            .filter(course_bindings::course_key.eq(course))
            .select(course_bindings::template_id)
            .get_result::<String>(conn)
    };
    // Warm up both statements (prepared once, then cached by Diesel).
    with_limit(&mut conn)?;
    without_limit(&mut conn)?;
    let runs = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    let mut per = [Duration::ZERO; 2];
    // Alternate rounds so that both see the same machine.
    for _ in 0..4 {
        let t = Instant::now();
        for _ in 0..runs / 4 {
            with_limit(&mut conn)?;
        }
        per[0] += t.elapsed();
        let t = Instant::now();
        for _ in 0..runs / 4 {
            without_limit(&mut conn)?;
        }
        per[1] += t.elapsed();
    }
    let done = (runs / 4).max(1) * 4;
    Ok((per[0] / done, per[1] / done))
}
