//! Logging in and out, who am I, and personal tokens.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Auth, PeerAddr, csrf_token, session_cookie};
use crate::error::{ApiResult, AppJson};
use orgscope_app::input::Listing;
use orgscope_app::me::{self, Login, Me, NewToken, Token};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// A new session.
#[derive(Serialize, ToSchema)]
pub struct LoggedIn {
    /// The session's secret, for `Authorization: Bearer`.
    token: String,
    expires_at: String,
    /// What a browser's changes send as `X-CSRF-Token`.
    csrf_token: String,
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, description = "a session; also sets the session cookie (HttpOnly, SameSite=Strict) for browsers, whose changes send csrf_token as X-CSRF-Token", body = LoggedIn), (status = 401, description = "wrong tenant, username or password"),
        (status = 429, description = "too many failed attempts")))]
async fn login(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    AppJson(body): AppJson<Login>,
) -> ApiResult<Response> {
    let address = peer.map_or_else(|| "local".to_owned(), |a| a.ip().to_string());
    let (token, expires) = me::login(
        &state.env(),
        &state.limiter,
        state.session_ttl,
        &body,
        &address,
    )
    .await?;
    let cookie = session_cookie(
        Some(&token),
        state.session_ttl.whole_seconds(),
        behind_tls(&headers),
    );
    Ok((
        [(header::SET_COOKIE, cookie)],
        axum::Json(LoggedIn {
            csrf_token: csrf_token(&token),
            token,
            expires_at: expires,
        }),
    )
        .into_response())
}

/// Did the request reach the proxy in front of us over TLS?
fn behind_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "the session has ended (and its cookie is cleared)")))]
async fn logout(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
) -> ApiResult<Response> {
    me::logout(&state.env(), &auth).await?;
    let cookie = session_cookie(None, 0, behind_tls(&headers));
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, description = "who you are: role, memberships, default org", body = Me), (status = 401, description = "not logged in")))]
async fn me(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    Ok(axum::Json(me::whoami(&state.env(), &auth).await?).into_response())
}

#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "auth",
    responses((status = 200, description = "your personal tokens (never their secrets), on one page", body = Listing<Token>)))]
async fn list_tokens(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    let items = me::tokens(&state.env(), &auth).await?;
    Ok(axum::Json(Listing {
        items,
        next_cursor: None,
    })
    .into_response())
}

#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "auth", request_body = NewToken,
    responses((status = 201, description = "the token, with its secret as `token` (shown once)", body = Token)))]
async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<NewToken>,
) -> ApiResult<Response> {
    let out = me::create_token(&state.env(), &auth, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", tag = "auth",
    params(("id" = String, Path)),
    responses((status = 204, description = "revoked"), (status = 404, description = "no such token of yours")))]
async fn revoke_token(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    me::revoke_token(&state.env(), &auth, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
