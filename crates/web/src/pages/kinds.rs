//! Every other kind (agents, hosts, tasks, jobs, gateways, shared
//! configuration, credentials, API management) through one set of pages
//! driven by core's kinds table: the list with its org filter and cursor
//! pages, a new one (the org picker offers where the viewer may place the
//! kind; reference pickers offer what the viewer can see in that org or
//! tenant-wide), its page (details, change, who has access, change of org
//! through the preview dialog files use, delete), a secret answered once
//! by a kind that issues one, and a credential's reveal behind a confirm.
//!
//! Each page calls the generic operations (`orgscope_app::resources`),
//! `agents::reveal` and `access::explain`; what a picker offers comes from
//! `choices::placements` and from listing what the viewer can see. The
//! operation decides when the form arrives.

use askama::Template;
use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use orgscope_app::{Error, resources};
use orgscope_core::kind::{Behaviour, Kind, Secret, by_name, by_path, fixed_scope};
use orgscope_store::Page;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::{filter_choices, org_param};
use super::moving::{MoveDialog, MoveForm, MovePage, target};
use super::{access, given};
use crate::Host;
use crate::error::{PageError, encode, html};
use crate::fields::{self, Candidate, Input, Names, Offered, RefChoices, Sent, Shown};
use crate::session::{Viewer, behind_tls, see_other, wants_main, wants_part};
use crate::views::{self, AccessPanel, Badge, Choice, Layout, SecretOnce, Subject, When, bodies};

/// The nav's groups of these pages: (id, heading, kind paths).
pub const GROUPS: &[(&str, &str, &[&str])] = &[
    (
        "agents",
        "Agents",
        &[
            "agents",
            "hosts",
            "tasks",
            "jobs",
            "gateways",
            "specialties",
            "operational-rules",
            "plugins",
            "blacklists",
            "credentials",
        ],
    ),
    (
        "api",
        "API management",
        &[
            "api-definitions",
            "api-gateways",
            "developers",
            "key-requests",
            "consumer-keys",
        ],
    ),
];

/// Rows per list page.
const PAGE: i64 = 50;
/// What a reference picker offers, per org.
const CANDIDATES: i64 = 200;

/// The kind a route serves.
#[derive(Clone, Copy)]
pub struct Generic(pub &'static Kind);

/// The routes of every kind of [`GROUPS`].
pub fn routes<S: Host>(mut router: Router<S>) -> Router<S> {
    for (_, _, paths) in GROUPS {
        for path in *paths {
            let kind = by_path(path).expect("the nav names kinds of the table");
            let k = Extension(Generic(kind));
            router = router
                .route(
                    &format!("/{path}"),
                    get(list::<S>).post(create::<S>).layer(k),
                )
                .route(&format!("/{path}/new"), get(new_page::<S>).layer(k))
                .route(&format!("/{path}/{{id}}"), get(show::<S>).layer(k))
                .route(&format!("/{path}/{{id}}/edit"), post(edit::<S>).layer(k))
                .route(
                    &format!("/{path}/{{id}}/delete"),
                    get(delete_page::<S>).post(delete::<S>).layer(k),
                )
                .route(
                    &format!("/{path}/{{id}}/move"),
                    get(move_preview::<S>).post(move_confirm::<S>).layer(k),
                )
                .route(
                    &format!("/{path}/{{id}}/reveal"),
                    get(reveal_page::<S>).post(reveal::<S>).layer(k),
                )
                .route(
                    &format!("/{path}/{{id}}/rotate"),
                    post(rotate::<S>).layer(k),
                )
                .route(
                    &format!("/{path}/{{id}}/decide"),
                    post(decide::<S>).layer(k),
                );
        }
    }
    router
}

// ---------------------------------------------------------------------------
// Reading what the operations answer.

/// What a list shows beside the kind's own fields: a task's status, a
/// job's next firing, a consumer key's last use (what the kind presents).
fn list_extra(kind: &Kind) -> Option<(&'static str, &'static str)> {
    match kind.behaviour {
        Behaviour::Task => Some(("status", "Status")),
        Behaviour::Job => Some(("next_firing", "Next firing")),
        Behaviour::ConsumerKey => Some(("last_used_at", "Last used")),
        _ => None,
    }
}

/// A job's next firing, from its schedule (none while it is paused).
fn add_next_firing(kind: &Kind, v: &mut Value) {
    if kind.behaviour != Behaviour::Job || !v.is_object() {
        return;
    }
    let enabled = v["enabled"].as_bool().unwrap_or(true);
    let next = enabled
        .then(|| {
            orgscope_app::agents::next_firing(
                v["schedule"].as_str().unwrap_or_default(),
                v["timezone"].as_str(),
                chrono::Utc::now(),
            )
            .ok()
        })
        .flatten();
    v["next_firing"] = next.map_or(Value::Null, Value::String);
}

/// Keys every resource has, shown apart or not at all.
const COMMON: &[&str] = &[
    "id",
    "kind",
    "org",
    "name",
    "created_by",
    "created_at",
    "updated_at",
    "token",
];

/// A value the kind presents beyond its fields (a task's exit code, a
/// key's last use), shown by its name.
fn show_extra(key: &str, v: &Value) -> Shown {
    let label = fields::label(key);
    let timed = key.ends_with("_at") || key == "next_firing";
    let mut out = Shown {
        label,
        style: "none",
        text: String::new(),
        links: Vec::new(),
        chips: Vec::new(),
        time: None,
    };
    match v {
        Value::Null => {
            if key == "next_firing" {
                out.style = "muted";
                out.text = "paused".into();
            } else if timed {
                out.style = "muted";
                out.text = "never".into();
            }
        }
        Value::String(s) if timed => {
            out.style = "time";
            out.time = Some(When::of(s));
        }
        Value::String(s) if key == "status" => {
            out.style = "state";
            out.text.clone_from(s);
        }
        Value::String(s) => {
            out.style = "text";
            out.text.clone_from(s);
        }
        other => {
            out.style = "text";
            out.text = other.to_string();
        }
    }
    out
}

fn s(v: &Value, f: &str) -> String {
    v[f].as_str().unwrap_or_default().to_owned()
}

/// The ids in a reference field's value.
fn ids_in(v: &Value) -> Vec<String> {
    match v {
        Value::String(id) => vec![id.clone()],
        Value::Array(ids) => ids
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// What the references in `values` (rows of `kind`) are called: only the
/// ids they name, as far as the viewer sees them.
async fn names_for<S: Host>(
    state: &S,
    v: &Viewer,
    kind: &Kind,
    values: &[&Value],
) -> Result<Names, Error> {
    let mut names = Names::new();
    for (field, target) in fields::ref_fields(kind) {
        let Some(k) = by_name(target) else { continue };
        let mut ids: Vec<String> = values.iter().flat_map(|r| ids_in(&r[field])).collect();
        ids.sort();
        ids.dedup();
        for n in resources::named(&state.env(), &v.caller, k, &ids).await? {
            names.insert(n.id, n.name);
        }
    }
    Ok(names)
}

/// A candidate's label: its name, and where it is when tenant-wide.
fn candidate(id: String, name: &str, tenant_wide: bool) -> Candidate {
    Candidate {
        id,
        label: if tenant_wide {
            format!("{name} (tenant-wide)")
        } else {
            name.to_owned()
        },
    }
}

/// What the reference pickers offer for a resource in `org` (a slug;
/// `None`: tenant-wide): the first of what the viewer sees there and
/// tenant-wide, and what `chosen` names (so a form never drops a choice
/// the list did not reach).
async fn candidates<S: Host>(
    state: &S,
    v: &Viewer,
    kind: &Kind,
    org: Option<&str>,
    chosen: &Map<String, Value>,
) -> Result<RefChoices, Error> {
    let mut out = RefChoices::new();
    let env = state.env();
    let page = Page {
        limit: CANDIDATES,
        after: None,
    };
    for (field, target) in fields::ref_fields(kind) {
        let Some(k) = by_name(target) else { continue };
        let mut offered = Offered::default();
        let mut scopes = vec![Some("tenant")];
        if let Some(o) = org {
            scopes.insert(0, Some(o));
        }
        for scope in scopes {
            let (items, next) = resources::list(&env, &v.caller, k, scope, &page).await?;
            offered.more |= next.is_some();
            offered.candidates.extend(
                items
                    .iter()
                    .map(|i| candidate(s(i, "id"), &s(i, "name"), i["org"].is_null())),
            );
        }
        let missing: Vec<String> = chosen
            .get(field)
            .map(ids_in)
            .unwrap_or_default()
            .into_iter()
            .filter(|id| !offered.candidates.iter().any(|c| c.id == *id))
            .collect();
        for n in resources::named(&env, &v.caller, k, &missing).await? {
            offered
                .candidates
                .push(candidate(n.id, &n.name, n.tenant_wide));
        }
        out.insert(field, offered);
    }
    Ok(out)
}

/// Where the viewer may place the kind, `chosen` (or the default org)
/// selected; with a "Choose…" first when nothing is.
fn places(v: &Viewer, kind: &Kind, chosen: &str) -> Result<(Vec<Choice>, String), Error> {
    let p = orgscope_app::choices::placements_among(&v.caller, kind, &v.orgs)?;
    let chosen = if chosen.is_empty() {
        p.default_org
            .as_deref()
            .and_then(|d| p.orgs.iter().find(|o| o.id == d))
            .map(|o| o.slug.clone())
            .unwrap_or_default()
    } else {
        chosen.to_owned()
    };
    let mut out: Vec<Choice> = p
        .orgs
        .iter()
        .map(|o| Choice::new(&o.slug, &o.name, chosen == o.slug || chosen == o.id))
        .collect();
    if p.tenant_wide {
        out.push(Choice::new(
            "tenant",
            "Tenant-wide (everyone in the tenant)",
            chosen == "tenant",
        ));
    }
    if !out.iter().any(|c| c.selected) && !out.is_empty() {
        out.insert(0, Choice::new("", "Choose…", true));
    }
    let chosen = out
        .iter()
        .find(|c| c.selected)
        .map(|c| c.value.clone())
        .unwrap_or_default();
    Ok((out, chosen))
}

/// What blocks a change, as links: `{field, id, kind, org}` or
/// `{direction, ref: {…}}`.
fn blocking(e: &Error) -> Vec<(String, String)> {
    let Error::Conflict { blocking, .. } = e else {
        return Vec::new();
    };
    blocking
        .as_array()
        .map(|list| {
            list.iter()
                .map(|b| {
                    let r = if b["ref"].is_object() { &b["ref"] } else { b };
                    let kind = by_name(r["kind"].as_str().unwrap_or_default());
                    let id = s(r, "id");
                    let org = r["org"]["slug"].as_str().unwrap_or("tenant-wide");
                    let noun = kind.map_or_else(|| s(r, "kind"), fields::noun);
                    let href =
                        kind.map_or_else(String::new, |k| format!("/{}/{}", k.path, encode(&id)));
                    (
                        href,
                        format!("{noun} {id} (field {}, in {org})", s(r, "field")),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An operation's refusal that the form shows beside its fields.
fn in_form(e: &Error) -> bool {
    matches!(
        e,
        Error::Invalid(_) | Error::Forbidden(_) | Error::Conflict { .. } | Error::BadRequest(_)
    )
}

// ---------------------------------------------------------------------------
// The list.

pub struct Row {
    id: String,
    name: String,
    org: Badge,
    cells: Vec<Shown>,
    extra: Option<Shown>,
    created: When,
}

pub struct ListView {
    path: &'static str,
    title: String,
    noun: String,
    doc: &'static str,
    columns: Vec<String>,
    extra: Option<&'static str>,
    rows: Vec<Row>,
    context: Badge,
    filter: Vec<Choice>,
    next: Option<String>,
    first: Option<String>,
    new_url: String,
    can_create: bool,
    notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "kinds.html")]
struct ListPage<'a> {
    l: &'a Layout,
    p: &'a ListView,
}

#[derive(Template)]
#[template(path = "kinds.html", block = "main")]
struct ListMain<'a> {
    p: &'a ListView,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    org: Option<String>,
    cursor: Option<String>,
    done: Option<String>,
}

fn list_url(path: &str, org: Option<&str>, cursor: Option<&str>) -> String {
    let mut q = Vec::new();
    if let Some(o) = org {
        q.push(format!("org={}", encode(o)));
    }
    if let Some(c) = cursor {
        q.push(format!("cursor={}", encode(c)));
    }
    if q.is_empty() {
        format!("/{path}")
    } else {
        format!("/{path}?{}", q.join("&"))
    }
}

pub async fn list<S: Host>(
    State(state): State<S>,
    Extension(Generic(kind)): Extension<Generic>,
    v: Viewer,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let org = org_param(given(q.org.as_ref()));
    let cursor = given(q.cursor.as_ref());
    let env = state.env();
    let page = Page {
        limit: PAGE,
        after: cursor.map(str::to_owned),
    };
    let (mut items, next) = match resources::list(&env, &v.caller, kind, org, &page).await {
        Ok(p) => p,
        Err(e) => return v.fail(e),
    };
    let columns = fields::columns(kind);
    let names = match names_for(&state, &v, kind, &items.iter().collect::<Vec<_>>()).await {
        Ok(n) => n,
        Err(e) => return v.fail(e),
    };
    let placements = match orgscope_app::choices::placements_among(&v.caller, kind, &v.orgs) {
        Ok(p) => p,
        Err(e) => return v.fail(e),
    };
    let extra = list_extra(kind);
    let rows = items
        .iter_mut()
        .map(|i| {
            add_next_firing(kind, i);
            Row {
                id: s(i, "id"),
                name: s(i, "name"),
                org: Badge::of(&i["org"], &v.orgs),
                cells: columns
                    .iter()
                    .map(|f| fields::show(f, &i[f.name], &names))
                    .collect(),
                extra: extra.map(|(key, _)| show_extra(key, &i[key])),
                created: When::of(i["created_at"].as_str().unwrap_or_default()),
            }
        })
        .collect();
    let notice = match q.done.as_deref() {
        Some("deleted") => Some("It was deleted."),
        _ => None,
    };
    let view = ListView {
        path: kind.path,
        title: fields::plural(kind),
        noun: fields::noun(kind),
        doc: kind.doc,
        columns: columns.iter().map(|f| fields::label(f.name)).collect(),
        extra: extra.map(|(_, label)| label),
        rows,
        context: Badge::selector(org, &v.orgs),
        filter: filter_choices(&v, org),
        next: next.as_deref().map(|c| list_url(kind.path, org, Some(c))),
        first: cursor.map(|_| list_url(kind.path, org, None)),
        new_url: match org {
            Some(o) if o != "tenant" => format!("/{}/new?org={}", kind.path, encode(o)),
            _ => format!("/{}/new", kind.path),
        },
        can_create: !orgscope_core::kind::has_own_create(kind)
            && (!placements.orgs.is_empty() || placements.tenant_wide),
        notice,
    };
    let l = Layout::new(view.title.clone(), kind.path, &v);
    if wants_main(&headers) {
        html(&ListMain { p: &view })
    } else {
        html(&ListPage { l: &l, p: &view })
    }
}

// ---------------------------------------------------------------------------
// A new one.

pub struct NewView {
    path: &'static str,
    noun: String,
    plural: String,
    /// The references depend on the org: it is chosen first, apart.
    org_first: bool,
    org: Badge,
    org_value: String,
    places: Vec<Choice>,
    name_value: String,
    error: Option<String>,
    blocking: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "kind_new.html")]
struct NewPage<'a> {
    l: &'a Layout,
    p: &'a NewView,
    inputs: Vec<Input>,
}

#[derive(Template)]
#[template(path = "kind_new.html", block = "main")]
struct NewMain<'a> {
    l: &'a Layout,
    p: &'a NewView,
    inputs: Vec<Input>,
}

/// The form drawn for `sent` (what was typed, if anything).
async fn new_form<S: Host>(
    state: &S,
    v: &Viewer,
    headers: &HeaderMap,
    kind: &'static Kind,
    sent: &Sent,
    typed: bool,
    failed: Option<Error>,
) -> Response {
    let (places, chosen) = match places(v, kind, &sent.org) {
        Ok(p) => p,
        Err(e) => return v.fail(e),
    };
    let org_first = !fields::ref_fields(kind).is_empty();
    let refs = if org_first {
        let org = match chosen.as_str() {
            "" | "tenant" => None,
            o => Some(o),
        };
        match candidates(state, v, kind, org, &sent.values).await {
            Ok(r) => r,
            Err(e) => return v.fail(e),
        }
    } else {
        RefChoices::new()
    };
    let values = if typed {
        sent.values.clone()
    } else {
        Map::new()
    };
    let inputs = fields::inputs(kind, &values, &refs, false);
    let (status, error, blocking) = match failed {
        Some(e) => {
            let b = blocking(&e);
            let e = PageError::from(e);
            (e.status(), Some(e.message()), b)
        }
        None => (StatusCode::OK, None, Vec::new()),
    };
    let view = NewView {
        path: kind.path,
        noun: fields::noun(kind),
        plural: fields::plural(kind),
        org_first,
        org: match chosen.as_str() {
            "" => Badge::all(),
            c => Badge::selector(Some(c), &v.orgs),
        },
        org_value: chosen,
        places,
        name_value: sent.name.clone(),
        error,
        blocking,
    };
    let l = Layout::new(format!("New {}", view.noun), kind.path, v);
    let mut res = if wants_main(headers) {
        html(&NewMain {
            l: &l,
            p: &view,
            inputs,
        })
    } else {
        html(&NewPage {
            l: &l,
            p: &view,
            inputs,
        })
    };
    *res.status_mut() = status;
    res
}

/// `GET /{kind}/new?org=`: the form; drawn again (with what was typed,
/// never a secret) when the org changes, as its references depend on it.
pub async fn new_page<S: Host>(
    State(state): State<S>,
    Extension(Generic(kind)): Extension<Generic>,
    v: Viewer,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let sent = fields::read(kind, &pairs);
    let typed = pairs.iter().any(|(k, _)| k == "redraw");
    new_form(&state, &v, &headers, kind, &sent, typed, None).await
}

pub async fn create<S: Host>(
    State(state): State<S>,
    Extension(Generic(kind)): Extension<Generic>,
    v: Viewer,
    headers: HeaderMap,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> Response {
    let sent = fields::read(kind, &pairs);
    let no_js = HeaderMap::new();
    if let Some(problem) = &sent.problem {
        let e = Error::Invalid(problem.clone());
        return new_form(&state, &v, &no_js, kind, &sent, true, Some(e)).await;
    }
    if sent.org.is_empty() {
        let e = Error::Invalid(format!(
            "Organization: choose where the {} goes (an organization, or Tenant-wide where offered)",
            fields::noun(kind)
        ));
        return new_form(&state, &v, &no_js, kind, &sent, true, Some(e)).await;
    }
    let body = fields::create_body(&sent);
    match resources::create(&state.env(), &v.caller, kind, &body).await {
        Ok(made) => {
            let id = s(&made, "id");
            match made["token"].as_str() {
                // A secret issued now is shown in this answer, once.
                Some(token) => {
                    let shown = SecretOnce {
                        title: format!("The secret of “{}”", s(&made, "name")),
                        value: token.to_owned(),
                    };
                    let shape = Shape {
                        secret: Some(shown),
                        status: Some(StatusCode::CREATED),
                        notice: Some("It was created."),
                        ..Shape::default()
                    };
                    item_page(&state, &v, &headers, kind, &id, shape).await
                }
                None => see_other(&format!("/{}/{}?done=created", kind.path, encode(&id))),
            }
        }
        Err(e) if in_form(&e) => new_form(&state, &v, &no_js, kind, &sent, true, Some(e)).await,
        Err(e) => v.fail(e),
    }
}

// ---------------------------------------------------------------------------
// Its page.

pub struct ItemView {
    path: &'static str,
    id: String,
    name: String,
    noun: String,
    /// "API definition": the kind at the start of a sentence.
    title: String,
    plural: String,
    org: Badge,
    facts: Vec<Shown>,
    extras: Vec<Shown>,
    created: When,
    updated: When,
    webhook: Option<String>,
    reveal: bool,
    /// A pending key request: approve or deny it here.
    decide: bool,
    /// An API gateway: the API definitions it serves that the viewer sees
    /// (link, name, listen path, org).
    serves: Option<Vec<(String, String, String, String)>>,
    /// Why it cannot change org, if it cannot.
    fixed: Option<&'static str>,
    move_options: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "kind.html")]
struct ItemPage<'a> {
    l: &'a Layout,
    k: &'a ItemView,
    inputs: Vec<Input>,
    name_value: &'a str,
    notice: Option<&'static str>,
    error: Option<String>,
    blocking: Vec<(String, String)>,
    secret: Option<SecretOnce>,
    revealed: Option<SecretOnce>,
    access: Option<AccessPanel>,
}

#[derive(Template)]
#[template(path = "access_panel.html")]
struct AccessPart<'a> {
    a: &'a AccessPanel,
}

/// How a resource's page is drawn: after what, with what typed.
#[derive(Default)]
struct Shape {
    notice: Option<&'static str>,
    failed: Option<Error>,
    /// What the person typed into the change form.
    typed: Option<Sent>,
    secret: Option<SecretOnce>,
    revealed: Option<SecretOnce>,
    user: Option<String>,
    status: Option<StatusCode>,
}

/// The webhook a gateway's tickets are posted to, on this server.
fn webhook(kind: &Kind, id: &str, headers: &HeaderMap) -> Option<String> {
    if kind.path != "gateways" {
        return None;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if behind_tls(headers) { "https" } else { "http" };
    Some(format!("{scheme}://{host}/hooks/gateways/{}", encode(id)))
}

fn move_options(v: &Viewer, kind: &Kind, org: Option<&str>) -> Result<Vec<Choice>, Error> {
    let p = orgscope_app::choices::placements_among(&v.caller, kind, &v.orgs)?;
    let mut out: Vec<Choice> = p
        .orgs
        .iter()
        .filter(|o| org != Some(o.slug.as_str()))
        .map(|o| Choice::new(&o.slug, &o.name, false))
        .collect();
    if p.tenant_wide && org.is_some() {
        out.push(Choice::new(
            "tenant",
            "Tenant-wide (everyone in the tenant)",
            false,
        ));
    }
    Ok(out)
}

async fn item_page<S: Host>(
    state: &S,
    v: &Viewer,
    headers: &HeaderMap,
    kind: &'static Kind,
    id: &str,
    shape: Shape,
) -> Response {
    let env = state.env();
    let mut value = match resources::read(&env, &v.caller, kind, id).await {
        Ok(r) => r,
        Err(e) => return v.fail(e),
    };
    add_next_firing(kind, &mut value);
    let id = s(&value, "id");
    let org_slug = value["org"]["slug"].as_str().map(str::to_owned);
    let current = value.as_object().cloned().unwrap_or_default();
    let refs = match candidates(state, v, kind, org_slug.as_deref(), &current).await {
        Ok(r) => r,
        Err(e) => return v.fail(e),
    };
    let names: Names = refs
        .values()
        .flat_map(|o| &o.candidates)
        .map(|c| (c.id.clone(), c.label.clone()))
        .collect();
    let base = format!("/{}/{}", kind.path, encode(&id));
    let access = match access::panel(state, v, kind, &id, &base, shape.user.as_deref()).await {
        Ok(a) => a,
        Err(e) => return v.fail(e),
    };
    let fixed = fixed_scope(kind);
    let move_options = if fixed.is_some() {
        Vec::new()
    } else {
        match move_options(v, kind, org_slug.as_deref()) {
            Ok(o) => o,
            Err(e) => return v.fail(e),
        }
    };
    let extras = value
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    !COMMON.contains(&k.as_str()) && !kind.fields.iter().any(|f| f.name == *k)
                })
                .map(|(k, v)| show_extra(k, v))
                .collect()
        })
        .unwrap_or_default();
    let serves = if kind.behaviour == Behaviour::ApiGateway {
        match orgscope_app::api_gateways::config(&env, &v.caller, &id).await {
            Ok(c) => Some(
                c.apis
                    .into_iter()
                    .map(|a| {
                        let org = a.org.and_then(|o| o.slug).unwrap_or_default();
                        (
                            format!("/api-definitions/{}", encode(&a.id)),
                            a.name,
                            a.listen_path,
                            org,
                        )
                    })
                    .collect(),
            ),
            Err(e) => return v.fail(e),
        }
    } else {
        None
    };
    let view = ItemView {
        serves,
        path: kind.path,
        name: s(&value, "name"),
        noun: fields::noun(kind),
        title: fields::label(kind.name),
        plural: fields::plural(kind),
        org: Badge::of(&value["org"], &v.orgs),
        facts: kind
            .fields
            .iter()
            .filter(|f| kind.secret_field() != Some(f.name))
            .map(|f| fields::show(f, &value[f.name], &names))
            .collect(),
        extras,
        created: When::of(value["created_at"].as_str().unwrap_or_default()),
        updated: When::of(value["updated_at"].as_str().unwrap_or_default()),
        webhook: webhook(kind, &id, headers),
        reveal: kind.secret == Secret::Encrypted,
        decide: kind.behaviour == Behaviour::KeyRequest && value["status"] == "pending",
        fixed,
        move_options,
        id,
    };
    let (inputs, name_value) = match &shape.typed {
        Some(t) => (fields::inputs(kind, &t.values, &refs, true), t.name.clone()),
        None => {
            let current = value.as_object().cloned().unwrap_or_default();
            (
                fields::inputs(kind, &current, &refs, true),
                view.name.clone(),
            )
        }
    };
    let (status, error, blocking) = match shape.failed {
        Some(e) => {
            let b = blocking(&e);
            let e = PageError::from(e);
            (e.status(), Some(e.message()), b)
        }
        None => (shape.status.unwrap_or(StatusCode::OK), None, Vec::new()),
    };
    let l = Layout::new(view.name.clone(), kind.path, v);
    let mut res = html(&ItemPage {
        l: &l,
        k: &view,
        inputs,
        name_value: &name_value,
        notice: shape.notice,
        error,
        blocking,
        secret: shape.secret,
        revealed: shape.revealed,
        access,
    });
    *res.status_mut() = status;
    res
}

#[derive(Deserialize, Default)]
pub struct ItemQuery {
    done: Option<String>,
    /// The access panel's "check a user".
    user: Option<String>,
}

pub async fn show<S: Host>(
    State(state): State<S>,
    Extension(Generic(kind)): Extension<Generic>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ItemQuery>,
) -> Response {
    let user = given(q.user.as_ref());
    if wants_part(&headers, "access") {
        let base = format!("/{}/{}", kind.path, encode(&id));
        return match access::panel(&state, &v, kind, &id, &base, user).await {
            Ok(Some(a)) => html(&AccessPart { a: &a }),
            Ok(None) => v.fail(Error::Forbidden(format!(
                "you may not see who has access to this {}",
                fields::noun(kind)
            ))),
            Err(e) => v.fail(e),
        };
    }
    let notice = match q.done.as_deref() {
        Some("created") => Some("It was created."),
        Some("saved") => Some("The changes were saved."),
        Some("unchanged") => Some("Nothing was changed: the form was as saved."),
        Some("moved") => Some("It was moved. Access follows its new organization from now on."),
        Some("approved") => Some(
            "Approved: a consumer key was issued; the developer sees its secret once, on the portal.",
        ),
        Some("denied") => Some("Denied: the developer sees it on the portal."),
        _ => None,
    };
    let shape = Shape {
        notice,
        user: user.map(str::to_owned),
        ..Shape::default()
    };
    item_page(&state, &v, &headers, kind, &id, shape).await
}

pub async fn edit<S: Host>(
    State(state): State<S>,
    Extension(Generic(kind)): Extension<Generic>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> Response {
    let env = state.env();
    let current = match resources::read(&env, &v.caller, kind, &id).await {
        Ok(c) => c,
        Err(e) => return v.fail(e),
    };
    let sent = fields::read(kind, &pairs);
    let failed = |e: Error, sent: Sent| Shape {
        failed: Some(e),
        typed: Some(sent),
        ..Shape::default()
    };
    if let Some(problem) = sent.problem.clone() {
        let shape = failed(Error::Invalid(problem), sent);
        return item_page(&state, &v, &headers, kind, &id, shape).await;
    }
    let changes = fields::changes(kind, &current, &sent);
    if changes.is_empty() {
        return see_other(&format!("/{}/{}?done=unchanged", kind.path, encode(&id)));
    }
    match resources::update(&env, &v.caller, kind, &id, &Value::Object(changes)).await {
        Ok(_) => see_other(&format!("/{}/{}?done=saved", kind.path, encode(&id))),
        Err(e) if in_form(&e) => item_page(&state, &v, &headers, kind, &id, failed(e, sent)).await,
        Err(e) => v.fail(e),
    }
}

// ---------------------------------------------------------------------------
// Delete.

/// What the delete confirmation names.
pub struct Doomed {
    path: &'static str,
    id: String,
    name: String,
    noun: String,
    org: Badge,
}

#[derive(Template)]
#[template(path = "kind_delete.html")]
struct DeletePage<'a> {
    l: &'a Layout,
    k: &'a Doomed,
}

pub async fn delete_page<S: Host>(
    State(state): State<S>,
    Extension(Generic(kind)): Extension<Generic>,
    v: Viewer,
    Path(id): Path<String>,
) -> Response {
    match resources::read(&state.env(), &v.caller, kind, &id).await {
        Ok(r) => html(&DeletePage {
            l: &Layout::new(format!("Delete {}", fields::a_noun(kind)), kind.path, &v),
            k: &Doomed {
                path: kind.path,
                id: s(&r, "id"),
                name: s(&r, "name"),
                noun: fields::noun(kind),
                org: Badge::of(&r["org"], &v.orgs),
            },
        }),
        Err(e) => v.fail(e),
    }
}

pub async fn delete<S: Host>(
    State(state): State<S>,
    Extension(Generic(kind)): Extension<Generic>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match resources::remove(&state.env(), &v.caller, kind, &id).await {
        Ok(()) => see_other(&format!("/{}?done=deleted", kind.path)),
        Err(e) if in_form(&e) => {
            let shape = Shape {
                failed: Some(e),
                ..Shape::default()
            };
            item_page(&state, &v, &headers, kind, &id, shape).await
        }
        Err(e) => v.fail(e),
    }
}

// ---------------------------------------------------------------------------
// Change of org: the same preview files use.

async fn move_page<S: Host>(
    state: &S,
    v: &Viewer,
    headers: &HeaderMap,
    kind: &'static Kind,
    id: &str,
    to: &str,
    failed: Option<PageError>,
) -> Response {
    let env = state.env();
    let r = match resources::read(&env, &v.caller, kind, id).await {
        Ok(r) => r,
        Err(e) => return v.fail(e),
    };
    let subject = Subject {
        name: s(&r, "name"),
        org: Badge::of(&r["org"], &v.orgs),
        base: format!("/{}/{}", kind.path, encode(&s(&r, "id"))),
        list: format!("/{}", kind.path),
        list_label: fields::plural(kind),
    };
    let preview = match target(to) {
        Ok(org) => resources::rescope(&env, &v.caller, kind, id, &bodies::rescope(org, true)).await,
        Err(e) => Err(e),
    };
    let (impact, mut error, mut status) = match preview {
        Ok(out) => (Some(views::impact(&out, &v.orgs)), None, StatusCode::OK),
        Err(e) if in_form(&e) => {
            let e = PageError::from(e);
            (None, Some(e.message()), e.status())
        }
        Err(e) => return v.fail(e),
    };
    if let Some(e) = failed {
        status = e.status();
        error = Some(e.message());
    }
    let l = Layout::new(format!("Move {}", subject.name), kind.path, v);
    let mut res = if headers.get("hx-request").is_some() {
        html(&MoveDialog {
            l: &l,
            f: &subject,
            to,
            impact,
            error,
        })
    } else {
        html(&MovePage {
            l: &l,
            f: &subject,
            to,
            impact,
            error,
        })
    };
    *res.status_mut() = status;
    res
}

pub async fn move_preview<S: Host>(
    State(state): State<S>,
    Extension(Generic(kind)): Extension<Generic>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(form): Query<MoveForm>,
) -> Response {
    move_page(&state, &v, &headers, kind, &id, &form.to, None).await
}

pub async fn move_confirm<S: Host>(
    State(state): State<S>,
    Extension(Generic(kind)): Extension<Generic>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<MoveForm>,
) -> Response {
    let result = match target(&form.to) {
        Ok(org) => {
            resources::rescope(
                &state.env(),
                &v.caller,
                kind,
                &id,
                &bodies::rescope(org, false),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => see_other(&format!("/{}/{}?done=moved", kind.path, encode(&id))),
        Err(e) if in_form(&e) => {
            move_page(&state, &v, &headers, kind, &id, &form.to, Some(e.into())).await
        }
        Err(e) => v.fail(e),
    }
}

// ---------------------------------------------------------------------------
// A credential's reveal, behind a confirm.

#[derive(Template)]
#[template(path = "kind_reveal.html")]
struct RevealPage<'a> {
    l: &'a Layout,
    k: &'a Doomed,
}

/// The confirmation as a page of its own (without JavaScript).
pub async fn reveal_page<S: Host>(
    State(state): State<S>,
    Extension(Generic(kind)): Extension<Generic>,
    v: Viewer,
    Path(id): Path<String>,
) -> Response {
    if kind.secret != Secret::Encrypted {
        return v.fail(Error::not_found(kind.name, &id));
    }
    match resources::read(&state.env(), &v.caller, kind, &id).await {
        Ok(r) => html(&RevealPage {
            l: &Layout::new("Reveal a secret", kind.path, &v),
            k: &Doomed {
                path: kind.path,
                id: s(&r, "id"),
                name: s(&r, "name"),
                noun: fields::noun(kind),
                org: Badge::of(&r["org"], &v.orgs),
            },
        }),
        Err(e) => v.fail(e),
    }
}

pub async fn reveal<S: Host>(
    State(state): State<S>,
    Extension(Generic(kind)): Extension<Generic>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if kind.secret != Secret::Encrypted {
        return v.fail(Error::not_found(kind.name, &id));
    }
    let got = orgscope_app::agents::reveal(&state.env(), &v.caller, &id)
        .await
        .map(|r| Shape {
            revealed: Some(SecretOnce {
                title: format!("The secret of “{}”", r.name),
                value: r.secret,
            }),
            ..Shape::default()
        });
    secret_page(&state, &v, &headers, kind, &id, got).await
}

/// The item's page showing a secret once, or why it may not (a refusal is
/// shown on the page; anything else is the error page).
async fn secret_page<S: Host>(
    state: &S,
    v: &Viewer,
    headers: &HeaderMap,
    kind: &'static Kind,
    id: &str,
    got: Result<Shape, Error>,
) -> Response {
    let shape = match got {
        Ok(shape) => shape,
        Err(e @ Error::Forbidden(_)) => Shape {
            failed: Some(e),
            ..Shape::default()
        },
        Err(e) => return v.fail(e),
    };
    item_page(state, v, headers, kind, id, shape).await
}

#[cfg(test)]
mod tests {
    use orgscope_core::kind::KINDS;

    use super::*;

    /// Every kind has a page: its own (files, personas, sessions, org
    /// keys) or these generic ones. A kind added to the table and
    /// forgotten here fails this test.
    #[test]
    fn every_kind_has_pages() {
        for k in KINDS {
            let own = matches!(
                k.behaviour,
                Behaviour::File | Behaviour::Persona | Behaviour::Session | Behaviour::OrgKey
            );
            let generic = GROUPS.iter().any(|(_, _, paths)| paths.contains(&k.path));
            assert!(own ^ generic, "{} has no pages, or two", k.path);
        }
    }
}

#[derive(Deserialize, Default)]
pub struct DecideForm {
    #[serde(default)]
    decision: String,
}

/// An API gateway's new secret, shown once on its page.
pub async fn rotate<S: Host>(
    State(state): State<S>,
    Extension(Generic(kind)): Extension<Generic>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let got = orgscope_app::api_gateways::rotate(&state.env(), &v.caller, &id)
        .await
        .map(|r| Shape {
            secret: Some(SecretOnce {
                title: format!("The new secret of “{}”", s(&r, "name")),
                value: s(&r, "token"),
            }),
            notice: Some(
                "A new secret: the old one no longer works. Give this one to the proxy now.",
            ),
            ..Shape::default()
        });
    secret_page(&state, &v, &headers, kind, &id, got).await
}

/// Approves or denies a key request (`key_requests::decide`).
pub async fn decide<S: Host>(
    State(state): State<S>,
    Extension(Generic(kind)): Extension<Generic>,
    v: Viewer,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<DecideForm>,
) -> Response {
    if kind.behaviour != Behaviour::KeyRequest {
        return v.fail(Error::not_found(kind.name, &id));
    }
    let d = orgscope_app::key_requests::Decision {
        approve: f.decision == "approve",
    };
    match orgscope_app::key_requests::decide(&state.env(), &v.caller, &id, &d).await {
        Ok(done) => see_other(&format!(
            "/{}/{}?done={}",
            kind.path,
            encode(&id),
            done.status
        )),
        Err(e) => v.fail(e),
    }
}
