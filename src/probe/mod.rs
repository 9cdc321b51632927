//! The probe layer: narrow, read-only views of AWS and Kubernetes (get/list/describe only).
//!
//! Only this module talks to `aws_sdk_*` and `kube`. Checks see the traits [`AwsApi`] and [`KubeApi`], the plain
//! types below, and [`Facts`], which memoizes every call so that each API request happens at most once per run.

pub mod aws;
pub mod facts;
pub mod kube;
pub mod kubeconfig;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Serialize;

pub use facts::Facts;

/// How a probe call failed, in terms a check can decide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The doctor's identity may not make this call (IAM AccessDenied, Kubernetes 403).
    AccessDenied,
    /// The resource does not exist.
    NotFound,
    /// The doctor has no credentials at all.
    NoCredentials,
    /// The credentials were rejected (expired, invalid, Kubernetes 401).
    CredentialsRejected,
    /// The API kept throttling after retries.
    Throttled,
    /// The call did not finish in time.
    Timeout,
    /// The endpoint could not be reached.
    Unreachable,
    /// Any other error (server error, malformed response, ...).
    Other,
}

/// A failed probe call: which call (`eks:DescribeCluster`, `get serviceaccounts`), how, and the service's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{op}: {message}")]
pub struct ProbeError {
    /// The IAM action or Kubernetes verb and resource of the call.
    pub op: String,
    /// How it failed.
    pub kind: ErrorKind,
    /// The service's error code, when it gave one.
    pub code: Option<String>,
    /// A short message for people (never a raw response).
    pub message: String,
}

impl ProbeError {
    /// Builds an error.
    pub fn new(
        op: impl Into<String>,
        kind: ErrorKind,
        code: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        ProbeError {
            op: op.into(),
            kind,
            code,
            message: message.into(),
        }
    }

    /// True when the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }
}

/// STS GetCallerIdentity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallerIdentity {
    /// 12-digit account id.
    pub account: String,
    /// ARN of the caller.
    pub arn: String,
}

impl CallerIdentity {
    /// The ARN partition (`aws`, `aws-cn`, `aws-us-gov`), read from the caller's ARN.
    pub fn partition(&self) -> &str {
        self.arn
            .split(':')
            .nth(1)
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
    }
}

/// EKS DescribeCluster, reduced to what the checks use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterInfo {
    /// Cluster name.
    pub name: String,
    /// Cluster ARN.
    pub arn: Option<String>,
    /// CREATING, ACTIVE, DELETING, FAILED, UPDATING, PENDING.
    pub status: String,
    /// API server endpoint URL.
    pub endpoint: Option<String>,
    /// OIDC issuer URL (IRSA).
    pub oidc_issuer: Option<String>,
    /// Kubernetes version.
    pub version: Option<String>,
}

/// A Kubernetes service account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceAccountInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Annotations (the IRSA role annotation lives here).
    pub annotations: BTreeMap<String, String>,
}

/// Read-only AWS calls the doctor makes.
#[async_trait]
pub trait AwsApi: Send + Sync {
    /// `sts:GetCallerIdentity`.
    async fn get_caller_identity(&self) -> Result<CallerIdentity, ProbeError>;
    /// `eks:DescribeCluster`.
    async fn describe_cluster(&self, name: &str) -> Result<ClusterInfo, ProbeError>;
}

/// Read-only Kubernetes calls the doctor makes.
#[async_trait]
pub trait KubeApi: Send + Sync {
    /// `GET /version`: the server's git version.
    async fn server_version(&self) -> Result<String, ProbeError>;
    /// `get namespaces`; Ok when it exists.
    async fn get_namespace(&self, name: &str) -> Result<(), ProbeError>;
    /// `get serviceaccounts`.
    async fn get_service_account(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<ServiceAccountInfo, ProbeError>;
}
