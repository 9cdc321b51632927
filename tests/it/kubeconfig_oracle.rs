//! Kubeconfig loading with kubectl as the oracle: for each layout (single files, KUBECONFIG merges, empty and
//! missing entries, contexts picked by flag, unknown contexts, ARN and eksctl names, both kinds of exec users,
//! malformed YAML, a directory), `kubectl config view --minify --flatten -o json` names the context, its cluster's
//! server and its namespace; the doctor's loader must agree, or both must refuse. No refusal may quote the file.

use std::path::{Path, PathBuf};
use std::process::Command;

use skys3::probe::kubeconfig::LoadedKubeconfig;

const SECRET: &str = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCkNBTkFSWQ==";

fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A kubeconfig with one cluster, user and context.
fn kc(
    cluster: &str,
    server: &str,
    context: &str,
    namespace: Option<&str>,
    current: Option<&str>,
    user: &str,
) -> String {
    let ns = namespace.map(|n| format!(", namespace: {n}")).unwrap_or_default();
    let cur = current.map(|c| format!("current-context: {c:?}\n")).unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster:?}\n  cluster: {{server: {server}}}\ncontexts:\n- name: {context:?}\n  context: {{cluster: {cluster:?}, user: u-{cluster}{ns}}}\n{cur}users:\n- name: u-{cluster}\n  user:\n{user}"
    )
}

fn token_user() -> String {
    format!("    token: tok\n    client-key-data: {SECRET}\n")
}

fn exec_user(args: &str) -> String {
    format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n      args: [{args}]\n"
    )
}

/// (context, server, namespace) as kubectl resolves them, or None when kubectl refuses.
fn kubectl(kubeconfig: &str, home: &Path, context: Option<&str>) -> Option<(String, Option<String>, Option<String>)> {
    let mut cmd = Command::new("kubectl");
    cmd.args(["config", "view", "--minify", "--flatten", "-o", "json"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/local/bin")
        .env("HOME", home)
        .env("KUBECONFIG", kubeconfig);
    if let Some(c) = context {
        cmd.args(["--context", c]);
    }
    let out = cmd
        .output()
        .expect("kubectl runs (scripts/test installs it when missing)");
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let name = v["current-context"].as_str()?.to_string();
    let ctx = v["contexts"].as_array()?.first()?;
    let server = v["clusters"]
        .as_array()
        .and_then(|c| c.first())
        .and_then(|c| c["cluster"]["server"].as_str())
        .map(str::to_string);
    let ns = ctx["context"]["namespace"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    Some((name, server, ns))
}

/// The same, as the doctor resolves it.
fn doctor(
    kubeconfig: &str,
    home: &Path,
    context: Option<&str>,
) -> Result<(String, Option<String>, Option<String>), String> {
    let loaded = LoadedKubeconfig::load_with(Some(std::ffi::OsStr::new(kubeconfig)), Some(home))?;
    let kc = loaded.ok_or("no kubeconfig")?;
    let name = match context {
        Some(c) => c.to_string(),
        None => kc.current_context().ok_or("no current context")?.to_string(),
    };
    let info = kc.context(&name).ok_or("unknown context")?;
    Ok((name, info.server, info.namespace))
}

#[test]
fn the_doctor_resolves_kubeconfigs_as_kubectl_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    std::fs::create_dir_all(home.join(".kube")).unwrap();
    let a = file(
        d,
        "a.yaml",
        &kc(
            "a",
            "https://a.example",
            "ctx-a",
            Some("ns-a"),
            Some("ctx-a"),
            &token_user(),
        ),
    );
    let b = file(
        d,
        "b.yaml",
        &kc("b", "https://b.example", "ctx-b", None, Some("ctx-b"), &token_user()),
    );
    let empty_cur = file(
        d,
        "empty.yaml",
        &kc("e", "https://e.example", "ctx-e", Some("ns-e"), Some(""), &token_user()),
    );
    let no_cur = file(
        d,
        "nocur.yaml",
        &kc("n", "https://n.example", "ctx-n", None, None, &token_user()),
    );
    let dup = file(
        d,
        "dup.yaml",
        &kc(
            "a",
            "https://other.example",
            "ctx-a",
            Some("ns-other"),
            Some("ctx-a"),
            &token_user(),
        ),
    );
    let arn_name = "arn:aws:eks:eu-west-1:123456789012:cluster/prod";
    let arn = file(
        d,
        "arn.yaml",
        &kc(
            arn_name,
            "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
            arn_name,
            None,
            Some(arn_name),
            &exec_user("--region, eu-west-1, eks, get-token, --cluster-name, prod"),
        ),
    );
    let eksctl_name = "alice@prod.eu-west-2.eksctl.io";
    let eksctl = file(
        d,
        "eksctl.yaml",
        &kc(
            "prod.eu-west-2.eksctl.io",
            "https://DEF.gr7.eu-west-2.eks.amazonaws.com",
            eksctl_name,
            Some("team"),
            Some(eksctl_name),
            &exec_user("eks, get-token, --output, json, --cluster-name, prod, --region, eu-west-2"),
        ),
    );
    let authenticator = file(
        d,
        "auth.yaml",
        &kc(
            "i",
            "https://i.example",
            "ctx-i",
            None,
            Some("ctx-i"),
            &exec_user("token, -i, iam-cluster"),
        ),
    );
    let malformed = file(
        d,
        "bad.yaml",
        &format!("apiVersion: v1\nusers:\n- name: u\n  user:\n    client-key-data: {SECRET}\n    token: [oops\n"),
    );
    let missing = d.join("missing.yaml");
    let a_dir = d.join("a-directory");
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::write(
        home.join(".kube/config"),
        kc("h", "https://home.example", "ctx-h", None, Some("ctx-h"), &token_user()),
    )
    .unwrap();

    let p = |p: &PathBuf| p.display().to_string();
    let join = |ps: &[&PathBuf]| ps.iter().map(|x| p(x)).collect::<Vec<_>>().join(":");
    let lists: Vec<String> = vec![
        join(&[&a]),
        join(&[&b]),
        join(&[&a, &b]),
        join(&[&b, &a]),
        join(&[&empty_cur, &b]),
        join(&[&empty_cur]),
        join(&[&no_cur, &a]),
        join(&[&no_cur]),
        join(&[&missing, &b]),
        join(&[&missing]),
        join(&[&a, &dup]),
        join(&[&dup, &a]),
        join(&[&arn]),
        join(&[&eksctl, &a]),
        join(&[&authenticator, &b, &a]),
        format!(":{}::{}", p(&a), p(&b)),
        join(&[&malformed]),
        join(&[&a, &malformed]),
        join(&[&a_dir]),
        join(&[&empty_cur, &no_cur, &arn]),
        // Empty: ~/.kube/config, for kubectl and for the doctor.
        String::new(),
    ];
    let contexts = [None, Some("ctx-a"), Some("ctx-b"), Some(arn_name), Some("nope")];
    let mut compared = 0;
    for list in &lists {
        for context in contexts {
            let oracle = kubectl(list, &home, context);
            let ours = doctor(list, &home, context);
            if let Err(e) = &ours {
                assert!(!e.contains(SECRET) && !e.contains("client-key-data"), "{e}");
            }
            assert_eq!(
                ours.clone().ok(),
                oracle,
                "KUBECONFIG={list} --context {context:?}: ours {ours:?}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 30, "{compared} layouts");
}
