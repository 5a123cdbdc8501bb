//! A router over fakes, and request helpers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use pok_domain::binding::CourseBinding;
use pok_domain::fakes::{FakePok, FixedClock, MemoryStore};
use pok_domain::filters::IssuingSettings;
use pok_domain::lifecycle::Actor;
use pok_domain::ports::{BindingRepository, CustomParameter, JobQueue, Template};
use pok_domain::values::{CourseKey, TemplateId};
use pok_domain::{CertificateId, CertificateService};
use pok_http::{AppState, HttpSettings, MeteredGateway, Metrics, Readiness};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const SECRET: &str = "test-secret-0123456789";
pub const BASE: &str = "https://certificates.example.org";
pub const COURSE: &str = "course-v1:OrgX+CS101+2026";
pub const TEMPLATE: &str = "tpl-1";

/// A readiness check the test can switch.
#[derive(Default)]
pub struct Switch(AtomicBool);

impl Switch {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
}

#[async_trait]
impl Readiness for Switch {
    async fn check(&self) -> Result<(), String> {
        if self.0.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("database unreachable at db.internal:5432".into())
        }
    }
}

/// The router over fakes, with handles on each fake.
pub struct TestApp {
    pub router: Router,
    pub store: Arc<MemoryStore>,
    pub pok: Arc<FakePok>,
    pub clock: Arc<FixedClock>,
    pub service: CertificateService,
    pub readiness: Arc<Switch>,
}

/// An answer, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

impl TestApp {
    pub fn new() -> Self {
        Self::with_body_limit(HttpSettings::DEFAULT_BODY_LIMIT)
    }

    pub fn with_body_limit(body_limit: usize) -> Self {
        let store = Arc::new(MemoryStore::new());
        let pok = Arc::new(FakePok::new());
        let clock = Arc::new(FixedClock::default());
        let metrics = Metrics::new();
        let gateway = MeteredGateway::shared(pok.clone(), metrics.clone());
        let service = CertificateService::new(
            store.clone(),
            store.clone(),
            store.clone(),
            Arc::new(gateway),
            clock.clone(),
            IssuingSettings::default(),
        );
        let readiness = Arc::new(Switch::default());
        readiness.set(true);
        let mut settings = HttpSettings::new(SECRET.into(), format!("{BASE}/"));
        settings.body_limit = body_limit;
        let state = AppState::new(service.clone(), settings, readiness.clone(), metrics).unwrap();
        Self {
            router: pok_http::router(state),
            store,
            pok,
            clock,
            service,
            readiness,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    /// A filter call with the right token.
    pub async fn post(&self, path: &str, body: impl Into<String>) -> Answer {
        self.post_with(path, body, Some(&format!("Bearer {SECRET}")))
            .await
    }

    pub async fn post_with(
        &self,
        path: &str,
        body: impl Into<String>,
        authorization: Option<&str>,
    ) -> Answer {
        let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(a) = authorization {
            request = request.header(header::AUTHORIZATION, a);
        }
        self.send(request.body(Body::from(body.into())).unwrap())
            .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.get_with(path, &[]).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = Request::get(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// Links the course to a template POK knows (with one custom parameter).
    pub async fn link_course(&self) {
        self.pok.add_template(Template {
            id: TemplateId::parse(TEMPLATE).unwrap(),
            name: "Course certificate".into(),
            custom_parameters: vec![CustomParameter {
                id: "p1".into(),
                label: "course".into(),
            }],
        });
        let binding = CourseBinding::new(
            CourseKey::parse(COURSE).unwrap(),
            TemplateId::parse(TEMPLATE).unwrap(),
        );
        BindingRepository::upsert(self.store.as_ref(), &binding)
            .await
            .unwrap();
    }

    /// Requests a certificate through the creation filter; returns its id.
    pub async fn request_certificate(&self, body: &Value) -> CertificateId {
        let answer = self
            .post(pok_http::filters::CREATION_PATH, body.to_string())
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let json = answer.json();
        assert_eq!(json["outcome"], "enqueued", "{json}");
        CertificateId::parse(json["certificate_id"].as_str().unwrap()).unwrap()
    }

    /// Runs every due job once, as the worker would.
    pub async fn run_jobs(&self) {
        let jobs = self
            .store
            .claim("test", self.clock_now(), Duration::from_secs(60), 100)
            .await
            .unwrap();
        for job in jobs {
            self.service.process_job(&job).await.unwrap();
        }
    }

    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        pok_domain::ports::Clock::now(self.clock.as_ref())
    }

    /// A certificate requested and issued (POK answers `emitted`).
    pub async fn emitted_certificate(&self) -> CertificateId {
        self.link_course().await;
        let id = self.request_certificate(&creation_body()).await;
        self.run_jobs().await;
        id
    }

    /// A certificate revoked by an administrator.
    pub async fn revoked_certificate(&self) -> CertificateId {
        let id = self.emitted_certificate().await;
        self.service
            .revoke(id, "issued by mistake", Actor::Admin("root".into()))
            .await
            .unwrap();
        id
    }
}

/// A complete creation request for user 42 in the linked course.
pub fn creation_body() -> Value {
    json!({
        "user": {
            "id": 42,
            "username": "ada",
            "email": "ada@example.org",
            "full_name": "Ada Lovelace",
            "first_name": "",
            "last_name": "",
            "language": "en"
        },
        "course": {
            "key": COURSE,
            "title": "Introduction to Computer Science",
            "signatories": [{ "name": "Grace Hopper", "title": "Dean", "organization": "OrgX" }]
        },
        "mode": "verified",
        "status": "downloadable",
        "grade": { "percent": 0.93, "passed": true },
        "generation_mode": "self",
        "accept_language": "en-US,en;q=0.9",
        "platform": { "name": "My Campus", "language": "en" }
    })
}

/// A render request for user 42 in the course.
pub fn render_body(language: &str) -> Value {
    json!({
        "course_key": COURSE,
        "user_id": 42,
        "verify_uuid": "0123456789abcdef",
        "language": language,
        "accept_language": null,
        "platform_name": "My Campus"
    })
}
