//! The wheel (`pyproject.toml`, maturin with `bindings = "bin"`): built here, installed into a fresh venv that has
//! nothing else, and run. The build uses the dev profile (the release wheel differs only in optimisation) and a
//! target directory of its own, so that it never replaces the binary the other tests run.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::lab::{Lab, Scenario, venv_dir};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The wheel, built once per test run (the action's test installs it too).
pub fn wheel() -> PathBuf {
    static WHEEL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    WHEEL
        .get_or_init(|| {
            let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/wheel/dist");
            let _ = std::fs::remove_dir_all(&out);
            build_wheel(&out)
        })
        .clone()
}

fn build_wheel(out: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    run(Command::new(venv_dir().join("bin/maturin"))
        .args(["build", "--profile", "dev", "--quiet", "--out"])
        .arg(out)
        .arg("--target-dir")
        .arg(root.join("target/wheel"))
        .current_dir(root));
    let wheels: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    assert_eq!(wheels.len(), 1, "{wheels:?}");
    wheels[0].clone()
}

#[test]
fn the_wheel_installs_into_a_bare_venv_and_runs_the_doctor() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = wheel();
    let name = wheel.file_name().unwrap().to_str().unwrap().to_string();
    // The version is Cargo.toml's; the binary needs no Python (py3-none); the platform tag is the oldest
    // manylinux the binary's glibc symbols allow, as maturin's audit finds it.
    let version = env!("CARGO_PKG_VERSION");
    let tag = regex::Regex::new(&format!(
        r"^skys3-{}-py3-none-manylinux_2_\d+_x86_64\.whl$",
        regex::escape(version)
    ))
    .unwrap();
    assert!(tag.is_match(&name), "{name}");
    eprintln!("wheel: {name}");

    // A venv with nothing but pip, from the machine's own Python; the wheel alone, no index.
    let venv = dir.path().join("fresh");
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    run(Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
        ])
        .arg(&wheel));
    let installed = venv.join("bin/skys3");
    let printed = run(Command::new(&installed).arg("--version"));
    assert_eq!(printed.trim(), format!("skys3 {version}"));
    // The Python package finds the binary the wheel installed beside it.
    let found = run(Command::new(venv.join("bin/python")).args(["-c", "import skys3; print(skys3.binary())"]));
    assert_eq!(Path::new(found.trim()), installed);

    // A lab scenario through the installed binary.
    let lab = Lab::start(Scenario::healthy_pod_identity());
    let out = lab.sealed(&installed).args(["doctor", "-o", "json"]).output().unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(doc["status"], "pass", "{doc:#}");
    assert_eq!(out.status.code(), Some(0));
}
