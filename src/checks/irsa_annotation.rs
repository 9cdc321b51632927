//! `irsa.annotation`: the service account names the role (IRSA).

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::code::Code;
use crate::engine::{CheckSpec, Ctx, Outcome};
use crate::wiring;
use crate::wiring::{IRSA_ANNOTATION, Wiring};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "irsa.annotation",
    deps: &["mode", "kube.service-account"],
    run: |ctx: Arc<Ctx>| {
        async move {
            let detected = match wiring::require(&ctx, Wiring::Irsa).await {
                Ok(d) => d,
                Err(o) => return o,
            };
            let expected = match wiring::expected_role_arn(&ctx).await {
                Ok(a) => a,
                Err(e) => return Outcome::from_error(&e),
            };
            let t = &ctx.target;
            evaluate(
                &t.namespace,
                &t.service_account,
                detected.annotation.as_deref(),
                &expected,
            )
            .var("role_arn", expected)
        }
        .boxed()
    },
};

/// Decides over the annotation's value.
pub fn evaluate(namespace: &str, sa: &str, annotation: Option<&str>, expected: &str) -> Outcome {
    let evidence = json!({ "annotation": annotation, "expected": expected });
    match annotation {
        Some(a) if a == expected => Outcome::pass(format!("{namespace}/{sa} has {IRSA_ANNOTATION}={a}")),
        Some(a) => Outcome::fail(
            Code::Sky302,
            format!("{namespace}/{sa} is annotated with role {a}, not {expected}"),
        )
        .var("found", a),
        None => Outcome::fail(
            Code::Sky301,
            format!("{namespace}/{sa} has no {IRSA_ANNOTATION} annotation"),
        ),
    }
    .evidence(evidence)
}
