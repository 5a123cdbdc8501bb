//! Router tests: the whole router, driven in-process with `oneshot`, over the domain's
//! in-memory fakes (storage, POK, clock). One test binary; one module per area.

// clippy.toml allows unwrap in `#[test]` functions only; the helpers are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod creation;
mod helpers;
mod operations;
mod pages;
mod render;
