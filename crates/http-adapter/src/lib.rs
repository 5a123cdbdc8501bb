//! The axum service the LMS calls.
//!
//! Being built (see the issues); this crate compiles against the domain so the workspace has its final shape.

#[doc(hidden)]
pub use pok_domain as domain;
