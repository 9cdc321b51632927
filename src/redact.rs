//! `--redact`: masks what identifies the account and its resources, consistently (one value, one mask), for
//! reports sent outside the company: account ids (also inside ARNs), the cluster's API endpoint host, and the
//! bucket name. Secrets need no masking: the doctor never reads them into a report.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

use crate::report::Report;

/// The report with identifying values masked.
pub fn redact(report: &Report) -> Report {
    let mut doc = serde_json::to_value(report).expect("a report serializes");
    let mut values: Vec<(String, String)> = Vec::new();

    // Account ids: any 12-digit number standing alone (ARNs, messages, evidence).
    let account = Regex::new(r"\b\d{12}\b").expect("valid regex");
    let mut accounts: BTreeMap<String, String> = BTreeMap::new();
    walk(&doc, &mut |s| {
        for m in account.find_iter(s) {
            let n = accounts.len() + 1;
            accounts
                .entry(m.as_str().to_string())
                .or_insert_with(|| format!("<account-{n}>"));
        }
    });
    values.extend(accounts);
    if let Some(bucket) = report.target.bucket.as_ref().filter(|b| !b.is_empty()) {
        values.push((bucket.clone(), "<bucket-1>".into()));
    }
    let mut hosts: Vec<String> = Vec::new();
    for c in &report.checks {
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
    map_strings(&mut doc, &|s| {
        let mut out = s.to_string();
        for (re, mask) in &patterns {
            out = re.replace_all(&out, regex::NoExpand(mask)).into_owned();
        }
        out
    });
    serde_json::from_value(doc).expect("masking strings keeps the report's shape")
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
