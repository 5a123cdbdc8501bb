//! Prometheus metrics (`/metrics`, OpenMetrics text), and [`MeteredGateway`], which measures
//! every call to POK.
//!
//! | metric | labels | source |
//! | --- | --- | --- |
//! | `openedx_pok_filter_calls_total` | `endpoint`, `outcome` | filter middleware |
//! | `openedx_pok_filter_duration_seconds` | `endpoint` | filter middleware |
//! | `openedx_pok_certificates` | `state` | storage, read at scrape time |
//! | `openedx_pok_jobs` | `kind` | storage, read at scrape time |
//! | `openedx_pok_pok_calls_total` | `endpoint`, `outcome` | [`MeteredGateway`] |
//! | `openedx_pok_pok_call_duration_seconds` | `endpoint` | [`MeteredGateway`] |
//! | `openedx_pok_pok_available_credits` | – | [`MeteredGateway`], from `organization()`; absent until known |
//!
//! Labels hold only fixed words (no user, course or certificate ids), so series stay few.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pok_domain::lifecycle::StateKind;
use pok_domain::ports::{
    CredentialStatus, JobKind, Organization, PageSummary, PokGateway, PreviewRequest, Template,
    TemplateSummary,
};
use pok_domain::values::{CredentialId, TemplateId};
use pok_domain::{CertificateService, FailureClass, GatewayError};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::AppState;

/// The media type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    endpoint: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// From 1 ms to about 16 s: filter answers should be milliseconds, POK calls may take seconds.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

struct Inner {
    registry: Registry,
    filter_calls: Family<CallLabels, Counter>,
    filter_seconds: Family<EndpointLabels, Histogram>,
    certificates: Family<StateLabels, Gauge>,
    jobs: Family<KindLabels, Gauge>,
    pok_calls: Family<CallLabels, Counter>,
    pok_seconds: Family<EndpointLabels, Histogram>,
    pok_credits: Arc<Credits>,
}

/// POK's credit balance, encoded only once known: a made-up 0 would page someone.
#[derive(Debug, Default)]
struct Credits {
    known: AtomicBool,
    value: AtomicI64,
}

impl Collector for Credits {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if !self.known.load(Ordering::Relaxed) {
            return Ok(());
        }
        let gauge = ConstGauge::new(self.value.load(Ordering::Relaxed));
        let metric = encoder.encode_descriptor(
            "pok_available_credits",
            "Credits left at POK, as last reported by organization/me",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(metric)
    }
}

/// The service's metrics. Built once by the binary, shared by the router ([`AppState`]) and
/// the [`MeteredGateway`] around the POK client; clones share the same series.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every series under the `openedx_pok` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("openedx_pok");
        let filter_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "filter_calls",
            "Filter calls from the LMS, by endpoint and outcome",
            filter_calls.clone(),
        );
        let filter_seconds =
            Family::<EndpointLabels, Histogram>::new_with_constructor(latency_histogram as _);
        registry.register(
            "filter_duration_seconds",
            "Time to answer a filter call, by endpoint",
            filter_seconds.clone(),
        );
        let certificates = Family::<StateLabels, Gauge>::default();
        registry.register(
            "certificates",
            "Stored certificates by state",
            certificates.clone(),
        );
        let jobs = Family::<KindLabels, Gauge>::default();
        registry.register("jobs", "Queued jobs by kind", jobs.clone());
        let pok_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "pok_calls",
            "Calls to the POK API, by endpoint and outcome",
            pok_calls.clone(),
        );
        let pok_seconds =
            Family::<EndpointLabels, Histogram>::new_with_constructor(latency_histogram as _);
        registry.register(
            "pok_call_duration_seconds",
            "Time of a call to the POK API, by endpoint",
            pok_seconds.clone(),
        );
        let pok_credits = Arc::new(Credits::default());
        registry.register_collector(Box::new(pok_credits.clone()));
        Self {
            inner: Arc::new(Inner {
                registry,
                filter_calls,
                filter_seconds,
                certificates,
                jobs,
                pok_calls,
                pok_seconds,
                pok_credits,
            }),
        }
    }

    pub(crate) fn record_filter(
        &self,
        endpoint: &'static str,
        outcome: &'static str,
        took: Duration,
    ) {
        self.inner
            .filter_calls
            .get_or_create(&CallLabels { endpoint, outcome })
            .inc();
        self.inner
            .filter_seconds
            .get_or_create(&EndpointLabels { endpoint })
            .observe(took.as_secs_f64());
    }

    fn record_pok<T>(
        &self,
        endpoint: &'static str,
        result: &Result<T, GatewayError>,
        took: Duration,
    ) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) => match e.class {
                FailureClass::SafeToRetry => "safe_to_retry",
                FailureClass::OutcomeUnknown => "outcome_unknown",
                FailureClass::Permanent => "permanent",
            },
        };
        self.inner
            .pok_calls
            .get_or_create(&CallLabels { endpoint, outcome })
            .inc();
        self.inner
            .pok_seconds
            .get_or_create(&EndpointLabels { endpoint })
            .observe(took.as_secs_f64());
    }

    /// Records POK's credit balance.
    pub fn set_available_credits(&self, credits: i64) {
        self.inner
            .pok_credits
            .value
            .store(credits, Ordering::Relaxed);
        self.inner.pok_credits.known.store(true, Ordering::Relaxed);
    }

    /// Reads the certificate and job counts through the service's repositories. A storage
    /// failure is logged and leaves the previous values.
    async fn refresh(&self, service: &CertificateService) {
        match service.certificates().count_by_state().await {
            Ok(counts) => {
                for state in StateKind::ALL {
                    let n = counts
                        .iter()
                        .find(|(s, _)| *s == state)
                        .map_or(0, |(_, n)| *n);
                    self.inner
                        .certificates
                        .get_or_create(&StateLabels {
                            state: state.as_str(),
                        })
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not count certificates for metrics"),
        }
        match service.jobs().count_by_kind().await {
            Ok(counts) => {
                for kind in [JobKind::Issue, JobKind::Refresh] {
                    let n = counts
                        .iter()
                        .find(|(k, _)| *k == kind)
                        .map_or(0, |(_, n)| *n);
                    self.inner
                        .jobs
                        .get_or_create(&KindLabels {
                            kind: kind.as_str(),
                        })
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not count jobs for metrics"),
        }
    }

    /// The OpenMetrics text of every series.
    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.inner.registry)?;
        Ok(text)
    }
}

/// An outcome word a filter handler attaches to its answer, for the metrics middleware.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FilterOutcome(pub(crate) &'static str);

/// Middleware around the filter endpoints: counts calls by outcome and measures latency.
/// Answers without an outcome (refused before the handler, or failed) are named by status.
pub(crate) async fn track_filter(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let endpoint = crate::filters::endpoint_name(request.uri().path());
    let start = Instant::now();
    let response = next.run(request).await;
    let outcome = response
        .extensions()
        .get::<FilterOutcome>()
        .map_or_else(|| outcome_of(response.status()), |o| o.0);
    state
        .metrics()
        .record_filter(endpoint, outcome, start.elapsed());
    response
}

fn outcome_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::BAD_REQUEST => "malformed",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        s if s.is_server_error() => "error",
        s if s.is_client_error() => "refused",
        _ => "other",
    }
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    state.metrics().refresh(state.service()).await;
    match state.metrics().encode() {
        Ok(text) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS))],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not encode the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A [`PokGateway`] that passes every call to `G` and records its endpoint, outcome (`ok` or
/// the failure class) and latency, and the credit balance whenever `organization()` reports
/// one. The binary wraps the real client in it before giving it to the domain.
///
/// `G` may be unsized (`MeteredGateway<dyn PokGateway>`), and the wrapped gateway may be
/// shared ([`MeteredGateway::shared`]) so that a test can keep a handle on a fake.
#[derive(Debug)]
pub struct MeteredGateway<G: PokGateway + ?Sized> {
    inner: Arc<G>,
    metrics: Metrics,
}

impl<G: PokGateway> MeteredGateway<G> {
    /// Wraps `inner`, recording into `metrics`.
    pub fn new(inner: G, metrics: Metrics) -> Self {
        Self::shared(Arc::new(inner), metrics)
    }
}

impl<G: PokGateway + ?Sized> MeteredGateway<G> {
    /// Wraps a gateway that something else holds too.
    pub fn shared(inner: Arc<G>, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }

    /// The wrapped gateway.
    pub fn inner(&self) -> &G {
        &self.inner
    }

    async fn measure<T, F>(&self, endpoint: &'static str, call: F) -> Result<T, GatewayError>
    where
        F: Future<Output = Result<T, GatewayError>> + Send,
    {
        let start = Instant::now();
        let result = call.await;
        self.metrics.record_pok(endpoint, &result, start.elapsed());
        result
    }
}

#[async_trait]
impl<G: PokGateway + ?Sized> PokGateway for MeteredGateway<G> {
    async fn organization(&self) -> Result<Organization, GatewayError> {
        let org = self
            .measure("organization", self.inner.organization())
            .await?;
        if let Some(credits) = org.available_credits {
            self.metrics.set_available_credits(credits);
        }
        Ok(org)
    }

    async fn templates(&self, limit: u32) -> Result<Vec<TemplateSummary>, GatewayError> {
        self.measure("templates", self.inner.templates(limit)).await
    }

    async fn template(&self, id: &TemplateId) -> Result<Template, GatewayError> {
        self.measure("template", self.inner.template(id)).await
    }

    async fn pages(&self, limit: u32) -> Result<Vec<PageSummary>, GatewayError> {
        self.measure("pages", self.inner.pages(limit)).await
    }

    async fn preview(&self, request: &PreviewRequest) -> Result<String, GatewayError> {
        self.measure("preview", self.inner.preview(request)).await
    }

    async fn issue(
        &self,
        request: &pok_domain::issuing::IssueRequest,
    ) -> Result<CredentialStatus, GatewayError> {
        self.measure("issue", self.inner.issue(request)).await
    }

    async fn credential(&self, id: &CredentialId) -> Result<CredentialStatus, GatewayError> {
        self.measure("credential", self.inner.credential(id)).await
    }

    async fn credential_image(&self, id: &CredentialId) -> Result<String, GatewayError> {
        self.measure("credential_image", self.inner.credential_image(id))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pok_domain::fakes::{FakePok, PokCall};

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn the_metered_gateway_counts_outcomes_and_credits() {
        let metrics = Metrics::new();
        let pok = FakePok::new();
        pok.fail(
            PokCall::CredentialImage,
            GatewayError::retryable("503", None),
        );
        let gw = MeteredGateway::new(pok, metrics.clone());
        assert!(!metrics.encode().unwrap().contains("pok_available_credits "));
        block_on(gw.organization()).unwrap();
        let cred = CredentialId::parse("c").unwrap();
        block_on(gw.credential_image(&cred)).unwrap_err();
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("openedx_pok_pok_available_credits 100"),
            "{text}"
        );
        assert!(
            text.contains(r#"openedx_pok_pok_calls_total{endpoint="organization",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"openedx_pok_pok_calls_total{endpoint="credential_image",outcome="safe_to_retry"} 1"#
            ),
            "{text}"
        );
    }
}
