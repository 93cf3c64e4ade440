//! Tenants, for superusers: the server's tenants, the one they work in
//! (kept in a cookie for the session, as the JSON API takes it per request
//! in `X-Orgscope-Tenant`), and a new tenant with its default org.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use orgscope_app::Error;
use orgscope_app::tenants::{self, NewTenant};
use orgscope_store::Page;
use serde::Deserialize;

use super::given;
use crate::Host;
use crate::error::{PageError, encode, html};
use crate::session::{self, TENANT_COOKIE, Viewer, see_other, set_cookie};
use crate::views::{Layout, When};

/// Tenants per page.
const PAGE: i64 = 100;

/// A tenant in the list.
pub struct TenantItem {
    slug: String,
    name: String,
    created: When,
    current: bool,
}

#[derive(Deserialize, Default)]
pub struct NewTenantForm {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
}

#[derive(Template)]
#[template(path = "tenants.html")]
struct TenantsPage<'a> {
    l: &'a Layout,
    tenants: Vec<TenantItem>,
    next: Option<String>,
    first: bool,
    form: &'a NewTenantForm,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    cursor: Option<String>,
    created: Option<String>,
}

async fn tenants_page<S: Host>(
    state: &S,
    v: &Viewer,
    cursor: Option<&str>,
    notice: Option<String>,
    failed: Option<(PageError, &NewTenantForm)>,
) -> Response {
    let page = Page {
        limit: PAGE,
        after: cursor.map(str::to_owned),
    };
    let listing = match tenants::list(&state.env(), &v.caller, &page).await {
        Ok(l) => l,
        Err(e) => return v.fail(e),
    };
    let empty = NewTenantForm::default();
    let (status, error, form) = match failed {
        Some((e, f)) => (e.status(), Some(e.message()), f),
        None => (StatusCode::OK, None, &empty),
    };
    let tenants = listing
        .items
        .iter()
        .map(|t| TenantItem {
            slug: t.slug.clone(),
            name: t.name.clone(),
            created: When::of(&t.created_at),
            current: *v.caller.principal.tenant == *t.id,
        })
        .collect();
    let l = Layout::new("Tenants", "tenants", v);
    let mut res = html(&TenantsPage {
        l: &l,
        tenants,
        next: listing
            .next_cursor
            .map(|c| format!("/tenants?cursor={}", encode(&c))),
        first: cursor.is_some(),
        form,
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
    let notice = given(q.created.as_ref()).map(|t| {
        format!("The tenant {t} was created with its organization “default”. Work in it to add its users.")
    });
    tenants_page(&state, &v, given(q.cursor.as_ref()), notice, None).await
}

pub async fn create<S: Host>(
    State(state): State<S>,
    v: Viewer,
    axum::Form(f): axum::Form<NewTenantForm>,
) -> Response {
    let input = NewTenant {
        slug: f.slug.trim().to_owned(),
        name: f.name.trim().to_owned(),
    };
    match tenants::create(&state.env(), &v.caller, &input).await {
        Ok(t) => see_other(&format!("/tenants?created={}", encode(&t.slug))),
        Err(e @ (Error::Invalid(_) | Error::Conflict { .. })) => {
            tenants_page(&state, &v, None, None, Some((e.into(), &f))).await
        }
        Err(e) => v.fail(e),
    }
}

#[derive(Deserialize, Default)]
pub struct EnterForm {
    #[serde(default)]
    tenant: String,
}

/// Works in the tenant named from now on in this browser.
pub async fn enter<S: Host>(
    State(state): State<S>,
    headers: HeaderMap,
    v: Viewer,
    axum::Form(f): axum::Form<EnterForm>,
) -> Response {
    let tenant = match tenants::enter(&state.env(), &v.caller, &f.tenant).await {
        Ok(t) => t,
        Err(e) => return v.fail(e),
    };
    let cookie = set_cookie(
        TENANT_COOKIE,
        Some(&tenant.slug),
        "/",
        state.session_ttl().whole_seconds(),
        session::behind_tls(&headers),
    );
    let mut res = see_other("/files");
    if let Ok(c) = cookie.parse() {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    res
}
