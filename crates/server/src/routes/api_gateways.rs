//! API gateways beyond their generic routes: a new secret, what one serves
//! (for people, and for the proxy itself by its secret), the preview of a
//! tag change, and the tenant's choice about the shared check.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use orgscope_app::api_gateways::{self, GatewayConfig, GatewaySettings, Moves, TagChange};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppJson};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rotate))
        .routes(routes!(config))
        .routes(routes!(preview))
        .routes(routes!(proxy_config))
        .routes(routes!(settings, update_settings))
}

#[utoipa::path(post, path = "/api/v1/api-gateways/{id}/rotate", tag = "api-gateways", params(("id" = String, Path)),
    responses((status = 200, description = "the gateway with its new secret as `token`, shown this once; the old secret stops at once (audited)", body = ref("#/components/schemas/resource.api_gateway")),
        (status = 403, description = "may not change it, or an org access key"),
        (status = 404, description = "no such API gateway for you")))]
async fn rotate(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(api_gateways::rotate(&state.env(), &auth, &id).await?).into_response())
}

#[utoipa::path(get, path = "/api/v1/api-gateways/{id}/config", tag = "api-gateways", params(("id" = String, Path)),
    responses((status = 200, description = "the gateway and the API definitions it serves that you can see: listen paths, methods, upstreams", body = GatewayConfig),
        (status = 404, description = "no such API gateway for you")))]
async fn config(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(api_gateways::config(&state.env(), &auth, &id).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/api-gateways/{id}/preview", tag = "api-gateways", params(("id" = String, Path)),
    request_body = TagChange,
    responses((status = 200, description = "the API definitions the gateway would gain and lose with these tags (those you can see); nothing changes", body = Moves),
        (status = 403, description = "may not change it"),
        (status = 404, description = "no such API gateway for you"),
        (status = 422, description = "a tag is not a tag")))]
async fn preview(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    AppJson(body): AppJson<TagChange>,
) -> ApiResult<Response> {
    Ok(axum::Json(api_gateways::preview(&state.env(), &auth, &id, &body).await?).into_response())
}

/// What a proxy loads its routes from: the gateway named by its secret.
#[utoipa::path(get, path = "/api/v1/gateway/config", tag = "api-gateways",
    params(("X-Orgscope-Gateway" = String, Header, description = "the API gateway's secret")),
    responses((status = 200, description = "the gateway and every API definition it serves: listen paths, methods, upstreams", body = GatewayConfig),
        (status = 401, description = "no API gateway has this secret")))]
async fn proxy_config(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let secret = headers
        .get("x-orgscope-gateway")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    Ok(axum::Json(api_gateways::config_for_proxy(&state.env(), secret).await?).into_response())
}

#[utoipa::path(get, path = "/api/v1/tenant/gateways", tag = "api-gateways",
    responses((status = 200, description = "whether the tenant's consumer keys pass the shared check that names no API gateway", body = GatewaySettings)))]
async fn settings(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    Ok(axum::Json(api_gateways::settings(&state.env(), &auth).await?).into_response())
}

#[utoipa::path(patch, path = "/api/v1/tenant/gateways", tag = "api-gateways", request_body = GatewaySettings,
    responses((status = 200, description = "the setting as it is now (audited as tenant.gateways)", body = GatewaySettings),
        (status = 403, description = "not an admin of the tenant"),
        (status = 409, description = "turning it on: two orgs' listen paths overlap (named as far as you can see them)")))]
async fn update_settings(
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<GatewaySettings>,
) -> ApiResult<Response> {
    Ok(
        axum::Json(api_gateways::update_settings(&state.env(), &auth, &body).await?)
            .into_response(),
    )
}
