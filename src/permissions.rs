//! The doctor's own permissions: every AWS action and Kubernetes verb the probe layer uses, in one place.
//! `skys3 permissions` prints them as a least-privilege IAM policy and Kubernetes RBAC, from the operations table
//! ([`crate::probe::ops`]) the probe layer names its calls by; the lab holds every request it records to it.

use crate::probe::ops::{KubeRule, Op, Scope};

/// Every IAM action the probe layer calls, from the operations table. All read-only (`SimulatePrincipalPolicy`
/// only evaluates).
pub fn aws_actions() -> Vec<&'static str> {
    Op::ALL.iter().filter_map(|o| o.iam_action()).collect()
}

/// Every Kubernetes RBAC rule the probe layer needs, from the operations table.
pub fn kube_rules() -> Vec<KubeRule> {
    Op::ALL.iter().filter_map(|o| o.rbac()).collect()
}

/// The IAM policy and RBAC objects, ready to apply (by someone else: the doctor never creates anything).
pub fn render() -> String {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Skys3DoctorReadOnly", "Effect": "Allow", "Action": aws_actions(), "Resource": "*"}]
    });
    let mut out = String::from("# IAM policy for the identity that runs `skys3 doctor`\n");
    out.push_str(&serde_json::to_string_pretty(&policy).expect("policy serializes"));
    out.push_str(
        "\n\n# Kubernetes RBAC (replace NAMESPACE with SkyPilot's namespace and SUBJECT with your user or group)\n",
    );
    let rules = |scope: Scope| {
        kube_rules()
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
        ("ClusterRole", "skys3-doctor-namespaces", None, Scope::Cluster),
        ("Role", "skys3-doctor", Some("NAMESPACE"), Scope::Namespace),
        ("Role", "skys3-doctor-agent", Some("kube-system"), Scope::KubeSystem),
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
