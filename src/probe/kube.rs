//! The real Kubernetes side of the probe layer, over kube-rs. Only get/list calls.

use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{AttachParams, ListParams};
use kube::{Api, Client, Config, config::KubeConfigOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::OnceCell;

use super::kubeconfig::LoadedKubeconfig;
use crate::probe::ApiCall;

use super::{
    CallLog, DaemonSetInfo, EgressRule, ErrorKind, ExecOutput, INJECTED_ENV, KubeApi, NetworkPolicyInfo, NodeInfo, Op,
    PodInfo, ProbeError, ServiceAccountInfo,
};

/// A client for one kube context, built on first use (building may run an exec credential plugin).
pub struct KubeClient {
    kubeconfig: LoadedKubeconfig,
    context: String,
    timeout: Duration,
    client: OnceCell<Result<Client, ProbeError>>,
    log: CallLog,
}

impl KubeClient {
    /// A client for `context` of the loaded kubeconfig; nothing is contacted yet.
    pub fn new(kubeconfig: LoadedKubeconfig, context: String, timeout: Duration, log: CallLog) -> KubeClient {
        KubeClient {
            kubeconfig,
            context,
            timeout,
            client: OnceCell::new(),
            log,
        }
    }

    /// Runs a call, retrying throttling (HTTP 429) twice with a short backoff, and records each attempt in the
    /// evidence trail. (kube-rs' own retry layer is off: it backs off for minutes, past any deadline.)
    async fn timed<T, F, Fut>(&self, op: Op, call: F) -> Result<T, ProbeError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ProbeError>>,
    {
        let mut backoff = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match self.attempt(op, call()).await {
                Err(e) if e.kind == ErrorKind::Throttled && attempt < 3 => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn attempt<T>(&self, op: Op, call: impl Future<Output = Result<T, ProbeError>>) -> Result<T, ProbeError> {
        let started = std::time::Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "ok".to_string(),
            Err(e) => e.code.clone().unwrap_or_else(|| format!("{:?}", e.kind)),
        };
        self.log.push(ApiCall {
            service: "kube".into(),
            operation: op.to_string(),
            outcome,
            request_id: None,
            duration_ms: started.elapsed().as_millis() as u64,
        });
        result
    }

    /// Builds the client (kubeconfig, TLS roots) without contacting anything, so the first request does not pay
    /// for it. Errors are kept for the first real call to report.
    pub async fn prepare(&self) {
        let _ = self.client(Op::KubeVersion).await;
    }

    async fn client(&self, op: Op) -> Result<Client, ProbeError> {
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
                            op,
                            ErrorKind::NoCredentials,
                            None,
                            format!("cannot load kube context {}: {e}", self.context),
                        )
                    })?;
                config.connect_timeout = Some(self.timeout.min(Duration::from_secs(5)));
                config.read_timeout = Some(self.timeout);
                config.write_timeout = Some(self.timeout);
                config.default_retry = false;
                Client::try_from(config).map_err(|e| map_err(op, e))
            })
            .await
            .clone()
            .map_err(|mut e| {
                e.op = op;
                e
            })
    }
}

/// Maps a kube-rs error to a [`ProbeError`].
fn map_err(op: Op, err: kube::Error) -> ProbeError {
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

/// The calls themselves; the [`KubeApi`] impl below times and records each.
impl KubeClient {
    async fn server_version_inner(&self) -> Result<String, ProbeError> {
        const OP: Op = Op::KubeVersion;
        let client = self.client(OP).await?;
        let info = client.apiserver_version().await.map_err(|e| map_err(OP, e))?;
        Ok(info.git_version)
    }

    async fn get_namespace_inner(&self, name: &str) -> Result<(), ProbeError> {
        const OP: Op = Op::GetNamespace;
        let client = self.client(OP).await?;
        Api::<Namespace>::all(client)
            .get(name)
            .await
            .map_err(|e| map_err(OP, e))?;
        Ok(())
    }

    async fn get_service_account_inner(&self, namespace: &str, name: &str) -> Result<ServiceAccountInfo, ProbeError> {
        const OP: Op = Op::GetServiceAccount;
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

    async fn get_daemonset_inner(&self, namespace: &str, name: &str) -> Result<DaemonSetInfo, ProbeError> {
        const OP: Op = Op::GetDaemonSet;
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

    async fn list_network_policies_inner(&self, namespace: &str) -> Result<Vec<NetworkPolicyInfo>, ProbeError> {
        const OP: Op = Op::ListNetworkPolicies;
        let client = self.client(OP).await?;
        let list = Api::<NetworkPolicy>::namespaced(client, namespace)
            .list(&ListParams::default())
            .await
            .map_err(|e| map_err(OP, e))?;
        Ok(list.items.into_iter().map(network_policy_info).collect())
    }

    async fn get_node_inner(&self, name: &str) -> Result<NodeInfo, ProbeError> {
        const OP: Op = Op::GetNode;
        let client = self.client(OP).await?;
        let node = Api::<Node>::all(client).get(name).await.map_err(|e| map_err(OP, e))?;
        Ok(NodeInfo {
            name: name.to_string(),
            labels: node.metadata.labels.unwrap_or_default().into_iter().collect(),
        })
    }

    async fn list_pods_inner(&self, namespace: &str, selector: &str) -> Result<Vec<PodInfo>, ProbeError> {
        const OP: Op = Op::ListPods;
        let client = self.client(OP).await?;
        let list = Api::<Pod>::namespaced(client, namespace)
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(|e| map_err(OP, e))?;
        Ok(list.items.into_iter().map(pod_info).collect())
    }

    async fn exec_inner(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        command: &[String],
        input: &[u8],
        limit: usize,
    ) -> Result<ExecOutput, ProbeError> {
        const OP: Op = Op::Exec;
        let client = self.client(OP).await?;
        let mut params = AttachParams::default()
            .stdin(!input.is_empty())
            .stdout(true)
            .stderr(true);
        if let Some(c) = container {
            params = params.container(c);
        }
        let run = async {
            let mut proc = Api::<Pod>::namespaced(client, namespace)
                .exec(pod, command.to_vec(), &params)
                .await
                .map_err(|e| map_err(OP, e))?;
            let (stdout, stderr, writer) = (proc.stdout(), proc.stderr(), proc.stdin());
            let status = proc.take_status();
            // The writer stays open until the command ends: on a v4 connection (API servers before 1.30) closing
            // stdin closes the whole WebSocket, output included; the probe knows its end by its last line.
            let feed = async move {
                let mut writer = writer;
                if let Some(w) = writer.as_mut() {
                    let _ = w.write_all(input).await;
                    let _ = w.flush().await;
                }
                writer
            };
            let (stdout, stderr, writer) = tokio::join!(read_limited(stdout, limit), read_limited(stderr, limit), feed);
            let status = match status {
                Some(s) => s.await,
                None => None,
            };
            drop(writer);
            let exit_code = status.as_ref().and_then(|s| match s.status.as_deref() {
                Some("Success") => Some(0),
                _ => s
                    .details
                    .as_ref()
                    .and_then(|d| d.causes.as_ref())
                    .and_then(|c| c.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
                    .and_then(|c| c.message.as_deref())
                    .and_then(|m| m.parse().ok()),
            });
            if let Some(s) = status
                .as_ref()
                .filter(|s| exit_code.is_none() && s.status.as_deref() != Some("Success"))
            {
                return Err(ProbeError::new(
                    OP,
                    ErrorKind::Other,
                    s.reason.clone(),
                    format!("exec failed: {}", s.message.clone().unwrap_or_default()),
                ));
            }
            Ok(ExecOutput {
                stdout,
                stderr,
                exit_code,
            })
        };
        tokio::time::timeout(self.timeout, run).await.unwrap_or_else(|_| {
            Err(ProbeError::new(
                OP,
                ErrorKind::Timeout,
                None,
                format!("exec in pod {pod} did not finish in {}s", self.timeout.as_secs()),
            ))
        })
    }
}

#[async_trait]
impl KubeApi for KubeClient {
    async fn server_version(&self) -> Result<String, ProbeError> {
        self.timed(Op::KubeVersion, || self.server_version_inner()).await
    }

    async fn get_namespace(&self, name: &str) -> Result<(), ProbeError> {
        self.timed(Op::GetNamespace, || self.get_namespace_inner(name)).await
    }

    async fn get_service_account(&self, namespace: &str, name: &str) -> Result<ServiceAccountInfo, ProbeError> {
        self.timed(Op::GetServiceAccount, || {
            self.get_service_account_inner(namespace, name)
        })
        .await
    }

    async fn get_node(&self, name: &str) -> Result<NodeInfo, ProbeError> {
        self.timed(Op::GetNode, || self.get_node_inner(name)).await
    }

    async fn list_network_policies(&self, namespace: &str) -> Result<Vec<NetworkPolicyInfo>, ProbeError> {
        self.timed(Op::ListNetworkPolicies, || self.list_network_policies_inner(namespace))
            .await
    }

    async fn get_daemonset(&self, namespace: &str, name: &str) -> Result<DaemonSetInfo, ProbeError> {
        self.timed(Op::GetDaemonSet, || self.get_daemonset_inner(namespace, name))
            .await
    }

    async fn list_pods(&self, namespace: &str, selector: &str) -> Result<Vec<PodInfo>, ProbeError> {
        self.timed(Op::ListPods, || self.list_pods_inner(namespace, selector))
            .await
    }

    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        command: &[String],
        stdin: &[u8],
        limit: usize,
    ) -> Result<ExecOutput, ProbeError> {
        self.timed(Op::Exec, || {
            self.exec_inner(namespace, pod, container, command, stdin, limit)
        })
        .await
    }
}

/// Reads a stream to its end, keeping at most `limit` bytes (the rest is drained so the exec can finish).
async fn read_limited(stream: Option<impl AsyncRead + Unpin>, limit: usize) -> String {
    let Some(mut stream) = stream else { return String::new() };
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// A NetworkPolicy as the doctor reads it (public so that the lab's in-memory fake reads its policies the same
/// way).
pub fn network_policy_info(np: NetworkPolicy) -> NetworkPolicyInfo {
    let spec = np.spec.unwrap_or_default();
    let selector = spec.pod_selector.unwrap_or_default();
    let restricts_egress = match &spec.policy_types {
        Some(types) => types.iter().any(|t| t == "Egress"),
        None => spec.egress.as_ref().is_some_and(|e| !e.is_empty()),
    };
    let egress = spec
        .egress
        .unwrap_or_default()
        .into_iter()
        .map(|rule| {
            let to = rule.to.unwrap_or_default();
            EgressRule {
                to_all: to.is_empty(),
                ip_blocks: to
                    .into_iter()
                    .filter_map(|peer| peer.ip_block)
                    .map(|b| (b.cidr, b.except.unwrap_or_default()))
                    .collect(),
                ports: rule
                    .ports
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| {
                        let port = p.port.map(|port| match port {
                            IntOrString::Int(n) => n.to_string(),
                            IntOrString::String(s) => s,
                        });
                        (p.protocol.unwrap_or_else(|| "TCP".into()), port, p.end_port)
                    })
                    .collect(),
            }
        })
        .collect();
    NetworkPolicyInfo {
        name: np.metadata.name.unwrap_or_default(),
        match_labels: selector.match_labels.unwrap_or_default().into_iter().collect(),
        match_expressions: selector
            .match_expressions
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.key, e.operator, e.values.unwrap_or_default()))
            .collect(),
        restricts_egress,
        egress,
    }
}

fn pod_info(p: Pod) -> PodInfo {
    let spec = p.spec.unwrap_or_default();
    let main = spec
        .containers
        .iter()
        .find(|c| c.name == "ray-node")
        .or_else(|| spec.containers.first());
    // Only the names AWS injects are read: other values (user secrets) never enter the doctor.
    let aws_env = main
        .and_then(|c| c.env.as_ref())
        .map(|env| {
            env.iter()
                .filter(|e| INJECTED_ENV.contains(&e.name.as_str()))
                .map(|e| {
                    (
                        e.name.clone(),
                        super::env_value(&e.name, e.value.as_deref().unwrap_or_default()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    PodInfo {
        name: p.metadata.name.unwrap_or_default(),
        labels: p.metadata.labels.unwrap_or_default().into_iter().collect(),
        annotations: p.metadata.annotations.unwrap_or_default().into_iter().collect(),
        service_account: spec.service_account_name.clone().unwrap_or_else(|| "default".into()),
        containers: spec.containers.iter().map(|c| c.name.clone()).collect(),
        aws_env,
        created_at: p
            .metadata
            .creation_timestamp
            .map(|t| t.0.as_millisecond() as f64 / 1000.0),
        host_network: spec.host_network.unwrap_or(false),
        node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
        phase: p.status.and_then(|s| s.phase).unwrap_or_default(),
    }
}
