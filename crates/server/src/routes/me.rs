//! Logging in and out, who am I, and personal tokens.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orgscope_core::policy::Actor;
use orgscope_store::{StoreError, TokenRow, UserRow};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Change, audit, only_fields, text};
use crate::AppState;
use crate::auth::{
    Auth, Credential, PERSONAL_TOKEN_PREFIX, PeerAddr, SESSION_PREFIX, csrf_token, hash_secret,
    new_secret, session_cookie, verify_password,
};
use crate::error::{ApiError, ApiResult, AppJson};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// `POST /api/v1/auth/login`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct LoginBody {
    /// Tenant slug or id; may be left out when the server has one tenant.
    tenant: Option<String>,
    username: String,
    password: String,
}

/// `POST /api/v1/me/tokens`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct TokenBody {
    name: String,
    /// RFC 3339; absent = never.
    expires_at: Option<String>,
}

fn render_token(t: &TokenRow) -> Value {
    json!({"id": t.id, "kind": "personal_token", "name": t.name, "created_at": t.created_at, "expires_at": t.expires_at})
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, description = "{token, expires_at, csrf_token}; also sets the session cookie (HttpOnly, SameSite=Strict) for browsers, whose changes send csrf_token as X-CSRF-Token"), (status = 401, description = "wrong tenant, username or password"),
        (status = 429, description = "too many failed attempts")))]
async fn login(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    only_fields(&body, &["tenant", "username", "password"])?;
    let username = text(&body, "username", 200)?.to_owned();
    let password = text(&body, "password", 1024)?.to_owned();
    let tenant_ref = match body.get("tenant") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => return Err(ApiError::Invalid("tenant: must be a slug or id".into())),
    };
    let address = peer.map_or_else(|| "local".to_owned(), |a| a.ip().to_string());
    // Read, then verify (slow on purpose) with no transaction open, then write.
    let mut tx = state.store.read().await?;
    let tenant = match &tenant_ref {
        Some(t) => tx.tenant(t).await.ok(),
        None => tx.sole_tenant().await?,
    };
    // The budget is per user, however the tenant was named.
    let limit_key = format!(
        "{}/{username}",
        tenant.as_ref().map_or("-", |t| t.id.as_str())
    );
    state
        .limiter
        .check(&limit_key, &address)
        .map_err(ApiError::TooManyRequests)?;
    // Named tenant: only its users. No tenant: superusers (who have no
    // tenant) and the users of the server's only tenant are both candidates,
    // so a tenant user named like a superuser never shadows them; both are
    // always verified (a dummy for a missing one), so the time taken does
    // not tell which exist.
    let tenant_user = match &tenant {
        Some(t) => tx.user(Some(&t.id), &username).await.ok(),
        None => None,
    }
    .filter(|u| u.username == username);
    let superuser = match &tenant_ref {
        None => Some(
            tx.user(None, &username)
                .await
                .ok()
                .filter(|u| u.username == username),
        ),
        Some(_) => None,
    };
    drop(tx);
    let hash = |u: &Option<UserRow>| u.as_ref().map(|u| u.password_hash.clone());
    let super_ok = superuser
        .as_ref()
        .is_some_and(|s| verify_password(&password, hash(s).as_deref()));
    let tenant_ok = verify_password(&password, hash(&tenant_user).as_deref());
    let found = if super_ok {
        superuser.flatten()
    } else if tenant_ok {
        tenant_user
    } else {
        None
    };
    let user = match found {
        Some(u) if u.disabled == 0 => u,
        _ => {
            state.limiter.failed(&limit_key, &address);
            if tenant.is_none() && tenant_ref.is_none() {
                return Err(ApiError::Invalid(
                    "tenant: this server has several tenants; name yours in `tenant` (its slug)"
                        .into(),
                ));
            }
            return Err(ApiError::Unauthorized);
        }
    };
    state.limiter.succeeded(&limit_key);
    let token = new_secret(SESSION_PREFIX);
    let expires = orgscope_core::format_time(time::OffsetDateTime::now_utc() + state.session_ttl);
    let mut tx = state.store.write().await?;
    tx.token_create(
        &hash_secret(&token),
        "session",
        &user.id,
        "login",
        Some(&expires),
    )
    .await?;
    tx.commit().await?;
    let cookie = session_cookie(
        Some(&token),
        state.session_ttl.whole_seconds(),
        behind_tls(&headers),
    );
    Ok((
        [(header::SET_COOKIE, cookie)],
        axum::Json(
            json!({"token": token, "expires_at": expires, "csrf_token": csrf_token(&token)}),
        ),
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
    if let Credential::Session { hash } = &auth.credential {
        let mut tx = state.store.write().await?;
        tx.session_delete(hash).await?;
        tx.commit().await?;
    }
    let cookie = session_cookie(None, 0, behind_tls(&headers));
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, description = "who you are: role, memberships, default org"), (status = 401, description = "not logged in")))]
async fn me(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    let mut tx = state.store.read().await?;
    let tenant = match auth.principal.tenant.as_str() {
        "" => Value::Null,
        t => {
            let row = tx.tenant(t).await?;
            json!({"id": row.id, "slug": row.slug, "name": row.name})
        }
    };
    let filter = orgscope_core::policy::read_filter(&auth.principal);
    let out = match (&auth.principal.actor, &auth.user) {
        (
            Actor::User {
                member_of,
                managing,
                ..
            },
            Some(user),
        ) => {
            let mut memberships = Vec::new();
            for org in member_of {
                if let Ok(o) = tx.org(&filter, org).await {
                    memberships.push(json!({"org": {"id": o.id, "slug": o.slug, "name": o.name}, "can_manage": managing.contains(org)}));
                }
            }
            let mut out = super::users::render_user_in(&mut tx, user).await?;
            out["tenant"] = tenant;
            out["memberships"] = json!(memberships);
            out
        }
        (Actor::OrgKey { id, org, access }, _) => {
            let o = tx.org(&filter, org).await?;
            json!({"kind": "api_key", "id": id, "tenant": tenant, "access": access.as_str(),
                "org": {"id": o.id, "slug": o.slug, "name": o.name}})
        }
        (Actor::User { .. }, None) => {
            json!({"kind": "local_operator", "role": "superuser", "tenant": tenant})
        }
    };
    Ok(axum::Json(out).into_response())
}

fn token_user(auth: &Auth) -> ApiResult<&str> {
    match (&auth.credential, &auth.user) {
        (Credential::Session { .. } | Credential::PersonalToken, Some(u)) => Ok(&u.id),
        _ => Err(ApiError::Forbidden(
            "personal tokens belong to users: log in as one".into(),
        )),
    }
}

#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "auth",
    responses((status = 200, description = "{items, next_cursor}: your personal tokens (never their secrets)")))]
async fn list_tokens(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    let user = token_user(&auth)?;
    let mut tx = state.store.read().await?;
    let rows = tx.tokens_of(user, "personal").await?;
    let items: Vec<Value> = rows.iter().map(render_token).collect();
    Ok(axum::Json(json!({"items": items, "next_cursor": null})).into_response())
}

#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "auth", request_body = TokenBody,
    responses((status = 201, description = "the token, with its secret as `token` (shown once)")))]
async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    only_fields(&body, &["name", "expires_at"])?;
    let user = token_user(&auth)?.to_owned();
    // A token made by a token would outlive its parent's revocation.
    if auth.credential == Credential::PersonalToken {
        return Err(ApiError::Forbidden(
            "personal tokens are made from a password session: log in and create it there".into(),
        ));
    }
    let name = text(&body, "name", 200)?.to_owned();
    let expires_at = match body.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(
            orgscope_core::parse_time(t)
                .map_err(|e| ApiError::Invalid(format!("expires_at: {e}")))?,
        ),
        Some(_) => {
            return Err(ApiError::Invalid(
                "expires_at: must be an RFC 3339 timestamp string".into(),
            ));
        }
    };
    let token = new_secret(PERSONAL_TOKEN_PREFIX);
    let mut tx = state.store.write().await?;
    let row = tx
        .token_create(
            &hash_secret(&token),
            "personal",
            &user,
            &name,
            expires_at.as_deref(),
        )
        .await?;
    let mut out = render_token(&row);
    audit(
        &mut tx,
        &auth,
        auth.user.as_ref().and_then(|u| u.tenant_id.as_deref()),
        Change {
            action: "token.create",
            kind: "personal_token",
            target: &row.id,
            org: None,
            before: None,
            after: Some(out.clone()),
        },
    )
    .await?;
    tx.commit().await?;
    out["token"] = json!(token);
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
    let user = token_user(&auth)?.to_owned();
    let mut tx = state.store.write().await?;
    match tx.token_delete(&user, &id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(ApiError::not_found("token", &id)),
        Err(e) => return Err(e.into()),
    }
    audit(
        &mut tx,
        &auth,
        auth.user.as_ref().and_then(|u| u.tenant_id.as_deref()),
        Change {
            action: "token.revoke",
            kind: "personal_token",
            target: &id,
            org: None,
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
