//! The probe layer: narrow, read-only views of AWS and Kubernetes (get/list/describe only).
//!
//! Only this module talks to `aws_sdk_*` and `kube`. Checks see the traits [`AwsApi`] and [`KubeApi`], the plain
//! types below, and [`Facts`], which memoizes every call so that each API request happens at most once per run.

pub mod aws;
pub mod credentials;
pub mod facts;
pub mod kube;
pub mod kubeconfig;
pub mod local_aws;
pub mod ops;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Serialize;

pub use facts::Facts;
pub use ops::Op;

/// One API call the run made, for the evidence trail.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ApiCall {
    /// `sts`, `eks`, `iam`, `s3` or `kube`.
    pub service: String,
    /// AWS operation (`DescribeCluster`) or Kubernetes verb and resource (`get serviceaccounts`).
    pub operation: String,
    /// `ok`, an AWS error code, or the Kubernetes status code.
    pub outcome: String,
    /// AWS request id, when the response carried one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_id: Option<String>,
    /// Wall time.
    pub duration_ms: u64,
}

/// The evidence trail: every API call of the run, shared by the AWS interceptor and the Kubernetes client.
#[derive(Debug, Clone, Default)]
pub struct CallLog(std::sync::Arc<std::sync::Mutex<Vec<ApiCall>>>);

impl CallLog {
    /// Records a finished call.
    pub fn push(&self, call: ApiCall) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(call);
    }
    /// The calls so far.
    pub fn snapshot(&self) -> Vec<ApiCall> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

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
    /// The call: its IAM action or Kubernetes verb and resource.
    pub op: Op,
    /// How it failed.
    pub kind: ErrorKind,
    /// The service's error code, when it gave one.
    pub code: Option<String>,
    /// A short message for people (never a raw response).
    pub message: String,
    /// For a failure to get the doctor's own AWS credentials: the cause, as the local chain found it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<Box<local_aws::CredentialProblem>>,
}

impl ProbeError {
    /// Builds an error.
    pub fn new(op: Op, kind: ErrorKind, code: Option<String>, message: impl Into<String>) -> Self {
        ProbeError {
            op,
            kind,
            code,
            message: message.into(),
            credential: None,
        }
    }

    /// The same error, caused by a local credential problem.
    pub fn with_credential(mut self, problem: local_aws::CredentialProblem) -> Self {
        self.credential = Some(Box::new(problem));
        self
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
        self.arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws")
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
    /// EKS Auto Mode (computeConfig.enabled): the Pod Identity agent is built in.
    pub auto_mode: bool,
    /// EKS Auto Mode's node role (computeConfig.nodeRoleArn).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_mode_node_role: Option<String>,
}

/// EKS DescribeNodegroup, reduced to the node role (the identity the Pod Identity agent calls EKS Auth with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodegroupInfo {
    /// Name.
    pub name: String,
    /// The node IAM role's ARN.
    pub node_role: Option<String>,
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

/// EKS DescribeAddon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddonInfo {
    /// Add-on name.
    pub name: String,
    /// Version.
    pub version: Option<String>,
    /// CREATING, ACTIVE, CREATE_FAILED, UPDATING, DELETING, DELETE_FAILED, DEGRADED, UPDATE_FAILED.
    pub status: String,
    /// Health issues, as `code: message`.
    pub health_issues: Vec<String>,
}

/// An entry of EKS ListPodIdentityAssociations (which carries no role).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssociationSummary {
    /// Namespace.
    pub namespace: String,
    /// Service account.
    pub service_account: String,
    /// Association id.
    pub id: String,
}

/// EKS DescribePodIdentityAssociation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssociationInfo {
    /// Namespace.
    pub namespace: String,
    /// Service account.
    pub service_account: String,
    /// Association id.
    pub id: String,
    /// The role pods get.
    pub role_arn: String,
    /// Creation time, epoch seconds.
    pub created_at: Option<f64>,
    /// `disableSessionTags`: Pod Identity then attaches none of its session tags, so no `aws:RequestTag/...`
    /// trust condition can hold.
    #[serde(default)]
    pub disable_session_tags: bool,
    /// `targetRoleArn` (EKS API, 2025-06): EKS assumes `role_arn` first, then this role, whose credentials the
    /// pods get. It may be in another account (EKS user guide, "Access AWS resources in another account").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_role_arn: Option<String>,
    /// `externalId`: the `sts:ExternalId` EKS sends on the target-role hop when session tags are disabled
    /// (`<region>/<account>/<cluster>/<namespace>/<service-account>` in the user guide's example).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// `policy` (EKS API, 2026-02): a session policy; the pods get the intersection of it and the role's
    /// policies (of the target role's, when there is one). It requires `disableSessionTags`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Last modification time, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<f64>,
}

impl AssociationInfo {
    /// The role whose credentials the pods get: the target role when there is one.
    pub fn pods_role_arn(&self) -> &str {
        self.target_role_arn.as_deref().unwrap_or(&self.role_arn)
    }
}

/// IAM GetRole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleInfo {
    /// Role ARN (with its path).
    pub arn: String,
    /// Trust policy document, as IAM returns it (URL-encoded by real AWS).
    pub trust_policy: String,
    /// ARN of the permissions boundary, if any.
    pub boundary_arn: Option<String>,
}

/// IAM GetPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyInfo {
    /// Policy ARN.
    pub arn: String,
    /// Default version id.
    pub default_version: String,
    /// How many identities it is attached to.
    pub attachment_count: Option<i32>,
}

/// IAM GetOpenIDConnectProvider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OidcProviderInfo {
    /// Provider ARN.
    pub arn: String,
    /// Issuer URL without `https://`.
    pub url: String,
    /// Audiences (client ids).
    pub client_ids: Vec<String>,
}

/// One result of IAM SimulatePrincipalPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimulationResult {
    /// Action.
    pub action: String,
    /// Resource.
    pub resource: String,
    /// allowed, explicitDeny or implicitDeny.
    pub decision: String,
}

/// A Kubernetes DaemonSet's rollout state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonSetInfo {
    /// Pods that should run.
    pub desired: i32,
    /// Pods that are ready.
    pub ready: i32,
}

/// The environment variable names whose values a pod report may carry: the ones AWS injects. Every other value
/// of a pod's environment is never read into the doctor, so it cannot leak into a report.
pub const INJECTED_ENV: &[&str] = &[
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    // A proxy the SDKs would send the agent's request through (values kept without their user and password:
    // see [`env_value`]).
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// A pod environment variable's value as the doctor keeps it: a proxy URL loses its `user:password@`, which may be
/// a secret; other values are kept as they are.
pub fn env_value(name: &str, value: &str) -> String {
    if !name.eq_ignore_ascii_case("HTTP_PROXY") {
        return value.to_string();
    }
    let (scheme, rest) = match value.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), value),
    };
    // Up to the last '@': a password may itself hold '/' or '@' unencoded.
    match rest.rfind('@') {
        Some(at) => format!("{scheme}<credentials>@{}", &rest[at + 1..]),
        None => value.to_string(),
    }
}

/// A pod, reduced to what the checks use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodInfo {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Service account.
    pub service_account: String,
    /// Containers' names.
    pub containers: Vec<String>,
    /// Of the main container (`ray-node`, else the first): only the [`INJECTED_ENV`] variables.
    pub aws_env: BTreeMap<String, String>,
    /// creationTimestamp, epoch seconds.
    pub created_at: Option<f64>,
    /// hostNetwork.
    pub host_network: bool,
    /// The node it runs on (`spec.nodeName`), once scheduled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// Phase (Running, Pending, ...).
    pub phase: String,
}

/// What an exec printed, size-limited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecOutput {
    /// Standard output (lossy UTF-8, truncated at the limit).
    pub stdout: String,
    /// Standard error (lossy UTF-8, truncated at the limit).
    pub stderr: String,
    /// Exit code, when the API server reported one.
    pub exit_code: Option<i32>,
}

/// Read-only AWS calls the doctor makes. The IAM action of each is in its doc comment; `skys3`'s own
/// permissions are exactly these.
#[async_trait]
pub trait AwsApi: Send + Sync {
    /// `sts:GetCallerIdentity`.
    async fn get_caller_identity(&self) -> Result<CallerIdentity, ProbeError>;
    /// `eks:DescribeCluster`.
    async fn describe_cluster(&self, name: &str) -> Result<ClusterInfo, ProbeError>;
    /// `eks:ListNodegroups`: the managed node groups' names.
    async fn list_nodegroups(&self, cluster: &str) -> Result<Vec<String>, ProbeError>;
    /// `eks:DescribeNodegroup`.
    async fn describe_nodegroup(&self, cluster: &str, nodegroup: &str) -> Result<NodegroupInfo, ProbeError>;
    /// `eks:DescribeAddon`.
    async fn describe_addon(&self, cluster: &str, addon: &str) -> Result<AddonInfo, ProbeError>;
    /// `eks:ListPodIdentityAssociations`, optionally filtered.
    async fn list_pod_identity_associations(
        &self,
        cluster: &str,
        namespace: Option<&str>,
        service_account: Option<&str>,
    ) -> Result<Vec<AssociationSummary>, ProbeError>;
    /// `eks:DescribePodIdentityAssociation`.
    async fn describe_pod_identity_association(&self, cluster: &str, id: &str) -> Result<AssociationInfo, ProbeError>;
    /// `iam:GetRole`.
    async fn get_role(&self, name: &str) -> Result<RoleInfo, ProbeError>;
    /// `iam:ListAttachedRolePolicies`: ARNs.
    async fn list_attached_role_policies(&self, role: &str) -> Result<Vec<String>, ProbeError>;
    /// `iam:ListRolePolicies`: inline policy names.
    async fn list_role_policies(&self, role: &str) -> Result<Vec<String>, ProbeError>;
    /// `iam:GetRolePolicy`: the inline document.
    async fn get_role_policy(&self, role: &str, name: &str) -> Result<String, ProbeError>;
    /// `iam:GetPolicy`.
    async fn get_policy(&self, arn: &str) -> Result<PolicyInfo, ProbeError>;
    /// `iam:GetPolicyVersion`: the document.
    async fn get_policy_version(&self, arn: &str, version: &str) -> Result<String, ProbeError>;
    /// `iam:ListOpenIDConnectProviders`: ARNs.
    async fn list_oidc_providers(&self) -> Result<Vec<String>, ProbeError>;
    /// `iam:GetOpenIDConnectProvider`.
    async fn get_oidc_provider(&self, arn: &str) -> Result<OidcProviderInfo, ProbeError>;
    /// `iam:SimulatePrincipalPolicy` (read-only: it evaluates, it changes nothing).
    async fn simulate_principal_policy(
        &self,
        principal_arn: &str,
        actions: &[String],
        resources: &[String],
    ) -> Result<Vec<SimulationResult>, ProbeError>;
    /// `s3:GetBucketLocation`: the bucket's region.
    async fn get_bucket_location(&self, bucket: &str) -> Result<String, ProbeError>;
    /// `s3:GetBucketPolicy`: the bucket policy document, `None` when the bucket has none.
    async fn get_bucket_policy(&self, bucket: &str) -> Result<Option<String>, ProbeError>;
    /// Whether `account` owns the bucket: GetBucketLocation with `x-amz-expected-bucket-owner`, which S3 refuses
    /// with 403 when the owner differs. Only meaningful where the same call without the header succeeds.
    async fn bucket_owned_by(&self, bucket: &str, account: &str) -> Result<bool, ProbeError>;
    /// `s3:GetEncryptionConfiguration`: the bucket's default encryption, `None` when it has none.
    async fn get_bucket_encryption(&self, bucket: &str) -> Result<Option<BucketEncryption>, ProbeError>;
}

/// A bucket's default encryption (its first rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketEncryption {
    /// `AES256` (SSE-S3), `aws:kms`, `aws:kms:dsse`.
    pub algorithm: String,
    /// The KMS key (id, ARN, alias or alias ARN) for `aws:kms`; `None`: the AWS managed key `aws/s3`.
    pub kms_key: Option<String>,
}

/// A node, reduced to its name and labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    /// Name.
    pub name: String,
    /// Labels (`eks.amazonaws.com/compute-type`, `kubernetes.io/os`, ...).
    pub labels: BTreeMap<String, String>,
}

/// A NetworkPolicy (`networking.k8s.io/v1`), reduced to what decides whether the pods it selects may send to an
/// address: its pod selector and its egress rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkPolicyInfo {
    /// Name.
    pub name: String,
    /// `spec.podSelector.matchLabels` (empty with no expressions: every pod of the namespace).
    pub match_labels: BTreeMap<String, String>,
    /// `spec.podSelector.matchExpressions`: (key, operator, values).
    pub match_expressions: Vec<(String, String, Vec<String>)>,
    /// Whether it restricts egress: `policyTypes` names Egress, or (without `policyTypes`) it has egress rules
    /// (Kubernetes API reference, NetworkPolicySpec.policyTypes).
    pub restricts_egress: bool,
    /// Its egress rules; traffic a rule allows is allowed.
    pub egress: Vec<EgressRule>,
}

/// One egress rule of a NetworkPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EgressRule {
    /// `to` is empty or absent: every destination.
    pub to_all: bool,
    /// Its `ipBlock` peers: (cidr, except).
    pub ip_blocks: Vec<(String, Vec<String>)>,
    /// Its ports: (protocol, port, endPort); empty: every port. A named port stays a name.
    pub ports: Vec<(String, Option<String>, Option<i32>)>,
}

/// Read-only Kubernetes calls the doctor makes.
#[async_trait]
pub trait KubeApi: Send + Sync {
    /// `GET /version`: the server's git version.
    async fn server_version(&self) -> Result<String, ProbeError>;
    /// `get namespaces`; Ok when it exists.
    async fn get_namespace(&self, name: &str) -> Result<(), ProbeError>;
    /// `get serviceaccounts`.
    async fn get_service_account(&self, namespace: &str, name: &str) -> Result<ServiceAccountInfo, ProbeError>;
    /// `get daemonsets` (apps/v1).
    async fn get_daemonset(&self, namespace: &str, name: &str) -> Result<DaemonSetInfo, ProbeError>;
    /// `list networkpolicies` (networking.k8s.io/v1) in a namespace.
    async fn list_network_policies(&self, namespace: &str) -> Result<Vec<NetworkPolicyInfo>, ProbeError>;
    /// `get nodes` (cluster-scoped).
    async fn get_node(&self, name: &str) -> Result<NodeInfo, ProbeError>;
    /// `list pods` with a label selector.
    async fn list_pods(&self, namespace: &str, selector: &str) -> Result<Vec<PodInfo>, ProbeError>;
    /// `create pods/exec`: runs `command` in the pod with `stdin` on its standard input (none when empty),
    /// reading at most `limit` bytes of each stream.
    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        command: &[String],
        stdin: &[u8],
        limit: usize,
    ) -> Result<ExecOutput, ProbeError>;
}

#[cfg(test)]
mod env_tests {
    #[test]
    fn proxy_credentials_are_dropped() {
        let v = |n, x| super::env_value(n, x);
        assert_eq!(
            v("HTTP_PROXY", "http://alice:s3cret@proxy:3128"),
            "http://<credentials>@proxy:3128"
        );
        assert_eq!(v("http_proxy", "alice:s3cret@proxy:3128/"), "<credentials>@proxy:3128/");
        assert_eq!(
            v("HTTP_PROXY", "http://u:pa/ss@proxy:3128"),
            "http://<credentials>@proxy:3128"
        );
        assert_eq!(v("HTTP_PROXY", "http://proxy:3128/"), "http://proxy:3128/");
        assert_eq!(v("NO_PROXY", "169.254.170.23"), "169.254.170.23");
    }
}
