//! Everything this crate assumes about POK's API, in one place: the paths, the request bodies
//! and the answer shapes.
//!
//! POK has no public reference (see `pok-api.md` in the shared notes): every path and field
//! here is "probably like this". When POK turns out to differ, this is the only module to
//! change. The rest of the crate sees [`Call`]s, the domain's types, and `Result<_, String>`
//! decoding errors.
//!
//! Tolerance rules for answers: unknown fields are ignored; optional fields may be missing or
//! `null`; ids may be strings or numbers; counts may be numbers or numeric strings; unknown
//! credential states are kept as they are. A field the domain cannot do without (a
//! credential's `id`, an image's `location`) missing makes the answer undecodable.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::SecondsFormat;
use pok_domain::issuing::IssueRequest;
use pok_domain::ports::{
    CredentialStatus, CustomParameter, Organization, PageSummary, PreviewRequest, Template,
    TemplateSummary,
};
use pok_domain::values::{CredentialId, PageId, TemplateId};
use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The calls the client makes, named for logs and metrics (low cardinality: no ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Organization,
    Templates,
    Template,
    Pages,
    Preview,
    Issue,
    Credential,
    CredentialImage,
}

impl Endpoint {
    /// The name in logs: POK's path with `{id}` in place of ids.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Organization => "organization/me",
            Self::Templates => "template",
            Self::Template => "template/{id}",
            Self::Pages => "page",
            Self::Preview => "template/preview",
            Self::Issue => "credential/",
            Self::Credential => "credential/{id}/",
            Self::CredentialImage => "credential/{id}/decrypted-image/",
        }
    }

    fn method(self) -> Method {
        match self {
            Self::Preview | Self::Issue => Method::POST,
            _ => Method::GET,
        }
    }
}

/// One request to POK, before the base URL is put in front of it.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// Which call, for logs and for the choice of retry policy.
    pub(crate) endpoint: Endpoint,
    /// The path after the base URL, one segment each; a final `""` makes a trailing slash.
    pub(crate) segments: Vec<String>,
    /// Query parameters.
    pub(crate) query: Vec<(&'static str, String)>,
}

impl Call {
    fn new(endpoint: Endpoint, segments: &[&str]) -> Self {
        Self {
            endpoint,
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
        }
    }

    /// The HTTP method.
    pub(crate) fn method(&self) -> Method {
        self.endpoint.method()
    }

    /// `GET organization/me`.
    pub(crate) fn organization() -> Self {
        Self::new(Endpoint::Organization, &["organization", "me"])
    }

    /// `GET template?limit=N`.
    pub(crate) fn templates(limit: u32) -> Self {
        let mut call = Self::new(Endpoint::Templates, &["template"]);
        call.query.push(("limit", limit.to_string()));
        call
    }

    /// `GET template/{id}`.
    pub(crate) fn template(id: &TemplateId) -> Self {
        Self::new(Endpoint::Template, &["template", id.as_str()])
    }

    /// `GET page?limit=N`.
    pub(crate) fn pages(limit: u32) -> Self {
        let mut call = Self::new(Endpoint::Pages, &["page"]);
        call.query.push(("limit", limit.to_string()));
        call
    }

    /// `POST template/preview`.
    pub(crate) fn preview() -> Self {
        Self::new(Endpoint::Preview, &["template", "preview"])
    }

    /// `POST credential/`.
    pub(crate) fn issue() -> Self {
        Self::new(Endpoint::Issue, &["credential", ""])
    }

    /// `GET credential/{id}/`.
    pub(crate) fn credential(id: &CredentialId) -> Self {
        Self::new(Endpoint::Credential, &["credential", id.as_str(), ""])
    }

    /// `GET credential/{id}/decrypted-image/`.
    pub(crate) fn credential_image(id: &CredentialId) -> Self {
        Self::new(
            Endpoint::CredentialImage,
            &["credential", id.as_str(), "decrypted-image", ""],
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limiting.

/// How long every call of the client waits after a 429 that came without `Retry-After`.
///
/// POK documents neither its limit nor whether it sends `Retry-After`. A second is the window
/// of a per-second limit: waiting it out ends the refusal without idling long. (That a 429
/// means POK did nothing, so that even issuing may be sent again after one, is assumed by
/// [`PokError::class`](crate::PokError::class).)
pub(crate) const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------------
// Request bodies.

/// The body of `POST credential/`, exactly as the existing Open edX plugin sends it.
#[derive(Debug, Serialize)]
pub(crate) struct IssueBody<'a> {
    credential: CredentialBody<'a>,
    receiver: ReceiverBody<'a>,
    customization: CustomizationBody<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialBody<'a> {
    tags: &'a [String],
    /// The learner does not have to accept the credential at POK before it is emitted.
    skip_acceptance: bool,
    emission_type: &'a str,
    date_format: &'a str,
    emission_date: String,
    title: &'a str,
    emitter: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReceiverBody<'a> {
    language_tag: &'a str,
    identification: &'a str,
    email: &'a str,
    first_name: &'a str,
    last_name: &'a str,
}

#[derive(Debug, Serialize)]
struct CustomizationBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<&'a str>,
    template: TemplateRef<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplateRef<'a> {
    id: &'a str,
    custom_parameters: &'a BTreeMap<String, String>,
}

impl<'a> IssueBody<'a> {
    /// Maps the domain's request onto POK's body.
    pub(crate) fn new(request: &'a IssueRequest) -> Self {
        Self {
            credential: CredentialBody {
                tags: &request.tags,
                skip_acceptance: true,
                emission_type: request.emission_type.as_str(),
                date_format: request.date_format.as_str(),
                emission_date: request
                    .emission_date
                    .to_rfc3339_opts(SecondsFormat::Secs, true),
                title: &request.title,
                emitter: &request.emitter,
            },
            receiver: ReceiverBody {
                language_tag: request.receiver.language.as_str(),
                identification: &request.receiver.identification,
                email: request.receiver.email.as_str(),
                first_name: &request.receiver.first_name,
                last_name: &request.receiver.last_name,
            },
            customization: CustomizationBody {
                page: request.page_id.as_ref().map(PageId::as_str),
                template: TemplateRef {
                    id: request.template_id.as_str(),
                    custom_parameters: &request.custom_parameters,
                },
            },
        }
    }
}

/// The body of `POST template/preview`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreviewBody<'a> {
    id: &'a str,
    custom_parameters: &'a BTreeMap<String, String>,
}

impl<'a> PreviewBody<'a> {
    /// Maps the domain's preview request onto POK's body.
    pub(crate) fn new(request: &'a PreviewRequest) -> Self {
        Self {
            id: request.template_id.as_str(),
            custom_parameters: &request.custom_parameters,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Answers.

/// Accepts a string or a number where POK sends an id.
fn lenient_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// Accepts a number or a numeric string where POK sends a count; anything else is "unknown".
fn lenient_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Accepts a string; anything else (a number, an object) is treated as missing.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        _ => None,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrganizationWire {
    #[serde(default, deserialize_with = "lenient_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    wallet: Option<String>,
    #[serde(default, deserialize_with = "lenient_count")]
    available_credits: Option<i64>,
    #[serde(default, deserialize_with = "lenient_count")]
    emitted_credentials: Option<i64>,
    #[serde(default, deserialize_with = "lenient_count")]
    sent_credentials: Option<i64>,
    #[serde(default, deserialize_with = "lenient_count")]
    draft_credentials: Option<i64>,
    #[serde(default, deserialize_with = "lenient_count")]
    processing_credentials: Option<i64>,
}

/// A listing: `{ "data": [...] }`, or a bare array should POK ever send one.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Listing {
    Wrapped { data: Vec<Value> },
    Bare(Vec<Value>),
}

#[derive(Debug, Deserialize)]
struct SummaryWire {
    #[serde(default, deserialize_with = "lenient_id")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TemplateWire {
    #[serde(default, deserialize_with = "lenient_id")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    name: Option<String>,
    #[serde(default)]
    custom_parameters: Option<Vec<ParameterWire>>,
}

#[derive(Debug, Deserialize)]
struct ParameterWire {
    #[serde(default, deserialize_with = "lenient_id")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialWire {
    #[serde(default, deserialize_with = "lenient_id")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    state: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    view_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PreviewWire {
    #[serde(default, deserialize_with = "lenient_string")]
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ImageWire {
    #[serde(default, deserialize_with = "lenient_string")]
    location: Option<String>,
}

/// The state recorded when POK's answer has none: it means "not yet" to the domain.
pub(crate) const UNKNOWN_STATE: &str = "unknown";

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("not the expected JSON: {e}"))
}

fn non_empty(field: &str, value: Option<String>) -> Result<String, String> {
    value
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("the answer has no `{field}`"))
}

/// Decodes `GET organization/me`.
pub(crate) fn decode_organization(body: &[u8]) -> Result<Organization, String> {
    let w: OrganizationWire = parse_json(body)?;
    Ok(Organization {
        name: w.name.unwrap_or_default(),
        wallet: w.wallet,
        available_credits: w.available_credits,
        emitted_credentials: w.emitted_credentials,
        sent_credentials: w.sent_credentials,
        draft_credentials: w.draft_credentials,
        processing_credentials: w.processing_credentials,
    })
}

/// Decodes a listing into `(id, name)` pairs. Entries without a usable id are skipped (and
/// counted, for a warning), so that one odd entry does not hide the others.
fn decode_listing(body: &[u8]) -> Result<(Vec<(String, String)>, usize), String> {
    let items = match parse_json::<Listing>(body)? {
        Listing::Wrapped { data } | Listing::Bare(data) => data,
    };
    let mut skipped = 0;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match serde_json::from_value::<SummaryWire>(item) {
            Ok(SummaryWire { id: Some(id), name }) => out.push((id, name.unwrap_or_default())),
            _ => skipped += 1,
        }
    }
    Ok((out, skipped))
}

/// Decodes `GET template?limit=N`; the second value counts entries skipped as unusable.
pub(crate) fn decode_templates(body: &[u8]) -> Result<(Vec<TemplateSummary>, usize), String> {
    let (items, mut skipped) = decode_listing(body)?;
    let mut out = Vec::with_capacity(items.len());
    for (id, name) in items {
        match TemplateId::parse(&id) {
            Ok(id) => out.push(TemplateSummary { id, name }),
            Err(_) => skipped += 1,
        }
    }
    Ok((out, skipped))
}

/// Decodes `GET page?limit=N`; the second value counts entries skipped as unusable.
pub(crate) fn decode_pages(body: &[u8]) -> Result<(Vec<PageSummary>, usize), String> {
    let (items, mut skipped) = decode_listing(body)?;
    let mut out = Vec::with_capacity(items.len());
    for (id, name) in items {
        match PageId::parse(&id) {
            Ok(id) => out.push(PageSummary { id, name }),
            Err(_) => skipped += 1,
        }
    }
    Ok((out, skipped))
}

/// Decodes `GET template/{id}`. A parameter without a label is known by its id, and the
/// other way round; one with neither is useless and dropped.
pub(crate) fn decode_template(body: &[u8], asked: &TemplateId) -> Result<Template, String> {
    let w: TemplateWire = parse_json(body)?;
    let id = match w.id {
        Some(id) => TemplateId::parse(&id).map_err(|e| e.to_string())?,
        None => asked.clone(),
    };
    let custom_parameters = w
        .custom_parameters
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| match (p.id, p.label) {
            (Some(id), Some(label)) => Some(CustomParameter { id, label }),
            (Some(only), None) | (None, Some(only)) => Some(CustomParameter {
                id: only.clone(),
                label: only,
            }),
            (None, None) => None,
        })
        .collect();
    Ok(Template {
        id,
        name: w.name.unwrap_or_default(),
        custom_parameters,
    })
}

/// Decodes `POST template/preview`.
pub(crate) fn decode_preview(body: &[u8]) -> Result<String, String> {
    non_empty("url", parse_json::<PreviewWire>(body)?.url)
}

/// Decodes a credential (the answer of `POST credential/` and `GET credential/{id}/`),
/// keeping POK's whole answer.
pub(crate) fn decode_credential(body: &[u8]) -> Result<CredentialStatus, String> {
    let raw: Value = parse_json(body)?;
    let w: CredentialWire =
        serde_json::from_value(raw.clone()).map_err(|e| format!("not a credential: {e}"))?;
    let id = CredentialId::parse(&non_empty("id", w.id)?).map_err(|e| e.to_string())?;
    let state = w
        .state
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| UNKNOWN_STATE.to_owned());
    Ok(CredentialStatus {
        id,
        state,
        view_url: w.view_url.filter(|u| !u.trim().is_empty()),
        raw,
    })
}

/// Decodes `GET credential/{id}/decrypted-image/`.
pub(crate) fn decode_image(body: &[u8]) -> Result<String, String> {
    non_empty("location", parse_json::<ImageWire>(body)?.location)
}

/// POK's explanation in an error answer: `message` (a string or, as NestJS validation sends
/// it, a list of strings), else `detail`, `error` or `errors`. `None` when the body is not
/// JSON or has none of them.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let text = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Array(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .filter_map(|i| match i {
                        Value::String(s) => Some(s.clone()),
                        Value::Object(o) => {
                            o.get("message").and_then(Value::as_str).map(str::to_owned)
                        }
                        _ => None,
                    })
                    .collect();
                (!parts.is_empty()).then(|| parts.join("; "))
            }
            Value::Object(o) => o.get("message").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        }
    };
    ["message", "detail", "error", "errors"]
        .iter()
        .find_map(|k| value.get(k).and_then(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pok_domain::issuing::Receiver;
    use pok_domain::values::{DateFormat, Email, EmissionType, LanguageTag};
    use serde_json::json;

    fn request(page: Option<&str>) -> IssueRequest {
        IssueRequest {
            template_id: TemplateId::parse("tpl-1").unwrap(),
            page_id: page.map(|p| PageId::parse(p).unwrap()),
            emission_type: EmissionType::Pok,
            date_format: DateFormat::DayMonthYear,
            emission_date: "2026-11-25T10:00:00Z".parse().unwrap(),
            title: "Introduction to Computer Science".into(),
            emitter: "OrgX".into(),
            tags: vec![
                "StudentId:42".into(),
                "CourseId:course-v1:OrgX+CS101+2026".into(),
                "Mode:verified".into(),
            ],
            custom_parameters: BTreeMap::from([("grade".into(), "93".into())]),
            receiver: Receiver {
                email: Email::parse("ada@example.org").unwrap(),
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                language: LanguageTag::parse("es-AR").unwrap(),
                identification: "42".into(),
            },
        }
    }

    #[test]
    fn the_issuing_body_is_the_documented_one() {
        let req = request(Some("page-1"));
        let body = serde_json::to_value(IssueBody::new(&req)).unwrap();
        assert_eq!(
            body,
            json!({
                "credential": {
                    "tags": ["StudentId:42", "CourseId:course-v1:OrgX+CS101+2026", "Mode:verified"],
                    "skipAcceptance": true,
                    "emissionType": "pok",
                    "dateFormat": "dd/MM/yyyy",
                    "emissionDate": "2026-11-25T10:00:00Z",
                    "title": "Introduction to Computer Science",
                    "emitter": "OrgX"
                },
                "receiver": {
                    "languageTag": "es-AR",
                    "identification": "42",
                    "email": "ada@example.org",
                    "firstName": "Ada",
                    "lastName": "Lovelace"
                },
                "customization": {
                    "page": "page-1",
                    "template": { "id": "tpl-1", "customParameters": { "grade": "93" } }
                }
            })
        );
    }

    #[test]
    fn the_page_is_left_out_when_the_course_has_none() {
        let req = request(None);
        let body = serde_json::to_value(IssueBody::new(&req)).unwrap();
        assert!(body["customization"].get("page").is_none());
    }

    #[test]
    fn paths_end_with_a_slash_exactly_where_pok_wants_one() {
        let cred = CredentialId::parse("c-1").unwrap();
        assert_eq!(Call::issue().segments, ["credential", ""]);
        assert_eq!(Call::credential(&cred).segments, ["credential", "c-1", ""]);
        assert_eq!(
            Call::template(&TemplateId::parse("t").unwrap()).segments,
            ["template", "t"]
        );
    }

    #[test]
    fn credentials_tolerate_unknown_fields_numeric_ids_and_missing_states() {
        let c = decode_credential(br#"{"id": 17, "extra": {"x": 1}}"#).unwrap();
        assert_eq!(c.id.as_str(), "17");
        assert_eq!(c.state, UNKNOWN_STATE);
        assert_eq!(c.view_url, None);
        assert_eq!(c.raw["extra"]["x"], 1);
        assert!(decode_credential(br#"{"state": "emitted"}"#).is_err());
    }

    #[test]
    fn counts_may_be_strings_and_names_may_be_missing() {
        let o = decode_organization(br#"{"availableCredits": "12", "wallet": null}"#).unwrap();
        assert_eq!(o.available_credits, Some(12));
        assert_eq!(o.name, "");
        assert_eq!(o.wallet, None);
    }

    #[test]
    fn listings_skip_unusable_entries_and_accept_bare_arrays() {
        let (t, skipped) = decode_templates(
            br#"{"data": [{"id": "a", "name": "A"}, {"name": "no id"}, {"id": "b c"}]}"#,
        )
        .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(skipped, 2);
        let (p, _) = decode_pages(br#"[{"id": 5}]"#).unwrap();
        assert_eq!(p[0].id.as_str(), "5");
    }

    #[test]
    fn template_parameters_fall_back_between_id_and_label() {
        let asked = TemplateId::parse("t").unwrap();
        let t = decode_template(
            br#"{"customParameters": [{"id": "p1"}, {"label": "grade"}, {"type": "x"}]}"#,
            &asked,
        )
        .unwrap();
        assert_eq!(t.id, asked);
        let got: Vec<(&str, &str)> = t
            .custom_parameters
            .iter()
            .map(|p| (p.id.as_str(), p.label.as_str()))
            .collect();
        assert_eq!(got, [("p1", "p1"), ("grade", "grade")]);
    }

    #[test]
    fn error_messages_are_found_in_the_usual_places() {
        assert_eq!(
            error_message(br#"{"message": ["a", "b"]}"#).as_deref(),
            Some("a; b")
        );
        assert_eq!(error_message(br#"{"detail": "x"}"#).as_deref(), Some("x"));
        assert_eq!(error_message(b"<html>").as_deref(), None);
    }
}
