//! A fake pod's container, run for real on this machine: the command the doctor execs runs locally with the
//! pod's environment, a HOME of its own and a PATH holding only a shell, a few coreutils and the scenario's AWS
//! client. Shared by the fake API server's WebSocket exec and the in-memory fake, so both test the real probe
//! script.

use std::path::Path;

use super::scenario::{AgentMode, PodSpec};

/// Where a real-client pod's AWS traffic goes: the lab's pod-side fakes and moto.
#[derive(Debug, Clone)]
pub struct PodSide {
    /// Pod Identity agent, IMDS and STS (`pod_side.rs`).
    pub url: String,
    /// moto (S3).
    pub moto: String,
}

/// Lays out the fake container: a few real tools, the scenario's stand-in `aws`, and `~/.aws/credentials` when
/// SkyPilot "uploaded" one.
pub fn container(bin: &Path, home: &Path, pod: &PodSpec) {
    let _ = std::fs::create_dir_all(bin);
    let _ = std::fs::create_dir_all(home);
    for tool in ["sh", "tr", "cut", "timeout", "cat", "echo", "head"] {
        if let Some(real) = ["/bin", "/usr/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
        {
            let _ = std::os::unix::fs::symlink(real, bin.join(tool));
        }
    }
    if pod.aws.credentials_file {
        let _ = std::fs::create_dir_all(home.join(".aws"));
        let _ = std::fs::write(
            home.join(".aws/credentials"),
            "[default]\naws_access_key_id = AKIALABUPLOADED\naws_secret_access_key = lab-uploaded-secret\n",
        );
    }
    if pod.aws.bare_python && !pod.aws.boto3 {
        let python = super::venv_dir().join("bin").join("python3");
        let wrapper = bin.join("python3");
        write_exec(&wrapper, format!("#!/bin/sh\nexec {} -S \"$@\"\n", python.display()));
    }
    if pod.aws.boto3 {
        // A wrapper, not a symlink: Python finds its venv (and boto3) from the real interpreter's path.
        let python = super::venv_dir().join("bin").join("python3");
        let wrapper = bin.join("python3");
        write_exec(&wrapper, format!("#!/bin/sh\nexec {} \"$@\"\n", python.display()));
    }
    if let Some(line) = &pod.aws.rclone {
        let rclone = bin.join("rclone");
        write_exec(
            &rclone,
            format!("#!/bin/sh\n[ \"$1\" = version ] && printf '%s\\n- os/version: lab\\n' '{line}'\n"),
        );
    }
    let aws_dir = if pod.aws.aws_in_runtime {
        home.join("skypilot-runtime").join("bin")
    } else {
        bin.to_path_buf()
    };
    let _ = std::fs::create_dir_all(&aws_dir);
    if pod.aws.real.is_some() && pod.aws.cli {
        // The lab venv's awscli v1 as pip installs it in an image: its script, whose shebang names its Python; or
        // an opaque wrapper, as awscli v2's binary is.
        let aws = super::venv_dir().join("bin").join("aws");
        let content = match pod.aws.cli_opaque {
            true => format!("#!/bin/sh\nexec {} \"$@\"\n", aws.display()),
            false => std::fs::read_to_string(&aws).expect("the lab venv's aws script"),
        };
        write_exec(&aws_dir.join("aws"), content);
        return;
    }
    if !pod.aws.cli {
        return;
    }
    let answer = |r: &Result<String, (String, i32)>| match r {
        Ok(out) => format!("printf '%s\\n' '{out}'"),
        Err((err, code)) => format!("printf '%s' '{}' >&2; exit {code}", err.replace('\'', "'\\''")),
    };
    let list = pod.aws.list.clone().map(|()| "1".to_string());
    let script = format!(
        "#!/bin/sh\n# Stand-in for the aws CLI, answering as awscli does.\ncase \"$1 $2\" in\n  'sts get-caller-identity') {} ;;\n  's3api list-objects-v2') {} ;;\n  '--version ') echo 'aws-cli/1.42.0 (lab stand-in)' ;;\n  *) echo \"aws (lab): unsupported: $*\" >&2; exit 2 ;;\nesac\n",
        answer(&pod.aws.identity),
        answer(&list)
    );
    let aws = aws_dir.join("aws");
    write_exec(&aws, script);
}

/// The environment a real-client pod's container sees: its injected variables, with the agent's address, the
/// token files and the endpoints pointed at the lab (the pod spec, which the doctor reads, keeps the real ones).
fn real_env(pod: &PodSpec, pod_dir: &Path, side: &PodSide) -> std::collections::BTreeMap<String, String> {
    let real = pod.aws.real.clone().unwrap_or_default();
    let mut env = pod.env.clone();
    let token = |name: &str| {
        let path = pod_dir.join(name);
        if !real.token_missing {
            let _ = std::fs::write(&path, format!("token-{}", pod.name));
        }
        path.display().to_string()
    };
    if env.contains_key("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        let agent = match real.agent {
            // A port nothing listens on.
            AgentMode::Down => format!("http://127.0.0.1:{}/v1/credentials", super::free_port()),
            _ => format!("{}/v1/credentials", side.url),
        };
        env.insert("AWS_CONTAINER_CREDENTIALS_FULL_URI".into(), agent);
        env.insert(
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".into(),
            token("eks-pod-identity-token"),
        );
    }
    if env.contains_key("AWS_WEB_IDENTITY_TOKEN_FILE") {
        env.insert("AWS_WEB_IDENTITY_TOKEN_FILE".into(), token("web-identity-token"));
    }
    env.insert("AWS_ENDPOINT_URL".into(), side.moto.clone());
    env.insert("AWS_ENDPOINT_URL_STS".into(), side.url.clone());
    if real.s3_error.is_some() {
        env.insert("AWS_ENDPOINT_URL_S3".into(), side.url.clone());
    }
    env.insert("AWS_EC2_METADATA_SERVICE_ENDPOINT".into(), format!("{}/", side.url));
    if let Some(r) = real.region {
        env.insert("AWS_REGION".into(), r);
    }
    env
}

/// Runs `command` as the pod's container would, with `stdin` on its standard input. `root` holds the pods' files;
/// `side` is where real-client pods' AWS traffic goes.
pub async fn run(
    root: &Path,
    pod: &PodSpec,
    command: &[String],
    stdin: &[u8],
    side: Option<&PodSide>,
) -> Result<std::process::Output, String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    if !stdin.is_empty() {
        let _ = tx.send(stdin.to_vec());
    }
    drop(tx);
    run_streaming(root, pod, command, rx, side).await
}

/// [`run`] with stdin arriving in chunks while the command runs (an exec's channel 0); the channel's end closes it.
pub async fn run_streaming(
    root: &Path,
    pod: &PodSpec,
    command: &[String],
    mut stdin: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    side: Option<&PodSide>,
) -> Result<std::process::Output, String> {
    let pod_dir = root.join("pods").join(&pod.name);
    let home = pod_dir.join("home");
    let bin = pod_dir.join("bin");
    container(&bin, &home, pod);
    let env = match (&pod.aws.real, side) {
        (Some(_), Some(side)) => real_env(pod, &pod_dir, side),
        _ => pod.env.clone(),
    };
    // The pod's PATH holds only its own bin: a container image with a shell, coreutils and maybe the aws CLI.
    let path = bin.display().to_string();
    match command.split_first() {
        None => Err("no command".to_string()),
        Some((prog, args)) => {
            use tokio::io::AsyncWriteExt;
            let tmp = pod_dir.join("tmp");
            let _ = std::fs::create_dir_all(&tmp);
            let mut child = tokio::process::Command::new(prog)
                .args(args)
                .env_clear()
                .envs(&env)
                .env("PATH", path)
                .env("HOME", &home)
                // The pod's /tmp, so a test can see whether anything was written there.
                .env("TMPDIR", &tmp)
                .current_dir(&home)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| e.to_string())?;
            // Like the kubelet: stdin is fed as it arrives, while the output is read; its end closes the pipe.
            let input = child.stdin.take();
            let feed = tokio::spawn(async move {
                let Some(mut w) = input else { return };
                while let Some(chunk) = stdin.recv().await {
                    if w.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            });
            let out = child.wait_with_output().await.map_err(|e| e.to_string());
            feed.abort();
            out
        }
    }
}

/// Writes an executable atomically (a new file renamed into place): a run over several targets execs in the same
/// fake pod at once, and rewriting a script another exec is starting fails with ETXTBSY ("Text file busy").
fn write_exec(path: &Path, content: impl AsRef<[u8]>) {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    if std::fs::read(path).is_ok_and(|old| old == content.as_ref()) {
        return;
    }
    let tmp = path.with_extension(format!(
        "tmp{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::write(&tmp, content);
    let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755));
    let _ = std::fs::rename(&tmp, path);
}
