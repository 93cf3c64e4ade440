//! API gateways: the proxies an org (or the tenant) runs, each serving the
//! API definitions of its org whose tags meet its own (core's
//! `gateway_serves`). What one gateway serves never holds a listen path
//! twice, so two orgs' APIs may share a path on their own gateways; its
//! secret is rotated here; its configuration is what proxies load, and
//! what people see of it is what their read filter admits.

use std::collections::BTreeSet;

use orgscope_core::gateway::{gateway_serves, overlaps};
use orgscope_core::ids::{OrgId, TenantId};
use orgscope_core::kind::{Kind, by_name};
use orgscope_core::policy::{self, OrgSelector, ReadFilter, SystemRead};
use orgscope_store::{ResourceRow, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::audit::{Change, audit};
use crate::orgs::{OrgRef, org_ref};
use crate::resources::{render, writable};
use crate::secrets::{hash_secret, new_secret};
use crate::{Caller, Env, Error, OrNotFound, Result};

fn kind() -> &'static Kind {
    by_name("api_gateway").expect("the kinds table has it")
}

/// An API definition as gateways see it.
#[derive(Clone, Debug)]
pub struct Route {
    pub id: String,
    pub name: String,
    pub org: Option<String>,
    pub org_slug: Option<String>,
    pub listen_path: String,
    pub tags: Vec<String>,
    fields: Value,
}

/// An API gateway as routes are matched to it.
#[derive(Clone, Debug)]
pub struct Proxy {
    pub id: String,
    pub org: Option<String>,
    pub tags: Vec<String>,
}

fn owned(fields: &Value) -> Vec<String> {
    owned_list(&fields["tags"])
}

fn owned_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// What an API gateway serves (`…/config`).
#[derive(Debug, Serialize, ToSchema)]
pub struct GatewayConfig {
    pub gateway: ServingGateway,
    pub apis: Vec<ServedApi>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServingGateway {
    pub id: String,
    pub name: String,
    /// Its org; null when tenant-wide (it serves every org's APIs).
    pub org: Option<OrgRef>,
    pub tags: Vec<String>,
}

/// An API definition as its gateway routes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServedApi {
    pub id: String,
    pub name: String,
    pub org: Option<OrgRef>,
    pub listen_path: String,
    /// Empty: every method.
    pub methods: Vec<String>,
    pub upstream_url: String,
    pub tags: Vec<String>,
}

impl Route {
    fn of(r: &ResourceRow) -> Route {
        let fields: Value = serde_json::from_str(&r.fields).unwrap_or_default();
        Route {
            id: r.id.clone(),
            name: r.name.clone(),
            org: r.org_id.clone(),
            org_slug: r.org_slug.clone(),
            listen_path: fields["listen_path"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            tags: owned(&fields),
            fields,
        }
    }

    /// As a refusal or a preview names it.
    fn shown(&self) -> Value {
        json!({"id": self.id, "name": self.name, "listen_path": self.listen_path,
            "org": org_ref(self.org.as_deref(), self.org_slug.as_deref())})
    }

    /// What a proxy needs to route it (never its OpenAPI document).
    fn config(&self) -> ServedApi {
        ServedApi {
            id: self.id.clone(),
            name: self.name.clone(),
            org: OrgRef::of(self.org.as_deref(), self.org_slug.as_deref()),
            listen_path: self.listen_path.clone(),
            methods: owned_list(&self.fields["methods"]),
            upstream_url: self.fields["upstream_url"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            tags: self.tags.clone(),
        }
    }
}

impl Proxy {
    fn of(r: &ResourceRow) -> Proxy {
        let fields: Value = serde_json::from_str(&r.fields).unwrap_or_default();
        Proxy {
            id: r.id.clone(),
            org: r.org_id.clone(),
            tags: owned(&fields),
        }
    }

    #[must_use]
    pub fn serves(&self, r: &Route) -> bool {
        let mine: Vec<&str> = self.tags.iter().map(String::as_str).collect();
        let theirs: Vec<&str> = r.tags.iter().map(String::as_str).collect();
        gateway_serves(self.org.as_deref(), &mine, r.org.as_deref(), &theirs)
    }
}

/// Two routes one gateway may not serve together: another org's whose path
/// overlaps, or its own org's with the same path (nesting within one org
/// is the org's call; the longest path wins).
#[must_use]
pub fn clash(a: &Route, b: &Route) -> bool {
    if a.id == b.id {
        return false;
    }
    if a.org == b.org {
        a.listen_path.trim_end_matches('/') == b.listen_path.trim_end_matches('/')
    } else {
        overlaps(&a.listen_path, &b.listen_path)
    }
}

fn tenant_filter(tenant: &str) -> ReadFilter {
    // Matching gateways to APIs reads the tenant's on purpose; callers name
    // only what the asker's own filter admits.
    policy::system_filter(&TenantId::from(tenant), None, SystemRead::GatewayRoutes)
}

/// Every API definition and API gateway of a tenant.
pub async fn tenant_routes(tx: &mut Tx, tenant: &str) -> Result<(Vec<Route>, Vec<Proxy>)> {
    let filter = tenant_filter(tenant);
    let routes = tx
        .resources_all("api_definition", &filter, &OrgSelector::All)
        .await?
        .iter()
        .map(Route::of)
        .collect();
    let proxies = tx
        .resources_all("api_gateway", &filter, &OrgSelector::All)
        .await?
        .iter()
        .map(Proxy::of)
        .collect();
    Ok((routes, proxies))
}

/// The pairs of routes one of `proxies` serves together though they clash,
/// each pair once.
pub fn clashes(routes: &[Route], proxies: &[Proxy]) -> Vec<(Route, Route)> {
    let mut out: Vec<(Route, Route)> = Vec::new();
    for p in proxies {
        let served: Vec<&Route> = routes.iter().filter(|r| p.serves(r)).collect();
        for (i, a) in served.iter().enumerate() {
            for b in &served[i + 1..] {
                let seen = out
                    .iter()
                    .any(|(x, y)| (x.id == a.id && y.id == b.id) || (x.id == b.id && y.id == a.id));
                if clash(a, b) && !seen {
                    out.push(((*a).clone(), (*b).clone()));
                }
            }
        }
    }
    out
}

/// Refuses a write that would have one gateway serve clashing paths: the
/// APIs the writer can see are named, the others only said to exist.
pub async fn refuse_clashes(
    tx: &mut Tx,
    viewer: &ReadFilter,
    pairs: &[(Route, Route)],
) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let mut named = Vec::new();
    let mut hidden = false;
    for (a, b) in pairs {
        for r in [a, b] {
            match tx.resource("api_definition", viewer, &r.id).await {
                Ok(_) => {
                    if !named.iter().any(|n: &Value| n["id"] == r.id.as_str()) {
                        named.push(r.shown());
                    }
                }
                Err(orgscope_store::StoreError::NotFound) => hidden = true,
                Err(e) => return Err(e.into()),
            }
        }
    }
    let detail = if hidden {
        "an API gateway would serve listen paths that overlap another organization's (or repeat one); change the tags or the listen path"
    } else {
        "an API gateway would serve these API definitions' overlapping listen paths; change the tags or a listen path"
    };
    Err(Error::Conflict {
        detail: detail.into(),
        blocking: Value::Array(named),
    })
}

/// What a gateway serves, as it would be with `org` and `tags`.
fn served<'a>(routes: &'a [Route], org: Option<&str>, tags: &[String]) -> Vec<&'a Route> {
    let p = Proxy {
        id: String::new(),
        org: org.map(str::to_owned),
        tags: tags.to_vec(),
    };
    routes.iter().filter(|r| p.serves(r)).collect()
}

/// The check of an API gateway's write: what it would serve holds no
/// listen path twice.
pub async fn check_gateway(
    tx: &mut Tx,
    viewer: &ReadFilter,
    tenant: &str,
    org: Option<&str>,
    id: Option<&str>,
    fields: &Map<String, Value>,
) -> Result<()> {
    let (routes, _) = tenant_routes(tx, tenant).await?;
    let me = Proxy {
        id: id.unwrap_or_default().to_owned(),
        org: org.map(str::to_owned),
        tags: owned(&Value::Object(fields.clone())),
    };
    let pairs = clashes(&routes, std::slice::from_ref(&me));
    refuse_clashes(tx, viewer, &pairs).await
}

/// The check of an API definition's write while its tenant takes no shared
/// check: no gateway comes to serve its listen path twice.
pub async fn check_route(
    tx: &mut Tx,
    viewer: &ReadFilter,
    tenant: &str,
    org: Option<&str>,
    id: Option<&str>,
    fields: &Map<String, Value>,
) -> Result<()> {
    let (mut routes, proxies) = tenant_routes(tx, tenant).await?;
    let new = Route {
        id: id.unwrap_or("new").to_owned(),
        name: String::new(),
        org: org.map(str::to_owned),
        org_slug: None,
        listen_path: fields["listen_path"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        tags: owned(&Value::Object(fields.clone())),
        fields: Value::Null,
    };
    routes.retain(|r| r.id != new.id);
    let pairs: Vec<(Route, Route)> = proxies
        .iter()
        .filter(|p| p.serves(&new))
        .flat_map(|p| routes.iter().filter(|r| p.serves(r) && clash(&new, r)))
        .map(|r| (r.clone(), r.clone()))
        .collect();
    refuse_clashes(tx, viewer, &pairs).await
}

/// What `row` is matched with as it is now, for the audit: an API
/// gateway's APIs (`serves`), an API definition's gateways (`served_by`);
/// `None` for other kinds.
pub async fn serving(
    tx: &mut Tx,
    kind: &Kind,
    row: &ResourceRow,
) -> Result<Option<(&'static str, BTreeSet<String>)>> {
    let (routes, proxies) = match kind.name {
        "api_gateway" | "api_definition" => tenant_routes(tx, &row.tenant_id).await?,
        _ => return Ok(None),
    };
    Ok(Some(if kind.name == "api_gateway" {
        let p = Proxy::of(row);
        let ids = routes.iter().filter(|r| p.serves(r)).map(|r| r.id.clone());
        ("serves", ids.collect())
    } else {
        let r = Route::of(row);
        let ids = proxies
            .iter()
            .filter(|p| p.serves(&r))
            .map(|p| p.id.clone());
        ("served_by", ids.collect())
    }))
}

/// What a tag change would move: the APIs a gateway gains and loses (or an
/// API's gateways), as the caller may see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Moves {
    pub gains: Vec<Value>,
    pub loses: Vec<Value>,
}

/// `POST /api/v1/api-gateways/{id}/preview`: the body's tags.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagChange {
    pub tags: Vec<String>,
}

/// The APIs a gateway would gain and lose with other tags (nothing changes).
pub async fn preview(env: &Env<'_>, auth: &Caller, id: &str, change: &TagChange) -> Result<Moves> {
    let mut body = Map::new();
    body.insert("tags".into(), json!(change.tags));
    let tags = kind()
        .validate(&body, true)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let tags = owned(&Value::Object(tags));
    let mut tx = env.store.read().await?;
    let row = writable(&mut tx, kind(), auth, id).await?;
    let (routes, _) = tenant_routes(&mut tx, &row.tenant_id).await?;
    let now: BTreeSet<&str> = served(
        &routes,
        row.org_id.as_deref(),
        &owned(&serde_json::from_str(&row.fields).unwrap_or_default()),
    )
    .iter()
    .map(|r| r.id.as_str())
    .collect();
    let then: BTreeSet<&str> = served(&routes, row.org_id.as_deref(), &tags)
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    let viewer = policy::read_filter(&auth.principal);
    let mut moves = Moves {
        gains: Vec::new(),
        loses: Vec::new(),
    };
    for r in &routes {
        let (gained, lost) = (then.contains(r.id.as_str()), now.contains(r.id.as_str()));
        if gained == lost || tx.resource("api_definition", &viewer, &r.id).await.is_err() {
            continue;
        }
        if gained {
            moves.gains.push(r.shown());
        } else {
            moves.loses.push(r.shown());
        }
    }
    Ok(moves)
}

/// A gateway's new secret: the old one stops at once; shown this once.
pub async fn rotate(env: &Env<'_>, auth: &Caller, id: &str) -> Result<Value> {
    if matches!(auth.principal.actor, policy::Actor::OrgKey { .. }) {
        return Err(Error::Forbidden(
            "an org access key cannot manage api-gateways; use a user's session or personal token"
                .into(),
        ));
    }
    let mut tx = env.store.write().await?;
    let row = writable(&mut tx, kind(), auth, id).await?;
    let token = new_secret("oagw_");
    tx.resource_update(
        id,
        &row.name,
        row.org_id.as_deref(),
        &row.fields,
        Some(&hash_secret(&token)),
    )
    .await?;
    audit(
        &mut tx,
        auth,
        Some(&row.tenant_id),
        Change {
            action: "api_gateway.rotate",
            kind: "api_gateway",
            target: id,
            org: row.org_id.as_deref(),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    let mut out = render(kind(), &row);
    out["token"] = json!(token);
    Ok(out)
}

fn config_of(row: &ResourceRow, routes: &[&Route]) -> GatewayConfig {
    let fields: Value = serde_json::from_str(&row.fields).unwrap_or_default();
    GatewayConfig {
        gateway: ServingGateway {
            id: row.id.clone(),
            name: row.name.clone(),
            org: OrgRef::of(row.org_id.as_deref(), row.org_slug.as_deref()),
            tags: owned(&fields),
        },
        apis: routes.iter().map(|r| r.config()).collect(),
    }
}

/// `GET /api/v1/api-gateways/{id}/config`: what the gateway serves, as far
/// as the caller can see it.
pub async fn config(env: &Env<'_>, auth: &Caller, id: &str) -> Result<GatewayConfig> {
    let mut tx = env.store.read().await?;
    let viewer = policy::read_filter(&auth.principal);
    let row = tx
        .resource("api_gateway", &viewer, id)
        .await
        .or_not_found("api_gateway", id)?;
    let (routes, _) = tenant_routes(&mut tx, &row.tenant_id).await?;
    let p = Proxy::of(&row);
    let mut shown = Vec::new();
    for r in routes.iter().filter(|r| p.serves(r)) {
        if tx.resource("api_definition", &viewer, &r.id).await.is_ok() {
            shown.push(r);
        }
    }
    Ok(config_of(&row, &shown))
}

/// `GET /api/v1/gateway/config`: what the gateway whose secret this is
/// serves, all of it (a proxy loading its routes).
pub async fn config_for_proxy(env: &Env<'_>, secret: &str) -> Result<GatewayConfig> {
    let gw = env
        .store
        .api_gateway_by_secret(&hash_secret(secret))
        .await?
        .ok_or(Error::Unauthorized)?;
    let mut tx = env.store.read().await?;
    let filter = policy::system_filter(
        &TenantId::from(&gw.tenant_id),
        gw.org_id.as_ref().map(OrgId::from).as_ref(),
        SystemRead::GatewayRoutes,
    );
    let row = tx.resource("api_gateway", &filter, &gw.id).await?;
    let (routes, _) = tenant_routes(&mut tx, &row.tenant_id).await?;
    let p = Proxy::of(&row);
    let served: Vec<&Route> = routes.iter().filter(|r| p.serves(r)).collect();
    Ok(config_of(&row, &served))
}

/// The tenant's gateway setting (`GET/PATCH /api/v1/tenant/gateways`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// Whether consumer keys pass the check that names no API gateway
    /// (every org's APIs in one space). Off for new tenants.
    pub shared_check: bool,
}

pub async fn settings(env: &Env<'_>, auth: &Caller) -> Result<GatewaySettings> {
    let tenant = auth.tenant()?.to_owned();
    let mut tx = env.store.read().await?;
    Ok(GatewaySettings {
        shared_check: tx.tenant_shared_check(&tenant).await?,
    })
}

/// Turns the shared check on or off (the tenant's admins). On again, every
/// org's listen paths share one space: refused while two orgs' overlap.
pub async fn update_settings(
    env: &Env<'_>,
    auth: &Caller,
    input: &GatewaySettings,
) -> Result<GatewaySettings> {
    let tenant = auth.tenant()?.to_owned();
    if !auth.principal.is_admin() {
        return Err(Error::Forbidden(
            "only the tenant's admins change how its API gateways are checked".into(),
        ));
    }
    let mut tx = env.store.write().await?;
    let before = tx.tenant_shared_check(&tenant).await?;
    if input.shared_check && !before {
        let (routes, _) = tenant_routes(&mut tx, &tenant).await?;
        let pairs: Vec<(Route, Route)> = routes
            .iter()
            .enumerate()
            .flat_map(|(i, a)| {
                routes[i + 1..]
                    .iter()
                    .filter(move |b| a.org != b.org && clash(a, b))
                    .map(move |b| (a.clone(), b.clone()))
            })
            .collect();
        let viewer = policy::read_filter(&auth.principal);
        refuse_clashes(&mut tx, &viewer, &pairs).await?;
    }
    tx.tenant_set_shared_check(&tenant, input.shared_check)
        .await?;
    audit(
        &mut tx,
        auth,
        Some(&tenant),
        Change {
            action: "tenant.gateways",
            kind: "tenant",
            target: &tenant,
            org: None,
            before: Some(json!({"shared_check": before})),
            after: Some(json!({"shared_check": input.shared_check})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(GatewaySettings {
        shared_check: input.shared_check,
    })
}
