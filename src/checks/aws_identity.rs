//! `aws.identity`: who the doctor is in AWS (account and partition every ARN is built from).

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::code::Code;
use crate::engine::{CheckSpec, Ctx, Outcome};
use crate::probe::{CallerIdentity, ErrorKind, ProbeError};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "aws.identity",
    deps: &[],
    run: |ctx: Arc<Ctx>| async move { evaluate(ctx.facts.caller_identity().await) }.boxed(),
};

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
