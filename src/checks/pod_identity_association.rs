//! `pod-identity.association`: an association for exactly this namespace and service account, to the role.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::probe::AssociationSummary;
use crate::wiring::Wiring;

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "pod-identity.association",
    deps: &["mode"],
    // Described as soon as it is listed, not after the service account is read and the mode decided.
    warm: Some(|ctx: Arc<Ctx>| {
        async move {
            if let Ok(Some(a)) = crate::lookup::association(&ctx.target, &ctx.facts).await {
                let _ = ctx.facts.association(&ctx.target.cluster, &a.id).await;
            }
        }
        .boxed()
    }),
    run: |ctx: Arc<Ctx>| {
        async move {
            let detected = match ctx.require_wiring(Wiring::PodIdentity).await {
                Ok(d) => d,
                Err(o) => return o,
            };
            let t = &ctx.target;
            let expected = match ctx.role_arn().await {
                Ok(a) => a,
                Err(e) => return Outcome::from_error(&e),
            };
            let Some(summary) = detected.association else {
                // Only a missing association raises the question of near misses elsewhere in the cluster.
                return match ctx.facts.associations(&t.cluster, None, None).await {
                    Ok(all) => missing(&t.namespace, &t.service_account, &all),
                    Err(e) => Outcome::from_error(&e),
                }
                .var("role_arn", expected);
            };
            match ctx.facts.association(&t.cluster, &summary.id).await {
                Ok(a) if a.role_arn == expected => Outcome::pass(format!(
                    "association {} gives {}/{} the role {}",
                    a.id, a.namespace, a.service_account, a.role_arn
                ))
                .evidence(json!({ "association": a })),
                Ok(a) => Outcome::fail(
                    Code::AssociationOtherRole,
                    format!(
                        "association {} for {}/{} gives role {}, not {expected}",
                        a.id, a.namespace, a.service_account, a.role_arn
                    ),
                )
                .var("association_id", a.id.clone())
                .var("found", a.role_arn.clone())
                .var("role_arn", expected)
                .evidence(json!({ "association": a })),
                Err(e) => Outcome::from_error(&e),
            }
        }
        .boxed()
    },
};

/// No association for the pair: a near miss (same service account elsewhere, or another account in the same
/// namespace) is its own finding.
pub fn missing(namespace: &str, sa: &str, all: &[AssociationSummary]) -> Outcome {
    let near: Vec<String> = all
        .iter()
        .filter(|a| a.service_account == sa || a.namespace == namespace)
        .map(|a| format!("{}/{}", a.namespace, a.service_account))
        .collect();
    let evidence = json!({ "associations": all });
    if near.is_empty() {
        Outcome::fail(
            Code::AssociationMissing,
            format!("no Pod Identity association exists for {namespace}/{sa}"),
        )
        .evidence(evidence)
    } else {
        Outcome::fail(
            Code::AssociationElsewhere,
            format!(
                "no Pod Identity association for {namespace}/{sa}; there is one for {}",
                near.join(", ")
            ),
        )
        .var("found", near.join(", "))
        .evidence(evidence)
    }
}
