//! What every handler shares: the use cases, the settings of the HTTP side, the readiness
//! check, the metrics and the compiled page templates.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pok_domain::{CertificateId, CertificateService};
use secrecy::{ExposeSecret, SecretString};

use crate::metrics::Metrics;
use crate::page_cache::PageCache;
use crate::pages::Templates;
use crate::problem::Error;

/// Whether the service can do its work now (`/ready`). The binary implements it over the
/// database (reachable, migrations applied); it is a trait so that this crate needs no
/// database.
#[async_trait]
pub trait Readiness: Send + Sync + 'static {
    /// `Ok` when ready; otherwise why not, for the logs (never shown to the caller).
    async fn check(&self) -> Result<(), String>;
}

/// A readiness check that always passes, for tests and for processes without dependencies.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysReady;

#[async_trait]
impl Readiness for AlwaysReady {
    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The settings of the HTTP side, as the binary read them.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The shared secret the LMS steps send as a bearer token.
    pub shared_secret: SecretString,
    /// Where visitors reach this service (`https://certificates.example.org`, optionally with
    /// a path prefix): redirects and share links are built on it, never on the request's
    /// `Host`.
    pub public_base_url: String,
    /// The largest filter request body accepted, in bytes; bigger ones get 413.
    pub body_limit: usize,
    /// How long an emitted certificate's rendered page is kept and shown again without
    /// reading the database; a revocation or re-issue made by another process shows after at
    /// most this long. Zero keeps nothing.
    pub page_cache_ttl: Duration,
}

impl HttpSettings {
    /// 64 KiB: a filter request is well under 4 KiB.
    pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
    /// Two seconds: a page opened again and again is read once per two seconds, and an
    /// administrator's revocation shows almost at once.
    pub const DEFAULT_PAGE_CACHE_TTL: Duration = Duration::from_secs(2);

    /// Settings with the default body limit.
    pub fn new(shared_secret: SecretString, public_base_url: impl Into<String>) -> Self {
        Self {
            shared_secret,
            public_base_url: public_base_url.into(),
            body_limit: Self::DEFAULT_BODY_LIMIT,
            page_cache_ttl: Self::DEFAULT_PAGE_CACHE_TTL,
        }
    }
}

/// The state of the router: cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    service: CertificateService,
    secret: SecretString,
    base_url: String,
    body_limit: usize,
    readiness: Arc<dyn Readiness>,
    metrics: Metrics,
    templates: Templates,
    pages: PageCache,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("base_url", &self.inner.base_url)
            .field("body_limit", &self.inner.body_limit)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Checks the settings and compiles the page templates.
    ///
    /// # Errors
    /// [`Error::Domain`] with an `Invalid` naming `shared_secret`, `public_base_url` or
    /// `body_limit` when one is unusable; [`Error::Template`] if a template does not compile.
    pub fn new(
        service: CertificateService,
        settings: HttpSettings,
        readiness: Arc<dyn Readiness>,
        metrics: Metrics,
    ) -> Result<Self, Error> {
        if settings.shared_secret.expose_secret().trim().is_empty() {
            return Err(pok_domain::Error::invalid("shared_secret", "must not be empty").into());
        }
        if settings.body_limit == 0 {
            return Err(pok_domain::Error::invalid("body_limit", "must be at least 1 byte").into());
        }
        let base_url = public_base_url(&settings.public_base_url)?;
        Ok(Self {
            inner: Arc::new(Inner {
                service,
                secret: settings.shared_secret,
                base_url,
                body_limit: settings.body_limit,
                readiness,
                metrics,
                templates: Templates::new()?,
                pages: PageCache::new(settings.page_cache_ttl),
            }),
        })
    }

    /// The use cases.
    pub fn service(&self) -> &CertificateService {
        &self.inner.service
    }

    /// The metrics, shared with [`crate::MeteredGateway`].
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn secret(&self) -> &SecretString {
        &self.inner.secret
    }

    pub(crate) fn body_limit(&self) -> usize {
        self.inner.body_limit
    }

    pub(crate) fn readiness(&self) -> &dyn Readiness {
        self.inner.readiness.as_ref()
    }

    /// Emitted pages rendered recently.
    pub(crate) fn pages(&self) -> &PageCache {
        &self.inner.pages
    }

    pub(crate) fn templates(&self) -> &Templates {
        &self.inner.templates
    }

    /// The public page of a certificate: the only kind of URL this service redirects to.
    pub fn certificate_url(&self, id: CertificateId) -> String {
        format!("{}/certificates/{id}", self.inner.base_url)
    }

    /// The image of a certificate, through this service (which redirects to a fresh URL at
    /// POK).
    pub fn image_url(&self, id: CertificateId) -> String {
        format!("{}/certificates/{id}/image", self.inner.base_url)
    }
}

/// Validates the public base URL and drops a trailing `/`.
fn public_base_url(raw: &str) -> Result<String, Error> {
    let bad = |why: &str| -> Error {
        pok_domain::Error::invalid("public_base_url", format!("{why} (got {raw:?})")).into()
    };
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("must name a host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad("must not have a query, a fragment or credentials"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_normalised() {
        assert_eq!(
            public_base_url("https://cert.example.org/").unwrap(),
            "https://cert.example.org"
        );
        assert_eq!(
            public_base_url("http://localhost:8080/pok/").unwrap(),
            "http://localhost:8080/pok"
        );
        for bad in [
            "",
            "cert.example.org",
            "ftp://cert.example.org",
            "https://cert.example.org/?a=b",
            "javascript:alert(1)",
        ] {
            let e = public_base_url(bad).unwrap_err();
            assert_eq!(e.field(), Some("public_base_url"), "{bad}");
        }
    }
}
