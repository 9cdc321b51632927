//! The real AWS side of the probe layer, over the AWS SDK for Rust.
//!
//! Credentials come from the standard chain (environment, profiles, SSO, credential_process, IMDS). Endpoints
//! honour `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` (VPC endpoints, and the lab).

use std::error::Error as StdError;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig, timeout::TimeoutConfig};
use aws_sdk_eks::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::{AwsApi, CallerIdentity, ClusterInfo, ErrorKind, ProbeError};

/// AWS clients for one region.
pub struct AwsClients {
    sts: aws_sdk_sts::Client,
    eks: aws_sdk_eks::Client,
}

/// The region of the active AWS profile (or `AWS_DEFAULT_REGION`), if any: the last resort for `--region`.
pub async fn profile_region() -> Option<String> {
    aws_config::default_provider::region::DefaultRegionChain::builder()
        .build()
        .region()
        .await
        .map(|r| r.to_string())
}

impl AwsClients {
    /// Loads the shared config (credential chain, endpoints) for `region`.
    pub async fn new(region: &str, attempt_timeout: Duration) -> AwsClients {
        let sdk: SdkConfig = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5).min(attempt_timeout))
                    .operation_attempt_timeout(attempt_timeout)
                    .build(),
            )
            .load()
            .await;
        AwsClients {
            sts: aws_sdk_sts::Client::new(&sdk),
            eks: aws_sdk_eks::Client::new(&sdk),
        }
    }
}

/// Maps an SDK error to a [`ProbeError`] with the service's code and message, never the raw response.
fn map_err<E, R>(op: &str, err: SdkError<E, R>) -> ProbeError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown").to_string();
            let message = e.message().unwrap_or("").to_string();
            let kind = classify_code(&code);
            let message = if message.is_empty() {
                code.clone()
            } else {
                format!("{code}: {message}")
            };
            ProbeError::new(op, kind, Some(code), message)
        }
        SdkError::TimeoutError(_) => {
            ProbeError::new(op, ErrorKind::Timeout, None, "the request timed out")
        }
        SdkError::ResponseError(_) => ProbeError::new(
            op,
            ErrorKind::Other,
            None,
            "the response could not be parsed (malformed body)",
        ),
        SdkError::DispatchFailure(d) => {
            let text = DisplayErrorContext(&err).to_string();
            if looks_like_missing_credentials(&text) {
                ProbeError::new(
                    op,
                    ErrorKind::NoCredentials,
                    None,
                    credentials_message(&text),
                )
            } else if d.is_timeout() {
                ProbeError::new(op, ErrorKind::Timeout, None, "the request timed out")
            } else if d.is_io() {
                ProbeError::new(
                    op,
                    ErrorKind::Unreachable,
                    None,
                    format!("could not connect: {}", last_cause(&err)),
                )
            } else {
                ProbeError::new(op, ErrorKind::Unreachable, None, last_cause(&err))
            }
        }
        _ => {
            let text = DisplayErrorContext(&err).to_string();
            if looks_like_missing_credentials(&text) {
                ProbeError::new(
                    op,
                    ErrorKind::NoCredentials,
                    None,
                    credentials_message(&text),
                )
            } else {
                ProbeError::new(op, ErrorKind::Other, None, last_cause(&err))
            }
        }
    }
}

/// Classifies an AWS error code.
pub fn classify_code(code: &str) -> ErrorKind {
    match code {
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "UnauthorizedAccess" => ErrorKind::AccessDenied,
        "ResourceNotFoundException"
        | "NoSuchEntity"
        | "NoSuchBucket"
        | "NotFound"
        | "NoSuchKey" => ErrorKind::NotFound,
        "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "UnrecognizedClientException"
        | "InvalidAccessKeyId"
        | "InvalidToken" => ErrorKind::CredentialsRejected,
        "Throttling"
        | "ThrottlingException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "SlowDown"
        | "RequestThrottled"
        | "ThrottledException" => ErrorKind::Throttled,
        _ => ErrorKind::Other,
    }
}

fn looks_like_missing_credentials(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("no credentials")
        || t.contains("credentials provider")
        || t.contains("failed to load credentials")
}

fn credentials_message(text: &str) -> String {
    // The chain's error names each provider it tried; keep the last, most specific line.
    let t = text.trim();
    let short: String = t.chars().take(300).collect();
    format!("no AWS credentials could be loaded ({short})")
}

/// The innermost cause's text: the most specific and least noisy part of an error chain.
fn last_cause(err: &(dyn StdError + 'static)) -> String {
    let mut cur: &(dyn StdError + 'static) = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[async_trait]
impl AwsApi for AwsClients {
    async fn get_caller_identity(&self) -> Result<CallerIdentity, ProbeError> {
        const OP: &str = "sts:GetCallerIdentity";
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| map_err(OP, e))?;
        Ok(CallerIdentity {
            account: out.account().unwrap_or_default().to_string(),
            arn: out.arn().unwrap_or_default().to_string(),
        })
    }

    async fn describe_cluster(&self, name: &str) -> Result<ClusterInfo, ProbeError> {
        const OP: &str = "eks:DescribeCluster";
        let out = self
            .eks
            .describe_cluster()
            .name(name)
            .send()
            .await
            .map_err(|e| map_err(OP, e))?;
        let c = out.cluster().ok_or_else(|| {
            ProbeError::new(
                OP,
                ErrorKind::Other,
                None,
                "DescribeCluster returned no cluster",
            )
        })?;
        Ok(ClusterInfo {
            name: c.name().unwrap_or(name).to_string(),
            arn: c.arn().map(str::to_string),
            status: c
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "UNKNOWN".into()),
            endpoint: c.endpoint().map(str::to_string),
            oidc_issuer: c
                .identity()
                .and_then(|i| i.oidc())
                .and_then(|o| o.issuer())
                .map(str::to_string),
            version: c.version().map(str::to_string),
        })
    }
}
