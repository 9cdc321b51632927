//! The registry of checks, in the order of the chain the guide sets up. Each check is a small function: it asks
//! [`crate::probe::Facts`] for what it needs and decides in a pure function over those facts.

pub mod aws_identity;
pub mod eks_cluster;
pub mod iam_role;
pub mod iam_s3_permissions;
pub mod iam_target_role;
pub mod iam_trust_policy;
pub mod irsa_annotation;
pub mod irsa_oidc_provider;
pub mod kube_context;
pub mod kube_service_account;
pub mod mode;
pub mod pod_credentials;
pub mod pod_identity_addon;
pub mod pod_identity_association;
pub mod pod_identity_node_role;
pub mod pod_s3_list;
pub mod s3_bucket;
pub mod s3_bucket_policy;
pub mod s3_encryption;
pub mod sky_config;
pub mod sky_mount_credentials;
pub mod sky_service_account;
pub mod sky_version;

use crate::check::CheckSpec;

/// Every check, in report order. A check's dependencies come before it.
pub static REGISTRY: &[CheckSpec] = &[
    aws_identity::SPEC,
    eks_cluster::SPEC,
    kube_context::SPEC,
    kube_service_account::SPEC,
    mode::SPEC,
    pod_identity_addon::SPEC,
    pod_identity_node_role::SPEC,
    pod_identity_association::SPEC,
    irsa_oidc_provider::SPEC,
    irsa_annotation::SPEC,
    iam_role::SPEC,
    iam_trust_policy::SPEC,
    iam_target_role::SPEC,
    iam_s3_permissions::SPEC,
    s3_bucket::SPEC,
    s3_bucket_policy::SPEC,
    s3_encryption::SPEC,
    sky_version::SPEC,
    sky_config::SPEC,
    sky_service_account::SPEC,
    sky_mount_credentials::SPEC,
    pod_credentials::SPEC,
    pod_s3_list::SPEC,
];

/// The checks that need neither AWS nor the cluster (`--offline`): the SkyPilot config checks.
pub static OFFLINE: &[CheckSpec] = &[
    sky_version::SPEC,
    sky_config::SPEC,
    sky_service_account::SPEC,
    sky_mount_credentials::SPEC,
];
