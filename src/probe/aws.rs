//! The real AWS side of the probe layer, over the AWS SDK for Rust.
//!
//! Credentials come from the source botocore would use ([`super::local_aws`], [`super::credentials`]). Endpoints
//! honour `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` (VPC endpoints, and the lab).

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig, timeout::TimeoutConfig};
use aws_sdk_eks::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::probe::ApiCall;

use super::credentials::{self, BotocoreChain};
use super::local_aws::CredentialProblem;

use super::{
    AddonInfo, AssociationInfo, AssociationSummary, AwsApi, CallLog, CallerIdentity, ClusterInfo, ErrorKind,
    NodegroupInfo, OidcProviderInfo, Op, PolicyInfo, ProbeError, RoleInfo, SimulationResult,
};

/// Records every AWS call (operation, HTTP outcome, request id, duration) into the run's [`CallLog`].
#[derive(Debug, Clone)]
struct Recorder(CallLog);

#[derive(Debug, Clone)]
struct CallStart(std::time::Instant);

impl aws_smithy_types::config_bag::Storable for CallStart {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "skys3-call-recorder"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(CallStart(std::time::Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_ascii_lowercase(), m.name().to_string()))
            .unwrap_or_else(|| ("aws".into(), "unknown".into()));
        let started = cfg.load::<CallStart>().map(|s| s.0);
        let (outcome, request_id) = match context.response() {
            Some(r) => {
                let h = r.headers();
                let id = h
                    .get("x-amzn-requestid")
                    .or_else(|| h.get("x-amz-request-id"))
                    .map(str::to_string);
                let status = r.status().as_u16();
                let outcome = if (200..300).contains(&status) {
                    "ok".to_string()
                } else {
                    let kind = h
                        .get("x-amzn-errortype")
                        .map(|t| format!(" {}", t.split(':').next().unwrap_or(t)));
                    format!("HTTP {status}{}", kind.unwrap_or_default())
                };
                (outcome, id)
            }
            None => ("no response".to_string(), None),
        };
        self.0.push(ApiCall {
            service,
            operation,
            outcome,
            request_id,
            duration_ms: started.map(|s| s.elapsed().as_millis() as u64).unwrap_or(0),
        });
        Ok(())
    }
}

/// AWS clients for one region.
pub struct AwsClients {
    sts: aws_sdk_sts::Client,
    eks: aws_sdk_eks::Client,
    iam: aws_sdk_iam::Client,
    s3: aws_sdk_s3::Client,
}

/// Whether a custom endpoint applies to S3 (then path-style addressing: `bucket.localhost` or a VPC endpoint
/// host name would not resolve).
fn s3_custom_endpoint() -> bool {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
}

/// The region from `AWS_REGION` (the guide's variable, which the doctor reads as `--region`), else as botocore
/// finds it: `AWS_DEFAULT_REGION` (botocore 1.40 does not read `AWS_REGION`), then the `region` of the profile
/// botocore selects (`AWS_PROFILE`, else `AWS_DEFAULT_PROFILE`). The last resort for `--region`. An empty
/// variable counts as unset (CI systems export unset variables as empty), where the SDK's own chain would return
/// an empty region that every later call rejects.
pub async fn profile_region() -> Option<(String, String)> {
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    for k in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(r) = env(k) {
            return Some((r, format!("env {k}")));
        }
    }
    use aws_config::meta::region::ProvideRegion;
    let profile = super::local_aws::settings_profile(&aws_types::os_shim_internal::Env::real());
    let mut provider = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(p) = &profile {
        provider = provider.profile_name(p);
    }
    let region = provider
        .build()
        .region()
        .await
        .map(|r| r.to_string())
        .filter(|r| !r.trim().is_empty())?;
    let name = profile.unwrap_or_else(|| "default".into());
    Some((region, format!("profile {name} in the aws config file")))
}

impl AwsClients {
    /// Clients over `base` ([`base_config`]), with the credentials of `chain`: the source
    /// botocore would use, asked once per run.
    pub fn new(base: &SdkConfig, attempt_timeout: Duration, log: CallLog, chain: Arc<BotocoreChain>) -> AwsClients {
        let sdk = base
            .to_builder()
            .credentials_provider(credentials::provider(chain))
            // The SDK's cache gives up on a credential load after 5 s by default; a process gets its own bound,
            // and a cut load would run it again.
            .identity_cache(
                aws_config::identity::IdentityCache::lazy()
                    .load_timeout(attempt_timeout + Duration::from_secs(10))
                    .build(),
            )
            .build();
        let rec = Recorder(log);
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(s3_custom_endpoint())
            .interceptor(rec.clone())
            .build();
        AwsClients {
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&sdk)
                    .interceptor(rec.clone())
                    .build(),
            ),
            eks: aws_sdk_eks::Client::from_conf(
                aws_sdk_eks::config::Builder::from(&sdk)
                    .interceptor(rec.clone())
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(aws_sdk_iam::config::Builder::from(&sdk).interceptor(rec).build()),
            s3: aws_sdk_s3::Client::from_conf(s3),
        }
    }
}

/// What [`base_config`] builds (kept behind this name so that only the probe layer names SDK types).
pub type BaseConfig = SdkConfig;

/// The shared config without credentials: region, endpoints (`AWS_ENDPOINT_URL*`, the profile's), timeouts.
/// The STS and SSO calls of the credential chain use it too.
pub async fn base_config(region: &str, attempt_timeout: Duration) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .no_credentials();
    // The profile botocore selects: AWS_DEFAULT_PROFILE too, which the Rust SDK alone would ignore.
    if let Some(profile) = super::local_aws::settings_profile(&aws_types::os_shim_internal::Env::real()) {
        loader = loader.profile_name(profile);
    }
    loader
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5).min(attempt_timeout))
                .operation_attempt_timeout(attempt_timeout)
                .build(),
        )
        .load()
        .await
}

/// The local credential problem in an error's source chain, if the error came from the credential chain.
fn credential_problem(err: &(dyn StdError + 'static)) -> Option<CredentialProblem> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(p) = e.downcast_ref::<CredentialProblem>() {
            return Some(p.clone());
        }
        cur = e.source();
    }
    None
}

/// Maps an SDK error to a [`ProbeError`] with the service's code and message, never the raw response.
fn map_err<E, R>(op: Op, err: SdkError<E, R>) -> ProbeError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let Some(p) = credential_problem(&err) {
        return ProbeError::new(op, ErrorKind::NoCredentials, None, p.to_string()).with_credential(p);
    }
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
        SdkError::TimeoutError(_) => ProbeError::new(op, ErrorKind::Timeout, None, "the request timed out"),
        SdkError::ResponseError(_) => ProbeError::new(
            op,
            ErrorKind::Other,
            None,
            "the response could not be parsed (malformed body)",
        ),
        SdkError::DispatchFailure(d) => {
            let text = DisplayErrorContext(&err).to_string();
            if looks_like_missing_credentials(&text) {
                ProbeError::new(op, ErrorKind::NoCredentials, None, credentials_message(&text))
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
                ProbeError::new(op, ErrorKind::NoCredentials, None, credentials_message(&text))
            } else {
                ProbeError::new(op, ErrorKind::Other, None, last_cause(&err))
            }
        }
    }
}

/// Classifies an AWS error code.
pub fn classify_code(code: &str) -> ErrorKind {
    match code {
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "UnauthorizedAccess" => {
            ErrorKind::AccessDenied
        }
        "ResourceNotFoundException" | "NoSuchEntity" | "NoSuchBucket" | "NotFound" | "NoSuchKey" => ErrorKind::NotFound,
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
    t.contains("no credentials") || t.contains("credentials provider") || t.contains("failed to load credentials")
}

fn credentials_message(text: &str) -> String {
    // The profile first, so that cutting the chain's long text can never lose it.
    let profile = std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "default".into());
    format!(
        "no AWS credentials could be loaded for profile {profile} ({})",
        cut_at_word(text.trim(), 300)
    )
}

/// At most `max` characters of `text`, cut at a word boundary, with an ellipsis when cut.
fn cut_at_word(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    let cut = head
        .rfind(char::is_whitespace)
        .filter(|&i| i > max / 2)
        .unwrap_or(head.len());
    format!("{}...", head[..cut].trim_end())
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
        const OP: Op = Op::GetCallerIdentity;
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
        const OP: Op = Op::DescribeCluster;
        let out = self
            .eks
            .describe_cluster()
            .name(name)
            .send()
            .await
            .map_err(|e| map_err(OP, e))?;
        let c = out
            .cluster()
            .ok_or_else(|| ProbeError::new(OP, ErrorKind::Other, None, "DescribeCluster returned no cluster"))?;
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
            auto_mode: c.compute_config().and_then(|cc| cc.enabled()).unwrap_or(false),
            auto_mode_node_role: c
                .compute_config()
                .and_then(|cc| cc.node_role_arn())
                .filter(|r| !r.is_empty())
                .map(str::to_string),
        })
    }

    async fn list_nodegroups(&self, cluster: &str) -> Result<Vec<String>, ProbeError> {
        const OP: Op = Op::ListNodegroups;
        let mut names = Vec::new();
        let mut pages = self.eks.list_nodegroups().cluster_name(cluster).into_paginator().send();
        while let Some(page) = pages.next().await {
            names.extend(page.map_err(|e| map_err(OP, e))?.nodegroups().iter().cloned());
        }
        Ok(names)
    }

    async fn describe_nodegroup(&self, cluster: &str, nodegroup: &str) -> Result<NodegroupInfo, ProbeError> {
        const OP: Op = Op::DescribeNodegroup;
        let out = self
            .eks
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(nodegroup)
            .send()
            .await
            .map_err(|e| map_err(OP, e))?;
        let n = need(OP, out.nodegroup(), "nodegroup")?;
        Ok(NodegroupInfo {
            name: n.nodegroup_name().unwrap_or(nodegroup).to_string(),
            node_role: n.node_role().filter(|r| !r.is_empty()).map(str::to_string),
        })
    }

    async fn describe_addon(&self, cluster: &str, addon: &str) -> Result<AddonInfo, ProbeError> {
        const OP: Op = Op::DescribeAddon;
        let out = self
            .eks
            .describe_addon()
            .cluster_name(cluster)
            .addon_name(addon)
            .send()
            .await
            .map_err(|e| map_err(OP, e))?;
        let a = need(OP, out.addon(), "addon")?;
        Ok(AddonInfo {
            name: a.addon_name().unwrap_or(addon).to_string(),
            version: a.addon_version().map(str::to_string),
            status: a
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "UNKNOWN".into()),
            health_issues: a
                .health()
                .map(|h| {
                    h.issues()
                        .iter()
                        .map(|i| {
                            format!(
                                "{}: {}",
                                i.code().map(|c| c.as_str()).unwrap_or("Unknown"),
                                i.message().unwrap_or("")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    async fn list_pod_identity_associations(
        &self,
        cluster: &str,
        namespace: Option<&str>,
        service_account: Option<&str>,
    ) -> Result<Vec<AssociationSummary>, ProbeError> {
        const OP: Op = Op::ListPodIdentityAssociations;
        let items = self
            .eks
            .list_pod_identity_associations()
            .cluster_name(cluster)
            .set_namespace(namespace.map(str::to_string))
            .set_service_account(service_account.map(str::to_string))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| map_err(OP, e))?;
        Ok(items
            .into_iter()
            .map(|a| AssociationSummary {
                namespace: a.namespace().unwrap_or_default().to_string(),
                service_account: a.service_account().unwrap_or_default().to_string(),
                id: a.association_id().unwrap_or_default().to_string(),
            })
            .collect())
    }

    async fn describe_pod_identity_association(&self, cluster: &str, id: &str) -> Result<AssociationInfo, ProbeError> {
        const OP: Op = Op::DescribePodIdentityAssociation;
        let out = self
            .eks
            .describe_pod_identity_association()
            .cluster_name(cluster)
            .association_id(id)
            .send()
            .await
            .map_err(|e| map_err(OP, e))?;
        let a = need(OP, out.association(), "association")?;
        Ok(AssociationInfo {
            namespace: a.namespace().unwrap_or_default().to_string(),
            service_account: a.service_account().unwrap_or_default().to_string(),
            id: a.association_id().unwrap_or(id).to_string(),
            role_arn: a.role_arn().unwrap_or_default().to_string(),
            created_at: a.created_at().map(|t| t.as_secs_f64()),
            disable_session_tags: a.disable_session_tags().unwrap_or(false),
            target_role_arn: a.target_role_arn().filter(|s| !s.is_empty()).map(str::to_string),
            external_id: a.external_id().filter(|s| !s.is_empty()).map(str::to_string),
            policy: a.policy().filter(|s| !s.trim().is_empty()).map(str::to_string),
            modified_at: a.modified_at().map(|t| t.as_secs_f64()),
        })
    }

    async fn get_role(&self, name: &str) -> Result<RoleInfo, ProbeError> {
        const OP: Op = Op::GetRole;
        let out = self
            .iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| map_err(OP, e))?;
        let r = need(OP, out.role(), "role")?;
        Ok(RoleInfo {
            arn: r.arn().to_string(),
            trust_policy: r.assume_role_policy_document().unwrap_or_default().to_string(),
            boundary_arn: r
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string),
        })
    }

    async fn list_attached_role_policies(&self, role: &str) -> Result<Vec<String>, ProbeError> {
        const OP: Op = Op::ListAttachedRolePolicies;
        let items = self
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| map_err(OP, e))?;
        Ok(items
            .into_iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect())
    }

    async fn list_role_policies(&self, role: &str) -> Result<Vec<String>, ProbeError> {
        const OP: Op = Op::ListRolePolicies;
        self.iam
            .list_role_policies()
            .role_name(role)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| map_err(OP, e))
    }

    async fn get_role_policy(&self, role: &str, name: &str) -> Result<String, ProbeError> {
        const OP: Op = Op::GetRolePolicy;
        let out = self
            .iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| map_err(OP, e))?;
        Ok(out.policy_document().to_string())
    }

    async fn get_policy(&self, arn: &str) -> Result<PolicyInfo, ProbeError> {
        const OP: Op = Op::GetPolicy;
        let out = self
            .iam
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| map_err(OP, e))?;
        let p = need(OP, out.policy(), "policy")?;
        Ok(PolicyInfo {
            arn: p.arn().unwrap_or(arn).to_string(),
            default_version: p.default_version_id().unwrap_or("v1").to_string(),
            attachment_count: p.attachment_count(),
        })
    }

    async fn get_policy_version(&self, arn: &str, version: &str) -> Result<String, ProbeError> {
        const OP: Op = Op::GetPolicyVersion;
        let out = self
            .iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| map_err(OP, e))?;
        let v = need(OP, out.policy_version(), "policy version")?;
        Ok(v.document().unwrap_or_default().to_string())
    }

    async fn list_oidc_providers(&self) -> Result<Vec<String>, ProbeError> {
        const OP: Op = Op::ListOpenIdConnectProviders;
        let out = self
            .iam
            .list_open_id_connect_providers()
            .send()
            .await
            .map_err(|e| map_err(OP, e))?;
        Ok(out
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn().map(str::to_string))
            .collect())
    }

    async fn get_oidc_provider(&self, arn: &str) -> Result<OidcProviderInfo, ProbeError> {
        const OP: Op = Op::GetOpenIdConnectProvider;
        let out = self
            .iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .map_err(|e| map_err(OP, e))?;
        Ok(OidcProviderInfo {
            arn: arn.to_string(),
            url: out.url().unwrap_or_default().trim_start_matches("https://").to_string(),
            client_ids: out.client_id_list().to_vec(),
        })
    }

    async fn simulate_principal_policy(
        &self,
        principal_arn: &str,
        actions: &[String],
        resources: &[String],
    ) -> Result<Vec<SimulationResult>, ProbeError> {
        const OP: Op = Op::SimulatePrincipalPolicy;
        let out = self
            .iam
            .simulate_principal_policy()
            .policy_source_arn(principal_arn)
            .set_action_names(Some(actions.to_vec()))
            .set_resource_arns(Some(resources.to_vec()))
            .send()
            .await
            .map_err(|e| map_err(OP, e))?;
        Ok(out
            .evaluation_results()
            .iter()
            .map(|r| SimulationResult {
                action: r.eval_action_name().to_string(),
                resource: r.eval_resource_name().unwrap_or("*").to_string(),
                decision: r.eval_decision().as_str().to_string(),
            })
            .collect())
    }

    async fn get_bucket_location(&self, bucket: &str) -> Result<String, ProbeError> {
        const OP: Op = Op::GetBucketLocation;
        let out = self
            .s3
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| map_err(OP, e))?;
        // S3 reports us-east-1 as an empty constraint and eu-west-1 by its legacy name.
        Ok(match out.location_constraint().map(|c| c.as_str()).unwrap_or("") {
            "" => "us-east-1".to_string(),
            "EU" => "eu-west-1".to_string(),
            other => other.to_string(),
        })
    }

    async fn get_bucket_policy(&self, bucket: &str) -> Result<Option<String>, ProbeError> {
        self.bucket_policy(bucket).await
    }

    async fn bucket_owned_by(&self, bucket: &str, account: &str) -> Result<bool, ProbeError> {
        const OP: Op = Op::GetBucketLocation;
        match self
            .s3
            .get_bucket_location()
            .bucket(bucket)
            .expected_bucket_owner(account)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = map_err(OP, e);
                if e.kind == ErrorKind::AccessDenied {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn get_bucket_encryption(&self, bucket: &str) -> Result<Option<super::BucketEncryption>, ProbeError> {
        const OP: Op = Op::GetBucketEncryption;
        let out = match self.s3.get_bucket_encryption().bucket(bucket).send().await {
            Ok(o) => o,
            Err(e)
                if e.as_service_error().and_then(|s| s.code())
                    == Some("ServerSideEncryptionConfigurationNotFoundError") =>
            {
                return Ok(None);
            }
            Err(e) => return Err(map_err(OP, e)),
        };
        Ok(out
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| super::BucketEncryption {
                algorithm: d.sse_algorithm().as_str().to_string(),
                kms_key: d.kms_master_key_id().filter(|k| !k.is_empty()).map(str::to_string),
            }))
    }
}

impl AwsClients {
    async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, ProbeError> {
        const OP: Op = Op::GetBucketPolicy;
        match self.s3.get_bucket_policy().bucket(bucket).send().await {
            Ok(out) => Ok(out.policy().map(str::to_string)),
            // No policy at all is an answer, not an error.
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("NoSuchBucketPolicy") => Ok(None),
            Err(e) => Err(map_err(OP, e)),
        }
    }
}

fn need<T>(op: Op, v: Option<T>, what: &str) -> Result<T, ProbeError> {
    v.ok_or_else(|| ProbeError::new(op, ErrorKind::Other, None, format!("the response carries no {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_a_word_boundary() {
        assert_eq!(cut_at_word("short", 300), "short");
        let long = "word ".repeat(100);
        let cut = cut_at_word(&long, 22);
        assert_eq!(cut, "word word word word...");
        assert_eq!(cut_at_word(&"x".repeat(50), 10), format!("{}...", "x".repeat(10)));
    }
}
