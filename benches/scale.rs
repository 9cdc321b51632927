//! Scale benchmark: one account with 50 EKS clusters in the lab, 50 ms on every AWS and Kubernetes request. It
//! runs the doctor on one target, then on all 50 (`--context` glob) at several `--jobs` bounds, and prints the
//! wall times, the requests per target, and how many identity and IAM requests the run made against how many 50
//! separate runs would have made. Goal (printed, not asserted): 50 targets in under 3 x one target's wall time,
//! and identity and IAM requests not multiplied by the number of targets.
//!
//! Run: `scripts/bench` (or `cargo bench --bench scale` with the lab venv installed). Not a test.

// A benchmark drives a part of the lab the test suite uses in full.
#[allow(dead_code)]
#[path = "../tests/lab/mod.rs"]
mod lab;
mod support;

use std::time::{Duration, Instant};

use lab::{ExtraCluster, Lab, Recorded, Scenario};

const CLUSTERS: usize = 50;

/// Account-wide requests: the identity and IAM (what targets share).
fn account_wide(r: &Recorded) -> bool {
    r.service == "iam" || r.op == "GetCallerIdentity"
}

/// Runs the doctor under `/usr/bin/time`: wall time, requests, exit code, and its CPU time and peak RSS.
fn run(lab: &Lab, args: &[&str]) -> (Duration, Vec<Recorded>, i32, String) {
    let before = lab.requests().len();
    let cmd = lab.command();
    let mut timed = std::process::Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("SKYS3_TIME=%U s user, %S s system, %M KiB peak RSS")
        .arg(cmd.get_program())
        .args(args)
        .env_clear()
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .current_dir(lab.work());
    let started = Instant::now();
    let out = timed.output().expect("skys3 runs");
    let wall = started.elapsed();
    let cpu = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("SKYS3_TIME=").map(str::to_string))
        .unwrap_or_else(|| "CPU time unknown".into());
    (
        wall,
        lab.requests()[before..].to_vec(),
        out.status.code().unwrap_or(-1),
        cpu,
    )
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let latency = support::bench_latency_ms();
    let lab = Lab::start(Scenario::healthy_pod_identity().with(|s| {
        s.latency_ms = latency;
        s.extra_clusters = (0..CLUSTERS)
            .map(|i| ExtraCluster::new(&format!("c{i:02}"), "ACTIVE"))
            .collect();
        // SkyPilot may launch on every context (else each target warns that it would not).
        s.sky_user_config = Some("aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  allowed_contexts: all\n".into());
    }));
    let one_ctx = format!("arn:aws:eks:us-west-2:{}:cluster/c00", lab::ACCOUNT);
    // Warm-up (page cache, moto's first answers), then the one-target baseline: the median of three.
    let _ = run(&lab, &["doctor", "-o", "json", "--context", &one_ctx]);
    let mut singles: Vec<(Duration, Vec<Recorded>, i32, String)> = (0..3)
        .map(|_| run(&lab, &["doctor", "-o", "json", "--context", &one_ctx]))
        .collect();
    singles.sort_by_key(|s| s.0);
    let (one_wall, one_reqs, one_code, one_cpu) = singles.swap_remove(1);
    let one_account = one_reqs.iter().filter(|r| account_wide(r)).count();
    println!("scale benchmark: {CLUSTERS} clusters in one account, {latency} ms per request");
    println!(
        "  one target:  {} wall, {} requests ({} identity/IAM), exit {one_code}; {one_cpu}",
        ms(one_wall),
        one_reqs.len(),
        one_account
    );
    // With the in-pod probe (each target execs into its pod; the lab's fake pods run that probe on this machine's
    // cores, where a real cluster runs it on its own node), and without it (--no-exec).
    for extra in [&[][..], &["--no-exec"][..]] {
        for jobs in ["8", "16", "50"] {
            let mut args = vec!["doctor", "-o", "json", "--context", "arn:aws:eks:*", "--jobs", jobs];
            args.extend_from_slice(extra);
            let (wall, reqs, code, cpu) = run(&lab, &args);
            let account = reqs.iter().filter(|r| account_wide(r)).count();
            println!(
                "  {CLUSTERS} targets, --jobs {jobs:>2}{}: {} wall ({:.2} x one target), {} requests ({:.1} per \
                 target), {account} identity/IAM requests (separate runs: {}), exit {code}; {cpu}",
                if extra.is_empty() { "" } else { " --no-exec" },
                ms(wall),
                wall.as_secs_f64() / one_wall.as_secs_f64(),
                reqs.len(),
                reqs.len() as f64 / CLUSTERS as f64,
                one_account * CLUSTERS,
            );
        }
    }
}
