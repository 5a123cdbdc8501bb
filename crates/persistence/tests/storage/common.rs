//! Fixtures shared by the suite's modules.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use pok_persistence::Backend;
use pok_persistence::domain::issuing::{IssueRequest, Receiver};
use pok_persistence::domain::lifecycle::NewCertificate;
use pok_persistence::domain::ports::{JobKind, NewJob};
use pok_persistence::domain::values::{
    CourseKey, CourseMode, DateFormat, Email, EmissionType, Grade, LanguageTag, PageId, TemplateId,
    UserId,
};
use pok_persistence::domain::{Actor, Certificate, CertificateEvent};
use pok_persistence::testing::TestDatabase;

/// Connections per test database: enough for the concurrency tests to contend for real.
const POOL_SIZE: u32 = 16;

/// A fresh database on `backend`; an unreachable server fails the test here.
pub async fn database(backend: Backend) -> TestDatabase {
    match TestDatabase::new(backend, POOL_SIZE).await {
        Ok(db) => db,
        Err(e) => panic!("no {backend} test database: {e}"),
    }
}

/// A fixed instant with whole seconds, which every backend stores exactly.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()
}

/// `t0` plus some seconds.
pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

/// A course key for a number.
pub fn course(n: u32) -> CourseKey {
    CourseKey::parse(&format!("course-v1:OrgX+CS{n}+2026")).unwrap()
}

/// Everything a creation request fills, with every optional part present.
pub fn new_certificate(user: i64, course_key: &CourseKey) -> NewCertificate {
    NewCertificate {
        user_id: UserId::new(user).unwrap(),
        username: format!("learner{user}"),
        course_key: course_key.clone(),
        mode: CourseMode::parse("verified").unwrap(),
        grade: Some(Grade::new(0.925).unwrap()),
        request: IssueRequest {
            template_id: TemplateId::parse("tpl-1").unwrap(),
            page_id: Some(PageId::parse("page-9").unwrap()),
            emission_type: EmissionType::Blockchain,
            date_format: DateFormat::MonthDayYear,
            emission_date: at(1),
            title: "Introducción a la programación".into(),
            emitter: "OrgX".into(),
            tags: vec![format!("StudentId:{user}"), "Mode:verified".into()],
            custom_parameters: BTreeMap::from([
                ("grade".to_owned(), "93".to_owned()),
                ("hours".to_owned(), "40".to_owned()),
            ]),
            receiver: Receiver {
                email: Email::parse("ada@example.org").unwrap(),
                first_name: "Ada".into(),
                last_name: "King Lovelace".into(),
                language: LanguageTag::parse("es-AR").unwrap(),
                identification: user.to_string(),
            },
        },
    }
}

/// A new certificate and its creation event, recorded at `now`.
pub fn requested(
    user: i64,
    course_key: &CourseKey,
    now: DateTime<Utc>,
) -> (Certificate, CertificateEvent) {
    Certificate::request(
        new_certificate(user, course_key),
        now,
        Actor::Lms,
        "requested by the LMS",
    )
}

/// The first job of a certificate.
pub fn issue_job(certificate: &Certificate) -> NewJob {
    NewJob {
        kind: JobKind::Issue,
        certificate_id: certificate.id,
        run_at: certificate.created_at,
        attempts: 0,
    }
}
