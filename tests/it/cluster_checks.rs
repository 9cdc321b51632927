//! Cluster-side and in-pod checks against the lab: one scenario per failure code.

use serde_json::{Value, json};

use crate::doctor_checks::{IRSA_ONLY, POD_IDENTITY_ONLY, assert_healthy, assert_only, check, fix, run};
use crate::lab::{
    ACCOUNT, AWSCLI_ASSUME_DENIED, AWSCLI_LIST_DENIED, AWSCLI_NO_CREDENTIALS, AWSCLI_NO_OIDC, FaultKind, Lab, PodSpec,
    Scenario, sky_pod,
};

fn pod(s: &mut Scenario) -> &mut PodSpec {
    &mut s.pods[0]
}

#[test]
fn healthy_setups_with_running_pods_pass_the_pod_checks() {
    let (code, doc, lab) = run(Scenario::healthy_pod_identity());
    assert_healthy(&doc, IRSA_ONLY);
    assert!(
        check(&doc, "pod.s3-list")["message"]
            .as_str()
            .unwrap()
            .contains("lists s3://lab-bucket")
    );
    assert_eq!(code, 0);
    // Pod environment values other than AWS's never reach a report, in any format.
    for args in [&["doctor", "-o", "json"][..], &["doctor"][..]] {
        let out = lab.run(args);
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("do-not-leak-pod-env"),
            "{args:?}"
        );
    }
    let (code, doc, _lab) = run(Scenario::healthy_irsa());
    assert_healthy(&doc, POD_IDENTITY_ONLY);
    assert_eq!(code, 0);
}

#[test]
fn no_pods_is_a_skip_that_says_so() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.pods.clear()));
    for id in ["pod.credentials", "pod.s3-list"] {
        assert_eq!(
            (check(&doc, id)["status"].as_str(), check(&doc, id)["code"].as_str()),
            (Some("skip"), Some("SKY009"))
        );
        assert!(
            check(&doc, id)["message"]
                .as_str()
                .unwrap()
                .contains("no running SkyPilot pods")
        );
    }
    assert_eq!(code, 0);
}

#[test]
fn no_exec_never_execs() {
    let lab = Lab::start(Scenario::healthy_pod_identity());
    let (code, doc) = lab.doctor_json(&["--no-exec"]);
    assert_eq!(check(&doc, "pod.s3-list")["code"], "SKY009");
    assert_eq!(check(&doc, "pod.credentials")["status"], "pass");
    assert!(
        lab.requests().iter().all(|r| r.op != "exec pods/exec"),
        "{:?}",
        lab.requests()
    );
    assert_eq!(code, 0);
}

#[test]
fn sky_cluster_limits_the_pods() {
    let s = Scenario::healthy_pod_identity().with(|s| {
        let mut other = s.pods[0].clone();
        other.name = "other-9f8e7d6c-head".into();
        other
            .labels
            .insert("skypilot-cluster-name".into(), "other-9f8e7d6c".into());
        other.labels.insert("skypilot-cluster".into(), "other-9f8e7d6c".into());
        other.annotations.insert("skypilot-cluster-name".into(), "other".into());
        other.service_account = "default".into();
        s.pods.push(other);
    });
    let lab = Lab::start(s);
    let (_, doc) = lab.doctor_json(&[]);
    assert_eq!(check(&doc, "pod.credentials")["code"], "SKY331");
    let (code, doc) = lab.doctor_json(&["--sky-cluster", "lab-test"]);
    assert_eq!(check(&doc, "pod.credentials")["status"], "pass", "{doc:#}");
    assert_eq!(code, 0);
}

#[test]
fn sky301_irsa_annotation_missing() {
    let lab = Lab::start(Scenario::healthy_irsa().with(|s| s.service_accounts[0].annotations.clear()));
    let (code, doc) = lab.doctor_json(&["--mode", "irsa"]);
    assert_only(&doc, "irsa.annotation", "fail", "SKY301");
    assert_eq!(
        fix(&doc, "irsa.annotation"),
        [format!(
            "kubectl --context lab annotate serviceaccount skypilot-service-account --namespace default eks.amazonaws.com/role-arn=arn:aws:iam::{ACCOUNT}:role/SkyPilotS3Role-lab-bucket --overwrite"
        )]
    );
    assert_eq!(code, 1);
}

#[test]
fn sky302_irsa_annotation_names_another_role() {
    let other = format!("arn:aws:iam::{ACCOUNT}:role/Other");
    let s = Scenario::healthy_irsa().with(|s| {
        s.service_accounts[0]
            .annotations
            .insert("eks.amazonaws.com/role-arn".into(), other.clone());
    });
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "irsa.annotation", "fail", "SKY302");
    assert!(
        check(&doc, "irsa.annotation")["message"]
            .as_str()
            .unwrap()
            .contains(&other)
    );
    assert_eq!(code, 1);
}

#[test]
fn sky311_skypilot_uses_another_service_account() {
    let cfg = "aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  remote_identity: training-sa\n";
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.sky_user_config = Some(cfg.into())));
    assert_only(&doc, "sky.service-account", "fail", "SKY311");
    let msg = check(&doc, "sky.service-account")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("training-sa") && msg.contains("skypilot-service-account"),
        "{msg}"
    );
    assert_eq!(code, 1);
}

#[test]
fn sky_service_account_follows_context_globs_and_the_task() {
    let cfg = "aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  remote_identity:\n    'lab*': skypilot-service-account\n    '*': other-sa\n";
    let task = "config:\n  kubernetes:\n    remote_identity: task-sa\nfile_mounts:\n  /d: s3://lab-bucket/\n";
    let s = Scenario::healthy_pod_identity().with(|s| {
        s.sky_user_config = Some(cfg.into());
        s.files.insert("work/task.yaml".into(), task.into());
    });
    let lab = Lab::start(s);
    let (_, doc) = lab.doctor_json(&[]);
    assert_eq!(check(&doc, "sky.service-account")["status"], "pass", "{doc:#}");
    let (_, doc) = lab.doctor_json(&["--task", "task.yaml"]);
    assert_eq!(check(&doc, "sky.service-account")["code"], "SKY311");
    assert!(
        check(&doc, "sky.service-account")["message"]
            .as_str()
            .unwrap()
            .contains("task-sa")
    );
}

#[test]
fn sky321_static_keys_would_be_embedded() {
    let s = Scenario::healthy_pod_identity()
        .env("AWS_ACCESS_KEY_ID", Some("AKIALABSTATICKEY000"))
        .env("AWS_SECRET_ACCESS_KEY", Some("lab-static-secret-canary"));
    let lab = Lab::start(s);
    let (code, doc) = lab.doctor_json(&[]);
    assert_only(&doc, "sky.mount-credentials", "warn", "SKY321");
    assert!(
        !doc.to_string().contains("lab-static-secret-canary"),
        "the secret key never appears"
    );
    assert_eq!(code, 0);
}

#[test]
fn sky322_web_identity_on_the_api_server_machine() {
    let s = Scenario::healthy_pod_identity()
        // botocore takes web identity before the profile's credential_process: the token must be readable.
        .env(
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            Some(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/aws-home/web-identity-token"
            )),
        )
        .env("AWS_ROLE_ARN", Some("arn:aws:iam::123456789012:role/ApiServer"));
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "sky.mount-credentials", "warn", "SKY322");
    assert_eq!(code, 0);
}

#[test]
fn sky323_mount_mode_cannot_use_the_role() {
    let task = "file_mounts:\n  /data:\n    source: s3://lab-bucket/\n  /out:\n    source: s3://lab-bucket/out\n    mode: mount_cached\n";
    let lab = Lab::start(Scenario::healthy_pod_identity().with(|s| {
        s.files.insert("work/task.yaml".into(), task.into());
    }));
    let (code, doc) = lab.doctor_json(&["--task", "task.yaml"]);
    assert_only(&doc, "sky.mount-credentials", "fail", "SKY323");
    let msg = check(&doc, "sky.mount-credentials")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("/data") && !msg.contains("/out"), "{msg}");
    assert_eq!(code, 1);
}

#[test]
fn sky331_pod_runs_as_another_service_account() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| pod(s).service_account = "default".into()));
    assert_only(&doc, "pod.credentials", "fail", "SKY331");
    assert_eq!(fix(&doc, "pod.credentials")[0], "sky down lab-test");
    assert_eq!(code, 1);
}

#[test]
fn sky332_pod_older_than_the_association() {
    let s = Scenario::healthy_pod_identity().with(|s| {
        pod(s).env.retain(|k, _| !k.starts_with("AWS_"));
        // Nothing injected: the pod's clients fall back to the node's instance role, which can list the bucket.
        pod(s).aws.identity = Ok(format!("arn:aws:sts::{ACCOUNT}:assumed-role/eks-node-role/i-0abc"));
        s.associations[0].created_at = 1_800_000_000.0;
    });
    let (code, doc, _lab) = run(s);
    assert_eq!(check(&doc, "pod.credentials")["code"], "SKY332");
    // The probe still looks inside: the identity the pod really gets, and that it can read the bucket.
    let list = check(&doc, "pod.s3-list");
    assert_eq!(list["code"], "SKY343", "{list:#}");
    let msg = list["message"].as_str().unwrap();
    assert!(msg.contains("eks-node-role") && msg.contains("can list"), "{msg}");
    assert_eq!(
        fix(&doc, "pod.credentials"),
        [
            "sky down lab-test",
            "sky launch -c lab-test --infra kubernetes task.yaml"
        ]
    );
    assert_eq!(code, 1);
}

#[test]
fn sky333_credentials_not_injected() {
    // Nothing injected: the pod's clients get the node's instance role (which here cannot list the bucket).
    let node_role = |s: &mut Scenario| {
        pod(s).aws.identity = Ok(format!("arn:aws:sts::{ACCOUNT}:assumed-role/eks-node-role/i-0abc"));
        pod(s).aws.list = Err((
            "An error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied".into(),
            1,
        ));
    };
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| {
        pod(s).env.retain(|k, _| !k.starts_with("AWS_"));
        node_role(s);
    }));
    assert_eq!(check(&doc, "pod.credentials")["code"], "SKY333");
    assert_eq!(check(&doc, "pod.s3-list")["code"], "SKY343");
    assert!(
        !check(&doc, "pod.s3-list")["message"]
            .as_str()
            .unwrap()
            .contains("can list")
    );
    let (code_irsa, doc_irsa, _lab) = run(Scenario::healthy_irsa().with(|s| {
        pod(s).env.clear();
        node_role(s);
    }));
    assert_eq!(check(&doc_irsa, "pod.credentials")["code"], "SKY333");
    assert_eq!(check(&doc_irsa, "pod.s3-list")["code"], "SKY343");
    assert_eq!((code, code_irsa), (1, 1));
}

#[test]
fn sky334_pod_got_another_role() {
    let s = Scenario::healthy_irsa().with(|s| {
        pod(s)
            .env
            .insert("AWS_ROLE_ARN".into(), format!("arn:aws:iam::{ACCOUNT}:role/Old"));
    });
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "pod.credentials", "fail", "SKY334");
    assert_eq!(code, 1);
}

#[test]
fn sky335_pod_identity_on_host_network() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| pod(s).host_network = true));
    assert_only(&doc, "pod.credentials", "warn", "SKY335");
    assert_eq!(code, 0);
}

#[test]
fn sky336_web_identity_variables_in_a_pod_identity_pod() {
    let stale = format!("arn:aws:iam::{ACCOUNT}:role/Stale");
    let web_identity = |s: &mut Scenario| {
        pod(s).env.insert("AWS_ROLE_ARN".into(), stale.clone());
        pod(s).env.insert(
            "AWS_WEB_IDENTITY_TOKEN_FILE".into(),
            "/var/run/secrets/eks.amazonaws.com/serviceaccount/token".into(),
        );
        // Web identity comes first in every SDK's chain: the pod runs as that role.
        pod(s).aws.identity = Ok(format!("arn:aws:sts::{ACCOUNT}:assumed-role/Stale/botocore-session-1"));
    };
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(web_identity));
    let c = check(&doc, "pod.credentials");
    assert_eq!(
        (c["status"].as_str(), c["code"].as_str()),
        (Some("fail"), Some("SKY336")),
        "{c:#}"
    );
    let msg = c["message"].as_str().unwrap();
    assert!(msg.contains(&stale) && msg.contains("not SkyPilot's config"), "{msg}");
    // The pod itself confirms it: it runs as the other role.
    assert_eq!(check(&doc, "pod.s3-list")["code"], "SKY343");
    assert_eq!(code, 1);
    // Set by SkyPilot's pod_config: the message names the file.
    let pod_config = "kubernetes:\n  pod_config:\n    spec:\n      containers:\n        - env:\n            - name: AWS_ROLE_ARN\n              value: arn:aws:iam::123456789012:role/Stale\naws:\n  remote_identity: NO_UPLOAD\n";
    let (_, doc, _lab) = run(Scenario::healthy_pod_identity().with(web_identity).with(|s| {
        s.sky_user_config = Some(pod_config.into());
    }));
    let msg = check(&doc, "pod.credentials")["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("SkyPilot's kubernetes.pod_config in") && msg.contains("config.yaml"),
        "{msg}"
    );
}

#[test]
fn sky337_sky338_pods_where_pod_identity_does_not_work() {
    for (label, value, code) in [
        ("eks.amazonaws.com/compute-type", "fargate", "SKY337"),
        ("kubernetes.io/os", "windows", "SKY338"),
    ] {
        let (code_exit, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| {
            s.nodes
                .get_mut(crate::lab::LAB_NODE)
                .unwrap()
                .insert(label.into(), value.into());
        }));
        assert_only(&doc, "pod.credentials", "fail", code);
        let msg = check(&doc, "pod.credentials")["message"].as_str().unwrap().to_string();
        assert!(msg.contains(crate::lab::LAB_NODE) && msg.contains(value), "{msg}");
        assert_eq!(code_exit, 1);
    }
    // A node the doctor may not read: said, not passed over.
    let (_, doc, _lab) = run(Scenario::healthy_pod_identity().fault("kube", Some("nodes"), FaultKind::AccessDenied));
    let c = check(&doc, "pod.credentials");
    assert!(c["message"].as_str().unwrap().contains("could not be read"), "{c:#}");
}

#[test]
fn sky339_an_http_proxy_that_catches_the_agent() {
    let proxied = |no_proxy: &'static str| {
        Scenario::healthy_pod_identity().with(move |s| {
            pod(s)
                .env
                .insert("HTTP_PROXY".into(), "http://alice:s3cret@proxy.corp:3128".into());
            pod(s).env.insert("NO_PROXY".into(), no_proxy.into());
        })
    };
    let (code, doc, _lab) = run(proxied("localhost,169.254.169.254"));
    assert_only(&doc, "pod.credentials", "warn", "SKY339");
    let out = doc.to_string();
    assert!(!out.contains("s3cret"), "the proxy's password never enters the report");
    assert!(out.contains("<credentials>@proxy.corp:3128"), "{out}");
    assert_eq!(code, 0);
    // The agent's address in NO_PROXY (as the EKS user guide says): no finding.
    let (_, doc, _lab) = run(proxied("localhost,169.254.170.23,[fd00:ec2::23]"));
    assert_eq!(check(&doc, "pod.credentials")["status"], "pass", "{doc:#}");
}

#[test]
fn sky340_a_network_policy_that_cuts_off_the_agent() {
    let with = |egress: Value| {
        Scenario::healthy_pod_identity()
            .with(move |s| s.network_policies = vec![crate::lab::egress_policy("egress", egress)])
    };
    // HTTPS anywhere, nothing on port 80: the agent is cut off.
    let https_only = json!([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}]);
    let (code, doc, _lab) = run(with(https_only.clone()));
    assert_only(&doc, "pod.credentials", "warn", "SKY340");
    let msg = check(&doc, "pod.credentials")["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("NetworkPolicy egress") && msg.contains("169.254.170.23"),
        "{msg}"
    );
    assert_eq!(code, 0);
    // Deny all egress (an empty list) cuts it off too; the agent's /32 on port 80 beside HTTPS lets it through;
    // an ipBlock whose `except` holds the agent does not.
    let (_, doc, _lab) = run(with(json!([])));
    assert_eq!(check(&doc, "pod.credentials")["code"], "SKY340", "{doc:#}");
    let mut allowed = https_only.as_array().unwrap().clone();
    allowed.push(json!({"to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}], "ports": [{"port": 80}]}));
    let (_, doc, _lab) = run(with(Value::Array(allowed)));
    assert_eq!(check(&doc, "pod.credentials")["status"], "pass", "{doc:#}");
    let except = json!([{"to": [{"ipBlock": {"cidr": "169.254.0.0/16", "except": ["169.254.170.0/24"]}}]}]);
    let (_, doc, _lab) = run(with(except));
    assert_eq!(check(&doc, "pod.credentials")["code"], "SKY340", "{doc:#}");
}

#[test]
fn sky341_uploaded_credentials_file() {
    // The uploaded file wins over Pod Identity's container provider: the pod runs as the file's user.
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| {
        pod(s).aws.credentials_file = true;
        pod(s).aws.identity = Ok(format!("arn:aws:iam::{ACCOUNT}:user/alice"));
    }));
    assert_only(&doc, "pod.s3-list", "fail", "SKY341");
    let out = doc.to_string();
    assert!(
        !out.contains("lab-uploaded-secret") && !out.contains("AKIALABUPLOADED"),
        "the file is never read"
    );
    assert_eq!(code, 1);
}

#[test]
fn sky349_uploaded_credentials_file_but_web_identity_won() {
    let (code, doc, _lab) = run(Scenario::healthy_irsa().with(|s| pod(s).aws.credentials_file = true));
    assert_only(&doc, "pod.s3-list", "warn", "SKY349");
    assert_eq!(code, 0);
}

#[test]
fn sky342_no_credentials_in_the_pod() {
    let s = Scenario::healthy_pod_identity().with(|s| pod(s).aws.identity = Err((AWSCLI_NO_CREDENTIALS.into(), 253)));
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "pod.s3-list", "fail", "SKY342");
    assert!(
        check(&doc, "pod.s3-list")["message"]
            .as_str()
            .unwrap()
            .contains("Unable to locate credentials")
    );
    assert_eq!(code, 1);
}

#[test]
fn sky343_pod_falls_back_to_the_node_role() {
    let node =
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/eksctl-lab-nodegroup-NodeInstanceRole-1ABC/i-0123456789abcdef0");
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| pod(s).aws.identity = Ok(node.clone())));
    assert_only(&doc, "pod.s3-list", "fail", "SKY343");
    assert!(
        check(&doc, "pod.s3-list")["message"]
            .as_str()
            .unwrap()
            .contains("NodeInstanceRole")
    );
    assert_eq!(code, 1);
}

#[test]
fn sky344_list_denied() {
    let (code, doc, _lab) =
        run(Scenario::healthy_pod_identity().with(|s| pod(s).aws.list = Err((AWSCLI_LIST_DENIED.into(), 254))));
    assert_only(&doc, "pod.s3-list", "fail", "SKY344");
    assert_eq!(
        fix(&doc, "pod.s3-list"),
        ["aws s3api get-bucket-policy --bucket lab-bucket"]
    );
    assert_eq!(code, 1);
}

#[test]
fn sky345_no_openid_connect_provider() {
    let (code, doc, _lab) =
        run(Scenario::healthy_irsa().with(|s| pod(s).aws.identity = Err((AWSCLI_NO_OIDC.into(), 254))));
    assert_only(&doc, "pod.s3-list", "fail", "SKY345");
    assert_eq!(code, 1);
}

#[test]
fn sky346_unclassified_failure() {
    let err =
        "\nCould not connect to the endpoint URL: \"https://lab-bucket.s3.us-west-2.amazonaws.com/?list-type=2\"\n";
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| pod(s).aws.list = Err((err.into(), 255))));
    assert_only(&doc, "pod.s3-list", "fail", "SKY346");
    assert_eq!(code, 1);
}

#[test]
fn sky347_no_client_in_the_pod() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| pod(s).aws.cli = false));
    assert_only(&doc, "pod.s3-list", "inconclusive", "SKY347");
    assert_eq!(
        fix(&doc, "pod.s3-list"),
        ["ssh lab-test", "pip install awscli", "aws s3 ls s3://lab-bucket/"]
    );
    assert_eq!(code, 3);
}

#[test]
fn exec_forbidden_is_inconclusive() {
    let s = Scenario::healthy_pod_identity().fault("kube", Some("pods/exec"), FaultKind::AccessDenied);
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "pod.s3-list", "inconclusive", "SKY001");
    assert!(
        check(&doc, "pod.s3-list")["message"]
            .as_str()
            .unwrap()
            .contains("create pods/exec")
    );
    assert_eq!(code, 3);
}

#[test]
fn one_pod_per_sky_cluster_head_first() {
    let s = Scenario::healthy_pod_identity().with(|s| {
        let mut worker = s.pods[0].clone();
        worker.name = "lab-test-1a2b3c4d-worker1".into();
        worker.labels.insert("ray-node-type".into(), "worker".into());
        worker.aws.cli = false;
        s.pods.insert(0, worker);
        let role = s.role_arn();
        let mut second = sky_pod(
            &role,
            &[
                (
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "http://169.254.170.23/v1/credentials",
                ),
                (
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                    "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
                ),
            ],
        );
        second.name = "two-00ff00ff-head".into();
        second.annotations.insert("skypilot-cluster-name".into(), "two".into());
        s.pods.push(second);
    });
    let (code, doc, lab) = run(s);
    assert_eq!(check(&doc, "pod.s3-list")["status"], "pass", "{doc:#}");
    let execs: Vec<String> = lab
        .requests()
        .into_iter()
        .filter(|r| r.op == "exec pods/exec")
        .map(|r| r.path)
        .collect();
    assert_eq!(execs.len(), 2, "{execs:?}");
    assert!(execs.iter().all(|p| !p.contains("worker1")), "{execs:?}");
    assert_eq!(code, 0);
}

/// The probe's python branch, for real: no aws CLI, python3 with the lab venv's boto3, IRSA env. boto3 trades
/// the pod's web identity token for the role at moto's STS and lists the bucket in moto's S3.
#[test]
fn boto3_branch_assumes_the_role_and_lists_for_real() {
    let s = Scenario::healthy_irsa().with(|s| {
        let p = pod(s);
        p.aws.cli = false;
        p.aws.boto3 = true;
        p.env.insert("AWS_WEB_IDENTITY_TOKEN_FILE".into(), "token".into());
        p.env.insert("AWS_DEFAULT_REGION".into(), "us-west-2".into());
        let home = format!("pods/{}/home/token", p.name);
        s.files
            .insert(home, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsYWIifQ.c2ln".into());
    });
    let lab = Lab::start(s);
    // The pod's SDK talks to moto directly: its requests are the pod's, not the doctor's.
    lab.state.scenario.lock().unwrap().pods[0]
        .env
        .insert("AWS_ENDPOINT_URL".into(), lab.moto_url.clone());
    let (code, doc) = lab.doctor_json(&[]);
    let c = check(&doc, "pod.s3-list");
    assert_eq!(c["status"], "pass", "{c:#}");
    assert_eq!(
        c["evidence"]["pods"][0]["probe"]["result"]["client"], "botocore",
        "{c:#}"
    );
    assert_eq!(code, 0);
}

#[test]
fn sky348_pod_may_not_assume_the_role() {
    let s = Scenario::healthy_irsa().with(|s| pod(s).aws.identity = Err((AWSCLI_ASSUME_DENIED.into(), 254)));
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "pod.s3-list", "fail", "SKY348");
    assert_eq!(
        fix(&doc, "pod.s3-list"),
        ["aws iam get-role --role-name SkyPilotS3Role-lab-bucket --query Role.AssumeRolePolicyDocument"]
    );
    assert_eq!(code, 1);
}

/// The in-pod causes the stand-in can voice (moto cannot produce these answers), each through the real binary.
#[test]
fn sky363_to_sky368_and_sky370_through_the_binary() {
    fn err<T>(t: &str) -> Result<T, (String, i32)> {
        Err((format!("\n{t}\n"), 254))
    }
    let cases: Vec<(Scenario, &str, &str)> = vec![
        (
            Scenario::healthy_pod_identity().with(|s| pod(s).aws.list = err("An error occurred (RequestTimeTooSkewed) when calling the ListObjectsV2 operation: The difference between the request time and the current time is too large.")),
            "fail",
            "SKY363",
        ),
        (
            Scenario::healthy_pod_identity().with(|s| pod(s).aws.identity = err("An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity operation: The security token included in the request is invalid.")),
            "fail",
            "SKY364",
        ),
        (
            Scenario::healthy_irsa().with(|s| pod(s).aws.identity = err("An error occurred (IDPCommunicationError) when calling the AssumeRoleWithWebIdentity operation: Couldn't retrieve verification key from your identity provider")),
            "inconclusive",
            "SKY365",
        ),
        (
            Scenario::healthy_irsa().with(|s| pod(s).aws.identity = err("An error occurred (ExpiredTokenException) when calling the AssumeRoleWithWebIdentity operation: Token expired")),
            "fail",
            "SKY366",
        ),
        (
            Scenario::healthy_irsa().with(|s| pod(s).aws.identity = err("An error occurred (RegionDisabledException) when calling the AssumeRoleWithWebIdentity operation: STS is not activated in this region")),
            "fail",
            "SKY367",
        ),
        (
            Scenario::healthy_pod_identity().with(|s| pod(s).aws.identity = err("Unsupported host '169.254.170.23'.  Can only retrieve metadata from these hosts: 169.254.170.2, localhost, 127.0.0.1")),
            "fail",
            "SKY368",
        ),
        (
            Scenario::healthy_pod_identity().with(|s| pod(s).aws.rclone = Some("rclone v1.65.2".into())),
            "warn",
            "SKY370",
        ),
    ];
    for (s, status, code) in cases {
        let (_, doc, _lab) = run(s);
        assert_only(&doc, "pod.s3-list", status, code);
    }
}

#[test]
fn sky171_another_skypilot_release_line_is_installed() {
    let s = Scenario::healthy_pod_identity().with(|s| {
        s.files.insert(
            format!(
                "home/.local/lib/python3.11/site-packages/skypilot-{}.dist-info/METADATA",
                skys3::sky::MODELLED_VERSION
            ),
            "Metadata-Version: 2.1\nName: skypilot\nVersion: 0.13.2\n".into(),
        );
    });
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "sky.version", "warn", "SKY171");
    assert!(
        check(&doc, "sky.version")["message"]
            .as_str()
            .unwrap()
            .contains("0.13.2")
    );
    assert_eq!(code, 0);
}

#[test]
fn sky_version_reads_the_real_package_and_skips_without_sky() {
    let lab = Lab::start(Scenario::healthy_pod_identity());
    // The lab venv's SkyPilot, the release the doctor models, found through its console script.
    let venv_bin = crate::lab::venv_dir().join("bin");
    let out = lab
        .command()
        .env("PATH", format!("{}:/usr/bin:/bin", venv_bin.display()))
        .args(["doctor", "-o", "json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = check(&doc, "sky.version");
    assert_eq!(c["status"], "pass", "{c:#}");
    assert_eq!(c["evidence"]["installed"]["version"], skys3::sky::MODELLED_VERSION);
    let out = lab
        .command()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", lab.dir.path().join("empty-home"))
        .args(["doctor", "-o", "json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = check(&doc, "sky.version");
    assert_eq!(
        (c["status"].as_str(), c["code"].as_str()),
        (Some("skip"), Some("SKY009")),
        "{c:#}"
    );
}

fn with_user_config(config: &str) -> Scenario {
    let config = config.to_string();
    Scenario::healthy_pod_identity().with(move |s| s.sky_user_config = Some(config))
}

#[test]
fn sky145_skypilot_rejects_the_config() {
    // A list where SkyPilot's schema wants a string or a map: SkyPilot refuses to run with it.
    let (code, doc, _lab) = run(with_user_config(
        "aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  remote_identity: [skypilot-service-account]\n",
    ));
    let c = check(&doc, "sky.config");
    assert_eq!(
        (c["status"].as_str(), c["code"].as_str()),
        (Some("fail"), Some("SKY145")),
        "{c:#}"
    );
    assert!(
        c["message"].as_str().unwrap().contains("kubernetes.remote_identity"),
        "{c:#}"
    );
    assert_eq!(check(&doc, "sky.service-account")["code"], "SKY007");
    assert_eq!(code, 1);
    // Workspaces set in the project file never reach the API server: activating one is an error.
    let s = Scenario::healthy_pod_identity().with(|s| {
        s.sky_project_config =
            Some("active_workspace: team\nworkspaces:\n  team:\n    aws:\n      remote_identity: NO_UPLOAD\n".into())
    });
    let (_, doc, _lab) = run(s);
    let c = check(&doc, "sky.config");
    assert_eq!(c["code"], "SKY145", "{c:#}");
    assert!(
        c["message"].as_str().unwrap().contains("active_workspace team"),
        "{c:#}"
    );
}

#[test]
fn sky312_no_context_glob_matches() {
    let (code, doc, _lab) = run(with_user_config(
        "aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  remote_identity:\n    'prod-{lab,dev}': skypilot-service-account\n",
    ));
    // fnmatch has no braces: the glob does not match context "lab", and SkyPilot stops.
    assert_only(&doc, "sky.service-account", "fail", "SKY312");
    assert_eq!(code, 1);
}

#[test]
fn sky313_skypilot_launches_on_another_context() {
    let (code, doc, _lab) = run(with_user_config(
        "aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  allowed_contexts: [prod]\n",
    ));
    assert_only(&doc, "sky.service-account", "warn", "SKY313");
    assert_eq!(code, 0);
}

#[test]
fn sky324_a_credential_process_identity_is_embedded_in_mounts() {
    let lab = Lab::start(Scenario::healthy_pod_identity());
    let config = lab.dir.path().join("aws-config-process");
    let script = lab.dir.path().join("creds.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"testing\", \"SecretAccessKey\": \"testing\"}'\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(
        &config,
        format!("[default]\ncredential_process = {}\n", script.display()),
    )
    .unwrap();
    let out = lab
        .command()
        .env("AWS_CONFIG_FILE", &config)
        .args(["doctor", "-o", "json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_only(&doc, "sky.mount-credentials", "warn", "SKY324");
}

#[test]
fn sky325_the_workspace_profile_gives_no_credentials() {
    let (code, doc, _lab) = run(with_user_config(
        "aws:\n  remote_identity: NO_UPLOAD\nactive_workspace: team\nworkspaces:\n  team:\n    aws:\n      profile: missing-profile\n",
    ));
    assert_only(&doc, "sky.mount-credentials", "warn", "SKY325");
    let summary = check(&doc, "sky.mount-credentials")["remediation"]["summary"]
        .as_str()
        .unwrap();
    assert!(summary.contains("missing-profile"), "{summary}");
    assert_eq!(code, 0);
}

#[test]
fn sky161_sky162_sso_refresh_and_a_role_that_refuses() {
    let home = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/aws-home");
    let lab = Lab::start(Scenario::healthy_pod_identity().fault("sts", Some("AssumeRole"), FaultKind::AccessDenied));
    let identity = |envs: &[(&str, String)]| {
        let out = lab
            .command()
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["doctor", "-o", "json"])
            .output()
            .unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        check(&doc, "aws.identity").clone()
    };
    let c = identity(&[
        ("HOME", home.to_string()),
        ("AWS_CONFIG_FILE", format!("{home}/config")),
        ("AWS_PROFILE", "sso-refresh".into()),
    ]);
    assert_eq!(
        (c["status"].as_str(), c["code"].as_str()),
        (Some("inconclusive"), Some("SKY161")),
        "{c:#}"
    );
    // A profile whose role the lab's STS refuses, sourced from the lab's SSO login.
    let config = lab.dir.path().join("aws-config-role");
    let base = std::fs::read_to_string(lab.dir.path().join("aws-config")).unwrap();
    std::fs::write(
        &config,
        format!("{base}\n[profile r]\nrole_arn = arn:aws:iam::123456789012:role/Admin\nsource_profile = default\n"),
    )
    .unwrap();
    let c = identity(&[
        ("AWS_CONFIG_FILE", config.display().to_string()),
        ("AWS_PROFILE", "r".into()),
    ]);
    assert_eq!(
        (c["status"].as_str(), c["code"].as_str()),
        (Some("fail"), Some("SKY162")),
        "{c:#}"
    );
    let fixes = fix(&serde_json::json!({ "checks": [c.clone()] }), "aws.identity");
    assert!(fixes.iter().any(|f| f.contains("--profile r")), "{fixes:?}");
}

#[test]
fn sky314_skypilot_launches_in_another_namespace() {
    // K8S_NAMESPACE=default is checked, but SkyPilot's context settings put the pods in team-a.
    let (code, doc, _lab) = run(with_user_config(
        "aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  context_configs:\n    lab:\n      namespace: team-a\n",
    ));
    assert_only(&doc, "sky.service-account", "warn", "SKY314");
    let msg = check(&doc, "sky.service-account")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("team-a") && msg.contains("default"), "{msg}");
    assert_eq!(code, 0);
}
