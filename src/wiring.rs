//! The wiring: how the role reaches SkyPilot's pods (EKS Pod Identity or IRSA), as requested with `--mode` and as
//! the cluster says. Detected once per run (the answer is memoized in [`crate::engine::Ctx`]) and shared by every
//! check that depends on it, and by the report's `target.mode`.

use serde::Serialize;

use crate::code::Code;
use crate::engine::{Ctx, Outcome};
use crate::probe::{AssociationSummary, ErrorKind, Op, ProbeError};

/// The annotation IRSA's webhook reads.
pub const IRSA_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// How the role reaches the pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Wiring {
    /// EKS Pod Identity.
    PodIdentity,
    /// IAM roles for service accounts.
    Irsa,
}

impl Wiring {
    /// The name used in reports and `--mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Wiring::PodIdentity => "pod-identity",
            Wiring::Irsa => "irsa",
        }
    }
}

/// What the cluster says about the wiring of the namespace and service account.
#[derive(Debug, Clone, Serialize)]
pub struct Detected {
    /// `--mode`, if forced.
    pub forced: Option<Wiring>,
    /// The Pod Identity association for exactly this namespace and service account.
    pub association: Option<AssociationSummary>,
    /// The IRSA annotation's value.
    pub annotation: Option<String>,
    /// Whether the service account exists.
    pub service_account_exists: bool,
    /// Why the service account (and so its IRSA annotation) could not be read, when an association decided the
    /// mode without it (the kube context is broken or unreachable: the AWS side still knows the wiring).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account_unread: Option<String>,
    /// Associations for the same service account in another namespace, or another service account in the
    /// same namespace: Pod Identity was meant, but wired to the wrong pair.
    pub near_misses: Vec<AssociationSummary>,
}

impl Detected {
    /// The wiring in force: forced, else Pod Identity when associated (the webhook prefers it), else IRSA.
    pub fn in_force(&self) -> Option<Wiring> {
        self.forced.or(if self.association.is_some() {
            Some(Wiring::PodIdentity)
        } else if self.annotation.is_some() {
            Some(Wiring::Irsa)
        } else if !self.near_misses.is_empty() {
            Some(Wiring::PodIdentity)
        } else {
            None
        })
    }
}

/// Detects the wiring from memoized facts. Checks call [`Ctx::wiring`], which runs this once per run.
pub(crate) async fn detect(ctx: &Ctx) -> Result<Detected, ProbeError> {
    let t = &ctx.target;
    let forced = t.mode;
    let (assocs, sa) = futures::join!(
        ctx.facts
            .associations(&t.cluster, Some(&t.namespace), Some(&t.service_account)),
        async {
            kube_points_here(ctx, Op::GetServiceAccount).await?;
            ctx.facts.service_account(&t.namespace, &t.service_account).await
        },
    );
    let association = assocs?
        .into_iter()
        .find(|a| a.namespace == t.namespace && a.service_account == t.service_account);
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
        ctx.facts
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

/// `Ok` when `want` is the wiring in force; otherwise the outcome the check should report (a skip, or the
/// error that kept the mode from being known).
pub async fn require(ctx: &Ctx, want: Wiring) -> Result<Detected, Outcome> {
    match ctx.wiring().await {
        Ok(d) if d.in_force() == Some(want) => Ok(d),
        Ok(d) => Err(Outcome::skip(
            Code::Sky008,
            format!(
                "not applicable: the wiring in force is {}",
                d.in_force().map(Wiring::as_str).unwrap_or("none")
            ),
        )),
        Err(e) => Err(Outcome::from_error(&e)),
    }
}

/// The role's ARN: GetRole's (it carries the role's path), else built from the caller's partition and account.
pub async fn expected_role_arn(ctx: &Ctx) -> Result<String, ProbeError> {
    match ctx.facts.role(&ctx.target.role_name).await {
        Ok(r) => Ok(r.arn),
        Err(e) if e.is_not_found() => {
            let id = ctx.facts.caller_identity().await?;
            Ok(crate::arn::role_arn(&id, &ctx.target.role_name))
        }
        Err(e) => Err(e),
    }
}

/// Whether the kube context is this EKS cluster's API server (its server URL against DescribeCluster's
/// endpoint), so that the doctor may ask it. A context for another cluster is never contacted: its answers would
/// be about the wrong cluster. `Err` says why not, for `op`.
pub(crate) async fn kube_points_here(ctx: &Ctx, op: Op) -> Result<(), ProbeError> {
    let t = &ctx.target;
    let endpoint = ctx.facts.cluster(&t.cluster).await?.endpoint;
    let server = t.context_info.server.as_deref();
    if crate::checks::kube_context::same_server(server, endpoint.as_deref()) {
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
