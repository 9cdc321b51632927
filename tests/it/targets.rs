//! Several targets in one run: `--context` given more than once or as a glob, and `--all-contexts` (the contexts
//! SkyPilot may launch on). Each target gets its own cluster and region from its context; the identity and IAM
//! are fetched once for all; the exit code is the worst target's.

use serde_json::Value;

use crate::lab::{ExtraCluster, Lab, Scenario};

fn three_clusters() -> Scenario {
    Scenario::healthy_pod_identity().with(|s| {
        s.extra_clusters = [("east-a", "ACTIVE"), ("east-b", "ACTIVE"), ("east-c", "CREATING")]
            .into_iter()
            .map(|(name, status)| ExtraCluster::new(name, status))
            .collect();
        // SkyPilot may launch on all of them (else it warns that it would not launch in the checked context).
        s.sky_user_config = Some(format!(
            "aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  allowed_contexts: [lab, {}, {}, {}]\n",
            context("east-a"),
            context("east-b"),
            context("east-c")
        ));
    })
}

fn context(name: &str) -> String {
    format!("arn:aws:eks:us-west-2:{}:cluster/{name}", crate::lab::ACCOUNT)
}

fn count(lab: &Lab, op: &str) -> usize {
    lab.requests().iter().filter(|r| r.op == op).count()
}

#[test]
fn a_glob_checks_each_cluster_once_and_shares_iam() {
    let lab = Lab::start(three_clusters());
    let out = lab.run(&["doctor", "-o", "json", "--context", "arn:aws:eks:*"]);
    assert_eq!(out.status.code(), Some(1), "the CREATING cluster fails the run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("EKS_CLUSTER_NAME is ignored"), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    crate::lab::assert_valid(&doc);
    let targets = doc["targets"].as_array().expect("a targets document");
    let clusters: Vec<&str> = targets
        .iter()
        .map(|t| t["target"]["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(
        clusters,
        ["east-a", "east-b", "east-c"],
        "each context's own cluster, in order"
    );
    assert!(
        targets
            .iter()
            .all(|t| t["target"]["sources"]["cluster"] == "kube context")
    );
    let statuses: Vec<&str> = targets.iter().map(|t| t["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["pass", "pass", "fail"], "{doc:#}");
    assert_eq!(doc["status"], "fail");
    let east_c = &targets[2]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "eks.cluster")
        .unwrap();
    assert_eq!(east_c["status"], "fail", "{east_c:#}");

    // Per cluster: its own EKS questions. For the account: one identity, one look at the role and its policies.
    assert_eq!(count(&lab, "DescribeCluster"), 3);
    for op in ["GetCallerIdentity", "GetPolicy"] {
        assert_eq!(count(&lab, op), 1, "{op} is shared by the targets");
    }
    // Each role (the checked one, the node group's) is read once for all targets.
    for op in ["GetRole", "ListAttachedRolePolicies", "ListRolePolicies"] {
        for role in ["SkyPilotS3Role-lab-bucket", crate::lab::NODE_ROLE] {
            let n = lab
                .requests()
                .iter()
                .filter(|r| r.op == op && r.path.contains(&format!("RoleName={role}")))
                .count();
            assert_eq!(n, 1, "{op} of {role} is shared by the targets");
        }
    }
    // The bucket, as one region's S3 client sees it, is shared by that region's targets.
    for op in ["GetBucketPolicy", "GetBucketEncryption"] {
        assert_eq!(count(&lab, op), 1, "{op} is shared by the targets of one region");
    }
    assert_eq!(
        lab.requests().iter().filter(|r| r.op == "GetRoleCredentials").count(),
        1,
        "one SSO login for the run"
    );

    // A saved several-targets document renders again (exit code and all), and `report diff` says it compares one
    // target's reports.
    let saved = lab.dir.path().join("targets.json");
    std::fs::write(&saved, &out.stdout).unwrap();
    let saved = saved.to_str().unwrap();
    let again = lab.run(&["report", saved]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("skys3 doctor: 3 targets, FAIL"));
    let diff = lab.run(&["report", "diff", saved, saved]);
    assert_eq!(diff.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&diff.stderr).contains("it holds 3 targets"));
}

#[test]
fn all_contexts_follows_skypilot_and_says_what_it_skips() {
    let lab = Lab::start(three_clusters().with(|s| {
        s.sky_user_config = Some(format!(
            "aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  allowed_contexts:\n    - lab\n    - {}\n    - {}\n",
            context("east-a"),
            context("east-b")
        ));
    }));
    let out = lab.run(&["doctor", "--all-contexts"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
    assert!(table.starts_with("skys3 doctor: 2 targets, PASS"), "{table}");
    let summary: Vec<&str> = table.lines().skip(3).take(2).map(str::trim_start).collect();
    assert!(
        summary[0].starts_with("PASS") && summary[0].contains("east-a"),
        "{table}"
    );
    assert!(summary[1].contains("east-b"), "{table}");
    assert!(!table.contains("east-c"), "not an allowed context: {table}");
    assert!(table.contains("not checked: lab (it names no EKS cluster:"), "{table}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not checking context lab"));

    let (_, doc) = {
        let out = lab.run(&["doctor", "--all-contexts", "-o", "json"]);
        (out.status.code(), serde_json::from_slice::<Value>(&out.stdout).unwrap())
    };
    assert_eq!(doc["skipped"][0]["context"], "lab", "{doc:#}");

    // --redact masks once over the whole document: one account, one mask, in every target.
    let out = lab.run(&["doctor", "--all-contexts", "-o", "json", "--redact"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(crate::lab::ACCOUNT), "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    for t in doc["targets"].as_array().unwrap() {
        assert!(
            t["target"]["context"].as_str().unwrap().contains("<account-1>"),
            "{t:#}"
        );
        assert_eq!(t["target"]["bucket"], "<bucket-1>");
    }

    // KUBE_CONTEXT, as the guide exports it, does not add a context to SkyPilot's.
    let mut cmd = lab.command();
    let out = cmd
        .args(["doctor", "--all-contexts", "-o", "json"])
        .env("KUBE_CONTEXT", context("east-c"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("KUBE_CONTEXT is ignored with --all-contexts"));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["targets"].as_array().unwrap().len(), 2, "{doc:#}");

    // JUnit: one suite per target.
    let out = lab.run(&["doctor", "--all-contexts", "-o", "junit"]);
    let xml = String::from_utf8_lossy(&out.stdout);
    assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
}

#[test]
fn repeated_contexts_and_bad_selections() {
    let lab = Lab::start(three_clusters());
    let (a, b) = (context("east-a"), context("east-b"));
    let out = lab.run(&[
        "doctor",
        "-o",
        "markdown",
        "--context",
        &a,
        "--context",
        &b,
        "--jobs",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.starts_with("# skys3 doctor: 2 targets, PASS"), "{md}");

    for (args, says) in [
        (vec!["--context", "nomatch-*"], "no kube context matches \"nomatch-*\""),
        (
            vec!["--context", &a, "--context", "nope"],
            "unknown kube context \"nope\"",
        ),
        (
            vec!["--context", "lab", "--context", "lab*"],
            "none of the selected contexts names an EKS cluster",
        ),
        (
            vec!["--context", "arn:*", "--cluster", "x"],
            "--cluster names one cluster",
        ),
        (vec!["--all-contexts", "--offline"], "--offline checks no cluster"),
    ] {
        let mut all = vec!["doctor"];
        all.extend(args.iter().copied());
        let out = lab.run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // One context (no glob) is the one-target report, as before.
    let (code, doc) = lab.doctor_json(&["--context", &a]);
    assert_eq!(code, 0);
    assert!(doc.get("checks").is_some() && doc.get("targets").is_none());
}
