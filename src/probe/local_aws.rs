//! What `aws configure list` would report as the local AWS identity's type, read from the environment and the
//! shared config files with aws-config's own profile parser. Nothing is contacted; no secret is kept.

use std::borrow::Cow;

use aws_runtime::env_config::file::EnvConfigFiles;
use aws_types::os_shim_internal::{Env, Fs};
use serde::Serialize;

/// Where the local credentials come from, in the AWS CLI's resolution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    /// `AWS_ACCESS_KEY_ID` in the environment: static keys.
    Env,
    /// A profile with `role_arn`: assume-role.
    AssumeRole,
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`: web identity (IRSA).
    WebIdentity,
    /// A profile with SSO settings.
    Sso,
    /// `aws_access_key_id` in the credentials or config file: static keys.
    SharedCredentialsFile,
    /// `credential_process`.
    Process,
    /// ECS/EKS container credentials.
    ContainerRole,
    /// Nothing configured: the instance role through IMDS, if any.
    InstanceRole,
    /// Nothing at all (IMDS disabled).
    None,
}

impl CredentialKind {
    /// Whether SkyPilot would embed these as static keys in MOUNT_CACHED mounts.
    pub fn is_static(self) -> bool {
        matches!(self, CredentialKind::Env | CredentialKind::SharedCredentialsFile)
    }
}

/// The local identity's kind and the profile it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalCredentials {
    /// Kind.
    pub kind: CredentialKind,
    /// The selected profile.
    pub profile: String,
}

/// The machine the doctor runs on, as the local AWS checks read it: its environment and files. The real one by
/// default; tests give an in-memory one (aws-config's own shims), so no test reads the host's `~/.aws`.
#[derive(Debug, Clone)]
pub struct LocalEnv {
    /// Environment variables.
    pub env: Env,
    /// Files.
    pub fs: Fs,
}

impl LocalEnv {
    /// This process's environment and the real file system.
    pub fn real() -> LocalEnv {
        LocalEnv {
            env: Env::real(),
            fs: Fs::real(),
        }
    }
}

/// The profile botocore (the AWS CLI, boto3, SkyPilot) selects: `AWS_PROFILE`, else `AWS_DEFAULT_PROFILE`, which
/// botocore still reads and the Rust SDK does not; empty counts as unset. `None`: the default profile.
pub fn selected_profile(env: &Env) -> Option<(String, &'static str)> {
    ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"].into_iter().find_map(|k| {
        env.get(k)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(|v| (v, k))
    })
}

/// A local AWS setup that botocore refuses outright, so SkyPilot and the guide's `aws` commands would not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum LocalProblem {
    /// The selected profile is in neither file (botocore: ProfileNotFound).
    ProfileNotFound {
        /// The profile.
        profile: String,
        /// The variable that selected it.
        variable: &'static str,
    },
    /// `AWS_ACCESS_KEY_ID` without `AWS_SECRET_ACCESS_KEY` (botocore: PartialCredentialsError).
    PartialKeys,
}

/// What botocore would refuse before making any call, if anything.
pub async fn problem(local: &LocalEnv) -> Option<LocalProblem> {
    let env = |name: &str| local.env.get(name).ok().filter(|v| !v.trim().is_empty());
    // botocore's environment provider: a key id without its secret is an error; a secret alone is ignored.
    if env("AWS_ACCESS_KEY_ID").is_some() && env("AWS_SECRET_ACCESS_KEY").is_none() {
        return Some(LocalProblem::PartialKeys);
    }
    let (profile, variable) = selected_profile(&local.env)?;
    // botocore raises ProfileNotFound for any missing profile but "default".
    if profile == "default" {
        return None;
    }
    let profiles = aws_config::profile::load(
        &local.fs,
        &local.env,
        &EnvConfigFiles::default(),
        Some(Cow::Owned(profile.clone())),
    )
    .await;
    let found = profiles.as_ref().ok().and_then(|p| p.get_profile(&profile)).is_some();
    (!found).then_some(LocalProblem::ProfileNotFound { profile, variable })
}

/// Classifies the local credentials the way the AWS CLI resolves them.
pub async fn local_credentials(local: &LocalEnv) -> LocalCredentials {
    let env = |name: &str| local.env.get(name).ok().filter(|v| !v.is_empty());
    let profiles = aws_config::profile::load(
        &local.fs,
        &local.env,
        &EnvConfigFiles::default(),
        selected_profile(&local.env).map(|(p, _)| Cow::Owned(p)),
    )
    .await;
    let profile_name = profiles
        .as_ref()
        .map(|p| p.selected_profile().to_string())
        .unwrap_or_else(|_| "default".into());
    let profile = profiles.as_ref().ok().and_then(|p| p.get_profile(&profile_name));
    let has = |k: &str| profile.and_then(|p| p.get(k)).is_some_and(|v| !v.is_empty());
    let kind = if env("AWS_ACCESS_KEY_ID").is_some() && env("AWS_SECRET_ACCESS_KEY").is_some() {
        CredentialKind::Env
    } else if has("role_arn") {
        CredentialKind::AssumeRole
    } else if env("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() && env("AWS_ROLE_ARN").is_some() {
        CredentialKind::WebIdentity
    } else if has("sso_session") || has("sso_start_url") {
        CredentialKind::Sso
    } else if has("aws_access_key_id") {
        CredentialKind::SharedCredentialsFile
    } else if has("credential_process") {
        CredentialKind::Process
    } else if env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some()
        || env("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some()
    {
        CredentialKind::ContainerRole
    } else if env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        CredentialKind::None
    } else {
        CredentialKind::InstanceRole
    };
    LocalCredentials {
        kind,
        profile: profile_name,
    }
}
