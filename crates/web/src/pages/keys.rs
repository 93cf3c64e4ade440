//! Org access keys (the `api-keys` kind): the keys you can see with the
//! org filter, a new key (its secret shown once, with a copy button), and
//! revoking one.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use orgscope_app::Error;
use orgscope_app::resources;
use orgscope_core::kind::{self, Kind};
use orgscope_store::Page;
use serde::Deserialize;
use serde_json::{Value, json};

use super::files::{filter_choices, org_param};
use super::given;
use crate::Host;
use crate::error::{PageError, encode, html};
use crate::session::{Viewer, see_other};
use crate::views::{Badge, Choice, Layout, SecretOnce, When};

const PAGE: i64 = 100;

fn kind() -> &'static Kind {
    kind::by_path("api-keys").expect("api keys are in the kinds table")
}

pub struct KeyItem {
    id: String,
    name: String,
    org: Badge,
    access: String,
    expires: Option<When>,
    created: When,
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage<'a> {
    l: &'a Layout,
    keys: Vec<KeyItem>,
    context: Badge,
    filter: Vec<Choice>,
    next: Option<String>,
    places: Vec<Choice>,
    new_key: Option<SecretOnce>,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    org: Option<String>,
    cursor: Option<String>,
    done: Option<String>,
}

fn key_item(k: &Value, v: &Viewer) -> KeyItem {
    let s = |f: &str| k[f].as_str().unwrap_or_default().to_owned();
    KeyItem {
        id: s("id"),
        name: s("name"),
        org: Badge::of(&k["org"], &v.orgs),
        access: if k["access"] == "read_write" {
            "read and write".into()
        } else {
            "read".into()
        },
        expires: k["expires_at"].as_str().map(When::of),
        created: When::of(k["created_at"].as_str().unwrap_or_default()),
    }
}

async fn keys_page<S: Host>(
    state: &S,
    v: &Viewer,
    org: Option<&str>,
    cursor: Option<&str>,
    new_key: Option<SecretOnce>,
    notice: Option<&'static str>,
    failed: Option<PageError>,
) -> Response {
    let env = state.env();
    let page = Page {
        limit: PAGE,
        after: cursor.map(str::to_owned),
    };
    let (items, next) = match resources::list(&env, &v.caller, kind(), org, &page).await {
        Ok(p) => p,
        Err(e) => return v.fail(e),
    };
    let places = match orgscope_app::choices::placements_among(&v.caller, kind(), &v.orgs) {
        Ok(p) => p,
        Err(e) => return v.fail(e),
    };
    let preselect = org.map(str::to_owned).or(places.default_org.clone());
    let places = places
        .orgs
        .iter()
        .map(|o| {
            let chosen = preselect
                .as_deref()
                .is_some_and(|p| p == o.slug || p == o.id);
            Choice::new(&o.slug, &o.name, chosen)
        })
        .collect();
    let (status, error) = match failed {
        Some(e) => (e.status(), Some(e.message())),
        None if new_key.is_some() => (StatusCode::CREATED, None),
        None => (StatusCode::OK, None),
    };
    let l = Layout::new("Access keys", "keys", v);
    let mut res = html(&KeysPage {
        l: &l,
        keys: items.iter().map(|k| key_item(k, v)).collect(),
        context: Badge::selector(org, &v.orgs),
        filter: filter_choices(v, org),
        next: next.map(|c| {
            let o = org
                .map(|o| format!("org={}&", encode(o)))
                .unwrap_or_default();
            format!("/keys?{o}cursor={}", encode(&c))
        }),
        places,
        new_key,
        notice,
        error,
    });
    *res.status_mut() = status;
    res
}

pub async fn list<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> Response {
    let notice = match q.done.as_deref() {
        Some("revoked") => Some("The key was revoked: it no longer works."),
        _ => None,
    };
    let org = org_param(given(q.org.as_ref()));
    keys_page(
        &state,
        &v,
        org,
        given(q.cursor.as_ref()),
        None,
        notice,
        None,
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    org: String,
    #[serde(default)]
    access: String,
    #[serde(default)]
    expires: String,
}

pub async fn create<S: Host>(
    State(state): State<S>,
    v: Viewer,
    axum::Form(f): axum::Form<KeyForm>,
) -> Response {
    let mut body = json!({
        "name": f.name.trim(),
        "org": f.org.trim(),
        "access": f.access.trim(),
    });
    if let Some(e) = super::people::expiry(&f.expires) {
        body["expires_at"] = json!(e);
    }
    match resources::create(&state.env(), &v.caller, kind(), &body).await {
        Ok(k) => {
            let shown = SecretOnce {
                title: format!("The new key “{}”", k["name"].as_str().unwrap_or_default()),
                value: k["token"].as_str().unwrap_or_default().to_owned(),
            };
            let org = k["org"]["slug"].as_str().map(str::to_owned);
            keys_page(&state, &v, org.as_deref(), None, Some(shown), None, None).await
        }
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_) | Error::Conflict { .. })) => {
            keys_page(&state, &v, None, None, None, None, Some(e.into())).await
        }
        Err(e) => v.fail(e),
    }
}

pub async fn revoke<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(id): Path<String>,
) -> Response {
    match resources::remove(&state.env(), &v.caller, kind(), &id).await {
        Ok(()) => see_other("/keys?done=revoked"),
        Err(e @ (Error::Forbidden(_) | Error::Conflict { .. })) => {
            keys_page(&state, &v, None, None, None, None, Some(e.into())).await
        }
        Err(e) => v.fail(e),
    }
}
