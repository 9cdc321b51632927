//! The table of every operation the probe layer performs: its name, its IAM action or Kubernetes RBAC rule, and
//! what kind of read it is. The probe names its calls by [`Op`], `skys3 permissions` prints the policy and RBAC
//! from this table, and the lab's read-only audit checks every recorded request against it: one list, three uses.

use serde::{Serialize, Serializer};

/// What kind of read an operation is. There is no variant for a write: the doctor cannot express one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads one object (AWS Get*/Describe*, Kubernetes get).
    Get,
    /// Lists objects (AWS List*, Kubernetes list).
    List,
    /// IAM's policy simulator: it evaluates policies and changes nothing.
    Simulate,
    /// The exec of the documented read-only probe script (`inpod/inpod.sh`).
    Exec,
}

/// Where a Kubernetes rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Cluster-wide (a ClusterRole).
    Cluster,
    /// SkyPilot's namespace (a Role there).
    Namespace,
    /// `kube-system` (a Role there: the Pod Identity agent's DaemonSet).
    KubeSystem,
}

/// The RBAC rule a Kubernetes operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubeRule {
    /// Where.
    pub scope: Scope,
    /// API group (`""` is core).
    pub group: &'static str,
    /// Resource.
    pub resource: &'static str,
    /// Verbs that authorize it.
    pub verbs: &'static [&'static str],
}

/// How the operation is authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// An IAM action, e.g. `eks:DescribeCluster`.
    Iam(&'static str),
    /// A Kubernetes RBAC rule.
    Rbac(KubeRule),
    /// Nothing to grant: every authenticated user may (`GET /version`, system:public-info-viewer).
    Public,
}

macro_rules! ops {
    ($($(#[$doc:meta])* $variant:ident => $name:literal, $access:ident, $grant:expr;)*) => {
        /// An operation of the probe layer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Op {
            $($(#[$doc])* $variant,)*
        }

        impl Op {
            /// Every operation, in table order.
            pub const ALL: &'static [Op] = &[$(Op::$variant,)*];

            /// The name reports and errors use: the IAM action, or `verb resource` for Kubernetes.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Op::$variant => $name,)*
                }
            }

            /// What kind of read it is.
            pub const fn access(self) -> Access {
                match self {
                    $(Op::$variant => Access::$access,)*
                }
            }

            /// What the doctor's identity needs for it.
            pub const fn grant(self) -> Grant {
                match self {
                    $(Op::$variant => $grant,)*
                }
            }
        }
    };
}

const fn rbac(scope: Scope, group: &'static str, resource: &'static str, verbs: &'static [&'static str]) -> Grant {
    Grant::Rbac(KubeRule {
        scope,
        group,
        resource,
        verbs,
    })
}

ops! {
    /// STS GetCallerIdentity.
    GetCallerIdentity => "sts:GetCallerIdentity", Get, Grant::Iam("sts:GetCallerIdentity");
    /// EKS DescribeCluster.
    DescribeCluster => "eks:DescribeCluster", Get, Grant::Iam("eks:DescribeCluster");
    /// EKS DescribeAddon.
    DescribeAddon => "eks:DescribeAddon", Get, Grant::Iam("eks:DescribeAddon");
    /// EKS ListNodegroups: the managed node groups, whose roles the Pod Identity agent calls EKS Auth with.
    ListNodegroups => "eks:ListNodegroups", List, Grant::Iam("eks:ListNodegroups");
    /// EKS DescribeNodegroup: a managed node group's node role.
    DescribeNodegroup => "eks:DescribeNodegroup", Get, Grant::Iam("eks:DescribeNodegroup");
    /// EKS ListPodIdentityAssociations.
    ListPodIdentityAssociations => "eks:ListPodIdentityAssociations", List, Grant::Iam("eks:ListPodIdentityAssociations");
    /// EKS DescribePodIdentityAssociation.
    DescribePodIdentityAssociation => "eks:DescribePodIdentityAssociation", Get, Grant::Iam("eks:DescribePodIdentityAssociation");
    /// IAM GetRole.
    GetRole => "iam:GetRole", Get, Grant::Iam("iam:GetRole");
    /// IAM ListAttachedRolePolicies.
    ListAttachedRolePolicies => "iam:ListAttachedRolePolicies", List, Grant::Iam("iam:ListAttachedRolePolicies");
    /// IAM ListRolePolicies.
    ListRolePolicies => "iam:ListRolePolicies", List, Grant::Iam("iam:ListRolePolicies");
    /// IAM GetRolePolicy.
    GetRolePolicy => "iam:GetRolePolicy", Get, Grant::Iam("iam:GetRolePolicy");
    /// IAM GetPolicy.
    GetPolicy => "iam:GetPolicy", Get, Grant::Iam("iam:GetPolicy");
    /// IAM GetPolicyVersion.
    GetPolicyVersion => "iam:GetPolicyVersion", Get, Grant::Iam("iam:GetPolicyVersion");
    /// IAM ListOpenIDConnectProviders.
    ListOpenIdConnectProviders => "iam:ListOpenIDConnectProviders", List, Grant::Iam("iam:ListOpenIDConnectProviders");
    /// IAM GetOpenIDConnectProvider.
    GetOpenIdConnectProvider => "iam:GetOpenIDConnectProvider", Get, Grant::Iam("iam:GetOpenIDConnectProvider");
    /// IAM SimulatePrincipalPolicy.
    SimulatePrincipalPolicy => "iam:SimulatePrincipalPolicy", Simulate, Grant::Iam("iam:SimulatePrincipalPolicy");
    /// S3 GetBucketLocation.
    GetBucketLocation => "s3:GetBucketLocation", Get, Grant::Iam("s3:GetBucketLocation");
    /// S3 GetBucketPolicy.
    GetBucketPolicy => "s3:GetBucketPolicy", Get, Grant::Iam("s3:GetBucketPolicy");
    /// S3 GetBucketEncryption (its IAM action is s3:GetEncryptionConfiguration).
    GetBucketEncryption => "s3:GetBucketEncryption", Get, Grant::Iam("s3:GetEncryptionConfiguration");
    /// Kubernetes `GET /version`.
    KubeVersion => "get /version", Get, Grant::Public;
    /// Kubernetes get namespace.
    GetNamespace => "get namespaces", Get, rbac(Scope::Cluster, "", "namespaces", &["get"]);
    /// Kubernetes get service account.
    GetServiceAccount => "get serviceaccounts", Get, rbac(Scope::Namespace, "", "serviceaccounts", &["get"]);
    /// Kubernetes list pods.
    ListPods => "list pods", List, rbac(Scope::Namespace, "", "pods", &["list"]);
    /// Kubernetes exec of the probe. The WebSocket exec is a GET; API servers since 1.30 authorize it as `create`,
    /// older ones as `get`.
    Exec => "create pods/exec", Exec, rbac(Scope::Namespace, "", "pods/exec", &["create", "get"]);
    /// Kubernetes get node (cluster-scoped): where a pod runs (Fargate, Windows), which Pod Identity does not serve.
    GetNode => "get nodes", Get, rbac(Scope::Cluster, "", "nodes", &["get"]);
    /// Kubernetes list NetworkPolicies in SkyPilot's namespace: an egress policy can cut pods off the Pod Identity
    /// agent.
    ListNetworkPolicies => "list networkpolicies", List, rbac(Scope::Namespace, "networking.k8s.io", "networkpolicies", &["list"]);
    /// Kubernetes get DaemonSet (the Pod Identity agent's, in kube-system).
    GetDaemonSet => "get daemonsets", Get, rbac(Scope::KubeSystem, "apps", "daemonsets", &["get"]);
}

impl Op {
    /// The IAM action, for AWS operations.
    pub fn iam_action(self) -> Option<&'static str> {
        match self.grant() {
            Grant::Iam(a) => Some(a),
            _ => None,
        }
    }

    /// The RBAC rule, for Kubernetes operations that need one.
    pub fn rbac(self) -> Option<KubeRule> {
        match self.grant() {
            Grant::Rbac(r) => Some(r),
            _ => None,
        }
    }

    /// The operation with this name (`eks:DescribeCluster`, `list pods`), case-insensitively.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|o| o.name().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Op {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_reads_only() {
        let mut names: Vec<&str> = Op::ALL.iter().map(|o| o.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Op::ALL.len());
        for op in Op::ALL {
            assert_eq!(Op::from_name(op.name()), Some(*op));
            match op.grant() {
                Grant::Iam(a) => {
                    let verb = a.split(':').nth(1).unwrap();
                    assert!(
                        ["Get", "List", "Describe"].iter().any(|p| verb.starts_with(p))
                            || verb == "SimulatePrincipalPolicy",
                        "{a} is not a read"
                    );
                }
                Grant::Rbac(r) => {
                    assert!(
                        r.verbs.iter().all(|v| ["get", "list", "watch"].contains(v)) || *op == Op::Exec,
                        "{op} needs a write verb"
                    );
                }
                Grant::Public => {}
            }
        }
    }
}
