//! The one report model every renderer reads. Its JSON form is the `-o json` contract (schema_version 1).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::code::Code;
use crate::probe::ApiCall;

/// Version of the JSON document's shape. Bump on any breaking change.
pub const SCHEMA_VERSION: u32 = 1;

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The link in the chain is right.
    Pass,
    /// It works, but something deserves attention.
    Warn,
    /// The link is broken.
    Fail,
    /// The check did not run (not applicable, or a prerequisite did not pass).
    Skip,
    /// The check could not decide (access denied, timeout, unreachable, ...).
    Inconclusive,
    /// A finding accepted by a suppressions file (`--suppressions`); it does not fail the run.
    Suppressed,
}

impl Status {
    /// Lower-case name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
            Status::Inconclusive => "inconclusive",
            Status::Suppressed => "suppressed",
        }
    }
}

/// What the doctor checked: the user's cluster, role, bucket, ... and where each value came from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Target {
    /// EKS cluster name.
    pub cluster: Option<String>,
    /// AWS region of the cluster.
    pub region: Option<String>,
    /// Kube context used for the cluster.
    pub context: Option<String>,
    /// Namespace SkyPilot's pods run in.
    pub namespace: Option<String>,
    /// Service account the role is wired to.
    pub service_account: Option<String>,
    /// S3 bucket the pods must reach.
    pub bucket: Option<String>,
    /// IAM role name.
    pub role_name: Option<String>,
    /// IAM policy name.
    pub policy_name: Option<String>,
    /// Wiring mode in force: `pod-identity` or `irsa` (forced or detected); `auto` while undetected.
    pub mode: String,
    /// Where each value came from: `flag --cluster`, `env EKS_CLUSTER_NAME`, `kube context`, `task`, `default`, ...
    pub sources: BTreeMap<String, String>,
}

impl Target {
    /// The named inputs, in report order.
    pub fn fields(&self) -> [(&'static str, Option<&str>); 8] {
        [
            ("cluster", self.cluster.as_deref()),
            ("region", self.region.as_deref()),
            ("context", self.context.as_deref()),
            ("namespace", self.namespace.as_deref()),
            ("service_account", self.service_account.as_deref()),
            ("bucket", self.bucket.as_deref()),
            ("role_name", self.role_name.as_deref()),
            ("policy_name", self.policy_name.as_deref()),
        ]
    }
}

/// A fix: what to do, the exact commands, and the guide section it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Remediation {
    /// One sentence.
    pub summary: String,
    /// Copy-paste ready commands with the user's values filled in, shell-quoted.
    pub commands: Vec<String>,
    /// Section of the guide.
    pub guide: String,
    /// What `--fix-script` writes for this finding (empty when no command can fix it): the commands that change
    /// the setup, unlike `commands`, which may only look. Kept in the JSON so a saved report yields the same
    /// script (`skys3 report FILE --fix-script`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub fix: Vec<FixStep>,
    /// A SkyPilot config edit that fixes the finding, shown for the user to paste (the script never edits it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub edit: Option<ConfigEdit>,
}

/// A SkyPilot config edit: the file, the key path and the YAML that sets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigEdit {
    /// The file to edit.
    pub file: String,
    /// The key path, e.g. `aws.remote_identity`.
    pub key: String,
    /// The YAML that sets it, from the top level; merge it with the keys already there.
    pub yaml: String,
}

/// Where a fix step goes in the script: what a step needs is created by an earlier phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FixPhase {
    /// The cluster's IAM OIDC provider (IRSA), which the trust policy names.
    OidcProvider,
    /// The IAM role.
    Role,
    /// The S3 policy.
    Policy,
    /// The role's trust policy.
    TrustPolicy,
    /// Attaching the S3 policy to the role.
    Attach,
    /// The Pod Identity agent add-on.
    Addon,
    /// The Pod Identity association (after the role it names).
    Association,
    /// The Kubernetes namespace.
    Namespace,
    /// The Kubernetes service account (in its namespace).
    ServiceAccount,
    /// The service account's IRSA annotation (on the account, naming the role).
    Annotation,
}

/// One step of a fix script, with the user's values filled in (shell-quoted).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct FixStep {
    /// Where the step goes.
    pub phase: FixPhase,
    /// A read-only command that succeeds when the step is already done; the step runs only when it fails.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unless: Option<String>,
    /// The commands that make the change (none for a document change: the script writes those itself).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub run: Vec<String>,
    /// Written only by skys3 before document merging, on steps that replaced a whole IAM document; the fix script
    /// never runs such a step from a saved report (kept so that older reports still read).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resource: Option<String>,
    /// An IAM document the step changes: the document as the doctor read it and the additive edits the finding
    /// needs. The script merges the edits of every finding on one document into one guarded write.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub document: Option<crate::merge::DocumentChange>,
}

/// One check's result.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CheckReport {
    /// Stable check id.
    pub id: String,
    /// Title from the catalog.
    pub title: String,
    /// Verdict.
    pub status: Status,
    /// Catalog code; present for every non-pass result.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub code: Option<Code>,
    /// One sentence with the real names.
    pub message: String,
    /// The fix, for fail and warn.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remediation: Option<Remediation>,
    /// Prerequisite checks that did not pass (for skip).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub blocked_by: Vec<String>,
    /// What the verdict rests on.
    #[serde(skip_serializing_if = "serde_json::Value::is_null", default)]
    pub evidence: serde_json::Value,
    /// The suppression that applies to this finding (status `suppressed`), or that expired.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub suppression: Option<Suppression>,
    /// Wall time of the check.
    pub duration_ms: u64,
}

/// A suppression from the `--suppressions` file, as applied to one finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Suppression {
    /// Why the finding is accepted.
    pub reason: String,
    /// Last day it applies (YYYY-MM-DD).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expires: Option<String>,
    /// True when the expiry date has passed: the finding is reported again, at least as a warning.
    pub expired: bool,
    /// The finding's status before suppression.
    pub original_status: Status,
}

/// The whole run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Version of skys3 that produced the report.
    pub skys3_version: String,
    /// What was checked.
    pub target: Target,
    /// Overall verdict: fail > inconclusive > warn > pass.
    pub status: Status,
    /// Results in catalog order.
    pub checks: Vec<CheckReport>,
    /// Versions of skys3 and of the SDKs it was built with.
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
    /// Every API call the run made, in the order they finished.
    #[serde(default)]
    pub calls: Vec<ApiCall>,
    /// Written with `--redact`: account ids, the bucket and hosts are masks, so no fix script can come from it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}

impl Report {
    /// Builds a report and derives its overall status.
    pub fn new(target: Target, checks: Vec<CheckReport>) -> Report {
        let status = overall(checks.iter().map(|c| c.status));
        Report {
            schema_version: SCHEMA_VERSION,
            skys3_version: env!("CARGO_PKG_VERSION").to_string(),
            target,
            status,
            checks,
            versions: versions(),
            calls: vec![],
            redacted: false,
        }
    }

    /// The process exit code: 0 pass/warn, 1 any fail (or any warning with `fail_on_warn`), 3 inconclusive
    /// without fail. Suppressed findings count for nothing.
    pub fn exit_code(&self, fail_on_warn: bool) -> i32 {
        match self.status {
            Status::Fail => crate::exit::FAIL,
            Status::Inconclusive => crate::exit::INCONCLUSIVE,
            Status::Warn if fail_on_warn => crate::exit::FAIL,
            _ => crate::exit::OK,
        }
    }

    /// Recomputes the overall status (after suppressions changed check statuses).
    pub fn refresh_status(&mut self) {
        self.status = overall(self.checks.iter().map(|c| c.status));
    }
}

/// A context that was selected (`--all-contexts`, a glob) but not checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SkippedContext {
    /// The kube context.
    pub context: String,
    /// Why it was not checked (for example: it names no EKS cluster).
    pub reason: String,
}

/// `skys3 doctor` over several kube contexts (`--all-contexts`, `--context` given more than once, or a glob):
/// one document with a full report per target. Additive to schema_version 1: a document with `targets` is this
/// type, one with `checks` is a [`Report`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TargetsReport {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Version of skys3 that produced the report.
    pub skys3_version: String,
    /// Overall verdict: the worst of the targets'.
    pub status: Status,
    /// One report per target, in the order of their contexts. Each target's `calls` holds the requests it made;
    /// a fact shared by all targets (the identity, IAM) is fetched once, by whichever target asked first.
    pub targets: Vec<Report>,
    /// Contexts selected but not checked, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedContext>,
}

impl TargetsReport {
    /// Builds the document and derives its overall status.
    pub fn new(targets: Vec<Report>, skipped: Vec<SkippedContext>) -> TargetsReport {
        TargetsReport {
            schema_version: SCHEMA_VERSION,
            skys3_version: env!("CARGO_PKG_VERSION").to_string(),
            status: overall(targets.iter().map(|t| t.status)),
            targets,
            skipped,
        }
    }

    /// The exit code: the worst target's (see [`Report::exit_code`]).
    pub fn exit_code(&self, fail_on_warn: bool) -> i32 {
        self.targets
            .iter()
            .map(|t| t.exit_code(fail_on_warn))
            .max_by_key(|c| match *c {
                crate::exit::FAIL => 2,
                crate::exit::INCONCLUSIVE => 1,
                _ => 0,
            })
            .unwrap_or(crate::exit::OK)
    }
}

/// Any document `-o json` prints: one target's report, or several targets'.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Document {
    /// Several targets (has `targets`).
    Targets(TargetsReport),
    /// One target (has `checks`).
    Single(Box<Report>),
}

impl Document {
    /// The reports it holds: one, or one per target.
    pub fn reports(&self) -> Vec<&Report> {
        match self {
            Document::Single(r) => vec![r],
            Document::Targets(t) => t.targets.iter().collect(),
        }
    }

    /// The exit code (see [`Report::exit_code`]; several targets: the worst).
    pub fn exit_code(&self, fail_on_warn: bool) -> i32 {
        match self {
            Document::Single(r) => r.exit_code(fail_on_warn),
            Document::Targets(t) => t.exit_code(fail_on_warn),
        }
    }
}

/// skys3's version and the versions of the SDKs it was built with (from Cargo.lock, at build time).
pub fn versions() -> BTreeMap<String, String> {
    let mut v: BTreeMap<String, String> = env!("SKYS3_DEP_VERSIONS")
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    v.insert("skys3".into(), env!("CARGO_PKG_VERSION").into());
    v
}

/// The JSON Schema of the `-o json` document (a [`Report`], or a [`TargetsReport`] for several targets),
/// generated from these types.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Document)).expect("the schema serializes")
}

/// The overall verdict of a set of check verdicts. Skips and suppressed findings do not count.
pub fn overall(statuses: impl Iterator<Item = Status>) -> Status {
    let mut worst = Status::Pass;
    for s in statuses {
        worst = match (worst, s) {
            (_, Status::Fail) | (Status::Fail, _) => Status::Fail,
            (_, Status::Inconclusive) | (Status::Inconclusive, _) => Status::Inconclusive,
            (_, Status::Warn) | (Status::Warn, _) => Status::Warn,
            _ => Status::Pass,
        };
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_is_worst_and_ignores_skip() {
        use Status::*;
        assert_eq!(overall([Pass, Skip].into_iter()), Pass);
        assert_eq!(overall([Pass, Warn, Skip].into_iter()), Warn);
        assert_eq!(overall([Warn, Inconclusive].into_iter()), Inconclusive);
        assert_eq!(overall([Inconclusive, Fail, Warn].into_iter()), Fail);
        assert_eq!(overall(std::iter::empty()), Pass);
    }
}
