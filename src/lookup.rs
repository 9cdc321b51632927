//! Lookups several checks share, over the target and the memoized facts: whether the kube context is this EKS
//! cluster's API server, the wiring the cluster says is in force, and the role's ARN. Below the check API, so that
//! the checks, the check API and the engine's callers reach them without reaching up.

use crate::probe::{AssociationSummary, ErrorKind, Facts, Op, ProbeError};
use crate::target::Resolved;
use crate::wiring::{Detected, IRSA_ANNOTATION, Wiring};

/// Detects the wiring from memoized facts. Checks call [`crate::check::Ctx::wiring`], which runs this once per run.
pub async fn wiring(t: &Resolved, facts: &Facts) -> Result<Detected, ProbeError> {
    let forced = t.mode;
    let (assocs, sa) = futures::join!(
        facts.associations(&t.cluster, Some(&t.namespace), Some(&t.service_account)),
        async {
            kube_points_here(t, facts, Op::GetServiceAccount).await?;
            facts.service_account(&t.namespace, &t.service_account).await
        },
    );
    let association = exact(t, assocs?);
    let (annotation, service_account_exists, service_account_unread) = match sa {
        Ok(sa) => (
            sa.annotations.get(IRSA_ANNOTATION).cloned().filter(|v| !v.is_empty()),
            true,
            None,
        ),
        Err(e) if e.is_not_found() => (None, false, None),
        // An association decides the mode whatever the annotation says (the webhook prefers Pod Identity).
        Err(e) if association.is_some() => (None, true, Some(e.to_string())),
        Err(e) => return Err(e),
    };
    // Only when nothing is wired: a near miss tells what was meant (one more list, memoized).
    let near_misses = if association.is_none() && annotation.is_none() {
        facts
            .associations(&t.cluster, None, None)
            .await?
            .into_iter()
            .filter(|a| a.service_account == t.service_account || a.namespace == t.namespace)
            .collect()
    } else {
        vec![]
    };
    Ok(Detected {
        forced,
        association,
        annotation,
        service_account_exists,
        service_account_unread,
        near_misses,
    })
}

/// The Pod Identity association for exactly the target's namespace and service account, as listed (the list's
/// filters are not trusted to be exact).
pub async fn association(t: &Resolved, facts: &Facts) -> Result<Option<AssociationSummary>, ProbeError> {
    let listed = facts
        .associations(&t.cluster, Some(&t.namespace), Some(&t.service_account))
        .await?;
    Ok(exact(t, listed))
}

fn exact(t: &Resolved, listed: Vec<AssociationSummary>) -> Option<AssociationSummary> {
    listed
        .into_iter()
        .find(|a| a.namespace == t.namespace && a.service_account == t.service_account)
}

/// The role whose credentials SkyPilot's pods get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodsRole {
    /// The checked role itself (IRSA, or a Pod Identity association without a target role).
    Own,
    /// The association's target role: EKS assumes the checked role, then this one (EKS API, 2025-06; EKS user
    /// guide, "Access AWS resources in another account with a target IAM role").
    Target {
        /// Its ARN.
        arn: String,
        /// Its account.
        account: String,
        /// Its name (the ARN's last path segment).
        name: String,
        /// Whether it is in the doctor's own account, whose IAM the doctor's identity reads.
        same_account: bool,
    },
}

/// Which role the pods get: a Pod Identity association's target role, else the checked role. An association
/// decides whatever the service account's annotation says (the webhook prefers Pod Identity), so only the EKS API
/// is asked, never the cluster: the IAM checks do not wait on the kube context. A cluster that does not exist has
/// no association (eks.cluster reports it); any other failure to list them leaves the pods' role unknown.
pub async fn pods_role(t: &Resolved, facts: &Facts) -> Result<PodsRole, ProbeError> {
    if t.mode == Some(Wiring::Irsa) {
        return Ok(PodsRole::Own);
    }
    let association = match association(t, facts).await {
        Ok(Some(a)) => facts.association(&t.cluster, &a.id).await?,
        Ok(None) => return Ok(PodsRole::Own),
        Err(e) if e.is_not_found() => return Ok(PodsRole::Own),
        Err(e) => return Err(e),
    };
    let Some(arn) = association.target_role_arn else {
        return Ok(PodsRole::Own);
    };
    let Some((account, name)) = crate::arn::role_parts(&arn).map(|(a, n)| (a.to_string(), n.to_string())) else {
        return Err(ProbeError::new(
            Op::DescribePodIdentityAssociation,
            ErrorKind::Other,
            None,
            format!(
                "association {} names target role {arn:?}, which is not a role ARN",
                association.id
            ),
        ));
    };
    let own = facts.caller_identity().await?.account;
    Ok(PodsRole::Target {
        same_account: account == own,
        arn,
        account,
        name,
    })
}

/// The role's ARN: GetRole's (it carries the role's path), else built from the caller's partition and account.
pub async fn role_arn(facts: &Facts, role_name: &str) -> Result<String, ProbeError> {
    match facts.role(role_name).await {
        Ok(r) => Ok(r.arn),
        Err(e) if e.is_not_found() => {
            let id = facts.caller_identity().await?;
            Ok(crate::arn::role_arn(&id, role_name))
        }
        Err(e) => Err(e),
    }
}

/// Whether the kube context is this EKS cluster's API server (its server URL against DescribeCluster's
/// endpoint), so that the doctor may ask it. A context for another cluster is never contacted: its answers would
/// be about the wrong cluster. `Err` says why not, for `op`.
pub async fn kube_points_here(t: &Resolved, facts: &Facts, op: Op) -> Result<(), ProbeError> {
    let endpoint = facts.cluster(&t.cluster).await?.endpoint;
    let server = t.context_info.server.as_deref();
    if same_server(server, endpoint.as_deref()) {
        Ok(())
    } else {
        Err(ProbeError::new(
            op,
            ErrorKind::Unreachable,
            None,
            format!(
                "kube context {} points at {}, not at cluster {}'s API server, so it is not asked",
                t.context,
                server.unwrap_or("no server"),
                t.cluster
            ),
        ))
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
