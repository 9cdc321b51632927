//! The doctor's own permissions: every AWS action and Kubernetes verb the probe layer uses, in one place.
//! `skys3 permissions` prints them as a least-privilege IAM policy and Kubernetes RBAC; a unit test holds the
//! probe code to this list and the lab tests hold every request they record to it.

/// Every IAM action the probe layer calls. All read-only (`SimulatePrincipalPolicy` only evaluates).
pub const AWS_ACTIONS: &[&str] = &[
    "sts:GetCallerIdentity",
    "eks:DescribeCluster",
    "eks:DescribeAddon",
    "eks:ListPodIdentityAssociations",
    "eks:DescribePodIdentityAssociation",
    "iam:GetRole",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListOpenIDConnectProviders",
    "iam:GetOpenIDConnectProvider",
    "iam:SimulatePrincipalPolicy",
    "s3:GetBucketLocation",
];

/// A Kubernetes RBAC rule the doctor needs: (where, API group, resource, verbs).
pub struct KubeRule {
    /// `namespace` (SkyPilot's), `kube-system`, or `cluster`.
    pub scope: &'static str,
    /// API group (`""` is core).
    pub group: &'static str,
    /// Resource.
    pub resource: &'static str,
    /// Verbs.
    pub verbs: &'static [&'static str],
}

/// Every Kubernetes verb and resource the probe layer uses. `GET /version` needs no rule: every authenticated
/// user may read it (system:public-info-viewer).
pub const KUBE_RULES: &[KubeRule] = &[
    KubeRule {
        scope: "cluster",
        group: "",
        resource: "namespaces",
        verbs: &["get"],
    },
    KubeRule {
        scope: "namespace",
        group: "",
        resource: "serviceaccounts",
        verbs: &["get"],
    },
    KubeRule {
        scope: "namespace",
        group: "",
        resource: "pods",
        verbs: &["list"],
    },
    // The WebSocket exec is a GET; API servers since 1.30 authorize it as `create`, older ones as `get`.
    KubeRule {
        scope: "namespace",
        group: "",
        resource: "pods/exec",
        verbs: &["create", "get"],
    },
    KubeRule {
        scope: "kube-system",
        group: "apps",
        resource: "daemonsets",
        verbs: &["get"],
    },
];

/// Whether a Kubernetes call (`verb resource`, as the probe names them) is covered by [`KUBE_RULES`].
pub fn kube_covered(op: &str) -> bool {
    if op == "get /version" {
        return true;
    }
    let Some((verb, resource)) = op.split_once(' ') else {
        return false;
    };
    KUBE_RULES
        .iter()
        .any(|r| r.resource == resource && r.verbs.contains(&verb))
}

/// The IAM policy and RBAC objects, ready to apply (by someone else: the doctor never creates anything).
pub fn render() -> String {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Skys3DoctorReadOnly", "Effect": "Allow", "Action": AWS_ACTIONS, "Resource": "*"}]
    });
    let mut out = String::from("# IAM policy for the identity that runs `skys3 doctor`\n");
    out.push_str(&serde_json::to_string_pretty(&policy).expect("policy serializes"));
    out.push_str(
        "\n\n# Kubernetes RBAC (replace NAMESPACE with SkyPilot's namespace and SUBJECT with your user or group)\n",
    );
    let rules = |scope: &str| {
        KUBE_RULES
            .iter()
            .filter(|r| r.scope == scope)
            .map(|r| {
                format!(
                    "- apiGroups: [\"{}\"]\n  resources: [\"{}\"]\n  verbs: [{}]\n",
                    r.group,
                    r.resource,
                    r.verbs
                        .iter()
                        .map(|v| format!("\"{v}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect::<String>()
    };
    let binding = |kind: &str, name: &str, ns: Option<&str>| {
        let (bkind, meta) = match ns {
            Some(ns) => ("RoleBinding", format!("  name: {name}\n  namespace: {ns}\n")),
            None => ("ClusterRoleBinding", format!("  name: {name}\n")),
        };
        format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {bkind}\nmetadata:\n{meta}roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: {kind}\n  name: {name}\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: SUBJECT\n"
        )
    };
    for (kind, name, ns, scope) in [
        ("ClusterRole", "skys3-doctor-namespaces", None, "cluster"),
        ("Role", "skys3-doctor", Some("NAMESPACE"), "namespace"),
        ("Role", "skys3-doctor-agent", Some("kube-system"), "kube-system"),
    ] {
        let meta = match ns {
            Some(ns) => format!("  name: {name}\n  namespace: {ns}\n"),
            None => format!("  name: {name}\n"),
        };
        out.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata:\n{meta}rules:\n{}",
            rules(scope)
        ));
        out.push_str(&binding(kind, name, ns));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe code names its operations in `const OP` lines: each must be in the lists above, and back.
    #[test]
    fn probe_code_and_lists_agree() {
        let ops = |src: &str| -> Vec<String> {
            src.lines()
                .filter_map(|l| l.trim().strip_prefix("const OP: &str = \""))
                .map(|l| l.trim_end_matches("\";").to_string())
                .collect()
        };
        let aws = ops(include_str!("probe/aws.rs"));
        let mut listed: Vec<&str> = AWS_ACTIONS.to_vec();
        listed.sort();
        let mut used: Vec<&str> = aws.iter().map(String::as_str).collect();
        used.sort();
        assert_eq!(used, listed, "AWS operations of src/probe/aws.rs vs AWS_ACTIONS");
        for op in ops(include_str!("probe/kube.rs")) {
            assert!(kube_covered(&op), "{op} is not covered by KUBE_RULES");
        }
        for r in KUBE_RULES {
            for v in r.verbs {
                let used = ops(include_str!("probe/kube.rs"))
                    .iter()
                    .any(|op| op == &format!("{v} {}", r.resource));
                assert!(
                    used || r.resource == "pods/exec",
                    "rule {v} {} is not used by the probe",
                    r.resource
                );
            }
        }
    }
}
