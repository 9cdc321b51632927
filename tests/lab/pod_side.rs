//! What a real pod talks to, for pods that run the real AWS clients (awscli v1, boto3 from the lab venv): the EKS
//! Pod Identity agent, the instance metadata service, and STS. They listen on 127.0.0.1 only.
//!
//! - The agent (`GET /v1/credentials`, the token file's content as `Authorization`) gives the credentials of the
//!   role associated with the pod's namespace and service account, from moto's AssumeRole, as the real agent
//!   answers: `{AccessKeyId, SecretAccessKey, Token, Expiration, AccountId}`; or the agent's error when the role
//!   does not trust it.
//! - IMDS (v2 token, then `iam/security-credentials/`) has no instance role: a pod falls through to "no
//!   credentials" quickly instead of waiting for 169.254.169.254.
//! - STS: moto's AssumeRoleWithWebIdentity issues credentials that moto's GetCallerIdentity does not map back to
//!   the role, so web identity is answered with moto's AssumeRole of the same role, shaped as the
//!   AssumeRoleWithWebIdentity response; every other STS call goes to moto unchanged.
//!
//! Every pod request is recorded separately from the doctor's (`pod_requests`): the doctor's read-only audit is
//! about what the doctor sends, and the pod's own clients legitimately call AssumeRole*.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use super::LabState;
use super::scenario::{ACCOUNT, AgentMode, PodSpec};

/// The agent's answer when the role does not trust pods.eks.amazonaws.com.
pub const AGENT_TRUST_DENIED: &str =
    "Unauthorized Exception! EKS does not have permissions to assume the associated role.";

#[derive(Clone)]
struct Side {
    state: Arc<LabState>,
    moto: String,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

/// Starts the pod-side fakes on a free loopback port; returns its URL.
pub async fn serve(state: Arc<LabState>, moto: String) -> String {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let side = Side { state, moto, client };
    let app = Router::new().fallback(handle).with_state(side);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// The pod whose agent token is `token` (the lab writes `token-<pod name>` into each pod's token file).
fn pod_of(state: &LabState, token: &str) -> Option<PodSpec> {
    let s = state.scenario.lock().unwrap();
    s.pods
        .iter()
        .find(|p| token.trim() == format!("token-{}", p.name))
        .cloned()
}

async fn handle(State(side): State<Side>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let path = parts.uri.path().to_string();
    side.state
        .pod_requests
        .lock()
        .unwrap()
        .push(format!("{} {path}", parts.method));
    match path.as_str() {
        "/v1/credentials" => {
            let token = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            agent(&side, token).await
        }
        "/latest/api/token" => (StatusCode::OK, "lab-imds-token").into_response(),
        p if p.starts_with("/latest/meta-data/iam/security-credentials") => {
            (StatusCode::NOT_FOUND, "no instance role").into_response()
        }
        _ if parts.method == http::Method::GET && parts.uri.query().is_some_and(|q| q.contains("list-type=2")) => {
            s3(&side, parts, body).await
        }
        _ => sts(&side, parts, body).await,
    }
}

/// S3's ListObjectsV2: the scenario's error, else moto's answer.
async fn s3(side: &Side, parts: http::request::Parts, body: Bytes) -> Response {
    let error = {
        let s = side.state.scenario.lock().unwrap();
        s.pods
            .iter()
            .find_map(|p| p.aws.real.as_ref().and_then(|r| r.s3_error.clone()))
    };
    match error {
        Some((status, code, message)) => error_xml(status, &code, &message),
        None => sts(side, parts, body).await,
    }
}

/// An AWS error in the XML that S3 and STS send.
fn error_xml(status: u16, code: &str, message: &str) -> Response {
    let esc = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>lab</RequestId></ErrorResponse>",
        esc(code),
        esc(message)
    );
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
        [("content-type", "text/xml")],
        xml,
    )
        .into_response()
}

async fn agent(side: &Side, token: &str) -> Response {
    let Some(pod) = pod_of(&side.state, token) else {
        return (StatusCode::BAD_REQUEST, "Service account token cannot be empty\n").into_response();
    };
    let mode = pod.aws.real.as_ref().map(|r| r.agent).unwrap_or(AgentMode::Healthy);
    // The agent's own error format: text/plain "[request id]: (Code): message, fault: client|server" with EKS
    // Auth's status, or 500 with "[]" when EKS Auth gave no answer (eks-pod-identity-agent pkg/errors/errors.go).
    match mode {
        AgentMode::TrustDenied => {
            return (
                StatusCode::BAD_REQUEST,
                format!("[b69b1279-d140-4eee-b7ea-b124286f544c]: (AccessDeniedException): {AGENT_TRUST_DENIED}, fault: client\n"),
            )
                .into_response();
        }
        AgentMode::EksAuthUnreachable => return (StatusCode::INTERNAL_SERVER_ERROR, "[]\n").into_response(),
        AgentMode::Garbage => {
            return (
                StatusCode::OK,
                [("content-type", "text/html")],
                "<html><body>Proxy login required</body></html>",
            )
                .into_response();
        }
        _ => {}
    }
    let role = {
        let s = side.state.scenario.lock().unwrap();
        s.associations
            .iter()
            .find(|a| a.namespace == pod.namespace && a.service_account == pod.service_account)
            .map(|a| a.role_arn.clone())
    };
    let Some(role) = role else {
        return (
            StatusCode::NOT_FOUND,
            "[lab]: (ResourceNotFoundException): The token included in the request has no service account role association for it., fault: client\n",
        )
            .into_response();
    };
    match assume(&side.moto, &role, &format!("eks-lab-cluster-{}", pod.name)).await {
        Ok(c) => Json(json!({
            "AccessKeyId": c.access_key_id, "SecretAccessKey": c.secret_access_key, "Token": c.session_token,
            "Expiration": c.expiration, "AccountId": ACCOUNT
        }))
        .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "Message": e }))).into_response(),
    }
}

struct Creds {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
    arn: String,
    id: String,
}

/// moto's AssumeRole of `role`.
async fn assume(moto: &str, role: &str, session: &str) -> Result<Creds, String> {
    use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "lab"))
        .region(Region::new("us-west-2"))
        .endpoint_url(moto)
        .build();
    let out = aws_sdk_sts::Client::from_conf(conf)
        .assume_role()
        .role_arn(role)
        .role_session_name(session)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let c = out.credentials().ok_or("no credentials")?;
    let user = out.assumed_role_user().ok_or("no assumed role user")?;
    Ok(Creds {
        access_key_id: c.access_key_id().into(),
        secret_access_key: c.secret_access_key().into(),
        session_token: c.session_token().into(),
        expiration: c
            .expiration()
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default(),
        arn: user.arn().into(),
        id: user.assumed_role_id().into(),
    })
}

async fn sts(side: &Side, parts: http::request::Parts, body: Bytes) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| {
        form.iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let hangs = {
        let s = side.state.scenario.lock().unwrap();
        s.pods.iter().any(|p| p.aws.real.as_ref().is_some_and(|r| r.sts_hangs))
    };
    if hangs {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let mismatch = {
        let s = side.state.scenario.lock().unwrap();
        s.pods
            .iter()
            .any(|p| p.aws.real.as_ref().is_some_and(|r| r.sts_signature_mismatch))
    };
    if mismatch && get("Action") == "GetCallerIdentity" {
        return error_xml(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        );
    }
    if get("Action") == "AssumeRoleWithWebIdentity" {
        return match assume(&side.moto, &get("RoleArn"), &get("RoleSessionName")).await {
            Ok(c) => {
                let xml = format!(
                    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>system:serviceaccount:lab</SubjectFromWebIdentityToken><Audience>sts.amazonaws.com</Audience><AssumedRoleUser><Arn>{}</Arn><AssumedRoleId>{}</AssumedRoleId></AssumedRoleUser><Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>lab-web-identity</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>",
                    c.arn, c.id, c.access_key_id, c.secret_access_key, c.session_token, c.expiration
                );
                (StatusCode::OK, [("content-type", "text/xml")], xml).into_response()
            }
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        };
    }
    let pq = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let uri: http::Uri = format!("{}{}", side.moto, pq).parse().unwrap();
    let mut builder = http::Request::builder().method(parts.method.clone()).uri(uri);
    for (k, v) in parts.headers.iter() {
        if k != "host" {
            builder = builder.header(k, v);
        }
    }
    match side.client.request(builder.body(Full::new(body)).unwrap()).await {
        Ok(resp) => {
            let (p, b) = resp.into_parts();
            let bytes = b.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            Response::from_parts(p, Body::from(bytes))
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("moto unreachable: {e}")).into_response(),
    }
}

use axum::Json;
