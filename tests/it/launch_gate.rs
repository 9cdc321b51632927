//! The launch gate (`python/skys3/sky.py`) inside SkyPilot 0.14.1 itself: the lab venv's SkyPilot loads
//! `admin_policy: skys3.sky.DoctorPolicy` from the user's config, and its own `sky.launch`, `sky.jobs.launch` and
//! `sky.exec` run with the API server stubbed right after the policy (`tests/lab/gate_driver.py`). The doctor the
//! policy runs is this build's, against the lab; a wrapper counts its runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::lab::{FaultKind, Lab, Scenario, skys3_bin, venv_dir};

const BUCKET: &str = "lab-bucket";

struct Gate {
    lab: Lab,
    runs: PathBuf,
    dir: tempfile::TempDir,
}

impl Gate {
    /// The lab with the policy registered in the user's SkyPilot config; `settings` are `plugins.skys3`'s lines
    /// (the binary and the cache directory are the test's own unless given).
    fn start(s: Scenario, settings: &str) -> Gate {
        let lab = Lab::start(s);
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let wrapper = dir.path().join("skys3");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho run >> {}\nexec {} \"$@\"\n",
                runs.display(),
                skys3_bin().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let config = lab.home().join(".sky/config.yaml");
        let mut text = std::fs::read_to_string(&config).unwrap_or_default();
        let mut plugin = String::new();
        if !settings.contains("binary:") {
            plugin.push_str(&format!("    binary: {}\n", wrapper.display()));
        }
        if !settings.contains("cache_dir:") {
            plugin.push_str(&format!("    cache_dir: {}\n", dir.path().join("cache").display()));
        }
        for line in settings.lines() {
            plugin.push_str(&format!("    {line}\n"));
        }
        text.push_str(&format!(
            "\nadmin_policy: skys3.sky.DoctorPolicy\nplugins:\n  skys3:\n{plugin}"
        ));
        std::fs::write(&config, text).unwrap();
        Gate { lab, runs, dir }
    }

    /// A task file; `resources` and `mounts` are YAML blocks.
    fn task(&self, resources: &str, mounts: &str) -> PathBuf {
        let path = self.dir.path().join("task.yaml");
        std::fs::write(&path, format!("name: gate\n{resources}{mounts}run: echo hi\n")).unwrap();
        path
    }

    /// The usual task: on the lab's context, mounting the lab's bucket.
    fn s3_task(&self) -> PathBuf {
        let context = self.lab.state.scenario.lock().unwrap().context_name.clone();
        self.task(
            &format!("resources:\n  infra: k8s/{context}\n"),
            &format!("file_mounts:\n  /data:\n    source: s3://{BUCKET}\n    mode: MOUNT_CACHED\n"),
        )
    }

    /// The lab venv's Python with SkyPilot, the gate's package on its path, in the lab's sealed environment.
    fn python(&self) -> Command {
        let mut cmd = self.lab.sealed(venv_dir().join("bin/python3"));
        cmd.env("PYTHONPATH", Path::new(env!("CARGO_MANIFEST_DIR")).join("python"))
            .env("SKYPILOT_DISABLE_USAGE_COLLECTION", "1");
        cmd
    }

    /// Runs `entry` `n` times in one SkyPilot process; each launch's verdict, and what SkyPilot printed.
    fn launch(&self, entry: &str, task: &Path, n: usize) -> (Vec<Value>, String) {
        let out = self
            .python()
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/gate_driver.py"))
            .args([entry, &task.display().to_string(), &n.to_string()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let verdicts: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        assert_eq!(
            verdicts.len(),
            n,
            "stdout: {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        (verdicts, stderr)
    }

    /// How many times the policy ran the doctor.
    fn doctor_runs(&self) -> usize {
        std::fs::read_to_string(&self.runs)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

/// An executable shell script `skys3` in a directory of its own, standing in for a broken binary.
fn fake_skys3(body: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skys3");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let shown = path.display().to_string();
    (dir, shown)
}

fn passed_unchanged(v: &Value) {
    assert_eq!(v["outcome"], "passed", "{v:#}");
    assert_eq!(v["changed"], false, "the policy never changes the request: {v:#}");
}

#[test]
fn a_healthy_setup_launches_unchanged_and_a_burst_costs_one_doctor_run() {
    let g = Gate::start(Scenario::healthy_pod_identity(), "");
    let task = g.s3_task();
    let (verdicts, stderr) = g.launch("launch", &task, 3);
    verdicts.iter().for_each(passed_unchanged);
    assert_eq!(g.doctor_runs(), 1, "three launches, one doctor run: {stderr}");
    // A managed job in another process still finds the pass.
    let (verdicts, _) = g.launch("jobs.launch", &task, 1);
    passed_unchanged(&verdicts[0]);
    assert_eq!(g.doctor_runs(), 1);
}

#[test]
fn a_broken_setup_is_refused_naming_the_failing_code_and_never_cached() {
    let g = Gate::start(Scenario::healthy_pod_identity().with(|s| s.associations.clear()), "");
    let task = g.s3_task();
    for entry in ["launch", "jobs.launch"] {
        let (verdicts, _) = g.launch(entry, &task, 1);
        let v = &verdicts[0];
        assert_eq!(v["outcome"], "rejected", "{entry}: {v:#}");
        let msg = v["message"].as_str().unwrap();
        // The failing check, its code, a one-line fix, the fix script, and where the policy ran.
        assert!(msg.contains("mode SKY"), "{msg}");
        assert!(msg.contains("fix: "), "{msg}");
        assert!(msg.contains("--fix-script"), "{msg}");
        assert!(msg.contains("at the client"), "{msg}");
        assert!(
            !msg.contains("object at 0x"),
            "SkyPilot's own wrapping is not used: {msg}"
        );
        assert!(
            v["server_calls"].as_array().unwrap().is_empty(),
            "refused before the server: {v:#}"
        );
    }
    assert_eq!(g.doctor_runs(), 2, "a failure is never cached");
}

#[test]
fn an_unreachable_cluster_passes_with_a_warning_unless_configured_to_block() {
    let unreachable = || Scenario::healthy_pod_identity().fault("eks", Some("DescribeCluster"), FaultKind::ServerError);
    let g = Gate::start(unreachable(), "");
    let (verdicts, stderr) = g.launch("launch", &g.s3_task(), 1);
    passed_unchanged(&verdicts[0]);
    assert!(stderr.contains("could not decide"), "{stderr}");
    // Not cached: an undecided verdict is not a pass.
    let (verdicts, _) = g.launch("launch", &g.s3_task(), 1);
    passed_unchanged(&verdicts[0]);
    assert_eq!(g.doctor_runs(), 2);

    let g = Gate::start(unreachable(), "on_inconclusive: block");
    let (verdicts, _) = g.launch("launch", &g.s3_task(), 1);
    assert_eq!(verdicts[0]["outcome"], "rejected", "{:#}", verdicts[0]);
    assert!(
        verdicts[0]["message"].as_str().unwrap().contains("inconclusive"),
        "{:#}",
        verdicts[0]
    );
}

#[test]
fn a_missing_or_crashing_skys3_fails_open_unless_fail_closed() {
    let (_crash, crasher) = fake_skys3("echo 'thread main panicked' >&2\nexit 101");
    for binary in ["/nonexistent/skys3".to_string(), crasher] {
        let g = Gate::start(Scenario::healthy_pod_identity(), &format!("binary: {binary}"));
        let (verdicts, stderr) = g.launch("launch", &g.s3_task(), 1);
        passed_unchanged(&verdicts[0]);
        assert!(stderr.contains("launching anyway"), "{binary}: {stderr}");

        let g = Gate::start(
            Scenario::healthy_pod_identity(),
            &format!("binary: {binary}\nfail_closed: true"),
        );
        let (verdicts, _) = g.launch("launch", &g.s3_task(), 1);
        assert_eq!(verdicts[0]["outcome"], "rejected", "{binary}: {:#}", verdicts[0]);
        assert!(
            verdicts[0]["message"].as_str().unwrap().contains("fail_closed"),
            "{:#}",
            verdicts[0]
        );
    }
}

#[test]
fn a_slow_doctor_is_cut_at_the_timeout() {
    let (_slow, sleeper) = fake_skys3("sleep 60");
    let g = Gate::start(
        Scenario::healthy_pod_identity(),
        &format!("binary: {sleeper}\ntimeout_seconds: 2"),
    );
    let started = std::time::Instant::now();
    let (verdicts, stderr) = g.launch("launch", &g.s3_task(), 1);
    passed_unchanged(&verdicts[0]);
    assert!(stderr.contains("did not finish in 2 s"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(40));
}

#[test]
fn no_s3_or_not_on_kubernetes_runs_no_doctor() {
    let g = Gate::start(Scenario::healthy_pod_identity().with(|s| s.associations.clear()), "");
    let context = g.lab.state.scenario.lock().unwrap().context_name.clone();
    let no_s3 = g.task(&format!("resources:\n  infra: k8s/{context}\n"), "");
    let (verdicts, _) = g.launch("launch", &no_s3, 1);
    passed_unchanged(&verdicts[0]);
    let elsewhere = g.task(
        "resources:\n  cloud: aws\n",
        &format!("file_mounts:\n  /data: s3://{BUCKET}/x\n"),
    );
    let (verdicts, _) = g.launch("launch", &elsewhere, 1);
    passed_unchanged(&verdicts[0]);
    // SkyPilot's client applies no policy to exec: only an API server's policy sees it (README).
    let (verdicts, _) = g.launch("exec", &g.s3_task(), 1);
    passed_unchanged(&verdicts[0]);
    assert_eq!(g.doctor_runs(), 0, "the setup is broken, but nothing asked the doctor");
}

#[test]
fn bad_settings_are_refused_with_their_name() {
    let g = Gate::start(Scenario::healthy_pod_identity(), "timeout_seconds: soon");
    let (verdicts, _) = g.launch("launch", &g.s3_task(), 1);
    assert_eq!(verdicts[0]["outcome"], "rejected", "{:#}", verdicts[0]);
    assert!(
        verdicts[0]["message"]
            .as_str()
            .unwrap()
            .contains("plugins.skys3.timeout_seconds"),
        "{:#}",
        verdicts[0]
    );
}

#[test]
fn a_first_launch_that_creates_skypilots_service_account_passes_with_a_warning() {
    // Nothing launched yet: no pods, and SkyPilot's default service account is created by this launch.
    let s = Scenario::healthy_pod_identity().with(|s| {
        s.service_accounts.clear();
        s.pods.clear();
    });
    let g = Gate::start(s, "");
    let (verdicts, stderr) = g.launch("launch", &g.s3_task(), 1);
    passed_unchanged(&verdicts[0]);
    assert!(stderr.contains("this launch creates it"), "{stderr}");
}

/// On an API server the settings are the server's own: a request whose config (the client's, merged over the
/// server's) names another binary and fail-open cannot turn the server's fail-closed gate off.
#[test]
fn on_an_api_server_the_clients_settings_do_not_count() {
    let g = Gate::start(
        Scenario::healthy_pod_identity(),
        "binary: /nonexistent/skys3\nfail_closed: true",
    );
    let script = r#"
import sys
import sky
from sky.server.requests import request_names
from skys3.sky import DoctorPolicy
task = sky.Task.from_yaml(sys.argv[1])
client = sky.Config({"plugins": {"skys3": {"binary": "/bin/true", "fail_closed": False}}})
request = sky.UserRequest(task=task, skypilot_config=client,
                          request_name=request_names.AdminPolicyRequestName.CLUSTER_LAUNCH,
                          request_options=None, at_client_side=False)
try:
    DoctorPolicy().validate_and_mutate(request)
    print("passed")
except sky.exceptions.UserRequestRejectedByPolicy as e:
    print("rejected: " + str(e))
"#;
    let out = g.python().args(["-c", script]).arg(g.s3_task()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("rejected:") && stdout.contains("fail_closed") && stdout.contains("API server"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The doctor is asked about the service account and namespace SkyPilot itself would use for the context:
/// `kubernetes.remote_identity` as a context pattern, and the context's own namespace from `context_configs`.
#[test]
fn the_target_is_the_one_skypilot_resolves() {
    let s = Scenario::healthy_pod_identity();
    let context = s.context_name.clone();
    let s = s.with(|s| {
        s.sky_user_config = Some(format!(
            "aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  remote_identity:\n    '*lab*': team-sa\n    '*': SERVICE_ACCOUNT\n  context_configs:\n    {context:?}:\n      namespace: team-ns\n"
        ));
    });
    let g = Gate::start(s, "");
    let (verdicts, _) = g.launch("launch", &g.s3_task(), 1);
    let v = &verdicts[0];
    // The lab's association is for default/skypilot-service-account: asked about team-ns/team-sa, the doctor
    // finds neither, and the refusal names what SkyPilot resolved.
    assert_eq!(v["outcome"], "rejected", "{v:#}");
    let msg = v["message"].as_str().unwrap();
    assert!(msg.contains("namespace team-ns, service account team-sa"), "{msg}");
    assert!(msg.contains("--namespace team-ns --service-account team-sa"), "{msg}");
}
