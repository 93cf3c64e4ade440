//! Users of a tenant: created by admins, changed with PATCH.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orgscope_app::input::Listing;
use orgscope_app::users::{self, DeletedUser, NewUser, User, UserChanges};
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

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListQuery),
    responses((status = 200, description = "a page of the tenant's users", body = Listing<User>), (status = 403, description = "admins and auditors only")))]
async fn list_users(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Response> {
    let page = q.page()?;
    Ok(axum::Json(users::list_users(&state.env(), &auth, &page).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, description = "the user", body = User), (status = 403, description = "admins only; superusers for superusers"),
        (status = 409, description = "username taken"), (status = 422, description = "invalid field")))]
async fn create_user(
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<NewUser>,
) -> ApiResult<Response> {
    let out = users::create_user(&state.env(), &auth, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

#[utoipa::path(get, path = "/api/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "username or id")),
    responses((status = 200, description = "the user", body = User), (status = 404, description = "no such user for you")))]
async fn get_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(users::get_user(&state.env(), &auth, &user).await?).into_response())
}

#[utoipa::path(patch, path = "/api/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "username or id")), request_body = UserChanges,
    responses((status = 200, description = "the user", body = User), (status = 403, description = "not allowed"),
        (status = 404, description = "no such user for you"), (status = 422, description = "invalid field")))]
async fn update_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(user): Path<String>,
    AppJson(body): AppJson<UserChanges>,
) -> ApiResult<Response> {
    Ok(axum::Json(users::update_user(&state.env(), &auth, &user, &body).await?).into_response())
}

#[utoipa::path(delete, path = "/api/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "username or id")),
    responses((status = 200, description = "deleted; what they made stays, their keys are revoked", body = DeletedUser), (status = 403, description = "admins only; not yourself"),
        (status = 404, description = "no such user for you")))]
async fn delete_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(users::delete_user(&state.env(), &auth, &user).await?).into_response())
}
