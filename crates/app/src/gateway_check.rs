//! The gateway check's decision (may this consumer key make this request?)
//! and each org's portal.
//! It runs before any principal: the key is the authority, and the answer
//! for a path another org serves is the answer for one nobody serves.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use orgscope_store::Store;
use serde_json::Value;

use crate::secrets::hash_secret;
use crate::{Error, Result};

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
    pub fn admit(&self, key: &str, per_minute: Option<u64>) -> std::result::Result<(), u64> {
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

    pub fn used(&self, key: &str) {
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

/// Decides a request (`method`, `path` as the proxy routes it) made with
/// the consumer key `secret`: unknown, expired or missing keys are
/// `Unauthorized`; a key that does not grant the API serving the path (of
/// its own org), or a method the API does not take, `Forbidden`; over its
/// rate limit, `TooManyRequests`.
pub async fn check(
    store: &Store,
    limits: &GatewayState,
    secret: Option<&str>,
    method: &str,
    path: &str,
) -> Result<Allowed> {
    let secret = secret.ok_or(Error::Unauthorized)?;
    let hit = store
        .gateway_lookup(&hash_secret(secret), path)
        .await?
        .ok_or(Error::Unauthorized)?;
    let fields: Value = serde_json::from_str(&hit.key_fields).unwrap_or_default();
    if fields["expires_at"]
        .as_str()
        .is_some_and(|t| t <= orgscope_store::now().as_str())
    {
        return Err(Error::Unauthorized);
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
    if !methods.is_empty() && !methods.iter().any(|m| m.as_str() == Some(method)) {
        return Err(denied("this API does not take that method"));
    }
    let limit = fields["rate_limit"].as_u64();
    limits
        .admit(&hit.key_id, limit)
        .map_err(Error::TooManyRequests)?;
    limits.used(&hit.key_id);
    Ok(Allowed {
        org: hit.api_org_slug.clone().unwrap_or_default(),
        api: api_id.to_owned(),
        key: hit.key_id.clone(),
        upstream: api_fields["upstream_url"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    })
}
