//! The generic operations on every kind of core's table: list, read,
//! create, update, delete and re-scope, under the kind's scope policy,
//! each in one transaction with its policy check and audit entry.

use orgscope_core::ids::TenantId;
use orgscope_core::kind::{Behaviour, FieldType, Kind, Secret, fixed_scope};
use orgscope_core::policy::{self, Actor, Scope, SystemRead};
use orgscope_store::{Narrow, NewResource, OrgRow, Page, ResourceRow, Tx, new_id};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::audit::{Change, audit, audit_move, snapshot};
use crate::input::{next_cursor, object, text};
use crate::orgs::{OrgRef, org_choice, org_field, org_ref, selector};
use crate::secrets::{hash_secret, new_secret};
use crate::{Caller, Env, Error, OrNotFound, Result, access, kinds};

pub const MAX_NAME: usize = 200;

/// `POST /api/v1/{kind}/{id}/rescope`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rescope {
    /// The org (slug or id) to move to, or null for tenant-wide.
    #[serde(deserialize_with = "Option::deserialize")]
    pub org: Option<String>,
    /// Answer the impact and change nothing.
    #[serde(default)]
    pub preview: bool,
    /// With `preview`: more names of users losing access, from this
    /// `users_losing_access_next_cursor`.
    #[serde(default)]
    pub losing_cursor: Option<String>,
    /// With `preview`: more names of users gaining access, from this
    /// `users_gaining_access_next_cursor`.
    #[serde(default)]
    pub gaining_cursor: Option<String>,
}

/// A re-scope's answer: its impact and, once done, the resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rescoped {
    pub preview: bool,
    pub impact: RescopeImpact,
    /// The resource in its new scope (not in a preview).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub resource: Option<Value>,
}

/// Who and what a move changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct RescopeImpact {
    pub from: Option<OrgRef>,
    pub to: Option<OrgRef>,
    /// Usernames (those you may know of) who see it now and would not:
    /// a page of 50 users at most.
    pub users_losing_access: Vec<String>,
    /// How many users in all.
    pub users_losing_access_count: i64,
    /// More names: preview again with `losing_cursor` set to this.
    pub users_losing_access_next_cursor: Option<String>,
    /// Usernames (those you may know of) who would see it and do not now.
    pub users_gaining_access: Vec<String>,
    pub users_gaining_access_count: i64,
    /// More names: preview again with `gaining_cursor` set to this.
    pub users_gaining_access_next_cursor: Option<String>,
    /// What follows the resource (a file's knowledge entries, ...).
    #[schema(value_type = Object)]
    pub derived: Value,
    /// Usernames whose persona assignment the move drops.
    pub assignments_pruned: Vec<String>,
    /// References the move would break (`{field, id, kind, org}`): it is refused while any remain.
    #[schema(value_type = Vec<Object>)]
    pub blocking_references: Vec<Value>,
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
        let absent = || {
            f.default
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(Value::Null)
        };
        out.insert(
            f.name.into(),
            stored.get(f.name).cloned().unwrap_or_else(absent),
        );
    }
    out.insert("created_by".into(), json!(r.created_by));
    out.insert("created_at".into(), json!(r.created_at));
    out.insert("updated_at".into(), json!(r.updated_at));
    Value::Object(out)
}

/// The filter to read back a row this transaction was just allowed to
/// write (the write's own check admitted it).
fn written(tenant: &str) -> policy::ReadFilter {
    policy::system_filter(&TenantId::from(tenant), None, SystemRead::AlreadyAdmitted)
}

fn scope_of(r: &ResourceRow) -> Scope {
    r.scope()
}

/// Keys act for an org; managing keys is for people, so a key cannot mint or
/// revoke keys (it would outlive its own revocation).
fn keys_only_by_users(kind: &Kind, auth: &Caller) -> Result<()> {
    if !kind.keys_manage() && matches!(auth.principal.actor, Actor::OrgKey { .. }) {
        return Err(Error::Forbidden(format!(
            "an org access key cannot manage {}; use a user's session or personal token",
            kind.path
        )));
    }
    Ok(())
}

/// A visible resource of `kind`, or the same 404 as for an unused id.
async fn visible(tx: &mut Tx, kind: &Kind, auth: &Caller, id: &str) -> Result<ResourceRow> {
    let filter = policy::read_filter(&auth.principal);
    tx.resource(kind.name, &filter, id)
        .await
        .or_not_found(kind.name, id)
}

/// A visible resource the caller may change: 404 when hidden, 403 when
/// visible but not theirs to change.
pub(crate) async fn writable(
    tx: &mut Tx,
    kind: &Kind,
    auth: &Caller,
    id: &str,
) -> Result<ResourceRow> {
    let row = visible(tx, kind, auth, id).await?;
    keys_only_by_users(kind, auth)?;
    policy::can_write(
        &auth.principal,
        kind.policy,
        &scope_of(&row),
        row.created_by.as_deref(),
    )
    .map_err(|d| Error::denied(d, &format!("this {}", kind.name)))?;
    Ok(row)
}

fn render_ref(r: &orgscope_store::RefRow) -> Value {
    json!({"field": r.field, "id": r.id, "kind": r.kind, "org": org_ref(r.org_id.as_deref(), r.org_slug.as_deref())})
}

/// Checks the references of a body: each must be a resource the caller can
/// see (else it reads as missing: 422) in the same org as the referrer, or
/// tenant-wide (else 409 naming them). Returns them for `refs_set`.
async fn check_refs(
    tx: &mut Tx,
    auth: &Caller,
    kind: &Kind,
    org: Option<&str>,
    fields: &Map<String, Value>,
) -> Result<Vec<(String, String)>> {
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
                return Err(Error::Invalid(format!("{field}: no {target} '{id}'")));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !blocking.is_empty() {
        return Err(Error::Conflict {
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
async fn blocking_refs(tx: &mut Tx, id: &str, to: Option<&str>) -> Result<Vec<Value>> {
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

/// A page of the resources of `kind` the caller can see, narrowed by `org`
/// (`all`, `tenant` or an org), and the cursor of the next page.
pub async fn list(
    env: &Env<'_>,
    auth: &Caller,
    kind: &'static Kind,
    org: Option<&str>,
    page: &Page,
) -> Result<(Vec<Value>, Option<String>)> {
    list_filtered(env, auth, kind, org, page, &Filters::default()).await
}

/// What a listing asks for beyond the org: `q` (the name contains it,
/// ignoring case) on every kind, and the filters some kinds have.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub q: Option<String>,
    /// Tasks: their status.
    pub status: Option<String>,
    /// Kinds with an `agent`: that agent's (an id).
    pub agent: Option<String>,
    /// Jobs: firing or disabled.
    pub enabled: Option<bool>,
}

const TASK_STATUSES: &[&str] = &[
    "queued",
    "running",
    "succeeded",
    "failed",
    "refused",
    "cancelled",
];

/// `q` as the store narrows by it: at most 200 characters.
pub fn name_contains(q: Option<&str>) -> Result<Option<String>> {
    match q.map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) if q.chars().count() > 200 || q.contains('\0') => Err(Error::BadRequest(
            "q: at most 200 characters, no NUL".into(),
        )),
        q => Ok(q.map(str::to_owned)),
    }
}

impl Filters {
    /// The store's narrowing, or a 400 naming a filter this kind has not.
    fn narrow(&self, kind: &Kind) -> Result<Narrow> {
        let only = |param: &str, which: &str| {
            Error::BadRequest(format!(
                "{param}: only {which} filter by it, not {}",
                kind.path
            ))
        };
        if let Some(s) = &self.status {
            if kind.behaviour != Behaviour::Task {
                return Err(only("status", "tasks"));
            }
            if !TASK_STATUSES.contains(&s.as_str()) {
                return Err(Error::BadRequest(format!(
                    "status: '{s}' is not one of {}",
                    TASK_STATUSES.join(", ")
                )));
            }
        }
        if self.agent.is_some() && kind.ref_target("agent") != Some("agent") {
            return Err(only("agent", "kinds with an agent (tasks, jobs, gateways)"));
        }
        if self.enabled.is_some() && kind.behaviour != Behaviour::Job {
            return Err(only("enabled", "jobs"));
        }
        Ok(Narrow {
            name: name_contains(self.q.as_deref())?,
            task_status: self.status.clone(),
            refers: self.agent.clone().map(|a| ("agent", a)),
            job_enabled: self.enabled,
            ..Narrow::default()
        })
    }
}

/// [`list`], narrowed by `filters`.
pub async fn list_filtered(
    env: &Env<'_>,
    auth: &Caller,
    kind: &'static Kind,
    org: Option<&str>,
    page: &Page,
    filters: &Filters,
) -> Result<(Vec<Value>, Option<String>)> {
    let narrow = filters.narrow(kind)?;
    let page = page.clone();
    let mut tx = env.store.read().await?;
    let sel = selector(&mut tx, auth, org).await?;
    let filter = policy::read_filter(&auth.principal);
    let mut rows = tx
        .resources_narrowed(kind.name, &filter, &sel, &page, &narrow)
        .await?;
    let next = next_cursor(&mut rows, &page, |r| r.id.clone());
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut item = kinds::present(&mut tx, kind, r).await?;
        for_the_caller(&mut tx, kind, auth, r, &mut item).await?;
        items.push(item);
    }
    Ok((items, next))
}

/// Every timestamp a body sets is an expiry: one already past would make
/// a key that never works, so it is refused, saying so.
fn not_past(kind: &Kind, fields: &Map<String, Value>) -> Result<()> {
    let now = orgscope_store::now();
    for f in kind.fields.iter().filter(|f| f.ty == FieldType::Timestamp) {
        if let Some(t) = fields.get(f.name).and_then(Value::as_str)
            && t <= now.as_str()
        {
            return Err(Error::Invalid(format!(
                "{}: {t} is already past; give a time in the future, or none for no expiry",
                f.name
            )));
        }
    }
    Ok(())
}

/// What a read adds for the one reading: whether they may start a
/// session with a persona.
async fn for_the_caller(
    tx: &mut Tx,
    kind: &Kind,
    auth: &Caller,
    r: &ResourceRow,
    out: &mut Value,
) -> Result<()> {
    if kind.behaviour == Behaviour::Persona {
        out["selectable"] = json!(crate::chat::selectable(tx, &auth.principal, r).await?);
    }
    Ok(())
}

/// A resource as a reference to it shows: its name, and whether it is
/// tenant-wide.
#[derive(Clone, Debug)]
pub struct Named {
    pub id: String,
    pub name: String,
    pub tenant_wide: bool,
}

/// Those of `ids` (of `kind`) the caller can see, by name; the others are
/// left out, as if never used.
pub async fn named(
    env: &Env<'_>,
    auth: &Caller,
    kind: &'static Kind,
    ids: &[String],
) -> Result<Vec<Named>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = env.store.read().await?;
    let filter = policy::read_filter(&auth.principal);
    let rows = tx.resources_among(kind.name, &filter, ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| Named {
            tenant_wide: r.org_id.is_none(),
            id: r.id,
            name: r.name,
        })
        .collect())
}

/// One resource of `kind` the caller can see (else the "no such" of an
/// unused id).
pub async fn read(env: &Env<'_>, auth: &Caller, kind: &'static Kind, id: &str) -> Result<Value> {
    let mut tx = env.store.read().await?;
    let row = visible(&mut tx, kind, auth, id).await?;
    let mut out = kinds::present(&mut tx, kind, &row).await?;
    for_the_caller(&mut tx, kind, auth, &row, &mut out).await?;
    Ok(out)
}

/// Creates a resource of `kind` from a body `{name, org?, …kind fields}`;
/// a kind that issues a secret answers it once, as `token`.
pub async fn create(
    env: &Env<'_>,
    auth: &Caller,
    kind: &'static Kind,
    body: &Value,
) -> Result<Value> {
    let tenant = auth.tenant()?.to_owned();
    keys_only_by_users(kind, auth)?;
    let map = object(body)?;
    let name = text(body, "name", MAX_NAME)?.to_owned();
    let mut fields = kind
        .validate(map, false)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    not_past(kind, &fields)?;
    let mut tx = env.store.write().await?;
    let org = org_field(&mut tx, auth, body).await?;
    let target = Scope {
        tenant: TenantId::from(&tenant),
        org: org.as_ref().map(OrgRow::org),
    };
    policy::can_place(&auth.principal, kind.policy, &target)
        .map_err(|d| Error::denied(d, &format!("{} in this scope", kind.path)))?;
    let viewer = policy::read_filter(&auth.principal);
    let at = kinds::Place {
        viewer: &viewer,
        tenant: &tenant,
        org: target.org.as_deref(),
        by_key: matches!(auth.principal.actor, Actor::OrgKey { .. }),
    };
    kinds::check(&mut tx, kind, &at, &fields, &kinds::Write::Create).await?;
    let refs = check_refs(&mut tx, auth, kind, target.org.as_deref(), &fields).await?;
    let id = new_id(kind.prefix);
    let mut token = None;
    let secret = match kind.secret {
        Secret::None => None,
        Secret::IssuedToken(prefix) => {
            let t = new_secret(prefix);
            let hash = hash_secret(&t);
            token = Some(t);
            Some(hash)
        }
        Secret::SigningKey(prefix) => {
            let t = new_secret(prefix);
            let sealed = env.master_key.seal(&t, &id).map_err(Error::Internal)?;
            token = Some(t);
            Some(sealed)
        }
        Secret::Encrypted => {
            let field = kind.secret_field().unwrap_or("secret");
            let plain = fields.remove(field);
            let plain = plain.as_ref().and_then(Value::as_str).unwrap_or_default();
            Some(env.master_key.seal(plain, &id).map_err(Error::Internal)?)
        }
    };
    tx.resource_insert(&NewResource {
        id: id.clone(),
        tenant_id: tenant.clone(),
        kind: kind.name.to_owned(),
        org_id: target.org.as_deref().map(str::to_owned),
        name,
        fields: Value::Object(fields.clone()).to_string(),
        secret,
        created_by: Some(auth.actor_id()),
    })
    .await?;
    tx.refs_set(&id, &refs).await?;
    kinds::after_write(&mut tx, kind, &at, &id, &fields, &kinds::Write::Create).await?;
    let row = tx.resource(kind.name, &written(&tenant), &id).await?;
    let mut out = kinds::present(&mut tx, kind, &row).await?;
    audit(
        &mut tx,
        auth,
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
    Ok(out)
}

/// Changes a resource's name and fields (never its org: see [`rescope`]).
pub async fn update(
    env: &Env<'_>,
    auth: &Caller,
    kind: &'static Kind,
    id: &str,
    body: &Value,
) -> Result<Value> {
    let map = object(body)?;
    if map.contains_key("org") {
        return Err(Error::Invalid(format!(
            "org: a {} changes org through POST /api/v1/{}/{id}/rescope (with preview), not an update",
            kind.name, kind.path
        )));
    }
    let mut changes = kind
        .validate(map, true)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    not_past(kind, &changes)?;
    let name = match map.get("name") {
        Some(_) => Some(text(body, "name", MAX_NAME)?.to_owned()),
        None => None,
    };
    let mut tx = env.store.write().await?;
    let row = writable(&mut tx, kind, auth, id).await?;
    let secret = match kind.secret_field().and_then(|f| changes.remove(f)) {
        Some(Value::String(plain)) => {
            Some(env.master_key.seal(&plain, id).map_err(Error::Internal)?)
        }
        _ => None,
    };
    let before = kinds::present(&mut tx, kind, &row).await?;
    // A tag change moves APIs between gateways: the audit says which.
    let serving_before = crate::api_gateways::serving(&mut tx, kind, &row).await?;
    let mut fields: Map<String, Value> = serde_json::from_str(&row.fields).unwrap_or_default();
    let touches_refs = changes.keys().any(|k| kind.ref_target(k).is_some());
    fields.extend(changes.clone());
    let viewer = policy::read_filter(&auth.principal);
    let at = kinds::Place {
        viewer: &viewer,
        tenant: &row.tenant_id,
        org: row.org_id.as_deref(),
        by_key: matches!(auth.principal.actor, Actor::OrgKey { .. }),
    };
    let write = kinds::Write::Update {
        id,
        changes: &changes,
    };
    kinds::check(&mut tx, kind, &at, &fields, &write).await?;
    if touches_refs {
        let refs = check_refs(&mut tx, auth, kind, row.org_id.as_deref(), &fields).await?;
        tx.refs_set(id, &refs).await?;
    }
    let name = name.unwrap_or_else(|| row.name.clone());
    tx.resource_update(
        id,
        &name,
        row.org_id.as_deref(),
        &Value::Object(fields.clone()).to_string(),
        secret.as_deref(),
    )
    .await?;
    kinds::after_write(&mut tx, kind, &at, id, &fields, &write).await?;
    let tenant = row.tenant_id.clone();
    let row = tx.resource(kind.name, &written(&tenant), id).await?;
    let after = kinds::present(&mut tx, kind, &row).await?;
    let mut after_audit = after.clone();
    if secret.is_some() {
        after_audit["secret_changed"] = json!(true);
    }
    let mut before_audit = before;
    if let (Some((key, was)), Some((_, now))) = (
        serving_before,
        crate::api_gateways::serving(&mut tx, kind, &row).await?,
    ) {
        before_audit[key] = json!(was);
        after_audit[key] = json!(now);
    }
    audit(
        &mut tx,
        auth,
        Some(&row.tenant_id),
        Change {
            action: &format!("{}.update", kind.name),
            kind: kind.name,
            target: id,
            org: row.org_id.as_deref(),
            before: Some(before_audit),
            after: Some(after_audit),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a resource nothing refers to (a file's blob goes after the commit).
pub async fn remove(env: &Env<'_>, auth: &Caller, kind: &'static Kind, id: &str) -> Result<()> {
    let mut tx = env.store.write().await?;
    let row = writable(&mut tx, kind, auth, id).await?;
    let before = kinds::present(&mut tx, kind, &row).await?;
    // A file's blob goes once the row is gone for good (after the commit).
    let blob = kinds::blob_of(&mut tx, kind, &row).await?;
    let referrers = tx.refs_to(id).await?;
    if !referrers.is_empty() {
        return Err(Error::Conflict {
            detail: format!(
                "this {} is still referred to; change or delete these first",
                kind.name
            ),
            blocking: Value::Array(referrers.iter().map(render_ref).collect()),
        });
    }
    tx.resource_delete(id).await?;
    audit(
        &mut tx,
        auth,
        Some(&row.tenant_id),
        Change {
            action: &format!("{}.delete", kind.name),
            kind: kind.name,
            target: id,
            org: row.org_id.as_deref(),
            before: Some(before),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    if let Some(blob) = blob {
        env.blobs.delete(&blob).await;
    }
    Ok(())
}

/// What a re-scope checks before anything moves: the resource, where it
/// goes, that the caller may move it there, and what would break.
struct Plan {
    row: ResourceRow,
    target_org: Option<OrgRow>,
    to: Scope,
    blocking: Vec<Value>,
}

async fn plan(
    tx: &mut Tx,
    auth: &Caller,
    kind: &'static Kind,
    id: &str,
    input: &Rescope,
) -> Result<Plan> {
    let row = visible(tx, kind, auth, id).await?;
    if let Some(instead) = fixed_scope(kind) {
        return Err(Error::Invalid(format!("org: {instead}")));
    }
    keys_only_by_users(kind, auth)?;
    let target_org = org_choice(tx, auth, Some(input.org.as_deref())).await?;
    let to = Scope {
        tenant: row.tenant(),
        org: target_org.as_ref().map(OrgRow::org),
    };
    policy::can_rescope(
        &auth.principal,
        kind.policy,
        &scope_of(&row),
        row.created_by.as_deref(),
        &to,
    )
    .map_err(|d| Error::denied(d, &format!("this {} into that scope", kind.name)))?;
    let blocking = blocking_refs(tx, id, to.org.as_deref()).await?;
    Ok(Plan {
        row,
        target_org,
        to,
        blocking,
    })
}

/// Moves a resource to another org or tenant-wide, or with `preview` only
/// reports the impact.
pub async fn rescope(
    env: &Env<'_>,
    auth: &Caller,
    kind: &'static Kind,
    id: &str,
    input: &Rescope,
) -> Result<Rescoped> {
    let preview = input.preview;
    if !preview && (input.losing_cursor.is_some() || input.gaining_cursor.is_some()) {
        return Err(Error::Invalid(
            "losing_cursor, gaining_cursor: only with preview: true (they page a preview's names)"
                .into(),
        ));
    }
    // Who gains and loses sight is read before the write transaction: on
    // SQLite that transaction holds every other writer. A move then checks
    // its plan again where it writes.
    let mut tx = env.store.read().await?;
    let mut plan = plan(&mut tx, auth, kind, id, input).await?;
    let (from, creator) = (scope_of(&plan.row), plan.row.created_by.clone());
    let rules = orgscope_core::access::KindRules::of(kind);
    let p = &auth.principal;
    let (lose, gain) = (input.losing_cursor.clone(), input.gaining_cursor.clone());
    let to = plan.to.clone();
    let creator = creator.as_deref();
    let losing = access::users_moving(&mut tx, p, rules, &from, Some(&to), creator, lose).await?;
    let gaining = access::users_moving(&mut tx, p, rules, &to, Some(&from), creator, gain).await?;
    if !preview {
        drop(tx);
        tx = env.store.write().await?;
        plan = self::plan(&mut tx, auth, kind, id, input).await?;
    }
    let Plan {
        row,
        target_org,
        to,
        blocking,
    } = plan;
    // A persona moved into an org loses the assignments of non-members.
    let pruned = kinds::rescope_prunes(&mut tx, kind, id, &to).await?;
    let impact = RescopeImpact {
        from: OrgRef::of(row.org_id.as_deref(), row.org_slug.as_deref()),
        to: OrgRef::of(
            to.org.as_deref(),
            target_org.as_ref().map(|o| o.slug.as_str()),
        ),
        users_losing_access: losing.names,
        users_losing_access_count: losing.count,
        users_losing_access_next_cursor: losing.next_cursor,
        users_gaining_access: gaining.names,
        users_gaining_access_count: gaining.count,
        users_gaining_access_next_cursor: gaining.next_cursor,
        derived: kinds::derived(&mut tx, kind, &row).await?,
        assignments_pruned: pruned,
        blocking_references: blocking.clone(),
    };
    if preview {
        return Ok(Rescoped {
            preview: true,
            impact,
            resource: None,
        });
    }
    if !blocking.is_empty() {
        return Err(Error::Conflict {
            detail: format!(
                "moving this {} would break references across orgs; move or change these first (preview lists them)",
                kind.name
            ),
            blocking: Value::Array(blocking),
        });
    }
    let viewer = policy::read_filter(&auth.principal);
    let at = kinds::Place {
        viewer: &viewer,
        tenant: &row.tenant_id,
        org: to.org.as_deref(),
        by_key: matches!(auth.principal.actor, Actor::OrgKey { .. }),
    };
    let fields: Map<String, Value> = serde_json::from_str(&row.fields).unwrap_or_default();
    kinds::rescope_check(&mut tx, kind, &at, id, &fields).await?;
    let before = kinds::present(&mut tx, kind, &row).await?;
    kinds::rescope_apply(&mut tx, kind, id, &to).await?;
    tx.resource_update(id, &row.name, to.org.as_deref(), &row.fields, None)
        .await?;
    let after_row = tx.resource(kind.name, &written(&row.tenant_id), id).await?;
    let after = kinds::present(&mut tx, kind, &after_row).await?;
    audit_move(
        &mut tx,
        auth,
        Some(&row.tenant_id),
        Change {
            action: &format!("{}.rescope", kind.name),
            kind: kind.name,
            target: id,
            org: to.org.as_deref(),
            before: Some(before),
            after: Some(json!({ "resource": after, "impact": snapshot(&impact) })),
        },
        row.org_id.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(Rescoped {
        preview: false,
        impact,
        resource: Some(after),
    })
}
