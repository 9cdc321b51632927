//! `sky.service-account`: SkyPilot puts its pods on the service account the role is wired to, in a context it
//! launches on.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::target::Resolved;

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "sky.service-account",
    deps: &[],
    warm: None,
    run: |ctx: Arc<Ctx>| {
        let outcome = evaluate(&ctx.target);
        async move { outcome }.boxed()
    },
};

/// Decides over the layered config, the task's `config:` block and the kubeconfig's contexts.
pub fn evaluate(t: &Resolved) -> Outcome {
    // A file that does not parse is read as empty by SkyPilot, which goes on with the others (sky.config reports
    // it): the service account is decided over the rest, as SkyPilot does. A config SkyPilot refuses launches
    // nothing.
    if !t.sky.rejections.is_empty() {
        return Outcome::blocked("sky.config", "SkyPilot cannot use its config as it is");
    }
    // A task whose `config:` SkyPilot refuses launches nothing: there is no service account to compare.
    if t.task_config
        .as_ref()
        .is_some_and(|c| !crate::sky::task_config_rejections(c).is_empty())
    {
        return Outcome::blocked(
            "sky.config",
            "SkyPilot refuses the task's config: block, so it launches nothing",
        );
    }
    let pod_sa = match t.sky.pod_service_account(t.task_config.as_ref(), &t.context) {
        Ok(sa) => sa,
        Err(why) => {
            return Outcome::fail(
                Code::SkyRefusesContext,
                format!("SkyPilot will not launch in context {}: {why}", t.context),
            )
            .evidence(json!({ "context": t.context, "reason": why }));
        }
    };
    let contexts = t.kubeconfig.context_names();
    let (launch, setting) = t.sky.launch_contexts(&contexts, t.kubeconfig.current_context());
    let evidence = json!({
        "skypilot": pod_sa,
        "wired": t.service_account,
        "launch_contexts": launch,
        "launch_contexts_from": setting,
    });
    if pod_sa.name != t.service_account {
        return Outcome::fail(
            Code::SkyOtherServiceAccount,
            format!(
                "SkyPilot's pods would run as {} ({}), but the role is wired to {}",
                pod_sa.name, pod_sa.source, t.service_account
            ),
        )
        .var("found", pod_sa.name.clone())
        .var(
            "sky_config_path",
            pod_sa.file.as_ref().unwrap_or(&t.sky.user_file).display().to_string(),
        )
        .evidence(evidence);
    }
    // The namespace SkyPilot launches in (`get_namespace`): its settings, else the kube context's, else default.
    let (sky_ns, ns_from) = t
        .sky
        .kubernetes_namespace(&t.context)
        .or_else(|| {
            t.context_info
                .namespace
                .clone()
                .map(|n| (n, format!("the namespace of kube context {}", t.context)))
        })
        .unwrap_or_else(|| ("default".into(), "the default".into()));
    if !t.context.is_empty() && sky_ns != t.namespace {
        return Outcome::warn(
            Code::SkyOtherNamespace,
            format!(
                "SkyPilot launches its pods in namespace {sky_ns} ({ns_from}), but namespace {} is checked: its wiring was not",
                t.namespace
            ),
        )
        .var("found", sky_ns)
        .evidence(evidence);
    }
    if !t.context.is_empty() && !launch.iter().any(|c| c == &t.context) {
        let from = setting.unwrap_or_else(|| "the kubeconfig's current-context".into());
        return Outcome::warn(
            Code::SkySkipsContext,
            format!(
                "context {} is checked, but SkyPilot launches only on {} ({from})",
                t.context,
                if launch.is_empty() {
                    "no context".to_string()
                } else {
                    launch.join(", ")
                }
            ),
        )
        .var("found", t.context.clone())
        .evidence(evidence);
    }
    Outcome::pass(format!("SkyPilot's pods run as {} ({})", pod_sa.name, pod_sa.source)).evidence(evidence)
}
