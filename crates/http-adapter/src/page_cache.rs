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

use std::time::Duration;

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use pok_domain::CertificateId;
use pok_domain::expiring::ExpiringMap;
use pok_domain::values::{CourseKey, UserId};

use crate::pages::{Language, Page};

/// The `kind` of the only pages kept.
const EMITTED: &str = "emitted";

/// The most pages kept at once (about 4 KB each).
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

/// Answers with emitted pages, each trusted for the time-to-live. Time comes from the
/// service's clock, like every other time the service decides on.
#[derive(Debug)]
pub(crate) struct PageCache {
    answers: ExpiringMap<PageKey, Bytes>,
}

impl PageCache {
    /// A cache keeping pages for `ttl`; a zero `ttl` keeps nothing.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            answers: ExpiringMap::new(ttl, MAX_PAGES),
        }
    }

    /// The answer kept for `key`, if it is younger than the time-to-live at `now`.
    pub(crate) fn get(&self, key: &PageKey, now: DateTime<Utc>) -> Option<Bytes> {
        self.answers.get(key, now)
    }

    /// Whether the answer carrying `page` may be kept: an emitted certificate's page, and
    /// the cache is on.
    pub(crate) fn wants(&self, page: &Page) -> bool {
        self.answers.is_on() && page.kind == EMITTED && page.status.is_success()
    }

    /// Keeps `body`, the answer carrying an emitted page (see [`Self::wants`]), under `key`
    /// from `now` on.
    pub(crate) fn keep(&self, key: PageKey, body: Bytes, now: DateTime<Utc>) {
        self.answers.insert(key, body, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use chrono::TimeZone;

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

    fn at(millis: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
            + chrono::Duration::milliseconds(millis)
    }

    #[test]
    fn an_answer_is_kept_for_the_ttl_only() {
        let cache = PageCache::new(Duration::from_millis(200));
        cache.keep(key(1), Bytes::from_static(b"A"), at(0));
        assert_eq!(cache.get(&key(1), at(199)).unwrap(), "A");
        assert!(
            cache.get(&key(2), at(0)).is_none(),
            "another learner's page"
        );
        assert!(cache.get(&key(1), at(200)).is_none(), "expired");
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
        off.keep(key(1), Bytes::from_static(b"x"), at(0));
        assert!(off.get(&key(1), at(0)).is_none());

        let cache = PageCache::new(Duration::from_secs(60));
        for user in 1..=i64::try_from(MAX_PAGES).unwrap() + 5 {
            cache.keep(key(user), Bytes::from_static(b"x"), at(0));
        }
        assert!(cache.answers.len() <= MAX_PAGES);
    }
}
