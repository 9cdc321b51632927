//! Prefetch: every fact whose request depends only on the inputs (or on another fact's answer) is requested as
//! soon as it can be, concurrently, into the memo the checks read. Checks still decide in dependency order, but
//! no request waits for a verdict it does not need, so the run's wall time follows the requests' own dependency
//! chain (e.g. DescribeCluster -> list pods -> exec), not the chain of checks.
//!
//! Two rules keep it honest: nothing is sent to a Kubernetes API server before DescribeCluster confirms it is
//! this cluster's, and no exec happens under `--no-exec`. Every request is one the checks may make anyway
//! (read-only, listed by `skys3 permissions`); errors are left in the memo for the checks to report.

use futures::future::join_all;

use crate::arn;
use crate::checks::{iam_s3_permissions, kube_context, pod_identity_addon, pod_s3_list};
use crate::engine::Ctx;
use crate::pods;

/// Fetches the facts; returns when all are in (or failed).
pub async fn prefetch(ctx: &Ctx) {
    let t = &ctx.target;
    let f = &ctx.facts;
    let identity_and_role = async {
        let (id, role) = futures::join!(f.caller_identity(), f.role(&t.role_name));
        let (Ok(id), Ok(role)) = (id, role) else { return };
        let required = iam_s3_permissions::required(id.partition(), &t.bucket);
        let (actions, resources) = iam_s3_permissions::simulation_args(&required);
        let boundary = async {
            if let Some(arn) = &role.boundary_arn {
                let _ = iam_s3_permissions::managed(ctx, arn).await;
            }
        };
        let _ = futures::join!(f.simulate(&role.arn, &actions, &resources), boundary);
    };
    let managed = async {
        if let Ok(arns) = f.attached_policies(&t.role_name).await {
            join_all(arns.iter().map(|arn| iam_s3_permissions::managed(ctx, arn))).await;
        }
    };
    let inline = async {
        if let Ok(names) = f.inline_policy_names(&t.role_name).await {
            join_all(names.iter().map(|n| f.inline_policy(&t.role_name, n))).await;
        }
    };
    let association = async {
        if let Ok(list) = f
            .associations(&t.cluster, Some(&t.namespace), Some(&t.service_account))
            .await
        {
            join_all(list.iter().map(|a| f.association(&t.cluster, &a.id))).await;
        }
    };
    let oidc = async {
        let (cluster, id, listed) = futures::join!(f.cluster(&t.cluster), f.caller_identity(), f.oidc_providers());
        if let (Ok(cluster), Ok(id), Ok(listed)) = (cluster, id, listed)
            && let Some(issuer) = cluster.oidc_issuer
        {
            let expected = arn::oidc_provider_arn(&id, &arn::oidc_provider(&issuer));
            if let Some(arn) = listed.iter().find(|a| a.eq_ignore_ascii_case(&expected)) {
                let _ = f.oidc_provider(arn).await;
            }
        }
    };
    let kube = async {
        let Ok(cluster) = f.cluster(&t.cluster).await else {
            return;
        };
        // Only this cluster's API server is ever contacted.
        if !kube_context::same_server(t.context_info.server.as_deref(), cluster.endpoint.as_deref()) {
            return;
        }
        let pods_then_exec = async {
            let Ok(pods) = pods::running(ctx).await else { return };
            if t.no_exec {
                return;
            }
            let cmd = pod_s3_list::command_for(ctx);
            join_all(pod_s3_list::targets(&pods).into_iter().map(|p| {
                let container = p.containers.iter().any(|c| c == "ray-node").then_some("ray-node");
                f.exec(&t.namespace, &p.name, container, &cmd, pod_s3_list::OUTPUT_LIMIT)
            }))
            .await;
        };
        let _ = futures::join!(
            f.server_version(),
            f.service_account(&t.namespace, &t.service_account),
            f.daemonset("kube-system", pod_identity_addon::AGENT),
            pods_then_exec,
        );
    };
    let _ = futures::join!(
        identity_and_role,
        managed,
        inline,
        association,
        oidc,
        kube,
        f.addon(&t.cluster, pod_identity_addon::AGENT),
        f.bucket_location(&t.bucket),
    );
}
