//! The registry of checks, in the order of the chain the guide sets up. Each check is a small function: it asks
//! [`crate::probe::Facts`] for what it needs and decides in a pure function over those facts.

pub mod aws_identity;
pub mod eks_cluster;
pub mod kube_context;
pub mod kube_service_account;
pub mod sky_config;

use crate::engine::CheckSpec;

/// Every check, in report order. A check's dependencies come before it.
pub static REGISTRY: &[CheckSpec] = &[
    aws_identity::SPEC,
    eks_cluster::SPEC,
    kube_context::SPEC,
    kube_service_account::SPEC,
    sky_config::SPEC,
];
