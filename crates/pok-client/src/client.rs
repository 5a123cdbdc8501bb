//! [`PokClient`]: waiting for a call's turn, sending it, sorting failures, sending again what
//! is safe to send again, logging.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pok_domain::GatewayError;
use pok_domain::issuing::IssueRequest;
use pok_domain::ports::{
    CredentialStatus, Organization, PageSummary, PokGateway, PreviewRequest, Template,
    TemplateSummary,
};
use pok_domain::values::{CredentialId, TemplateId};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument;
use url::Url;

use crate::api::{self, Call, Endpoint, IssueBody, PreviewBody};
use crate::config::PokClientConfig;
use crate::error::{PokError, Scrubber};
use crate::rate_limit::RateLimiter;

/// The first pause between two attempts of a read-only call without `Retry-After`; it doubles
/// with each attempt, up to the configured maximum.
const RETRY_BASE: Duration = Duration::from_millis(200);

/// How much of an undecodable body is looked at for the excerpt.
const EXCERPT_SOURCE_BYTES: usize = 512;

/// POK's API over HTTPS: the production implementation of the domain's [`PokGateway`].
///
/// Cheap to clone: clones share the connection pool and the rate limiter (the rate limit and
/// POK's pauses after a 429 hold for the API key, whichever clone calls). `Debug` never shows the API
/// key.
#[derive(Clone)]
pub struct PokClient {
    http: reqwest::Client,
    base_url: Url,
    /// `ApiKey <key>`, marked sensitive so that `http`'s own `Debug` hides it too.
    auth: HeaderValue,
    api_key: SecretString,
    timeout: Duration,
    read_retries: u32,
    issue_retries_after_429: u32,
    max_retry_wait: Duration,
    /// Calls per second, as configured (for `Debug`; `limiter` holds it as an interval).
    rate_limit: Option<f64>,
    limiter: Arc<RateLimiter>,
}

impl fmt::Debug for PokClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PokClient")
            .field("base_url", &self.base_url.as_str())
            .field("api_key", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .field("read_retries", &self.read_retries)
            .field("issue_retries_after_429", &self.issue_retries_after_429)
            .field("max_retry_wait", &self.max_retry_wait)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

/// A complete answer with a 2xx status.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl PokClient {
    /// Builds the client: checks the base URL, the key and the rate limit, and sets up the
    /// connection pool with both timeouts and the rate limiter its clones share. Makes no
    /// request.
    pub fn new(config: PokClientConfig) -> Result<Self, PokError> {
        let PokClientConfig {
            mut base_url,
            api_key,
            timeout,
            connect_timeout,
            read_retries,
            issue_retries_after_429,
            max_retry_wait,
            rate_limit,
        } = config;
        if !matches!(base_url.scheme(), "http" | "https")
            || base_url.host().is_none()
            || base_url.cannot_be_a_base()
        {
            return Err(PokError::Config(format!(
                "the base URL must be an http(s) URL with a host (got {base_url})"
            )));
        }
        base_url.set_query(None);
        base_url.set_fragment(None);
        if api_key.expose_secret().trim().is_empty() {
            return Err(PokError::Config("the API key is empty".into()));
        }
        let mut auth = HeaderValue::from_str(&format!("ApiKey {}", api_key.expose_secret().trim()))
            .map_err(|_| {
                PokError::Config("the API key has characters a header cannot carry".into())
            })?;
        auth.set_sensitive(true);
        let interval = rate_limit.map(call_interval).transpose()?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .user_agent(concat!("openedx-pok/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PokError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base_url,
            auth,
            api_key,
            timeout,
            read_retries,
            issue_retries_after_429,
            max_retry_wait,
            rate_limit,
            limiter: Arc::new(RateLimiter::new(interval)),
        })
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    fn scrubber(&self) -> Scrubber {
        Scrubber::default().hide(self.api_key.expose_secret())
    }

    fn url(&self, call: &Call) -> Result<Url, PokError> {
        if call.segments.iter().any(|s| s == "." || s == "..") {
            return Err(PokError::InvalidRequest(format!(
                "an id of {:?} cannot go into a URL path",
                call.segments
            )));
        }
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| PokError::Config("the base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(&call.segments);
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&call.query);
        }
        Ok(url)
    }

    /// Sends a call when its turn comes, decodes the answer, and sends it again after failures
    /// that may go away: a read-only call after any of them (up to `read_retries` times),
    /// issuing only after a 429 (up to `issue_retries_after_429` times), POK's refusal before
    /// it acted. Any other failure of issuing may come after POK created the credential: it
    /// ends the call, and the domain decides.
    async fn call<T>(
        &self,
        call: &Call,
        body: Option<&[u8]>,
        scrub: &Scrubber,
        decode: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, PokError> {
        let started = tokio::time::Instant::now();
        let endpoint = call.endpoint.name();
        let mut attempt = 0;
        // The failure of the previous attempt: what the call ends with if the next one cannot
        // be sent in time, since that is what happened at POK.
        let mut previous: Option<PokError> = None;
        loop {
            if let Err(wait) = self.limiter.turn(self.turn_wait(call, started)).await {
                tracing::debug!(
                    endpoint,
                    wait_ms = millis(wait),
                    "not sending a POK call: its turn is further away than the client waits"
                );
                return Err(previous.unwrap_or(PokError::Throttled { wait }));
            }
            let span = tracing::info_span!(
                "pok_call",
                endpoint,
                method = %call.method(),
                attempt = attempt + 1,
                status = tracing::field::Empty,
                latency_ms = tracing::field::Empty,
            );
            let result = self
                .attempt(call, body, scrub, &decode)
                .instrument(span)
                .await;
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if let PokError::RateLimited { retry_after } = &err {
                let pause = retry_after.unwrap_or(api::RATE_LIMIT_PAUSE);
                tracing::debug!(
                    endpoint,
                    pause_ms = millis(pause),
                    "POK answered 429: no call of this client leaves before the pause is over"
                );
                self.limiter.pause(pause);
            }
            let Some(wait) = self.retry_wait_after(call, attempt, &err) else {
                return Err(err);
            };
            tracing::debug!(endpoint, wait_ms = millis(wait), "sending a POK call again");
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            previous = Some(err);
            attempt += 1;
        }
    }

    /// Whether a failed attempt is sent again, and after what pause of its own (the
    /// limiter's turn comes on top); `None`: the call ends with the failure.
    fn retry_wait_after(&self, call: &Call, attempt: u32, err: &PokError) -> Option<Duration> {
        if call.endpoint == Endpoint::Issue {
            // Only POK's explicit refusal, and only when the pause it asked for (which the
            // limiter enforces) is one we wait out.
            let PokError::RateLimited { retry_after } = err else {
                return None;
            };
            let pause = retry_after.unwrap_or(api::RATE_LIMIT_PAUSE);
            return (attempt < self.issue_retries_after_429 && pause <= self.max_retry_wait)
                .then_some(Duration::ZERO);
        }
        if attempt >= self.read_retries || err.class() == pok_domain::FailureClass::Permanent {
            return None;
        }
        let wait = self.retry_wait(attempt, err.retry_after());
        if wait.is_none() {
            tracing::debug!(
                endpoint = call.endpoint.name(),
                "not retrying: POK asked for a longer wait than allowed"
            );
        }
        wait
    }

    /// The longest a call waits for its turn: `max_retry_wait`, and for issuing no later than
    /// `timeout` after the call began. So an issuing call, resends included, ends within twice
    /// the timeout, inside the lease the worker holds on its job (twice the timeout plus
    /// 30 s): no other worker takes the job over while its issuing call waits.
    fn turn_wait(&self, call: &Call, started: tokio::time::Instant) -> Duration {
        if call.endpoint == Endpoint::Issue {
            self.max_retry_wait
                .min(self.timeout.saturating_sub(started.elapsed()))
        } else {
            self.max_retry_wait
        }
    }

    /// The pause before attempt `attempt + 2`, or `None` when POK asked for more than we wait.
    fn retry_wait(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        match retry_after {
            Some(asked) if asked > self.max_retry_wait => None,
            Some(asked) => Some(asked),
            None => Some(
                RETRY_BASE
                    .saturating_mul(1 << attempt.min(16))
                    .min(self.max_retry_wait),
            ),
        }
    }

    /// One attempt, inside its span: records the status and latency, logs the outcome.
    async fn attempt<T>(
        &self,
        call: &Call,
        body: Option<&[u8]>,
        scrub: &Scrubber,
        decode: &impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, PokError> {
        let started = Instant::now();
        let sent = self.send(call, body, scrub).await;
        let status = match &sent {
            Ok(answer) => Some(answer.status.as_u16()),
            Err(e) => e.status(),
        };
        let result = sent.and_then(|answer| {
            decode(&answer.body).map_err(|reason| PokError::Undecodable {
                endpoint: call.endpoint.name(),
                status: answer.status.as_u16(),
                reason: scrub.excerpt(&reason),
                excerpt: scrub
                    .excerpt_bytes(&answer.body[..answer.body.len().min(EXCERPT_SOURCE_BYTES)]),
            })
        });
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::Span::current().record("latency_ms", latency_ms);
        let endpoint = call.endpoint.name();
        match &result {
            Ok(_) => tracing::debug!(endpoint, status, latency_ms, "POK call succeeded"),
            Err(e) => tracing::warn!(
                endpoint,
                status,
                latency_ms,
                class = %e.class(),
                error = %e,
                "POK call failed"
            ),
        }
        result
    }

    /// Sends the request and reads the whole answer; any status but 2xx becomes an error.
    async fn send(
        &self,
        call: &Call,
        body: Option<&[u8]>,
        scrub: &Scrubber,
    ) -> Result<Answer, PokError> {
        let endpoint = call.endpoint.name();
        let mut request = self
            .http
            .request(call.method(), self.url(call)?)
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(endpoint, e, scrub))?;
        let status = response.status();
        tracing::Span::current().record("status", status.as_u16());
        let retry_after = parse_retry_after(response.headers(), Utc::now());
        let bytes = response.bytes().await;
        if status.is_success() {
            // A 2xx whose body broke: POK acted, we do not know the answer.
            return match bytes {
                Ok(b) => Ok(Answer {
                    status,
                    body: b.to_vec(),
                }),
                Err(e) => Err(self.transport_error(endpoint, e, scrub)),
            };
        }
        // For an error status the body is only an explanation: if it broke, the status says
        // enough.
        let body = bytes.map(|b| b.to_vec()).unwrap_or_default();
        Err(status_error(endpoint, status, retry_after, &body, scrub))
    }

    /// Sorts a transport failure: before sending (safe), timeout after sending, or a broken
    /// connection (both outcome-unknown).
    fn transport_error(
        &self,
        endpoint: &'static str,
        e: reqwest::Error,
        scrub: &Scrubber,
    ) -> PokError {
        let (connect, timeout, builder) = (e.is_connect(), e.is_timeout(), e.is_builder());
        let reason = scrub.excerpt(&error_chain(&e.without_url()));
        if connect {
            PokError::Connect { endpoint, reason }
        } else if timeout {
            PokError::Timeout {
                endpoint,
                after: self.timeout,
            }
        } else if builder {
            PokError::InvalidRequest(reason)
        } else {
            PokError::Interrupted { endpoint, reason }
        }
    }

    fn issue_scrubber(&self, request: &IssueRequest) -> Scrubber {
        self.scrubber()
            .hide(request.receiver.email.as_str())
            .hide(&request.receiver.first_name)
            .hide(&request.receiver.last_name)
    }
}

/// The least time between two calls at `calls_per_second`.
fn call_interval(calls_per_second: f64) -> Result<Duration, PokError> {
    if calls_per_second.is_finite() && calls_per_second >= PokClientConfig::MIN_RATE_LIMIT {
        Ok(Duration::from_secs_f64(1.0 / calls_per_second))
    } else {
        Err(PokError::Config(format!(
            "the rate limit must be a number of calls per second of at least one an hour \
             ({:.6}), got {calls_per_second}",
            PokClientConfig::MIN_RATE_LIMIT
        )))
    }
}

/// A duration in whole milliseconds, for logs.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An error status as a [`PokError`].
fn status_error(
    endpoint: &'static str,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    scrub: &Scrubber,
) -> PokError {
    let message = api::error_message(body).map_or_else(
        || scrub.excerpt_bytes(&body[..body.len().min(EXCERPT_SOURCE_BYTES)]),
        |m| scrub.excerpt(&m),
    );
    let code = status.as_u16();
    match code {
        401 | 403 => PokError::Unauthorised { status: code },
        404 => PokError::NotFound { endpoint, message },
        429 => PokError::RateLimited { retry_after },
        400..=499 => PokError::Validation {
            status: code,
            message,
        },
        500..=599 => PokError::Server {
            status: code,
            message,
            retry_after,
        },
        _ => PokError::Unexpected {
            status: code,
            message,
        },
    }
}

/// `Retry-After` as seconds or as an HTTP date (a date in the past means "now").
fn parse_retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// An error and its sources, joined (`reqwest`'s `Display` shows only the top one).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[async_trait]
impl PokGateway for PokClient {
    async fn organization(&self) -> Result<Organization, GatewayError> {
        let scrub = self.scrubber();
        Ok(self
            .call(
                &Call::organization(),
                None,
                &scrub,
                api::decode_organization,
            )
            .await?)
    }

    async fn templates(&self, limit: u32) -> Result<Vec<TemplateSummary>, GatewayError> {
        let scrub = self.scrubber();
        let (list, skipped) = self
            .call(&Call::templates(limit), None, &scrub, api::decode_templates)
            .await?;
        if skipped > 0 {
            tracing::warn!(skipped, "POK listed templates without a usable id");
        }
        Ok(list)
    }

    async fn template(&self, id: &TemplateId) -> Result<Template, GatewayError> {
        let scrub = self.scrubber();
        Ok(self
            .call(&Call::template(id), None, &scrub, |b| {
                api::decode_template(b, id)
            })
            .await?)
    }

    async fn pages(&self, limit: u32) -> Result<Vec<PageSummary>, GatewayError> {
        let scrub = self.scrubber();
        let (list, skipped) = self
            .call(&Call::pages(limit), None, &scrub, api::decode_pages)
            .await?;
        if skipped > 0 {
            tracing::warn!(skipped, "POK listed pages without a usable id");
        }
        Ok(list)
    }

    async fn preview(&self, request: &PreviewRequest) -> Result<String, GatewayError> {
        let scrub = self.scrubber();
        let body = serde_json::to_vec(&PreviewBody::new(request))
            .map_err(|e| PokError::InvalidRequest(e.to_string()))?;
        Ok(self
            .call(&Call::preview(), Some(&body), &scrub, api::decode_preview)
            .await?)
    }

    async fn issue(&self, request: &IssueRequest) -> Result<CredentialStatus, GatewayError> {
        let scrub = self.issue_scrubber(request);
        let body = serde_json::to_vec(&IssueBody::new(request))
            .map_err(|e| PokError::InvalidRequest(e.to_string()))?;
        Ok(self
            .call(&Call::issue(), Some(&body), &scrub, api::decode_credential)
            .await?)
    }

    async fn credential(&self, id: &CredentialId) -> Result<CredentialStatus, GatewayError> {
        let scrub = self.scrubber();
        Ok(self
            .call(&Call::credential(id), None, &scrub, api::decode_credential)
            .await?)
    }

    async fn credential_image(&self, id: &CredentialId) -> Result<String, GatewayError> {
        let scrub = self.scrubber();
        Ok(self
            .call(&Call::credential_image(id), None, &scrub, api::decode_image)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> PokClient {
        PokClient::new(
            PokClientConfig::new(SecretString::from("key")).with_base_url(base.parse().unwrap()),
        )
        .unwrap()
    }

    #[test]
    fn base_urls_with_and_without_a_slash_give_the_same_paths() {
        let cred = CredentialId::parse("c-1").unwrap();
        for base in ["http://pok.test/api", "http://pok.test/api/"] {
            let c = client(base);
            assert_eq!(
                c.url(&Call::credential(&cred)).unwrap().as_str(),
                "http://pok.test/api/credential/c-1/"
            );
            assert_eq!(
                c.url(&Call::templates(5)).unwrap().as_str(),
                "http://pok.test/api/template?limit=5"
            );
        }
        assert_eq!(
            client("https://api.pok.tech")
                .url(&Call::organization())
                .unwrap()
                .as_str(),
            "https://api.pok.tech/organization/me"
        );
    }

    #[test]
    fn ids_are_escaped_and_dot_segments_refused() {
        let c = client("http://pok.test/");
        let odd = CredentialId::parse("é1").unwrap();
        assert_eq!(
            c.url(&Call::credential_image(&odd)).unwrap().as_str(),
            "http://pok.test/credential/%C3%A91/decrypted-image/"
        );
        let dots = CredentialId::parse("..").unwrap();
        assert!(matches!(
            c.url(&Call::credential(&dots)),
            Err(PokError::InvalidRequest(_))
        ));
    }

    #[test]
    fn bad_settings_are_refused_without_echoing_the_key() {
        let bad_url = PokClientConfig::new(SecretString::from("k"))
            .with_base_url("ftp://pok.test/".parse().unwrap());
        assert!(matches!(PokClient::new(bad_url), Err(PokError::Config(_))));
        let err = PokClient::new(PokClientConfig::new(SecretString::from("bad\nkey-secret")))
            .unwrap_err();
        assert!(!err.to_string().contains("key-secret"));
        assert!(PokClient::new(PokClientConfig::new(SecretString::from("  "))).is_err());
    }

    #[test]
    fn rate_limits_the_client_cannot_keep_are_refused() {
        for rate in [0.0, -5.0, f64::NAN, f64::INFINITY, 1e-9] {
            let config = PokClientConfig::new(SecretString::from("key")).with_rate_limit(rate);
            let err = PokClient::new(config).unwrap_err();
            assert!(
                matches!(&err, PokError::Config(m) if m.contains("rate limit")),
                "{rate}: {err}"
            );
        }
        for rate in [PokClientConfig::MIN_RATE_LIMIT, 0.5, 50.0, 1e12] {
            let config = PokClientConfig::new(SecretString::from("key")).with_rate_limit(rate);
            assert!(PokClient::new(config).is_ok(), "{rate}");
        }
        assert_eq!(call_interval(50.0).unwrap(), Duration::from_millis(20));
        assert_eq!(call_interval(0.5).unwrap(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn issuing_waits_for_its_turn_only_while_its_timeout_runs() {
        let mut config = PokClientConfig::new(SecretString::from("key"));
        config.timeout = Duration::from_secs(5);
        config.max_retry_wait = Duration::from_secs(10);
        let c = PokClient::new(config).unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(c.turn_wait(&Call::issue(), started), Duration::from_secs(5));
        assert_eq!(
            c.turn_wait(&Call::organization(), started),
            Duration::from_secs(10)
        );
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(c.turn_wait(&Call::issue(), started), Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(c.turn_wait(&Call::issue(), started), Duration::ZERO);
        assert_eq!(
            c.turn_wait(&Call::organization(), started),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn only_a_429_pok_lets_us_wait_out_sends_issuing_again() {
        let mut config = PokClientConfig::new(SecretString::from("key"));
        config.issue_retries_after_429 = 2;
        config.read_retries = 5;
        let c = PokClient::new(config).unwrap();
        let issue = Call::issue();
        let limited = |secs: Option<u64>| PokError::RateLimited {
            retry_after: secs.map(Duration::from_secs),
        };
        assert_eq!(
            c.retry_wait_after(&issue, 0, &limited(Some(3))),
            Some(Duration::ZERO)
        );
        assert_eq!(
            c.retry_wait_after(&issue, 1, &limited(None)),
            Some(Duration::ZERO)
        );
        assert_eq!(c.retry_wait_after(&issue, 2, &limited(None)), None);
        assert_eq!(c.retry_wait_after(&issue, 0, &limited(Some(3600))), None);
        for other in [
            PokError::Server {
                status: 503,
                message: String::new(),
                retry_after: None,
            },
            PokError::Server {
                status: 500,
                message: String::new(),
                retry_after: None,
            },
            PokError::Connect {
                endpoint: "x",
                reason: String::new(),
            },
            PokError::Timeout {
                endpoint: "x",
                after: Duration::from_secs(1),
            },
        ] {
            assert_eq!(c.retry_wait_after(&issue, 0, &other), None, "{other}");
            assert!(
                c.retry_wait_after(&Call::organization(), 0, &other)
                    .is_some(),
                "reads: {other}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let c = PokClient::new(PokClientConfig::new(SecretString::from("s3cr3t-key"))).unwrap();
        let text = format!("{c:?}");
        assert!(!text.contains("s3cr3t-key"), "{text}");
        assert!(text.contains("api.pok.tech"));
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_a_date() {
        let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Thu, 01 Jan 2026 00:01:30 GMT"),
        );
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(90)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 31 Dec 2025 00:00:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h, now), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h, now), None);
    }

    #[test]
    fn retries_back_off_and_give_up_on_long_retry_afters() {
        let c = client("http://pok.test/");
        assert_eq!(c.retry_wait(0, None), Some(RETRY_BASE));
        assert_eq!(c.retry_wait(2, None), Some(RETRY_BASE * 4));
        assert_eq!(c.retry_wait(30, None), Some(c.max_retry_wait));
        assert_eq!(
            c.retry_wait(0, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(c.retry_wait(0, Some(Duration::from_secs(3600))), None);
    }
}
