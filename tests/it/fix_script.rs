//! `--fix-script` heals: for every lab setup whose faults commands can fix, the printed script, run with the real
//! awscli v1 and kubectl against the lab, leaves a setup the doctor then reports healthy; a second run changes
//! nothing and still succeeds. The fakes accept only the script's writes (its own access key; its kubeconfig's
//! server path), recorded apart from the doctor's audit, which stays strictly read-only.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::lab::{ExtraCluster, FIX_ACCESS_KEY, Lab, Scenario, venv_dir};

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
    heals_with(name, scenario, &[], expect);
}

/// [`heals`], with doctor options (the same for every run).
fn heals_with(name: &str, scenario: Scenario, args: &[&str], expect: &[&str]) {
    heal_lab(name, Lab::start(before_launch(scenario)), args, expect);
}

/// Heals a started lab: the script succeeds and makes `expect`, the doctor then passes (every target), a second
/// run creates nothing, and the healed setup's script has nothing to do. Returns the script.
fn heal_lab(name: &str, lab: Lab, args: &[&str], expect: &[&str]) -> (Lab, String) {
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

    // Twice is harmless: it succeeds, writes nothing, and the setup stays healthy.
    let seen = lab.script_requests().len();
    let again = run_script(&lab, &script);
    assert!(
        again.status.success(),
        "{name}: the second run fails: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    let written = writes(&lab, seen);
    assert!(written.is_empty(), "{name}: the second run wrote {written:?}");
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
    (lab, script)
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
    // The edit to paste: the file, the key path and the YAML.
    let config = lab.home().join(".sky/config.yaml");
    assert!(
        script.contains(&format!("#   edit {}: set aws.remote_identity", config.display()))
            && script.contains("\n#     aws:\n#       remote_identity: NO_UPLOAD\n"),
        "{script}"
    );
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
    let vars: BTreeMap<String, String> = skys3::template::placeholders(
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
                edit: None,
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
            evidence: Value::Null,
            suppression: None,
            duration_ms: 0,
        });
    }
    // A document change whose names and statements are hostile too: the merged JSON is one argument.
    let mut doc_step = checks[0].clone();
    doc_step.remediation.as_mut().unwrap().fix = vec![FixStep {
        phase: skys3::report::FixPhase::TrustPolicy,
        unless: None,
        run: vec![],
        resource: None,
        document: Some(skys3::merge::DocumentChange {
            document: skys3::merge::DocumentRef::TrustPolicy { role: hostile.clone() },
            read: Some(json!({"Statement": [{"Sid": hostile.clone(), "Effect": "Allow", "Action": "sts:AssumeRole"}]})),
            edits: vec![skys3::merge::Edit::AddStatement {
                statement: json!({"Effect": "Allow", "Principal": {"AWS": hostile.clone()}, "Action": "sts:AssumeRole"}),
            }],
        }),
    }];
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
    // Runs a script with the stand-ins; returns its output and the arguments they were given.
    let run_logged = |script: &str| {
        let _ = std::fs::remove_file(&log);
        let path = dir.path().join("fix.sh");
        std::fs::write(&path, script).unwrap();
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
        (out, args)
    };
    // The stand-ins fail, so run the steps without stopping at the first: the script's own `set -e` aside.
    let (out, args) = run_logged(&script.replace("set -euo pipefail", "set -uo pipefail"));
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

    // The document write: its stale-read guard stops at the stand-in's failed read, and nothing ran on the way.
    let report = Report::new(Target::default(), vec![doc_step]);
    let (out, args) = run_logged(&skys3::fix::script(&[&report]));
    assert!(!out.status.success(), "the guard stops the script");
    assert!(args.contains(&hostile), "the role name arrives whole: {args:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("Traceback"), "{stderr}");
}

// ---- Shared documents: merged, never replaced ----

/// An IAM client on moto itself, for seeding and inspection (the doctor's and the script's audits stay theirs).
fn iam(lab: &Lab) -> aws_sdk_iam::Client {
    use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
    let conf = lab.block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .credentials_provider(Credentials::new("testing", "testing", None, None, "lab"))
            .region(Region::new("us-east-1"))
            .endpoint_url(&lab.moto_url)
            .load(),
    );
    aws_sdk_iam::Client::new(&conf)
}

fn decoded(raw: &str) -> Value {
    skys3::policy::parse_document(raw).expect("IAM returns JSON").source
}

/// Every IAM document of the account: `trust <role>`, `inline <role>/<name>`, `policy <arn>` (the default
/// version's document) and `versions <arn>` (the version ids, default last).
fn iam_documents(lab: &Lab) -> BTreeMap<String, Value> {
    let iam = iam(lab);
    let mut out = BTreeMap::new();
    lab.block_on(async {
        for role in iam.list_roles().send().await.unwrap().roles() {
            let name = role.role_name();
            out.insert(
                format!("trust {name}"),
                decoded(role.assume_role_policy_document().unwrap_or("{}")),
            );
            for p in iam
                .list_role_policies()
                .role_name(name)
                .send()
                .await
                .unwrap()
                .policy_names()
            {
                let doc = iam
                    .get_role_policy()
                    .role_name(name)
                    .policy_name(p)
                    .send()
                    .await
                    .unwrap();
                out.insert(format!("inline {name}/{p}"), decoded(doc.policy_document()));
            }
        }
        let local = aws_sdk_iam::types::PolicyScopeType::Local;
        for p in iam.list_policies().scope(local).send().await.unwrap().policies() {
            let arn = p.arn().unwrap();
            let versions = iam.list_policy_versions().policy_arn(arn).send().await.unwrap();
            let mut ids: Vec<(bool, String)> = versions
                .versions()
                .iter()
                .map(|v| (v.is_default_version(), v.version_id().unwrap().to_string()))
                .collect();
            ids.sort();
            let default = ids.last().unwrap().1.clone();
            out.insert(
                format!("versions {arn}"),
                json!(ids.iter().map(|i| &i.1).collect::<Vec<_>>()),
            );
            let doc = iam
                .get_policy_version()
                .policy_arn(arn)
                .version_id(&default)
                .send()
                .await
                .unwrap();
            out.insert(
                format!("policy {arn}"),
                decoded(doc.policy_version().unwrap().document().unwrap()),
            );
        }
    });
    out
}

fn statements(doc: &Value) -> Vec<Value> {
    skys3::merge::statements(doc).into_iter().cloned().collect()
}

/// The before/after diff of every IAM document shows only the intended change: `changed` lists, per document,
/// the statements (1-based) that may change and how many are added at the end; every other document is equal,
/// every other statement kept as it was, and a changed statement still carries everything it had (it only
/// widened: each of its values is still there).
fn only_changed(
    before: &BTreeMap<String, Value>,
    after: &BTreeMap<String, Value>,
    changed: &[(&str, &[usize], usize)],
) {
    for (key, old) in before {
        let Some(new) = after.get(key) else {
            // Only a policy version IAM's limit made room for may go.
            panic!("{key} was deleted");
        };
        match changed.iter().find(|(k, ..)| k == key) {
            None => assert_eq!(old, new, "{key} changed"),
            Some((_, indices, added)) => {
                let (o, n) = (statements(old), statements(new));
                assert_eq!(n.len(), o.len() + added, "{key}: {added} statement(s) added:\n{new:#}");
                for (i, st) in o.iter().enumerate() {
                    if indices.contains(&(i + 1)) {
                        assert_ne!(st, &n[i], "{key}: statement #{} was to change", i + 1);
                        for leaf in leaves(st) {
                            assert!(
                                leaves(&n[i]).contains(&leaf),
                                "{key}: statement #{} lost {leaf}:\n{:#}",
                                i + 1,
                                n[i]
                            );
                        }
                    } else {
                        assert_eq!(st, &n[i], "{key}: statement #{} kept", i + 1);
                    }
                }
            }
        }
    }
    for key in after.keys().filter(|k| !before.contains_key(*k)) {
        assert!(
            changed.iter().any(|(k, ..)| k == key),
            "{key} was created, which no finding asked for"
        );
    }
}

/// Every string of a statement with its path (without list positions and operators, which a widening may move):
/// what it granted, as words.
fn leaves(v: &Value) -> Vec<String> {
    fn walk(v: &Value, path: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| {
                let k = if path.ends_with("Condition") { "*" } else { k };
                walk(v, &format!("{path}/{k}"), out)
            }),
            Value::Array(a) => a.iter().for_each(|v| walk(v, path, out)),
            other => out.push(format!(
                "{path}={}",
                other.as_str().map(str::to_string).unwrap_or(other.to_string())
            )),
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out
}

const OTHER_OIDC: &str = "0THERC1USTER00000000000000000000";

/// The trust statement of another cluster's IRSA (its own provider), which no fix may touch.
fn other_cluster_irsa() -> Value {
    let s: Value = serde_json::from_str(&crate::lab::irsa_trust("us-west-2", OTHER_OIDC, "ml", "trainer")).unwrap();
    s["Statement"][0].clone()
}

fn trust(statements: Vec<Value>) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

fn role_key() -> String {
    "trust SkyPilotS3Role-lab-bucket".to_string()
}

fn policy_arn() -> String {
    format!(
        "arn:aws:iam::{}:policy/SkyPilotS3Access-lab-bucket",
        crate::lab::ACCOUNT
    )
}

#[test]
fn a_role_shared_by_two_clusters_keeps_the_other_clusters_trust() {
    // IRSA + IRSA: this cluster's :sub names another namespace; the other cluster's statement stays as it is, and
    // the wrong value stays too (it may be another service account's): :sub accepts this one as well.
    let irsa = Scenario::healthy_irsa().with(|s| {
        let ours: Value = serde_json::from_str(&crate::lab::irsa_trust(
            &s.region,
            &s.eks.as_ref().unwrap().oidc_id,
            "team-a",
            &s.service_account,
        ))
        .unwrap();
        s.role.as_mut().unwrap().trust_policy = trust(vec![other_cluster_irsa(), ours["Statement"][0].clone()]);
    });
    let lab = Lab::start(before_launch(irsa));
    let before = iam_documents(&lab);
    let (lab, script) = heal_lab("IRSA + IRSA", lab, &[], &["UpdateAssumeRolePolicy"]);
    let after = iam_documents(&lab);
    only_changed(&before, &after, &[(&role_key(), &[2], 0)]);
    assert!(
        script.contains("#   = kept    #1"),
        "the plan names what it keeps:\n{script}"
    );
    assert!(script.contains("#   ~ changed #2"), "{script}");
    let sub = &statements(&after[&role_key()])[1]["Condition"]["StringEquals"];
    assert!(
        sub.to_string().contains("system:serviceaccount:team-a:")
            && sub.to_string().contains("system:serviceaccount:default:"),
        "{sub}"
    );

    // Pod Identity + IRSA: the Pod Identity statement lacks sts:TagSession; the IRSA cluster's statement stays.
    let pi = Scenario::healthy_pod_identity().with(|s| {
        s.role.as_mut().unwrap().trust_policy = trust(vec![
            other_cluster_irsa(),
            json!({"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:AssumeRole"}),
        ]);
    });
    let lab = Lab::start(before_launch(pi));
    let before = iam_documents(&lab);
    let (lab, _) = heal_lab("Pod Identity + IRSA", lab, &[], &["UpdateAssumeRolePolicy"]);
    only_changed(&before, &iam_documents(&lab), &[(&role_key(), &[2], 0)]);
}

#[test]
fn statements_the_doctor_does_not_model_are_kept() {
    // A break-glass admin and a Pod Identity statement pinned (by session tag) to another cluster: the pin
    // accepts this cluster as well, and the admin statement is untouched.
    let admin = json!({"Sid": "BreakGlass", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{}:role/Admin", crate::lab::ACCOUNT)}, "Action": "sts:AssumeRole"});
    let pinned = json!({"Sid": "PodsOfStaging", "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {"aws:RequestTag/eks-cluster-name": "staging",
                                       "aws:SourceAccount": crate::lab::ACCOUNT}}});
    let lab = Lab::start(before_launch(Scenario::healthy_pod_identity().with(|s| {
        s.role.as_mut().unwrap().trust_policy = trust(vec![admin.clone(), pinned.clone()]);
    })));
    let before = iam_documents(&lab);
    let (lab, script) = heal_lab("admin and pinned statements", lab, &[], &["UpdateAssumeRolePolicy"]);
    let after = iam_documents(&lab);
    only_changed(&before, &after, &[(&role_key(), &[2], 0)]);
    let st = &statements(&after[&role_key()])[1];
    assert_eq!(
        st["Condition"]["StringEquals"]["aws:RequestTag/eks-cluster-name"],
        json!(["staging", "lab-cluster"]),
        "{script}"
    );
    assert_eq!(
        st["Condition"]["StringEquals"]["aws:SourceAccount"],
        crate::lab::ACCOUNT
    );
}

/// The guide's policy, granting another bucket everything and this one only listing and reading.
fn policy_serving_two_buckets() -> String {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "OtherBucket", "Effect": "Allow", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::other-bucket", "arn:aws:s3:::other-bucket/*"]},
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"],
         "Resource": ["arn:aws:s3:::lab-bucket", "arn:aws:s3:::lab-bucket/*"]}]})
    .to_string()
}

#[test]
fn a_policy_that_grants_too_little_gets_a_new_version_with_only_the_missing_actions() {
    let scenario = || Scenario::healthy_pod_identity().with(|s| s.policies[0].document = policy_serving_two_buckets());
    let lab = Lab::start(before_launch(scenario()));
    let before = iam_documents(&lab);
    let (lab, script) = heal_lab("policy serving two buckets", lab, &[], &["CreatePolicyVersion"]);
    let after = iam_documents(&lab);
    let arn = policy_arn();
    let versions = format!("versions {arn}");
    let mut expected = before.clone();
    expected.insert(versions.clone(), after[&versions].clone());
    only_changed(&expected, &after, &[(&format!("policy {arn}"), &[], 2)]);
    assert_eq!(after[&versions], json!(["v1", "v2"]), "v2 is the new default");
    let added = &statements(&after[&format!("policy {arn}")])[2..];
    let granted: Vec<String> = added.iter().flat_map(leaves).collect();
    for a in ["s3:PutObject", "s3:DeleteObject", "s3:GetBucketLocation"] {
        assert!(granted.iter().any(|g| g.ends_with(a)), "{a} granted: {granted:?}");
    }
    assert!(
        !granted.iter().any(|g| g.ends_with("s3:ListBucket")),
        "only what was missing: {granted:?}"
    );
    assert!(
        script.contains("SkyPilotS3Access-lab-bucket (rewritten), merged:"),
        "{script}"
    );

    // IAM keeps five versions at most: the oldest non-default one makes room, and the script says so.
    let lab = Lab::start(before_launch(scenario()));
    let client = iam(&lab);
    lab.block_on(async {
        for _ in 0..4 {
            client
                .create_policy_version()
                .policy_arn(policy_arn())
                .policy_document(guide_for("old-bucket"))
                .send()
                .await
                .unwrap();
        }
    });
    let before = iam_documents(&lab);
    assert_eq!(before[&versions], json!(["v2", "v3", "v4", "v5", "v1"]));
    let script = fix_script(&lab, &[]);
    let out = run_script(&lab, &script);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("deleting its oldest non-default version v2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = iam_documents(&lab);
    assert_eq!(
        after[&versions],
        json!(["v1", "v3", "v4", "v5", "v6"]),
        "v6 is the new default"
    );
    assert_eq!(lab.doctor_json(&[]).0, 0);
}

fn guide_for(bucket: &str) -> String {
    crate::lab::guide_s3_policy(bucket)
}

#[test]
fn a_partial_grant_by_a_policy_the_guide_does_not_name_is_completed_inline() {
    // The role reads the bucket through a team policy (as with AWS's AmazonS3ReadOnlyAccess) and the guide's
    // policy was never made: an inline policy grants exactly what is missing; the team policy is not touched.
    let team = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject"], "Resource": "*"}]})
    .to_string();
    let lab = Lab::start(before_launch(Scenario::healthy_pod_identity().with(|s| {
        s.policies = vec![crate::lab::PolicySpec {
            name: "TeamS3ReadOnly".into(),
            document: team,
            attached: true,
        }];
    })));
    let before = iam_documents(&lab);
    let (lab, _) = heal_lab("partial grant", lab, &[], &["PutRolePolicy"]);
    let after = iam_documents(&lab);
    let inline = "inline SkyPilotS3Role-lab-bucket/skys3-s3-access-lab-bucket";
    only_changed(&before, &after, &[(inline, &[], 1)]);
    assert_eq!(
        after[inline]["Statement"],
        json!([{"Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": "arn:aws:s3:::lab-bucket/*"}])
    );
}

#[test]
fn a_document_changed_since_the_doctor_read_it_stops_the_script_before_any_write() {
    let lab = Lab::start(before_launch(Scenario::healthy_pod_identity().with(|s| {
        s.policies[0].attached = false;
        s.role.as_mut().unwrap().trust_policy = trust(vec![json!({"Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:AssumeRole"})]);
    })));
    let script = fix_script(&lab, &[]);
    // The attachment comes after the trust policy's step: the guard stops the script before either.
    assert!(script.contains("aws iam attach-role-policy"), "{script}");
    // Someone else edits the trust policy between the doctor's read and the script's run.
    let edited = trust(vec![
        json!({"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:AssumeRole"}),
        other_cluster_irsa(),
    ]);
    lab.block_on(
        iam(&lab)
            .update_assume_role_policy()
            .role_name("SkyPilotS3Role-lab-bucket")
            .policy_document(&edited)
            .send(),
    )
    .unwrap();
    let before = iam_documents(&lab);
    let out = run_script(&lab, &script);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the script stops:\n{stderr}");
    assert!(
        stderr.contains("the trust policy of role SkyPilotS3Role-lab-bucket changed since the doctor read it")
            && stderr.contains("rerun skys3 doctor --fix-script"),
        "{stderr}"
    );
    assert!(writes(&lab, 0).is_empty(), "nothing written: {:?}", writes(&lab, 0));
    assert_eq!(iam_documents(&lab), before);
}

#[test]
fn three_clusters_sharing_one_role_get_one_merged_plan() {
    // lab: healthy with Pod Identity; east-a: Pod Identity without its association; east-b: IRSA whose :sub
    // names another namespace. One role, one trust policy with a statement for each wiring.
    // east-a: healthy with Pod Identity; east-b: Pod Identity without its association; east-c: IRSA whose :sub
    // names another namespace. One role, one trust policy with a statement for each wiring.
    const EAST_C_OIDC: &str = "EA5TCC1USTER0000000000000000000C";
    let ctx = |name: &str| format!("arn:aws:eks:us-west-2:{}:cluster/{name}", crate::lab::ACCOUNT);
    let scenario = Scenario::healthy_pod_identity().with(|s| {
        s.env.insert("K8S_NAMESPACE".into(), None);
        s.env.insert("EKS_CLUSTER_NAME".into(), None);
        s.associations[0].cluster = Some("east-a".into());
        s.extra_clusters = vec![
            ExtraCluster::new("east-a", "ACTIVE"),
            ExtraCluster::new("east-b", "ACTIVE"),
            ExtraCluster {
                oidc_id: Some(EAST_C_OIDC.into()),
                namespace: Some("irsa".into()),
                ..ExtraCluster::new("east-c", "ACTIVE")
            },
        ];
        s.namespaces.push("irsa".into());
        s.service_accounts.push(crate::lab::ServiceAccountSpec {
            namespace: "irsa".into(),
            name: s.service_account.clone(),
            annotations: [("eks.amazonaws.com/role-arn".to_string(), s.role_arn())].into(),
        });
        let east_c: Value = serde_json::from_str(&crate::lab::irsa_trust(
            &s.region,
            EAST_C_OIDC,
            "wrong-namespace",
            &s.service_account,
        ))
        .unwrap();
        s.role.as_mut().unwrap().trust_policy = trust(vec![
            serde_json::from_str::<Value>(&crate::lab::pod_identity_trust()).unwrap()["Statement"][0].clone(),
            east_c["Statement"][0].clone(),
        ]);
        s.sky_user_config = Some(format!(
            "aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  allowed_contexts: [{}, {}, {}]\n",
            ctx("east-a"),
            ctx("east-b"),
            ctx("east-c")
        ));
    });
    let lab = Lab::start(before_launch(scenario));
    lab.block_on(
        iam(&lab)
            .create_open_id_connect_provider()
            .url(format!("https://oidc.eks.us-west-2.amazonaws.com/id/{EAST_C_OIDC}"))
            .client_id_list("sts.amazonaws.com")
            .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
            .send(),
    )
    .unwrap();
    let before = iam_documents(&lab);
    let (code, doc) = lab.doctor_json(&["--all-contexts"]);
    assert_eq!(code, 1, "{doc:#}");
    let statuses: Vec<&str> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pass", "fail", "fail"], "{doc:#}");
    let (lab, script) = heal_lab(
        "three clusters",
        lab,
        &["--all-contexts"],
        &["UpdateAssumeRolePolicy", "CreatePodIdentityAssociation"],
    );
    assert_eq!(
        script.matches("\n  aws iam update-assume-role-policy").count(),
        1,
        "one write of the shared trust policy:\n{script}"
    );
    assert!(!script.contains("# ---- Conflicting"), "{script}");
    only_changed(&before, &iam_documents(&lab), &[(&role_key(), &[2], 0)]);
}

/// Every scripted trust-policy finding heals by adding only: the before/after diff names the statement changed or
/// added, and every other document and statement is as it was.
#[test]
fn each_trust_finding_heals_by_adding_only() {
    let provider = |s: &Scenario| {
        format!(
            "oidc.eks.{}.amazonaws.com/id/{}",
            s.region,
            s.eks.as_ref().unwrap().oidc_id
        )
    };
    let irsa_with = |cond: fn(&str) -> Value| {
        Scenario::healthy_irsa().with(|s| {
            let p = provider(s);
            s.role.as_mut().unwrap().trust_policy = trust(vec![json!({"Effect": "Allow",
                "Principal": {"Federated": format!("arn:aws:iam::{}:oidc-provider/{p}", crate::lab::ACCOUNT)},
                "Action": "sts:AssumeRoleWithWebIdentity", "Condition": cond(&p)})]);
        })
    };
    let cases: Vec<(&str, &str, Scenario, &[usize], usize)> = vec![
        (
            "SKY241",
            "no statement trusts the pods (only EC2)",
            Scenario::healthy_pod_identity().with(|s| {
                s.role.as_mut().unwrap().trust_policy = trust(vec![json!({"Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})]);
            }),
            &[],
            1,
        ),
        (
            "SKY244",
            "only another cluster's provider is trusted",
            Scenario::healthy_irsa()
                .with(|s| s.role.as_mut().unwrap().trust_policy = trust(vec![other_cluster_irsa()])),
            &[],
            1,
        ),
        (
            "SKY246",
            "StringEquals with a wildcard in :sub",
            irsa_with(|p| {
                json!({"StringEquals": {format!("{p}:sub"): "system:serviceaccount:default:*",
                                        format!("{p}:aud"): "sts.amazonaws.com"}})
            }),
            &[1],
            0,
        ),
        (
            "SKY248",
            ":aud names another audience",
            irsa_with(|p| {
                json!({"StringEquals": {format!("{p}:sub"): "system:serviceaccount:default:skypilot-service-account",
                                        format!("{p}:aud"): "other-audience"}})
            }),
            &[1],
            0,
        ),
    ];
    for (code, name, scenario, changed, added) in cases {
        let lab = Lab::start(before_launch(scenario));
        let (_, doc) = lab.doctor_json(&[]);
        let trust_check = doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "iam.trust-policy")
            .unwrap();
        assert_eq!(trust_check["code"], code, "{name}: {trust_check:#}");
        let before = iam_documents(&lab);
        let (lab, _) = heal_lab(name, lab, &[], &["UpdateAssumeRolePolicy"]);
        only_changed(&before, &iam_documents(&lab), &[(&role_key(), changed, added)]);
    }
}
