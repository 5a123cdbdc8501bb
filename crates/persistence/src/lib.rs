//! Diesel storage for the domain's repositories and job queue.
//!
//! Being built (see the issues); this crate compiles against the domain so the workspace has its final shape.

#[doc(hidden)]
pub use pok_domain as domain;
