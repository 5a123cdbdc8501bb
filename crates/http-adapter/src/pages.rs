//! Certificate pages: what a [`RenderDecision`] looks like in HTML, for the render filter
//! (which hands the page to the LMS) and for this service's public routes
//! (`/certificates/{id}` and its image).
//!
//! Templates are compiled into the binary and auto-escape everything they print. Pages show
//! the learner's name only on the certificate itself (which the learner shares), and no
//! e-mail or user id anywhere. Emitted pages never call POK: the image goes through our own
//! `/certificates/{id}/image`, which fetches a fresh URL when a browser asks for it.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, context};
use pok_domain::filters::{PublicReason, RenderDecision};
use pok_domain::{Certificate, CertificateId};

use crate::page_cache::PageKey;
use crate::problem::{Error, Reference};
use crate::share::{Shared, is_web_url, share_links};
use crate::state::AppState;
pub(crate) use crate::translations::Language;

/// The content type of every page.
pub(crate) const HTML: &str = "text/html; charset=utf-8";

/// Pages allow images from anywhere (POK's image host is not ours to know) and inline
/// styles, and nothing else: no scripts, no forms, no frames.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/// The templates, by name, compiled into the binary.
const TEMPLATES: [(&str, &str); 6] = [
    ("base.html", include_str!("../templates/base.html")),
    ("emitted.html", include_str!("../templates/emitted.html")),
    (
        "processing.html",
        include_str!("../templates/processing.html"),
    ),
    ("preview.html", include_str!("../templates/preview.html")),
    ("revoked.html", include_str!("../templates/revoked.html")),
    ("error.html", include_str!("../templates/error.html")),
];

/// The compiled page templates.
pub(crate) struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles every template, with HTML escaping on and undefined values as errors.
    pub(crate) fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    fn render(&self, name: &str, ctx: &minijinja::Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

/// A rendered page.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    /// Its HTTP status.
    pub status: StatusCode,
    /// The HTML.
    pub html: String,
    /// When to look again (processing pages).
    pub retry_after: Option<Duration>,
    /// What kind of page, for metrics and logs.
    pub kind: &'static str,
}

/// What to answer for a certificate page.
#[derive(Debug, Clone)]
pub(crate) enum View {
    /// Not ours to show: the LMS renders its own page.
    NotOurs,
    /// The certificate was re-issued: go to the new one's public page.
    Redirect(CertificateId),
    /// This page.
    Page(Page),
}

/// Turns a decision into a page. Only a preview calls POK; if that fails, the error page.
pub(crate) async fn view(state: &AppState, decision: RenderDecision, language: Language) -> View {
    let page = match decision {
        RenderDecision::NotOurs => return View::NotOurs,
        RenderDecision::Moved(id) => return View::Redirect(id),
        RenderDecision::Emitted(cert) => emitted(state, &cert, language),
        RenderDecision::Processing { retry_after, .. } => processing(state, retry_after, language),
        RenderDecision::Preview(binding) => match state.service().preview_url(&binding).await {
            Ok(url) if is_web_url(&url) => preview(state, &url, language),
            Ok(_) => Err(Error::UnusableAnswer(
                "the preview URL is not an http(s) URL".into(),
            )),
            Err(e) => Err(e.into()),
        },
        RenderDecision::Revoked(cert) => revoked(state, &cert, language),
        RenderDecision::Error(reason) => Ok(reason_page(state, reason, language)),
    };
    View::Page(page.unwrap_or_else(|e| error_page(state, &e, language)))
}

fn context_base(language: Language) -> (minijinja::Value, minijinja::Value) {
    (
        minijinja::Value::from(language.tag()),
        language.texts_value(),
    )
}

fn emitted(state: &AppState, cert: &Certificate, language: Language) -> Result<Page, Error> {
    let (lang, t) = context_base(language);
    let receiver = &cert.request.receiver;
    let name = format!("{} {}", receiver.first_name, receiver.last_name)
        .trim()
        .to_owned();
    let issued_at = cert.lifecycle().emitted_at.unwrap_or(cert.updated_at);
    let page_url = state.certificate_url(cert.id);
    let id = cert.id.to_string();
    let share = share_links(&Shared {
        page_url: &page_url,
        title: &cert.request.title,
        issuer: &cert.request.emitter,
        issued_at,
        certificate_id: &id,
        text: language
            .texts()
            .get("share_text")
            .copied()
            .unwrap_or_default(),
    });
    let view_url = cert
        .lifecycle()
        .view_url
        .as_deref()
        .filter(|u| is_web_url(u));
    let html = state.templates().render(
        "emitted.html",
        &context! {
            lang, t,
            name,
            course => cert.request.title,
            issuer => cert.request.emitter,
            issued_on => language.date(issued_at),
            image_url => state.image_url(cert.id),
            page_url,
            view_url,
            share,
        },
    )?;
    Ok(Page {
        status: StatusCode::OK,
        html,
        retry_after: None,
        kind: "emitted",
    })
}

fn processing(state: &AppState, retry_after: Duration, language: Language) -> Result<Page, Error> {
    let (lang, t) = context_base(language);
    let seconds = retry_after.as_secs().max(1);
    let html = state
        .templates()
        .render("processing.html", &context! { lang, t, seconds })?;
    Ok(Page {
        status: StatusCode::OK,
        html,
        retry_after: Some(Duration::from_secs(seconds)),
        kind: "processing",
    })
}

fn preview(state: &AppState, preview_url: &str, language: Language) -> Result<Page, Error> {
    let (lang, t) = context_base(language);
    let html = state
        .templates()
        .render("preview.html", &context! { lang, t, preview_url })?;
    Ok(Page {
        status: StatusCode::OK,
        html,
        retry_after: None,
        kind: "preview",
    })
}

fn revoked(state: &AppState, cert: &Certificate, language: Language) -> Result<Page, Error> {
    let (lang, t) = context_base(language);
    let html = state.templates().render(
        "revoked.html",
        &context! { lang, t, course => cert.request.title, issuer => cert.request.emitter },
    )?;
    Ok(Page {
        status: StatusCode::GONE,
        html,
        retry_after: None,
        kind: "revoked",
    })
}

/// The error page for a reason the domain gives (delayed, could not issue, not found). The
/// reference is logged with the reason, so that support can find the certificate's story.
fn reason_page(state: &AppState, reason: PublicReason, language: Language) -> Page {
    let reference = Reference::new();
    let status = StatusCode::from_u16(reason.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let key = match reason {
        PublicReason::Delayed => "delayed",
        PublicReason::CouldNotIssue => "could_not_issue",
        PublicReason::NotFound => "not_found",
    };
    if status.is_server_error() {
        tracing::warn!(%reference, reason = key, "certificate page shows an error");
    } else {
        tracing::info!(%reference, reason = key, "certificate page shows an error");
    }
    render_error(state, status, key, reference, language)
}

/// The error page for a failure (ours: 5xx; the visitor's: 4xx), logged through
/// [`Error::log`] with the same reference the page shows.
pub(crate) fn error_page(state: &AppState, error: &Error, language: Language) -> Page {
    let reference = error.log();
    let status = error.status();
    let key = if status == StatusCode::NOT_FOUND {
        "not_found"
    } else if status.is_server_error() {
        "ours"
    } else {
        "request"
    };
    render_error(state, status, key, reference, language)
}

fn render_error(
    state: &AppState,
    status: StatusCode,
    key: &str,
    reference: Reference,
    language: Language,
) -> Page {
    let (lang, t) = context_base(language);
    let texts = language.texts();
    let title = texts
        .get(format!("{key}_title").as_str())
        .copied()
        .unwrap_or_default();
    let body = texts
        .get(format!("{key}_body").as_str())
        .copied()
        .unwrap_or_default();
    let html = state
        .templates()
        .render(
            "error.html",
            &context! { lang, t, title, body, reference => reference.to_string() },
        )
        .unwrap_or_else(|e| {
            // The error template itself failed: a bare page that still carries the reference.
            tracing::error!(%reference, error = %e, "the error template failed");
            format!(
                "<!doctype html><html lang=\"{}\"><meta charset=\"utf-8\"><title>{title}</title><h1>{title}</h1><p>{body}</p><p>{reference}</p></html>",
                language.tag()
            )
        });
    Page {
        status,
        html,
        retry_after: None,
        kind: "error",
    }
}

/// The language of a visitor of a public page.
fn visitor_language(headers: &HeaderMap) -> Language {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Language::choose(None, accept)
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        page_response(self.status, self.html, self.retry_after)
    }
}

/// A page as a response of our own, with the headers pages need.
fn page_response(
    status: StatusCode,
    html: impl Into<Body>,
    retry_after: Option<Duration>,
) -> Response {
    let mut response = (status, html.into()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(HTML));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    if let Some(after) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs()));
    }
    response
}

/// A redirect to a URL we built or checked.
fn redirect(url: &str, cache: &'static str) -> Result<Response, Error> {
    let location = HeaderValue::from_str(url)
        .map_err(|_| Error::UnusableAnswer("a redirect URL is not a valid header".into()))?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
    )
        .into_response())
}

/// `GET /certificates/{id}`: the public page of a certificate.
pub(crate) async fn certificate_page(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Response {
    let language = visitor_language(&headers);
    let Ok(id) = CertificateId::parse(&raw) else {
        return reason_page(&state, PublicReason::NotFound, language).into_response();
    };
    let key = PageKey::Public(id, language);
    let now = state.service().now();
    if let Some(html) = state.pages().get(&key, now) {
        return page_response(StatusCode::OK, html, None);
    }
    let view = match state.service().render_public(id).await {
        Ok(decision) => view(&state, decision, language).await,
        Err(e) => View::Page(error_page(&state, &e.into(), language)),
    };
    match view {
        View::Page(page) if state.pages().wants(&page) => {
            let html = Bytes::from(page.html);
            state.pages().keep(key, html.clone(), now);
            page_response(page.status, html, page.retry_after)
        }
        View::Page(page) => page.into_response(),
        View::Redirect(next) => redirect(&state.certificate_url(next), "no-cache")
            .unwrap_or_else(|e| error_page(&state, &e, language).into_response()),
        View::NotOurs => reason_page(&state, PublicReason::NotFound, language).into_response(),
    }
}

/// `GET /certificates/{id}/image`: a redirect to a fresh image URL at POK (its URLs expire,
/// so the redirect is never cached); 404 unless the certificate is emitted.
pub(crate) async fn certificate_image(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Response {
    let language = visitor_language(&headers);
    let Ok(id) = CertificateId::parse(&raw) else {
        return reason_page(&state, PublicReason::NotFound, language).into_response();
    };
    let result = match state.service().image_url(id).await {
        Ok(url) if is_web_url(&url) => redirect(&url, "no-store"),
        Ok(_) => Err(Error::UnusableAnswer(
            "the image URL is not an http(s) URL".into(),
        )),
        Err(e) => Err(e.into()),
    };
    result.unwrap_or_else(|e| error_page(&state, &e, language).into_response())
}
