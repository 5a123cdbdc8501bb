//! `templates remote [TEMPLATE]`: the certificate designs of the organisation at POK, and the
//! custom parameters of one of them (what `courses link --param` must map).

use clap::{Args, Subcommand};
use pok_domain::ports::{CustomParameter, TemplateSummary};
use pok_domain::values::TemplateId;
use pok_http::Metrics;
use serde::Serialize;

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, Format, Row};
use crate::wiring;

/// `templates` subcommands.
#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// List the templates at POK, or show one template's custom parameters.
    ///
    /// Every custom parameter of a course's template must be mapped when the course is linked
    /// (`courses link ... --param NAME=SOURCE`); NAME is the parameter's label, or its id when
    /// OPENEDX_POK_PARAM_KEYING=id.
    Remote(RemoteArgs),
}

/// Options of `templates remote`.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// Show this template and its custom parameters instead of the list.
    #[arg(value_name = "TEMPLATE", value_parser = super::parse_template)]
    template: Option<TemplateId>,
    /// List at most this many templates.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
}

impl Row for TemplateSummary {
    const HEADERS: &'static [&'static str] = &["TEMPLATE", "NAME"];
    fn cells(&self) -> Vec<String> {
        vec![self.id.to_string(), self.name.clone()]
    }
}

/// One custom parameter, with the key a course's `--param` uses for it.
#[derive(Debug, Serialize)]
struct ParamView {
    key: String,
    label: String,
    id: String,
}

impl Row for ParamView {
    const HEADERS: &'static [&'static str] = &["KEY (for --param)", "LABEL", "ID"];
    fn cells(&self) -> Vec<String> {
        vec![self.key.clone(), self.label.clone(), self.id.clone()]
    }
}

/// Runs a `templates` subcommand.
pub(crate) async fn run(ctx: &Ctx, cmd: TemplatesCommand) -> Result<(), CliError> {
    let TemplatesCommand::Remote(args) = cmd;
    let pok = wiring::gateway(&ctx.loaded, &Metrics::new())?;
    let Some(id) = args.template else {
        let list = pok
            .templates(args.limit)
            .await
            .map_err(pok_domain::Error::from)?;
        return output::rows(ctx.format(), &list);
    };
    let template = pok.template(&id).await.map_err(pok_domain::Error::from)?;
    let keying = ctx.loaded.issuing()?.param_keying;
    let params: Vec<ParamView> = template
        .custom_parameters
        .iter()
        .map(|p: &CustomParameter| ParamView {
            key: p.key(keying).to_owned(),
            label: p.label.clone(),
            id: p.id.clone(),
        })
        .collect();
    match ctx.format() {
        Format::Json => output::json(&template),
        Format::Csv => output::rows(Format::Csv, &params),
        Format::Table => {
            let mut s = format!("template {} ({})\n", template.id, template.name);
            if params.is_empty() {
                s.push_str(
                    "no custom parameters: `courses link COURSE TEMPLATE` needs no --param\n",
                );
                return output::text(&s);
            }
            s.push_str(
                "custom parameters (each needs --param KEY=SOURCE when linking a course):\n",
            );
            s.push_str(&output::table(
                ParamView::HEADERS,
                &params.iter().map(Row::cells).collect::<Vec<_>>(),
            ));
            output::text(&s)
        }
    }
}
