//! The lab: moto for STS/IAM/S3, our own fakes for the EKS APIs moto lacks and for the Kubernetes API, and a
//! sealed environment to run the real `skys3` binary in. Everything listens on 127.0.0.1 only.
//!
//! Layout of a lab:
//! - an "AWS front" server: every AWS request of the doctor goes there (`AWS_ENDPOINT_URL`). It reads the
//!   SigV4 credential scope to tell the service, records the request, applies injected faults, answers EKS
//!   itself and forwards the rest to moto;
//! - a fake Kubernetes API server (GET only; exec over WebSocket);
//! - a temporary directory with HOME, kubeconfig, SkyPilot config and a working directory.

pub mod aws_front;
pub mod kube_fake;
pub mod memory;
pub mod pod;
pub mod pod_side;
pub mod scenario;
pub mod sso_portal;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use scenario::*;

/// The secret key the lab's credential_process hands out: a canary no output may contain.
pub const PROCESS_SECRET: &str = "canary-process-secret-41c9";

/// One request the doctor made, as the lab saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `sts`, `iam`, `s3`, `eks`, `kube`.
    pub service: String,
    /// HTTP method.
    pub method: String,
    /// AWS action (`GetCallerIdentity`, `DescribeCluster`, ...) or Kubernetes `verb resource`.
    pub op: String,
    /// Path and query.
    pub path: String,
}

/// State shared by the fake servers.
pub struct LabState {
    /// The scenario being served.
    pub scenario: Mutex<Scenario>,
    /// Every request received, in order.
    pub requests: Mutex<Vec<Recorded>>,
    /// What each exec over the fake API server received on stdin, in order of completion.
    pub exec_inputs: Mutex<Vec<Vec<u8>>>,
    /// Base URL of the fake API server.
    pub kube_url: Mutex<String>,
    /// The lab's temporary directory (pods' homes live under `pods/`).
    pub root: PathBuf,
    /// What real-client pods reach: the Pod Identity agent, IMDS and STS (`pod_side.rs`), and moto.
    pub pod_side: Mutex<Option<pod::PodSide>>,
    /// Requests of the pods' own clients (not the doctor's: they are not part of its read-only audit).
    pub pod_requests: Mutex<Vec<String>>,
    /// Requests of a fix script (signed with [`FIX_ACCESS_KEY`] or bearing [`kube_fake::FIX_TOKEN`]): the only
    /// requests the fakes let change anything, kept apart from the doctor's strictly read-only audit.
    pub script_requests: Mutex<Vec<Recorded>>,
}

/// The access key a fix script's AWS CLI signs with; the AWS front lets only it change the EKS fakes.
pub const FIX_ACCESS_KEY: &str = "AKIAFIXSCRIPTLAB0001";

impl LabState {
    fn record(&self, r: Recorded) {
        self.requests.lock().unwrap().push(r);
    }

    /// The first fault that matches a request.
    pub fn fault(&self, service: &str, op: &str) -> Option<FaultKind> {
        let s = self.scenario.lock().unwrap();
        s.faults
            .iter()
            .find(|f| f.service == service && f.op.as_deref().is_none_or(|o| o == op))
            .map(|f| f.kind.clone())
    }
}

/// Where the lab's Python venv is: `$SKYS3_LAB_VENV`, else `.lab-venv` in the repository.
pub fn venv_dir() -> PathBuf {
    std::env::var_os("SKYS3_LAB_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".lab-venv"))
}

/// A moto server process, killed on drop.
pub struct Moto {
    child: Child,
    /// Its base URL.
    pub url: String,
}

/// Runs moto_server so that it exits when the test process does: its stdin is a pipe from us, and a watchdog
/// thread ends the server at end of file. Pooled servers outlive every `Lab`, and statics are never dropped.
const MOTO_WATCHDOG: &str = "import os, sys, threading
def watch():
    sys.stdin.buffer.read()
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.server import main
main(sys.argv[1:])
";

/// Idle moto servers, reset and ready: starting one costs about half a second of Python imports, so the suite
/// starts about as many as tests run at once, not one per test.
static IDLE: Mutex<Vec<Moto>> = Mutex::new(Vec::new());

impl Moto {
    /// Starts `moto_server` on a free loopback port and waits until it answers.
    pub fn start() -> Moto {
        let python = venv_dir().join("bin").join("python3");
        assert!(
            venv_dir().join("bin").join("moto_server").exists(),
            "moto_server not found in {}: run the README's test command (scripts/test), which installs the lab venv",
            venv_dir().display()
        );
        let port = free_port();
        let child = Command::new(&python)
            .args(["-c", MOTO_WATCHDOG, "-H", "127.0.0.1", "-p", &port.to_string()])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let url = format!("http://127.0.0.1:{port}");
        let mut moto = Moto { child, url };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && http_get_ok(port, "/moto-api/") {
                break;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited early: {status}");
            }
            assert!(Instant::now() < deadline, "moto_server did not become ready in 30s");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    /// An idle, empty server from the pool, or a new one.
    pub fn acquire() -> PooledMoto {
        let idle = IDLE.lock().unwrap_or_else(|p| p.into_inner()).pop();
        PooledMoto(Some(idle.unwrap_or_else(Moto::start)))
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0)
    }

    /// Clears every backend's state (`POST /moto-api/reset`); false when the server does not answer.
    fn reset(&mut self) -> bool {
        use std::io::{Read, Write};
        if !matches!(self.child.try_wait(), Ok(None)) {
            return false;
        }
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port())) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let req = "POST /moto-api/reset HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n";
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A moto server lent to one lab; on drop it is reset and goes back to the pool (or is killed if it will not
/// reset).
pub struct PooledMoto(Option<Moto>);

impl std::ops::Deref for PooledMoto {
    type Target = Moto;
    fn deref(&self) -> &Moto {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for PooledMoto {
    fn drop(&mut self) {
        if let Some(mut m) = self.0.take()
            && m.reset()
        {
            IDLE.lock().unwrap_or_else(|p| p.into_inner()).push(m);
        }
    }
}

fn http_get_ok(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"200")
}

/// The `skys3` binary: cargo's for integration tests; next to the example for `scripts/lab`.
pub fn skys3_bin() -> PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_skys3") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/examples/lab -> target/<profile>/skys3
    exe.parent()
        .and_then(Path::parent)
        .map(|d| d.join("skys3"))
        .expect("skys3 next to the examples folder")
}

/// Whether a recorded request only reads: AWS Get/List/Describe/Head and SimulatePrincipalPolicy (which only
/// evaluates); Kubernetes get/list/watch, and exec of exactly the documented probe.
pub fn read_only(r: &Recorded, _bucket: &str) -> bool {
    if credential_chain(r) {
        return true;
    }
    match r.service.as_str() {
        "kube" if r.op == "exec pods/exec" => {
            let query = r.path.split_once('?').map(|(_, q)| q).unwrap_or("");
            let command: Vec<String> = form_urlencoded::parse(query.as_bytes())
                .filter(|(k, _)| k == "command")
                .map(|(_, v)| v.into_owned())
                .collect();
            // Exactly the probe's bootstrap (sh -c BOOTSTRAP skys3-probe), with the run's bucket, region and bound
            // as arguments; what it runs arrived on stdin, which `LabState::exec_inputs` keeps.
            let probe = skys3::checks::pod_s3_list::command("", "", 0);
            r.method == "GET"
                && command.len() == probe.len()
                && command[..4] == probe[..4]
                && command[6].parse::<u64>().is_ok()
        }
        "kube" => r.method == "GET" && ["get ", "list ", "watch "].iter().any(|v| r.op.starts_with(v)),
        _ => {
            ["Get", "List", "Describe", "Head"].iter().any(|p| r.op.starts_with(p)) || r.op == "SimulatePrincipalPolicy"
        }
    }
}

/// The operation of the probe layer's table (`skys3::probe::ops`) a recorded request is: `None` for a request
/// the doctor has no business making. The table is what `skys3 permissions` prints, so a request that maps to an
/// operation is covered by the documented permissions.
pub fn operation(r: &Recorded) -> Option<skys3::probe::Op> {
    let name = match (r.service.as_str(), r.op.as_str()) {
        ("kube", "exec pods/exec") => "create pods/exec".to_string(),
        ("kube", "get version") => "get /version".to_string(),
        ("kube", other) => other.to_string(),
        (svc, op) => format!("{svc}:{op}"),
    };
    skys3::probe::Op::from_name(&name)
}

/// The calls of the user's own credential chain (a profile's role, web identity): they are how the doctor gets
/// its identity, made as botocore makes them, not probes; the permissions they need are the user's setup.
pub fn credential_chain(r: &Recorded) -> bool {
    r.service != "kube" && ["AssumeRole", "AssumeRoleWithWebIdentity", "GetRoleCredentials"].contains(&r.op.as_str())
}

/// Whether a recorded request is covered by the doctor's documented permissions.
pub fn permitted(r: &Recorded) -> bool {
    operation(r).is_some() || credential_chain(r)
}

/// Asserts that a JSON document is valid against `skys3 schema`.
pub fn assert_valid(doc: &serde_json::Value) {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let v = VALIDATOR.get_or_init(|| jsonschema::validator_for(&skys3::report::schema()).expect("the schema compiles"));
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the document does not match `skys3 schema`: {errors:#?}\n{doc:#}"
    );
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running lab for one scenario.
pub struct Lab {
    rt: tokio::runtime::Runtime,
    _moto: PooledMoto,
    /// Temporary directory (HOME, kubeconfig, work dir).
    pub dir: tempfile::TempDir,
    /// Shared state of the fakes.
    pub state: Arc<LabState>,
    /// AWS front URL.
    pub aws_url: String,
    /// Fake API server URL.
    pub kube_url: String,
    /// moto URL (for seeding and inspection only; the doctor never talks to it directly).
    pub moto_url: String,
}

impl Lab {
    /// Starts moto and the fakes, seeds the scenario and writes the doctor's files.
    pub fn start(scenario: Scenario) -> Lab {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let moto = Moto::acquire();
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(LabState {
            scenario: Mutex::new(scenario.clone()),
            requests: Mutex::new(vec![]),
            exec_inputs: Mutex::new(vec![]),
            kube_url: Mutex::new(String::new()),
            root: dir.path().to_path_buf(),
            pod_side: Mutex::new(None),
            pod_requests: Mutex::new(vec![]),
            script_requests: Mutex::new(vec![]),
        });
        let kube_url = rt.block_on(kube_fake::serve(state.clone()));
        *state.kube_url.lock().unwrap() = kube_url.clone();
        let aws_url = rt.block_on(aws_front::serve(state.clone(), moto.url.clone()));
        let side_url = rt.block_on(pod_side::serve(state.clone(), moto.url.clone()));
        *state.pod_side.lock().unwrap() = Some(pod::PodSide {
            url: side_url,
            moto: moto.url.clone(),
        });
        rt.block_on(seed(&moto.url, &scenario));
        let lab = Lab {
            rt,
            moto_url: moto.url.clone(),
            _moto: moto,
            dir,
            state,
            aws_url,
            kube_url,
        };
        lab.write_files(&scenario);
        lab
    }

    /// The lab's HOME.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The doctor's working directory.
    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// The kubeconfig path.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Rewrites the kubeconfig from the current scenario (after a test changed `kube_server`).
    pub fn rewrite_kubeconfig(&self) {
        let s = self.state.scenario.lock().unwrap().clone();
        self.write_files(&s);
    }

    fn write_files(&self, s: &Scenario) {
        write_files(self.dir.path(), s, s.kube_server.as_deref().unwrap_or(&self.kube_url));
    }

    /// The `skys3` binary with a sealed environment: dummy credentials, the lab's endpoints, its own HOME and
    /// kubeconfig, nothing of the host's `~/.aws`, `~/.kube` or `~/.sky`.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(skys3_bin());
        cmd.env_clear()
            .current_dir(self.work())
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.home().join(".local/bin").display()),
            )
            .env("HOME", self.home())
            .env("KUBECONFIG", self.kubeconfig())
            // Dummy credentials through credential_process, as an SSO or role user's would be: not static keys.
            .env("AWS_CONFIG_FILE", self.dir.path().join("aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("no-aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_ENDPOINT_URL", &self.aws_url)
            .env("NO_COLOR", "1")
            // Inherited by everything the doctor starts (credential processes, exec plugins), so that
            // [`Lab::leftovers`] can find what outlived it.
            .env("SKYS3_LAB_RUN", self.mark())
            .stdin(Stdio::null());
        for (k, v) in &self.state.scenario.lock().unwrap().env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd
    }

    /// Another program with the doctor's sealed environment and working directory (`command`'s): the installed
    /// wheel's binary, SkyPilot's launch paths with the launch gate, the GitHub Action's steps.
    pub fn sealed(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let doctor = self.command();
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .envs(
                doctor
                    .get_envs()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
            )
            .current_dir(self.work())
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the doctor with `args` and returns its output. Every request the run made must be covered by the
    /// permissions `skys3 permissions` prints: the lab holds the whole suite to that one list.
    pub fn run(&self, args: &[&str]) -> Output {
        let before = self.state.requests.lock().unwrap().len();
        let out = self.command().args(args).output().expect("skys3 runs");
        let bucket = self.state.scenario.lock().unwrap().bucket.clone();
        for r in &self.state.requests.lock().unwrap()[before..] {
            assert!(permitted(r), "request not covered by `skys3 permissions`: {r:?}");
            assert!(read_only(r, &bucket), "not a read-only request: {r:?}");
        }
        // Every JSON document the suite produces must match `skys3 schema`.
        let json = args
            .windows(2)
            .any(|w| w == ["-o", "json"] || w == ["--output", "json"]);
        if json && args.first() == Some(&"doctor") && matches!(out.status.code(), Some(0 | 1 | 3)) {
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("-o json prints one document");
            assert_valid(&doc);
        }
        // Nothing the doctor started may outlive it, after any run.
        let left = self.leftovers();
        assert!(
            left.is_empty(),
            "processes the doctor started outlived it: {left:?} ({args:?})"
        );
        out
    }

    /// This lab's mark in the environment of the doctor and of everything it starts.
    fn mark(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// Live processes (not zombies) carrying this lab's mark: what a finished doctor run left behind. Waits up
    /// to a second for the ones being killed.
    pub fn leftovers(&self) -> Vec<(u32, String)> {
        let needle = format!("SKYS3_LAB_RUN={}\0", self.mark());
        let scan = || -> Vec<(u32, String)> {
            let Ok(entries) = std::fs::read_dir("/proc") else {
                return vec![];
            };
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/environ"))
                        .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
                })
                .filter_map(|pid| {
                    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                    let state = stat.rsplit_once(") ")?.1.chars().next()?;
                    (state != 'Z').then(|| (pid, stat.split_whitespace().nth(1).unwrap_or("").to_string()))
                })
                .collect()
        };
        for _ in 0..20 {
            let left = scan();
            if left.is_empty() {
                return left;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        scan()
    }

    /// Runs `skys3 doctor -o json` (plus `args`) and parses the document; asserts stdout is one JSON document.
    pub fn doctor_json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["doctor", "-o", "json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert_valid(&doc);
        (out.status.code().expect("exited"), doc)
    }

    /// Every request fix scripts made so far.
    pub fn script_requests(&self) -> Vec<Recorded> {
        self.state.script_requests.lock().unwrap().clone()
    }

    /// Every request the doctor made so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Runs a future on the lab's runtime.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

/// Creates the scenario's IAM and S3 resources in moto with the real SDK.
/// Seeding may be retried by the SDK (moto closes connections under load, and a retried create finds what the
/// first attempt made): an entity that already exists is what the seed wanted.
fn already_there<E: std::fmt::Debug>(e: E) -> Result<(), E> {
    if format!("{e:?}").contains("EntityAlreadyExists") {
        Ok(())
    } else {
        Err(e)
    }
}

async fn put_inline(iam: &aws_sdk_iam::Client, role: &RoleSpec) {
    for (name, doc) in &role.inline {
        iam.put_role_policy()
            .role_name(&role.name)
            .policy_name(name)
            .policy_document(doc)
            .send()
            .await
            .unwrap();
    }
}

async fn seed(moto_url: &str, s: &Scenario) {
    use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "lab"))
        .region(Region::new(s.region.clone()))
        .endpoint_url(moto_url)
        .load()
        .await;
    let iam = aws_sdk_iam::Client::new(&conf);

    for p in &s.policies {
        iam.create_policy()
            .policy_name(&p.name)
            .policy_document(&p.document)
            .send()
            .await
            .map(|_| ())
            .or_else(already_there)
            .expect("create policy");
    }
    if let Some(role) = &s.role {
        iam.create_role()
            .role_name(&role.name)
            .assume_role_policy_document(&role.trust_policy)
            .set_permissions_boundary(
                role.boundary
                    .as_ref()
                    .map(|b| format!("arn:aws:iam::{ACCOUNT}:policy/{b}")),
            )
            .send()
            .await
            .map(|_| ())
            .or_else(already_there)
            .expect("create role");
        for p in s.policies.iter().filter(|p| p.attached) {
            iam.attach_role_policy()
                .role_name(&role.name)
                .policy_arn(format!("arn:aws:iam::{ACCOUNT}:policy/{}", p.name))
                .send()
                .await
                .expect("attach policy");
        }
        put_inline(&iam, role).await;
    }
    for role in &s.extra_roles {
        iam.create_role()
            .role_name(&role.name)
            .assume_role_policy_document(&role.trust_policy)
            .send()
            .await
            .map(|_| ())
            .or_else(already_there)
            .expect("create extra role");
        put_inline(&iam, role).await;
    }
    if let (Some(clients), Some(eks)) = (&s.oidc_provider, &s.eks) {
        let mut req = iam
            .create_open_id_connect_provider()
            .url(format!(
                "https://oidc.eks.{}.amazonaws.com/id/{}",
                s.region, eks.oidc_id
            ))
            .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280");
        for c in clients {
            req = req.client_id_list(c);
        }
        req.send()
            .await
            .map(|_| ())
            .or_else(already_there)
            .expect("create OIDC provider");
    }
    for (bucket, region) in &s.buckets {
        // S3 refuses a location constraint that differs from the endpoint's region: one client per region.
        let conf = aws_sdk_s3::config::Builder::from(&conf)
            .region(Region::new(region.clone()))
            .force_path_style(true);
        let s3 = aws_sdk_s3::Client::from_conf(conf.build());
        let mut req = s3.create_bucket().bucket(bucket);
        if region != "us-east-1" {
            req = req.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        req.send().await.expect("create bucket");
        if let Some(policy) = s
            .bucket_policy
            .as_ref()
            .filter(|_| Some(bucket) == s.buckets.first().map(|b| &b.0))
        {
            s3.put_bucket_policy()
                .bucket(bucket)
                .policy(policy)
                .send()
                .await
                .expect("put bucket policy");
        }
        if let Some((alg, key)) = s
            .bucket_encryption
            .as_ref()
            .filter(|_| Some(bucket) == s.buckets.first().map(|b| &b.0))
        {
            use aws_sdk_s3::types::{
                ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
                ServerSideEncryptionRule,
            };
            let default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::from(alg.as_str()))
                .set_kms_master_key_id(key.clone())
                .build()
                .unwrap();
            s3.put_bucket_encryption()
                .bucket(bucket)
                .server_side_encryption_configuration(
                    ServerSideEncryptionConfiguration::builder()
                        .rules(
                            ServerSideEncryptionRule::builder()
                                .apply_server_side_encryption_by_default(default)
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .expect("put bucket encryption");
        }
    }
}

/// Writes a scenario's local files under `root`: HOME with the SkyPilot config, the working directory, the
/// kubeconfig (pointing at `server`) and the AWS config whose credential_process gives dummy keys.
pub fn write_files(root: &Path, s: &Scenario, server: &str) {
    std::fs::create_dir_all(root.join("home").join(".sky")).unwrap();
    std::fs::create_dir_all(root.join("work")).unwrap();
    if let Some(c) = &s.sky_user_config {
        std::fs::write(root.join("home").join(".sky/config.yaml"), c).unwrap();
    }
    if let Some(c) = &s.sky_project_config {
        std::fs::write(root.join("work").join(".sky.yaml"), c).unwrap();
    }
    // SkyPilot installed with `pip install --user`, as the doctor finds it: the script on PATH and the package
    // metadata (`sky.version` reads files only). Scenarios may overwrite either through `files`.
    let local = root.join("home/.local");
    std::fs::create_dir_all(local.join("bin")).unwrap();
    let dist = local.join(format!(
        "lib/python3.11/site-packages/skypilot-{}.dist-info",
        skys3::sky::MODELLED_VERSION
    ));
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("METADATA"),
        format!(
            "Metadata-Version: 2.1\nName: skypilot\nVersion: {}\n",
            skys3::sky::MODELLED_VERSION
        ),
    )
    .unwrap();
    let sky = local.join("bin/sky");
    std::fs::write(&sky, "#!/usr/bin/python3\nfrom sky.client.cli.command import cli\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sky, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for (rel, text) in &s.files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let token = if s.kube_token_valid {
        kube_fake::TOKEN
    } else {
        "expired-token"
    };
    let ns = s
        .context_namespace
        .as_ref()
        .map(|n| format!("\n    namespace: {n}"))
        .unwrap_or_default();
    // The extra clusters' contexts, named by ARN as `aws eks update-kubeconfig` names them, on the same server.
    let extra: String = s
        .extra_clusters
        .iter()
        .map(|c| {
            let ns = c
                .namespace
                .as_ref()
                .map(|n| format!("    namespace: {n}\n"))
                .unwrap_or_default();
            format!(
                "- name: {:?}\n  context:\n    cluster: lab\n    user: lab\n{ns}",
                c.context(&s.region)
            )
        })
        .collect();
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: {}\ncontexts:\n- name: {:?}\n  context:\n    cluster: lab\n    user: lab{ns}\n{extra}current-context: {:?}\nusers:\n- name: lab\n  user:\n    token: {token}\n",
        server, s.context_name, s.context_name
    );
    std::fs::write(root.join("kubeconfig"), kubeconfig).unwrap();
    // The doctor's identity: an IAM Identity Center (SSO) login, as the guide's users have, whose cached token
    // the lab's AWS front answers at its SSO portal route with dummy keys. SSO is also the identity SkyPilot
    // mounts MOUNT_CACHED buckets with the pod's role for (env_auth).
    std::fs::write(
        root.join("aws-config"),
        format!(
            "[default]\nsso_session = lab\nsso_account_id = {ACCOUNT}\nsso_role_name = {SSO_ROLE}\n\n[sso-session lab]\nsso_start_url = https://lab.awsapps.com/start\nsso_region = us-west-2\n"
        ),
    )
    .unwrap();
    let cache = root.join("home/.aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let key: String = {
        use sha1::Digest;
        sha1::Sha1::digest(b"lab").iter().map(|b| format!("{b:02x}")).collect()
    };
    std::fs::write(
        cache.join(format!("{key}.json")),
        format!("{{\"accessToken\": \"{SSO_TOKEN}\", \"expiresAt\": \"2099-01-01T00:00:00Z\", \"startUrl\": \"https://lab.awsapps.com/start\"}}"),
    )
    .unwrap();
}

/// The lab SSO login's role and cached access token (see [`write_files`]).
pub const SSO_ROLE: &str = "LabAdmin";
/// The cached SSO access token the lab's portal accepts.
pub const SSO_TOKEN: &str = "lab-sso-access-token";
