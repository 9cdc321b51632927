//! A fake IAM Identity Center portal (`GetRoleCredentials`, `GET /federation/credentials`), which moto lacks: it
//! hands out the credentials it was given for one bearer token, and answers any other token with the portal's
//! UnauthorizedException. Both the doctor and the real awscli reach it through `AWS_ENDPOINT_URL_SSO`.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::sync::Arc;

/// What the portal gives: (bearer token, account id, role name) -> (key id, secret, session token).
pub type Grants = HashMap<(String, String, String), (String, String, String)>;

/// Serves the portal on 127.0.0.1 and returns its URL.
pub async fn serve(grants: Grants) -> String {
    let app = Router::new()
        .route("/federation/credentials", get(credentials))
        .with_state(Arc::new(grants));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn credentials(
    State(grants): State<Arc<Grants>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let token = headers
        .get("x-amz-sso_bearer_token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let key = (
        token,
        q.get("account_id").cloned().unwrap_or_default(),
        q.get("role_name").cloned().unwrap_or_default(),
    );
    match grants.get(&key) {
        Some((id, secret, session)) => {
            let expiration = (std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64;
            axum::Json(serde_json::json!({
                "roleCredentials": {
                    "accessKeyId": id,
                    "secretAccessKey": secret,
                    "sessionToken": session,
                    "expiration": expiration,
                }
            }))
            .into_response()
        }
        None => (
            StatusCode::UNAUTHORIZED,
            [("x-amzn-errortype", "UnauthorizedException")],
            axum::Json(serde_json::json!({ "message": "Session token not found or invalid" })),
        )
            .into_response(),
    }
}
