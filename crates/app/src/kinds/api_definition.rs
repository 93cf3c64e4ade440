//! API definitions: a listen path the gateway check routes by, and the
//! upstream it lets requests through to. A listen path never captures or
//! shadows another org's traffic (DECISIONS: API management).

use orgscope_core::gateway;
use orgscope_core::policy;
use orgscope_store::Tx;
use serde_json::{Map, Value, json};

use super::{Place, Write, text};
use crate::orgs::org_ref;
use crate::{Error, Result};

/// The fields are a plain listen path free in the tenant and an http(s)
/// upstream; an update's own path is no clash. Auto-approval issues keys on
/// the portal, so only people switch it on (as only people make keys).
pub async fn check(
    tx: &mut Tx,
    at: &Place<'_>,
    write: &Write<'_>,
    fields: &Map<String, Value>,
) -> Result<()> {
    let (own, sets_approval) = match write {
        Write::Create => (None, true),
        Write::Update { id, changes } => (Some(*id), changes.contains_key("key_approval")),
    };
    if at.by_key && sets_approval && text(fields, "key_approval") == "auto" {
        return Err(Error::Forbidden(
            "an org access key cannot set key_approval to auto (it issues consumer keys); sign in as a person to set it".into(),
        ));
    }
    let path = text(fields, "listen_path");
    // A listen path is stored as the gateway check will compare it.
    if gateway::normalize_path(path).as_deref() != Ok(path) || path.contains(char::is_whitespace) {
        return Err(Error::Invalid(format!(
            "listen_path: '{path}' must be a plain path: start with /, no spaces, no . or .. segments, no doubled slashes, no encoded slashes, e.g. /payments/"
        )));
    }
    if let Some(doc) = fields.get("openapi").filter(|d| !d.is_null()) {
        crate::openapi::check(doc).map_err(Error::Invalid)?;
    }
    let upstream = text(fields, "upstream_url");
    if !(upstream.starts_with("http://") || upstream.starts_with("https://")) {
        return Err(Error::Invalid(format!(
            "upstream_url: '{upstream}' must be an http:// or https:// URL"
        )));
    }
    // While the tenant takes the shared check, every org's paths share one
    // space; else only what one gateway serves must not repeat a path.
    if tx.tenant_shared_check(at.tenant).await? {
        free(tx, at.viewer, at.tenant, at.org, own, path).await
    } else {
        crate::api_gateways::check_route(tx, at.viewer, at.tenant, at.org, own, fields).await
    }
}

pub async fn after_write(
    tx: &mut Tx,
    at: &Place<'_>,
    id: &str,
    fields: &Map<String, Value>,
) -> Result<()> {
    tx.route_set(id, at.tenant, Some(text(fields, "listen_path")))
        .await?;
    Ok(())
}

/// A listen path may not capture another org's traffic: it may not overlap
/// (on whole segments) any listen path of another org in the tenant, nor
/// repeat one of its own org's. Clashes the caller can see are named; one
/// with an API hidden from the caller is refused without naming it (see
/// DECISIONS: API management).
async fn free(
    tx: &mut Tx,
    viewer: &policy::ReadFilter,
    tenant: &str,
    org: Option<&str>,
    id: Option<&str>,
    path: &str,
) -> Result<()> {
    let mut named = Vec::new();
    let mut hidden = false;
    for (other, other_org, other_path) in tx.routes_overlapping_for_check(tenant, path, id).await? {
        let same_org = other_org.as_deref() == org;
        if same_org && other_path.trim_end_matches('/') != path.trim_end_matches('/') {
            continue; // nesting inside one's own org's paths is the org's call
        }
        match tx.resource("api_definition", viewer, &other).await {
            Ok(r) => named.push(
                json!({"id": r.id, "name": r.name, "listen_path": other_path,
                "org": org_ref(r.org_id.as_deref(), r.org_slug.as_deref())}),
            ),
            Err(orgscope_store::StoreError::NotFound) => hidden = true,
            Err(e) => return Err(e.into()),
        }
    }
    if hidden {
        return Err(Error::conflict(format!(
            "listen_path: '{path}' overlaps a path that another organization serves; choose a path outside it"
        )));
    }
    if !named.is_empty() {
        return Err(Error::Conflict {
            detail: format!(
                "listen_path: '{path}' overlaps these API definitions' paths (a path of another org, or the same path in this org); choose another"
            ),
            blocking: Value::Array(named),
        });
    }
    Ok(())
}
