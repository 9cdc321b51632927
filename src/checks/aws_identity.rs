//! `aws.identity`: who the doctor is in AWS (account and partition every ARN is built from).

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::code::Code;
use crate::engine::{CheckSpec, Ctx, Outcome};
use crate::probe::local_aws::LocalProblem;
use crate::probe::{CallerIdentity, ErrorKind, ProbeError};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "aws.identity",
    deps: &[],
    run: |ctx: Arc<Ctx>| {
        async move {
            match ctx.facts.local_problem().await {
                Some(p) => refused(&p),
                None => evaluate(ctx.facts.caller_identity().await),
            }
        }
        .boxed()
    },
};

/// A local setup botocore refuses: SkyPilot and the guide's commands stop there, so the doctor says so instead
/// of judging whatever identity the Rust SDK's chain would fall through to.
pub fn refused(p: &LocalProblem) -> Outcome {
    let evidence = json!({ "local": p });
    match p {
        LocalProblem::ProfileNotFound { profile, variable } => Outcome::fail(
            Code::Sky103,
            format!(
                "{variable}={profile} names a profile that is in neither ~/.aws/config nor ~/.aws/credentials: the aws CLI and SkyPilot stop with ProfileNotFound"
            ),
        )
        .var("found", profile.clone()),
        LocalProblem::PartialKeys => Outcome::fail(
            Code::Sky104,
            "AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY: the aws CLI and SkyPilot stop with PartialCredentialsError",
        ),
    }
    .evidence(evidence)
}

/// Decides over STS GetCallerIdentity's answer.
pub fn evaluate(identity: Result<CallerIdentity, ProbeError>) -> Outcome {
    match identity {
        Ok(id) => Outcome::pass(format!(
            "running as {} in account {} (partition {})",
            id.arn,
            id.account,
            id.partition()
        ))
        .evidence(json!({ "account": id.account, "arn": id.arn, "partition": id.partition() })),
        Err(e) if e.kind == ErrorKind::NoCredentials => {
            Outcome::fail(Code::Sky101, format!("no AWS credentials found: {}", e.message))
                .evidence(json!({ "error": e }))
        }
        Err(e) if e.kind == ErrorKind::CredentialsRejected => Outcome::fail(
            Code::Sky102,
            format!("AWS rejected the doctor's credentials: {}", e.message),
        )
        .evidence(json!({ "error": e })),
        Err(e) => Outcome::from_error(&e),
    }
}
