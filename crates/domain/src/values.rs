//! Value types, each validated once at construction so that the rest of the code never has to
//! ask again whether a course key or an e-mail is well formed.
//!
//! Every type has a fallible `parse` that names what is wrong, an `as_str` (or accessor) for
//! adapters, and serde support through its string form, so that a stored or transmitted value is
//! validated again when it comes back.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// Implements `Display`, `AsRef<str>`, serde and `FromStr` through `parse`/`as_str`.
macro_rules! string_value {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
        impl std::str::FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Characters Open edX allows inside one part of a course key.
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '%')
}

/// An Open edX course key: `course-v1:Org+Course+Run`, or the old `Org/Course/Run` form.
///
/// Kept in the form the LMS sent, because the LMS compares keys as strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CourseKey {
    raw: String,
}

impl CourseKey {
    /// Parses either course key form.
    pub fn parse(input: &str) -> Result<Self> {
        let s = input.trim();
        let err = |why: &str| Error::invalid("course_key", format!("{why} (got {s:?})"));
        if s.len() > 255 {
            return Err(err("longer than 255 characters"));
        }
        let parts: Vec<&str> = if let Some(rest) = s.strip_prefix("course-v1:") {
            rest.split('+').collect()
        } else if s.contains(':') {
            return Err(err("expected course-v1:Org+Course+Run or Org/Course/Run"));
        } else {
            s.split('/').collect()
        };
        if parts.len() != 3 {
            return Err(err(
                "expected three parts: course-v1:Org+Course+Run or Org/Course/Run",
            ));
        }
        if parts.iter().any(|p| p.is_empty()) {
            return Err(err("organisation, course and run must not be empty"));
        }
        if parts.iter().any(|p| !p.chars().all(is_key_char)) {
            return Err(err(
                "only letters, digits, '-', '_', '.', '~' and '%' are allowed in each part",
            ));
        }
        Ok(Self { raw: s.to_owned() })
    }

    /// The key as the LMS knows it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    fn parts(&self) -> (&str, &str, &str) {
        let body = self.raw.strip_prefix("course-v1:");
        let mut it = match body {
            Some(rest) => rest.split('+'),
            None => self.raw.split('/'),
        };
        // parse() guarantees exactly three non-empty parts.
        (
            it.next().unwrap_or_default(),
            it.next().unwrap_or_default(),
            it.next().unwrap_or_default(),
        )
    }

    /// The organisation part (`OrgX` in `course-v1:OrgX+CS101+2026`): the default emitter.
    pub fn org(&self) -> &str {
        self.parts().0
    }

    /// The course part (`CS101`).
    pub fn course(&self) -> &str {
        self.parts().1
    }

    /// The run part (`2026`).
    pub fn run(&self) -> &str {
        self.parts().2
    }
}
string_value!(CourseKey);

/// The LMS's numeric user id: the learner's stable identity (usernames can change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct UserId(i64);

impl UserId {
    /// A user id must be a positive integer.
    pub fn new(id: i64) -> Result<Self> {
        if id > 0 {
            Ok(Self(id))
        } else {
            Err(Error::invalid(
                "user_id",
                format!("must be a positive integer (got {id})"),
            ))
        }
    }

    /// Parses a decimal user id.
    pub fn parse(input: &str) -> Result<Self> {
        let id = input.trim().parse::<i64>().map_err(|_| {
            Error::invalid("user_id", format!("not a whole number: {:?}", input.trim()))
        })?;
        Self::new(id)
    }

    /// The id as stored by the LMS.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for UserId {
    type Error = Error;
    fn try_from(v: i64) -> Result<Self> {
        Self::new(v)
    }
}

impl From<UserId> for i64 {
    fn from(v: UserId) -> i64 {
        v.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A receiver e-mail address. Personal data: never logged, never shown on a public page.
///
/// `Debug` hides it so that a stray `{:?}` cannot leak it into a log.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Checks the shape POK and mail servers need: one `@`, a non-empty local part, a domain
    /// with a dot, no spaces, at most 254 characters. Deliverability is not our business.
    pub fn parse(input: &str) -> Result<Self> {
        let s = input.trim();
        let bad = |why: &str| Error::invalid("email", why.to_owned());
        if s.is_empty() {
            return Err(bad("must not be empty"));
        }
        if s.len() > 254 {
            return Err(bad("longer than 254 characters"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("must not contain spaces"));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(bad("must contain '@'"));
        };
        if local.is_empty() || domain.contains('@') {
            return Err(bad(
                "must have exactly one '@' after a non-empty local part",
            ));
        }
        if !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(bad(
                "the part after '@' must be a domain such as example.org",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(Email);

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

/// A BCP 47 language tag, normalised (`es_AR`, `ES-ar` → `es-AR`; `zh-hans` → `zh-Hans`).
///
/// POK's `languageTag` and our pages' translations both key on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LanguageTag(String);

impl LanguageTag {
    /// Parses and normalises a tag: language lower case, script title case, region upper case,
    /// everything else lower case; `_` is accepted as a separator.
    pub fn parse(input: &str) -> Result<Self> {
        let s = input.trim();
        let bad = |why: &str| Error::invalid("language", format!("{why} (got {s:?})"));
        if s.is_empty() {
            return Err(bad("must not be empty"));
        }
        let mut out: Vec<String> = Vec::new();
        for (i, sub) in s.split(['-', '_']).enumerate() {
            if sub.is_empty() || sub.len() > 8 || !sub.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(bad("each part must be 1 to 8 letters or digits"));
            }
            let lower = sub.to_ascii_lowercase();
            if i == 0 {
                if !(2..=8).contains(&sub.len()) || sub.len() == 4 {
                    return Err(bad("the language must be 2, 3 or 5 to 8 letters"));
                }
                if !sub.chars().all(|c| c.is_ascii_alphabetic()) {
                    return Err(bad("the language must be letters only"));
                }
                out.push(lower);
                continue;
            }
            // Once a singleton (extension or private use) starts, the rest is opaque.
            let in_extension = out.iter().skip(1).any(|p| p.len() == 1);
            let normalised = if in_extension {
                lower
            } else if sub.len() == 4 && sub.chars().all(|c| c.is_ascii_alphabetic()) {
                let mut t = lower;
                t[..1].make_ascii_uppercase();
                t
            } else if (sub.len() == 2 && sub.chars().all(|c| c.is_ascii_alphabetic()))
                || (sub.len() == 3 && sub.chars().all(|c| c.is_ascii_digit()))
            {
                sub.to_ascii_uppercase()
            } else {
                lower
            };
            out.push(normalised);
        }
        Ok(Self(out.join("-")))
    }

    /// The normalised tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The primary language subtag (`es` in `es-AR`), for choosing a page translation.
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}
string_value!(LanguageTag);

/// Implements an opaque identifier issued by POK: non-empty, printable, no spaces.
macro_rules! pok_id {
    ($(#[$doc:meta])* $ty:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(String);

        impl $ty {
            /// Accepts 1 to 128 printable characters without spaces or slashes (the id goes
            /// into POK URL paths).
            pub fn parse(input: &str) -> Result<Self> {
                let s = input.trim();
                if s.is_empty() {
                    return Err(Error::invalid($field, "must not be empty"));
                }
                if s.len() > 128 {
                    return Err(Error::invalid($field, "longer than 128 characters"));
                }
                if s.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#')) {
                    return Err(Error::invalid(
                        $field,
                        format!("must not contain spaces, '/', '?' or '#' (got {s:?})"),
                    ));
                }
                Ok(Self(s.to_owned()))
            }

            /// The id as POK knows it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        string_value!($ty);
    };
}

pok_id!(
    /// A POK template id: the design a course's certificates use.
    TemplateId,
    "template_id"
);
pok_id!(
    /// A POK page id: the public landing-page design of a credential.
    PageId,
    "page_id"
);
pok_id!(
    /// The id POK gave a credential when it accepted it.
    CredentialId,
    "credential_id"
);

/// How POK emits the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EmissionType {
    /// A POK-hosted credential.
    #[default]
    Pok,
    /// A credential anchored on a blockchain.
    Blockchain,
}

impl EmissionType {
    /// Parses `pok` or `blockchain` (case-insensitive).
    pub fn parse(input: &str) -> Result<Self> {
        match input.trim().to_ascii_lowercase().as_str() {
            "pok" => Ok(Self::Pok),
            "blockchain" => Ok(Self::Blockchain),
            other => Err(Error::invalid(
                "emission_type",
                format!("expected pok or blockchain (got {other:?})"),
            )),
        }
    }

    /// The value POK expects.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pok => "pok",
            Self::Blockchain => "blockchain",
        }
    }
}
string_value!(EmissionType);

/// How POK prints dates on the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DateFormat {
    /// `dd/MM/yyyy`, the existing plugin's default.
    #[default]
    DayMonthYear,
    /// `MM/dd/yyyy`.
    MonthDayYear,
}

impl DateFormat {
    /// Parses `dd/MM/yyyy` or `MM/dd/yyyy` (exactly as POK spells them).
    pub fn parse(input: &str) -> Result<Self> {
        match input.trim() {
            "dd/MM/yyyy" => Ok(Self::DayMonthYear),
            "MM/dd/yyyy" => Ok(Self::MonthDayYear),
            other => Err(Error::invalid(
                "date_format",
                format!("expected dd/MM/yyyy or MM/dd/yyyy (got {other:?})"),
            )),
        }
    }

    /// The value POK expects.
    pub fn as_str(&self) -> &str {
        match self {
            Self::DayMonthYear => "dd/MM/yyyy",
            Self::MonthDayYear => "MM/dd/yyyy",
        }
    }

    /// Formats a date the way this format prints it, for custom parameters holding dates.
    pub fn format(&self, date: chrono::NaiveDate) -> String {
        match self {
            Self::DayMonthYear => date.format("%d/%m/%Y").to_string(),
            Self::MonthDayYear => date.format("%m/%d/%Y").to_string(),
        }
    }
}
string_value!(DateFormat);

/// A course grade as a fraction from 0 to 1 (the LMS's `percent`, which despite its name is a
/// fraction).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Grade(f64);

impl Grade {
    /// Accepts a finite number from 0 to 1 inclusive.
    pub fn new(fraction: f64) -> Result<Self> {
        if fraction.is_finite() && (0.0..=1.0).contains(&fraction) {
            Ok(Self(fraction))
        } else {
            Err(Error::invalid(
                "grade",
                format!("must be a fraction from 0 to 1 (got {fraction})"),
            ))
        }
    }

    /// The fraction.
    pub fn fraction(self) -> f64 {
        self.0
    }

    /// The grade as a whole percentage for the certificate.
    ///
    /// Rounding: half away from zero, after first rounding to six decimals so that a binary
    /// fraction such as `0.925` (stored as 0.92499999…) prints as 93, as a person expects.
    pub fn percent(self) -> u8 {
        let hundredths = (self.0 * 100.0 * 1e6).round() / 1e6;
        // new() bounds the fraction to 0..=1, so the result is within 0..=100.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let p = hundredths.round() as u8;
        p
    }
}

impl TryFrom<f64> for Grade {
    type Error = Error;
    fn try_from(v: f64) -> Result<Self> {
        Self::new(v)
    }
}

impl From<Grade> for f64 {
    fn from(g: Grade) -> f64 {
        g.0
    }
}

/// An enrolment mode (`honor`, `verified`, `professional`, ...): courses choose which modes
/// get a POK credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CourseMode(String);

impl CourseMode {
    /// Lower-case letters, digits, `-` and `_`, 1 to 100 characters.
    pub fn parse(input: &str) -> Result<Self> {
        let s = input.trim().to_ascii_lowercase();
        if s.is_empty() || s.len() > 100 {
            return Err(Error::invalid("mode", "must be 1 to 100 characters"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        {
            return Err(Error::invalid(
                "mode",
                format!("only letters, digits, '-' and '_' are allowed (got {s:?})"),
            ));
        }
        Ok(Self(s))
    }

    /// The mode as the LMS names it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(CourseMode);

/// Whether POK wants custom parameters keyed by their `label` (the Open edX plugin) or their
/// `id` (a Moodle plugin). Unknown at POK, so it is a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ParamKeying {
    /// Key by the parameter's label (default).
    #[default]
    Label,
    /// Key by the parameter's id.
    Id,
}

impl ParamKeying {
    /// Parses `label` or `id`.
    pub fn parse(input: &str) -> Result<Self> {
        match input.trim().to_ascii_lowercase().as_str() {
            "label" => Ok(Self::Label),
            "id" => Ok(Self::Id),
            other => Err(Error::invalid(
                "param_keying",
                format!("expected label or id (got {other:?})"),
            )),
        }
    }

    /// The setting's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Label => "label",
            Self::Id => "id",
        }
    }
}
string_value!(ParamKeying);

/// A learner-facing display name: trimmed, inner white space collapsed, 1 to 255 characters.
/// Personal data: `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    /// Normalises white space and refuses empty names and control characters.
    pub fn parse(input: &str) -> Result<Self> {
        let s = input.split_whitespace().collect::<Vec<_>>().join(" ");
        if s.is_empty() {
            return Err(Error::invalid("full_name", "must not be empty"));
        }
        if s.chars().count() > 255 {
            return Err(Error::invalid("full_name", "longer than 255 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(Error::invalid(
                "full_name",
                "must not contain control characters",
            ));
        }
        Ok(Self(s))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_value!(PersonName);

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonName(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn course_keys_in_both_forms_parse_and_expose_their_parts() {
        for (input, org, course, run) in [
            ("course-v1:OrgX+CS101+2026", "OrgX", "CS101", "2026"),
            (
                "  course-v1:edX+DemoX+Demo_Course ",
                "edX",
                "DemoX",
                "Demo_Course",
            ),
            ("MITx/6.002x/2012_Fall", "MITx", "6.002x", "2012_Fall"),
        ] {
            let key = CourseKey::parse(input).unwrap();
            assert_eq!(
                (key.org(), key.course(), key.run()),
                (org, course, run),
                "{input}"
            );
            assert_eq!(key.as_str(), input.trim());
        }
    }

    #[test]
    fn malformed_course_keys_are_refused_with_the_field_named() {
        for input in [
            "",
            "course-v1:OrgX+CS101",
            "course-v1:OrgX++2026",
            "course-v1:Org X+CS101+2026",
            "OrgX/CS101",
            "block-v1:OrgX+CS101+2026",
            "course-v1:OrgX+CS101+2026+extra",
            "course-v1:<script>+a+b",
        ] {
            let err = CourseKey::parse(input).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Invalid {
                        field: "course_key",
                        ..
                    }
                ),
                "{input}: {err}"
            );
        }
    }

    #[test]
    fn user_ids_must_be_positive() {
        assert_eq!(UserId::parse(" 42 ").unwrap().get(), 42);
        assert!(UserId::parse("0").is_err());
        assert!(UserId::parse("-3").is_err());
        assert!(UserId::parse("abc").is_err());
        assert!(serde_json::from_str::<UserId>("0").is_err());
    }

    #[test]
    fn emails_are_checked_for_shape_and_hidden_from_debug() {
        assert_eq!(
            Email::parse(" ada@example.org ").unwrap().as_str(),
            "ada@example.org"
        );
        for bad in [
            "",
            "ada",
            "@example.org",
            "ada@",
            "ada@example",
            "a b@example.org",
            "a@b@c.org",
            "ada@.org",
            "ada@example..org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let e = Email::parse("ada@example.org").unwrap();
        assert!(!format!("{e:?}").contains("ada"));
    }

    #[test]
    fn language_tags_are_normalised() {
        for (input, expected) in [
            ("es_AR", "es-AR"),
            ("ES-ar", "es-AR"),
            ("zh-hans", "zh-Hans"),
            ("zh_HANT_tw", "zh-Hant-TW"),
            ("en", "en"),
            ("EN-us", "en-US"),
            ("es-419", "es-419"),
            ("sr-latn-rs", "sr-Latn-RS"),
            ("de-CH-x-phonebk", "de-CH-x-phonebk"),
            ("en-x-us", "en-x-us"),
        ] {
            assert_eq!(
                LanguageTag::parse(input).unwrap().as_str(),
                expected,
                "{input}"
            );
        }
        assert_eq!(LanguageTag::parse("es-AR").unwrap().primary(), "es");
        for bad in ["", "e", "englishlanguage", "es--AR", "es AR", "1234", "es-"] {
            assert!(LanguageTag::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pok_ids_refuse_what_would_break_a_url_path() {
        assert_eq!(TemplateId::parse(" tpl-1 ").unwrap().as_str(), "tpl-1");
        for bad in ["", "a/b", "a b", "a?b", "a#b"] {
            assert!(TemplateId::parse(bad).is_err(), "{bad}");
            assert!(CredentialId::parse(bad).is_err(), "{bad}");
            assert!(PageId::parse(bad).is_err(), "{bad}");
        }
        assert!(TemplateId::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn enumerations_parse_their_documented_spellings_only() {
        assert_eq!(
            EmissionType::parse("Blockchain").unwrap(),
            EmissionType::Blockchain
        );
        assert_eq!(EmissionType::parse("pok").unwrap().as_str(), "pok");
        assert!(EmissionType::parse("paper").is_err());
        assert_eq!(
            DateFormat::parse("MM/dd/yyyy").unwrap(),
            DateFormat::MonthDayYear
        );
        assert!(DateFormat::parse("yyyy-MM-dd").is_err());
        assert_eq!(ParamKeying::parse("ID").unwrap(), ParamKeying::Id);
        assert!(ParamKeying::parse("name").is_err());
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 5).unwrap();
        assert_eq!(DateFormat::DayMonthYear.format(d), "05/11/2026");
        assert_eq!(DateFormat::MonthDayYear.format(d), "11/05/2026");
    }

    #[test]
    fn grades_are_fractions_and_print_as_rounded_percentages() {
        for (fraction, percent) in [
            (0.0, 0),
            (0.925, 93),
            (0.924_999, 92),
            (0.5, 50),
            (0.005, 1),
            (0.994, 99),
            (0.995, 100),
            (1.0, 100),
        ] {
            assert_eq!(
                Grade::new(fraction).unwrap().percent(),
                percent,
                "{fraction}"
            );
        }
        for bad in [-0.01, 1.01, f64::NAN, f64::INFINITY] {
            assert!(Grade::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modes_are_lower_cased_slugs() {
        assert_eq!(CourseMode::parse("Verified").unwrap().as_str(), "verified");
        assert!(CourseMode::parse("no id").is_err());
        assert!(CourseMode::parse("").is_err());
    }

    #[test]
    fn person_names_collapse_white_space_and_hide_from_debug() {
        let n = PersonName::parse("  José   María\tGarcía ").unwrap();
        assert_eq!(n.as_str(), "José María García");
        assert!(!format!("{n:?}").contains("José"));
        assert!(PersonName::parse("   ").is_err());
    }

    proptest! {
        #[test]
        fn course_keys_round_trip_through_serde(org in "[A-Za-z0-9_.-]{1,20}", course in "[A-Za-z0-9_.-]{1,20}", run in "[A-Za-z0-9_.-]{1,20}", old in any::<bool>()) {
            let raw = if old { format!("{org}/{course}/{run}") } else { format!("course-v1:{org}+{course}+{run}") };
            let key = CourseKey::parse(&raw).unwrap();
            prop_assert_eq!((key.org(), key.course(), key.run()), (org.as_str(), course.as_str(), run.as_str()));
            let json = serde_json::to_string(&key).unwrap();
            prop_assert_eq!(serde_json::from_str::<CourseKey>(&json).unwrap(), key);
        }

        #[test]
        fn language_normalisation_is_idempotent(lang in "[a-zA-Z]{2,3}", script in proptest::option::of("[a-zA-Z]{4}"), region in proptest::option::of("[a-zA-Z]{2}"), sep in "[-_]") {
            let mut raw = lang.clone();
            if let Some(s) = &script { raw.push_str(&sep); raw.push_str(s); }
            if let Some(r) = &region { raw.push_str(&sep); raw.push_str(r); }
            let once = LanguageTag::parse(&raw).unwrap();
            let twice = LanguageTag::parse(once.as_str()).unwrap();
            prop_assert_eq!(&once, &twice);
            prop_assert_eq!(once.primary(), lang.to_ascii_lowercase());
            prop_assert_eq!(once.as_str().to_ascii_lowercase(), raw.replace('_', "-").to_ascii_lowercase());
        }

        #[test]
        fn any_valid_grade_prints_within_0_to_100_and_close_to_the_fraction(f in 0.0f64..=1.0) {
            let p = f64::from(Grade::new(f).unwrap().percent());
            prop_assert!((p - f * 100.0).abs() <= 0.5 + 1e-6);
        }
    }
}
