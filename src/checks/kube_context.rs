//! `kube.context`: the kube context answers, and it is this EKS cluster's API server.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::code::Code;
use crate::engine::{CheckSpec, Ctx, Outcome};
use crate::probe::{ErrorKind, ProbeError};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "kube.context",
    deps: &["eks.cluster"],
    run: |ctx: Arc<Ctx>| {
        async move {
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
        .boxed()
    },
};

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
            Code::Sky121,
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
            Code::Sky122,
            format!(
                "the API server of cluster {cluster} rejected kube context {context}'s credentials: {}",
                e.message
            ),
        )
        .evidence(json!({ "context": context, "server": server, "error": e })),
        Err(e) => Outcome::from_error(&e),
    }
}

/// Whether two API server URLs name the same server: scheme, host (case-insensitive) and port.
pub fn same_server(a: Option<&str>, b: Option<&str>) -> bool {
    match (a.and_then(normalize), b.and_then(normalize)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn normalize(url: &str) -> Option<(String, String, u16)> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next()?.rsplit('@').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse::<u16>() {
            Ok(p) => (h.to_string(), p),
            Err(_) => (authority.to_string(), default_port(&scheme)),
        },
        _ => (authority.to_string(), default_port(&scheme)),
    };
    if host.is_empty() {
        return None;
    }
    Some((
        scheme,
        host.to_ascii_lowercase().trim_end_matches('.').to_string(),
        port,
    ))
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "http" { 80 } else { 443 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_comparison() {
        let e = Some("https://ABC.gr7.us-west-2.eks.amazonaws.com");
        assert!(same_server(Some("https://abc.gr7.us-west-2.eks.amazonaws.com/"), e));
        assert!(same_server(Some("https://abc.gr7.us-west-2.eks.amazonaws.com:443"), e));
        assert!(!same_server(Some("https://def.gr7.us-west-2.eks.amazonaws.com"), e));
        assert!(!same_server(Some("http://abc.gr7.us-west-2.eks.amazonaws.com"), e));
        assert!(same_server(
            Some("http://127.0.0.1:8080"),
            Some("http://127.0.0.1:8080/")
        ));
        assert!(!same_server(
            Some("http://127.0.0.1:8080"),
            Some("http://127.0.0.1:8081")
        ));
        assert!(!same_server(None, e));
        assert!(!same_server(e, None));
    }
}
