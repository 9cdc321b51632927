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
        match Kubeconfig::from_env() {
            Ok(Some(raw)) => return Ok(Some(LoadedKubeconfig { raw })),
            Ok(None) => {}
            Err(e) => return Err(format!("cannot read KUBECONFIG: {}", describe(&e))),
        }
        let Some(home) = std::env::var_os("HOME") else {
            return Ok(None);
        };
        let path = std::path::Path::new(&home).join(".kube").join("config");
        if !path.exists() {
            return Ok(None);
        }
        Kubeconfig::read_from(&path)
            .map(|raw| Some(LoadedKubeconfig { raw }))
            .map_err(|e| format!("cannot read {}: {}", path.display(), describe(&e)))
    }

    /// Parses one kubeconfig document (for tests and tools that hold the text already).
    pub fn from_yaml(text: &str) -> Result<LoadedKubeconfig, String> {
        Kubeconfig::from_yaml(text)
            .map(|raw| LoadedKubeconfig { raw })
            .map_err(|e| describe(&e))
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
        let exec_args: Vec<String> = inner
            .and_then(|c| c.user.as_ref())
            .and_then(|u| self.raw.auth_infos.iter().find(|a| &a.name == u))
            .and_then(|a| a.auth_info.as_ref())
            .and_then(|a| a.exec.as_ref())
            .and_then(|e| e.args.clone())
            .unwrap_or_default();
        let from_arn = parse_eks_arn(name).or_else(|| parse_eks_arn(&cluster_name));
        let (arg_cluster, arg_region) = parse_exec_args(&exec_args);
        Some(ContextInfo {
            name: name.to_string(),
            server,
            namespace: inner.and_then(|c| c.namespace.clone()).filter(|n| !n.is_empty()),
            eks_cluster: arg_cluster.or_else(|| from_arn.as_ref().map(|a| a.1.clone())),
            eks_region: arg_region.or_else(|| from_arn.map(|a| a.0)),
        })
    }
}

fn describe(e: &KubeconfigError) -> String {
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
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
