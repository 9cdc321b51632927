//! `s3.bucket-policy`: the bucket's own policy does not deny the role what SkyPilot's mounts need.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::lookup::PodsRole;
use crate::policy::{self, Decision, Known, Policy, Request};
use crate::probe::{ErrorKind, ProbeError};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "s3.bucket-policy",
    deps: &["s3.bucket", "iam.role"],
    warm: None,
    run: |ctx: Arc<Ctx>| async move { run(&ctx).await }.boxed(),
};

async fn run(ctx: &Ctx) -> Outcome {
    match pods_role(ctx).await {
        Ok((arn, account)) => decide(ctx, &arn, &account).await.var("role_arn", arn),
        Err(e) => Outcome::from_error(&e),
    }
}

/// The ARN and account of the role the pods get: the checked role's (GetRole's ARN, with its path), or the
/// association's target role's, which the bucket policy judges by its ARN alone (no IAM read, any account).
async fn pods_role(ctx: &Ctx) -> Result<(String, String), ProbeError> {
    match ctx.pods_role().await? {
        PodsRole::Target { arn, account, .. } => Ok((arn, account)),
        PodsRole::Own => {
            let (role, id) = futures::join!(ctx.facts.role(&ctx.target.role_name), ctx.facts.caller_identity());
            Ok((role?.arn, id?.account))
        }
    }
}

/// Decides over the bucket policy for the sessions of `role_arn`, a role of `account`.
async fn decide(ctx: &Ctx, role_arn: &str, account: &str) -> Outcome {
    let t = &ctx.target;
    let policy = ctx.facts.bucket_policy(&t.bucket).await;
    // A bucket of another account: its policy must grant the role, not only not deny it (the role's own
    // policies are not enough across accounts).
    let cross_account = match ctx.facts.bucket_owned_by(&t.bucket, account).await {
        Ok(owned) => !owned,
        Err(e) => return Outcome::from_error(&e),
    };
    match policy {
        Ok(None) if cross_account => Outcome::fail(
            Code::BucketOtherAccountNoGrant,
            format!(
                "bucket {} belongs to another account than {} and has no bucket policy: nothing grants {} access to it",
                t.bucket, account, role_arn
            ),
        )
        .var(
            "found",
            "s3:ListBucket, s3:GetBucketLocation, s3:GetObject, s3:PutObject, s3:DeleteObject",
        ),
        Ok(None) => Outcome::pass(format!("bucket {} has no bucket policy", t.bucket)),
        Ok(Some(text)) => match policy::parse_document(&text) {
            Ok(doc) if cross_account => evaluate_cross_account(&t.bucket, role_arn, account, &doc),
            Ok(doc) => evaluate(&t.bucket, role_arn, account, &doc),
            Err(e) => Outcome::inconclusive(
                Code::ApiError,
                format!("the policy of bucket {} does not parse: {e}", t.bucket),
            ),
        },
        // The in-pod list settles it: a note, not a verdict.
        Err(e) if e.kind == ErrorKind::AccessDenied => Outcome::inconclusive(
            Code::BucketPolicyUnreadable,
            format!(
                "the doctor's identity may not read the policy of bucket {} (s3:GetBucketPolicy); pod.s3-list still settles whether the role can list it",
                t.bucket
            ),
        ),
        Err(e) => Outcome::from_error(&e),
    }
}

/// The five S3 calls SkyPilot's mounts make, each with a resource of the bucket. The partition comes from the
/// role's ARN: a bucket policy in `aws-cn` or `aws-us-gov` names `arn:aws-cn:s3:::...`, which an `arn:aws:`
/// resource would never match (and no Deny would be found).
fn actions(bucket: &str, role_arn: &str) -> [(&'static str, String); 5] {
    let partition = role_arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws");
    let object = format!("arn:{partition}:s3:::{bucket}/skypilot-object");
    let b = format!("arn:{partition}:s3:::{bucket}");
    [
        ("s3:ListBucket", b.clone()),
        ("s3:GetBucketLocation", b),
        ("s3:GetObject", object.clone()),
        ("s3:PutObject", object.clone()),
        ("s3:DeleteObject", object),
    ]
}

/// Decides over the bucket policy for the role's sessions: an explicit Deny of any of the five actions fails
/// naming its Sid; a Deny that may apply under conditions the doctor cannot evaluate warns. Allows are the identity
/// policy's business (iam.s3-permissions) within the account.
pub fn evaluate(bucket: &str, role_arn: &str, account: &str, doc: &Policy) -> Outcome {
    let doc = policy::principals_as_role(doc, role_arn, account);
    // The question is only whether a Deny applies: an Allow of everything stands for the role's own policies, so
    // that `decide` answers Allowed, ExplicitDeny or ConditionallyDenied (and never "nothing allows it").
    let assume_allowed = Policy::from_value(&json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}));
    // What the request of a role session over HTTPS (every AWS SDK, rclone) carries.
    let keys: BTreeMap<String, String> = [
        ("aws:PrincipalArn", role_arn.to_string()),
        ("aws:PrincipalAccount", account.to_string()),
        ("aws:PrincipalType", "AssumedRole".to_string()),
        ("aws:SecureTransport", "true".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let label = |i: usize| {
        doc.statements
            .get(i)
            .map(|st| {
                st.sid
                    .clone()
                    .map(|s| format!("Sid {s}"))
                    .unwrap_or_else(|| format!("statement #{}", i + 1))
            })
            .unwrap_or_default()
    };
    let mut maybe = Vec::new();
    for (action, resource) in actions(bucket, role_arn) {
        let v = policy::decide(
            &[doc.clone(), assume_allowed.clone()],
            &Request {
                principal: Some(("AWS", role_arn)),
                action,
                resource: Some(&resource),
                known: Known::Keys(&keys),
            },
        );
        match v.decision {
            Decision::ExplicitDeny => {
                let found = v.statements.first().map(|&i| label(i)).unwrap_or_default();
                return Outcome::fail(
                    Code::BucketPolicyDenies,
                    format!("the policy of bucket {bucket} denies {action} to {role_arn} in {found}"),
                )
                .var("found", found)
                .evidence(json!({ "bucket_policy": doc, "action": action }));
            }
            Decision::ConditionallyDenied => {
                maybe.push((action, v.statements.first().map(|&i| label(i)).unwrap_or_default()));
            }
            _ => {}
        }
    }
    if let Some((action, found)) = maybe.first() {
        return Outcome::warn(
            Code::BucketPolicyMayDeny,
            format!(
                "the policy of bucket {bucket} may deny {action} to {role_arn} in {found}, under conditions the doctor cannot evaluate"
            ),
        )
        .var("found", found.clone())
        .evidence(json!({ "bucket_policy": doc }));
    }
    Outcome::pass(format!(
        "the policy of bucket {bucket} denies {role_arn} none of the five calls SkyPilot's mounts make"
    ))
    .evidence(json!({ "bucket_policy": doc }))
}

/// A bucket of another account: the policy must Allow the role each call (and not Deny it).
pub fn evaluate_cross_account(bucket: &str, role_arn: &str, account: &str, doc: &Policy) -> Outcome {
    let denied = evaluate(bucket, role_arn, account, doc);
    if denied.status == crate::report::Status::Fail {
        return denied;
    }
    let keys: BTreeMap<String, String> = [
        ("aws:PrincipalArn", role_arn),
        ("aws:PrincipalAccount", account),
        ("aws:SecureTransport", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // Across accounts an account principal does not stand for the role: only the owner's own IAM is delegated.
    let decided: Vec<(&str, Decision)> = actions(bucket, role_arn)
        .iter()
        .map(|(action, resource)| {
            let d = policy::decide(
                std::slice::from_ref(doc),
                &Request {
                    principal: Some(("AWS", role_arn)),
                    action,
                    resource: Some(resource),
                    known: Known::Keys(&keys),
                },
            )
            .decision;
            (*action, d)
        })
        .collect();
    let with = |want: Decision| -> Vec<&str> { decided.iter().filter(|(_, d)| *d == want).map(|(a, _)| *a).collect() };
    let (missing, conditional) = (with(Decision::ImplicitDeny), with(Decision::ConditionallyAllowed));
    if missing.is_empty() && !conditional.is_empty() {
        // A grant under conditions the doctor cannot evaluate (a source VPC, an IP range, a tag) is not a grant
        // it can vouch for: the pod's request may well not meet them.
        return Outcome::warn(
            Code::BucketOtherAccountConditionalGrant,
            format!(
                "bucket {bucket} belongs to another account, and its policy grants {role_arn} {} only under \
                 conditions the doctor cannot evaluate",
                conditional.join(", ")
            ),
        )
        .var("found", conditional.join(", "))
        .evidence(json!({ "bucket_policy": doc, "cross_account": true }));
    }
    if missing.is_empty() {
        return Outcome::pass(format!(
            "bucket {bucket} belongs to another account, and its policy grants {role_arn} the mount calls"
        ))
        .evidence(json!({ "bucket_policy": doc, "cross_account": true }));
    }
    Outcome::fail(
        Code::BucketOtherAccountNoGrant,
        format!(
            "bucket {bucket} belongs to another account than {account}, and its policy does not grant {role_arn} {}",
            missing.join(", ")
        ),
    )
    .var("found", missing.join(", "))
    .evidence(json!({ "bucket_policy": doc, "cross_account": true }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Status;

    const ROLE: &str = "arn:aws:iam::111122223333:role/sky";

    fn eval(v: serde_json::Value) -> Outcome {
        evaluate("b", ROLE, "111122223333", &Policy::from_value(&v))
    }

    #[test]
    fn another_accounts_conditional_grant_is_a_warning_not_a_pass() {
        let doc = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ROLE},
            "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
            "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}]});
        let o = evaluate_cross_account("b", ROLE, "111122223333", &Policy::from_value(&doc));
        assert_eq!(
            (o.status, o.code),
            (Status::Warn, Some(Code::BucketOtherAccountConditionalGrant)),
            "{}",
            o.message
        );
    }

    #[test]
    fn another_accounts_bucket_must_grant_the_role() {
        let grant = |principal: serde_json::Value| {
            json!({"Statement": [{"Effect": "Allow", "Principal": principal,
                "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]}]})
        };
        let x = |v: serde_json::Value| evaluate_cross_account("b", ROLE, "111122223333", &Policy::from_value(&v));
        assert_eq!(x(grant(json!({"AWS": ROLE}))).status, Status::Pass);
        assert_eq!(
            x(grant(json!({"AWS": "arn:aws:iam::999999999999:role/other"}))).code,
            Some(Code::BucketOtherAccountNoGrant)
        );
        let only_read = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]});
        let o = x(only_read);
        assert_eq!(o.code, Some(Code::BucketOtherAccountNoGrant));
        assert!(o.message.contains("s3:PutObject"), "{}", o.message);
    }

    #[test]
    fn a_deny_in_another_partition_is_found() {
        let doc = Policy::from_value(
            &json!({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": ["arn:aws-cn:s3:::b", "arn:aws-cn:s3:::b/*"]}]}),
        );
        let o = evaluate("b", "arn:aws-cn:iam::111122223333:role/skypilot", "111122223333", &doc);
        assert_eq!(o.code, Some(Code::BucketPolicyDenies), "{}", o.message);
    }

    #[test]
    fn deny_statements_as_s3_applies_them() {
        let deny = |principal: serde_json::Value, cond: serde_json::Value| {
            json!({"Statement": [{"Sid": "Lock", "Effect": "Deny", "Principal": principal, "Action": "s3:*",
                "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], "Condition": cond}]})
        };
        // A lockdown that excepts only another role.
        let o = eval(deny(
            json!("*"),
            json!({"StringNotLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/admin"}}),
        ));
        assert_eq!(o.code, Some(Code::BucketPolicyDenies), "{}", o.message);
        assert!(o.message.contains("Sid Lock"), "{}", o.message);
        // The same lockdown excepting this role.
        assert_eq!(
            eval(deny(
                json!("*"),
                json!({"StringNotLike": {"aws:PrincipalArn": ["arn:aws:iam::111122223333:role/sk*"]}})
            ))
            .status,
            Status::Pass
        );
        // TLS only: the SDKs use HTTPS.
        assert_eq!(
            eval(deny(json!("*"), json!({"Bool": {"aws:SecureTransport": "false"}}))).status,
            Status::Pass
        );
        // The account as principal covers the role.
        assert_eq!(
            eval(deny(json!({"AWS": "111122223333"}), json!({}))).code,
            Some(Code::BucketPolicyDenies)
        );
        // NotPrincipal naming the role's sessions exempts it.
        let not = json!({"Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:sts::111122223333:assumed-role/sky/x"]},
            "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]});
        assert_eq!(eval(not).status, Status::Pass);
        // Conditions the doctor cannot know: a warning.
        assert_eq!(
            eval(deny(
                json!("*"),
                json!({"StringNotEquals": {"aws:SourceVpce": "vpce-1"}})
            ))
            .code,
            Some(Code::BucketPolicyMayDeny)
        );
        // Another bucket's statement does not apply.
        let other = json!({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::other/*"}]});
        assert_eq!(eval(other).status, Status::Pass);
    }

    fn rank(o: &Outcome) -> u8 {
        match o.status {
            Status::Pass => 0,
            Status::Warn => 1,
            _ => 2,
        }
    }

    proptest::proptest! {
        /// Adding a Deny statement to a bucket policy never makes the verdict better.
        #[test]
        fn adding_a_deny_never_allows_more(
            stmts in proptest::collection::vec((0usize..3, 0usize..4, 0usize..3, 0usize..4), 0..4),
            extra in (0usize..4, 0usize..3, 0usize..4),
        ) {
            let principals = [json!("*"), json!({"AWS": "111122223333"}), json!({"AWS": ROLE})];
            let actions = [json!("s3:*"), json!("s3:GetObject"), json!("s3:List*"), json!(["s3:PutObject", "s3:DeleteObject"])];
            let resources = [json!("arn:aws:s3:::b/*"), json!("arn:aws:s3:::b"), json!("*")];
            let conds = [
                json!({}),
                json!({"StringNotLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/admin"}}),
                json!({"Bool": {"aws:SecureTransport": "false"}}),
                json!({"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}),
            ];
            let stmt = |effect: &str, p: usize, a: usize, r: usize, c: usize| json!({"Effect": effect,
                "Principal": principals[p % 3].clone(), "Action": actions[a].clone(), "Resource": resources[r].clone(),
                "Condition": conds[c].clone()});
            let base: Vec<serde_json::Value> = stmts.iter()
                .map(|&(p, a, r, c)| stmt(if (p + a) % 2 == 0 { "Allow" } else { "Deny" }, p, a, r, c))
                .collect();
            let mut more = base.clone();
            more.push(stmt("Deny", extra.0 % 3, extra.0, extra.1, extra.2));
            let before = eval(json!({"Statement": base}));
            let after = eval(json!({"Statement": more}));
            proptest::prop_assert!(rank(&after) >= rank(&before), "{} -> {}", before.message, after.message);
        }
    }
}
