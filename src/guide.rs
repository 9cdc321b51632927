//! The guide's policy documents ("Using IAM Roles for S3 Access on EKS"), with the user's values filled in: the
//! remediations print them so a fix is the guide's own step, not a paraphrase.

use serde_json::{Value, json};

/// The guide's Pod Identity trust statement (Step 3): `pods.eks.amazonaws.com` may assume the role and tag the
/// session.
pub fn pod_identity_statement() -> Value {
    json!({
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"]
    })
}

/// The guide's IRSA trust statement (IRSA Step 4) for this provider, namespace and service account.
pub fn irsa_statement(provider_arn: &str, provider: &str, namespace: &str, service_account: &str) -> Value {
    json!({
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            format!("{provider}:sub"): format!("system:serviceaccount:{namespace}:{service_account}"),
            format!("{provider}:aud"): "sts.amazonaws.com"
        }}
    })
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
    #[test]
    fn s3_policy_follows_the_partition() {
        assert!(super::s3_policy("aws-us-gov", "b").contains("arn:aws-us-gov:s3:::b/*"));
    }
}
