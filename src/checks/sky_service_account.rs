//! `sky.service-account`: SkyPilot puts its pods on the service account the role is wired to.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::code::Code;
use crate::engine::{CheckSpec, Ctx, Outcome};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "sky.service-account",
    deps: &[],
    run: |ctx: Arc<Ctx>| {
        let t = &ctx.target;
        let outcome = if t.sky.errors.is_empty() {
            let pod_sa = t.sky.pod_service_account(t.task_config.as_ref(), &t.context);
            let evidence = json!({ "skypilot": pod_sa, "wired": t.service_account });
            if pod_sa.name == t.service_account {
                Outcome::pass(format!("SkyPilot's pods run as {} ({})", pod_sa.name, pod_sa.source))
            } else {
                Outcome::fail(
                    Code::Sky311,
                    format!(
                        "SkyPilot's pods would run as {} ({}), but the role is wired to {}",
                        pod_sa.name, pod_sa.source, t.service_account
                    ),
                )
                .var("found", pod_sa.name.clone())
            }
            .evidence(evidence)
        } else {
            Outcome::blocked("sky.config", "the SkyPilot config does not parse")
        };
        async move { outcome }.boxed()
    },
};
