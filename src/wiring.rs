//! The wiring: how the role reaches SkyPilot's pods (EKS Pod Identity or IRSA), as requested with `--mode` and as
//! the cluster says. The types only: [`crate::lookup::wiring`] detects it, once per run, for every check that
//! depends on it and for the report's `target.mode`.

use serde::Serialize;

use crate::probe::AssociationSummary;

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
