//! The simulator's own endpoints under `/_sim/`: faults, counters, forced states, credits, and
//! the images and pages that POK's URLs point to. None of them needs the API key: the
//! simulator is a test double, never to be exposed.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::Faults;
use crate::fixtures;
use crate::image::render_png;
use crate::pok::{Reject, credential_json};
use crate::state::{Inner, Stats, lock};

type Sim = State<Arc<Inner>>;

/// `GET /_sim/faults`.
pub(crate) async fn get_faults(State(sim): Sim) -> Json<Faults> {
    Json(sim.faults())
}

/// `PUT /_sim/faults`: replaces the faults (fields left out go back to "no fault").
pub(crate) async fn put_faults(State(sim): Sim, body: Bytes) -> Result<Json<Faults>, Reject> {
    let faults: Faults = serde_json::from_slice(&body).map_err(|e| {
        Reject::new(
            StatusCode::BAD_REQUEST,
            format!("not a fault document: {e}"),
        )
    })?;
    faults
        .validate()
        .map_err(|e| Reject::new(StatusCode::BAD_REQUEST, e))?;
    tracing::info!(?faults, "faults changed");
    sim.set_faults(faults.clone());
    Ok(Json(faults))
}

/// `GET /_sim/stats`.
pub(crate) async fn stats(State(sim): Sim) -> Json<Stats> {
    Json(sim.stats())
}

/// The body of `PUT /_sim/credentials/{id}/state`.
#[derive(Debug, Deserialize)]
pub(crate) struct ForcedState {
    state: String,
}

/// `PUT /_sim/credentials/{id}/state`: sets a credential's state for good (`aborted`,
/// `revoked`, or any string, known to POK or not).
pub(crate) async fn put_credential_state(
    State(sim): Sim,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(forced): Json<ForcedState>,
) -> Result<Json<Value>, Reject> {
    let mut store = lock(&sim.store);
    let c = store
        .credentials
        .get_mut(&id)
        .ok_or_else(|| Reject::new(StatusCode::NOT_FOUND, format!("credential {id} not found")))?;
    c.state = forced.state;
    c.forced = true;
    c.updated_at = chrono::Utc::now();
    Ok(Json(credential_json(c, &sim.public_base(&headers))))
}

/// The body of `PUT /_sim/credits`.
#[derive(Debug, Deserialize)]
pub(crate) struct Credits {
    credits: i64,
}

/// `PUT /_sim/credits`: sets the organisation's credits.
pub(crate) async fn put_credits(State(sim): Sim, Json(credits): Json<Credits>) -> Json<Value> {
    lock(&sim.store).credits = credits.credits;
    Json(json!({ "credits": credits.credits }))
}

fn png_response(seed: &str) -> Response {
    match render_png(seed) {
        Ok(png) => ([(CONTENT_TYPE, "image/png")], png).into_response(),
        Err(e) => Reject::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render the image: {e}"),
        )
        .into_response(),
    }
}

/// `GET /_sim/images/{id}.png`: a credential's image (what `location` points to).
pub(crate) async fn credential_png(State(sim): Sim, Path(file): Path<String>) -> Response {
    let id = file.strip_suffix(".png").unwrap_or(&file);
    let title = {
        let store = lock(&sim.store);
        match store.credentials.get(id) {
            Some(c) => c.body["credential"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            None => {
                return Reject::new(StatusCode::NOT_FOUND, format!("no image for {id}"))
                    .into_response();
            }
        }
    };
    png_response(&format!("{id}\n{title}"))
}

/// `GET /_sim/previews/{template}.png`: a template's preview (what preview `url`s point to).
pub(crate) async fn preview_png(Path(file): Path<String>) -> Response {
    let id = file.strip_suffix(".png").unwrap_or(&file);
    match fixtures::template(id) {
        Some(t) => png_response(&format!("preview\n{}", t.id)),
        None => Reject::new(StatusCode::NOT_FOUND, format!("no template {id}")).into_response(),
    }
}

/// `GET /_sim/view/{id}`: the public page a credential's `viewUrl` points to.
pub(crate) async fn view(State(sim): Sim, Path(id): Path<String>) -> Response {
    let store = lock(&sim.store);
    let Some(c) = store.credentials.get(&id) else {
        return Reject::new(StatusCode::NOT_FOUND, format!("credential {id} not found"))
            .into_response();
    };
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let title = escape(
        c.body["credential"]["title"]
            .as_str()
            .unwrap_or("Credential"),
    );
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>Issued by {org} (simulated). State: {state}.</p>\
         <img src=\"/_sim/images/{id}.png\" alt=\"{title}\"></body></html>",
        org = fixtures::ORGANIZATION_NAME,
        state = escape(&c.state),
        id = escape(&c.id),
    ))
    .into_response()
}
