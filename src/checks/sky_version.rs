//! `sky.version`: the SkyPilot installed here is the version the doctor models.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::sky::{self, Installed, MODELLED_VERSION};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "sky.version",
    deps: &[],
    warm: None,
    run: |ctx: Arc<Ctx>| {
        async move {
            let local = ctx.facts.local();
            let path = local.var("PATH").unwrap_or_default();
            let home = local.var("HOME");
            evaluate(sky::installed(&path, home.as_deref().map(std::path::Path::new)).as_ref())
        }
        .boxed()
    },
};

/// Decides over the SkyPilot found next to the `sky` on PATH (read from its package metadata, never by starting
/// Python: that costs seconds).
pub fn evaluate(found: Option<&Installed>) -> Outcome {
    let Some(found) = found else {
        return Outcome::skip(
            Code::NothingToCheck,
            format!(
                "no `sky` on PATH (the API server may run elsewhere): the doctor models SkyPilot {MODELLED_VERSION}"
            ),
        );
    };
    let evidence = json!({ "installed": found, "modelled": MODELLED_VERSION });
    let Some(version) = &found.version else {
        return Outcome::skip(
            Code::NothingToCheck,
            format!(
                "{} has no readable package metadata: the doctor models SkyPilot {MODELLED_VERSION}",
                found.sky.display()
            ),
        )
        .evidence(evidence);
    };
    if sky::same_minor(version, MODELLED_VERSION) {
        Outcome::pass(format!(
            "SkyPilot {version} ({}) is the release line the doctor models ({MODELLED_VERSION})",
            found.sky.display()
        ))
    } else {
        Outcome::warn(
            Code::SkyVersionOther,
            format!(
                "SkyPilot {version} is installed ({}), but the doctor models {MODELLED_VERSION}: its config and credential rules may differ",
                found.sky.display()
            ),
        )
        .var("found", version.clone())
    }
    .evidence(evidence)
}
