//! `iam.role`: the role exists.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::merge::{self, DocumentChange, DocumentRef, Edit};
use crate::wiring::Wiring;
use crate::{arn, guide};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "iam.role",
    deps: &["aws.identity"],
    warm: None,
    run: |ctx: Arc<Ctx>| {
        async move {
            let t = &ctx.target;
            match ctx.facts.role(&t.role_name).await {
                Ok(r) => Outcome::pass(format!("IAM role {} exists", r.arn)).evidence(json!({ "role": r })),
                Err(e) if e.is_not_found() => {
                    // The fix's trust policy follows the wiring, when the cluster already tells it.
                    let wiring = match t.mode {
                        Some(forced) => forced,
                        None => ctx
                            .wiring()
                            .await
                            .ok()
                            .and_then(|d| d.in_force())
                            .unwrap_or(Wiring::PodIdentity),
                    };
                    let mut o = Outcome::fail(Code::RoleNotFound, format!("IAM role {} does not exist", t.role_name))
                        .var("mode", wiring.as_str())
                        .evidence(json!({ "error": e }));
                    // A new role's trust policy is a document change from nothing, so that targets sharing the
                    // missing role create it once, trusting each of them (src/fix.rs merges the changes).
                    if let Some(statement) = fix_trust_statement(&ctx, wiring).await {
                        let change = DocumentChange {
                            document: DocumentRef::TrustPolicy {
                                role: t.role_name.clone(),
                            },
                            read: None,
                            edits: vec![Edit::AddStatement { statement }],
                        };
                        if let Ok(doc) = merge::apply(None, &change.edits) {
                            o = o.var("trust_policy_json", doc.to_string());
                        }
                        o = o.change(Some(change));
                    }
                    // The fix script creates the S3 policy too when it is missing, as the guide does.
                    if let Ok(id) = ctx.facts.caller_identity().await {
                        o = o.var("s3_policy_json", guide::s3_policy(id.partition(), &t.bucket));
                    }
                    o
                }
                Err(e) => Outcome::from_error(&e),
            }
        }
        .boxed()
    },
};

/// The guide's trust statement for `wiring`, with this cluster's provider, namespace and service account.
pub async fn fix_trust_statement(ctx: &Ctx, wiring: Wiring) -> Option<serde_json::Value> {
    match wiring {
        Wiring::PodIdentity => Some(guide::pod_identity_statement()),
        Wiring::Irsa => {
            let t = &ctx.target;
            let id = ctx.facts.caller_identity().await.ok()?;
            let issuer = ctx.facts.cluster(&t.cluster).await.ok()?.oidc_issuer?;
            let provider = arn::oidc_provider(&issuer);
            let arn = arn::oidc_provider_arn(&id, &provider);
            Some(guide::irsa_statement(&arn, &provider, &t.namespace, &t.service_account))
        }
    }
}
