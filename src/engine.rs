//! The engine: runs the registry's checks concurrently, in dependency order, each under a timeout, and turns
//! their outcomes into report entries with the catalog's titles and filled-in remediations.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared, join_all};
use serde_json::Value;

use crate::catalog::Catalog;
use crate::code::Code;
use crate::probe::{ErrorKind, Facts, ProbeError};
use crate::report::{CheckReport, FixStep, Remediation, Status};
use crate::target::Resolved;
use crate::template;
use crate::wiring::{self, Detected, Wiring};

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
        self.wiring.get_or_init(|| wiring::detect(self)).await.clone()
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
}

/// A check's entry point.
pub type CheckFn = fn(Arc<Ctx>) -> BoxFuture<'static, Outcome>;

/// A registered check.
pub struct CheckSpec {
    /// Stable id; must have a catalog file.
    pub id: &'static str,
    /// Checks that must pass (or warn) before this one runs; they come earlier in the registry.
    pub deps: &'static [&'static str],
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
    fn new(status: Status, code: Option<Code>, message: impl Into<String>) -> Outcome {
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
        let mut o = Outcome::new(Status::Skip, Some(Code::Sky007), message);
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
                Code::Sky001,
                format!(
                    "access denied: the doctor's identity may not call {} ({})",
                    err.op, err.message
                ),
            ),
            ErrorKind::Timeout => (Code::Sky002, format!("{} timed out ({})", err.op, err.message)),
            ErrorKind::Unreachable => (
                Code::Sky003,
                format!("{} could not reach its endpoint: {}", err.op, err.message),
            ),
            ErrorKind::Throttled => (Code::Sky005, format!("{} was throttled: {}", err.op, err.message)),
            ErrorKind::NotFound | ErrorKind::NoCredentials | ErrorKind::CredentialsRejected | ErrorKind::Other => {
                (Code::Sky006, format!("{} failed: {}", err.op, err.message))
            }
        };
        Outcome::inconclusive(code, message).evidence(serde_json::json!({ "error": err }))
    }
}

/// Limits of a run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Each check's own timeout.
    pub check_timeout: Duration,
    /// When the whole run must be over.
    pub deadline: tokio::time::Instant,
    /// The `--timeout` value, for messages.
    pub run_timeout: Duration,
}

/// Runs `specs` and returns their reports in registry order.
pub async fn run(
    ctx: Arc<Ctx>,
    specs: &[&'static CheckSpec],
    limits: Limits,
    on_done: Option<Arc<dyn Fn(usize, usize) + Send + Sync>>,
) -> Vec<CheckReport> {
    let done = Arc::new(AtomicUsize::new(0));
    let total = specs.len();
    let mut handles: HashMap<&'static str, Shared<BoxFuture<'static, CheckReport>>> = HashMap::new();
    for &spec in specs {
        let deps: Vec<_> = spec
            .deps
            .iter()
            .map(|d| {
                handles
                    .get(d)
                    .unwrap_or_else(|| panic!("{}: dependency {d} is not registered before it", spec.id))
                    .clone()
            })
            .collect();
        let ctx = ctx.clone();
        let done = done.clone();
        let on_done = on_done.clone();
        let fut = async move {
            let blocked: Vec<String> = join_all(deps)
                .await
                .into_iter()
                // A prerequisite that does not apply, or had nothing to look at, blocks nothing: the check decides.
                .filter(|r| !matches!(r.status, Status::Pass | Status::Warn))
                .filter(|r| !(r.status == Status::Skip && matches!(r.code, Some(Code::Sky008 | Code::Sky009))))
                .map(|r| r.id)
                .collect();
            let started = Instant::now();
            let outcome = if blocked.is_empty() {
                run_one(spec, ctx.clone(), limits).await
            } else {
                Outcome::new(
                    Status::Skip,
                    Some(Code::Sky007),
                    format!("not run: {} did not pass", blocked.join(", ")),
                )
            };
            let report = finish(spec, &ctx, outcome, blocked, started.elapsed());
            let n = done.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(cb) = &on_done {
                cb(n, total);
            }
            report
        }
        .boxed()
        .shared();
        handles.insert(spec.id, fut);
    }
    join_all(specs.iter().map(|s| handles[s.id].clone())).await
}

/// The checks of `registry` to run again: those named in `only`, and the checks they depend on (transitively),
/// in registry order.
pub fn with_deps(registry: &'static [CheckSpec], only: &std::collections::BTreeSet<String>) -> Vec<&'static CheckSpec> {
    let mut wanted: std::collections::BTreeSet<&str> = only.iter().map(String::as_str).collect();
    // Dependencies come earlier in the registry: one pass from the end adds them all.
    for spec in registry.iter().rev() {
        if wanted.contains(spec.id) {
            wanted.extend(spec.deps.iter().copied());
        }
    }
    registry.iter().filter(|s| wanted.contains(s.id)).collect()
}

async fn run_one(spec: &'static CheckSpec, ctx: Arc<Ctx>, limits: Limits) -> Outcome {
    let now = tokio::time::Instant::now();
    let remaining = limits.deadline.saturating_duration_since(now);
    let (limit, what) = if remaining < limits.check_timeout {
        (
            remaining,
            format!("the run's deadline (--timeout {}s)", limits.run_timeout.as_secs()),
        )
    } else {
        (
            limits.check_timeout,
            format!("its timeout of {}s (--check-timeout)", limits.check_timeout.as_secs()),
        )
    };
    let mut task = tokio::spawn((spec.run)(ctx));
    match tokio::time::timeout(limit, &mut task).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(join_err)) => {
            let why = if join_err.is_panic() {
                let payload = join_err.into_panic();
                payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into())
            } else {
                "cancelled".into()
            };
            Outcome::inconclusive(Code::Sky004, format!("check {} crashed: {why}", spec.id))
        }
        Err(_) => {
            task.abort();
            Outcome::inconclusive(Code::Sky002, format!("check {} did not finish within {what}", spec.id))
        }
    }
}

/// The template values every remediation can use.
pub fn target_vars(t: &Resolved) -> BTreeMap<String, String> {
    t.fields()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .chain([("sky_config_path".to_string(), t.sky.user_file.display().to_string())])
        .collect()
}

fn finish(
    spec: &'static CheckSpec,
    ctx: &Ctx,
    outcome: Outcome,
    blocked_by: Vec<String>,
    elapsed: Duration,
) -> CheckReport {
    let catalog = Catalog::get();
    let title = catalog
        .check(spec.id)
        .map(|c| c.title.clone())
        .unwrap_or_else(|| spec.id.to_string());
    let remediation = match (outcome.status, outcome.code) {
        (Status::Fail | Status::Warn | Status::Inconclusive, Some(code)) => {
            let doc = catalog.doc(code);
            let mut vars = target_vars(&ctx.target);
            if let Some(id) = ctx.facts.caller_identity_if_known() {
                vars.insert("account_id".into(), id.account.clone());
                vars.insert("partition".into(), id.partition().to_string());
                vars.insert("role_arn".into(), crate::arn::role_arn(&id, &ctx.target.role_name));
                vars.insert(
                    "policy_arn".into(),
                    crate::arn::policy_arn(&id, &ctx.target.policy_name),
                );
            }
            vars.extend(outcome.vars.clone());
            Some(Remediation {
                edit: doc.edit.as_ref().map(|e| crate::report::ConfigEdit {
                    file: template::fill(&e.file, &vars, false),
                    key: template::fill(&e.key, &vars, false),
                    yaml: template::fill(&e.yaml, &vars, false),
                }),
                summary: template::fill(&doc.summary, &vars, false),
                // A command whose policy document the check could not work out is left out: a guessed document
                // would replace a shared one.
                commands: doc
                    .commands
                    .iter()
                    .map(|c| template::fill(c, &vars, true))
                    .filter(|c| !template::placeholders(c).iter().any(|p| p.ends_with("_json")))
                    .collect(),
                guide: doc.guide.clone(),
                fix: doc
                    .fix
                    .iter()
                    .filter(|f| f.when.as_ref().is_none_or(|v| vars.contains_key(v)))
                    .filter_map(|f| {
                        let document = match &f.document {
                            Some(kind) => Some(outcome.changes.iter().find(|c| c.document.kind() == kind)?.clone()),
                            None => None,
                        };
                        Some(FixStep {
                            phase: f.phase,
                            unless: f.unless.as_ref().map(|c| template::fill(c, &vars, true)),
                            run: f.run.iter().map(|c| template::fill(c, &vars, true)).collect(),
                            resource: None,
                            document,
                        })
                    })
                    .collect(),
            })
        }
        _ => None,
    };
    CheckReport {
        id: spec.id.to_string(),
        title,
        status: outcome.status,
        code: outcome.code,
        message: outcome.message,
        remediation,
        blocked_by: if blocked_by.is_empty() {
            outcome.blocked_by
        } else {
            blocked_by
        },
        evidence: outcome.evidence,
        suppression: None,
        duration_ms: elapsed.as_millis() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::kubeconfig::{ContextInfo, LoadedKubeconfig};
    use crate::sky::SkyConfig;

    fn ctx() -> Arc<Ctx> {
        let target = Resolved {
            cluster: "c".into(),
            region: "r".into(),
            context: "ctx".into(),
            context_info: ContextInfo {
                name: "ctx".into(),
                server: None,
                namespace: None,
                eks_cluster: None,
                eks_region: None,
            },
            kubeconfig: LoadedKubeconfig::empty(),
            namespace: "ns".into(),
            service_account: "sa".into(),
            bucket: "b".into(),
            role_name: "role".into(),
            policy_name: "pol".into(),
            mode: None,
            sky: SkyConfig {
                layers: vec![],
                errors: vec![],
                rejections: vec![],
                searched: vec![],
                user_file: "/cfg".into(),
            },
            task_config: None,
            task_mounts: vec![],
            sky_cluster: None,
            no_exec: false,
            sources: Default::default(),
        };
        Arc::new(Ctx::new(target, Facts::new(None, None)))
    }

    fn limits(check: u64, run: u64) -> Limits {
        Limits {
            check_timeout: Duration::from_millis(check),
            deadline: tokio::time::Instant::now() + Duration::from_millis(run),
            run_timeout: Duration::from_millis(run),
        }
    }

    static SPECS: &[CheckSpec] = &[
        CheckSpec {
            id: "a.ok",
            deps: &[],
            run: |_| async { Outcome::pass("fine") }.boxed(),
        },
        CheckSpec {
            id: "b.panics",
            deps: &[],
            run: |_| async { panic!("boom") }.boxed(),
        },
        CheckSpec {
            id: "c.hangs",
            deps: &[],
            run: |_| {
                async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Outcome::pass("never")
                }
                .boxed()
            },
        },
        CheckSpec {
            id: "d.after-ok",
            deps: &["a.ok"],
            run: |_| async { Outcome::pass("ran") }.boxed(),
        },
        CheckSpec {
            id: "e.after-panic",
            deps: &["a.ok", "b.panics"],
            run: |_| async { Outcome::pass("must not run") }.boxed(),
        },
        CheckSpec {
            id: "f.fails",
            deps: &[],
            run: |_| async { Outcome::fail(Code::Sky111, "cluster c missing") }.boxed(),
        },
    ];

    #[tokio::test]
    async fn crash_timeout_dependencies_and_remediation() {
        let started = Instant::now();
        let specs: Vec<&'static CheckSpec> = SPECS.iter().collect();
        let reports = run(ctx(), &specs, limits(300, 10_000), None).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the hanging check is cut at its timeout"
        );
        let by_id = |id: &str| reports.iter().find(|r| r.id == id).unwrap();
        assert_eq!(
            reports.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            SPECS.iter().map(|s| s.id).collect::<Vec<_>>()
        );

        assert_eq!(by_id("a.ok").status, Status::Pass);
        let p = by_id("b.panics");
        assert_eq!((p.status, p.code), (Status::Inconclusive, Some(Code::Sky004)));
        assert!(p.message.contains("boom"));
        let h = by_id("c.hangs");
        assert_eq!((h.status, h.code), (Status::Inconclusive, Some(Code::Sky002)));
        assert!(h.message.contains("--check-timeout"), "{}", h.message);
        assert_eq!(by_id("d.after-ok").status, Status::Pass);
        let e = by_id("e.after-panic");
        assert_eq!((e.status, e.code), (Status::Skip, Some(Code::Sky007)));
        assert_eq!(e.blocked_by, vec!["b.panics".to_string()]);
        let f = by_id("f.fails");
        let r = f.remediation.as_ref().unwrap();
        assert_eq!(r.commands, vec!["aws eks list-clusters --region r".to_string()]);
    }

    #[tokio::test]
    async fn run_deadline_wins_over_check_timeout() {
        let specs: Vec<&'static CheckSpec> = SPECS[2..3].iter().collect();
        let reports = run(ctx(), &specs, limits(60_000, 200), None).await;
        assert_eq!(reports[0].code, Some(Code::Sky002));
        assert!(reports[0].message.contains("--timeout"), "{}", reports[0].message);
    }
}
