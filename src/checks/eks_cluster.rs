//! `eks.cluster`: the cluster exists in the region and is ACTIVE.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::probe::{ClusterInfo, ProbeError};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "eks.cluster",
    deps: &["aws.identity"],
    warm: None,
    run: |ctx: Arc<Ctx>| {
        async move {
            let t = &ctx.target;
            evaluate(&t.cluster, &t.region, ctx.facts.cluster(&t.cluster).await)
        }
        .boxed()
    },
};

/// Decides over DescribeCluster's answer.
pub fn evaluate(name: &str, region: &str, cluster: Result<ClusterInfo, ProbeError>) -> Outcome {
    let c = match cluster {
        Ok(c) => c,
        Err(e) if e.is_not_found() => {
            return Outcome::fail(
                Code::ClusterNotFound,
                format!("EKS cluster {name} was not found in region {region}"),
            )
            .evidence(json!({ "error": e }));
        }
        Err(e) => return Outcome::from_error(&e),
    };
    let evidence = json!({ "cluster": c });
    match c.status.as_str() {
        "ACTIVE" => Outcome::pass(format!(
            "EKS cluster {name} in {region} is ACTIVE (Kubernetes {})",
            c.version.as_deref().unwrap_or("unknown")
        )),
        "UPDATING" => Outcome::warn(
            Code::ClusterUpdating,
            format!("EKS cluster {name} in {region} is UPDATING"),
        ),
        other => Outcome::fail(
            Code::ClusterNotActive,
            format!("EKS cluster {name} in {region} is {other}, not ACTIVE"),
        ),
    }
    .evidence(evidence)
}
