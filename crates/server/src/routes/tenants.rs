//! Tenants: superusers only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ListQuery;
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, AppJson, AppQuery};
use orgscope_app::tenants;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tenants, create_tenant))
}

/// `POST /api/v1/tenants`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct TenantBody {
    slug: String,
    name: String,
}

#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", params(ListQuery),
    responses((status = 200, description = "{items, next_cursor}"), (status = 403, description = "superusers only")))]
async fn list_tenants(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Response> {
    let page = q.page()?;
    Ok(axum::Json(tenants::list(&state.env(), &auth, &page).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = TenantBody,
    responses((status = 201, description = "the tenant, with its default org"), (status = 403, description = "superusers only"),
        (status = 409, description = "slug taken")))]
async fn create_tenant(
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    let out = tenants::create(&state.env(), &auth, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}
