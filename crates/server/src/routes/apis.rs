//! API management at the edge: the forward-auth check a proxy calls before
//! passing a request upstream, and each org's portal on its own domain.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use orgscope_core::gateway;
use serde_json::json;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use orgscope_app::gateway_check::{self, GatewayAsk};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/gateway/check", any(check))
        .route("/api/v1/gateway/check/{*path}", any(check))
        .route("/portal", get(portal))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// The consumer key: `X-API-Key`, or `Authorization: Bearer`.
fn consumer_key(headers: &HeaderMap) -> Option<&str> {
    header_str(headers, "x-api-key").or_else(|| {
        header_str(headers, "authorization")
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
    })
}

/// Forward auth: 2xx lets the request through, 401 for a missing or unknown
/// key, 403 for a key that may not make it, 429 over the key's rate limit.
/// Each decision is counted for /metrics.
async fn check(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let res = decide(&state, method, uri, headers).await.into_response();
    state.metrics.gateway_check(res.status());
    res
}

async fn decide(
    state: &AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let secret = consumer_key(&headers);
    // Envoy sends the original path after the check's own.
    let envoy_path = uri
        .path()
        .strip_prefix("/api/v1/gateway/check")
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    let (method, path) = gateway::original_request(
        state.proxy_style,
        |name| header_str(&headers, name),
        method.as_str(),
        envoy_path,
    )
    .map_err(|gateway::Ambiguous(why)| ApiError::BadRequest(why))?;
    let gateway = header_str(&headers, "x-orgscope-gateway").map(|secret| GatewayAsk {
        secret,
        version: header_str(&headers, "x-orgscope-gateway-version"),
    });
    let allowed = gateway_check::check(
        &state.store,
        &state.gateway,
        gateway,
        secret,
        &method,
        &path,
    )
    .await?;
    let mut res = axum::http::StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    for (name, value) in [
        ("x-orgscope-org", allowed.org.as_str()),
        ("x-orgscope-api", allowed.api.as_str()),
        ("x-orgscope-consumer-key", allowed.key.as_str()),
        ("x-orgscope-upstream", allowed.upstream.as_str()),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    Ok(res)
}

/// An org's portal, by the Host it is reached on: its published API
/// definitions as JSON (`Accept: application/json`), else the portal's
/// catalogue page.
async fn portal(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let wants_json = header_str(&headers, "accept").is_some_and(|a| a.contains("application/json"));
    if !wants_json {
        return Ok(orgscope_web::portal_catalogue(state, headers).await);
    }
    let host = orgscope_app::portal::host_name(header_str(&headers, "host").unwrap_or_default());
    let site = orgscope_app::portal::site(&state.store, &host).await?;
    let apis = orgscope_app::portal::catalogue(&state.store, &site).await?;
    Ok(
        axum::Json(json!({"org": {"slug": site.slug(), "name": site.name()}, "apis": apis}))
            .into_response(),
    )
}
