//! `s3.encryption`: a bucket encrypted with a customer managed KMS key is usable by the role.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::policy::{self, Decision};
use crate::probe::BucketEncryption;

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "s3.encryption",
    deps: &["s3.bucket", "iam.role"],
    warm: None,
    run: |ctx: Arc<Ctx>| async move { run(&ctx).await }.boxed(),
};

/// What reading and writing objects under SSE-KMS needs on the key (S3 user guide, "Using server-side
/// encryption with AWS KMS keys": GetObject needs kms:Decrypt, PutObject kms:GenerateDataKey).
const KMS_ACTIONS: [&str; 2] = ["kms:Decrypt", "kms:GenerateDataKey"];

async fn run(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let (enc, id) = futures::join!(ctx.facts.bucket_encryption(&t.bucket), ctx.facts.caller_identity());
    let (enc, id) = match (enc, id) {
        (Ok(e), Ok(i)) => (e, i),
        (Err(e), _) | (_, Err(e)) => return Outcome::from_error(&e),
    };
    // Only a customer managed key makes the role's policies matter: which role is the pods' (the checked one, or
    // the association's target role, unreadable in another account) is asked only then.
    let key = customer_key(enc.as_ref(), id.partition(), &t.region, &id.account);
    let role_name = match (&key, ctx.judged_role().await) {
        (None, _) => t.role_name.clone(),
        (Some(_), Ok(name)) => name,
        (Some(_), Err(o)) => return o,
    };
    let outcome = judge(ctx, &role_name, enc.as_ref(), key.as_ref()).await;
    if role_name == t.role_name {
        outcome
    } else {
        outcome.var("role_name", role_name)
    }
}

/// Decides whether `role_name` may use the bucket's KMS key.
async fn judge(ctx: &Ctx, role_name: &str, enc: Option<&BucketEncryption>, key: Option<&Key>) -> Outcome {
    let t = &ctx.target;
    let Some(key) = key else {
        return evaluate(&t.bucket, role_name, enc, None, &[]);
    };
    let Key::Arn(key_arn) = key else {
        return evaluate(&t.bucket, role_name, enc, Some(key), &[]);
    };
    let role = match ctx.facts.role(role_name).await {
        Ok(r) => r,
        Err(e) => return Outcome::from_error(&e),
    };
    match super::iam_s3_permissions::role_policies(ctx, role_name, role.boundary_arn.as_deref()).await {
        Ok((policies, _, boundary)) => {
            let decisions: Vec<(&str, Decision)> = KMS_ACTIONS
                .iter()
                .map(|a| {
                    (
                        *a,
                        policy::evaluate_with_boundary(&policies, boundary.as_ref().map(|(_, p)| p), a, key_arn),
                    )
                })
                .collect();
            evaluate(&t.bucket, role_name, enc, Some(key), &decisions)
        }
        Err(e) => Outcome::from_error(&e),
    }
}

/// The customer managed key a bucket's default encryption names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A key ARN (a bare key id is written as its ARN in the bucket's region and account).
    Arn(String),
    /// An alias, which only kms:DescribeKey would resolve.
    Alias(String),
}

/// `None` when no customer key is involved: no default encryption, SSE-S3, or the AWS managed `aws/s3` key
/// (usable by any principal of the account that may use S3).
pub fn customer_key(enc: Option<&BucketEncryption>, partition: &str, region: &str, account: &str) -> Option<Key> {
    let enc = enc?;
    if !enc.algorithm.starts_with("aws:kms") {
        return None;
    }
    let key = enc.kms_key.as_deref()?;
    if key == "alias/aws/s3" || key.ends_with(":alias/aws/s3") {
        return None;
    }
    Some(if key.starts_with("alias/") || key.contains(":alias/") {
        Key::Alias(key.to_string())
    } else if key.starts_with("arn:") {
        Key::Arn(key.to_string())
    } else {
        Key::Arn(format!("arn:{partition}:kms:{region}:{account}:key/{key}"))
    })
}

/// Decides over the encryption and, for a customer key, the role's policies on it.
pub fn evaluate(
    bucket: &str,
    role: &str,
    enc: Option<&BucketEncryption>,
    key: Option<&Key>,
    decisions: &[(&str, Decision)],
) -> Outcome {
    let evidence = json!({ "encryption": enc, "decisions": decisions.iter().map(|(a, d)| json!({"action": a, "decision": d})).collect::<Vec<_>>() });
    let what = match enc {
        None => "no default encryption".to_string(),
        Some(e) if e.algorithm == "AES256" => "SSE-S3".to_string(),
        Some(_) => "SSE-KMS with the AWS managed key aws/s3".to_string(),
    };
    let Some(key) = key else {
        return Outcome::pass(format!(
            "bucket {bucket} uses {what}: the role needs no KMS permissions"
        ))
        .evidence(evidence);
    };
    let key_arn = match key {
        Key::Alias(alias) => {
            return Outcome::warn(
                Code::KmsKeyMaybeUnusable,
                format!(
                    "bucket {bucket} is encrypted with the KMS key behind {alias}, which the doctor does not resolve: {role} needs kms:Decrypt and kms:GenerateDataKey on that key"
                ),
            )
            .var("found", alias.clone())
            .evidence(evidence);
        }
        Key::Arn(arn) => arn,
    };
    if let Some((action, _)) = decisions.iter().find(|(_, d)| *d == Decision::ExplicitDeny) {
        return Outcome::fail(
            Code::KmsKeyDenied,
            format!(
                "{role}'s policies deny {action} on {key_arn}, the KMS key of bucket {bucket}: reads and writes fail"
            ),
        )
        .var("found", key_arn.clone())
        .evidence(evidence);
    }
    let missing: Vec<&str> = decisions
        .iter()
        .filter(|(_, d)| *d != Decision::Allowed)
        .map(|(a, _)| *a)
        .collect();
    if missing.is_empty() {
        return Outcome::pass(format!(
            "bucket {bucket} uses SSE-KMS with {key_arn}, and {role}'s policies allow kms:Decrypt and kms:GenerateDataKey on it"
        ))
        .evidence(evidence);
    }
    // The key policy may grant the role directly; the doctor does not read it (kms:GetKeyPolicy).
    Outcome::warn(
        Code::KmsKeyMaybeUnusable,
        format!(
            "bucket {bucket} uses SSE-KMS with {key_arn}, and {role}'s policies do not allow {} on it: unless the key policy grants the role directly, reads and writes fail with AccessDenied",
            missing.join(" and ")
        ),
    )
    .var("found", key_arn.clone())
    .evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_need_permissions() {
        let enc = |alg: &str, key: Option<&str>| BucketEncryption {
            algorithm: alg.into(),
            kms_key: key.map(str::to_string),
        };
        let ck = |e: &BucketEncryption| customer_key(Some(e), "aws", "us-west-2", "111122223333");
        assert_eq!(ck(&enc("AES256", None)), None);
        assert_eq!(ck(&enc("aws:kms", None)), None);
        assert_eq!(ck(&enc("aws:kms", Some("alias/aws/s3"))), None);
        assert_eq!(
            ck(&enc("aws:kms", Some("1234abcd-12ab-34cd-56ef-1234567890ab"))),
            Some(Key::Arn(
                "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab".into()
            ))
        );
        assert_eq!(
            ck(&enc("aws:kms:dsse", Some("alias/data"))),
            Some(Key::Alias("alias/data".into()))
        );
        assert_eq!(
            ck(&enc("aws:kms", Some("arn:aws:kms:eu-west-1:1:key/k"))),
            Some(Key::Arn("arn:aws:kms:eu-west-1:1:key/k".into()))
        );
    }
}
