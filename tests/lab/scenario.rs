//! Scenarios: a whole setup (AWS, cluster, SkyPilot config) described as data, so a test reads like
//! "healthy Pod Identity setup, but the cluster is CREATING".

use std::collections::BTreeMap;

/// The lab's AWS account (moto's default).
pub const ACCOUNT: &str = "123456789012";

/// Where the EKS cluster's endpoint points.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// The lab's fake API server (healthy).
    Lab,
    /// Some other server.
    Other(String),
}

/// The EKS cluster as DescribeCluster reports it.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Status: ACTIVE, CREATING, ...
    pub status: String,
    /// Endpoint.
    pub endpoint: Endpoint,
    /// OIDC issuer id (the part after `/id/`).
    pub oidc_id: String,
    /// Auto Mode (computeConfig.enabled).
    pub auto_mode: bool,
}

/// A Kubernetes service account.
#[derive(Debug, Clone)]
pub struct ServiceAccountSpec {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

/// The AWS client a fake pod has, and what it answers (texts copied from real awscli runs).
#[derive(Debug, Clone)]
pub struct PodAws {
    /// Whether the `aws` CLI is installed (else: no client at all).
    pub cli: bool,
    /// `aws sts get-caller-identity`: the ARN, or (stderr, exit code).
    pub identity: Result<String, (String, i32)>,
    /// `aws s3api list-objects-v2`: ok, or (stderr, exit code).
    pub list: Result<(), (String, i32)>,
    /// `~/.aws/credentials` exists (SkyPilot uploaded local credentials).
    pub credentials_file: bool,
    /// Without the CLI: python3 with the real boto3 (the lab venv's), talking to moto with the pod's env.
    pub boto3: bool,
    /// Without the CLI or boto3: a bare python3 (the venv's with `-S`: no site-packages), which runs the probe's
    /// standard-library client.
    pub bare_python: bool,
    /// The CLI is not on PATH but in SkyPilot's runtime (`~/skypilot-runtime/bin/aws`, where COPY mounts put it).
    pub aws_in_runtime: bool,
    /// With `real`: the CLI is a wrapper that hides its interpreter, as awscli v2's own binary does, so the probe
    /// can only run the CLI itself.
    pub cli_opaque: bool,
    /// An rclone on PATH answering `rclone version` with this first line.
    pub rclone: Option<String>,
    /// The real clients instead of the stand-in: the lab venv's awscli (and boto3) with the pod's injected
    /// credentials pointed at the lab's Pod Identity agent, IMDS and STS (`pod_side.rs`), and moto for S3.
    pub real: Option<RealPod>,
}

/// How the pod's side of the world behaves for the real clients.
#[derive(Debug, Clone, Default)]
pub struct RealPod {
    /// The Pod Identity agent.
    pub agent: AgentMode,
    /// The projected token file (Pod Identity's or IRSA's) is missing.
    pub token_missing: bool,
    /// STS never answers.
    pub sts_hangs: bool,
    /// The region the pod sets, if any (the doctor passes the cluster's otherwise).
    pub region: Option<String>,
    /// S3 answers ListObjectsV2 with this error (HTTP status, code, message) instead of moto's answer.
    pub s3_error: Option<(u16, String, String)>,
    /// STS answers GetCallerIdentity with SignatureDoesNotMatch (a wrong secret, or a request changed on its way).
    pub sts_signature_mismatch: bool,
}

/// The Pod Identity agent's behaviour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AgentMode {
    /// It gives the associated role's credentials.
    #[default]
    Healthy,
    /// Nothing listens on its port.
    Down,
    /// It answers that EKS may not assume the role (the trust policy).
    TrustDenied,
    /// It answers HTTP 500 with `[]`: what it sends when EKS Auth cannot be reached (pkg/errors/errors.go).
    EksAuthUnreachable,
    /// Something else answers at its address: HTTP 200 with an HTML page (a proxy's).
    Garbage,
}

/// awscli's words when it finds no credentials (exit 253).
pub const AWSCLI_NO_CREDENTIALS: &str =
    "\nUnable to locate credentials. You can configure credentials by running \"aws configure\".\n";
/// awscli's words when S3 denies the list (exit 254).
pub const AWSCLI_LIST_DENIED: &str =
    "\nAn error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied\n";
/// awscli's words when STS has no OIDC provider for the token (exit 254).
pub const AWSCLI_NO_OIDC: &str = "\nAn error occurred (InvalidIdentityToken) when calling the AssumeRoleWithWebIdentity operation: No OpenIDConnect provider found in your account for https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE\n";

/// A pod.
#[derive(Debug, Clone)]
pub struct PodSpec {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Service account.
    pub service_account: String,
    /// Container env of `ray-node`.
    pub env: BTreeMap<String, String>,
    /// creationTimestamp (RFC 3339).
    pub created_at: String,
    /// hostNetwork.
    pub host_network: bool,
    /// spec.nodeName.
    pub node_name: Option<String>,
    /// Phase.
    pub phase: String,
    /// Its AWS client.
    pub aws: PodAws,
}

/// An IAM managed policy.
#[derive(Debug, Clone)]
pub struct PolicySpec {
    /// Name.
    pub name: String,
    /// Document (JSON).
    pub document: String,
    /// Attached to the role.
    pub attached: bool,
}

/// The IAM role.
#[derive(Debug, Clone)]
pub struct RoleSpec {
    /// Name.
    pub name: String,
    /// Trust policy (JSON).
    pub trust_policy: String,
    /// Inline policies: name -> document.
    pub inline: BTreeMap<String, String>,
    /// Permissions boundary: the name of one of the scenario's managed policies.
    pub boundary: Option<String>,
}

/// A Pod Identity association.
#[derive(Debug, Clone)]
pub struct AssociationSpec {
    /// Namespace.
    pub namespace: String,
    /// Service account.
    pub service_account: String,
    /// Role ARN.
    pub role_arn: String,
    /// createdAt (epoch seconds).
    pub created_at: f64,
    /// disableSessionTags.
    pub disable_session_tags: bool,
    /// The cluster it belongs to; `None`: every cluster of the scenario (the main one and the extra ones).
    pub cluster: Option<String>,
    /// targetRoleArn: the second hop's role.
    pub target_role_arn: Option<String>,
    /// policy: a session policy (JSON).
    pub policy: Option<String>,
    /// modifiedAt (epoch seconds); `None`: its creation time.
    pub modified_at: Option<f64>,
}

impl AssociationSpec {
    /// An association of the namespace and service account to the role, created long ago.
    pub fn new(namespace: &str, service_account: &str, role_arn: &str) -> AssociationSpec {
        AssociationSpec {
            namespace: namespace.into(),
            service_account: service_account.into(),
            role_arn: role_arn.into(),
            created_at: 1_700_000_000.0,
            disable_session_tags: false,
            cluster: None,
            target_role_arn: None,
            policy: None,
            modified_at: None,
        }
    }

    /// The externalId EKS reports for an association with a target role, in the format of the EKS user guide's
    /// example (`<region>/<account>/<cluster>/<namespace>/<service-account>`); none without a target role.
    pub fn external_id(&self, region: &str, cluster: &str) -> Option<String> {
        self.target_role_arn.as_ref().map(|_| {
            format!(
                "{region}/{}/{cluster}/{}/{}",
                ACCOUNT, self.namespace, self.service_account
            )
        })
    }
}

/// An EKS add-on.
#[derive(Debug, Clone)]
pub struct AddonSpec {
    /// Name.
    pub name: String,
    /// Status.
    pub status: String,
}

/// What goes wrong with a request, injected by the lab.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answer after this many seconds (a hang past the timeout).
    Hang(u64),
    /// HTTP 500.
    ServerError,
    /// Throttling error.
    Throttle,
    /// AccessDenied / 403.
    AccessDenied,
    /// A body that does not parse.
    Malformed,
    /// An error with this HTTP status and AWS error code (or Kubernetes reason).
    Code(u16, String),
}

/// A fault on the requests of one service (and optionally one operation).
#[derive(Debug, Clone)]
pub struct Fault {
    /// `sts`, `iam`, `s3`, `eks` or `kube`.
    pub service: String,
    /// Operation (AWS action, or for kube the resource like `serviceaccounts`); `None` = every request.
    pub op: Option<String>,
    /// What happens.
    pub kind: FaultKind,
}

/// A whole lab setup.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// EKS cluster name.
    pub cluster: String,
    /// Region.
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Namespace SkyPilot uses.
    pub namespace: String,
    /// Service account the role is wired to.
    pub service_account: String,
    /// The EKS cluster; `None` = it does not exist.
    pub eks: Option<ClusterSpec>,
    /// Add-ons.
    pub addons: Vec<AddonSpec>,
    /// Pod Identity associations.
    pub associations: Vec<AssociationSpec>,
    /// The IAM role; `None` = missing.
    pub role: Option<RoleSpec>,
    /// Other roles of the account (a Pod Identity association's target role, the nodes' role), with inline
    /// policies only.
    pub extra_roles: Vec<RoleSpec>,
    /// Managed node groups: (name, node role name).
    pub nodegroups: Vec<(String, String)>,
    /// Managed policies.
    pub policies: Vec<PolicySpec>,
    /// Register the cluster's OIDC provider in IAM (client ids).
    pub oidc_provider: Option<Vec<String>>,
    /// Buckets to create: (name, region).
    pub buckets: Vec<(String, String)>,
    /// The first bucket's policy document, if any (moto stores it; the doctor's evaluator judges it).
    pub bucket_policy: Option<String>,
    /// The account that owns the buckets (`None`: the lab's account). S3 refuses requests whose
    /// `x-amz-expected-bucket-owner` differs; moto ignores that header, so the AWS front applies it.
    pub bucket_owner: Option<String>,
    /// The first bucket's default encryption: (algorithm, KMS key), e.g. ("aws:kms", Some(key id)).
    pub bucket_encryption: Option<(String, Option<String>)>,
    /// Namespaces in the cluster.
    pub namespaces: Vec<String>,
    /// Service accounts.
    pub service_accounts: Vec<ServiceAccountSpec>,
    /// Pods.
    pub pods: Vec<PodSpec>,
    /// The kube context's name.
    pub context_name: String,
    /// The kube context's namespace.
    pub context_namespace: Option<String>,
    /// The kubeconfig's token is the one the fake API server accepts.
    pub kube_token_valid: bool,
    /// `~/.sky/config.yaml`; `None` = absent.
    pub sky_user_config: Option<String>,
    /// `./.sky.yaml`; `None` = absent.
    pub sky_project_config: Option<String>,
    /// Extra files to write under the lab dir: relative path -> contents.
    pub files: BTreeMap<String, String>,
    /// Environment of the doctor beyond the sealing (the guide's exports). A `None` value removes it.
    pub env: BTreeMap<String, Option<String>>,
    /// Injected faults.
    pub faults: Vec<Fault>,
    /// The Pod Identity agent DaemonSet in kube-system: (desired, ready); `None` = absent.
    pub agent_daemonset: Option<(i32, i32)>,
    /// The cluster's nodes: name -> labels.
    pub nodes: BTreeMap<String, BTreeMap<String, String>>,
    /// NetworkPolicies in the pods' namespace, as the API server returns them (networking.k8s.io/v1 JSON).
    pub network_policies: Vec<serde_json::Value>,
    /// IAM SimulatePrincipalPolicy answers: action -> decision. `None`: moto's own answer (it has none: HTTP 500).
    pub simulator: Option<BTreeMap<String, String>>,
    /// The API server URL of both the kubeconfig and DescribeCluster, instead of the fake's (e.g. a closed port).
    pub kube_server: Option<String>,
    /// Added to every AWS and Kubernetes request (the benchmark's network).
    pub latency_ms: u64,
    /// More EKS clusters in the account, for runs over several contexts: each is served like the main one (same
    /// API server, add-ons and associations) under its own name, with an ARN-named kube context.
    pub extra_clusters: Vec<ExtraCluster>,
}

/// Another EKS cluster of the scenario (see [`Scenario::extra_clusters`]).
#[derive(Debug, Clone)]
pub struct ExtraCluster {
    /// Its name.
    pub name: String,
    /// DescribeCluster's status.
    pub status: String,
    /// Its own OIDC issuer id; `None`: the main cluster's.
    pub oidc_id: Option<String>,
    /// Its kube context's namespace.
    pub namespace: Option<String>,
}

impl ExtraCluster {
    /// A cluster served like the main one, under `name` with this DescribeCluster status.
    pub fn new(name: &str, status: &str) -> ExtraCluster {
        ExtraCluster {
            name: name.into(),
            status: status.into(),
            oidc_id: None,
            namespace: None,
        }
    }

    /// Its kube context, as `aws eks update-kubeconfig` names it.
    pub fn context(&self, region: &str) -> String {
        format!("arn:aws:eks:{region}:{ACCOUNT}:cluster/{}", self.name)
    }
}

/// The role of the lab's managed node group.
pub const NODE_ROLE: &str = "LabNodeRole";

/// The node group's role, with the one permission the Pod Identity agent needs (what
/// AmazonEKSWorkerNodeMinimalPolicy grants), inline.
pub fn node_role() -> RoleSpec {
    RoleSpec {
        name: NODE_ROLE.into(),
        trust_policy: serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
        .to_string(),
        inline: [(
            "pod-identity-agent".to_string(),
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": "eks-auth:AssumeRoleForPodIdentity", "Resource": "*"}]})
            .to_string(),
        )]
        .into(),
        boundary: None,
    }
}

/// The lab's one node, an EC2 Linux node of a managed node group.
pub const LAB_NODE: &str = "ip-10-0-1-23.us-west-2.compute.internal";

/// The labels of an EKS EC2 Linux node.
pub fn linux_node_labels() -> BTreeMap<String, String> {
    [
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("eks.amazonaws.com/nodegroup", "lab-nodes"),
        ("kubernetes.io/hostname", LAB_NODE),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// awscli's words when STS refuses the web identity for the role (exit 254): a trust policy that does not match.
pub const AWSCLI_ASSUME_DENIED: &str = "\nAn error occurred (AccessDenied) when calling the AssumeRoleWithWebIdentity operation: Not authorized to perform sts:AssumeRoleWithWebIdentity\n";

/// A running SkyPilot head pod of cluster `lab-test`, created after the wiring, whose client works as the role.
pub fn sky_pod(role_arn: &str, env: &[(&str, &str)]) -> PodSpec {
    let role = role_arn.rsplit('/').next().unwrap_or("");
    PodSpec {
        namespace: "default".into(),
        name: "lab-test-1a2b3c4d-head".into(),
        labels: [
            ("parent", "skypilot"),
            ("skypilot-cluster-name", "lab-test-1a2b3c4d"),
            ("skypilot-cluster", "lab-test-1a2b3c4d"),
            ("ray-node-type", "head"),
            ("skypilot-head-node", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        annotations: [("skypilot-cluster-name".to_string(), "lab-test".to_string())].into(),
        service_account: "skypilot-service-account".into(),
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        created_at: "2026-01-01T00:00:00Z".into(),
        host_network: false,
        node_name: Some(LAB_NODE.into()),
        phase: "Running".into(),
        aws: PodAws {
            cli: true,
            identity: Ok(format!(
                "arn:aws:sts::{ACCOUNT}:assumed-role/{role}/botocore-session-1764300000"
            )),
            list: Ok(()),
            credentials_file: false,
            boto3: false,
            bare_python: false,
            aws_in_runtime: false,
            cli_opaque: false,
            rclone: None,
            real: None,
        },
    }
}

/// The S3 policy of the guide's Step 2/3, for `bucket`.
pub fn guide_s3_policy(bucket: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]
        }]
    })
    .to_string()
}

/// A target role's trust policy as the EKS user guide's example writes it: the cluster's account as principal,
/// pinned to the first role with `ArnEquals aws:PrincipalArn`; with `external_id`, the AssumeRole statement
/// requires it and TagSession gets its own statement (the guide's example for associations without session tags).
pub fn target_role_trust(first_role_arn: &str, external_id: Option<&str>) -> String {
    let principal = serde_json::json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:root")});
    let pin = serde_json::json!({"ArnEquals": {"aws:PrincipalArn": first_role_arn}});
    let statements = match external_id {
        None => serde_json::json!([{"Effect": "Allow", "Principal": principal,
            "Action": ["sts:AssumeRole", "sts:TagSession"], "Condition": pin}]),
        Some(id) => serde_json::json!([
            {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole",
             "Condition": {"StringEquals": {"sts:ExternalId": id}, "ArnEquals": {"aws:PrincipalArn": first_role_arn}}},
            {"Effect": "Allow", "Principal": principal, "Action": "sts:TagSession"}]),
    };
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// A NetworkPolicy selecting SkyPilot's pods (`parent: skypilot`) that restricts their egress to `egress` rules.
pub fn egress_policy(name: &str, egress: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"podSelector": {"matchLabels": {"parent": "skypilot"}}, "policyTypes": ["Egress"], "egress": egress}
    })
}

/// A session policy (an association's `policy`) allowing `actions` on the lab bucket and its objects, under
/// `condition` if given.
pub fn session_policy(actions: &[&str], condition: Option<serde_json::Value>) -> String {
    let mut st = serde_json::json!({"Effect": "Allow", "Action": actions,
        "Resource": ["arn:aws:s3:::lab-bucket", "arn:aws:s3:::lab-bucket/*"]});
    if let Some(c) = condition {
        st["Condition"] = c;
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": [st]}).to_string()
}

/// The Pod Identity trust policy of the guide's Step 3.
pub fn pod_identity_trust() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"]
        }]
    })
    .to_string()
}

/// The IRSA trust policy of the guide's IRSA Step 4.
pub fn irsa_trust(region: &str, oidc_id: &str, namespace: &str, sa: &str) -> String {
    let provider = format!("oidc.eks.{region}.amazonaws.com/id/{oidc_id}");
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{provider}:sub"): format!("system:serviceaccount:{namespace}:{sa}"),
                format!("{provider}:aud"): "sts.amazonaws.com"
            }}
        }]
    })
    .to_string()
}

impl Scenario {
    fn base() -> Scenario {
        let cluster = "lab-cluster".to_string();
        let region = "us-west-2".to_string();
        let bucket = "lab-bucket".to_string();
        let namespace = "default".to_string();
        let sa = "skypilot-service-account".to_string();
        let env = [
            ("EKS_CLUSTER_NAME", Some(cluster.clone())),
            ("AWS_REGION", Some(region.clone())),
            ("S3_BUCKET", Some(bucket.clone())),
            ("K8S_NAMESPACE", Some(namespace.clone())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Scenario {
            eks: Some(ClusterSpec {
                status: "ACTIVE".into(),
                endpoint: Endpoint::Lab,
                oidc_id: "EXAMPLED539D4633E53DE1B71EXAMPLE".into(),
                auto_mode: false,
            }),
            addons: vec![],
            associations: vec![],
            role: None,
            extra_roles: vec![node_role()],
            nodegroups: vec![("lab-nodes".into(), NODE_ROLE.into())],
            policies: vec![PolicySpec {
                name: format!("SkyPilotS3Access-{bucket}"),
                document: guide_s3_policy(&bucket),
                attached: true,
            }],
            oidc_provider: None,
            buckets: vec![(bucket.clone(), region.clone())],
            bucket_policy: None,
            bucket_encryption: None,
            bucket_owner: None,
            namespaces: vec!["default".into(), "kube-system".into()],
            service_accounts: vec![ServiceAccountSpec {
                namespace: namespace.clone(),
                name: sa.clone(),
                annotations: BTreeMap::new(),
            }],
            pods: vec![],
            context_name: "lab".into(),
            context_namespace: None,
            kube_token_valid: true,
            sky_user_config: Some("aws:\n  remote_identity: NO_UPLOAD\n".into()),
            sky_project_config: None,
            files: BTreeMap::new(),
            env,
            faults: vec![],
            agent_daemonset: None,
            nodes: [(LAB_NODE.to_string(), linux_node_labels())].into(),
            network_policies: vec![],
            simulator: None,
            kube_server: None,
            latency_ms: 0,
            extra_clusters: vec![],
            cluster,
            region,
            bucket,
            namespace,
            service_account: sa,
        }
    }

    /// The role ARN of the scenario's role name.
    pub fn role_arn(&self) -> String {
        format!("arn:aws:iam::{ACCOUNT}:role/SkyPilotS3Role-{}", self.bucket)
    }

    /// A healthy Pod Identity setup whose association has a target role (EKS API, 2025-06) in the lab's account, as
    /// the EKS user guide's "Access AWS resources in another account with a target IAM role" sets it up: the guide's
    /// role may assume and tag `SkyPilotS3Target-<bucket>`, which trusts it (the account as principal, `ArnEquals`
    /// on `aws:PrincipalArn`) and alone holds the S3 permissions, so judging the first role instead would fail.
    pub fn pod_identity_with_target_role() -> Scenario {
        let mut s = Scenario::healthy_pod_identity();
        let first = s.role_arn();
        let name = s.target_role_name();
        let target = format!("arn:aws:iam::{ACCOUNT}:role/{name}");
        for p in &mut s.policies {
            p.attached = false;
        }
        s.role.as_mut().unwrap().inline.insert(
            "assume-target".into(),
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": target}]})
            .to_string(),
        );
        s.extra_roles.push(RoleSpec {
            name: name.clone(),
            trust_policy: target_role_trust(&first, None),
            inline: [("s3".to_string(), guide_s3_policy(&s.bucket))].into(),
            boundary: None,
        });
        s.associations[0].target_role_arn = Some(target);
        s.pods[0].aws.identity = Ok(format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/{name}/eks-lab-clust-lab-test-1a2b3c4d-head"
        ));
        s
    }

    /// The target role of [`Scenario::pod_identity_with_target_role`], to edit.
    pub fn target_role_mut(&mut self) -> &mut RoleSpec {
        let name = self.target_role_name();
        self.extra_roles
            .iter_mut()
            .find(|r| r.name == name)
            .expect("the scenario has a target role")
    }

    /// Removes the target role of [`Scenario::pod_identity_with_target_role`] from the account.
    pub fn drop_target_role(&mut self) {
        let name = self.target_role_name();
        self.extra_roles.retain(|r| r.name != name);
    }

    /// The target role's name in [`Scenario::pod_identity_with_target_role`].
    pub fn target_role_name(&self) -> String {
        format!("SkyPilotS3Target-{}", self.bucket)
    }

    /// A healthy setup wired with EKS Pod Identity, as the guide's Option 1 leaves it.
    pub fn healthy_pod_identity() -> Scenario {
        let mut s = Scenario::base();
        s.addons = vec![
            AddonSpec {
                name: "vpc-cni".into(),
                status: "ACTIVE".into(),
            },
            AddonSpec {
                name: "eks-pod-identity-agent".into(),
                status: "ACTIVE".into(),
            },
        ];
        s.agent_daemonset = Some((3, 3));
        s.role = Some(RoleSpec {
            name: format!("SkyPilotS3Role-{}", s.bucket),
            trust_policy: pod_identity_trust(),
            inline: BTreeMap::new(),
            boundary: None,
        });
        let pod = sky_pod(
            &s.role_arn(),
            &[
                (
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "http://169.254.170.23/v1/credentials",
                ),
                (
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                    "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
                ),
                ("SKYPILOT_SECRET_TOKEN", "do-not-leak-pod-env"),
            ],
        );
        s.pods = vec![pod];
        s.associations = vec![AssociationSpec::new(&s.namespace, &s.service_account, &s.role_arn())];
        s
    }

    /// A healthy setup wired with IRSA, as the guide's Option 2 leaves it.
    pub fn healthy_irsa() -> Scenario {
        let mut s = Scenario::base();
        let oidc_id = s.eks.as_ref().unwrap().oidc_id.clone();
        s.oidc_provider = Some(vec!["sts.amazonaws.com".into()]);
        s.role = Some(RoleSpec {
            name: format!("SkyPilotS3Role-{}", s.bucket),
            trust_policy: irsa_trust(&s.region, &oidc_id, &s.namespace, &s.service_account),
            inline: BTreeMap::new(),
            boundary: None,
        });
        let arn = s.role_arn();
        s.pods = vec![sky_pod(
            &arn,
            &[
                ("AWS_ROLE_ARN", arn.as_str()),
                (
                    "AWS_WEB_IDENTITY_TOKEN_FILE",
                    "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
                ),
                ("AWS_STS_REGIONAL_ENDPOINTS", "regional"),
            ],
        )];
        s.service_accounts[0]
            .annotations
            .insert("eks.amazonaws.com/role-arn".into(), arn);
        s
    }

    /// Sets (or with `None` removes) an environment variable of the doctor.
    pub fn env(mut self, key: &str, value: Option<&str>) -> Scenario {
        self.env.insert(key.to_string(), value.map(str::to_string));
        self
    }

    /// Adds a fault.
    pub fn fault(mut self, service: &str, op: Option<&str>, kind: FaultKind) -> Scenario {
        self.faults.push(Fault {
            service: service.into(),
            op: op.map(str::to_string),
            kind,
        });
        self
    }

    /// Applies an edit.
    pub fn with(mut self, f: impl FnOnce(&mut Scenario)) -> Scenario {
        f(&mut self);
        self
    }
}

/// Scenarios by name, for `scripts/lab NAME`: (name, what it shows, scenario).
pub fn named() -> Vec<(&'static str, &'static str, Scenario)> {
    vec![
        (
            "healthy-pod-identity",
            "the guide's Option 1, done right",
            Scenario::healthy_pod_identity(),
        ),
        (
            "healthy-irsa",
            "the guide's Option 2, done right",
            Scenario::healthy_irsa(),
        ),
        (
            "cluster-missing",
            "EKS_CLUSTER_NAME names no cluster in the region",
            Scenario::healthy_pod_identity().with(|s| s.eks = None),
        ),
        (
            "context-other-cluster",
            "the kube context points at another cluster",
            Scenario::healthy_pod_identity().with(|s| {
                s.eks.as_mut().unwrap().endpoint =
                    Endpoint::Other("https://0123456789ABCDEF.gr7.us-west-2.eks.amazonaws.com".into())
            }),
        ),
        (
            "service-account-missing",
            "sky launch has not created the service account yet",
            Scenario::healthy_pod_identity().with(|s| s.service_accounts.clear()),
        ),
        (
            "no-upload-missing",
            "~/.sky/config.yaml does not set aws.remote_identity",
            Scenario::healthy_pod_identity().with(|s| s.sky_user_config = None),
        ),
        (
            "no-upload-list-form",
            "aws.remote_identity uses the list form, which still uploads",
            Scenario::healthy_pod_identity()
                .with(|s| s.sky_user_config = Some("aws:\n  remote_identity:\n    - \"*\": NO_UPLOAD\n".into())),
        ),
        (
            "association-other-namespace",
            "Pod Identity association made for namespace team-a, pods run in default",
            Scenario::healthy_pod_identity().with(|s| s.associations[0].namespace = "team-a".into()),
        ),
        (
            "trust-missing-tag-session",
            "Pod Identity trust policy without sts:TagSession",
            Scenario::healthy_pod_identity().with(|s| {
                s.role.as_mut().unwrap().trust_policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
                .to_string()
            }),
        ),
        (
            "irsa-wrong-namespace",
            "IRSA trust policy's :sub names namespace team-a",
            Scenario::healthy_irsa().with(|s| {
                let id = s.eks.as_ref().unwrap().oidc_id.clone();
                s.role.as_mut().unwrap().trust_policy = irsa_trust(&s.region, &id, "team-a", &s.service_account);
                // As a real pod would: STS refuses the token for this role.
                s.pods[0].aws.identity = Err((AWSCLI_ASSUME_DENIED.into(), 254));
            }),
        ),
        (
            "irsa-no-oidc-provider",
            "IRSA without the cluster's OIDC provider registered in IAM",
            Scenario::healthy_irsa().with(|s| s.oidc_provider = None),
        ),
        ("policy-not-attached", "the S3 policy exists but is not attached to the role", Scenario::healthy_pod_identity().with(|s| s.policies[0].attached = false)),
        (
            "eks-access-denied",
            "the doctor may not call eks:DescribeCluster (inconclusive)",
            Scenario::healthy_pod_identity().fault("eks", Some("DescribeCluster"), FaultKind::AccessDenied),
        ),
    ]
}
