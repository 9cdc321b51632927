//! The check API: what a check sees ([`Ctx`]), what it decides ([`Outcome`]) and how it is registered
//! ([`CheckSpec`]). The checks and the engine both build on it; it knows nothing of scheduling.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::catalog::Catalog;
use crate::code::Code;
use crate::lookup::{self, PodsRole};
use crate::probe::{ErrorKind, Facts, ProbeError};
use crate::report::Status;
use crate::target::Resolved;
use crate::wiring::{Detected, Wiring};

/// What every check can see: the resolved target and the memoized facts.
pub struct Ctx {
    /// What is being checked.
    pub target: Resolved,
    /// The probe layer.
    pub facts: Facts,
    /// The wiring as the cluster says, detected once per run by the first check that asks.
    wiring: tokio::sync::OnceCell<Result<Detected, ProbeError>>,
    /// Each check's own timeout (`--check-timeout`): the in-pod probe bounds its steps well inside it.
    pub check_timeout: Duration,
}

impl Ctx {
    /// A context over a resolved target and its facts.
    pub fn new(target: Resolved, facts: Facts) -> Ctx {
        Ctx {
            target,
            facts,
            wiring: tokio::sync::OnceCell::new(),
            check_timeout: Duration::from_secs(20),
        }
    }

    /// The same context with another check timeout.
    pub fn with_check_timeout(mut self, t: Duration) -> Ctx {
        self.check_timeout = t;
        self
    }

    /// The wiring of the namespace and service account (Pod Identity association, IRSA annotation, near misses).
    pub async fn wiring(&self) -> Result<Detected, ProbeError> {
        self.wiring
            .get_or_init(|| lookup::wiring(&self.target, &self.facts))
            .await
            .clone()
    }

    /// The wiring in force: forced with `--mode`, else as detected, if a check has detected it in this run.
    /// Never makes a request: the report's `target.mode` must not cost a call the checks did not make.
    pub fn wiring_in_force(&self) -> Option<Wiring> {
        self.target.mode.or_else(|| {
            self.wiring
                .get()
                .and_then(|d| d.as_ref().ok())
                .and_then(Detected::in_force)
        })
    }

    /// `Ok` when `want` is the wiring in force; otherwise the outcome the check should report (a skip, or the
    /// error that kept the mode from being known).
    pub async fn require_wiring(&self, want: Wiring) -> Result<Detected, Outcome> {
        match self.wiring().await {
            Ok(d) if d.in_force() == Some(want) => Ok(d),
            Ok(d) => Err(Outcome::skip(
                Code::NotApplicable,
                format!(
                    "not applicable: the wiring in force is {}",
                    d.in_force().map(Wiring::as_str).unwrap_or("none")
                ),
            )),
            Err(e) => Err(Outcome::from_error(&e)),
        }
    }

    /// The role whose credentials the pods get: the association's target role, when there is one.
    pub async fn pods_role(&self) -> Result<PodsRole, ProbeError> {
        lookup::pods_role(&self.target, &self.facts).await
    }

    /// The name of the role whose IAM policies decide what the pods may do: the checked role, or the association's
    /// target role in this account. `Err`: the outcome to report instead, inconclusive when the target role is in
    /// another account, whose IAM the doctor's identity cannot read (it names the role and the account to read).
    pub async fn judged_role(&self) -> Result<String, Outcome> {
        match self.pods_role().await {
            Ok(PodsRole::Own) => Ok(self.target.role_name.clone()),
            Ok(PodsRole::Target {
                name,
                same_account: true,
                ..
            }) => Ok(name),
            Ok(PodsRole::Target { arn, account, .. }) => Err(Outcome::inconclusive(
                Code::RoleInOtherAccount,
                format!(
                    "the pods get role {arn} (the Pod Identity association's target role) in account {account}, whose \
                     IAM the doctor's identity does not read: run skys3 doctor with credentials of account {account} \
                     to judge it"
                ),
            )
            .var("target_role_arn", arn.clone())
            .var("target_account", account)
            .var(
                "target_role_name",
                crate::arn::role_parts(&arn).map(|(_, n)| n).unwrap_or_default(),
            )),
            Err(e) => Err(Outcome::from_error(&e)),
        }
    }

    /// The role's ARN: GetRole's (it carries the role's path), else built from the caller's partition and account.
    pub async fn role_arn(&self) -> Result<String, ProbeError> {
        lookup::role_arn(&self.facts, &self.target.role_name).await
    }
}

/// A check's entry point.
pub type CheckFn = fn(Arc<Ctx>) -> BoxFuture<'static, Outcome>;

/// A check's warm-up: the requests it will make, sent as the run begins, their answers left in the memo.
pub type WarmFn = fn(Arc<Ctx>) -> BoxFuture<'static, ()>;

/// A registered check.
pub struct CheckSpec {
    /// Stable id; must have a catalog file.
    pub id: &'static str,
    /// Checks that must pass (or warn) before this one runs; they come earlier in the registry.
    pub deps: &'static [&'static str],
    /// The facts the check will ask for, requested as soon as the run starts instead of after its dependencies'
    /// verdicts, so that no request waits for a verdict it does not need: the run's wall time follows the
    /// requests' own chain (DescribeCluster -> list pods -> exec), not the chain of checks. Usually the check's
    /// own body with its outcome dropped, so that what is warmed cannot drift from what is read.
    ///
    /// A warm-up sends only requests the check may make anyway (read-only, listed by `skys3 permissions`),
    /// nothing to a Kubernetes API server before DescribeCluster confirms it is this cluster's
    /// ([`crate::lookup::kube_points_here`]), and no exec under `--no-exec`; errors stay in the memo for the
    /// check to report. `None`: the check's requests need its dependencies' verdicts, or another check's warm-up
    /// makes them.
    pub warm: Option<WarmFn>,
    /// The check.
    pub run: CheckFn,
}

impl CheckSpec {
    /// Every code the check itself can report, from its catalog file (the engine adds the `_common` ones).
    pub fn codes(&self) -> &'static [Code] {
        Code::of_check(self.id)
    }
}

/// What a check decided.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Verdict.
    pub status: Status,
    /// Catalog code, for every non-pass verdict.
    pub code: Option<Code>,
    /// One sentence with the real names.
    pub message: String,
    /// Extra template values for the remediation (beyond the target's).
    pub vars: BTreeMap<String, String>,
    /// What the verdict rests on.
    pub evidence: Value,
    /// For a skip: the checks whose findings keep this one from running (beyond its declared dependencies).
    pub blocked_by: Vec<String>,
    /// The IAM document changes the fix needs, for the catalog's `document = "..."` steps.
    pub changes: Vec<crate::merge::DocumentChange>,
}

impl Outcome {
    pub(crate) fn new(status: Status, code: Option<Code>, message: impl Into<String>) -> Outcome {
        Outcome {
            status,
            code,
            message: message.into(),
            vars: BTreeMap::new(),
            evidence: Value::Null,
            blocked_by: vec![],
            changes: vec![],
        }
    }
    /// A pass.
    pub fn pass(message: impl Into<String>) -> Outcome {
        Outcome::new(Status::Pass, None, message)
    }
    /// A failure with its code.
    pub fn fail(code: Code, message: impl Into<String>) -> Outcome {
        Outcome::new(Status::Fail, Some(code), message)
    }
    /// A warning with its code.
    pub fn warn(code: Code, message: impl Into<String>) -> Outcome {
        Outcome::new(Status::Warn, Some(code), message)
    }
    /// Did not run, with the reason's code.
    pub fn skip(code: Code, message: impl Into<String>) -> Outcome {
        Outcome::new(Status::Skip, Some(code), message)
    }
    /// Could not decide.
    pub fn inconclusive(code: Code, message: impl Into<String>) -> Outcome {
        Outcome::new(Status::Inconclusive, Some(code), message)
    }
    /// A finding with the status the catalog gives `code` (for codes chosen at run time, such as a classified
    /// error text, whose status varies: a transient STS error is inconclusive, a trust denial a failure).
    pub fn coded(code: Code, message: impl Into<String>) -> Outcome {
        Outcome::new(Catalog::get().doc(code).status, Some(code), message)
    }

    /// Adds a template value for the remediation.
    pub fn var(mut self, name: &str, value: impl Into<String>) -> Outcome {
        self.vars.insert(name.to_string(), value.into());
        self
    }
    /// A change to an IAM document the fix needs (see [`crate::merge`]); `None` adds nothing.
    pub fn change(mut self, change: Option<crate::merge::DocumentChange>) -> Outcome {
        self.changes.extend(change);
        self
    }
    /// A skip because another check's finding decides this one (e.g. no OIDC issuer: see irsa.oidc-provider).
    pub fn blocked(check: &str, message: impl Into<String>) -> Outcome {
        let mut o = Outcome::new(Status::Skip, Some(Code::PrerequisiteFailed), message);
        o.blocked_by.push(check.to_string());
        o
    }
    /// Sets the evidence.
    pub fn evidence(mut self, evidence: Value) -> Outcome {
        self.evidence = evidence;
        self
    }

    /// The inconclusive outcome for a probe error the check has no specific verdict for.
    pub fn from_error(err: &ProbeError) -> Outcome {
        let (code, message) = match err.kind {
            ErrorKind::AccessDenied => (
                Code::DoctorAccessDenied,
                format!(
                    "access denied: the doctor's identity may not call {} ({})",
                    err.op, err.message
                ),
            ),
            ErrorKind::Timeout => (Code::TimedOut, format!("{} timed out ({})", err.op, err.message)),
            ErrorKind::Unreachable => (
                Code::Unreachable,
                format!("{} could not reach its endpoint: {}", err.op, err.message),
            ),
            ErrorKind::Throttled => (Code::Throttled, format!("{} was throttled: {}", err.op, err.message)),
            ErrorKind::NotFound | ErrorKind::NoCredentials | ErrorKind::CredentialsRejected | ErrorKind::Other => {
                (Code::ApiError, format!("{} failed: {}", err.op, err.message))
            }
        };
        Outcome::inconclusive(code, message).evidence(serde_json::json!({ "error": err }))
    }
}
