//! The AWS-side checks of both wiring modes against the lab: one scenario per failure code.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::doctor_checks::{IRSA_ONLY, POD_IDENTITY_ONLY, assert_healthy, assert_only, check, fix, run};
use crate::lab::{ACCOUNT, AddonSpec, FaultKind, PolicySpec, Scenario, irsa_trust};

const PROVIDER: &str = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

fn provider_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{PROVIDER}")
}

fn with_trust(mut s: Scenario, trust: Value) -> Scenario {
    s.role.as_mut().unwrap().trust_policy = trust.to_string();
    s
}

fn irsa_trust_with(condition: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn()},
        "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition}]})
}

fn sub() -> String {
    format!("{PROVIDER}:sub")
}
fn aud() -> String {
    format!("{PROVIDER}:aud")
}

#[test]
fn healthy_modes_agree_with_the_simulator_when_it_answers() {
    let all_allowed: BTreeMap<String, String> = [
        "s3:ListBucket",
        "s3:GetBucketLocation",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
    ]
    .into_iter()
    .map(|a| (a.to_string(), "allowed".to_string()))
    .collect();
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.simulator = Some(all_allowed.clone())));
    assert_healthy(&doc, IRSA_ONLY);
    assert!(
        check(&doc, "iam.s3-permissions")["message"]
            .as_str()
            .unwrap()
            .contains("simulator agrees")
    );
    assert_eq!(code, 0);
    let (code, doc, _lab) = run(Scenario::healthy_irsa().with(|s| s.simulator = Some(all_allowed)));
    assert_healthy(&doc, POD_IDENTITY_ONLY);
    assert_eq!(code, 0);
}

#[test]
fn simulator_unavailable_leaves_the_static_verdict_and_says_so() {
    // moto has no simulator (HTTP 500): the static verdict stands.
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity());
    let c = check(&doc, "iam.s3-permissions");
    assert_eq!(c["status"], "pass");
    assert!(c["evidence"]["simulator"]["unavailable"].is_string(), "{c:#}");
    assert_eq!(code, 0);
}

#[test]
fn forced_mode_is_reported_and_skips_the_other_mode() {
    let (_, doc, _lab) = run(Scenario::healthy_pod_identity());
    assert_eq!(doc["target"]["mode"], "pod-identity");
    let lab = crate::lab::Lab::start(Scenario::healthy_irsa());
    let (_, doc) = lab.doctor_json(&["--mode", "irsa"]);
    assert_eq!(doc["target"]["mode"], "irsa");
    assert_eq!(doc["target"]["sources"]["mode"], "flag --mode");
    assert_healthy(&doc, POD_IDENTITY_ONLY);
}

#[test]
fn sky151_both_association_and_annotation() {
    let s = Scenario::healthy_pod_identity().with(|s| {
        let arn = s.role_arn();
        s.service_accounts[0]
            .annotations
            .insert("eks.amazonaws.com/role-arn".into(), arn);
    });
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "mode", "warn", "SKY151");
    assert_eq!(doc["target"]["mode"], "pod-identity");
    assert!(fix(&doc, "mode")[0].contains("eks.amazonaws.com/role-arn-"));
    assert_eq!(code, 0);
}

#[test]
fn sky152_neither_wired() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.associations.clear()));
    assert_only(&doc, "mode", "fail", "SKY152");
    let cmds = fix(&doc, "mode");
    assert!(
        cmds[1].contains("--role-arn arn:aws:iam::123456789012:role/SkyPilotS3Role-lab-bucket"),
        "{cmds:?}"
    );
    assert_eq!(code, 1);
}

#[test]
fn pod_identity_addon_not_needed_on_auto_mode() {
    let s = Scenario::healthy_pod_identity().with(|s| {
        s.addons.clear();
        s.agent_daemonset = None;
        s.eks.as_mut().unwrap().auto_mode = true;
    });
    let (code, doc, _lab) = run(s);
    assert_healthy(&doc, IRSA_ONLY);
    assert!(
        check(&doc, "pod-identity.addon")["message"]
            .as_str()
            .unwrap()
            .contains("Auto Mode")
    );
    assert_eq!(code, 0);
}

#[test]
fn sky201_agent_addon_missing() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.addons.retain(|a| a.name == "vpc-cni")));
    assert_only(&doc, "pod-identity.addon", "fail", "SKY201");
    assert_eq!(
        fix(&doc, "pod-identity.addon"),
        ["aws eks create-addon --cluster-name lab-cluster --addon-name eks-pod-identity-agent --region us-west-2"]
    );
    assert_eq!(code, 1);
}

#[test]
fn sky202_agent_addon_degraded() {
    let s = Scenario::healthy_pod_identity().with(|s| {
        s.addons = vec![AddonSpec {
            name: "eks-pod-identity-agent".into(),
            status: "DEGRADED".into(),
        }];
    });
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "pod-identity.addon", "fail", "SKY202");
    assert!(
        check(&doc, "pod-identity.addon")["message"]
            .as_str()
            .unwrap()
            .contains("DEGRADED")
    );
    assert_eq!(code, 1);
}

#[test]
fn sky203_agent_pods_not_ready() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.agent_daemonset = Some((3, 1))));
    assert_only(&doc, "pod-identity.addon", "fail", "SKY203");
    assert!(
        check(&doc, "pod-identity.addon")["message"]
            .as_str()
            .unwrap()
            .contains("1/3")
    );
    assert_eq!(code, 1);
}

#[test]
fn sky211_no_association_with_forced_mode() {
    let lab = crate::lab::Lab::start(Scenario::healthy_pod_identity().with(|s| s.associations.clear()));
    let (code, doc) = lab.doctor_json(&["--mode", "pod-identity"]);
    assert_only(&doc, "pod-identity.association", "fail", "SKY211");
    assert_eq!(
        fix(&doc, "pod-identity.association"),
        [
            "aws eks create-pod-identity-association --cluster-name lab-cluster --namespace default --service-account skypilot-service-account --role-arn arn:aws:iam::123456789012:role/SkyPilotS3Role-lab-bucket --region us-west-2"
        ]
    );
    assert_eq!(code, 1);
}

#[test]
fn sky212_association_for_another_namespace() {
    let (code, doc, _lab) =
        run(Scenario::healthy_pod_identity().with(|s| s.associations[0].namespace = "team-a".into()));
    assert_only(&doc, "pod-identity.association", "fail", "SKY212");
    assert!(
        check(&doc, "pod-identity.association")["message"]
            .as_str()
            .unwrap()
            .contains("team-a/skypilot-service-account")
    );
    assert_eq!(doc["target"]["mode"], "pod-identity");
    assert_eq!(code, 1);
}

#[test]
fn sky213_association_to_another_role() {
    let other = format!("arn:aws:iam::{ACCOUNT}:role/SomeOtherRole");
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.associations[0].role_arn = other.clone()));
    assert_only(&doc, "pod-identity.association", "fail", "SKY213");
    let c = check(&doc, "pod-identity.association");
    assert!(c["message"].as_str().unwrap().contains(&other));
    assert!(fix(&doc, "pod-identity.association")[0].contains("--association-id a-00000000000000000"));
    assert_eq!(code, 1);
}

#[test]
fn sky221_oidc_provider_not_registered() {
    let (code, doc, _lab) = run(Scenario::healthy_irsa().with(|s| s.oidc_provider = None));
    assert_only(&doc, "irsa.oidc-provider", "fail", "SKY221");
    let cmds = fix(&doc, "irsa.oidc-provider");
    assert!(cmds[1].contains(&format!("--url https://{PROVIDER}")), "{cmds:?}");
    assert!(cmds[0].contains("oidc.eks.us-west-2.amazonaws.com:443"), "{cmds:?}");
    assert_eq!(code, 1);
}

#[test]
fn sky222_oidc_provider_without_sts_audience() {
    let (code, doc, _lab) =
        run(Scenario::healthy_irsa().with(|s| s.oidc_provider = Some(vec!["other-audience".into()])));
    assert_only(&doc, "irsa.oidc-provider", "fail", "SKY222");
    assert!(fix(&doc, "irsa.oidc-provider")[0].contains(&provider_arn()));
    assert_eq!(code, 1);
}

#[test]
fn sky223_cluster_without_oidc_issuer() {
    let (code, doc, _lab) = run(Scenario::healthy_irsa().with(|s| {
        s.eks.as_mut().unwrap().oidc_id = String::new();
        s.oidc_provider = None;
    }));
    assert_only(&doc, "irsa.oidc-provider", "fail", "SKY223");
    assert_eq!(
        check(&doc, "iam.trust-policy")["blocked_by"],
        json!(["irsa.oidc-provider"])
    );
    assert_eq!(code, 1);
}

#[test]
fn sky231_role_missing() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.role = None));
    assert_only(&doc, "iam.role", "fail", "SKY231");
    let cmds = fix(&doc, "iam.role");
    assert!(
        cmds[0]
            .starts_with("aws iam create-role --role-name SkyPilotS3Role-lab-bucket --assume-role-policy-document '{"),
        "{cmds:?}"
    );
    assert!(cmds[0].contains("pods.eks.amazonaws.com"), "{cmds:?}");
    assert_eq!(check(&doc, "iam.trust-policy")["blocked_by"], json!(["iam.role"]));
    assert_eq!(code, 1);
}

#[test]
fn sky241_trust_policy_without_pods_principal() {
    let trust = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let (code, doc, _lab) = run(with_trust(Scenario::healthy_pod_identity(), trust));
    assert_only(&doc, "iam.trust-policy", "fail", "SKY241");
    assert!(
        fix(&doc, "iam.trust-policy")[0]
            .starts_with("aws iam update-assume-role-policy --role-name SkyPilotS3Role-lab-bucket")
    );
    assert_eq!(code, 1);
}

#[test]
fn sky242_trust_policy_without_tag_session() {
    let trust = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let (code, doc, _lab) = run(with_trust(Scenario::healthy_pod_identity(), trust));
    assert_only(&doc, "iam.trust-policy", "fail", "SKY242");
    assert_eq!(code, 1);
}

#[test]
fn sky243_irsa_trust_without_federation() {
    let trust = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]});
    let (code, doc, _lab) = run(with_trust(Scenario::healthy_irsa(), trust));
    assert_only(&doc, "iam.trust-policy", "fail", "SKY243");
    assert!(fix(&doc, "iam.trust-policy")[0].contains("AssumeRoleWithWebIdentity"));
    assert_eq!(code, 1);
}

#[test]
fn sky244_irsa_trust_for_another_cluster() {
    let s = Scenario::healthy_irsa();
    let trust = irsa_trust("eu-west-1", "0THERC1USTER", "default", "skypilot-service-account");
    let (code, doc, _lab) = run(s.with(|s| s.role.as_mut().unwrap().trust_policy = trust));
    assert_only(&doc, "iam.trust-policy", "fail", "SKY244");
    assert!(
        check(&doc, "iam.trust-policy")["message"]
            .as_str()
            .unwrap()
            .contains("0THERC1USTER")
    );
    assert_eq!(code, 1);
}

#[test]
fn sky245_irsa_sub_names_another_namespace() {
    let trust = irsa_trust_with(
        json!({"StringEquals": {sub(): "system:serviceaccount:team-a:skypilot-service-account", aud(): "sts.amazonaws.com"}}),
    );
    let (code, doc, _lab) = run(with_trust(Scenario::healthy_irsa(), trust));
    assert_only(&doc, "iam.trust-policy", "fail", "SKY245");
    let msg = check(&doc, "iam.trust-policy")["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("team-a") && msg.contains("system:serviceaccount:default:skypilot-service-account"),
        "{msg}"
    );
    assert_eq!(code, 1);
}

#[test]
fn sky246_irsa_string_equals_with_wildcard() {
    let trust = irsa_trust_with(
        json!({"StringEquals": {sub(): "system:serviceaccount:default:*", aud(): "sts.amazonaws.com"}}),
    );
    let (code, doc, _lab) = run(with_trust(Scenario::healthy_irsa(), trust));
    assert_only(&doc, "iam.trust-policy", "fail", "SKY246");
    assert_eq!(code, 1);
}

#[test]
fn irsa_string_like_wildcard_passes() {
    let trust = irsa_trust_with(json!({
        "StringLike": {sub(): "system:serviceaccount:default:*"},
        "StringEquals": {aud(): "sts.amazonaws.com"}
    }));
    let (code, doc, _lab) = run(with_trust(Scenario::healthy_irsa(), trust));
    assert_healthy(&doc, POD_IDENTITY_ONLY);
    assert_eq!(code, 0);
}

#[test]
fn sky247_irsa_without_aud() {
    let trust =
        irsa_trust_with(json!({"StringEquals": {sub(): "system:serviceaccount:default:skypilot-service-account"}}));
    let (code, doc, _lab) = run(with_trust(Scenario::healthy_irsa(), trust));
    assert_only(&doc, "iam.trust-policy", "warn", "SKY247");
    assert_eq!(code, 0);
}

#[test]
fn sky248_irsa_wrong_aud() {
    let trust = irsa_trust_with(
        json!({"StringEquals": {sub(): "system:serviceaccount:default:skypilot-service-account", aud(): "sigstore"}}),
    );
    let (code, doc, _lab) = run(with_trust(Scenario::healthy_irsa(), trust));
    assert_only(&doc, "iam.trust-policy", "fail", "SKY248");
    assert_eq!(code, 1);
}

#[test]
fn sky249_explicit_deny_in_trust() {
    let trust = json!({"Statement": [
        {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]},
        {"Sid": "NoPods", "Effect": "Deny", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:*"}
    ]});
    let (code, doc, _lab) = run(with_trust(Scenario::healthy_pod_identity(), trust));
    assert_only(&doc, "iam.trust-policy", "fail", "SKY249");
    assert!(
        check(&doc, "iam.trust-policy")["message"]
            .as_str()
            .unwrap()
            .contains("NoPods")
    );
    assert_eq!(code, 1);
}

#[test]
fn sky250_conditions_the_doctor_cannot_evaluate() {
    // aws:SourceArn: which ARN Pod Identity sends is not documented, so it can only warn.
    let trust = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"ArnLike": {"aws:SourceArn": format!("arn:aws:eks:us-west-2:{ACCOUNT}:podidentityassociation/*")}}}]});
    let (code, doc, _lab) = run(with_trust(Scenario::healthy_pod_identity(), trust));
    assert_only(&doc, "iam.trust-policy", "warn", "SKY250");
    assert!(
        check(&doc, "iam.trust-policy")["message"]
            .as_str()
            .unwrap()
            .contains("aws:SourceArn")
    );
    assert_eq!(code, 0);
}

#[test]
fn sky252_a_trust_condition_pins_another_cluster_and_the_guides_pinning_passes() {
    let pinned = |cluster: &str| {
        json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT,
                "aws:RequestTag/eks-cluster-name": cluster,
                "aws:RequestTag/kubernetes-namespace": "default",
                "aws:RequestTag/kubernetes-service-account": "skypilot-service-account"}}}]})
    };
    let (code, doc, _lab) = run(with_trust(Scenario::healthy_pod_identity(), pinned("lab-cluster")));
    assert_healthy(&doc, IRSA_ONLY);
    assert_eq!(code, 0);
    let (code, doc, _lab) = run(with_trust(Scenario::healthy_pod_identity(), pinned("staging")));
    assert_only(&doc, "iam.trust-policy", "fail", "SKY252");
    let msg = check(&doc, "iam.trust-policy")["message"].as_str().unwrap().to_string();
    assert!(msg.contains("staging") && msg.contains("lab-cluster"), "{msg}");
    assert_eq!(code, 1);
    // The right pinning, but the association turns session tags off: no tag condition can hold.
    let no_tags = with_trust(Scenario::healthy_pod_identity(), pinned("lab-cluster"))
        .with(|s| s.associations[0].disable_session_tags = true);
    let (code, doc, _lab) = run(no_tags);
    assert_only(&doc, "iam.trust-policy", "fail", "SKY252");
    let msg = check(&doc, "iam.trust-policy")["message"].as_str().unwrap().to_string();
    assert!(msg.contains("disables session tags"), "{msg}");
    assert_eq!(code, 1);
}

#[test]
fn sky251_irsa_without_sub() {
    let trust = irsa_trust_with(json!({"StringEquals": {aud(): "sts.amazonaws.com"}}));
    let (code, doc, _lab) = run(with_trust(Scenario::healthy_irsa(), trust));
    assert_only(&doc, "iam.trust-policy", "warn", "SKY251");
    assert_eq!(code, 0);
}

#[test]
fn sky261_s3_actions_missing() {
    let s = Scenario::healthy_pod_identity().with(|s| {
        s.policies = vec![PolicySpec {
            name: "ReadOnly".into(),
            document: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": ["arn:aws:s3:::lab-bucket", "arn:aws:s3:::lab-bucket/*"]}]})
            .to_string(),
            attached: true,
        }];
    });
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "iam.s3-permissions", "fail", "SKY261");
    let msg = check(&doc, "iam.s3-permissions")["message"]
        .as_str()
        .unwrap()
        .to_string();
    for needle in [
        "s3:GetBucketLocation on arn:aws:s3:::lab-bucket",
        "s3:PutObject on arn:aws:s3:::lab-bucket/*",
        "s3:DeleteObject",
    ] {
        assert!(msg.contains(needle), "{needle} in {msg}");
    }
    assert!(!msg.contains("s3:GetObject on"), "{msg}");
    // A policy the guide does not name grants part: the fix grants exactly the rest in an inline policy, and no
    // command suggests creating the guide's policy (it would grant again what the role has).
    let cmds = fix(&doc, "iam.s3-permissions");
    assert_eq!(
        cmds,
        [
            "aws iam list-attached-role-policies --role-name SkyPilotS3Role-lab-bucket",
            "aws iam list-role-policies --role-name SkyPilotS3Role-lab-bucket"
        ]
    );
    let steps = &check(&doc, "iam.s3-permissions")["remediation"]["fix"];
    assert_eq!(steps.as_array().map(Vec::len), Some(1), "{steps:#}");
    assert_eq!(
        steps[0]["document"]["document"],
        json!({"kind": "inline-policy", "role": "SkyPilotS3Role-lab-bucket", "policy_name": "skys3-s3-access-lab-bucket"})
    );
    assert_eq!(code, 1);
}

#[test]
fn sky262_policy_not_attached() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.policies[0].attached = false));
    assert_only(&doc, "iam.s3-permissions", "fail", "SKY262");
    assert_eq!(
        fix(&doc, "iam.s3-permissions"),
        [
            "aws iam attach-role-policy --role-name SkyPilotS3Role-lab-bucket --policy-arn arn:aws:iam::123456789012:policy/SkyPilotS3Access-lab-bucket"
        ]
    );
    assert_eq!(code, 1);
}

#[test]
fn sky263_explicit_deny_on_delete() {
    let s = Scenario::healthy_pod_identity().with(|s| {
        s.role.as_mut().unwrap().inline.insert(
            "NoDeletes".into(),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}]}).to_string(),
        );
    });
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "iam.s3-permissions", "fail", "SKY263");
    assert!(
        check(&doc, "iam.s3-permissions")["message"]
            .as_str()
            .unwrap()
            .contains("s3:DeleteObject")
    );
    assert_eq!(code, 1);
}

#[test]
fn sky264_conditional_grant() {
    let s = Scenario::healthy_pod_identity().with(|s| {
        s.policies[0].document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
            "Resource": ["arn:aws:s3:::lab-bucket", "arn:aws:s3:::lab-bucket/*"],
            "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-0123"}}}]})
        .to_string();
    });
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "iam.s3-permissions", "warn", "SKY264");
    assert_eq!(code, 0);
}

#[test]
fn sky265_boundary_blocks() {
    let s = Scenario::healthy_pod_identity().with(|s| {
        s.policies.push(PolicySpec {
            name: "Boundary".into(),
            document: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}]}).to_string(),
            attached: false,
        });
        s.role.as_mut().unwrap().boundary = Some("Boundary".into());
    });
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "iam.s3-permissions", "fail", "SKY265");
    let msg = check(&doc, "iam.s3-permissions")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("s3:PutObject") && msg.contains("s3:DeleteObject") && !msg.contains("s3:GetObject"),
        "{msg}"
    );
    assert_eq!(code, 1);
}

#[test]
fn sky266_simulator_disagrees() {
    let answers: BTreeMap<String, String> = [
        ("s3:ListBucket", "allowed"),
        ("s3:GetBucketLocation", "allowed"),
        ("s3:GetObject", "allowed"),
        ("s3:PutObject", "allowed"),
        ("s3:DeleteObject", "explicitDeny"),
    ]
    .into_iter()
    .map(|(a, d)| (a.to_string(), d.to_string()))
    .collect();
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.simulator = Some(answers)));
    assert_only(&doc, "iam.s3-permissions", "warn", "SKY266");
    assert!(
        check(&doc, "iam.s3-permissions")["message"]
            .as_str()
            .unwrap()
            .contains("s3:DeleteObject on arn:aws:s3:::lab-bucket/*: simulator says explicitDeny")
    );
    assert_eq!(code, 0);
}

#[test]
fn sky281_bucket_missing() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.buckets.clear()));
    assert_only(&doc, "s3.bucket", "fail", "SKY281");
    assert_eq!(code, 1);
}

#[test]
fn sky282_bucket_in_another_region() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.buckets[0].1 = "eu-central-1".into()));
    assert_only(&doc, "s3.bucket", "warn", "SKY282");
    assert!(
        check(&doc, "s3.bucket")["message"]
            .as_str()
            .unwrap()
            .contains("eu-central-1")
    );
    assert_eq!(code, 0);
}

#[test]
fn bucket_access_denied_is_inconclusive_not_a_pass() {
    let s = Scenario::healthy_pod_identity().fault("s3", Some("GetBucketLocation"), FaultKind::AccessDenied);
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "s3.bucket", "inconclusive", "SKY001");
    assert!(
        check(&doc, "s3.bucket")["message"]
            .as_str()
            .unwrap()
            .contains("the role may still be allowed")
    );
    assert_eq!(code, 3);
}

#[test]
fn iam_access_denied_names_the_action() {
    let s = Scenario::healthy_pod_identity().fault("iam", Some("ListAttachedRolePolicies"), FaultKind::AccessDenied);
    let (code, doc, _lab) = run(s);
    // The two checks that read a role's attached policies (the S3 role's, the node group's) are undecided, naming
    // the call; every other verdict stands.
    let undecided = ["iam.s3-permissions", "pod-identity.node-role"];
    for id in undecided {
        let c = check(&doc, id);
        assert_eq!(
            (c["status"].as_str(), c["code"].as_str()),
            (Some("inconclusive"), Some("SKY001")),
            "{c:#}"
        );
        assert!(
            c["message"].as_str().unwrap().contains("iam:ListAttachedRolePolicies"),
            "{c:#}"
        );
    }
    for c in doc["checks"].as_array().unwrap() {
        if !undecided.contains(&c["id"].as_str().unwrap()) {
            assert!(c["status"] == "pass" || c["code"] == "SKY008", "{c:#}");
        }
    }
    assert_eq!(code, 3);
}

#[test]
fn get_role_denied_leaves_role_dependent_checks_undecided() {
    let s = Scenario::healthy_pod_identity().fault("iam", Some("GetRole"), FaultKind::AccessDenied);
    let (code, doc, _lab) = run(s);
    for id in ["iam.role", "pod-identity.association"] {
        assert_eq!(
            (check(&doc, id)["status"].as_str(), check(&doc, id)["code"].as_str()),
            (Some("inconclusive"), Some("SKY001")),
            "{id}"
        );
    }
    for id in ["iam.trust-policy", "iam.s3-permissions"] {
        assert_eq!(check(&doc, id)["blocked_by"], json!(["iam.role"]), "{id}");
    }
    assert_eq!(code, 3);
}

fn with_bucket_policy(policy: Value) -> Scenario {
    Scenario::healthy_pod_identity().with(move |s| s.bucket_policy = Some(policy.to_string()))
}

#[test]
fn s3_bucket_policy_lockdowns_tls_and_none() {
    // A lockdown excepting only an admin role: the role is denied, and the finding names the statement.
    let lockdown = |except: &str| {
        json!({"Version": "2012-10-17", "Statement": [{"Sid": "OnlyAdmins", "Effect": "Deny", "Principal": "*",
            "Action": "s3:*", "Resource": ["arn:aws:s3:::lab-bucket", "arn:aws:s3:::lab-bucket/*"],
            "Condition": {"StringNotLike": {"aws:PrincipalArn": [format!("arn:aws:iam::{ACCOUNT}:role/{except}")]}}}]})
    };
    let (code, doc, _lab) = run(with_bucket_policy(lockdown("admin")));
    assert_only(&doc, "s3.bucket-policy", "fail", "SKY291");
    assert!(
        check(&doc, "s3.bucket-policy")["message"]
            .as_str()
            .unwrap()
            .contains("Sid OnlyAdmins")
    );
    assert_eq!(code, 1);
    // The same lockdown with the role in its exception, and a TLS-only policy: healthy.
    let role = Scenario::healthy_pod_identity().role.unwrap().name;
    let (_, doc, _lab) = run(with_bucket_policy(lockdown(&role)));
    assert_healthy(&doc, IRSA_ONLY);
    let tls = json!({"Version": "2012-10-17", "Statement": [{"Sid": "TLS", "Effect": "Deny", "Principal": "*",
        "Action": "s3:*", "Resource": ["arn:aws:s3:::lab-bucket", "arn:aws:s3:::lab-bucket/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]});
    let (code, doc, lab) = run(with_bucket_policy(tls));
    assert_healthy(&doc, IRSA_ONLY);
    assert_eq!(code, 0);
    assert!(lab.requests().iter().any(|r| r.op == "GetBucketPolicy"));
}

#[test]
fn sky292_a_bucket_policy_deny_on_conditions_the_doctor_cannot_know() {
    let vpce = json!({"Version": "2012-10-17", "Statement": [{"Sid": "VpceOnly", "Effect": "Deny", "Principal": "*",
        "Action": "s3:*", "Resource": ["arn:aws:s3:::lab-bucket", "arn:aws:s3:::lab-bucket/*"],
        "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0123"}}}]});
    let (code, doc, _lab) = run(with_bucket_policy(vpce));
    assert_only(&doc, "s3.bucket-policy", "warn", "SKY292");
    assert_eq!(code, 0);
}

#[test]
fn sky293_the_bucket_policy_cannot_be_read_is_not_a_failure() {
    let (code, doc, _lab) =
        run(Scenario::healthy_pod_identity().fault("s3", Some("GetBucketPolicy"), FaultKind::AccessDenied));
    let c = check(&doc, "s3.bucket-policy");
    assert_eq!(
        (c["status"].as_str(), c["code"].as_str()),
        (Some("inconclusive"), Some("SKY293")),
        "{c:#}"
    );
    assert!(c["message"].as_str().unwrap().contains("pod.s3-list"), "{c:#}");
    assert_eq!(code, 3);
}

const KMS_KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

fn encrypted(key: Option<&str>, kms_policy: Option<Value>) -> Scenario {
    let key = key.map(str::to_string);
    Scenario::healthy_pod_identity().with(move |s| {
        s.bucket_encryption = Some(("aws:kms".into(), key));
        if let Some(doc) = kms_policy {
            s.policies.push(PolicySpec {
                name: "kms-for-the-bucket".into(),
                document: doc.to_string(),
                attached: true,
            });
        }
    })
}

#[test]
fn s3_encryption_sse_s3_managed_and_customer_keys() {
    let key_arn = format!("arn:aws:kms:us-west-2:{ACCOUNT}:key/{KMS_KEY}");
    let kms = |effect: &str| {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": effect,
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key_arn}]})
    };
    // SSE-S3 and the AWS managed key need nothing.
    let (_, doc, _lab) =
        run(Scenario::healthy_pod_identity().with(|s| s.bucket_encryption = Some(("AES256".into(), None))));
    assert_healthy(&doc, IRSA_ONLY);
    let (_, doc, _lab) = run(encrypted(Some("alias/aws/s3"), None));
    assert_healthy(&doc, IRSA_ONLY);
    // A customer key the role's policies allow.
    let (code, doc, lab) = run(encrypted(Some(KMS_KEY), Some(kms("Allow"))));
    assert_healthy(&doc, IRSA_ONLY);
    assert_eq!(code, 0);
    assert!(lab.requests().iter().any(|r| r.op == "GetBucketEncryption"));
    // Not allowed: a warning (the key policy, not read, may grant the role directly).
    let (code, doc, _lab) = run(encrypted(Some(KMS_KEY), None));
    assert_only(&doc, "s3.encryption", "warn", "SKY295");
    assert!(
        check(&doc, "s3.encryption")["message"]
            .as_str()
            .unwrap()
            .contains(&key_arn)
    );
    assert_eq!(code, 0);
    // Denied: a failure naming the key.
    let (code, doc, _lab) = run(encrypted(Some(KMS_KEY), Some(kms("Deny"))));
    assert_only(&doc, "s3.encryption", "fail", "SKY294");
    assert_eq!(code, 1);
}

#[test]
fn sky296_another_accounts_bucket_must_grant_the_role() {
    let role_arn = Scenario::healthy_pod_identity().role_arn();
    let foreign = |policy: Option<Value>| {
        Scenario::healthy_pod_identity().with(move |s| {
            s.bucket_owner = Some("999999999999".into());
            s.bucket_policy = policy.map(|p| p.to_string());
        })
    };
    // No policy: nothing grants the role anything across accounts.
    let (code, doc, _lab) = run(foreign(None));
    assert_only(&doc, "s3.bucket-policy", "fail", "SKY296");
    assert_eq!(code, 1);
    // A policy granting the role the five calls: healthy.
    let grant = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": role_arn},
        "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        "Resource": ["arn:aws:s3:::lab-bucket", "arn:aws:s3:::lab-bucket/*"]}]});
    let (code, doc, _lab) = run(foreign(Some(grant.clone())));
    assert_healthy(&doc, IRSA_ONLY);
    // The same grant under a condition the doctor cannot evaluate: a warning (SKY297), never a pass.
    let mut conditional = grant.clone();
    conditional["Statement"][0]["Condition"] = json!({"StringEquals": {"aws:SourceVpce": "vpce-0123"}});
    let (_, doc2, _lab2) = run(foreign(Some(conditional)));
    assert_only(&doc2, "s3.bucket-policy", "warn", "SKY297");
    assert_eq!(code, 0);
}

const MOUNT_ACTIONS: [&str; 5] = [
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
];

#[test]
fn a_target_role_is_the_pods_identity() {
    // EKS's answer carries targetRoleArn and externalId, which the SDK parses: the target role (the only one with
    // S3 permissions) is judged, and the second hop passes.
    let (code, doc, _lab) = run(Scenario::pod_identity_with_target_role());
    assert_healthy(&doc, IRSA_ONLY);
    assert_eq!(check(&doc, "iam.target-role")["status"], "pass");
    let mode = check(&doc, "mode")["message"].as_str().unwrap().to_string();
    assert!(
        mode.contains("then target role") && mode.contains("SkyPilotS3Target-lab-bucket"),
        "{mode}"
    );
    let assoc = check(&doc, "pod-identity.association");
    assert!(
        assoc["message"].as_str().unwrap().contains("then target role"),
        "{assoc:#}"
    );
    assert_eq!(
        assoc["evidence"]["association"]["external_id"],
        format!("us-west-2/{ACCOUNT}/lab-cluster/default/skypilot-service-account")
    );
    assert_eq!(code, 0);
}

#[test]
fn sky214_a_session_policy_without_the_writes() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| {
        s.associations[0].disable_session_tags = true;
        s.associations[0].policy = Some(crate::lab::session_policy(&MOUNT_ACTIONS[..3], None));
    }));
    assert_only(&doc, "pod-identity.association", "fail", "SKY214");
    let msg = check(&doc, "pod-identity.association")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("s3:PutObject, s3:DeleteObject"), "{msg}");
    assert_eq!(code, 1);
}

#[test]
fn sky215_a_session_policy_under_conditions() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| {
        s.associations[0].disable_session_tags = true;
        s.associations[0].policy = Some(crate::lab::session_policy(
            &MOUNT_ACTIONS,
            Some(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
        ));
    }));
    assert_only(&doc, "pod-identity.association", "warn", "SKY215");
    assert_eq!(code, 0);
}

/// Within one account, a target trust naming the first role's own ARN lets it in without its own Allow (IAM's
/// rule for role trust policies): a warning, never SKY271's failure, which would refuse a working launch.
#[test]
fn sky276_a_trust_naming_the_first_role_is_not_a_failure() {
    let (code, doc, _lab) = run(Scenario::pod_identity_with_target_role().with(|s| {
        s.role.as_mut().unwrap().inline.remove("assume-target");
        let first = s.role_arn();
        s.target_role_mut().trust_policy = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": first}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]})
        .to_string();
    }));
    assert_only(&doc, "iam.target-role", "warn", "SKY276");
    assert_eq!(code, 0);
    // Naming the account instead defers to the first role's own policies: still SKY271.
    let (_, doc, _lab) = run(Scenario::pod_identity_with_target_role().with(|s| {
        s.role.as_mut().unwrap().inline.remove("assume-target");
        s.target_role_mut().trust_policy = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", ACCOUNT)},
             "Action": ["sts:AssumeRole", "sts:TagSession"]}]})
        .to_string();
    }));
    assert_only(&doc, "iam.target-role", "fail", "SKY271");
}

#[test]
fn sky271_the_first_role_may_not_assume_the_target() {
    let (code, doc, _lab) = run(Scenario::pod_identity_with_target_role().with(|s| {
        s.role.as_mut().unwrap().inline.remove("assume-target");
    }));
    assert_only(&doc, "iam.target-role", "fail", "SKY271");
    let c = check(&doc, "iam.target-role");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("sts:AssumeRole and sts:TagSession"),
        "{c:#}"
    );
    // The printed fix grants exactly the two actions on the target role.
    let cmd = c["remediation"]["commands"][0].as_str().unwrap();
    assert!(
        cmd.contains("SkyPilotS3Target-lab-bucket") && cmd.contains("sts:TagSession"),
        "{cmd}"
    );
    // An inline policy of its own per target role: put-role-policy replaces a policy of the same name.
    assert!(
        cmd.contains("--policy-name skys3-assume-SkyPilotS3Target-lab-bucket "),
        "{cmd}"
    );
    assert_eq!(code, 1);
}

#[test]
fn sky272_the_target_trusts_another_role() {
    let other = format!("arn:aws:iam::{ACCOUNT}:role/SomeoneElse");
    let (code, doc, _lab) = run(Scenario::pod_identity_with_target_role().with(|s| {
        s.target_role_mut().trust_policy = crate::lab::target_role_trust(&other, None);
    }));
    assert_only(&doc, "iam.target-role", "fail", "SKY272");
    assert_eq!(code, 1);
}

#[test]
fn sky273_the_target_pins_another_external_id() {
    let theirs = format!("us-west-2/{ACCOUNT}/staging/default/skypilot-service-account");
    let (code, doc, _lab) = run(Scenario::pod_identity_with_target_role().with(|s| {
        s.associations[0].disable_session_tags = true;
        let first = s.role_arn();
        s.target_role_mut().trust_policy = crate::lab::target_role_trust(&first, Some(&theirs));
    }));
    assert_only(&doc, "iam.target-role", "fail", "SKY273");
    let msg = check(&doc, "iam.target-role")["message"].as_str().unwrap().to_string();
    let ours = format!("us-west-2/{ACCOUNT}/lab-cluster/default/skypilot-service-account");
    assert!(msg.contains(&theirs) && msg.contains(&ours), "{msg}");
    assert_eq!(code, 1);
    // This association's own external id: healthy.
    let (code, doc, _lab) = run(Scenario::pod_identity_with_target_role().with(|s| {
        s.associations[0].disable_session_tags = true;
        let first = s.role_arn();
        s.target_role_mut().trust_policy = crate::lab::target_role_trust(&first, Some(&ours));
    }));
    assert_eq!(check(&doc, "iam.target-role")["status"], "pass", "{doc:#}");
    assert_eq!(code, 0);
}

#[test]
fn sky274_the_target_trusts_under_unknown_conditions() {
    let (code, doc, _lab) = run(Scenario::pod_identity_with_target_role().with(|s| {
        s.target_role_mut().trust_policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": s.role_arn()}, "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]})
        .to_string();
    }));
    assert_only(&doc, "iam.target-role", "warn", "SKY274");
    assert_eq!(code, 0);
}

#[test]
fn sky275_and_sky010_a_target_role_missing_or_in_another_account() {
    let (code, doc, _lab) = run(Scenario::pod_identity_with_target_role().with(|s| s.drop_target_role()));
    let c = check(&doc, "iam.target-role");
    assert_eq!(
        (c["status"].as_str(), c["code"].as_str()),
        (Some("fail"), Some("SKY275")),
        "{c:#}"
    );
    assert_eq!(code, 1);
    // In another account: every verdict on the target role is inconclusive, naming it; none passes.
    let remote = "arn:aws:iam::210987654321:role/RemoteS3";
    let (code, doc, lab) = run(Scenario::pod_identity_with_target_role().with(|s| {
        s.associations[0].target_role_arn = Some(remote.into());
        s.role.as_mut().unwrap().inline.insert(
            "assume-target".into(),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": remote}]})
            .to_string(),
        );
        s.pods[0].aws.identity = Ok("arn:aws:sts::210987654321:assumed-role/RemoteS3/eks-lab".into());
    }));
    for id in ["iam.target-role", "iam.s3-permissions"] {
        let c = check(&doc, id);
        assert_eq!(
            (c["status"].as_str(), c["code"].as_str()),
            (Some("inconclusive"), Some("SKY010")),
            "{id}: {c:#}"
        );
        assert!(c["message"].as_str().unwrap().contains("210987654321"), "{c:#}");
    }
    // The bucket policy is judged by the target role's ARN alone: a bucket of the cluster's account must grant a
    // role of another account the mount calls, and this one has no policy.
    assert_eq!(check(&doc, "s3.bucket-policy")["code"], "SKY296", "{doc:#}");
    assert_eq!(code, 1);
    // The other account is never asked: IAM reads are account-local, and the doctor assumes no role to read it.
    let asked: Vec<_> = lab
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("RemoteS3"))
        .collect();
    assert!(asked.is_empty(), "{asked:?}");
}

#[test]
fn sky204_a_node_role_without_the_agents_permission() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| {
        let role = s
            .extra_roles
            .iter_mut()
            .find(|r| r.name == crate::lab::NODE_ROLE)
            .unwrap();
        role.inline.clear();
    }));
    assert_only(&doc, "pod-identity.node-role", "fail", "SKY204");
    let c = check(&doc, "pod-identity.node-role");
    assert!(c["message"].as_str().unwrap().contains("node group lab-nodes"), "{c:#}");
    let cmd = c["remediation"]["commands"][0].as_str().unwrap();
    assert!(
        cmd.contains("LabNodeRole") && cmd.contains("AmazonEKSWorkerNodeMinimalPolicy"),
        "{cmd}"
    );
    assert_eq!(code, 1);
    // IRSA does not use the agent: not applicable.
    let (_, doc, _lab) = run(Scenario::healthy_irsa());
    assert_eq!(check(&doc, "pod-identity.node-role")["code"], "SKY008");
}

#[test]
fn sky205_pods_on_nodes_without_a_known_role() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| {
        s.nodes
            .get_mut(crate::lab::LAB_NODE)
            .unwrap()
            .remove("eks.amazonaws.com/nodegroup");
    }));
    assert_only(&doc, "pod-identity.node-role", "inconclusive", "SKY205");
    let msg = check(&doc, "pod-identity.node-role")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains(crate::lab::LAB_NODE), "{msg}");
    assert_eq!(code, 3);
}
