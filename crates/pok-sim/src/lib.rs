//! An in-memory POK simulator with fault injection.
//!
//! Being built (see the issues); this crate compiles against the domain so the workspace has its final shape.



