//! Each check's decisions over the in-memory fakes (`lab::memory`): every code of the catalog is produced at
//! least once, by the check that owns it, through the real engine and resolution, with no server and no binary.
//! The lab tests (`doctor_checks`, `aws_checks`, `cluster_checks`) prove the same codes end to end on the wire.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use skys3::code::Code;
use skys3::probe::local_aws::CredentialProblem;
use skys3::probe::{ErrorKind, Op};
use skys3::target::Request;
use skys3::wiring::Wiring;

use crate::doctor_checks::{IRSA_ONLY, POD_IDENTITY_ONLY, assert_healthy, assert_only, check};
use crate::lab::memory::{self, Failure, Rule, Run};
use crate::lab::{
    ACCOUNT, AWSCLI_ASSUME_DENIED, AWSCLI_LIST_DENIED, AWSCLI_NO_CREDENTIALS, AWSCLI_NO_OIDC, AddonSpec, Endpoint,
    FaultKind, PodSpec, PolicySpec, Scenario, irsa_trust,
};

/// awscli's words when the Pod Identity agent does not answer (lab: awscli 1.42.0, nothing on the agent's port).
const AWSCLI_AGENT_DOWN: &str = "\nError when retrieving credentials from container-role: Error retrieving metadata: Received error when attempting to retrieve container metadata: Could not connect to the endpoint URL: \"http://169.254.170.23/v1/credentials\"\n";
/// The agent's answer when the role does not trust pods.eks.amazonaws.com.
const AWSCLI_AGENT_TRUST: &str = "\nError when retrieving credentials from container-role: Error retrieving metadata: Received non 200 response (400) from container metadata: {\"Message\":\"Unauthorized Exception! EKS does not have permissions to assume the associated role.\"}\n";

const PROVIDER: &str = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

fn pod(s: &mut Scenario) -> &mut PodSpec {
    &mut s.pods[0]
}

fn trust(s: Scenario, doc: Value) -> Scenario {
    s.with(|s| s.role.as_mut().unwrap().trust_policy = doc.to_string())
}

fn irsa_trust_with(condition: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{PROVIDER}")},
        "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition}]})
}

fn sub() -> String {
    format!("{PROVIDER}:sub")
}

fn aud() -> String {
    format!("{PROVIDER}:aud")
}

/// One broken setup and the finding it must produce.
struct Case {
    name: &'static str,
    scenario: Scenario,
    check: &'static str,
    status: &'static str,
    code: Code,
    /// Every other check passes, or is skipped because of this one (the code is the only finding).
    only: bool,
    mode: Option<Wiring>,
    /// `--task`, a file of the scenario under `work/`.
    task: Option<&'static str>,
    rules: Vec<Rule>,
    check_timeout: Duration,
}

fn case(name: &'static str, scenario: Scenario, check: &'static str, status: &'static str, code: Code) -> Case {
    Case {
        name,
        scenario,
        check,
        status,
        code,
        only: true,
        mode: None,
        task: None,
        rules: vec![],
        check_timeout: Duration::from_secs(20),
    }
}

impl Case {
    fn mode(mut self, w: Wiring) -> Case {
        self.mode = Some(w);
        self
    }
    fn rule(mut self, r: Rule) -> Case {
        self.rules.push(r);
        self
    }
    fn task(mut self, name: &'static str) -> Case {
        self.task = Some(name);
        self
    }
    fn not_only(mut self) -> Case {
        self.only = false;
        self
    }
}

fn pi() -> Scenario {
    Scenario::healthy_pod_identity()
}

fn target() -> Scenario {
    Scenario::pod_identity_with_target_role()
}

fn irsa() -> Scenario {
    Scenario::healthy_irsa()
}

fn cfg(s: Scenario, text: &str) -> Scenario {
    s.with(|s| s.sky_user_config = Some(text.into()))
}

/// Every catalog code, each from a setup that produces it.
fn cases() -> Vec<Case> {
    let all_allowed_but_delete: BTreeMap<String, String> = [
        ("s3:ListBucket", "allowed"),
        ("s3:GetBucketLocation", "allowed"),
        ("s3:GetObject", "allowed"),
        ("s3:PutObject", "allowed"),
        ("s3:DeleteObject", "explicitDeny"),
    ]
    .into_iter()
    .map(|(a, d)| (a.to_string(), d.to_string()))
    .collect();
    vec![
        // Shared codes.
        case("access denied", pi().fault("eks", Some("DescribeCluster"), FaultKind::AccessDenied), "eks.cluster", "inconclusive", Code::DoctorAccessDenied),
        case("hang past the check timeout", pi(), "eks.cluster", "inconclusive", Code::TimedOut)
            .rule(Rule { op: Op::DescribeCluster, nth: None, failure: Failure::Hang(Duration::from_secs(30)) })
            .with_timeout(Duration::from_millis(300)),
        case("unreachable", pi(), "eks.cluster", "inconclusive", Code::Unreachable).rule(Rule::every(Op::DescribeCluster, ErrorKind::Unreachable)),
        case("a client panics", pi(), "eks.cluster", "inconclusive", Code::CheckCrashed)
            .rule(Rule { op: Op::DescribeCluster, nth: None, failure: Failure::Panic }),
        case("throttled", pi().fault("eks", Some("DescribeCluster"), FaultKind::Throttle), "eks.cluster", "inconclusive", Code::Throttled),
        case("server error", pi().fault("eks", Some("DescribeCluster"), FaultKind::ServerError), "eks.cluster", "inconclusive", Code::ApiError),
        case("blocked by a missing cluster", pi().with(|s| s.eks = None), "kube.context", "skip", Code::PrerequisiteFailed).not_only(),
        case("the other mode's checks", pi(), "irsa.annotation", "skip", Code::NotApplicable).not_only(),
        case("no pods", pi().with(|s| s.pods.clear()), "pod.credentials", "skip", Code::NothingToCheck).not_only(),
        // aws.identity, eks.cluster, kube.*
        case("no AWS credentials", pi(), "aws.identity", "fail", Code::NoCredentials).rule(Rule::every(Op::GetCallerIdentity, ErrorKind::NoCredentials)),
        case(
            "credentials rejected",
            pi().fault("sts", Some("GetCallerIdentity"), FaultKind::Code(403, "InvalidClientTokenId".into())),
            "aws.identity",
            "fail",
            Code::CredentialsRejected,
        ),
        case("profile missing", pi().env("AWS_PROFILE", Some("nope")), "aws.identity", "fail", Code::ProfileNotFound),
        case("AWS_DEFAULT_PROFILE missing", pi().env("AWS_DEFAULT_PROFILE", Some("nope")), "aws.identity", "fail", Code::ProfileNotFound),
        case("key id without secret", pi().env("AWS_ACCESS_KEY_ID", Some("AKIAONLY")), "aws.identity", "fail", Code::SecretKeyMissing),
        case("SSO session expired", local_aws("sso-expired"), "aws.identity", "fail", Code::SsoSessionExpired),
        case("SSO never logged in", local_aws("sso-never"), "aws.identity", "fail", Code::SsoNeverLoggedIn),
        case("SSO cache corrupt", local_aws("sso-corrupt"), "aws.identity", "fail", Code::SsoCacheUnreadable),
        case(
            "credential_process fails",
            pi(),
            "aws.identity",
            "fail",
            Code::CredentialProcessFailed,
        )
        .rule(credential_failure(CredentialProblem::ProcessFailed { profile: "default".into(), reason: "exit status 1".into() })),
        case("credential_process hangs", pi(), "aws.identity", "inconclusive", Code::CredentialProcessHung)
            .rule(credential_failure(CredentialProblem::ProcessHung { profile: "default".into(), seconds: 15 })),
        case("source_profile missing", local_aws("orphan"), "aws.identity", "fail", Code::ProfileRefused),
        case("SSO token needs a refresh", local_aws("sso-refresh"), "aws.identity", "inconclusive", Code::SsoTokenNeedsRefresh),
        case("role cannot be assumed", pi(), "aws.identity", "fail", Code::ProfileRoleUnassumable).rule(credential_failure(
            CredentialProblem::AssumeRoleFailed {
                profile: "default".into(),
                role_arn: format!("arn:aws:iam::{ACCOUNT}:role/Admin"),
                reason: "AccessDenied: not authorized to perform sts:AssumeRole".into(),
            },
        )),
        case(
            "another SkyPilot release line",
            pi().with(|s| {
                s.files.insert(
                    format!(
                        "home/.local/lib/python3.11/site-packages/skypilot-{}.dist-info/METADATA",
                        skys3::sky::MODELLED_VERSION
                    ),
                    "Version: 0.15.0\n".into(),
                );
            }),
            "sky.version",
            "warn",
            Code::SkyVersionOther,
        ),
        case(
            "SkyPilot rejects the config",
            pi().with(|s| s.sky_user_config = Some("aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  remote_identity: [a]\n".into())),
            "sky.config",
            "fail",
            Code::SkyConfigRejected,
        )
        .not_only(),
        case(
            "no context glob matches",
            pi().with(|s| {
                s.sky_user_config =
                    Some("aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  remote_identity:\n    'prod-*': skypilot-service-account\n".into())
            }),
            "sky.service-account",
            "fail",
            Code::SkyRefusesContext,
        ),
        case(
            "SkyPilot launches elsewhere",
            pi().with(|s| s.sky_user_config = Some("aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  allowed_contexts: [other]\n".into())),
            "sky.service-account",
            "warn",
            Code::SkySkipsContext,
        ),
        case(
            "SkyPilot launches in another namespace",
            pi().with(|s| s.sky_user_config = Some("aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  namespace: team-a\n".into())),
            "sky.service-account",
            "warn",
            Code::SkyOtherNamespace,
        ),
        case("credential_process mounts embed keys", local_aws("process"), "sky.mount-credentials", "warn", Code::TemporaryKeysInMounts),
        case(
            "the workspace profile gives nothing",
            pi().with(|s| {
                s.sky_user_config = Some(
                    "aws:\n  remote_identity: NO_UPLOAD\nactive_workspace: w\nworkspaces:\n  w:\n    aws:\n      profile: nope\n".into(),
                )
            }),
            "sky.mount-credentials",
            "warn",
            Code::WorkspaceProfileEmpty,
        ),
        case(
            "bucket policy denies the role",
            pi().with(|s| {
                s.bucket_policy = Some(
                    json!({"Statement": [{"Sid": "Lock", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::lab-bucket/*"}]})
                    .to_string(),
                )
            }),
            "s3.bucket-policy",
            "fail",
            Code::BucketPolicyDenies,
        ),
        case(
            "bucket policy may deny the role",
            pi().with(|s| {
                s.bucket_policy = Some(
                    json!({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::lab-bucket/*",
                        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]})
                    .to_string(),
                )
            }),
            "s3.bucket-policy",
            "warn",
            Code::BucketPolicyMayDeny,
        ),
        case(
            "KMS key not allowed",
            pi().with(|s| s.bucket_encryption = Some(("aws:kms".into(), Some("k-1".into())))),
            "s3.encryption",
            "warn",
            Code::KmsKeyMaybeUnusable,
        ),
        case(
            "KMS key denied",
            pi().with(|s| {
                s.bucket_encryption = Some(("aws:kms".into(), Some("k-1".into())));
                s.policies.push(PolicySpec {
                    name: "no-kms".into(),
                    document: json!({"Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}).to_string(),
                    attached: true,
                });
            }),
            "s3.encryption",
            "fail",
            Code::KmsKeyDenied,
        ),
        case(
            "another account's bucket without a grant",
            pi().with(|s| s.bucket_owner = Some("999999999999".into())),
            "s3.bucket-policy",
            "fail",
            Code::BucketOtherAccountNoGrant,
        ),
        case(
            "another account's bucket granting under a condition",
            pi().with(|s| {
                s.bucket_owner = Some("999999999999".into());
                let role = s.role_arn();
                s.bucket_policy = Some(
                    serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Principal": {"AWS": role},
                        "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                        "Resource": ["arn:aws:s3:::lab-bucket", "arn:aws:s3:::lab-bucket/*"],
                        "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-0123"}}}]})
                    .to_string(),
                );
            }),
            "s3.bucket-policy",
            "warn",
            Code::BucketOtherAccountConditionalGrant,
        ),
        case("bucket policy unreadable", pi(), "s3.bucket-policy", "inconclusive", Code::BucketPolicyUnreadable)
            .rule(Rule::every(Op::GetBucketPolicy, ErrorKind::AccessDenied)),
        case("cluster not found", pi().with(|s| s.eks = None), "eks.cluster", "fail", Code::ClusterNotFound),
        case("cluster CREATING", pi().with(|s| s.eks.as_mut().unwrap().status = "CREATING".into()), "eks.cluster", "fail", Code::ClusterNotActive),
        case("cluster UPDATING", pi().with(|s| s.eks.as_mut().unwrap().status = "UPDATING".into()), "eks.cluster", "warn", Code::ClusterUpdating),
        case(
            "context of another cluster",
            pi().with(|s| s.eks.as_mut().unwrap().endpoint = Endpoint::Other("https://0123456789ABCDEF.gr7.us-west-2.eks.amazonaws.com".into())),
            "kube.context",
            "fail",
            Code::ContextOtherCluster,
        )
        // The AWS side still decides; the agent's DaemonSet cannot be read (inconclusive).
        .not_only(),
        case("kube token rejected", pi().with(|s| s.kube_token_valid = false), "kube.context", "fail", Code::ContextCredentialsRejected).not_only(),
        case("service account missing", pi().with(|s| s.service_accounts.clear()), "kube.service-account", "fail", Code::ServiceAccountNotFound),
        case(
            "namespace missing",
            pi().env("K8S_NAMESPACE", Some("team-a")).with(|s| s.associations[0].namespace = "team-a".into()),
            "kube.service-account",
            "fail",
            Code::NamespaceNotFound,
        )
        // SkyPilot itself would launch in default (SKY314): a second, true finding.
        .not_only(),
        // sky.config
        case("NO_UPLOAD missing", pi().with(|s| s.sky_user_config = None), "sky.config", "fail", Code::RemoteIdentityUnset),
        case("list form", cfg(pi(), "aws:\n  remote_identity:\n    - \"*\": NO_UPLOAD\n"), "sky.config", "fail", Code::RemoteIdentityListForm),
        case("another value", cfg(pi(), "aws:\n  remote_identity: LOCAL_CREDENTIALS\n"), "sky.config", "fail", Code::RemoteIdentityOtherValue),
        case("invalid YAML", cfg(pi(), "aws:\n  remote_identity: NO_UPLOAD\n kubernetes: [\n"), "sky.config", "fail", Code::SkyConfigInvalidYaml),
        case(
            "a repeated key SkyPilot reads anyway",
            cfg(pi(), "aws:\n  remote_identity: LOCAL_CREDENTIALS\naws:\n  remote_identity: NO_UPLOAD\n"),
            "sky.config",
            "warn",
            Code::SkyConfigDuplicateKey,
        ),
        // mode
        case(
            "both wirings",
            pi().with(|s| {
                let arn = s.role_arn();
                s.service_accounts[0].annotations.insert("eks.amazonaws.com/role-arn".into(), arn);
            }),
            "mode",
            "warn",
            Code::BothWirings,
        ),
        case("neither wiring", pi().with(|s| s.associations.clear()), "mode", "fail", Code::NoWiring),
        // Pod Identity
        case("agent add-on missing", pi().with(|s| s.addons.retain(|a| a.name == "vpc-cni")), "pod-identity.addon", "fail", Code::AgentAddonMissing),
        case(
            "agent add-on degraded",
            pi().with(|s| s.addons = vec![AddonSpec { name: "eks-pod-identity-agent".into(), status: "DEGRADED".into() }]),
            "pod-identity.addon",
            "fail",
            Code::AgentAddonNotActive,
        ),
        case("agent pods not ready", pi().with(|s| s.agent_daemonset = Some((3, 1))), "pod-identity.addon", "fail", Code::AgentPodsNotReady),
        case(
            "node role without eks-auth:AssumeRoleForPodIdentity",
            pi().with(|s| {
                let role = s.extra_roles.iter_mut().find(|r| r.name == crate::lab::NODE_ROLE).unwrap();
                role.inline.clear();
            }),
            "pod-identity.node-role",
            "fail",
            Code::NodeRoleCannotAssumeForPods,
        ),
        case(
            "pods on a self-managed node",
            pi().with(|s| {
                let node = s.nodes.get_mut(crate::lab::LAB_NODE).unwrap();
                node.remove("eks.amazonaws.com/nodegroup");
            }),
            "pod-identity.node-role",
            "inconclusive",
            Code::NodeRoleUnknown,
        ),
        case("no association", pi().with(|s| s.associations.clear()), "pod-identity.association", "fail", Code::AssociationMissing).mode(Wiring::PodIdentity),
        case(
            "association for another namespace",
            pi().with(|s| s.associations[0].namespace = "team-a".into()),
            "pod-identity.association",
            "fail",
            Code::AssociationElsewhere,
        ),
        case(
            "association to another role",
            pi().with(|s| s.associations[0].role_arn = format!("arn:aws:iam::{ACCOUNT}:role/SomeOtherRole")),
            "pod-identity.association",
            "fail",
            Code::AssociationOtherRole,
        ),
        // The association's session policy (EKS API, 2026-02; it requires disableSessionTags).
        case(
            "session policy without the S3 writes",
            pi().with(|s| {
                s.associations[0].disable_session_tags = true;
                s.associations[0].policy = Some(crate::lab::session_policy(&["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject"], None));
            }),
            "pod-identity.association",
            "fail",
            Code::AssociationSessionPolicyDenies,
        ),
        case(
            "session policy under a source-IP condition",
            pi().with(|s| {
                s.associations[0].disable_session_tags = true;
                s.associations[0].policy = Some(crate::lab::session_policy(
                    &["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    Some(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
                ));
            }),
            "pod-identity.association",
            "warn",
            Code::AssociationSessionPolicyConditional,
        ),
        // A target role (EKS API, 2025-06): the second hop.
        case(
            "only the target's trust names the first role",
            target().with(|s| {
                s.role.as_mut().unwrap().inline.remove("assume-target");
                let first = s.role_arn();
                s.target_role_mut().trust_policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": first}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]})
                .to_string();
            }),
            "iam.target-role",
            "warn",
            Code::TargetTrustNamesFirstRole,
        ),
        case(
            "first role may not assume the target",
            target().with(|s| {
                s.role.as_mut().unwrap().inline.remove("assume-target");
            }),
            "iam.target-role",
            "fail",
            Code::TargetAssumeNotAllowed,
        ),
        case(
            "target trusts another role",
            target().with(|s| {
                s.target_role_mut().trust_policy =
                    crate::lab::target_role_trust(&format!("arn:aws:iam::{ACCOUNT}:role/SomeoneElse"), None)
            }),
            "iam.target-role",
            "fail",
            Code::TargetTrustExcludesFirstRole,
        ),
        case(
            "target pins another cluster's external id",
            target().with(|s| {
                s.associations[0].disable_session_tags = true;
                let first = s.role_arn();
                s.target_role_mut().trust_policy = crate::lab::target_role_trust(
                    &first,
                    Some(&format!("us-west-2/{ACCOUNT}/staging/default/skypilot-service-account")),
                );
            }),
            "iam.target-role",
            "fail",
            Code::TargetExternalIdMismatch,
        ),
        case(
            "target trust under a source-IP condition",
            target().with(|s| {
                s.target_role_mut().trust_policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Principal": {"AWS": s.role_arn()}, "Action": ["sts:AssumeRole", "sts:TagSession"],
                    "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]})
                .to_string()
            }),
            "iam.target-role",
            "warn",
            Code::TargetTrustConditionsUnknown,
        ),
        case(
            "target role missing",
            target().with(|s| {
                s.drop_target_role();
            }),
            "iam.target-role",
            "fail",
            Code::TargetRoleNotFound,
        )
        .not_only(),
        case(
            "target role in another account",
            target().with(|s| {
                s.associations[0].target_role_arn = Some("arn:aws:iam::210987654321:role/RemoteS3".into());
                s.drop_target_role();
                s.role.as_mut().unwrap().inline.insert(
                    "assume-target".into(),
                    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": "arn:aws:iam::210987654321:role/RemoteS3"}]})
                    .to_string(),
                );
                s.pods[0].aws.identity = Ok("arn:aws:sts::210987654321:assumed-role/RemoteS3/eks-lab".into());
            }),
            "iam.target-role",
            "inconclusive",
            Code::RoleInOtherAccount,
        )
        .not_only(),
        // IRSA
        case("OIDC provider not registered", irsa().with(|s| s.oidc_provider = None), "irsa.oidc-provider", "fail", Code::OidcProviderMissing),
        case(
            "OIDC provider without sts audience",
            irsa().with(|s| s.oidc_provider = Some(vec!["other-audience".into()])),
            "irsa.oidc-provider",
            "fail",
            Code::OidcProviderAudience,
        ),
        case(
            "cluster without OIDC issuer",
            irsa().with(|s| {
                s.eks.as_mut().unwrap().oidc_id = String::new();
                s.oidc_provider = None;
            }),
            "irsa.oidc-provider",
            "fail",
            Code::OidcIssuerMissing,
        ),
        // iam.role, iam.trust-policy
        case("role missing", pi().with(|s| s.role = None), "iam.role", "fail", Code::RoleNotFound),
        case(
            "trust without pods principal",
            trust(pi(), json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})),
            "iam.trust-policy",
            "fail",
            Code::TrustNoPodsService,
        ),
        case(
            "trust without TagSession",
            trust(pi(), json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})),
            "iam.trust-policy",
            "fail",
            Code::TrustNoTagSession,
        ),
        case(
            "IRSA trust without federation",
            trust(irsa(), json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]})),
            "iam.trust-policy",
            "fail",
            Code::TrustNoOidcProvider,
        ),
        case(
            "IRSA trust of another cluster",
            irsa().with(|s| s.role.as_mut().unwrap().trust_policy = irsa_trust("eu-west-1", "0THERC1USTER", "default", "skypilot-service-account")),
            "iam.trust-policy",
            "fail",
            Code::TrustOtherOidcProvider,
        ),
        case(
            ":sub of another namespace",
            trust(irsa(), irsa_trust_with(json!({"StringEquals": {sub(): "system:serviceaccount:team-a:skypilot-service-account", aud(): "sts.amazonaws.com"}}))),
            "iam.trust-policy",
            "fail",
            Code::TrustSubMismatch,
        ),
        case(
            "StringEquals with a wildcard",
            trust(irsa(), irsa_trust_with(json!({"StringEquals": {sub(): "system:serviceaccount:default:*", aud(): "sts.amazonaws.com"}}))),
            "iam.trust-policy",
            "fail",
            Code::TrustSubWildcardEquals,
        ),
        case(
            "no :aud",
            trust(irsa(), irsa_trust_with(json!({"StringEquals": {sub(): "system:serviceaccount:default:skypilot-service-account"}}))),
            "iam.trust-policy",
            "warn",
            Code::TrustAudMissing,
        ),
        case(
            "wrong :aud",
            trust(irsa(), irsa_trust_with(json!({"StringEquals": {sub(): "system:serviceaccount:default:skypilot-service-account", aud(): "sigstore"}}))),
            "iam.trust-policy",
            "fail",
            Code::TrustAudMismatch,
        ),
        case(
            "explicit Deny in trust",
            trust(pi(), json!({"Statement": [
                {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]},
                {"Sid": "NoPods", "Effect": "Deny", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:*"}]})),
            "iam.trust-policy",
            "fail",
            Code::TrustExplicitDeny,
        ),
        case(
            "conditions not evaluated",
            trust(pi(), json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"], "Condition": {"StringEquals": {"aws:RequestTag/kubernetes-pod-name": "p"}}}]})),
            "iam.trust-policy",
            "warn",
            Code::TrustConditionsUnknown,
        ),
        case(
            "trust pinned to another cluster",
            trust(pi(), json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"], "Condition": {"StringEquals": {"aws:RequestTag/eks-cluster-name": "staging"}}}]})),
            "iam.trust-policy",
            "fail",
            Code::TrustConditionExcludes,
        ),
        case(
            "no :sub",
            trust(irsa(), irsa_trust_with(json!({"StringEquals": {aud(): "sts.amazonaws.com"}}))),
            "iam.trust-policy",
            "warn",
            Code::TrustSubMissing,
        ),
        // iam.s3-permissions, s3.bucket
        case(
            "S3 actions missing",
            pi().with(|s| {
                s.policies = vec![PolicySpec {
                    name: "ReadOnly".into(),
                    document: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": ["arn:aws:s3:::lab-bucket", "arn:aws:s3:::lab-bucket/*"]}]}).to_string(),
                    attached: true,
                }]
            }),
            "iam.s3-permissions",
            "fail",
            Code::S3ActionsMissing,
        ),
        case("policy not attached", pi().with(|s| s.policies[0].attached = false), "iam.s3-permissions", "fail", Code::S3PolicyUnattached),
        case(
            "Deny on delete",
            pi().with(|s| {
                s.role.as_mut().unwrap().inline.insert(
                    "NoDeletes".into(),
                    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}]}).to_string(),
                );
            }),
            "iam.s3-permissions",
            "fail",
            Code::S3ExplicitDeny,
        ),
        case(
            "conditional grant",
            pi().with(|s| {
                s.policies[0].document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                    "Resource": ["arn:aws:s3:::lab-bucket", "arn:aws:s3:::lab-bucket/*"],
                    "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-0123"}}}]}).to_string()
            }),
            "iam.s3-permissions",
            "warn",
            Code::S3ConditionalAccess,
        ),
        case(
            "boundary blocks",
            pi().with(|s| {
                s.policies.push(PolicySpec {
                    name: "Boundary".into(),
                    document: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}]}).to_string(),
                    attached: false,
                });
                s.role.as_mut().unwrap().boundary = Some("Boundary".into());
            }),
            "iam.s3-permissions",
            "fail",
            Code::S3BoundaryBlocks,
        ),
        case("simulator disagrees", pi().with(|s| s.simulator = Some(all_allowed_but_delete)), "iam.s3-permissions", "warn", Code::SimulatorDisagrees),
        case("bucket missing", pi().with(|s| s.buckets.clear()), "s3.bucket", "fail", Code::BucketNotFound),
        case("bucket in another region", pi().with(|s| s.buckets[0].1 = "eu-central-1".into()), "s3.bucket", "warn", Code::BucketOtherRegion),
        // irsa.annotation, sky.service-account, sky.mount-credentials
        case("annotation missing", irsa().with(|s| s.service_accounts[0].annotations.clear()), "irsa.annotation", "fail", Code::IrsaAnnotationMissing)
            .mode(Wiring::Irsa),
        case(
            "annotation names another role",
            irsa().with(|s| {
                s.service_accounts[0]
                    .annotations
                    .insert("eks.amazonaws.com/role-arn".into(), format!("arn:aws:iam::{ACCOUNT}:role/Other"));
            }),
            "irsa.annotation",
            "fail",
            Code::IrsaAnnotationOtherRole,
        ),
        case(
            "SkyPilot uses another service account",
            cfg(pi(), "aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  remote_identity: training-sa\n"),
            "sky.service-account",
            "fail",
            Code::SkyOtherServiceAccount,
        ),
        case(
            "static keys would be embedded",
            pi().env("AWS_ACCESS_KEY_ID", Some("AKIALABSTATICKEY000")).env("AWS_SECRET_ACCESS_KEY", Some("lab-static-secret-canary")),
            "sky.mount-credentials",
            "warn",
            Code::StaticKeysInMounts,
        ),
        case(
            "web identity on the API server machine",
            pi().env("AWS_WEB_IDENTITY_TOKEN_FILE", Some("/nonexistent/token"))
                .env("AWS_ROLE_ARN", Some("arn:aws:iam::123456789012:role/ApiServer")),
            "sky.mount-credentials",
            "warn",
            Code::WebIdentityOnServer,
        ),
        case(
            "MOUNT mode",
            pi().with(|s| {
                s.files.insert(
                    "work/task.yaml".into(),
                    "file_mounts:\n  /data:\n    source: s3://lab-bucket/\n  /ckpt:\n    source: s3://lab-bucket/ckpt\n    mode: MOUNT_CACHED\n".into(),
                );
            }),
            "sky.mount-credentials",
            "fail",
            Code::MountModeUnsupported,
        )
        .task("task.yaml"),
        // pod.credentials
        case("pod runs as another SA", pi().with(|s| pod(s).service_account = "default".into()), "pod.credentials", "fail", Code::PodOtherServiceAccount),
        case(
            "pod older than the association",
            pi().with(|s| {
                pod(s).env.retain(|k, _| !k.starts_with("AWS_"));
                s.associations[0].created_at = 1_800_000_000.0;
            }),
            "pod.credentials",
            "fail",
            Code::PodPredatesWiring,
        ),
        case("credentials not injected", pi().with(|s| pod(s).env.retain(|k, _| !k.starts_with("AWS_"))), "pod.credentials", "fail", Code::PodNotInjected),
        case(
            "pod got another role",
            irsa().with(|s| {
                pod(s).env.insert("AWS_ROLE_ARN".into(), format!("arn:aws:iam::{ACCOUNT}:role/Old"));
            }),
            "pod.credentials",
            "fail",
            Code::PodOtherRoleArn,
        ),
        case("hostNetwork pod", pi().with(|s| pod(s).host_network = true), "pod.credentials", "warn", Code::PodHostNetwork),
        case(
            "pod on a Fargate node",
            pi().with(|s| {
                let node = s.nodes.get_mut(crate::lab::LAB_NODE).unwrap();
                node.insert("eks.amazonaws.com/compute-type".into(), "fargate".into());
            }),
            "pod.credentials",
            "fail",
            Code::PodOnFargate,
        ),
        case(
            "pod on a Windows node",
            pi().with(|s| {
                let node = s.nodes.get_mut(crate::lab::LAB_NODE).unwrap();
                node.insert("kubernetes.io/os".into(), "windows".into());
            }),
            "pod.credentials",
            "fail",
            Code::PodOnWindows,
        ),
        case(
            "HTTP proxy without the agent in NO_PROXY",
            pi().with(|s| {
                pod(s).env.insert("HTTP_PROXY".into(), "http://proxy.corp:3128".into());
                pod(s).env.insert("NO_PROXY".into(), "localhost,169.254.169.254".into());
            }),
            "pod.credentials",
            "warn",
            Code::PodProxyHidesAgent,
        ),
        case(
            "egress NetworkPolicy without the agent",
            pi().with(|s| {
                s.network_policies = vec![crate::lab::egress_policy(
                    "https-only",
                    json!([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}]),
                )];
            }),
            "pod.credentials",
            "warn",
            Code::PodNetworkPolicyBlocksAgent,
        ),
        case(
            "web identity variables in a Pod Identity pod",
            pi().with(|s| {
                pod(s).env.insert("AWS_ROLE_ARN".into(), format!("arn:aws:iam::{ACCOUNT}:role/Stale"));
                pod(s)
                    .env
                    .insert("AWS_WEB_IDENTITY_TOKEN_FILE".into(), "/var/run/secrets/eks.amazonaws.com/serviceaccount/token".into());
            }),
            "pod.credentials",
            "fail",
            Code::PodWebIdentityWins,
        )
        .not_only(),
        // pod.s3-list
        case(
            "uploaded credentials file won",
            pi().with(|s| {
                pod(s).aws.credentials_file = true;
                pod(s).aws.identity = Ok(format!("arn:aws:iam::{ACCOUNT}:user/alice"));
            }),
            "pod.s3-list",
            "fail",
            Code::PodUploadedCredentials,
        ),
        case(
            "uploaded credentials file, role won (IRSA)",
            irsa().with(|s| pod(s).aws.credentials_file = true),
            "pod.s3-list",
            "warn",
            Code::PodCredentialsFileIgnored,
        ),
        case(
            "agent unreachable",
            pi().with(|s| pod(s).aws.identity = Err((AWSCLI_AGENT_DOWN.into(), 255))),
            "pod.s3-list",
            "fail",
            Code::PodAgentOrTokenFailed,
        ),
        case(
            "EKS may not assume the role",
            pi().with(|s| pod(s).aws.identity = Err((AWSCLI_AGENT_TRUST.into(), 255))),
            "pod.s3-list",
            "fail",
            Code::PodIdentityAssumeDenied,
        ),
        case(
            "clock skew",
            pi().with(|s| pod(s).aws.list = Err(("\nAn error occurred (RequestTimeTooSkewed) when calling the ListObjectsV2 operation: The difference between the request time and the current time is too large.\n".into(), 254))),
            "pod.s3-list",
            "fail",
            Code::PodClockSkew,
        ),
        case(
            "stale uploaded keys",
            pi().with(|s| pod(s).aws.identity = Err(("\nAn error occurred (InvalidClientTokenId) when calling the GetCallerIdentity operation: The security token included in the request is invalid.\n".into(), 254))),
            "pod.s3-list",
            "fail",
            Code::PodKeysRejected,
        ),
        case(
            "OIDC keys unreachable",
            irsa().with(|s| pod(s).aws.identity = Err(("\nAn error occurred (IDPCommunicationError) when calling the AssumeRoleWithWebIdentity operation: Couldn't retrieve verification key from your identity provider\n".into(), 254))),
            "pod.s3-list",
            "inconclusive",
            Code::PodOidcKeysUnreachable,
        ),
        case(
            "web identity token expired",
            irsa().with(|s| pod(s).aws.identity = Err(("\nAn error occurred (ExpiredTokenException) when calling the AssumeRoleWithWebIdentity operation: Token expired\n".into(), 254))),
            "pod.s3-list",
            "fail",
            Code::PodCredentialsExpired,
        ),
        case(
            "STS region disabled",
            irsa().with(|s| pod(s).aws.identity = Err(("\nAn error occurred (RegionDisabledException) when calling the AssumeRoleWithWebIdentity operation: STS is not activated in this region\n".into(), 254))),
            "pod.s3-list",
            "fail",
            Code::PodStsRegionInactive,
        ),
        case(
            "SDK too old for Pod Identity",
            pi().with(|s| pod(s).aws.identity = Err(("\nUnsupported host '169.254.170.23'.  Can only retrieve metadata from these hosts: 169.254.170.2, localhost, 127.0.0.1\n".into(), 255))),
            "pod.s3-list",
            "fail",
            Code::PodSdkTooOld,
        ),
        case(
            "S3 denied by an SCP",
            pi().with(|s| pod(s).aws.list = Err((format!("\nAn error occurred (AccessDenied) when calling the ListObjectsV2 operation: User: arn:aws:sts::{ACCOUNT}:assumed-role/skypilot-s3-role/eks-lab is not authorized to perform: s3:ListBucket on resource: \"arn:aws:s3:::lab-bucket\" with an explicit deny in a service control policy: arn:aws:organizations::999988887777:policy/o-x/service_control_policy/p-x\n"), 254))),
            "pod.s3-list",
            "fail",
            Code::PodDeniedByScp,
        ),
        case(
            "S3 denied by an RCP",
            pi().with(|s| pod(s).aws.list = Err((format!("\nAn error occurred (AccessDenied) when calling the ListObjectsV2 operation: User: arn:aws:sts::{ACCOUNT}:assumed-role/skypilot-s3-role/eks-lab is not authorized to perform: s3:ListBucket on resource: \"arn:aws:s3:::lab-bucket\" with an explicit deny in a resource control policy\n"), 254))),
            "pod.s3-list",
            "fail",
            Code::PodDeniedByRcp,
        ),
        case(
            "S3 denied by a VPC endpoint policy",
            pi().with(|s| pod(s).aws.list = Err((format!("\nAn error occurred (AccessDenied) when calling the ListObjectsV2 operation: User: arn:aws:sts::{ACCOUNT}:assumed-role/skypilot-s3-role/eks-lab is not authorized to perform: s3:ListBucket on resource: \"arn:aws:s3:::lab-bucket\" because no VPC endpoint policy allows the s3:ListBucket action\n"), 254))),
            "pod.s3-list",
            "fail",
            Code::PodDeniedByVpcEndpointPolicy,
        ),
        case(
            "S3 denied by the session policy",
            pi().with(|s| pod(s).aws.list = Err((format!("\nAn error occurred (AccessDenied) when calling the ListObjectsV2 operation: User: arn:aws:sts::{ACCOUNT}:assumed-role/skypilot-s3-role/eks-lab is not authorized to perform: s3:ListBucket on resource: \"arn:aws:s3:::lab-bucket\" because no session policy allows the s3:ListBucket action\n"), 254))),
            "pod.s3-list",
            "fail",
            Code::PodDeniedBySessionPolicy,
        ),
        case(
            "S3 denied by the permissions boundary",
            pi().with(|s| pod(s).aws.list = Err((format!("\nAn error occurred (AccessDenied) when calling the ListObjectsV2 operation: User: arn:aws:sts::{ACCOUNT}:assumed-role/skypilot-s3-role/eks-lab is not authorized to perform: s3:ListBucket on resource: \"arn:aws:s3:::lab-bucket\" with an explicit deny in a permissions boundary\n"), 254))),
            "pod.s3-list",
            "fail",
            Code::PodDeniedByBoundary,
        ),
        case(
            "S3 denied by the bucket policy",
            pi().with(|s| pod(s).aws.list = Err((format!("\nAn error occurred (AccessDenied) when calling the ListObjectsV2 operation: User: arn:aws:sts::{ACCOUNT}:assumed-role/skypilot-s3-role/eks-lab is not authorized to perform: s3:ListBucket on resource: \"arn:aws:s3:::lab-bucket\" with an explicit deny in a resource-based policy\n"), 254))),
            "pod.s3-list",
            "fail",
            Code::PodDeniedByBucketPolicy,
        ),
        case(
            "S3 denied: no identity-based policy allows it",
            pi().with(|s| pod(s).aws.list = Err((format!("\nAn error occurred (AccessDenied) when calling the ListObjectsV2 operation: User: arn:aws:sts::{ACCOUNT}:assumed-role/skypilot-s3-role/eks-lab is not authorized to perform: s3:ListBucket on resource: \"arn:aws:s3:::lab-bucket\" because no identity-based policy allows the s3:ListBucket action\n"), 254))),
            "pod.s3-list",
            "fail",
            Code::PodDeniedByIdentityPolicy,
        ),
        case(
            "the agent answered HTTP 500 (EKS Auth unreachable)",
            pi().with(|s| pod(s).aws.identity = Err(("\nError when retrieving credentials from container-role: Error retrieving metadata: Received non 200 response 500 from container metadata: []\n".into(), 255))),
            "pod.s3-list",
            "fail",
            Code::PodAgentRefused,
        ),
        case(
            "something else answered at the agent's address",
            pi().with(|s| pod(s).aws.identity = Err(("\nError when retrieving credentials from container-role: Error retrieving metadata: Unable to parse JSON returned from container metadata services\n".into(), 255))),
            "pod.s3-list",
            "fail",
            Code::PodAgentUnparseable,
        ),
        case(
            "S3 rejects the signature STS accepted",
            pi().with(|s| pod(s).aws.list = Err(("\nAn error occurred (SignatureDoesNotMatch) when calling the ListObjectsV2 operation: The request signature we calculated does not match the signature you provided. Check your key and signing method.\n".into(), 254))),
            "pod.s3-list",
            "fail",
            Code::PodSignatureMismatch,
        ),
        case(
            "sts:TagSession refused to an IAM user",
            pi().with(|s| pod(s).aws.identity = Err((format!("\nAn error occurred (AccessDenied) when calling the AssumeRole operation: User: arn:aws:iam::{ACCOUNT}:user/ci is not authorized to perform: sts:TagSession on resource: arn:aws:iam::{ACCOUNT}:role/skypilot-s3-role\n"), 254))),
            "pod.s3-list",
            "fail",
            Code::PodTagSessionDeniedForUser,
        ),
        case(
            "incorrect token audience",
            irsa().with(|s| pod(s).aws.identity = Err(("\nAn error occurred (InvalidIdentityToken) when calling the AssumeRoleWithWebIdentity operation: Incorrect token audience\n".into(), 254))),
            "pod.s3-list",
            "fail",
            Code::PodTokenAudience,
        ),
        case(
            "STS call timed out",
            pi().with(|s| pod(s).aws.identity = Err(("".into(), 124))),
            "pod.s3-list",
            "inconclusive",
            Code::PodCallTimedOut,
        ),
        case(
            "STS call killed by BusyBox's timeout (SIGTERM)",
            pi().with(|s| pod(s).aws.identity = Err(("".into(), 143))),
            "pod.s3-list",
            "inconclusive",
            Code::PodCallTimedOut,
        ),
        case(
            "no credentials in the pod",
            pi().with(|s| pod(s).aws.identity = Err((AWSCLI_NO_CREDENTIALS.into(), 253))),
            "pod.s3-list",
            "fail",
            Code::PodNoCredentials,
        ),
        case(
            "node role",
            pi().with(|s| {
                pod(s).aws.identity =
                    Ok(format!("arn:aws:sts::{ACCOUNT}:assumed-role/eksctl-lab-nodegroup-NodeInstanceRole-1ABC/i-0123456789abcdef0"))
            }),
            "pod.s3-list",
            "fail",
            Code::PodOtherIdentity,
        ),
        case("list denied", pi().with(|s| pod(s).aws.list = Err((AWSCLI_LIST_DENIED.into(), 254))), "pod.s3-list", "fail", Code::PodAccessDenied),
        case("no OIDC provider", irsa().with(|s| pod(s).aws.identity = Err((AWSCLI_NO_OIDC.into(), 254))), "pod.s3-list", "fail", Code::PodNoOidcProvider),
        case(
            "unclassified failure",
            pi().with(|s| {
                pod(s).aws.list =
                    Err(("\nCould not connect to the endpoint URL: \"https://lab-bucket.s3.us-west-2.amazonaws.com/?list-type=2\"\n".into(), 255))
            }),
            "pod.s3-list",
            "fail",
            Code::PodListFailed,
        ),
        case("no client", pi().with(|s| pod(s).aws.cli = false), "pod.s3-list", "inconclusive", Code::PodNoAwsClient),
        case(
            "rclone too old for Pod Identity",
            pi().with(|s| pod(s).aws.rclone = Some("rclone v1.65.2".into())),
            "pod.s3-list",
            "warn",
            Code::PodRcloneTooOld,
        ),
        case("may not assume the role", irsa().with(|s| pod(s).aws.identity = Err((AWSCLI_ASSUME_DENIED.into(), 254))), "pod.s3-list", "fail", Code::PodAssumeDenied),
    ]
}

impl Case {
    fn with_timeout(mut self, t: Duration) -> Case {
        self.check_timeout = t;
        self
    }

    fn run(self) -> (i32, Value) {
        let (mode, task) = (self.mode, self.task);
        let out = memory::run_with(
            self.scenario,
            Run {
                rules: self.rules,
                request: Box::new(move |req: &mut Request, work: &Path| {
                    req.mode = mode;
                    req.task = task.map(|t| work.join(t));
                }),
                check_timeout: self.check_timeout,
                ..Run::default()
            },
        );
        assert!(out.error.is_none(), "{}: {:?}", self.name, out.error);
        (out.code, out.doc)
    }
}

#[test]
fn every_code_from_its_own_setup() {
    let mut seen = BTreeSet::new();
    for c in cases() {
        let (name, id, status, code, only) = (c.name, c.check, c.status, c.code, c.only);
        let (exit, doc) = c.run();
        if only {
            assert_only(&doc, id, status, code.as_str());
        } else {
            let got = check(&doc, id);
            assert_eq!(
                (got["status"].as_str(), got["code"].as_str()),
                (Some(status), Some(code.as_str())),
                "{name}: {got:#}"
            );
        }
        let expected_exit = match doc["status"].as_str() {
            Some("fail") => 1,
            Some("inconclusive") => 3,
            _ => 0,
        };
        assert_eq!(exit, expected_exit, "{name}");
        seen.insert(code);
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !seen.contains(*c))
        .map(|c| c.as_str())
        .collect();
    assert!(missing.is_empty(), "codes no decision test produces: {missing:?}");
}

#[test]
fn a_target_role_is_judged_in_place_of_the_first() {
    let (_, doc) = memory::run(target());
    assert_eq!(check(&doc, "iam.target-role")["status"], "pass", "{doc:#}");
    // The first role holds no S3 permission: only the target's make iam.s3-permissions pass.
    let s3 = check(&doc, "iam.s3-permissions");
    assert_eq!(s3["status"], "pass", "{s3:#}");
    assert!(
        s3["message"].as_str().unwrap().contains("SkyPilotS3Target-lab-bucket"),
        "{s3:#}"
    );
    // The same setup without the target role: the first role alone has no S3 permission.
    let (_, doc) = memory::run(target().with(|s| s.associations[0].target_role_arn = None));
    // (the guide's policy exists, unattached: SKY262).
    let s3 = check(&doc, "iam.s3-permissions");
    assert_eq!(
        (s3["status"].as_str(), s3["code"].as_str()),
        (Some("fail"), Some("SKY262")),
        "{s3:#}"
    );
    assert!(
        s3["message"].as_str().unwrap().contains("SkyPilotS3Role-lab-bucket"),
        "{s3:#}"
    );
    // With the target role in another account, the S3 verdicts are inconclusive, naming the role, never a pass.
    let remote = "arn:aws:iam::210987654321:role/RemoteS3";
    let (_, doc) = memory::run(target().with(|s| s.associations[0].target_role_arn = Some(remote.into())));
    let s3 = check(&doc, "iam.s3-permissions");
    assert_eq!(
        (s3["status"].as_str(), s3["code"].as_str()),
        (Some("inconclusive"), Some("SKY010")),
        "{s3:#}"
    );
    assert!(s3["message"].as_str().unwrap().contains(remote), "{s3:#}");
}

#[test]
fn a_current_rclone_or_irsa_is_no_finding() {
    for (s, line) in [
        (pi(), "rclone v1.68.2"),
        (pi(), "rclone v1.66.0"),
        // Web identity worked in rclone's SDK long before Pod Identity did.
        (irsa(), "rclone v1.60.1"),
    ] {
        let (_, doc) = memory::run(s.with(|s| pod(s).aws.rclone = Some(line.into())));
        assert_eq!(check(&doc, "pod.s3-list")["status"], "pass", "{line}: {doc:#}");
    }
}

#[test]
fn healthy_setups_pass_and_ask_each_question_once() {
    for (s, other) in [(pi(), IRSA_ONLY), (irsa(), POD_IDENTITY_ONLY), (target(), IRSA_ONLY)] {
        let out = memory::run_with(s, Run::default());
        assert_healthy(&out.doc, other);
        assert_eq!(out.code, 0);
        let repeated = memory::repeats(&out.aws_calls);
        assert!(repeated.is_empty(), "AWS calls made twice: {repeated:?}");
        let repeated = memory::repeats(&out.kube_calls);
        assert!(repeated.is_empty(), "Kubernetes calls made twice: {repeated:?}");
    }
}

#[test]
fn a_failure_on_one_call_of_several_names_that_call() {
    // Two attached policies: only the second GetPolicyVersion fails. The verdict must be inconclusive, never a
    // pass computed from half the policies, and name the operation.
    let s = pi().with(|s| {
        s.policies.push(PolicySpec {
            name: "Extra".into(),
            document: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
                .to_string(),
            attached: true,
        })
    });
    let out = memory::run_with(
        s,
        Run {
            rules: vec![Rule {
                op: Op::GetPolicyVersion,
                nth: Some(2),
                failure: Failure::Error(ErrorKind::AccessDenied, Some("AccessDenied".into())),
            }],
            ..Run::default()
        },
    );
    let c = check(&out.doc, "iam.s3-permissions");
    assert_eq!(
        (c["status"].as_str(), c["code"].as_str()),
        (Some("inconclusive"), Some("SKY001")),
        "{c:#}"
    );
    assert!(c["message"].as_str().unwrap().contains("iam:GetPolicyVersion"), "{c:#}");
    assert_eq!(out.code, 3);
}

#[test]
fn a_kube_outage_leaves_the_aws_verdicts_standing() {
    let out = memory::run_with(
        pi(),
        Run {
            rules: Op::ALL
                .iter()
                .filter(|o| o.iam_action().is_none())
                .map(|o| Rule::every(*o, ErrorKind::Unreachable))
                .collect(),
            ..Run::default()
        },
    );
    for id in [
        "aws.identity",
        "eks.cluster",
        "iam.role",
        "iam.s3-permissions",
        "s3.bucket",
    ] {
        assert_eq!(check(&out.doc, id)["status"], "pass", "{id}: {:#}", out.doc);
    }
    // An outage is never a finding: what Kubernetes would have decided is inconclusive or skipped, never failed.
    for c in out.doc["checks"].as_array().unwrap() {
        assert!(
            matches!(c["status"].as_str(), Some("pass" | "inconclusive" | "skip")),
            "{c:#}"
        );
    }
    assert_eq!(check(&out.doc, "kube.context")["code"], "SKY003");
    assert_eq!(out.code, 3);
}

/// The healthy setup with the local AWS files of `tests/fixtures/aws-home` and `profile` selected: each of its
/// profiles breaks one link of botocore's chain.
fn local_aws(profile: &str) -> Scenario {
    let home = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/aws-home");
    pi().env("HOME", Some(home))
        .env("AWS_CONFIG_FILE", Some(&format!("{home}/config")))
        .env("AWS_PROFILE", Some(profile))
}

/// GetCallerIdentity fails because the doctor's own credentials do.
fn credential_failure(p: CredentialProblem) -> Rule {
    Rule {
        op: Op::GetCallerIdentity,
        nth: None,
        failure: Failure::Credential(p),
    }
}
