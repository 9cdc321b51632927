//! Memoized facts: every probe call happens at most once per run, however many checks ask for it.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::{
    AwsApi, CallerIdentity, ClusterInfo, ErrorKind, KubeApi, ProbeError, ServiceAccountInfo,
};

type Cell<V> = Arc<OnceCell<Result<V, ProbeError>>>;

/// A per-key once-cell map: concurrent askers of the same key share one call.
pub struct Memo<K, V> {
    cells: Mutex<HashMap<K, Cell<V>>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Default for Memo<K, V> {
    fn default() -> Self {
        Memo {
            cells: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Memo<K, V> {
    /// The value for `key`, calling `f` only if no one has yet.
    pub async fn get<F, Fut>(&self, key: K, f: F) -> Result<V, ProbeError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, ProbeError>>,
    {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
            cells.entry(key).or_default().clone()
        };
        cell.get_or_init(f).await.clone()
    }
}

/// The probe layer as the checks see it.
pub struct Facts {
    aws: Option<Arc<dyn AwsApi>>,
    kube: Option<Arc<dyn KubeApi>>,
    identity: Memo<(), CallerIdentity>,
    clusters: Memo<String, ClusterInfo>,
    version: Memo<(), String>,
    namespaces: Memo<String, ()>,
    service_accounts: Memo<(String, String), ServiceAccountInfo>,
}

impl Facts {
    /// Facts over the given APIs; `None` where that side is not available (no kube context, offline).
    pub fn new(aws: Option<Arc<dyn AwsApi>>, kube: Option<Arc<dyn KubeApi>>) -> Facts {
        Facts {
            aws,
            kube,
            identity: Memo::default(),
            clusters: Memo::default(),
            version: Memo::default(),
            namespaces: Memo::default(),
            service_accounts: Memo::default(),
        }
    }

    fn aws(&self, op: &str) -> Result<&Arc<dyn AwsApi>, ProbeError> {
        self.aws.as_ref().ok_or_else(|| {
            ProbeError::new(
                op,
                ErrorKind::Unreachable,
                None,
                "AWS access is not configured for this run",
            )
        })
    }

    fn kube(&self, op: &str) -> Result<&Arc<dyn KubeApi>, ProbeError> {
        self.kube.as_ref().ok_or_else(|| {
            ProbeError::new(
                op,
                ErrorKind::Unreachable,
                None,
                "no kube context is configured",
            )
        })
    }

    /// STS caller identity.
    pub async fn caller_identity(&self) -> Result<CallerIdentity, ProbeError> {
        let aws = self.aws("sts:GetCallerIdentity")?;
        self.identity.get((), || aws.get_caller_identity()).await
    }

    /// EKS DescribeCluster.
    pub async fn cluster(&self, name: &str) -> Result<ClusterInfo, ProbeError> {
        let aws = self.aws("eks:DescribeCluster")?;
        self.clusters
            .get(name.to_string(), || aws.describe_cluster(name))
            .await
    }

    /// Kubernetes server version.
    pub async fn server_version(&self) -> Result<String, ProbeError> {
        let kube = self.kube("get /version")?;
        self.version.get((), || kube.server_version()).await
    }

    /// Namespace existence.
    pub async fn namespace(&self, name: &str) -> Result<(), ProbeError> {
        let kube = self.kube("get namespaces")?;
        self.namespaces
            .get(name.to_string(), || kube.get_namespace(name))
            .await
    }

    /// A service account.
    pub async fn service_account(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<ServiceAccountInfo, ProbeError> {
        let kube = self.kube("get serviceaccounts")?;
        self.service_accounts
            .get((namespace.to_string(), name.to_string()), || {
                kube.get_service_account(namespace, name)
            })
            .await
    }
}
