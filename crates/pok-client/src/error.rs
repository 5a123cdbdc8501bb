//! The crate's one error type, its classification for the domain, and the scrubbing of the
//! text it carries.
//!
//! Every message that ends up in a [`PokError`] went through `Scrubber` first: it is cut to a
//! short excerpt, and the API key, e-mail addresses and (for issuing) the receiver's name are
//! replaced, because the message goes into logs and into the certificate's `last_error`.

use std::time::Duration;

use pok_domain::{FailureClass, GatewayError};

/// Why a POK call failed, sorted by what it means for the caller.
///
/// Nothing in here (neither fields nor `Display`) contains the API key or the receiver's
/// e-mail or name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PokError {
    /// The client could not be built from its settings (a base URL that is not http(s), an API
    /// key that cannot go into a header).
    #[error("invalid POK client settings: {0}")]
    Config(String),
    /// The request cannot be sent as it is (an id that cannot go into a URL path).
    #[error("invalid request to POK: {0}")]
    InvalidRequest(String),
    /// POK refused the API key (401 or 403).
    #[error("POK refused the API key (HTTP {status})")]
    Unauthorised {
        /// 401 or 403.
        status: u16,
    },
    /// POK does not know what was asked for (404).
    #[error("POK answered 404 for {endpoint}: {message}")]
    NotFound {
        /// The call, with `{id}` in place of ids.
        endpoint: &'static str,
        /// POK's explanation, scrubbed.
        message: String,
    },
    /// POK refused the request as it is (a 4xx other than 401, 403, 404 and 429): sending it
    /// again gives the same answer.
    #[error("POK refused the request (HTTP {status}): {message}")]
    Validation {
        /// The status.
        status: u16,
        /// POK's explanation, scrubbed.
        message: String,
    },
    /// POK asks us to slow down (429); it did not act on the request.
    #[error("POK is rate limiting (HTTP 429){}", wait_hint(*.retry_after))]
    RateLimited {
        /// How long POK asked us to wait, from `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The call was not sent: its turn (under the client's own rate limit, or after a pause
    /// POK asked for with a 429) is further away than the client waits. Nothing reached POK.
    #[error(
        "not sent to POK: no turn within the longest wait (the client's rate limit or POK's last Retry-After){}",
        wait_hint(Some(*.wait))
    )]
    Throttled {
        /// How far away the call's turn was.
        wait: Duration,
    },
    /// POK failed (5xx). A 503 means POK did not act on the request; any other 5xx may come
    /// after POK acted.
    #[error("POK failed (HTTP {status}): {message}{}", wait_hint(*.retry_after))]
    Server {
        /// The status.
        status: u16,
        /// An excerpt of the answer, scrubbed.
        message: String,
        /// How long POK asked us to wait, from `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// A status POK should not send (1xx, or a 3xx left after following redirects).
    #[error("unexpected answer from POK (HTTP {status}): {message}")]
    Unexpected {
        /// The status.
        status: u16,
        /// An excerpt of the answer, scrubbed.
        message: String,
    },
    /// No complete answer within the timeout, after the request was sent.
    #[error("POK did not answer {endpoint} within {after:?}")]
    Timeout {
        /// The call, with `{id}` in place of ids.
        endpoint: &'static str,
        /// The configured timeout.
        after: Duration,
    },
    /// The connection could not be made, so the request never left.
    #[error("could not connect to POK for {endpoint}: {reason}")]
    Connect {
        /// The call, with `{id}` in place of ids.
        endpoint: &'static str,
        /// The transport's explanation.
        reason: String,
    },
    /// The connection broke after the request was (perhaps) sent: reset, closed before the
    /// answer was complete.
    #[error("the connection to POK broke during {endpoint}: {reason}")]
    Interrupted {
        /// The call, with `{id}` in place of ids.
        endpoint: &'static str,
        /// The transport's explanation.
        reason: String,
    },
    /// POK answered, but not with what we understand.
    #[error(
        "POK's answer to {endpoint} (HTTP {status}) could not be read: {reason}; it starts with {excerpt:?}"
    )]
    Undecodable {
        /// The call, with `{id}` in place of ids.
        endpoint: &'static str,
        /// The status.
        status: u16,
        /// What was wrong.
        reason: String,
        /// The first characters of the body, scrubbed.
        excerpt: String,
    },
}

/// `, retry after Ns`, rounded up to whole seconds (a wait of 0.2 s is not "0s").
fn wait_hint(retry_after: Option<Duration>) -> String {
    retry_after.map_or_else(String::new, |d| {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        format!(", retry after {secs}s")
    })
}

impl PokError {
    /// What the failure means for a retry (see [`FailureClass`]).
    ///
    /// Connection failures, 429, 503 and calls the client did not send are safe to retry: POK
    /// did not act. A timeout or a
    /// broken connection after sending, any other 5xx, and an answer we cannot read are
    /// outcome-unknown: POK may have acted (for issuing: may have created the credential).
    /// Everything else is permanent.
    pub fn class(&self) -> FailureClass {
        match self {
            Self::Connect { .. }
            | Self::RateLimited { .. }
            | Self::Throttled { .. }
            | Self::Server { status: 503, .. } => FailureClass::SafeToRetry,
            Self::Server { .. }
            | Self::Timeout { .. }
            | Self::Interrupted { .. }
            | Self::Undecodable { .. } => FailureClass::OutcomeUnknown,
            Self::Config(_)
            | Self::InvalidRequest(_)
            | Self::Unauthorised { .. }
            | Self::NotFound { .. }
            | Self::Validation { .. }
            | Self::Unexpected { .. } => FailureClass::Permanent,
        }
    }

    /// The HTTP status POK answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorised { status }
            | Self::Validation { status, .. }
            | Self::Server { status, .. }
            | Self::Unexpected { status, .. }
            | Self::Undecodable { status, .. } => Some(*status),
            Self::NotFound { .. } => Some(404),
            Self::RateLimited { .. } => Some(429),
            Self::Config(_)
            | Self::InvalidRequest(_)
            | Self::Timeout { .. }
            | Self::Connect { .. }
            | Self::Throttled { .. }
            | Self::Interrupted { .. } => None,
        }
    }

    /// How long POK asked us to wait, if it did (for a call the client did not send: how far
    /// away its turn was).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Server { retry_after, .. } => *retry_after,
            Self::Throttled { wait } => Some(*wait),
            _ => None,
        }
    }
}

impl From<PokError> for GatewayError {
    fn from(e: PokError) -> Self {
        GatewayError {
            class: e.class(),
            reason: e.to_string(),
            retry_after: e.retry_after(),
        }
    }
}

/// The longest excerpt of POK's text kept in an error.
const EXCERPT_CHARS: usize = 160;

/// Turns text from POK into something safe to log: known secrets and personal data replaced,
/// any e-mail address replaced, control characters and runs of white space collapsed, cut to
/// [`EXCERPT_CHARS`].
#[derive(Default)]
pub(crate) struct Scrubber {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber({} strings)", self.secrets.len())
    }
}

impl Scrubber {
    /// Adds a string that must never appear (shorter than 3 characters is ignored: replacing
    /// every "a" would make the excerpt useless and protect nothing).
    pub(crate) fn hide(mut self, secret: &str) -> Self {
        let s = secret.trim();
        if s.chars().count() >= 3 {
            self.secrets.push(s.to_owned());
        }
        self
    }

    /// Scrubs and shortens text.
    pub(crate) fn excerpt(&self, text: &str) -> String {
        // Secrets are removed from the whole text before it is cut, so that a secret split by
        // the cut cannot survive in part.
        let mut s: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        for secret in &self.secrets {
            s = s.replace(secret.as_str(), "<redacted>");
        }
        let s = redact_emails(&s);
        let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
        if s.chars().count() > EXCERPT_CHARS {
            let cut: String = s.chars().take(EXCERPT_CHARS).collect();
            format!("{cut}…")
        } else {
            s
        }
    }

    /// Scrubs bytes that may not be UTF-8.
    pub(crate) fn excerpt_bytes(&self, body: &[u8]) -> String {
        self.excerpt(&String::from_utf8_lossy(body))
    }
}

/// Replaces anything shaped like an e-mail address (`local@domain.tld`) by `<email>`.
fn redact_emails(text: &str) -> String {
    let local = |c: char| c.is_alphanumeric() || "._%+-'".contains(c);
    let domain = |c: char| c.is_alphanumeric() || ".-".contains(c);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            let start = chars[..i]
                .iter()
                .rposition(|c| !local(*c))
                .map_or(0, |p| p + 1);
            let end = chars[i + 1..]
                .iter()
                .position(|c| !domain(*c))
                .map_or(chars.len(), |p| i + 1 + p);
            let dom: String = chars[i + 1..end].iter().collect();
            let local_len = i - start;
            if local_len > 0 && dom.trim_end_matches('.').contains('.') {
                // The local part was already copied: take it back.
                for _ in 0..local_len {
                    out.pop();
                }
                out.push_str("<email>");
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_what_pok_may_have_done() {
        let safe = [
            PokError::Connect {
                endpoint: "x",
                reason: String::new(),
            },
            PokError::RateLimited { retry_after: None },
            PokError::Throttled {
                wait: Duration::from_secs(1),
            },
            PokError::Server {
                status: 503,
                message: String::new(),
                retry_after: None,
            },
        ];
        let unknown = [
            PokError::Server {
                status: 500,
                message: String::new(),
                retry_after: None,
            },
            PokError::Server {
                status: 504,
                message: String::new(),
                retry_after: None,
            },
            PokError::Timeout {
                endpoint: "x",
                after: Duration::from_secs(1),
            },
            PokError::Interrupted {
                endpoint: "x",
                reason: String::new(),
            },
            PokError::Undecodable {
                endpoint: "x",
                status: 201,
                reason: String::new(),
                excerpt: String::new(),
            },
        ];
        let permanent = [
            PokError::Unauthorised { status: 401 },
            PokError::NotFound {
                endpoint: "x",
                message: String::new(),
            },
            PokError::Validation {
                status: 400,
                message: String::new(),
            },
            PokError::Validation {
                status: 402,
                message: String::new(),
            },
        ];
        for e in safe {
            assert_eq!(GatewayError::from(e).class, FailureClass::SafeToRetry);
        }
        for e in unknown {
            assert_eq!(GatewayError::from(e).class, FailureClass::OutcomeUnknown);
        }
        for e in permanent {
            assert_eq!(GatewayError::from(e).class, FailureClass::Permanent);
        }
    }

    #[test]
    fn retry_after_reaches_the_domain() {
        let g = GatewayError::from(PokError::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
        });
        assert_eq!(g.retry_after, Some(Duration::from_secs(7)));
        assert!(g.reason.contains("retry after 7s"), "{}", g.reason);

        let g = GatewayError::from(PokError::Throttled {
            wait: Duration::from_millis(1200),
        });
        assert_eq!(g.retry_after, Some(Duration::from_millis(1200)));
        assert!(g.reason.contains("not sent to POK"), "{}", g.reason);
        assert!(
            g.reason.contains("retry after 2s"),
            "rounded up: {}",
            g.reason
        );
    }

    #[test]
    fn excerpts_hide_secrets_and_addresses_and_stay_short() {
        let s = Scrubber::default()
            .hide("key-123")
            .hide("Lovelace")
            .hide("Al");
        let got =
            s.excerpt("bad key key-123 for Ada Lovelace <ada.l+x@mail.example.org>, Al ok\n\t!");
        assert_eq!(
            got,
            "bad key <redacted> for Ada <redacted> <<email>>, Al ok !"
        );
        assert_eq!(
            redact_emails("a@b, not@mail, x@y.z."),
            "a@b, not@mail, <email>"
        );
        let long = s.excerpt(&"x".repeat(1000));
        assert_eq!(long.chars().count(), EXCERPT_CHARS + 1);
    }
}
