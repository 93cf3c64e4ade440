//! Signing in and out, and where `/` leads.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::Host;
use crate::error::{self, PageError, html};
use crate::session::{
    self, LOGIN_COOKIE, SESSION_COOKIE, TENANT_COOKIE, Viewer, see_other, set_cookie,
};
use crate::views::{Layout, bodies};

/// `/`: the files when signed in, else the sign-in page.
pub async fn home(viewer: Result<Viewer, Response>) -> Response {
    match viewer {
        Ok(_) => see_other("/files"),
        Err(_) => see_other("/login"),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    l: &'a Layout,
    token: &'a str,
    next: &'a str,
    show_tenant: bool,
    tenant: &'a str,
    username: &'a str,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a path of ours: `/…` but not `//…` (another host).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n,
        _ => "/files",
    }
}

/// The sign-in form with a fresh token of its own (its cookie is set here).
fn form(
    headers: &HeaderMap,
    show_tenant: bool,
    next: &str,
    tenant: &str,
    username: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let token = orgscope_app::secrets::new_secret("osl_");
    let l = Layout::bare("Sign in");
    let mut res = html(&LoginPage {
        l: &l,
        token: &token,
        next,
        show_tenant,
        tenant,
        username,
        error,
    });
    *res.status_mut() = status;
    let cookie = set_cookie(
        LOGIN_COOKIE,
        Some(&token),
        "/login",
        3600,
        session::behind_tls(headers),
    );
    if let Ok(v) = cookie.parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

pub async fn page<S: Host>(
    State(state): State<S>,
    headers: HeaderMap,
    viewer: Result<Viewer, Response>,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if viewer.is_ok() {
        return see_other(next);
    }
    let show_tenant = match orgscope_app::choices::sign_in_needs_tenant(&state.env()).await {
        Ok(b) => b,
        Err(e) => return error::bare(PageError::App(e)),
    };
    form(&headers, show_tenant, next, "", "", None, StatusCode::OK)
}

#[derive(Deserialize, Default)]
struct LoginForm {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn submit<S: Host>(State(state): State<S>, req: Request) -> Response {
    let headers = req.headers().clone();
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "local".to_owned(), |c| c.0.ip().to_string());
    let Ok(axum::Form(f)) = axum::Form::<LoginForm>::from_request(req, &()).await else {
        return error::bare(PageError::App(orgscope_app::Error::BadRequest(
            "the sign-in form could not be read; reload the page and try again".into(),
        )));
    };
    let env = state.env();
    let tenant = Some(f.tenant.trim()).filter(|t| !t.is_empty());
    let next = safe_next(Some(&f.next)).to_owned();
    let body = bodies::login(tenant, f.username.trim(), &f.password);
    match orgscope_app::me::login(
        &env,
        state.login_limiter(),
        state.session_ttl(),
        &body,
        &address,
    )
    .await
    {
        Ok((token, _expires)) => {
            let tls = session::behind_tls(&headers);
            let session = set_cookie(
                SESSION_COOKIE,
                Some(&token),
                "/",
                state.session_ttl().whole_seconds(),
                tls,
            );
            let gone = set_cookie(LOGIN_COOKIE, None, "/login", 0, tls);
            let mut res = see_other(&next);
            for c in [session, gone] {
                if let Ok(v) = c.parse() {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            res
        }
        Err(e) => {
            let tenant_asked =
                matches!(&e, orgscope_app::Error::Invalid(d) if d.starts_with("tenant"));
            let needs_tenant = tenant.is_some()
                || tenant_asked
                || orgscope_app::choices::sign_in_needs_tenant(&env)
                    .await
                    .unwrap_or(true);
            let (status, message) = match e {
                orgscope_app::Error::Unauthorized => (
                    StatusCode::UNAUTHORIZED,
                    "That username and password do not match an account. Check both and try again."
                        .to_owned(),
                ),
                _ if tenant_asked => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "This server hosts several tenants: give your tenant's short name too."
                        .to_owned(),
                ),
                e => {
                    let e = PageError::App(e);
                    (e.status(), e.message())
                }
            };
            form(
                &headers,
                needs_tenant,
                &next,
                tenant.unwrap_or_default(),
                f.username.trim(),
                Some(message),
                status,
            )
        }
    }
}

/// Ends the session (and its cookie).
pub async fn logout<S: Host>(State(state): State<S>, headers: HeaderMap, v: Viewer) -> Response {
    if let Err(e) = orgscope_app::me::logout(&state.env(), &v.caller).await {
        return v.fail(e);
    }
    let mut res = see_other("/login");
    let tls = session::behind_tls(&headers);
    for name in [SESSION_COOKIE, TENANT_COOKIE] {
        if let Ok(c) = set_cookie(name, None, "/", 0, tls).parse() {
            res.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    res.into_response()
}
