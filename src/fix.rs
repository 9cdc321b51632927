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

use serde_json::Value;

use crate::merge::{self, DocumentChange, DocumentRef, Edit};
use crate::report::{CheckReport, FixPhase, FixStep, Report, Status};
use crate::template;

/// A step and the findings it fixes.
struct Planned<'a> {
    step: &'a FixStep,
    findings: Vec<&'a CheckReport>,
}

/// One IAM document and every failing finding's edits to it: one guarded write in the script.
struct DocPlan<'a> {
    document: &'a DocumentRef,
    /// The document as the doctor read it (`None`: it did not exist).
    read: Option<&'a Value>,
    edits: Vec<Edit>,
    phase: FixPhase,
    findings: Vec<&'a CheckReport>,
    /// The merged document, or why no merge exists.
    merged: Result<Value, String>,
}

/// A step of the script, in phase order.
enum Item<'a> {
    Commands(Planned<'a>),
    Document(usize),
}

/// The fix script for one or more reports (one per target).
pub fn script<'a>(reports: &[&'a Report]) -> String {
    let mut steps: Vec<Planned> = Vec::new();
    let mut manual: Vec<&CheckReport> = Vec::new();
    let mut optional: Vec<&CheckReport> = Vec::new();
    let mut look: Vec<&CheckReport> = Vec::new();
    let mut blocked: Vec<&CheckReport> = Vec::new();
    let mut conflicting: Vec<(&CheckReport, String)> = Vec::new();
    let fix_of = |c: &'a CheckReport| c.remediation.as_ref().map(|r| r.fix.as_slice()).unwrap_or_default();
    let scriptable = |c: &'a CheckReport| {
        let fix = fix_of(c);
        c.status == Status::Fail && !fix.is_empty() && fix.iter().all(complete)
    };
    let all: Vec<&CheckReport> = reports.iter().flat_map(|r| &r.checks).collect();

    // Every IAM document change of the failing findings, merged per document: several clusters sharing a role
    // give one trust policy with each cluster's statement, written once.
    let mut docs: Vec<DocPlan> = Vec::new();
    for c in all.iter().copied().filter(|c| scriptable(c)) {
        for step in fix_of(c) {
            let Some(change) = &step.document else { continue };
            match docs.iter_mut().find(|d| *d.document == change.document) {
                Some(d) => {
                    d.phase = d.phase.min(step.phase);
                    if d.read != change.read.as_ref() {
                        d.merged = Err(format!(
                            "the reports hold two different readings of {}: rerun the doctor for all targets at once",
                            change.document.label()
                        ));
                    }
                    for e in &change.edits {
                        if !d.edits.contains(e) {
                            d.edits.push(e.clone());
                        }
                    }
                    if !d.findings.iter().any(|f| std::ptr::eq(*f, c)) {
                        d.findings.push(c);
                    }
                }
                None => docs.push(DocPlan {
                    document: &change.document,
                    read: change.read.as_ref(),
                    edits: change.edits.clone(),
                    phase: step.phase,
                    findings: vec![c],
                    merged: Ok(Value::Null),
                }),
            }
        }
    }
    for d in &mut docs {
        if d.merged.is_ok() {
            d.merged = if d.edits.iter().all(Edit::widens) {
                merge::apply(d.read, &d.edits)
                    .map_err(|e| format!("the changes do not fit {}: {e}", d.document.label()))
            } else {
                Err("a change narrows the document (a warning's fix), which is never scripted".into())
            };
        }
    }
    let doc_conflict = |c: &CheckReport| -> Option<String> {
        docs.iter()
            .filter(|d| d.findings.iter().any(|f| std::ptr::eq(*f, c)))
            .find_map(|d| d.merged.as_ref().err().cloned())
    };

    // A step with a `resource` and no document comes from a report of an older skys3, whose trust-policy and
    // role steps wrote the guide's whole document over the live one: never run; the doctor is run again instead.
    let replaces = |step: &FixStep| step.resource.is_some() && step.document.is_none();
    for c in all {
        let fix = fix_of(c);
        // Computed before the match: a `let` in a match guard needs a newer Rust than rust-version.
        let conflict = doc_conflict(c);
        match c.status {
            Status::Fail if scriptable(c) && conflict.is_some() => conflicting.push((c, conflict.unwrap_or_default())),
            Status::Fail if scriptable(c) && fix.iter().any(replaces) => conflicting.push((
                c,
                "this report was written by an older skys3, whose step replaces a whole IAM document; rerun \
                 skys3 doctor --fix-script for a merged one"
                    .into(),
            )),
            Status::Fail if scriptable(c) => {
                for step in fix.iter().filter(|s| s.document.is_none()) {
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
    let writes: Vec<usize> = (0..docs.len()).filter(|&i| docs[i].merged.is_ok()).collect();
    let mut items: Vec<(FixPhase, Item)> = steps
        .into_iter()
        .map(|p| (p.step.phase, Item::Commands(p)))
        .chain(writes.iter().map(|&i| (docs[i].phase, Item::Document(i))))
        .collect();
    // A stable sort: within a phase, the report's order (command steps, then document writes).
    items.sort_by_key(|(phase, _)| *phase);

    let mut out = String::new();
    header(&mut out, reports, items.len());
    let optional_documents = optional.iter().any(|c| fix_of(c).iter().any(|s| s.document.is_some()));
    documents_header(&mut out, &docs, &writes, optional_documents);
    let n = items.len();
    for (i, (phase, item)) in items.iter().enumerate() {
        let _ = writeln!(out, "# Step {}/{n}: {}", i + 1, phase_title(*phase));
        let findings = match item {
            Item::Commands(p) => &p.findings,
            Item::Document(d) => &docs[*d].findings,
        };
        for f in findings {
            let _ = writeln!(out, "#   fixes {}", finding_line(f));
        }
        let label = format!("skys3 fix: step {}/{n}: {}", i + 1, phase_title(*phase));
        let _ = writeln!(out, "echo {} >&2", template::shell_quote(&label));
        match item {
            Item::Commands(p) => match &p.step.unless {
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
            },
            Item::Document(d_index) => {
                let d = &docs[*d_index];
                let merged = d.merged.as_ref().expect("only merged documents are written");
                for line in merge::plan(d.read, merged, &d.edits) {
                    let _ = writeln!(out, "#   {}", comment_text(&line));
                }
                for line in write_document(d.document, d.read, merged, Some(*d_index)) {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        out.push('\n');
    }
    if items.is_empty() {
        out.push_str("# Nothing to run: no failing finding can be fixed by a command.\n\n");
    }
    if !conflicting.is_empty() {
        out.push_str("# ---- Conflicting: no change can satisfy these findings together; fix them by hand ----\n");
        for (c, why) in &conflicting {
            let _ = writeln!(out, "# {}", finding_line(c));
            let _ = writeln!(out, "#   why: {}", comment_text(why));
            if let Some(r) = &c.remediation {
                let _ = writeln!(out, "#   {}", comment_text(&r.summary));
                for step in r.fix.iter().filter(|s| s.document.is_none()) {
                    for cmd in &step.run {
                        let _ = writeln!(out, "#   {}", comment_text(cmd));
                    }
                }
            }
        }
        out.push('\n');
    }
    section(
        &mut out,
        "Not scripted: do these by hand (in this order), then rerun the doctor",
        &manual,
        true,
        None,
    );
    section(
        &mut out,
        "Warnings: optional changes, commented out; uncomment what you want",
        &optional,
        false,
        Some(&docs),
    );
    section(
        &mut out,
        "Inconclusive: the doctor could not decide; look at these, then rerun it",
        &look,
        true,
        None,
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

/// The shell helpers document writes use, written once at the top of a script that has any.
///
/// `skys3_same` compares two documents by meaning, as JSON values: key order, spacing and IAM's URL-encoding do
/// not count. It uses python3, which every SkyPilot user has (SkyPilot is a Python package).
const HELPERS: &str = r#"# Helpers for the document writes (read-only until a step decides to write).
# skys3_same A B: the two JSON documents mean the same (key order, spacing, URL-encoding aside).
skys3_same() {
  python3 -c 'import json, sys, urllib.parse
def load(s):
    v = json.loads(s)
    return json.loads(urllib.parse.unquote(v)) if isinstance(v, str) else v
try:
    same = load(sys.argv[1]) == load(sys.argv[2])
except ValueError:
    same = False
sys.exit(0 if same else 1)' "$1" "$2"
}
# skys3_read CMD...: the document a read-only AWS CLI command prints, or null when the entity does not exist.
skys3_read() {
  local out err rc=0
  err=$(mktemp)
  out=$("$@" --output json 2>"$err") || rc=$?
  if [ "$rc" -eq 0 ]; then
    printf '%s\n' "$out"
  elif grep -q NoSuchEntity "$err"; then
    echo null
  else
    cat "$err" >&2
    rm -f "$err"
    return 1
  fi
  rm -f "$err"
}
# skys3_read_policy ARN: the document of a managed policy's default version.
skys3_read_policy() {
  local version
  version=$(aws iam get-policy --policy-arn "$1" --query Policy.DefaultVersionId --output text)
  skys3_read aws iam get-policy-version --policy-arn "$1" --version-id "$version" --query PolicyVersion.Document
}
# skys3_fresh WHAT READ MERGED LIVE: stops the script unless LIVE is the document the doctor read, or already the
# merged one (a second run).
skys3_fresh() {
  if skys3_same "$3" "$4" || skys3_same "$2" "$4"; then
    return 0
  fi
  echo "skys3 fix: $1 changed since the doctor read it, so nothing more is written: rerun skys3 doctor --fix-script and read the new plan." >&2
  exit 1
}
# skys3_due WHAT READ MERGED LIVE: succeeds when the merged document is still to be written.
skys3_due() {
  skys3_fresh "$@"
  if skys3_same "$3" "$4"; then
    echo '  already done' >&2
    return 1
  fi
}
# skys3_make_room ARN: IAM keeps at most five versions of a policy; when full, delete the oldest non-default one.
skys3_make_room() {
  local count oldest
  count=$(aws iam list-policy-versions --policy-arn "$1" --query 'length(Versions)' --output text)
  if [ "$count" -ge 5 ]; then
    oldest=$(aws iam list-policy-versions --policy-arn "$1" --query 'sort_by(Versions[?!IsDefaultVersion], &CreateDate)[0].VersionId' --output text)
    echo "skys3 fix: $1 has IAM's limit of five versions: deleting its oldest non-default version $oldest (the default version stays)" >&2
    aws iam delete-policy-version --policy-arn "$1" --version-id "$oldest"
  fi
}
"#;

/// The read-only command that prints a document's live JSON (through `skys3_read`).
fn read_command(doc: &DocumentRef) -> String {
    let q = template::shell_quote;
    match doc {
        DocumentRef::TrustPolicy { role } => format!(
            "skys3_read aws iam get-role --role-name {} --query Role.AssumeRolePolicyDocument",
            q(role)
        ),
        DocumentRef::ManagedPolicy { policy_arn } => format!("skys3_read_policy {}", q(policy_arn)),
        DocumentRef::InlinePolicy { role, policy_name } => format!(
            "skys3_read aws iam get-role-policy --role-name {} --policy-name {} --query PolicyDocument",
            q(role),
            q(policy_name)
        ),
    }
}

/// The guarded write of one merged document: read it again, stop if it changed since the doctor read it, skip it
/// if it is already the merged one, else write the merged document.
///
/// `vars` names the shell variables that hold the read and merged documents (set in the script's header); without
/// it, the documents are written out in place (a warning's commented-out write).
fn write_document(doc: &DocumentRef, read: Option<&Value>, merged: &Value, vars: Option<usize>) -> Vec<String> {
    let q = template::shell_quote;
    let (read_json, merged_json) = match vars {
        Some(i) => (format!("\"$doc{i}_read\""), format!("\"$doc{i}_merged\"")),
        None => (
            q(&read.map(Value::to_string).unwrap_or_else(|| "null".into())),
            q(&merged.to_string()),
        ),
    };
    let write = match doc {
        DocumentRef::TrustPolicy { role } if read.is_none() => vec![format!(
            "aws iam create-role --role-name {} --assume-role-policy-document {}",
            q(role),
            merged_json
        )],
        DocumentRef::TrustPolicy { role } => vec![format!(
            "aws iam update-assume-role-policy --role-name {} --policy-document {}",
            q(role),
            merged_json
        )],
        DocumentRef::ManagedPolicy { policy_arn } => vec![
            format!("skys3_make_room {}", q(policy_arn)),
            format!(
                "aws iam create-policy-version --policy-arn {} --policy-document {} --set-as-default",
                q(policy_arn),
                merged_json
            ),
        ],
        DocumentRef::InlinePolicy { role, policy_name } => vec![format!(
            "aws iam put-role-policy --role-name {} --policy-name {} --policy-document {}",
            q(role),
            q(policy_name),
            merged_json
        )],
    };
    let mut lines = vec![
        format!("live=$({})", read_command(doc)),
        format!(
            "if skys3_due {} {read_json} {merged_json} \"$live\"; then",
            q(&doc.label()),
        ),
    ];
    lines.extend(write.into_iter().map(|w| format!("  {w}")));
    lines.push("fi".into());
    lines
}

/// Which documents the script rewrites in full, with their merged content, and the stale-read check of all of
/// them before anything is written.
fn documents_header(out: &mut String, docs: &[DocPlan], writes: &[usize], helpers: bool) {
    if helpers || !writes.is_empty() {
        out.push_str(HELPERS);
        out.push('\n');
    }
    if writes.is_empty() {
        return;
    }
    out.push_str(
        "# IAM documents this script writes in full (IAM has no partial update). Each is the document the doctor\n\
         # read with only the additions its step lists: no statement, action or condition value is removed, and\n\
         # no other IAM document is written. Before anything is written, each is read again, and the script stops\n\
         # if one changed since the doctor read it.\n",
    );
    for &i in writes {
        let d = &docs[i];
        let merged = d.merged.as_ref().expect("writes are merged");
        let how = if d.read.is_some() { "rewritten" } else { "created" };
        let _ = writeln!(out, "#   {} ({how}), merged:", comment_text(&d.document.label()));
        let pretty = serde_json::to_string_pretty(merged).unwrap_or_default();
        for line in pretty.lines() {
            let _ = writeln!(out, "#     {}", comment_text(line));
        }
    }
    let q = template::shell_quote;
    out.push_str("# The documents as the doctor read them (null: absent) and as the script writes them.\n");
    for &i in writes {
        let d = &docs[i];
        let merged = d.merged.as_ref().expect("writes are merged").to_string();
        let read = d.read.map(Value::to_string).unwrap_or_else(|| "null".into());
        let _ = writeln!(out, "doc{i}_read={}", q(&read));
        let _ = writeln!(out, "doc{i}_merged={}", q(&merged));
    }
    out.push_str("echo 'skys3 fix: checking that the documents are still the ones the doctor read' >&2\n");
    for &i in writes {
        let d = &docs[i];
        let _ = writeln!(out, "live=$({})", read_command(d.document));
        let _ = writeln!(
            out,
            "skys3_fresh {} \"$doc{i}_read\" \"$doc{i}_merged\" \"$live\"",
            q(&d.document.label()),
        );
    }
    out.push('\n');
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

/// Writes findings as comments: the finding, the fix's summary, and (with `fix`) its commands, commented out. A
/// document change is shown as the guarded write it would be, on top of the failing findings' merged document.
fn section(out: &mut String, title: &str, findings: &[&CheckReport], diagnose: bool, fix: Option<&[DocPlan]>) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(out, "# ---- {title} ----");
    for c in findings {
        let _ = writeln!(out, "# {}", finding_line(c));
        let Some(r) = &c.remediation else { continue };
        let _ = writeln!(out, "#   {}", comment_text(&r.summary));
        if let Some(e) = &r.edit {
            let _ = writeln!(
                out,
                "#   edit {}: set {} (paste this, merged with the keys already there; keep a backup):",
                comment_text(&e.file),
                comment_text(&e.key)
            );
            for line in e.yaml.lines() {
                let _ = writeln!(out, "#     {}", comment_text(line));
            }
        }
        if let Some(docs) = fix.filter(|_| !r.fix.is_empty()) {
            for step in &r.fix {
                for cmd in &step.run {
                    let _ = writeln!(out, "#   {}", comment_text(cmd));
                }
                if let Some(change) = &step.document {
                    for line in optional_write(change, docs) {
                        let _ = writeln!(out, "#   {}", comment_text(&line));
                    }
                }
            }
        } else if diagnose || fix.is_some() {
            for cmd in &r.commands {
                let _ = writeln!(out, "#   $ {}", comment_text(cmd));
            }
        }
    }
    out.push('\n');
}

/// A warning's document change, as the lines it would run: its edits on top of what the script's own steps write
/// to that document (so that its guard expects the document as the script leaves it).
fn optional_write(change: &DocumentChange, docs: &[DocPlan]) -> Vec<String> {
    let base = docs
        .iter()
        .find(|d| *d.document == change.document && d.read == change.read.as_ref())
        .and_then(|d| d.merged.as_ref().ok().cloned())
        .or_else(|| change.read.clone());
    match merge::apply(base.as_ref(), &change.edits) {
        Ok(merged) => merge::plan(base.as_ref(), &merged, &change.edits)
            .into_iter()
            .chain(write_document(&change.document, base.as_ref(), &merged, None))
            .collect(),
        Err(e) => vec![format!("the change does not fit {}: {e}", change.document.label())],
    }
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
                edit: None,
                summary: "do it".into(),
                commands: vec!["aws iam get-role --role-name r".into()],
                guide: "g".into(),
                fix,
            }),
            blocked_by: vec![],
            evidence: Value::Null,
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
            document: None,
        }
    }

    #[test]
    fn an_older_reports_whole_document_step_never_runs() {
        let replace = FixStep {
            resource: Some("trust policy of role r".into()),
            ..step(
                FixPhase::TrustPolicy,
                "aws iam update-assume-role-policy --role-name r --policy-document A",
            )
        };
        let a = Report::new(
            Target::default(),
            vec![finding("iam.trust-policy", Status::Fail, "a", vec![replace])],
        );
        let s = script(&[&a]);
        assert!(!s.contains("\naws iam update-assume-role-policy"), "never runs:\n{s}");
        assert!(s.contains("# ---- Conflicting") && s.contains("older skys3"), "{s}");
    }

    #[test]
    fn targets_share_one_merged_write_unless_they_read_different_documents() {
        use serde_json::json;
        let change = |read: Value, sub: &str| FixStep {
            document: Some(DocumentChange {
                document: DocumentRef::TrustPolicy { role: "r".into() },
                read: Some(read),
                edits: vec![Edit::AddStatement {
                    statement: json!({"Effect": "Allow", "Principal": {"Federated": sub}, "Action": "sts:AssumeRoleWithWebIdentity"}),
                }],
            }),
            run: vec![],
            ..step(FixPhase::TrustPolicy, "")
        };
        let live = json!({"Statement": [{"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "a"}, "Action": "sts:AssumeRole"}]});
        let report = |read: &Value, sub: &str| {
            Report::new(
                Target::default(),
                vec![finding(
                    "iam.trust-policy",
                    Status::Fail,
                    sub,
                    vec![change(read.clone(), sub)],
                )],
            )
        };
        let (a, b) = (report(&live, "p1"), report(&live, "p2"));
        let s = script(&[&a, &b]);
        assert_eq!(
            s.matches("\n  aws iam update-assume-role-policy").count(),
            1,
            "one write:\n{s}"
        );
        assert!(
            s.contains("#   = kept    #1: Sid Admin") && s.contains("#   + added   #3"),
            "{s}"
        );
        // Two readings of one document: no merge can be trusted, so neither is written.
        let other = json!({"Statement": []});
        let s = script(&[&a, &report(&other, "p2")]);
        assert!(!s.contains("\n  aws iam update-assume-role-policy"), "{s}");
        assert!(s.contains("two different readings"), "{s}");
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
