//! The real Kubernetes side of the probe layer, over kube-rs. Only get/list calls.

use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::{Api, Client, Config, config::KubeConfigOptions};
use tokio::sync::OnceCell;

use super::kubeconfig::LoadedKubeconfig;
use super::{DaemonSetInfo, ErrorKind, KubeApi, ProbeError, ServiceAccountInfo};

/// A client for one kube context, built on first use (building may run an exec credential plugin).
pub struct KubeClient {
    kubeconfig: LoadedKubeconfig,
    context: String,
    timeout: Duration,
    client: OnceCell<Result<Client, ProbeError>>,
}

impl KubeClient {
    /// A client for `context` of the loaded kubeconfig; nothing is contacted yet.
    pub fn new(kubeconfig: LoadedKubeconfig, context: String, timeout: Duration) -> KubeClient {
        KubeClient {
            kubeconfig,
            context,
            timeout,
            client: OnceCell::new(),
        }
    }

    async fn client(&self, op: &str) -> Result<Client, ProbeError> {
        self.client
            .get_or_init(|| async {
                let opts = KubeConfigOptions {
                    context: Some(self.context.clone()),
                    cluster: None,
                    user: None,
                };
                let mut config = Config::from_custom_kubeconfig(self.kubeconfig.raw().clone(), &opts)
                    .await
                    .map_err(|e| {
                        ProbeError::new(
                            "kubeconfig",
                            ErrorKind::NoCredentials,
                            None,
                            format!("cannot load kube context {}: {e}", self.context),
                        )
                    })?;
                config.connect_timeout = Some(self.timeout.min(Duration::from_secs(5)));
                config.read_timeout = Some(self.timeout);
                config.write_timeout = Some(self.timeout);
                Client::try_from(config).map_err(|e| map_err("kubeconfig", e))
            })
            .await
            .clone()
            .map_err(|mut e| {
                e.op = op.to_string();
                e
            })
    }
}

/// Maps a kube-rs error to a [`ProbeError`].
fn map_err(op: &str, err: kube::Error) -> ProbeError {
    match err {
        kube::Error::Api(status) => {
            let kind = match status.code {
                401 => ErrorKind::CredentialsRejected,
                403 => ErrorKind::AccessDenied,
                404 => ErrorKind::NotFound,
                429 => ErrorKind::Throttled,
                504 => ErrorKind::Timeout,
                _ => ErrorKind::Other,
            };
            let reason = if status.reason.is_empty() {
                status.code.to_string()
            } else {
                status.reason.clone()
            };
            ProbeError::new(op, kind, Some(reason.clone()), format!("{reason}: {}", status.message))
        }
        kube::Error::Auth(e) => ProbeError::new(
            op,
            ErrorKind::NoCredentials,
            None,
            format!("kube credentials could not be loaded: {e}"),
        ),
        other => {
            let text = chain(&other);
            let lower = text.to_ascii_lowercase();
            let kind = if lower.contains("timed out") || lower.contains("elapsed") || lower.contains("timeout") {
                ErrorKind::Timeout
            } else if matches!(other, kube::Error::HyperError(_) | kube::Error::Service(_)) {
                ErrorKind::Unreachable
            } else {
                ErrorKind::Other
            };
            ProbeError::new(op, kind, None, text)
        }
    }
}

fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}

#[async_trait]
impl KubeApi for KubeClient {
    async fn server_version(&self) -> Result<String, ProbeError> {
        const OP: &str = "get /version";
        let client = self.client(OP).await?;
        let info = client.apiserver_version().await.map_err(|e| map_err(OP, e))?;
        Ok(info.git_version)
    }

    async fn get_namespace(&self, name: &str) -> Result<(), ProbeError> {
        const OP: &str = "get namespaces";
        let client = self.client(OP).await?;
        Api::<Namespace>::all(client)
            .get(name)
            .await
            .map_err(|e| map_err(OP, e))?;
        Ok(())
    }

    async fn get_service_account(&self, namespace: &str, name: &str) -> Result<ServiceAccountInfo, ProbeError> {
        const OP: &str = "get serviceaccounts";
        let client = self.client(OP).await?;
        let sa = Api::<ServiceAccount>::namespaced(client, namespace)
            .get(name)
            .await
            .map_err(|e| map_err(OP, e))?;
        Ok(ServiceAccountInfo {
            namespace: namespace.to_string(),
            name: name.to_string(),
            annotations: sa.metadata.annotations.unwrap_or_default().into_iter().collect(),
        })
    }

    async fn get_daemonset(&self, namespace: &str, name: &str) -> Result<DaemonSetInfo, ProbeError> {
        const OP: &str = "get daemonsets";
        let client = self.client(OP).await?;
        let ds = Api::<DaemonSet>::namespaced(client, namespace)
            .get(name)
            .await
            .map_err(|e| map_err(OP, e))?;
        let status = ds.status.unwrap_or_default();
        Ok(DaemonSetInfo {
            desired: status.desired_number_scheduled,
            ready: status.number_ready,
        })
    }
}
