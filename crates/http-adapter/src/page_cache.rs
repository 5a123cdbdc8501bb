//! [`PageCache`]: emitted certificate pages kept for a few seconds.
//!
//! An emitted certificate's page is the one page people open again and again (the learner,
//! then whoever follows a shared link), and it only changes when an administrator revokes or
//! re-issues the certificate. Keeping the rendered page for a short time-to-live spares the
//! database read and the template on every view, which is what lets the render filter run at
//! more than half the speed of a bare route (docs/performance.md, section 2).
//!
//! What is kept is the finished response body (the render filter's JSON answer, or the public
//! page's HTML), so that a repeated view costs a map lookup and a reference count, not a copy.
//!
//! Only emitted pages are kept: processing pages must show the change as soon as it happens,
//! and previews, revocations and errors are rare. The price, documented with the setting: a
//! revocation or re-issue made by another process (the admin CLI) shows after at most the
//! time-to-live.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use pok_domain::CertificateId;
use pok_domain::values::{CourseKey, UserId};

use crate::pages::{Language, Page};

/// The `kind` of the only pages kept.
const EMITTED: &str = "emitted";

/// The most pages kept at once (about 4 KB each): past this, expired pages are dropped, then
/// all of them if that is not enough.
const MAX_PAGES: usize = 10_000;

/// Which page: the render filter's (learner and course) or the public one (certificate id),
/// each in one language.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum PageKey {
    /// `CertificateRenderStarted` for this learner and course.
    Learner(UserId, CourseKey, Language),
    /// `GET /certificates/{id}`.
    Public(CertificateId, Language),
}

/// Answers with emitted pages, each trusted for the time-to-live.
#[derive(Debug)]
pub(crate) struct PageCache {
    ttl: Duration,
    pages: RwLock<HashMap<PageKey, (Instant, Bytes)>>,
}

impl PageCache {
    /// A cache keeping pages for `ttl`; a zero `ttl` keeps nothing.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            pages: RwLock::new(HashMap::new()),
        }
    }

    /// The answer kept for `key`, if it is younger than the time-to-live.
    pub(crate) fn get(&self, key: &PageKey) -> Option<Bytes> {
        if self.ttl.is_zero() {
            return None;
        }
        // Inserts and removals are single calls, so a lock poisoned by a panic elsewhere
        // still guards a consistent map.
        let pages = self.pages.read().unwrap_or_else(PoisonError::into_inner);
        pages
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, body)| body.clone())
    }

    /// Whether the answer carrying `page` may be kept: an emitted certificate's page, and
    /// the cache is on.
    pub(crate) fn wants(&self, page: &Page) -> bool {
        !self.ttl.is_zero() && page.kind == EMITTED && page.status.is_success()
    }

    /// Keeps `body`, the answer carrying an emitted page (see [`Self::wants`]), under `key`.
    pub(crate) fn keep(&self, key: PageKey, body: Bytes) {
        if self.ttl.is_zero() {
            return;
        }
        let mut pages = self.pages.write().unwrap_or_else(PoisonError::into_inner);
        if pages.len() >= MAX_PAGES {
            let ttl = self.ttl;
            pages.retain(|_, (at, _)| at.elapsed() < ttl);
            if pages.len() >= MAX_PAGES {
                pages.clear();
            }
        }
        pages.insert(key, (Instant::now(), body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn page(kind: &'static str) -> Page {
        Page {
            status: StatusCode::OK,
            html: "<p>A</p>".to_owned(),
            retry_after: None,
            kind,
        }
    }

    fn key(user: i64) -> PageKey {
        PageKey::Learner(
            UserId::new(user).unwrap(),
            CourseKey::parse("course-v1:Org+C1+2026").unwrap(),
            Language::choose(Some("en"), None),
        )
    }

    #[test]
    fn an_answer_is_kept_for_the_ttl_only() {
        let cache = PageCache::new(Duration::from_millis(200));
        cache.keep(key(1), Bytes::from_static(b"A"));
        assert_eq!(cache.get(&key(1)).unwrap(), "A");
        assert!(cache.get(&key(2)).is_none(), "another learner's page");
        std::thread::sleep(Duration::from_millis(250));
        assert!(cache.get(&key(1)).is_none(), "expired");
    }

    #[test]
    fn only_emitted_pages_are_wanted() {
        let cache = PageCache::new(Duration::from_secs(60));
        assert!(cache.wants(&page("emitted")));
        for kind in ["processing", "preview", "revoked", "error", "not_found"] {
            assert!(!cache.wants(&page(kind)), "{kind} is wanted");
        }
        let mut failed = page("emitted");
        failed.status = StatusCode::INTERNAL_SERVER_ERROR;
        assert!(!cache.wants(&failed));
    }

    #[test]
    fn a_zero_ttl_keeps_nothing_and_the_size_is_bounded() {
        let off = PageCache::new(Duration::ZERO);
        assert!(!off.wants(&page("emitted")));
        off.keep(key(1), Bytes::from_static(b"x"));
        assert!(off.get(&key(1)).is_none());

        let cache = PageCache::new(Duration::from_secs(60));
        for user in 1..=i64::try_from(MAX_PAGES).unwrap() + 5 {
            cache.keep(key(user), Bytes::from_static(b"x"));
        }
        assert!(cache.pages.read().unwrap().len() <= MAX_PAGES);
    }
}
