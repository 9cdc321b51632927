//! SkyPilot 0.14.1 itself (in the lab venv) is the oracle of the doctor's SkyPilot checks: for each layout of
//! config files, environment, task `config:` block and local AWS identity, `tests/lab/sky_oracle.py` asks
//! SkyPilot's own functions what a launch would do, and the doctor (`--offline`, the same files) must agree on
//! every point: whether SkyPilot rejects the config, whether a Kubernetes launch leaves AWS credentials out, the
//! pods' service account (or SkyPilot's refusal), the contexts it launches on, the namespace, and whether
//! MOUNT_CACHED mounts with the pod's role.
//!
//! Documented exception: a file that is not valid YAML. SkyPilot logs an error and reads it as empty; the doctor
//! fails it (SKY144) and says that SkyPilot ignores it, so for those layouts "not rejected" and the service account
//! (decided over the other files, as SkyPilot does) are compared. Where SkyPilot refuses the config (or the task's
//! `config:` block), it launches nothing: the doctor must not judge a service account then.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::lab::venv_dir;

const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:6443'}\nusers:\n- name: u\n  user: {token: abc}\ncontexts:\n- name: lab\n  context: {cluster: c, user: u, namespace: kube-ns}\n- name: prod-eu\n  context: {cluster: c, user: u}\n- name: dev\n  context: {cluster: c, user: u}\n";
const STATIC_KEYS: &str = "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY\n";
const NO_UPLOAD: &str = "aws:\n  remote_identity: NO_UPLOAD\n";

#[derive(Clone)]
struct Layout {
    name: String,
    files: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    task: Option<Value>,
}

impl Layout {
    fn new(name: &str) -> Layout {
        let mut files = BTreeMap::new();
        files.insert("~/.kube/config".into(), KUBECONFIG.into());
        files.insert("~/.aws/credentials".into(), STATIC_KEYS.into());
        Layout {
            name: name.into(),
            files,
            env: BTreeMap::new(),
            task: None,
        }
    }
    fn user(self, text: &str) -> Layout {
        self.file("~/.sky/config.yaml", text)
    }
    fn project(self, text: &str) -> Layout {
        self.file(".sky.yaml", text)
    }
    fn file(mut self, path: &str, text: &str) -> Layout {
        self.files.insert(path.into(), text.into());
        self
    }
    fn no_file(mut self, path: &str) -> Layout {
        self.files.remove(path);
        self
    }
    fn env(mut self, k: &str, v: &str) -> Layout {
        self.env.insert(k.into(), v.into());
        self
    }
    fn task(mut self, v: Value) -> Layout {
        self.task = Some(v);
        self
    }
    /// A logged-in SSO profile (token cached for the doctor; the oracle's refresh is faked).
    fn sso(self, profile_section: &str) -> Layout {
        let key: String = {
            use sha1::Digest;
            sha1::Sha1::digest(b"corp").iter().map(|b| format!("{b:02x}")).collect()
        };
        self.no_file("~/.aws/credentials")
            .file(
                "~/.aws/config",
                &format!(
                    "[{profile_section}]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Dev\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n"
                ),
            )
            .file(
                &format!("~/.aws/sso/cache/{key}.json"),
                "{\"accessToken\": \"t\", \"expiresAt\": \"2099-01-01T00:00:00Z\"}",
            )
    }
}

fn layouts() -> Vec<Layout> {
    let l = Layout::new;
    let base = |name: &str| l(name).user(NO_UPLOAD);
    let with_k8s = |name: &str, k8s: &str| l(name).user(&format!("{NO_UPLOAD}kubernetes:\n{k8s}"));
    vec![
        // aws.remote_identity values and forms
        l("nothing set"),
        base("NO_UPLOAD"),
        l("lowercase no_upload").user("aws:\n  remote_identity: no_upload\n"),
        l("SERVICE_ACCOUNT").user("aws:\n  remote_identity: SERVICE_ACCOUNT\n"),
        l("LOCAL_CREDENTIALS").user("aws:\n  remote_identity: LOCAL_CREDENTIALS\n"),
        l("list form").user("aws:\n  remote_identity:\n  - '*': NO_UPLOAD\n"),
        l("a number").user("aws:\n  remote_identity: 5\n"),
        l("an empty string").user("aws:\n  remote_identity: ''\n"),
        l("YAML anchors").user("x-default: &d NO_UPLOAD\naws:\n  remote_identity: *d\n"),
        l("flow style").user("{aws: {remote_identity: NO_UPLOAD}}\n"),
        // Repeated keys: SkyPilot reads the file (PyYAML keeps the later value); the doctor refused it as invalid.
        l("duplicate section, later NO_UPLOAD")
            .user("aws:\n  remote_identity: LOCAL_CREDENTIALS\naws:\n  remote_identity: NO_UPLOAD\n"),
        l("duplicate key, later LOCAL_CREDENTIALS")
            .user("aws:\n  remote_identity: NO_UPLOAD\n  remote_identity: LOCAL_CREDENTIALS\n"),
        l("duplicate service account key").user(&format!(
            "{NO_UPLOAD}kubernetes:\n  remote_identity: first-sa\n  remote_identity: second-sa\n"
        )),
        // Sections left empty are null (SkyPilot 0.14.1 refuses them; the doctor said "not set").
        l("aws null").user("aws:\n"),
        l("kubernetes null").user(&format!("{NO_UPLOAD}kubernetes:\n")),
        l("comments and quotes").user("# ours\naws:\n  remote_identity: \"NO_UPLOAD\"  # keep\n"),
        l("an empty file").user(""),
        l("a list file").user("- aws\n"),
        l("unknown top-level key").user(&format!("{NO_UPLOAD}nope: 1\n")),
        // Every top-level key SkyPilot's schema accepts, with its own type: an admin policy (skys3's launch gate
        // among them) is a string, and its settings live under `plugins`.
        l("admin policy module").user(&format!(
            "{NO_UPLOAD}admin_policy: skys3.sky.DoctorPolicy\nplugins:\n  skys3:\n    cache_minutes: 5\n"
        )),
        l("admin policy URL").user(&format!("{NO_UPLOAD}admin_policy: https://policy.example.com/skys3\n")),
        l("admin policy without a class").user(&format!("{NO_UPLOAD}admin_policy: skys3\n")),
        l("admin policy a mapping").user(&format!("{NO_UPLOAD}admin_policy:\n  module: skys3\n")),
        l("allowed_clouds and strings").user(&format!(
            "{NO_UPLOAD}allowed_clouds: [aws, kubernetes]\nworkspace: default\n"
        )),
        l("allowed_clouds a string").user(&format!("{NO_UPLOAD}allowed_clouds: kubernetes\n")),
        l("aws.profile outside a workspace").user(&format!("{NO_UPLOAD}  profile: dev\n")),
        // project layering, both ways
        l("project says NO_UPLOAD").user("aws:\n  remote_identity: LOCAL_CREDENTIALS\n").project(NO_UPLOAD),
        l("project undoes NO_UPLOAD").user(NO_UPLOAD).project("aws:\n  remote_identity: LOCAL_CREDENTIALS\n"),
        l("project only").project(NO_UPLOAD),
        l("project invalid YAML").user(NO_UPLOAD).project("aws: [\n"),
        l("user invalid YAML").user("aws:\n  remote_identity: [\n").project(NO_UPLOAD),
        l("project invalid YAML beside a service account")
            .user(&format!("{NO_UPLOAD}kubernetes:\n  remote_identity: team-sa\n"))
            .project("aws: [\n"),
        l("project adds kubernetes").user(NO_UPLOAD).project("kubernetes:\n  remote_identity: proj-sa\n"),
        // the three environment variables
        l("SKYPILOT_GLOBAL_CONFIG with ~")
            .file("~/alt.yaml", NO_UPLOAD)
            .env("SKYPILOT_GLOBAL_CONFIG", "~/alt.yaml"),
        l("SKYPILOT_GLOBAL_CONFIG missing").env("SKYPILOT_GLOBAL_CONFIG", "~/gone.yaml"),
        l("SKYPILOT_PROJECT_CONFIG replaces .sky.yaml")
            .user("aws:\n  remote_identity: LOCAL_CREDENTIALS\n")
            .project("aws:\n  remote_identity: LOCAL_CREDENTIALS\n")
            .file("other.yaml", NO_UPLOAD)
            .env("SKYPILOT_PROJECT_CONFIG", "{CWD}/other.yaml"),
        l("SKYPILOT_PROJECT_CONFIG missing").user(NO_UPLOAD).env("SKYPILOT_PROJECT_CONFIG", "{CWD}/gone.yaml"),
        l("SKYPILOT_CONFIG alone")
            .user("aws:\n  remote_identity: LOCAL_CREDENTIALS\n")
            .file("~/internal.yaml", NO_UPLOAD)
            .env("SKYPILOT_CONFIG", "{HOME}/internal.yaml"),
        // workspaces
        l("workspace NO_UPLOAD active in user")
            .user("active_workspace: team\nworkspaces:\n  team:\n    aws:\n      remote_identity: NO_UPLOAD\n"),
        l("workspace activated by the project")
            .user("workspaces:\n  team:\n    aws:\n      remote_identity: NO_UPLOAD\n")
            .project("active_workspace: team\n"),
        l("workspace only in the project").project(
            "active_workspace: team\nworkspaces:\n  team:\n    aws:\n      remote_identity: NO_UPLOAD\n",
        ),
        l("project workspaces ignored, default active")
            .user(NO_UPLOAD)
            .project("workspaces:\n  team:\n    aws:\n      remote_identity: LOCAL_CREDENTIALS\n"),
        l("workspace overrides global").user(&format!(
            "{NO_UPLOAD}active_workspace: team\nworkspaces:\n  team:\n    aws:\n      remote_identity: LOCAL_CREDENTIALS\n"
        )),
        l("undefined active workspace").user(&format!("{NO_UPLOAD}active_workspace: ghost\n")),
        l("workspace with an unknown key").user(&format!("{NO_UPLOAD}workspaces:\n  team:\n    nope: 1\n")),
        // task config blocks
        base("task sets the service account").task(json!({"kubernetes": {"remote_identity": "task-sa"}})),
        base("task sets aws.remote_identity").task(json!({"aws": {"remote_identity": "NO_UPLOAD"}})),
        base("task pod_config service account")
            .task(json!({"kubernetes": {"pod_config": {"spec": {"serviceAccountName": "task-pod-sa"}}}})),
        base("task sets an unknown kubernetes key").task(json!({"kubernetes": {"nope": 1}})),
        with_k8s("task vs context_configs", "  context_configs:\n    lab:\n      remote_identity: ctx-sa\n")
            .task(json!({"kubernetes": {"remote_identity": "task-sa"}})),
        l("task vs context_configs in a workspace")
            .user(&format!(
                "{NO_UPLOAD}active_workspace: team\nworkspaces:\n  team: {{}}\nkubernetes:\n  context_configs:\n    lab:\n      remote_identity: ctx-sa\n"
            ))
            .task(json!({"kubernetes": {"remote_identity": "task-sa"}})),
        with_k8s("task map merged into config map", "  remote_identity:\n    'prod-*': prod-sa\n")
            .task(json!({"kubernetes": {"remote_identity": {"lab": "task-lab-sa"}}})),
        // kubernetes.remote_identity, context_configs, pod_config
        with_k8s("a service account name", "  remote_identity: my-sa\n"),
        with_k8s("SERVICE_ACCOUNT", "  remote_identity: SERVICE_ACCOUNT\n"),
        with_k8s("NO_UPLOAD", "  remote_identity: NO_UPLOAD\n"),
        with_k8s("lowercase service_account", "  remote_identity: service_account\n"),
        with_k8s("glob map, first match wins", "  remote_identity:\n    'l*': first-sa\n    '*': second-sa\n"),
        with_k8s("glob map, no match", "  remote_identity:\n    'prod-*': prod-sa\n"),
        with_k8s("glob map with braces", "  remote_identity:\n    '{lab,dev}': brace-sa\n    '*': star-sa\n"),
        with_k8s("glob map with a class", "  remote_identity:\n    '[kl]ab': class-sa\n"),
        with_k8s("glob map, case differs", "  remote_identity:\n    'LAB': upper-sa\n    '*': star-sa\n"),
        with_k8s("remote_identity as a list", "  remote_identity:\n  - my-sa\n"),
        with_k8s(
            "context_configs beats the general key",
            "  remote_identity: general-sa\n  context_configs:\n    lab:\n      remote_identity: ctx-sa\n",
        ),
        with_k8s("context_configs of another context", "  context_configs:\n    dev:\n      remote_identity: dev-sa\n"),
        with_k8s("context remote_identity as a map", "  context_configs:\n    lab:\n      remote_identity: {a: b}\n"),
        with_k8s(
            "pod_config beats remote_identity",
            "  remote_identity: ri-sa\n  pod_config:\n    spec:\n      serviceAccountName: pod-sa\n",
        ),
        with_k8s(
            "context pod_config beats global pod_config",
            "  pod_config:\n    spec:\n      serviceAccountName: pod-sa\n  context_configs:\n    lab:\n      pod_config:\n        spec:\n          serviceAccountName: ctx-pod-sa\n",
        ),
        l("workspace kubernetes remote_identity").user(&format!(
            "{NO_UPLOAD}active_workspace: team\nworkspaces:\n  team:\n    kubernetes:\n      remote_identity: ws-sa\nkubernetes:\n  remote_identity: global-sa\n"
        )),
        with_k8s("unknown kubernetes key", "  nope: 1\n"),
        // allowed_contexts
        with_k8s("allowed_contexts lists it", "  allowed_contexts: [prod-eu, lab]\n"),
        with_k8s("allowed_contexts lists others", "  allowed_contexts: [prod-eu, missing]\n"),
        with_k8s("allowed_contexts all", "  allowed_contexts: all\n"),
        with_k8s("allowed_contexts not a list", "  allowed_contexts: lab\n"),
        // Lists in two layers (SkyPilot's overlay may append rather than replace).
        with_k8s("allowed_contexts in user and project", "  allowed_contexts: [prod-eu]\n")
            .project("kubernetes:\n  allowed_contexts: [lab]\n"),
        with_k8s(
            "pod_config lists in user and task",
            "  pod_config:\n    spec:\n      containers:\n        - env:\n            - name: A\n              value: a\n",
        )
        .task(json!({"kubernetes": {"pod_config": {"spec": {"serviceAccountName": "task-pod-sa",
            "containers": [{"env": [{"name": "B", "value": "b"}]}]}}}})),
        l("workspace allowed_contexts").user(&format!(
            "{NO_UPLOAD}active_workspace: team\nworkspaces:\n  team:\n    kubernetes:\n      allowed_contexts: [dev]\nkubernetes:\n  allowed_contexts: [lab]\n"
        )),
        // namespaces
        with_k8s("kubernetes.namespace", "  namespace: sky-ns\n"),
        with_k8s(
            "context namespace beats general",
            "  namespace: sky-ns\n  context_configs:\n    lab:\n      namespace: ctx-ns\n",
        ),
        l("workspace namespace").user(&format!(
            "{NO_UPLOAD}active_workspace: team\nworkspaces:\n  team:\n    kubernetes:\n      namespace: ws-ns\nkubernetes:\n  namespace: sky-ns\n"
        )),
        // identity types for mounts
        base("static keys in the config file")
            .no_file("~/.aws/credentials")
            .file("~/.aws/config", STATIC_KEYS),
        base("environment keys")
            .no_file("~/.aws/credentials")
            .env("AWS_ACCESS_KEY_ID", "AKIAENVKEYEXAMPLE000")
            .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMIK7MDENGbPxRfiCYENVKEY0000000"),
        base("credential_process")
            .no_file("~/.aws/credentials")
            .file("~/.aws/config", "[default]\ncredential_process = /bin/echo '{}'\n"),
        base("assume-role profile").file(
            "~/.aws/config",
            "[default]\nrole_arn = arn:aws:iam::123456789012:role/R\nsource_profile = base\n",
        )
        .file("~/.aws/credentials", &STATIC_KEYS.replace("[default]", "[base]")),
        base("web identity")
            .no_file("~/.aws/credentials")
            .file("~/token", "eyJ.token")
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", "{HOME}/token")
            .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/R"),
        base("SSO").sso("default"),
        base("container credentials")
            .no_file("~/.aws/credentials")
            .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials")
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "t"),
        base("no credentials at all").no_file("~/.aws/credentials"),
        l("workspace aws.profile is SSO")
            .user(&format!("{NO_UPLOAD}active_workspace: team\nworkspaces:\n  team:\n    aws:\n      profile: corp\n"))
            .sso("profile corp"),
        l("workspace aws.profile ignores env keys")
            .user(&format!("{NO_UPLOAD}active_workspace: team\nworkspaces:\n  team:\n    aws:\n      profile: corp\n"))
            .sso("profile corp")
            .env("AWS_ACCESS_KEY_ID", "AKIAENVKEYEXAMPLE000")
            .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMIK7MDENGbPxRfiCYENVKEY0000000"),
        l("workspace aws.profile missing")
            .user(&format!("{NO_UPLOAD}active_workspace: team\nworkspaces:\n  team:\n    aws:\n      profile: ghost\n")),
    ]
}

/// Runs the oracle over every layout: two Python processes (the machine has two cores), one fork per layout.
fn oracle(root: &Path, layouts: &[Layout]) -> Vec<Value> {
    let half = layouts.len() / 2;
    let (a, b) = layouts.split_at(half);
    std::thread::scope(|s| {
        let first = s.spawn(|| oracle_process(root, a));
        let mut out = oracle_process(root, b);
        let mut all = first.join().unwrap();
        all.append(&mut out);
        all
    })
}

fn oracle_process(root: &Path, layouts: &[Layout]) -> Vec<Value> {
    let cases: Vec<Value> = layouts
        .iter()
        .map(|l| json!({ "name": l.name, "files": l.files, "env": l.env, "task_config": l.task, "context": "lab" }))
        .collect();
    let empty_home = tempfile::tempdir_in(root).unwrap();
    let empty_home = empty_home.path();
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab");
    let mut child = Command::new(venv_dir().join("bin/python"))
        .arg(lab.join("sky_oracle.py"))
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", venv_dir().join("bin").display()))
        .env("HOME", empty_home)
        .env("PYTHONPATH", lab.join("sky_oracle_site"))
        .env("SKYORACLE_NO_NET", "1")
        .env("SKYORACLE_AWS_REFRESH", "ok")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SKYPILOT_DISABLE_USAGE_COLLECTION", "1")
        .env("SKY_ORACLE_ROOT", root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the lab venv's python runs");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let verdicts: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(
        verdicts.len(),
        layouts.len(),
        "the oracle answered {} of {} layouts:\n{}",
        verdicts.len(),
        layouts.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    verdicts
}

fn doctor(l: &Layout, home: &str, cwd: &str) -> Value {
    let sub = |v: &str| v.replace("{HOME}", home).replace("{CWD}", cwd);
    let out = Command::new(crate::lab::skys3_bin())
        .args(["doctor", "--offline", "-o", "json"])
        .env_clear()
        .current_dir(cwd)
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("AWS_REGION", "us-west-2")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .envs(l.env.iter().map(|(k, v)| (k.as_str(), sub(v))))
        .args(
            l.task
                .as_ref()
                .map(|t| {
                    let p = Path::new(cwd).join("task.yaml");
                    std::fs::write(&p, format!("run: echo\nconfig: {t}\n")).unwrap();
                    vec!["--task".to_string(), p.display().to_string()]
                })
                .unwrap_or_default(),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: the doctor printed no JSON ({e}): {}",
            l.name,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn check<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or(&Value::Null)
}

/// The differences between SkyPilot's verdict and the doctor's, in words.
fn compare(l: &Layout, want: &Value, doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let config = check(doc, "sky.config");
    let rejected_by_sky = want.get("config_error").is_some();
    let rejected_by_doctor = config["code"] == "SKY145";
    if rejected_by_sky != rejected_by_doctor {
        out.push(format!(
            "rejected: SkyPilot {:?}, doctor {} {}",
            want.get("config_error"),
            config["code"],
            config["message"]
        ));
        return out;
    }
    if rejected_by_sky {
        // SkyPilot launches nothing with a config it refuses: no service account may be judged as if it did.
        let sa = check(doc, "sky.service-account");
        if sa["status"] == "pass" || sa["status"] == "fail" {
            out.push(format!(
                "SkyPilot refuses the config ({:?}), but the doctor judged its service account: {} {}",
                want.get("config_error"),
                sa["code"],
                sa["message"]
            ));
        }
        return out;
    }
    if config["code"] == "SKY144" {
        // The documented exception (see the module's comment) for sky.config; SkyPilot still decides the service
        // account over the files that parse, and so must the doctor.
        let sa = check(doc, "sky.service-account");
        if let Value::String(name) = &want["service_account"]
            && sa["evidence"]["skypilot"]["name"] != json!(name)
        {
            out.push(format!(
                "service account beside an unparsable file: SkyPilot {name}, doctor {} {}",
                sa["code"], sa["message"]
            ));
        }
        return out;
    }
    // A repeated key SkyPilot reads anyway warns (SKY146) over the same verdict.
    let no_upload = config["status"] == "pass" || config["code"] == "SKY146";
    if want["aws_excluded"] != json!(no_upload) {
        out.push(format!(
            "AWS credentials left out: SkyPilot {}, doctor {} ({})",
            want["aws_excluded"], no_upload, config["message"]
        ));
    }
    let sa = check(doc, "sky.service-account");
    match &want["service_account"] {
        Value::String(name) => {
            if sa["evidence"]["skypilot"]["name"] != json!(name) {
                out.push(format!(
                    "service account: SkyPilot {name}, doctor {} {}",
                    sa["code"], sa["message"]
                ));
            }
        }
        other => {
            if sa["code"] != "SKY312" {
                out.push(format!(
                    "service account: SkyPilot {other}, doctor {} {}",
                    sa["code"], sa["message"]
                ));
            }
        }
    }
    if let Some(mut contexts) = want["launch_contexts"].as_array().cloned() {
        let mut got = sa["evidence"]["launch_contexts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // `all` comes from a Python set: its order is not SkyPilot's promise.
        let key = |v: &Value| v.as_str().unwrap_or("").to_string();
        contexts.sort_by_key(key);
        got.sort_by_key(key);
        if contexts != got && sa["code"] != "SKY312" {
            out.push(format!("launch contexts: SkyPilot {contexts:?}, doctor {got:?}"));
        }
    }
    if want["namespace"] != doc["target"]["namespace"] {
        out.push(format!(
            "namespace: SkyPilot {}, doctor {}",
            want["namespace"], doc["target"]["namespace"]
        ));
    }
    let mounts = check(doc, "sky.mount-credentials");
    if want["env_auth"] != json!(mounts["status"] == "pass") {
        out.push(format!(
            "env_auth: SkyPilot {} ({}), doctor {} {}",
            want["env_auth"], want["identity_type"], mounts["code"], mounts["message"]
        ));
    }
    let _ = l;
    out
}

#[test]
fn the_skypilot_checks_decide_as_skypilot_does() {
    let root = tempfile::tempdir().unwrap();
    let layouts = layouts();
    assert!(layouts.len() >= 60, "{} layouts", layouts.len());
    let verdicts = oracle(root.path(), &layouts);
    let mut disagreements = Vec::new();
    for (l, want) in layouts.iter().zip(&verdicts) {
        assert_eq!(want["name"], l.name.as_str());
        assert!(want.get("oracle_error").is_none(), "{}: {want}", l.name);
        if want.get("config_error").is_none() {
            assert_eq!(
                want["sa_logic_pinned"],
                json!(true),
                "SkyPilot's service-account code moved: {want}"
            );
        }
        let doc = doctor(l, want["home"].as_str().unwrap(), want["cwd"].as_str().unwrap());
        for d in compare(l, want, &doc) {
            disagreements.push(format!("{}: {d}", l.name));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements with SkyPilot 0.14.1:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// `kubernetes.pod_config` merges as SkyPilot 0.14.1 merges them (`config_utils.merge_k8s_configs`, which
/// `resolve_effective_pod_config` applies to the global, the context's and the task's pod_configs): lists with a
/// patch merge key (containers, env, volumes, volumeMounts, ...) by that key, a nameless container into the first,
/// atomic lists (command, args) replaced, other lists appended. SkyPilot itself merges each pair here.
#[test]
fn pod_configs_merge_as_skypilot_merges_them() {
    let pairs: Vec<(&str, &str)> = vec![
        (
            "spec: {containers: [{name: ray-node, env: [{name: A, value: '1'}, {name: B, value: '2'}]}]}",
            "spec: {containers: [{name: ray-node, env: [{name: B, value: '3'}, {name: C, value: '4'}]}]}",
        ),
        (
            "spec: {containers: [{name: ray-node, env: [{name: A, value: '1'}]}]}",
            "spec: {containers: [{env: [{name: AWS_ROLE_ARN, value: x}]}]}",
        ),
        (
            "spec: {containers: [{name: ray-node}, {name: sidecar, env: [{name: A, value: '1'}]}]}",
            "spec: {containers: [{name: sidecar, env: [{name: A, value: '2'}]}, {name: extra}]}",
        ),
        (
            "spec: {volumes: [{name: v1, emptyDir: {}}], containers: [{name: ray-node, volumeMounts: [{name: v1, mountPath: /a}]}]}",
            "spec: {volumes: [{name: v1, hostPath: {path: /h}}, {name: v2, emptyDir: {}}], containers: [{name: ray-node, volumeMounts: [{name: v2, mountPath: /b}]}]}",
        ),
        (
            "spec: {containers: [{name: ray-node, command: [a, b], args: [x]}]}",
            "spec: {containers: [{name: ray-node, command: [c]}]}",
        ),
        (
            "spec: {tolerations: [{key: a}], imagePullSecrets: [{name: s1}]}",
            "spec: {tolerations: [{key: b}], imagePullSecrets: [{name: s1}, {name: s2}]}",
        ),
        (
            "metadata: {labels: {a: '1'}}\nspec: {serviceAccountName: one}",
            "metadata: {labels: {b: '2'}}\nspec: {serviceAccountName: two}",
        ),
        (
            "spec: {containers: [{name: ray-node, env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}]}]}",
            "spec: {containers: [{name: ray-node, env: [{name: A, value: plain}]}]}",
        ),
    ];
    let docs: Vec<(Value, Value)> = pairs
        .iter()
        .map(|(a, b)| {
            (
                serde_saphyr::from_str::<Value>(a).unwrap(),
                serde_saphyr::from_str::<Value>(b).unwrap(),
            )
        })
        .collect();
    let input = serde_json::to_string(&docs.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>()).unwrap();
    let script = "import json, sys\nfrom sky.utils import config_utils\nfor base, over in json.load(sys.stdin):\n    config_utils.merge_k8s_configs(base, over)\n    print(json.dumps(base))\n";
    let mut child = Command::new(venv_dir().join("bin/python3"))
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(want.len(), docs.len());
    let mut wrong = Vec::new();
    for ((base, over), want) in docs.iter().zip(&want) {
        let ours = skys3::sky::merge_k8s(base, over);
        if &ours != want {
            wrong.push(format!("{base} + {over}:\n  SkyPilot {want}\n  doctor   {ours}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
