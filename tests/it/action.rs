//! The GitHub Action (`action.yml`) run here: each step's own `run` script, with its `env` and the inputs
//! substituted as the runner does, `RUNNER_TEMP`, `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` pointing into a temp
//! directory, the wheel this run built as the package, and the lab as the cluster and AWS.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::lab::{Lab, Scenario};

/// What the job saw: the steps' exit code (the first failing one's), the outputs, the summary, the workspace.
struct Job {
    code: i32,
    outputs: BTreeMap<String, String>,
    summary: String,
    workspace: tempfile::TempDir,
}

/// `${{ inputs.NAME }}` and `${{ github.action_path }}` in a value, as the runner expands them.
fn expand(v: &str, inputs: &BTreeMap<String, String>) -> String {
    let re = regex::Regex::new(r"\$\{\{\s*([a-z_.-]+)\s*\}\}").unwrap();
    re.replace_all(v, |c: &regex::Captures| match c[1].split_once('.') {
        Some(("inputs", name)) => inputs.get(name).cloned().unwrap_or_default(),
        Some(("github", "action_path")) => env!("CARGO_MANIFEST_DIR").to_string(),
        _ => panic!("action.yml uses an expression the test does not know: {}", &c[0]),
    })
    .into_owned()
}

fn run_action(lab: &Lab, given: &[(&str, &str)]) -> Job {
    let action: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml")).unwrap(),
    )
    .unwrap();
    assert_eq!(action["runs"]["using"], "composite");
    let mut inputs: BTreeMap<String, String> = action["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["default"].as_str().unwrap_or("").to_string()))
        .collect();
    for (k, v) in given {
        assert!(inputs.contains_key(*k), "no input {k}");
        inputs.insert(k.to_string(), v.to_string());
    }
    let workspace = tempfile::tempdir().unwrap();
    let (temp, output, summary) = (
        workspace.path().join("runner-temp"),
        workspace.path().join("github-output"),
        workspace.path().join("step-summary"),
    );
    std::fs::create_dir_all(&temp).unwrap();
    let mut code = 0;
    for step in action["runs"]["steps"].as_array().unwrap() {
        assert_eq!(step["shell"], "bash");
        let mut cmd = lab.sealed("bash");
        cmd.args(["--noprofile", "--norc", "-e", "-o", "pipefail", "-c"])
            .arg(expand(step["run"].as_str().unwrap(), &inputs))
            .env("RUNNER_TEMP", &temp)
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .current_dir(workspace.path());
        for (k, v) in step["env"].as_object().into_iter().flatten() {
            cmd.env(k, expand(v.as_str().unwrap(), &inputs));
        }
        let out = cmd.output().unwrap();
        code = out.status.code().unwrap_or(-1);
        if code != 0 {
            eprintln!(
                "step {:?} exited {code}: {}",
                step["name"],
                String::from_utf8_lossy(&out.stderr)
            );
            break;
        }
    }
    let outputs = std::fs::read_to_string(&output)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Job {
        code,
        outputs,
        summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        workspace,
    }
}

#[test]
fn the_action_reports_a_healthy_setup_and_fails_a_broken_one() {
    let wheel = crate::wheel::wheel();
    let package = wheel.display().to_string();

    let lab = Lab::start(Scenario::healthy_pod_identity());
    let job = run_action(&lab, &[("package", &package), ("bucket", "lab-bucket")]);
    assert_eq!(job.code, 0, "{:?}", job.outputs);
    assert_eq!(job.outputs["status"], "pass");
    assert_eq!(job.outputs["exit-code"], "0");
    let junit = std::fs::read_to_string(job.workspace.path().join(&job.outputs["junit"])).unwrap();
    assert!(junit.contains("<testsuite") && junit.contains("pod.s3-list"), "{junit}");
    assert!(job.summary.starts_with('#'), "the Markdown report: {}", job.summary);

    let lab = Lab::start(Scenario::healthy_pod_identity().with(|s| s.associations.clear()));
    let job = run_action(&lab, &[("package", &package), ("bucket", "lab-bucket")]);
    assert_eq!(job.code, 1, "the job fails by the doctor's exit code");
    assert_eq!(job.outputs["status"], "fail");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(job.workspace.path().join(&job.outputs["report"])).unwrap())
            .unwrap();
    let failing: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert!(!failing.is_empty());
    assert!(
        failing.iter().all(|c| job.summary.contains(c)),
        "{failing:?} in {}",
        job.summary
    );

    // Extra arguments reach the doctor: an unknown flag is bad input (exit 2), and there is no report.
    let job = run_action(
        &lab,
        &[("package", &package), ("args", "--mode pod-identity\n--no-such-flag")],
    );
    assert_eq!(job.code, 2);
    assert_eq!(job.outputs["status"], "error");
    assert_eq!(job.outputs["junit"], "", "no JUnit file without a report");

    // Several lines of arguments, and report files in a folder that does not exist yet.
    let job = run_action(
        &lab,
        &[
            ("package", &package),
            ("args", "--bucket lab-bucket\n--mode pod-identity"),
            ("report-file", "out/skys3.json"),
            ("junit-file", "out/skys3.xml"),
        ],
    );
    assert_eq!(job.code, 1, "{:?}", job.outputs);
    assert_eq!(job.outputs["status"], "fail");
    assert!(job.workspace.path().join("out/skys3.xml").exists());
}
