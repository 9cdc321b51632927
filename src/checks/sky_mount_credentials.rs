//! `sky.mount-credentials`: MOUNT_CACHED will authenticate with the pod's role, not embedded static keys.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::code::Code;
use crate::engine::{CheckSpec, Ctx, Outcome};
use crate::probe::local_aws::{CredentialKind, LocalCredentials};
use crate::sky::S3Mount;

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "sky.mount-credentials",
    deps: &[],
    run: |ctx: Arc<Ctx>| {
        async move {
            match mount_mode(&ctx.target.task_mounts) {
                Some(o) => o,
                None => evaluate(&ctx.facts.local_credentials().await),
            }
        }
        .boxed()
    },
};

/// MOUNT mode mounts with goofys, whose AWS SDK (Go v1, old) cannot use Pod Identity or IRSA: the pod's role is
/// never used and reads fail with "NoCredentialProviders" (SkyPilot issue 8357, PR 8358). MOUNT_CACHED (rclone)
/// and COPY use the pod's chain.
pub fn mount_mode(mounts: &[S3Mount]) -> Option<Outcome> {
    let bad: Vec<&S3Mount> = mounts.iter().filter(|m| m.mode == "MOUNT").collect();
    let first = bad.first()?;
    let list = bad
        .iter()
        .map(|m| format!("{} (s3://{})", m.path, m.bucket))
        .collect::<Vec<_>>()
        .join(", ");
    Some(
        Outcome::fail(
            Code::Sky323,
            format!("the task mounts {list} in MOUNT mode (goofys), which cannot use the pod's role: use MOUNT_CACHED"),
        )
        .var("found", first.path.clone())
        .evidence(json!({ "s3_mounts": mounts })),
    )
}

/// Decides over the local credentials' kind.
pub fn evaluate(local: &LocalCredentials) -> Outcome {
    let evidence = json!({ "local_credentials": local });
    let what = match local.kind {
        CredentialKind::Env => "static keys in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".to_string(),
        CredentialKind::SharedCredentialsFile => format!("static keys of profile {}", local.profile),
        _ => String::new(),
    };
    match local.kind {
        k if k.is_static() => Outcome::warn(
            Code::Sky321,
            format!("the local AWS identity is {what}: SkyPilot would embed them in MOUNT_CACHED pods, bypassing the role"),
        )
        .var("found", what),
        CredentialKind::WebIdentity => Outcome::warn(
            Code::Sky322,
            "the local AWS identity is a web identity token: SkyPilot's MOUNT_CACHED takes the static-keys path and fails",
        ),
        k => Outcome::pass(format!(
            "the local AWS identity ({}, profile {}) is not static keys: MOUNT_CACHED pods use their own role",
            serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            local.profile
        )),
    }
    .evidence(evidence)
}
