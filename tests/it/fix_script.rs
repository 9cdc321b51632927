//! `--fix-script` heals: for every lab setup whose faults commands can fix, the printed script, run with the real
//! awscli v1 and kubectl against the lab, leaves a setup the doctor then reports healthy; a second run changes
//! nothing and still succeeds. The fakes accept only the script's writes (its own access key; its kubeconfig's
//! server path), recorded apart from the doctor's audit, which stays strictly read-only.

use std::process::{Command, Output};

use crate::lab::{FIX_ACCESS_KEY, Lab, Scenario, venv_dir};

/// The script's kubeconfig: the doctor's, with the server under the prefix the fake lets write.
fn script_kubeconfig(lab: &Lab) -> std::path::PathBuf {
    let text = std::fs::read_to_string(lab.kubeconfig()).unwrap();
    assert!(text.contains(&lab.kube_url), "the kubeconfig names the fake");
    let path = lab.dir.path().join("kubeconfig-fix");
    let server = format!("{}{}", lab.kube_url, crate::lab::kube_fake::SCRIPT_PREFIX);
    std::fs::write(&path, text.replace(&lab.kube_url, &server)).unwrap();
    path
}

/// Runs a fix script as a user would (`bash fix.sh`): the lab venv's awscli and Debian's kubectl on PATH, the
/// script's own dummy keys, nothing of the host's configuration.
fn run_script(lab: &Lab, script: &str) -> Output {
    let path = lab.dir.path().join("fix.sh");
    std::fs::write(&path, script).unwrap();
    let home = lab.dir.path().join("script-home");
    std::fs::create_dir_all(&home).unwrap();
    Command::new("bash")
        .arg(&path)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", venv_dir().join("bin").display()))
        .env("HOME", &home)
        .env("KUBECONFIG", script_kubeconfig(lab))
        .env("AWS_ACCESS_KEY_ID", FIX_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", "fix-script-secret")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", &lab.aws_url)
        .env("AWS_DEFAULT_REGION", "us-west-2")
        .env("AWS_PAGER", "")
        .output()
        .expect("bash runs")
}

fn fix_script(lab: &Lab, args: &[&str]) -> String {
    let mut all = vec!["doctor", "--fix-script"];
    all.extend_from_slice(args);
    let out = lab.run(&all);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the broken setup fails: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What the script's requests changed: the mutating operations it sent.
fn writes(lab: &Lab, from: usize) -> Vec<String> {
    lab.script_requests()[from..]
        .iter()
        .filter(|r| !crate::lab::read_only(r, ""))
        .map(|r| r.op.clone())
        .collect()
}

/// A setup before `sky launch`: the pods that predate a fix keep their old credentials until relaunched, which the
/// script leaves to the user (`sky down` deletes them).
fn before_launch(s: Scenario) -> Scenario {
    s.with(|s| s.pods.clear())
}

/// Heals `scenario` with its fix script; `expect` are write operations the script must have made.
fn heals(name: &str, scenario: Scenario, expect: &[&str]) {
    heals_with(name, scenario, &[], expect)
}

/// [`heals`], with doctor options (the same for every run).
fn heals_with(name: &str, scenario: Scenario, args: &[&str], expect: &[&str]) {
    let lab = Lab::start(before_launch(scenario));
    let script = fix_script(&lab, args);
    let first = run_script(&lab, &script);
    assert!(
        first.status.success(),
        "{name}: the script fails:\n{script}\nstderr:\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let made = writes(&lab, 0);
    for op in expect {
        assert!(
            made.iter().any(|m| m == op),
            "{name}: the script made no {op}: {made:?}\n{script}"
        );
    }
    let (code, doc) = lab.doctor_json(args);
    assert_eq!(code, 0, "{name}: not healthy after the script:\n{script}\n{doc:#}");

    // Twice is harmless: it succeeds, creates nothing, and the setup stays healthy.
    let seen = lab.script_requests().len();
    let again = run_script(&lab, &script);
    assert!(
        again.status.success(),
        "{name}: the second run fails: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    let created: Vec<String> = writes(&lab, seen)
        .into_iter()
        .filter(|op| op.starts_with("Create") || op.starts_with("create"))
        .collect();
    assert!(created.is_empty(), "{name}: the second run created {created:?}");
    assert_eq!(lab.doctor_json(args).0, 0, "{name}: healthy after the second run");
    // And the healed setup's script has nothing left to do.
    let mut all = vec!["doctor", "--fix-script"];
    all.extend_from_slice(args);
    let out = lab.run(&all);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("# Nothing to run"),
        "{name}"
    );
}

#[test]
fn pod_identity_faults_heal() {
    let pi = Scenario::healthy_pod_identity;
    heals(
        "association missing",
        pi().with(|s| s.associations.clear()),
        &["CreatePodIdentityAssociation"],
    );
    heals(
        "association for another namespace",
        pi().with(|s| s.associations[0].namespace = "team-a".into()),
        &["CreatePodIdentityAssociation"],
    );
    heals(
        "association gives another role",
        pi().with(|s| s.associations[0].role_arn = format!("arn:aws:iam::{}:role/Other", crate::lab::ACCOUNT)),
        &["UpdatePodIdentityAssociation"],
    );
    heals(
        "agent add-on missing",
        pi().with(|s| {
            s.addons.retain(|a| a.name != "eks-pod-identity-agent");
            s.agent_daemonset = None;
        }),
        &["CreateAddon"],
    );
    heals(
        "trust policy without sts:TagSession",
        pi().with(|s| {
            s.role.as_mut().unwrap().trust_policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string()
        }),
        &["UpdateAssumeRolePolicy"],
    );
    heals(
        "policy not attached",
        pi().with(|s| s.policies[0].attached = false),
        &["AttachRolePolicy"],
    );
    heals(
        "role and policy missing",
        pi().with(|s| {
            s.role = None;
            s.policies.clear();
        }),
        &["CreateRole", "CreatePolicy", "AttachRolePolicy"],
    );
    heals(
        "neither wired, no add-on",
        pi().with(|s| {
            s.associations.clear();
            s.addons.retain(|a| a.name != "eks-pod-identity-agent");
            s.agent_daemonset = None;
        }),
        &["CreateAddon", "CreatePodIdentityAssociation"],
    );
}

#[test]
fn cluster_and_irsa_faults_heal() {
    heals(
        "service account missing",
        Scenario::healthy_pod_identity().with(|s| s.service_accounts.clear()),
        &["create serviceaccounts"],
    );
    heals(
        "namespace missing",
        Scenario::healthy_pod_identity().with(|s| {
            s.namespaces.retain(|n| n != "default");
            s.service_accounts.clear();
        }),
        &["create namespaces", "create serviceaccounts"],
    );
    let irsa = Scenario::healthy_irsa;
    // Without the annotation nothing says IRSA is meant (the doctor recommends Pod Identity then), so the user
    // says it, as the guide's IRSA users would.
    heals_with(
        "IRSA annotation missing",
        irsa().with(|s| s.service_accounts[0].annotations.clear()),
        &["--mode", "irsa"],
        &["patch serviceaccounts"],
    );
    heals(
        "IRSA annotation names another role",
        irsa().with(|s| {
            s.service_accounts[0].annotations.insert(
                "eks.amazonaws.com/role-arn".into(),
                format!("arn:aws:iam::{}:role/Other", crate::lab::ACCOUNT),
            );
        }),
        &["patch serviceaccounts"],
    );
    heals(
        "OIDC provider missing",
        irsa().with(|s| s.oidc_provider = None),
        &["CreateOpenIDConnectProvider"],
    );
    heals(
        "OIDC provider without the sts audience",
        irsa().with(|s| s.oidc_provider = Some(vec!["other-audience".into()])),
        &["AddClientIDToOpenIDConnectProvider"],
    );
    heals(
        "IRSA trust for another namespace",
        irsa().with(|s| {
            let id = s.eks.as_ref().unwrap().oidc_id.clone();
            s.role.as_mut().unwrap().trust_policy =
                crate::lab::irsa_trust(&s.region, &id, "team-a", &s.service_account);
        }),
        &["UpdateAssumeRolePolicy"],
    );
}

/// A saved report gives the same script, and what cannot be fixed by a command is never run.
#[test]
fn saved_reports_give_the_same_script_and_the_rest_stays_comments() {
    let lab = Lab::start(before_launch(Scenario::healthy_pod_identity().with(|s| {
        s.associations.clear();
        // Not fixable by a command: the SkyPilot config edit stays a comment.
        s.sky_user_config = None;
    })));
    let script = fix_script(&lab, &[]);
    let (_, doc) = lab.doctor_json(&[]);
    let saved = lab.dir.path().join("report.json");
    std::fs::write(&saved, serde_json::to_string(&doc).unwrap()).unwrap();
    let out = lab.run(&["report", saved.to_str().unwrap(), "--fix-script"]);
    assert_eq!(out.status.code(), Some(0));
    let from_saved = String::from_utf8(out.stdout).unwrap();
    assert_eq!(from_saved, script, "the saved report's script is the run's");
    let sky_fix = script
        .lines()
        .find(|l| l.contains("[SKY141]"))
        .unwrap_or_else(|| panic!("the config finding is listed:\n{script}"));
    assert!(sky_fix.starts_with('#'), "{sky_fix}");
    assert!(
        script.contains("\n  aws eks create-pod-identity-association"),
        "{script}"
    );
    // A redacted report's names are masks: no script comes from it.
    let out = lab.run(&["doctor", "-o", "json", "--redact"]);
    let redacted = lab.dir.path().join("redacted.json");
    std::fs::write(&redacted, &out.stdout).unwrap();
    let refused = lab.run(&["report", redacted.to_str().unwrap(), "--fix-script"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(refused.stdout.is_empty());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("was written with --redact"));
    // A script is not a report format: asking for both is a usage error, not a silent choice.
    let both = lab.run(&["doctor", "--fix-script", "-o", "json"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(both.stdout.is_empty());
    // bash -n: the whole script parses.
    let path = lab.dir.path().join("check.sh");
    std::fs::write(&path, &script).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(syntax.status.success(), "{}", String::from_utf8_lossy(&syntax.stderr));
}

/// Values are shell-quoted: names full of shell metacharacters reach the AWS CLI and kubectl as one argument each,
/// and nothing else runs. Every fix template of the catalog is filled with hostile values, and the script runs with
/// stand-ins for `aws` and `kubectl` that log their arguments.
#[test]
fn hostile_values_cannot_inject_anything() {
    use skys3::catalog::Catalog;
    use skys3::report::{CheckReport, FixStep, Remediation, Report, Status, Target};

    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("pwned");
    let hostile = format!(
        "x'; touch {0}; echo \"$(touch {0})\" `touch {0}` \\\n$HOME",
        canary.display()
    );
    let vars: std::collections::BTreeMap<String, String> = skys3::template::placeholders(
        &Catalog::get()
            .codes()
            .flat_map(|(_, c)| c.fix.iter().flat_map(|f| f.run.iter().chain(f.unless.iter())))
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
    )
    .into_iter()
    .map(|name| (name, hostile.clone()))
    .collect();
    let mut checks = Vec::new();
    for (check, code) in Catalog::get().codes().filter(|(_, c)| !c.fix.is_empty()) {
        checks.push(CheckReport {
            id: check.id.clone(),
            title: check.title.clone(),
            status: Status::Fail,
            code: None,
            message: hostile.clone(),
            remediation: Some(Remediation {
                summary: skys3::template::fill(&code.summary, &vars, false),
                commands: vec![],
                guide: code.guide.clone(),
                fix: code
                    .fix
                    .iter()
                    .map(|f| FixStep {
                        phase: f.phase,
                        unless: f.unless.as_ref().map(|c| skys3::template::fill(c, &vars, true)),
                        run: f.run.iter().map(|c| skys3::template::fill(c, &vars, true)).collect(),
                        resource: None,
                        document: None,
                    })
                    .collect(),
            }),
            blocked_by: vec![],
            evidence: serde_json::Value::Null,
            suppression: None,
            duration_ms: 0,
        });
    }
    let report = Report::new(
        Target {
            cluster: Some(hostile.clone()),
            ..Target::default()
        },
        checks,
    );
    let script = skys3::fix::script(&[&report]);
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.path().join("argv.log");
    for tool in ["aws", "kubectl"] {
        let p = bin.join(tool);
        // Logs each argument NUL-terminated; every test ("unless") fails, so every step runs.
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\nprintf '%s\\0' {tool} \"$@\" >> '{}'\nprintf '\\n' >> '{}'\nexit 1\n",
                log.display(),
                log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = dir.path().join("fix.sh");
    // The stand-ins fail, so run the steps without stopping at the first: the script's own `set -e` aside.
    std::fs::write(&path, script.replace("set -euo pipefail", "set -uo pipefail")).unwrap();
    let out = Command::new("bash")
        .arg(&path)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(!canary.exists(), "a value ran as a command:\n{script}");
    let logged = std::fs::read(&log).unwrap_or_default();
    let args: Vec<String> = logged
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).trim_start_matches('\n').to_string())
        .collect();
    let whole = args.iter().filter(|a| **a == hostile).count();
    assert!(
        whole > 10,
        "the hostile value arrives whole, as one argument: {args:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        args.iter().all(|a| !a.contains("touch") || a.contains(&hostile)),
        "no argument holds a piece of the value: {args:?}"
    );
}
