//! The CLI contract users and CI scripts depend on: inputs and their sources, exit code 2 for bad input,
//! `checks`, `explain`, and the table's fixes.

use crate::doctor_checks::check;
use crate::lab::{Lab, Scenario};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 2 cases need no AWS: but they run against a lab so that nothing of the host leaks in.
fn lab() -> Lab {
    Lab::start(Scenario::healthy_pod_identity())
}

#[test]
fn exit_2_on_usage_and_input_errors() {
    let lab = lab();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["doctor", "--bogus"], "--bogus"),
        (vec!["doctor", "-o", "yaml"], "yaml"),
        (vec!["doctor", "--context", "nope"], "unknown kube context \"nope\""),
        (
            vec!["doctor", "--sky-config", "/nonexistent/config.yaml"],
            "/nonexistent/config.yaml",
        ),
        (
            vec!["doctor", "--task", "/nonexistent/task.yaml", "--bucket", ""],
            "/nonexistent/task.yaml",
        ),
        (vec!["doctor", "--timeout", "0"], "--timeout"),
    ];
    for (args, needle) in cases {
        let out = lab.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(needle),
            "{args:?}: stderr should mention {needle}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
        assert!(!stderr(&out).contains("panicked"), "{args:?}");
    }
}

#[test]
fn an_empty_aws_region_is_unset_not_an_empty_region() {
    // CI systems export unset variables as empty: that must read as "no region", and the error say so.
    let lab = Lab::start(Scenario::healthy_pod_identity().env("AWS_REGION", Some("")));
    let out = lab.run(&["doctor", "-o", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("region (--region or AWS_REGION"),
        "{}",
        stderr(&out)
    );
    // AWS_DEFAULT_REGION still names it, as for the AWS CLI.
    let lab = Lab::start(
        Scenario::healthy_pod_identity()
            .env("AWS_REGION", Some(""))
            .env("AWS_DEFAULT_REGION", Some("us-west-2")),
    );
    let (code, doc) = lab.doctor_json(&[]);
    assert_eq!(doc["target"]["region"], "us-west-2");
    assert_eq!(doc["target"]["sources"]["region"], "env AWS_DEFAULT_REGION");
    assert_eq!(code, 0, "{doc:#}");
}

#[test]
fn kubeconfig_files_merge_as_kubectl_merges_them_and_errors_never_quote_them() {
    let lab = lab();
    // kubectl itself writes `current-context: ""`: such a file must not hide the next one's context.
    let empty = lab.dir.path().join("empty-current.yaml");
    std::fs::write(&empty, "apiVersion: v1\nkind: Config\ncurrent-context: \"\"\n").unwrap();
    let missing = lab.dir.path().join("missing.yaml");
    let list = format!(
        "{}:{}:{}",
        empty.display(),
        missing.display(),
        lab.kubeconfig().display()
    );
    let out = lab
        .command()
        .env("KUBECONFIG", &list)
        .args(["doctor", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["target"]["context"], "lab");

    let bad = lab.dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nusers:\n- name: u\n  user:\n    client-key-data: Q0FOQVJZLUtFWS1EQVRB\n    token: [oops\n",
    )
    .unwrap();
    let out = lab.command().env("KUBECONFIG", &bad).args(["doctor"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("bad.yaml") && err.contains("line 6"), "{err}");
    assert!(
        !err.contains("Q0FOQVJZ") && !err.contains("client-key-data"),
        "no content: {err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_inputs_name_their_flags_and_env_vars() {
    let s = Scenario::healthy_pod_identity()
        .env("S3_BUCKET", None)
        .env("EKS_CLUSTER_NAME", None);
    let lab = Lab::start(s);
    let out = lab.run(&["doctor", "-o", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    for needle in ["--bucket", "S3_BUCKET", "--cluster", "EKS_CLUSTER_NAME"] {
        assert!(err.contains(needle), "{needle} in {err}");
    }
}

#[test]
fn cluster_and_region_inferred_from_an_eks_context() {
    let s = Scenario::healthy_pod_identity()
        .with(|s| s.context_name = "arn:aws:eks:us-west-2:123456789012:cluster/lab-cluster".into())
        .env("EKS_CLUSTER_NAME", None)
        .env("AWS_REGION", None);
    let lab = Lab::start(s);
    let (code, doc) = lab.doctor_json(&[]);
    assert_eq!(doc["target"]["cluster"], "lab-cluster");
    assert_eq!(doc["target"]["region"], "us-west-2");
    assert_eq!(doc["target"]["sources"]["cluster"], "kube context");
    assert_eq!(doc["target"]["sources"]["region"], "kube context");
    assert_eq!(code, 0, "{doc:#}");
}

#[test]
fn flags_win_over_env_and_sources_say_so() {
    let lab = lab();
    let (_, doc) = lab.doctor_json(&["--service-account", "custom-sa", "--role-name", "MyRole"]);
    let t = &doc["target"];
    assert_eq!(t["service_account"], "custom-sa");
    assert_eq!(t["sources"]["service_account"], "flag --service-account");
    assert_eq!(t["role_name"], "MyRole");
    assert_eq!(t["sources"]["role_name"], "flag --role-name");
    assert_eq!(t["sources"]["bucket"], "env S3_BUCKET");
    // The custom account does not exist in the lab.
    assert_eq!(check(&doc, "kube.service-account")["code"], "SKY131");
}

#[test]
fn bucket_from_the_task_file() {
    let task = "resources:\n  infra: kubernetes\nfile_mounts:\n  /s3/data:\n    source: s3://task-bucket/\n    mode: MOUNT_CACHED\nrun: |\n  ls -la /s3/data\n";
    let two = "file_mounts:\n  /a: s3://one/x\n  /b:\n    source: s3://two/\n";
    let s = Scenario::healthy_pod_identity()
        .with(|s| {
            s.files.insert("work/task.yaml".into(), task.into());
            s.files.insert("work/two.yaml".into(), two.into());
        })
        .env("S3_BUCKET", None);
    let lab = Lab::start(s);
    let (_, doc) = lab.doctor_json(&["--task", "task.yaml"]);
    assert_eq!(doc["target"]["bucket"], "task-bucket");
    assert_eq!(doc["target"]["sources"]["bucket"], "task task.yaml");
    assert_eq!(doc["target"]["role_name"], "SkyPilotS3Role-task-bucket");

    let out = lab.run(&["doctor", "--task", "two.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("one, two") && stderr(&out).contains("--bucket"),
        "{}",
        stderr(&out)
    );
    let (_, doc) = lab.doctor_json(&["--task", "two.yaml", "--bucket", "two"]);
    assert_eq!(doc["target"]["bucket"], "two");
}

#[test]
fn namespace_from_skypilot_config_then_context() {
    let s = Scenario::healthy_pod_identity()
        .env("K8S_NAMESPACE", None)
        .with(|s| s.context_namespace = Some("from-context".into()));
    let lab = Lab::start(s);
    let (_, doc) = lab.doctor_json(&[]);
    assert_eq!(doc["target"]["namespace"], "from-context");
    assert_eq!(doc["target"]["sources"]["namespace"], "kube context");

    let s = Scenario::healthy_pod_identity().env("K8S_NAMESPACE", None).with(|s| {
        s.context_namespace = Some("from-context".into());
        s.sky_user_config = Some("aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  namespace: from-sky\n".into());
    });
    let lab = Lab::start(s);
    let (_, doc) = lab.doctor_json(&[]);
    assert_eq!(doc["target"]["namespace"], "from-sky");
}

#[test]
fn sky_config_flag_reads_only_that_file() {
    let s = Scenario::healthy_pod_identity().with(|s| {
        s.files.insert(
            "work/alt.yaml".into(),
            "aws:\n  remote_identity: LOCAL_CREDENTIALS\n".into(),
        );
    });
    let lab = Lab::start(s);
    let (code, doc) = lab.doctor_json(&["--sky-config", "alt.yaml"]);
    assert_eq!(check(&doc, "sky.config")["code"], "SKY143");
    assert_eq!(code, 1);
}

#[test]
fn table_shows_fixes_with_real_values_and_no_colour_when_piped() {
    let s = Scenario::healthy_pod_identity().with(|s| s.eks = None);
    let lab = Lab::start(s);
    let out = lab.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(text.contains("FAIL SKY111"), "{text}");
    assert!(text.contains("$ aws eks list-clusters --region us-west-2"), "{text}");
    assert!(!text.contains('\x1b'), "no ANSI codes when piped / NO_COLOR: {text}");
    assert!(
        stderr(&out).is_empty(),
        "no progress line when stderr is not a terminal: {}",
        stderr(&out)
    );

    let out = lab.run(&["doctor", "--color", "always"]);
    assert!(String::from_utf8(out.stdout).unwrap().contains('\x1b'));
}

#[test]
fn checks_lists_every_check_and_code() {
    let lab = lab();
    let out = lab.run(&["checks"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for spec in skys3::checks::REGISTRY {
        assert!(text.contains(spec.id), "{}", spec.id);
        for code in spec.codes() {
            assert!(text.contains(code.as_str()), "{code}");
        }
    }
}

#[test]
fn explain_prints_the_template_and_rejects_unknown_codes() {
    let lab = lab();
    let out = lab.run(&["explain", "sky121"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("SKY121 (context-other-cluster): "), "{text}");
    // The name finds the same entry.
    let by_name = lab.run(&["explain", "context-other-cluster"]);
    assert_eq!(String::from_utf8(by_name.stdout).unwrap(), text);
    assert!(
        text.contains("aws eks update-kubeconfig --name {cluster} --region {region}"),
        "{text}"
    );
    assert!(text.contains("Prerequisites"), "{text}");
    assert!(!text.contains("--fix-script"), "SKY121 has no scripted fix: {text}");

    // A code with scripted steps shows them, with their guards.
    let out = lab.run(&["explain", "SKY211"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("In `skys3 doctor --fix-script`"), "{text}");
    assert!(
        text.contains("[association] unless: test \"$(aws eks list-pod-identity-associations"),
        "{text}"
    );

    let out = lab.run(&["explain", "SKY999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("SKY999"));
}

#[test]
fn a_failing_credential_process_runs_once_and_a_hung_one_is_reaped() {
    use std::os::unix::fs::PermissionsExt;
    let lab = lab();
    let d = lab.dir.path();
    let script = |name: &str, body: String| {
        let p = d.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    };
    let config = |name: &str, process: &std::path::Path| {
        let p = d.join(name);
        std::fs::write(&p, format!("[default]\ncredential_process = {}\n", process.display())).unwrap();
        p
    };

    // Failing: every client and retry used to run it again.
    let count = d.join("runs");
    let failing = script(
        "fail.sh",
        format!(
            "#!/bin/sh\necho run >> {}\necho 'boom: canary-process-secret' >&2\nexit 1\n",
            count.display()
        ),
    );
    let out = lab
        .command()
        .env("AWS_CONFIG_FILE", config("aws-config-failing", &failing))
        .args(["doctor", "-o", "json"])
        .output()
        .unwrap();
    let runs = std::fs::read_to_string(&count).unwrap_or_default().lines().count();
    assert_eq!(runs, 1, "the credential process ran {runs} times");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["checks"][0]["id"], "aws.identity");
    assert_eq!(doc["checks"][0]["code"], "SKY108", "{:#}", doc["checks"][0]);
    let message = doc["checks"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("exit status 1") && message.contains("boom"),
        "{message}"
    );

    // Hung: cut by the deadline, and nothing it started may outlive the doctor.
    let pids = d.join("pids");
    let hung = script(
        "hang.sh",
        format!("#!/bin/sh\nsleep 300 &\necho \"$$ $!\" > {}\nwait\n", pids.display()),
    );
    let started = std::time::Instant::now();
    let out = lab
        .command()
        .env("AWS_CONFIG_FILE", config("aws-config-hung", &hung))
        .args(["doctor", "-o", "json", "--timeout", "4", "--check-timeout", "2"])
        .output()
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["checks"][0]["code"], "SKY109", "{:#}", doc["checks"][0]);
    let text = std::fs::read_to_string(&pids).expect("the process started");
    std::thread::sleep(std::time::Duration::from_millis(200));
    for pid in text.split_whitespace() {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        assert!(!alive, "process {pid} of the credential_process outlived the doctor");
    }
}

/// Every input the doctor reads can be malformed, and each holds secrets in real life (kubeconfig keys, task
/// envs, config values): the error must name the file and never echo what it read.
#[test]
fn input_errors_name_the_file_and_never_echo_its_content() {
    let lab = lab();
    let d = lab.dir.path();
    let canary = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARY0000";
    let write = |name: &str, body: String| {
        let p = d.join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let kubeconfig = write(
        "bad-kubeconfig",
        format!("apiVersion: v1\nusers:\n- name: u\n  user:\n    client-key-data: {canary}\n    token: [oops\n"),
    );
    let sky = write(
        "bad-sky.yaml",
        format!("aws:\n  remote_identity: NO_UPLOAD\n  note: \"{canary}\n"),
    );
    let task = write(
        "bad-task.yaml",
        format!("file_mounts:\n  /data: s3://b\nenvs:\n  AWS_SECRET_ACCESS_KEY: [{canary}\n"),
    );
    let suppressions = write("bad-suppressions.toml", format!("[[suppress]]\ncode = \"{canary}\n"));
    // (arguments, environment, the file, exit code): a SkyPilot config SkyPilot cannot read is a finding of
    // sky.config (exit 1), the others are input errors (exit 2, one line on stderr).
    type Case<'a> = (Vec<String>, Vec<(&'a str, String)>, &'a std::path::Path, i32);
    let cases: Vec<Case> = vec![
        (
            vec![],
            vec![("KUBECONFIG", kubeconfig.display().to_string())],
            &kubeconfig,
            2,
        ),
        (vec!["--sky-config".into(), sky.display().to_string()], vec![], &sky, 1),
        (vec!["--task".into(), task.display().to_string()], vec![], &task, 2),
        (
            vec!["--suppressions".into(), suppressions.display().to_string()],
            vec![],
            &suppressions,
            2,
        ),
    ];
    for (args, env, file, code) in cases {
        let mut cmd = lab.command();
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let out = cmd.arg("doctor").args(&args).output().unwrap();
        let (so, se) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert_eq!(out.status.code(), Some(code), "{file:?}: {se}");
        assert!(
            !so.contains("CANARY") && !se.contains("CANARY"),
            "{file:?} echoed its content:\n{so}{se}"
        );
        let name = file.file_name().unwrap().to_str().unwrap();
        if code == 2 {
            assert!(se.contains(name), "{file:?}: the error must name the file: {se}");
            assert_eq!(se.trim().lines().count(), 1, "{file:?}: one line: {se}");
        } else {
            assert!(so.contains(name), "{file:?}: the finding must name the file: {so}");
        }
        assert!(lab.leftovers().is_empty());
    }
}
