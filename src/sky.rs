//! SkyPilot's configuration and task files, read the way SkyPilot 0.14.1 reads them for a launch through a local
//! API server (what `sky launch` does), and proven against that release in `tests/it/sky_oracle.rs`.
//!
//! - Files (`sky/skypilot_config.py`): the user file (`$SKYPILOT_GLOBAL_CONFIG`, `~`-expanded, or
//!   `~/.sky/config.yaml`), then the project file (`$SKYPILOT_PROJECT_CONFIG` or `./.sky.yaml`) on top. When
//!   `$SKYPILOT_CONFIG` (or `--sky-config`) names a file, only that file is read. A file named by a variable that
//!   does not exist stops SkyPilot; a file that is not valid YAML is logged and read as empty.
//! - Client and server: the API server reads the global file only and layers the client's config over it, minus
//!   the keys a client may not override (`SKIPPED_CLIENT_OVERRIDE_KEYS`, `sky/skylet/constants.py`): so
//!   `workspaces` set in the project file never take effect, and an `active_workspace` the server does not
//!   define is an error (`override_skypilot_config`).
//! - Lookups (`get_effective_workspace_region_config`, `sky/utils/config_utils.py`): the active workspace's
//!   section first, then the global one; in each, `kubernetes.context_configs.<context>` beats the general key,
//!   and the task's `config:` block is merged into the general key only.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where SkyPilot's config files are, given the environment.
#[derive(Debug, Clone)]
pub struct ConfigPaths {
    /// Files in layering order (later wins), with their role.
    pub files: Vec<(PathBuf, &'static str)>,
    /// Where a missing setting should be added: the user file.
    pub user_file: PathBuf,
    /// Whether the single file was named explicitly (an unreadable one is then an input error).
    pub explicit: bool,
}

impl ConfigPaths {
    /// SkyPilot's own lookup, or only `explicit` when given. A file named by `SKYPILOT_GLOBAL_CONFIG` or
    /// `SKYPILOT_PROJECT_CONFIG` has that variable as its role (SkyPilot refuses to start when it is missing).
    pub fn discover(explicit: Option<&Path>, home: Option<&Path>, cwd: &Path) -> ConfigPaths {
        // SkyPilot applies expanduser to the variables' values (`_get_config_file_path`).
        let expand = |p: PathBuf| match (p.strip_prefix("~"), home) {
            (Ok(rest), Some(h)) => h.join(rest),
            _ => p,
        };
        let env_path = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .map(expand)
        };
        if let Some(p) = explicit.map(Path::to_path_buf).or_else(|| env_path("SKYPILOT_CONFIG")) {
            return ConfigPaths {
                files: vec![(p.clone(), "explicit")],
                user_file: p,
                explicit: true,
            };
        }
        let (user, user_role) = match env_path("SKYPILOT_GLOBAL_CONFIG") {
            Some(p) => (p, "SKYPILOT_GLOBAL_CONFIG"),
            None => (home.unwrap_or(Path::new("~")).join(".sky").join("config.yaml"), "user"),
        };
        let (project, project_role) = match env_path("SKYPILOT_PROJECT_CONFIG") {
            Some(p) => (p, "SKYPILOT_PROJECT_CONFIG"),
            None => (cwd.join(".sky.yaml"), "project"),
        };
        ConfigPaths {
            files: vec![(user.clone(), user_role), (project, project_role)],
            user_file: user,
            explicit: false,
        }
    }
}

/// A YAML file that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParseError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// The parser's message.
    pub message: String,
}

/// One config file that was read.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The file.
    pub path: PathBuf,
    /// `user`, `project` or `explicit`.
    pub role: &'static str,
    /// Its contents.
    pub value: Value,
}

/// The layered SkyPilot config.
#[derive(Debug, Clone, Default)]
pub struct SkyConfig {
    /// Files that exist and parsed, in layering order.
    pub layers: Vec<Layer>,
    /// Files that exist but did not parse (SkyPilot logs an error and reads them as empty).
    pub errors: Vec<ParseError>,
    /// Repeated keys in a file SkyPilot reads anyway (the later value wins), one per file.
    pub duplicates: Vec<ParseError>,
    /// Why SkyPilot would refuse to launch with this config (a missing named file, a shape its schema rejects,
    /// an undefined workspace), each naming the file and key.
    pub rejections: Vec<String>,
    /// Every file looked for.
    pub searched: Vec<PathBuf>,
    /// Where a new setting belongs.
    pub user_file: PathBuf,
}

/// Top-level keys a client's config may not override on the API server (SkyPilot 0.14.1
/// `SKIPPED_CLIENT_OVERRIDE_KEYS`, `sky/skylet/constants.py`): the server keeps its own.
const SERVER_ONLY_KEYS: &[&str] = &["api_server", "allowed_clouds", "workspaces", "db", "daemons", "metrics"];

/// Parses YAML into JSON values; an empty document is `null`.
pub fn parse_yaml(file: &Path, text: &str) -> Result<Value, ParseError> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| parse_error(file, &e))
}

fn parse_error(file: &Path, e: &serde_saphyr::Error) -> ParseError {
    let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid YAML");
    // A repeated key, in SkyPilot's own words (sky/utils/yaml_utils.py, which refuses a task YAML with one).
    let message = match first.split_once("duplicate mapping key: ") {
        Some((_, rest)) => format!(
            "Duplicate key '{}' in YAML at line {line}. Remove one of the entries so the intended value is unambiguous.",
            rest.split(',').next().unwrap_or(rest).trim()
        ),
        None => first.to_string(),
    };
    ParseError {
        file: file.to_path_buf(),
        line,
        column,
        message,
    }
}

/// A SkyPilot config file, read as SkyPilot reads it: PyYAML's `safe_load` keeps the later of two equal keys in a
/// mapping (measured with SkyPilot 0.14.1 in tests/it/sky_oracle.rs), where a strict reader refuses the file. The
/// second value is the first repeated key found, to warn about.
pub fn parse_config_yaml(file: &Path, text: &str) -> Result<(Value, Option<ParseError>), ParseError> {
    match parse_yaml(file, text) {
        Ok(v) => Ok((v, None)),
        Err(strict) if strict.message.to_lowercase().contains("duplicate") => {
            let mut options = serde_saphyr::Options::default();
            options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
            let v = serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| parse_error(file, &e))?;
            Ok((v, Some(strict)))
        }
        Err(e) => Err(e),
    }
}

impl SkyConfig {
    /// Reads the files of `paths`. A missing file is skipped unless it was named explicitly (then: `Err`).
    pub fn load(paths: &ConfigPaths) -> Result<SkyConfig, String> {
        let mut cfg = SkyConfig {
            layers: vec![],
            errors: vec![],
            rejections: vec![],
            duplicates: vec![],
            searched: vec![],
            user_file: paths.user_file.clone(),
        };
        for (path, role) in &paths.files {
            cfg.searched.push(path.clone());
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && role.starts_with("SKYPILOT_") => {
                    cfg.rejections.push(format!(
                        "{role} names {}, which does not exist (SkyPilot stops with FileNotFoundError)",
                        path.display()
                    ));
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !paths.explicit => continue,
                Err(e) => {
                    return Err(format!("cannot read SkyPilot config {}: {e}", path.display()));
                }
            };
            let parsed = parse_config_yaml(path, &text).map(|(value, duplicate)| {
                cfg.duplicates.extend(duplicate);
                value
            });
            match parsed {
                Ok(Value::Null) => {}
                Ok(value @ Value::Object(_)) => {
                    for problem in crate::sky_schema::check(&value) {
                        cfg.rejections.push(format!("{}: {problem}", path.display()));
                    }
                    cfg.layers.push(Layer {
                        path: path.clone(),
                        role,
                        value,
                    });
                }
                Ok(_) => cfg.rejections.push(format!(
                    "{} is not a mapping of settings (SkyPilot stops with a TypeError)",
                    path.display()
                )),
                Err(e) => cfg.errors.push(e),
            }
        }
        // The API server keeps its own workspaces: one the client activates must be defined in the global file.
        let ws = cfg.active_workspace();
        if ws != "default" && cfg.get(&["workspaces", &ws]).is_none() {
            let set_in = cfg
                .get(&["active_workspace"])
                .map(|(_, p)| p.display().to_string())
                .unwrap_or_default();
            cfg.rejections.push(format!(
                "active_workspace {ws} (set in {set_in}) is not defined in the API server's config {}: SkyPilot stops with \"Workspace {ws} does not exist\"",
                cfg.user_file.display()
            ));
        }
        Ok(cfg)
    }

    /// The value at `keys` after SkyPilot's layering, and the file that set it. A project file's server-only
    /// keys (`workspaces`, ...) are skipped: the API server ignores them.
    pub fn get(&self, keys: &[&str]) -> Option<(&Value, &Path)> {
        let server_only = keys.first().is_some_and(|k| SERVER_ONLY_KEYS.contains(k));
        self.layers
            .iter()
            .rev()
            .filter(|l| !(server_only && is_project(l.role)))
            .find_map(|l| lookup(&l.value, keys).map(|v| (v, l.path.as_path())))
    }

    /// Server-only keys a project file sets, which the API server ignores: (file, key).
    pub fn ignored_project_keys(&self) -> Vec<(PathBuf, String)> {
        self.layers
            .iter()
            .filter(|l| is_project(l.role))
            .flat_map(|l| {
                SERVER_ONLY_KEYS
                    .iter()
                    .filter(|k| lookup(&l.value, &[k]).is_some())
                    .map(|k| (l.path.clone(), k.to_string()))
            })
            .collect()
    }

    /// The active workspace (`active_workspace`, default `default`).
    pub fn active_workspace(&self) -> String {
        self.get(&["active_workspace"])
            .and_then(|(v, _)| v.as_str())
            .unwrap_or("default")
            .to_string()
    }

    /// `aws.remote_identity` as SkyPilot resolves it: the active workspace's setting first, and the key path used.
    pub fn aws_remote_identity(&self) -> Option<(&Value, &Path, String)> {
        let ws = self.active_workspace();
        if let Some((v, p)) = self.get(&["workspaces", &ws, "aws", "remote_identity"]) {
            return Some((v, p, format!("workspaces.{ws}.aws.remote_identity")));
        }
        self.get(&["aws", "remote_identity"])
            .map(|(v, p)| (v, p, "aws.remote_identity".to_string()))
    }
}

fn is_project(role: &str) -> bool {
    role == "project" || role == "SKYPILOT_PROJECT_CONFIG"
}

fn lookup<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for k in keys {
        cur = cur.as_object()?.get(*k)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// SkyPilot's default service account for its pods.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "skypilot-service-account";

/// The service account SkyPilot gives its pods, and the setting that decided it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PodServiceAccount {
    /// Service account name.
    pub name: String,
    /// e.g. `kubernetes.remote_identity in /home/u/.sky/config.yaml`, or `default`.
    pub source: String,
    /// The config file that decided it, where a fix belongs (`None`: the default, or the task's `config:`).
    pub file: Option<PathBuf>,
}

/// What a `kubernetes.remote_identity` value means for the service account: the three options (case-sensitive)
/// mean SkyPilot's own account, anything else is an account name.
fn remote_identity_sa(value: &str) -> String {
    match value {
        "LOCAL_CREDENTIALS" | "SERVICE_ACCOUNT" | "NO_UPLOAD" => DEFAULT_SERVICE_ACCOUNT.to_string(),
        other => other.to_string(),
    }
}

/// Python's `fnmatch.fnmatchcase`, which SkyPilot matches context names with: `*`, `?`, `[seq]`, `[!seq]`;
/// case-sensitive; no `{a,b}` braces (a glob crate would expand those where SkyPilot does not).
pub fn fnmatchcase(name: &str, pattern: &str) -> bool {
    fn go(n: &[char], p: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&n[i..], &p[1..])),
            Some('?') => !n.is_empty() && go(&n[1..], &p[1..]),
            Some('[') => {
                // A class; an unclosed `[` is a literal, as in fnmatch.translate.
                let close = p.iter().skip(2).position(|&c| c == ']').map(|i| i + 2);
                match (close, n.first()) {
                    (Some(end), Some(&c)) => {
                        let (negate, body) = match p[1] {
                            '!' => (true, &p[2..end]),
                            _ => (false, &p[1..end]),
                        };
                        let mut hit = false;
                        let mut i = 0;
                        while i < body.len() {
                            if i + 2 < body.len() && body[i + 1] == '-' {
                                hit |= body[i] <= c && c <= body[i + 2];
                                i += 3;
                            } else {
                                hit |= body[i] == c;
                                i += 1;
                            }
                        }
                        hit != negate && go(&n[1..], &p[end + 1..])
                    }
                    (Some(_), None) => false,
                    (None, _) => n.first() == Some(&'[') && go(&n[1..], &p[1..]),
                }
            }
            Some(&c) => n.first() == Some(&c) && go(&n[1..], &p[1..]),
        }
    }
    let n: Vec<char> = name.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    go(&n, &p)
}

/// A task value merged into a config value as SkyPilot's `_recursive_update` does: maps merge key by key
/// (the task's value wins, new keys come last), anything else is replaced.
fn merge(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged = match out.get(k) {
                    Some(old) => merge(old, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, v) => v.clone(),
    }
}

/// The list fields SkyPilot merges item by item in a `pod_config` (`sky/utils/config_utils.py`, `_PATCH_MERGE_KEYS`,
/// after Kubernetes' strategic merge patch): items with equal values of the key merge, others are appended; `None`:
/// the list is replaced whole (`args`, `command`, and `imagePullSecrets`, which SkyPilot replaces on purpose).
const PATCH_MERGE_KEYS: &[(&str, Option<&str>)] = &[
    ("containers", Some("name")),
    ("initContainers", Some("name")),
    ("ephemeralContainers", Some("name")),
    ("volumes", Some("name")),
    ("volumeMounts", Some("mountPath")),
    ("resourceClaims", Some("name")),
    ("env", Some("name")),
    ("hostAliases", Some("ip")),
    ("topologySpreadConstraints", Some("topologyKey")),
    ("ports", Some("containerPort")),
    ("volumeDevices", Some("devicePath")),
    ("claims", Some("name")),
    ("args", None),
    ("command", None),
    ("imagePullSecrets", None),
];

/// A `pod_config` (or `custom_metadata`) merged into another as SkyPilot 0.14.1's `merge_k8s_configs` does: maps
/// merge key by key; a list of the patch-merge fields (`containers`, `env`, `volumes`, ...) merges by its key (a container without a name merges into the
/// first container, SkyPilot's legacy rule) or is replaced when atomic; any other list is appended to; anything
/// else is replaced.
pub fn merge_k8s(base: &Value, over: &Value) -> Value {
    let (Value::Object(b), Value::Object(o)) = (base, over) else {
        return over.clone();
    };
    let mut out = b.clone();
    for (k, v) in o {
        let merged = match (out.get(k), v) {
            (Some(old @ Value::Object(_)), Value::Object(_)) => merge_k8s(old, v),
            (Some(Value::Array(old)), Value::Array(items)) => {
                let patch = PATCH_MERGE_KEYS.iter().find(|(name, _)| name == k).map(|(_, key)| *key);
                match patch {
                    Some(None) => Value::Array(items.clone()),
                    Some(Some(key)) => {
                        let mut list = old.clone();
                        for item in items {
                            let id = item.get(key).filter(|v| !v.is_null());
                            let same = id.and_then(|id| list.iter().position(|x| x.get(key) == Some(id)));
                            match (id, same) {
                                (Some(_), Some(i)) => list[i] = merge_k8s(&list[i], item),
                                (None, _) if k == "containers" && !list.is_empty() => {
                                    list[0] = merge_k8s(&list[0], item)
                                }
                                _ => list.push(item.clone()),
                            }
                        }
                        Value::Array(list)
                    }
                    None => Value::Array(old.iter().chain(items).cloned().collect()),
                }
            }
            _ => v.clone(),
        };
        out.insert(k.clone(), merged);
    }
    Value::Object(out)
}

/// A value, where it came from (`kubernetes.remote_identity in /home/u/.sky/config.yaml`, ...) and its file.
pub type Sourced = (Value, String, Option<PathBuf>);

impl SkyConfig {
    /// SkyPilot's `get_effective_workspace_region_config` for a Kubernetes key and `context`: the active
    /// workspace's section when the workspace is defined (its `context_configs.<context>` first, then its
    /// general key with the task's value merged in), else the same lookup over the global `kubernetes` section.
    pub fn effective_k8s(&self, key: &str, context: &str, task_config: Option<&Value>) -> Option<Sourced> {
        let task = task_config.and_then(|t| lookup(t, &["kubernetes", key]));
        let ws = self.active_workspace();
        let scopes: Vec<Vec<String>> = {
            let mut v = Vec::new();
            if self.get(&["workspaces", &ws]).is_some() {
                v.push(vec!["workspaces".to_string(), ws.clone(), "kubernetes".to_string()]);
            }
            v.push(vec!["kubernetes".to_string()]);
            v
        };
        for scope in scopes {
            let at = |rest: &[&str]| {
                let keys: Vec<&str> = scope.iter().map(String::as_str).chain(rest.iter().copied()).collect();
                self.get(&keys).map(|(v, p)| {
                    (
                        v.clone(),
                        format!("{} in {}", keys.join("."), p.display()),
                        Some(p.to_path_buf()),
                    )
                })
            };
            if let Some(found) = at(&["context_configs", context, key]) {
                return Some(found);
            }
            let general = at(&[key]);
            let merged = match (general, task) {
                (Some((g, src, file)), Some(t)) => {
                    // SkyPilot merges these two with its Kubernetes merge (`_update_k8s_config`), the rest by plain
                    // recursion.
                    let merged = if matches!(key, "pod_config" | "custom_metadata") {
                        merge_k8s(&g, t)
                    } else {
                        merge(&g, t)
                    };
                    Some((merged, format!("{src}, with the task's config over it"), file))
                }
                (Some(g), None) => Some(g),
                (None, Some(t)) => Some((t.clone(), format!("kubernetes.{key} in the task's config"), None)),
                (None, None) => None,
            };
            if merged.is_some() {
                return merged;
            }
        }
        None
    }

    /// The service account SkyPilot 0.14.1 puts on its pods in `context` (`clouds/kubernetes.py`
    /// `make_deploy_resources_variables`, then `combine_pod_config_fields`): `kubernetes.remote_identity` as
    /// `effective_k8s` finds it (a map of context globs is matched with `fnmatchcase` in file order, and
    /// no match stops the launch), then `pod_config.spec.serviceAccountName` (global, then the context's, then
    /// the task's) over it. `Err`: SkyPilot refuses to launch, and why.
    pub fn pod_service_account(&self, task_config: Option<&Value>, context: &str) -> Result<PodServiceAccount, String> {
        let (name, mut source, mut file) = match self.effective_k8s("remote_identity", context, task_config) {
            None => (DEFAULT_SERVICE_ACCOUNT.to_string(), "default".to_string(), None),
            Some((Value::String(s), src, file)) => (remote_identity_sa(&s), src, file),
            Some((Value::Object(m), src, file)) => match m.iter().find(|(glob, _)| fnmatchcase(context, glob)) {
                Some((glob, Value::String(v))) => (remote_identity_sa(v), format!("{src} (context glob {glob})"), file),
                Some((glob, _)) => return Err(format!("{src}: the value for {glob} is not a string")),
                None => {
                    return Err(format!(
                        "{src} maps no glob to context {context}: SkyPilot stops with \"Context '{context}' not found in remote identities\""
                    ));
                }
            },
            Some((other, src, _)) => return Err(format!("{src} is {other}, neither a string nor a map")),
        };
        let mut name = name;
        // pod_config merges global, then the context's, then the task's (`resolve_effective_pod_config`); the
        // workspace's pod_config is not used.
        let sa_keys = ["spec", "serviceAccountName"];
        let from_file = |keys: &[&str]| {
            self.get(keys).map(|(v, p)| {
                (
                    v.clone(),
                    format!("{} in {}", keys.join("."), p.display()),
                    Some(p.to_path_buf()),
                )
            })
        };
        let candidates = [
            from_file(&["kubernetes", "pod_config", "spec", "serviceAccountName"]),
            from_file(&[
                "kubernetes",
                "context_configs",
                context,
                "pod_config",
                "spec",
                "serviceAccountName",
            ]),
            task_config
                .and_then(|t| lookup(t, &["kubernetes", "pod_config"]))
                .and_then(|pc| lookup(pc, &sa_keys))
                .map(|v| {
                    (
                        v.clone(),
                        "kubernetes.pod_config.spec.serviceAccountName in the task's config".to_string(),
                        None,
                    )
                }),
        ];
        for (v, src, f) in candidates.into_iter().flatten() {
            if let Value::String(s) = v {
                name = s;
                source = src;
                file = f;
            }
        }
        Ok(PodServiceAccount { name, source, file })
    }

    /// The contexts SkyPilot launches on (`Kubernetes.existing_allowed_contexts`): `kubernetes.allowed_contexts`
    /// (the workspace's first) minus those the kubeconfig lacks, all of them for `all`, else the current context.
    /// With the setting's source, or `None` for "the kubeconfig's current context".
    pub fn launch_contexts(&self, kube_contexts: &[String], current: Option<&str>) -> (Vec<String>, Option<String>) {
        let ws = self.active_workspace();
        let setting = self
            .get(&["workspaces", &ws, "kubernetes", "allowed_contexts"])
            .map(|(v, p)| {
                (
                    v,
                    format!("workspaces.{ws}.kubernetes.allowed_contexts in {}", p.display()),
                )
            })
            .or_else(|| {
                self.get(&["kubernetes", "allowed_contexts"])
                    .map(|(v, p)| (v, format!("kubernetes.allowed_contexts in {}", p.display())))
            });
        match setting {
            Some((Value::String(s), src)) if s == "all" => (kube_contexts.to_vec(), Some(src)),
            Some((Value::Array(items), src)) => (
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|c| kube_contexts.iter().any(|k| k == c))
                    .map(str::to_string)
                    .collect(),
                Some(src),
            ),
            _ => (current.map(str::to_string).into_iter().collect(), None),
        }
    }

    /// The namespace SkyPilot uses in `context` (`provision/kubernetes/utils.get_namespace`): the workspace's
    /// context and general settings, then the global ones; `None` leaves it to the kube context.
    pub fn kubernetes_namespace(&self, context: &str) -> Option<(String, String)> {
        self.effective_k8s("namespace", context, None)
            .and_then(|(v, src, _)| v.as_str().map(|s| (s.to_string(), src)))
    }
}

/// The SkyPilot release whose behaviour the doctor models, proven against that package in the test suite
/// (`tests/it/sky_oracle.rs`).
pub const MODELLED_VERSION: &str = "0.14.1";

/// A SkyPilot installation found next to the `sky` on PATH.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Installed {
    /// The `sky` script.
    pub sky: PathBuf,
    /// The package version from its metadata, if found.
    pub version: Option<String>,
    /// The metadata file it came from.
    pub metadata: Option<PathBuf>,
}

/// Finds `sky` on `path` and reads its package's version from the `skypilot-*.dist-info/METADATA` of the
/// environment it runs in: the script's own prefix, its interpreter line's prefix, and `~/.local` (pip --user).
/// Reads files only; starting Python would cost seconds.
pub fn installed(path: &str, home: Option<&Path>) -> Option<Installed> {
    let sky = std::env::split_paths(path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join("sky"))
        .find(|p| p.is_file())?;
    let real = std::fs::canonicalize(&sky).unwrap_or_else(|_| sky.clone());
    let mut prefixes: Vec<PathBuf> = [sky.parent(), real.parent()]
        .into_iter()
        .flatten()
        .filter_map(|bin| bin.parent().map(Path::to_path_buf))
        .collect();
    // The interpreter line: `#!/venv/bin/python3.11` names the environment whatever links led here.
    if let Ok(text) = std::fs::read(&real) {
        let first = String::from_utf8_lossy(&text[..text.len().min(512)])
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        if let Some(interp) = first.strip_prefix("#!").and_then(|l| l.split_whitespace().next())
            && let Some(prefix) = Path::new(interp).parent().and_then(Path::parent)
        {
            prefixes.push(prefix.to_path_buf());
        }
    }
    if let Some(h) = home {
        prefixes.push(h.join(".local"));
    }
    let metadata = prefixes.iter().find_map(|prefix| find_metadata(prefix));
    let version = metadata
        .as_ref()
        .and_then(|m| std::fs::read_to_string(m).ok())
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Version:").map(|v| v.trim().to_string()))
        });
    Some(Installed { sky, version, metadata })
}

fn find_metadata(prefix: &Path) -> Option<PathBuf> {
    let lib = prefix.join("lib");
    let mut site_dirs: Vec<PathBuf> = std::fs::read_dir(&lib)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
        .flat_map(|e| [e.path().join("site-packages"), e.path().join("dist-packages")])
        .collect();
    site_dirs.sort();
    site_dirs.iter().find_map(|dir| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().to_ascii_lowercase();
                (n.starts_with("skypilot-") || n.starts_with("skypilot_nightly-")) && n.ends_with(".dist-info")
            })
            .map(|e| e.path().join("METADATA"))
            .filter(|m| m.is_file())
            .collect();
        found.sort();
        found.pop()
    })
}

/// Whether two versions share major and minor (`0.14.1` and `0.14.0rc1`: yes; `0.15.0`: no).
pub fn same_minor(a: &str, b: &str) -> bool {
    let mm = |v: &str| {
        let mut it = v.split('.');
        (
            it.next().map(str::to_string),
            it.next()
                .map(|m| m.chars().take_while(char::is_ascii_digit).collect::<String>()),
        )
    };
    mm(a) == mm(b)
}

/// The keys a task's `config:` block may set (SkyPilot 0.14.1 `OVERRIDEABLE_CONFIG_KEYS_IN_TASK`,
/// `sky/skylet/constants.py`); the API server rejects a task with any other ("Found unsupported field").
const TASK_OVERRIDABLE: &[&[&str]] = &[
    &["docker", "run_options"],
    &["nvidia_gpus", "disable_ecc"],
    &["ssh", "custom_metadata"],
    &["ssh", "pod_config"],
    &["ssh", "provision_timeout"],
    &["kubernetes", "custom_metadata"],
    &["kubernetes", "pod_config"],
    &["kubernetes", "provision_timeout"],
    &["kubernetes", "dws"],
    &["kubernetes", "kueue"],
    &["kubernetes", "quota"],
    &["kubernetes", "remote_identity"],
    &["kubernetes", "enable_docker"],
    &["kubernetes", "set_pod_resource_limits"],
    &["azure", "remote_identity"],
    &["azure", "vpc_name"],
    &["gcp", "vpc_name"],
    &["gcp", "subnet_names"],
    &["gcp", "managed_instance_group"],
    &["gcp", "enable_gvnic"],
    &["gcp", "enable_gpu_direct"],
    &["gcp", "placement_policy"],
    &["vast", "datacenter_only"],
    &["vast", "create_instance_kwargs"],
    &["slurm", "sbatch_options"],
    &["slurm", "quota"],
    &["slurm", "cpu_partition"],
    &["active_workspace"],
];

/// The keys of a task's `config:` block SkyPilot's API server rejects, as dotted paths.
pub fn task_config_rejections(config: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(top) = config.as_object() else {
        return vec!["config: is not a mapping".into()];
    };
    for (section, value) in top {
        let allowed: Vec<&[&str]> = TASK_OVERRIDABLE.iter().copied().filter(|k| k[0] == section).collect();
        if allowed.is_empty() {
            out.push(section.clone());
            continue;
        }
        if allowed.iter().any(|k| k.len() == 1) {
            continue;
        }
        match value.as_object() {
            Some(map) => {
                for key in map.keys() {
                    if !allowed.iter().any(|k| k[1] == key) {
                        out.push(format!("{section}.{key}"));
                    }
                }
            }
            None => out.push(section.clone()),
        }
    }
    out
}

/// A SkyPilot task file, reduced to what the doctor uses.
#[derive(Debug, Clone, Default)]
pub struct Task {
    /// S3 buckets of its file_mounts.
    pub buckets: Vec<String>,
    /// Its `config:` block.
    pub config: Option<Value>,
    /// Its S3 storage mounts (the dict form of file_mounts), with their mode.
    pub s3_mounts: Vec<S3Mount>,
}

/// A file_mount of the dict form with an `s3://` source: SkyPilot mounts it with its `mode`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct S3Mount {
    /// The path in the pod.
    pub path: String,
    /// The bucket.
    pub bucket: String,
    /// `MOUNT`, `MOUNT_CACHED` or `COPY`, upper-cased; `MOUNT` when the task names none (SkyPilot's default
    /// storage mode, `sky/data/storage.py`).
    pub mode: String,
}

/// Reads a task file.
pub fn task(file: &Path, text: &str) -> Result<Task, ParseError> {
    let v = parse_yaml(file, text)?;
    let mut s3_mounts = Vec::new();
    if let Some(mounts) = v.get("file_mounts").and_then(Value::as_object) {
        for (path, spec) in mounts {
            let Some(o) = spec.as_object() else { continue };
            let Some(bucket) = o
                .get("source")
                .and_then(Value::as_str)
                .and_then(|s| s.trim().strip_prefix("s3://"))
                .and_then(|r| r.split('/').next())
                .filter(|b| !b.is_empty())
            else {
                continue;
            };
            let mode = o
                .get("mode")
                .and_then(Value::as_str)
                .unwrap_or("MOUNT")
                .trim()
                .to_ascii_uppercase();
            s3_mounts.push(S3Mount {
                path: path.clone(),
                bucket: bucket.to_string(),
                mode,
            });
        }
    }
    Ok(Task {
        buckets: task_buckets(file, text)?,
        config: v.get("config").filter(|c| c.is_object()).cloned(),
        s3_mounts,
    })
}

/// The S3 buckets a SkyPilot task mounts (its `s3://` file_mounts sources), de-duplicated, in file order.
pub fn task_buckets(file: &Path, text: &str) -> Result<Vec<String>, ParseError> {
    let v = parse_yaml(file, text)?;
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        if let Some(rest) = s.trim().strip_prefix("s3://") {
            let bucket = rest.split('/').next().unwrap_or("");
            if !bucket.is_empty() && !out.iter().any(|b| b == bucket) {
                out.push(bucket.to_string());
            }
        }
    };
    if let Some(mounts) = v.get("file_mounts").and_then(Value::as_object) {
        for spec in mounts.values() {
            match spec {
                Value::String(s) => push(s),
                Value::Object(o) => match o.get("source") {
                    Some(Value::String(s)) => push(s),
                    Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).for_each(&mut push),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_config_lists_merge_as_skypilot_merges_them() {
        let base = serde_json::json!({"spec": {
            "containers": [{"name": "ray-node", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "args": ["x"]}],
            "volumes": [{"name": "v1"}],
            "tolerations": [{"key": "t1"}]}});
        let over = serde_json::json!({"spec": {
            // No name: merged into the first container (SkyPilot's legacy rule); env by name; args replaced.
            "containers": [{"env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}], "args": ["y"]},
                           {"name": "sidecar"}],
            "volumes": [{"name": "v1", "emptyDir": {}}, {"name": "v2"}],
            // Not a patch-merge list: appended.
            "tolerations": [{"key": "t2"}]}});
        let merged = merge_k8s(&base, &over);
        let spec = &merged["spec"];
        let c = &spec["containers"];
        assert_eq!(c.as_array().unwrap().len(), 2, "{merged:#}");
        assert_eq!(
            c[0]["env"],
            serde_json::json!([{"name": "A", "value": "1"}, {"name": "B", "value": "two"}, {"name": "C", "value": "3"}])
        );
        assert_eq!(c[0]["args"], serde_json::json!(["y"]));
        assert_eq!(c[1]["name"], "sidecar");
        assert_eq!(
            spec["volumes"],
            serde_json::json!([{"name": "v1", "emptyDir": {}}, {"name": "v2"}])
        );
        assert_eq!(spec["tolerations"], serde_json::json!([{"key": "t1"}, {"key": "t2"}]));
    }

    fn cfg(layers: &[&str]) -> SkyConfig {
        SkyConfig {
            layers: layers
                .iter()
                .enumerate()
                .map(|(i, t)| Layer {
                    path: PathBuf::from(format!("/f{i}")),
                    role: "user",
                    value: parse_yaml(Path::new("x"), t).unwrap(),
                })
                .collect(),
            errors: vec![],
            rejections: vec![],
            duplicates: vec![],
            searched: vec![],
            user_file: PathBuf::from("/f0"),
        }
    }

    #[test]
    fn project_layer_wins_and_workspace_first() {
        let c = cfg(&[
            "aws:\n  remote_identity: LOCAL_CREDENTIALS\n",
            "aws:\n  remote_identity: NO_UPLOAD\n",
        ]);
        let (v, p, key) = c.aws_remote_identity().unwrap();
        assert_eq!(
            (v.as_str(), p, key.as_str()),
            (Some("NO_UPLOAD"), Path::new("/f1"), "aws.remote_identity")
        );

        let c = cfg(&[
            "active_workspace: team\naws:\n  remote_identity: NO_UPLOAD\nworkspaces:\n  team:\n    aws:\n      remote_identity: LOCAL_CREDENTIALS\n",
        ]);
        let (v, _, key) = c.aws_remote_identity().unwrap();
        assert_eq!(
            (v.as_str(), key.as_str()),
            (Some("LOCAL_CREDENTIALS"), "workspaces.team.aws.remote_identity")
        );
    }

    #[test]
    fn parse_error_has_location() {
        let e = parse_yaml(Path::new("/c.yaml"), "aws:\n  remote_identity: [\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        assert!(e.column >= 1, "{e:?}");
    }

    #[test]
    fn pod_service_account_resolution() {
        let c = cfg(&["kubernetes:\n  remote_identity: NO_UPLOAD\n"]);
        assert_eq!(
            c.pod_service_account(None, "ctx").unwrap().name,
            DEFAULT_SERVICE_ACCOUNT
        );
        let c = cfg(&["kubernetes:\n  remote_identity: my-sa\n"]);
        assert_eq!(c.pod_service_account(None, "ctx").unwrap().name, "my-sa");
        let c = cfg(&["kubernetes:\n  remote_identity:\n    'prod-*': prod-sa\n    '*': SERVICE_ACCOUNT\n"]);
        assert_eq!(c.pod_service_account(None, "prod-eks").unwrap().name, "prod-sa");
        assert_eq!(
            c.pod_service_account(None, "dev").unwrap().name,
            DEFAULT_SERVICE_ACCOUNT
        );
        let c = cfg(&["kubernetes:\n  remote_identity: a\n  pod_config:\n    spec:\n      serviceAccountName: b\n"]);
        assert_eq!(c.pod_service_account(None, "ctx").unwrap().name, "b");
        let task = parse_yaml(Path::new("t"), "kubernetes:\n  remote_identity: from-task\n").unwrap();
        let c = cfg(&["kubernetes:\n  remote_identity: a\n"]);
        assert_eq!(c.pod_service_account(Some(&task), "ctx").unwrap().name, "from-task");
        assert_eq!(cfg(&[""]).pod_service_account(None, "ctx").unwrap().source, "default");
        // No glob matches: SkyPilot stops, it does not fall back to the default.
        let c = cfg(&["kubernetes:\n  remote_identity:\n    'prod-*': prod-sa\n"]);
        assert!(c.pod_service_account(None, "dev").is_err());
        // Context settings beat the general ones, and the task's.
        let c = cfg(&["kubernetes:\n  remote_identity: a\n  context_configs:\n    ctx:\n      remote_identity: b\n"]);
        assert_eq!(c.pod_service_account(Some(&task), "ctx").unwrap().name, "b");
    }

    #[test]
    fn fnmatchcase_is_pythons() {
        for (name, pat, want) in [
            ("prod-eks", "prod-*", true),
            ("Prod-eks", "prod-*", false),
            ("a", "{a,b}", false),
            ("{a,b}", "{a,b}", true),
            ("ctx1", "ctx[0-9]", true),
            ("ctxa", "ctx[!a]", false),
            ("ctx", "c?x", true),
            ("x[", "x[", true),
            ("", "*", true),
        ] {
            assert_eq!(fnmatchcase(name, pat), want, "{name} {pat}");
        }
    }

    #[test]
    fn task_buckets_from_file_mounts() {
        let t = "file_mounts:\n  /s3/data:\n    source: s3://my-bucket/\n    mode: MOUNT_CACHED\n  /x: s3://other/path\n  /y: gs://nope\n  /z:\n    source: [s3://my-bucket/a, s3://third]\n";
        assert_eq!(
            task_buckets(Path::new("t"), t).unwrap(),
            vec!["my-bucket", "other", "third"]
        );
        assert!(task_buckets(Path::new("t"), "run: echo").unwrap().is_empty());
    }

    proptest::proptest! {
        /// The reader never panics, whatever the file holds, and lookups on what it read never panic either.
        #[test]
        fn reader_never_panics(text in "[ -~\n\t]{0,200}", ctx in "[a-z*?-]{0,12}") {
            if let Ok(v) = parse_yaml(Path::new("f"), &text) {
                let c = SkyConfig {
                    layers: vec![Layer { path: PathBuf::from("f"), role: "user", value: v.clone() }],
                    errors: vec![], rejections: vec![],
            duplicates: vec![], searched: vec![], user_file: PathBuf::from("f"),
                };
                let _ = c.aws_remote_identity();
                let _ = c.kubernetes_namespace(&ctx);
                let _ = c.pod_service_account(Some(&v), &ctx);
                let _ = c.launch_contexts(std::slice::from_ref(&ctx), Some(&ctx));
            }
            let _ = task(Path::new("t"), &text);
        }

        /// Structured YAML-ish input: keys SkyPilot reads, with values of every shape.
        #[test]
        fn shaped_configs_never_panic(
            key in proptest::sample::select(vec!["remote_identity", "namespace", "pod_config", "active_workspace", "workspaces"]),
            value in proptest::sample::select(vec!["NO_UPLOAD", "[a, b]", "{x: 1}", "- '*': NO_UPLOAD", "null", "", "1", "[{'*': sa}]"]),
        ) {
            for section in ["aws", "kubernetes", "workspaces"] {
                let text = format!("{section}:\n  {key}: {value}\n");
                if let Ok(v) = parse_yaml(Path::new("f"), &text) {
                    let c = SkyConfig {
                        layers: vec![Layer { path: PathBuf::from("f"), role: "user", value: v }],
                        errors: vec![], rejections: vec![],
            duplicates: vec![], searched: vec![], user_file: PathBuf::from("f"),
                    };
                    let _ = c.aws_remote_identity();
                    let _ = c.pod_service_account(None, "ctx");
                let _ = c.kubernetes_namespace("ctx");
                }
            }
        }
    }
}
