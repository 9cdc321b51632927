//! In-memory fakes of the probe layer, built from a [`Scenario`], beside the real clients (as mountpoint-s3 keeps
//! a mock and a failure-injecting client beside its real one). They answer what moto and the fake servers answer,
//! already reduced to the probe layer's types, so a check's decisions can be tested in milliseconds, with no
//! server and no binary. The lab (`Lab`) stays the proof of the wire protocol, the read-only audit and end-to-end
//! runs; these prove each check's decisions, every code at least once (`tests/it/decisions.rs`).
//!
//! [`Faulty`] wraps either fake and injects failures by operation and by call count, and records every call so a
//! test can assert the memo's promise: each request at most once per run.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_types::os_shim_internal::{Env, Fs};
use serde_json::Value;
use skys3::check::Ctx;
use skys3::doctor::{self, Options};
use skys3::probe::kubeconfig::LoadedKubeconfig;
use skys3::probe::local_aws::LocalEnv;
use skys3::probe::{
    AddonInfo, AssociationInfo, AssociationSummary, AwsApi, CallerIdentity, ClusterInfo, DaemonSetInfo, ErrorKind,
    ExecOutput, Facts, INJECTED_ENV, KubeApi, NetworkPolicyInfo, NodeInfo, NodegroupInfo, OidcProviderInfo, Op,
    PodInfo, PolicyInfo, ProbeError, RoleInfo, ServiceAccountInfo, SimulationResult,
};
use skys3::report::Report;
use skys3::sky::ConfigPaths;
use skys3::target::{Given, Input, Inputs, Local, Request};

use super::scenario::{ACCOUNT, Endpoint, FaultKind, PodSpec, Scenario};

/// The API server URL of the in-memory cluster (never contacted: nothing listens there).
pub const MEMORY_SERVER: &str = "https://memory.kube.invalid";

fn err(op: Op, kind: ErrorKind, code: &str, message: impl Into<String>) -> ProbeError {
    ProbeError::new(op, kind, Some(code.to_string()), message)
}

fn not_found(op: Op, code: &str, message: impl Into<String>) -> ProbeError {
    err(op, ErrorKind::NotFound, code, message)
}

/// AWS as the scenario describes it: STS, EKS, IAM and S3 answers, as the real client reduces them.
pub struct MemoryAws {
    s: Scenario,
}

impl MemoryAws {
    /// The fake for `s`.
    pub fn new(s: Scenario) -> MemoryAws {
        MemoryAws { s }
    }

    fn cluster(&self, op: Op, name: &str) -> Result<&super::scenario::ClusterSpec, ProbeError> {
        self.s.eks.as_ref().filter(|_| name == self.s.cluster).ok_or_else(|| {
            not_found(
                op,
                "ResourceNotFoundException",
                format!("No cluster found for name: {name}."),
            )
        })
    }

    fn association_id(i: usize) -> String {
        format!("a-{i:017}")
    }

    fn policy_arn(name: &str) -> String {
        format!("arn:aws:iam::{ACCOUNT}:policy/{name}")
    }

    fn provider(&self) -> Option<String> {
        let id = &self.s.eks.as_ref()?.oidc_id;
        Some(format!("oidc.eks.{}.amazonaws.com/id/{id}", self.s.region))
    }

    fn role(&self, op: Op, name: &str) -> Result<&super::scenario::RoleSpec, ProbeError> {
        self.s
            .role
            .iter()
            .chain(&self.s.extra_roles)
            .find(|r| r.name == name)
            .ok_or_else(|| {
                not_found(
                    op,
                    "NoSuchEntity",
                    format!("The role with name {name} cannot be found."),
                )
            })
    }
}

#[async_trait]
impl AwsApi for MemoryAws {
    async fn get_caller_identity(&self) -> Result<CallerIdentity, ProbeError> {
        Ok(CallerIdentity {
            account: ACCOUNT.into(),
            arn: format!("arn:aws:sts::{ACCOUNT}:user/moto"),
        })
    }

    async fn describe_cluster(&self, name: &str) -> Result<ClusterInfo, ProbeError> {
        let c = self.cluster(Op::DescribeCluster, name)?;
        Ok(ClusterInfo {
            name: name.into(),
            arn: Some(format!("arn:aws:eks:{}:{ACCOUNT}:cluster/{name}", self.s.region)),
            status: c.status.clone(),
            endpoint: Some(match &c.endpoint {
                Endpoint::Lab => self.s.kube_server.clone().unwrap_or_else(|| MEMORY_SERVER.into()),
                Endpoint::Other(u) => u.clone(),
            }),
            oidc_issuer: (!c.oidc_id.is_empty())
                .then(|| format!("https://oidc.eks.{}.amazonaws.com/id/{}", self.s.region, c.oidc_id)),
            version: Some("1.31".into()),
            auto_mode: c.auto_mode,
            auto_mode_node_role: c
                .auto_mode
                .then(|| format!("arn:aws:iam::{ACCOUNT}:role/{}", super::NODE_ROLE)),
        })
    }

    async fn list_nodegroups(&self, cluster: &str) -> Result<Vec<String>, ProbeError> {
        self.cluster(Op::ListNodegroups, cluster)?;
        Ok(self.s.nodegroups.iter().map(|(n, _)| n.clone()).collect())
    }

    async fn describe_nodegroup(&self, cluster: &str, nodegroup: &str) -> Result<NodegroupInfo, ProbeError> {
        self.cluster(Op::DescribeNodegroup, cluster)?;
        let (name, role) = self.s.nodegroups.iter().find(|(n, _)| n == nodegroup).ok_or_else(|| {
            not_found(
                Op::DescribeNodegroup,
                "ResourceNotFoundException",
                format!("No node group found for name: {nodegroup}."),
            )
        })?;
        Ok(NodegroupInfo {
            name: name.clone(),
            node_role: Some(format!("arn:aws:iam::{ACCOUNT}:role/{role}")),
        })
    }

    async fn describe_addon(&self, cluster: &str, addon: &str) -> Result<AddonInfo, ProbeError> {
        self.cluster(Op::DescribeAddon, cluster)?;
        let a = self.s.addons.iter().find(|a| a.name == addon).ok_or_else(|| {
            not_found(
                Op::DescribeAddon,
                "ResourceNotFoundException",
                format!("No addon: {addon} found in cluster: {cluster}"),
            )
        })?;
        Ok(AddonInfo {
            name: a.name.clone(),
            version: Some("v1.3.4-eksbuild.1".into()),
            status: a.status.clone(),
            health_issues: vec![],
        })
    }

    async fn list_pod_identity_associations(
        &self,
        cluster: &str,
        namespace: Option<&str>,
        service_account: Option<&str>,
    ) -> Result<Vec<AssociationSummary>, ProbeError> {
        self.cluster(Op::ListPodIdentityAssociations, cluster)?;
        Ok(self
            .s
            .associations
            .iter()
            .enumerate()
            .filter(|(_, a)| namespace.is_none_or(|n| n == a.namespace))
            .filter(|(_, a)| service_account.is_none_or(|n| n == a.service_account))
            .map(|(i, a)| AssociationSummary {
                namespace: a.namespace.clone(),
                service_account: a.service_account.clone(),
                id: Self::association_id(i),
            })
            .collect())
    }

    async fn describe_pod_identity_association(&self, cluster: &str, id: &str) -> Result<AssociationInfo, ProbeError> {
        self.cluster(Op::DescribePodIdentityAssociation, cluster)?;
        let (_, a) = self
            .s
            .associations
            .iter()
            .enumerate()
            .find(|(i, _)| Self::association_id(*i) == id)
            .ok_or_else(|| {
                not_found(
                    Op::DescribePodIdentityAssociation,
                    "ResourceNotFoundException",
                    format!("Association {id} not found"),
                )
            })?;
        Ok(AssociationInfo {
            namespace: a.namespace.clone(),
            service_account: a.service_account.clone(),
            id: id.into(),
            role_arn: a.role_arn.clone(),
            created_at: Some(a.created_at),
            disable_session_tags: a.disable_session_tags,
            target_role_arn: a.target_role_arn.clone(),
            external_id: a.external_id(&self.s.region, cluster),
            policy: a.policy.clone(),
            modified_at: Some(a.modified_at.unwrap_or(a.created_at)),
        })
    }

    async fn get_role(&self, name: &str) -> Result<RoleInfo, ProbeError> {
        let r = self.role(Op::GetRole, name)?;
        Ok(RoleInfo {
            arn: format!("arn:aws:iam::{ACCOUNT}:role/{name}"),
            // As real IAM returns it: URL-encoded.
            trust_policy: percent_encoding::utf8_percent_encode(&r.trust_policy, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            boundary_arn: r.boundary.as_deref().map(Self::policy_arn),
        })
    }

    async fn list_attached_role_policies(&self, role: &str) -> Result<Vec<String>, ProbeError> {
        self.role(Op::ListAttachedRolePolicies, role)?;
        // The scenario's policies are attached to its main role only.
        let main = self.s.role.as_ref().is_some_and(|r| r.name == role);
        Ok(self
            .s
            .policies
            .iter()
            .filter(|p| p.attached && main)
            .map(|p| Self::policy_arn(&p.name))
            .collect())
    }

    async fn list_role_policies(&self, role: &str) -> Result<Vec<String>, ProbeError> {
        Ok(self.role(Op::ListRolePolicies, role)?.inline.keys().cloned().collect())
    }

    async fn get_role_policy(&self, role: &str, name: &str) -> Result<String, ProbeError> {
        self.role(Op::GetRolePolicy, role)?
            .inline
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(Op::GetRolePolicy, "NoSuchEntity", format!("no inline policy {name}")))
    }

    async fn get_policy(&self, arn: &str) -> Result<PolicyInfo, ProbeError> {
        let p = self
            .s
            .policies
            .iter()
            .find(|p| Self::policy_arn(&p.name) == arn)
            .ok_or_else(|| not_found(Op::GetPolicy, "NoSuchEntity", format!("Policy {arn} was not found.")))?;
        Ok(PolicyInfo {
            arn: arn.into(),
            default_version: "v1".into(),
            attachment_count: Some(i32::from(p.attached)),
        })
    }

    async fn get_policy_version(&self, arn: &str, version: &str) -> Result<String, ProbeError> {
        self.s
            .policies
            .iter()
            .find(|p| Self::policy_arn(&p.name) == arn && version == "v1")
            .map(|p| p.document.clone())
            .ok_or_else(|| {
                not_found(
                    Op::GetPolicyVersion,
                    "NoSuchEntity",
                    format!("{arn} {version} not found"),
                )
            })
    }

    async fn list_oidc_providers(&self) -> Result<Vec<String>, ProbeError> {
        Ok(match (&self.s.oidc_provider, self.provider()) {
            (Some(_), Some(p)) => vec![format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{p}")],
            _ => vec![],
        })
    }

    async fn get_oidc_provider(&self, arn: &str) -> Result<OidcProviderInfo, ProbeError> {
        match (&self.s.oidc_provider, self.provider()) {
            (Some(ids), Some(p)) if arn == format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{p}") => {
                Ok(OidcProviderInfo {
                    arn: arn.into(),
                    url: p,
                    client_ids: ids.clone(),
                })
            }
            _ => Err(not_found(
                Op::GetOpenIdConnectProvider,
                "NoSuchEntity",
                format!("OpenIDConnect Provider not found for arn {arn}"),
            )),
        }
    }

    async fn simulate_principal_policy(
        &self,
        _principal_arn: &str,
        actions: &[String],
        resources: &[String],
    ) -> Result<Vec<SimulationResult>, ProbeError> {
        // moto has no simulator: the real client gets an HTTP 500 it cannot parse.
        let answers = self.s.simulator.as_ref().ok_or_else(|| {
            ProbeError::new(
                Op::SimulatePrincipalPolicy,
                ErrorKind::Other,
                None,
                "the simulator is not available",
            )
        })?;
        Ok(actions
            .iter()
            .flat_map(|a| {
                resources.iter().map(move |r| SimulationResult {
                    action: a.clone(),
                    resource: r.clone(),
                    decision: answers.get(a).cloned().unwrap_or_else(|| "implicitDeny".into()),
                })
            })
            .collect())
    }

    async fn get_bucket_location(&self, bucket: &str) -> Result<String, ProbeError> {
        self.s
            .buckets
            .iter()
            .find(|(b, _)| b == bucket)
            .map(|(_, region)| region.clone())
            .ok_or_else(|| {
                not_found(
                    Op::GetBucketLocation,
                    "NoSuchBucket",
                    "The specified bucket does not exist",
                )
            })
    }

    async fn get_bucket_policy(&self, bucket: &str) -> Result<Option<String>, ProbeError> {
        self.get_bucket_location(bucket).await.map_err(|mut e| {
            e.op = Op::GetBucketPolicy;
            e
        })?;
        Ok(self.s.bucket_policy.clone())
    }

    async fn bucket_owned_by(&self, bucket: &str, account: &str) -> Result<bool, ProbeError> {
        self.get_bucket_location(bucket).await?;
        Ok(self.s.bucket_owner.as_deref().unwrap_or(ACCOUNT) == account)
    }

    async fn get_bucket_encryption(&self, bucket: &str) -> Result<Option<skys3::probe::BucketEncryption>, ProbeError> {
        self.get_bucket_location(bucket).await.map_err(|mut e| {
            e.op = Op::GetBucketEncryption;
            e
        })?;
        Ok(self
            .s
            .bucket_encryption
            .as_ref()
            .map(|(algorithm, kms_key)| skys3::probe::BucketEncryption {
                algorithm: algorithm.clone(),
                kms_key: kms_key.clone(),
            }))
    }
}

/// The cluster as the scenario describes it. Exec runs the real probe script in a fake pod on this machine
/// ([`super::pod`]), as the fake API server does.
pub struct MemoryKube {
    s: Scenario,
    root: PathBuf,
}

impl MemoryKube {
    /// The fake for `s`; pods' files live under `root`.
    pub fn new(s: Scenario, root: &Path) -> MemoryKube {
        MemoryKube {
            s,
            root: root.to_path_buf(),
        }
    }

    /// What every request meets before it is answered: an unreachable server, or rejected credentials.
    fn gate(&self, op: Op) -> Result<(), ProbeError> {
        if self.s.kube_server.is_some() {
            return Err(ProbeError::new(
                op,
                ErrorKind::Unreachable,
                None,
                "error trying to connect: tcp connect error: Connection refused (os error 111)",
            ));
        }
        if !self.s.kube_token_valid {
            return Err(err(
                op,
                ErrorKind::CredentialsRejected,
                "Unauthorized",
                "Unauthorized: Unauthorized",
            ));
        }
        Ok(())
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<&PodSpec> {
        self.s.pods.iter().find(|p| p.namespace == namespace && p.name == name)
    }
}

/// A pod as the real client reduces it: only the injected AWS variables of `ray-node`'s environment.
pub fn pod_info(p: &PodSpec) -> PodInfo {
    PodInfo {
        name: p.name.clone(),
        labels: p.labels.clone(),
        annotations: p.annotations.clone(),
        service_account: p.service_account.clone(),
        containers: vec!["ray-node".into()],
        aws_env: p
            .env
            .iter()
            .filter(|(k, _)| INJECTED_ENV.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), skys3::probe::env_value(k, v)))
            .collect(),
        created_at: p
            .created_at
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|t| t.as_millisecond() as f64 / 1000.0),
        host_network: p.host_network,
        node_name: p.node_name.clone(),
        phase: p.phase.clone(),
    }
}

/// `key=value` pairs of a label selector (`a=b,c=d`).
fn selects(selector: &str, labels: &BTreeMap<String, String>) -> bool {
    selector
        .split(',')
        .filter(|t| !t.is_empty())
        .all(|t| match t.split_once('=') {
            Some((k, v)) => labels.get(k.trim()).is_some_and(|x| x == v.trim()),
            None => labels.contains_key(t.trim()),
        })
}

#[async_trait]
impl KubeApi for MemoryKube {
    async fn server_version(&self) -> Result<String, ProbeError> {
        self.gate(Op::KubeVersion)?;
        Ok("v1.31.2-eks-lab".into())
    }

    async fn get_namespace(&self, name: &str) -> Result<(), ProbeError> {
        self.gate(Op::GetNamespace)?;
        if self.s.namespaces.iter().any(|n| n == name) {
            Ok(())
        } else {
            Err(not_found(
                Op::GetNamespace,
                "NotFound",
                format!("namespaces \"{name}\" not found"),
            ))
        }
    }

    async fn get_service_account(&self, namespace: &str, name: &str) -> Result<ServiceAccountInfo, ProbeError> {
        self.gate(Op::GetServiceAccount)?;
        self.s
            .service_accounts
            .iter()
            .find(|sa| sa.namespace == namespace && sa.name == name)
            .map(|sa| ServiceAccountInfo {
                namespace: sa.namespace.clone(),
                name: sa.name.clone(),
                annotations: sa.annotations.clone(),
            })
            .ok_or_else(|| {
                not_found(
                    Op::GetServiceAccount,
                    "NotFound",
                    format!("serviceaccounts \"{name}\" not found"),
                )
            })
    }

    async fn list_network_policies(&self, _namespace: &str) -> Result<Vec<NetworkPolicyInfo>, ProbeError> {
        self.gate(Op::ListNetworkPolicies)?;
        Ok(self
            .s
            .network_policies
            .iter()
            .map(|v| {
                skys3::probe::kube::network_policy_info(serde_json::from_value(v.clone()).expect("a NetworkPolicy"))
            })
            .collect())
    }

    async fn get_node(&self, name: &str) -> Result<NodeInfo, ProbeError> {
        self.gate(Op::GetNode)?;
        self.s
            .nodes
            .get(name)
            .map(|labels| NodeInfo {
                name: name.into(),
                labels: labels.clone(),
            })
            .ok_or_else(|| not_found(Op::GetNode, "NotFound", format!("nodes \"{name}\" not found")))
    }

    async fn get_daemonset(&self, _namespace: &str, name: &str) -> Result<DaemonSetInfo, ProbeError> {
        self.gate(Op::GetDaemonSet)?;
        self.s
            .agent_daemonset
            .map(|(desired, ready)| DaemonSetInfo { desired, ready })
            .ok_or_else(|| {
                not_found(
                    Op::GetDaemonSet,
                    "NotFound",
                    format!("daemonsets.apps \"{name}\" not found"),
                )
            })
    }

    async fn list_pods(&self, namespace: &str, selector: &str) -> Result<Vec<PodInfo>, ProbeError> {
        self.gate(Op::ListPods)?;
        Ok(self
            .s
            .pods
            .iter()
            .filter(|p| p.namespace == namespace && selects(selector, &p.labels))
            .map(pod_info)
            .collect())
    }

    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        _container: Option<&str>,
        command: &[String],
        stdin: &[u8],
        limit: usize,
    ) -> Result<ExecOutput, ProbeError> {
        self.gate(Op::Exec)?;
        let p = self
            .pod(namespace, pod)
            .ok_or_else(|| not_found(Op::Exec, "NotFound", format!("pods \"{pod}\" not found")))?;
        let out = super::pod::run(&self.root, p, command, stdin, None)
            .await
            .map_err(|e| ProbeError::new(Op::Exec, ErrorKind::Other, None, e))?;
        let cut = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(limit)]).into_owned();
        Ok(ExecOutput {
            stdout: cut(&out.stdout),
            stderr: cut(&out.stderr),
            exit_code: Some(out.status.code().unwrap_or(137)),
        })
    }
}

/// What an injected failure does.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The call fails with this error kind and service code.
    Error(ErrorKind, Option<String>),
    /// The call answers only after this long (past the check timeout: a hang).
    Hang(Duration),
    /// The call panics (a bug in a client library): the engine's crash guard must catch it.
    Panic,
    /// The doctor's own credentials fail (a credential_process that fails or hangs, a role that cannot be
    /// assumed), as the real clients report it.
    Credential(skys3::probe::local_aws::CredentialProblem),
}

/// Fails calls of one operation: every call, or only the n-th (1-based).
#[derive(Debug, Clone)]
pub struct Rule {
    /// The operation.
    pub op: Op,
    /// Only this call of the operation (1 = the first); `None` = every call.
    pub nth: Option<usize>,
    /// What happens.
    pub failure: Failure,
}

impl Rule {
    /// Every call of `op` fails with `kind`.
    pub fn every(op: Op, kind: ErrorKind) -> Rule {
        Rule {
            op,
            nth: None,
            failure: Failure::Error(kind, None),
        }
    }

    /// The scenario's wire faults, as the real client would turn them into probe errors.
    pub fn from_scenario(s: &Scenario) -> Vec<Rule> {
        let kube_op = |resource: &str| match resource {
            "version" => vec![Op::KubeVersion],
            "namespaces" => vec![Op::GetNamespace],
            "serviceaccounts" => vec![Op::GetServiceAccount],
            "daemonsets" => vec![Op::GetDaemonSet],
            "nodes" => vec![Op::GetNode],
            "networkpolicies" => vec![Op::ListNetworkPolicies],
            "pods" => vec![Op::ListPods],
            "pods/exec" | "exec" => vec![Op::Exec],
            other => panic!("no operation for kube resource {other}"),
        };
        let mut rules = Vec::new();
        for f in &s.faults {
            let ops: Vec<Op> = match (f.service.as_str(), f.op.as_deref()) {
                ("kube", Some(r)) => kube_op(r),
                (svc, Some(op)) => vec![Op::from_name(&format!("{svc}:{op}")).expect("a known operation")],
                (svc, None) => Op::ALL
                    .iter()
                    .copied()
                    .filter(|o| match svc {
                        "kube" => o.iam_action().is_none(),
                        _ => o.name().starts_with(&format!("{svc}:")),
                    })
                    .collect(),
            };
            let failure = match &f.kind {
                FaultKind::Hang(secs) => Failure::Hang(Duration::from_secs(*secs)),
                FaultKind::ServerError | FaultKind::Malformed => Failure::Error(ErrorKind::Other, None),
                FaultKind::Throttle => Failure::Error(ErrorKind::Throttled, Some("Throttling".into())),
                FaultKind::AccessDenied => Failure::Error(ErrorKind::AccessDenied, Some("AccessDenied".into())),
                FaultKind::Code(_, code) => Failure::Error(skys3::probe::aws::classify_code(code), Some(code.clone())),
            };
            rules.extend(ops.into_iter().map(|op| Rule {
                op,
                nth: None,
                failure: failure.clone(),
            }));
        }
        rules
    }
}

/// A failure-injecting wrapper around a fake (or any probe API): it applies [`Rule`]s by operation and call
/// count, and records every call with its arguments.
pub struct Faulty<T> {
    inner: T,
    rules: Vec<Rule>,
    calls: Mutex<Vec<(Op, String)>>,
}

impl<T> Faulty<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, rules: Vec<Rule>) -> Faulty<T> {
        Faulty {
            inner,
            rules,
            calls: Mutex::new(vec![]),
        }
    }

    /// Every call so far: (operation, its arguments).
    pub fn calls(&self) -> Vec<(Op, String)> {
        self.calls.lock().unwrap().clone()
    }

    async fn before(&self, op: Op, args: String) -> Result<(), ProbeError> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push((op, args));
            calls.iter().filter(|(o, _)| *o == op).count()
        };
        let rule = self.rules.iter().find(|r| r.op == op && r.nth.is_none_or(|k| k == n));
        match rule.map(|r| &r.failure) {
            None => Ok(()),
            Some(Failure::Panic) => panic!("injected panic on call {n} of {op}"),
            Some(Failure::Hang(d)) => {
                tokio::time::sleep(*d).await;
                Err(ProbeError::new(op, ErrorKind::Timeout, None, "the request timed out"))
            }
            Some(Failure::Credential(p)) => {
                Err(ProbeError::new(op, ErrorKind::NoCredentials, None, p.to_string()).with_credential(p.clone()))
            }
            Some(Failure::Error(kind, code)) => Err(ProbeError::new(
                op,
                *kind,
                code.clone(),
                format!("injected {kind:?} on call {n} of {op}"),
            )),
        }
    }
}

macro_rules! wrap {
    ($self:ident, $op:expr, ($($arg:expr),*), $call:expr) => {{
        $self.before($op, format!("{:?}", ($($arg,)*))).await?;
        $call.await
    }};
}

#[async_trait]
impl<T: AwsApi> AwsApi for Faulty<T> {
    async fn get_caller_identity(&self) -> Result<CallerIdentity, ProbeError> {
        wrap!(self, Op::GetCallerIdentity, (), self.inner.get_caller_identity())
    }
    async fn describe_cluster(&self, name: &str) -> Result<ClusterInfo, ProbeError> {
        wrap!(self, Op::DescribeCluster, (name), self.inner.describe_cluster(name))
    }
    async fn list_nodegroups(&self, cluster: &str) -> Result<Vec<String>, ProbeError> {
        wrap!(self, Op::ListNodegroups, (cluster), self.inner.list_nodegroups(cluster))
    }
    async fn describe_nodegroup(&self, cluster: &str, nodegroup: &str) -> Result<NodegroupInfo, ProbeError> {
        wrap!(
            self,
            Op::DescribeNodegroup,
            (cluster, nodegroup),
            self.inner.describe_nodegroup(cluster, nodegroup)
        )
    }
    async fn describe_addon(&self, cluster: &str, addon: &str) -> Result<AddonInfo, ProbeError> {
        wrap!(
            self,
            Op::DescribeAddon,
            (cluster, addon),
            self.inner.describe_addon(cluster, addon)
        )
    }
    async fn list_pod_identity_associations(
        &self,
        cluster: &str,
        namespace: Option<&str>,
        service_account: Option<&str>,
    ) -> Result<Vec<AssociationSummary>, ProbeError> {
        wrap!(
            self,
            Op::ListPodIdentityAssociations,
            (cluster, namespace, service_account),
            self.inner
                .list_pod_identity_associations(cluster, namespace, service_account)
        )
    }
    async fn describe_pod_identity_association(&self, cluster: &str, id: &str) -> Result<AssociationInfo, ProbeError> {
        wrap!(
            self,
            Op::DescribePodIdentityAssociation,
            (cluster, id),
            self.inner.describe_pod_identity_association(cluster, id)
        )
    }
    async fn get_role(&self, name: &str) -> Result<RoleInfo, ProbeError> {
        wrap!(self, Op::GetRole, (name), self.inner.get_role(name))
    }
    async fn list_attached_role_policies(&self, role: &str) -> Result<Vec<String>, ProbeError> {
        wrap!(
            self,
            Op::ListAttachedRolePolicies,
            (role),
            self.inner.list_attached_role_policies(role)
        )
    }
    async fn list_role_policies(&self, role: &str) -> Result<Vec<String>, ProbeError> {
        wrap!(self, Op::ListRolePolicies, (role), self.inner.list_role_policies(role))
    }
    async fn get_role_policy(&self, role: &str, name: &str) -> Result<String, ProbeError> {
        wrap!(
            self,
            Op::GetRolePolicy,
            (role, name),
            self.inner.get_role_policy(role, name)
        )
    }
    async fn get_policy(&self, arn: &str) -> Result<PolicyInfo, ProbeError> {
        wrap!(self, Op::GetPolicy, (arn), self.inner.get_policy(arn))
    }
    async fn get_policy_version(&self, arn: &str, version: &str) -> Result<String, ProbeError> {
        wrap!(
            self,
            Op::GetPolicyVersion,
            (arn, version),
            self.inner.get_policy_version(arn, version)
        )
    }
    async fn list_oidc_providers(&self) -> Result<Vec<String>, ProbeError> {
        wrap!(
            self,
            Op::ListOpenIdConnectProviders,
            (),
            self.inner.list_oidc_providers()
        )
    }
    async fn get_oidc_provider(&self, arn: &str) -> Result<OidcProviderInfo, ProbeError> {
        wrap!(
            self,
            Op::GetOpenIdConnectProvider,
            (arn),
            self.inner.get_oidc_provider(arn)
        )
    }
    async fn simulate_principal_policy(
        &self,
        principal_arn: &str,
        actions: &[String],
        resources: &[String],
    ) -> Result<Vec<SimulationResult>, ProbeError> {
        wrap!(
            self,
            Op::SimulatePrincipalPolicy,
            (principal_arn, actions, resources),
            self.inner.simulate_principal_policy(principal_arn, actions, resources)
        )
    }
    async fn get_bucket_location(&self, bucket: &str) -> Result<String, ProbeError> {
        wrap!(
            self,
            Op::GetBucketLocation,
            (bucket),
            self.inner.get_bucket_location(bucket)
        )
    }
    async fn get_bucket_policy(&self, bucket: &str) -> Result<Option<String>, ProbeError> {
        wrap!(
            self,
            Op::GetBucketPolicy,
            (bucket),
            self.inner.get_bucket_policy(bucket)
        )
    }
    async fn bucket_owned_by(&self, bucket: &str, account: &str) -> Result<bool, ProbeError> {
        wrap!(
            self,
            Op::GetBucketLocation,
            (bucket, account),
            self.inner.bucket_owned_by(bucket, account)
        )
    }
    async fn get_bucket_encryption(&self, bucket: &str) -> Result<Option<skys3::probe::BucketEncryption>, ProbeError> {
        wrap!(
            self,
            Op::GetBucketEncryption,
            (bucket),
            self.inner.get_bucket_encryption(bucket)
        )
    }
}

#[async_trait]
impl<T: KubeApi> KubeApi for Faulty<T> {
    async fn server_version(&self) -> Result<String, ProbeError> {
        wrap!(self, Op::KubeVersion, (), self.inner.server_version())
    }
    async fn get_namespace(&self, name: &str) -> Result<(), ProbeError> {
        wrap!(self, Op::GetNamespace, (name), self.inner.get_namespace(name))
    }
    async fn get_service_account(&self, namespace: &str, name: &str) -> Result<ServiceAccountInfo, ProbeError> {
        wrap!(
            self,
            Op::GetServiceAccount,
            (namespace, name),
            self.inner.get_service_account(namespace, name)
        )
    }
    async fn get_node(&self, name: &str) -> Result<NodeInfo, ProbeError> {
        wrap!(self, Op::GetNode, (name), self.inner.get_node(name))
    }
    async fn list_network_policies(&self, namespace: &str) -> Result<Vec<NetworkPolicyInfo>, ProbeError> {
        wrap!(
            self,
            Op::ListNetworkPolicies,
            (namespace),
            self.inner.list_network_policies(namespace)
        )
    }
    async fn get_daemonset(&self, namespace: &str, name: &str) -> Result<DaemonSetInfo, ProbeError> {
        wrap!(
            self,
            Op::GetDaemonSet,
            (namespace, name),
            self.inner.get_daemonset(namespace, name)
        )
    }
    async fn list_pods(&self, namespace: &str, selector: &str) -> Result<Vec<PodInfo>, ProbeError> {
        wrap!(
            self,
            Op::ListPods,
            (namespace, selector),
            self.inner.list_pods(namespace, selector)
        )
    }
    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        command: &[String],
        stdin: &[u8],
        limit: usize,
    ) -> Result<ExecOutput, ProbeError> {
        wrap!(
            self,
            Op::Exec,
            (namespace, pod, container, command),
            self.inner.exec(namespace, pod, container, command, stdin, limit)
        )
    }
}

/// Edits a run's request; the second argument is the run's working directory (for `--task` files).
pub type EditRequest = Box<dyn FnOnce(&mut Request, &Path)>;

/// How an in-memory run goes beyond its scenario.
pub struct Run {
    /// Extra failures, beyond the scenario's own faults.
    pub rules: Vec<Rule>,
    /// Edits the request (mode, --no-exec, --sky-cluster, --task, ...).
    pub request: EditRequest,
    /// `--check-timeout`.
    pub check_timeout: Duration,
    /// `--timeout`.
    pub timeout: Duration,
}

impl Default for Run {
    fn default() -> Run {
        Run {
            rules: vec![],
            request: Box::new(|_, _| {}),
            check_timeout: Duration::from_secs(20),
            timeout: Duration::from_secs(60),
        }
    }
}

/// The outcome of an in-memory run.
pub struct Outcome {
    /// The exit code the CLI would return (2 when resolution failed).
    pub code: i32,
    /// The report as `-o json` prints it (`null` when resolution failed).
    pub doc: Value,
    /// The resolution error, if any.
    pub error: Option<String>,
    /// Every AWS call the run made.
    pub aws_calls: Vec<(Op, String)>,
    /// Every Kubernetes call the run made.
    pub kube_calls: Vec<(Op, String)>,
}

/// Resolves the scenario's inputs as the CLI would (from the guide's environment variables), runs every check
/// over the in-memory fakes with the real engine, and returns the report as JSON.
pub fn run(s: Scenario) -> (i32, Value) {
    let out = run_with(s, Run::default());
    (out.code, out.doc)
}

/// [`run`] with failures, request edits and limits.
pub fn run_with(s: Scenario, run: Run) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    super::write_files(root, &s, s.kube_server.as_deref().unwrap_or(MEMORY_SERVER));
    let home = root.join("home");
    let work = root.join("work");

    // The sealed environment the lab gives the binary, with the scenario's own variables over it.
    let mut env: BTreeMap<String, String> = [
        ("HOME", home.display().to_string()),
        ("PATH", format!("{}:/usr/bin:/bin", home.join(".local/bin").display())),
        ("AWS_CONFIG_FILE", root.join("aws-config").display().to_string()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            root.join("no-aws-credentials").display().to_string(),
        ),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in &s.env {
        match v {
            Some(v) => env.insert(k.clone(), v.clone()),
            None => env.remove(k),
        };
    }
    let given = |k: &str| {
        env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()).map(|v| Input {
            value: v.to_string(),
            given: Given::Env,
        })
    };
    let mut req = Request {
        inputs: Inputs {
            cluster: given("EKS_CLUSTER_NAME"),
            region: given("AWS_REGION"),
            context: given("KUBE_CONTEXT"),
            bucket: given("S3_BUCKET"),
            namespace: given("K8S_NAMESPACE"),
            service_account: given("K8S_SERVICE_ACCOUNT"),
            role_name: given("IAM_ROLE_NAME"),
            policy_name: given("IAM_POLICY_NAME"),
        },
        ..Request::default()
    };
    (run.request)(&mut req, &work);
    let kubeconfig = std::fs::read_to_string(root.join("kubeconfig")).unwrap();
    let user = home.join(".sky/config.yaml");
    let local = Local {
        kubeconfig: Some(LoadedKubeconfig::from_yaml(&kubeconfig).unwrap()),
        sky_paths: match &req.sky_config {
            Some(p) => ConfigPaths {
                files: vec![(p.clone(), "explicit")],
                user_file: p.clone(),
                explicit: true,
            },
            None => ConfigPaths {
                files: vec![(user.clone(), "user"), (work.join(".sky.yaml"), "project")],
                user_file: user,
                explicit: false,
            },
        },
    };
    let pairs: Vec<(String, String)> = env.into_iter().collect();
    let env_slice: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let local_env = LocalEnv {
        env: Env::from_slice(&env_slice),
        fs: Fs::real(),
    };

    let mut rules = Rule::from_scenario(&s);
    rules.extend(run.rules);
    let aws = Arc::new(Faulty::new(MemoryAws::new(s.clone()), rules.clone()));
    let kube = Arc::new(Faulty::new(MemoryKube::new(s.clone(), root), rules));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let opts = Options {
        timeout: run.timeout,
        check_timeout: run.check_timeout,
        ..Options::default()
    };
    let report: Result<Report, String> = rt.block_on(async {
        let started = tokio::time::Instant::now();
        let resolved = skys3::target::resolve(&req, local, || async { None })
            .await
            .map_err(|e| e.to_string())?;
        let facts = Facts::new(
            Some(aws.clone() as Arc<dyn AwsApi>),
            Some(kube.clone() as Arc<dyn KubeApi>),
        )
        .with_local(local_env);
        let report = doctor::check(Ctx::new(resolved, facts), req.offline, &opts, started).await;
        Ok(doctor::finish(report, &opts))
    });
    rt.shutdown_timeout(Duration::from_millis(100));
    let (code, doc, error) = match report {
        Ok(r) => {
            let doc = serde_json::to_value(&r).unwrap();
            super::assert_valid(&doc);
            (r.exit_code(false), doc, None)
        }
        Err(e) => (skys3::exit::USAGE, Value::Null, Some(e)),
    };
    Outcome {
        code,
        doc,
        error,
        aws_calls: aws.calls(),
        kube_calls: kube.calls(),
    }
}

/// How many times each (operation, arguments) was called.
pub fn repeats(calls: &[(Op, String)]) -> HashMap<(Op, String), usize> {
    let mut m = HashMap::new();
    for c in calls {
        *m.entry(c.clone()).or_insert(0) += 1;
    }
    m.retain(|_, n| *n > 1);
    m
}
