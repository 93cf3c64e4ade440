//! An org's developer portal, on its proved domain (the request's Host):
//! the catalogue of its published APIs, a page per API, and developers'
//! own accounts (sign up with a confirmation mail, sign in and out, their
//! keys). Every answer comes from `orgscope_app::portal`, bounded to the
//! org of the domain; nothing of the tenant's web UI is reachable here.
//!
//! The portal session is its own cookie (`orgscope_portal`, Path=/portal),
//! never the tenant users' session; portal forms carry a double-submit
//! token (`orgscope_portal_form`), checked by the CSRF guard.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orgscope_app::portal::{
    self, Developer, DeveloperKey, DeveloperRequest, IssuedKey, PortalApi, Site,
};
use serde::Deserialize;

use crate::Host;
use crate::error::{PageError, html};
use crate::session::{self, cookie, see_other, set_cookie};
use crate::views::Layout;

/// The developer's portal session.
pub const PORTAL_COOKIE: &str = "orgscope_portal";
/// The portal forms' double-submit token.
pub const PORTAL_FORM_COOKIE: &str = "orgscope_portal_form";

/// What every portal page shows around itself.
pub struct PortalLayout {
    pub l: Layout,
    pub org: String,
    /// The portal's title (its org's name unless set).
    pub title: String,
    /// The accent class of the portal's colour.
    pub accent: String,
    pub signup_open: bool,
    /// The logo's address, if the portal has one.
    pub logo: Option<String>,
    pub developer: Option<String>,
    pub token: String,
}

/// The portal of the request's Host, its developer if signed in, and the
/// form token (a fresh one is set when there is none).
pub struct Visit {
    site: Site,
    brand: portal::Branding,
    developer: Option<Developer>,
    token: String,
    new_token: bool,
    base: String,
}

impl<S: Host> FromRequestParts<S> for Visit {
    type Rejection = Response;

    /// The portal of the request's Host (else the "not found" page).
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Visit, Response> {
        let headers = &parts.headers;
        let raw_host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let env = state.env();
        let site = portal::site(env.store, &portal::host_name(raw_host))
            .await
            .map_err(|e| fail(None, e))?;
        let brand = portal::branding(env.store, &site)
            .await
            .map_err(|e| fail(None, e))?;
        let developer = match cookie(headers, PORTAL_COOKIE) {
            Some(secret) => portal::developer(env.store, &site, &secret).await.ok(),
            None => None,
        };
        let (token, new_token) = match cookie(headers, PORTAL_FORM_COOKIE) {
            Some(t) => (t, false),
            None => (orgscope_app::secrets::new_secret("opf_"), true),
        };
        let scheme = if session::behind_tls(headers) {
            "https"
        } else {
            "http"
        };
        Ok(Visit {
            base: format!("{scheme}://{raw_host}"),
            site,
            brand,
            developer,
            token,
            new_token,
        })
    }
}

/// A visit by a signed-in developer (else to the sign-in page).
pub struct SignedIn(Visit, Developer);

impl<S: Host> FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<SignedIn, Response> {
        let v = Visit::from_request_parts(parts, state).await?;
        match v.developer.clone() {
            Some(dev) => Ok(SignedIn(v, dev)),
            None => Err(see_other("/portal/login")),
        }
    }
}

impl Visit {
    fn layout(&self, title: &str) -> PortalLayout {
        PortalLayout {
            l: Layout::bare(format!("{title} · {}", self.brand.title)),
            org: self.site.name().to_owned(),
            title: self.brand.title.clone(),
            accent: format!("accent-{}", self.brand.accent),
            signup_open: self.brand.signup_open,
            logo: self.brand.logo.clone(),
            developer: self.developer.as_ref().map(|d| d.email.clone()),
            token: self.token.clone(),
        }
    }

    /// The page, with the form token's cookie when it is new.
    fn answer(&self, headers: &HeaderMap, mut res: Response) -> Response {
        if self.new_token {
            let c = set_cookie(
                PORTAL_FORM_COOKIE,
                Some(&self.token),
                "/portal",
                86_400,
                session::behind_tls(headers),
            );
            if let Ok(v) = c.parse() {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        res
    }
}

#[derive(Template)]
#[template(path = "portal_notice.html")]
struct NoticePage<'a> {
    p: &'a PortalLayout,
    heading: &'a str,
    message: String,
}

/// A portal page's failure: the portal's own page, never the tenant UI's.
fn fail(v: Option<&Visit>, e: impl Into<PageError>) -> Response {
    let e = e.into();
    let status = e.status();
    let (heading, message) = e.words();
    let Some(v) = v else {
        // No portal at this Host: the same "not found" as any unknown page.
        return crate::error::bare(e);
    };
    let p = v.layout(heading);
    let mut res = html(&NoticePage {
        p: &p,
        heading,
        message,
    });
    *res.status_mut() = status;
    res
}

#[derive(Template)]
#[template(path = "portal_catalogue.html")]
struct CataloguePage<'a> {
    p: &'a PortalLayout,
    apis: Vec<PortalApi>,
    intro: Option<&'a str>,
}

/// `/portal`: the published APIs.
pub async fn catalogue<S: Host>(State(state): State<S>, headers: HeaderMap, v: Visit) -> Response {
    let apis = match portal::catalogue(state.env().store, &v.site).await {
        Ok(a) => a,
        Err(e) => return fail(Some(&v), e),
    };
    let p = v.layout("APIs");
    let intro = v.brand.intro_html.as_deref();
    v.answer(&headers, html(&CataloguePage { p: &p, apis, intro }))
}

#[derive(Template)]
#[template(path = "portal_api.html")]
struct ApiPage<'a> {
    p: &'a PortalLayout,
    api: PortalApi,
    reference: Option<orgscope_app::openapi::Reference>,
}

/// `/portal` as the server's route answers it when JSON is not asked for.
pub async fn catalogue_page<S: Host>(state: S, headers: HeaderMap) -> Response {
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    parts.headers = headers.clone();
    match Visit::from_request_parts(&mut parts, &state).await {
        Ok(v) => catalogue(State(state), headers, v).await,
        Err(res) => res,
    }
}

/// `/portal/apis/{id}`: one published API.
pub async fn api<S: Host>(
    State(state): State<S>,
    headers: HeaderMap,
    v: Visit,
    Path(id): Path<String>,
) -> Response {
    let api = match portal::api(state.env().store, &v.site, &id).await {
        Ok(a) => a,
        Err(e) => return fail(Some(&v), e),
    };
    let p = v.layout(&api.name);
    let reference = api.reference();
    v.answer(
        &headers,
        html(&ApiPage {
            p: &p,
            api,
            reference,
        }),
    )
}

/// `/portal/logo`: the portal's logo (its address carries its version, so
/// it may be kept a day).
pub async fn logo<S: Host>(State(state): State<S>, v: Visit) -> Response {
    match portal::logo(state.env().store, &v.site).await {
        Ok((content_type, image)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "public, max-age=86400".to_owned()),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'".to_owned(),
                ),
            ],
            image,
        )
            .into_response(),
        Err(e) => fail(Some(&v), e),
    }
}

/// `/portal/apis/{id}/openapi.json`: its OpenAPI document, to generate a
/// client from (without `servers`: the gateway is where it is called).
pub async fn api_document<S: Host>(
    State(state): State<S>,
    headers: HeaderMap,
    v: Visit,
    Path(id): Path<String>,
) -> Response {
    match portal::api(state.env().store, &v.site, &id).await {
        Ok(PortalApi {
            openapi: Some(doc), ..
        }) => v.answer(&headers, axum::Json(doc).into_response()),
        Ok(_) => fail(
            Some(&v),
            orgscope_app::Error::NotFound(format!("the API '{id}' has no OpenAPI document")),
        ),
        Err(e) => fail(Some(&v), e),
    }
}

#[derive(Template)]
#[template(path = "portal_account.html")]
struct AccountForm<'a> {
    p: &'a PortalLayout,
    /// `signup` or `login`.
    mode: &'a str,
    email: &'a str,
    error: Option<String>,
}

fn account_form(
    v: &Visit,
    headers: &HeaderMap,
    mode: &str,
    email: &str,
    failed: Option<PageError>,
) -> Response {
    let title = if mode == "signup" {
        "Sign up"
    } else {
        "Sign in"
    };
    let p = v.layout(title);
    let (status, error) = match failed {
        Some(e) => (e.status(), Some(e.message())),
        None => (StatusCode::OK, None),
    };
    let mut res = html(&AccountForm {
        p: &p,
        mode,
        email,
        error,
    });
    *res.status_mut() = status;
    v.answer(headers, res)
}

/// `GET /portal/signup` and `GET /portal/login`.
pub async fn signup_page(headers: HeaderMap, v: Visit) -> Response {
    form_page(&v, &headers, "signup")
}

pub async fn login_page(headers: HeaderMap, v: Visit) -> Response {
    form_page(&v, &headers, "login")
}

fn form_page(v: &Visit, headers: &HeaderMap, mode: &str) -> Response {
    if v.developer.is_some() {
        return see_other("/portal/keys");
    }
    account_form(v, headers, mode, "", None)
}

#[derive(Deserialize, Default)]
pub struct AccountInput {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// `POST /portal/signup`: the confirmation mail goes out.
pub async fn signup<S: Host>(
    State(state): State<S>,
    headers: HeaderMap,
    v: Visit,
    axum::Form(f): axum::Form<AccountInput>,
) -> Response {
    let env = state.env();
    match portal::sign_up(
        &env,
        state.mailer(),
        &v.site,
        &f.email,
        &f.password,
        &v.base,
    )
    .await
    {
        Ok(()) => {
            let p = v.layout("Check your mail");
            let page = html(&NoticePage {
                p: &p,
                heading: "Check your mail",
                message: format!(
                    "We sent a link to {} to confirm the address and your password. Follow it within 24 hours, then sign in.",
                    f.email.trim()
                ),
            });
            v.answer(&headers, page)
        }
        Err(e) => account_form(&v, &headers, "signup", f.email.trim(), Some(e.into())),
    }
}

#[derive(Deserialize, Default)]
pub struct ConfirmQuery {
    token: Option<String>,
}

/// `GET /portal/confirm?token=`: the link from the mail.
pub async fn confirm<S: Host>(
    State(state): State<S>,
    headers: HeaderMap,
    v: Visit,
    Query(q): Query<ConfirmQuery>,
) -> Response {
    match portal::confirm(
        &state.env(),
        &v.site,
        q.token.as_deref().unwrap_or_default(),
    )
    .await
    {
        Ok(d) => {
            let p = v.layout("Address confirmed");
            let page = html(&NoticePage {
                p: &p,
                heading: "Address confirmed",
                message: format!(
                    "{} is confirmed. Sign in with the password you chose.",
                    d.email
                ),
            });
            v.answer(&headers, page)
        }
        Err(e) => fail(Some(&v), e),
    }
}

/// `POST /portal/login`: a portal session.
pub async fn login<S: Host>(State(state): State<S>, v: Visit, req: Request) -> Response {
    let headers = req.headers().clone();
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "local".to_owned(), |c| c.0.ip().to_string());
    let Ok(axum::Form(f)) =
        <axum::Form<AccountInput> as axum::extract::FromRequest<()>>::from_request(req, &()).await
    else {
        return fail(
            None,
            orgscope_app::Error::BadRequest("the form could not be read; reload the page".into()),
        );
    };
    let env = state.env();
    let ttl = state.session_ttl();
    match portal::sign_in(&env, state.login_limiter(), &v.site, ttl, &f.email, &f.password, &address).await {
        Ok((secret, _)) => {
            let mut res = see_other("/portal/keys");
            let c = set_cookie(
                PORTAL_COOKIE,
                Some(&secret),
                "/portal",
                ttl.whole_seconds(),
                session::behind_tls(&headers),
            );
            if let Ok(c) = c.parse() {
                res.headers_mut().append(header::SET_COOKIE, c);
            }
            res
        }
        Err(orgscope_app::Error::Unauthorized) => account_form(
            &v,
            &headers,
            "login",
            f.email.trim(),
            Some(PageError::App(orgscope_app::Error::Invalid(
                "that address and password do not match a confirmed account of this portal; check both, or sign up".into(),
            ))),
        ),
        Err(e) => account_form(&v, &headers, "login", f.email.trim(), Some(e.into())),
    }
}

/// `POST /portal/logout`.
pub async fn logout<S: Host>(State(state): State<S>, headers: HeaderMap) -> Response {
    if let Some(secret) = cookie(&headers, PORTAL_COOKIE)
        && let Err(e) = portal::sign_out(state.env().store, &secret).await
    {
        return fail(None, e);
    }
    let mut res = see_other("/portal");
    let c = set_cookie(
        PORTAL_COOKIE,
        None,
        "/portal",
        0,
        session::behind_tls(&headers),
    );
    if let Ok(c) = c.parse() {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

#[derive(Template)]
#[template(path = "portal_keys.html")]
struct KeysPage<'a> {
    p: &'a PortalLayout,
    keys: Vec<DeveloperKey>,
    issued: Vec<IssuedKey>,
    requests: Vec<DeveloperRequest>,
    apis: Vec<PortalApi>,
    notice: Option<&'a str>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct KeysQuery {
    done: Option<String>,
}

/// `/portal/keys`: the signed-in developer's keys.
pub async fn keys<S: Host>(
    State(state): State<S>,
    headers: HeaderMap,
    SignedIn(v, dev): SignedIn,
    Query(q): Query<KeysQuery>,
) -> Response {
    let notice = match q.done.as_deref() {
        Some("revoked") => Some("The key was revoked: it opens nothing from now on."),
        Some("requested") => Some("Your request was sent. The org decides; its answer shows here."),
        Some("issued") => Some("These APIs issue keys at once: your key is below."),
        _ => None,
    };
    keys_page(&state, &v, &headers, &dev, notice, None).await
}

async fn keys_page<S: Host>(
    state: &S,
    v: &Visit,
    headers: &HeaderMap,
    dev: &Developer,
    notice: Option<&str>,
    failed: Option<PageError>,
) -> Response {
    let env = state.env();
    let store = env.store;
    let loaded = async {
        Ok::<_, orgscope_app::Error>((
            portal::take_issued(&env, &v.site, dev).await?,
            portal::keys(store, &v.site, dev).await?,
            portal::requests(store, &v.site, dev).await?,
            portal::catalogue(store, &v.site).await?,
        ))
    };
    let (issued, keys, requests, apis) = match loaded.await {
        Ok(all) => all,
        Err(e) => return fail(Some(v), e),
    };
    let p = v.layout("Your keys");
    let (status, error) = match failed {
        Some(e) => (e.status(), Some(e.message())),
        None => (StatusCode::OK, None),
    };
    let mut res = html(&KeysPage {
        p: &p,
        keys,
        issued,
        requests,
        apis,
        notice,
        error,
    });
    *res.status_mut() = status;
    v.answer(headers, res)
}

/// `POST /portal/requests`: a key for these APIs, with a reason.
pub async fn request<S: Host>(
    State(state): State<S>,
    headers: HeaderMap,
    SignedIn(v, dev): SignedIn,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> Response {
    let apis: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "apis")
        .map(|(_, v)| v.clone())
        .collect();
    let reason = pairs
        .iter()
        .find(|(k, _)| k == "reason")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    match portal::request_key(&state.env(), &v.site, &dev, &apis, reason).await {
        Ok(r) if r.status == "approved" => see_other("/portal/keys?done=issued"),
        Ok(_) => see_other("/portal/keys?done=requested"),
        Err(e) => keys_page(&state, &v, &headers, &dev, None, Some(e.into())).await,
    }
}

/// `POST /portal/keys/{id}/revoke`: one of their own keys.
pub async fn revoke<S: Host>(
    State(state): State<S>,
    SignedIn(v, dev): SignedIn,
    Path(id): Path<String>,
) -> Response {
    match portal::revoke_key(&state.env(), &v.site, &dev, &id).await {
        Ok(()) => see_other("/portal/keys?done=revoked"),
        Err(e) => fail(Some(&v), e),
    }
}
