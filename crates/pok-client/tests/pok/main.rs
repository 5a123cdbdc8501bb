//! The client's integration tests, in one binary.
//!
//! - `calls`: every call's happy path against wiremock with realistic JSON, the auth header,
//!   base URLs, tolerance of unknown fields and states.
//! - `failures`: every error class and its classification, Retry-After, retries, timeouts.
//! - `contract`: the real client against the real simulator, for every call and fault.
//!
//! The log-capture test is a binary of its own (`tests/logs.rs`); it says why.

// Test helpers outside `#[test]` functions fail loudly too (clippy.toml only covers the
// functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod calls;
mod contract;
mod failures;
mod support;
