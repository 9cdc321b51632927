//! `pod-identity.association`: an association for exactly this namespace and service account, to the role.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::policy::Decision;
use crate::probe::{AssociationInfo, AssociationSummary};
use crate::wiring::Wiring;

/// The seconds since the epoch, for the credential cache note.
fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// How long the Pod Identity agent caches credentials, by the EKS user guide ("Access AWS resources in another
/// account with a target IAM role"): 6 hours for the role alone, 59 minutes with a target role. Pods that fetched
/// credentials before a change keep the old ones until then (or until they are recreated).
pub fn cache_secs(a: &AssociationInfo) -> f64 {
    if a.target_role_arn.is_some() {
        59.0 * 60.0
    } else {
        6.0 * 3600.0
    }
}

/// Decides over an association that gives the expected role: its session policy (the association's `policy`,
/// EKS API of 2026-02) must allow the five S3 calls SkyPilot's mounts make on the bucket, since the pods get the
/// intersection of it and the role's policies (of the target role's, when there is one).
pub fn evaluate_granted(a: &AssociationInfo, partition: &str, bucket: &str, now: f64) -> Outcome {
    let hop = match &a.target_role_arn {
        Some(target) => format!(", then target role {target} (EKS assumes both; the pods get the second)"),
        None => String::new(),
    };
    // A recent change has not reached pods that fetched credentials before it.
    let recent = a
        .modified_at
        .filter(|m| now - m < cache_secs(a))
        .map(|_| {
            format!(
                "; changed less than {} ago: pods that fetched credentials before keep them up to then, unless recreated",
                if a.target_role_arn.is_some() { "59 minutes" } else { "6 hours" }
            )
        })
        .unwrap_or_default();
    let evidence = json!({ "association": a });
    let Some(text) = &a.policy else {
        return Outcome::pass(format!(
            "association {} gives {}/{} the role {}{hop}{recent}",
            a.id, a.namespace, a.service_account, a.role_arn
        ))
        .evidence(evidence);
    };
    let session = match crate::policy::parse_document(text) {
        Ok(p) => p,
        Err(e) => {
            return Outcome::inconclusive(
                Code::ApiError,
                format!("the session policy of association {} does not parse: {e}", a.id),
            )
            .evidence(evidence);
        }
    };
    let needs = super::iam_s3_permissions::required(partition, bucket);
    let decisions: Vec<(&str, Decision)> = needs
        .iter()
        .map(|(action, resource)| {
            (
                action.as_str(),
                crate::policy::evaluate(std::slice::from_ref(&session), action, resource),
            )
        })
        .collect();
    let refused: Vec<&str> = decisions
        .iter()
        .filter(|(_, d)| matches!(d, Decision::ImplicitDeny | Decision::ExplicitDeny))
        .map(|(a, _)| *a)
        .collect();
    let evidence = json!({ "association": a, "session_policy": session, "decisions": decisions.iter().map(|(a, d)| json!({"action": a, "decision": d})).collect::<Vec<_>>() });
    if !refused.is_empty() {
        let missing = refused.join(", ");
        return Outcome::fail(
            Code::AssociationSessionPolicyDenies,
            format!(
                "the session policy of association {} ({}/{}) does not allow {missing} on bucket {bucket}: the pods get \
                 only what both it and the role allow",
                a.id, a.namespace, a.service_account
            ),
        )
        .var("association_id", a.id.clone())
        .var("missing", missing)
        .evidence(evidence);
    }
    if decisions.iter().any(|(_, d)| *d != Decision::Allowed) {
        return Outcome::warn(
            Code::AssociationSessionPolicyConditional,
            format!(
                "the session policy of association {} allows the S3 calls on bucket {bucket} only under conditions the \
                 doctor cannot evaluate",
                a.id
            ),
        )
        .var("association_id", a.id.clone())
        .evidence(evidence);
    }
    Outcome::pass(format!(
        "association {} gives {}/{} the role {}{hop}, and its session policy allows the S3 calls on bucket {bucket}{recent}",
        a.id, a.namespace, a.service_account, a.role_arn
    ))
    .evidence(evidence)
}

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
                Ok(a) if a.role_arn == expected => {
                    let partition = match ctx.facts.caller_identity().await {
                        Ok(id) => id.partition().to_string(),
                        Err(e) => return Outcome::from_error(&e),
                    };
                    evaluate_granted(&a, &partition, &t.bucket, now_secs())
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn association(target: Option<&str>, modified_at: f64) -> AssociationInfo {
        AssociationInfo {
            namespace: "default".into(),
            service_account: "sa".into(),
            id: "a-1".into(),
            role_arn: "arn:aws:iam::111122223333:role/First".into(),
            created_at: Some(1_700_000_000.0),
            disable_session_tags: false,
            target_role_arn: target.map(str::to_string),
            external_id: None,
            policy: None,
            modified_at: Some(modified_at),
        }
    }

    #[test]
    fn a_recent_change_names_the_agents_credential_cache() {
        let now = 1_800_000_000.0;
        let target = Some("arn:aws:iam::444455556666:role/Target");
        // Changed 30 minutes ago, with a target role: within the 59 minutes the agent keeps its credentials.
        let o = evaluate_granted(&association(target, now - 1800.0), "aws", "b", now);
        assert!(
            o.message.contains("then target role") && o.message.contains("59 minutes"),
            "{}",
            o.message
        );
        // Two hours ago: past it with a target role, within the 6 hours without one.
        let o = evaluate_granted(&association(target, now - 7200.0), "aws", "b", now);
        assert!(!o.message.contains("ago"), "{}", o.message);
        let o = evaluate_granted(&association(None, now - 7200.0), "aws", "b", now);
        assert!(o.message.contains("6 hours"), "{}", o.message);
        assert_eq!(o.status, crate::report::Status::Pass);
    }
}
