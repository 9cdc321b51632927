//! `pod.credentials`: the running SkyPilot pods run as the wired service account and had the mode's credentials
//! injected at creation. It reads pod specs only.

use std::sync::Arc;

use futures::FutureExt;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::pods;
use crate::probe::{NetworkPolicyInfo, NodeInfo, PodInfo};
use crate::report::Status;
use crate::wiring::Wiring;

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "pod.credentials",
    deps: &["mode", "kube.context"],
    warm: None,
    run: |ctx: Arc<Ctx>| async move { run(&ctx).await }.boxed(),
};

/// What the doctor expects of a pod.
#[derive(Debug, Clone, Serialize)]
pub struct Expect {
    /// The wiring in force.
    pub wiring: Wiring,
    /// Service account.
    pub service_account: String,
    /// Role ARN.
    pub role_arn: String,
    /// Pod Identity association creation time, epoch seconds.
    pub associated_at: Option<f64>,
    /// Where web identity variables in a Pod Identity pod most likely come from, for the message.
    pub web_identity_source: String,
    /// The nodes the pods run on, as read (Pod Identity only: where it cannot work). A node that could not be
    /// read is missing here, and named in the evidence.
    #[serde(skip)]
    pub nodes: BTreeMap<String, NodeInfo>,
    /// The NetworkPolicies of the pods' namespace (Pod Identity only), as read.
    #[serde(skip)]
    pub network_policies: Vec<NetworkPolicyInfo>,
}

/// Where `AWS_ROLE_ARN` in a Pod Identity pod's spec comes from: SkyPilot's `kubernetes.pod_config` (named with its
/// file), the IRSA webhook (the service account also carries the annotation), or neither the doctor can see.
fn web_identity_source(ctx: &Ctx, annotated: bool) -> String {
    let names_role_arn = |v: &serde_json::Value| {
        fn walk(v: &serde_json::Value) -> bool {
            match v {
                serde_json::Value::Object(m) => {
                    m.get("name").and_then(|n| n.as_str()) == Some("AWS_ROLE_ARN") || m.values().any(walk)
                }
                serde_json::Value::Array(a) => a.iter().any(walk),
                _ => false,
            }
        }
        walk(v)
    };
    // The pod_config SkyPilot applies: the context's, else the general one with the task's merged over it (as
    // SkyPilot merges pod_configs: lists by name).
    let t = &ctx.target;
    if let Some((v, source, _)) = t.sky.effective_k8s("pod_config", &t.context, t.task_config.as_ref())
        && names_role_arn(&v)
    {
        return format!("SkyPilot's {source}");
    }
    if annotated {
        return format!(
            "the IRSA webhook: the service account also carries {}",
            crate::wiring::IRSA_ANNOTATION
        );
    }
    "the pod's spec, not SkyPilot's config (a mutating webhook, or the workload's own manifest)".to_string()
}

async fn run(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let detected = match ctx.wiring().await {
        Ok(d) => d,
        Err(e) => return Outcome::from_error(&e),
    };
    let Some(wiring) = detected.in_force() else {
        return Outcome::skip(Code::NotApplicable, "not applicable: no wiring is in force");
    };
    let pods = match pods::running(&ctx.target, &ctx.facts).await {
        Ok(p) => p,
        Err(e) => return Outcome::from_error(&e),
    };
    if pods.is_empty() {
        return Outcome::skip(Code::NothingToCheck, pods::none_message(&ctx.target));
    }
    let role_arn = match ctx.role_arn().await {
        Ok(a) => a,
        Err(e) => return Outcome::from_error(&e),
    };
    let associated_at = match (&detected.association, wiring) {
        (Some(a), Wiring::PodIdentity) => match ctx.facts.association(&t.cluster, &a.id).await {
            Ok(info) => info.created_at,
            Err(e) => return Outcome::from_error(&e),
        },
        _ => None,
    };
    // Where the pods run decides whether Pod Identity can serve them at all (Fargate, Windows).
    let mut nodes = BTreeMap::new();
    let mut unread = BTreeMap::new();
    if wiring == Wiring::PodIdentity {
        let names: std::collections::BTreeSet<&str> = pods.iter().filter_map(|p| p.node_name.as_deref()).collect();
        let read = futures::future::join_all(names.iter().map(|n| ctx.facts.node(n))).await;
        for (name, r) in names.into_iter().zip(read) {
            match r {
                Ok(n) => {
                    nodes.insert(name.to_string(), n);
                }
                Err(e) => {
                    unread.insert(name.to_string(), e);
                }
            }
        }
    }
    let mut network_policies = vec![];
    if wiring == Wiring::PodIdentity {
        match ctx.facts.network_policies(&t.namespace).await {
            Ok(p) => network_policies = p,
            Err(e) => {
                unread.insert(format!("NetworkPolicies of {}", t.namespace), e);
            }
        }
    }
    let expect = Expect {
        wiring,
        service_account: t.service_account.clone(),
        role_arn,
        associated_at,
        web_identity_source: web_identity_source(ctx, detected.annotation.is_some()),
        nodes,
        network_policies,
    };
    let outcome = evaluate(&expect, &pods);
    if unread.is_empty() {
        return outcome;
    }
    // Not knowing a node (or the NetworkPolicies) leaves what it decides unjudged: said, not passed over.
    let note = format!(
        " ({} could not be read, so {} not ruled out)",
        unread.keys().cloned().collect::<Vec<_>>().join(", "),
        if unread.keys().any(|k| k.starts_with("NetworkPolicies")) {
            "Fargate, Windows and a NetworkPolicy in the way were"
        } else {
            "Fargate and Windows were"
        }
    );
    // A failure found on what was read stands; a pass would claim what was not looked at: undecided instead.
    let first = unread.values().next().expect("not empty");
    let mut outcome = if outcome.status == Status::Fail {
        outcome
    } else {
        let undecided = Outcome::from_error(first);
        let mut o = outcome;
        o.status = undecided.status;
        o.code = undecided.code;
        o
    };
    outcome.message.push_str(&note);
    outcome.evidence["unread"] = json!(
        unread
            .iter()
            .map(|(k, e)| (k.clone(), e.to_string()))
            .collect::<BTreeMap<_, _>>()
    );
    outcome
}

/// One pod's finding.
fn judge(e: &Expect, p: &PodInfo) -> Option<(Code, String)> {
    let env = |k: &str| p.aws_env.get(k).filter(|v| !v.is_empty());
    if p.service_account != e.service_account {
        return Some((
            Code::PodOtherServiceAccount,
            format!(
                "pod {} runs as service account {}, not {}",
                p.name, p.service_account, e.service_account
            ),
        ));
    }
    match e.wiring {
        Wiring::PodIdentity => {
            // Where Pod Identity cannot work at all (EKS user guide, "EKS Pod Identity restrictions": not on Fargate,
            // not on Windows EC2 nodes); the node's labels are the ones the agent's own DaemonSet affinity excludes.
            if let Some(node) = p.node_name.as_deref().and_then(|n| e.nodes.get(n)) {
                let label = |k: &str| node.labels.get(k).map(String::as_str);
                if label("eks.amazonaws.com/compute-type") == Some("fargate") {
                    return Some((
                        Code::PodOnFargate,
                        format!(
                            "pod {} runs on Fargate node {} (eks.amazonaws.com/compute-type=fargate), where EKS Pod \
                             Identity does not work: use IRSA for these pods",
                            p.name, node.name
                        ),
                    ));
                }
                if label("kubernetes.io/os") == Some("windows") {
                    return Some((
                        Code::PodOnWindows,
                        format!(
                            "pod {} runs on Windows node {} (kubernetes.io/os=windows), where EKS Pod Identity does \
                             not work: use IRSA, or schedule SkyPilot's pods on Linux nodes",
                            p.name, node.name
                        ),
                    ));
                }
            }
            let injected = env("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some()
                && env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").is_some();
            if !injected {
                return Some(match (p.created_at, e.associated_at) {
                    (Some(pod), Some(assoc)) if pod < assoc => (
                        Code::PodPredatesWiring,
                        format!(
                            "pod {} was created before the Pod Identity association and has no injected credentials",
                            p.name
                        ),
                    ),
                    _ => (
                        Code::PodNotInjected,
                        format!(
                            "pod {} has no Pod Identity credentials injected (AWS_CONTAINER_CREDENTIALS_FULL_URI)",
                            p.name
                        ),
                    ),
                });
            }
            // Every AWS SDK's chain takes web identity before the container credentials Pod Identity injects
            // (aws-config's default chain: environment, profile, web identity, container, IMDS; the EKS user guide,
            // "How EKS Pod Identity works": credentials earlier in the chain "will continue to be used").
            if let (Some(arn), Some(file)) = (env("AWS_ROLE_ARN"), env("AWS_WEB_IDENTITY_TOKEN_FILE")) {
                return Some((
                    Code::PodWebIdentityWins,
                    format!(
                        "pod {} also has AWS_ROLE_ARN={arn} and AWS_WEB_IDENTITY_TOKEN_FILE={file}, from {}: the SDKs \
                         take web identity first, so the Pod Identity association is never used",
                        p.name, e.web_identity_source
                    ),
                ));
            }
            if let Some((proxy, host)) = proxy_in_the_way(p) {
                return Some((
                    Code::PodProxyHidesAgent,
                    format!(
                        "pod {} sets HTTP_PROXY={proxy} and its NO_PROXY does not cover the Pod Identity agent's {host}: \
                         SDKs that honour the proxy variables send the credentials request to the proxy",
                        p.name
                    ),
                ));
            }
            if let Some(host) = agent_host(p)
                && let Some(names) = blocking_policies(p, &e.network_policies, &host)
            {
                return Some((
                    Code::PodNetworkPolicyBlocksAgent,
                    format!(
                        "NetworkPolicy {names} selects pod {} and allows no egress to the Pod Identity agent at \
                         {host} port 80: where the CNI enforces NetworkPolicies, the pod gets no credentials",
                        p.name
                    ),
                ));
            }
            if p.host_network {
                return Some((
                    Code::PodHostNetwork,
                    format!(
                        "pod {} uses hostNetwork{}: the Pod Identity agent refuses such pods' requests in the field \
                         (aws/eks-pod-identity-agent issue 139: \"EKS does not have permissions to assume the \
                         associated role\"); IRSA works there",
                        p.name,
                        p.node_name
                            .as_deref()
                            .map(|n| format!(" on node {n}"))
                            .unwrap_or_default()
                    ),
                ));
            }
        }
        Wiring::Irsa => match (env("AWS_ROLE_ARN"), env("AWS_WEB_IDENTITY_TOKEN_FILE")) {
            (Some(arn), Some(_)) if *arn != e.role_arn => {
                return Some((
                    Code::PodOtherRoleArn,
                    format!("pod {} got AWS_ROLE_ARN={arn}, not {}", p.name, e.role_arn),
                ));
            }
            (Some(_), Some(_)) => {}
            _ => {
                return Some((
                    Code::PodNotInjected,
                    format!(
                        "pod {} has no IRSA credentials injected (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE); if it predates the annotation, recreate it",
                        p.name
                    ),
                ));
            }
        },
    }
    None
}

/// The pod's HTTP proxy and the agent host its `NO_PROXY` leaves to it, when it does (the EKS user guide, "EKS Pod
/// Identity considerations": add `169.254.170.23` and `[fd00:ec2::23]` to `no_proxy`). The agent is reached over
/// plain HTTP, so only `HTTP_PROXY`/`http_proxy` matter.
fn proxy_in_the_way(p: &PodInfo) -> Option<(String, String)> {
    let env = |k: &str| p.aws_env.get(k).filter(|v| !v.trim().is_empty());
    let proxy = env("HTTP_PROXY").or_else(|| env("http_proxy"))?;
    let host = agent_host(p)?;
    let no_proxy = env("NO_PROXY")
        .or_else(|| env("no_proxy"))
        .map(String::as_str)
        .unwrap_or("");
    (!no_proxy_covers(no_proxy, &host)).then(|| (proxy.clone(), host))
}

/// The Pod Identity agent's address as the pod was given it (`AWS_CONTAINER_CREDENTIALS_FULL_URI`): `169.254.170.23`,
/// or `fd00:ec2::23` in IPv6 clusters.
fn agent_host(p: &PodInfo) -> Option<String> {
    let uri = p.aws_env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")?;
    let authority = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri).split('/').next()?;
    // `[fd00:ec2::23]:80` or `169.254.170.23:80` -> the address alone.
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_string())
}

/// The NetworkPolicies that select the pod, restrict its egress, and between them allow nothing to `host` on TCP
/// port 80 (the agent's); `None` when the pod may reach it (no such policy, or one rule allows it). Policies add
/// up: traffic one of them allows is allowed (Kubernetes, "Network Policies").
pub fn blocking_policies(p: &PodInfo, policies: &[NetworkPolicyInfo], host: &str) -> Option<String> {
    let ip: std::net::IpAddr = host.parse().ok()?;
    let selecting: Vec<&NetworkPolicyInfo> = policies
        .iter()
        .filter(|np| np.restricts_egress && selects(np, &p.labels))
        .collect();
    if selecting.is_empty() {
        return None;
    }
    let allowed = selecting.iter().flat_map(|np| &np.egress).any(|rule| {
        let to = rule.to_all
            || rule
                .ip_blocks
                .iter()
                .any(|(cidr, except)| cidr_contains(cidr, ip) && !except.iter().any(|x| cidr_contains(x, ip)));
        let port = rule.ports.is_empty()
            || rule.ports.iter().any(|(protocol, port, end)| {
                protocol.eq_ignore_ascii_case("TCP")
                    && match port.as_deref().map(str::parse::<i32>) {
                        None => true,
                        Some(Ok(first)) => first == 80 || (first < 80 && end.is_some_and(|e| e >= 80)),
                        // A named port names a container port of the destination pods: not the node's agent.
                        Some(Err(_)) => false,
                    }
            });
        to && port
    });
    (!allowed).then(|| {
        selecting
            .iter()
            .map(|np| np.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// Whether a NetworkPolicy's pod selector selects a pod with `labels` (an empty selector selects every pod).
fn selects(np: &NetworkPolicyInfo, labels: &BTreeMap<String, String>) -> bool {
    np.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        && np.match_expressions.iter().all(|(key, op, values)| {
            let value = labels.get(key);
            match op.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                // An operator the API server would have refused: select, so the finding is not missed.
                _ => true,
            }
        })
}

/// Whether an IPv4 or IPv6 CIDR block (`169.254.0.0/16`, `fd00:ec2::23/128`) contains `ip`.
fn cidr_contains(cidr: &str, ip: std::net::IpAddr) -> bool {
    let (net, bits) = cidr.split_once('/').unwrap_or((cidr, ""));
    let Ok(net) = net.trim().parse::<std::net::IpAddr>() else {
        return false;
    };
    match (net, ip) {
        (std::net::IpAddr::V4(n), std::net::IpAddr::V4(i)) => {
            let bits: u32 = bits.parse().unwrap_or(32).min(32);
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (std::net::IpAddr::V6(n), std::net::IpAddr::V6(i)) => {
            let bits: u32 = bits.parse().unwrap_or(128).min(128);
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Whether a `NO_PROXY` list covers `host`: `*`, the address itself (IPv6 with or without brackets), or a CIDR
/// block (IPv4 or IPv6) that contains it (as Go's and botocore's proxy rules read it).
pub fn no_proxy_covers(no_proxy: &str, host: &str) -> bool {
    let ip: Option<std::net::IpAddr> = host.parse().ok();
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            let bare = entry.trim_start_matches('[').trim_end_matches(']');
            entry == "*"
                || bare.eq_ignore_ascii_case(host)
                || (entry.contains('/') && ip.is_some_and(|ip| cidr_contains(entry, ip)))
        })
}

/// Decides over the running pods: the first pod with a finding decides the code; the message counts them all.
pub fn evaluate(e: &Expect, pods: &[PodInfo]) -> Outcome {
    let findings: Vec<(&PodInfo, Code, String)> = pods
        .iter()
        .filter_map(|p| judge(e, p).map(|(c, m)| (p, c, m)))
        .collect();
    let evidence = json!({
        "expected": e,
        "pods": pods.iter().map(|p| json!({
            "name": p.name, "sky_cluster": pods::sky_cluster(p), "service_account": p.service_account,
            "aws_env": p.aws_env, "created_at": p.created_at, "host_network": p.host_network, "node": p.node_name,
            "finding": judge(e, p).map(|(c, _)| c),
        })).collect::<Vec<_>>(),
    });
    // A failure outranks a warning, whichever pod comes first.
    let worst = findings
        .iter()
        .find(|(_, c, _)| crate::catalog::Catalog::get().doc(*c).status == Status::Fail)
        .or(findings.first());
    match worst {
        None => Outcome::pass(format!(
            "{} running SkyPilot pod(s) run as {} with {} credentials injected",
            pods.len(),
            e.service_account,
            e.wiring.as_str()
        )),
        Some((pod, code, message)) => {
            let more = findings.len() - 1;
            let message = if more > 0 {
                format!("{message} (and {more} more pod(s) with findings)")
            } else {
                message.clone()
            };
            // The catalog says which findings are warnings.
            Outcome::coded(*code, message)
                .var("sky_cluster", pods::sky_cluster(pod))
                .var("role_arn", e.role_arn.clone())
        }
    }
    .evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::no_proxy_covers;

    #[test]
    fn no_proxy_rules() {
        let agent = "169.254.170.23";
        assert!(no_proxy_covers("localhost,169.254.170.23", agent));
        assert!(no_proxy_covers("localhost, 169.254.0.0/16", agent));
        assert!(no_proxy_covers("*", agent));
        assert!(!no_proxy_covers("localhost,169.254.169.254", agent));
        assert!(!no_proxy_covers("10.0.0.0/8", agent));
        assert!(!no_proxy_covers("", agent));
        assert!(no_proxy_covers("[fd00:ec2::23]", "fd00:ec2::23"));
        assert!(no_proxy_covers("fd00:ec2::23", "fd00:ec2::23"));
    }
}
