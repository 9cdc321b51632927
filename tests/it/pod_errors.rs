//! The in-pod check's reading of AWS's errors, one test per code, through the binary: the real awscli and boto3
//! in the fake pod meet an S3, STS or Pod Identity agent that answers as AWS's do (`lab::pod_side`), and their own
//! wrapping of the answer is what the doctor reads. The texts are the documented or observed ones cited in
//! `tests/fixtures/error_texts.toml`.

use crate::doctor_checks::{assert_only, check, run};
use crate::lab::{AgentMode, RealPod, Scenario};

const ROLE_SESSION: &str = "arn:aws:sts::123456789012:assumed-role/skypilot-s3-role/eks-lab";

/// A healthy Pod Identity setup whose pod runs the real awscli v1 (driven as botocore) with `r`.
fn real(r: RealPod) -> Scenario {
    Scenario::healthy_pod_identity().with(|s| {
        let p = &mut s.pods[0];
        p.aws.real = Some(r);
        p.aws.cli = true;
    })
}

/// S3 answers the pod's list with AccessDenied in `message`.
fn s3_denies(message: &str) -> RealPod {
    RealPod {
        s3_error: Some((403, "AccessDenied".into(), message.into())),
        ..RealPod::default()
    }
}

fn denied_by(words: &str) -> String {
    format!(
        "User: {ROLE_SESSION} is not authorized to perform: s3:ListBucket on resource: \"arn:aws:s3:::lab-bucket\" {words}"
    )
}

fn pod_check(r: RealPod, code: &str) -> serde_json::Value {
    let (_, doc, _lab) = run(real(r));
    assert_only(&doc, "pod.s3-list", "fail", code);
    check(&doc, "pod.s3-list").clone()
}

fn message(c: &serde_json::Value) -> &str {
    c["message"].as_str().unwrap()
}

#[test]
fn sky371_an_scp_is_blamed_beside_the_roles_own_policies() {
    let scp = "arn:aws:organizations::999988887777:policy/o-exampleorg/service_control_policy/p-examplescp";
    let c = pod_check(
        s3_denies(&denied_by(&format!(
            "with an explicit deny in a service control policy: {scp}"
        ))),
        "SKY371",
    );
    // The report says both: IAM's own reading allows the list, and the SCP decides.
    assert!(message(&c).contains("iam.s3-permissions passed"), "{c:#}");
    let summary = c["remediation"]["summary"].as_str().unwrap();
    assert!(
        summary.contains(scp) && summary.contains("Organizations administrators"),
        "{summary}"
    );
    assert!(
        summary.contains("s3:ListBucket") && summary.contains("arn:aws:s3:::lab-bucket"),
        "{summary}"
    );
}

#[test]
fn sky372_a_resource_control_policy() {
    pod_check(
        s3_denies(&denied_by("with an explicit deny in a resource control policy")),
        "SKY372",
    );
}

#[test]
fn sky373_a_vpc_endpoint_policy() {
    pod_check(
        s3_denies(&format!(
            "User: {ROLE_SESSION} is not authorized to perform: s3:ListBucket because no VPC endpoint policy allows the s3:ListBucket action"
        )),
        "SKY373",
    );
}

#[test]
fn sky374_the_session_policy() {
    pod_check(
        s3_denies(&format!(
            "User: {ROLE_SESSION} is not authorized to perform: s3:ListBucket because no session policy allows the s3:ListBucket action"
        )),
        "SKY374",
    );
}

#[test]
fn sky375_the_permissions_boundary() {
    pod_check(
        s3_denies(&denied_by(
            "because no permissions boundary allows the s3:ListBucket action",
        )),
        "SKY375",
    );
}

#[test]
fn sky376_the_bucket_policy() {
    pod_check(
        s3_denies(&denied_by("with an explicit deny in a resource-based policy")),
        "SKY376",
    );
}

#[test]
fn sky377_the_roles_own_policies_disagree_with_iams_reading() {
    let c = pod_check(
        s3_denies(&denied_by(
            "because no identity-based policy allows the s3:ListBucket action",
        )),
        "SKY377",
    );
    // The lab's role does allow the list: the two readings disagree, and the message says how that can be.
    assert!(message(&c).contains("changed since"), "{c:#}");
}

#[test]
fn sky378_the_agent_answered_an_error_not_silence() {
    let c = pod_check(
        RealPod {
            agent: AgentMode::EksAuthUnreachable,
            ..RealPod::default()
        },
        "SKY378",
    );
    assert!(message(&c).contains("non 200 response 500"), "{c:#}");
}

#[test]
fn sky379_something_else_answered_at_the_agents_address() {
    pod_check(
        RealPod {
            agent: AgentMode::Garbage,
            ..RealPod::default()
        },
        "SKY379",
    );
}

#[test]
fn sky380_a_signature_mismatch_with_credentials_aws_issued() {
    // S3 rejects the signature while STS accepted the same credentials: not the keys.
    let c = pod_check(
        RealPod {
            s3_error: Some((
                403,
                "SignatureDoesNotMatch".into(),
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.".into(),
            )),
            ..RealPod::default()
        },
        "SKY380",
    );
    assert!(message(&c).contains("STS accepted the same credentials"), "{c:#}");
    // Every call fails, but the credentials came from the Pod Identity agent: still not a wrong secret.
    let c = pod_check(
        RealPod {
            sts_signature_mismatch: true,
            ..RealPod::default()
        },
        "SKY380",
    );
    assert!(message(&c).contains("container-role"), "{c:#}");
}

#[test]
fn sky364_static_keys_whose_signature_never_matches() {
    // The pod's own static keys (in its environment): STS rejects their signature, so the secret is wrong.
    let s = real(RealPod {
        sts_signature_mismatch: true,
        ..RealPod::default()
    })
    .with(|s| {
        let p = &mut s.pods[0];
        p.env.insert("AWS_ACCESS_KEY_ID".into(), "AKIALABSTATIC".into());
        p.env.insert("AWS_SECRET_ACCESS_KEY".into(), "lab-wrong-secret".into());
    });
    let (_, doc, _lab) = run(s);
    assert_only(&doc, "pod.s3-list", "fail", "SKY364");
    assert!(!doc.to_string().contains("lab-wrong-secret"), "no secret in the report");
}

#[test]
fn sky381_tag_session_refused_to_an_iam_user_is_not_pod_identitys_trust() {
    let text = "\nAn error occurred (AccessDenied) when calling the AssumeRole operation: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:TagSession on resource: arn:aws:iam::123456789012:role/skypilot-s3-role\n";
    let s = Scenario::healthy_pod_identity().with(|s| s.pods[0].aws.identity = Err((text.into(), 254)));
    let (_, doc, _lab) = run(s);
    assert_only(&doc, "pod.s3-list", "fail", "SKY381");
}

#[test]
fn sky382_an_incorrect_token_audience() {
    let text = "\nAn error occurred (InvalidIdentityToken) when calling the AssumeRoleWithWebIdentity operation: Incorrect token audience\n";
    let s = Scenario::healthy_irsa().with(|s| s.pods[0].aws.identity = Err((text.into(), 254)));
    let (_, doc, _lab) = run(s);
    assert_only(&doc, "pod.s3-list", "fail", "SKY382");
}
