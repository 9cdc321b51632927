//! `pod.credentials`: the running SkyPilot pods run as the wired service account and had the mode's credentials
//! injected at creation. It reads pod specs only.

use std::sync::Arc;

use futures::FutureExt;
use serde::Serialize;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::pods;
use crate::probe::PodInfo;
use crate::report::Status;
use crate::wiring::Wiring;

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "pod.credentials",
    deps: &["mode", "kube.context"],
    warm: None,
    run: |ctx: Arc<Ctx>| async move { run(&ctx).await }.boxed(),
};

/// What the doctor expects of a pod.
#[derive(Debug, Clone, Serialize)]
pub struct Expect {
    /// The wiring in force.
    pub wiring: Wiring,
    /// Service account.
    pub service_account: String,
    /// Role ARN.
    pub role_arn: String,
    /// Pod Identity association creation time, epoch seconds.
    pub associated_at: Option<f64>,
}

async fn run(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let detected = match ctx.wiring().await {
        Ok(d) => d,
        Err(e) => return Outcome::from_error(&e),
    };
    let Some(wiring) = detected.in_force() else {
        return Outcome::skip(Code::NotApplicable, "not applicable: no wiring is in force");
    };
    let pods = match pods::running(&ctx.target, &ctx.facts).await {
        Ok(p) => p,
        Err(e) => return Outcome::from_error(&e),
    };
    if pods.is_empty() {
        return Outcome::skip(Code::NothingToCheck, pods::none_message(&ctx.target));
    }
    let role_arn = match ctx.role_arn().await {
        Ok(a) => a,
        Err(e) => return Outcome::from_error(&e),
    };
    let associated_at = match (&detected.association, wiring) {
        (Some(a), Wiring::PodIdentity) => match ctx.facts.association(&t.cluster, &a.id).await {
            Ok(info) => info.created_at,
            Err(e) => return Outcome::from_error(&e),
        },
        _ => None,
    };
    let expect = Expect {
        wiring,
        service_account: t.service_account.clone(),
        role_arn,
        associated_at,
    };
    evaluate(&expect, &pods)
}

/// One pod's finding.
fn judge(e: &Expect, p: &PodInfo) -> Option<(Code, String)> {
    let env = |k: &str| p.aws_env.get(k).filter(|v| !v.is_empty());
    if p.service_account != e.service_account {
        return Some((
            Code::PodOtherServiceAccount,
            format!(
                "pod {} runs as service account {}, not {}",
                p.name, p.service_account, e.service_account
            ),
        ));
    }
    match e.wiring {
        Wiring::PodIdentity => {
            let injected = env("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some()
                && env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").is_some();
            if !injected {
                return Some(match (p.created_at, e.associated_at) {
                    (Some(pod), Some(assoc)) if pod < assoc => (
                        Code::PodPredatesWiring,
                        format!(
                            "pod {} was created before the Pod Identity association and has no injected credentials",
                            p.name
                        ),
                    ),
                    _ => (
                        Code::PodNotInjected,
                        format!(
                            "pod {} has no Pod Identity credentials injected (AWS_CONTAINER_CREDENTIALS_FULL_URI)",
                            p.name
                        ),
                    ),
                });
            }
            if p.host_network {
                return Some((
                    Code::PodHostNetwork,
                    format!(
                        "pod {} uses hostNetwork, which cannot reach the Pod Identity agent",
                        p.name
                    ),
                ));
            }
        }
        Wiring::Irsa => match (env("AWS_ROLE_ARN"), env("AWS_WEB_IDENTITY_TOKEN_FILE")) {
            (Some(arn), Some(_)) if *arn != e.role_arn => {
                return Some((
                    Code::PodOtherRoleArn,
                    format!("pod {} got AWS_ROLE_ARN={arn}, not {}", p.name, e.role_arn),
                ));
            }
            (Some(_), Some(_)) => {}
            _ => {
                return Some((
                    Code::PodNotInjected,
                    format!(
                        "pod {} has no IRSA credentials injected (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE); if it predates the annotation, recreate it",
                        p.name
                    ),
                ));
            }
        },
    }
    None
}

/// Decides over the running pods: the first pod with a finding decides the code; the message counts them all.
pub fn evaluate(e: &Expect, pods: &[PodInfo]) -> Outcome {
    let findings: Vec<(&PodInfo, Code, String)> = pods
        .iter()
        .filter_map(|p| judge(e, p).map(|(c, m)| (p, c, m)))
        .collect();
    let evidence = json!({
        "expected": e,
        "pods": pods.iter().map(|p| json!({
            "name": p.name, "sky_cluster": pods::sky_cluster(p), "service_account": p.service_account,
            "aws_env": p.aws_env, "created_at": p.created_at, "host_network": p.host_network,
            "finding": judge(e, p).map(|(c, _)| c),
        })).collect::<Vec<_>>(),
    });
    // A failure outranks a warning, whichever pod comes first.
    let worst = findings
        .iter()
        .find(|(_, c, _)| crate::catalog::Catalog::get().doc(*c).status == Status::Fail)
        .or(findings.first());
    match worst {
        None => Outcome::pass(format!(
            "{} running SkyPilot pod(s) run as {} with {} credentials injected",
            pods.len(),
            e.service_account,
            e.wiring.as_str()
        )),
        Some((pod, code, message)) => {
            let more = findings.len() - 1;
            let message = if more > 0 {
                format!("{message} (and {more} more pod(s) with findings)")
            } else {
                message.clone()
            };
            let o = if *code == Code::PodHostNetwork {
                Outcome::warn(*code, message)
            } else {
                Outcome::fail(*code, message)
            };
            o.var("sky_cluster", pods::sky_cluster(pod))
                .var("role_arn", e.role_arn.clone())
        }
    }
    .evidence(evidence)
}
