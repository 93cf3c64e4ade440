//! Orgs and their memberships.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orgscope_app::orgs;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ListQuery;
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, AppJson, AppQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orgs, create_org))
        .routes(routes!(get_org, update_org, delete_org))
        .routes(routes!(list_members, add_member))
        .routes(routes!(get_member, update_member, remove_member))
        .routes(routes!(verify_domain))
}

/// An org as `POST /api/v1/orgs` takes it.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct OrgBody {
    /// Unique in the tenant: 2-63 of a-z, 0-9 and '-'; not all, tenant or none.
    slug: String,
    name: String,
    /// Parent org slug or id (same tenant, no cycles).
    parent: Option<String>,
    /// A host name for the org's portal, unique in the tenant. It serves the
    /// portal once proved: `POST /api/v1/orgs/{org}/domain/verify`.
    domain: Option<String>,
}

/// How `POST /api/v1/orgs/{org}/domain/verify` proves a domain claim.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct VerifyBody {
    /// Superusers only: vouch for the domain without asking DNS (the
    /// operator runs the DNS and the proxy in front of the server).
    skip_dns: Option<bool>,
}

/// A membership as `POST /api/v1/orgs/{org}/members` takes it.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct MemberBody {
    /// Username or id of a user of the same tenant.
    user: String,
    /// Lets the member manage the org (members, name, domain); never widens what they see.
    can_manage: Option<bool>,
}

/// How `DELETE /api/v1/orgs/{org}` disposes of what the org owns.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct OrgDeleteBody {
    /// Another org (slug or id) to move resources to, or null for tenant-wide.
    move_to: Option<String>,
    delete_resources: Option<bool>,
    preview: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/orgs", tag = "orgs", params(ListQuery),
    responses((status = 200, description = "{items, next_cursor}: the orgs you can see")))]
async fn list_orgs(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Response> {
    let page = q.page()?;
    Ok(axum::Json(orgs::list_orgs(&state.env(), &auth, &page).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/orgs", tag = "orgs", request_body = OrgBody,
    responses((status = 201, description = "the org"), (status = 403, description = "admins only"),
        (status = 409, description = "slug or domain taken"), (status = 422, description = "invalid field")))]
async fn create_org(
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    let out = orgs::create_org(&state.env(), &auth, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "slug or id")),
    responses((status = 200, description = "the org"), (status = 404, description = "no such org for you")))]
async fn get_org(
    State(state): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(orgs::get_org(&state.env(), &auth, &org).await?).into_response())
}

#[utoipa::path(patch, path = "/api/v1/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "slug or id")),
    request_body = OrgBody,
    responses((status = 200, description = "the org"), (status = 403, description = "not a manager"),
        (status = 404, description = "no such org for you"), (status = 409, description = "slug or domain taken")))]
async fn update_org(
    State(state): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    Ok(axum::Json(orgs::update_org(&state.env(), &auth, &org, &body).await?).into_response())
}

#[utoipa::path(delete, path = "/api/v1/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "slug or id")),
    request_body(content = Option<OrgDeleteBody>, description = "required while the org owns resources"),
    responses((status = 204, description = "deleted"), (status = 200, description = "the preview"),
        (status = 403, description = "admins only"), (status = 404, description = "no such org for you"),
        (status = 409, description = "the org owns resources; counts per kind in `blocking`")))]
async fn delete_org(
    State(state): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    // A preview answers its impact; a deletion answers nothing.
    Ok(
        match orgs::delete_org(&state.env(), &auth, &org, &body).await? {
            Value::Null => StatusCode::NO_CONTENT.into_response(),
            preview => axum::Json(preview).into_response(),
        },
    )
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/members", tag = "members",
    params(("org" = String, Path, description = "slug or id"), ListQuery),
    responses((status = 200, description = "{items, next_cursor}"), (status = 404, description = "no such org for you")))]
async fn list_members(
    State(state): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Response> {
    let page = q.page()?;
    Ok(axum::Json(orgs::list_members(&state.env(), &auth, &org, &page).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/orgs/{org}/members", tag = "members",
    params(("org" = String, Path, description = "slug or id")), request_body = MemberBody,
    responses((status = 201, description = "the membership"), (status = 403, description = "not a manager"),
        (status = 404, description = "no such org for you"), (status = 422, description = "no such user")))]
async fn add_member(
    State(state): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    let (created, out) = orgs::add_member(&state.env(), &auth, &org, &body).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(out)).into_response())
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/members/{user}", tag = "members",
    params(("org" = String, Path), ("user" = String, Path, description = "username or id")),
    responses((status = 200, description = "the membership"), (status = 404, description = "no such membership for you")))]
async fn get_member(
    State(state): State<AppState>,
    auth: Auth,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(axum::Json(orgs::get_member(&state.env(), &auth, &org, &user).await?).into_response())
}

#[utoipa::path(patch, path = "/api/v1/orgs/{org}/members/{user}", tag = "members",
    params(("org" = String, Path), ("user" = String, Path, description = "username or id")),
    request_body = MemberBody,
    responses((status = 200, description = "the membership"), (status = 403, description = "not a manager"),
        (status = 404, description = "no such membership for you")))]
async fn update_member(
    State(state): State<AppState>,
    auth: Auth,
    Path((org, user)): Path<(String, String)>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    let out = orgs::update_member(&state.env(), &auth, &org, &user, &body).await?;
    Ok(axum::Json(out).into_response())
}

#[utoipa::path(delete, path = "/api/v1/orgs/{org}/members/{user}", tag = "members",
    params(("org" = String, Path), ("user" = String, Path, description = "username or id")),
    responses((status = 200, description = "removed; says whether the user's default org was cleared"),
        (status = 403, description = "not a manager"), (status = 404, description = "no such membership for you")))]
async fn remove_member(
    State(state): State<AppState>,
    auth: Auth,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<Response> {
    let out = orgs::remove_member(&state.env(), &auth, &org, &user).await?;
    Ok(axum::Json(out).into_response())
}

#[utoipa::path(post, path = "/api/v1/orgs/{org}/domain/verify", tag = "orgs",
    params(("org" = String, Path, description = "slug or id")),
    request_body(content = Option<VerifyBody>, description = "optional"),
    responses((status = 200, description = "the org, its domain verified: the portal answers on it"),
        (status = 403, description = "not a manager, or skip_dns without being a superuser"),
        (status = 404, description = "no such org for you"),
        (status = 409, description = "the org claims no domain, or the claim changed meanwhile"),
        (status = 422, description = "no TXT record holds the org's txt_value yet"),
        (status = 502, description = "the DNS resolver did not answer, or none is configured")))]
async fn verify_domain(
    State(state): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let out = orgs::verify_domain(&state.env(), &auth, &org, &body).await?;
    Ok(axum::Json(out).into_response())
}

pub use orgscope_app::orgs::{render_org, render_org_for};
