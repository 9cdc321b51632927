//! The doctor's own model of the config shape SkyPilot 0.14.1 accepts: its known sections and keys, and the
//! types of the keys the doctor reads. SkyPilot validates every file and the merged config with its JSON schema
//! (`sky/utils/schemas.py`, `get_config_schema`) and refuses to run on a violation; the API server's schema is
//! strict (no unknown keys anywhere). This is not a copy of that schema: sections the doctor does not read are
//! checked for being maps only. `tests/it/sky_oracle.rs` keeps the model in step with SkyPilot's validation.

use serde_json::Value;

/// Top-level sections (`get_config_schema()['properties']`).
const TOP: &[&str] = &[
    "active_workspace",
    "admin_policy",
    "allowed_clouds",
    "api_server",
    "aws",
    "azure",
    "daemons",
    "dashboard",
    "data",
    "db",
    "docker",
    "gcp",
    "jobs",
    "kubernetes",
    "logs",
    "metrics",
    "nebius",
    "nvidia_gpus",
    "oci",
    "plugins",
    "provision",
    "rbac",
    "serve",
    "slurm",
    "ssh",
    "vast",
    "workspace",
    "workspace_config",
    "workspaces",
];

const AWS: &[&str] = &[
    "capabilities",
    "disk_encrypted",
    "enforce_tags",
    "labels",
    "post_provision_runcmd",
    "prioritize_reservations",
    "remote_identity",
    "security_group_name",
    "specific_reservations",
    "ssh_proxy_command",
    "ssh_user",
    "subnet_names",
    "use_internal_ips",
    "use_ssm",
    "vpc_name",
    "vpc_names",
];

const KUBERNETES: &[&str] = &[
    "allowed_contexts",
    "allowed_nodes",
    "apt_mirrors",
    "auto_mounts",
    "autoscaler",
    "context_configs",
    "custom_metadata",
    "dws",
    "enable_docker",
    "high_availability",
    "kueue",
    "max_inline_command_length",
    "namespace",
    "networking",
    "pod_config",
    "ports",
    "post_provision_runcmd",
    "pricing",
    "provision_timeout",
    "quota",
    "rdma",
    "remote_identity",
    "set_pod_resource_limits",
];

/// `kubernetes.context_configs.<context>` takes the general keys but the context settings themselves.
fn context_key(k: &str) -> bool {
    KUBERNETES.contains(&k) && !matches!(k, "allowed_contexts" | "context_configs")
}

const WORKSPACE: &[&str] = &[
    "allowed_users",
    "aws",
    "gcp",
    "kubernetes",
    "nebius",
    "private",
    "read_access",
    "slurm",
    "ssh",
];
const WORKSPACE_AWS: &[&str] = &["capabilities", "disabled", "profile", "remote_identity"];
const WORKSPACE_KUBERNETES: &[&str] = &[
    "allowed_contexts",
    "context_configs",
    "disabled",
    "kueue",
    "namespace",
    "quota",
    "remote_identity",
];
const WORKSPACE_CONTEXT: &[&str] = &["kueue", "namespace", "quota", "remote_identity"];

/// Clouds a workspace may only disable (`workspaces.<ws>.<cloud>.disabled`).
const WORKSPACE_DISABLE_ONLY: &[&str] = &[
    "azure",
    "ibm",
    "lambda",
    "scp",
    "oci",
    "runpod",
    "vast",
    "vsphere",
    "cudo",
    "fluidstack",
    "paperspace",
    "primeintellect",
    "do",
    "hyperbolic",
    "seeweb",
    "shadeform",
    "yotta",
    "mithril",
    "verda",
    "cloudflare",
    "coreweave",
    "vastdata",
    "huggingface",
];

/// What SkyPilot's schema would reject in one config file, each as `key: reason`. Empty: accepted (as far as
/// this model goes).
pub fn check(config: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(top) = config.as_object() else {
        return vec!["the file is not a mapping".into()];
    };
    for (key, value) in top {
        if !TOP.contains(&key.as_str()) {
            out.push(format!("{key}: unsupported field"));
            continue;
        }
        match key.as_str() {
            "aws" => section(&mut out, "aws", value, &in_list(AWS), |out, k, v| {
                if k == "remote_identity" {
                    aws_remote_identity(out, "aws.remote_identity", v)
                }
            }),
            "kubernetes" => section(&mut out, "kubernetes", value, &in_list(KUBERNETES), |out, k, v| {
                kubernetes_key(out, "kubernetes", k, v, &context_key)
            }),
            "workspaces" => workspaces(&mut out, value),
            // The string keys (`get_config_schema()`: `"type": "string"`). An admin policy is a module path
            // (`skys3.sky.DoctorPolicy`) or a URL; every config that sets one used to read as refused (SKY145).
            "active_workspace" | "workspace" | "db" => {
                if !value.is_string() {
                    out.push(format!("{key}: {} is not a string", kind(value)));
                }
            }
            "admin_policy" => match value.as_str() {
                Some(s) if admin_policy_location(s) => {}
                Some(s) => out.push(format!(
                    "admin_policy: {s:?} is neither a module path (module.Class) nor an http(s) URL"
                )),
                None => out.push(format!("admin_policy: {} is not a string", kind(value))),
            },
            "allowed_clouds" => {
                if !value.is_array() {
                    out.push(format!("allowed_clouds: {} is not a list", kind(value)));
                }
            }
            // Sections the doctor does not read: a map (or null) is all the model asks.
            _ => {
                if !(value.is_object() || value.is_null()) {
                    out.push(format!("{key}: {} is not a mapping", kind(value)));
                }
            }
        }
    }
    out
}

/// SkyPilot's two patterns for `admin_policy`: `^[a-zA-Z_][a-zA-Z0-9_]*(\.[a-zA-Z_][a-zA-Z0-9_]*)+$` or
/// `^https?://.*$` (`sky/utils/schemas.py`).
fn admin_policy_location(s: &str) -> bool {
    let ident = |p: &str| {
        let mut c = p.chars();
        c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
    };
    let parts: Vec<&str> = s.split('.').collect();
    // JSON Schema's `.` does not match a line break.
    ((s.starts_with("http://") || s.starts_with("https://")) && !s.contains(['\n', '\r']))
        || (parts.len() >= 2 && parts.iter().all(|p| ident(p)))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Membership in a fixed key list.
fn in_list(keys: &'static [&'static str]) -> impl Fn(&str) -> bool {
    move |k| keys.contains(&k)
}

/// A section that must be a map of known keys; `each` checks the known keys' values.
fn section(
    out: &mut Vec<String>,
    path: &str,
    value: &Value,
    known: &dyn Fn(&str) -> bool,
    each: impl Fn(&mut Vec<String>, &str, &Value),
) {
    // A section left empty (`aws:` alone) is null, which SkyPilot's schema refuses (`type: object`; measured with
    // SkyPilot 0.14.1 itself in tests/it/sky_oracle.rs).
    let Some(map) = value.as_object() else {
        out.push(format!("{path}: {} is not a mapping", kind(value)));
        return;
    };
    for (k, v) in map {
        if known(k) {
            each(out, k, v);
        } else {
            out.push(format!("{path}.{k}: unsupported field"));
        }
    }
}

/// `aws.remote_identity`: a non-empty string, or a list of single-key maps of non-empty strings.
fn aws_remote_identity(out: &mut Vec<String>, path: &str, v: &Value) {
    let ok = match v {
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().all(|i| {
            i.as_object()
                .is_some_and(|m| m.len() == 1 && m.values().all(|x| x.as_str().is_some_and(|s| !s.is_empty())))
        }),
        _ => false,
    };
    if !ok {
        out.push(format!(
            "{path}: {} is neither a string nor a list of single-key maps",
            kind(v)
        ));
    }
}

fn kubernetes_key(out: &mut Vec<String>, path: &str, k: &str, v: &Value, context_keys: &dyn Fn(&str) -> bool) {
    let p = format!("{path}.{k}");
    match k {
        "remote_identity" => {
            let ok = v.is_string() || v.as_object().is_some_and(|m| m.values().all(Value::is_string));
            if !ok {
                out.push(format!("{p}: {} is neither a string nor a map of strings", kind(v)));
            }
        }
        "namespace" if !v.is_string() => out.push(format!("{p}: {} is not a string", kind(v))),
        "allowed_contexts" => {
            let ok = v.as_str() == Some("all") || v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
            if !ok {
                out.push(format!("{p}: must be a list of context names or \"all\""));
            }
        }
        "pod_config" if !v.is_object() => out.push(format!("{p}: {} is not a mapping", kind(v))),
        "context_configs" => match v.as_object() {
            Some(contexts) => {
                for (ctx, cfg) in contexts {
                    section(out, &format!("{p}.{ctx}"), cfg, context_keys, |out, k, v| {
                        let q = format!("{p}.{ctx}.{k}");
                        match k {
                            // A context's remote_identity is a plain string (no glob map).
                            "remote_identity" | "namespace" if !v.is_string() => {
                                out.push(format!("{q}: {} is not a string", kind(v)))
                            }
                            "pod_config" if !v.is_object() => out.push(format!("{q}: {} is not a mapping", kind(v))),
                            _ => {}
                        }
                    });
                }
            }
            None => out.push(format!("{p}: {} is not a mapping", kind(v))),
        },
        _ => {}
    }
}

fn workspaces(out: &mut Vec<String>, value: &Value) {
    let Some(map) = value.as_object() else {
        out.push(format!("workspaces: {} is not a mapping", kind(value)));
        return;
    };
    for (ws, cfg) in map {
        let path = format!("workspaces.{ws}");
        let Some(entries) = cfg.as_object() else {
            if !cfg.is_null() {
                out.push(format!("{path}: {} is not a mapping", kind(cfg)));
            }
            continue;
        };
        for (k, v) in entries {
            let p = format!("{path}.{k}");
            match k.as_str() {
                "aws" => section(out, &p, v, &in_list(WORKSPACE_AWS), |out, k, v| match k {
                    "remote_identity" => aws_remote_identity(out, &format!("{p}.remote_identity"), v),
                    "profile" if !v.is_string() => out.push(format!("{p}.profile: {} is not a string", kind(v))),
                    _ => {}
                }),
                "kubernetes" => section(out, &p, v, &in_list(WORKSPACE_KUBERNETES), |out, k, v| {
                    kubernetes_key(out, &p, k, v, &in_list(WORKSPACE_CONTEXT))
                }),
                k if WORKSPACE.contains(&k) => {}
                k if WORKSPACE_DISABLE_ONLY.contains(&k) => section(out, &p, v, &in_list(&["disabled"]), |_, _, _| {}),
                _ => out.push(format!("{p}: unsupported field")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(t: &str) -> Value {
        serde_saphyr::from_str(t).unwrap()
    }

    #[test]
    fn accepts_the_guides_config_and_rejects_what_skypilot_rejects() {
        assert!(
            check(&yaml(
                "aws:\n  remote_identity: NO_UPLOAD\nkubernetes:\n  remote_identity: sa\n"
            ))
            .is_empty()
        );
        assert!(check(&yaml("aws:\n  remote_identity:\n  - '*': NO_UPLOAD\n")).is_empty());
        assert_eq!(check(&yaml("aws:\n  remote_identity: 5\n")).len(), 1);
        assert_eq!(check(&yaml("kubernetes:\n  remote_identity: [a]\n")).len(), 1);
        assert_eq!(
            check(&yaml("kubernetes:\n  foo: 1\n")),
            vec!["kubernetes.foo: unsupported field"]
        );
        assert_eq!(
            check(&yaml("aws:\n  profile: x\n")),
            vec!["aws.profile: unsupported field"]
        );
        assert!(check(&yaml("workspaces:\n  t:\n    aws:\n      profile: x\n")).is_empty());
        assert_eq!(check(&yaml("nope: 1\n")).len(), 1);
        assert_eq!(
            check(&yaml(
                "kubernetes:\n  context_configs:\n    c:\n      remote_identity: {a: b}\n"
            ))
            .len(),
            1
        );
    }
}
