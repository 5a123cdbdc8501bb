//! A course's link to a POK template: which design, which page, which modes, and where each
//! custom parameter of the template takes its value from.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::issuing::Signatory;
use crate::ports::Template;
use crate::values::{CourseKey, CourseMode, EmissionType, PageId, ParamKeying, TemplateId};

/// Which part of a signatory a parameter prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatoryField {
    /// The name.
    Name,
    /// The title.
    Title,
    /// The organisation.
    Organization,
}

impl SignatoryField {
    /// The field's value in a signatory.
    pub fn of(self, s: &Signatory) -> &str {
        match self {
            Self::Name => &s.name,
            Self::Title => &s.title,
            Self::Organization => &s.organization,
        }
    }
}

/// Where a custom parameter's value comes from. Written `grade`, `platform_name`,
/// `course_title`, `course_key`, `username`, `full_name`, `first_name`, `last_name`, `mode`,
/// `emission_date`, `signatory:N:name|title|organization` (N from 1) or `literal:TEXT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ParamSource {
    /// The grade as a whole percentage.
    Grade,
    /// The LMS's platform name.
    PlatformName,
    /// The course title.
    CourseTitle,
    /// The course key.
    CourseKey,
    /// The learner's username.
    Username,
    /// The learner's full name as sent to POK.
    FullName,
    /// The learner's first name as sent to POK.
    FirstName,
    /// The learner's last name as sent to POK.
    LastName,
    /// The enrolment mode.
    Mode,
    /// The emission date, in the certificate's date format.
    EmissionDate,
    /// A signatory's name, title or organisation.
    Signatory {
        /// 1-based position in the LMS's list.
        index: usize,
        /// Which part.
        field: SignatoryField,
    },
    /// A fixed text.
    Literal(String),
}

impl ParamSource {
    /// Parses the written form (see the type's doc).
    pub fn parse(input: &str) -> Result<Self> {
        let s = input.trim();
        if let Some(text) = s.strip_prefix("literal:") {
            return Ok(Self::Literal(text.to_owned()));
        }
        if let Some(rest) = s.strip_prefix("signatory:") {
            let (n, field) = rest.split_once(':').unwrap_or((rest, "name"));
            let index: usize = n.parse().ok().filter(|i| *i >= 1).ok_or_else(|| {
                Error::invalid(
                    "param source",
                    format!("signatory number must be 1 or more (got {n:?})"),
                )
            })?;
            let field = match field {
                "name" => SignatoryField::Name,
                "title" => SignatoryField::Title,
                "organization" | "organisation" => SignatoryField::Organization,
                other => {
                    return Err(Error::invalid(
                        "param source",
                        format!(
                            "signatory field must be name, title or organization (got {other:?})"
                        ),
                    ));
                }
            };
            return Ok(Self::Signatory { index, field });
        }
        Ok(match s {
            "grade" => Self::Grade,
            "platform_name" => Self::PlatformName,
            "course_title" => Self::CourseTitle,
            "course_key" => Self::CourseKey,
            "username" => Self::Username,
            "full_name" => Self::FullName,
            "first_name" => Self::FirstName,
            "last_name" => Self::LastName,
            "mode" => Self::Mode,
            "emission_date" => Self::EmissionDate,
            other => {
                return Err(Error::invalid(
                    "param source",
                    format!(
                        "unknown source {other:?}; expected grade, platform_name, course_title, course_key, \
                         username, full_name, first_name, last_name, mode, emission_date, \
                         signatory:N:name|title|organization or literal:TEXT"
                    ),
                ));
            }
        })
    }
}

impl fmt::Display for ParamSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Grade => f.write_str("grade"),
            Self::PlatformName => f.write_str("platform_name"),
            Self::CourseTitle => f.write_str("course_title"),
            Self::CourseKey => f.write_str("course_key"),
            Self::Username => f.write_str("username"),
            Self::FullName => f.write_str("full_name"),
            Self::FirstName => f.write_str("first_name"),
            Self::LastName => f.write_str("last_name"),
            Self::Mode => f.write_str("mode"),
            Self::EmissionDate => f.write_str("emission_date"),
            Self::Signatory { index, field } => {
                let field = match field {
                    SignatoryField::Name => "name",
                    SignatoryField::Title => "title",
                    SignatoryField::Organization => "organization",
                };
                write!(f, "signatory:{index}:{field}")
            }
            Self::Literal(t) => write!(f, "literal:{t}"),
        }
    }
}

impl Serialize for ParamSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ParamSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One custom parameter: its key at POK (label or id) and where its value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamMapping {
    /// The key POK expects (the template parameter's label or id, per the keying setting).
    pub name: String,
    /// The value's source.
    pub source: ParamSource,
}

impl ParamMapping {
    /// Parses `NAME=SOURCE`, the CLI's `--param` form.
    pub fn parse(input: &str) -> Result<Self> {
        let (name, source) = input.split_once('=').ok_or_else(|| {
            Error::invalid("param", format!("expected NAME=SOURCE (got {input:?})"))
        })?;
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::invalid(
                "param",
                format!("the name before '=' is empty in {input:?}"),
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            source: ParamSource::parse(source)?,
        })
    }
}

/// A course's link to a POK template (the existing plugin's `CertificateTemplate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseBinding {
    /// The course.
    pub course_key: CourseKey,
    /// The design.
    pub template_id: TemplateId,
    /// POK or blockchain.
    pub emission_type: EmissionType,
    /// The landing page design, if any.
    pub page_id: Option<PageId>,
    /// Whether POK issues this course's certificates now (a switch for rolling out).
    pub enabled: bool,
    /// Modes that get a POK credential; empty means every mode.
    pub allowed_modes: Vec<CourseMode>,
    /// Custom parameters.
    pub params: Vec<ParamMapping>,
    /// A title instead of the course title.
    pub title_override: Option<String>,
    /// An emitter instead of the course's organisation.
    pub emitter_override: Option<String>,
    /// When linked.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

impl CourseBinding {
    /// A binding with the defaults: enabled, every mode, POK emission, no parameters.
    pub fn new(course_key: CourseKey, template_id: TemplateId) -> Self {
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        Self {
            course_key,
            template_id,
            emission_type: EmissionType::Pok,
            page_id: None,
            enabled: true,
            allowed_modes: Vec::new(),
            params: Vec::new(),
            title_override: None,
            emitter_override: None,
            created_at: epoch,
            updated_at: epoch,
        }
    }

    /// Whether learners in `mode` get a POK credential.
    pub fn allows_mode(&self, mode: &CourseMode) -> bool {
        self.allowed_modes.is_empty() || self.allowed_modes.contains(mode)
    }

    /// Checks the mapping against the template's custom parameters at POK: every parameter the
    /// template has must be mapped, and every mapped name must exist. Both mistakes would make
    /// POK refuse every credential of the course, so they are caught when linking.
    pub fn check_against(&self, template: &Template, keying: ParamKeying) -> Result<()> {
        let expected: Vec<&str> = template
            .custom_parameters
            .iter()
            .map(|p| p.key(keying))
            .collect();
        let unknown: Vec<&str> = self
            .params
            .iter()
            .map(|m| m.name.as_str())
            .filter(|n| !expected.contains(n))
            .collect();
        if !unknown.is_empty() {
            return Err(Error::invalid(
                "param",
                format!(
                    "template {} has no parameter {} (by {}); it has: {}",
                    template.id,
                    unknown.join(", "),
                    keying.as_str(),
                    expected.join(", ")
                ),
            ));
        }
        let missing: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|e| !self.params.iter().any(|m| m.name == *e))
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid(
                "param",
                format!(
                    "template {} needs a value for {}: add --param NAME=SOURCE for each",
                    template.id,
                    missing.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::CustomParameter;

    #[test]
    fn param_sources_round_trip_through_their_written_form() {
        for s in [
            "grade",
            "platform_name",
            "course_title",
            "course_key",
            "username",
            "full_name",
            "first_name",
            "last_name",
            "mode",
            "emission_date",
            "signatory:2:title",
            "signatory:1:organization",
            "literal:40 hours",
        ] {
            assert_eq!(ParamSource::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            ParamSource::parse("signatory:1").unwrap(),
            ParamSource::Signatory {
                index: 1,
                field: SignatoryField::Name
            }
        );
        for bad in [
            "gradee",
            "signatory:0:name",
            "signatory:x",
            "signatory:1:shoe",
        ] {
            assert!(ParamSource::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn param_mappings_parse_name_equals_source() {
        let m = ParamMapping::parse("Final grade=grade").unwrap();
        assert_eq!(
            (m.name.as_str(), m.source),
            ("Final grade", ParamSource::Grade)
        );
        assert!(ParamMapping::parse("grade").is_err());
        assert!(ParamMapping::parse("=grade").is_err());
    }

    fn template() -> Template {
        Template {
            id: TemplateId::parse("tpl").unwrap(),
            name: "Design".into(),
            custom_parameters: vec![
                CustomParameter {
                    id: "p1".into(),
                    label: "grade".into(),
                },
                CustomParameter {
                    id: "p2".into(),
                    label: "hours".into(),
                },
            ],
        }
    }

    #[test]
    fn a_binding_must_map_exactly_the_templates_parameters() {
        let mut b = CourseBinding::new(
            CourseKey::parse("course-v1:OrgX+CS101+2026").unwrap(),
            TemplateId::parse("tpl").unwrap(),
        );
        b.params = vec![ParamMapping::parse("grade=grade").unwrap()];
        let err = b
            .check_against(&template(), ParamKeying::Label)
            .unwrap_err();
        assert!(err.to_string().contains("hours"), "{err}");

        b.params
            .push(ParamMapping::parse("hours=literal:40").unwrap());
        b.check_against(&template(), ParamKeying::Label).unwrap();
        let err = b.check_against(&template(), ParamKeying::Id).unwrap_err();
        assert!(
            err.to_string().contains("no parameter grade, hours"),
            "{err}"
        );

        b.params
            .push(ParamMapping::parse("colour=literal:red").unwrap());
        assert!(b.check_against(&template(), ParamKeying::Label).is_err());
    }

    #[test]
    fn an_empty_mode_list_allows_every_mode() {
        let mut b = CourseBinding::new(
            CourseKey::parse("course-v1:OrgX+CS101+2026").unwrap(),
            TemplateId::parse("tpl").unwrap(),
        );
        let verified = CourseMode::parse("verified").unwrap();
        let audit = CourseMode::parse("audit").unwrap();
        assert!(b.allows_mode(&audit));
        b.allowed_modes = vec![verified.clone()];
        assert!(b.allows_mode(&verified));
        assert!(!b.allows_mode(&audit));
    }
}
