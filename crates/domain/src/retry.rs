//! When to try again: issuing attempts after a safe-to-retry failure, and polls of a credential
//! that POK is still processing.
//!
//! Backoff is exponential with "equal jitter" (half the delay fixed, half spread) and a cap, so
//! that a POK outage does not end in a thundering herd when it recovers. The jitter value is
//! passed in, which keeps these functions pure and their tests exact.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Limits for issuing attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay after the first failed attempt (before jitter).
    pub base: Duration,
    /// The longest delay between two attempts.
    pub cap: Duration,
    /// Attempts allowed in all (the first included); after that the certificate stays failed
    /// until an administrator retries it.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(30 * 60),
            max_attempts: 8,
        }
    }
}

/// Exponential delay `base * 2^(n-1)` capped, with half of it spread by `jitter` in `[0, 1)`.
fn backoff(base: Duration, cap: Duration, n: u32, jitter: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << n.saturating_sub(1).min(20));
    let full = exp.min(cap);
    let half = full / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

impl RetryPolicy {
    /// When attempt `attempts_done + 1` may run, or `None` when the limit is reached.
    /// POK's `Retry-After` is honoured when it asks for longer than our own delay.
    pub fn next_attempt(
        &self,
        attempts_done: u32,
        retry_after: Option<Duration>,
        jitter: f64,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if attempts_done >= self.max_attempts {
            return None;
        }
        let ours = backoff(self.base, self.cap, attempts_done, jitter);
        let wait = retry_after.map_or(ours, |ra| ra.max(ours));
        Some(now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX))
    }
}

/// How often to ask POK about a credential it is still processing. There is no give-up: POK
/// may wait days for an approval, and each poll is one cheap read.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPolicy {
    /// Delay before the first poll.
    pub first: Duration,
    /// The longest delay between polls.
    pub cap: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(5),
            cap: Duration::from_secs(15 * 60),
        }
    }
}

impl PollPolicy {
    /// When poll number `polls_done + 1` is due.
    pub fn next_poll(&self, polls_done: u32, jitter: f64, now: DateTime<Utc>) -> DateTime<Utc> {
        let d = backoff(self.first, self.cap, polls_done + 1, jitter).max(self.first / 2);
        now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()
    }

    fn secs(t: DateTime<Utc>) -> i64 {
        (t - t0()).num_seconds()
    }

    #[test]
    fn delays_double_and_are_capped_and_jittered_within_half() {
        let p = RetryPolicy {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(60),
            max_attempts: 10,
        };
        // (attempts done, jitter, expected delay in seconds)
        for (n, j, expected) in [
            (1, 0.0, 5),
            (1, 0.999_999, 9),
            (2, 0.0, 10),
            (3, 0.5, 30),
            (4, 0.0, 30),
            (9, 0.0, 30),
            (9, 0.999_999, 59),
        ] {
            assert_eq!(
                secs(p.next_attempt(n, None, j, t0()).unwrap()),
                expected,
                "n={n} j={j}"
            );
        }
    }

    #[test]
    fn the_attempt_limit_ends_retries() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(p.next_attempt(2, None, 0.0, t0()).is_some());
        assert!(p.next_attempt(3, None, 0.0, t0()).is_none());
    }

    #[test]
    fn retry_after_is_honoured_when_longer_than_our_delay() {
        let p = RetryPolicy::default();
        let long = p
            .next_attempt(1, Some(Duration::from_secs(120)), 0.0, t0())
            .unwrap();
        assert_eq!(secs(long), 120);
        let short = p
            .next_attempt(1, Some(Duration::from_secs(1)), 0.0, t0())
            .unwrap();
        assert_eq!(secs(short), 5);
    }

    #[test]
    fn polls_back_off_to_the_cap() {
        let p = PollPolicy {
            first: Duration::from_secs(4),
            cap: Duration::from_secs(60),
        };
        assert_eq!(secs(p.next_poll(0, 0.0, t0())), 2);
        assert_eq!(secs(p.next_poll(1, 0.0, t0())), 4);
        assert_eq!(secs(p.next_poll(30, 0.0, t0())), 30);
        assert!(secs(p.next_poll(30, 0.999, t0())) < 60);
    }
}
