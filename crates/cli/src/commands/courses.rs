//! `courses`: the link between a course and its POK template (`link`, `unlink`, `list`,
//! `show`, `enable`, `disable`).
//!
//! Linking goes through the domain's `link_course`, which checks the parameter mapping against
//! the template's custom parameters at POK, so a course can never be linked in a way that makes
//! POK refuse every credential. Enabling checks again (the template may have changed since).
//! Disabling and unlinking need no POK call, so that they work during a POK outage.

use clap::{Args, Subcommand};
use pok_domain::binding::{CourseBinding, ParamMapping};
use pok_domain::filters::effective_binding;
use pok_domain::values::{CourseKey, CourseMode, EmissionType, PageId, TemplateId};
use serde::Serialize;

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, Record, Row};

/// `courses` subcommands.
#[derive(Debug, Subcommand)]
pub enum CoursesCommand {
    /// Link a course to a POK template (or change its link), after checking the template at
    /// POK.
    ///
    /// Every custom parameter of the template needs a --param NAME=SOURCE (see `templates
    /// remote TEMPLATE` for the names), and every NAME must be one of them. SOURCE is one of:
    /// grade, platform_name, course_title, course_key, username, full_name, first_name,
    /// last_name, mode, emission_date, signatory:N:name|title|organization, literal:TEXT.
    /// Linking again replaces the whole link (options left out go back to their defaults).
    ///
    /// Example: courses link course-v1:OrgX+CS101+2026 tpl-graded --param grade=grade
    /// --param course=course_title --modes verified,professional
    Link(LinkArgs),
    /// Remove a course's link: the LMS's next certificates for the course are no longer
    /// issued through POK (unless POK_TEMPLATE_ID applies to every course). Certificates
    /// already issued stay as they are. Asks for confirmation (--yes to skip).
    Unlink(UnlinkArgs),
    /// List the linked courses.
    List,
    /// Show a course's link, with its parameter mapping. A course without a link of its own
    /// shows the default template (POK_TEMPLATE_ID) when one is set.
    Show(CourseArg),
    /// Issue the course's certificates through POK again, after checking its template at POK.
    Enable(CourseArg),
    /// Stop issuing the course's certificates through POK, keeping its link: the LMS issues
    /// its own certificates meanwhile. Certificates already recorded are not affected.
    Disable(CourseArg),
}

/// Options of `courses link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// The course key, e.g. course-v1:OrgX+CS101+2026.
    #[arg(value_parser = super::parse_course)]
    course: CourseKey,
    /// The POK template id (see `templates remote`).
    #[arg(value_parser = super::parse_template)]
    template: TemplateId,
    /// How POK emits the credentials: pok or blockchain.
    #[arg(long, default_value = "pok", value_parser = parse_emission)]
    emission_type: EmissionType,
    /// A landing-page design id (see `pages remote`).
    #[arg(long, value_name = "PAGE", value_parser = parse_page)]
    page: Option<PageId>,
    /// A custom parameter: NAME=SOURCE (repeat for each parameter of the template).
    #[arg(long = "param", value_name = "NAME=SOURCE", value_parser = parse_param)]
    params: Vec<ParamMapping>,
    /// Only learners in these modes get a POK credential (comma-separated; default: every
    /// mode).
    #[arg(long, value_name = "MODE,...", value_delimiter = ',', value_parser = parse_mode)]
    modes: Vec<CourseMode>,
    /// The credential's title instead of the course's title.
    #[arg(long)]
    title: Option<String>,
    /// The emitter printed on the credential instead of the course's organisation.
    #[arg(long)]
    emitter: Option<String>,
    /// Link without enabling yet (`courses enable` later).
    #[arg(long)]
    disabled: bool,
}

/// Options of `courses unlink`.
#[derive(Debug, Args)]
pub struct UnlinkArgs {
    /// The course key.
    #[arg(value_parser = super::parse_course)]
    course: CourseKey,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    yes: bool,
}

/// A course key argument.
#[derive(Debug, Args)]
pub struct CourseArg {
    /// The course key, e.g. course-v1:OrgX+CS101+2026.
    #[arg(value_parser = super::parse_course)]
    course: CourseKey,
}

fn parse_emission(s: &str) -> Result<EmissionType, String> {
    EmissionType::parse(s).map_err(|e| e.to_string())
}
fn parse_page(s: &str) -> Result<PageId, String> {
    PageId::parse(s).map_err(|e| e.to_string())
}
fn parse_param(s: &str) -> Result<ParamMapping, String> {
    ParamMapping::parse(s).map_err(|e| e.to_string())
}
fn parse_mode(s: &str) -> Result<CourseMode, String> {
    CourseMode::parse(s).map_err(|e| e.to_string())
}

/// A binding as listed and shown: the binding itself plus where it comes from.
#[derive(Debug, Serialize)]
struct BindingView {
    #[serde(flatten)]
    binding: CourseBinding,
    /// `linked` (stored) or `default` (POK_TEMPLATE_ID for a course without a link).
    source: &'static str,
}

impl BindingView {
    fn modes(&self) -> String {
        if self.binding.allowed_modes.is_empty() {
            "all".to_owned()
        } else {
            self.binding
                .allowed_modes
                .iter()
                .map(CourseMode::as_str)
                .collect::<Vec<_>>()
                .join(",")
        }
    }
    fn params(&self) -> String {
        self.binding
            .params
            .iter()
            .map(|p| format!("{}={}", p.name, p.source))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Row for BindingView {
    const HEADERS: &'static [&'static str] = &[
        "COURSE", "TEMPLATE", "ENABLED", "MODES", "EMISSION", "PAGE", "PARAMS", "UPDATED",
    ];
    fn cells(&self) -> Vec<String> {
        let b = &self.binding;
        vec![
            b.course_key.to_string(),
            b.template_id.to_string(),
            if b.enabled { "yes" } else { "no" }.to_owned(),
            self.modes(),
            b.emission_type.to_string(),
            b.page_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            self.params(),
            output::when(b.updated_at),
        ]
    }
}

impl Record for BindingView {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let b = &self.binding;
        let default = self.source == "default";
        vec![
            ("course", b.course_key.to_string()),
            (
                "template",
                if default {
                    format!(
                        "{} (POK_TEMPLATE_ID: the course has no link of its own)",
                        b.template_id
                    )
                } else {
                    b.template_id.to_string()
                },
            ),
            ("enabled", if b.enabled { "yes" } else { "no" }.to_owned()),
            ("modes", self.modes()),
            ("emission type", b.emission_type.to_string()),
            (
                "page",
                b.page_id
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            ),
            ("params", self.params()),
            ("title", b.title_override.clone().unwrap_or_default()),
            ("emitter", b.emitter_override.clone().unwrap_or_default()),
            (
                "linked",
                if default {
                    String::new()
                } else {
                    output::when(b.created_at)
                },
            ),
            (
                "updated",
                if default {
                    String::new()
                } else {
                    output::when(b.updated_at)
                },
            ),
        ]
    }
}

fn linked(binding: CourseBinding) -> BindingView {
    BindingView {
        binding,
        source: "linked",
    }
}

/// What `unlink` reports for scripts.
#[derive(Serialize)]
struct Unlinked {
    course_key: String,
    unlinked: bool,
}

/// Runs a `courses` subcommand.
pub(crate) async fn run(ctx: &Ctx, cmd: CoursesCommand) -> Result<(), CliError> {
    let wired = ctx.wire().await?;
    let service = &wired.service;
    let not_linked =
        |c: &CourseKey| CliError::failed(format!("course {c} is not linked (see `courses list`)"));
    match cmd {
        CoursesCommand::Link(a) => {
            let mut binding = CourseBinding::new(a.course, a.template);
            binding.emission_type = a.emission_type;
            binding.page_id = a.page;
            binding.params = a.params;
            binding.allowed_modes = a.modes;
            binding.title_override = a.title.filter(|t| !t.trim().is_empty());
            binding.emitter_override = a.emitter.filter(|t| !t.trim().is_empty());
            binding.enabled = !a.disabled;
            let saved = service.link_course(binding).await?;
            let message = format!(
                "linked {} to template {}{}",
                saved.course_key,
                saved.template_id,
                if saved.enabled {
                    ""
                } else {
                    " (disabled: `courses enable` to start issuing)"
                }
            );
            output::outcome(ctx.format(), &message, &linked(saved))
        }
        CoursesCommand::Unlink(a) => {
            if service.bindings().get(&a.course).await?.is_none() {
                return Err(not_linked(&a.course));
            }
            output::confirm(
                &format!(
                    "Unlink course {} from POK (its next certificates will not be issued through POK)?",
                    a.course
                ),
                a.yes,
            )?;
            service.bindings().delete(&a.course).await?;
            let fallback = service
                .settings()
                .default_template
                .as_ref()
                .map(|t| format!("; the default template {t} (POK_TEMPLATE_ID) now applies to it"))
                .unwrap_or_default();
            output::outcome(
                ctx.format(),
                &format!("unlinked {}{fallback}", a.course),
                &Unlinked {
                    course_key: a.course.to_string(),
                    unlinked: true,
                },
            )
        }
        CoursesCommand::List => {
            let list: Vec<BindingView> = service
                .bindings()
                .list()
                .await?
                .into_iter()
                .map(linked)
                .collect();
            output::rows(ctx.format(), &list)
        }
        CoursesCommand::Show(a) => {
            let view = match service.bindings().get(&a.course).await? {
                Some(b) => linked(b),
                None => BindingView {
                    binding: effective_binding(&a.course, None, service.settings()).ok_or_else(|| {
                        CliError::failed(format!(
                            "course {} is not linked, and POK_TEMPLATE_ID is not set: its certificates are not issued through POK",
                            a.course
                        ))
                    })?,
                    source: "default",
                },
            };
            output::record(ctx.format(), &view)
        }
        CoursesCommand::Enable(a) => {
            let mut binding = service
                .bindings()
                .get(&a.course)
                .await?
                .ok_or_else(|| not_linked(&a.course))?;
            binding.enabled = true;
            let saved = service.link_course(binding).await?;
            output::outcome(
                ctx.format(),
                &format!(
                    "enabled POK certificates for {} (template {} checked at POK)",
                    saved.course_key, saved.template_id
                ),
                &linked(saved),
            )
        }
        CoursesCommand::Disable(a) => {
            let mut binding = service
                .bindings()
                .get(&a.course)
                .await?
                .ok_or_else(|| not_linked(&a.course))?;
            binding.enabled = false;
            binding.updated_at = service.now();
            service.bindings().upsert(&binding).await?;
            output::outcome(
                ctx.format(),
                &format!(
                    "disabled POK certificates for {}: the LMS issues its own until `courses enable`",
                    binding.course_key
                ),
                &linked(binding),
            )
        }
    }
}
