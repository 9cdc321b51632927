//! `-o json`: one JSON document, the schema_version 1 contract.

use crate::report::Report;

/// The report as pretty-printed JSON with a trailing newline.
pub fn render(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a report always serializes");
    s.push('\n');
    s
}

/// Several targets' document, as [`render`] does one report.
pub fn render_targets(report: &crate::report::TargetsReport) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a report always serializes");
    s.push('\n');
    s
}
