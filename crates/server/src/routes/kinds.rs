//! The generic routes of every kind in core's table: list, create, get,
//! update, delete and re-scope, under the scope policy of the kind.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use orgscope_core::gateway;
use orgscope_core::kind::{KINDS, Kind, Secret, fixed_scope, has_own_create, has_own_read};
use orgscope_core::policy::{self, Actor, Role, Scope, SystemRead};
use orgscope_store::{NewResource, Page, ResourceRow, Tx, new_id};
use serde_json::{Map, Value, json};

use super::{Change, ListQuery, audit, object, org_field, org_ref, selector, text};
use crate::AppState;
use crate::auth::{Auth, new_secret};
use crate::error::{ApiError, ApiResult, AppJson, AppQuery, OrNotFound};

const MAX_NAME: usize = 200;

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for kind in KINDS {
        let item = patch(move |s, a, p, b| update(kind, s, a, p, b))
            .delete(move |s, a, p| remove(kind, s, a, p));
        let item = if has_own_read(kind) {
            item
        } else {
            let collection = get(move |s, a, q| list(kind, s, a, q));
            let collection = if has_own_create(kind) {
                collection
            } else {
                collection.post(move |s, a, b| create(kind, s, a, b))
            };
            router = router.route(&format!("/api/v1/{}", kind.path), collection);
            item.get(move |s, a, p| read(kind, s, a, p))
        };
        router = router
            .route(&format!("/api/v1/{}/{{id}}", kind.path), item)
            .route(
                &format!("/api/v1/{}/{{id}}/rescope", kind.path),
                post(move |s, a, p, b| rescope(kind, s, a, p, b)),
            );
    }
    router
}

/// A resource as clients see it: never its secret.
pub fn render(kind: &Kind, r: &ResourceRow) -> Value {
    let stored: Map<String, Value> = serde_json::from_str(&r.fields).unwrap_or_default();
    let mut out = Map::new();
    out.insert("id".into(), json!(r.id));
    out.insert("kind".into(), json!(kind.name));
    out.insert(
        "org".into(),
        org_ref(r.org_id.as_deref(), r.org_slug.as_deref()),
    );
    out.insert("name".into(), json!(r.name));
    for f in kind.fields {
        if Some(f.name) == kind.secret_field() {
            continue;
        }
        out.insert(
            f.name.into(),
            stored.get(f.name).cloned().unwrap_or(Value::Null),
        );
    }
    out.insert("created_by".into(), json!(r.created_by));
    out.insert("created_at".into(), json!(r.created_at));
    out.insert("updated_at".into(), json!(r.updated_at));
    Value::Object(out)
}

/// A resource with what its kind adds (a file's size, hash and extraction).
async fn present(tx: &mut Tx, kind: &Kind, r: &ResourceRow) -> ApiResult<Value> {
    if kind.name == "file" {
        // `r` was read through the caller's filter.
        let filter = policy::system_filter(&r.tenant_id, None, SystemRead::AlreadyAdmitted);
        let f = tx.file(&filter, &r.id).await?;
        return Ok(super::files::render(&f));
    }
    let mut out = render(kind, r);
    if kind.name == "task" {
        super::agents::add_state(&mut out, &tx.task_state(&r.id).await?);
    }
    if kind.name == "consumer_key" {
        out["last_used_at"] = json!(tx.key_last_used(&r.id).await?);
    }
    Ok(out)
}

/// What a re-scope carries along besides the resource itself.
async fn derived(tx: &mut Tx, kind: &Kind, r: &ResourceRow) -> ApiResult<Value> {
    if kind.name == "file" {
        return Ok(json!({"knowledge_entries": tx.knowledge_count(&r.id).await?}));
    }
    Ok(json!({}))
}

/// The filter to read back a row this transaction was just allowed to
/// write (the write's own check admitted it).
fn written(tenant: &str) -> policy::ReadFilter {
    policy::system_filter(tenant, None, SystemRead::AlreadyAdmitted)
}

fn scope_of(r: &ResourceRow) -> Scope {
    Scope {
        tenant: r.tenant_id.clone(),
        org: r.org_id.clone(),
    }
}

/// Keys act for an org; managing keys is for people, so a key cannot mint or
/// revoke keys (it would outlive its own revocation).
fn keys_only_by_users(kind: &Kind, auth: &Auth) -> ApiResult<()> {
    if matches!(kind.secret, Secret::IssuedToken(_))
        && matches!(auth.principal.actor, Actor::OrgKey { .. })
    {
        return Err(ApiError::Forbidden(format!(
            "an org access key cannot manage {}; use a user's session or personal token",
            kind.path
        )));
    }
    Ok(())
}

/// A visible resource of `kind`, or the same 404 as for an unused id.
async fn visible(tx: &mut Tx, kind: &Kind, auth: &Auth, id: &str) -> ApiResult<ResourceRow> {
    let filter = policy::read_filter(&auth.principal);
    tx.resource(kind.name, &filter, id)
        .await
        .or_not_found(kind.name, id)
}

/// A visible resource the caller may change: 404 when hidden, 403 when
/// visible but not theirs to change.
async fn writable(tx: &mut Tx, kind: &Kind, auth: &Auth, id: &str) -> ApiResult<ResourceRow> {
    let row = visible(tx, kind, auth, id).await?;
    keys_only_by_users(kind, auth)?;
    policy::can_write(
        &auth.principal,
        kind.policy,
        &scope_of(&row),
        row.created_by.as_deref(),
    )
    .map_err(|d| ApiError::denied(d, &format!("this {}", kind.name)))?;
    Ok(row)
}

async fn list(
    kind: &'static Kind,
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Response> {
    let page = q.page()?;
    let mut tx = state.store.read().await?;
    let sel = selector(&mut tx, &auth, q.org.as_deref()).await?;
    let filter = policy::read_filter(&auth.principal);
    let mut rows = tx.resources(kind.name, &filter, &sel, &page).await?;
    let next = super::next_cursor(&mut rows, &page, |r| r.id.clone());
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        items.push(present(&mut tx, kind, r).await?);
    }
    Ok(axum::Json(json!({"items": items, "next_cursor": next})).into_response())
}

async fn read(
    kind: &'static Kind,
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.store.read().await?;
    let row = visible(&mut tx, kind, &auth, &id).await?;
    Ok(axum::Json(present(&mut tx, kind, &row).await?).into_response())
}

async fn create(
    kind: &'static Kind,
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    let tenant = auth.tenant()?.to_owned();
    keys_only_by_users(kind, &auth)?;
    let map = object(&body)?;
    let name = text(&body, "name", MAX_NAME)?.to_owned();
    let mut fields = kind
        .validate(map, false)
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    let mut tx = state.store.write().await?;
    let org = org_field(&mut tx, &auth, &body).await?;
    let target = Scope {
        tenant: tenant.clone(),
        org: org.as_ref().map(|o| o.id.clone()),
    };
    policy::can_place(&auth.principal, kind.policy, &target)
        .map_err(|d| ApiError::denied(d, &format!("{} in this scope", kind.path)))?;
    let viewer = policy::read_filter(&auth.principal);
    check_fields(
        &mut tx,
        &viewer,
        kind,
        &tenant,
        target.org.as_deref(),
        None,
        &fields,
    )
    .await?;
    let refs = check_refs(&mut tx, &auth, kind, target.org.as_deref(), &fields).await?;
    let id = new_id(kind.prefix);
    let mut token = None;
    let secret = match kind.secret {
        Secret::None => None,
        Secret::IssuedToken(prefix) => {
            let t = new_secret(prefix);
            let hash = crate::auth::hash_secret(&t);
            token = Some(t);
            Some(hash)
        }
        Secret::Encrypted => {
            let field = kind.secret_field().unwrap_or("secret");
            let plain = fields.remove(field);
            let plain = plain.as_ref().and_then(Value::as_str).unwrap_or_default();
            Some(
                state
                    .master_key
                    .seal(plain, &id)
                    .map_err(ApiError::Internal)?,
            )
        }
    };
    tx.resource_insert(&NewResource {
        id: id.clone(),
        tenant_id: tenant.clone(),
        kind: kind.name.to_owned(),
        org_id: target.org.clone(),
        name,
        fields: Value::Object(fields.clone()).to_string(),
        secret,
        created_by: Some(auth.actor_id()),
    })
    .await?;
    tx.refs_set(&id, &refs).await?;
    check_fields(
        &mut tx,
        &viewer,
        kind,
        &tenant,
        target.org.as_deref(),
        Some(&id),
        &fields,
    )
    .await?;
    let row = tx.resource(kind.name, &written(&tenant), &id).await?;
    let mut out = render(kind, &row);
    audit(
        &mut tx,
        &auth,
        Some(&tenant),
        Change {
            action: &format!("{}.create", kind.name),
            kind: kind.name,
            target: &id,
            org: row.org_id.as_deref(),
            before: None,
            after: Some(out.clone()),
        },
    )
    .await?;
    tx.commit().await?;
    if let Some(token) = token {
        out["token"] = json!(token);
    }
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

async fn update(
    kind: &'static Kind,
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    let map = object(&body)?;
    if map.contains_key("org") {
        return Err(ApiError::Invalid(format!(
            "org: a {} changes org through POST /api/v1/{}/{id}/rescope (with preview), not an update",
            kind.name, kind.path
        )));
    }
    let mut changes = kind
        .validate(map, true)
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    let name = match map.get("name") {
        Some(_) => Some(text(&body, "name", MAX_NAME)?.to_owned()),
        None => None,
    };
    let mut tx = state.store.write().await?;
    let row = writable(&mut tx, kind, &auth, &id).await?;
    let secret = match kind.secret_field().and_then(|f| changes.remove(f)) {
        Some(Value::String(plain)) => Some(
            state
                .master_key
                .seal(&plain, &id)
                .map_err(ApiError::Internal)?,
        ),
        _ => None,
    };
    let before = present(&mut tx, kind, &row).await?;
    let mut fields: Map<String, Value> = serde_json::from_str(&row.fields).unwrap_or_default();
    let touches_refs = changes.keys().any(|k| kind.ref_target(k).is_some());
    let touches_fields = !changes.is_empty();
    let new_command = changes
        .get("command")
        .and_then(Value::as_str)
        .map(str::to_owned);
    fields.extend(changes);
    if kind.name == "task" && touches_fields {
        return Err(ApiError::Invalid(
            "a task's agent, host and command are fixed once queued; create a new task".into(),
        ));
    }
    if let (true, Some(command)) = (kind.name == "job", &new_command) {
        super::agents::blacklist_check(&mut tx, &row.tenant_id, row.org_id.as_deref(), command)
            .await?;
    }
    // A task's fields are fixed (above): renaming one checks none of them, so
    // a blacklist made after it was queued does not stop a rename.
    if kind.name != "task" {
        check_fields(
            &mut tx,
            &policy::read_filter(&auth.principal),
            kind,
            &row.tenant_id,
            row.org_id.as_deref(),
            Some(&id),
            &fields,
        )
        .await?;
    }
    if touches_refs {
        let refs = check_refs(&mut tx, &auth, kind, row.org_id.as_deref(), &fields).await?;
        tx.refs_set(&id, &refs).await?;
    }
    let name = name.unwrap_or_else(|| row.name.clone());
    tx.resource_update(
        &id,
        &name,
        row.org_id.as_deref(),
        &Value::Object(fields).to_string(),
        secret.as_deref(),
    )
    .await?;
    let tenant = row.tenant_id.clone();
    let row = tx.resource(kind.name, &written(&tenant), &id).await?;
    let after = present(&mut tx, kind, &row).await?;
    let mut after_audit = after.clone();
    if secret.is_some() {
        after_audit["secret_changed"] = json!(true);
    }
    audit(
        &mut tx,
        &auth,
        Some(&row.tenant_id),
        Change {
            action: &format!("{}.update", kind.name),
            kind: kind.name,
            target: &id,
            org: row.org_id.as_deref(),
            before: Some(before),
            after: Some(after_audit),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(after).into_response())
}

async fn remove(
    kind: &'static Kind,
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.store.write().await?;
    let row = writable(&mut tx, kind, &auth, &id).await?;
    let before = present(&mut tx, kind, &row).await?;
    // A file's blob goes once the row is gone for good (after the commit).
    let blob = if kind.name == "file" {
        // `row` was admitted by `writable` in this transaction.
        let filter = policy::system_filter(&row.tenant_id, None, SystemRead::AlreadyAdmitted);
        Some(tx.file(&filter, &id).await?.blob_key)
    } else {
        None
    };
    let referrers = tx.refs_to(&id).await?;
    if !referrers.is_empty() {
        return Err(ApiError::Conflict {
            detail: format!(
                "this {} is still referred to; change or delete these first",
                kind.name
            ),
            blocking: Value::Array(referrers.iter().map(render_ref).collect()),
        });
    }
    tx.resource_delete(&id).await?;
    audit(
        &mut tx,
        &auth,
        Some(&row.tenant_id),
        Change {
            action: &format!("{}.delete", kind.name),
            kind: kind.name,
            target: &id,
            org: row.org_id.as_deref(),
            before: Some(before),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    if let Some(blob) = blob {
        state.blobs.delete(&blob).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn render_ref(r: &orgscope_store::RefRow) -> Value {
    json!({"field": r.field, "id": r.id, "kind": r.kind, "org": org_ref(r.org_id.as_deref(), r.org_slug.as_deref())})
}

/// Checks the references of a body: each must be a resource the caller can
/// see (else it reads as missing: 422) in the same org as the referrer, or
/// tenant-wide (else 409 naming them). Returns them for `refs_set`.
async fn check_refs(
    tx: &mut Tx,
    auth: &Auth,
    kind: &Kind,
    org: Option<&str>,
    fields: &Map<String, Value>,
) -> ApiResult<Vec<(String, String)>> {
    let refs = kind.refs(fields);
    let filter = policy::read_filter(&auth.principal);
    let mut blocking = Vec::new();
    for (field, id) in &refs {
        let target = kind.ref_target(field).unwrap_or_default();
        match tx.resource(target, &filter, id).await {
            Ok(r) => {
                if r.org_id.is_some() && r.org_id.as_deref() != org {
                    blocking.push(json!({"field": field, "id": id, "kind": target,
                        "org": org_ref(r.org_id.as_deref(), r.org_slug.as_deref())}));
                }
            }
            Err(orgscope_store::StoreError::NotFound) => {
                return Err(ApiError::Invalid(format!("{field}: no {target} '{id}'")));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !blocking.is_empty() {
        return Err(ApiError::Conflict {
            detail: format!(
                "a {} may refer only to resources of its own org or tenant-wide ones",
                kind.name
            ),
            blocking: Value::Array(blocking),
        });
    }
    Ok(refs)
}

/// References a move of `id` into `to` would break: what it refers to must
/// be in `to` or tenant-wide; what refers to it must be in `to` (unless it
/// becomes tenant-wide, which anything may refer to).
async fn blocking_refs(tx: &mut Tx, id: &str, to: Option<&str>) -> ApiResult<Vec<Value>> {
    let mut out = Vec::new();
    for r in tx.refs_from(id).await? {
        if r.org_id.is_some() && r.org_id.as_deref() != to {
            out.push(json!({"direction": "refers_to", "ref": render_ref(&r)}));
        }
    }
    if to.is_some() {
        for r in tx.refs_to(id).await? {
            if r.org_id.as_deref() != to {
                out.push(json!({"direction": "referred_by", "ref": render_ref(&r)}));
            }
        }
    }
    Ok(out)
}

/// A listen path may not capture another org's traffic: it may not overlap
/// (on whole segments) any listen path of another org in the tenant, nor
/// repeat one of its own org's. Clashes the caller can see are named; one
/// with an API hidden from the caller is refused without naming it (see
/// DECISIONS: API management).
async fn listen_path_free(
    tx: &mut Tx,
    viewer: &policy::ReadFilter,
    tenant: &str,
    org: Option<&str>,
    id: Option<&str>,
    path: &str,
) -> ApiResult<()> {
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
        return Err(ApiError::conflict(format!(
            "listen_path: '{path}' overlaps a path that another organization serves; choose a path outside it"
        )));
    }
    if !named.is_empty() {
        return Err(ApiError::Conflict {
            detail: format!(
                "listen_path: '{path}' overlaps these API definitions' paths (a path of another org, or the same path in this org); choose another"
            ),
            blocking: Value::Array(named),
        });
    }
    Ok(())
}

/// What a kind checks of its fields beyond their types; with the resource's
/// `id` (once it exists) it also records what the kind keeps beside them.
/// `viewer` is the caller's read filter: what a refusal may name.
async fn check_fields(
    tx: &mut Tx,
    viewer: &policy::ReadFilter,
    kind: &Kind,
    tenant: &str,
    org: Option<&str>,
    id: Option<&str>,
    fields: &Map<String, Value>,
) -> ApiResult<()> {
    match kind.name {
        "task" => {
            let command = fields
                .get("command")
                .and_then(Value::as_str)
                .unwrap_or_default();
            super::agents::blacklist_check(tx, tenant, org, command).await?;
            if let Some(id) = id {
                tx.task_enqueue(
                    id,
                    fields
                        .get("agent")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
                .await?;
            }
        }
        "job" => {
            // A command is refused when it is written (created here, changed
            // in `update`) rather than at every firing; a rename does not
            // re-judge it (the firing does, with the blacklists then in force).
            if id.is_none() {
                let command = fields
                    .get("command")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                super::agents::blacklist_check(tx, tenant, org, command).await?;
            }
            let next = super::agents::next_firing(
                fields
                    .get("schedule")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                fields.get("timezone").and_then(Value::as_str),
                chrono::Utc::now(),
            )
            .map_err(ApiError::Invalid)?;
            if let Some(id) = id {
                let enabled = fields
                    .get("enabled")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                tx.job_schedule_set(id, enabled.then_some(next.as_str()))
                    .await?;
            }
        }
        "api_definition" => {
            let path = fields
                .get("listen_path")
                .and_then(Value::as_str)
                .unwrap_or_default();
            // A listen path is stored as the gateway check will compare it.
            if gateway::normalize_path(path).as_deref() != Ok(path)
                || path.contains(char::is_whitespace)
            {
                return Err(ApiError::Invalid(format!(
                    "listen_path: '{path}' must be a plain path: start with /, no spaces, no . or .. segments, no doubled slashes, no encoded slashes, e.g. /payments/"
                )));
            }
            let upstream = fields
                .get("upstream_url")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !(upstream.starts_with("http://") || upstream.starts_with("https://")) {
                return Err(ApiError::Invalid(format!(
                    "upstream_url: '{upstream}' must be an http:// or https:// URL"
                )));
            }
            listen_path_free(tx, viewer, tenant, org, id, path).await?;
            if let Some(id) = id {
                tx.route_set(id, tenant, Some(path)).await?;
            }
        }
        "developer" => {
            let email = fields
                .get("email")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
                return Err(ApiError::Invalid(format!(
                    "email: '{email}' is not an email address"
                )));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The enabled users of a tenant who can see `a` but not `b`: (id, username).
async fn who_loses(
    tx: &mut Tx,
    tenant: &str,
    a: &Scope,
    b: &Scope,
) -> ApiResult<Vec<(String, String)>> {
    let mut users = Vec::new();
    let mut after = None;
    loop {
        let page = Page {
            limit: 500,
            after: after.clone(),
        };
        let batch = tx.users(Some(tenant), &page).await?;
        let done = batch.len() < 500;
        after = batch.last().map(|u| u.id.clone());
        users.extend(batch);
        if done {
            break;
        }
    }
    // Only memberships of the two scopes' orgs can decide (DESIGN 3, Read):
    // one query per org, not one per user.
    let mut memberships: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for org in [&a.org, &b.org].into_iter().flatten() {
        for (user, can_manage) in tx.memberships_in(org).await? {
            memberships
                .entry(user)
                .or_default()
                .push((org.clone(), can_manage));
        }
    }
    let mut out = Vec::new();
    for user in users.iter().filter(|u| u.disabled == 0) {
        let held = memberships.remove(&user.id).unwrap_or_default();
        let p = crate::auth::principal_of(user, tenant.to_owned(), held)?;
        if p.role() == Some(Role::Superuser) {
            continue;
        }
        if policy::visible(&p, a) && !policy::visible(&p, b) {
            out.push((user.id.clone(), user.username.clone()));
        }
    }
    Ok(out)
}

/// An impact's users as `p` may learn them: the names it may read (core's
/// `named_users`), and how many there are in all.
async fn impact_users(
    tx: &mut Tx,
    p: &policy::Principal,
    users: &[(String, String)],
) -> ApiResult<(Vec<String>, usize)> {
    let names = match policy::named_users(p) {
        None => users.iter().map(|(_, name)| name.clone()).collect(),
        Some(orgs) => {
            let mut known: std::collections::BTreeSet<String> =
                p.user_id().map(str::to_owned).into_iter().collect();
            for org in &orgs {
                known.extend(tx.memberships_in(org).await?.into_iter().map(|(u, _)| u));
            }
            users
                .iter()
                .filter(|(id, _)| known.contains(id))
                .map(|(_, name)| name.clone())
                .collect()
        }
    };
    Ok((names, users.len()))
}

async fn rescope(
    kind: &'static Kind,
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    super::only_fields(&body, &["org", "preview"])?;
    if body.get("org").is_none() {
        return Err(ApiError::Invalid(
            "org: is required: an org slug or id, or null for tenant-wide".into(),
        ));
    }
    let preview = match body.get("preview") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::Invalid("preview: must be true or false".into())),
    };
    let mut tx = state.store.write().await?;
    let row = visible(&mut tx, kind, &auth, &id).await?;
    if let Some(instead) = fixed_scope(kind) {
        return Err(ApiError::Invalid(format!("org: {instead}")));
    }
    keys_only_by_users(kind, &auth)?;
    let target_org = org_field(&mut tx, &auth, &body).await?;
    let from = scope_of(&row);
    let to = Scope {
        tenant: row.tenant_id.clone(),
        org: target_org.as_ref().map(|o| o.id.clone()),
    };
    policy::can_rescope(
        &auth.principal,
        kind.policy,
        &from,
        row.created_by.as_deref(),
        &to,
    )
    .map_err(|d| ApiError::denied(d, &format!("this {} into that scope", kind.name)))?;
    let blocking = blocking_refs(&mut tx, &id, to.org.as_deref()).await?;
    let lose = who_loses(&mut tx, &row.tenant_id, &from, &to).await?;
    let gain = who_loses(&mut tx, &row.tenant_id, &to, &from).await?;
    let (lose, lose_count) = impact_users(&mut tx, &auth.principal, &lose).await?;
    let (gain, gain_count) = impact_users(&mut tx, &auth.principal, &gain).await?;
    // A persona moved into an org loses the assignments of non-members.
    let mut pruned = Vec::new();
    if let (true, Some(org)) = (kind.name == "persona", &to.org) {
        for (user, name) in tx.assignments(&id).await? {
            if tx.member(org, &user).await.is_err() {
                pruned.push(name);
            }
        }
    }
    let impact = json!({
        "from": org_ref(row.org_id.as_deref(), row.org_slug.as_deref()),
        "to": org_ref(to.org.as_deref(), target_org.as_ref().map(|o| o.slug.as_str())),
        "users_losing_access": lose,
        "users_losing_access_count": lose_count,
        "users_gaining_access": gain,
        "users_gaining_access_count": gain_count,
        "derived": derived(&mut tx, kind, &row).await?,
        "assignments_pruned": pruned,
        "blocking_references": blocking,
    });
    if preview {
        return Ok(axum::Json(json!({ "preview": true, "impact": impact })).into_response());
    }
    if !blocking.is_empty() {
        return Err(ApiError::Conflict {
            detail: format!(
                "moving this {} would break references across orgs; move or change these first (preview lists them)",
                kind.name
            ),
            blocking: Value::Array(blocking),
        });
    }
    let before = present(&mut tx, kind, &row).await?;
    if let (true, Some(org)) = (kind.name == "persona", &to.org) {
        tx.assignments_prune(&id, org).await?;
    }
    tx.resource_update(&id, &row.name, to.org.as_deref(), &row.fields, None)
        .await?;
    let after_row = tx
        .resource(kind.name, &written(&row.tenant_id), &id)
        .await?;
    let after = present(&mut tx, kind, &after_row).await?;
    super::audit_move(
        &mut tx,
        &auth,
        Some(&row.tenant_id),
        Change {
            action: &format!("{}.rescope", kind.name),
            kind: kind.name,
            target: &id,
            org: to.org.as_deref(),
            before: Some(before),
            after: Some(json!({ "resource": after, "impact": impact })),
        },
        row.org_id.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(
        axum::Json(json!({ "preview": false, "resource": after, "impact": impact }))
            .into_response(),
    )
}

/// The OpenAPI paths of every kind, generated from the kinds table.
pub fn openapi_paths() -> Map<String, Value> {
    let mut paths = Map::new();
    let problem = json!({"description": "problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    for kind in KINDS {
        let mut props = Map::new();
        props.insert(
            "name".into(),
            json!({"type": "string", "maxLength": MAX_NAME}),
        );
        props.insert("org".into(), json!({"type": ["string", "null"], "description": "Org slug or id; null = tenant-wide; absent = your default org"}));
        let mut required = vec![json!("name")];
        for f in kind.fields {
            use orgscope_core::kind::FieldType::*;
            let schema = match f.ty {
                Text(max) => json!({"type": "string", "maxLength": max}),
                Choice(c) => json!({"type": "string", "enum": c}),
                Timestamp => json!({"type": ["string", "null"], "format": "date-time"}),
                Patterns => json!({"type": "array", "items": {"type": "string"}}),
                Secret => json!({"type": "string", "writeOnly": true}),
                Bool => json!({"type": "boolean"}),
                Int(min, max) => json!({"type": "integer", "minimum": min, "maximum": max}),
                Choices(c) => json!({"type": "array", "items": {"type": "string", "enum": c}}),
                Ref(k) => json!({"type": "string", "description": format!("a {k} id")}),
                Refs(k) => {
                    json!({"type": "array", "items": {"type": "string"}, "description": format!("{k} ids")})
                }
                Labels => json!({"type": "object", "additionalProperties": {"type": "string"}}),
                ReadOnly => json!({"readOnly": true}),
            };
            let mut schema = schema;
            schema["description"] = json!(f.doc);
            props.insert(f.name.into(), schema);
            if f.required {
                required.push(json!(f.name));
            }
        }
        let body = json!({"type": "object", "properties": props, "required": required});
        let item = json!({"description": "a resource", "content": {"application/json": {"schema": {"type": "object"}}}});
        let tag = json!([kind.path]);
        let id_param =
            json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
        let policy = format!("{:?}", kind.policy);
        if !has_own_read(kind) {
            let mut collection = json!({
            "get": {"tags": tag, "summary": format!("List {} ({})", kind.path, kind.doc), "operationId": format!("list_{}", kind.name),
                "parameters": [
                    {"name": "org", "in": "query", "schema": {"type": "string"}, "description": "all | tenant | org slug or id"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": super::MAX_LIMIT}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "{items, next_cursor}", "content": {"application/json": {"schema": {"type": "object"}}}}, "400": problem, "401": problem, "404": problem}},
            "post": {"tags": tag, "summary": format!("Create a {} (scope policy: {policy})", kind.name), "operationId": format!("create_{}", kind.name),
                "requestBody": {"required": true, "content": {"application/json": {"schema": body}}},
                "responses": {"201": item, "401": problem, "403": problem, "422": problem}},
            });
            if has_own_create(kind) {
                // Documented by the kind's own handler; merged in lib.rs.
                collection.as_object_mut().map(|m| m.remove("post"));
            }
            paths.insert(format!("/api/v1/{}", kind.path), collection);
        }
        let mut patch_body = body.clone();
        patch_body["required"] = json!([]);
        let mut item_path = json!({
            "get": {"tags": tag, "operationId": format!("get_{}", kind.name), "parameters": id_param, "responses": {"200": item, "401": problem, "404": problem}},
            "patch": {"tags": tag, "operationId": format!("update_{}", kind.name), "parameters": id_param,
                "requestBody": {"required": true, "content": {"application/json": {"schema": patch_body}}},
                "responses": {"200": item, "403": problem, "404": problem, "422": problem}},
            "delete": {"tags": tag, "operationId": format!("delete_{}", kind.name), "parameters": id_param, "responses": {"204": {"description": "deleted"}, "403": problem, "404": problem}},
        });
        if has_own_read(kind) {
            // Documented by the kind's own handlers; merged in lib.rs.
            item_path.as_object_mut().map(|m| m.remove("get"));
        }
        paths.insert(format!("/api/v1/{}/{{id}}", kind.path), item_path);
        paths.insert(format!("/api/v1/{}/{{id}}/rescope", kind.path), json!({
            "post": {"tags": tag, "operationId": format!("rescope_{}", kind.name), "parameters": id_param,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"org": {"type": ["string", "null"]}, "preview": {"type": "boolean"}}, "required": ["org"]}}}},
                "responses": {"200": {"description": "the impact, and the resource unless previewing", "content": {"application/json": {"schema": {"type": "object"}}}}, "403": problem, "404": problem, "409": problem, "422": problem}},
        }));
    }
    paths
}
