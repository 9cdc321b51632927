//! `s3.bucket`: the bucket exists, and where.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::probe::{ErrorKind, ProbeError};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "s3.bucket",
    deps: &["aws.identity"],
    warm: Some(|ctx: Arc<Ctx>| {
        async move {
            let _ = ctx.facts.bucket_location(&ctx.target.bucket).await;
        }
        .boxed()
    }),
    run: |ctx: Arc<Ctx>| {
        async move {
            let t = &ctx.target;
            evaluate(&t.bucket, &t.region, ctx.facts.bucket_location(&t.bucket).await)
        }
        .boxed()
    },
};

/// Decides over GetBucketLocation.
pub fn evaluate(bucket: &str, cluster_region: &str, location: Result<String, ProbeError>) -> Outcome {
    match location {
        Ok(region) if region == cluster_region => {
            Outcome::pass(format!("bucket {bucket} exists in {region}, the cluster's region"))
                .evidence(json!({ "bucket_region": region }))
        }
        Ok(region) => Outcome::warn(
            Code::BucketOtherRegion,
            format!("bucket {bucket} is in {region}, the cluster in {cluster_region}: traffic crosses regions"),
        )
        .evidence(json!({ "bucket_region": region })),
        Err(e) if e.is_not_found() => Outcome::fail(Code::BucketNotFound, format!("bucket {bucket} does not exist"))
            .evidence(json!({ "error": e })),
        Err(e) if e.kind == ErrorKind::AccessDenied => {
            let mut o = Outcome::from_error(&e);
            o.message = format!(
                "the doctor's own identity may not read bucket {bucket} (s3:GetBucketLocation); the role may still be allowed"
            );
            o
        }
        Err(e) => Outcome::from_error(&e),
    }
}
