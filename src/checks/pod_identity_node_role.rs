//! `pod-identity.node-role`: the Pod Identity agent calls EKS Auth `AssumeRoleForPodIdentity` with the node's own
//! role (EKS user guide, "Set up the Amazon EKS Pod Identity Agent"), so each node role SkyPilot's pods may land on
//! must allow `eks-auth:AssumeRoleForPodIdentity`.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::join_all;
use serde::Serialize;
use serde_json::json;

use crate::arn;
use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::policy::{self, Decision};
use crate::probe::Op;
use crate::wiring::Wiring;

/// The action the agent's call needs (EKS Auth API reference).
pub const ACTION: &str = "eks-auth:AssumeRoleForPodIdentity";

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "pod-identity.node-role",
    deps: &["mode"],
    // The node roles' chain (ListNodegroups -> DescribeNodegroup -> the role's policies) is the run's longest:
    // it starts with the run, in either wiring, not after the mode is decided.
    warm: Some(|ctx: Arc<Ctx>| {
        async move {
            judge(&ctx).await;
        }
        .boxed()
    }),
    run: |ctx: Arc<Ctx>| {
        async move {
            match ctx.require_wiring(Wiring::PodIdentity).await {
                Ok(_) => judge(&ctx).await,
                Err(o) => o,
            }
        }
        .boxed()
    },
};

/// One node role and how its policies decide the agent's call.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRole {
    /// What uses it: a managed node group, or EKS Auto Mode.
    pub used_by: String,
    /// The role's ARN.
    pub role_arn: String,
    /// Its policies' decision for [`ACTION`] on the cluster.
    pub decision: Decision,
}

/// Reads the node roles and the SkyPilot pods' nodes, and decides.
async fn judge(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    // Asked together: the node groups' list does not wait for DescribeCluster.
    let (cluster, names) = futures::join!(ctx.facts.cluster(&t.cluster), ctx.facts.nodegroup_names(&t.cluster));
    let cluster = match cluster {
        Ok(c) => c,
        Err(e) => return Outcome::from_error(&e),
    };
    let cluster_arn = cluster.arn.clone().unwrap_or_default();
    // (what uses it, role ARN) of every node role EKS reports.
    let mut users: Vec<(String, String)> = vec![];
    if cluster.auto_mode
        && let Some(role) = &cluster.auto_mode_node_role
    {
        users.push(("EKS Auto Mode".into(), role.clone()));
    }
    let names = match names {
        Ok(n) => n,
        Err(e) => return Outcome::from_error(&e),
    };
    for (name, r) in names
        .iter()
        .zip(join_all(names.iter().map(|n| ctx.facts.nodegroup(&t.cluster, n))).await)
    {
        match r {
            Ok(ng) => {
                if let Some(role) = ng.node_role {
                    users.push((format!("node group {name}"), role));
                }
            }
            Err(e) => return Outcome::from_error(&e),
        }
    }
    let mut roles = vec![];
    let mut unknown: Vec<String> = vec![];
    for (used_by, role_arn) in users {
        let Some((_, name)) = arn::role_parts(&role_arn) else {
            unknown.push(format!("{used_by} ({role_arn}: not a role ARN)"));
            continue;
        };
        // The role's policy lists are asked with GetRole, not after it.
        let (role, _, _) = futures::join!(
            ctx.facts.role(name),
            ctx.facts.attached_policies(name),
            ctx.facts.inline_policy_names(name)
        );
        let decision = match role {
            Ok(role) => match super::iam_s3_permissions::role_policies(ctx, name, role.boundary_arn.as_deref()).await {
                Ok((policies, _, boundary)) => {
                    policy::evaluate_with_boundary(&policies, boundary.as_ref().map(|(_, p)| p), ACTION, &cluster_arn)
                }
                Err(e) => return Outcome::from_error(&e),
            },
            Err(e) => return Outcome::from_error(&e),
        };
        roles.push(NodeRole {
            used_by,
            role_arn,
            decision,
        });
    }
    // The nodes SkyPilot's pods run on that no node group or Auto Mode accounts for (self-managed nodes), when the
    // cluster can be asked.
    let mut unmatched = vec![];
    if crate::lookup::kube_points_here(t, &ctx.facts, Op::ListPods)
        .await
        .is_ok()
        && let Ok(pods) = crate::pods::running(t, &ctx.facts).await
    {
        let nodes: std::collections::BTreeSet<&str> = pods.iter().filter_map(|p| p.node_name.as_deref()).collect();
        for node in nodes {
            match ctx.facts.node(node).await {
                Ok(n) => {
                    let managed = n.labels.contains_key("eks.amazonaws.com/nodegroup")
                        || n.labels
                            .get("eks.amazonaws.com/compute-type")
                            .is_some_and(|v| v == "auto" || v == "fargate");
                    if !managed {
                        unmatched.push(node.to_string());
                    }
                }
                // Not readable: its role is not known either.
                Err(e) => unmatched.push(format!("{node} (not readable: {})", e.message)),
            }
        }
    }
    unmatched.extend(unknown);
    evaluate(&t.cluster, &roles, &unmatched)
}

/// Decides over the node roles' decisions and the SkyPilot pods' nodes no role could be found for.
pub fn evaluate(cluster: &str, roles: &[NodeRole], unmatched: &[String]) -> Outcome {
    let evidence = json!({ "node_roles": roles, "nodes_without_a_known_role": unmatched });
    let denied: Vec<&NodeRole> = roles
        .iter()
        .filter(|r| matches!(r.decision, Decision::ImplicitDeny | Decision::ExplicitDeny))
        .collect();
    if let Some(first) = denied.first() {
        let names: Vec<String> = denied
            .iter()
            .map(|r| format!("{} ({})", r.used_by, r.role_arn))
            .collect();
        return Outcome::fail(
            Code::NodeRoleCannotAssumeForPods,
            format!(
                "the node role of {} does not allow {ACTION} on cluster {cluster}: the Pod Identity agent there gets \
                 no credentials for any pod",
                names.join(", ")
            ),
        )
        .var(
            "found",
            arn::role_parts(&first.role_arn).map(|(_, n)| n).unwrap_or_default(),
        )
        .evidence(evidence);
    }
    let conditional: Vec<String> = roles
        .iter()
        .filter(|r| r.decision != Decision::Allowed)
        .map(|r| format!("{} ({})", r.used_by, r.role_arn))
        .collect();
    if !unmatched.is_empty() || !conditional.is_empty() || roles.is_empty() {
        let mut why = vec![];
        if !unmatched.is_empty() {
            why.push(format!(
                "SkyPilot pods run on nodes of no managed node group or Auto Mode ({}), whose role EKS does not report",
                unmatched.join(", ")
            ));
        }
        if !conditional.is_empty() {
            why.push(format!(
                "{ACTION} is allowed only under conditions for {}",
                conditional.join(", ")
            ));
        }
        if roles.is_empty() && unmatched.is_empty() {
            why.push(format!(
                "cluster {cluster} has no managed node group and no Auto Mode node role: its nodes' roles are not known"
            ));
        }
        return Outcome::inconclusive(Code::NodeRoleUnknown, why.join("; ")).evidence(evidence);
    }
    let by: BTreeMap<&str, &str> = roles
        .iter()
        .map(|r| (r.used_by.as_str(), r.role_arn.as_str()))
        .collect();
    Outcome::pass(format!(
        "the node role of {} allows {ACTION}",
        by.keys().copied().collect::<Vec<_>>().join(", ")
    ))
    .evidence(evidence)
}
