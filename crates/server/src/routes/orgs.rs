//! Orgs and their memberships.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orgscope_app::input::Listing;
use orgscope_app::orgs::{
    self, DomainProof, Member, MemberChanges, MemberRemoved, NewMember, NewOrg, Org, OrgChanges,
    OrgDeletionPreview, OrgDisposal,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ListQuery;
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, AppJson, AppQuery, OptionalJson};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orgs, create_org))
        .routes(routes!(get_org, update_org, delete_org))
        .routes(routes!(list_members, add_member))
        .routes(routes!(get_member, update_member, remove_member))
        .routes(routes!(verify_domain))
}

#[utoipa::path(get, path = "/api/v1/orgs", tag = "orgs", params(ListQuery),
    responses((status = 200, description = "the orgs you can see", body = Listing<Org>)))]
async fn list_orgs(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Response> {
    let page = q.page()?;
    Ok(axum::Json(orgs::list_orgs(&state.env(), &auth, &page).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/orgs", tag = "orgs", request_body = NewOrg,
    responses((status = 201, description = "the org", body = Org), (status = 403, description = "admins only"),
        (status = 409, description = "slug or domain taken"), (status = 422, description = "invalid field")))]
async fn create_org(
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<NewOrg>,
) -> ApiResult<Response> {
    let out = orgs::create_org(&state.env(), &auth, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "slug or id")),
    responses((status = 200, description = "the org", body = Org), (status = 404, description = "no such org for you")))]
async fn get_org(
    State(state): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(orgs::get_org(&state.env(), &auth, &org).await?).into_response())
}

#[utoipa::path(patch, path = "/api/v1/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "slug or id")),
    request_body = OrgChanges,
    responses((status = 200, description = "the org", body = Org), (status = 403, description = "not a manager"),
        (status = 404, description = "no such org for you"), (status = 409, description = "slug or domain taken")))]
async fn update_org(
    State(state): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    AppJson(body): AppJson<OrgChanges>,
) -> ApiResult<Response> {
    Ok(axum::Json(orgs::update_org(&state.env(), &auth, &org, &body).await?).into_response())
}

#[utoipa::path(delete, path = "/api/v1/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "slug or id")),
    request_body(content = Option<OrgDisposal>, description = "required while the org owns resources"),
    responses((status = 204, description = "deleted"), (status = 200, description = "the preview", body = OrgDeletionPreview),
        (status = 403, description = "admins only"), (status = 404, description = "no such org for you"),
        (status = 409, description = "the org owns resources; counts per kind in `blocking`")))]
async fn delete_org(
    State(state): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    OptionalJson(body): OptionalJson<OrgDisposal>,
) -> ApiResult<Response> {
    // A preview answers its impact; a deletion answers nothing.
    Ok(
        match orgs::delete_org(&state.env(), &auth, &org, &body).await? {
            None => StatusCode::NO_CONTENT.into_response(),
            Some(preview) => axum::Json(preview).into_response(),
        },
    )
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/members", tag = "members",
    params(("org" = String, Path, description = "slug or id"), ListQuery),
    responses((status = 200, description = "the org's members", body = Listing<Member>), (status = 404, description = "no such org for you")))]
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
    params(("org" = String, Path, description = "slug or id")), request_body = NewMember,
    responses((status = 201, description = "the membership", body = Member), (status = 200, description = "the membership existed: changed", body = Member), (status = 403, description = "not a manager"),
        (status = 404, description = "no such org for you"), (status = 422, description = "no such user")))]
async fn add_member(
    State(state): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    AppJson(body): AppJson<NewMember>,
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
    responses((status = 200, description = "the membership", body = Member), (status = 404, description = "no such membership for you")))]
async fn get_member(
    State(state): State<AppState>,
    auth: Auth,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<Response> {
    Ok(axum::Json(orgs::get_member(&state.env(), &auth, &org, &user).await?).into_response())
}

#[utoipa::path(patch, path = "/api/v1/orgs/{org}/members/{user}", tag = "members",
    params(("org" = String, Path), ("user" = String, Path, description = "username or id")),
    request_body = MemberChanges,
    responses((status = 200, description = "the membership", body = Member), (status = 403, description = "not a manager"),
        (status = 404, description = "no such membership for you")))]
async fn update_member(
    State(state): State<AppState>,
    auth: Auth,
    Path((org, user)): Path<(String, String)>,
    AppJson(body): AppJson<MemberChanges>,
) -> ApiResult<Response> {
    let out = orgs::update_member(&state.env(), &auth, &org, &user, &body).await?;
    Ok(axum::Json(out).into_response())
}

#[utoipa::path(delete, path = "/api/v1/orgs/{org}/members/{user}", tag = "members",
    params(("org" = String, Path), ("user" = String, Path, description = "username or id")),
    responses((status = 200, description = "removed; says whether the user's default org was cleared", body = MemberRemoved),
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
    request_body(content = Option<DomainProof>, description = "optional"),
    responses((status = 200, description = "the org, its domain verified: the portal answers on it", body = Org),
        (status = 403, description = "not a manager, or skip_dns without being a superuser"),
        (status = 404, description = "no such org for you"),
        (status = 409, description = "the org claims no domain, or the claim changed meanwhile"),
        (status = 422, description = "no TXT record holds the org's txt_value yet"),
        (status = 502, description = "the DNS resolver did not answer, or none is configured")))]
async fn verify_domain(
    State(state): State<AppState>,
    auth: Auth,
    Path(org): Path<String>,
    OptionalJson(body): OptionalJson<DomainProof>,
) -> ApiResult<Response> {
    let out = orgs::verify_domain(&state.env(), &auth, &org, &body).await?;
    Ok(axum::Json(out).into_response())
}
