//! CI gating and support reports: every output format over one shared fixture (snapshots), the JSON Schema,
//! secrets never leaking, suppressions, --fail-on, --redact, --offline, explain, permissions, completions.

use serde_json::{Value, json};
use skys3::report::Report;

use crate::doctor_checks::check;
use crate::lab::{ACCOUNT, Lab, PROCESS_SECRET, Scenario, assert_valid, kube_fake::TOKEN};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One report with every status, and values with `|`, backticks, quotes, angle brackets and newlines.
fn fixture() -> Report {
    serde_json::from_value(json!({
        "schema_version": 1,
        "skys3_version": "0.0.0-test",
        "target": {
            "cluster": "prod|eks", "region": "us-west-2", "context": "ctx `a`", "namespace": "default",
            "service_account": "skypilot-service-account", "bucket": "my-bucket", "role_name": "SkyPilotS3Role-my-bucket",
            "policy_name": "SkyPilotS3Access-my-bucket", "mode": "irsa",
            "sources": {"cluster": "env EKS_CLUSTER_NAME", "region": "kube context", "mode": "default"}
        },
        "status": "fail",
        "checks": [
            {"id": "aws.identity", "title": "AWS credentials of the doctor", "status": "pass",
             "message": "running as arn:aws:iam::123456789012:user/a|b", "evidence": {"account": "123456789012"}, "duration_ms": 12},
            {"id": "eks.cluster", "title": "EKS cluster exists and is ACTIVE", "status": "warn", "code": "SKY113",
             "message": "EKS cluster prod|eks in us-west-2 is \"UPDATING\"",
             "remediation": {"summary": "Rerun once `ACTIVE`.", "commands": ["aws eks describe-cluster --name 'prod|eks' --region us-west-2"], "guide": "Prerequisites"},
             "duration_ms": 30},
            {"id": "iam.trust-policy", "title": "The role trusts the pods", "status": "fail", "code": "SKY245",
             "message": "the :sub condition allows system:serviceaccount:team-a:sa, not `default` <script>\nsecond line",
             "remediation": {"summary": "Set the :sub condition.", "commands": ["aws iam update-assume-role-policy --role-name R --policy-document '{\"a\":\"``x``\"}'"], "guide": "Option 2: IRSA / Step 4"},
             "evidence": {"trust_policy": {"Statement": [{"Effect": "Allow"}]}}, "duration_ms": 5},
            {"id": "irsa.annotation", "title": "Service account carries the IRSA role annotation", "status": "skip", "code": "SKY007",
             "message": "not run: mode did not pass", "blocked_by": ["mode"], "duration_ms": 0},
            {"id": "s3.bucket", "title": "The bucket exists, in the cluster's region", "status": "inconclusive", "code": "SKY001",
             "message": "access denied: s3:GetBucketLocation", "duration_ms": 8},
            {"id": "sky.mount-credentials", "title": "MOUNT_CACHED will use the pod's role", "status": "suppressed", "code": "SKY321",
             "message": "static keys", "suppression": {"reason": "laptop | dev only", "expires": "2999-12-31", "expired": false, "original_status": "warn"},
             "duration_ms": 1}
        ],
        "versions": {"skys3": "0.0.0-test", "aws-config": "1.0.0", "kube": "1.0.0"},
        "calls": [
            {"service": "sts", "operation": "GetCallerIdentity", "outcome": "ok", "request_id": "req-1", "duration_ms": 4},
            {"service": "kube", "operation": "get serviceaccounts", "outcome": "Forbidden", "duration_ms": 2}
        ]
    }))
    .expect("the fixture is a report")
}

#[test]
fn fixture_is_valid_against_the_schema() {
    assert_valid(&serde_json::to_value(fixture()).unwrap());
}

#[test]
fn snapshot_json() {
    insta::assert_snapshot!(skys3::render::json::render(&fixture()));
}

#[test]
fn snapshot_table() {
    insta::assert_snapshot!(skys3::render::table::render(&fixture(), false));
}

#[test]
fn snapshot_markdown() {
    insta::assert_snapshot!(skys3::render::markdown::render(&fixture()));
}

#[test]
fn snapshot_junit() {
    insta::assert_snapshot!(skys3::render::junit::render(&fixture()));
}

#[test]
fn schema_command_prints_the_schema() {
    let lab = Lab::start(Scenario::healthy_pod_identity());
    let out = lab.run(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let schema: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema, skys3::report::schema());
    // One target's report, or several targets' document (additive to schema_version 1).
    assert_eq!(schema["anyOf"].as_array().map(Vec::len), Some(2), "{schema:#}");
    assert!(schema["$defs"]["Report"]["properties"]["checks"].is_object());
    assert!(schema["$defs"]["TargetsReport"]["properties"]["targets"].is_object());
    // The two are told apart: a one-target report is not a several-targets document, nor the reverse.
    let validator = jsonschema::validator_for(&schema["$defs"]["TargetsReport"].clone().with_defs(&schema)).unwrap();
    assert!(!validator.is_valid(&serde_json::to_value(fixture()).unwrap()));
}

trait WithDefs {
    fn with_defs(self, root: &Value) -> Value;
}

impl WithDefs for Value {
    /// A sub-schema that can still resolve `#/$defs/...`.
    fn with_defs(mut self, root: &Value) -> Value {
        self["$defs"] = root["$defs"].clone();
        self
    }
}

/// Canary secrets planted everywhere the doctor reads never appear in any output format.
#[test]
fn canary_secrets_never_leak() {
    let s = Scenario::healthy_pod_identity()
        .env("AWS_ACCESS_KEY_ID", Some("AKIACANARYCANARY0000"))
        .env("AWS_SECRET_ACCESS_KEY", Some("canary-env-secret-key-a1b2"))
        .env("AWS_SESSION_TOKEN", Some("canary-env-session-token-c3d4"))
        .with(|s| {
            s.pods[0].aws.credentials_file = true;
            s.sky_user_config = Some("aws:\n  remote_identity: NO_UPLOAD\n# canary-sky-config-comment-e5f6\n".into());
        });
    let lab = Lab::start(s);
    let canaries = [
        "canary-env-secret-key-a1b2",
        "canary-env-session-token-c3d4",
        TOKEN,
        PROCESS_SECRET,
        "lab-uploaded-secret",
        "AKIALABUPLOADED",
        "do-not-leak-pod-env",
        "canary-sky-config-comment-e5f6",
    ];
    for format in ["table", "json", "markdown", "junit"] {
        for extra in [&[][..], &["--redact"][..]] {
            let mut args = vec!["doctor", "-o", format];
            args.extend_from_slice(extra);
            let out = lab.run(&args);
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!out.stdout.is_empty(), "{format} printed something");
            for c in canaries {
                assert!(!all.contains(c), "{c} leaked in -o {format} {extra:?}");
            }
        }
    }
}

#[test]
fn redact_masks_account_bucket_and_endpoint_consistently() {
    let lab = Lab::start(Scenario::healthy_pod_identity().with(|s| s.eks = None));
    let (_, plain) = lab.doctor_json(&[]);
    let (_, red) = lab.doctor_json(&["--redact"]);
    let text = red.to_string();
    assert!(plain.to_string().contains("123456789012"));
    assert!(!text.contains("123456789012"), "{text}");
    assert!(!text.contains("lab-bucket"), "{text}");
    assert_eq!(red["target"]["bucket"], "<bucket-1>");
    assert_eq!(red["target"]["role_name"], "SkyPilotS3Role-<bucket-1>");
    assert_eq!(check(&red, "aws.identity")["evidence"]["account"], "<account-1>");
    assert!(
        check(&red, "aws.identity")["message"]
            .as_str()
            .unwrap()
            .contains("<account-1>")
    );

    let lab = Lab::start(Scenario::healthy_pod_identity());
    let (_, red) = lab.doctor_json(&["--redact"]);
    let host = lab
        .kube_url
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let server = check(&red, "kube.context")["evidence"]["server"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(server.contains("<endpoint-1>") && !server.contains(&host), "{server}");

    // The user's home directory is written as `~` in every path, and never appears otherwise.
    let home = lab.home().display().to_string();
    assert!(!red.to_string().contains(&home), "{red:#}");
    assert_eq!(check(&red, "sky.config")["evidence"]["file"], "~/.sky/config.yaml");
    let (_, plain) = lab.doctor_json(&[]);
    assert!(
        plain.to_string().contains(&home),
        "without --redact the path is as it is"
    );
}

#[test]
fn evidence_shows_policies_as_iam_writes_them() {
    let lab = Lab::start(Scenario::healthy_irsa());
    let (_, doc) = lab.doctor_json(&[]);
    let trust = &check(&doc, "iam.trust-policy")["evidence"]["trust_policy"];
    assert_eq!(trust["Version"], "2012-10-17", "{trust:#}");
    let st = &trust["Statement"][0];
    assert_eq!(st["Action"], "sts:AssumeRoleWithWebIdentity", "{st:#}");
    assert!(st["Condition"]["StringEquals"].is_object(), "{st:#}");
    let text = doc.to_string();
    for internal in ["\"Only\"", "\"Absent\"", "\"AllBut\"", "\"sid\":null"] {
        assert!(!text.contains(internal), "internal shape {internal} in {doc:#}");
    }
}

#[test]
fn markdown_carries_findings_versions_and_the_evidence_trail() {
    let lab = Lab::start(Scenario::healthy_pod_identity().with(|s| s.eks.as_mut().unwrap().status = "CREATING".into()));
    let out = lab.run(&["doctor", "-o", "markdown"]);
    assert_eq!(out.status.code(), Some(1));
    let md = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "# skys3 doctor report: FAIL",
        "### FAIL SKY112 eks.cluster",
        "aws-sdk-eks",
        "## Evidence trail",
        "| eks | DescribeCluster | ok |",
        "| sts | GetCallerIdentity | ok |",
        "<details><summary>Evidence</summary>",
    ] {
        assert!(md.contains(needle), "{needle} in:\n{md}");
    }
    let (_, doc) = lab.doctor_json(&[]);
    let calls = doc["calls"].as_array().unwrap();
    assert!(
        calls
            .iter()
            .any(|c| c["operation"] == "GetCallerIdentity" && c["request_id"].is_string()),
        "{calls:#?}"
    );
}

#[test]
fn junit_maps_statuses_for_ci_reporters() {
    let lab = Lab::start(Scenario::healthy_pod_identity().with(|s| s.eks = None));
    let out = lab.run(&["doctor", "-o", "junit"]);
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("<testcase name=\"eks.cluster\""), "{xml}");
    assert!(xml.contains("<failure message=\"FAIL SKY111"), "{xml}");
    assert!(xml.contains("<skipped"), "{xml}");
}

#[test]
fn fail_on_warn_turns_warnings_into_exit_1() {
    let lab = Lab::start(Scenario::healthy_pod_identity().with(|s| s.eks.as_mut().unwrap().status = "UPDATING".into()));
    assert_eq!(lab.doctor_json(&[]).0, 0);
    assert_eq!(lab.doctor_json(&["--fail-on", "warn"]).0, 1);
    assert_eq!(lab.doctor_json(&["--fail-on", "fail"]).0, 0);
}

#[test]
fn suppressions_accept_findings_until_they_expire() {
    let file = |expires: &str| {
        format!(
            "[[suppress]]\ncode = \"SKY112\"\nresource = \"lab-cluster\"\nreason = \"cluster is being rebuilt\"\nexpires = \"{expires}\"\n"
        )
    };
    let s = Scenario::healthy_pod_identity().with(|s| {
        s.eks.as_mut().unwrap().status = "CREATING".into();
        s.files.insert("work/live.toml".into(), file("2999-12-31"));
        s.files.insert("work/expired.toml".into(), file("2000-01-01"));
        s.files.insert(
            "work/other.toml".into(),
            "[[suppress]]\ncode = \"SKY112\"\nresource = \"another-cluster\"\nreason = \"x\"\n".into(),
        );
        s.files
            .insert("work/bad.toml".into(), "[[suppress]]\ncode = \"SKY112\"\n".into());
    });
    let lab = Lab::start(s);
    let (code, doc) = lab.doctor_json(&["--suppressions", "live.toml"]);
    let c = check(&doc, "eks.cluster");
    assert_eq!(c["status"], "suppressed");
    assert_eq!(c["suppression"]["reason"], "cluster is being rebuilt");
    assert_eq!(c["suppression"]["original_status"], "fail");
    // Its dependents stay skipped: suppressing a finding does not make the cluster ACTIVE.
    assert_eq!(check(&doc, "kube.context")["status"], "skip");
    assert_eq!(code, 0);

    let (code, doc) = lab.doctor_json(&["--suppressions", "expired.toml"]);
    let c = check(&doc, "eks.cluster");
    assert_eq!(c["status"], "fail");
    assert_eq!(c["suppression"]["expired"], true);
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("suppression expired on 2000-01-01")
    );
    assert_eq!(code, 1);

    assert_eq!(
        lab.doctor_json(&["--suppressions", "other.toml"]).0,
        1,
        "resource must match"
    );

    let out = lab.run(&["doctor", "--suppressions", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));
    let out = lab.run(&["doctor", "--suppressions", "missing.toml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn offline_runs_only_the_skypilot_config_checks_and_calls_nothing() {
    let s = Scenario::healthy_pod_identity()
        .env("EKS_CLUSTER_NAME", None)
        .env("S3_BUCKET", None)
        .with(|s| s.sky_user_config = Some("aws:\n  remote_identity:\n  - '*': NO_UPLOAD\n".into()));
    let lab = Lab::start(s);
    let (code, doc) = lab.doctor_json(&["--offline"]);
    let ids: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "sky.version",
            "sky.config",
            "sky.service-account",
            "sky.mount-credentials"
        ]
    );
    assert_eq!(check(&doc, "sky.config")["code"], "SKY142");
    assert!(
        lab.requests().is_empty(),
        "offline makes no request: {:?}",
        lab.requests()
    );
    assert_eq!(code, 1);
}

#[test]
fn explain_error_texts_names_causes_checks_and_fixes() {
    let lab = Lab::start(Scenario::healthy_pod_identity());
    for (text, needles) in [
        (
            "NoCredentialProviders: no valid providers in chain",
            &["SKY342", "pod-identity.association", "NO_UPLOAD", "sky down"][..],
        ),
        (
            "No OpenIDConnect provider found in your account",
            &["SKY345", "irsa.oidc-provider", "SKY221"][..],
        ),
        (
            "An error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied",
            &["SKY344", "iam.s3-permissions", "bucket policy"][..],
        ),
    ] {
        let out = lab.run(&["explain", text]);
        assert_eq!(out.status.code(), Some(0), "{text}");
        let s = String::from_utf8(out.stdout).unwrap();
        for n in needles {
            assert!(s.contains(n), "{n} in explain {text:?}:\n{s}");
        }
    }
    let out = lab.run(&["explain", "something", "else", "entirely"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn permissions_and_completions() {
    let lab = Lab::start(Scenario::healthy_pod_identity());
    let out = lab.run(&["permissions"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for action in skys3::permissions::aws_actions() {
        assert!(text.contains(action), "{action}");
    }
    assert!(
        text.contains("pods/exec") && text.contains("kind: ClusterRole"),
        "{text}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = lab.run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("skys3"), "{shell}");
    }
}

/// A support engineer receives the JSON: `skys3 report` renders it in every format, redacts it, and `report diff`
/// tells what changed between two runs; newer schemas and broken files are refused without echoing them.
#[test]
fn saved_reports_render_diff_and_refuse_what_they_cannot_read() {
    let healthy = Lab::start(Scenario::healthy_pod_identity());
    let broken = Lab::start(Scenario::healthy_pod_identity().with(|s| s.sky_user_config = None));
    let save = |lab: &Lab, name: &str| {
        let out = lab.run(&["doctor", "-o", "json"]);
        let p = healthy.dir.path().join(name);
        std::fs::write(&p, &out.stdout).unwrap();
        (p, out.status.code())
    };
    let (ok, ok_code) = save(&healthy, "healthy.json");
    let (bad, bad_code) = save(&broken, "broken.json");
    let report = |args: &[&str]| healthy.command().arg("report").args(args).output().unwrap();

    // Round trip, and the same rendering as the doctor's own renderers; the exit code is the report's.
    let out = report(&[ok.to_str().unwrap(), "-o", "json"]);
    let saved: Value = serde_json::from_slice(&std::fs::read(&ok).unwrap()).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), saved);
    assert_eq!(out.status.code(), ok_code);
    let parsed: Report = serde_json::from_value(saved).unwrap();
    for (format, want) in [
        ("markdown", skys3::render::markdown::render(&parsed)),
        ("junit", skys3::render::junit::render(&parsed)),
        ("table", skys3::render::table::render(&parsed, false)),
    ] {
        let out = report(&[ok.to_str().unwrap(), "-o", format]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{format}");
    }
    assert_eq!(report(&[bad.to_str().unwrap()]).status.code(), bad_code);
    let redacted = report(&[ok.to_str().unwrap(), "-o", "json", "--redact"]);
    assert!(!String::from_utf8_lossy(&redacted.stdout).contains(ACCOUNT));

    // What changed: newly broken (exit 1), fixed (exit 0).
    let out = report(&["diff", ok.to_str().unwrap(), bad.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Newly broken") && text.contains("sky.config"), "{text}");
    assert_eq!(out.status.code(), Some(1));
    let out = report(&["diff", bad.to_str().unwrap(), ok.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Fixed") && text.contains("PASS"), "{text}");
    assert_eq!(out.status.code(), Some(0));
    let out = report(&["diff", "--json", ok.to_str().unwrap(), ok.to_str().unwrap()]);
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["worse"], json!([]));
    assert_eq!(out.status.code(), Some(0));

    // A newer schema is refused with a clear message; a broken file is named, never echoed.
    let mut newer: Value = serde_json::from_slice(&std::fs::read(&ok).unwrap()).unwrap();
    newer["schema_version"] = json!(99);
    let newer_path = healthy.dir.path().join("newer.json");
    std::fs::write(&newer_path, newer.to_string()).unwrap();
    let out = report(&[newer_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("newer skys3") && stderr(&out).contains("99"),
        "{}",
        stderr(&out)
    );
    let garbage = healthy.dir.path().join("garbage.json");
    std::fs::write(
        &garbage,
        "{\"schema_version\": 1, \"token\": \"CANARY-SAVED-SECRET\", \"checks\": [",
    )
    .unwrap();
    let out = report(&[garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !stderr(&out).contains("CANARY") && stderr(&out).contains("garbage.json"),
        "{}",
        stderr(&out)
    );
    let shape = healthy.dir.path().join("shape.json");
    std::fs::write(&shape, "{\"schema_version\": 1, \"status\": \"CANARY-SHAPE\"}").unwrap();
    let out = report(&[shape.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains("CANARY"), "{}", stderr(&out));
}
