//! Who is looking at a page, and the CSRF guard in front of every change.
//!
//! The session is the JSON API's: a random secret in the `orgscope_session`
//! cookie (HttpOnly, SameSite=Strict), turned into a caller by the app layer
//! on every request. A change (any method but GET/HEAD/OPTIONS) must carry
//! the session's CSRF token, `orgscope_app::secrets::csrf_token`, as the
//! `X-CSRF-Token` header or a `csrf` form field; sign-in, which has no
//! session yet, carries a random token also set in a short cookie (double
//! submit). The guard answers 403 before any handler runs.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use orgscope_app::Caller;
use orgscope_app::choices::{OrgChoice, Powers};
use orgscope_app::secrets::{SESSION_PREFIX, csrf_token, ct_eq};

use crate::Host;
use crate::error::{self, PageError};
use crate::views::{self, Me};

/// The cookie the session lives in (the same one the JSON API reads).
pub const SESSION_COOKIE: &str = "orgscope_session";
/// The sign-in form's own token (double submit: cookie and field).
pub const LOGIN_COOKIE: &str = "orgscope_login";
/// The tenant a superuser works in (its slug); tenant users ignore it.
pub const TENANT_COOKIE: &str = "orgscope_tenant";
/// The header htmx and the upload script send the token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field forms send it in.
pub const CSRF_FIELD: &str = "csrf";

/// The largest form the guard reads to find its token.
const MAX_FORM: usize = 256 * 1024;

/// A cookie of the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The session secret in the request's cookie.
pub fn session_secret(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE).filter(|s| s.starts_with(SESSION_PREFIX))
}

/// Did the request reach the proxy in front of us over TLS?
pub fn behind_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` for a cookie of ours (`None`: the cookie ends).
pub fn set_cookie(name: &str, value: Option<&str>, path: &str, max_age: i64, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    let (value, max_age) = value.map_or(("", 0), |v| (v, max_age));
    format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// The guard proved the request carries the token.
#[derive(Clone, Copy)]
pub struct CsrfChecked;

/// A multipart upload: the token is its first part, which the upload
/// handler checks before it stores anything.
#[derive(Clone, Copy)]
pub struct CsrfInBody;

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The `csrf` value of an `application/x-www-form-urlencoded` body (a
/// token is hex, so it needs no decoding).
fn form_token(body: &[u8]) -> Option<&[u8]> {
    body.split(|b| *b == b'&').find_map(|pair| {
        let mut it = pair.splitn(2, |b| *b == b'=');
        (it.next()? == CSRF_FIELD.as_bytes()).then(|| it.next().unwrap_or_default())
    })
}

/// Refuses every change that does not carry the token it should.
pub async fn csrf_guard(req: Request, next: Next) -> Response {
    if is_safe(req.method()) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let expected = if req.uri().path() == "/login" {
        cookie(headers, LOGIN_COOKIE)
    } else if req.uri().path().starts_with("/portal/") {
        // Portal forms: a double-submit token of their own (developers
        // hold no tenant session).
        cookie(headers, crate::pages::portal::PORTAL_FORM_COOKIE)
    } else {
        session_secret(headers).map(|s| csrf_token(&s))
    };
    let Some(expected) = expected else {
        return error::bare(PageError::Csrf);
    };
    let matches = |given: &[u8]| ct_eq(given, expected.as_bytes());
    if headers
        .get(CSRF_HEADER)
        .is_some_and(|v| matches(v.as_bytes()))
    {
        let mut req = req;
        req.extensions_mut().insert(CsrfChecked);
        return next.run(req).await;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let (mut parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
            return error::bare(PageError::App(orgscope_app::Error::TooLarge(
                "the form is too large".into(),
            )));
        };
        if !form_token(&bytes).is_some_and(matches) {
            return error::bare(PageError::Csrf);
        }
        parts.extensions.insert(CsrfChecked);
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    }
    if content_type.starts_with("multipart/form-data") && takes_multipart(req.uri().path()) {
        let mut req = req;
        req.extensions_mut().insert(CsrfInBody);
        return next.run(req).await;
    }
    error::bare(PageError::Csrf)
}

/// The uploads whose handlers read the token from their body first.
fn takes_multipart(path: &str) -> bool {
    path == "/files/upload"
        || path
            .strip_prefix("/orgs/")
            .and_then(|rest| rest.strip_suffix("/portal/logo"))
            .is_some_and(|org| !org.is_empty() && !org.contains('/'))
}

/// Headers every page gets: no caching of private pages, no framing, and a
/// content policy that allows only our own scripts and styles.
pub async fn page_headers(mut res: Response) -> Response {
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    let h = res.headers_mut();
    if html {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

/// The signed-in person looking at a page, and what every page shows of them.
pub struct Viewer {
    pub caller: Caller,
    /// The session's CSRF token, for the page's forms.
    pub csrf: String,
    pub me: Me,
    /// The orgs they can see (the org filter and context pickers).
    pub orgs: Vec<OrgChoice>,
    /// The change's token is in its multipart body, not yet checked.
    pub csrf_in_body: bool,
    /// What their role opens (admin pages, buttons).
    pub powers: Powers,
}

impl<S: Host> FromRequestParts<S> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Viewer, Response> {
        let Some(secret) = session_secret(&parts.headers) else {
            return Err(error::to_login(parts));
        };
        let env = state.env();
        let tenant = cookie(&parts.headers, TENANT_COOKIE);
        let mut caller =
            orgscope_app::caller::authenticate(env.store, &secret, tenant.as_deref()).await;
        if tenant.is_some() && matches!(caller, Err(orgscope_app::Error::NotFound(_))) {
            // The tenant chosen earlier is gone: choose again.
            caller = orgscope_app::caller::authenticate(env.store, &secret, None).await;
        }
        let caller = match caller {
            Ok(c) => c,
            Err(orgscope_app::Error::Unauthorized) => return Err(error::to_login(parts)),
            Err(e) => return Err(error::bare(PageError::App(e))),
        };
        // A superuser on a server of several tenants works in one it chose.
        let path = parts.uri.path();
        if caller.principal.tenant.is_empty() && !path.starts_with("/tenants") && path != "/logout"
        {
            return Err(match parts.method {
                Method::GET | Method::HEAD => see_other("/tenants"),
                _ => error::bare(PageError::App(orgscope_app::Error::Invalid(
                    "choose the tenant to work in first, under Tenants".into(),
                ))),
            });
        }
        let checked = parts.extensions.get::<CsrfChecked>().is_some();
        let in_body = parts.extensions.get::<CsrfInBody>().is_some();
        if !is_safe(&parts.method) && !checked && !in_body {
            return Err(error::bare(PageError::Csrf));
        }
        let me = orgscope_app::me::whoami(&env, &caller)
            .await
            .map_err(|e| error::bare(PageError::App(e)))?;
        let orgs = orgscope_app::choices::visible_orgs(&env, &caller)
            .await
            .map_err(|e| error::bare(PageError::App(e)))?;
        Ok(Viewer {
            powers: orgscope_app::choices::powers(&caller),
            csrf: csrf_token(&secret),
            me: views::me(&me),
            orgs,
            caller,
            csrf_in_body: in_body && !checked,
        })
    }
}

/// Is this an htmx request aimed at the page's main area?
pub fn wants_main(headers: &HeaderMap) -> bool {
    headers.get("hx-request").is_some()
        && headers
            .get("hx-target")
            .is_some_and(|t| t.as_bytes() == b"main")
}

/// Is this an htmx request aimed at the element with this id?
pub fn wants_part(headers: &HeaderMap, id: &str) -> bool {
    headers.get("hx-request").is_some()
        && headers
            .get("hx-target")
            .is_some_and(|t| t.as_bytes() == id.as_bytes())
}

/// A `303 See Other` to a path of ours (htmx follows it too).
pub fn see_other(to: &str) -> Response {
    (
        axum::http::StatusCode::SEE_OTHER,
        [(header::LOCATION, to.to_owned())],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_found_among_fields() {
        assert_eq!(form_token(b"a=1&csrf=ab12&b=2"), Some(&b"ab12"[..]));
        assert_eq!(form_token(b"csrf="), Some(&b""[..]));
        assert_eq!(form_token(b"xcsrf=ab&b=2"), None);
    }
}
