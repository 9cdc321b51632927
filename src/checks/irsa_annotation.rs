//! `irsa.annotation`: the service account names the role (IRSA).

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::wiring::{IRSA_ANNOTATION, Wiring};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "irsa.annotation",
    deps: &["mode", "kube.service-account"],
    warm: None,
    run: |ctx: Arc<Ctx>| {
        async move {
            let detected = match ctx.require_wiring(Wiring::Irsa).await {
                Ok(d) => d,
                Err(o) => return o,
            };
            let expected = match ctx.role_arn().await {
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
            Code::IrsaAnnotationOtherRole,
            format!("{namespace}/{sa} is annotated with role {a}, not {expected}"),
        )
        .var("found", a),
        None => Outcome::fail(
            Code::IrsaAnnotationMissing,
            format!("{namespace}/{sa} has no {IRSA_ANNOTATION} annotation"),
        ),
    }
    .evidence(evidence)
}
