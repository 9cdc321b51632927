//! Resolving what to check: flags, then the guide's environment variables, then what the user's setup already
//! states (an EKS kube context, a task file, SkyPilot's config), then defaults. Every value records its source.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::{DoctorArgs, Mode};
use crate::probe::kubeconfig::{ContextInfo, LoadedKubeconfig};
use crate::sky::{ConfigPaths, SkyConfig};

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

/// The doctor's inputs as the user gave them (flags and env vars already merged by the CLI).
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `--cluster` / `EKS_CLUSTER_NAME`.
    pub cluster: Option<Input>,
    /// `--region` / `AWS_REGION`.
    pub region: Option<Input>,
    /// `--context` / `KUBE_CONTEXT`.
    pub context: Option<Input>,
    /// `--bucket` / `S3_BUCKET`.
    pub bucket: Option<Input>,
    /// `--namespace` / `K8S_NAMESPACE`.
    pub namespace: Option<Input>,
    /// `--service-account` / `K8S_SERVICE_ACCOUNT`.
    pub service_account: Option<Input>,
    /// `--role-name` / `IAM_ROLE_NAME`.
    pub role_name: Option<Input>,
    /// `--policy-name` / `IAM_POLICY_NAME`.
    pub policy_name: Option<Input>,
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
    /// Requested mode.
    pub mode: Mode,
    /// SkyPilot's layered config.
    pub sky: SkyConfig,
    /// The `config:` block of `--task`, if any.
    pub task_config: Option<serde_json::Value>,
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
            mode: self.mode.as_str().to_string(),
            sources: self.sources.clone(),
        }
    }
}

fn flag_source(name: &str, env: &str, given: Given) -> String {
    match given {
        Given::Flag => format!("flag --{name}"),
        Given::Env => format!("env {env}"),
    }
}

/// Resolves the target. `profile_region` is consulted only when nothing else names the region.
pub async fn resolve<F, Fut>(args: &DoctorArgs, inputs: &Inputs, profile_region: F) -> Result<Resolved, InputError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    let mut sources = BTreeMap::new();
    let mut missing: Vec<&str> = Vec::new();
    let mut take = |key: &str, flag: &str, env: &str, input: &Option<Input>| -> Option<String> {
        input.as_ref().map(|i| {
            sources.insert(key.to_string(), flag_source(flag, env, i.given));
            i.value.clone()
        })
    };
    let cluster = take("cluster", "cluster", "EKS_CLUSTER_NAME", &inputs.cluster);
    let region = take("region", "region", "AWS_REGION", &inputs.region);
    let context = take("context", "context", "KUBE_CONTEXT", &inputs.context);
    let bucket = take("bucket", "bucket", "S3_BUCKET", &inputs.bucket);
    let namespace = take("namespace", "namespace", "K8S_NAMESPACE", &inputs.namespace);
    let service_account = take(
        "service_account",
        "service-account",
        "K8S_SERVICE_ACCOUNT",
        &inputs.service_account,
    );
    let role_name = take("role_name", "role-name", "IAM_ROLE_NAME", &inputs.role_name);
    let policy_name = take("policy_name", "policy-name", "IAM_POLICY_NAME", &inputs.policy_name);

    // Kube context: flag/env, else the kubeconfig's current context.
    let kubeconfig = LoadedKubeconfig::load().map_err(InputError)?;
    let (context, context_info, kubeconfig) = match (context, kubeconfig) {
        (Some(name), Some(kc)) => {
            let info = kc.context(&name).ok_or_else(|| {
                InputError(format!(
                    "unknown kube context {name:?} (the kubeconfig has: {})",
                    list_or_none(&kc.context_names())
                ))
            })?;
            (name, info, kc)
        }
        (Some(name), None) => {
            return Err(InputError(format!(
                "unknown kube context {name:?}: no kubeconfig found (KUBECONFIG or ~/.kube/config)"
            )));
        }
        (None, Some(kc)) => match kc.current_context().map(str::to_string) {
            Some(name) => {
                let info = kc.context(&name).ok_or_else(|| {
                    InputError(format!(
                        "the kubeconfig's current-context {name:?} is not one of its contexts"
                    ))
                })?;
                sources.insert("context".into(), "kubeconfig current-context".into());
                (name, info, kc)
            }
            None if args.offline => (String::new(), ContextInfo::default(), kc),
            None => {
                return Err(InputError(
                    "no kube context: set --context or KUBE_CONTEXT (the kubeconfig has no current-context)".into(),
                ));
            }
        },
        (None, None) if args.offline => (String::new(), ContextInfo::default(), LoadedKubeconfig::empty()),
        (None, None) => {
            return Err(InputError(
                "no kubeconfig found (KUBECONFIG or ~/.kube/config): run `aws eks update-kubeconfig --name <cluster> --region <region>`, or set KUBECONFIG".into(),
            ));
        }
    };

    let cluster = cluster.or_else(|| {
        context_info.eks_cluster.clone().inspect(|_| {
            sources.insert("cluster".into(), "kube context".into());
        })
    });
    let region = match region.or_else(|| {
        context_info.eks_region.clone().inspect(|_| {
            sources.insert("region".into(), "kube context".into());
        })
    }) {
        Some(r) => Some(r),
        None => profile_region().await.inspect(|_| {
            sources.insert("region".into(), "aws profile".into());
        }),
    };

    // Bucket: flag/env, else the task's s3:// file_mounts.
    let task = match &args.task {
        Some(path) => Some(read_task(path)?),
        None => None,
    };
    let bucket = match (bucket, &task, &args.task) {
        (Some(b), _, _) => Some(b),
        (None, Some(task), Some(path)) => match task.buckets.as_slice() {
            [] => None,
            [one] => {
                sources.insert("bucket".into(), format!("task {}", path.display()));
                Some(one.clone())
            }
            many => {
                return Err(InputError(format!(
                    "task {} mounts several S3 buckets ({}): pick one with --bucket",
                    path.display(),
                    many.join(", ")
                )));
            }
        },
        _ => None,
    };

    // SkyPilot config: an explicitly named file must be readable.
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let paths = ConfigPaths::discover(args.sky_config.as_deref(), home.as_deref(), &cwd);
    let sky = SkyConfig::load(&paths).map_err(InputError)?;

    let namespace = namespace
        .or_else(|| {
            sky.kubernetes_namespace().inspect(|_| {
                sources.insert("namespace".into(), "skypilot config kubernetes.namespace".into());
            })
        })
        .or_else(|| {
            context_info.namespace.clone().inspect(|_| {
                sources.insert("namespace".into(), "kube context".into());
            })
        })
        .unwrap_or_else(|| {
            sources.insert("namespace".into(), "default".into());
            "default".into()
        });
    let service_account = service_account.unwrap_or_else(|| {
        sources.insert("service_account".into(), "default".into());
        DEFAULT_SERVICE_ACCOUNT.into()
    });

    if cluster.is_none() {
        missing.push("cluster (--cluster or EKS_CLUSTER_NAME; or use an EKS kube context)");
    }
    if region.is_none() {
        missing.push("region (--region or AWS_REGION; or an AWS profile with a region)");
    }
    if bucket.is_none() {
        missing.push("bucket (--bucket or S3_BUCKET; or --task with an s3:// file_mount)");
    }
    // Offline, only the SkyPilot config is read: what is missing stays empty.
    let (cluster, region, bucket) = if args.offline {
        (
            cluster.or(Some(String::new())),
            region.or(Some(String::new())),
            bucket.or(Some(String::new())),
        )
    } else {
        (cluster, region, bucket)
    };
    let (Some(cluster), Some(region), Some(bucket)) = (cluster, region, bucket) else {
        return Err(InputError(format!("missing input: {}", missing.join("; "))));
    };
    let role_name = role_name.unwrap_or_else(|| {
        sources.insert("role_name".into(), "default (SkyPilotS3Role-<bucket>)".into());
        if bucket.is_empty() {
            String::new()
        } else {
            format!("SkyPilotS3Role-{bucket}")
        }
    });
    let policy_name = policy_name.unwrap_or_else(|| {
        sources.insert("policy_name".into(), "default (SkyPilotS3Access-<bucket>)".into());
        if bucket.is_empty() {
            String::new()
        } else {
            format!("SkyPilotS3Access-{bucket}")
        }
    });
    sources.insert(
        "mode".into(),
        if args.mode == Mode::Auto {
            "default"
        } else {
            "flag --mode"
        }
        .into(),
    );

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
        mode: args.mode,
        sky,
        task_config: task.and_then(|t| t.config),
        sky_cluster: args.sky_cluster.clone(),
        no_exec: args.no_exec,
        sources,
    })
}

fn read_task(task: &Path) -> Result<crate::sky::Task, InputError> {
    let text = std::fs::read_to_string(task)
        .map_err(|e| InputError(format!("cannot read task file {}: {e}", task.display())))?;
    crate::sky::task(task, &text).map_err(|e| {
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
