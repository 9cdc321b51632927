//! Memoized facts: every probe call happens at most once per run, however many checks ask for it.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::local_aws::{CredentialChoice, CredentialProblem, LocalCredentials, LocalEnv};

use super::{
    AddonInfo, AssociationInfo, AssociationSummary, AwsApi, CallerIdentity, ClusterInfo, DaemonSetInfo, ErrorKind,
    ExecOutput, KubeApi, NetworkPolicyInfo, NodeInfo, NodegroupInfo, OidcProviderInfo, Op, PodInfo, PolicyInfo,
    ProbeError, RoleInfo, ServiceAccountInfo, SimulationResult,
};

type Cell<V> = Arc<OnceCell<Result<V, ProbeError>>>;

/// A per-key once-cell map: concurrent askers of the same key share one call.
pub struct Memo<K, V> {
    cells: Mutex<HashMap<K, Cell<V>>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Default for Memo<K, V> {
    fn default() -> Self {
        Memo {
            cells: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Memo<K, V> {
    /// The value for `key`, calling `f` only if no one has yet.
    pub async fn get<F, Fut>(&self, key: K, f: F) -> Result<V, ProbeError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, ProbeError>>,
    {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
            cells.entry(key).or_default().clone()
        };
        cell.get_or_init(f).await.clone()
    }
}

/// The facts that are the same for every cluster of one run (one identity, so one account): the caller identity
/// and IAM. Targets checked together share them (`Facts::with_account`), so a role and its policies are fetched
/// once however many clusters use them.
#[derive(Default)]
pub struct AccountFacts {
    identity: Memo<(), CallerIdentity>,
    roles: Memo<String, RoleInfo>,
    attached: Memo<String, Vec<String>>,
    inline_names: Memo<String, Vec<String>>,
    inline_docs: Memo<(String, String), String>,
    policies: Memo<String, PolicyInfo>,
    policy_versions: Memo<(String, String), String>,
    oidc_list: Memo<(), Vec<String>>,
    oidc: Memo<String, OidcProviderInfo>,
    simulations: Memo<(String, Vec<String>, Vec<String>), Vec<SimulationResult>>,
}

/// The facts about the bucket as one region's S3 client sees it (location, policy, encryption, owner): the same
/// for every target in that region, so targets checked together in one region share them.
#[derive(Default)]
pub struct BucketFacts {
    locations: Memo<String, String>,
    policies: Memo<String, Option<String>>,
    encryptions: Memo<String, Option<super::BucketEncryption>>,
    owners: Memo<(String, String), bool>,
}

/// An exec, as the memo knows it: namespace, pod, container, command, stdin.
type ExecKey = (String, String, Option<String>, Vec<String>, Vec<u8>);

/// The probe layer as the checks see it.
pub struct Facts {
    aws: Option<Arc<dyn AwsApi>>,
    kube: Option<Arc<dyn KubeApi>>,
    local: LocalEnv,
    local_credentials: OnceCell<LocalCredentials>,
    credential_source: OnceCell<Result<CredentialChoice, CredentialProblem>>,
    account: Arc<AccountFacts>,
    clusters: Memo<String, ClusterInfo>,
    version: Memo<(), String>,
    namespaces: Memo<String, ()>,
    service_accounts: Memo<(String, String), ServiceAccountInfo>,
    daemonsets: Memo<(String, String), DaemonSetInfo>,
    nodes: Memo<String, NodeInfo>,
    network_policies: Memo<String, Vec<NetworkPolicyInfo>>,
    addons: Memo<(String, String), AddonInfo>,
    nodegroup_lists: Memo<String, Vec<String>>,
    nodegroups: Memo<(String, String), NodegroupInfo>,
    associations: Memo<(String, Option<String>, Option<String>), Vec<AssociationSummary>>,
    association: Memo<(String, String), AssociationInfo>,
    buckets: Arc<BucketFacts>,
    pods: Memo<(String, String), Vec<PodInfo>>,
    execs: Memo<ExecKey, ExecOutput>,
}

/// Declares a memoized accessor over one probe call.
macro_rules! memo_call {
    ($(#[$doc:meta])* $name:ident, $side:ident, $op:expr, $($memo:ident).+, ($($arg:ident: $ty:ty),*) -> $out:ty, $key:expr, $call:ident) => {
        $(#[$doc])*
        pub async fn $name(&self, $($arg: $ty),*) -> Result<$out, ProbeError> {
            let api = self.$side($op)?;
            self.$($memo).+.get($key, || api.$call($($arg),*)).await
        }
    };
}

impl Facts {
    /// Facts over the given APIs; `None` where that side is not available (no kube context, offline).
    pub fn new(aws: Option<Arc<dyn AwsApi>>, kube: Option<Arc<dyn KubeApi>>) -> Facts {
        Facts {
            aws,
            kube,
            local: LocalEnv::real(),
            local_credentials: OnceCell::new(),
            credential_source: OnceCell::new(),
            account: Arc::default(),
            clusters: Memo::default(),
            version: Memo::default(),
            namespaces: Memo::default(),
            service_accounts: Memo::default(),
            daemonsets: Memo::default(),
            nodes: Memo::default(),
            network_policies: Memo::default(),
            addons: Memo::default(),
            nodegroup_lists: Memo::default(),
            nodegroups: Memo::default(),
            associations: Memo::default(),
            association: Memo::default(),
            buckets: Arc::default(),
            pods: Memo::default(),
            execs: Memo::default(),
        }
    }

    /// The same facts, sharing the account-wide ones (identity, IAM) with other targets of the run. Only for
    /// targets whose AWS clients use the same credentials.
    pub fn with_account(mut self, account: Arc<AccountFacts>) -> Facts {
        self.account = account;
        self
    }

    /// The same facts, sharing the bucket facts with other targets whose AWS clients use the same credentials
    /// and the same region.
    pub fn with_buckets(mut self, buckets: Arc<BucketFacts>) -> Facts {
        self.buckets = buckets;
        self
    }

    /// The account-wide facts, to share with another target.
    pub fn account(&self) -> Arc<AccountFacts> {
        self.account.clone()
    }

    /// The same facts, with the local machine read from `local` instead of this process's environment and files.
    pub fn with_local(mut self, local: LocalEnv) -> Facts {
        self.local = local;
        self
    }

    /// The local machine as the checks read it (its environment and files).
    pub fn local(&self) -> &LocalEnv {
        &self.local
    }

    /// The same facts, with the local credential source already resolved (the run resolves it once, for these
    /// facts and for the AWS clients' credentials alike).
    pub fn with_credential_source(self, source: Result<CredentialChoice, CredentialProblem>) -> Facts {
        let _ = self.credential_source.set(source);
        self
    }

    /// Where botocore takes the local AWS credentials from, or what it would refuse before any call (a missing
    /// profile, partial keys, a broken SSO cache, a bad role chain).
    pub async fn credential_source(&self) -> Result<CredentialChoice, CredentialProblem> {
        self.credential_source
            .get_or_init(|| super::local_aws::resolve(&self.local))
            .await
            .clone()
    }

    /// The local AWS identity's kind, as `aws configure list [--profile PROFILE]` would report it (read once per
    /// run: the run has one workspace profile).
    pub async fn local_credentials(&self, profile: Option<&str>) -> LocalCredentials {
        self.local_credentials
            .get_or_init(|| super::local_aws::local_credentials(&self.local, profile))
            .await
            .clone()
    }

    fn aws(&self, op: Op) -> Result<&Arc<dyn AwsApi>, ProbeError> {
        self.aws.as_ref().ok_or_else(|| {
            ProbeError::new(
                op,
                ErrorKind::Unreachable,
                None,
                "AWS access is not configured for this run",
            )
        })
    }

    fn kube(&self, op: Op) -> Result<&Arc<dyn KubeApi>, ProbeError> {
        self.kube
            .as_ref()
            .ok_or_else(|| ProbeError::new(op, ErrorKind::Unreachable, None, "no kube context is configured"))
    }

    /// STS caller identity.
    pub async fn caller_identity(&self) -> Result<CallerIdentity, ProbeError> {
        let aws = self.aws(Op::GetCallerIdentity)?;
        self.account.identity.get((), || aws.get_caller_identity()).await
    }

    /// EKS DescribeCluster.
    pub async fn cluster(&self, name: &str) -> Result<ClusterInfo, ProbeError> {
        let aws = self.aws(Op::DescribeCluster)?;
        self.clusters.get(name.to_string(), || aws.describe_cluster(name)).await
    }

    /// Kubernetes server version.
    pub async fn server_version(&self) -> Result<String, ProbeError> {
        let kube = self.kube(Op::KubeVersion)?;
        self.version.get((), || kube.server_version()).await
    }

    /// Namespace existence.
    pub async fn namespace(&self, name: &str) -> Result<(), ProbeError> {
        let kube = self.kube(Op::GetNamespace)?;
        self.namespaces.get(name.to_string(), || kube.get_namespace(name)).await
    }

    /// A service account.
    pub async fn service_account(&self, namespace: &str, name: &str) -> Result<ServiceAccountInfo, ProbeError> {
        let kube = self.kube(Op::GetServiceAccount)?;
        self.service_accounts
            .get((namespace.to_string(), name.to_string()), || {
                kube.get_service_account(namespace, name)
            })
            .await
    }

    /// The caller identity, if it was already fetched (never makes a call).
    pub fn caller_identity_if_known(&self) -> Option<CallerIdentity> {
        let cells = self.account.identity.cells.lock().unwrap_or_else(|p| p.into_inner());
        cells
            .get(&())
            .and_then(|c| c.get())
            .and_then(|r| r.as_ref().ok())
            .cloned()
    }

    memo_call!(/// The NetworkPolicies of a namespace.
        network_policies, kube, Op::ListNetworkPolicies, network_policies, (namespace: &str) -> Vec<NetworkPolicyInfo>,
        namespace.to_string(), list_network_policies);
    memo_call!(/// A node's labels.
        node, kube, Op::GetNode, nodes, (name: &str) -> NodeInfo, name.to_string(), get_node);
    memo_call!(/// A DaemonSet's rollout state.
        daemonset, kube, Op::GetDaemonSet, daemonsets, (namespace: &str, name: &str) -> DaemonSetInfo,
        (namespace.to_string(), name.to_string()), get_daemonset);
    memo_call!(/// EKS ListNodegroups.
        nodegroup_names, aws, Op::ListNodegroups, nodegroup_lists, (cluster: &str) -> Vec<String>,
        cluster.to_string(), list_nodegroups);
    memo_call!(/// EKS DescribeNodegroup.
        nodegroup, aws, Op::DescribeNodegroup, nodegroups, (cluster: &str, name: &str) -> NodegroupInfo,
        (cluster.to_string(), name.to_string()), describe_nodegroup);
    memo_call!(/// EKS DescribeAddon.
        addon, aws, Op::DescribeAddon, addons, (cluster: &str, addon: &str) -> AddonInfo,
        (cluster.to_string(), addon.to_string()), describe_addon);
    memo_call!(/// EKS ListPodIdentityAssociations.
        associations, aws, Op::ListPodIdentityAssociations, associations,
        (cluster: &str, namespace: Option<&str>, service_account: Option<&str>) -> Vec<AssociationSummary>,
        (cluster.to_string(), namespace.map(str::to_string), service_account.map(str::to_string)),
        list_pod_identity_associations);
    memo_call!(/// EKS DescribePodIdentityAssociation.
        association, aws, Op::DescribePodIdentityAssociation, association, (cluster: &str, id: &str) -> AssociationInfo,
        (cluster.to_string(), id.to_string()), describe_pod_identity_association);
    memo_call!(/// IAM GetRole.
        role, aws, Op::GetRole, account.roles, (name: &str) -> RoleInfo, name.to_string(), get_role);
    memo_call!(/// IAM ListAttachedRolePolicies.
        attached_policies, aws, Op::ListAttachedRolePolicies, account.attached, (role: &str) -> Vec<String>,
        role.to_string(), list_attached_role_policies);
    memo_call!(/// IAM ListRolePolicies.
        inline_policy_names, aws, Op::ListRolePolicies, account.inline_names, (role: &str) -> Vec<String>,
        role.to_string(), list_role_policies);
    memo_call!(/// IAM GetRolePolicy.
        inline_policy, aws, Op::GetRolePolicy, account.inline_docs, (role: &str, name: &str) -> String,
        (role.to_string(), name.to_string()), get_role_policy);
    memo_call!(/// IAM GetPolicy.
        policy, aws, Op::GetPolicy, account.policies, (arn: &str) -> PolicyInfo, arn.to_string(), get_policy);
    memo_call!(/// IAM GetPolicyVersion.
        policy_version, aws, Op::GetPolicyVersion, account.policy_versions, (arn: &str, version: &str) -> String,
        (arn.to_string(), version.to_string()), get_policy_version);
    memo_call!(/// IAM ListOpenIDConnectProviders.
        oidc_providers, aws, Op::ListOpenIdConnectProviders, account.oidc_list, () -> Vec<String>, (), list_oidc_providers);
    memo_call!(/// IAM GetOpenIDConnectProvider.
        oidc_provider, aws, Op::GetOpenIdConnectProvider, account.oidc, (arn: &str) -> OidcProviderInfo,
        arn.to_string(), get_oidc_provider);
    memo_call!(/// IAM SimulatePrincipalPolicy.
        simulate, aws, Op::SimulatePrincipalPolicy, account.simulations,
        (principal: &str, actions: &[String], resources: &[String]) -> Vec<SimulationResult>,
        (principal.to_string(), actions.to_vec(), resources.to_vec()), simulate_principal_policy);
    memo_call!(/// S3 GetBucketLocation.
        bucket_location, aws, Op::GetBucketLocation, buckets.locations, (bucket: &str) -> String,
        bucket.to_string(), get_bucket_location);
    memo_call!(/// S3 GetBucketPolicy (`None`: no policy).
        bucket_policy, aws, Op::GetBucketPolicy, buckets.policies, (bucket: &str) -> Option<String>,
        bucket.to_string(), get_bucket_policy);
    memo_call!(/// Whether `account` owns the bucket (GetBucketLocation with the expected owner).
        bucket_owned_by, aws, Op::GetBucketLocation, buckets.owners, (bucket: &str, account: &str) -> bool,
        (bucket.to_string(), account.to_string()), bucket_owned_by);
    memo_call!(/// S3 GetBucketEncryption (`None`: no default encryption).
        bucket_encryption, aws, Op::GetBucketEncryption, buckets.encryptions, (bucket: &str) -> Option<super::BucketEncryption>,
        bucket.to_string(), get_bucket_encryption);
    memo_call!(/// Pods by label selector.
        pods, kube, Op::ListPods, pods, (namespace: &str, selector: &str) -> Vec<PodInfo>,
        (namespace.to_string(), selector.to_string()), list_pods);

    /// Runs a command in a pod (once per run for the same command).
    pub async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        command: &[String],
        stdin: &[u8],
        limit: usize,
    ) -> Result<ExecOutput, ProbeError> {
        let api = self.kube(Op::Exec)?;
        let key = (
            namespace.to_string(),
            pod.to_string(),
            container.map(str::to_string),
            command.to_vec(),
            stdin.to_vec(),
        );
        self.execs
            .get(key, || api.exec(namespace, pod, container, command, stdin, limit))
            .await
    }
}
