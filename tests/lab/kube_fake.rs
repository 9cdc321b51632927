//! A fake Kubernetes API server: the GET endpoints the doctor reads, `Status` errors as the real server sends
//! them, and exec over WebSocket (v5/v4 channel protocol). Every request is recorded; non-GET requests are
//! refused (and show up in the audit).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::scenario::{FaultKind, PodSpec};
use super::{LabState, Recorded};

/// The bearer token the fake accepts.
pub const TOKEN: &str = "lab-token-canary-kube-7f3a";

/// Starts the fake on a free loopback port; returns its URL.
pub async fn serve(state: Arc<LabState>) -> String {
    let app = Router::new().fallback(handle).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code
    });
    (
        StatusCode::from_u16(code).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, [("content-type", "application/json")], v.to_string()).into_response()
}

fn query_pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// (verb, resource) of a request, for the record and for faults.
fn classify(method: &str, seg: &[&str], is_ws: bool) -> (String, String) {
    let resource = match seg {
        ["version"] => "version".to_string(),
        ["api", "v1", "namespaces", _] => "namespaces".into(),
        ["api", "v1", "namespaces", _, r, ..] if seg.len() >= 7 => format!("{r}/{}", seg[6]),
        ["api", "v1", "namespaces", _, r, ..] => r.to_string(),
        ["apis", _, _, "namespaces", _, r, ..] => r.to_string(),
        _ => seg.join("/"),
    };
    let named = matches!(
        seg,
        ["api", "v1", "namespaces", _]
            | ["api", "v1", "namespaces", _, _, _, ..]
            | ["apis", _, _, "namespaces", _, _, _, ..]
            | ["version"]
    );
    let verb = match (method, is_ws) {
        ("GET", true) => "exec",
        ("GET", false) if named => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        (m, _) => return (m.to_lowercase(), resource),
    };
    (verb.to_string(), resource)
}

async fn handle(State(state): State<Arc<LabState>>, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let is_ws = parts
        .headers
        .get("upgrade")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let (verb, resource) = classify(parts.method.as_str(), &seg, is_ws);
    let op = format!("{verb} {resource}");
    state.record(Recorded {
        service: "kube".into(),
        method: parts.method.to_string(),
        op: op.clone(),
        path: if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        },
    });

    let authorized = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"));
    if !authorized {
        return status(401, "Unauthorized", "Unauthorized".into());
    }
    let latency = state.scenario.lock().unwrap().latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if let Some(fault) = state.fault("kube", &resource) {
        match fault {
            FaultKind::Hang(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
            FaultKind::ServerError => {
                return status(500, "InternalError", "injected server error".into());
            }
            FaultKind::Throttle => {
                return status(429, "TooManyRequests", "injected throttling".into());
            }
            FaultKind::AccessDenied => {
                return status(
                    403,
                    "Forbidden",
                    format!("{resource} is forbidden: User \"lab\" cannot {verb} resource \"{resource}\""),
                );
            }
            FaultKind::Code(code, reason) => {
                return status(code, &reason, format!("injected {reason}"));
            }
            FaultKind::Malformed => {
                return (StatusCode::OK, [("content-type", "application/json")], "{not json").into_response();
            }
        }
    }
    if parts.method != http::Method::GET {
        return status(405, "MethodNotAllowed", "the lab's API server is read-only".into());
    }

    let s = state.scenario.lock().unwrap().clone();
    match seg.as_slice() {
        ["version"] => ok(json!({
            "major": "1", "minor": "31", "gitVersion": "v1.31.2-eks-lab", "gitCommit": "0000000",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
            "compiler": "gc", "platform": "linux/amd64"
        })),
        ["api", "v1", "namespaces", ns] => {
            if s.namespaces.iter().any(|n| n == ns) {
                ok(
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "status": {"phase": "Active"}}),
                )
            } else {
                status(404, "NotFound", format!("namespaces \"{ns}\" not found"))
            }
        }
        ["api", "v1", "namespaces", ns, "serviceaccounts", name] => {
            match s
                .service_accounts
                .iter()
                .find(|sa| sa.namespace == *ns && sa.name == *name)
            {
                Some(sa) => ok(json!({
                    "apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": sa.name, "namespace": sa.namespace, "annotations": sa.annotations,
                                 "uid": "00000000-0000-0000-0000-000000000001", "creationTimestamp": "2026-01-01T00:00:00Z"}
                })),
                None => status(404, "NotFound", format!("serviceaccounts \"{name}\" not found")),
            }
        }
        [
            "apis",
            "apps",
            "v1",
            "namespaces",
            "kube-system",
            "daemonsets",
            "eks-pod-identity-agent",
        ] => match s.agent_daemonset {
            Some((desired, ready)) => ok(json!({
                "apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": "eks-pod-identity-agent", "namespace": "kube-system"},
                "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "eks-pod-identity-agent"}},
                         "template": {"metadata": {"labels": {"app.kubernetes.io/name": "eks-pod-identity-agent"}},
                                      "spec": {"containers": [{"name": "eks-pod-identity-agent"}]}}},
                "status": {"currentNumberScheduled": desired, "desiredNumberScheduled": desired,
                           "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready}
            })),
            None => status(
                404,
                "NotFound",
                "daemonsets.apps \"eks-pod-identity-agent\" not found".into(),
            ),
        },
        ["api", "v1", "namespaces", ns, "pods"] => {
            let selector: BTreeMap<String, String> = query_pairs(&query)
                .into_iter()
                .filter(|(k, _)| k == "labelSelector")
                .flat_map(|(_, v)| {
                    v.split(',')
                        .filter_map(|kv| {
                            kv.split_once('=')
                                .map(|(k, v)| (k.trim_end_matches('=').to_string(), v.to_string()))
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            let items: Vec<Value> = s
                .pods
                .iter()
                .filter(|p| p.namespace == *ns)
                .filter(|p| selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
                .map(pod_json)
                .collect();
            ok(json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": items}))
        }
        ["api", "v1", "namespaces", ns, "pods", name] => {
            match s.pods.iter().find(|p| p.namespace == *ns && p.name == *name) {
                Some(p) => ok(pod_json(p)),
                None => status(404, "NotFound", format!("pods \"{name}\" not found")),
            }
        }
        ["api", "v1", "namespaces", ns, "pods", name, "exec"] => {
            let Some(pod) = s.pods.iter().find(|p| p.namespace == *ns && p.name == *name).cloned() else {
                return status(404, "NotFound", format!("pods \"{name}\" not found"));
            };
            let command: Vec<String> = query_pairs(&query)
                .into_iter()
                .filter(|(k, _)| k == "command")
                .map(|(_, v)| v)
                .collect();
            let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
                Ok(ws) => ws,
                Err(e) => return e.into_response(),
            };
            let root = state.root.clone();
            let side = state.pod_side.lock().unwrap().clone();
            ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
                .on_upgrade(move |socket| exec(socket, root, pod, command, side))
        }
        _ => status(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        ),
    }
}

fn pod_json(p: &PodSpec) -> Value {
    let env: Vec<Value> = p.env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels, "annotations": p.annotations,
                     "creationTimestamp": p.created_at, "uid": format!("uid-{}", p.name)},
        "spec": {"serviceAccountName": p.service_account, "hostNetwork": p.host_network,
                 "containers": [{"name": "ray-node", "image": "skypilot/lab:latest", "env": env}]},
        "status": {"phase": p.phase}
    })
}

/// Runs `command` as the pod's container would: locally, with the pod's environment, a HOME of its own, and the
/// lab's stand-in commands first on PATH. Streams stdout (channel 1), stderr (2), then the status (3).
async fn exec(
    mut socket: WebSocket,
    root: std::path::PathBuf,
    pod: PodSpec,
    command: Vec<String>,
    side: Option<super::pod::PodSide>,
) {
    let result = super::pod::run(&root, &pod, &command, side.as_ref()).await;
    let frame = |ch: u8, data: &[u8]| {
        let mut v = Vec::with_capacity(data.len() + 1);
        v.push(ch);
        v.extend_from_slice(data);
        Message::Binary(v.into())
    };
    let status = match result {
        Ok(out) => {
            if !out.stdout.is_empty() {
                let _ = socket.send(frame(1, &out.stdout)).await;
            }
            if !out.stderr.is_empty() {
                let _ = socket.send(frame(2, &out.stderr)).await;
            }
            match out.status.code() {
                Some(0) => json!({"metadata": {}, "status": "Success"}),
                code => json!({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                               "message": format!("command terminated with non-zero exit code: {}", code.unwrap_or(137)),
                               "details": {"causes": [{"reason": "ExitCode", "message": code.unwrap_or(137).to_string()}]}}),
            }
        }
        Err(e) => json!({"metadata": {}, "status": "Failure", "reason": "InternalError",
                         "message": format!("exec failed: {e}")}),
    };
    let _ = socket.send(frame(3, status.to_string().as_bytes())).await;
    let _ = socket.send(Message::Close(None)).await;
}
