//! The local AWS identity as botocore (the AWS CLI v1, boto3, and so SkyPilot) resolves it, read from the
//! environment and the shared config files with aws-config's own profile parser. Nothing is contacted here: this
//! module decides *where* the credentials come from and what botocore would refuse before any call;
//! [`super::credentials`] turns the answer into a provider.
//!
//! Why not the Rust SDK's own chain: it disagrees with botocore where it matters to us. It ignores
//! `AWS_DEFAULT_PROFILE`, falls through a missing profile or a key id without its secret, prefers a profile's
//! `credential_process` over the static keys botocore takes from `~/.aws/credentials`, and runs
//! `credential_process` through `sh -c` where botocore splits it like a shell but runs no shell. The order below is
//! botocore 1.40's `create_credential_resolver` (botocore/credentials.py), checked against the pinned awscli in
//! the test suite (`tests/it/aws_oracle.rs`).

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use aws_runtime::env_config::file::EnvConfigFiles;
use aws_runtime::env_config::section::EnvConfigSections;
use aws_types::os_shim_internal::{Env, Fs};
use serde::Serialize;

/// Where the local credentials come from, as `aws configure list`'s type column would put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    /// `AWS_ACCESS_KEY_ID` in the environment: static keys.
    Env,
    /// A profile with `role_arn`: assume-role.
    AssumeRole,
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, or a profile's `web_identity_token_file`: web identity.
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

    /// A variable, with empty counting as unset (CI systems export unset variables as empty).
    pub fn var(&self, name: &str) -> Option<String> {
        self.env.get(name).ok().filter(|v| !v.trim().is_empty())
    }
}

/// A secret read from the local setup. Its `Debug` never shows it, so no log, panic or evidence can.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that signs with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Static keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// Access key id.
    pub id: Secret,
    /// Secret access key.
    pub secret: Secret,
    /// Session token, if any.
    pub token: Option<Secret>,
}

/// An SSO profile's settings and the access token botocore would send to the SSO portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoLogin {
    /// `sso_region`: where the portal is.
    pub region: String,
    /// `sso_account_id`.
    pub account_id: String,
    /// `sso_role_name`.
    pub role_name: String,
    /// The cached access token.
    pub token: Secret,
}

/// Where botocore takes the credentials from: one link of its chain, with what that link needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`.
    Env(Keys),
    /// `role_arn` assumed with the credentials of `from` (a `source_profile` or a `credential_source`).
    AssumeRole {
        /// The profile with `role_arn`.
        profile: String,
        /// The role.
        role_arn: String,
        /// `role_session_name`, if set.
        session_name: Option<String>,
        /// `external_id`, if set.
        external_id: Option<String>,
        /// Where the credentials to assume it come from.
        from: Box<Source>,
    },
    /// AssumeRoleWithWebIdentity with a token file (IRSA, or a profile's `web_identity_token_file`).
    WebIdentity {
        /// The profile, when the settings came from one.
        profile: Option<String>,
        /// The role.
        role_arn: String,
        /// The token file.
        token_file: PathBuf,
        /// The session name, if set.
        session_name: Option<String>,
    },
    /// IAM Identity Center (SSO).
    Sso {
        /// The profile.
        profile: String,
        /// Its settings and token.
        login: SsoLogin,
    },
    /// Static keys of a profile in the shared credentials file.
    CredentialsFile {
        /// The profile.
        profile: String,
        /// The keys.
        keys: Keys,
    },
    /// A profile's `credential_process`.
    Process {
        /// The profile.
        profile: String,
        /// The command line, as written.
        command: String,
    },
    /// Static keys of a profile in the config file.
    ConfigFile {
        /// The profile.
        profile: String,
        /// The keys.
        keys: Keys,
    },
    /// ECS/EKS container credentials (`AWS_CONTAINER_CREDENTIALS_*_URI`).
    Container,
    /// The instance role through IMDS.
    InstanceRole,
    /// Nothing: IMDS is disabled and no other source is configured.
    Nothing,
}

impl Source {
    /// Where the credentials come from, for people: "profile dev in the credentials file", ...
    pub fn describe(&self) -> String {
        match self {
            Source::Env(_) => "environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".into(),
            Source::AssumeRole {
                profile,
                role_arn,
                from,
                ..
            } => format!("profile {profile}: assume role {role_arn} with {}", from.describe()),
            Source::WebIdentity {
                profile: Some(p),
                role_arn,
                ..
            } => format!("profile {p}: web identity token for {role_arn}"),
            Source::WebIdentity { role_arn, .. } => {
                format!("web identity token (AWS_WEB_IDENTITY_TOKEN_FILE) for {role_arn}")
            }
            Source::Sso { profile, login } => format!(
                "profile {profile}: SSO role {} in account {}",
                login.role_name, login.account_id
            ),
            Source::CredentialsFile { profile, .. } => {
                format!("profile {profile}: static keys in the credentials file")
            }
            Source::Process { profile, .. } => format!("profile {profile}: credential_process"),
            Source::ConfigFile { profile, .. } => format!("profile {profile}: static keys in the config file"),
            Source::Container => "container credentials (AWS_CONTAINER_CREDENTIALS_*_URI)".into(),
            Source::InstanceRole => "the instance role (IMDS)".into(),
            Source::Nothing => "nothing (no keys, no profile settings, IMDS disabled)".into(),
        }
    }

    /// The kind, as `aws configure list` names it.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Source::Env(_) => CredentialKind::Env,
            Source::AssumeRole { .. } => CredentialKind::AssumeRole,
            Source::WebIdentity { .. } => CredentialKind::WebIdentity,
            Source::Sso { .. } => CredentialKind::Sso,
            Source::CredentialsFile { .. } | Source::ConfigFile { .. } => CredentialKind::SharedCredentialsFile,
            Source::Process { .. } => CredentialKind::Process,
            Source::Container => CredentialKind::ContainerRole,
            Source::InstanceRole => CredentialKind::InstanceRole,
            Source::Nothing => CredentialKind::None,
        }
    }
}

/// The selected source and the profile botocore selected, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialChoice {
    /// The profile botocore selected ("default" when none is).
    pub profile: String,
    /// Where the credentials come from.
    pub source: Source,
    /// What the Rust SDK's own default chain would have used, when it differs (shown so that nobody is surprised
    /// that another SDK-based tool sees another identity).
    pub sdk_would_use: Option<String>,
}

/// A local credential setup that does not give credentials, by cause. Each maps to its own catalog code; no
/// variant holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum CredentialProblem {
    /// The selected profile is in neither file (botocore: ProfileNotFound).
    #[error("{}", profile_not_found(variable, profile))]
    ProfileNotFound {
        /// The profile.
        profile: String,
        /// The variable that selected it.
        variable: &'static str,
    },
    /// A key id without its secret (botocore: PartialCredentialsError).
    #[error("{place} sets aws_access_key_id without aws_secret_access_key")]
    PartialKeys {
        /// The environment, or the profile and file.
        place: String,
    },
    /// A profile botocore refuses (InvalidConfigError and friends): a missing source_profile, a loop, ...
    #[error("profile {profile}: {reason}")]
    InvalidConfig {
        /// The profile.
        profile: String,
        /// botocore's reason, in its words where it has them.
        reason: String,
    },
    /// No SSO token in the cache: never logged in (or logged out).
    #[error("profile {profile} has no SSO session: no token in {cache}")]
    SsoNotLoggedIn {
        /// The profile.
        profile: String,
        /// The cache file botocore reads.
        cache: String,
    },
    /// The cached SSO token has expired and cannot be refreshed.
    #[error("the SSO session of profile {profile} expired at {expired_at}")]
    SsoExpired {
        /// The profile.
        profile: String,
        /// When.
        expired_at: String,
    },
    /// The cached SSO token has expired; botocore would try its refresh token, which the doctor does not (it
    /// would rewrite the user's SSO cache).
    #[error("the SSO access token of profile {profile} expired at {expired_at}; the aws CLI would try to refresh it")]
    SsoNeedsRefresh {
        /// The profile.
        profile: String,
        /// When.
        expired_at: String,
    },
    /// The SSO cache file is there but not a token botocore can read (botocore treats it as missing).
    #[error("the SSO token cache {cache} of profile {profile} is unreadable: {reason}")]
    SsoCacheCorrupt {
        /// The profile.
        profile: String,
        /// The file.
        cache: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `credential_process` ran and failed: non-zero exit, output that is not credentials, expired credentials.
    #[error("the credential_process of profile {profile} failed: {reason}")]
    ProcessFailed {
        /// The profile.
        profile: String,
        /// Exit status, output problem or expiry, with the process's stderr (bounded, secrets removed).
        reason: String,
    },
    /// `credential_process` did not finish in time; it was killed.
    #[error("the credential_process of profile {profile} did not finish within {seconds} s and was stopped")]
    ProcessHung {
        /// The profile.
        profile: String,
        /// The bound.
        seconds: u64,
    },
    /// Nothing in the chain gave credentials (or the container/instance endpoint gave none).
    #[error("no AWS credentials: {reason}")]
    NoCredentials {
        /// What was tried.
        reason: String,
    },
    /// The profile's role (or web identity role) could not be assumed.
    #[error("profile {profile}: could not assume {role_arn}: {reason}")]
    AssumeRoleFailed {
        /// The profile.
        profile: String,
        /// The role.
        role_arn: String,
        /// STS's error code and message.
        reason: String,
    },
}

impl CredentialProblem {
    /// The profile the problem is in, if it is in one.
    pub fn profile(&self) -> Option<&str> {
        use CredentialProblem::*;
        match self {
            ProfileNotFound { profile, .. }
            | InvalidConfig { profile, .. }
            | SsoNotLoggedIn { profile, .. }
            | SsoExpired { profile, .. }
            | SsoNeedsRefresh { profile, .. }
            | SsoCacheCorrupt { profile, .. }
            | ProcessFailed { profile, .. }
            | ProcessHung { profile, .. }
            | AssumeRoleFailed { profile, .. } => Some(profile),
            PartialKeys { .. } | NoCredentials { .. } => None,
        }
    }
}

/// The profile botocore (the AWS CLI, boto3, SkyPilot) selects, and the variable that selected it: botocore's
/// `profile` setting reads `AWS_DEFAULT_PROFILE` first, then `AWS_PROFILE` (botocore/configprovider.py), and a
/// variable that is set counts even when empty (botocore then stops with "The config profile () could not be
/// found"; checked against awscli in `tests/it/aws_oracle.rs`). The Rust SDK reads `AWS_PROFILE` alone. `None`:
/// the default profile.
pub fn selected_profile(env: &Env) -> Option<(String, &'static str)> {
    ["AWS_DEFAULT_PROFILE", "AWS_PROFILE"]
        .into_iter()
        .find_map(|k| env.get(k).ok().map(|v| (v.trim().to_string(), k)))
}

/// The profile whose settings (region, endpoints) apply: the selected one, unless it is empty.
pub fn settings_profile(env: &Env) -> Option<String> {
    selected_profile(env).map(|(p, _)| p).filter(|p| !p.is_empty())
}

fn profile_not_found(variable: &str, profile: &str) -> String {
    if profile.is_empty() {
        format!("{variable} is set but empty, which botocore reads as a profile named \"\"")
    } else {
        format!("{variable}={profile} names a profile that is in neither the config nor the credentials file")
    }
}

/// The config and credentials files as botocore reads them: merged (credentials file values win), and the
/// credentials file alone (botocore's shared-credentials provider reads only that one).
struct Files {
    merged: EnvConfigSections,
    credentials_only: EnvConfigSections,
    config_only: EnvConfigSections,
}

impl Files {
    async fn load(local: &LocalEnv, profile: &str) -> Files {
        let load = |files: EnvConfigFiles| async move {
            aws_config::profile::load(&local.fs, &local.env, &files, Some(Cow::Owned(profile.to_string())))
                .await
                .unwrap_or_default()
        };
        Files {
            merged: load(EnvConfigFiles::default()).await,
            credentials_only: load(EnvConfigFiles::builder().include_default_credentials_file(true).build()).await,
            config_only: load(EnvConfigFiles::builder().include_default_config_file(true).build()).await,
        }
    }

    fn get(&self, profile: &str, key: &str) -> Option<String> {
        self.merged.get_profile(profile)?.get(key).map(str::to_string)
    }

    fn has(&self, profile: &str, key: &str) -> bool {
        self.merged.get_profile(profile).is_some_and(|p| p.get(key).is_some())
    }

    fn exists(&self, profile: &str) -> bool {
        self.merged.get_profile(profile).is_some()
    }
}

/// Keys from a profile section, as botocore's shared-credentials and config providers read them: a key id
/// without its secret is an error; a secret alone is ignored.
fn keys_in(sections: &EnvConfigSections, profile: &str, file: &str) -> Result<Option<Keys>, CredentialProblem> {
    let Some(p) = sections.get_profile(profile) else {
        return Ok(None);
    };
    let Some(id) = p.get("aws_access_key_id") else {
        return Ok(None);
    };
    let Some(secret) = p.get("aws_secret_access_key").filter(|s| !s.is_empty()) else {
        return Err(CredentialProblem::PartialKeys {
            place: format!("profile {profile} in the {file} file"),
        });
    };
    Ok(Some(Keys {
        id: Secret(id.to_string()),
        secret: Secret(secret.to_string()),
        token: p
            .get("aws_session_token")
            .filter(|t| !t.is_empty())
            .map(|t| Secret(t.to_string())),
    }))
}

fn env_keys(local: &LocalEnv) -> Result<Option<Keys>, CredentialProblem> {
    let Some(id) = local.var("AWS_ACCESS_KEY_ID") else {
        return Ok(None);
    };
    let Some(secret) = local.var("AWS_SECRET_ACCESS_KEY") else {
        return Err(CredentialProblem::PartialKeys {
            place: "the environment (AWS_ACCESS_KEY_ID)".into(),
        });
    };
    Ok(Some(Keys {
        id: Secret(id),
        secret: Secret(secret),
        token: local.var("AWS_SESSION_TOKEN").map(Secret),
    }))
}

/// Resolves the local credential source as botocore would, without contacting anything: the selected profile,
/// the first link of botocore's chain that applies, and what botocore would refuse on the way.
pub async fn resolve(local: &LocalEnv) -> Result<CredentialChoice, CredentialProblem> {
    resolve_as(local, None).await
}

/// [`resolve`], or with a profile given as `aws --profile NAME` gives it (SkyPilot runs `aws configure list
/// --profile` with a workspace's `aws.profile`): an explicit profile turns off the environment's keys and web
/// identity variables, as in botocore's `create_credential_resolver`.
pub async fn resolve_as(local: &LocalEnv, explicit: Option<&str>) -> Result<CredentialChoice, CredentialProblem> {
    let selected = match explicit {
        Some(p) => Some((p.to_string(), "--profile")),
        None => selected_profile(&local.env),
    };
    let profile = selected
        .as_ref()
        .map(|(p, _)| p.clone())
        .unwrap_or_else(|| "default".into());
    let files = Files::load(local, &profile).await;
    // botocore raises ProfileNotFound for any missing profile but "default", before the chain runs.
    if let Some((name, variable)) = &selected
        && name != "default"
        && !files.exists(name)
    {
        return Err(CredentialProblem::ProfileNotFound {
            profile: name.clone(),
            variable,
        });
    }
    let source = chain(local, &files, &profile, explicit.is_none()).await?;
    let sdk = sdk_default_choice(local, &files);
    let sdk_would_use = (sdk.as_deref() != Some(kind_label(&source).as_str()))
        .then_some(sdk)
        .flatten();
    Ok(CredentialChoice {
        profile,
        source,
        sdk_would_use,
    })
}

/// botocore's top-level chain: env, assume-role, the profile's providers, container, IMDS. (The legacy
/// `AWS_CREDENTIAL_FILE` and boto2 config providers between the profile and the container are not modelled.)
async fn chain(local: &LocalEnv, files: &Files, profile: &str, env_vars: bool) -> Result<Source, CredentialProblem> {
    if env_vars && let Some(keys) = env_keys(local)? {
        return Ok(Source::Env(keys));
    }
    if files.has(profile, "role_arn") && !files.has(profile, "web_identity_token_file") {
        return assume_role(local, files, profile, &mut vec![profile.to_string()]).await;
    }
    if let Some(source) = profile_providers(local, files, profile, env_vars).await? {
        return Ok(source);
    }
    Ok(container_or_imds(local))
}

fn container_or_imds(local: &LocalEnv) -> Source {
    if local.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some()
        || local.var("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some()
    {
        Source::Container
    } else if local
        .var("AWS_EC2_METADATA_DISABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        Source::Nothing
    } else {
        Source::InstanceRole
    }
}

/// botocore's `ProfileProviderBuilder.providers`: web identity, SSO, the credentials file's keys,
/// `credential_process`, the config file's keys. `env_vars`: whether web identity may come from the environment
/// (not for a source profile).
async fn profile_providers(
    local: &LocalEnv,
    files: &Files,
    profile: &str,
    env_vars: bool,
) -> Result<Option<Source>, CredentialProblem> {
    if let Some(source) = web_identity(local, files, profile, env_vars)? {
        return Ok(Some(source));
    }
    if let Some(login) = sso(local, files, profile).await? {
        return Ok(Some(Source::Sso {
            profile: profile.to_string(),
            login,
        }));
    }
    if let Some(keys) = keys_in(&files.credentials_only, profile, "credentials")? {
        return Ok(Some(Source::CredentialsFile {
            profile: profile.to_string(),
            keys,
        }));
    }
    if let Some(command) = files
        .get(profile, "credential_process")
        .filter(|c| !c.trim().is_empty())
    {
        return Ok(Some(Source::Process {
            profile: profile.to_string(),
            command,
        }));
    }
    if let Some(keys) = keys_in(&files.config_only, profile, "config")? {
        return Ok(Some(Source::ConfigFile {
            profile: profile.to_string(),
            keys,
        }));
    }
    Ok(None)
}

fn web_identity(
    local: &LocalEnv,
    files: &Files,
    profile: &str,
    env_vars: bool,
) -> Result<Option<Source>, CredentialProblem> {
    // Each setting from the environment first (unless disabled), then the profile, as botocore's _get_config.
    let setting = |env: &str, key: &str| {
        env_vars
            .then(|| local.var(env))
            .flatten()
            .map(|v| (v, false))
            .or_else(|| files.get(profile, key).filter(|v| !v.is_empty()).map(|v| (v, true)))
    };
    let Some((token_file, token_from_profile)) = setting("AWS_WEB_IDENTITY_TOKEN_FILE", "web_identity_token_file")
    else {
        return Ok(None);
    };
    let Some((role_arn, role_from_profile)) = setting("AWS_ROLE_ARN", "role_arn") else {
        return Err(CredentialProblem::InvalidConfig {
            profile: profile.to_string(),
            reason: "a web identity token file is set but no role_arn (AWS_ROLE_ARN)".into(),
        });
    };
    Ok(Some(Source::WebIdentity {
        profile: (token_from_profile || role_from_profile).then(|| profile.to_string()),
        role_arn,
        token_file: expand_home(local, &token_file),
        session_name: setting("AWS_ROLE_SESSION_NAME", "role_session_name").map(|(v, _)| v),
    }))
}

fn expand_home(local: &LocalEnv, path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), local.var("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// botocore's SSOProvider: a profile with `sso_role_name` or `sso_account_id`, its settings (directly or through
/// `sso_session`), and the token in `~/.aws/sso/cache/<sha1>.json`.
async fn sso(local: &LocalEnv, files: &Files, profile: &str) -> Result<Option<SsoLogin>, CredentialProblem> {
    if !files.has(profile, "sso_role_name") && !files.has(profile, "sso_account_id") {
        return Ok(None);
    }
    let invalid = |reason: String| CredentialProblem::InvalidConfig {
        profile: profile.to_string(),
        reason,
    };
    let mut settings: Vec<(&str, Option<String>)> = ["sso_start_url", "sso_region", "sso_role_name", "sso_account_id"]
        .into_iter()
        .map(|k| (k, files.get(profile, k)))
        .collect();
    let session = files.get(profile, "sso_session");
    if let Some(name) = &session {
        let Some(section) = files.merged.sso_session(name) else {
            return Err(invalid(format!("the specified sso-session does not exist: \"{name}\"")));
        };
        for (key, value) in settings.iter_mut() {
            if let Some(v) = section.get(key) {
                if value.as_deref().is_some_and(|p| p != v) {
                    return Err(invalid(format!(
                        "the value for {key} is inconsistent between the profile and sso-session {name}"
                    )));
                }
                *value = Some(v.to_string());
            }
        }
    }
    let missing: Vec<&str> = settings.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| *k).collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "configured to use SSO but missing required configuration: {}",
            missing.join(", ")
        )));
    }
    let get = |k: &str| {
        settings
            .iter()
            .find(|(key, _)| *key == k)
            .and_then(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let start_url = get("sso_start_url");
    let token = sso_token(
        local,
        profile,
        session.as_deref().unwrap_or(&start_url),
        session.is_some(),
    )
    .await?;
    Ok(Some(SsoLogin {
        region: get("sso_region"),
        account_id: get("sso_account_id"),
        role_name: get("sso_role_name"),
        token,
    }))
}

/// The cached SSO token, as botocore's SSOTokenLoader finds it: `sha1(session name or start URL)`.
async fn sso_token(local: &LocalEnv, profile: &str, key: &str, session: bool) -> Result<Secret, CredentialProblem> {
    use sha1::Digest;
    let hash: String = sha1::Sha1::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let home = local.var("HOME").unwrap_or_default();
    let path = PathBuf::from(home).join(".aws/sso/cache").join(format!("{hash}.json"));
    let cache = format!("~/.aws/sso/cache/{hash}.json");
    let bytes = match local.fs.read_to_end(&path).await {
        Ok(b) => b,
        Err(_) => {
            return Err(CredentialProblem::SsoNotLoggedIn {
                profile: profile.to_string(),
                cache,
            });
        }
    };
    let corrupt = |reason: &str| CredentialProblem::SsoCacheCorrupt {
        profile: profile.to_string(),
        cache: cache.clone(),
        reason: reason.to_string(),
    };
    let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| corrupt("not JSON"))?;
    let (Some(token), Some(expires)) = (doc["accessToken"].as_str(), doc["expiresAt"].as_str()) else {
        return Err(corrupt("no accessToken or expiresAt"));
    };
    let expiry = parse_time(expires).ok_or_else(|| corrupt("expiresAt is not a time"))?;
    if expiry <= jiff::Timestamp::now() {
        let refreshable = session
            && ["refreshToken", "clientId", "clientSecret"]
                .iter()
                .all(|k| doc[k].is_string())
            && doc["registrationExpiresAt"]
                .as_str()
                .and_then(parse_time)
                .is_some_and(|t| t > jiff::Timestamp::now());
        let expired_at = expiry.to_string();
        return Err(if refreshable {
            CredentialProblem::SsoNeedsRefresh {
                profile: profile.to_string(),
                expired_at,
            }
        } else {
            CredentialProblem::SsoExpired {
                profile: profile.to_string(),
                expired_at,
            }
        });
    }
    Ok(Secret(token.to_string()))
}

/// An RFC 3339 time, or the `2026-01-01T00:00:00UTC` form older AWS CLIs wrote into the SSO cache.
fn parse_time(text: &str) -> Option<jiff::Timestamp> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .or_else(|| text.strip_suffix("UTC").and_then(|t| format!("{t}Z").parse().ok()))
}

/// botocore's AssumeRoleProvider for `profile`: validate the role config, then resolve the source credentials.
async fn assume_role(
    local: &LocalEnv,
    files: &Files,
    profile: &str,
    visited: &mut Vec<String>,
) -> Result<Source, CredentialProblem> {
    let invalid = |reason: String| CredentialProblem::InvalidConfig {
        profile: profile.to_string(),
        reason,
    };
    let role_arn = files.get(profile, "role_arn").unwrap_or_default();
    let source_profile = files.get(profile, "source_profile");
    let credential_source = files.get(profile, "credential_source");
    let from = match (source_profile, credential_source) {
        (Some(_), Some(_)) => return Err(invalid("contains both source_profile and credential_source".into())),
        (None, None) => {
            return Err(invalid(
                "has role_arn but neither source_profile nor credential_source".into(),
            ));
        }
        (None, Some(cs)) => match cs.as_str() {
            // botocore's CanonicalNameCredentialSourcer.
            "Environment" => match env_keys(local)? {
                Some(keys) => Source::Env(keys),
                None => {
                    return Err(invalid(
                        "credential_source = Environment, but AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set"
                            .into(),
                    ));
                }
            },
            "Ec2InstanceMetadata" => Source::InstanceRole,
            "EcsContainer" => Source::Container,
            other => return Err(invalid(format!("the credential_source \"{other}\" is not valid"))),
        },
        (Some(sp), None) => {
            if !files.exists(&sp) {
                return Err(invalid(format!("the source_profile \"{sp}\" does not exist")));
            }
            let has_static = files.has(&sp, "aws_access_key_id") || files.has(&sp, "aws_secret_access_key");
            if visited.contains(&sp) && !(sp == profile && has_static) {
                return Err(invalid(format!(
                    "an infinite loop of source_profile: {} -> {sp}",
                    visited.join(" -> ")
                )));
            }
            visited.push(sp.clone());
            let is_role = files.has(&sp, "role_arn") && !files.has(&sp, "web_identity_token_file");
            if has_static || !is_role {
                match Box::pin(profile_providers(local, files, &sp, false)).await? {
                    Some(s) => s,
                    None => return Err(invalid(format!("the source profile \"{sp}\" must have credentials"))),
                }
            } else {
                Box::pin(assume_role(local, files, &sp, visited)).await?
            }
        }
    };
    Ok(Source::AssumeRole {
        profile: profile.to_string(),
        role_arn,
        session_name: files.get(profile, "role_session_name"),
        external_id: files.get(profile, "external_id"),
        from: Box::new(from),
    })
}

fn kind_label(source: &Source) -> String {
    match source {
        Source::Env(_) => "environment keys".into(),
        Source::Process { profile, .. } => format!("credential_process of profile {profile}"),
        Source::CredentialsFile { profile, .. } | Source::ConfigFile { profile, .. } => {
            format!("static keys of profile {profile}")
        }
        Source::AssumeRole { profile, .. } => format!("role of profile {profile}"),
        Source::Sso { profile, .. } => format!("SSO of profile {profile}"),
        Source::WebIdentity { .. } => "web identity".into(),
        Source::Container => "container credentials".into(),
        Source::InstanceRole => "instance role".into(),
        Source::Nothing => "nothing".into(),
    }
}

/// What the Rust SDK's default chain would pick, in the same words as [`kind_label`]: env keys (both), else the
/// profile named by `AWS_PROFILE` only, where `role_arn` comes first, then web identity, SSO, `credential_process`
/// and static keys (aws-config's `profile::credentials::repr`), else env web identity, container, IMDS.
fn sdk_default_choice(local: &LocalEnv, files: &Files) -> Option<String> {
    if local.var("AWS_ACCESS_KEY_ID").is_some() && local.var("AWS_SECRET_ACCESS_KEY").is_some() {
        return Some("environment keys".into());
    }
    let profile = local.var("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let sdk_files_profile = |k: &str| files.has(&profile, k);
    if files.exists(&profile) {
        if sdk_files_profile("role_arn") && !sdk_files_profile("web_identity_token_file") {
            return Some(format!("role of profile {profile}"));
        }
        if sdk_files_profile("web_identity_token_file") {
            return Some("web identity".into());
        }
        if sdk_files_profile("sso_session") || sdk_files_profile("sso_start_url") {
            return Some(format!("SSO of profile {profile}"));
        }
        if sdk_files_profile("credential_process") {
            return Some(format!("credential_process of profile {profile}"));
        }
        if sdk_files_profile("aws_access_key_id") {
            return Some(format!("static keys of profile {profile}"));
        }
    }
    if local.var("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() && local.var("AWS_ROLE_ARN").is_some() {
        return Some("web identity".into());
    }
    Some(kind_label(&container_or_imds(local)))
}

/// Classifies the local credentials as SkyPilot's `aws configure list` would (for `sky.mount-credentials`), with
/// a workspace's `aws.profile` given as `--profile`. A setup that gives no credentials has no kind: `aws
/// configure list` fails there, and SkyPilot's identity type is None.
pub async fn local_credentials(local: &LocalEnv, profile: Option<&str>) -> LocalCredentials {
    match resolve_as(local, profile).await {
        Ok(r) => LocalCredentials {
            kind: r.source.kind(),
            profile: r.profile,
        },
        Err(p) => LocalCredentials {
            kind: CredentialKind::None,
            profile: p
                .profile()
                .map(str::to_string)
                .or_else(|| profile.map(str::to_string))
                .or_else(|| selected_profile(&local.env).map(|(p, _)| p))
                .unwrap_or_else(|| "default".into()),
        },
    }
}
