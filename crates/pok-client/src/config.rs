//! The client's settings. Loading them (from files or `POK_API_URL`, `POK_API_KEY`,
//! `POK_TIMEOUT`) is the binary's job; this crate only says what they are and what the defaults
//! are.

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
    /// that may go away (connection failure, 429, 5xx, timeout). Issuing is never repeated.
    pub read_retries: u32,
    /// The longest the client waits between two attempts of a read-only call. A `Retry-After`
    /// asking for longer ends the call with the error instead, for the caller to schedule.
    pub max_retry_wait: Duration,
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
    /// Default for [`Self::max_retry_wait`].
    pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

    /// Settings with every default and the given key, for production POK.
    pub fn new(api_key: SecretString) -> Self {
        Self {
            base_url: Self::default_base_url(),
            api_key,
            timeout: Self::DEFAULT_TIMEOUT,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            read_retries: Self::DEFAULT_READ_RETRIES,
            max_retry_wait: Self::DEFAULT_MAX_RETRY_WAIT,
        }
    }

    /// The same settings against another base URL (the sandbox, the simulator).
    #[must_use]
    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = base_url;
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
    }
}
