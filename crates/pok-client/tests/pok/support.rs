//! Shared fixtures.

use std::collections::BTreeMap;
use std::time::Duration;

use pok_client::{PokClient, PokClientConfig};
use pok_domain::issuing::{IssueRequest, Receiver};
use pok_domain::values::{DateFormat, Email, EmissionType, LanguageTag, PageId, TemplateId};
use secrecy::SecretString;

/// The key the wiremock tests use; long and distinctive so that a leak is easy to spot.
pub const KEY: &str = "test-key-5f1d2c9b8e7a";
/// The receiver's e-mail and names: personal data that must never be logged.
pub const EMAIL: &str = "augusta.ada@example.org";
pub const FIRST_NAME: &str = "Augusta";
pub const LAST_NAME: &str = "Byron-King";

/// Settings against `base` with short timeouts, no retries and no rate limit.
pub fn config(base: &str) -> PokClientConfig {
    PokClientConfig {
        base_url: base.parse().unwrap(),
        api_key: SecretString::from(KEY),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
        read_retries: 0,
        issue_retries_after_429: 0,
        max_retry_wait: Duration::from_secs(3),
        rate_limit: None,
    }
}

pub fn client(base: &str) -> PokClient {
    PokClient::new(config(base)).unwrap()
}

pub fn client_with(config: PokClientConfig) -> PokClient {
    PokClient::new(config).unwrap()
}

/// An issuing request for learner `student` with the given template and parameters.
pub fn issue_request(student: u32, template: &str, params: &[(&str, &str)]) -> IssueRequest {
    IssueRequest {
        template_id: TemplateId::parse(template).unwrap(),
        page_id: Some(PageId::parse("page-classic").unwrap()),
        emission_type: EmissionType::Pok,
        date_format: DateFormat::DayMonthYear,
        emission_date: "2026-11-25T10:00:00Z".parse().unwrap(),
        title: "Introduction to Computer Science".into(),
        emitter: "OrgX".into(),
        tags: vec![
            format!("StudentId:{student}"),
            format!("CourseId:{COURSE}"),
            "Mode:verified".into(),
        ],
        custom_parameters: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        receiver: Receiver {
            email: Email::parse(EMAIL).unwrap(),
            first_name: FIRST_NAME.into(),
            last_name: LAST_NAME.into(),
            language: LanguageTag::parse("es-AR").unwrap(),
            identification: student.to_string(),
        },
    }
}

pub const COURSE: &str = "course-v1:OrgX+CS101+2026";
