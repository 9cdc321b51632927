//! `mode`: which wiring (Pod Identity or IRSA) is in force for the namespace and service account.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::lookup::PodsRole;
use crate::report::Status;
use crate::wiring::{Detected, Wiring};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "mode",
    // Not kube.context: an association (AWS side) decides the mode even when the cluster cannot be reached, and
    // the AWS-side checks that follow from it (association, trust policy, add-on) still run.
    deps: &["eks.cluster"],
    // The wiring's requests (the associations, the service account once DescribeCluster confirms the server).
    warm: Some(|ctx: Arc<Ctx>| {
        async move {
            let _ = ctx.wiring().await;
        }
        .boxed()
    }),
    run: |ctx: Arc<Ctx>| {
        async move {
            match ctx.wiring().await {
                Ok(d) => {
                    let outcome = evaluate(&ctx.target.namespace, &ctx.target.service_account, &d);
                    // The second hop is part of the wiring: the pods get the association's target role.
                    match ctx.pods_role().await {
                        Ok(PodsRole::Target { arn, .. })
                            if outcome.status == Status::Pass && d.in_force() == Some(Wiring::PodIdentity) =>
                        {
                            let mut o = outcome;
                            o.message =
                                format!("{}, then target role {arn}, whose credentials the pods get", o.message);
                            o.evidence["target_role"] = json!(arn);
                            o
                        }
                        _ => outcome,
                    }
                }
                Err(e) => Outcome::from_error(&e),
            }
        }
        .boxed()
    },
};

/// Decides over what the cluster says.
pub fn evaluate(namespace: &str, sa: &str, d: &Detected) -> Outcome {
    let evidence = json!({ "detected": d, "in_force": d.in_force().map(Wiring::as_str) });
    if let Some(forced) = d.forced {
        return Outcome::pass(format!("{} wiring forced with --mode", forced.as_str())).evidence(evidence);
    }
    match (&d.association, &d.annotation) {
        (Some(a), Some(ann)) => Outcome::warn(
            Code::BothWirings,
            format!(
                "{namespace}/{sa} has Pod Identity association {} and the IRSA annotation {ann}; Pod Identity wins",
                a.id
            ),
        ),
        (Some(a), None) => match &d.service_account_unread {
            None => Outcome::pass(format!("Pod Identity: association {} for {namespace}/{sa}", a.id)),
            Some(why) => Outcome::pass(format!(
                "Pod Identity: association {} for {namespace}/{sa} (decided from AWS alone: the service account and any IRSA annotation could not be read: {why})",
                a.id
            )),
        },
        (None, Some(ann)) => Outcome::pass(format!("IRSA: {namespace}/{sa} is annotated with role {ann}")),
        (None, None) if !d.near_misses.is_empty() => Outcome::pass(format!(
            "Pod Identity is meant: there are associations for {} (see pod-identity.association)",
            d.near_misses
                .iter()
                .map(|a| format!("{}/{}", a.namespace, a.service_account))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        (None, None) => {
            let sa_note = if d.service_account_exists {
                ""
            } else {
                " (the service account does not exist yet)"
            };
            Outcome::fail(
                Code::NoWiring,
                format!("{namespace}/{sa} has no Pod Identity association and no IRSA annotation{sa_note}"),
            )
        }
    }
    .var("mode", d.in_force().unwrap_or(Wiring::PodIdentity).as_str())
    .evidence(evidence)
}
