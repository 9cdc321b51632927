//! The doctor's own AWS credentials, from the source botocore would use ([`super::local_aws::resolve`]). Each
//! link is fetched the way botocore fetches it: static keys as they are, `credential_process` split like a shell
//! but run without one, SSO from the cached token, roles through STS. The chain is asked at most once per run
//! (a failing process or SSO call is not repeated for every client and retry), every failure keeps its cause as
//! a [`CredentialProblem`], and a process is bounded and killed with everything it started.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future as credentials_future};
use aws_types::region::Region;
use tokio::io::AsyncReadExt;

use super::local_aws::{CredentialChoice, CredentialProblem, Keys, Source, SsoLogin};

/// The most of a failing process's stderr a report shows.
const STDERR_MAX: usize = 400;

/// Credentials from the botocore-resolved source, fetched once per run.
#[derive(Debug)]
pub struct BotocoreChain {
    resolved: Result<CredentialChoice, CredentialProblem>,
    base: SdkConfig,
    process_timeout: Duration,
    answer: tokio::sync::OnceCell<Result<Credentials, CredentialProblem>>,
}

impl BotocoreChain {
    /// A chain over `resolved`; `base` (region, endpoints, timeouts, no credentials) configures the STS and SSO
    /// calls roles and SSO need; a `credential_process` gets `process_timeout`.
    pub fn new(
        resolved: Result<CredentialChoice, CredentialProblem>,
        base: SdkConfig,
        process_timeout: Duration,
    ) -> Self {
        BotocoreChain {
            resolved,
            base,
            process_timeout,
            answer: tokio::sync::OnceCell::new(),
        }
    }

    /// Whether the answer so far should not be used for another pass of a `--wait` run: there was none to give,
    /// or it expires within a minute. A chain not asked yet needs nothing.
    pub fn needs_renewal(&self) -> bool {
        match self.answer.get() {
            None => false,
            Some(Err(_)) => true,
            Some(Ok(c)) => c
                .expiry()
                .is_some_and(|t| t <= SystemTime::now() + Duration::from_secs(60)),
        }
    }

    /// The run's credentials, or why there are none.
    pub async fn credentials(&self) -> Result<Credentials, CredentialProblem> {
        self.answer
            .get_or_init(|| async {
                match &self.resolved {
                    Ok(r) if r.source == Source::Nothing => Err(CredentialProblem::NoCredentials {
                        reason: format!(
                            "profile {} has no credential settings, no AWS_ACCESS_KEY_ID is set, and IMDS is disabled \
                             (AWS_EC2_METADATA_DISABLED)",
                            r.profile
                        ),
                    }),
                    Ok(r) => fetch(&r.source, &self.base, self.process_timeout).await,
                    Err(p) => Err(p.clone()),
                }
            })
            .await
            .clone()
    }
}

impl ProvideCredentials for BotocoreChain {
    fn provide_credentials<'a>(&'a self) -> credentials_future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        credentials_future::ProvideCredentials::new(async move {
            // The typed cause rides in the error's source chain, where `aws::map_err` finds it again.
            self.credentials().await.map_err(CredentialsError::provider_error)
        })
    }
}

fn keys(k: &Keys, provider: &'static str) -> Credentials {
    Credentials::new(
        k.id.expose(),
        k.secret.expose(),
        k.token.as_ref().map(|t| t.expose().to_string()),
        None,
        provider,
    )
}

/// Fetches the credentials of one link (recursively for a role's source).
async fn fetch(source: &Source, base: &SdkConfig, process_timeout: Duration) -> Result<Credentials, CredentialProblem> {
    match source {
        Source::Env(k) => Ok(keys(k, "env")),
        Source::CredentialsFile { keys: k, .. } => Ok(keys(k, "shared-credentials-file")),
        Source::ConfigFile { keys: k, .. } => Ok(keys(k, "config-file")),
        Source::Process { profile, command } => run_process(profile, command, process_timeout).await,
        Source::Sso { profile, login } => sso(profile, login, base).await,
        Source::AssumeRole {
            profile,
            role_arn,
            session_name,
            external_id,
            from,
        } => {
            let inner = Box::pin(fetch(from, base, process_timeout)).await?;
            let sts = aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(base)
                    .credentials_provider(SharedCredentialsProvider::new(inner))
                    .build(),
            );
            let out = sts
                .assume_role()
                .role_arn(role_arn)
                .role_session_name(session_name.clone().unwrap_or_else(default_session_name))
                .set_external_id(external_id.clone())
                .send()
                .await
                .map_err(|e| CredentialProblem::AssumeRoleFailed {
                    profile: profile.clone(),
                    role_arn: role_arn.clone(),
                    reason: sdk_reason(&e),
                })?;
            sts_credentials(out.credentials(), "assume-role")
        }
        Source::WebIdentity {
            profile,
            role_arn,
            token_file,
            session_name,
        } => {
            let name = profile.clone().unwrap_or_else(|| "(environment)".into());
            let token = tokio::fs::read_to_string(token_file)
                .await
                .map_err(|e| CredentialProblem::InvalidConfig {
                    profile: name.clone(),
                    reason: format!(
                        "the web identity token file {} cannot be read: {e}",
                        token_file.display()
                    ),
                })?;
            let sts = aws_sdk_sts::Client::new(base);
            let out = sts
                .assume_role_with_web_identity()
                .role_arn(role_arn)
                .role_session_name(session_name.clone().unwrap_or_else(default_session_name))
                .web_identity_token(token.trim())
                .send()
                .await
                .map_err(|e| CredentialProblem::AssumeRoleFailed {
                    profile: name,
                    role_arn: role_arn.clone(),
                    reason: sdk_reason(&e),
                })?;
            sts_credentials(out.credentials(), "web-identity")
        }
        Source::Container => {
            let p = aws_config::ecs::EcsCredentialsProvider::builder().build();
            p.provide_credentials()
                .await
                .map_err(|e| unavailable("container credentials", &e))
        }
        Source::InstanceRole => {
            let p = aws_config::imds::credentials::ImdsCredentialsProvider::builder().build();
            p.provide_credentials()
                .await
                .map_err(|e| unavailable("the instance role (IMDS)", &e))
        }
        Source::Nothing => Err(CredentialProblem::NoCredentials {
            reason: "no environment keys, no profile settings, and IMDS is disabled (AWS_EC2_METADATA_DISABLED)".into(),
        }),
    }
}

fn unavailable(what: &str, e: &CredentialsError) -> CredentialProblem {
    CredentialProblem::NoCredentials {
        reason: format!(
            "{what} gave none: {}",
            scrub(&aws_smithy_types::error::display::DisplayErrorContext(e).to_string())
        ),
    }
}

/// botocore's default session name for roles: `botocore-session-<unix time>`.
fn default_session_name() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("botocore-session-{secs}")
}

fn sdk_reason<E, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(se) => format!("{}: {}", se.code().unwrap_or("Unknown"), se.message().unwrap_or("")),
        None => scrub(&aws_smithy_types::error::display::DisplayErrorContext(e).to_string()),
    }
}

fn sts_credentials(
    c: Option<&aws_sdk_sts::types::Credentials>,
    provider: &'static str,
) -> Result<Credentials, CredentialProblem> {
    let c = c.ok_or_else(|| CredentialProblem::NoCredentials {
        reason: "STS answered without credentials".into(),
    })?;
    let expiry = SystemTime::try_from(*c.expiration()).ok();
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        expiry,
        provider,
    ))
}

/// botocore's SSOCredentialFetcher: GetRoleCredentials at the portal of `sso_region` with the cached token.
async fn sso(profile: &str, login: &SsoLogin, base: &SdkConfig) -> Result<Credentials, CredentialProblem> {
    let client = aws_sdk_sso::Client::from_conf(
        aws_sdk_sso::config::Builder::from(base)
            .region(Region::new(login.region.clone()))
            .build(),
    );
    let out = client
        .get_role_credentials()
        .role_name(&login.role_name)
        .account_id(&login.account_id)
        .access_token(login.token.expose())
        .send()
        .await;
    let out = match out {
        Ok(o) => o,
        // botocore turns the portal's UnauthorizedException into "the SSO session ... has expired or is invalid".
        Err(e) if e.as_service_error().is_some_and(|s| s.is_unauthorized_exception()) => {
            return Err(CredentialProblem::SsoExpired {
                profile: profile.to_string(),
                expired_at: "an unknown time (the SSO portal refused the cached token)".into(),
            });
        }
        Err(e) => {
            return Err(CredentialProblem::NoCredentials {
                reason: format!("the SSO portal of profile {profile} failed: {}", sdk_reason(&e)),
            });
        }
    };
    let c = out.role_credentials().ok_or_else(|| CredentialProblem::NoCredentials {
        reason: "the SSO portal answered without credentials".into(),
    })?;
    let expiry = SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(c.expiration().max(0) as u64));
    Ok(Credentials::new(
        c.access_key_id().unwrap_or_default(),
        c.secret_access_key().unwrap_or_default(),
        c.session_token().map(str::to_string),
        expiry,
        "sso",
    ))
}

/// Runs `credential_process` as botocore does (`shlex`-split, no shell) with a bound: on timeout the process and
/// its whole process group are killed.
async fn run_process(profile: &str, command: &str, timeout: Duration) -> Result<Credentials, CredentialProblem> {
    let failed = |reason: String| CredentialProblem::ProcessFailed {
        profile: profile.to_string(),
        reason,
    };
    let argv = shlex::split(command)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| failed("the command line cannot be split (unbalanced quotes?)".into()))?;
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("{} could not be started: {e}", argv[0])))?;
    // Whatever ends this future (its bound, the check's timeout, the run's deadline) kills the process and what it
    // started, which would otherwise outlive the doctor, re-parented away from it.
    let mut guard = child.id().map(crate::reap::Guard::new);
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let io = async {
        // Bounded reads: a process printing without end must not eat the doctor's memory.
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            if let Some(s) = stdout.as_mut() {
                let _ = s.take(1 << 20).read_to_end(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(s) = stderr.as_mut() {
                let _ = s.take(64 << 10).read_to_end(&mut err).await;
            }
        };
        tokio::join!(read_out, read_err);
        let status = child.wait().await;
        (status, out, err)
    };
    let (status, out, err) = match tokio::time::timeout(timeout, io).await {
        Ok(r) => r,
        Err(_) => {
            return Err(CredentialProblem::ProcessHung {
                profile: profile.to_string(),
                seconds: timeout.as_secs_f64().ceil() as u64,
            });
        }
    };
    // It ended on its own: whatever it left running is its business (an agent it starts on purpose).
    if let Some(g) = guard.as_mut() {
        g.disarm();
    }
    let status = status.map_err(|e| failed(format!("could not be waited for: {e}")))?;
    if !status.success() {
        let stderr = scrub(&String::from_utf8_lossy(&err));
        let how = match status.code() {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".into(),
        };
        return Err(failed(if stderr.is_empty() {
            how
        } else {
            format!("{how}; stderr: {stderr}")
        }));
    }
    parse_process_output(&out).map_err(failed)
}

/// botocore's ProcessProvider output rules: JSON with `Version` 1 and both keys; an `Expiration` in the past is
/// refused (botocore: "Credentials were refreshed, but the refreshed credentials are still expired").
fn parse_process_output(out: &[u8]) -> Result<Credentials, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(out).map_err(|_| "its output is not JSON (its content is not shown)".to_string())?;
    match doc.get("Version").and_then(|v| v.as_i64()) {
        Some(1) => {}
        _ => return Err("its output has no \"Version\": 1 (botocore supports version 1 only)".into()),
    }
    let field = |k: &str| doc.get(k).and_then(|v| v.as_str()).filter(|v| !v.is_empty());
    let (Some(id), Some(secret)) = (field("AccessKeyId"), field("SecretAccessKey")) else {
        return Err("its output lacks AccessKeyId or SecretAccessKey".into());
    };
    let expiry = match field("Expiration") {
        Some(text) => {
            let t: jiff::Timestamp = text
                .parse()
                .map_err(|_| format!("its Expiration {text:?} is not an ISO 8601 time"))?;
            if t <= jiff::Timestamp::now() {
                return Err(format!("it returned credentials that expired at {t}"));
            }
            Some(SystemTime::from(t))
        }
        None => None,
    };
    Ok(Credentials::new(
        id,
        secret,
        field("SessionToken").map(str::to_string),
        expiry,
        "custom-process",
    ))
}

/// A process's or SDK's text made safe for a report: one line, bounded, with anything that looks like a key id,
/// a secret or a token replaced.
pub fn scrub(text: &str) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let words: Vec<String> = flat.split_whitespace().map(scrub_word).collect();
    let joined = words.join(" ");
    if joined.chars().count() <= STDERR_MAX {
        joined
    } else {
        format!("{}...", joined.chars().take(STDERR_MAX).collect::<String>())
    }
}

fn scrub_word(word: &str) -> String {
    // A run of 16 or more key-like characters with letters and digits: an access key id (AKIA/ASIA + 16), a
    // secret (40 base64 characters), a session token, a JWT. Words of plain text never qualify.
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let keylike = run.chars().count() >= 16
            && run.chars().any(|c| c.is_ascii_digit())
            && run.chars().any(|c| c.is_ascii_alphabetic());
        if keylike {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in word.chars() {
        if c.is_ascii_alphanumeric() || "+/=_-.".contains(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The chain as the SDK's credentials provider.
pub fn provider(chain: Arc<BotocoreChain>) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(ArcChain(chain))
}

#[derive(Debug)]
struct ArcChain(Arc<BotocoreChain>);

impl ProvideCredentials for ArcChain {
    fn provide_credentials<'a>(&'a self) -> credentials_future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.provide_credentials()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_keys_and_keeps_words() {
        let text = "error: AKIAIOSFODNN7EXAMPLE with wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nretry later";
        let s = scrub(text);
        assert!(!s.contains("AKIAIOSFODNN7EXAMPLE"), "{s}");
        assert!(!s.contains("wJalrXUtnFEMI"), "{s}");
        assert!(s.starts_with("error: [redacted] with [redacted] retry later"), "{s}");
        assert_eq!(
            scrub("profile sso-dev-2024 is not configured"),
            "profile sso-dev-2024 is not configured"
        );
        assert!(scrub(&"x ".repeat(1000)).len() <= STDERR_MAX + 3);
    }

    #[test]
    fn process_output_follows_botocore() {
        let ok = br#"{"Version": 1, "AccessKeyId": "AKID", "SecretAccessKey": "S", "SessionToken": "T"}"#;
        assert!(parse_process_output(ok).is_ok());
        let v2 = br#"{"Version": 2, "AccessKeyId": "AKID", "SecretAccessKey": "S"}"#;
        assert!(parse_process_output(v2).unwrap_err().contains("Version"));
        let expired =
            br#"{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "S", "Expiration": "2020-01-01T00:00:00Z"}"#;
        assert!(parse_process_output(expired).unwrap_err().contains("expired at 2020"));
        let secret_text = b"AccessKeyId=AKIAIOSFODNN7EXAMPLE";
        assert!(!parse_process_output(secret_text).unwrap_err().contains("AKIA"));
    }
}
