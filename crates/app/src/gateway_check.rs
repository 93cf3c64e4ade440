//! The gateway check's decision (may this consumer key make this request?)
//! and each org's portal.
//! It runs before any principal: the key is the authority, and the answer
//! for a path another org serves is the answer for one nobody serves.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use orgscope_core::gateway;
use orgscope_core::ids::{OrgId, TenantId};
use orgscope_core::policy::{self, SystemRead};
use orgscope_store::Store;
use serde_json::Value;

use crate::secrets::hash_secret;
use crate::{Error, Result};

/// Last uses waiting to be written: last-use times (and gateways' reports)
/// reach the database every few seconds instead of on every request. A
/// key's rate is not here: it is counted in the database (`limits`), shared
/// by every replica.
#[derive(Default)]
pub struct GatewayState {
    used: Mutex<HashMap<String, String>>,
    /// API gateways that asked: when, and the version they reported.
    seen: Mutex<HashMap<String, (String, Option<String>)>>,
}

impl GatewayState {
    pub fn used(&self, key: &str) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        used.insert(key.to_owned(), orgscope_store::now());
    }

    pub fn seen(&self, gateway: &str, version: Option<&str>) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // A version is at most a short label.
        let version = version.map(|v| v.chars().take(64).collect());
        seen.insert(gateway.to_owned(), (orgscope_store::now(), version));
    }

    /// Writes the last uses (and gateways' reports) gathered since the
    /// previous flush.
    pub async fn flush(&self, store: &orgscope_store::Store) {
        let uses: Vec<(String, String)> = {
            let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
            used.drain().collect()
        };
        let seen: Vec<(String, String, Option<String>)> = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.drain().map(|(id, (at, v))| (id, at, v)).collect()
        };
        if uses.is_empty() && seen.is_empty() {
            return;
        }
        let result = async {
            let mut tx = store.write().await?;
            tx.keys_used(&uses).await?;
            tx.api_gateways_seen(&seen).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record consumer key use");
        }
    }
}

/// Writes last uses every five seconds, for as long as the server runs.
pub async fn flush_usage(store: Store, limits: std::sync::Arc<GatewayState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        limits.flush(&store).await;
    }
}

/// What an allowed request is: a proxy may pass these on upstream.
#[derive(Debug)]
pub struct Allowed {
    /// The org's slug.
    pub org: String,
    /// The API definition's id.
    pub api: String,
    /// The consumer key's id.
    pub key: String,
    pub upstream: String,
}

fn denied(why: &str) -> Error {
    Error::Forbidden(why.to_owned())
}

/// The API gateway asking, by its secret (`X-Orgscope-Gateway`), and the
/// version it reports.
#[derive(Clone, Copy, Debug)]
pub struct GatewayAsk<'a> {
    pub secret: &'a str,
    pub version: Option<&'a str>,
}

/// Decides a request (`method`, `path` as the proxy routes it) made with
/// the consumer key `secret`: unknown, expired or missing keys are
/// `Unauthorized`; a key that does not grant the API serving the path (of
/// its own org), or a method the API does not take, `Forbidden`; over its
/// rate limit, `TooManyRequests`.
///
/// Through an API gateway (`gateway`), only the APIs that gateway serves
/// are there: another org's key is unknown (`Unauthorized`) and a path of
/// an API it does not serve is answered as a path nobody serves. Without
/// one, the key's tenant must still take the shared check.
pub async fn check(
    store: &Store,
    limits: &GatewayState,
    gateway: Option<GatewayAsk<'_>>,
    secret: Option<&str>,
    method: &str,
    path: &str,
) -> Result<Allowed> {
    let secret = secret.ok_or(Error::Unauthorized)?;
    let Some(ask) = gateway else {
        return shared(store, limits, secret, method, path).await;
    };
    // An unknown gateway or key, or a key of another tenant: one answer.
    let hit = store
        .gateway_and_key(&hash_secret(ask.secret), &hash_secret(secret))
        .await?
        .ok_or(Error::Unauthorized)?;
    let key_fields: Value = serde_json::from_str(&hit.key_fields).unwrap_or_default();
    let known = hit.gateway_org.is_none() || hit.gateway_org == hit.key_org;
    if !known || expired(&key_fields) {
        return Err(Error::Unauthorized);
    }
    limits.seen(&hit.gateway_id, ask.version);
    let filter = policy::system_filter(
        &TenantId::from(&hit.tenant_id),
        hit.gateway_org.as_ref().map(OrgId::from).as_ref(),
        SystemRead::GatewayRoutes,
    );
    let gw_fields: Value = serde_json::from_str(&hit.gateway_fields).unwrap_or_default();
    let gw_tags = tags(&gw_fields);
    let served = store
        .routes_serving(&filter, path)
        .await?
        .into_iter()
        .map(|r| {
            let fields: Value = serde_json::from_str(&r.api_fields).unwrap_or_default();
            (r, fields)
        })
        .find(|(r, fields)| {
            gateway::gateway_serves(
                hit.gateway_org.as_deref(),
                &gw_tags,
                r.api_org.as_deref(),
                &tags(fields),
            )
        });
    let (route, api_fields) = served.ok_or_else(|| denied(NOT_GRANTED))?;
    admit(
        store,
        limits,
        Key {
            id: &hit.key_id,
            org: hit.key_org.as_deref(),
            fields: &key_fields,
        },
        Api {
            id: &route.api_id,
            org: route.api_org.as_deref(),
            org_slug: route.api_org_slug.as_deref(),
            fields: &api_fields,
        },
        method,
    )
    .await
}

const NOT_GRANTED: &str = "this key does not grant this API";

/// The tags in a resource's fields.
#[must_use]
pub fn tags(fields: &Value) -> Vec<&str> {
    fields["tags"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn expired(key_fields: &Value) -> bool {
    key_fields["expires_at"]
        .as_str()
        .is_some_and(|t| t <= orgscope_store::now().as_str())
}

/// The check that names no gateway: every API of the key's tenant, while
/// the tenant takes it.
async fn shared(
    store: &Store,
    limits: &GatewayState,
    secret: &str,
    method: &str,
    path: &str,
) -> Result<Allowed> {
    let hit = store
        .gateway_lookup(&hash_secret(secret), path)
        .await?
        .ok_or(Error::Unauthorized)?;
    let fields: Value = serde_json::from_str(&hit.key_fields).unwrap_or_default();
    if expired(&fields) {
        return Err(Error::Unauthorized);
    }
    if hit.shared_check == 0 {
        return Err(denied(
            "this tenant's API gateways must say which they are: send the gateway's secret as X-Orgscope-Gateway (the tenant's admins turned the shared check off)",
        ));
    }
    // No API there, another org's API and an API the key does not grant
    // answer alike: the check tells a key nothing of other orgs' paths.
    let api_id = hit.api_id.as_deref().ok_or_else(|| denied(NOT_GRANTED))?;
    let api_fields: Value =
        serde_json::from_str(hit.api_fields.as_deref().unwrap_or("{}")).unwrap_or_default();
    admit(
        store,
        limits,
        Key {
            id: &hit.key_id,
            org: hit.key_org.as_deref(),
            fields: &fields,
        },
        Api {
            id: api_id,
            org: hit.api_org.as_deref(),
            org_slug: hit.api_org_slug.as_deref(),
            fields: &api_fields,
        },
        method,
    )
    .await
}

struct Key<'a> {
    id: &'a str,
    org: Option<&'a str>,
    fields: &'a Value,
}

struct Api<'a> {
    id: &'a str,
    org: Option<&'a str>,
    org_slug: Option<&'a str>,
    fields: &'a Value,
}

/// The key and the API its request reached: the same org, granted, a
/// method the API takes, within the key's rate.
async fn admit(
    store: &Store,
    limits: &GatewayState,
    key: Key<'_>,
    api: Api<'_>,
    method: &str,
) -> Result<Allowed> {
    if api.org.is_none() || api.org != key.org {
        return Err(denied(NOT_GRANTED));
    }
    let grants = key.fields["apis"]
        .as_array()
        .is_some_and(|apis| apis.iter().any(|a| a.as_str() == Some(api.id)));
    if !grants {
        return Err(denied(NOT_GRANTED));
    }
    let methods = api.fields["methods"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !methods.is_empty() && !methods.iter().any(|m| m.as_str() == Some(method)) {
        return Err(denied("this API does not take that method"));
    }
    if let Some(per_minute) = key.fields["rate_limit"].as_u64() {
        crate::limits::admit_rate(store, key.id, per_minute)
            .await?
            .map_err(Error::TooManyRequests)?;
    }
    limits.used(key.id);
    Ok(Allowed {
        org: api.org_slug.unwrap_or_default().to_owned(),
        api: api.id.to_owned(),
        key: key.id.to_owned(),
        upstream: api.fields["upstream_url"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    })
}
