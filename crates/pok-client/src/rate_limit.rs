//! [`RateLimiter`]: when the next call to POK may leave. One per client, shared by all its
//! clones, because POK limits calls per API key, not per connection or per job.
//!
//! Two things decide a call's turn:
//! - **The client's own limit** (`rate_limit` calls a second, optional): calls leave at least
//!   `1 / rate` apart. It is a token bucket holding a single token, kept as "the next free
//!   slot" (GCRA's virtual scheduling): each call books the next slot and sleeps until it, so
//!   concurrent calls are spaced evenly and in the order they asked, instead of leaving in
//!   bursts that POK's own limit refuses. A client idle for a while sends its next call at
//!   once, never two at once.
//! - **A pause**: after POK answers 429, no call leaves before the moment POK gave
//!   (`Retry-After`). A call already asleep when the pause is set finds it when it wakes and
//!   books a slot after the pause.
//!
//! A call never waits longer than the wait it is allowed: when its turn is further away, it
//! books nothing and learns how far away its turn is, so that it can end with an error the
//! caller schedules, before anything is sent.
//!
//! Waiting is a tokio sleep (so tests run on paused time, exactly); the lock is a plain mutex
//! held for a few comparisons, never across an await.
//!
//! Why not a crate: `governor`, the well-kept one, waits with its own timer and clock (not
//! tokio's, so tests cannot pause time), re-checks in a loop rather than booking a slot (its
//! docs advise jitter against thundering herds), has no pause that an answer can set, and
//! brings half a dozen crates (quanta, futures-timer, parking_lot, …) for what is here a few
//! lines of arithmetic.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The turn every call to POK waits for: the client's own spacing and POK's last pause.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// The least time between two calls; `None`: no limit of our own.
    interval: Option<Duration>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The next free slot under our own limit; `None` until the first call.
    next: Option<Instant>,
    /// No call leaves before this moment (POK answered 429).
    paused_until: Option<Instant>,
}

impl State {
    /// The earliest a call asking at `now` may leave.
    fn earliest(&self, now: Instant) -> Instant {
        [self.next, self.paused_until]
            .into_iter()
            .flatten()
            .fold(now, Instant::max)
    }

    fn is_paused(&self, now: Instant) -> bool {
        self.paused_until.is_some_and(|until| until > now)
    }
}

impl RateLimiter {
    /// A limiter spacing calls at least `interval` apart (`None`: only POK's pauses apply).
    pub(crate) fn new(interval: Option<Duration>) -> Self {
        Self {
            interval: interval.filter(|i| !i.is_zero()),
            state: Mutex::default(),
        }
    }

    /// Waits for this call's turn, for at most `max_wait`.
    ///
    /// # Errors
    /// When the turn is more than `max_wait` away: how far away it is. Nothing is booked
    /// then, so giving up costs other calls nothing.
    pub(crate) async fn turn(&self, max_wait: Duration) -> Result<(), Duration> {
        let deadline = Instant::now() + max_wait;
        loop {
            let at = {
                let mut state = self.lock();
                let now = Instant::now();
                let at = state.earliest(now);
                if at > deadline {
                    return Err(at - now);
                }
                if let Some(interval) = self.interval {
                    state.next = Some(at + interval);
                }
                at
            };
            tokio::time::sleep_until(at).await;
            // Another call's 429 may have paused everything while this one slept.
            if !self.lock().is_paused(Instant::now()) {
                return Ok(());
            }
        }
    }

    /// No call leaves for `wait` from now (a pause already running longer stays).
    pub(crate) fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut state = self.lock();
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
    }

    /// The state holds two instants, each always valid on its own: a panic elsewhere while
    /// the lock was held cannot leave it half-written, so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    /// Runs `n` calls at once through `limiter`; returns when each left, from the start.
    async fn leave_times(limiter: &Arc<RateLimiter>, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let limiter = Arc::clone(limiter);
                tokio::spawn(async move {
                    limiter.turn(LONG).await.unwrap();
                    start.elapsed()
                })
            })
            .collect();
        let mut times = Vec::new();
        for task in tasks {
            times.push(task.await.unwrap());
        }
        times.sort();
        times
    }

    #[tokio::test(start_paused = true)]
    async fn n_calls_at_rate_r_take_n_minus_one_intervals_evenly_spaced() {
        let limiter = Arc::new(RateLimiter::new(Some(Duration::from_millis(20))));
        let times = leave_times(&limiter, 11).await;
        let expected: Vec<Duration> = (0..11).map(|k| Duration::from_millis(20 * k)).collect();
        assert_eq!(times, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_limiter_lets_one_call_go_at_once_but_never_a_burst() {
        let limiter = Arc::new(RateLimiter::new(Some(Duration::from_millis(100))));
        limiter.turn(LONG).await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let times = leave_times(&limiter, 3).await;
        assert_eq!(
            times,
            [0, 100, 200].map(Duration::from_millis),
            "idle time is not saved up"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_limit_calls_do_not_wait() {
        let limiter = Arc::new(RateLimiter::new(None));
        assert_eq!(leave_times(&limiter, 5).await, [Duration::ZERO; 5]);
        let zero = Arc::new(RateLimiter::new(Some(Duration::ZERO)));
        assert_eq!(leave_times(&zero, 3).await, [Duration::ZERO; 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_call_until_it_ends() {
        let limiter = Arc::new(RateLimiter::new(None));
        limiter.pause(Duration::from_secs(2));
        assert_eq!(leave_times(&limiter, 3).await, [Duration::from_secs(2); 3]);
        // A shorter pause does not cut a longer one short.
        limiter.pause(Duration::from_secs(5));
        limiter.pause(Duration::from_secs(1));
        assert_eq!(leave_times(&limiter, 1).await, [Duration::from_secs(5)]);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_already_waiting_for_their_slot_also_wait_for_a_new_pause() {
        let limiter = Arc::new(RateLimiter::new(Some(Duration::from_millis(100))));
        let waiting = {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move { leave_times(&limiter, 4).await })
        };
        // The first call has left; three are asleep until 100, 200 and 300 ms.
        tokio::time::sleep(Duration::from_millis(50)).await;
        limiter.pause(Duration::from_secs(1));
        let times = waiting.await.unwrap();
        assert_eq!(times, [0, 1050, 1150, 1250].map(Duration::from_millis));
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_further_than_the_allowed_wait_is_refused_without_booking_it() {
        let limiter = RateLimiter::new(Some(Duration::from_secs(1)));
        limiter.turn(LONG).await.unwrap();
        assert_eq!(
            limiter.turn(Duration::from_millis(500)).await,
            Err(Duration::from_secs(1))
        );
        // The refused call booked nothing: the next one still gets the slot at 1 s.
        let start = Instant::now();
        limiter.turn(Duration::from_secs(1)).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(1));

        limiter.pause(Duration::from_secs(30));
        assert_eq!(
            limiter.turn(Duration::from_secs(10)).await,
            Err(Duration::from_secs(30))
        );
    }
}
