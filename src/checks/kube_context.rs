//! `kube.context`: the kube context answers, and it is this EKS cluster's API server.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::lookup::same_server;
use crate::probe::{ErrorKind, ProbeError};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "kube.context",
    deps: &["eks.cluster"],
    warm: Some(|ctx: Arc<Ctx>| {
        async move {
            run(&ctx).await;
        }
        .boxed()
    }),
    run: |ctx: Arc<Ctx>| async move { run(&ctx).await }.boxed(),
};

/// Asks the server only when it is this cluster's.
async fn run(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let endpoint = match ctx.facts.cluster(&t.cluster).await {
        Ok(c) => c.endpoint,
        Err(e) => return Outcome::from_error(&e),
    };
    let server = t.context_info.server.clone();
    // A context for another cluster is decided without contacting it: its answers would be irrelevant.
    if !same_server(server.as_deref(), endpoint.as_deref()) {
        return evaluate(
            &t.context,
            &t.cluster,
            server.as_deref(),
            endpoint.as_deref(),
            Ok(String::new()),
        );
    }
    let version = ctx.facts.server_version().await;
    evaluate(&t.context, &t.cluster, server.as_deref(), endpoint.as_deref(), version)
}

/// Decides over the context's server URL, the cluster's endpoint and the server's answer to GET /version.
pub fn evaluate(
    context: &str,
    cluster: &str,
    server: Option<&str>,
    endpoint: Option<&str>,
    version: Result<String, ProbeError>,
) -> Outcome {
    let evidence = json!({ "context": context, "server": server, "cluster_endpoint": endpoint });
    if !same_server(server, endpoint) {
        return Outcome::fail(
            Code::ContextOtherCluster,
            format!(
                "kube context {context} points at {} but EKS cluster {cluster}'s endpoint is {}",
                server.unwrap_or("no server"),
                endpoint.unwrap_or("unknown")
            ),
        )
        .evidence(evidence);
    }
    match version {
        Ok(v) => Outcome::pass(format!(
            "kube context {context} reaches EKS cluster {cluster} (Kubernetes {v})"
        ))
        .evidence(evidence),
        Err(e) if e.kind == ErrorKind::CredentialsRejected || e.kind == ErrorKind::NoCredentials => Outcome::fail(
            Code::ContextCredentialsRejected,
            format!(
                "the API server of cluster {cluster} rejected kube context {context}'s credentials: {}",
                e.message
            ),
        )
        .evidence(json!({ "context": context, "server": server, "error": e })),
        Err(e) => Outcome::from_error(&e),
    }
}
