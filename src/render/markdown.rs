//! `-o markdown`: a report a person can paste into a support ticket: target, versions, a summary table, each
//! finding with its evidence and fix, and the evidence trail of every API call.

use crate::report::{Report, Status};

/// Escapes text for a Markdown table cell or paragraph: nothing in it can break the table or start markup.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '|' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '\\' | '#' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A fenced block longer than any backtick run inside it.
fn fenced(lang: &str, body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{lang}\n{}\n{fence}\n", body.trim_end())
}

/// The report as Markdown.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    o.push_str(&format!(
        "# skys3 doctor report: {}\n\n",
        r.status.as_str().to_uppercase()
    ));

    o.push_str("## Target\n\n| input | value | source |\n|---|---|---|\n");
    let t = &r.target;
    let rows = t.fields();
    for (k, v) in rows {
        let source = t.sources.get(k).map(String::as_str).unwrap_or("");
        o.push_str(&format!(
            "| {k} | {} | {} |\n",
            escape(v.unwrap_or("-")),
            escape(source)
        ));
    }
    o.push_str(&format!(
        "| mode | {} | {} |\n\n",
        escape(&t.mode),
        escape(t.sources.get("mode").map(String::as_str).unwrap_or(""))
    ));

    o.push_str("## Versions\n\n");
    let versions: Vec<String> = r.versions.iter().map(|(k, v)| format!("{k} {v}")).collect();
    o.push_str(&format!(
        "{} (report schema {})\n\n",
        escape(&versions.join(", ")),
        r.schema_version
    ));

    o.push_str("## Summary\n\n| status | check | code | result |\n|---|---|---|---|\n");
    for c in &r.checks {
        o.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            c.status.as_str().to_uppercase(),
            escape(&c.id),
            escape(c.code.map(|c| c.as_str()).unwrap_or("")),
            escape(&c.message)
        ));
    }
    o.push('\n');

    let findings: Vec<_> = r
        .checks
        .iter()
        .filter(|c| !matches!(c.status, Status::Pass | Status::Skip))
        .collect();
    o.push_str("## Findings\n\n");
    if findings.is_empty() {
        o.push_str("None: every check passed or was skipped.\n\n");
    }
    for c in findings {
        o.push_str(&format!(
            "### {} {} {}\n\n{}\n\n",
            c.status.as_str().to_uppercase(),
            escape(c.code.map(|c| c.as_str()).unwrap_or("")),
            escape(&c.id),
            escape(&c.message)
        ));
        if let Some(s) = &c.suppression {
            o.push_str(&format!(
                "Suppressed{}: {}\n\n",
                if s.expired { " (expired)" } else { "" },
                escape(&s.reason)
            ));
        }
        if let Some(rem) = &c.remediation {
            o.push_str(&format!(
                "**Fix** ({}): {}\n\n",
                escape(&rem.guide),
                escape(&rem.summary)
            ));
            if !rem.commands.is_empty() {
                o.push_str(&fenced("sh", &rem.commands.join("\n")));
                o.push('\n');
            }
        }
        if !c.evidence.is_null() {
            let json = serde_json::to_string_pretty(&c.evidence).unwrap_or_default();
            o.push_str(&format!(
                "<details><summary>Evidence</summary>\n\n{}\n</details>\n\n",
                fenced("json", &json)
            ));
        }
    }

    o.push_str("## Evidence trail\n\n");
    if r.calls.is_empty() {
        o.push_str("No API call was made.\n");
    } else {
        o.push_str("| # | service | operation | outcome | request id | ms |\n|---|---|---|---|---|---|\n");
        for (i, c) in r.calls.iter().enumerate() {
            o.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                i + 1,
                escape(&c.service),
                escape(&c.operation),
                escape(&c.outcome),
                escape(c.request_id.as_deref().unwrap_or("")),
                c.duration_ms
            ));
        }
    }
    o
}

/// Several targets' reports as Markdown: a summary table, then each target's report.
pub fn render_targets(r: &crate::report::TargetsReport) -> String {
    let mut o = format!(
        "# skys3 doctor: {} targets, {}\n\n| context | cluster | region | status | findings |\n|---|---|---|---|---|\n",
        r.targets.len(),
        r.status.as_str().to_uppercase()
    );
    for t in &r.targets {
        let cell = |v: &Option<String>| escape(v.as_deref().unwrap_or("-"));
        let _ = std::fmt::Write::write_fmt(
            &mut o,
            format_args!(
                "| {} | {} | {} | {} | {} |\n",
                cell(&t.target.context),
                cell(&t.target.cluster),
                cell(&t.target.region),
                t.status.as_str(),
                escape(&super::table::findings_summary(t))
            ),
        );
    }
    for s in &r.skipped {
        let _ = std::fmt::Write::write_fmt(
            &mut o,
            format_args!("\nNot checked: {} ({})\n", escape(&s.context), escape(&s.reason)),
        );
    }
    for t in &r.targets {
        o.push('\n');
        // Each target's report, one heading level down.
        for line in render(t).lines() {
            if line.starts_with('#') {
                o.push('#');
            }
            o.push_str(line);
            o.push('\n');
        }
    }
    o
}
