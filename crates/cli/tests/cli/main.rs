//! End-to-end tests of the admin CLI: the real `openedx-pok` binary, run as a child process
//! against a temporary SQLite file and a POK simulator started in this process (so that tests
//! can inject faults and count the credentials POK created).
//!
//! # Layout
//! - `support`: [`support::Env`], one database and one simulator per test, and the helpers
//!   that run the binary and read its output.
//! - `admin`: `migrate`, `doctor`, and the POK side (`templates`, `pages`, `preview`,
//!   `credits`).
//! - `courses`: course links.
//! - `certificates`: the single-certificate commands and `reconcile`.
//! - `backfill`: back-filling from CSV, with faults, interruptions and bad lines.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is a failure.

mod admin;
mod backfill;
mod certificates;
mod courses;
mod support;
