//! Resolving what to check: flags, then the guide's environment variables, then what the user's setup already
//! states (an EKS kube context, a task file, SkyPilot's config), then defaults. Every value records its source.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::probe::kubeconfig::{ContextInfo, LoadedKubeconfig};
use crate::sky::{ConfigPaths, SkyConfig};
use crate::wiring::Wiring;

/// SkyPilot's default service account name.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "skypilot-service-account";

/// A usage or input error: exit code 2, one line on stderr.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Where a flag's value came from: the command line or its environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Given {
    /// `--flag`.
    Flag,
    /// The flag's environment variable.
    Env,
}

/// A value the user gave, with its origin.
#[derive(Debug, Clone)]
pub struct Input {
    /// The value.
    pub value: String,
    /// Flag or env.
    pub given: Given,
}

/// A target input the user gives by flag or by the environment variable the guide has them export. One table for
/// the command line (clap takes each flag's variable from here), resolution (each value's source label) and the
/// docs ([`inputs_markdown`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    /// EKS cluster name.
    Cluster,
    /// AWS region of the cluster.
    Region,
    /// Kube context.
    Context,
    /// S3 bucket.
    Bucket,
    /// Namespace of SkyPilot's pods.
    Namespace,
    /// Service account the role is wired to.
    ServiceAccount,
    /// IAM role name.
    RoleName,
    /// IAM policy name.
    PolicyName,
}

impl Field {
    /// Every input, in report order.
    pub const ALL: [Field; 8] = [
        Field::Cluster,
        Field::Region,
        Field::Context,
        Field::Bucket,
        Field::Namespace,
        Field::ServiceAccount,
        Field::RoleName,
        Field::PolicyName,
    ];

    /// The name in reports (`target.sources`), templates (`{role_name}`) and clap's argument ids.
    pub const fn key(self) -> &'static str {
        match self {
            Field::Cluster => "cluster",
            Field::Region => "region",
            Field::Context => "context",
            Field::Bucket => "bucket",
            Field::Namespace => "namespace",
            Field::ServiceAccount => "service_account",
            Field::RoleName => "role_name",
            Field::PolicyName => "policy_name",
        }
    }

    /// The long flag, without `--`.
    pub const fn flag(self) -> &'static str {
        match self {
            Field::ServiceAccount => "service-account",
            Field::RoleName => "role-name",
            Field::PolicyName => "policy-name",
            other => other.key(),
        }
    }

    /// The environment variable: the guide's name for the value.
    pub const fn env(self) -> &'static str {
        match self {
            Field::Cluster => "EKS_CLUSTER_NAME",
            Field::Region => "AWS_REGION",
            Field::Context => "KUBE_CONTEXT",
            Field::Bucket => "S3_BUCKET",
            Field::Namespace => "K8S_NAMESPACE",
            Field::ServiceAccount => "K8S_SERVICE_ACCOUNT",
            Field::RoleName => "IAM_ROLE_NAME",
            Field::PolicyName => "IAM_POLICY_NAME",
        }
    }

    /// Where the value comes from when neither flag nor variable gives it, in resolution order.
    pub const fn default(self) -> &'static str {
        match self {
            Field::Cluster => "the kube context's EKS cluster (an `aws eks update-kubeconfig` context)",
            Field::Region => "the kube context's EKS region, else `AWS_DEFAULT_REGION`, else the AWS profile's region",
            Field::Context => "the kubeconfig's current context",
            Field::Bucket => "the one `s3://` file_mount of `--task`",
            Field::Namespace => "SkyPilot's `kubernetes.namespace`, else the kube context's namespace, else `default`",
            Field::ServiceAccount => "`skypilot-service-account`",
            Field::RoleName => "`SkyPilotS3Role-<bucket>` (the guide's)",
            Field::PolicyName => "`SkyPilotS3Access-<bucket>` (the guide's)",
        }
    }

    /// `--flag or VARIABLE`, for messages.
    pub fn either(self) -> String {
        format!("--{} or {}", self.flag(), self.env())
    }

    /// The source label of a value given by flag or variable: `flag --cluster`, `env EKS_CLUSTER_NAME`.
    pub fn source(self, given: Given) -> String {
        match given {
            Given::Flag => format!("flag --{}", self.flag()),
            Given::Env => format!("env {}", self.env()),
        }
    }
}

/// The inputs table as Markdown, for the docs (kept in sync by a test).
pub fn inputs_markdown() -> String {
    let mut out = String::from("| flag | environment variable | when neither is given |\n|---|---|---|\n");
    for f in Field::ALL {
        out.push_str(&format!("| `--{}` | `{}` | {} |\n", f.flag(), f.env(), f.default()));
    }
    out
}

/// The doctor's inputs as the user gave them (flags and env vars already merged by the CLI), one per [`Field`].
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// [`Field::Cluster`].
    pub cluster: Option<Input>,
    /// [`Field::Region`].
    pub region: Option<Input>,
    /// [`Field::Context`].
    pub context: Option<Input>,
    /// [`Field::Bucket`].
    pub bucket: Option<Input>,
    /// [`Field::Namespace`].
    pub namespace: Option<Input>,
    /// [`Field::ServiceAccount`].
    pub service_account: Option<Input>,
    /// [`Field::RoleName`].
    pub role_name: Option<Input>,
    /// [`Field::PolicyName`].
    pub policy_name: Option<Input>,
}

impl Inputs {
    /// The input for `field`.
    pub fn get_mut(&mut self, field: Field) -> &mut Option<Input> {
        match field {
            Field::Cluster => &mut self.cluster,
            Field::Region => &mut self.region,
            Field::Context => &mut self.context,
            Field::Bucket => &mut self.bucket,
            Field::Namespace => &mut self.namespace,
            Field::ServiceAccount => &mut self.service_account,
            Field::RoleName => &mut self.role_name,
            Field::PolicyName => &mut self.policy_name,
        }
    }
}

/// Everything resolved for a run.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// EKS cluster name.
    pub cluster: String,
    /// AWS region.
    pub region: String,
    /// Kube context name.
    pub context: String,
    /// What the kube context says.
    pub context_info: ContextInfo,
    /// The kubeconfig it came from.
    pub kubeconfig: LoadedKubeconfig,
    /// Namespace.
    pub namespace: String,
    /// Service account.
    pub service_account: String,
    /// Bucket.
    pub bucket: String,
    /// IAM role name.
    pub role_name: String,
    /// IAM policy name.
    pub policy_name: String,
    /// The wiring forced with `--mode`; `None` to detect it.
    pub mode: Option<Wiring>,
    /// SkyPilot's layered config.
    pub sky: SkyConfig,
    /// The `config:` block of `--task`, if any.
    pub task_config: Option<serde_json::Value>,
    /// The S3 storage mounts of `--task`, with their modes.
    pub task_mounts: Vec<crate::sky::S3Mount>,
    /// `--sky-cluster`.
    pub sky_cluster: Option<String>,
    /// `--no-exec`.
    pub no_exec: bool,
    /// Source of each value.
    pub sources: BTreeMap<String, String>,
}

impl Resolved {
    /// The named inputs, in report order: the template values every remediation can use.
    pub fn fields(&self) -> [(&'static str, &String); 8] {
        [
            ("cluster", &self.cluster),
            ("region", &self.region),
            ("context", &self.context),
            ("namespace", &self.namespace),
            ("service_account", &self.service_account),
            ("bucket", &self.bucket),
            ("role_name", &self.role_name),
            ("policy_name", &self.policy_name),
        ]
    }

    /// The report's view of the target (empty values, as `--offline` leaves them, are absent).
    pub fn to_target(&self) -> crate::report::Target {
        let some = |v: &String| (!v.is_empty()).then(|| v.clone());
        crate::report::Target {
            cluster: some(&self.cluster),
            region: some(&self.region),
            context: some(&self.context),
            namespace: some(&self.namespace),
            service_account: some(&self.service_account),
            bucket: some(&self.bucket),
            role_name: some(&self.role_name),
            policy_name: some(&self.policy_name),
            mode: self.mode.map(Wiring::as_str).unwrap_or("auto").to_string(),
            sources: self.sources.clone(),
        }
    }
}

/// What the user asked for: the inputs and the options that shape resolution. Free of any CLI library, so the
/// doctor can be driven (and resolution tested) without a command line.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Flags and environment variables.
    pub inputs: Inputs,
    /// `--mode`: a forced wiring, or `None` to detect it.
    pub mode: Option<Wiring>,
    /// `--sky-config`.
    pub sky_config: Option<PathBuf>,
    /// `--task`.
    pub task: Option<PathBuf>,
    /// `--sky-cluster`.
    pub sky_cluster: Option<String>,
    /// `--no-exec`.
    pub no_exec: bool,
    /// `--offline`: only the SkyPilot config is read; missing AWS and cluster inputs stay empty.
    pub offline: bool,
}

/// The local files resolution reads: the kubeconfig and where SkyPilot's config files are.
#[derive(Debug, Clone)]
pub struct Local {
    /// The kubeconfig (`$KUBECONFIG` or `~/.kube/config`), `None` when there is none.
    pub kubeconfig: Option<LoadedKubeconfig>,
    /// SkyPilot's config files.
    pub sky_paths: ConfigPaths,
}

impl Local {
    /// Reads the machine's kubeconfig and finds SkyPilot's config files as SkyPilot would (`HOME`, the working
    /// directory, the `SKYPILOT_*` variables).
    pub fn discover(req: &Request) -> Result<Local, InputError> {
        let kubeconfig = LoadedKubeconfig::load().map_err(InputError)?;
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let sky_paths = ConfigPaths::discover(req.sky_config.as_deref(), home.as_deref(), &cwd);
        Ok(Local { kubeconfig, sky_paths })
    }
}

/// Records where each resolved value came from.
#[derive(Debug, Default)]
struct Sources(BTreeMap<String, String>);

impl Sources {
    fn set(&mut self, key: &str, source: impl Into<String>) {
        self.0.insert(key.to_string(), source.into());
    }

    /// The value the user gave for `field` (flag or env), recording its origin.
    fn given(&mut self, field: Field, input: &Option<Input>) -> Option<String> {
        input.as_ref().map(|i| {
            self.set(field.key(), field.source(i.given));
            i.value.clone()
        })
    }
}

/// Resolves the target from the request and the local files. `profile_region` is consulted only when nothing else
/// names the region.
pub async fn resolve<F, Fut>(req: &Request, local: Local, profile_region: F) -> Result<Resolved, InputError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Option<(String, String)>>,
{
    let inputs = &req.inputs;
    let mut sources = Sources::default();
    let cluster = sources.given(Field::Cluster, &inputs.cluster);
    let region = sources.given(Field::Region, &inputs.region);
    let context = sources.given(Field::Context, &inputs.context);
    let bucket = sources.given(Field::Bucket, &inputs.bucket);
    let namespace = sources.given(Field::Namespace, &inputs.namespace);
    let service_account = sources.given(Field::ServiceAccount, &inputs.service_account);
    let role_name = sources.given(Field::RoleName, &inputs.role_name);
    let policy_name = sources.given(Field::PolicyName, &inputs.policy_name);

    let (context, context_info, kubeconfig) = pick_context(context, local.kubeconfig, req.offline, &mut sources)?;

    let cluster = cluster.or_else(|| {
        context_info
            .eks_cluster
            .clone()
            .inspect(|_| sources.set("cluster", "kube context"))
    });
    let region = match region.or_else(|| {
        context_info
            .eks_region
            .clone()
            .inspect(|_| sources.set("region", "kube context"))
    }) {
        Some(r) => Some(r),
        None => profile_region().await.map(|(region, source)| {
            sources.set("region", source);
            region
        }),
    };

    let task = match &req.task {
        Some(path) => Some((path, read_task(path)?)),
        None => None,
    };
    let bucket = match bucket {
        Some(b) => Some(b),
        None => bucket_from_task(task.as_ref().map(|(p, t)| (p.as_path(), t)), &mut sources)?,
    };

    let sky = SkyConfig::load(&local.sky_paths).map_err(InputError)?;
    let namespace = namespace
        .or_else(|| {
            sky.kubernetes_namespace(&context).map(|(ns, key)| {
                sources.set("namespace", format!("skypilot config {key}"));
                ns
            })
        })
        .or_else(|| {
            context_info
                .namespace
                .clone()
                .inspect(|_| sources.set("namespace", "kube context"))
        })
        .unwrap_or_else(|| {
            sources.set("namespace", "default");
            "default".into()
        });
    let service_account = service_account.unwrap_or_else(|| {
        sources.set("service_account", "default");
        DEFAULT_SERVICE_ACCOUNT.into()
    });

    let (cluster, region, bucket) = require_inputs(cluster, region, bucket, req.offline)?;
    let role_name = role_name.unwrap_or_else(|| {
        sources.set("role_name", "default (SkyPilotS3Role-<bucket>)");
        guide_name("SkyPilotS3Role-", &bucket)
    });
    let policy_name = policy_name.unwrap_or_else(|| {
        sources.set("policy_name", "default (SkyPilotS3Access-<bucket>)");
        guide_name("SkyPilotS3Access-", &bucket)
    });
    sources.set("mode", if req.mode.is_some() { "flag --mode" } else { "default" });

    Ok(Resolved {
        cluster,
        region,
        context,
        context_info,
        kubeconfig,
        namespace,
        service_account,
        bucket,
        role_name,
        policy_name,
        mode: req.mode,
        sky,
        task_mounts: task.as_ref().map(|(_, t)| t.s3_mounts.clone()).unwrap_or_default(),
        task_config: task.and_then(|(_, t)| t.config),
        sky_cluster: req.sky_cluster.clone(),
        no_exec: req.no_exec,
        sources: sources.0,
    })
}

/// Whether a `--context` value is a glob (`*`, `?`, `[...]`, as SkyPilot's fnmatch reads them).
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// The kube contexts of a run over several targets: those matching `patterns` (names or globs), and with
/// `all_contexts` every context SkyPilot may launch on (`kubernetes.allowed_contexts`, else the current one).
/// Contexts that name no EKS cluster cannot be checked; they come back as skipped, with the reason. An unknown
/// name, a glob matching nothing, or nothing left to check is an input error.
pub fn select_contexts(
    local: &Local,
    patterns: &[String],
    all_contexts: bool,
) -> Result<(Vec<String>, Vec<crate::report::SkippedContext>), InputError> {
    let kc = local.kubeconfig.as_ref().ok_or_else(|| {
        InputError("no kubeconfig found (KUBECONFIG or ~/.kube/config): there are no contexts to check".into())
    })?;
    let names = kc.context_names();
    let mut selected: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !selected.iter().any(|s| s == name) {
            selected.push(name.to_string());
        }
    };
    for p in patterns {
        if is_glob(p) {
            let matched: Vec<&String> = names.iter().filter(|n| crate::sky::fnmatchcase(n, p)).collect();
            if matched.is_empty() {
                return Err(InputError(format!(
                    "no kube context matches {p:?} (the kubeconfig has: {})",
                    list_or_none(&names)
                )));
            }
            matched.into_iter().for_each(|n| add(n));
        } else if names.iter().any(|n| n == p) {
            add(p);
        } else {
            return Err(InputError(format!(
                "unknown kube context {p:?} (the kubeconfig has: {})",
                list_or_none(&names)
            )));
        }
    }
    if all_contexts {
        let sky = SkyConfig::load(&local.sky_paths).map_err(InputError)?;
        let (launch, _) = sky.launch_contexts(&names, kc.current_context());
        if launch.is_empty() {
            return Err(InputError(
                "SkyPilot launches on no context here: kubernetes.allowed_contexts names none of the kubeconfig's \
                 contexts, or there is no current context"
                    .into(),
            ));
        }
        launch.iter().for_each(|n| add(n));
    }
    let mut checked = Vec::new();
    let mut skipped = Vec::new();
    for name in selected {
        match kc.context(&name) {
            Some(info) if info.eks_cluster.is_some() => checked.push(name),
            _ => skipped.push(crate::report::SkippedContext {
                context: name,
                reason: "it names no EKS cluster: neither a cluster ARN nor `aws eks get-token --cluster-name` in \
                         its exec arguments"
                    .into(),
            }),
        }
    }
    if checked.is_empty() {
        return Err(InputError(format!(
            "none of the selected contexts names an EKS cluster: {}",
            skipped
                .iter()
                .map(|s| s.context.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok((checked, skipped))
}

/// The request for one context of a run over several: the context given, and the cluster and region its own
/// (a cluster or region from the environment, `EKS_CLUSTER_NAME` or `AWS_REGION` as the guide exports them, names
/// one cluster and must not be applied to all; the region stays the fallback of a context that names none).
pub fn request_for_context(req: &Request, local: &Local, context: &str) -> Request {
    let info = local
        .kubeconfig
        .as_ref()
        .and_then(|kc| kc.context(context))
        .unwrap_or_default();
    let mut r = req.clone();
    r.inputs.context = Some(Input {
        value: context.to_string(),
        given: Given::Flag,
    });
    r.inputs.cluster = None;
    if info.eks_region.is_some() {
        r.inputs.region = None;
    }
    r
}

/// The kube context: the one given, else the kubeconfig's current context. Offline, none is needed.
fn pick_context(
    given: Option<String>,
    kubeconfig: Option<LoadedKubeconfig>,
    offline: bool,
    sources: &mut Sources,
) -> Result<(String, ContextInfo, LoadedKubeconfig), InputError> {
    match (given, kubeconfig) {
        (Some(name), Some(kc)) => {
            let info = kc.context(&name).ok_or_else(|| {
                InputError(format!(
                    "unknown kube context {name:?} (the kubeconfig has: {})",
                    list_or_none(&kc.context_names())
                ))
            })?;
            Ok((name, info, kc))
        }
        (Some(name), None) => Err(InputError(format!(
            "unknown kube context {name:?}: no kubeconfig found (KUBECONFIG or ~/.kube/config)"
        ))),
        (None, Some(kc)) => match kc.current_context().map(str::to_string) {
            Some(name) => {
                let info = kc.context(&name).ok_or_else(|| {
                    InputError(format!(
                        "the kubeconfig's current-context {name:?} is not one of its contexts"
                    ))
                })?;
                sources.set("context", "kubeconfig current-context");
                Ok((name, info, kc))
            }
            None if offline => Ok((String::new(), ContextInfo::default(), kc)),
            None => Err(InputError(
                format!(
                    "no kube context: set {} (the kubeconfig has no current-context)",
                    Field::Context.either()
                ),
            )),
        },
        (None, None) if offline => Ok((String::new(), ContextInfo::default(), LoadedKubeconfig::empty())),
        (None, None) => Err(InputError(
            "no kubeconfig found (KUBECONFIG or ~/.kube/config): run `aws eks update-kubeconfig --name <cluster> --region <region>`, or set KUBECONFIG".into(),
        )),
    }
}

/// The bucket of the task's one s3:// file_mount; several are ambiguous.
fn bucket_from_task(
    task: Option<(&Path, &crate::sky::Task)>,
    sources: &mut Sources,
) -> Result<Option<String>, InputError> {
    let Some((path, task)) = task else { return Ok(None) };
    match task.buckets.as_slice() {
        [] => Ok(None),
        [one] => {
            sources.set("bucket", format!("task {}", path.display()));
            Ok(Some(one.clone()))
        }
        many => Err(InputError(format!(
            "task {} mounts several S3 buckets ({}): pick one with --bucket",
            path.display(),
            many.join(", ")
        ))),
    }
}

/// Cluster, region and bucket, or one error naming every missing one. Offline they may stay empty.
fn require_inputs(
    cluster: Option<String>,
    region: Option<String>,
    bucket: Option<String>,
    offline: bool,
) -> Result<(String, String, String), InputError> {
    if offline {
        return Ok((
            cluster.unwrap_or_default(),
            region.unwrap_or_default(),
            bucket.unwrap_or_default(),
        ));
    }
    match (cluster, region, bucket) {
        (Some(c), Some(r), Some(b)) => Ok((c, r, b)),
        (c, r, b) => {
            let missing: Vec<String> = [
                (c.is_none(), Field::Cluster, "or use an EKS kube context"),
                (r.is_none(), Field::Region, "or an AWS profile with a region"),
                (b.is_none(), Field::Bucket, "or --task with an s3:// file_mount"),
            ]
            .into_iter()
            .filter(|(missing, ..)| *missing)
            .map(|(_, f, or)| format!("{} ({}; {or})", f.key(), f.either()))
            .collect();
            Err(InputError(format!("missing input: {}", missing.join("; "))))
        }
    }
}

/// The guide's default role and policy names: `<prefix><bucket>`; empty without a bucket (offline).
fn guide_name(prefix: &str, bucket: &str) -> String {
    if bucket.is_empty() {
        String::new()
    } else {
        format!("{prefix}{bucket}")
    }
}

fn read_task(task: &Path) -> Result<crate::sky::Task, InputError> {
    let text = std::fs::read_to_string(task)
        .map_err(|e| InputError(format!("cannot read task file {}: {e}", task.display())))?;
    crate::sky::task(task, &text).map_err(|e| {
        // A repeated key is valid YAML that SkyPilot refuses in a task: said as SkyPilot says it.
        if e.message.starts_with("Duplicate key") {
            return InputError(format!("SkyPilot refuses task file {}: {}", task.display(), e.message));
        }
        InputError(format!(
            "task file {} is not valid YAML (line {}, column {}): {}",
            task.display(),
            e.line,
            e.column,
            e.message
        ))
    })
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "no contexts".into()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: arn:aws:eks:eu-west-1:123456789012:cluster/prod
  cluster: {server: https://ABC.gr7.eu-west-1.eks.amazonaws.com}
- name: plain
  cluster: {server: https://10.0.0.1}
contexts:
- name: arn:aws:eks:eu-west-1:123456789012:cluster/prod
  context: {cluster: arn:aws:eks:eu-west-1:123456789012:cluster/prod, user: u, namespace: ml}
- name: plain
  context: {cluster: plain, user: u}
current-context: arn:aws:eks:eu-west-1:123456789012:cluster/prod
users:
- name: u
  user: {token: t}
";

    fn env(v: &str) -> Option<Input> {
        Some(Input {
            value: v.into(),
            given: Given::Env,
        })
    }

    fn flag(v: &str) -> Option<Input> {
        Some(Input {
            value: v.into(),
            given: Given::Flag,
        })
    }

    struct Setup {
        dir: tempfile::TempDir,
    }

    impl Setup {
        fn new(sky_config: Option<&str>) -> Setup {
            let dir = tempfile::tempdir().unwrap();
            if let Some(c) = sky_config {
                std::fs::write(dir.path().join("config.yaml"), c).unwrap();
            }
            Setup { dir }
        }

        fn local(&self, kubeconfig: Option<&str>) -> Local {
            let user = self.dir.path().join("config.yaml");
            Local {
                kubeconfig: kubeconfig.map(|k| LoadedKubeconfig::from_yaml(k).unwrap()),
                sky_paths: ConfigPaths {
                    files: vec![(user.clone(), "user"), (self.dir.path().join(".sky.yaml"), "project")],
                    user_file: user,
                    explicit: false,
                },
            }
        }

        fn resolve(&self, req: &Request, kubeconfig: Option<&str>) -> Result<Resolved, InputError> {
            let local = self.local(kubeconfig);
            futures::executor::block_on(resolve(req, local, || async {
                Some((
                    "us-east-2".to_string(),
                    "profile default in the aws config file".to_string(),
                ))
            }))
        }
    }

    #[test]
    fn an_eks_context_names_cluster_region_and_namespace() {
        let s = Setup::new(None);
        let req = Request {
            inputs: Inputs {
                bucket: env("b"),
                ..Inputs::default()
            },
            ..Request::default()
        };
        let r = s.resolve(&req, Some(KUBECONFIG)).unwrap();
        assert_eq!((r.cluster.as_str(), r.region.as_str()), ("prod", "eu-west-1"));
        assert_eq!(r.namespace, "ml");
        assert_eq!(r.service_account, DEFAULT_SERVICE_ACCOUNT);
        assert_eq!(
            (r.role_name.as_str(), r.policy_name.as_str()),
            ("SkyPilotS3Role-b", "SkyPilotS3Access-b")
        );
        assert_eq!(r.mode, None);
        let src = |k: &str| r.sources.get(k).map(String::as_str);
        assert_eq!(src("cluster"), Some("kube context"));
        assert_eq!(src("region"), Some("kube context"));
        assert_eq!(src("context"), Some("kubeconfig current-context"));
        assert_eq!(src("bucket"), Some("env S3_BUCKET"));
        assert_eq!(src("namespace"), Some("kube context"));
        assert_eq!(src("role_name"), Some("default (SkyPilotS3Role-<bucket>)"));
        assert_eq!(src("mode"), Some("default"));
    }

    #[test]
    fn given_values_win_and_skypilot_names_the_namespace() {
        let s = Setup::new(Some("kubernetes:\n  namespace: sky-ns\n"));
        let req = Request {
            inputs: Inputs {
                cluster: flag("c"),
                region: env("us-west-2"),
                context: flag("plain"),
                bucket: env("b"),
                role_name: flag("R"),
                ..Inputs::default()
            },
            mode: Some(Wiring::Irsa),
            ..Request::default()
        };
        let r = s.resolve(&req, Some(KUBECONFIG)).unwrap();
        assert_eq!(
            (r.cluster.as_str(), r.region.as_str(), r.context.as_str()),
            ("c", "us-west-2", "plain")
        );
        assert_eq!(r.namespace, "sky-ns");
        assert_eq!(r.role_name, "R");
        assert_eq!(r.sources["cluster"], "flag --cluster");
        assert_eq!(r.sources["region"], "env AWS_REGION");
        assert!(
            r.sources["namespace"].starts_with("skypilot config kubernetes.namespace in "),
            "{}",
            r.sources["namespace"]
        );
        assert_eq!(r.sources["mode"], "flag --mode");
        assert_eq!(r.mode, Some(Wiring::Irsa));
    }

    #[test]
    fn the_profile_region_is_the_last_resort() {
        let s = Setup::new(None);
        let req = Request {
            inputs: Inputs {
                cluster: flag("c"),
                context: flag("plain"),
                bucket: flag("b"),
                ..Inputs::default()
            },
            ..Request::default()
        };
        let r = s.resolve(&req, Some(KUBECONFIG)).unwrap();
        assert_eq!(r.region, "us-east-2");
        assert_eq!(r.sources["region"], "profile default in the aws config file");
        assert_eq!(r.namespace, "default");
    }

    #[test]
    fn input_errors_name_what_is_missing_or_wrong() {
        let s = Setup::new(None);
        let req = Request {
            inputs: Inputs {
                context: flag("plain"),
                ..Inputs::default()
            },
            ..Request::default()
        };
        let e = s.resolve(&req, Some(KUBECONFIG)).unwrap_err().0;
        assert!(e.starts_with("missing input: cluster (--cluster"), "{e}");
        assert!(e.contains("bucket (--bucket") && !e.contains("region"), "{e}");

        let req = Request {
            inputs: Inputs {
                context: flag("nope"),
                ..Inputs::default()
            },
            ..Request::default()
        };
        let e = s.resolve(&req, Some(KUBECONFIG)).unwrap_err().0;
        assert!(
            e.contains("unknown kube context \"nope\"") && e.contains("plain"),
            "{e}"
        );
        let e = s.resolve(&Request::default(), None).unwrap_err().0;
        assert!(e.starts_with("no kubeconfig found"), "{e}");

        std::fs::write(
            s.dir.path().join("task.yaml"),
            "file_mounts:\n  /a: s3://one/\n  /b: s3://two/x\n",
        )
        .unwrap();
        let req = Request {
            inputs: Inputs {
                cluster: flag("c"),
                ..Inputs::default()
            },
            task: Some(s.dir.path().join("task.yaml")),
            ..Request::default()
        };
        let e = s.resolve(&req, Some(KUBECONFIG)).unwrap_err().0;
        assert!(e.contains("several S3 buckets (one, two)"), "{e}");
    }

    #[test]
    fn offline_needs_no_cluster_side_input() {
        let s = Setup::new(Some("aws:\n  remote_identity: NO_UPLOAD\n"));
        let req = Request {
            offline: true,
            ..Request::default()
        };
        let r = s.resolve(&req, None).unwrap();
        assert_eq!(
            (r.cluster.as_str(), r.bucket.as_str(), r.role_name.as_str()),
            ("", "", "")
        );
        assert_eq!(r.region, "us-east-2", "the profile's region is still read");
    }
}
