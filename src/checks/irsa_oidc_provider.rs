//! `irsa.oidc-provider`: the cluster's OIDC issuer is registered in IAM and accepts sts.amazonaws.com.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::arn;
use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::wiring::Wiring;

/// The audience of the tokens EKS projects for IRSA.
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "irsa.oidc-provider",
    deps: &["mode"],
    // Warmed in either wiring: the provider's two reads would otherwise wait for the mode.
    warm: Some(|ctx: Arc<Ctx>| {
        async move {
            provider(&ctx).await;
        }
        .boxed()
    }),
    run: |ctx: Arc<Ctx>| {
        async move {
            match ctx.require_wiring(Wiring::Irsa).await {
                Ok(_) => provider(&ctx).await,
                Err(o) => o,
            }
        }
        .boxed()
    },
};

/// Finds the IAM OIDC provider of the cluster's issuer and decides over it.
async fn provider(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    // Asked together: the providers' list does not wait for the issuer it is searched for.
    let (cluster, id, listed) = futures::join!(
        ctx.facts.cluster(&t.cluster),
        ctx.facts.caller_identity(),
        ctx.facts.oidc_providers()
    );
    let (cluster, id) = match (cluster, id) {
        (Ok(c), Ok(id)) => (c, id),
        (Err(e), _) | (_, Err(e)) => return Outcome::from_error(&e),
    };
    let Some(issuer) = cluster.oidc_issuer.filter(|i| !i.is_empty()) else {
        return Outcome::fail(
            Code::OidcIssuerMissing,
            format!("EKS cluster {} has no OIDC issuer", t.cluster),
        );
    };
    let provider = arn::oidc_provider(&issuer);
    let expected = arn::oidc_provider_arn(&id, &provider);
    let listed = match listed {
        Ok(l) => l,
        Err(e) => return Outcome::from_error(&e),
    };
    // IAM compares provider URLs case-insensitively.
    let Some(arn) = listed.iter().find(|a| a.eq_ignore_ascii_case(&expected)) else {
        return Outcome::fail(
            Code::OidcProviderMissing,
            format!(
                "no IAM OIDC provider for cluster {}'s issuer {issuer} (expected {expected})",
                t.cluster
            ),
        )
        .var("oidc_provider", provider)
        .var("oidc_provider_arn", expected.clone())
        .evidence(json!({ "issuer": issuer, "expected_arn": expected, "providers": listed }));
    };
    match ctx.facts.oidc_provider(arn).await {
        Ok(p) if p.client_ids.iter().any(|c| c == STS_AUDIENCE) => {
            Outcome::pass(format!("IAM OIDC provider {} accepts {STS_AUDIENCE}", p.arn))
                .evidence(json!({ "provider": p }))
        }
        Ok(p) => Outcome::fail(
            Code::OidcProviderAudience,
            format!(
                "IAM OIDC provider {} does not list {STS_AUDIENCE} among its client ids ({})",
                p.arn,
                if p.client_ids.is_empty() {
                    "none".to_string()
                } else {
                    p.client_ids.join(", ")
                }
            ),
        )
        .var("oidc_provider_arn", p.arn.clone())
        .var("oidc_provider", provider)
        .evidence(json!({ "provider": p })),
        Err(e) => Outcome::from_error(&e),
    }
}
