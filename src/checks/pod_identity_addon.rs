//! `pod-identity.addon`: the Pod Identity agent is installed, ACTIVE, and its pods are ready.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::probe::{AddonInfo, DaemonSetInfo, Op, ProbeError};
use crate::wiring::Wiring;

/// The add-on and DaemonSet name.
pub const AGENT: &str = "eks-pod-identity-agent";

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "pod-identity.addon",
    deps: &["mode"],
    // Warmed in either wiring: DescribeAddon would otherwise wait for the mode.
    warm: Some(|ctx: Arc<Ctx>| {
        async move {
            agent(&ctx).await;
        }
        .boxed()
    }),
    run: |ctx: Arc<Ctx>| {
        async move {
            match ctx.require_wiring(Wiring::PodIdentity).await {
                Ok(_) => agent(&ctx).await,
                Err(o) => o,
            }
        }
        .boxed()
    },
};

/// Reads the add-on and, once it is ACTIVE, its DaemonSet (from this cluster's API server only), and decides.
async fn agent(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    // Asked together: DescribeAddon does not wait for DescribeCluster (an Auto Mode cluster's answer goes unused).
    let (cluster, addon) = futures::join!(ctx.facts.cluster(&t.cluster), ctx.facts.addon(&t.cluster, AGENT));
    let cluster = match cluster {
        Ok(c) => c,
        Err(e) => return Outcome::from_error(&e),
    };
    if cluster.auto_mode {
        return Outcome::pass(format!(
            "EKS Auto Mode cluster {}: the Pod Identity agent is built in",
            t.cluster
        ))
        .evidence(json!({ "auto_mode": true }));
    }
    let daemonset = match &addon {
        Ok(a) if a.status == "ACTIVE" => Some(
            match crate::lookup::kube_points_here(&ctx.target, &ctx.facts, Op::GetDaemonSet).await {
                Ok(()) => ctx.facts.daemonset("kube-system", AGENT).await,
                Err(e) => Err(e),
            },
        ),
        _ => None,
    };
    evaluate(&t.cluster, addon, daemonset)
}

/// Decides over DescribeAddon and, for an ACTIVE add-on, the agent DaemonSet.
pub fn evaluate(
    cluster: &str,
    addon: Result<AddonInfo, ProbeError>,
    daemonset: Option<Result<DaemonSetInfo, ProbeError>>,
) -> Outcome {
    let addon = match addon {
        Ok(a) => a,
        Err(e) if e.is_not_found() => {
            return Outcome::fail(
                Code::AgentAddonMissing,
                format!("cluster {cluster} has no {AGENT} add-on"),
            )
            .evidence(json!({ "error": e }));
        }
        Err(e) => return Outcome::from_error(&e),
    };
    if addon.status != "ACTIVE" {
        let issues = if addon.health_issues.is_empty() {
            String::new()
        } else {
            format!(" (health issues: {})", addon.health_issues.join("; "))
        };
        return Outcome::fail(
            Code::AgentAddonNotActive,
            format!("{AGENT} add-on on {cluster} is {}{issues}", addon.status),
        )
        .evidence(json!({ "addon": addon }));
    }
    match daemonset {
        Some(Ok(ds)) if ds.desired > 0 && ds.ready >= ds.desired => Outcome::pass(format!(
            "{AGENT} {} is ACTIVE; {}/{} agent pods ready",
            addon.version.as_deref().unwrap_or(""),
            ds.ready,
            ds.desired
        ))
        .evidence(json!({ "addon": addon, "daemonset": ds })),
        Some(Ok(ds)) => Outcome::fail(
            Code::AgentPodsNotReady,
            format!(
                "{AGENT} add-on is ACTIVE but only {}/{} agent pods are ready in kube-system",
                ds.ready, ds.desired
            ),
        )
        .evidence(json!({ "addon": addon, "daemonset": ds })),
        Some(Err(e)) if e.is_not_found() => Outcome::fail(
            Code::AgentPodsNotReady,
            format!("{AGENT} add-on is ACTIVE but DaemonSet kube-system/{AGENT} does not exist"),
        )
        .evidence(json!({ "addon": addon, "error": e })),
        Some(Err(e)) => Outcome::from_error(&e),
        None => Outcome::from_error(&ProbeError::new(
            Op::GetDaemonSet,
            crate::probe::ErrorKind::Other,
            None,
            "the agent DaemonSet was not read",
        )),
    }
}
