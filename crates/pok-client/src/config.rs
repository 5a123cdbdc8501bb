//! The client's settings. Loading them (from files or `POK_API_URL`, `POK_API_KEY`,
//! `POK_TIMEOUT`, `OPENEDX_POK_RATE_LIMIT`) is the binary's job; this crate only says what they
//! are and what the defaults are.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

/// How to reach POK.
///
/// `Debug` is safe to log: the API key prints as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct PokClientConfig {
    /// POK's base URL (`POK_API_URL`); with or without a trailing slash, and possibly with a
    /// path prefix (`https://proxy.example.org/pok`).
    pub base_url: Url,
    /// The organisation's API key (`POK_API_KEY`), sent as `Authorization: ApiKey <key>`.
    pub api_key: SecretString,
    /// The longest a whole call may take, answer included (`POK_TIMEOUT`). An issuing call that
    /// runs out of time has an unknown outcome, so this should be generous.
    pub timeout: Duration,
    /// The longest connecting may take. Failing here is safe to retry (nothing was sent), so
    /// it can be short.
    pub connect_timeout: Duration,
    /// How many times a read-only call (everything but issuing) is repeated after a failure
    /// that may go away (connection failure, 429, 5xx, timeout). Issuing is not repeated
    /// after any of these but a 429 (see [`Self::issue_retries_after_429`]).
    pub read_retries: u32,
    /// How many times issuing is sent again after POK refused it with 429, once the pause POK
    /// asked for is over. A 429 is POK's explicit refusal before it acted, so sending the same
    /// request again cannot create a second credential; and waiting here costs the
    /// certificate none of its issuing attempts. Every other failure of issuing (5xx, timeout,
    /// broken connection, unreadable answer) is never sent again by the client.
    pub issue_retries_after_429: u32,
    /// The longest the client waits between two attempts of a call, and for a call's turn
    /// under [`Self::rate_limit`] or a pause POK asked for. A `Retry-After` asking for longer,
    /// or a turn further away, ends the call with the error instead (before anything more is
    /// sent), for the caller to schedule.
    pub max_retry_wait: Duration,
    /// At most this many calls a second to POK, spaced evenly (`1 / rate` apart) over every
    /// call of the client and its clones, issuing and reads alike: POK limits calls per API
    /// key. `None` (the default): no limit of our own, since POK does not document its limit.
    /// Set it at or just below POK's limit, so that calls wait for their turn here instead of
    /// being refused there. Whatever this says, a 429 from POK holds every call of the client
    /// until the moment POK gave. At least [`Self::MIN_RATE_LIMIT`].
    pub rate_limit: Option<f64>,
}

impl PokClientConfig {
    /// POK's production API.
    pub const DEFAULT_BASE_URL: &str = "https://api.pok.tech/";
    /// POK's sandbox API.
    pub const SANDBOX_BASE_URL: &str = "https://api.credentity.xyz/";
    /// Default for [`Self::timeout`].
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default for [`Self::connect_timeout`].
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default for [`Self::read_retries`].
    pub const DEFAULT_READ_RETRIES: u32 = 2;
    /// Default for [`Self::issue_retries_after_429`].
    pub const DEFAULT_ISSUE_RETRIES_AFTER_429: u32 = 2;
    /// Default for [`Self::max_retry_wait`].
    pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(10);
    /// The slowest [`Self::rate_limit`] the client takes: one call an hour. Anything slower is
    /// surely a mistake (a limit meant per minute or per day), and would leave every call but
    /// the first one of the hour refused for want of a turn.
    pub const MIN_RATE_LIMIT: f64 = 1.0 / 3600.0;

    /// Settings with every default and the given key, for production POK.
    pub fn new(api_key: SecretString) -> Self {
        Self {
            base_url: Self::default_base_url(),
            api_key,
            timeout: Self::DEFAULT_TIMEOUT,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            read_retries: Self::DEFAULT_READ_RETRIES,
            issue_retries_after_429: Self::DEFAULT_ISSUE_RETRIES_AFTER_429,
            max_retry_wait: Self::DEFAULT_MAX_RETRY_WAIT,
            rate_limit: None,
        }
    }

    /// The same settings against another base URL (the sandbox, the simulator).
    #[must_use]
    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = base_url;
        self
    }

    /// The same settings with at most `calls_per_second` calls a second to POK (see
    /// [`Self::rate_limit`]).
    #[must_use]
    pub fn with_rate_limit(mut self, calls_per_second: f64) -> Self {
        self.rate_limit = Some(calls_per_second);
        self
    }

    /// [`Self::DEFAULT_BASE_URL`] as a URL.
    pub fn default_base_url() -> Url {
        #[allow(clippy::expect_used)]
        // A constant that parses, as the tests check: this cannot fail.
        Url::parse(Self::DEFAULT_BASE_URL).expect("the default base URL parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_production_and_hide_the_key() {
        let c = PokClientConfig::new(SecretString::from("k-secret-123"));
        assert_eq!(c.base_url.as_str(), "https://api.pok.tech/");
        assert!(Url::parse(PokClientConfig::SANDBOX_BASE_URL).is_ok());
        assert!(!format!("{c:?}").contains("k-secret-123"));
        assert_eq!(
            c.rate_limit, None,
            "POK's limit is unknown: no limit by default"
        );
        assert_eq!(c.with_rate_limit(50.0).rate_limit, Some(50.0));
    }
}
