//! Every check against the lab: the healthy setups pass, and each failure code has a broken setup that produces
//! exactly that code on exactly that check, with nothing else failing.

use serde_json::Value;

use crate::lab::{Endpoint, FaultKind, Lab, Scenario, free_port};

/// The check with `id` in a report.
pub fn check<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .expect("checks is an array")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {doc:#}"))
}

/// Asserts that `id` has `status` and `code`, and that every other check passed or was skipped because of it.
pub fn assert_only(doc: &Value, id: &str, status: &str, code: &str) {
    let c = check(doc, id);
    assert_eq!(
        (c["status"].as_str(), c["code"].as_str()),
        (Some(status), Some(code)),
        "{id} in {doc:#}"
    );
    assert!(
        c["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{id} has a message"
    );
    if status == "fail" || status == "warn" {
        let r = &c["remediation"];
        assert!(
            r["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{id} has a fix: {c:#}"
        );
        assert!(
            r["guide"].as_str().is_some_and(|s| !s.is_empty()),
            "{id} cites the guide: {c:#}"
        );
    }
    for other in doc["checks"].as_array().unwrap() {
        if other["id"] == id {
            continue;
        }
        match other["status"].as_str().unwrap() {
            "pass" => {}
            // Not applicable to the mode, or nothing to look at (no pods): not a finding.
            "skip" if other["code"] == "SKY008" || other["code"] == "SKY009" => {}
            "skip" => assert!(
                other["blocked_by"].as_array().is_some_and(|b| !b.is_empty()),
                "{} skipped without a blocker: {other:#}",
                other["id"]
            ),
            s => panic!("{} is {s}, but only {id} should be off: {doc:#}", other["id"]),
        }
    }
    assert_no_unfilled_placeholders(doc);
}

/// The fix commands of check `id`.
pub fn fix(doc: &Value, id: &str) -> Vec<String> {
    check(doc, id)["remediation"]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// No remediation may carry a `{placeholder}` the doctor failed to fill.
pub fn assert_no_unfilled_placeholders(doc: &Value) {
    for c in doc["checks"].as_array().unwrap() {
        let r = &c["remediation"];
        let mut texts = vec![r["summary"].as_str().unwrap_or("").to_string()];
        texts.extend(
            r["commands"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| v.as_str().unwrap().to_string()),
        );
        for t in texts {
            assert!(
                skys3::template::placeholders(&t).is_empty(),
                "unfilled placeholder in {}: {t}",
                c["id"]
            );
        }
    }
}

/// Starts a lab for `s` and runs `skys3 doctor -o json`.
pub fn run(s: Scenario) -> (i32, Value, Lab) {
    let lab = Lab::start(s);
    let (code, doc) = lab.doctor_json(&[]);
    (code, doc, lab)
}

/// Asserts that every check passed, except the other mode's, which are skipped as not applicable.
pub fn assert_healthy(doc: &Value, other_mode: &[&str]) {
    for c in doc["checks"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        // The second hop's check applies only to an association with a target role.
        let no_target_role = id == "iam.target-role"
            && !doc["checks"].as_array().unwrap().iter().any(|c| {
                c["id"] == "pod-identity.association"
                    && c["message"].as_str().is_some_and(|m| m.contains("then target role"))
            });
        if other_mode.contains(&id) || no_target_role {
            assert_eq!(
                (c["status"].as_str(), c["code"].as_str()),
                (Some("skip"), Some("SKY008")),
                "{id}: {c:#}"
            );
        } else {
            assert_eq!(c["status"], "pass", "{id}: {doc:#}");
        }
    }
    assert_eq!(doc["status"], "pass");
}

/// The checks that only apply to Pod Identity.
pub const POD_IDENTITY_ONLY: &[&str] = &[
    "pod-identity.addon",
    "pod-identity.node-role",
    "pod-identity.association",
];
/// The checks that only apply to IRSA.
pub const IRSA_ONLY: &[&str] = &["irsa.oidc-provider", "irsa.annotation"];

#[test]
fn healthy_pod_identity_passes() {
    let (code, doc, lab) = run(Scenario::healthy_pod_identity());
    assert_healthy(&doc, IRSA_ONLY);
    assert_eq!(doc["target"]["mode"], "pod-identity");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["status"], "pass");
    assert_eq!(code, 0);
    let t = &doc["target"];
    assert_eq!(t["cluster"], "lab-cluster");
    assert_eq!(t["region"], "us-west-2");
    assert_eq!(t["context"], "lab");
    assert_eq!(t["namespace"], "default");
    assert_eq!(t["service_account"], "skypilot-service-account");
    assert_eq!(t["bucket"], "lab-bucket");
    assert_eq!(t["role_name"], "SkyPilotS3Role-lab-bucket");
    assert_eq!(t["policy_name"], "SkyPilotS3Access-lab-bucket");
    assert_eq!(t["sources"]["cluster"], "env EKS_CLUSTER_NAME");
    assert_eq!(t["sources"]["context"], "kubeconfig current-context");
    assert_eq!(t["sources"]["role_name"], "default (SkyPilotS3Role-<bucket>)");
    assert_eq!(check(&doc, "aws.identity")["evidence"]["account"], "123456789012");
    assert_eq!(check(&doc, "aws.identity")["evidence"]["partition"], "aws");

    // Memoized facts: no request is made twice in one run.
    let reqs = lab.requests();
    let mut seen = std::collections::HashSet::new();
    for r in &reqs {
        assert!(
            seen.insert((r.service.clone(), r.op.clone(), r.path.clone())),
            "repeated request {r:?} in {reqs:#?}"
        );
    }
}

#[test]
fn healthy_irsa_passes() {
    let (code, doc, _lab) = run(Scenario::healthy_irsa());
    assert_healthy(&doc, POD_IDENTITY_ONLY);
    assert_eq!(doc["target"]["mode"], "irsa");
    assert_eq!(code, 0);
}

#[test]
fn sky101_no_aws_credentials() {
    let s = Scenario::healthy_pod_identity().env("AWS_CONFIG_FILE", Some("/nonexistent/aws-config"));
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "aws.identity", "fail", "SKY101");
    let msg = check(&doc, "aws.identity")["message"].as_str().unwrap().to_string();
    assert!(msg.contains("profile default"), "the profile is named first: {msg}");
    assert!(msg.chars().count() < 420, "{msg}");
    assert_eq!(check(&doc, "eks.cluster")["status"], "skip");
    assert_eq!(check(&doc, "eks.cluster")["code"], "SKY007");
    assert_eq!(
        check(&doc, "eks.cluster")["blocked_by"],
        serde_json::json!(["aws.identity"])
    );
    assert_eq!(
        check(&doc, "kube.service-account")["blocked_by"],
        serde_json::json!(["kube.context"])
    );
    assert_eq!(code, 1);
}

#[test]
fn sky102_credentials_rejected() {
    let s = Scenario::healthy_pod_identity().fault(
        "sts",
        Some("GetCallerIdentity"),
        FaultKind::Code(403, "InvalidClientTokenId".into()),
    );
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "aws.identity", "fail", "SKY102");
    assert_eq!(code, 1);
}

#[test]
fn sky111_cluster_not_found() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.eks = None));
    assert_only(&doc, "eks.cluster", "fail", "SKY111");
    let fix = &check(&doc, "eks.cluster")["remediation"]["commands"][0];
    assert_eq!(fix, "aws eks list-clusters --region us-west-2");
    assert_eq!(code, 1);
}

#[test]
fn sky112_cluster_not_active() {
    let (code, doc, _lab) =
        run(Scenario::healthy_pod_identity().with(|s| s.eks.as_mut().unwrap().status = "CREATING".into()));
    assert_only(&doc, "eks.cluster", "fail", "SKY112");
    assert!(
        check(&doc, "eks.cluster")["message"]
            .as_str()
            .unwrap()
            .contains("CREATING")
    );
    assert_eq!(code, 1);
}

#[test]
fn sky113_cluster_updating_is_a_warning() {
    let (code, doc, _lab) =
        run(Scenario::healthy_pod_identity().with(|s| s.eks.as_mut().unwrap().status = "UPDATING".into()));
    assert_only(&doc, "eks.cluster", "warn", "SKY113");
    // A warning does not block the checks after it, and does not fail the run.
    assert_eq!(check(&doc, "kube.context")["status"], "pass");
    assert_eq!(doc["status"], "warn");
    assert_eq!(code, 0);
}

#[test]
fn sky121_context_points_at_another_cluster() {
    let other = "https://0123456789ABCDEF.gr7.us-west-2.eks.amazonaws.com";
    let (code, doc, lab) = run(
        Scenario::healthy_pod_identity().with(|s| s.eks.as_mut().unwrap().endpoint = Endpoint::Other(other.into()))
    );
    assert_eq!(check(&doc, "kube.context")["code"], "SKY121");
    assert_aws_side_still_decided(&doc);
    let c = check(&doc, "kube.context");
    let msg = c["message"].as_str().unwrap();
    assert!(
        msg.contains(other) && msg.contains(&lab.kube_url),
        "names both servers: {msg}"
    );
    assert_eq!(
        c["remediation"]["commands"][0],
        "aws eks update-kubeconfig --name lab-cluster --region us-west-2"
    );
    assert_eq!(check(&doc, "kube.service-account")["status"], "skip");
    // The wrong cluster is never contacted.
    assert!(
        lab.requests().iter().all(|r| r.service != "kube"),
        "{:?}",
        lab.requests()
    );
    assert_eq!(code, 1);
}

#[test]
fn sky122_kube_credentials_rejected() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.kube_token_valid = false));
    assert_eq!(check(&doc, "kube.context")["code"], "SKY122");
    assert_aws_side_still_decided(&doc);
    assert_eq!(code, 1);
}

#[test]
fn an_unreachable_api_server_leaves_no_blind_spot_on_the_aws_side() {
    let (code, doc, _lab) =
        run(Scenario::healthy_pod_identity()
            .with(|s| s.kube_server = Some(format!("https://127.0.0.1:{}", free_port()))));
    assert_eq!(check(&doc, "kube.context")["status"], "inconclusive");
    assert_aws_side_still_decided(&doc);
    assert_eq!(code, 3);
}

/// With the kube context broken, the wiring is still known from AWS (the association), and every check whose
/// facts are all on the AWS side still decides; the Kubernetes side is blocked or inconclusive, never a pass.
fn assert_aws_side_still_decided(doc: &Value) {
    let mode = check(doc, "mode");
    assert_eq!(mode["status"], "pass", "{mode:#}");
    assert!(
        mode["message"].as_str().unwrap().contains("decided from AWS alone"),
        "{mode:#}"
    );
    assert_eq!(doc["target"]["mode"], "pod-identity");
    for id in [
        "pod-identity.association",
        "iam.trust-policy",
        "iam.role",
        "iam.s3-permissions",
        "s3.bucket",
    ] {
        assert_eq!(check(doc, id)["status"], "pass", "{id}: {:#}", check(doc, id));
    }
    assert_eq!(
        check(doc, "pod-identity.addon")["status"],
        "inconclusive",
        "{:#}",
        check(doc, "pod-identity.addon")
    );
    for id in ["kube.service-account", "pod.credentials", "pod.s3-list"] {
        assert_ne!(check(doc, id)["status"], "pass", "{id}");
    }
}

#[test]
fn sky131_service_account_missing() {
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.service_accounts.clear()));
    assert_only(&doc, "kube.service-account", "fail", "SKY131");
    let c = check(&doc, "kube.service-account");
    assert!(c["remediation"]["summary"].as_str().unwrap().contains("sky launch"));
    assert!(c["message"].as_str().unwrap().contains("skypilot-service-account"));
    assert_eq!(code, 1);
}

#[test]
fn sky132_namespace_missing() {
    // The association may well exist before its namespace does.
    let s = Scenario::healthy_pod_identity()
        .env("K8S_NAMESPACE", Some("team-a"))
        .with(|s| {
            s.associations[0].namespace = "team-a".into();
            // SkyPilot launches there too (else sky.service-account warns SKY314).
            s.sky_user_config = Some("aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  namespace: team-a\n".into());
        });
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "kube.service-account", "fail", "SKY132");
    assert_eq!(doc["target"]["namespace"], "team-a");
    assert_eq!(code, 1);
}

#[test]
fn sky141_remote_identity_not_set() {
    let (code, doc, lab) = run(Scenario::healthy_pod_identity().with(|s| s.sky_user_config = None));
    assert_only(&doc, "sky.config", "fail", "SKY141");
    let summary = check(&doc, "sky.config")["remediation"]["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        summary.contains(&lab.home().join(".sky/config.yaml").display().to_string()),
        "{summary}"
    );
    assert_eq!(code, 1);
}

#[test]
fn sky142_list_form_still_uploads() {
    let cfg = "aws:\n  remote_identity:\n    - \"*\": NO_UPLOAD\n";
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.sky_user_config = Some(cfg.into())));
    assert_only(&doc, "sky.config", "fail", "SKY142");
    assert_eq!(code, 1);
}

#[test]
fn sky143_other_value() {
    let cfg = "aws:\n  remote_identity: LOCAL_CREDENTIALS\n";
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.sky_user_config = Some(cfg.into())));
    assert_only(&doc, "sky.config", "fail", "SKY143");
    assert!(
        check(&doc, "sky.config")["message"]
            .as_str()
            .unwrap()
            .contains("LOCAL_CREDENTIALS")
    );
    assert_eq!(code, 1);
}

#[test]
fn sky143_project_file_overrides_user_file() {
    let s = Scenario::healthy_pod_identity()
        .with(|s| s.sky_project_config = Some("aws:\n  remote_identity: SERVICE_ACCOUNT\n".into()));
    let (_, doc, _lab) = run(s);
    assert_only(&doc, "sky.config", "fail", "SKY143");
    assert!(
        check(&doc, "sky.config")["evidence"]["file"]
            .as_str()
            .unwrap()
            .ends_with(".sky.yaml")
    );
}

#[test]
fn sky146_a_repeated_key_is_read_as_skypilot_reads_it() {
    let s = Scenario::healthy_pod_identity().with(|s| {
        s.sky_user_config =
            Some("aws:\n  remote_identity: LOCAL_CREDENTIALS\naws:\n  remote_identity: NO_UPLOAD\n".into())
    });
    let (code, doc, _lab) = run(s);
    // The later value wins, as in SkyPilot: NO_UPLOAD, with a warning naming the line.
    assert_only(&doc, "sky.config", "warn", "SKY146");
    let msg = check(&doc, "sky.config")["message"].as_str().unwrap().to_string();
    assert!(msg.contains("NO_UPLOAD") && msg.contains("line 3"), "{msg}");
    assert_eq!(code, 0);
}

#[test]
fn a_task_with_a_repeated_key_is_refused_in_skypilots_words() {
    let lab = Lab::start(Scenario::healthy_pod_identity());
    let task = lab.dir.path().join("task.yaml");
    std::fs::write(&task, "name: a\nname: b\nfile_mounts:\n  /data: s3://lab-bucket\n").unwrap();
    let out = lab.run(&["doctor", "--task", task.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SkyPilot refuses task file")
            && err.contains("Duplicate key 'name' in YAML at line 2")
            && err.contains("Remove one of the entries"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn sky144_invalid_yaml_names_file_line_column() {
    let cfg = "aws:\n  remote_identity: NO_UPLOAD\n kubernetes: [\n";
    let (code, doc, _lab) = run(Scenario::healthy_pod_identity().with(|s| s.sky_user_config = Some(cfg.into())));
    assert_only(&doc, "sky.config", "fail", "SKY144");
    let msg = check(&doc, "sky.config")["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("config.yaml") && msg.contains("line ") && msg.contains("column "),
        "{msg}"
    );
    assert_eq!(code, 1);
}

#[test]
fn sky001_access_denied_is_inconclusive() {
    let s = Scenario::healthy_pod_identity().fault("eks", Some("DescribeCluster"), FaultKind::AccessDenied);
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "eks.cluster", "inconclusive", "SKY001");
    assert!(
        check(&doc, "eks.cluster")["message"]
            .as_str()
            .unwrap()
            .contains("eks:DescribeCluster")
    );
    assert_eq!(doc["status"], "inconclusive");
    assert_eq!(code, 3);
}

#[test]
fn sky001_kube_forbidden_names_the_verb() {
    let s = Scenario::healthy_pod_identity().fault("kube", Some("serviceaccounts"), FaultKind::AccessDenied);
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "kube.service-account", "inconclusive", "SKY001");
    assert!(
        check(&doc, "kube.service-account")["message"]
            .as_str()
            .unwrap()
            .contains("get serviceaccounts")
    );
    assert_eq!(code, 3);
}

#[test]
fn sky002_hang_past_the_check_timeout() {
    let s = Scenario::healthy_pod_identity().fault("eks", Some("DescribeCluster"), FaultKind::Hang(30));
    let lab = Lab::start(s);
    let started = std::time::Instant::now();
    let (code, doc) = lab.doctor_json(&["--check-timeout", "2"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "the run ends soon after the timeout"
    );
    assert_only(&doc, "eks.cluster", "inconclusive", "SKY002");
    assert_eq!(code, 3);
}

#[test]
fn sky002_run_deadline_bounds_everything() {
    let s = Scenario::healthy_pod_identity().fault("kube", None, FaultKind::Hang(30));
    let lab = Lab::start(s);
    let started = std::time::Instant::now();
    let (code, doc) = lab.doctor_json(&["--timeout", "3"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "--timeout bounds the run"
    );
    assert_eq!(check(&doc, "kube.context")["code"], "SKY002");
    // Everything that waited on the hung cluster is inconclusive or blocked, never failed or passed by default;
    // the AWS side still decides.
    for c in doc["checks"].as_array().unwrap() {
        assert_ne!(c["status"], "fail", "{c:#}");
    }
    assert_eq!(check(&doc, "iam.role")["status"], "pass");
    assert_eq!(code, 3);
}

#[test]
fn sky003_unreachable_endpoint() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let s = Scenario::healthy_pod_identity().env("AWS_ENDPOINT_URL_EKS", Some(&closed));
    let (code, doc, _lab) = run(s);
    let c = check(&doc, "eks.cluster");
    assert_eq!(
        (c["status"].as_str(), c["code"].as_str()),
        (Some("inconclusive"), Some("SKY003")),
        "{c:#}"
    );
    // Without EKS the association (and any target role in it) is unknown: the verdicts on the pods' role are
    // undecided for the same cause, never judged on a role the pods may not get.
    for id in ["iam.s3-permissions", "s3.bucket-policy"] {
        let c = check(&doc, id);
        assert_eq!(
            (c["status"].as_str(), c["code"].as_str()),
            (Some("inconclusive"), Some("SKY003")),
            "{c:#}"
        );
        assert!(
            c["message"].as_str().unwrap().contains("ListPodIdentityAssociations"),
            "{c:#}"
        );
    }
    for c in doc["checks"].as_array().unwrap() {
        assert!(
            matches!(c["status"].as_str(), Some("pass" | "skip" | "inconclusive")),
            "nothing fails for an unreachable EKS: {c:#}"
        );
    }
    assert_eq!(code, 3);
}

#[test]
fn sky005_throttled() {
    let s = Scenario::healthy_pod_identity().fault("eks", Some("DescribeCluster"), FaultKind::Throttle);
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "eks.cluster", "inconclusive", "SKY005");
    assert_eq!(code, 3);
}

#[test]
fn sky006_server_error_and_malformed_body() {
    for kind in [FaultKind::ServerError, FaultKind::Malformed] {
        let s = Scenario::healthy_pod_identity().fault("eks", Some("DescribeCluster"), kind.clone());
        let (code, doc, _lab) = run(s);
        assert_only(&doc, "eks.cluster", "inconclusive", "SKY006");
        assert_eq!(code, 3, "{kind:?}");
    }
}

/// `--wait`: the association appears while the doctor waits (as after `aws eks create-pod-identity-association`);
/// the checks that did not pass run again, with a progress line, until all pass.
#[test]
fn wait_reruns_what_does_not_pass_until_it_does() {
    let associations = Scenario::healthy_pod_identity().associations;
    let lab = Lab::start(Scenario::healthy_pod_identity().with(|s| s.associations.clear()));
    let started = std::time::Instant::now();
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(std::time::Duration::from_secs(3));
            lab.state.scenario.lock().unwrap().associations = associations;
        });
        lab.run(&["doctor", "-o", "json", "--wait", "2m"])
    });
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not passing yet") && err.contains("(retry in 2 s)"),
        "{err}"
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_healthy(&doc, IRSA_ONLY);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "it stops waiting once all pass"
    );
    // Bad durations are usage errors.
    for bad in ["0", "5d", "soon"] {
        assert_eq!(lab.run(&["doctor", "--wait", bad]).status.code(), Some(2), "{bad}");
    }
}

/// `--wait` gives up when the time is up: the report is the last pass's, with its exit code.
#[test]
fn wait_gives_up_with_the_last_verdict() {
    let lab = Lab::start(Scenario::healthy_pod_identity().with(|s| s.associations.clear()));
    let started = std::time::Instant::now();
    let out = lab.run(&["doctor", "-o", "json", "--wait", "5"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(check(&doc, "mode")["code"], "SKY152");
    assert_eq!(out.status.code(), Some(1));
    // Only what did not pass (and what it depends on) was asked again: the wiring in every pass, the bucket's
    // location (s3.bucket passed) only in the first.
    // (The ownership question, GetBucketLocation with the expected owner, is s3.bucket-policy's, also asked once.)
    let count = |op: &str| {
        lab.requests()
            .iter()
            .filter(|r| r.op == op && !r.path.contains("expected-bucket-owner"))
            .count()
    };
    assert!(
        count("ListPodIdentityAssociations") >= 2,
        "{}",
        count("ListPodIdentityAssociations")
    );
    assert_eq!(count("GetBucketLocation"), 1);
    // One login for every pass: the SSO portal is asked once, not once per retry.
    assert_eq!(count("GetRoleCredentials"), 1, "{:#?}", lab.requests());
}
