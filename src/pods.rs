//! SkyPilot's pods: which ones to look at, and which SkyPilot cluster each belongs to.

use crate::probe::{Facts, PodInfo, ProbeError};
use crate::target::Resolved;

/// The label every SkyPilot pod carries.
pub const SELECTOR: &str = "parent=skypilot";

/// The SkyPilot cluster name of a pod, as the user knows it (for `sky down NAME`): the annotation
/// `skypilot-cluster-name` holds the original name; the labels hold `name_on_cloud`.
pub fn sky_cluster(p: &PodInfo) -> String {
    p.annotations
        .get("skypilot-cluster-name")
        .or_else(|| p.labels.get("skypilot-cluster-name"))
        .or_else(|| p.labels.get("skypilot-cluster"))
        .cloned()
        .unwrap_or_else(|| p.name.trim_end_matches("-head").to_string())
}

/// Whether a pod belongs to the SkyPilot cluster `name` (original name, or name_on_cloud = lower-cased name plus
/// `-<8 hex>`).
pub fn belongs_to(p: &PodInfo, name: &str) -> bool {
    let on_cloud = |v: &String| {
        v == name
            || v.strip_prefix(&format!("{}-", name.to_lowercase()))
                .is_some_and(|h| h.len() == 8 && h.chars().all(|c| c.is_ascii_hexdigit()))
    };
    p.annotations.get("skypilot-cluster-name").is_some_and(|v| v == name)
        || p.labels.get("skypilot-cluster-name").is_some_and(on_cloud)
        || p.labels.get("skypilot-cluster").is_some_and(on_cloud)
}

/// The running SkyPilot pods in the namespace (of `--sky-cluster` only, when given), by name.
pub async fn running(t: &Resolved, facts: &Facts) -> Result<Vec<PodInfo>, ProbeError> {
    let mut pods: Vec<PodInfo> = facts
        .pods(&t.namespace, SELECTOR)
        .await?
        .into_iter()
        .filter(|p| p.phase == "Running")
        .filter(|p| t.sky_cluster.as_deref().is_none_or(|c| belongs_to(p, c)))
        .collect();
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(pods)
}

/// What "no pods" means, for the skip message.
pub fn none_message(t: &Resolved) -> String {
    match &t.sky_cluster {
        Some(c) => format!("no running pods of SkyPilot cluster {c} in namespace {}", t.namespace),
        None => format!(
            "no running SkyPilot pods (label {SELECTOR}) in namespace {}",
            t.namespace
        ),
    }
}
