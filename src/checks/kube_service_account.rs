//! `kube.service-account`: the namespace and the service account the role is wired to exist.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::probe::{ProbeError, ServiceAccountInfo};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "kube.service-account",
    deps: &["kube.context"],
    warm: None,
    run: |ctx: Arc<Ctx>| {
        async move {
            let t = &ctx.target;
            let sa = ctx.facts.service_account(&t.namespace, &t.service_account).await;
            // Only a missing account raises the question whether the namespace itself is missing.
            let namespace = match &sa {
                Err(e) if e.is_not_found() => Some(ctx.facts.namespace(&t.namespace).await),
                _ => None,
            };
            evaluate(&t.namespace, &t.service_account, sa, namespace)
        }
        .boxed()
    },
};

/// Decides over the service account lookup and, when it was not found, the namespace lookup.
pub fn evaluate(
    namespace: &str,
    name: &str,
    sa: Result<ServiceAccountInfo, ProbeError>,
    namespace_lookup: Option<Result<(), ProbeError>>,
) -> Outcome {
    match sa {
        Ok(sa) => Outcome::pass(format!("service account {namespace}/{name} exists"))
            .evidence(json!({ "service_account": sa })),
        Err(e) if e.is_not_found() => match namespace_lookup {
            Some(Err(ns)) if ns.is_not_found() => Outcome::fail(
                Code::NamespaceNotFound,
                format!("namespace {namespace} does not exist, so neither does service account {name}"),
            )
            .evidence(json!({ "error": ns })),
            other => {
                let note = match other {
                    Some(Err(ns)) => {
                        format!(" (whether namespace {namespace} exists is unknown: {ns})")
                    }
                    _ => String::new(),
                };
                Outcome::fail(
                    Code::ServiceAccountNotFound,
                    format!("service account {name} does not exist in namespace {namespace}{note}"),
                )
                .evidence(json!({ "error": e }))
            }
        },
        Err(e) => Outcome::from_error(&e),
    }
}
