//! The POK endpoints, in memory, checking what POK would check.
//!
//! Answers follow `pok-api.md`, with a few extra fields (`createdAt`, `total`, ...) so that
//! clients are exercised against unknown fields. Errors are NestJS-style
//! `{"statusCode", "message", "error"}` bodies whose `message` names the offending field.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use crate::fixtures::{self, FixtureTemplate};
use crate::state::{EMITTED, Inner, PROCESSING, StoredCredential, lock};

/// A refusal, as POK words it.
#[derive(Debug)]
pub(crate) struct Reject {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl Reject {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        let body = json!({
            "statusCode": self.status.as_u16(),
            "message": self.message,
            "error": self.status.canonical_reason().unwrap_or("Error"),
        });
        (self.status, Json(body)).into_response()
    }
}

type Sim = State<Arc<Inner>>;

/// `GET organization/me`.
pub(crate) async fn organization(State(sim): Sim) -> Json<Value> {
    let mut store = lock(&sim.store);
    let (mut emitted, mut processing) = (0, 0);
    let (polls, after) = (sim.emit_after_polls, sim.emit_after);
    for c in store.credentials.values_mut() {
        c.advance(polls, after);
        if c.state == EMITTED {
            emitted += 1;
        } else if c.state == PROCESSING {
            processing += 1;
        }
    }
    Json(json!({
        "id": "org-simulated",
        "name": fixtures::ORGANIZATION_NAME,
        "wallet": fixtures::ORGANIZATION_WALLET,
        "availableCredits": store.credits,
        "emittedCredentials": emitted,
        "sentCredentials": store.created,
        "draftCredentials": 0,
        "processingCredentials": processing,
        "plan": "simulated",
    }))
}

/// Reads `?limit=N` (default 10).
fn limit(query: &HashMap<String, String>) -> Result<usize, Reject> {
    match query.get("limit") {
        None => Ok(10),
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                Reject::bad_request(format!("limit must be a positive integer (got {raw:?})"))
            }),
    }
}

fn template_json(t: &FixtureTemplate) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "createdAt": "2026-01-15T09:00:00.000Z",
        "orientation": "landscape",
        "customParameters": t
            .params
            .iter()
            .map(|(id, label)| json!({ "id": id, "label": label, "type": "text" }))
            .collect::<Vec<_>>(),
    })
}

/// `GET template?limit=N`.
pub(crate) async fn templates(
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, Reject> {
    let n = limit(&query)?;
    let data: Vec<Value> = fixtures::TEMPLATES
        .iter()
        .take(n)
        .map(template_json)
        .collect();
    Ok(Json(
        json!({ "data": data, "total": fixtures::TEMPLATES.len(), "limit": n }),
    ))
}

/// `GET template/{id}`.
pub(crate) async fn template(Path(id): Path<String>) -> Result<Json<Value>, Reject> {
    fixtures::template(&id)
        .map(|t| Json(template_json(t)))
        .ok_or_else(|| Reject::not_found(format!("template {id} not found")))
}

/// `GET page?limit=N`.
pub(crate) async fn pages(
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, Reject> {
    let n = limit(&query)?;
    let data: Vec<Value> = fixtures::PAGES
        .iter()
        .take(n)
        .map(|(id, name)| json!({ "id": id, "name": name, "published": true }))
        .collect();
    Ok(Json(
        json!({ "data": data, "total": fixtures::PAGES.len(), "limit": n }),
    ))
}

fn parse_body(body: &Bytes) -> Result<Value, Reject> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Reject::bad_request(format!("the body is not valid JSON: {e}")))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(Reject::bad_request("the body must be a JSON object"))
    }
}

/// The non-empty string at a dotted path, or a 400 naming the path.
fn required<'a>(body: &'a Value, path: &str) -> Result<&'a str, Reject> {
    path.split('.')
        .try_fold(body, |v, key| v.get(key))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Reject::bad_request(format!("{path} is required")))
}

/// Checks that every parameter of the template has a value, keyed by label or id.
fn check_parameters(
    template: &FixtureTemplate,
    values: Option<&Value>,
    field: &str,
) -> Result<(), Reject> {
    let values = match values {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => return Err(Reject::bad_request(format!("{field} must be an object"))),
    };
    for (id, label) in template.params {
        let value = values.and_then(|m| m.get(*label).or_else(|| m.get(*id)));
        let filled = match value {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Number(_)) => true,
            _ => false,
        };
        if !filled {
            return Err(Reject::bad_request(format!(
                "{field}: missing custom parameter \"{label}\" (id {id}) required by template {}",
                template.id
            )));
        }
    }
    Ok(())
}

/// `POST template/preview`.
pub(crate) async fn preview(
    State(sim): Sim,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Reject> {
    let body = parse_body(&body)?;
    let id = required(&body, "id")?;
    let template = fixtures::template(id)
        .ok_or_else(|| Reject::not_found(format!("template {id} not found")))?;
    check_parameters(template, body.get("customParameters"), "customParameters")?;
    let base = sim.public_base(&headers);
    Ok(Json(
        json!({ "url": format!("{base}_sim/previews/{id}.png") }),
    ))
}

/// The credential as POK shows it (answer of issuing and of `GET credential/{id}/`).
pub(crate) fn credential_json(c: &StoredCredential, base: &str) -> Value {
    json!({
        "id": c.id,
        "state": c.state,
        "viewUrl": format!("{base}_sim/view/{}", c.id),
        "createdAt": c.created_at.to_rfc3339(),
        "updatedAt": c.updated_at.to_rfc3339(),
        "credential": c.body.get("credential").cloned().unwrap_or(Value::Null),
        "receiver": c.body.get("receiver").cloned().unwrap_or(Value::Null),
        "customization": c.body.get("customization").cloned().unwrap_or(Value::Null),
        "organization": { "name": fixtures::ORGANIZATION_NAME },
    })
}

/// Checks an issuing body the way POK would.
fn check_issue(body: &Value) -> Result<(), Reject> {
    let email = required(body, "receiver.email")?;
    if !email.contains('@') {
        return Err(Reject::bad_request(
            "receiver.email must be an e-mail address",
        ));
    }
    required(body, "receiver.firstName")?;
    let emission = required(body, "credential.emissionType")?;
    if !matches!(emission, "pok" | "blockchain") {
        return Err(Reject::bad_request(format!(
            "credential.emissionType must be pok or blockchain (got {emission:?})"
        )));
    }
    if let Some(format) = body["credential"].get("dateFormat").and_then(Value::as_str)
        && !matches!(format, "dd/MM/yyyy" | "MM/dd/yyyy")
    {
        return Err(Reject::bad_request(format!(
            "credential.dateFormat must be dd/MM/yyyy or MM/dd/yyyy (got {format:?})"
        )));
    }
    if let Some(tags) = body["credential"].get("tags")
        && !tags
            .as_array()
            .is_some_and(|t| t.iter().all(Value::is_string))
    {
        return Err(Reject::bad_request(
            "credential.tags must be a list of strings",
        ));
    }
    let template_id = required(body, "customization.template.id")?;
    let template = fixtures::template(template_id).ok_or_else(|| {
        Reject::bad_request(format!(
            "customization.template.id: template {template_id} does not exist"
        ))
    })?;
    match body["customization"].get("page") {
        None | Some(Value::Null) => {}
        Some(Value::String(page)) if fixtures::PAGES.iter().any(|(id, _)| id == page) => {}
        Some(other) => {
            return Err(Reject::bad_request(format!(
                "customization.page: page {other} does not exist"
            )));
        }
    }
    check_parameters(
        template,
        body["customization"]["template"].get("customParameters"),
        "customization.template.customParameters",
    )
}

/// `POST credential/`: checks the body, takes a credit, creates a `processing` credential.
pub(crate) async fn issue(
    State(sim): Sim,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Reject> {
    let body = parse_body(&body)?;
    check_issue(&body)?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let mut credential = StoredCredential {
        id: id.clone(),
        state: PROCESSING.to_owned(),
        forced: false,
        polls: 0,
        created: Instant::now(),
        created_at: now,
        updated_at: now,
        body,
    };
    credential.advance(sim.emit_after_polls, sim.emit_after);
    let answer = credential_json(&credential, &sim.public_base(&headers));
    {
        let mut store = lock(&sim.store);
        if store.credits <= 0 {
            return Err(Reject::new(
                StatusCode::PAYMENT_REQUIRED,
                "the organization has no credits left",
            ));
        }
        store.credits -= 1;
        store.created += 1;
        *store.by_tags.entry(credential.tag_pair()).or_default() += 1;
        store.credentials.insert(id, credential);
    }
    tracing::info!(endpoint = "issue", "credential created");
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `GET credential/{id}/`: counts a poll, which may move the credential along.
pub(crate) async fn credential(
    State(sim): Sim,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, Reject> {
    let mut store = lock(&sim.store);
    let c = store
        .credentials
        .get_mut(&id)
        .ok_or_else(|| Reject::not_found(format!("credential {id} not found")))?;
    c.polls = c.polls.saturating_add(1);
    c.advance(sim.emit_after_polls, sim.emit_after);
    Ok(Json(credential_json(c, &sim.public_base(&headers))))
}

/// `GET credential/{id}/decrypted-image/`: a short-lived URL of the image, once emitted.
pub(crate) async fn credential_image(
    State(sim): Sim,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, Reject> {
    let mut store = lock(&sim.store);
    let c = store
        .credentials
        .get_mut(&id)
        .ok_or_else(|| Reject::not_found(format!("credential {id} not found")))?;
    c.advance(sim.emit_after_polls, sim.emit_after);
    if c.state != EMITTED {
        return Err(Reject::new(
            StatusCode::CONFLICT,
            format!("credential {id} has no image yet (state {})", c.state),
        ));
    }
    let expires = Utc::now().timestamp() + 300;
    let base = sim.public_base(&headers);
    Ok(Json(json!({
        "location": format!("{base}_sim/images/{id}.png?expires={expires}"),
        "expiresIn": 300,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Value {
        json!({
            "credential": { "emissionType": "pok", "tags": ["StudentId:1"] },
            "receiver": { "email": "a@b.org", "firstName": "Ada" },
            "customization": { "template": { "id": fixtures::TEMPLATE_GRADED, "customParameters": { "grade": "90", "p-course": "CS" } } }
        })
    }

    #[test]
    fn parameters_are_accepted_by_label_or_id() {
        assert!(check_issue(&body()).is_ok());
    }

    #[test]
    fn each_missing_field_is_named() {
        for (path, expected) in [
            ("/receiver/email", "receiver.email"),
            ("/receiver/firstName", "receiver.firstName"),
            ("/credential/emissionType", "credential.emissionType"),
            ("/customization/template/id", "customization.template.id"),
            (
                "/customization/template/customParameters/grade",
                "\"grade\"",
            ),
        ] {
            let mut b = body();
            let (parent, key) = path.rsplit_once('/').unwrap();
            b.pointer_mut(parent)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(key);
            let err = check_issue(&b).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
            assert!(err.message.contains(expected), "{path}: {}", err.message);
        }
    }

    #[test]
    fn unknown_pages_and_bad_enumerations_are_refused() {
        let mut b = body();
        b["customization"]["page"] = json!("page-nope");
        assert!(
            check_issue(&b)
                .unwrap_err()
                .message
                .contains("customization.page")
        );
        let mut b = body();
        b["credential"]["emissionType"] = json!("paper");
        assert!(check_issue(&b).is_err());
        let mut b = body();
        b["customization"]["page"] = json!(fixtures::PAGE_MODERN);
        assert!(check_issue(&b).is_ok());
    }
}
