//! [`CachedBindings`]: course bindings kept in memory for a few seconds.
//!
//! Both filters read the course's binding on every call, and bindings change only when an
//! administrator links or unlinks a course: a rare write, made from the admin CLI, that is
//! another process. Keeping each answer (including "not linked") for a short time-to-live
//! saves one database round trip per filter call; the price is that another process's change
//! shows here only after the time-to-live. A change made through this value shows at once.

use std::sync::Arc;

use async_trait::async_trait;

use crate::binding::CourseBinding;
use crate::error::Result;
use crate::expiring::ExpiringMap;
use crate::ports::{BindingRepository, Clock};
use crate::values::CourseKey;

/// The most courses remembered at once. Filter calls are authenticated, but a caller sending
/// endless made-up course keys must not grow the memory without bound.
const MAX_ENTRIES: usize = 10_000;

/// A [`BindingRepository`] that answers `get` from memory for `ttl` after reading the
/// repository it wraps. Writes go straight through and forget the course's answer.
pub struct CachedBindings {
    inner: Arc<dyn BindingRepository>,
    clock: Arc<dyn Clock>,
    /// Each course's answer, "not linked" (`None`) included.
    answers: ExpiringMap<CourseKey, Option<CourseBinding>>,
}

impl std::fmt::Debug for CachedBindings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedBindings")
            .field("courses", &self.answers.len())
            .finish_non_exhaustive()
    }
}

impl CachedBindings {
    /// How long an answer is trusted unless the settings say otherwise: short enough that a
    /// course linked from the admin CLI is picked up within moments, long enough that a busy
    /// course costs one read every few seconds instead of one per filter call.
    pub const DEFAULT_TTL_SECONDS: u32 = 5;

    /// Wraps `inner`, trusting each answer for `ttl` as told by `clock`. A zero `ttl`
    /// remembers nothing (every `get` reads `inner`).
    pub fn new(
        inner: Arc<dyn BindingRepository>,
        clock: Arc<dyn Clock>,
        ttl: std::time::Duration,
    ) -> Self {
        Self {
            inner,
            clock,
            answers: ExpiringMap::new(ttl, MAX_ENTRIES),
        }
    }
}

#[async_trait]
impl BindingRepository for CachedBindings {
    async fn get(&self, course: &CourseKey) -> Result<Option<CourseBinding>> {
        if !self.answers.is_on() {
            return self.inner.get(course).await;
        }
        let now = self.clock.now();
        if let Some(answer) = self.answers.get(course, now) {
            return Ok(answer);
        }
        let binding = self.inner.get(course).await?;
        self.answers.insert(course.clone(), binding.clone(), now);
        Ok(binding)
    }

    async fn upsert(&self, binding: &CourseBinding) -> Result<()> {
        let result = self.inner.upsert(binding).await;
        self.answers.remove(&binding.course_key);
        result
    }

    async fn delete(&self, course: &CourseKey) -> Result<bool> {
        let result = self.inner.delete(course).await;
        self.answers.remove(course);
        result
    }

    async fn list(&self) -> Result<Vec<CourseBinding>> {
        self.inner.list().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FixedClock, MemoryStore};
    use crate::values::TemplateId;
    use chrono::{TimeZone, Utc};
    use pollster::block_on;

    fn course(n: u32) -> CourseKey {
        CourseKey::parse(&format!("course-v1:Org+C{n}+2026")).unwrap()
    }

    fn binding(n: u32, template: &str) -> CourseBinding {
        CourseBinding::new(course(n), TemplateId::parse(template).unwrap())
    }

    struct Fixture {
        store: Arc<MemoryStore>,
        clock: Arc<FixedClock>,
        cache: CachedBindings,
    }

    fn fixture(ttl_seconds: u64) -> Fixture {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(FixedClock::new(
            Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap(),
        ));
        let cache = CachedBindings::new(
            store.clone(),
            clock.clone(),
            std::time::Duration::from_secs(ttl_seconds),
        );
        Fixture {
            store,
            clock,
            cache,
        }
    }

    fn template_of(found: Option<CourseBinding>) -> Option<String> {
        found.map(|b| b.template_id.to_string())
    }

    #[test]
    fn another_process_change_shows_only_after_the_ttl() {
        let f = fixture(5);
        block_on(f.store.upsert(&binding(1, "tpl-a"))).unwrap();
        assert_eq!(
            template_of(block_on(f.cache.get(&course(1))).unwrap()).as_deref(),
            Some("tpl-a")
        );
        // The CLI relinks the course in its own process: the store changes behind the cache.
        block_on(f.store.upsert(&binding(1, "tpl-b"))).unwrap();
        f.clock.advance(std::time::Duration::from_secs(4));
        assert_eq!(
            template_of(block_on(f.cache.get(&course(1))).unwrap()).as_deref(),
            Some("tpl-a"),
            "within the ttl the remembered answer is used"
        );
        f.clock.advance(std::time::Duration::from_secs(2));
        assert_eq!(
            template_of(block_on(f.cache.get(&course(1))).unwrap()).as_deref(),
            Some("tpl-b"),
            "after the ttl the store is read again"
        );
    }

    #[test]
    fn not_linked_is_remembered_too_and_linking_through_the_cache_shows_at_once() {
        let f = fixture(60);
        assert!(block_on(f.cache.get(&course(2))).unwrap().is_none());
        block_on(f.store.upsert(&binding(2, "tpl-a"))).unwrap();
        assert!(
            block_on(f.cache.get(&course(2))).unwrap().is_none(),
            "the negative answer is remembered"
        );
        block_on(f.cache.upsert(&binding(2, "tpl-c"))).unwrap();
        assert_eq!(
            template_of(block_on(f.cache.get(&course(2))).unwrap()).as_deref(),
            Some("tpl-c")
        );
        assert!(block_on(f.cache.delete(&course(2))).unwrap());
        assert!(block_on(f.cache.get(&course(2))).unwrap().is_none());
    }

    #[test]
    fn a_zero_ttl_always_reads_the_store() {
        let f = fixture(0);
        block_on(f.store.upsert(&binding(3, "tpl-a"))).unwrap();
        assert!(block_on(f.cache.get(&course(3))).unwrap().is_some());
        block_on(f.store.delete(&course(3))).unwrap();
        assert!(block_on(f.cache.get(&course(3))).unwrap().is_none());
    }

    #[test]
    fn made_up_courses_cannot_grow_the_cache_without_bound() {
        let f = fixture(60);
        for n in 0..u32::try_from(MAX_ENTRIES).unwrap() + 10 {
            block_on(f.cache.get(&course(n))).unwrap();
        }
        let size = f.cache.answers.len();
        assert!(size <= MAX_ENTRIES, "{size} entries");
    }
}
