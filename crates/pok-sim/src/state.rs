//! The simulator's memory: credits, credentials, counters, the current faults, and the
//! random draws and rate-limit bucket behind them.
//!
//! Everything sits behind `std::sync::Mutex`es that are never held across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::HOST;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

use crate::config::{Endpoint, Faults, SimConfig};

/// Locks a mutex, carrying on after a panic elsewhere (the data stays usable for a test
/// double).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The kinds of injected faults, as counted in [`Stats::faults_injected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// A 429 because the rate limit was exceeded.
    RateLimit,
    /// A 429 drawn from `too_many_requests_rate`.
    TooManyRequests,
    /// A 5xx drawn from `error_rate`.
    ServerError,
    /// A request processed and answered only after the hang.
    Hang,
    /// A request processed and answered with truncated JSON.
    Malformed,
    /// A request processed and whose answer was cut off.
    Drop,
}

/// How many credentials were created for one learner in one course (by their tags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagCount {
    /// The value of the `StudentId:` tag, if there was one.
    pub student_id: Option<String>,
    /// The value of the `CourseId:` tag, if there was one.
    pub course_id: Option<String>,
    /// Credentials created with this pair.
    pub count: u64,
}

/// What the simulator saw, for tests to assert on (`GET /_sim/stats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Credits left.
    pub credits_left: i64,
    /// Credentials created in all (including those whose answer was dropped).
    pub credentials_created: u64,
    /// Credentials created per (`StudentId`, `CourseId`) tag pair: exactly-once issuing means
    /// every count is 1.
    pub credentials_by_tags: Vec<TagCount>,
    /// Requests received per endpoint (all of them: refused, faulted and served).
    pub requests: BTreeMap<Endpoint, u64>,
    /// Faults injected, per kind.
    pub faults_injected: BTreeMap<FaultKind, u64>,
}

impl Stats {
    /// Credentials created for this learner in this course (`StudentId:` and `CourseId:` tag
    /// values).
    pub fn created_for(&self, student_id: &str, course_id: &str) -> u64 {
        self.credentials_by_tags
            .iter()
            .filter(|t| {
                t.student_id.as_deref() == Some(student_id)
                    && t.course_id.as_deref() == Some(course_id)
            })
            .map(|t| t.count)
            .sum()
    }

    /// Requests received by one endpoint.
    pub fn requests_to(&self, endpoint: Endpoint) -> u64 {
        self.requests.get(&endpoint).copied().unwrap_or(0)
    }

    /// Faults of one kind injected so far.
    pub fn faults_of(&self, kind: FaultKind) -> u64 {
        self.faults_injected.get(&kind).copied().unwrap_or(0)
    }
}

/// One credential.
#[derive(Debug, Clone)]
pub(crate) struct StoredCredential {
    pub(crate) id: String,
    pub(crate) state: String,
    /// Set by the admin endpoint: the state no longer moves by itself.
    pub(crate) forced: bool,
    pub(crate) polls: u32,
    pub(crate) created: Instant,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    /// The issuing body as received.
    pub(crate) body: Value,
}

/// The state every new credential starts in.
pub(crate) const PROCESSING: &str = "processing";
/// The state in which the image is available.
pub(crate) const EMITTED: &str = "emitted";

impl StoredCredential {
    /// Moves `processing` to `emitted` once the configured polls or time have passed.
    pub(crate) fn advance(&mut self, emit_after_polls: Option<u32>, emit_after: Option<Duration>) {
        if self.forced || self.state != PROCESSING {
            return;
        }
        let by_polls = emit_after_polls.is_some_and(|n| self.polls >= n);
        let by_time = emit_after.is_some_and(|d| self.created.elapsed() >= d);
        if by_polls || by_time {
            EMITTED.clone_into(&mut self.state);
            self.updated_at = Utc::now();
        }
    }

    /// The `(StudentId, CourseId)` tag values.
    pub(crate) fn tag_pair(&self) -> (Option<String>, Option<String>) {
        let mut pair = (None, None);
        let tags = self.body["credential"]["tags"].as_array();
        for tag in tags.into_iter().flatten().filter_map(Value::as_str) {
            if let Some(v) = tag.strip_prefix("StudentId:") {
                pair.0 = Some(v.to_owned());
            } else if let Some(v) = tag.strip_prefix("CourseId:") {
                pair.1 = Some(v.to_owned());
            }
        }
        pair
    }
}

/// Credits, credentials and counters.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) credits: i64,
    pub(crate) credentials: HashMap<String, StoredCredential>,
    pub(crate) created: u64,
    pub(crate) by_tags: BTreeMap<(Option<String>, Option<String>), u64>,
    pub(crate) requests: BTreeMap<Endpoint, u64>,
    pub(crate) faults_injected: BTreeMap<FaultKind, u64>,
}

/// A token bucket: `rps` tokens, refilled at `rps` per second.
#[derive(Debug, Default)]
struct Bucket {
    rps: u32,
    tokens: f64,
    last: Option<Instant>,
}

impl Bucket {
    /// Takes a token, or says how long until one is free.
    fn take(&mut self, rps: u32, now: Instant) -> Result<(), Duration> {
        let rate = f64::from(rps);
        match self.last {
            Some(last) if self.rps == rps => {
                let refill = now.saturating_duration_since(last).as_secs_f64() * rate;
                self.tokens = (self.tokens + refill).min(rate);
            }
            _ => {
                self.rps = rps;
                self.tokens = rate;
            }
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// What one draw decided for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Draw {
    TooManyRequests,
    ServerError,
    Hang,
    Malformed,
    Drop,
}

/// Everything a simulator holds; shared by its handlers and its handle.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) api_key: String,
    pub(crate) emit_after_polls: Option<u32>,
    pub(crate) emit_after: Option<Duration>,
    pub(crate) public_url: Option<String>,
    pub(crate) store: Mutex<Store>,
    faults: Mutex<Faults>,
    rng: Mutex<fastrand::Rng>,
    bucket: Mutex<Bucket>,
    /// Becomes `true` when the server shuts down, to end hanging requests early.
    closing: watch::Sender<bool>,
}

impl Inner {
    pub(crate) fn new(config: &SimConfig) -> Self {
        Self {
            api_key: config.api_key.clone(),
            emit_after_polls: config.emit_after_polls,
            emit_after: config.emit_after,
            public_url: config.public_url.clone(),
            store: Mutex::new(Store {
                credits: config.credits,
                ..Store::default()
            }),
            faults: Mutex::new(config.faults.clone()),
            rng: Mutex::new(
                config
                    .seed
                    .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed),
            ),
            bucket: Mutex::new(Bucket::default()),
            closing: watch::Sender::new(false),
        }
    }

    pub(crate) fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    pub(crate) fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    pub(crate) fn count_request(&self, endpoint: Endpoint) {
        *lock(&self.store).requests.entry(endpoint).or_default() += 1;
    }

    pub(crate) fn count_fault(&self, kind: FaultKind) {
        *lock(&self.store).faults_injected.entry(kind).or_default() += 1;
    }

    /// Takes a rate-limit token, or says how long until one is free.
    pub(crate) fn rate_limit(&self, rps: u32) -> Result<(), Duration> {
        lock(&self.bucket).take(rps, Instant::now())
    }

    /// One draw against the shares of the faults in force for a request to `endpoint`;
    /// counts the fault down from `max_faults` when one fires.
    pub(crate) fn draw(&self, endpoint: Endpoint) -> Option<Draw> {
        let mut faults = lock(&self.faults);
        if !faults.applies_to(endpoint) || faults.max_faults == Some(0) {
            return None;
        }
        let r = lock(&self.rng).f64();
        let mut acc = 0.0;
        for (share, draw) in [
            (faults.too_many_requests_rate, Draw::TooManyRequests),
            (faults.error_rate, Draw::ServerError),
            (faults.hang_rate, Draw::Hang),
            (faults.malformed_rate, Draw::Malformed),
            (faults.drop_rate, Draw::Drop),
        ] {
            acc += share.clamp(0.0, 1.0);
            if r < acc {
                if let Some(left) = faults.max_faults.as_mut() {
                    *left -= 1;
                }
                return Some(draw);
            }
        }
        None
    }

    /// Waits until the server shuts down.
    pub(crate) async fn closed(&self) {
        let mut rx = self.closing.subscribe();
        // An error means the sender is gone: the simulator is gone too.
        let _ = rx.wait_for(|closing| *closing).await;
    }

    pub(crate) fn close(&self) {
        self.closing.send_replace(true);
    }

    /// The URL clients reach the simulator at, with a trailing slash.
    pub(crate) fn public_base(&self, headers: &HeaderMap) -> String {
        let base = self.public_url.clone().unwrap_or_else(|| {
            let host = headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}/")
        });
        if base.ends_with('/') {
            base
        } else {
            format!("{base}/")
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let store = lock(&self.store);
        Stats {
            credits_left: store.credits,
            credentials_created: store.created,
            credentials_by_tags: store
                .by_tags
                .iter()
                .map(|((student_id, course_id), count)| TagCount {
                    student_id: student_id.clone(),
                    course_id: course_id.clone(),
                    count: *count,
                })
                .collect(),
            requests: store.requests.clone(),
            faults_injected: store.faults_injected.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refuses_past_its_rate_and_says_when_to_come_back() {
        let mut b = Bucket::default();
        let t0 = Instant::now();
        assert!(b.take(2, t0).is_ok());
        assert!(b.take(2, t0).is_ok());
        let wait = b.take(2, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(b.take(2, t0 + Duration::from_millis(500)).is_ok());
    }

    #[test]
    fn full_shares_always_fire_and_zero_shares_never() {
        let inner = Inner::new(&SimConfig {
            seed: Some(7),
            ..SimConfig::default()
        });
        for _ in 0..100 {
            assert_eq!(inner.draw(Endpoint::Issue), None);
        }
        inner.set_faults(Faults {
            malformed_rate: 1.0,
            ..Faults::default()
        });
        for _ in 0..100 {
            assert_eq!(inner.draw(Endpoint::Issue), Some(Draw::Malformed));
        }
    }

    #[test]
    fn a_fault_budget_runs_out_and_endpoints_restrict() {
        let inner = Inner::new(&SimConfig::default());
        inner.set_faults(
            Faults {
                error_rate: 1.0,
                max_faults: Some(2),
                ..Faults::default()
            }
            .only(&[Endpoint::Issue]),
        );
        assert_eq!(inner.draw(Endpoint::Credential), None);
        assert_eq!(inner.draw(Endpoint::Issue), Some(Draw::ServerError));
        assert_eq!(inner.faults().max_faults, Some(1));
        assert_eq!(inner.draw(Endpoint::Issue), Some(Draw::ServerError));
        assert_eq!(inner.draw(Endpoint::Issue), None);
    }

    #[test]
    fn credentials_emit_after_the_configured_polls_unless_forced() {
        let mut c = StoredCredential {
            id: "c".into(),
            state: PROCESSING.into(),
            forced: false,
            polls: 0,
            created: Instant::now(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            body: serde_json::json!({"credential": {"tags": ["StudentId:1", "CourseId:c", "Mode:x"]}}),
        };
        assert_eq!(c.tag_pair(), (Some("1".into()), Some("c".into())));
        c.advance(Some(2), None);
        assert_eq!(c.state, PROCESSING);
        c.polls = 2;
        let mut forced = c.clone();
        forced.forced = true;
        forced.advance(Some(2), None);
        assert_eq!(forced.state, PROCESSING);
        c.advance(Some(2), None);
        assert_eq!(c.state, EMITTED);
        let mut timed = StoredCredential {
            state: PROCESSING.into(),
            polls: 0,
            ..c
        };
        timed.advance(None, Some(Duration::ZERO));
        assert_eq!(timed.state, EMITTED);
    }
}
