//! Facts and documents several checks share: the wiring mode in force, the expected role ARN, and the guide's
//! policy documents with the user's values filled in.

use serde::Serialize;
use serde_json::json;

use crate::cli::Mode;
use crate::engine::{Ctx, Outcome};
use crate::probe::{AssociationSummary, CallerIdentity, ProbeError};

/// The annotation IRSA's webhook reads.
pub const IRSA_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// How the role reaches the pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Wiring {
    /// EKS Pod Identity.
    PodIdentity,
    /// IAM roles for service accounts.
    Irsa,
}

impl Wiring {
    /// The name used in reports and `--mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Wiring::PodIdentity => "pod-identity",
            Wiring::Irsa => "irsa",
        }
    }
}

/// What the cluster says about the wiring of the namespace and service account.
#[derive(Debug, Clone, Serialize)]
pub struct Detected {
    /// `--mode`, if forced.
    pub forced: Option<Wiring>,
    /// The Pod Identity association for exactly this namespace and service account.
    pub association: Option<AssociationSummary>,
    /// The IRSA annotation's value.
    pub annotation: Option<String>,
    /// Whether the service account exists.
    pub service_account_exists: bool,
    /// Associations for the same service account in another namespace, or another service account in the
    /// same namespace: Pod Identity was meant, but wired to the wrong pair.
    pub near_misses: Vec<AssociationSummary>,
}

impl Detected {
    /// The wiring in force: forced, else Pod Identity when associated (the webhook prefers it), else IRSA.
    pub fn in_force(&self) -> Option<Wiring> {
        self.forced.or(if self.association.is_some() {
            Some(Wiring::PodIdentity)
        } else if self.annotation.is_some() {
            Some(Wiring::Irsa)
        } else if !self.near_misses.is_empty() {
            Some(Wiring::PodIdentity)
        } else {
            None
        })
    }
}

/// Detects the wiring from memoized facts (no call is made twice, however many checks ask).
pub async fn detect(ctx: &Ctx) -> Result<Detected, ProbeError> {
    let t = &ctx.target;
    let forced = match t.mode {
        Mode::Auto => None,
        Mode::PodIdentity => Some(Wiring::PodIdentity),
        Mode::Irsa => Some(Wiring::Irsa),
    };
    let (assocs, sa) = futures::join!(
        ctx.facts
            .associations(&t.cluster, Some(&t.namespace), Some(&t.service_account)),
        ctx.facts.service_account(&t.namespace, &t.service_account),
    );
    let association = assocs?
        .into_iter()
        .find(|a| a.namespace == t.namespace && a.service_account == t.service_account);
    let (annotation, service_account_exists) = match sa {
        Ok(sa) => (
            sa.annotations.get(IRSA_ANNOTATION).cloned().filter(|v| !v.is_empty()),
            true,
        ),
        Err(e) if e.is_not_found() => (None, false),
        // An association decides the mode whatever the annotation says.
        Err(_) if association.is_some() => (None, true),
        Err(e) => return Err(e),
    };
    // Only when nothing is wired: a near miss tells what was meant (one more list, memoized).
    let near_misses = if association.is_none() && annotation.is_none() {
        ctx.facts
            .associations(&t.cluster, None, None)
            .await?
            .into_iter()
            .filter(|a| a.service_account == t.service_account || a.namespace == t.namespace)
            .collect()
    } else {
        vec![]
    };
    Ok(Detected {
        forced,
        association,
        annotation,
        service_account_exists,
        near_misses,
    })
}

/// `Ok` when `want` is the wiring in force; otherwise the outcome the check should report (a skip, or the
/// error that kept the mode from being known).
pub async fn require(ctx: &Ctx, want: Wiring) -> Result<Detected, Outcome> {
    match detect(ctx).await {
        Ok(d) if d.in_force() == Some(want) => Ok(d),
        Ok(d) => Err(Outcome::skip(
            "SKY008",
            format!(
                "not applicable: the wiring in force is {}",
                d.in_force().map(Wiring::as_str).unwrap_or("none")
            ),
        )),
        Err(e) => Err(Outcome::from_error(&e)),
    }
}

/// The role's ARN: GetRole's (it carries the role's path), else built from the caller's partition and account.
pub async fn expected_role_arn(ctx: &Ctx) -> Result<String, ProbeError> {
    match ctx.facts.role(&ctx.target.role_name).await {
        Ok(r) => Ok(r.arn),
        Err(e) if e.is_not_found() => {
            let id = ctx.facts.caller_identity().await?;
            Ok(role_arn(&id, &ctx.target.role_name))
        }
        Err(e) => Err(e),
    }
}

/// `arn:<partition>:iam::<account>:role/<name>`.
pub fn role_arn(id: &CallerIdentity, name: &str) -> String {
    format!("arn:{}:iam::{}:role/{name}", id.partition(), id.account)
}

/// `arn:<partition>:iam::<account>:policy/<name>`.
pub fn policy_arn(id: &CallerIdentity, name: &str) -> String {
    format!("arn:{}:iam::{}:policy/{name}", id.partition(), id.account)
}

/// The OIDC provider's host and path: the issuer URL without `https://`.
pub fn oidc_provider(issuer: &str) -> String {
    issuer
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
}

/// `arn:<partition>:iam::<account>:oidc-provider/<host/path>`.
pub fn oidc_provider_arn(id: &CallerIdentity, provider: &str) -> String {
    format!("arn:{}:iam::{}:oidc-provider/{provider}", id.partition(), id.account)
}

/// The guide's Pod Identity trust policy (Step 3).
pub fn pod_identity_trust() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"]
        }]
    })
    .to_string()
}

/// The guide's IRSA trust policy (IRSA Step 4) for this provider, namespace and service account.
pub fn irsa_trust(provider_arn: &str, provider: &str, namespace: &str, service_account: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{provider}:sub"): format!("system:serviceaccount:{namespace}:{service_account}"),
                format!("{provider}:aud"): "sts.amazonaws.com"
            }}
        }]
    })
    .to_string()
}

/// The guide's S3 policy (Step 2) for the bucket, in the caller's partition.
pub fn s3_policy(partition: &str, bucket: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": [format!("arn:{partition}:s3:::{bucket}"), format!("arn:{partition}:s3:::{bucket}/*")]
        }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_follow_the_callers_partition() {
        let cn = CallerIdentity {
            account: "210987654321".into(),
            arn: "arn:aws-cn:iam::210987654321:user/x".into(),
        };
        assert_eq!(role_arn(&cn, "R"), "arn:aws-cn:iam::210987654321:role/R");
        assert_eq!(policy_arn(&cn, "P"), "arn:aws-cn:iam::210987654321:policy/P");
        let provider = oidc_provider("https://oidc.eks.cn-north-1.amazonaws.com.cn/id/ABC/");
        assert_eq!(provider, "oidc.eks.cn-north-1.amazonaws.com.cn/id/ABC");
        assert_eq!(
            oidc_provider_arn(&cn, &provider),
            "arn:aws-cn:iam::210987654321:oidc-provider/oidc.eks.cn-north-1.amazonaws.com.cn/id/ABC"
        );
        let gov = CallerIdentity {
            account: "1".into(),
            arn: "arn:aws-us-gov:sts::1:assumed-role/a/b".into(),
        };
        assert!(s3_policy(gov.partition(), "b").contains("arn:aws-us-gov:s3:::b/*"));
    }
}
