//! `sky.mount-credentials`: MOUNT_CACHED will authenticate with the pod's role, not embedded static keys.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::probe::local_aws::{CredentialKind, LocalCredentials};
use crate::sky::S3Mount;

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "sky.mount-credentials",
    deps: &[],
    warm: None,
    run: |ctx: Arc<Ctx>| {
        async move {
            match mount_mode(&ctx.target.task_mounts) {
                Some(o) => o,
                None => {
                    // SkyPilot asks `aws configure list --profile P` with the active workspace's aws.profile.
                    let sky = &ctx.target.sky;
                    let ws = sky.active_workspace();
                    let profile = sky
                        .get(&["workspaces", &ws, "aws", "profile"])
                        .and_then(|(v, _)| v.as_str().map(str::to_string));
                    evaluate(
                        &ctx.facts.local_credentials(profile.as_deref()).await,
                        profile.as_deref(),
                    )
                }
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
            Code::MountModeUnsupported,
            format!("the task mounts {list} in MOUNT mode (goofys), which cannot use the pod's role: use MOUNT_CACHED"),
        )
        .var("found", first.path.clone())
        .evidence(json!({ "s3_mounts": mounts })),
    )
}

/// Decides over the local credentials' kind as SkyPilot 0.14.1 does (`clouds/aws.py`
/// `should_use_env_auth_for_s3`, `data/data_utils.py`): rclone gets `env_auth = true`, and so the pod's own
/// chain, only for SSO, instance-role and container-role identities; every other type takes the static path,
/// which embeds the credentials the API server machine has at launch into the pod's rclone config.
pub fn evaluate(local: &LocalCredentials, workspace_profile: Option<&str>) -> Outcome {
    let evidence = json!({ "local_credentials": local, "workspace_profile": workspace_profile });
    let kind = serde_json::to_value(local.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    match local.kind {
        CredentialKind::Sso | CredentialKind::ContainerRole | CredentialKind::InstanceRole => Outcome::pass(format!(
            "the local AWS identity ({kind}, profile {}) is one SkyPilot mounts with env_auth: MOUNT_CACHED pods use their own role",
            local.profile
        )),
        CredentialKind::Env | CredentialKind::SharedCredentialsFile => {
            let what = match local.kind {
                CredentialKind::Env => "static keys in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".to_string(),
                _ => format!("static keys of profile {}", local.profile),
            };
            Outcome::warn(
                Code::StaticKeysInMounts,
                format!("the local AWS identity is {what}: SkyPilot would embed them in MOUNT_CACHED pods, bypassing the role"),
            )
            .var("found", what)
        }
        CredentialKind::WebIdentity => Outcome::warn(
            Code::WebIdentityOnServer,
            "the local AWS identity is a web identity token: SkyPilot's MOUNT_CACHED takes the static-keys path and fails",
        ),
        CredentialKind::Process | CredentialKind::AssumeRole => Outcome::warn(
            Code::TemporaryKeysInMounts,
            format!(
                "the local AWS identity ({kind}, profile {}) is not one SkyPilot mounts with env_auth: it embeds the temporary keys this machine has at launch in MOUNT_CACHED pods, bypassing the role until they expire",
                local.profile
            ),
        )
        .var("found", kind.clone()),
        // The doctor's own identity is the same one: aws.identity already names the cause and its fix.
        CredentialKind::None if workspace_profile.is_none() => {
            return Outcome::blocked("aws.identity", "the local AWS credentials give no identity");
        }
        CredentialKind::None => Outcome::warn(
            Code::WorkspaceProfileEmpty,
            format!(
                "the workspace's aws.profile {} gives no AWS credentials SkyPilot can read: MOUNT_CACHED takes the static-keys path, finds none, and the mount fails",
                local.profile
            ),
        )
        .var("found", local.profile.clone()),
    }
    .evidence(evidence)
}
