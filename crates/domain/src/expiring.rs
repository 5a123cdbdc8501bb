//! [`ExpiringMap`]: answers remembered for a while, in a map of bounded size.
//!
//! Both caches of the service (course bindings here, rendered pages in the HTTP adapter) keep
//! an answer for a short time-to-live and must not grow without bound when callers send
//! endless made-up keys. The rule for both lives here: an entry is trusted until `now + ttl`,
//! and a full map first drops its expired entries, then everything if that is not enough.
//! Time comes from the caller (the [`crate::ports::Clock`] port), so tests are exact.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{PoisonError, RwLock};

use chrono::{DateTime, Duration, Utc};

/// Values remembered by key until their time-to-live has passed.
#[derive(Debug)]
pub struct ExpiringMap<K, V> {
    ttl: Duration,
    max_entries: usize,
    entries: RwLock<HashMap<K, (DateTime<Utc>, V)>>,
}

impl<K: Eq + Hash, V: Clone> ExpiringMap<K, V> {
    /// A map trusting each value for `ttl` and holding at most `max_entries`. A zero `ttl`
    /// remembers nothing.
    pub fn new(ttl: std::time::Duration, max_entries: usize) -> Self {
        Self {
            ttl: Duration::from_std(ttl).unwrap_or(Duration::MAX),
            max_entries,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// Whether the map remembers anything at all (a non-zero time-to-live).
    pub fn is_on(&self) -> bool {
        self.ttl > Duration::zero()
    }

    /// The value remembered for `key`, unless it is missing or its time-to-live has passed.
    pub fn get(&self, key: &K, now: DateTime<Utc>) -> Option<V> {
        // A panic while the lock was held cannot leave a half-written entry (inserts and
        // removals are single calls), so a poisoned lock is still safe to use.
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(expires, _)| *expires > now)
            .map(|(_, value)| value.clone())
    }

    /// Remembers `value` for `key` from `now` on; does nothing when the map is off.
    pub fn insert(&self, key: K, value: V, now: DateTime<Utc>) {
        if !self.is_on() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.max_entries {
            entries.retain(|_, (expires, _)| *expires > now);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key, (now + self.ttl, value));
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &K) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// How many entries are held, expired or not.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap() + Duration::seconds(seconds)
    }

    #[test]
    fn a_value_is_trusted_until_its_ttl_has_passed() {
        let map = ExpiringMap::new(std::time::Duration::from_secs(5), 10);
        map.insert("a", 1, t(0));
        assert_eq!(map.get(&"a", t(4)), Some(1));
        assert_eq!(map.get(&"a", t(5)), None, "expired at now + ttl");
        assert_eq!(map.get(&"b", t(0)), None);
        map.insert("a", 2, t(5));
        map.remove(&"a");
        assert_eq!(map.get(&"a", t(6)), None);
    }

    #[test]
    fn a_zero_ttl_remembers_nothing() {
        let map = ExpiringMap::new(std::time::Duration::ZERO, 10);
        assert!(!map.is_on());
        map.insert("a", 1, t(0));
        assert!(map.is_empty());
    }

    #[test]
    fn a_full_map_drops_expired_entries_first_then_everything() {
        let map = ExpiringMap::new(std::time::Duration::from_secs(5), 3);
        map.insert(1, 'a', t(0));
        map.insert(2, 'b', t(3));
        map.insert(3, 'c', t(3));
        // Full at t(6): only 1 has expired, so 2 and 3 stay.
        map.insert(4, 'd', t(6));
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(&1, t(6)), None);
        assert_eq!(map.get(&2, t(6)), Some('b'));
        // Full again and nothing expired: everything goes but the new entry.
        map.insert(5, 'e', t(7));
        assert_eq!(map.len(), 1);
        assert_eq!(map.get(&5, t(7)), Some('e'));
    }
}
