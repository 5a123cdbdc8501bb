//! The pure domain of the Open edX → POK certificate service.
//!
//! No I/O happens here: no runtime, no HTTP, no database. Everything the service decides is
//! decided in this crate, and everything it needs from outside is a port (a trait) that an
//! adapter crate implements. Other teams may reuse it as it is.
//!
//! # Layout
//! - [`values`]: validated value types (course key, e-mail, language tag, grade, POK ids, ...).
//! - [`lifecycle`]: the [`Certificate`] aggregate and its state machine; every transition
//!   yields a [`CertificateEvent`] for the history.
//! - [`binding`]: a course's link to a POK template and its custom-parameter mapping.
//! - [`binding_cache`]: bindings remembered for a few seconds, as both filters read them.
//! - [`expiring`]: a bounded map of answers trusted for a time-to-live, for both caches.
//! - [`issuing`]: building what POK receives: name split, language negotiation, custom
//!   parameters, tags.
//! - [`retry`]: backoff for issuing attempts and for polls of processing credentials.
//! - [`filters`]: the decision rules behind the two Open edX filters.
//! - [`ports`]: the traits adapters implement (POK gateway, repositories, job queue, clock).
//! - [`service`]: the use cases, generic over the ports.
//!
//! Data flows one way: an adapter turns its input into values, calls a use case in
//! [`service`], which reads through the ports, decides with [`filters`] and [`lifecycle`],
//! and writes back through the ports.

pub mod binding;
pub mod binding_cache;
pub mod error;
pub mod expiring;
#[cfg(any(test, feature = "mocks"))]
pub mod fakes;
pub mod filters;
pub mod issuing;
pub mod lifecycle;
pub mod ports;
pub mod retry;
pub mod service;
pub mod values;

pub use error::{Error, FailureClass, GatewayError, Result};
pub use lifecycle::{Actor, Certificate, CertificateEvent, CertificateId, StateKind};
pub use service::CertificateService;
