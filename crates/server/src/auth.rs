//! Who is asking: secrets and passwords, and the [`Auth`] extractor that turns
//! a bearer token (session, personal token or org key) into a principal,
//! loaded fresh from the database on every request.

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use orgscope_app::caller;

/// The header a superuser (or the local CLI) uses to name the tenant it acts in.
pub const TENANT_HEADER: &str = "x-orgscope-tenant";
/// The cookie a browser keeps its session in (the UI's way of sending it).
pub const SESSION_COOKIE: &str = "orgscope_session";
/// The header a cookie-authenticated change must carry: login's `csrf_token`.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token of a session: derived from its secret, so it needs no
/// storage and no other site can know it (one derivation, in the app layer,
/// shared with the web pages' forms).
pub use orgscope_app::secrets::csrf_token;

/// `Set-Cookie` for a new session (or, with `None`, one that ends it).
/// `Secure` when the request reached the proxy over TLS.
pub fn session_cookie(session: Option<&str>, max_age: i64, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    let (value, max_age) = session.map_or(("", 0), |s| (s, max_age));
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    )
}

/// The session in the request's cookie, if it carries one.
fn cookie_session(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
}

/// Marks a request made in-process by the `orgscope` CLI working on the
/// database directly: it acts as a superuser. Only code in this process can
/// put an extension on a request, so no network client can claim it.
#[derive(Clone, Debug)]
pub struct LocalOperator;

pub use orgscope_app::limits::LoginLimiter;
pub use orgscope_app::secrets::{
    ORG_KEY_PREFIX, PERSONAL_TOKEN_PREFIX, SESSION_PREFIX, ct_eq, hash_password, hash_secret, hex,
    new_secret, verify_password,
};

/// The client's address, when the server knows it (not in-process calls).
pub struct PeerAddr(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

pub use orgscope_app::caller::{
    Caller as Auth, Credential, LOCAL_OPERATOR, key_maker, principal_now, principal_of,
    user_principal,
};

fn bearer(parts: &Parts) -> Option<String> {
    let header = parts.headers.get(axum::http::header::AUTHORIZATION);
    if let Some(v) = header.and_then(|v| v.to_str().ok()) {
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    parts
        .headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Auth> {
        let tenant = parts
            .headers
            .get(TENANT_HEADER)
            .and_then(|v| v.to_str().ok());
        if parts.extensions.get::<LocalOperator>().is_some() {
            return Ok(caller::local_operator(&state.store, tenant).await?);
        }
        // A browser's cookie carries sessions only.
        let (secret, from_cookie) = match bearer(parts) {
            Some(secret) => (secret, false),
            None => (
                cookie_session(parts)
                    .filter(|s| s.starts_with(SESSION_PREFIX))
                    .ok_or(ApiError::Unauthorized)?,
                true,
            ),
        };
        let auth = caller::authenticate(&state.store, &secret, tenant).await?;
        // The request's log line names who asked (an id, never the secret).
        tracing::Span::current().record("principal", auth.actor_id().as_str());
        if from_cookie {
            // A change must prove it comes from our own pages (as
            // SameSite=Strict does in browsers that honour it).
            let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            let proof = parts.headers.get(CSRF_HEADER).map(|v| v.as_bytes());
            if !safe && !proof.is_some_and(|p| ct_eq(p, csrf_token(&secret).as_bytes())) {
                return Err(ApiError::Forbidden(format!(
                    "a change made with the session cookie needs the {CSRF_HEADER} header: the csrf_token that login answered"
                )));
            }
        }
        Ok(auth)
    }
}
