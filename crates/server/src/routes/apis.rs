//! API management at the edge: the forward-auth check a proxy calls before
//! passing a request upstream, and each org's portal on its own domain.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get};
use orgscope_core::gateway;
use orgscope_core::policy::{self, OrgSelector, SystemRead};
use orgscope_store::{Page, StoreError};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::hash_secret;
use crate::error::{ApiError, ApiResult};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/gateway/check", any(check))
        .route("/api/v1/gateway/check/{*path}", any(check))
        .route("/portal", get(portal))
}

/// Per-key request counts in fixed one-minute windows, and last uses waiting
/// to be written. In memory: each replica limits on its own (a key gets at
/// most its limit per replica), and last-use times reach the database every
/// few seconds instead of on every request.
#[derive(Default)]
pub struct GatewayState {
    windows: Mutex<HashMap<String, (u64, Instant)>>,
    used: Mutex<HashMap<String, String>>,
}

impl GatewayState {
    /// `Err(seconds)` when the key is over `per_minute`.
    fn admit(&self, key: &str, per_minute: Option<u64>) -> Result<(), u64> {
        let Some(limit) = per_minute else {
            return Ok(());
        };
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let entry = windows.entry(key.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= Duration::from_secs(60) {
            *entry = (0, now);
        }
        if entry.0 >= limit {
            return Err(60u64
                .saturating_sub(now.duration_since(entry.1).as_secs())
                .max(1));
        }
        entry.0 += 1;
        Ok(())
    }

    fn used(&self, key: &str) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        used.insert(key.to_owned(), orgscope_store::now());
    }

    /// Writes the last uses gathered since the previous flush.
    pub async fn flush(&self, store: &orgscope_store::Store) {
        let uses: Vec<(String, String)> = {
            let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
            used.drain().collect()
        };
        if uses.is_empty() {
            return;
        }
        let result = async {
            let mut tx = store.write().await?;
            tx.keys_used(&uses).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record consumer key use");
        }
    }
}

/// Writes last uses every five seconds, for as long as the server runs.
pub async fn flush_usage(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        state.gateway.flush(&state.store).await;
    }
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

fn denied(why: &str) -> ApiError {
    ApiError::Forbidden(why.to_owned())
}

/// Forward auth: 2xx lets the request through, 401 for a missing or unknown
/// key, 403 for a key that may not make it, 429 over the key's rate limit.
async fn check(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let secret = consumer_key(&headers).ok_or(ApiError::Unauthorized)?;
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
    let hit = state
        .store
        .gateway_lookup(&hash_secret(secret), &path)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let fields: Value = serde_json::from_str(&hit.key_fields).unwrap_or_default();
    if fields["expires_at"]
        .as_str()
        .is_some_and(|t| t <= orgscope_store::now().as_str())
    {
        return Err(ApiError::Unauthorized);
    }
    // No API there, another org's API and an API the key does not grant
    // answer alike: the check tells a key nothing of other orgs' paths.
    let api_id = hit
        .api_id
        .as_deref()
        .ok_or_else(|| denied("this key does not grant this API"))?;
    if hit.api_org.is_none() || hit.api_org != hit.key_org {
        return Err(denied("this key does not grant this API"));
    }
    let grants = fields["apis"]
        .as_array()
        .is_some_and(|apis| apis.iter().any(|a| a.as_str() == Some(api_id)));
    if !grants {
        return Err(denied("this key does not grant this API"));
    }
    let api_fields: Value =
        serde_json::from_str(hit.api_fields.as_deref().unwrap_or("{}")).unwrap_or_default();
    let methods = api_fields["methods"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !methods.is_empty() && !methods.iter().any(|m| m.as_str() == Some(method.as_str())) {
        return Err(denied("this API does not take that method"));
    }
    let limit = fields["rate_limit"].as_u64();
    state
        .gateway
        .admit(&hit.key_id, limit)
        .map_err(ApiError::TooManyRequests)?;
    state.gateway.used(&hit.key_id);
    let mut res = axum::http::StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    for (name, value) in [
        (
            "x-orgscope-org",
            hit.api_org_slug.as_deref().unwrap_or_default(),
        ),
        ("x-orgscope-api", api_id),
        ("x-orgscope-consumer-key", hit.key_id.as_str()),
        (
            "x-orgscope-upstream",
            api_fields["upstream_url"].as_str().unwrap_or_default(),
        ),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    Ok(res)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An org's portal, by the Host it is reached on: its published API
/// definitions, as HTML or (`Accept: application/json`) JSON.
async fn portal(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let host = header_str(&headers, "host")
        .map(|h| {
            h.rsplit_once(':')
                .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
                .map_or(h, |(h, _)| h)
        })
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default();
    let mut tx = state.store.read().await?;
    let org = match tx.org_by_domain_for_portal(&host).await {
        Ok(o) => o,
        Err(StoreError::NotFound) => {
            return Err(ApiError::NotFound(format!("no portal at '{host}'")));
        }
        Err(e) => return Err(e.into()),
    };
    // Public by design: the org whose proved domain this is, and below only
    // its published API definitions.
    let filter = policy::system_filter(&org.tenant_id, None, SystemRead::Portal);
    let mut apis = Vec::new();
    let mut after = None;
    loop {
        let page = Page { limit: 200, after };
        let rows = tx
            .resources(
                "api_definition",
                &filter,
                &OrgSelector::Org(org.id.clone()),
                &page,
            )
            .await?;
        after = rows.last().map(|r| r.id.clone());
        let done = rows.len() < 200;
        for r in rows {
            let f: Value = serde_json::from_str(&r.fields).unwrap_or_default();
            if f["published"] == Value::Bool(true) {
                apis.push(json!({
                    "id": r.id, "name": r.name, "listen_path": f["listen_path"],
                    "methods": f["methods"], "description": f["description"],
                }));
            }
        }
        if done {
            break;
        }
    }
    let wants_json = header_str(&headers, "accept").is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return Ok(
            axum::Json(json!({"org": {"slug": org.slug, "name": org.name}, "apis": apis}))
                .into_response(),
        );
    }
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name} APIs</title></head><body><h1>{name} APIs</h1>",
        name = escape(&org.name)
    );
    if apis.is_empty() {
        html.push_str("<p>No APIs are published yet.</p>");
    } else {
        html.push_str("<ul>");
        for a in &apis {
            html.push_str(&format!(
                "<li><strong>{}</strong> <code>{}</code> {}</li>",
                escape(a["name"].as_str().unwrap_or_default()),
                escape(a["listen_path"].as_str().unwrap_or_default()),
                escape(a["description"].as_str().unwrap_or_default())
            ));
        }
        html.push_str("</ul>");
    }
    html.push_str("</body></html>");
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response())
}
