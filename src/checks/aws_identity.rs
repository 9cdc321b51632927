//! `aws.identity`: who the doctor is in AWS (account and partition every ARN is built from).

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::probe::local_aws::{CredentialChoice, CredentialProblem};
use crate::probe::{CallerIdentity, ErrorKind, ProbeError};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "aws.identity",
    deps: &[],
    warm: None,
    run: |ctx: Arc<Ctx>| {
        async move {
            match ctx.facts.credential_source().await {
                Err(p) => refused(&p),
                Ok(source) => evaluate(ctx.facts.caller_identity().await, Some(&source)),
            }
        }
        .boxed()
    },
};

/// A local credential setup that gives no credentials, by cause: SkyPilot and the guide's commands stop there
/// too, so the doctor names the cause and its own fix instead of judging whatever identity the Rust SDK's chain
/// would fall through to.
pub fn refused(p: &CredentialProblem) -> Outcome {
    use CredentialProblem::*;
    let evidence = json!({ "local": p });
    let profile = p.profile().unwrap_or("default").to_string();
    let outcome = match p {
        ProfileNotFound { profile, variable } => Outcome::fail(
            Code::ProfileNotFound,
            format!("{p}: the aws CLI and SkyPilot stop with ProfileNotFound"),
        )
        .var("found", profile.clone())
        .var("variable", *variable),
        PartialKeys { .. } => Outcome::fail(
            Code::SecretKeyMissing,
            format!("{p}: the aws CLI and SkyPilot stop with PartialCredentialsError"),
        ),
        SsoExpired { .. } => Outcome::fail(
            Code::SsoSessionExpired,
            format!("{p}: the aws CLI and SkyPilot get no credentials"),
        ),
        SsoNotLoggedIn { .. } => Outcome::fail(
            Code::SsoNeverLoggedIn,
            format!("{p}: the aws CLI and SkyPilot get no credentials"),
        ),
        SsoCacheCorrupt { cache, .. } => Outcome::fail(
            Code::SsoCacheUnreadable,
            format!("{p}: the aws CLI treats it as no session at all"),
        )
        .var("cache", cache.clone()),
        ProcessFailed { .. } => Outcome::fail(Code::CredentialProcessFailed, p.to_string()),
        ProcessHung { .. } => Outcome::inconclusive(
            Code::CredentialProcessHung,
            format!("{p}; the aws CLI and SkyPilot would wait for it without a bound"),
        ),
        InvalidConfig { .. } => Outcome::fail(
            Code::ProfileRefused,
            format!("{p}: the aws CLI and SkyPilot refuse this profile"),
        ),
        SsoNeedsRefresh { .. } => Outcome::inconclusive(
            Code::SsoTokenNeedsRefresh,
            format!("{p}; the doctor does not refresh SSO tokens (it would rewrite your SSO cache)"),
        ),
        AssumeRoleFailed { .. } => Outcome::fail(Code::ProfileRoleUnassumable, p.to_string()),
        NoCredentials { .. } => Outcome::fail(Code::NoCredentials, p.to_string()),
    };
    outcome.var("profile", profile).evidence(evidence)
}

/// Decides over STS GetCallerIdentity's answer, with the local source it came from when known.
pub fn evaluate(identity: Result<CallerIdentity, ProbeError>, source: Option<&CredentialChoice>) -> Outcome {
    let from = source.map(|r| r.source.describe());
    let sdk = source.and_then(|r| r.sdk_would_use.clone());
    match identity {
        Ok(id) => {
            let mut message = format!(
                "running as {} in account {} (partition {})",
                id.arn,
                id.account,
                id.partition()
            );
            if let Some(f) = &from {
                message.push_str(&format!(", from {f}"));
            }
            if let Some(s) = &sdk {
                // Other tools on the Rust SDK (or this doctor before it followed botocore) would use another source.
                message.push_str(&format!(
                    "; as the aws CLI and SkyPilot do (the Rust SDK's own chain would use {s})"
                ));
            }
            Outcome::pass(message).evidence(json!({
                "account": id.account,
                "arn": id.arn,
                "partition": id.partition(),
                "source": from,
                "rust_sdk_chain_would_use": sdk,
            }))
        }
        Err(e) if e.credential.is_some() => {
            let p = e
                .credential
                .as_deref()
                .cloned()
                .unwrap_or(CredentialProblem::NoCredentials {
                    reason: e.message.clone(),
                });
            refused(&p).evidence(json!({ "local": p, "source": from }))
        }
        Err(e) if e.kind == ErrorKind::NoCredentials => {
            Outcome::fail(Code::NoCredentials, format!("no AWS credentials found: {}", e.message))
                .evidence(json!({ "error": e }))
        }
        Err(e) if e.kind == ErrorKind::CredentialsRejected => Outcome::fail(
            Code::CredentialsRejected,
            format!(
                "AWS rejected the doctor's credentials{}: {}",
                from.as_ref().map(|f| format!(" (from {f})")).unwrap_or_default(),
                e.message
            ),
        )
        .evidence(json!({ "error": e, "source": from })),
        Err(e) => Outcome::from_error(&e),
    }
}
