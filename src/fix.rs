//! `--fix-script`: one shell script, printed and never run, that takes a setup from its report to healthy.
//!
//! The script is built from the reports alone (the fix steps are part of the JSON), so a saved report gives the
//! same script as the run that wrote it. Like `terraform plan`, it shows everything before anything changes:
//!
//! - the steps of every failing finding, deduplicated (two findings that need the same change get one step) and
//!   sorted by [`FixPhase`], so that what a step needs exists first (OIDC provider before the trust policy that
//!   names it, role before its policy attachment, association and annotation after the role);
//! - each step guarded by a read-only test, so a second run changes nothing where the AWS CLI allows;
//! - what no command can fix (logins, SkyPilot config edits, relaunching pods, which deletes them) as comments, in
//!   the report's order; inconclusive findings as comments saying what to look at, never as commands;
//! - warnings' changes commented out: they are optional, and nothing runs without asking.
//!
//! Values are shell-quoted when the templates are filled; free text (messages, names in comments) is written on
//! one line with control characters removed, so nothing in a report can end a comment and become a command.

use std::fmt::Write as _;

use crate::report::{CheckReport, FixPhase, FixStep, Report, Status};
use crate::template;

/// A step and the findings it fixes.
struct Planned<'a> {
    step: &'a FixStep,
    findings: Vec<&'a CheckReport>,
}

/// The fix script for one or more reports (one per target).
pub fn script<'a>(reports: &[&'a Report]) -> String {
    let mut steps: Vec<Planned> = Vec::new();
    let mut manual: Vec<&CheckReport> = Vec::new();
    let mut optional: Vec<&CheckReport> = Vec::new();
    let mut look: Vec<&CheckReport> = Vec::new();
    let mut blocked: Vec<&CheckReport> = Vec::new();
    let mut conflicting: Vec<&CheckReport> = Vec::new();
    let fix_of = |c: &'a CheckReport| c.remediation.as_ref().map(|r| r.fix.as_slice()).unwrap_or_default();
    let scriptable = |c: &'a CheckReport| {
        let fix = fix_of(c);
        c.status == Status::Fail && !fix.is_empty() && fix.iter().all(complete)
    };
    let all: Vec<&CheckReport> = reports.iter().flat_map(|r| &r.checks).collect();
    // Two steps that set one resource differently (two clusters' IRSA trust policies for one shared role): the
    // second would undo the first, so neither is scripted; the findings say what to merge by hand.
    let mut setting: Vec<(&str, &FixStep)> = Vec::new();
    for step in all.iter().filter(|c| scriptable(c)).flat_map(|c| fix_of(c)) {
        if let Some(r) = step.resource.as_deref()
            && !setting.iter().any(|(res, s)| *res == r && *s == step)
        {
            setting.push((r, step));
        }
    }
    let conflicts = |step: &FixStep| {
        step.resource
            .as_deref()
            .is_some_and(|r| setting.iter().filter(|(res, _)| *res == r).count() > 1)
    };
    for c in all {
        let fix = fix_of(c);
        match c.status {
            Status::Fail if scriptable(c) && fix.iter().any(conflicts) => conflicting.push(c),
            Status::Fail if scriptable(c) => {
                for step in fix {
                    match steps.iter_mut().find(|p| p.step == step) {
                        Some(p) if !p.findings.iter().any(|f| std::ptr::eq(*f, c)) => p.findings.push(c),
                        Some(_) => {}
                        None => steps.push(Planned {
                            step,
                            findings: vec![c],
                        }),
                    }
                }
            }
            Status::Fail => manual.push(c),
            Status::Warn => optional.push(c),
            Status::Inconclusive => look.push(c),
            // Several targets skip the same check for the same reason: once is enough.
            Status::Skip
                if !c.blocked_by.is_empty()
                    && !blocked.iter().any(|b| b.id == c.id && b.blocked_by == c.blocked_by) =>
            {
                blocked.push(c)
            }
            _ => {}
        }
    }
    // A stable sort: within a phase, the report's order.
    steps.sort_by_key(|p| p.step.phase);

    let mut out = String::new();
    header(&mut out, reports, steps.len());
    for (i, p) in steps.iter().enumerate() {
        let _ = writeln!(out, "# Step {}/{}: {}", i + 1, steps.len(), phase_title(p.step.phase));
        for f in &p.findings {
            let _ = writeln!(out, "#   fixes {}", finding_line(f));
        }
        let label = format!(
            "skys3 fix: step {}/{}: {}",
            i + 1,
            steps.len(),
            phase_title(p.step.phase)
        );
        let _ = writeln!(out, "echo {} >&2", template::shell_quote(&label));
        match &p.step.unless {
            Some(test) => {
                let _ = writeln!(out, "if ! {{ {test}; }} >/dev/null 2>&1; then");
                for cmd in &p.step.run {
                    let _ = writeln!(out, "  {cmd}");
                }
                let _ = writeln!(out, "else\n  echo '  already done' >&2\nfi");
            }
            None => {
                for cmd in &p.step.run {
                    let _ = writeln!(out, "{cmd}");
                }
            }
        }
        out.push('\n');
    }
    if steps.is_empty() {
        out.push_str("# Nothing to run: no failing finding can be fixed by a command.\n\n");
    }
    section(
        &mut out,
        "Conflicting: these targets need one resource set differently; merge the changes by hand",
        &conflicting,
        false,
        true,
    );
    section(
        &mut out,
        "Not scripted: do these by hand (in this order), then rerun the doctor",
        &manual,
        true,
        false,
    );
    section(
        &mut out,
        "Warnings: optional changes, commented out; uncomment what you want",
        &optional,
        false,
        true,
    );
    section(
        &mut out,
        "Inconclusive: the doctor could not decide; look at these, then rerun it",
        &look,
        true,
        false,
    );
    if !blocked.is_empty() {
        out.push_str(
            "# Skipped checks, which run once what they wait for is fixed (rerun the doctor after this script):\n",
        );
        for c in &blocked {
            let _ = writeln!(
                out,
                "#   {} (waits for {})",
                comment_text(&c.id),
                comment_text(&c.blocked_by.join(", "))
            );
        }
        out.push('\n');
    }
    out.push_str(
        "echo 'skys3 fix: done; rerun the doctor as before, with --wait 2m: IAM and the association take a minute to propagate' >&2\n",
    );
    out
}

fn header(out: &mut String, reports: &[&Report], steps: usize) {
    out.push_str("#!/usr/bin/env bash\n");
    let version = reports.first().map(|r| r.skys3_version.as_str()).unwrap_or_default();
    let _ = writeln!(out, "# Fix script written by skys3 {}.", comment_text(version));
    for r in reports {
        let t = &r.target;
        let _ = writeln!(
            out,
            "# Target: cluster {} in {} (context {}), {}/{}, bucket {}, role {}; report status {}.",
            comment_text(t.cluster.as_deref().unwrap_or("?")),
            comment_text(t.region.as_deref().unwrap_or("?")),
            comment_text(t.context.as_deref().unwrap_or("?")),
            comment_text(t.namespace.as_deref().unwrap_or("?")),
            comment_text(t.service_account.as_deref().unwrap_or("?")),
            comment_text(t.bucket.as_deref().unwrap_or("?")),
            comment_text(t.role_name.as_deref().unwrap_or("?")),
            r.status.as_str(),
        );
    }
    let _ = writeln!(
        out,
        "# Read it before running it: its {steps} step(s) change AWS and Kubernetes (the doctor itself never does).\n\
         # Each step runs only when its read-only test finds the change missing, so running it twice is harmless.\n\
         # It uses the AWS CLI and kubectl with your current credentials, profile and kubeconfig."
    );
    out.push_str("set -euo pipefail\n\n");
}

/// Writes findings as comments: the finding, the fix's summary, and its commands (commented out).
fn section(out: &mut String, title: &str, findings: &[&CheckReport], diagnose: bool, with_fix: bool) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(out, "# ---- {title} ----");
    for c in findings {
        let _ = writeln!(out, "# {}", finding_line(c));
        let Some(r) = &c.remediation else { continue };
        let _ = writeln!(out, "#   {}", comment_text(&r.summary));
        if with_fix && !r.fix.is_empty() {
            for step in &r.fix {
                for cmd in &step.run {
                    let _ = writeln!(out, "#   {}", comment_text(cmd));
                }
            }
        } else if diagnose || with_fix {
            for cmd in &r.commands {
                let _ = writeln!(out, "#   $ {}", comment_text(cmd));
            }
        }
    }
    out.push('\n');
}

fn finding_line(c: &CheckReport) -> String {
    let code = c.code.map(|c| c.as_str()).unwrap_or("-");
    comment_text(&format!("[{code}] {}: {}", c.id, c.message))
}

/// Whether every value of a step was known: an unfilled `{placeholder}` would run as a literal.
fn complete(step: &FixStep) -> bool {
    step.run
        .iter()
        .chain(step.unless.as_ref())
        .all(|c| template::placeholders(c).is_empty())
}

/// Free text for a comment: one line, no control characters (a newline would end the comment).
fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

fn phase_title(p: FixPhase) -> &'static str {
    match p {
        FixPhase::OidcProvider => "register the cluster's OIDC provider in IAM",
        FixPhase::Role => "create the IAM role",
        FixPhase::Policy => "create the S3 policy",
        FixPhase::TrustPolicy => "set the role's trust policy",
        FixPhase::Attach => "attach the S3 policy to the role",
        FixPhase::Addon => "install the Pod Identity agent add-on",
        FixPhase::Association => "wire the role to the service account (Pod Identity association)",
        FixPhase::Namespace => "create the namespace",
        FixPhase::ServiceAccount => "create the service account",
        FixPhase::Annotation => "annotate the service account with the role (IRSA)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Remediation, Target};

    fn finding(id: &str, status: Status, message: &str, fix: Vec<FixStep>) -> CheckReport {
        CheckReport {
            id: id.into(),
            title: id.into(),
            status,
            code: None,
            message: message.into(),
            remediation: Some(Remediation {
                summary: "do it".into(),
                commands: vec!["aws iam get-role --role-name r".into()],
                guide: "g".into(),
                fix,
            }),
            blocked_by: vec![],
            evidence: serde_json::Value::Null,
            suppression: None,
            duration_ms: 0,
        }
    }

    fn step(phase: FixPhase, run: &str) -> FixStep {
        FixStep {
            phase,
            unless: None,
            run: vec![run.into()],
            resource: None,
        }
    }

    #[test]
    fn one_resource_set_two_ways_is_left_to_a_person() {
        let trust = |doc: &str| FixStep {
            resource: Some("trust policy of role r".into()),
            ..step(
                FixPhase::TrustPolicy,
                &format!("aws iam update-assume-role-policy --role-name r --policy-document {doc}"),
            )
        };
        let a = Report::new(
            Target::default(),
            vec![finding("iam.trust-policy", Status::Fail, "a", vec![trust("A")])],
        );
        let b = Report::new(
            Target::default(),
            vec![finding("iam.trust-policy", Status::Fail, "b", vec![trust("B")])],
        );
        let s = script(&[&a, &b]);
        assert!(!s.contains("\naws iam update-assume-role-policy"), "neither runs:\n{s}");
        assert!(s.contains("# ---- Conflicting"), "{s}");
        assert!(
            s.contains("--policy-document A") && s.contains("--policy-document B"),
            "{s}"
        );
        // The same change from two targets is one step, not a conflict.
        let s = script(&[&a, &a.clone()]);
        assert_eq!(s.matches("\naws iam update-assume-role-policy").count(), 1, "{s}");
    }

    #[test]
    fn orders_by_phase_dedupes_and_comments_the_rest() {
        let attach = step(FixPhase::Attach, "aws iam attach-role-policy x");
        let report = Report::new(
            Target::default(),
            vec![
                finding("a", Status::Fail, "second", vec![attach.clone()]),
                finding(
                    "b",
                    Status::Fail,
                    "first",
                    vec![step(FixPhase::Role, "aws iam create-role r"), attach.clone()],
                ),
                finding(
                    "c",
                    Status::Inconclusive,
                    "unsure",
                    vec![step(FixPhase::Addon, "create-addon")],
                ),
                finding(
                    "d",
                    Status::Warn,
                    "maybe",
                    vec![step(FixPhase::Annotation, "kubectl annotate x-")],
                ),
                finding(
                    "e",
                    Status::Fail,
                    "needs {role_arn}",
                    vec![step(FixPhase::Annotation, "k {role_arn}")],
                ),
            ],
        );
        let s = script(&[&report]);
        let role = s.find("\naws iam create-role r").expect("role step");
        let attach_at = s.find("\naws iam attach-role-policy x").expect("attach step");
        assert!(role < attach_at, "role before attachment:\n{s}");
        assert_eq!(
            s.matches("\naws iam attach-role-policy x").count(),
            1,
            "deduplicated:\n{s}"
        );
        assert!(!s.contains("\ncreate-addon"), "inconclusive findings never run:\n{s}");
        assert!(
            s.contains("#   kubectl annotate x-"),
            "warnings are commented out:\n{s}"
        );
        assert!(!s.contains("\nk {role_arn}"), "incomplete steps never run:\n{s}");
        assert!(s.contains("set -euo pipefail"));
    }

    #[test]
    fn free_text_cannot_leave_its_comment() {
        let report = Report::new(
            Target {
                cluster: Some("c\ntouch /tmp/pwned".into()),
                ..Target::default()
            },
            vec![finding("a", Status::Fail, "x\rtouch pwned\u{2028}y", vec![])],
        );
        let s = script(&[&report]);
        for line in s.lines() {
            assert!(
                line.is_empty() || line.starts_with('#') || line.starts_with("set ") || line.starts_with("echo "),
                "{line:?} in\n{s}"
            );
        }
    }
}
