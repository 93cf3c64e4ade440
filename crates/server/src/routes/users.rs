//! Users of a tenant: created by admins, changed with PATCH.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orgscope_app::users;
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
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
}

/// A user as `POST /api/v1/users` takes it.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct UserBody {
    username: String,
    /// At least 8 characters.
    password: String,
    /// user | admin | auditor | superuser (superusers only make superusers).
    role: Option<String>,
    /// An org slug or id; the user becomes a member of it.
    default_org: Option<String>,
}

/// `PATCH /api/v1/users/{user}`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct UserPatch {
    role: Option<String>,
    /// An org the user is a member of, or null.
    default_org: Option<String>,
    /// Disabling revokes the user's sessions and tokens at once.
    disabled: Option<bool>,
    /// A new password: ends the user's other sessions.
    password: Option<String>,
    /// Your current password: required to change your own.
    current_password: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListQuery),
    responses((status = 200, description = "{items, next_cursor}"), (status = 403, description = "admins and auditors only")))]
async fn list_users(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Response> {
    let page = q.page()?;
    Ok(axum::Json(users::list_users(&state.env(), &auth, &page).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserBody,
    responses((status = 201, description = "the user"), (status = 403, description = "admins only; superusers for superusers"),
        (status = 409, description = "username taken"), (status = 422, description = "invalid field")))]
async fn create_user(
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    let out = users::create_user(&state.env(), &auth, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

#[utoipa::path(get, path = "/api/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "username or id")),
    responses((status = 200, description = "the user"), (status = 404, description = "no such user for you")))]
async fn get_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(users::get_user(&state.env(), &auth, &user).await?).into_response())
}

#[utoipa::path(patch, path = "/api/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "username or id")), request_body = UserPatch,
    responses((status = 200, description = "the user"), (status = 403, description = "not allowed"),
        (status = 404, description = "no such user for you"), (status = 422, description = "invalid field")))]
async fn update_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(user): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    Ok(axum::Json(users::update_user(&state.env(), &auth, &user, &body).await?).into_response())
}

#[utoipa::path(delete, path = "/api/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "username or id")),
    responses((status = 200, description = "deleted; what they made stays, their keys are revoked"), (status = 403, description = "admins only; not yourself"),
        (status = 404, description = "no such user for you")))]
async fn delete_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(users::delete_user(&state.env(), &auth, &user).await?).into_response())
}

pub use orgscope_app::users::{render_user, render_user_in};
