//! `pod.s3-list`: from inside one pod per SkyPilot cluster, the role lists the bucket.
//!
//! The in-pod probe (`inpod/inpod.sh`, embedded, sent on the exec's stdin) is read-only and bounded: it checks for
//! an uploaded `~/.aws/credentials` (never reading it), finds a client (the pod's botocore, through the `aws`
//! script's own Python or python3; the probe's standard-library client; the aws CLI only without Python), asks for
//! the caller identity and lists at most one key of the bucket. The bucket is passed as an argument, never spliced
//! into the script.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::join_all;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::classify;
use crate::code::Code;
use crate::lookup::PodsRole;
use crate::pods;
use crate::probe::{ExecOutput, Op, PodInfo};
use crate::report::Status;
use crate::wiring::Wiring;

/// The probe script.
pub const PROBE: &str = include_str!("../../inpod/inpod.sh");
/// The probe's Python part: the pod's botocore when it has one, else a standard-library client (`inpod/inpod.py`).
pub const PROBE_PY: &str = include_str!("../../inpod/inpod.py");
/// At most this many bytes of each output stream are kept.
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// The exec's command: a bootstrap that reads the probe from stdin up to its end line and runs it. The probe
/// travels on stdin, so the request line (which proxies cap at 8-16 KB and the audit log keeps in full) holds only
/// this and the arguments. A probe cut short (stdin closed early) is never run in part.
pub const BOOTSTRAP: &str = "s=;ok=;while IFS= read -r l;do if [ \"$l\" = '#skys3-end' ];then ok=1;break;fi;s=\"$s$l\n\";done;[ -n \"$ok\" ]&&eval \"$s\"";

/// The line that ends the probe on stdin.
const END: &str = "#skys3-end";

/// The exact command the doctor execs: `sh -c BOOTSTRAP skys3-probe BUCKET REGION BOUND`, with [`stdin`] on the
/// exec's stdin. The values are arguments, never spliced into the script. REGION is the cluster's (the probe uses
/// it only when the pod sets none); BOUND is each AWS call's limit in seconds.
pub fn command(bucket: &str, region: &str, bound_secs: u64) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        BOOTSTRAP.into(),
        "skys3-probe".into(),
        bucket.into(),
        region.into(),
        bound_secs.to_string(),
    ]
}

/// What the exec's stdin carries: the Python part as the shell variable `pysrc` (single-quoted, so nothing in it
/// is expanded), the probe, and the end line.
pub fn stdin() -> &'static [u8] {
    static PAYLOAD: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PAYLOAD.get_or_init(|| format!("pysrc='{}'\n{PROBE}\n{END}\n", PROBE_PY.replace('\'', "'\\''")).into_bytes())
}

/// Each AWS call in the pod gets this many seconds: well inside the exec's own timeout (`--check-timeout`), so a
/// slow call becomes a diagnosis ("timed out talking to STS") rather than the whole check timing out; at most 12.
pub fn step_bound(check_timeout: std::time::Duration) -> u64 {
    check_timeout.as_secs().saturating_sub(4).clamp(2, 12)
}

/// The command for this run.
pub fn command_for(ctx: &Ctx) -> Vec<String> {
    command(&ctx.target.bucket, &ctx.target.region, step_bound(ctx.check_timeout))
}

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "pod.s3-list",
    // Not pod.credentials: a pod with nothing injected is probed too, to show the identity it really gets.
    deps: &["mode", "kube.context"],
    // Listing the pods and probing them is the run's longest chain: it starts as soon as DescribeCluster confirms
    // the API server is this cluster's, not after mode and kube.context decide.
    warm: Some(|ctx: Arc<Ctx>| {
        async move {
            if crate::lookup::kube_points_here(&ctx.target, &ctx.facts, Op::ListPods)
                .await
                .is_ok()
            {
                run(&ctx).await;
            }
        }
        .boxed()
    }),
    run: |ctx: Arc<Ctx>| async move { run(&ctx).await }.boxed(),
};

/// The codes of a denial whose finding is set beside the role's own policies.
fn named_denial(code: Option<Code>) -> bool {
    matches!(
        code,
        Some(
            Code::PodDeniedByScp
                | Code::PodDeniedByRcp
                | Code::PodDeniedByVpcEndpointPolicy
                | Code::PodDeniedBySessionPolicy
                | Code::PodDeniedByBoundary
                | Code::PodDeniedByBucketPolicy
                | Code::PodDeniedByIdentityPolicy
        )
    )
}

/// One pod per SkyPilot cluster: the head when there is one.
pub(crate) fn targets(pods: &[PodInfo]) -> Vec<&PodInfo> {
    let mut by_cluster: BTreeMap<String, &PodInfo> = BTreeMap::new();
    for p in pods {
        let is_head = p.labels.get("ray-node-type").is_some_and(|v| v == "head") || p.name.ends_with("-head");
        let entry = by_cluster.entry(pods::sky_cluster(p)).or_insert(p);
        let entry_is_head =
            entry.labels.get("ray-node-type").is_some_and(|v| v == "head") || entry.name.ends_with("-head");
        if is_head && !entry_is_head {
            *entry = p;
        }
    }
    by_cluster.into_values().collect()
}

async fn run(ctx: &Arc<Ctx>) -> Outcome {
    let t = &ctx.target;
    if t.no_exec {
        return Outcome::skip(Code::NothingToCheck, "not run: --no-exec");
    }
    let pods = match pods::running(&ctx.target, &ctx.facts).await {
        Ok(p) => p,
        Err(e) => return Outcome::from_error(&e),
    };
    if pods.is_empty() {
        return Outcome::skip(Code::NothingToCheck, pods::none_message(&ctx.target));
    }
    let cmd = command_for(ctx);
    let chosen = targets(&pods);
    let results = join_all(chosen.iter().map(|p| {
        let container = p.containers.iter().any(|c| c == "ray-node").then_some("ray-node");
        ctx.facts
            .exec(&t.namespace, &p.name, container, &cmd, stdin(), OUTPUT_LIMIT)
    }))
    .await;
    let wiring = ctx.wiring_in_force();
    // The identity the pods must have: the association's target role when there is one (EKS's second hop).
    let role = match ctx.pods_role().await {
        Ok(PodsRole::Target { name, .. }) => name,
        _ => t.role_name.clone(),
    };
    let mut outcomes = Vec::new();
    let mut iam: Option<Outcome> = None;
    for (pod, result) in chosen.iter().zip(results) {
        let mut outcome = match result {
            Ok(out) => evaluate_in(&pod.name, &role, &t.bucket, &out, wiring).var("region", &t.region),
            Err(e) => Outcome::from_error(&e),
        };
        if named_denial(outcome.code) {
            // The role's own reading, from the run's memo (iam.s3-permissions asked the same questions).
            if iam.is_none() {
                iam = Some((crate::checks::iam_s3_permissions::SPEC.run)(ctx.clone()).await);
            }
            outcome = beside_iam(outcome, iam.as_ref().expect("just read"));
        }
        outcomes.push(outcome.var("sky_cluster", pods::sky_cluster(pod)));
    }
    // The worst pod decides: fail, then inconclusive, then warn, then pass.
    let rank = |o: &Outcome| match o.status {
        Status::Fail => 0,
        Status::Inconclusive => 1,
        Status::Warn => 2,
        _ => 3,
    };
    let evidence = json!({
        "pods": chosen.iter().zip(&outcomes).map(|(p, o)| json!({
            "pod": p.name, "status": o.status, "code": o.code, "probe": o.evidence,
        })).collect::<Vec<_>>(),
    });
    let mut worst = outcomes.into_iter().min_by_key(rank).expect("at least one pod");
    if worst.status == Status::Pass && chosen.len() > 1 {
        worst.message = format!("{} (all {} SkyPilot clusters)", worst.message, chosen.len());
    }
    worst.evidence(evidence)
}

/// The probe's `key=value` lines.
pub fn parse(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The role name in an `arn:<p>:sts::<acct>:assumed-role/<role>/<session>` ARN.
pub fn assumed_role(arn: &str) -> Option<&str> {
    arn.split(":assumed-role/").nth(1)?.split('/').next()
}

/// The first rclone release whose S3 backend takes EKS Pod Identity credentials with `env_auth = true`: v1.66.0
/// bundles aws-sdk-go v1.49.20 (Pod Identity since v1.47.11); v1.65.2 and older bundle v1.46.6, which rejects
/// 169.254.170.23 ("only loopback hosts are allowed"). From rclone's go.mod at each release tag (commit 1b1e430,
/// 2024-01-13, first in v1.66.0); SkyPilot itself installs v1.68.2, but keeps an rclone the image already has.
pub const RCLONE_POD_IDENTITY: (u32, u32, u32) = (1, 66, 0);

/// `rclone v1.65.2` (the first line of `rclone version`) -> (1, 65, 2).
pub fn rclone_version(line: &str) -> Option<(u32, u32, u32)> {
    let v = line.split_whitespace().find_map(|w| w.strip_prefix('v'))?;
    let mut parts = v.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next().flatten().unwrap_or(0)))
}

/// Decides over one pod's probe output; `wiring` is the wiring in force (it decides what an uploaded credentials
/// file can shadow, and the mount client's verdict).
pub fn evaluate_in(pod: &str, role: &str, bucket: &str, out: &ExecOutput, wiring: Option<Wiring>) -> Outcome {
    let outcome = evaluate_with(pod, role, bucket, out, wiring);
    let kv = parse(&out.stdout);
    let rclone = kv.get("rclone_version").map(String::as_str).unwrap_or("");
    match rclone_version(rclone) {
        Some(v) if outcome.status == Status::Pass && wiring == Some(Wiring::PodIdentity) && v < RCLONE_POD_IDENTITY => {
            let evidence = outcome.evidence.clone();
            Outcome::warn(
                Code::PodRcloneTooOld,
                format!(
                    "pod {pod} runs as role {role} and lists s3://{bucket}, but its {rclone} predates Pod Identity \
                     support (v1.66.0): MOUNT_CACHED mounts would find no credentials"
                ),
            )
            .var("found", rclone)
            .evidence(evidence)
        }
        _ => outcome,
    }
}

/// Decides over one pod's probe output, the wiring unknown.
pub fn evaluate(pod: &str, role: &str, bucket: &str, out: &ExecOutput) -> Outcome {
    evaluate_with(pod, role, bucket, out, None)
}

/// The exit codes of a call cut at its bound: coreutils' `timeout` (124), BusyBox's and the probe's watchdog
/// (SIGTERM: 143), SIGKILL (137); none at all when the whole Python part was cut before it printed the code.
fn timed_out(rc: &str) -> bool {
    matches!(rc, "" | "124" | "143" | "137")
}

fn evaluate_with(pod: &str, role: &str, bucket: &str, out: &ExecOutput, wiring: Option<Wiring>) -> Outcome {
    let kv = parse(&out.stdout);
    let evidence = json!({ "pod": pod, "result": kv, "exit_code": out.exit_code });
    let get = |k: &str| kv.get(k).map(String::as_str).unwrap_or("");
    let client = match (get("client"), get("client_version")) {
        (c, "") => c.to_string(),
        (c, v) => format!("{c} ({v})"),
    };
    // Region from the doctor: say so, since the pod's own code would have none.
    let region_note = match get("region_source") {
        "doctor" => format!(" (with region {}: the pod sets none)", get("region")),
        "pod-aws-region" => format!(
            " (with region {} from AWS_REGION: awscli v1 and boto3 read only AWS_DEFAULT_REGION)",
            get("region")
        ),
        _ => String::new(),
    };
    let uploaded = get("credentials_file") == "present";
    // The file can have won only where it comes first: before Pod Identity's container provider, but after web
    // identity (IRSA) and environment keys; the standard-library client says which source it used.
    let file_won = uploaded
        && match get("credential_source") {
            "" => wiring != Some(Wiring::Irsa),
            source => source == "shared-credentials-file",
        };
    let python_failed = !get("python_rc").is_empty() && !timed_out(get("python_rc")) && get("identity_rc").is_empty();
    let identity = get("identity");
    let outcome = if get("probe") != "skys3-v3" {
        let err: String = out.stderr.chars().take(300).collect();
        Outcome::inconclusive(
            Code::ApiError,
            format!(
                "the probe did not run in pod {pod} (no POSIX sh, or its stdin was cut short): {}",
                err.trim()
            ),
        )
    } else if get("client") == "none" {
        Outcome::inconclusive(
            Code::PodNoAwsClient,
            format!(
                "pod {pod} has no AWS client: no aws CLI (PATH, skypilot-runtime/bin, ~/.local/bin) and no python3"
            ),
        )
    } else if python_failed {
        let err: String = out
            .stderr
            .chars()
            .rev()
            .take(400)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Outcome::inconclusive(
            Code::ApiError,
            format!(
                "the probe's Python part failed in pod {pod} (exit {}): {}",
                get("python_rc"),
                err.split_whitespace().collect::<Vec<_>>().join(" ")
            ),
        )
    } else if timed_out(get("identity_rc")) {
        Outcome::inconclusive(
            Code::PodCallTimedOut,
            format!(
                "pod {pod} timed out talking to STS ({}){region_note} with {client}",
                get("sts_endpoint")
            ),
        )
        .var("found", format!("STS ({})", get("sts_endpoint")))
    } else if get("identity_rc") != "0" {
        // The identity error decides; when the client's words are not recognised, the list's may be.
        let list = get("list");
        let message = format!("pod {pod} failed asking STS who it is{region_note}: {identity}");
        match classify::read(identity).or_else(|| classify::read(list)) {
            Some(r) => decide(r, message, &kv, bucket),
            None => Outcome::fail(Code::PodListFailed, message),
        }
    } else if assumed_role(identity) != Some(role) && file_won {
        // The uploaded file won the credential chain (it beats Pod Identity's container provider).
        Outcome::fail(
            Code::PodUploadedCredentials,
            format!(
                "pod {pod} runs as {identity}, from the uploaded ~/.aws/credentials: it takes precedence over the role"
            ),
        )
        .var("found", identity)
    } else if assumed_role(identity) != Some(role) {
        // Another identity (most often the node's instance role when nothing was injected): whether it can read
        // the bucket is a security finding of its own.
        let also = if get("list_rc") == "0" {
            format!(", and that identity can list s3://{bucket}: every pod on the node can read it without the role")
        } else {
            String::new()
        };
        Outcome::fail(
            Code::PodOtherIdentity,
            format!("pod {pod} runs as {identity}, not role {role}{also}"),
        )
        .var("found", identity)
    } else if timed_out(get("list_rc")) {
        Outcome::inconclusive(
            Code::PodCallTimedOut,
            format!(
                "pod {pod} runs as role {role} but timed out talking to S3 ({}) listing s3://{bucket} with {client}",
                get("s3_endpoint")
            ),
        )
        .var("found", format!("S3 ({})", get("s3_endpoint")))
    } else if get("list_rc") != "0" {
        failure(pod, &format!("listing s3://{bucket}{region_note}"), &kv, bucket)
    } else if uploaded {
        Outcome::warn(
            Code::PodCredentialsFileIgnored,
            format!(
                "pod {pod} runs as role {role} and lists s3://{bucket}, but has an uploaded ~/.aws/credentials that \
                 other clients would use first"
            ),
        )
    } else {
        Outcome::pass(format!(
            "pod {pod} runs as role {role} and lists s3://{bucket} with {client}{region_note}"
        ))
    };
    let mut outcome = outcome;
    if !get("cli_cache").is_empty() {
        // The one write the probe cannot avoid: it says so rather than keep the promise falsely.
        outcome.message.push_str(
            " (the pod has no Python, so the aws CLI itself ran, and awscli caches web identity credentials under \
             ~/.aws/cli/cache)",
        );
    }
    outcome.evidence(evidence)
}

fn failure(pod: &str, doing: &str, kv: &BTreeMap<String, String>, bucket: &str) -> Outcome {
    let text = kv.get("list").map(String::as_str).unwrap_or("");
    let message = format!("pod {pod} failed {doing}: {text}");
    match classify::read(text) {
        Some(r) => decide(r, message, kv, bucket),
        None => Outcome::fail(Code::PodListFailed, message),
    }
}

/// The finding for a recognised error, decided with what else the probe saw where the text alone cannot tell
/// the causes apart.
fn decide(reading: classify::Reading, message: String, kv: &BTreeMap<String, String>, bucket: &str) -> Outcome {
    let get = |k: &str| kv.get(k).map(String::as_str).unwrap_or("");
    if let Some(d) = &reading.denial {
        let partition = crate::arn::partition_of_region(get("region"));
        let resource = d
            .resource
            .clone()
            .unwrap_or_else(|| format!("arn:{partition}:s3:::{bucket}"));
        return Outcome::coded(
            reading.known.code,
            format!("{message} (AWS says: {}, for {} on {resource})", d.describe(), d.action),
        )
        .var("action", d.action.clone())
        .var("resource", resource)
        .var(
            "denying_policy",
            d.policy_arn
                .clone()
                .unwrap_or_else(|| format!("(the {} AWS did not name)", d.policy.words())),
        );
    }
    if let Some(user) = &reading.user {
        return Outcome::coded(reading.known.code, message).var("found", user.clone());
    }
    if reading.known.code == Code::PodSignatureMismatch {
        // Static keys (environment or a credentials file) failing every call: a wrong secret. Anything AWS issued
        // (Pod Identity, IRSA, the node's role), or keys STS accepted, cannot be wrong: the request was changed.
        let source = get("credential_source");
        let identity_ok = get("identity_rc") == "0";
        let static_keys = matches!(source, "env" | "shared-credentials-file") || get("identity").contains(":user/");
        if static_keys && !identity_ok {
            return Outcome::coded(
                Code::PodKeysRejected,
                format!("{message} (static keys from {source}: every call failed, so the secret is wrong)"),
            );
        }
        let why = match (identity_ok, source) {
            (true, _) => format!("STS accepted the same credentials as {}", get("identity")),
            (false, "") => "the credentials' source is unknown".to_string(),
            (false, s) => format!("the credentials came from {s}, issued by AWS"),
        };
        return Outcome::coded(
            reading.known.code,
            format!(
                "{message} ({why}: a proxy or endpoint changed the request, or it was signed for another \
                 region; calls went to STS {} and S3 {})",
                get("sts_endpoint"),
                get("s3_endpoint")
            ),
        );
    }
    Outcome::coded(reading.known.code, message)
}

/// What the role's own policies say, beside a pod's denial by a named policy: when IAM allows the call and an
/// SCP (or a boundary, a session or bucket policy, a VPC endpoint) denies it, both are said and the other policy
/// is blamed; when IAM allows it and the pod says no identity-based policy does, the two disagree, and the message
/// says how that can be.
fn beside_iam(mut pod: Outcome, iam: &Outcome) -> Outcome {
    let Some(code) = pod.code else { return pod };
    // A policy other than the role's own: the one AWS named decides whatever the role allows.
    let other_policy = named_denial(Some(code)) && code != Code::PodDeniedByIdentityPolicy;
    // iam.s3-permissions judges S3 actions only: beside a denied sts: or kms: call it says nothing.
    if !pod
        .vars
        .get("action")
        .is_some_and(|a| a.to_ascii_lowercase().starts_with("s3:"))
    {
        return pod;
    }
    let iam_allows = iam.status == Status::Pass;
    if other_policy && iam_allows {
        pod.message.push_str(
            "; the role's own policies allow it (iam.s3-permissions passed): the policy AWS named decides, not the role",
        );
    } else if code == Code::PodDeniedByIdentityPolicy && iam_allows {
        pod.message.push_str(
            "; yet iam.s3-permissions found the role's policies allowing it: they changed since that read, or the \
             pod's session is not the checked role's",
        );
    } else if other_policy && iam.status == Status::Fail {
        pod.message.push_str(&format!(
            "; the role's own policies do not allow it either (iam.s3-permissions: {})",
            iam.code.map(|c| c.as_str()).unwrap_or("fail")
        ));
    }
    pod
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(stdout: &str, stderr: &str) -> ExecOutput {
        ExecOutput {
            stdout: stdout.into(),
            stderr: stderr.into(),
            exit_code: Some(0),
        }
    }

    #[test]
    fn odd_output_is_never_a_pass() {
        // Binary noise (already lossily decoded by the exec), truncated lines, nothing at all.
        for stdout in [
            "",
            "\u{0}\u{fffd}\u{fffd}garbage",
            "probe=skys3-v3\nclient=aws\nidentity=arn:aws:sts::1:assumed-role/R/s",
            "probe=skys3-v3\nclient=aws\nidentity\u{0}=x\nidentity_rc=0\nlist_rc=0",
        ] {
            let o = evaluate("p", "R", "b", &out(stdout, "\u{fffd}"));
            assert_ne!(o.status, Status::Pass, "{stdout:?}: {}", o.message);
        }
        let ok =
            "probe=skys3-v3\nclient=aws\nidentity=arn:aws:sts::1:assumed-role/R/s\nidentity_rc=0\nlist=1\nlist_rc=0";
        assert_eq!(evaluate("p", "R", "b", &out(ok, "")).status, Status::Pass);
    }

    /// Runs the exec's command locally with `input` on stdin, in an empty environment.
    fn bootstrap(input: &[u8]) -> String {
        probe_with(input, "/nonexistent", "/nonexistent")
    }

    /// Runs the probe with this PATH and HOME, no credentials and AWS pointed at a closed port.
    fn probe_with(input: &[u8], path: &str, home: &str) -> String {
        use std::io::Write;
        let cmd = command("b", "us-west-2", 2);
        let mut child = std::process::Command::new("/bin/sh")
            .args(&cmd[1..])
            .env_clear()
            .env("PATH", path)
            .env("HOME", home)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sh");
        let mut w = child.stdin.take().expect("stdin");
        w.write_all(input).expect("write");
        drop(w);
        String::from_utf8_lossy(&child.wait_with_output().expect("output").stdout).into_owned()
    }

    #[test]
    fn the_probe_runs_from_stdin_whole_or_not_at_all() {
        let payload = stdin();
        let end = payload.split(|b| *b == b'\n').filter(|l| *l == END.as_bytes()).count();
        assert_eq!(end, 1, "the end line occurs once, at the end");
        assert!(payload.ends_with(format!("\n{END}\n").as_bytes()));
        assert!(BOOTSTRAP.len() < 200, "{}", BOOTSTRAP.len());
        // Whole: it runs (no client on this PATH), and the Python part arrived intact as `pysrc`.
        let out = bootstrap(payload);
        assert!(out.starts_with("probe=skys3-v3\n"), "{out}");
        assert!(out.contains("client=none"), "{out}");
        // Cut short anywhere: nothing runs.
        for cut in [0, 1, payload.len() / 2, payload.len() - END.len() - 1] {
            assert_eq!(bootstrap(&payload[..cut]), "", "cut at {cut}");
        }
    }

    /// The client is chosen from the `aws` script's interpreter in each shebang form, and a Python 2 (Amazon
    /// Linux 2's yum awscli) is passed over for python3, never left to fail.
    #[test]
    fn the_clis_interpreter_is_found_and_python2_is_passed_over() {
        use std::os::unix::fs::PermissionsExt;
        let python3 = ["/usr/bin/python3", "/usr/local/bin/python3"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("the test machine has python3");
        let dir = std::env::temp_dir().join(format!("skys3-shebang-{}", std::process::id()));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let write = |name: &str, text: String| {
            let p = bin.join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        write(
            "python2",
            "#!/bin/sh\necho 'SyntaxError: invalid syntax' >&2\nexit 1\n".into(),
        );
        let path = format!("{}:/usr/bin:/bin", bin.display());
        let py2 = bin.join("python2").display().to_string();
        let launcher = |quoted: &str| format!("#!/bin/sh\n'''exec' {quoted} \"$0\" \"$@\"\n' '''\n");
        for (shebang, want) in [
            (format!("#!{python3}\n"), Some(python3)),
            ("#!/usr/bin/env python3\n".to_string(), None),
            (launcher(python3), Some(python3)),
            (launcher(&format!("'{python3}'")), Some(python3)),
            (launcher(&format!("\"{python3}\"")), Some(python3)),
            (format!("#!{py2}\n"), None),
        ] {
            write("aws", format!("{shebang}import sys\n"));
            let out = parse(&probe_with(stdin(), &path, &dir.display().to_string()));
            let chosen = out.get("client_path").cloned().unwrap_or_default();
            assert_ne!(chosen, py2, "{shebang:?}: {out:?}");
            assert!(chosen.ends_with("python3"), "{shebang:?}: {out:?}");
            if let Some(want) = want {
                assert_eq!(chosen, want, "{shebang:?}: {out:?}");
                assert!(
                    out.contains_key("aws_path"),
                    "{shebang:?}: the CLI's own Python: {out:?}"
                );
            }
            assert!(
                ["botocore", "stdlib"].contains(&out.get("client").map(String::as_str).unwrap_or("")),
                "{shebang:?}: {out:?}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rclone_versions() {
        assert_eq!(rclone_version("rclone v1.65.2"), Some((1, 65, 2)));
        assert_eq!(rclone_version("rclone v1.68.2-DEV"), Some((1, 68, 2)));
        assert_eq!(rclone_version("rclone v1.66"), Some((1, 66, 0)));
        assert_eq!(rclone_version("rclone"), None);
        assert!(rclone_version("rclone v1.65.2").unwrap() < RCLONE_POD_IDENTITY);
        assert_eq!(step_bound(std::time::Duration::from_secs(20)), 12);
        assert_eq!(step_bound(std::time::Duration::from_secs(8)), 4);
        assert_eq!(step_bound(std::time::Duration::from_secs(1)), 2);
    }
}
