//! SkyPilot's client-side configuration and task files, read the way SkyPilot reads them.
//!
//! Layering (SkyPilot 0.14, `sky/skypilot_config.py`): the user file (`$SKYPILOT_GLOBAL_CONFIG` or
//! `~/.sky/config.yaml`), then the project file (`$SKYPILOT_PROJECT_CONFIG` or `./.sky.yaml`) on top. When
//! `$SKYPILOT_CONFIG` (or `--sky-config`) names a file, only that file is read.

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
    /// SkyPilot's own lookup, or only `explicit` when given.
    pub fn discover(explicit: Option<&Path>, home: Option<&Path>, cwd: &Path) -> ConfigPaths {
        let env_path = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(p) = explicit.map(Path::to_path_buf).or_else(|| env_path("SKYPILOT_CONFIG")) {
            return ConfigPaths {
                files: vec![(p.clone(), "explicit")],
                user_file: p,
                explicit: true,
            };
        }
        let user = env_path("SKYPILOT_GLOBAL_CONFIG")
            .unwrap_or_else(|| home.unwrap_or(Path::new("~")).join(".sky").join("config.yaml"));
        let project = env_path("SKYPILOT_PROJECT_CONFIG").unwrap_or_else(|| cwd.join(".sky.yaml"));
        ConfigPaths {
            files: vec![(user.clone(), "user"), (project, "project")],
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
#[derive(Debug, Clone)]
pub struct SkyConfig {
    /// Files that exist and parsed, in layering order.
    pub layers: Vec<Layer>,
    /// Files that exist but did not parse.
    pub errors: Vec<ParseError>,
    /// Every file looked for.
    pub searched: Vec<PathBuf>,
    /// Where a new setting belongs.
    pub user_file: PathBuf,
}

/// Parses YAML into JSON values; an empty document is `null`.
pub fn parse_yaml(file: &Path, text: &str) -> Result<Value, ParseError> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        let message = e.to_string().lines().next().unwrap_or("invalid YAML").to_string();
        ParseError {
            file: file.to_path_buf(),
            line,
            column,
            message,
        }
    })
}

impl SkyConfig {
    /// Reads the files of `paths`. A missing file is skipped unless it was named explicitly (then: `Err`).
    pub fn load(paths: &ConfigPaths) -> Result<SkyConfig, String> {
        let mut cfg = SkyConfig {
            layers: vec![],
            errors: vec![],
            searched: vec![],
            user_file: paths.user_file.clone(),
        };
        for (path, role) in &paths.files {
            cfg.searched.push(path.clone());
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !paths.explicit => continue,
                Err(e) => {
                    return Err(format!("cannot read SkyPilot config {}: {e}", path.display()));
                }
            };
            match parse_yaml(path, &text) {
                Ok(value) => cfg.layers.push(Layer {
                    path: path.clone(),
                    role,
                    value,
                }),
                Err(e) => cfg.errors.push(e),
            }
        }
        Ok(cfg)
    }

    /// The value at `keys` after layering, and the file that set it.
    pub fn get(&self, keys: &[&str]) -> Option<(&Value, &Path)> {
        self.layers
            .iter()
            .rev()
            .find_map(|l| lookup(&l.value, keys).map(|v| (v, l.path.as_path())))
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

    /// `kubernetes.namespace`, if set to a string.
    pub fn kubernetes_namespace(&self) -> Option<String> {
        self.get(&["kubernetes", "namespace"])
            .and_then(|(v, _)| v.as_str())
            .map(str::to_string)
    }
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
}

/// What a `kubernetes.remote_identity` value means for the service account.
fn remote_identity_sa(value: &str) -> String {
    match value {
        "LOCAL_CREDENTIALS" | "SERVICE_ACCOUNT" | "NO_UPLOAD" => DEFAULT_SERVICE_ACCOUNT.to_string(),
        other => other.to_string(),
    }
}

/// Whether a SkyPilot context glob (fnmatch) matches the kube context.
fn glob_matches(pattern: &str, context: &str) -> bool {
    globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher().is_match(context))
        .unwrap_or(pattern == context)
}

impl SkyConfig {
    /// The service account SkyPilot 0.14 puts on its pods for `context`: `kubernetes.pod_config.spec.
    /// serviceAccountName`, else `kubernetes.remote_identity` (string, or context-glob map or list of maps), else
    /// the default. A task's `config:` block (given) overrides the files.
    pub fn pod_service_account(&self, task_config: Option<&Value>, context: &str) -> PodServiceAccount {
        let from_task = |keys: &[&str]| {
            task_config
                .and_then(|t| lookup(t, keys))
                .map(|v| (v, "the task's config".to_string()))
        };
        let from_files = |keys: &[&str]| self.get(keys).map(|(v, p)| (v, p.display().to_string()));
        let pick = |keys: &[&str]| from_task(keys).or_else(|| from_files(keys));

        if let Some((Value::String(name), file)) = pick(&["kubernetes", "pod_config", "spec", "serviceAccountName"]) {
            return PodServiceAccount {
                name: name.clone(),
                source: format!("kubernetes.pod_config.spec.serviceAccountName in {file}"),
            };
        }
        if let Some((value, file)) = pick(&["kubernetes", "remote_identity"]) {
            let source = format!("kubernetes.remote_identity in {file}");
            let entries: Vec<(&String, &Value)> = match value {
                Value::String(s) => {
                    return PodServiceAccount {
                        name: remote_identity_sa(s),
                        source,
                    };
                }
                Value::Object(m) => m.iter().collect(),
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_object)
                    .flat_map(|m| m.iter())
                    .collect(),
                _ => vec![],
            };
            if let Some((glob, v)) = entries.into_iter().find(|(g, _)| glob_matches(g, context))
                && let Some(sa) = v.as_str()
            {
                return PodServiceAccount {
                    name: remote_identity_sa(sa),
                    source: format!("{source} (context glob {glob})"),
                };
            }
            return PodServiceAccount {
                name: DEFAULT_SERVICE_ACCOUNT.into(),
                source: format!("{source} (no context glob matches {context}: default)"),
            };
        }
        PodServiceAccount {
            name: DEFAULT_SERVICE_ACCOUNT.into(),
            source: "default".into(),
        }
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
        assert_eq!(c.pod_service_account(None, "ctx").name, DEFAULT_SERVICE_ACCOUNT);
        let c = cfg(&["kubernetes:\n  remote_identity: my-sa\n"]);
        assert_eq!(c.pod_service_account(None, "ctx").name, "my-sa");
        let c = cfg(&["kubernetes:\n  remote_identity:\n    'prod-*': prod-sa\n    '*': SERVICE_ACCOUNT\n"]);
        assert_eq!(c.pod_service_account(None, "prod-eks").name, "prod-sa");
        assert_eq!(c.pod_service_account(None, "dev").name, DEFAULT_SERVICE_ACCOUNT);
        let c = cfg(&["kubernetes:\n  remote_identity: a\n  pod_config:\n    spec:\n      serviceAccountName: b\n"]);
        assert_eq!(c.pod_service_account(None, "ctx").name, "b");
        let task = parse_yaml(Path::new("t"), "kubernetes:\n  remote_identity: from-task\n").unwrap();
        let c = cfg(&["kubernetes:\n  remote_identity: a\n"]);
        assert_eq!(c.pod_service_account(Some(&task), "ctx").name, "from-task");
        assert_eq!(cfg(&[""]).pod_service_account(None, "ctx").source, "default");
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
                    errors: vec![], searched: vec![], user_file: PathBuf::from("f"),
                };
                let _ = c.aws_remote_identity();
                let _ = c.kubernetes_namespace();
                let _ = c.pod_service_account(Some(&v), &ctx);
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
                        errors: vec![], searched: vec![], user_file: PathBuf::from("f"),
                    };
                    let _ = c.aws_remote_identity();
                    let _ = c.pod_service_account(None, "ctx");
                }
            }
        }
    }
}
