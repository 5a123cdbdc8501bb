//! Building the credential POK issues, from what the LMS told us about the learner and the
//! course and from the course's binding: receiver name, language, custom parameters, tags.
//!
//! Everything here is decided when the request is recorded and then frozen in the certificate,
//! so that every retry sends POK exactly the same credential.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::binding::{CourseBinding, ParamSource};
use crate::error::{Error, Result};
use crate::values::{
    CourseKey, CourseMode, DateFormat, Email, EmissionType, Grade, LanguageTag, PageId, PersonName,
    TemplateId, UserId,
};

/// The person who receives the credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receiver {
    /// Where POK sends the credential.
    pub email: Email,
    /// Given name(s).
    pub first_name: String,
    /// Family name(s); may be empty for a single-word name.
    pub last_name: String,
    /// The language POK uses for the credential and its e-mails.
    pub language: LanguageTag,
    /// The LMS user id, so the credential can be traced back without personal data.
    pub identification: String,
}

/// Everything POK needs to issue one credential (the body of `POST credential/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueRequest {
    /// The design.
    pub template_id: TemplateId,
    /// The public landing page design, if the course chose one.
    pub page_id: Option<PageId>,
    /// POK or blockchain.
    pub emission_type: EmissionType,
    /// How dates are printed.
    pub date_format: DateFormat,
    /// The emission date, fixed when the request was recorded (UTC).
    pub emission_date: DateTime<Utc>,
    /// The credential's title (the course title unless overridden).
    pub title: String,
    /// Who emits it (the course's organisation unless overridden).
    pub emitter: String,
    /// `StudentId:`, `CourseId:`, `Mode:` tags, so that credentials can be traced at POK.
    pub tags: Vec<String>,
    /// Template custom parameters, keyed as the binding says (label or id).
    pub custom_parameters: BTreeMap<String, String>,
    /// The learner.
    pub receiver: Receiver,
}

/// A person who signs the certificate, as the LMS's certificate configuration lists them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Signatory {
    /// Name as printed.
    pub name: String,
    /// Title (e.g. "Professor").
    #[serde(default)]
    pub title: String,
    /// Organisation.
    #[serde(default)]
    pub organization: String,
}

/// Particles that start a family name ("van Beethoven", "de la Cruz").
const SURNAME_PARTICLES: &[&str] = &[
    "de", "del", "della", "der", "den", "di", "da", "das", "do", "dos", "du", "la", "le", "van",
    "von", "ter", "ten", "bin", "ibn", "al", "el", "mac", "st.", "y",
];

/// Splits a learner's name into POK's first and last name.
///
/// Rules, in order:
/// 1. Django's `first_name` and `last_name`, when both are set, are used as they are.
/// 2. "Last, First" (one comma) is read as written.
/// 3. One word (including names in scripts written without spaces): all of it is the first
///    name and the last name is empty.
/// 4. A surname particle (`de`, `van`, `von`, `al`, ...) after the first word starts the last
///    name.
/// 5. Otherwise two words split 1 + 1, three words 1 + 2 (Spanish and Portuguese double
///    surnames), four or more split in half, given names first.
///
/// Nothing is ever dropped: first and last name joined with a space give back the name with
/// its white space normalised (the existing plugin drops middle words).
pub fn split_name(full: &PersonName, first: Option<&str>, last: Option<&str>) -> (String, String) {
    let clean = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    if let (Some(f), Some(l)) = (first.map(clean), last.map(clean))
        && !f.is_empty()
        && !l.is_empty()
    {
        return (f, l);
    }
    let name = full.as_str();
    if let Some((l, f)) = name.split_once(',') {
        let (f, l) = (clean(f), clean(l));
        if !f.is_empty() && !l.is_empty() && !f.contains(',') {
            return (f, l);
        }
    }
    let words: Vec<&str> = name.split(' ').collect();
    let at = match words.len() {
        0 | 1 => return (name.to_owned(), String::new()),
        n => {
            let particle = words[1..n - 1]
                .iter()
                .position(|w| SURNAME_PARTICLES.contains(&w.to_lowercase().as_str()))
                .map(|i| i + 1);
            particle.unwrap_or(match n {
                2 | 3 => 1,
                _ => n.div_ceil(2),
            })
        }
    };
    (words[..at].join(" "), words[at..].join(" "))
}

/// Parses an `Accept-Language` header into tags, best first; `*`, `q=0` and malformed entries
/// are skipped.
pub fn parse_accept_language(header: &str) -> Vec<LanguageTag> {
    let mut entries: Vec<(u16, usize, LanguageTag)> = header
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut pieces = part.split(';');
            let tag = pieces.next()?.trim();
            let mut q = 1000u16;
            for p in pieces {
                if let Some(v) = p.trim().strip_prefix("q=") {
                    let v: f64 = v.trim().parse().ok()?;
                    if !(0.0..=1.0).contains(&v) {
                        return None;
                    }
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    {
                        q = (v * 1000.0).round() as u16;
                    }
                }
            }
            if tag == "*" || q == 0 {
                return None;
            }
            Some((q, i, LanguageTag::parse(tag).ok()?))
        })
        .collect();
    entries.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    entries.into_iter().map(|(_, _, t)| t).collect()
}

/// Chooses the credential's language: the learner's preference, then the browser's
/// `Accept-Language` (by q-value), then the platform's default, then ours. Unparseable values
/// are skipped, never an error: a language is not worth refusing a certificate for.
pub fn negotiate_language(
    preference: Option<&str>,
    accept_language: Option<&str>,
    platform_default: Option<&str>,
    configured_default: &LanguageTag,
) -> LanguageTag {
    preference
        .and_then(|p| LanguageTag::parse(p).ok())
        .or_else(|| accept_language.and_then(|h| parse_accept_language(h).into_iter().next()))
        .or_else(|| platform_default.and_then(|p| LanguageTag::parse(p).ok()))
        .unwrap_or_else(|| configured_default.clone())
}

/// What custom parameters may be filled from.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamContext<'a> {
    /// The learner's grade.
    pub grade: Option<Grade>,
    /// The LMS's platform name.
    pub platform_name: &'a str,
    /// The course title.
    pub course_title: &'a str,
    /// The course key.
    pub course_key: &'a CourseKey,
    /// The learner's username.
    pub username: &'a str,
    /// The learner's name, as sent to POK.
    pub first_name: &'a str,
    /// The learner's family name, as sent to POK.
    pub last_name: &'a str,
    /// The enrolment mode.
    pub mode: &'a CourseMode,
    /// The emission date.
    pub emission_date: DateTime<Utc>,
    /// How dates are printed.
    pub date_format: DateFormat,
    /// The course's signatories.
    pub signatories: &'a [Signatory],
}

/// Fills the binding's custom parameters. A parameter whose source has no value (no grade,
/// a signatory that does not exist) is an error naming the parameter: POK would refuse the
/// credential, and it is better to say why before sending it.
pub fn custom_parameters(
    binding: &CourseBinding,
    ctx: &ParamContext<'_>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for m in &binding.params {
        let missing = |what: &str| {
            Error::invalid(
                "custom_parameters",
                format!(
                    "parameter {:?} needs {what}, which the LMS did not send",
                    m.name
                ),
            )
        };
        let value = match &m.source {
            ParamSource::Grade => ctx
                .grade
                .map(|g| g.percent().to_string())
                .ok_or_else(|| missing("a grade"))?,
            ParamSource::PlatformName => ctx.platform_name.to_owned(),
            ParamSource::CourseTitle => ctx.course_title.to_owned(),
            ParamSource::CourseKey => ctx.course_key.to_string(),
            ParamSource::Username => ctx.username.to_owned(),
            ParamSource::FullName => format!("{} {}", ctx.first_name, ctx.last_name)
                .trim()
                .to_owned(),
            ParamSource::FirstName => ctx.first_name.to_owned(),
            ParamSource::LastName => ctx.last_name.to_owned(),
            ParamSource::Mode => ctx.mode.to_string(),
            ParamSource::EmissionDate => ctx.date_format.format(ctx.emission_date.date_naive()),
            ParamSource::Signatory { index, field } => {
                let s = ctx
                    .signatories
                    .get(index.saturating_sub(1))
                    .ok_or_else(|| missing(&format!("signatory {index}")))?;
                field.of(s).to_owned()
            }
            ParamSource::Literal(text) => text.clone(),
        };
        out.insert(m.name.clone(), value);
    }
    Ok(out)
}

/// The tags that let a credential be traced back to the learner and course at POK.
pub fn tags(user: UserId, course: &CourseKey, mode: &CourseMode) -> Vec<String> {
    vec![
        format!("StudentId:{user}"),
        format!("CourseId:{course}"),
        format!("Mode:{mode}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::{ParamMapping, SignatoryField};
    use proptest::prelude::*;

    fn split(full: &str) -> (String, String) {
        split_name(&PersonName::parse(full).unwrap(), None, None)
    }

    #[test]
    fn names_split_without_losing_any_part() {
        for (full, first, last) in [
            ("Ada Lovelace", "Ada", "Lovelace"),
            ("Lovelace, Ada", "Ada", "Lovelace"),
            ("García López, José María", "José María", "García López"),
            ("José María García López", "José María", "García López"),
            ("Juan García López", "Juan", "García López"),
            ("Ludwig van Beethoven", "Ludwig", "van Beethoven"),
            (
                "María de los Ángeles Pérez",
                "María",
                "de los Ángeles Pérez",
            ),
            ("Cher", "Cher", ""),
            ("  Ada    Lovelace  ", "Ada", "Lovelace"),
            ("山田太郎", "山田太郎", ""),
            ("محمد بن سلمان", "محمد", "بن سلمان"),
            ("Анна Каренина", "Анна", "Каренина"),
            ("a, b, c", "a,", "b, c"),
        ] {
            assert_eq!(split(full), (first.to_owned(), last.to_owned()), "{full}");
        }
    }

    #[test]
    fn django_first_and_last_names_win_when_both_are_set() {
        let full = PersonName::parse("Whatever Name").unwrap();
        assert_eq!(
            split_name(&full, Some(" Ada "), Some("King  Lovelace")),
            ("Ada".into(), "King Lovelace".into())
        );
        assert_eq!(
            split_name(&full, Some("Ada"), Some(" ")),
            ("Whatever".into(), "Name".into())
        );
    }

    proptest! {
        #[test]
        fn a_split_never_drops_a_word(words in proptest::collection::vec("[\\p{L}\\p{N}.'-]{1,12}", 1..7)) {
            let full = words.join(" ");
            let (first, last) = split(&full);
            prop_assert!(!first.is_empty());
            let joined = if last.is_empty() { first.clone() } else { format!("{first} {last}") };
            prop_assert_eq!(joined, full);
        }
    }

    #[test]
    fn accept_language_is_ordered_by_q_value() {
        let tags =
            parse_accept_language("fr;q=0.5, es_AR;q=0.9, *;q=0.1, de;q=0, en-US, xx--;q=0.8");
        let got: Vec<&str> = tags.iter().map(LanguageTag::as_str).collect();
        assert_eq!(got, ["en-US", "es-AR", "fr"]);
        assert!(parse_accept_language("").is_empty());
        assert!(parse_accept_language("en;q=abc").is_empty());
    }

    #[test]
    fn language_negotiation_falls_back_in_order() {
        let default = LanguageTag::parse("en").unwrap();
        let n = |p, a, d| negotiate_language(p, a, d, &default).to_string();
        assert_eq!(n(Some("es_AR"), Some("fr"), Some("de")), "es-AR");
        assert_eq!(n(None, Some("fr;q=0.2, pt-br"), Some("de")), "pt-BR");
        assert_eq!(n(Some("??"), None, Some("de")), "de");
        assert_eq!(n(None, Some("*"), None), "en");
    }

    fn binding(params: Vec<(&str, ParamSource)>) -> CourseBinding {
        let mut b = CourseBinding::new(
            CourseKey::parse("course-v1:OrgX+CS101+2026").unwrap(),
            TemplateId::parse("tpl").unwrap(),
        );
        b.params = params
            .into_iter()
            .map(|(n, s)| ParamMapping {
                name: n.into(),
                source: s,
            })
            .collect();
        b
    }

    #[test]
    fn custom_parameters_are_filled_from_their_sources() {
        let key = CourseKey::parse("course-v1:OrgX+CS101+2026").unwrap();
        let mode = CourseMode::parse("verified").unwrap();
        let signatories = vec![Signatory {
            name: "Grace Hopper".into(),
            title: "Dean".into(),
            organization: "OrgX".into(),
        }];
        let ctx = ParamContext {
            grade: Some(Grade::new(0.925).unwrap()),
            platform_name: "Campus",
            course_title: "Intro",
            course_key: &key,
            username: "ada",
            first_name: "Ada",
            last_name: "Lovelace",
            mode: &mode,
            emission_date: chrono::DateTime::parse_from_rfc3339("2026-11-05T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            date_format: DateFormat::DayMonthYear,
            signatories: &signatories,
        };
        let b = binding(vec![
            ("grade", ParamSource::Grade),
            ("platform", ParamSource::PlatformName),
            ("course", ParamSource::CourseTitle),
            ("key", ParamSource::CourseKey),
            ("who", ParamSource::FullName),
            ("date", ParamSource::EmissionDate),
            (
                "sig",
                ParamSource::Signatory {
                    index: 1,
                    field: SignatoryField::Name,
                },
            ),
            (
                "sig_title",
                ParamSource::Signatory {
                    index: 1,
                    field: SignatoryField::Title,
                },
            ),
            ("hours", ParamSource::Literal("40".into())),
            ("mode", ParamSource::Mode),
        ]);
        let p = custom_parameters(&b, &ctx).unwrap();
        let expect = [
            ("grade", "93"),
            ("platform", "Campus"),
            ("course", "Intro"),
            ("key", "course-v1:OrgX+CS101+2026"),
            ("who", "Ada Lovelace"),
            ("date", "05/11/2026"),
            ("sig", "Grace Hopper"),
            ("sig_title", "Dean"),
            ("hours", "40"),
            ("mode", "verified"),
        ];
        for (k, v) in expect {
            assert_eq!(p.get(k).map(String::as_str), Some(v), "{k}");
        }

        let err = custom_parameters(
            &binding(vec![(
                "sig2",
                ParamSource::Signatory {
                    index: 2,
                    field: SignatoryField::Name,
                },
            )]),
            &ctx,
        )
        .unwrap_err();
        assert!(err.to_string().contains("sig2"), "{err}");
        let no_grade = ParamContext { grade: None, ..ctx };
        let err =
            custom_parameters(&binding(vec![("g", ParamSource::Grade)]), &no_grade).unwrap_err();
        assert!(err.to_string().contains("a grade"), "{err}");
    }

    #[test]
    fn tags_name_student_course_and_mode() {
        let t = tags(
            UserId::new(42).unwrap(),
            &CourseKey::parse("course-v1:OrgX+CS101+2026").unwrap(),
            &CourseMode::parse("verified").unwrap(),
        );
        assert_eq!(
            t,
            [
                "StudentId:42",
                "CourseId:course-v1:OrgX+CS101+2026",
                "Mode:verified"
            ]
        );
    }
}
