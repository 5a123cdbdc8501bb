//! What the simulator is told at start: [`SimConfig`], and the faults it injects, [`Faults`],
//! which can also be changed while it runs (`PUT /_sim/faults`).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fixtures;

/// How a simulator starts.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Where [`crate::Simulator::start`] listens; port 0 picks a free port (the default,
    /// `127.0.0.1:0`).
    pub listen: SocketAddr,
    /// The API key requests must carry as `Authorization: ApiKey <key>`.
    pub api_key: String,
    /// The organisation's credits at start; each credential takes one.
    pub credits: i64,
    /// A credential is `emitted` from the N-th `GET credential/{id}/` on (0: emitted at once).
    /// `None`: polls do not emit.
    pub emit_after_polls: Option<u32>,
    /// A credential is `emitted` this long after its creation. `None`: time does not emit.
    /// When both are set, whichever comes first; when neither, credentials stay `processing`.
    pub emit_after: Option<Duration>,
    /// The URL put in front of image, preview and view URLs in answers (the simulator's own
    /// address as clients reach it). `None`: taken from each request's `Host` header.
    pub public_url: Option<String>,
    /// Faults from the start.
    pub faults: Faults,
    /// Seed of the random draws behind fault shares, for reproducible runs.
    pub seed: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            api_key: fixtures::API_KEY.to_owned(),
            credits: fixtures::DEFAULT_CREDITS,
            emit_after_polls: Some(1),
            emit_after: None,
            public_url: None,
            faults: Faults::default(),
            seed: None,
        }
    }
}

/// The POK endpoints, as faults and counters name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `GET organization/me`.
    Organization,
    /// `GET template?limit=N`.
    Templates,
    /// `GET template/{id}`.
    Template,
    /// `GET page?limit=N`.
    Pages,
    /// `POST template/preview`.
    Preview,
    /// `POST credential/`.
    Issue,
    /// `GET credential/{id}/`.
    Credential,
    /// `GET credential/{id}/decrypted-image/`.
    CredentialImage,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 8] = [
        Self::Organization,
        Self::Templates,
        Self::Template,
        Self::Pages,
        Self::Preview,
        Self::Issue,
        Self::Credential,
        Self::CredentialImage,
    ];

    /// The name in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Templates => "templates",
            Self::Template => "template",
            Self::Pages => "pages",
            Self::Preview => "preview",
            Self::Issue => "issue",
            Self::Credential => "credential",
            Self::CredentialImage => "credential_image",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|e| e.as_str()).collect();
                format!(
                    "unknown endpoint {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// The faults the simulator injects, in its JSON form (`GET`/`PUT /_sim/faults`).
///
/// Shares are fractions from 0 to 1 of the requests to the chosen [`Self::endpoints`]; one
/// draw per request decides between them, in this order: 429, 5xx, hang, malformed, drop
/// (shares adding up to more than 1 starve the later ones). 429 and 5xx answer before the
/// request is processed (nothing is created); hang, malformed and drop answer after it was
/// processed (an issued credential exists), which is what makes them outcome-unknown cases.
///
/// Every field has a default, so a `PUT` names only what it sets; the rest goes back to
/// "no fault".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every request, in milliseconds, before anything else happens.
    pub latency_ms: u64,
    /// Share of requests answered with [`Self::error_status`].
    pub error_rate: f64,
    /// The status of injected server errors (500 to 599; default 503).
    pub error_status: u16,
    /// Share of requests answered 429 with `Retry-After: `[`Self::retry_after_secs`].
    pub too_many_requests_rate: f64,
    /// `Retry-After` of injected 429s (default 1).
    pub retry_after_secs: u64,
    /// Share of requests that are processed and then answered only after [`Self::hang_ms`]
    /// (past the client's timeout).
    pub hang_rate: f64,
    /// How long a hanging request hangs, in milliseconds (default 30 000).
    pub hang_ms: u64,
    /// Share of requests that are processed and answered with truncated JSON.
    pub malformed_rate: f64,
    /// Share of requests that are processed and whose connection is then aborted in the
    /// middle of the answer ("accept then drop").
    pub drop_rate: f64,
    /// At most this many requests per second (a token bucket of the same size); more are
    /// answered 429 with the `Retry-After` of the next free slot.
    pub rate_limit_rps: Option<u32>,
    /// The endpoints the faults apply to; empty means all.
    pub endpoints: Vec<Endpoint>,
    /// At most this many drawn faults (429, 5xx, hang, malformed, drop) are injected, then
    /// none: `Some(1)` with `error_rate: 1.0` fails exactly the next request. It counts down
    /// as faults fire (`GET /_sim/faults` shows what is left). `None`: no limit.
    pub max_faults: Option<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            error_rate: 0.0,
            error_status: 503,
            too_many_requests_rate: 0.0,
            retry_after_secs: 1,
            hang_rate: 0.0,
            hang_ms: 30_000,
            malformed_rate: 0.0,
            drop_rate: 0.0,
            rate_limit_rps: None,
            endpoints: Vec::new(),
            max_faults: None,
        }
    }
}

impl Faults {
    /// No fault at all (the default).
    pub fn none() -> Self {
        Self::default()
    }

    /// The same faults, restricted to `endpoints`.
    #[must_use]
    pub fn only(mut self, endpoints: &[Endpoint]) -> Self {
        self.endpoints = endpoints.to_vec();
        self
    }

    /// Whether the faults apply to requests to `endpoint`.
    pub fn applies_to(&self, endpoint: Endpoint) -> bool {
        self.endpoints.is_empty() || self.endpoints.contains(&endpoint)
    }

    /// Checks shares, the error status and the rate limit, naming the wrong field.
    pub fn validate(&self) -> Result<(), String> {
        for (name, share) in [
            ("error_rate", self.error_rate),
            ("too_many_requests_rate", self.too_many_requests_rate),
            ("hang_rate", self.hang_rate),
            ("malformed_rate", self.malformed_rate),
            ("drop_rate", self.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!("{name} must be from 0 to 1 (got {share})"));
            }
        }
        if !(500..=599).contains(&self.error_status) {
            return Err(format!(
                "error_status must be from 500 to 599 (got {})",
                self.error_status
            ));
        }
        if self.rate_limit_rps == Some(0) {
            return Err("rate_limit_rps must be at least 1 (or null for no limit)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_fault_document_resets_the_rest() {
        let f: Faults =
            serde_json::from_str(r#"{"error_rate": 1, "endpoints": ["issue"]}"#).unwrap();
        assert_eq!(f.error_status, 503);
        assert!(f.applies_to(Endpoint::Issue));
        assert!(!f.applies_to(Endpoint::Credential));
        assert!(serde_json::from_str::<Faults>(r#"{"eror_rate": 1}"#).is_err());
    }

    #[test]
    fn invalid_faults_name_the_field() {
        let f = Faults {
            hang_rate: 1.5,
            ..Faults::default()
        };
        assert!(f.validate().unwrap_err().contains("hang_rate"));
        let f = Faults {
            error_status: 404,
            ..Faults::default()
        };
        assert!(f.validate().unwrap_err().contains("error_status"));
    }

    #[test]
    fn endpoints_parse_their_names() {
        for e in Endpoint::ALL {
            assert_eq!(e.as_str().parse::<Endpoint>().unwrap(), e);
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        assert!("nope".parse::<Endpoint>().is_err());
    }
}
