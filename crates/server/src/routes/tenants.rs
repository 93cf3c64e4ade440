//! Tenants: superusers only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ListQuery;
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, AppJson, AppQuery};
use orgscope_app::input::Listing;
use orgscope_app::tenants::{self, NewTenant, Tenant};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tenants, create_tenant))
}

#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", params(ListQuery),
    responses((status = 200, description = "the server's tenants", body = Listing<Tenant>), (status = 403, description = "superusers only")))]
async fn list_tenants(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Response> {
    let page = q.page()?;
    Ok(axum::Json(tenants::list(&state.env(), &auth, &page).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = NewTenant,
    responses((status = 201, description = "the tenant, with its default org", body = Tenant), (status = 403, description = "superusers only"),
        (status = 409, description = "slug taken")))]
async fn create_tenant(
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<NewTenant>,
) -> ApiResult<Response> {
    let out = tenants::create(&state.env(), &auth, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}
