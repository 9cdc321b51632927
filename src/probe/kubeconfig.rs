//! Reading the kubeconfig (KUBECONFIG honoured, files merged as kubectl does) without contacting anything.

use kube::config::{Kubeconfig, KubeconfigError};

/// A kubeconfig that was found and parsed.
#[derive(Debug, Clone)]
pub struct LoadedKubeconfig {
    raw: Kubeconfig,
}

/// What a kube context says about the cluster it points at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextInfo {
    /// Context name.
    pub name: String,
    /// API server URL of the context's cluster.
    pub server: Option<String>,
    /// The context's namespace.
    pub namespace: Option<String>,
    /// EKS cluster name, when the context names it (ARN-style name, or `aws eks get-token` arguments).
    pub eks_cluster: Option<String>,
    /// AWS region, when the context names it.
    pub eks_region: Option<String>,
}

impl LoadedKubeconfig {
    /// Loads `$KUBECONFIG` (all its files) or `~/.kube/config`. `Ok(None)` when neither exists.
    pub fn load() -> Result<Option<LoadedKubeconfig>, String> {
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        LoadedKubeconfig::load_with(std::env::var_os("KUBECONFIG").as_deref(), home.as_deref())
    }

    /// Loads the kubeconfig as kubectl does (client-go's loading rules), given `$KUBECONFIG` and `$HOME`:
    ///
    /// - `KUBECONFIG` lists files (empty entries ignored); a file that does not exist is skipped, as kubectl
    ///   does, so a list naming only missing files is no kubeconfig; without `KUBECONFIG`, `~/.kube/config`;
    /// - maps (clusters, users, contexts) merge first-wins by name;
    /// - `current-context` comes from the first file that sets a non-empty one: kubectl itself writes
    ///   `current-context: ""`, and such a file must not hide the next one's. kube-rs's own merge takes the first
    ///   `Some`, empty or not, hence this loader over kube-rs's types.
    ///
    /// Errors name the file and, for YAML errors, only the line and column: kube-rs's message quotes the file's
    /// lines, which may hold `client-key-data` or a token.
    pub fn load_with(
        kubeconfig: Option<&std::ffi::OsStr>,
        home: Option<&std::path::Path>,
    ) -> Result<Option<LoadedKubeconfig>, String> {
        let paths: Vec<std::path::PathBuf> = match kubeconfig {
            Some(v) => std::env::split_paths(v).filter(|p| !p.as_os_str().is_empty()).collect(),
            None => vec![],
        };
        let explicit = !paths.is_empty();
        let paths = if explicit {
            paths
        } else {
            match home {
                Some(h) => vec![h.join(".kube").join("config")],
                None => return Ok(None),
            }
        };
        let mut merged: Option<Kubeconfig> = None;
        for path in &paths {
            if !path.exists() {
                continue;
            }
            let mut raw = Kubeconfig::read_from(path).map_err(|e| read_error(path, &e))?;
            raw.current_context = raw.current_context.filter(|c| !c.is_empty());
            merged = Some(match merged {
                None => raw,
                Some(m) => m.merge(raw).map_err(|e| read_error(path, &e))?,
            });
        }
        Ok(merged.map(|raw| LoadedKubeconfig { raw }))
    }

    /// Parses one kubeconfig document (for tests and tools that hold the text already).
    pub fn from_yaml(text: &str) -> Result<LoadedKubeconfig, String> {
        Kubeconfig::from_yaml(text)
            .map(|raw| LoadedKubeconfig { raw })
            .map_err(|e| read_error(std::path::Path::new("<text>"), &e))
    }

    /// A kubeconfig with nothing in it.
    pub fn empty() -> LoadedKubeconfig {
        LoadedKubeconfig {
            raw: Kubeconfig::default(),
        }
    }

    /// The parsed kubeconfig.
    pub fn raw(&self) -> &Kubeconfig {
        &self.raw
    }

    /// The current-context, if set.
    pub fn current_context(&self) -> Option<&str> {
        self.raw.current_context.as_deref().filter(|c| !c.is_empty())
    }

    /// Names of all contexts.
    pub fn context_names(&self) -> Vec<String> {
        self.raw.contexts.iter().map(|c| c.name.clone()).collect()
    }

    /// What the named context says; `None` if there is no such context.
    pub fn context(&self, name: &str) -> Option<ContextInfo> {
        let ctx = self.raw.contexts.iter().find(|c| c.name == name)?;
        let inner = ctx.context.as_ref();
        let cluster_name = inner.map(|c| c.cluster.clone()).unwrap_or_default();
        let server = self
            .raw
            .clusters
            .iter()
            .find(|c| c.name == cluster_name)
            .and_then(|c| c.cluster.as_ref())
            .and_then(|c| c.server.clone());
        let exec = inner
            .and_then(|c| c.user.as_ref())
            .and_then(|u| self.raw.auth_infos.iter().find(|a| &a.name == u))
            .and_then(|a| a.auth_info.as_ref())
            .and_then(|a| a.exec.as_ref());
        let exec_args: Vec<String> = exec.and_then(|e| e.args.clone()).unwrap_or_default();
        // The exec plugin's own environment may name the region (`env: [{name: AWS_REGION, value: ...}]`).
        let env_region = exec.and_then(|e| e.env.as_ref()).and_then(|env| {
            ["AWS_REGION", "AWS_DEFAULT_REGION"].iter().find_map(|k| {
                env.iter()
                    .find(|m| m.get("name").is_some_and(|n| n == k))
                    .and_then(|m| m.get("value"))
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            })
        });
        let from_arn = parse_eks_arn(name)
            .or_else(|| parse_eks_arn(&cluster_name))
            .or_else(|| parse_eksctl_name(&cluster_name))
            .or_else(|| parse_eksctl_name(name));
        let (arg_cluster, mut arg_region) = parse_exec_args(&exec_args);
        arg_region = arg_region.or(env_region);
        Some(ContextInfo {
            name: name.to_string(),
            server,
            namespace: inner.and_then(|c| c.namespace.clone()).filter(|n| !n.is_empty()),
            eks_cluster: arg_cluster.or_else(|| from_arn.as_ref().map(|a| a.1.clone())),
            eks_region: arg_region.or_else(|| from_arn.map(|a| a.0)),
        })
    }
}

/// One line naming the file and what is wrong, never the file's content: a YAML error keeps only its position.
fn read_error(path: &std::path::Path, e: &KubeconfigError) -> String {
    match e {
        KubeconfigError::Parse(inner) => {
            let text = inner.to_string();
            let position = regex::Regex::new(r"line (\d+),? column (\d+)")
                .ok()
                .and_then(|re| {
                    re.captures(&text)
                        .map(|c| format!(" (line {}, column {})", &c[1], &c[2]))
                })
                .unwrap_or_default();
            format!("kubeconfig {} is not a valid kubeconfig{position}", path.display())
        }
        KubeconfigError::ReadConfig(io, _) => format!("cannot read kubeconfig {}: {io}", path.display()),
        KubeconfigError::KindMismatch | KubeconfigError::ApiVersionMismatch => {
            format!(
                "kubeconfig {} does not merge with the files before it: {e}",
                path.display()
            )
        }
        other => {
            // Other variants carry no file content; keep their first line only.
            let first = other.to_string().lines().next().unwrap_or_default().to_string();
            format!("kubeconfig {}: {first}", path.display())
        }
    }
}

/// `arn:<partition>:eks:<region>:<account>:cluster/<name>` -> (region, name).
pub fn parse_eks_arn(s: &str) -> Option<(String, String)> {
    let mut parts = s.splitn(6, ':');
    let (arn, _partition, service, region, _account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if arn != "arn" || service != "eks" || region.is_empty() {
        return None;
    }
    let name = resource.strip_prefix("cluster/")?;
    (!name.is_empty()).then(|| (region.to_string(), name.to_string()))
}

/// eksctl's names: cluster `NAME.REGION.eksctl.io`, context `USER@NAME.REGION.eksctl.io` -> (region, name).
pub fn parse_eksctl_name(s: &str) -> Option<(String, String)> {
    let host = s.rsplit_once('@').map(|(_, h)| h).unwrap_or(s);
    let rest = host.strip_suffix(".eksctl.io")?;
    let (name, region) = rest.rsplit_once('.')?;
    // Regions look like `eu-west-2`, `us-gov-west-1`, `cn-north-1`.
    let looks_like_region = region.split('-').count() >= 3 && region.ends_with(|c: char| c.is_ascii_digit());
    (looks_like_region && !name.is_empty()).then(|| (region.to_string(), name.to_string()))
}

/// The cluster name and region in `aws eks get-token` (or aws-iam-authenticator) arguments.
pub fn parse_exec_args(args: &[String]) -> (Option<String>, Option<String>) {
    let mut cluster = None;
    let mut region = None;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let slot = match flag {
            "--cluster-name" | "--cluster-id" | "-i" => &mut cluster,
            "--region" => &mut region,
            _ => continue,
        };
        let value = inline.or_else(|| it.next().cloned());
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            *slot = Some(v);
        }
    }
    (cluster, region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eks_arn() {
        assert_eq!(
            parse_eks_arn("arn:aws:eks:us-west-2:123456789012:cluster/prod"),
            Some(("us-west-2".into(), "prod".into()))
        );
        assert_eq!(
            parse_eks_arn("arn:aws-cn:eks:cn-north-1:123456789012:cluster/x"),
            Some(("cn-north-1".into(), "x".into()))
        );
        assert_eq!(parse_eks_arn("my-context"), None);
        assert_eq!(parse_eks_arn("arn:aws:iam::123456789012:role/x"), None);
    }

    #[test]
    fn eksctl_names() {
        assert_eq!(
            parse_eksctl_name("alice@prod.eu-west-2.eksctl.io"),
            Some(("eu-west-2".into(), "prod".into()))
        );
        assert_eq!(
            parse_eksctl_name("my.dotted.cluster.us-gov-west-1.eksctl.io"),
            Some(("us-gov-west-1".into(), "my.dotted.cluster".into()))
        );
        assert_eq!(parse_eksctl_name("prod.eksctl.io"), None);
        assert_eq!(parse_eksctl_name("prod.example.com"), None);
    }

    #[test]
    fn region_from_eksctl_names_and_exec_env() {
        let kc = LoadedKubeconfig::from_yaml(
            "apiVersion: v1
kind: Config
clusters:
- name: prod.eu-west-2.eksctl.io
  cluster: {server: https://x}
contexts:
- name: alice@prod.eu-west-2.eksctl.io
  context: {cluster: prod.eu-west-2.eksctl.io, user: e}
- name: plain
  context: {cluster: prod.eu-west-2.eksctl.io, user: p}
users:
- name: e
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token, --cluster-name, prod]}
- name: p
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token, --cluster-name, other]
      env: [{name: AWS_REGION, value: ap-south-1}]
",
        )
        .unwrap();
        let c = kc.context("alice@prod.eu-west-2.eksctl.io").unwrap();
        assert_eq!(
            (c.eks_cluster.as_deref(), c.eks_region.as_deref()),
            (Some("prod"), Some("eu-west-2"))
        );
        let c = kc.context("plain").unwrap();
        assert_eq!(
            (c.eks_cluster.as_deref(), c.eks_region.as_deref()),
            (Some("other"), Some("ap-south-1"))
        );
    }

    #[test]
    fn exec_args() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_exec_args(&v(&[
                "--region",
                "eu-west-1",
                "eks",
                "get-token",
                "--cluster-name",
                "c1"
            ])),
            (Some("c1".into()), Some("eu-west-1".into()))
        );
        assert_eq!(
            parse_exec_args(&v(&["eks", "get-token", "--cluster-name=c2", "--region=us-east-2"])),
            (Some("c2".into()), Some("us-east-2".into()))
        );
        assert_eq!(parse_exec_args(&v(&["token", "-i", "c3"])), (Some("c3".into()), None));
        assert_eq!(parse_exec_args(&v(&["--cluster-name"])), (None, None));
    }
}
