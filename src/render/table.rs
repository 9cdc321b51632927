//! `-o table`: a table for people at a terminal: status, check, message, and under each finding its fix.

use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, presets};
use owo_colors::OwoColorize;

use crate::report::{Report, Status};

fn status_color(s: Status) -> Color {
    match s {
        Status::Pass => Color::Green,
        Status::Warn => Color::Yellow,
        Status::Fail => Color::Red,
        Status::Skip => Color::DarkGrey,
        Status::Inconclusive => Color::Magenta,
        Status::Suppressed => Color::Blue,
    }
}

/// An unstyled table with a header row: no borders, no wrapping (commands must stay copy-paste ready), colour
/// only when `color`.
fn new_table(header: &[&str], color: bool) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_content_arrangement(ContentArrangement::Disabled);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table.set_header(header.iter().map(|h| {
        if color {
            Cell::new(h).add_attribute(Attribute::Bold)
        } else {
            Cell::new(h)
        }
    }));
    table
}

/// A status cell, coloured by `status` when `color`.
fn status_cell(status: Status, text: String, color: bool) -> Cell {
    if color {
        Cell::new(text).fg(status_color(status))
    } else {
        Cell::new(text)
    }
}

/// The report as a table. Colour only when `color` (the caller decides: terminal, NO_COLOR, --color).
pub fn render(report: &Report, color: bool) -> String {
    let t = &report.target;
    let mut out = String::new();
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    out.push_str(&format!(
        "skys3 doctor: cluster {} ({}), context {}, {}/{}, role {}, bucket {}, mode {}\n\n",
        dash(&t.cluster),
        dash(&t.region),
        dash(&t.context),
        dash(&t.namespace),
        dash(&t.service_account),
        dash(&t.role_name),
        dash(&t.bucket),
        t.mode
    ));

    let mut table = new_table(&["STATUS", "CHECK", "RESULT"], color);
    for c in &report.checks {
        let mut status = c.status.as_str().to_uppercase();
        if let Some(code) = &c.code {
            status = format!("{status} {code}");
        }
        let status_cell = status_cell(c.status, status, color);
        let mut text = c.message.clone();
        if let Some(sup) = &c.suppression {
            let expired = if sup.expired {
                "expired suppression"
            } else {
                "suppressed"
            };
            text.push_str(&format!("\n{expired}: {}", sup.reason));
        }
        if let Some(r) = &c.remediation {
            text.push_str(&format!("\nfix: {}", r.summary));
            for cmd in &r.commands {
                text.push_str(&format!("\n  $ {cmd}"));
            }
            if !r.guide.is_empty() {
                text.push_str(&format!("\nguide: {}", r.guide));
            }
        }
        table.add_row(vec![status_cell, Cell::new(&c.id), Cell::new(text)]);
    }
    for line in table.to_string().lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }

    let count = |s: Status| report.checks.iter().filter(|c| c.status == s).count();
    let summary = format!(
        "\n{}: {} passed, {} warned, {} failed, {} inconclusive, {} skipped, {} suppressed\n",
        report.status.as_str().to_uppercase(),
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Inconclusive),
        count(Status::Skip),
        count(Status::Suppressed),
    );
    if color {
        let styled = match report.status {
            Status::Pass => summary.green().bold().to_string(),
            Status::Warn => summary.yellow().bold().to_string(),
            Status::Fail => summary.red().bold().to_string(),
            _ => summary.magenta().bold().to_string(),
        };
        out.push_str(&styled);
    } else {
        out.push_str(&summary);
    }
    out
}

/// The codes of a report's findings, worst first ("SKY211, SKY151"), or "-".
pub fn findings_summary(report: &Report) -> String {
    let mut findings: Vec<&crate::report::CheckReport> = report
        .checks
        .iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Inconclusive | Status::Warn))
        .collect();
    findings.sort_by_key(|c| match c.status {
        Status::Fail => 0,
        Status::Inconclusive => 1,
        _ => 2,
    });
    let codes: Vec<String> = findings
        .iter()
        .map(|c| c.code.map(|c| c.to_string()).unwrap_or_else(|| c.id.clone()))
        .collect();
    if codes.is_empty() { "-".into() } else { codes.join(", ") }
}

/// Several targets: one summary row per target, then each target's table.
pub fn render_targets(report: &crate::report::TargetsReport, color: bool) -> String {
    let mut table = new_table(&["STATUS", "CONTEXT", "CLUSTER", "REGION", "FINDINGS"], color);
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    for t in &report.targets {
        table.add_row(vec![
            status_cell(t.status, t.status.as_str().to_uppercase(), color),
            Cell::new(dash(&t.target.context)),
            Cell::new(dash(&t.target.cluster)),
            Cell::new(dash(&t.target.region)),
            Cell::new(findings_summary(t)),
        ]);
    }
    let mut out = format!(
        "skys3 doctor: {} targets, {}\n\n",
        report.targets.len(),
        report.status.as_str().to_uppercase()
    );
    for line in table.to_string().lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for s in &report.skipped {
        out.push_str(&format!("not checked: {} ({})\n", s.context, s.reason));
    }
    for t in &report.targets {
        out.push_str("\n\n");
        out.push_str(&render(t, color));
    }
    out
}
