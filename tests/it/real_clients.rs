//! The in-pod probe with the real AWS clients: the lab venv's awscli v1 and boto3 run in the fake pod, with the
//! pod's injected credentials pointed at the lab's Pod Identity agent, IMDS and STS (`lab::pod_side`) and moto for
//! S3. Nothing here is a stand-in's answer: the texts, the precedence and the region handling are the clients'.

use crate::doctor_checks::{assert_only, check, run};
use crate::lab::{AgentMode, Lab, PodSpec, RealPod, Scenario};

fn pod(s: &mut Scenario) -> &mut PodSpec {
    &mut s.pods[0]
}

/// The scenario with the real awscli (or boto3 only) in its pod.
fn real(s: Scenario, cli: bool, r: RealPod) -> Scenario {
    s.with(|s| {
        let p = pod(s);
        p.aws.real = Some(r);
        p.aws.cli = cli;
        p.aws.boto3 = !cli;
    })
}

fn message(doc: &serde_json::Value) -> String {
    check(doc, "pod.s3-list")["message"].as_str().unwrap().to_string()
}

#[test]
fn healthy_pod_identity_with_awscli_and_boto3() {
    for cli in [true, false] {
        let (code, doc, lab) = run(real(Scenario::healthy_pod_identity(), cli, RealPod::default()));
        let c = check(&doc, "pod.s3-list");
        assert_eq!(c["status"], "pass", "{c:#}");
        let msg = message(&doc);
        // Pod Identity injects no region: the doctor's is used, and the report says so.
        assert!(msg.contains("the pod sets none"), "{msg}");
        assert!(
            msg.contains(if cli { "aws-cli/1.42.0" } else { "boto3/1.40.0" }),
            "{msg}"
        );
        assert!(
            lab.state
                .pod_requests
                .lock()
                .unwrap()
                .iter()
                .any(|r| r == "GET /v1/credentials"),
            "the client asked the agent"
        );
        assert_eq!(code, 0);
    }
}

#[test]
fn healthy_irsa_with_awscli() {
    let r = RealPod {
        region: Some("us-west-2".into()),
        ..RealPod::default()
    };
    let (code, doc, _lab) = run(real(Scenario::healthy_irsa(), true, r));
    let c = check(&doc, "pod.s3-list");
    assert_eq!(c["status"], "pass", "{c:#}");
    // The pod sets AWS_REGION only, which botocore does not read.
    assert!(
        message(&doc).contains("read only AWS_DEFAULT_REGION"),
        "{}",
        message(&doc)
    );
    assert_eq!(code, 0);
}

#[test]
fn agent_down_and_token_missing_are_sky361() {
    for r in [
        RealPod {
            agent: AgentMode::Down,
            ..RealPod::default()
        },
        RealPod {
            token_missing: true,
            ..RealPod::default()
        },
    ] {
        let (_, doc, _lab) = run(real(Scenario::healthy_pod_identity(), true, r));
        assert_only(&doc, "pod.s3-list", "fail", "SKY361");
    }
}

#[test]
fn agent_trust_denial_is_sky362_with_both_clients() {
    for cli in [true, false] {
        let r = RealPod {
            agent: AgentMode::TrustDenied,
            ..RealPod::default()
        };
        let (_, doc, _lab) = run(real(Scenario::healthy_pod_identity(), cli, r));
        assert_only(&doc, "pod.s3-list", "fail", "SKY362");
    }
}

/// The real clients' own words for the failures a pod meets, classified as the corpus says: if a client release
/// rewords an error, this test names it.
#[test]
fn the_real_clients_words_are_classified() {
    let venv = crate::lab::venv_dir().join("bin");
    let dir = tempfile::tempdir().unwrap();
    let closed = format!("http://127.0.0.1:{}/v1/credentials", crate::lab::free_port());
    let token = dir.path().join("token");
    std::fs::write(&token, "token").unwrap();
    let missing = dir.path().join("eks-pod-identity-token");
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("SKY342", vec![]),
        (
            "SKY361",
            vec![
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", closed.clone()),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token.display().to_string()),
            ],
        ),
        (
            "SKY361",
            vec![
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", closed),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", missing.display().to_string()),
            ],
        ),
    ];
    for (code, env) in cases {
        for client in ["aws", "boto3"] {
            let mut cmd = match client {
                "aws" => {
                    let mut c = std::process::Command::new(venv.join("aws"));
                    c.args(["sts", "get-caller-identity"]);
                    c
                }
                _ => {
                    let mut c = std::process::Command::new(venv.join("python3"));
                    c.args(["-c", "import boto3; boto3.client('sts').get_caller_identity()"]);
                    c
                }
            };
            let out = cmd
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("HOME", dir.path())
                .env("AWS_DEFAULT_REGION", "us-west-2")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_MAX_ATTEMPTS", "1")
                .envs(env.clone())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stderr);
            let got = skys3::classify::classify(&text).map(|k| k.code.as_str());
            assert_eq!(got, Some(code), "{client} said: {text}");
        }
    }
}

#[test]
fn uploaded_file_shadows_pod_identity_but_not_irsa() {
    // Pod Identity's container provider comes after the shared credentials file: the file's keys win.
    let s =
        real(Scenario::healthy_pod_identity(), true, RealPod::default()).with(|s| pod(s).aws.credentials_file = true);
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "pod.s3-list", "fail", "SKY341");
    assert!(
        !doc.to_string().contains("lab-uploaded-secret"),
        "the file's secret never appears"
    );
    assert_eq!(code, 1);
    // Web identity comes before it: the role wins, and the file is only a warning.
    let r = RealPod {
        region: Some("us-west-2".into()),
        ..RealPod::default()
    };
    let s = real(Scenario::healthy_irsa(), true, r).with(|s| pod(s).aws.credentials_file = true);
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "pod.s3-list", "warn", "SKY349");
    assert_eq!(code, 0);
}

#[test]
fn a_hanging_sts_is_a_bounded_diagnosis_not_a_check_timeout() {
    let r = RealPod {
        sts_hangs: true,
        ..RealPod::default()
    };
    let lab = Lab::start(real(Scenario::healthy_pod_identity(), true, r));
    let started = std::time::Instant::now();
    let (code, doc) = lab.doctor_json(&["--check-timeout", "8"]);
    let c = check(&doc, "pod.s3-list");
    assert_eq!(
        (c["status"].as_str(), c["code"].as_str()),
        (Some("inconclusive"), Some("SKY369")),
        "{c:#}"
    );
    assert!(message(&doc).contains("timed out talking to STS"), "{}", message(&doc));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(code, 3);
}
