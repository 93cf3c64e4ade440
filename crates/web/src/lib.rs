//! orgscope's web UI: server-rendered pages for the daily work (sign in,
//! files, knowledge search), every one a thin translation over the app
//! layer's operations, with the org context visible on every page.
//!
//! Decisions:
//! - Pages never open a transaction, check a permission or write an audit
//!   entry: they call `orgscope_app` operations and render what comes back.
//!   What a picker offers comes from `orgscope_app::choices` (core's rules);
//!   the operation still decides when the form is sent.
//! - Templates are askama (checked and compiled into the binary); htmx and
//!   the stylesheet are compiled in too and served under `/static/` with
//!   content-hashed URLs, so the UI works with no network.
//! - The session is the API's cookie (`orgscope_session`); every unsafe
//!   request carries the session's CSRF token (a hidden `csrf` field, or the
//!   `X-CSRF-Token` header that htmx and the upload script send). The guard
//!   runs before any handler, so a refused post changes nothing.
//! - The crate knows nothing of the server's state type: the server
//!   implements [`Host`] and merges [`router`].
#![forbid(unsafe_code)]

mod assets;
mod error;
mod fields;
mod pages;
mod session;
mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use orgscope_app::Env;
use orgscope_app::limits::LoginLimiter;

pub use pages::portal::catalogue_page as portal_catalogue;
pub use session::SESSION_COOKIE;

/// What the pages need from the server that hosts them.
pub trait Host: Clone + Send + Sync + 'static {
    /// What the app layer's operations run against.
    fn env(&self) -> Env<'_>;
    /// The limiter that counts failed sign-ins (shared with the JSON API).
    fn login_limiter(&self) -> &LoginLimiter;
    /// How long a session lasts.
    fn session_ttl(&self) -> time::Duration;
    /// The largest upload accepted, in bytes.
    fn max_upload(&self) -> u64;
    /// Starts a model's answer to a chat turn, or `None` when no model is
    /// configured (the app then answers from the passages alone). The
    /// stream yields the answer's text as it is written.
    /// The relay the portal's confirmation mail goes through (`None`: the
    /// portal takes no sign-ups, saying why).
    fn mailer(&self) -> Option<&orgscope_app::mail::Mailer> {
        None
    }
    fn answer(&self, turn: &orgscope_app::chat::Turn) -> Option<ModelAnswer> {
        let _ = turn;
        None
    }
}

/// A model's answer being written: its pieces of text, or what failed.
pub type AnswerStream = futures_util::stream::BoxStream<'static, Result<String, String>>;
/// The answer once the model has accepted the turn.
pub type ModelAnswer = futures_util::future::BoxFuture<'static, Result<AnswerStream, String>>;

/// The pages and their assets. The server merges this into its router.
pub fn router<S: Host>() -> Router<S> {
    use pages::{audit, chat, files, keys, knowledge, login, orgs, people, portal, tenants};
    let router = Router::new()
        .route("/", get(login::home))
        .route("/login", get(login::page::<S>).post(login::submit::<S>))
        .route("/logout", post(login::logout::<S>))
        .route("/files", get(files::list::<S>))
        .route(
            "/files/upload",
            get(files::upload_page::<S>)
                // Uploads stream and enforce their own limit.
                .merge(post(files::upload::<S>).layer(DefaultBodyLimit::disable())),
        )
        .route("/files/{id}", get(files::show::<S>))
        .route("/files/{id}/rename", post(files::rename::<S>))
        .route(
            "/files/{id}/delete",
            get(files::delete_page::<S>).post(files::delete::<S>),
        )
        .route(
            "/files/{id}/move",
            get(files::move_preview::<S>).post(files::move_confirm::<S>),
        )
        .route("/knowledge", get(knowledge::search::<S>))
        .route("/orgs", get(orgs::list::<S>).post(orgs::create::<S>))
        .route("/orgs/{org}", get(orgs::show::<S>))
        .route("/orgs/{org}/edit", post(orgs::edit::<S>))
        .route("/orgs/{org}/verify", post(orgs::verify::<S>))
        .route("/orgs/{org}/portal", post(orgs::portal::<S>))
        .route("/orgs/{org}/portal/logo", post(orgs::portal_logo::<S>))
        .route(
            "/orgs/{org}/portal/logo/remove",
            post(orgs::portal_logo_remove::<S>),
        )
        .route("/orgs/{org}/members", post(orgs::add_member::<S>))
        .route(
            "/orgs/{org}/members/{user}/manage",
            post(orgs::set_manage::<S>),
        )
        .route(
            "/orgs/{org}/members/{user}/remove",
            post(orgs::remove_member::<S>),
        )
        .route(
            "/orgs/{org}/delete",
            get(orgs::delete_page::<S>).post(orgs::delete::<S>),
        )
        .route("/audit", get(audit::log::<S>))
        .route("/chat", get(chat::home::<S>).post(chat::start::<S>))
        .route("/chat/{id}", get(chat::session::<S>))
        .route("/chat/{id}/messages", post(chat::send::<S>))
        .route("/personas", post(chat::create_persona::<S>))
        .route("/personas/{id}", get(chat::persona::<S>))
        .route("/personas/{id}/assignments", post(chat::assign::<S>))
        .route("/keys", get(keys::list::<S>).post(keys::create::<S>))
        .route("/keys/{id}/revoke", post(keys::revoke::<S>))
        .route("/users", get(people::list::<S>).post(people::create::<S>))
        .route("/users/{user}", post(people::change::<S>))
        .route(
            "/tenants",
            get(tenants::list::<S>).post(tenants::create::<S>),
        )
        .route("/tenants/enter", post(tenants::enter::<S>))
        .route("/account", get(people::account::<S>))
        .route("/account/tokens", post(people::create_token::<S>))
        .route(
            "/account/tokens/{id}/revoke",
            post(people::revoke_token::<S>),
        )
        .route("/account/default-org", post(people::set_default::<S>))
        .route("/portal/apis/{id}", get(portal::api::<S>))
        .route("/portal/logo", get(portal::logo::<S>))
        .route(
            "/portal/apis/{id}/openapi.json",
            get(portal::api_document::<S>),
        )
        .route(
            "/portal/signup",
            get(portal::signup_page).post(portal::signup::<S>),
        )
        .route("/portal/confirm", get(portal::confirm::<S>))
        .route(
            "/portal/login",
            get(portal::login_page).post(portal::login::<S>),
        )
        .route("/portal/logout", post(portal::logout::<S>))
        .route("/portal/keys", get(portal::keys::<S>))
        .route("/portal/requests", post(portal::request::<S>))
        .route("/portal/keys/{id}/revoke", post(portal::revoke::<S>))
        .route("/static/{file}", get(assets::serve));
    pages::kinds::routes(router)
        .layer(axum::middleware::from_fn(session::csrf_guard))
        .layer(axum::middleware::map_response(session::page_headers))
}
