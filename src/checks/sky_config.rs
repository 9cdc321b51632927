//! `sky.config`: SkyPilot will not upload the local AWS credentials (`aws.remote_identity: NO_UPLOAD`).

use std::sync::Arc;

use futures::FutureExt;
use serde_json::{Value, json};

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::sky::SkyConfig;

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "sky.config",
    deps: &[],
    warm: None,
    run: |ctx: Arc<Ctx>| {
        let outcome = evaluate(&ctx.target.sky, ctx.target.task_config.as_ref());
        async move { outcome }.boxed()
    },
};

/// Decides over the layered SkyPilot config and a task's `config:` block.
pub fn evaluate(cfg: &SkyConfig, task_config: Option<&Value>) -> Outcome {
    let searched: Vec<String> = cfg.searched.iter().map(|p| p.display().to_string()).collect();
    let mut rejections = cfg.rejections.clone();
    if let Some(t) = task_config {
        rejections.extend(
            crate::sky::task_config_rejections(t)
                .into_iter()
                .map(|k| format!("the task's config: sets {k}, which a task may not override")),
        );
    }
    if let Some(first) = rejections.first() {
        return Outcome::fail(
            Code::SkyConfigRejected,
            format!(
                "SkyPilot rejects this config: {first}{}",
                match rejections.len() {
                    1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                }
            ),
        )
        .var("found", first.clone())
        .evidence(json!({ "rejections": rejections, "searched": searched }));
    }
    if let Some(err) = cfg.errors.first() {
        let file = err.file.display().to_string();
        return Outcome::fail(
            Code::SkyConfigInvalidYaml,
            format!(
                "SkyPilot config {file} is not valid YAML (line {}, column {}): {}; SkyPilot logs an error and ignores the whole file",
                err.line, err.column, err.message
            ),
        )
        .var("file", file)
        .var("line", err.line.to_string())
        .var("column", err.column.to_string())
        .evidence(json!({ "errors": cfg.errors, "searched": searched }));
    }
    let Some((value, file, key)) = cfg.aws_remote_identity() else {
        return Outcome::fail(
            Code::RemoteIdentityUnset,
            format!(
                "aws.remote_identity is not set in any SkyPilot config ({}), so SkyPilot uploads local AWS credentials",
                if searched.is_empty() {
                    "none found".into()
                } else {
                    searched.join(", ")
                }
            ),
        )
        .evidence(json!({ "searched": searched }));
    };
    let file = file.display().to_string();
    let ignored: Vec<String> = cfg
        .ignored_project_keys()
        .into_iter()
        .map(|(p, k)| format!("{k} in {} (the API server keeps its own)", p.display()))
        .collect();
    let evidence = json!({ "key": key, "value": value, "file": file, "searched": searched, "ignored": ignored,
                           "duplicate_keys": cfg.duplicates });
    match value {
        Value::String(s) if s == "NO_UPLOAD" => match cfg.duplicates.first() {
            None => Outcome::pass(format!("{key} is NO_UPLOAD in {file}: local AWS credentials stay local")),
            Some(d) => Outcome::warn(
                Code::SkyConfigDuplicateKey,
                format!(
                    "{key} is NO_UPLOAD in {file}, but {} repeats a key (line {}, column {}): SkyPilot keeps the later \
                     value, and a reader that keeps the first would not",
                    d.file.display(),
                    d.line,
                    d.column
                ),
            )
            .var("file", d.file.display().to_string())
            .var("line", d.line.to_string()),
        },
        Value::Array(_) => Outcome::fail(
            Code::RemoteIdentityListForm,
            format!("{key} in {file} is a list; SkyPilot still uploads local credentials unless it is the plain string NO_UPLOAD"),
        )
        .var("sky_config_path", file.clone()),
        other => {
            let found = match other {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            Outcome::fail(Code::RemoteIdentityOtherValue, format!("{key} in {file} is {found}, not NO_UPLOAD: SkyPilot uploads local credentials"))
                .var("sky_config_path", file.clone())
                .var("found", found)
        }
    }
    .evidence(evidence)
}
