//! `--redact`: masks what identifies the account and its resources, consistently (one value, one mask), for
//! reports sent outside the company: account ids (also inside ARNs), the cluster's API endpoint host, the bucket
//! name, and the user's home directory in paths (`/home/alice/.sky/config.yaml` -> `~/.sky/config.yaml`).
//! Secrets need no masking: the doctor never reads them into a report.

use std::collections::BTreeMap;

use std::path::Path;

use regex::Regex;
use serde_json::Value;

use crate::report::{Report, TargetsReport};

/// The report with identifying values masked. `home` is the user's home directory (`$HOME`), written as `~`.
pub fn redact(report: &Report, home: Option<&Path>) -> Report {
    let mut doc = serde_json::to_value(report).expect("a report serializes");
    mask(&mut doc, std::slice::from_ref(report), home);
    let mut out: Report = serde_json::from_value(doc).expect("masking strings keeps the report's shape");
    out.redacted = true;
    out
}

/// Several targets' document with identifying values masked in one pass, so that one value has one mask across
/// all targets (`<account-1>` is the same account in every target).
pub fn redact_targets(report: &TargetsReport, home: Option<&Path>) -> TargetsReport {
    let mut doc = serde_json::to_value(report).expect("a report serializes");
    mask(&mut doc, &report.targets, home);
    let mut out: TargetsReport = serde_json::from_value(doc).expect("masking strings keeps the report's shape");
    out.targets.iter_mut().for_each(|t| t.redacted = true);
    out
}

/// Any document, masked as [`redact`] and [`redact_targets`] do.
pub fn redact_document(doc: &crate::report::Document, home: Option<&Path>) -> crate::report::Document {
    use crate::report::Document;
    match doc {
        Document::Single(r) => Document::Single(Box::new(redact(r, home))),
        Document::Targets(t) => Document::Targets(redact_targets(t, home)),
    }
}

/// Masks `doc` in place: account ids anywhere, and the buckets and endpoint hosts of `reports`.
fn mask(doc: &mut Value, reports: &[Report], home: Option<&Path>) {
    let mut values: Vec<(String, String)> = Vec::new();

    // Account ids: any 12-digit number standing alone (ARNs, messages, evidence).
    let account = Regex::new(r"\b\d{12}\b").expect("valid regex");
    let mut accounts: BTreeMap<String, String> = BTreeMap::new();
    walk(doc, &mut |s| {
        for m in account.find_iter(s) {
            let n = accounts.len() + 1;
            accounts
                .entry(m.as_str().to_string())
                .or_insert_with(|| format!("<account-{n}>"));
        }
    });
    values.extend(accounts);
    let mut buckets: Vec<&String> = Vec::new();
    for b in reports.iter().filter_map(|r| r.target.bucket.as_ref()) {
        if !b.is_empty() && !buckets.contains(&b) {
            buckets.push(b);
        }
    }
    for (i, b) in buckets.into_iter().enumerate() {
        values.push((b.clone(), format!("<bucket-{}>", i + 1)));
    }
    let mut hosts: Vec<String> = Vec::new();
    for c in reports.iter().flat_map(|r| &r.checks) {
        for url in [
            &c.evidence["cluster"]["endpoint"],
            &c.evidence["cluster_endpoint"],
            &c.evidence["server"],
        ] {
            if let Some(host) = url.as_str().and_then(host_of)
                && !hosts.contains(&host)
            {
                hosts.push(host);
            }
        }
    }
    for (i, h) in hosts.into_iter().enumerate() {
        values.push((h, format!("<endpoint-{}>", i + 1)));
    }
    // Longest first, so a value inside another is not masked piecemeal.
    values.sort_by_key(|v| std::cmp::Reverse(v.0.len()));
    let patterns: Vec<(Regex, String)> = values
        .into_iter()
        .map(|(v, mask)| {
            (
                Regex::new(&format!(r"\b{}\b", regex::escape(&v))).expect("escaped"),
                mask,
            )
        })
        .collect();
    // The home directory, where a path starts with it; a home of `/` would turn every path into `~`.
    let home = home
        .and_then(Path::to_str)
        .map(|h| h.trim_end_matches('/'))
        .filter(|h| h.len() > 1)
        .map(|h| {
            Regex::new(&format!(
                r"(^|[^A-Za-z0-9._/-]){}(/|$|[^A-Za-z0-9._-])",
                regex::escape(h)
            ))
            .expect("escaped")
        });
    map_strings(doc, &|s| {
        let mut out = s.to_string();
        if let Some(re) = &home {
            out = re.replace_all(&out, "${1}~${2}").into_owned();
        }
        for (re, mask) in &patterns {
            out = re.replace_all(&out, regex::NoExpand(mask)).into_owned();
        }
        out
    });
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host = rest.split(['/', ':', '?']).next()?;
    (!host.is_empty()).then(|| host.to_string())
}

fn walk(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            f(k);
            walk(x, f)
        }),
        _ => {}
    }
}

fn map_strings(v: &mut Value, f: &dyn Fn(&str) -> String) {
    match v {
        Value::String(s) => *s = f(s),
        Value::Array(a) => a.iter_mut().for_each(|x| map_strings(x, f)),
        Value::Object(o) => {
            let old = std::mem::take(o);
            for (k, mut x) in old {
                map_strings(&mut x, f);
                o.insert(f(&k), x);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{CheckReport, Status, Target};

    fn report(message: &str) -> Report {
        Report::new(
            Target::default(),
            vec![CheckReport {
                id: "sky.config".into(),
                title: "t".into(),
                status: Status::Fail,
                code: None,
                message: message.into(),
                remediation: None,
                blocked_by: vec![],
                evidence: serde_json::json!({ "file": message }),
                suppression: None,
                duration_ms: 0,
            }],
        )
    }

    #[test]
    fn home_directory_becomes_tilde_only_at_a_path_boundary() {
        let home = Path::new("/home/al");
        let r = redact(
            &report("in /home/al/.sky/config.yaml and /home/alice/x and /home/al"),
            Some(home),
        );
        assert_eq!(r.checks[0].message, "in ~/.sky/config.yaml and /home/alice/x and ~");
        assert_eq!(r.checks[0].evidence["file"], r.checks[0].message.as_str());
        let r = redact(&report("/etc/x"), Some(Path::new("/")));
        assert_eq!(r.checks[0].message, "/etc/x", "a home of / masks nothing");
    }
}
