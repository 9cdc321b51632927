//! The in-pod probe with the real AWS clients: the lab venv's awscli v1 and boto3 run in the fake pod, with the
//! pod's injected credentials pointed at the lab's Pod Identity agent, IMDS and STS (`lab::pod_side`) and moto for
//! S3. Nothing here is a stand-in's answer: the texts, the precedence and the region handling are the clients'.

use crate::doctor_checks::{assert_only, check, run};
use crate::lab::{AgentMode, Lab, PodSpec, RealPod, Scenario};

fn pod(s: &mut Scenario) -> &mut PodSpec {
    &mut s.pods[0]
}

/// The scenario with the real awscli (or boto3 only) in its pod.
fn real(s: Scenario, cli: bool, r: RealPod) -> Scenario {
    s.with(|s| {
        let p = pod(s);
        p.aws.real = Some(r);
        p.aws.cli = cli;
        p.aws.boto3 = !cli;
    })
}

fn message(doc: &serde_json::Value) -> String {
    check(doc, "pod.s3-list")["message"].as_str().unwrap().to_string()
}

#[test]
fn healthy_pod_identity_with_awscli_and_boto3() {
    for cli in [true, false] {
        let (code, doc, lab) = run(real(Scenario::healthy_pod_identity(), cli, RealPod::default()));
        let c = check(&doc, "pod.s3-list");
        assert_eq!(c["status"], "pass", "{c:#}");
        let msg = message(&doc);
        // Pod Identity injects no region: the doctor's is used, and the report says so.
        assert!(msg.contains("the pod sets none"), "{msg}");
        assert!(
            msg.contains(if cli { "aws-cli/1.42.0" } else { "boto3/1.40.0" }),
            "{msg}"
        );
        assert!(
            lab.state
                .pod_requests
                .lock()
                .unwrap()
                .iter()
                .any(|r| r == "GET /v1/credentials"),
            "the client asked the agent"
        );
        assert_eq!(code, 0);
    }
}

#[test]
fn healthy_irsa_with_awscli() {
    let r = RealPod {
        region: Some("us-west-2".into()),
        ..RealPod::default()
    };
    let (code, doc, _lab) = run(real(Scenario::healthy_irsa(), true, r));
    let c = check(&doc, "pod.s3-list");
    assert_eq!(c["status"], "pass", "{c:#}");
    // The pod sets AWS_REGION only, which botocore does not read.
    assert!(
        message(&doc).contains("read only AWS_DEFAULT_REGION"),
        "{}",
        message(&doc)
    );
    assert_eq!(code, 0);
}

#[test]
fn agent_down_and_token_missing_are_sky361() {
    for r in [
        RealPod {
            agent: AgentMode::Down,
            ..RealPod::default()
        },
        RealPod {
            token_missing: true,
            ..RealPod::default()
        },
    ] {
        let (_, doc, _lab) = run(real(Scenario::healthy_pod_identity(), true, r));
        assert_only(&doc, "pod.s3-list", "fail", "SKY361");
    }
}

#[test]
fn agent_trust_denial_is_sky362_with_both_clients() {
    for cli in [true, false] {
        let r = RealPod {
            agent: AgentMode::TrustDenied,
            ..RealPod::default()
        };
        let (_, doc, _lab) = run(real(Scenario::healthy_pod_identity(), cli, r));
        assert_only(&doc, "pod.s3-list", "fail", "SKY362");
    }
}

/// The real clients' own words for the failures a pod meets, classified as the corpus says: if a client release
/// rewords an error, this test names it.
#[test]
fn the_real_clients_words_are_classified() {
    let venv = crate::lab::venv_dir().join("bin");
    let dir = tempfile::tempdir().unwrap();
    let closed = format!("http://127.0.0.1:{}/v1/credentials", crate::lab::free_port());
    let token = dir.path().join("token");
    std::fs::write(&token, "token").unwrap();
    let missing = dir.path().join("eks-pod-identity-token");
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("SKY342", vec![]),
        (
            "SKY361",
            vec![
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", closed.clone()),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token.display().to_string()),
            ],
        ),
        (
            "SKY361",
            vec![
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", closed),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", missing.display().to_string()),
            ],
        ),
    ];
    for (code, env) in cases {
        for client in ["aws", "boto3"] {
            let mut cmd = match client {
                "aws" => {
                    let mut c = std::process::Command::new(venv.join("aws"));
                    c.args(["sts", "get-caller-identity"]);
                    c
                }
                _ => {
                    let mut c = std::process::Command::new(venv.join("python3"));
                    c.args(["-c", "import boto3; boto3.client('sts').get_caller_identity()"]);
                    c
                }
            };
            let out = cmd
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("HOME", dir.path())
                .env("AWS_DEFAULT_REGION", "us-west-2")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_MAX_ATTEMPTS", "1")
                .envs(env.clone())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stderr);
            let got = skys3::classify::classify(&text).map(|k| k.code.as_str());
            assert_eq!(got, Some(code), "{client} said: {text}");
        }
    }
}

#[test]
fn uploaded_file_shadows_pod_identity_but_not_irsa() {
    // Pod Identity's container provider comes after the shared credentials file: the file's keys win.
    let s =
        real(Scenario::healthy_pod_identity(), true, RealPod::default()).with(|s| pod(s).aws.credentials_file = true);
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "pod.s3-list", "fail", "SKY341");
    assert!(
        !doc.to_string().contains("lab-uploaded-secret"),
        "the file's secret never appears"
    );
    assert_eq!(code, 1);
    // Web identity comes before it: the role wins, and the file is only a warning.
    let r = RealPod {
        region: Some("us-west-2".into()),
        ..RealPod::default()
    };
    let s = real(Scenario::healthy_irsa(), true, r).with(|s| pod(s).aws.credentials_file = true);
    let (code, doc, _lab) = run(s);
    assert_only(&doc, "pod.s3-list", "warn", "SKY349");
    assert_eq!(code, 0);
}

#[test]
fn a_hanging_sts_is_a_bounded_diagnosis_not_a_check_timeout() {
    let r = RealPod {
        sts_hangs: true,
        ..RealPod::default()
    };
    let lab = Lab::start(real(Scenario::healthy_pod_identity(), true, r));
    let started = std::time::Instant::now();
    let (code, doc) = lab.doctor_json(&["--check-timeout", "8"]);
    let c = check(&doc, "pod.s3-list");
    assert_eq!(
        (c["status"].as_str(), c["code"].as_str()),
        (Some("inconclusive"), Some("SKY369")),
        "{c:#}"
    );
    assert!(message(&doc).contains("timed out talking to STS"), "{}", message(&doc));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(code, 3);
}

#[test]
fn pod_layouts_runtime_awscli_bare_python_and_none() {
    // awscli only in SkyPilot's runtime, where COPY mounts install it.
    let s = real(Scenario::healthy_pod_identity(), true, RealPod::default()).with(|s| pod(s).aws.aws_in_runtime = true);
    let (code, doc, _lab) = run(s);
    let c = check(&doc, "pod.s3-list");
    assert_eq!(c["status"], "pass", "{c:#}");
    // The CLI's own Python runs the probe: the report names both.
    let path = c["evidence"]["pods"][0]["probe"]["result"]["aws_path"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(path.ends_with("skypilot-runtime/bin/aws"), "{path}");
    assert_eq!(code, 0);

    // A bare python3 (no aws, no boto3): the probe's standard-library client, for both wirings.
    for s in [
        Scenario::healthy_pod_identity(),
        Scenario::healthy_irsa().with(|s| {
            pod(s).env.insert("AWS_REGION".into(), "us-west-2".into());
        }),
    ] {
        let s = real(s, false, RealPod::default()).with(|s| {
            pod(s).aws.boto3 = false;
            pod(s).aws.bare_python = true;
        });
        let (code, doc, _lab) = run(s);
        let c = check(&doc, "pod.s3-list");
        assert_eq!(c["status"], "pass", "{c:#}");
        assert!(message(&doc).contains("stdlib"), "{}", message(&doc));
        assert_eq!(code, 0);
    }

    // Nothing at all: inconclusive, with the commands to run by hand.
    let s = real(Scenario::healthy_pod_identity(), false, RealPod::default()).with(|s| pod(s).aws.boto3 = false);
    let (_, doc, _lab) = run(s);
    assert_only(&doc, "pod.s3-list", "inconclusive", "SKY347");
}

/// The probe's standard-library client against botocore as the oracle: in the same environment, for every
/// credential source a pod can have and for sources present together, both run as the same identity. Each source
/// carries another role's credentials, so the identity tells which source won.
#[test]
fn the_stdlib_client_picks_credentials_as_botocore_does() {
    use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
    let lab = Lab::start(Scenario::healthy_pod_identity());
    let side = lab.state.pod_side.lock().unwrap().clone().unwrap();
    let conf = lab.block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .credentials_provider(Credentials::new("testing", "testing", None, None, "lab"))
            .region(Region::new("us-west-2"))
            .endpoint_url(&lab.moto_url)
            .load(),
    );
    let iam = aws_sdk_iam::Client::new(&conf);
    let sts = aws_sdk_sts::Client::new(&conf);
    let creds = |role: &str| {
        lab.block_on(async {
            let _ = iam
                .create_role()
                .role_name(role)
                .assume_role_policy_document("{}")
                .send()
                .await;
            let out = sts
                .assume_role()
                .role_arn(format!("arn:aws:iam::{}:role/{role}", crate::lab::ACCOUNT))
                .role_session_name("oracle")
                .send()
                .await
                .unwrap();
            let c = out.credentials().unwrap().clone();
            (
                c.access_key_id().to_string(),
                c.secret_access_key().to_string(),
                c.session_token().to_string(),
            )
        })
    };
    let (env_key, env_secret, env_token) = creds("EnvRole");
    let (env_secret_v, env_token_v) = (env_secret.clone(), env_token.clone());
    let (file_key, file_secret, file_token) = creds("FileRole");
    let _ = creds("WebRole");
    let dir = tempfile::tempdir().unwrap();
    let pod_name = lab.state.scenario.lock().unwrap().pods[0].name.clone();
    std::fs::write(dir.path().join("agent-token"), format!("token-{pod_name}")).unwrap();
    std::fs::write(dir.path().join("web-token"), "token").unwrap();
    std::fs::create_dir_all(dir.path().join("home/.aws")).unwrap();
    std::fs::write(
        dir.path().join("home/.aws/credentials"),
        format!("[default]\naws_access_key_id = {file_key}\naws_secret_access_key = {file_secret}\naws_session_token = {file_token}\n"),
    )
    .unwrap();

    let env_src: Vec<(&str, String)> = vec![
        ("AWS_ACCESS_KEY_ID", env_key),
        ("AWS_SECRET_ACCESS_KEY", env_secret),
        ("AWS_SESSION_TOKEN", env_token),
    ];
    let web: Vec<(&str, String)> = vec![
        (
            "AWS_ROLE_ARN",
            format!("arn:aws:iam::{}:role/WebRole", crate::lab::ACCOUNT),
        ),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            dir.path().join("web-token").display().to_string(),
        ),
    ];
    let container: Vec<(&str, String)> = vec![
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/v1/credentials", side.url),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            dir.path().join("agent-token").display().to_string(),
        ),
    ];
    let home_with_file = dir.path().join("home");
    let home_without = dir.path().join("empty-home");
    std::fs::create_dir_all(&home_without).unwrap();
    // (name, variables, whether ~/.aws/credentials exists)
    type Layout<'a> = (&'a str, Vec<(&'a str, String)>, bool);
    let layouts: Vec<Layout> = vec![
        ("nothing", vec![], false),
        ("env keys", env_src.clone(), false),
        ("web identity", web.clone(), false),
        ("credentials file", vec![], true),
        ("container (Pod Identity)", container.clone(), false),
        ("file and container", container.clone(), true),
        ("web identity and file", web.clone(), true),
        (
            "env, web identity, file, container",
            [env_src, web, container].concat(),
            true,
        ),
    ];
    for (name, vars, file) in layouts {
        let secrets = [&env_secret_v, &env_token_v, &file_secret, &file_token];
        let run = |stdlib: bool| {
            let mut cmd = std::process::Command::new(crate::lab::venv_dir().join("bin/python3"));
            cmd.args(["-c", skys3::checks::pod_s3_list::PROBE_PY, "lab-bucket"])
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("HOME", if file { &home_with_file } else { &home_without })
                .env("AWS_DEFAULT_REGION", "us-west-2")
                .env("AWS_ENDPOINT_URL", &side.moto)
                .env("AWS_ENDPOINT_URL_STS", &side.url)
                .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", format!("{}/", side.url))
                .env("AWS_RETRY_MODE", "standard")
                .env("AWS_MAX_ATTEMPTS", "2")
                .envs(vars.clone());
            if stdlib {
                cmd.env("SKYS3_PROBE_CLIENT", "stdlib");
            }
            let out = cmd.output().unwrap();
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            if stdlib {
                for s in secrets {
                    assert!(
                        !stdout.contains(s.as_str()) && !stderr.contains(s.as_str()),
                        "{name}: a secret was printed"
                    );
                }
            }
            skys3::checks::pod_s3_list::parse(&stdout)
        };
        let (oracle, ours) = (run(false), run(true));
        assert_eq!(oracle["client"], "botocore", "{name}");
        assert_eq!(ours["client"], "stdlib", "{name}");
        // The session name is each client's own choice; the principal is what must agree.
        let arn = |kv: &std::collections::BTreeMap<String, String>| {
            (kv["identity_rc"] == "0").then(|| match kv["identity"].rsplit_once('/') {
                Some((principal, _)) if kv["identity"].contains(":assumed-role/") => principal.to_string(),
                _ => kv["identity"].clone(),
            })
        };
        assert_eq!(arn(&ours), arn(&oracle), "{name}: stdlib {ours:?}\nboto3 {oracle:?}");
        // Every layout but the empty one yields an identity: agreement on two failures would prove nothing.
        assert_eq!(arn(&ours).is_some(), name != "nothing", "{name}: {ours:?}");
        assert_eq!(
            ours["list_rc"] == "0",
            oracle["list_rc"] == "0",
            "{name}: {ours:?} vs {oracle:?}"
        );
        if name == "nothing" {
            assert_eq!(
                skys3::classify::classify(&ours["identity"]).map(|k| k.code.as_str()),
                Some("SKY342"),
                "{ours:?}"
            );
        }
    }
}

/// Every file under `dir`, relative.
fn files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Nothing is written in the pod, with the real clients, in every layout and both wirings: the pod's HOME and its
/// temporary directory (TMPDIR) are listed before and after. The one layout where a write cannot be avoided (an
/// opaque aws CLI and no Python, in IRSA: the CLI caches credentials under ~/.aws/cli/cache) is seen by the same
/// listing and reported, which shows the listing would see a write.
#[test]
fn nothing_is_written_in_the_pod_and_hostile_buckets_are_only_data() {
    let hostile = "b$(touch pwned)`touch pwned2`;'\"\\\\ \\n x\"; import os; os.system('touch pwned3') #";
    let irsa = || {
        Scenario::healthy_irsa().with(|s| {
            pod(s).env.insert("AWS_DEFAULT_REGION".into(), "us-west-2".into());
        })
    };
    // (wiring, aws CLI, opaque CLI, boto3, bare python)
    let layouts = [
        ("pod identity", true, false, false, false),
        ("pod identity", false, false, true, false),
        ("pod identity", false, false, false, true),
        ("irsa", true, false, false, false),
        ("irsa", true, false, true, false),
        ("irsa", false, false, true, false),
        ("irsa", false, false, false, true),
        ("irsa", true, true, false, false),
    ];
    for (wiring, cli, opaque, boto3, bare) in layouts {
        let base = if wiring == "irsa" {
            irsa()
        } else {
            Scenario::healthy_pod_identity()
        };
        let s = real(base, cli, RealPod::default()).with(|s| {
            pod(s).aws.cli_opaque = opaque;
            pod(s).aws.boto3 = boto3;
            pod(s).aws.bare_python = bare;
        });
        let lab = Lab::start(s);
        let pod_dir = lab
            .state
            .root
            .join("pods")
            .join(&lab.state.scenario.lock().unwrap().pods[0].name);
        let listing = || (files(&pod_dir.join("home")), files(&pod_dir.join("tmp")));
        let (_, doc) = lab.doctor_json(&[]);
        let layout = format!("{wiring}, cli {cli} (opaque {opaque}), boto3 {boto3}, bare python {bare}");
        let c = check(&doc, "pod.s3-list");
        assert_eq!(c["status"], "pass", "{layout}: {c:#}");
        let (home, tmp) = listing();
        assert!(tmp.is_empty(), "{layout}: the probe wrote in the pod's TMPDIR: {tmp:?}");
        if opaque && wiring == "irsa" {
            // awscli's own cache: the listing sees it, and the report says so.
            assert!(
                home.iter().any(|f| f.starts_with(".aws/cli/cache/")),
                "{layout}: {home:?}"
            );
            let evidence = &c["evidence"]["pods"][0]["probe"]["result"];
            assert!(evidence["cli_cache"].as_str().is_some(), "{layout}: {c:#}");
            assert!(
                c["message"].as_str().unwrap().contains("~/.aws/cli/cache"),
                "{layout}: {c:#}"
            );
            continue;
        }
        assert!(home.is_empty(), "{layout}: the probe wrote in the pod's home: {home:?}");
        // The client the probe ran: botocore without the CLI layer wherever there is a Python.
        let client = c["evidence"]["pods"][0]["probe"]["result"]["client"].clone();
        assert_eq!(client, if bare { "stdlib" } else { "botocore" }, "{layout}");
        let (_, doc) = lab.doctor_json(&["--bucket", hostile]);
        // S3 refuses such a name; what matters is that it stayed a name.
        assert_ne!(check(&doc, "pod.s3-list")["status"], "pass", "{doc:#}");
        let (home, tmp) = listing();
        assert!(home.is_empty() && tmp.is_empty(), "{layout}: {home:?} {tmp:?}");
        for f in files(&pod_dir).into_iter().chain(files(&lab.work())) {
            assert!(!f.contains("pwned"), "the bucket name ran as code: {f}");
        }
    }
}

#[test]
fn a_huge_error_text_stays_bounded() {
    let huge = format!("An error occurred (AccessDenied) {}", "x".repeat(10 * 1024 * 1024));
    let s = Scenario::healthy_pod_identity().with(|s| pod(s).aws.list = Err((huge, 254)));
    let lab = Lab::start(s);
    let started = std::time::Instant::now();
    let (_, doc) = lab.doctor_json(&[]);
    let c = check(&doc, "pod.s3-list");
    assert_eq!(c["code"], "SKY344", "{}", c["message"]);
    assert!(c["message"].as_str().unwrap().len() < 4000, "the message is cut");
    assert!(doc.to_string().len() < 200_000, "the report stays small");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

/// The standard-library client's SigV4 against botocore's signers at a fixed time: moto does not check signatures,
/// so this is where a signing mistake would show (against real AWS it would read as SignatureDoesNotMatch).
#[test]
fn the_stdlib_signatures_equal_botocores() {
    let script = r#"
import datetime, sys, types
from botocore.auth import SigV4Auth, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
probe = types.ModuleType("probe")
exec(sys.argv[1], probe.__dict__)
now = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
import botocore.auth
class Fixed(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return datetime.datetime(2026, 1, 2, 3, 4, 5)
botocore.auth.datetime = types.SimpleNamespace(datetime=Fixed)
creds = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
cases = [
    ("POST", "https://sts.us-west-2.amazonaws.com/", "sts", b"Action=GetCallerIdentity&Version=2011-06-15", SigV4Auth),
    ("GET", "https://s3.eu-central-1.amazonaws.com/my-bucket?list-type=2&max-keys=1", "s3", b"", S3SigV4Auth),
    ("GET", "http://127.0.0.1:9000/b.with.dots?max-keys=1&list-type=2&prefix=a%20b", "s3", b"", S3SigV4Auth),
]
for method, url, service, body, signer in cases:
    region = "eu-central-1" if "eu-central-1" in url else "us-west-2"
    ours = probe.sign(method, url, service, creds, body, region=region, now=now)
    req = AWSRequest(method=method, url=url, data=body, headers={k: v for k, v in ours.items() if k.lower() != "authorization"})
    s = signer(Credentials(*creds), service, region)
    s.add_auth(req)
    theirs = req.headers["Authorization"]
    if ours["Authorization"] != theirs:
        print("MISMATCH", url, ours["Authorization"], theirs)
        sys.exit(1)
print("OK")
"#;
    let out = std::process::Command::new(crate::lab::venv_dir().join("bin/python3"))
        .args(["-c", script, skys3::checks::pod_s3_list::PROBE_PY])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The exec's request line stays small (proxies in front of API servers cap it at 8-16 KB; nginx's default
/// buffers are 8 KB), and the probe itself arrives, whole, on stdin: what the pod ran is exactly the documented
/// probe.
#[test]
fn the_exec_request_line_is_small_and_the_probe_rides_stdin() {
    let long_bucket = "b".repeat(63);
    let lab = Lab::start(real(Scenario::healthy_pod_identity(), true, RealPod::default()));
    let (_, doc) = lab.doctor_json(&["--bucket", &long_bucket]);
    assert_ne!(check(&doc, "pod.s3-list")["status"], "inconclusive", "{doc:#}");
    let execs: Vec<_> = lab
        .requests()
        .into_iter()
        .filter(|r| r.op == "exec pods/exec")
        .collect();
    assert_eq!(execs.len(), 1, "{execs:?}");
    // "GET <path?query> HTTP/1.1": the request line.
    let line = format!("GET {} HTTP/1.1", execs[0].path);
    assert!(line.len() < 2048, "{} bytes: {line}", line.len());
    eprintln!(
        "exec request line: {} bytes (a 63-character bucket); stdin: {} bytes",
        line.len(),
        skys3::checks::pod_s3_list::stdin().len()
    );
    assert!(!line.contains("botocore"), "the probe's text is not in the URL");
    let inputs = lab.state.exec_inputs.lock().unwrap().clone();
    assert_eq!(inputs, vec![skys3::checks::pod_s3_list::stdin().to_vec()]);
    assert!(
        skys3::checks::pod_s3_list::stdin().len() > 20_000,
        "the probe is what moved"
    );
}

/// Files in the container's working directory do not shadow what the probe's Python part imports (`python -c`
/// puts that directory first on the import path), while relative paths keep resolving from it.
#[test]
fn the_images_working_directory_does_not_shadow_the_probe() {
    for boto3 in [true, false] {
        let s = real(Scenario::healthy_pod_identity(), false, RealPod::default()).with(|s| {
            let p = pod(s);
            p.aws.boto3 = boto3;
            p.aws.bare_python = !boto3;
            let home = format!("pods/{}/home", p.name);
            for module in ["json.py", "hmac.py", "threading.py"] {
                s.files.insert(
                    format!("{home}/{module}"),
                    "raise SystemExit('shadowed by the workdir')\n".into(),
                );
            }
        });
        let (_, doc, _lab) = run(s);
        let c = check(&doc, "pod.s3-list");
        assert_eq!(c["status"], "pass", "boto3 {boto3}: {c:#}");
    }
}
