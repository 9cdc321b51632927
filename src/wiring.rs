//! The wiring: how the role reaches SkyPilot's pods (EKS Pod Identity or IRSA), as requested with `--mode` and as
//! the cluster says. Detected once per run (the answer is memoized in [`crate::engine::Ctx`]) and shared by every
//! check that depends on it, and by the report's `target.mode`.

use serde::Serialize;

use crate::code::Code;
use crate::engine::{Ctx, Outcome};
use crate::probe::{AssociationSummary, ProbeError};

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
        ctx.facts.service_account(&t.namespace, &t.service_account),
    );
    let association = assocs?
        .into_iter()
        .find(|a| a.namespace == t.namespace && a.service_account == t.service_account);
    let (annotation, service_account_exists) = match sa {
        Ok(sa) => (
            sa.annotations.get(IRSA_ANNOTATION).cloned().filter(|v| !v.is_empty()),
            true,
        ),
        Err(e) if e.is_not_found() => (None, false),
        // An association decides the mode whatever the annotation says.
        Err(_) if association.is_some() => (None, true),
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
