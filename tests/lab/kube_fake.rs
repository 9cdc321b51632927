//! A fake Kubernetes API server: the GET endpoints the doctor reads, `Status` errors as the real server sends
//! them, and exec over WebSocket (v5/v4 channel protocol). Every request is recorded; non-GET requests are
//! refused (and show up in the audit), except a fix script's kubectl creating or annotating what it fixes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::scenario::{FaultKind, PodSpec};
use super::{LabState, Recorded};

/// The path prefix of a fix script's server URL (see `handle`).
pub const SCRIPT_PREFIX: &str = "/fix-script";

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
        ["api", "v1", "namespaces"] | ["api", "v1", "namespaces", _] => "namespaces".into(),
        ["api", "v1", "nodes"] | ["api", "v1", "nodes", _] => "nodes".into(),
        ["api", "v1", "namespaces", _, r, ..] if seg.len() >= 7 => format!("{r}/{}", seg[6]),
        ["api", "v1", "namespaces", _, r, ..] => r.to_string(),
        ["apis", _, _, "namespaces", _, r, ..] => r.to_string(),
        _ => seg.join("/"),
    };
    let named = matches!(
        seg,
        ["api", "v1", "namespaces", _]
            | ["api", "v1", "nodes", _]
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
    let (mut parts, body) = req.into_parts();
    // A fix script's kubectl talks to the server under this path prefix (its own kubeconfig says so): the only
    // requests that may write. It cannot be told by a token: client-go applies a kubeconfig's credentials only to
    // TLS connections (clientcmd's `IsConfigTransportTLS`), and the lab serves plain HTTP.
    let (script, path) = match parts.uri.path().strip_prefix(SCRIPT_PREFIX) {
        Some(rest) => (true, rest.to_string()),
        None => (false, parts.uri.path().to_string()),
    };
    let query = parts.uri.query().unwrap_or("").to_string();
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let is_ws = parts
        .headers
        .get("upgrade")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let (verb, resource) = classify(parts.method.as_str(), &seg, is_ws);
    let op = format!("{verb} {resource}");
    let recorded = Recorded {
        service: "kube".into(),
        method: parts.method.to_string(),
        op: op.clone(),
        path: if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        },
    };
    if script {
        state.script_requests.lock().unwrap().push(recorded);
    } else {
        state.record(recorded);
    }

    let authorized = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"));
    if !script && !authorized {
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
        if script {
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
            return write(&state, parts.method.as_str(), &seg, &body);
        }
        return status(405, "MethodNotAllowed", "the lab's API server is read-only".into());
    }
    if let Some(doc) = discovery(&seg) {
        return ok(doc);
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
        ["apis", "networking.k8s.io", "v1", "namespaces", ns, "networkpolicies"] => {
            let items: Vec<Value> = if *ns == s.namespace {
                s.network_policies.clone()
            } else {
                vec![]
            };
            ok(
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicyList",
                      "metadata": {"resourceVersion": "1"}, "items": items}),
            )
        }
        ["api", "v1", "nodes", name] => match s.nodes.get(*name) {
            Some(labels) => ok(json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": labels, "uid": format!("uid-{name}")},
                "status": {"nodeInfo": {"operatingSystem": labels.get("kubernetes.io/os").cloned().unwrap_or_default()}}
            })),
            None => status(404, "NotFound", format!("nodes \"{name}\" not found")),
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
            let stdin = query_pairs(&query).iter().any(|(k, v)| k == "stdin" && v == "true");
            let side = state.pod_side.lock().unwrap().clone();
            let state = state.clone();
            ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
                .on_upgrade(move |socket| exec(socket, state, pod, command, stdin, side))
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
        "spec": {"serviceAccountName": p.service_account, "hostNetwork": p.host_network, "nodeName": p.node_name,
                 "containers": [{"name": "ray-node", "image": "skypilot/lab:latest", "env": env}]},
        "status": {"phase": p.phase}
    })
}

/// Runs `command` as the pod's container would: locally, with the pod's environment, a HOME of its own, and the
/// lab's stand-in commands first on PATH. With `stdin`, channel 0 frames feed the command's stdin until the client
/// closes it (v5: a channel-255 frame `[255, 0]`) or the connection; what arrived is kept in
/// `LabState::exec_inputs`. Sends stdout (channel 1), stderr (2), then the status (3).
async fn exec(
    socket: WebSocket,
    state: Arc<LabState>,
    pod: PodSpec,
    command: Vec<String>,
    stdin: bool,
    side: Option<super::pod::PodSide>,
) {
    use futures::{SinkExt, StreamExt};
    let (mut socket, mut incoming) = socket.split();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let received = Arc::new(Mutex::new(Vec::<u8>::new()));
    let reader = {
        let received = received.clone();
        tokio::spawn(async move {
            if !stdin {
                return;
            }
            while let Some(Ok(msg)) = incoming.next().await {
                match msg {
                    Message::Binary(b) if b.first() == Some(&0) => {
                        received.lock().unwrap().extend_from_slice(&b[1..]);
                        let _ = tx.send(b[1..].to_vec());
                    }
                    Message::Binary(b) if b.as_ref() == [255, 0] => return,
                    Message::Close(_) => return,
                    _ => {}
                }
            }
        })
    };
    let result = super::pod::run_streaming(&state.root, &pod, &command, rx, side.as_ref()).await;
    reader.abort();
    state
        .exec_inputs
        .lock()
        .unwrap()
        .push(std::mem::take(&mut *received.lock().unwrap()));
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

/// Legacy discovery, which kubectl reads to map `serviceaccount` to its path (kube-rs's typed API needs none).
fn discovery(seg: &[&str]) -> Option<Value> {
    let resource = |name: &str, kind: &str, namespaced: bool| {
        json!({"name": name, "singularName": kind.to_lowercase(), "namespaced": namespaced, "kind": kind,
               "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
    };
    Some(match seg {
        ["api"] => json!({"kind": "APIVersions", "versions": ["v1"],
                          "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        ["apis"] => json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
            "name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]}),
        ["api", "v1"] => json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [
            resource("namespaces", "Namespace", false),
            resource("serviceaccounts", "ServiceAccount", true),
            resource("pods", "Pod", true)]}),
        ["apis", "apps", "v1"] => json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1",
            "resources": [resource("daemonsets", "DaemonSet", true)]}),
        _ => return None,
    })
}

fn service_account_json(sa: &super::ServiceAccountSpec) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": sa.name, "namespace": sa.namespace, "annotations": sa.annotations,
                     "uid": "00000000-0000-0000-0000-000000000001", "creationTimestamp": "2026-01-01T00:00:00Z"}
    })
}

/// The writes a fix script's kubectl makes: create a namespace or a service account, patch a service account's
/// annotations (kubectl annotate sends a merge patch). Applied to the scenario as the API server would.
fn write(state: &LabState, method: &str, seg: &[&str], body: &[u8]) -> Response {
    // kubectl's typed clients (`create namespace`, `create serviceaccount`) send protobuf; `annotate` sends JSON.
    let doc: Value = match body.strip_prefix(b"k8s\0") {
        Some(envelope) => match protobuf_name(envelope) {
            Some(name) => json!({"metadata": {"name": name}}),
            None => return status(400, "BadRequest", "unreadable protobuf body".into()),
        },
        None => match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return status(400, "BadRequest", format!("body is not JSON: {e}")),
        },
    };
    let name = doc["metadata"]["name"].as_str().unwrap_or("").to_string();
    let mut s = state.scenario.lock().unwrap();
    let created = |v: Value| {
        (
            StatusCode::CREATED,
            [("content-type", "application/json")],
            v.to_string(),
        )
            .into_response()
    };
    match (method, seg) {
        ("POST", ["api", "v1", "namespaces"]) => {
            if s.namespaces.contains(&name) {
                return status(409, "AlreadyExists", format!("namespaces \"{name}\" already exists"));
            }
            s.namespaces.push(name.clone());
            created(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "status": {"phase": "Active"}}),
            )
        }
        ("POST", ["api", "v1", "namespaces", ns, "serviceaccounts"]) => {
            if !s.namespaces.iter().any(|n| n == ns) {
                return status(404, "NotFound", format!("namespaces \"{ns}\" not found"));
            }
            if s.service_accounts.iter().any(|a| a.namespace == *ns && a.name == name) {
                return status(
                    409,
                    "AlreadyExists",
                    format!("serviceaccounts \"{name}\" already exists"),
                );
            }
            let sa = super::ServiceAccountSpec {
                namespace: ns.to_string(),
                name,
                annotations: Default::default(),
            };
            let out = service_account_json(&sa);
            s.service_accounts.push(sa);
            created(out)
        }
        ("PATCH", ["api", "v1", "namespaces", ns, "serviceaccounts", sa_name]) => {
            let Some(sa) = s
                .service_accounts
                .iter_mut()
                .find(|a| a.namespace == *ns && a.name == *sa_name)
            else {
                return status(404, "NotFound", format!("serviceaccounts \"{sa_name}\" not found"));
            };
            if let Some(annotations) = doc["metadata"]["annotations"].as_object() {
                for (k, v) in annotations {
                    match v.as_str() {
                        Some(v) => {
                            sa.annotations.insert(k.clone(), v.to_string());
                        }
                        None => {
                            sa.annotations.remove(k);
                        }
                    }
                }
            }
            ok(service_account_json(sa))
        }
        _ => status(
            405,
            "MethodNotAllowed",
            format!("the lab accepts no {method} on /{}", seg.join("/")),
        ),
    }
}

/// `metadata.name` of an object in Kubernetes' protobuf envelope (after the `k8s\0` magic): `Unknown.raw` (field 2)
/// holds the object, whose field 1 is its `ObjectMeta`, whose field 1 is the name.
fn protobuf_name(envelope: &[u8]) -> Option<String> {
    let raw = protobuf_field(envelope, 2)?;
    let meta = protobuf_field(raw, 1)?;
    String::from_utf8(protobuf_field(meta, 1)?.to_vec()).ok()
}

/// The first length-delimited field `want` of a protobuf message.
fn protobuf_field(mut buf: &[u8], want: u64) -> Option<&[u8]> {
    fn varint(buf: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = buf.split_first()?;
            *buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        match key & 7 {
            0 => {
                varint(&mut buf)?;
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                let (value, rest) = (buf.get(..len)?, buf.get(len..)?);
                if key >> 3 == want {
                    return Some(value);
                }
                buf = rest;
            }
            1 => buf = buf.get(8..)?,
            5 => buf = buf.get(4..)?,
            _ => return None,
        }
    }
    None
}
