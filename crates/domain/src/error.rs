//! The domain's one error type, and the classification of POK failures.
//!
//! Adapters translate their own errors into these variants (a unique-key violation becomes
//! [`Error::Conflict`], a POK timeout after sending becomes a [`GatewayError`] of class
//! [`FailureClass::OutcomeUnknown`]), so that the use cases decide on meaning, never on driver
//! details. The HTTP adapter maps these variants onto status codes in exactly one place.

use std::fmt;
use std::time::Duration;

use crate::lifecycle::StateKind;

/// Everything that can go wrong in the domain or behind one of its ports.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// Input that does not make a valid value; `field` names what is wrong.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The name of the field or value that is wrong, as the caller knows it.
        field: &'static str,
        /// Why it is wrong, written for the person who sent it.
        reason: String,
    },
    /// A lifecycle action that the certificate's current state does not allow.
    #[error("cannot {action} a certificate that is {from}")]
    IllegalTransition {
        /// The state the certificate was in.
        from: StateKind,
        /// The action that was refused.
        action: &'static str,
    },
    /// The thing named does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Someone else changed the same record first (optimistic concurrency), or a uniqueness rule
    /// refused the change.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The storage failed; the text is for logs, never for a learner.
    #[error("storage failure: {0}")]
    Storage(String),
    /// POK failed; see the classification inside.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// Shorthand for results of the domain.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a failed POK call means for the certificate, decided by the POK adapter that saw it.
///
/// The distinction matters because POK has no idempotency key: a request that may have reached
/// POK must never be sent again blindly, or the learner gets two credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// POK certainly did not act on the request (connection refused, 429, 503 before
    /// acceptance): sending it again is safe.
    SafeToRetry,
    /// The request may have reached POK and we do not know what it did (timeout or reset after
    /// sending, other 5xx): a human or a later reconciliation must decide.
    OutcomeUnknown,
    /// POK refused the request for good (4xx): sending it again gives the same answer.
    Permanent,
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SafeToRetry => "safe to retry",
            Self::OutcomeUnknown => "outcome unknown",
            Self::Permanent => "permanent",
        })
    }
}

/// A failed call to POK, as the domain needs to know it.
///
/// `reason` must never contain the API key or personal data: the POK adapter builds it from the
/// status and a short excerpt of POK's answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("POK call failed ({class}): {reason}")]
pub struct GatewayError {
    /// What the failure means for a retry.
    pub class: FailureClass,
    /// A short description for the certificate's `last_error` and the logs.
    pub reason: String,
    /// How long POK asked us to wait (from `Retry-After`), if it did.
    pub retry_after: Option<Duration>,
}

impl GatewayError {
    /// A failure that is safe to retry.
    pub fn retryable(reason: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self {
            class: FailureClass::SafeToRetry,
            reason: reason.into(),
            retry_after,
        }
    }

    /// A failure whose outcome at POK is unknown.
    pub fn outcome_unknown(reason: impl Into<String>) -> Self {
        Self {
            class: FailureClass::OutcomeUnknown,
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// A failure that will not change on retry.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            class: FailureClass::Permanent,
            reason: reason.into(),
            retry_after: None,
        }
    }
}
