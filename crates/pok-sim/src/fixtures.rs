//! The simulator's fixed data: the API key, templates, pages and organisation it serves.
//!
//! Tests and the demo refer to these constants instead of repeating the strings.

/// The API key the simulator accepts unless [`crate::SimConfig::api_key`] says otherwise.
pub const API_KEY: &str = "sim-secret-key";

/// A template without custom parameters.
pub const TEMPLATE_SIMPLE: &str = "tpl-simple";
/// [`TEMPLATE_SIMPLE`]'s name.
pub const TEMPLATE_SIMPLE_NAME: &str = "Simple certificate";

/// A template with two custom parameters ([`PARAM_GRADE_LABEL`] and [`PARAM_COURSE_LABEL`]),
/// for testing parameter checks.
pub const TEMPLATE_GRADED: &str = "tpl-graded";
/// [`TEMPLATE_GRADED`]'s name.
pub const TEMPLATE_GRADED_NAME: &str = "Graded certificate";

/// Id of [`TEMPLATE_GRADED`]'s grade parameter.
pub const PARAM_GRADE_ID: &str = "p-grade";
/// Label of [`TEMPLATE_GRADED`]'s grade parameter.
pub const PARAM_GRADE_LABEL: &str = "grade";
/// Id of [`TEMPLATE_GRADED`]'s course parameter.
pub const PARAM_COURSE_ID: &str = "p-course";
/// Label of [`TEMPLATE_GRADED`]'s course parameter.
pub const PARAM_COURSE_LABEL: &str = "course";

/// A landing-page design.
pub const PAGE_CLASSIC: &str = "page-classic";
/// Another landing-page design.
pub const PAGE_MODERN: &str = "page-modern";

/// The organisation behind every API key.
pub const ORGANIZATION_NAME: &str = "Simulated University";
/// The organisation's wallet.
pub const ORGANIZATION_WALLET: &str = "0x51a7ed0000000000000000000000000000c0ffee";
/// Credits at start unless [`crate::SimConfig::credits`] says otherwise.
pub const DEFAULT_CREDITS: i64 = 1000;

/// A template as the simulator knows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixtureTemplate {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    /// `(id, label)` of each custom parameter.
    pub(crate) params: &'static [(&'static str, &'static str)],
}

/// Every template, in listing order.
pub(crate) const TEMPLATES: &[FixtureTemplate] = &[
    FixtureTemplate {
        id: TEMPLATE_SIMPLE,
        name: TEMPLATE_SIMPLE_NAME,
        params: &[],
    },
    FixtureTemplate {
        id: TEMPLATE_GRADED,
        name: TEMPLATE_GRADED_NAME,
        params: &[
            (PARAM_GRADE_ID, PARAM_GRADE_LABEL),
            (PARAM_COURSE_ID, PARAM_COURSE_LABEL),
        ],
    },
];

/// Every page, in listing order: `(id, name)`.
pub(crate) const PAGES: &[(&str, &str)] = &[
    (PAGE_CLASSIC, "Classic landing page"),
    (PAGE_MODERN, "Modern landing page"),
];

/// The template with this id.
pub(crate) fn template(id: &str) -> Option<&'static FixtureTemplate> {
    TEMPLATES.iter().find(|t| t.id == id)
}
