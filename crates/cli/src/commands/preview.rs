//! `preview COURSE|TEMPLATE`: the URL of a template's preview image, with a placeholder in
//! every custom parameter (the domain's `preview_url`, the same the certificate page uses).

use clap::Args;
use pok_domain::binding::CourseBinding;
use pok_domain::filters::effective_binding;
use pok_domain::values::{CourseKey, TemplateId};
use serde::Serialize;

use super::Ctx;
use crate::error::CliError;
use crate::output;

/// Options of `preview`.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// A course key (its linked template, or POK_TEMPLATE_ID for a course without a link) or a
    /// template id. A value starting with course-v1: or containing '/' is a course key.
    #[arg(value_name = "COURSE|TEMPLATE")]
    target: String,
}

/// What `preview` reports.
#[derive(Debug, Serialize)]
struct PreviewView {
    template_id: String,
    course_key: Option<String>,
    url: String,
}

/// Runs `preview`.
pub(crate) async fn run(ctx: &Ctx, args: PreviewArgs) -> Result<(), CliError> {
    let wired = ctx.wire().await?;
    let service = &wired.service;
    let looks_like_course =
        args.target.trim().starts_with("course-v1:") || args.target.contains('/');
    let (binding, course) = if looks_like_course {
        let course = CourseKey::parse(&args.target).map_err(|e| CliError::Usage(e.to_string()))?;
        let stored = service.bindings().get(&course).await?;
        let binding = effective_binding(&course, stored.as_ref(), service.settings()).ok_or_else(|| {
            CliError::failed(format!(
                "course {course} has no template: it is not linked (`courses link`) and POK_TEMPLATE_ID is not set"
            ))
        })?;
        (binding, Some(course))
    } else {
        let template = TemplateId::parse(&args.target).map_err(|e| {
            CliError::Usage(format!(
                "{:?} is neither a course key (course-v1:Org+Course+Run) nor a template id: {e}",
                args.target
            ))
        })?;
        let placeholder = CourseKey::parse("course-v1:openedx-pok+preview+template")?;
        (CourseBinding::new(placeholder, template), None)
    };
    let url = service.preview_url(&binding).await?;
    let view = PreviewView {
        template_id: binding.template_id.to_string(),
        course_key: course.map(|c| c.to_string()),
        url: url.clone(),
    };
    output::outcome(ctx.format(), &url, &view)
}
