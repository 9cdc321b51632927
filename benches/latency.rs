//! Latency benchmark: the lab with a fixed latency on every AWS and Kubernetes request, a healthy Pod Identity
//! and a healthy IRSA setup. It prints the doctor's wall time, its requests (and whether any repeated), the
//! critical path (the deepest chain of requests that depend on each other's answers, times the latency), the
//! ratio of the two, the guide's manual verification commands (awscli and curl) run one by one against the same
//! lab, `skys3 --version`'s time and the doctor's peak RSS.
//!
//! Run: `scripts/bench` (or `cargo bench --bench latency` with the lab venv installed). Not a test: it prints
//! figures and asserts nothing.

// A benchmark drives a part of the lab the test suite uses in full.
#[allow(dead_code)]
#[path = "../tests/lab/mod.rs"]
mod lab;
mod support;

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use lab::{Lab, Recorded, Scenario};

const RUNS: usize = 5;

/// The requests whose answers a request needs before it can be sent: data dependencies, nothing else.
fn needs(op: &str) -> &'static [&'static str] {
    match op {
        "get version" | "get serviceaccounts" | "get daemonsets" | "list pods" => &["DescribeCluster"],
        "exec pods/exec" => &["list pods"],
        "get namespaces" => &["get serviceaccounts"],
        "DescribePodIdentityAssociation" => &["ListPodIdentityAssociations"],
        "DescribeNodegroup" => &["ListNodegroups"],
        // A node role's reads wait for its node group's answer. By name alone the checked role's GetRole and
        // ListRolePolicies look the same; the lab's node role has only an inline policy, so its chain is
        // ListNodegroups -> DescribeNodegroup -> ListRolePolicies -> GetRolePolicy.
        "GetRole" | "ListRolePolicies" => &["DescribeNodegroup"],
        // (A boundary's GetPolicy follows GetRole; the healthy setups have no boundary.)
        "GetPolicy" => &["ListAttachedRolePolicies"],
        "GetPolicyVersion" => &["GetPolicy"],
        "GetRolePolicy" => &["ListRolePolicies"],
        "SimulatePrincipalPolicy" => &["GetRole", "GetCallerIdentity"],
        "GetOpenIDConnectProvider" => &["ListOpenIDConnectProviders", "DescribeCluster"],
        _ => &[],
    }
}

/// The longest dependency chain among the requests made, as a list of operations.
fn critical_path(requests: &[Recorded]) -> Vec<String> {
    let ops: HashSet<String> = requests.iter().map(|r| r.op.clone()).collect();
    fn chain(op: &str, ops: &HashSet<String>, memo: &mut BTreeMap<String, Vec<String>>) -> Vec<String> {
        if let Some(c) = memo.get(op) {
            return c.clone();
        }
        let mut best: Vec<String> = vec![];
        for dep in needs(op) {
            if ops.contains(*dep) {
                let c = chain(dep, ops, memo);
                if c.len() > best.len() {
                    best = c;
                }
            }
        }
        best.push(op.to_string());
        memo.insert(op.to_string(), best.clone());
        best
    }
    let mut memo = BTreeMap::new();
    ops.iter()
        .map(|op| chain(op, &ops, &mut memo))
        .max_by_key(|c| c.len())
        .unwrap_or_default()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

struct Figures {
    name: &'static str,
    wall: Duration,
    requests: usize,
    repeated: usize,
    chain: Vec<String>,
    manual: Duration,
    manual_commands: usize,
    rss_kb: Option<u64>,
}

fn doctor(lab: &Lab) -> (Duration, Vec<Recorded>) {
    let before = lab.requests().len();
    let started = Instant::now();
    let out = lab
        .command()
        .args(["doctor", "-o", "json"])
        .output()
        .expect("skys3 runs");
    let wall = started.elapsed();
    assert!(
        out.status.code() == Some(0),
        "the healthy lab passes: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    (wall, lab.requests()[before..].to_vec())
}

fn peak_rss_kb(lab: &Lab) -> Option<u64> {
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("SKYS3_RSS_KB=%M")
        .arg(lab::skys3_bin())
        .args(["doctor", "-o", "json"])
        .envs(
            lab.command()
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env_remove("NO_SUCH")
        .current_dir(lab.work())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("SKYS3_RSS_KB=")?.trim().parse().ok())
}

/// The guide's verification commands, one after the other, as a person (or a runbook script) runs them.
fn manual(lab: &Lab, irsa: bool) -> (Duration, usize) {
    let venv = lab::venv_dir();
    let aws = venv.join("bin").join("aws");
    let s = lab.state.scenario.lock().unwrap().clone();
    let (c, ns, sa, role) = (
        s.cluster.as_str(),
        s.namespace.as_str(),
        s.service_account.as_str(),
        format!("SkyPilotS3Role-{}", s.bucket),
    );
    let policy = format!("arn:aws:iam::{}:policy/SkyPilotS3Access-{}", lab::ACCOUNT, s.bucket);
    let mut aws_cmds: Vec<Vec<String>> = vec![
        vec!["sts".into(), "get-caller-identity".into()],
        vec!["eks".into(), "describe-cluster".into(), "--name".into(), c.into()],
        vec!["iam".into(), "get-role".into(), "--role-name".into(), role.clone()],
        vec![
            "iam".into(),
            "list-attached-role-policies".into(),
            "--role-name".into(),
            role.clone(),
        ],
        vec!["iam".into(), "get-policy".into(), "--policy-arn".into(), policy.clone()],
        vec![
            "iam".into(),
            "get-policy-version".into(),
            "--policy-arn".into(),
            policy,
            "--version-id".into(),
            "v1".into(),
        ],
        vec!["iam".into(), "list-role-policies".into(), "--role-name".into(), role],
        vec![
            "s3api".into(),
            "get-bucket-location".into(),
            "--bucket".into(),
            s.bucket.clone(),
        ],
    ];
    if irsa {
        aws_cmds.push(vec!["iam".into(), "list-open-id-connect-providers".into()]);
        let provider = format!(
            "arn:aws:iam::{}:oidc-provider/oidc.eks.{}.amazonaws.com/id/{}",
            lab::ACCOUNT,
            s.region,
            s.eks.as_ref().unwrap().oidc_id
        );
        aws_cmds.push(vec![
            "iam".into(),
            "get-open-id-connect-provider".into(),
            "--open-id-connect-provider-arn".into(),
            provider,
        ]);
    } else {
        aws_cmds.push(vec![
            "eks".into(),
            "list-addons".into(),
            "--cluster-name".into(),
            c.into(),
        ]);
        aws_cmds.push(vec![
            "eks".into(),
            "list-pod-identity-associations".into(),
            "--cluster-name".into(),
            c.into(),
            "--namespace".into(),
            ns.into(),
            "--service-account".into(),
            sa.into(),
        ]);
        aws_cmds.push(vec![
            "eks".into(),
            "describe-pod-identity-association".into(),
            "--cluster-name".into(),
            c.into(),
            "--association-id".into(),
            "a-00000000000000000".into(),
        ]);
    }
    let mut kube_paths = vec![
        format!("/api/v1/namespaces/{ns}/serviceaccounts/{sa}"),
        format!("/api/v1/namespaces/{ns}/pods?labelSelector=parent%3Dskypilot"),
    ];
    if !irsa {
        kube_paths.push("/apis/apps/v1/namespaces/kube-system/daemonsets/eks-pod-identity-agent".into());
    }
    let started = Instant::now();
    for args in &aws_cmds {
        let out = Command::new(&aws)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", lab.home())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", &s.region)
            .env("AWS_ENDPOINT_URL", &lab.aws_url)
            .env("AWS_CONFIG_FILE", lab.dir.path().join("no-config"))
            .output()
            .expect("aws runs");
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for path in &kube_paths {
        let out = Command::new("curl")
            .args(["-sf", "-H", &format!("Authorization: Bearer {}", lab::kube_fake::TOKEN)])
            .arg(format!("{}{path}", lab.kube_url))
            .output()
            .expect("curl runs");
        assert!(out.status.success(), "curl {path}");
    }
    (started.elapsed(), aws_cmds.len() + kube_paths.len())
}

fn measure(name: &'static str, scenario: Scenario, irsa: bool) -> Figures {
    let lab = Lab::start(scenario.with(|s| s.latency_ms = support::bench_latency_ms()));
    let _ = doctor(&lab); // warm the page cache and moto
    let mut walls = vec![];
    let mut requests = vec![];
    for _ in 0..RUNS {
        let (w, r) = doctor(&lab);
        walls.push(w);
        requests = r;
    }
    let mut seen = HashSet::new();
    let repeated = requests
        .iter()
        .filter(|r| !seen.insert((r.service.clone(), r.op.clone(), r.path.clone())))
        .count();
    let rss_kb = peak_rss_kb(&lab);
    let (manual, manual_commands) = manual(&lab, irsa);
    Figures {
        name,
        wall: median(walls),
        requests: requests.len(),
        repeated,
        chain: critical_path(&requests),
        manual,
        manual_commands,
        rss_kb,
    }
}

fn main() {
    // `cargo bench` passes --bench; nothing else is expected.
    let version_lab = Lab::start(Scenario::healthy_pod_identity());
    let mut version_times = vec![];
    for _ in 0..21 {
        let started = Instant::now();
        let out = version_lab.command().arg("--version").output().expect("skys3 runs");
        version_times.push(started.elapsed());
        assert!(out.status.success());
    }
    drop(version_lab);

    let figures = [
        measure("healthy Pod Identity", Scenario::healthy_pod_identity(), false),
        measure("healthy IRSA", Scenario::healthy_irsa(), true),
    ];
    println!(
        "skys3 latency benchmark: {} ms added to every AWS and Kubernetes request, median of {RUNS} runs\n",
        support::bench_latency_ms()
    );
    for f in &figures {
        let critical = Duration::from_millis(support::bench_latency_ms() * f.chain.len() as u64);
        println!("{}:", f.name);
        println!("  doctor wall time          {}", ms(f.wall));
        println!("  requests                  {} ({} repeated)", f.requests, f.repeated);
        println!(
            "  critical path             {} = {} requests x {} ms: {}",
            ms(critical),
            f.chain.len(),
            support::bench_latency_ms(),
            f.chain.join(" -> ")
        );
        println!(
            "  wall / critical path      {:.2}x",
            f.wall.as_secs_f64() / critical.as_secs_f64()
        );
        println!(
            "  manual commands           {} for {} commands (awscli and curl, one by one)",
            ms(f.manual),
            f.manual_commands
        );
        println!(
            "  manual / doctor           {:.1}x",
            f.manual.as_secs_f64() / f.wall.as_secs_f64()
        );
        match f.rss_kb {
            Some(kb) => println!("  doctor peak RSS           {:.1} MB", kb as f64 / 1024.0),
            None => println!("  doctor peak RSS           unavailable (/usr/bin/time missing)"),
        }
        println!();
    }
    println!(
        "skys3 --version            {} (median of 21)",
        ms(median(version_times))
    );
    let gate = gate_cost();
    println!(
        "launch gate (SkyPilot's sky.launch to its server call, median of {RUNS}):\n  \
         without the policy         {}\n  \
         with it, doctor run         {} (+{})\n  \
         with it, cached pass        {} (+{})\n  \
         the doctor alone            {}",
        ms(gate.without),
        ms(gate.with_run),
        ms(gate.with_run.saturating_sub(gate.without)),
        ms(gate.cached),
        ms(gate.cached.saturating_sub(gate.without)),
        ms(gate.doctor)
    );
    let (probe, one_call) = probe_vs_one_call();
    println!(
        "in-pod probe (real awscli) {} vs one `aws sts get-caller-identity` {}: {:.2}x (median of {RUNS}, no added latency)",
        ms(probe),
        ms(one_call),
        probe.as_secs_f64() / one_call.as_secs_f64()
    );
}

struct GateCost {
    without: Duration,
    with_run: Duration,
    cached: Duration,
    doctor: Duration,
}

/// The launch gate's cost inside SkyPilot 0.14.1 (the lab venv): `sky.launch` of a task on the lab's context
/// mounting its bucket, up to the API server call (stubbed, `tests/lab/gate_driver.py`), without the policy, with
/// it running the doctor (no pass cache), and with a cached pass; and the doctor alone, on the same lab (50 ms per
/// request).
fn gate_cost() -> GateCost {
    let lab = Lab::start(Scenario::healthy_pod_identity().with(|s| s.latency_ms = support::bench_latency_ms()));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let context = lab.state.scenario.lock().unwrap().context_name.clone();
    let task = dir.path().join("task.yaml");
    std::fs::write(
        &task,
        format!(
            "name: gate\nresources:\n  infra: k8s/{context}\nfile_mounts:\n  /data: s3://lab-bucket/x\nrun: echo\n"
        ),
    )
    .unwrap();
    let config = lab.home().join(".sky/config.yaml");
    let base = std::fs::read_to_string(&config).unwrap_or_default();
    let launch = |policy: Option<u32>| {
        let mut text = base.clone();
        if let Some(minutes) = policy {
            text.push_str(&format!(
                "\nadmin_policy: skys3.sky.DoctorPolicy\nplugins:\n  skys3:\n    binary: {}\n    cache_minutes: {minutes}\n    cache_dir: {}\n",
                lab::skys3_bin().display(),
                dir.path().join("cache").display()
            ));
        }
        std::fs::write(&config, text).unwrap();
        let started = Instant::now();
        let out = lab
            .sealed(lab::venv_dir().join("bin/python3"))
            .arg(root.join("tests/lab/gate_driver.py"))
            .args(["launch", &task.display().to_string(), "1"])
            .env("PYTHONPATH", root.join("python"))
            .env("SKYPILOT_DISABLE_USAGE_COLLECTION", "1")
            .output()
            .unwrap();
        let took = started.elapsed();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("\"passed\""),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        took
    };
    let _ = launch(None); // the page cache: SkyPilot's import is most of a launch's start
    let without = median((0..RUNS).map(|_| launch(None)).collect());
    let with_run = median((0..RUNS).map(|_| launch(Some(0))).collect());
    let _ = launch(Some(60));
    let cached = median((0..RUNS).map(|_| launch(Some(60))).collect());
    std::fs::write(&config, &base).unwrap();
    let doctor = median(
        (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                let out = lab
                    .command()
                    .args(["doctor", "-o", "json", "--context", &context, "--bucket", "lab-bucket"])
                    .output()
                    .unwrap();
                assert_eq!(out.status.code(), Some(0));
                started.elapsed()
            })
            .collect(),
    );
    GateCost {
        without,
        with_run,
        cached,
        doctor,
    }
}

/// The in-pod probe with the lab venv's awscli v1, against one `aws sts get-caller-identity` in the same sandbox
/// (a Pod Identity pod's environment, moto behind the lab's agent and STS): the probe's identity, list and
/// version calls run at once, so it should cost about one client start-up.
fn probe_vs_one_call() -> (Duration, Duration) {
    let lab = Lab::start(Scenario::healthy_pod_identity());
    let side = lab.state.pod_side.lock().unwrap().clone().expect("pod side");
    let dir = tempfile::tempdir().unwrap();
    let pod = lab.state.scenario.lock().unwrap().pods[0].name.clone();
    std::fs::write(dir.path().join("token"), format!("token-{pod}")).unwrap();
    // awscli as pip installs it: the venv's bin on PATH.
    let bin = lab::venv_dir().join("bin");
    let sandbox = |cmd: &mut Command| {
        cmd.env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("HOME", dir.path())
            .env("AWS_DEFAULT_REGION", "us-west-2")
            .env(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                format!("{}/v1/credentials", side.url),
            )
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", dir.path().join("token"))
            .env("AWS_ENDPOINT_URL", &side.moto)
            .env("AWS_ENDPOINT_URL_STS", &side.url);
    };
    let time = |f: &dyn Fn() -> std::process::Output| {
        median(
            (0..RUNS)
                .map(|_| {
                    let started = Instant::now();
                    let out = f();
                    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                    started.elapsed()
                })
                .collect(),
        )
    };
    let probe = time(&|| {
        use std::io::Write;
        let mut cmd = Command::new("sh");
        cmd.args(
            skys3::checks::pod_s3_list::command("lab-bucket", "us-west-2", 12)
                .iter()
                .skip(1),
        );
        sandbox(&mut cmd);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(skys3::checks::pod_s3_list::stdin()).unwrap();
        let out = child.wait_with_output().unwrap();
        drop(input);
        out
    });
    let one = time(&|| {
        let mut cmd = Command::new(bin.join("aws"));
        cmd.args(["sts", "get-caller-identity"]);
        sandbox(&mut cmd);
        cmd.output().unwrap()
    });
    (probe, one)
}
