//! Share links of an emitted certificate: LinkedIn's add-to-profile form, X and Facebook.
//!
//! Every value goes through `url`'s query encoder, so a course title with `&`, `#` or
//! non-ASCII letters cannot break or extend a link. The links point at the certificate's
//! public page on this service, whose address holds nothing but the certificate's id.

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use url::Url;

/// What a share link needs to know.
pub(crate) struct Shared<'a> {
    /// The public page of the certificate.
    pub page_url: &'a str,
    /// The certificate's title (the course).
    pub title: &'a str,
    /// Who issued it.
    pub issuer: &'a str,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// Our certificate id, shown as LinkedIn's credential id.
    pub certificate_id: &'a str,
    /// The sentence before the title in a post ("I earned a certificate:").
    pub text: &'a str,
}

/// The three links, ready for `href` (the template escapes them for HTML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ShareLinks {
    /// LinkedIn's "add licence or certification" form, filled in.
    pub linkedin: String,
    /// A post on X with the text and the page.
    pub x: String,
    /// Facebook's sharer with the page.
    pub facebook: String,
}

/// A fixed base URL plus encoded query pairs.
fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    Url::parse_with_params(base, pairs).map_or_else(|_| base.to_owned(), String::from)
}

/// Builds the links.
pub(crate) fn share_links(s: &Shared<'_>) -> ShareLinks {
    let year = s.issued_at.year().to_string();
    let month = s.issued_at.month().to_string();
    ShareLinks {
        linkedin: with_query(
            "https://www.linkedin.com/profile/add",
            &[
                ("startTask", "CERTIFICATION_NAME"),
                ("name", s.title),
                ("organizationName", s.issuer),
                ("issueYear", &year),
                ("issueMonth", &month),
                ("certUrl", s.page_url),
                ("certId", s.certificate_id),
            ],
        ),
        x: with_query(
            "https://x.com/intent/tweet",
            &[
                ("text", &format!("{} {}", s.text, s.title)),
                ("url", s.page_url),
            ],
        ),
        facebook: with_query(
            "https://www.facebook.com/sharer/sharer.php",
            &[("u", s.page_url)],
        ),
    }
}

/// Whether a URL from POK is safe in an `href` or `src`: http or https only (never
/// `javascript:` or `data:`).
pub(crate) fn is_web_url(candidate: &str) -> bool {
    Url::parse(candidate).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn values_are_encoded_and_cannot_add_parameters() {
        let links = share_links(&Shared {
            page_url: "https://cert.example/certificates/abc",
            title: "C++ & Data #1 — Año",
            issuer: "Org X",
            issued_at: Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap(),
            certificate_id: "abc",
            text: "I earned a certificate:",
        });
        assert!(links.linkedin.starts_with("https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME&name=C%2B%2B+%26+Data+%231+%E2%80%94+A%C3%B1o&organizationName=Org+X&issueYear=2026&issueMonth=11&certUrl=https%3A%2F%2Fcert.example%2Fcertificates%2Fabc&certId=abc"), "{}", links.linkedin);
        let x = Url::parse(&links.x).unwrap();
        let pairs: Vec<(String, String)> = x.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                (
                    "text".to_owned(),
                    "I earned a certificate: C++ & Data #1 — Año".to_owned()
                ),
                (
                    "url".to_owned(),
                    "https://cert.example/certificates/abc".to_owned()
                )
            ]
        );
        assert_eq!(
            links.facebook,
            "https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Fcert.example%2Fcertificates%2Fabc"
        );
    }

    #[test]
    fn only_web_urls_are_linked() {
        assert!(is_web_url("https://pok.example/view/1"));
        assert!(is_web_url("http://127.0.0.1:9000/img.png"));
        assert!(!is_web_url("javascript:alert(1)"));
        assert!(!is_web_url("data:text/html,hi"));
        assert!(!is_web_url("/relative"));
    }
}
