//! The engine: runs the registry's checks concurrently, in dependency order, each under a timeout, and turns
//! their outcomes into report entries with the catalog's titles and filled-in remediations.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared, join_all};

use crate::catalog::Catalog;
use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::report::{CheckReport, FixStep, Remediation, Status};
use crate::target::Resolved;
use crate::template;

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
                .filter(|r| !(r.status == Status::Skip && r.code.is_some_and(Code::does_not_apply)))
                .map(|r| r.id)
                .collect();
            let started = Instant::now();
            let outcome = if blocked.is_empty() {
                run_one(spec, ctx.clone(), limits).await
            } else {
                Outcome::new(
                    Status::Skip,
                    Some(Code::PrerequisiteFailed),
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
    // Every check's facts are requested at once; the checks find the answers in the memo. What is still in flight
    // when the last check has decided was not needed: it is cancelled.
    let warming: Vec<_> = specs
        .iter()
        .filter_map(|s| s.warm)
        .map(|warm| tokio::spawn(warm(ctx.clone())))
        .collect();
    let reports = join_all(specs.iter().map(|s| handles[s.id].clone())).await;
    for w in warming {
        w.abort();
    }
    reports
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
            Outcome::inconclusive(Code::CheckCrashed, format!("check {} crashed: {why}", spec.id))
        }
        Err(_) => {
            task.abort();
            Outcome::inconclusive(
                Code::TimedOut,
                format!("check {} did not finish within {what}", spec.id),
            )
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
    use crate::probe::Facts;
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
                duplicates: vec![],
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
            warm: None,
            run: |_| async { Outcome::pass("fine") }.boxed(),
        },
        CheckSpec {
            id: "b.panics",
            deps: &[],
            warm: None,
            run: |_| async { panic!("boom") }.boxed(),
        },
        CheckSpec {
            id: "c.hangs",
            deps: &[],
            warm: None,
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
            warm: None,
            run: |_| async { Outcome::pass("ran") }.boxed(),
        },
        CheckSpec {
            id: "e.after-panic",
            deps: &["a.ok", "b.panics"],
            warm: None,
            run: |_| async { Outcome::pass("must not run") }.boxed(),
        },
        CheckSpec {
            id: "f.fails",
            deps: &[],
            warm: None,
            run: |_| async { Outcome::fail(Code::ClusterNotFound, "cluster c missing") }.boxed(),
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
        assert_eq!((p.status, p.code), (Status::Inconclusive, Some(Code::CheckCrashed)));
        assert!(p.message.contains("boom"));
        let h = by_id("c.hangs");
        assert_eq!((h.status, h.code), (Status::Inconclusive, Some(Code::TimedOut)));
        assert!(h.message.contains("--check-timeout"), "{}", h.message);
        assert_eq!(by_id("d.after-ok").status, Status::Pass);
        let e = by_id("e.after-panic");
        assert_eq!((e.status, e.code), (Status::Skip, Some(Code::PrerequisiteFailed)));
        assert_eq!(e.blocked_by, vec!["b.panics".to_string()]);
        let f = by_id("f.fails");
        let r = f.remediation.as_ref().unwrap();
        assert_eq!(r.commands, vec!["aws eks list-clusters --region r".to_string()]);
    }

    #[tokio::test]
    async fn run_deadline_wins_over_check_timeout() {
        let specs: Vec<&'static CheckSpec> = SPECS[2..3].iter().collect();
        let reports = run(ctx(), &specs, limits(60_000, 200), None).await;
        assert_eq!(reports[0].code, Some(Code::TimedOut));
        assert!(reports[0].message.contains("--timeout"), "{}", reports[0].message);
    }
}
