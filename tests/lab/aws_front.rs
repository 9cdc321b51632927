//! The AWS front: one endpoint for every AWS service the doctor calls. It tells services apart by the SigV4
//! credential scope, records each request, applies injected faults, serves the EKS APIs itself (moto lacks
//! add-ons and Pod Identity) and forwards STS, IAM and S3 to moto.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use super::scenario::{ACCOUNT, Endpoint, FaultKind};
use super::{LabState, Recorded};

#[derive(Clone)]
struct Front {
    state: Arc<LabState>,
    moto: String,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

/// Starts the front on a free loopback port; returns its URL.
pub async fn serve(state: Arc<LabState>, moto: String) -> String {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let front = Front { state, moto, client };
    let app = Router::new().fallback(handle).with_state(front);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// The service in `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/SERVICE/aws4_request, ...`.
fn service_of(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split(',').next())
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string()
}

/// The access key id in the SigV4 credential scope.
fn access_key_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .map(str::to_string)
}

/// The operation: the query protocol's `Action`, EKS's REST route, S3's method and shape.
fn operation(service: &str, method: &Method, path: &str, query: &str, body: &[u8]) -> String {
    match service {
        "sts" | "iam" => form_value(std::str::from_utf8(body).unwrap_or(""), "Action")
            .or_else(|| form_value(query, "Action"))
            .unwrap_or_else(|| "Unknown".into()),
        "eks" => eks_route(method, path).0.to_string(),
        "s3" => {
            let bucket_level = path.trim_matches('/').split('/').count() <= 1;
            match (method.as_str(), bucket_level) {
                ("GET", true) if query.contains("location") => "GetBucketLocation".into(),
                ("GET", true) if query.contains("policy") => "GetBucketPolicy".into(),
                ("GET", true) if query.contains("encryption") => "GetBucketEncryption".into(),
                ("GET", true) if query.contains("list-type=2") => "ListObjectsV2".into(),
                ("GET", true) => "ListObjects".into(),
                ("HEAD", true) => "HeadBucket".into(),
                ("GET", false) => "GetObject".into(),
                ("HEAD", false) => "HeadObject".into(),
                (m, _) => format!("{m} {path}"),
            }
        }
        // Unsigned: STS's AssumeRoleWithWebIdentity (the token is the credential).
        _ => form_value(std::str::from_utf8(body).unwrap_or(""), "Action")
            .filter(|a| a == "AssumeRoleWithWebIdentity")
            .unwrap_or_else(|| format!("{method} {path}")),
    }
}

fn form_value(form: &str, key: &str) -> Option<String> {
    form.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

/// EKS REST routes: (operation, path parameters).
fn eks_route<'a>(method: &Method, path: &'a str) -> (&'static str, Vec<&'a str>) {
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    if method == Method::POST {
        return match seg.as_slice() {
            ["clusters", c, "addons"] => ("CreateAddon", vec![c]),
            ["clusters", c, "pod-identity-associations"] => ("CreatePodIdentityAssociation", vec![c]),
            ["clusters", c, "pod-identity-associations", id] => ("UpdatePodIdentityAssociation", vec![c, id]),
            _ => ("Mutating", seg),
        };
    }
    if method != Method::GET {
        return ("Mutating", seg);
    }
    match seg.as_slice() {
        ["clusters", c] => ("DescribeCluster", vec![c]),
        ["clusters", c, "addons"] => ("ListAddons", vec![c]),
        ["clusters", c, "node-groups"] => ("ListNodegroups", vec![c]),
        ["clusters", c, "node-groups", n] => ("DescribeNodegroup", vec![c, n]),
        ["clusters", c, "addons", a] => ("DescribeAddon", vec![c, a]),
        ["clusters", c, "pod-identity-associations"] => ("ListPodIdentityAssociations", vec![c]),
        ["clusters", c, "pod-identity-associations", id] => ("DescribePodIdentityAssociation", vec![c, id]),
        _ => ("Unknown", seg),
    }
}

async fn handle(State(front): State<Front>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if parts.uri.path() == "/federation/credentials" {
        return sso_portal(&front.state, &parts);
    }
    let service = service_of(&parts.headers);
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let op = operation(&service, &parts.method, &path, &query, &body);
    let script = access_key_of(&parts.headers).as_deref() == Some(super::FIX_ACCESS_KEY);
    // The expected-owner header makes another question of the same path (s3.bucket-policy asks who owns the
    // bucket), so it is recorded with the request.
    let owner_note = parts
        .headers
        .get("x-amz-expected-bucket-owner")
        .and_then(|v| v.to_str().ok())
        .map(|o| format!(" [expected-bucket-owner {o}]"))
        .unwrap_or_default();
    // A query-protocol call (IAM, STS) names what it asks about in its form body: recorded with it, so that two
    // questions (GetRole of two roles) are not taken for one asked twice.
    let params_note = if matches!(service.as_str(), "iam" | "sts") {
        let params: Vec<String> = form_urlencoded::parse(&body)
            .filter(|(k, _)| k != "Action" && k != "Version")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if params.is_empty() {
            String::new()
        } else {
            format!(" [{}]", params.join(" "))
        }
    } else {
        String::new()
    };
    let recorded = Recorded {
        service: service.clone(),
        method: parts.method.to_string(),
        op: op.clone(),
        path: if query.is_empty() {
            format!("{path}{owner_note}{params_note}")
        } else {
            format!("{path}?{query}{owner_note}{params_note}")
        },
    };
    // The doctor's writes are refused before anything changes (the audit then fails the test on the record);
    // only a fix script's may go through.
    let refused = !script && !super::read_only(&recorded, "");
    if script {
        front.state.script_requests.lock().unwrap().push(recorded);
    } else {
        front.state.record(recorded);
    }
    if refused {
        return fault_response(&service, &FaultKind::Code(403, "AccessDenied".into()));
    }

    let latency = front.state.scenario.lock().unwrap().latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if let Some(fault) = front.state.fault(&service, &op) {
        if let FaultKind::Hang(secs) = fault {
            tokio::time::sleep(Duration::from_secs(secs)).await;
        } else {
            return fault_response(&service, &fault);
        }
    }
    if service == "eks" {
        if script && parts.method == Method::POST {
            return eks_write(&front.state, &path, &body);
        }
        return eks(&front.state, &parts.method, &path, &query);
    }
    if service == "s3" {
        let owner = front.state.scenario.lock().unwrap().bucket_owner.clone();
        let expected = parts
            .headers
            .get("x-amz-expected-bucket-owner")
            .and_then(|v| v.to_str().ok());
        if let Some(expected) = expected
            && expected != owner.as_deref().unwrap_or(ACCOUNT)
        {
            return fault_response("s3", &FaultKind::AccessDenied);
        }
    }
    if script && op == "AddClientIDToOpenIDConnectProvider" {
        return add_client_id(&front.moto, std::str::from_utf8(&body).unwrap_or("")).await;
    }
    if op == "SimulatePrincipalPolicy" {
        let answers = front.state.scenario.lock().unwrap().simulator.clone();
        if let Some(answers) = answers {
            return simulate(&answers, std::str::from_utf8(&body).unwrap_or(""));
        }
    }
    forward(&front, parts, body).await
}

/// IAM Identity Center's GetRoleCredentials (unsigned; the bearer token is the credential), which moto lacks: the
/// lab login's cached token gets dummy keys (moto's default user) whose secret is the report canary.
fn sso_portal(state: &LabState, parts: &http::request::Parts) -> Response {
    state.record(Recorded {
        service: "sso".into(),
        method: parts.method.to_string(),
        op: "GetRoleCredentials".into(),
        path: parts.uri.to_string(),
    });
    let token = parts
        .headers
        .get("x-amz-sso_bearer_token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if token != super::SSO_TOKEN {
        return (
            StatusCode::UNAUTHORIZED,
            [("x-amzn-errortype", "UnauthorizedException")],
            axum::Json(serde_json::json!({ "message": "Session token not found or invalid" })),
        )
            .into_response();
    }
    let expiration = (std::time::SystemTime::now() + Duration::from_secs(3600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    axum::Json(serde_json::json!({
        "roleCredentials": {
            "accessKeyId": "testing",
            "secretAccessKey": super::PROCESS_SECRET,
            "sessionToken": "lab-session-token",
            "expiration": expiration,
        }
    }))
    .into_response()
}

fn fault_response(service: &str, fault: &FaultKind) -> Response {
    let (status, code, msg) = match fault {
        FaultKind::Code(status, code) => (*status, code.as_str(), "injected error"),
        FaultKind::ServerError => (500, "InternalFailure", "injected server error"),
        FaultKind::Throttle => (400, "Throttling", "Rate exceeded"),
        FaultKind::AccessDenied => (
            403,
            "AccessDenied",
            "User: arn:aws:iam::123456789012:user/lab is not authorized",
        ),
        FaultKind::Malformed => {
            let ct = if service == "eks" {
                "application/json"
            } else {
                "text/xml"
            };
            return (StatusCode::OK, [("content-type", ct)], "{<<not a valid body").into_response();
        }
        FaultKind::Hang(_) => unreachable!("hangs are delays"),
    };
    let status = StatusCode::from_u16(status).unwrap();
    match service {
        "eks" => {
            let errtype = match fault {
                FaultKind::Code(_, c) => c.as_str(),
                FaultKind::AccessDenied => "AccessDeniedException",
                FaultKind::Throttle => "ThrottlingException",
                _ => "ServerException",
            };
            (status, [("x-amzn-errortype", errtype), ("content-type", "application/json")], json!({"message": msg}).to_string())
                .into_response()
        }
        "s3" => (
            status,
            [("content-type", "application/xml")],
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{msg}</Message><RequestId>LAB</RequestId></Error>"),
        )
            .into_response(),
        _ => (
            status,
            [("content-type", "text/xml")],
            format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{msg}</Message></Error><RequestId>lab-request</RequestId></ErrorResponse>"),
        )
            .into_response(),
    }
}

async fn forward(front: &Front, parts: http::request::Parts, body: Bytes) -> Response {
    let pq = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let uri: http::Uri = format!("{}{}", front.moto, pq).parse().unwrap();
    let mut builder = http::Request::builder().method(parts.method.clone()).uri(uri);
    for (k, v) in parts.headers.iter() {
        if k != "host" {
            builder = builder.header(k, v);
        }
    }
    let req = builder.body(Full::new(body)).unwrap();
    match front.client.request(req).await {
        Ok(resp) => {
            let (p, b) = resp.into_parts();
            let bytes = b.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            Response::from_parts(p, Body::from(bytes))
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("moto unreachable: {e}")).into_response(),
    }
}

/// SimulatePrincipalPolicy from the scenario's table (moto has no simulator).
fn simulate(answers: &std::collections::BTreeMap<String, String>, form: &str) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes()).into_owned().collect();
    let values = |prefix: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut members = String::new();
    for action in values("ActionNames.member.") {
        for resource in values("ResourceArns.member.") {
            let decision = answers.get(&action).map(String::as_str).unwrap_or("implicitDeny");
            members.push_str(&format!(
                "<member><EvalActionName>{action}</EvalActionName><EvalResourceName>{resource}</EvalResourceName><EvalDecision>{decision}</EvalDecision><MatchedStatements/><MissingContextValues/></member>"
            ));
        }
    }
    let body = format!(
        "<SimulatePrincipalPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>{members}</EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>lab-sim</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>"
    );
    (StatusCode::OK, [("content-type", "text/xml")], body).into_response()
}

fn eks_error(status: u16, errtype: &str, msg: String) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [
            ("x-amzn-errortype", errtype.to_string()),
            ("content-type", "application/json".to_string()),
        ],
        json!({ "message": msg }).to_string(),
    )
        .into_response()
}

fn ok_json(v: serde_json::Value) -> Response {
    (StatusCode::OK, [("content-type", "application/json")], v.to_string()).into_response()
}

/// The EKS APIs, shaped like the EKS API reference so that aws-sdk-eks parses them unchanged.
fn eks(state: &LabState, method: &Method, path: &str, query: &str) -> Response {
    let mut s = state.scenario.lock().unwrap().clone();
    let (op, params) = eks_route(method, path);
    let cluster_name = params.first().copied().unwrap_or("");
    // Another cluster of the account: served as the main one, under its own name and status.
    if let Some(extra) = s.extra_clusters.iter().find(|c| c.name == cluster_name).cloned()
        && let Some(eks) = s.eks.as_mut()
    {
        s.cluster = extra.name;
        eks.status = extra.status;
        if let Some(id) = extra.oidc_id {
            eks.oidc_id = id;
        }
    }
    let Some(cluster) = s.eks.as_ref().filter(|_| cluster_name == s.cluster) else {
        return eks_error(
            404,
            "ResourceNotFoundException",
            format!("No cluster found for name: {cluster_name}."),
        );
    };
    let arn = format!("arn:aws:eks:{}:{ACCOUNT}:cluster/{}", s.region, s.cluster);
    match op {
        "DescribeCluster" => {
            let endpoint = match &cluster.endpoint {
                Endpoint::Lab => s
                    .kube_server
                    .clone()
                    .unwrap_or_else(|| state.kube_url.lock().unwrap().clone()),
                Endpoint::Other(u) => u.clone(),
            };
            ok_json(json!({ "cluster": {
                "name": s.cluster, "arn": arn, "createdAt": 1_690_000_000.0, "version": "1.31",
                "endpoint": endpoint, "status": cluster.status, "platformVersion": "eks.9",
                "roleArn": format!("arn:aws:iam::{ACCOUNT}:role/eks-cluster-role"),
                "identity": if cluster.oidc_id.is_empty() { json!({}) } else { json!({ "oidc": { "issuer": format!("https://oidc.eks.{}.amazonaws.com/id/{}", s.region, cluster.oidc_id) } }) },
                "computeConfig": if cluster.auto_mode {
                    json!({ "enabled": true, "nodeRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/{}", super::NODE_ROLE) })
                } else {
                    json!({ "enabled": false })
                },
                "accessConfig": { "authenticationMode": "API_AND_CONFIG_MAP" }
            }}))
        }
        "ListNodegroups" => {
            ok_json(json!({ "nodegroups": s.nodegroups.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>() }))
        }
        "DescribeNodegroup" => {
            let name = params[1];
            match s.nodegroups.iter().find(|(n, _)| n == name) {
                Some((n, role)) => ok_json(json!({ "nodegroup": {
                    "nodegroupName": n, "clusterName": s.cluster, "status": "ACTIVE",
                    "nodegroupArn": format!("arn:aws:eks:{}:{ACCOUNT}:nodegroup/{}/{n}/0", s.region, s.cluster),
                    "nodeRole": format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
                    "createdAt": 1_700_000_000.5, "modifiedAt": 1_700_000_000.5
                }})),
                None => eks_error(
                    404,
                    "ResourceNotFoundException",
                    format!("No node group found for name: {name}."),
                ),
            }
        }
        "ListAddons" => ok_json(json!({ "addons": s.addons.iter().map(|a| a.name.clone()).collect::<Vec<_>>() })),
        "DescribeAddon" => {
            let name = params[1];
            match s.addons.iter().find(|a| a.name == name) {
                Some(a) => ok_json(json!({ "addon": {
                    "addonName": a.name, "clusterName": s.cluster, "status": a.status,
                    "addonVersion": "v1.3.4-eksbuild.1", "health": { "issues": [] },
                    "addonArn": format!("arn:aws:eks:{}:{ACCOUNT}:addon/{}/{}/0", s.region, s.cluster, a.name),
                    "createdAt": 1_700_000_000.5, "modifiedAt": 1_700_000_000.5
                }})),
                None => eks_error(
                    404,
                    "ResourceNotFoundException",
                    format!("No addon: {name} found in cluster: {}", s.cluster),
                ),
            }
        }
        "ListPodIdentityAssociations" => {
            let ns = form_value(query, "namespace");
            let sa = form_value(query, "serviceAccount");
            let items: Vec<_> = s
                .associations
                .iter()
                .enumerate()
                // Associations made for another cluster are not this one's.
                .filter(|(_, a)| a.cluster.as_deref().is_none_or(|c| c == s.cluster))
                .filter(|(_, a)| ns.as_deref().is_none_or(|n| n == a.namespace))
                .filter(|(_, a)| sa.as_deref().is_none_or(|n| n == a.service_account))
                .map(|(i, a)| {
                    let id = format!("a-{i:017}");
                    json!({ "clusterName": s.cluster, "namespace": a.namespace, "serviceAccount": a.service_account,
                            "associationId": id,
                            "associationArn": format!("arn:aws:eks:{}:{ACCOUNT}:podidentityassociation/{}/{id}", s.region, s.cluster) })
                })
                .collect();
            ok_json(json!({ "associations": items }))
        }
        "DescribePodIdentityAssociation" => {
            let id = params[1];
            let found = s
                .associations
                .iter()
                .enumerate()
                .find(|(i, a)| format!("a-{i:017}") == id && a.cluster.as_deref().is_none_or(|c| c == s.cluster));
            match found {
                Some((_, a)) => ok_json(association_json(&s.region, &s.cluster, id, a)),
                None => eks_error(404, "ResourceNotFoundException", format!("Association {id} not found")),
            }
        }
        "Mutating" => eks_error(
            405,
            "InvalidRequestException",
            "the lab serves read-only EKS calls only".into(),
        ),
        _ => eks_error(404, "ResourceNotFoundException", format!("unknown EKS route {path}")),
    }
}

/// DescribePodIdentityAssociation's answer, as the EKS API reference shapes it (the 2025-06 cross-account fields
/// and the 2026-02 session policy only when set, as EKS omits them).
fn association_json(region: &str, cluster: &str, id: &str, a: &super::AssociationSpec) -> serde_json::Value {
    let mut assoc = json!({
        "clusterName": cluster, "namespace": a.namespace, "serviceAccount": a.service_account,
        "roleArn": a.role_arn, "associationId": id,
        "associationArn": format!("arn:aws:eks:{region}:{ACCOUNT}:podidentityassociation/{cluster}/{id}"),
        "createdAt": a.created_at, "modifiedAt": a.modified_at.unwrap_or(a.created_at),
        "disableSessionTags": a.disable_session_tags
    });
    if let Some(t) = &a.target_role_arn {
        assoc["targetRoleArn"] = json!(t);
        assoc["externalId"] = json!(a.external_id(region, cluster));
    }
    if let Some(p) = &a.policy {
        assoc["policy"] = json!(p);
    }
    json!({ "association": assoc })
}

/// The EKS writes a fix script makes (only it: the doctor's requests never get here), applied to the scenario as
/// EKS would: a new add-on is ACTIVE with its agent DaemonSet ready, an association gets the next id.
fn eks_write(state: &LabState, path: &str, body: &[u8]) -> Response {
    let req: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |k: &str| req.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let mut s = state.scenario.lock().unwrap();
    let (op, params) = eks_route(&Method::POST, path);
    let target = params.first().copied().unwrap_or("");
    if s.eks.is_none() || (target != s.cluster && !s.extra_clusters.iter().any(|c| c.name == target)) {
        return eks_error(404, "ResourceNotFoundException", "No cluster found".into());
    }
    let region = s.region.clone();
    let cluster = target.to_string();
    let assoc_json = |id: &str, a: &super::AssociationSpec| association_json(&region, &cluster, id, a);
    match op {
        "CreateAddon" => {
            let name = text("addonName");
            if s.addons.iter().any(|a| a.name == name) {
                return eks_error(409, "ResourceInUseException", format!("Addon already exists: {name}"));
            }
            s.addons.push(super::AddonSpec {
                name: name.clone(),
                status: "ACTIVE".into(),
            });
            if name == "eks-pod-identity-agent" && s.agent_daemonset.is_none() {
                s.agent_daemonset = Some((2, 2));
            }
            ok_json(
                json!({ "addon": { "addonName": name, "clusterName": cluster, "status": "CREATING",
                "addonVersion": "v1.3.4-eksbuild.1", "createdAt": 1_700_000_000.5, "modifiedAt": 1_700_000_000.5 }}),
            )
        }
        "CreatePodIdentityAssociation" => {
            let mut a = super::AssociationSpec::new(&text("namespace"), &text("serviceAccount"), &text("roleArn"));
            a.created_at = 1_800_000_000.0;
            a.disable_session_tags = req.get("disableSessionTags").and_then(|v| v.as_bool()).unwrap_or(false);
            a.cluster = Some(cluster.clone());
            a.target_role_arn = Some(text("targetRoleArn")).filter(|t| !t.is_empty());
            a.policy = Some(text("policy")).filter(|t| !t.is_empty());
            if s.associations.iter().any(|x| {
                x.namespace == a.namespace
                    && x.service_account == a.service_account
                    && x.cluster.as_deref().is_none_or(|c| c == cluster)
            }) {
                return eks_error(409, "ResourceInUseException", "Association already exists".into());
            }
            let id = format!("a-{:017}", s.associations.len());
            let out = assoc_json(&id, &a);
            s.associations.push(a);
            ok_json(out)
        }
        "UpdatePodIdentityAssociation" => {
            let id = params[1].to_string();
            let Some(i) = (0..s.associations.len()).find(|i| format!("a-{i:017}") == id) else {
                return eks_error(404, "ResourceNotFoundException", format!("Association {id} not found"));
            };
            if !text("roleArn").is_empty() {
                s.associations[i].role_arn = text("roleArn");
            }
            let out = assoc_json(&id, &s.associations[i]);
            ok_json(out)
        }
        _ => eks_error(
            405,
            "InvalidRequestException",
            "the lab accepts no such EKS write".into(),
        ),
    }
}

/// IAM's AddClientIDToOpenIDConnectProvider, which moto lacks, for a fix script: moto's provider is replaced by
/// one with the same URL and thumbprints and the client id added (as IAM does, adding one already there is a no-op).
async fn add_client_id(moto: &str, form: &str) -> Response {
    use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
    let pairs: std::collections::BTreeMap<String, String> =
        form_urlencoded::parse(form.as_bytes()).into_owned().collect();
    let (Some(arn), Some(client_id)) = (pairs.get("OpenIDConnectProviderArn"), pairs.get("ClientID")) else {
        return fault_response("iam", &FaultKind::Code(400, "ValidationError".into()));
    };
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "lab"))
        .region(Region::new("us-east-1"))
        .endpoint_url(moto)
        .load()
        .await;
    let iam = aws_sdk_iam::Client::new(&conf);
    let Ok(p) = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
    else {
        return fault_response("iam", &FaultKind::Code(404, "NoSuchEntity".into()));
    };
    let mut clients = p.client_id_list().to_vec();
    if !clients.contains(client_id) {
        clients.push(client_id.clone());
        iam.delete_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .expect("moto deletes the provider");
        iam.create_open_id_connect_provider()
            .url(format!(
                "https://{}",
                p.url().unwrap_or_default().trim_start_matches("https://")
            ))
            .set_client_id_list(Some(clients))
            .set_thumbprint_list(Some(p.thumbprint_list().to_vec()))
            .send()
            .await
            .expect("moto recreates the provider");
    }
    (
        StatusCode::OK,
        [("content-type", "text/xml")],
        "<AddClientIDToOpenIDConnectProviderResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ResponseMetadata><RequestId>lab-add-client-id</RequestId></ResponseMetadata></AddClientIDToOpenIDConnectProviderResponse>",
    )
        .into_response()
}
