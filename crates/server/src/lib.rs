//! orgscope's HTTP face: the REST API under `/api/v1`, authentication, one
//! problem+json error type, and the OpenAPI document generated from the
//! handlers and from core's kinds table.
//!
//! Decisions: the principal arrives through the [`auth::Auth`] extractor,
//! loaded from the database on every request (no cache); handlers ask core's
//! policy and hand its read filter to the store; `serve` takes an already
//! bound listener so tests bind port 0.
#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub use orgscope_app::blobs;
pub use orgscope_app::crypto;
pub use orgscope_app::dns;
pub mod error;
pub use orgscope_app::extract;
pub use orgscope_app::tenants::{Bootstrapped, bootstrap};
pub mod llm;
pub mod metrics;
mod query_names;
pub mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use orgscope_store::Store;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::LoginLimiter;
use crate::crypto::MasterKey;
use crate::error::ApiError;

/// Where the embedded default keeps its files.
#[derive(Clone, Debug)]
pub struct DataDir(pub PathBuf);

impl DataDir {
    pub fn database_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.0.join("orgscope.db").display())
    }
    pub fn blobs(&self) -> PathBuf {
        self.0.join("blobs")
    }
    pub fn master_key(&self) -> PathBuf {
        self.0.join("master.key")
    }
    /// Creates the folder (owner-only) and its blob folder.
    pub fn create(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(self.blobs())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
}

pub struct Shared {
    pub master_key: MasterKey,
    pub blobs: crate::blobs::Blobs,
    /// The largest upload accepted, in bytes.
    pub max_upload: u64,
    /// The model that answers chat turns; none: retrieval-only answers.
    pub llm: Option<crate::llm::Llm>,
    /// The relay of portal mail; none: portals take no sign-ups.
    pub mailer: Option<orgscope_app::mail::Mailer>,
    /// Rate-limit windows and last uses of consumer keys.
    pub gateway: std::sync::Arc<orgscope_app::gateway_check::GatewayState>,
    pub limiter: Arc<LoginLimiter>,
    pub session_ttl: time::Duration,
    /// The one metrics registry (`/metrics`, `--metrics-listen`).
    pub metrics: metrics::Metrics,
    /// The nameservers asked for domain proofs (`ORGSCOPE_DNS_SERVER`, else
    /// every one of /etc/resolv.conf).
    pub dns: Option<dns::Nameservers>,
    /// Where the gateway check reads the original request (`--gateway-headers`).
    pub proxy_style: orgscope_core::gateway::ProxyStyle,
    /// Proxies whose `X-Forwarded-For` names the client (`--trusted-proxies`).
    pub trusted_proxies: Vec<crate::client::Network>,
    /// How long one file's text extraction may take.
    pub extract_time_limit: std::time::Duration,
    /// Set when a stop was asked for: `/readyz` answers 503 from then on.
    pub draining: std::sync::atomic::AtomicBool,
}

/// The web pages run on the server's state.
impl orgscope_web::Host for AppState {
    fn env(&self) -> orgscope_app::Env<'_> {
        AppState::env(self)
    }
    fn login_limiter(&self) -> &LoginLimiter {
        &self.limiter
    }
    fn session_ttl(&self) -> time::Duration {
        self.session_ttl
    }
    fn max_upload(&self) -> u64 {
        self.max_upload
    }
    fn mailer(&self) -> Option<&orgscope_app::mail::Mailer> {
        self.mailer.as_ref()
    }
    fn answer(&self, turn: &orgscope_app::chat::Turn) -> Option<orgscope_web::ModelAnswer> {
        use futures_util::{FutureExt, StreamExt};
        let model = self.llm.clone()?;
        let prompt = llm::prompt(&turn.instructions, &turn.hits, &turn.question);
        Some(
            async move {
                let upstream = model.start(&prompt).await?;
                let pieces = futures_util::stream::unfold(Some(upstream), |up| async move {
                    let mut up = up?;
                    match up.next_delta().await {
                        Ok(Some(piece)) => Some((Ok(piece), Some(up))),
                        Ok(None) => None,
                        Err(e) => Some((Err(e.into()), None)),
                    }
                });
                Ok(pieces.boxed())
            }
            .boxed(),
        )
    }
}

/// Uploads up to 4 GiB unless configured otherwise (`--max-upload-bytes`).
pub const DEFAULT_MAX_UPLOAD: u64 = 4 * 1024 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    shared: Arc<Shared>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl AppState {
    /// Sets the upload limit; call it while building the state, before the
    /// state is cloned.
    #[must_use]
    pub fn with_max_upload(mut self, max_upload: u64) -> AppState {
        Arc::get_mut(&mut self.shared)
            .expect("the upload limit is set before the state is shared")
            .max_upload = max_upload;
        self
    }

    /// Sets the model endpoint; call it while building the state.
    #[must_use]
    pub fn with_llm(mut self, llm: Option<crate::llm::Llm>) -> AppState {
        Arc::get_mut(&mut self.shared)
            .expect("the model is set before the state is shared")
            .llm = llm;
        self
    }

    /// Sets the relay of portal mail; call it while building the state.
    #[must_use]
    pub fn with_mailer(mut self, mailer: Option<orgscope_app::mail::Mailer>) -> AppState {
        Arc::get_mut(&mut self.shared)
            .expect("the mailer is set before the state is shared")
            .mailer = mailer;
        self
    }

    /// Sets how long one file's text extraction may take; call it while
    /// building the state.
    #[must_use]
    pub fn with_extract_time_limit(mut self, limit: std::time::Duration) -> AppState {
        Arc::get_mut(&mut self.shared)
            .expect("the extraction limit is set before the state is shared")
            .extract_time_limit = limit;
        self
    }

    /// Sets where domain proofs ask; call it while building the state.
    #[must_use]
    pub fn with_nameservers(mut self, servers: dns::Nameservers) -> AppState {
        Arc::get_mut(&mut self.shared)
            .expect("the resolver is set before the state is shared")
            .dns = Some(servers);
        self
    }

    /// Sets the nameservers asked for domain proofs, in order; call it while
    /// building the state.
    #[must_use]
    pub fn with_dns_servers(mut self, servers: Vec<std::net::SocketAddr>) -> AppState {
        Arc::get_mut(&mut self.shared)
            .expect("the resolver is set before the state is shared")
            .dns = Some(dns::Nameservers::Listed(servers));
        self
    }

    /// What the operations of the app layer run against.
    #[must_use]
    pub fn env(&self) -> orgscope_app::Env<'_> {
        orgscope_app::Env {
            store: &self.store,
            master_key: &self.master_key,
            blobs: &self.blobs,
            dns: self.dns.as_ref(),
            extract_time_limit: self.extract_time_limit,
        }
    }

    /// Sets the proxies whose `X-Forwarded-For` names the client; call it
    /// while building the state.
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: Vec<crate::client::Network>) -> AppState {
        Arc::get_mut(&mut self.shared)
            .expect("the trusted proxies are set before the state is shared")
            .trusted_proxies = proxies;
        self
    }

    /// Sets the header style of the proxy in front of the gateway check.
    #[must_use]
    pub fn with_proxy_style(mut self, style: orgscope_core::gateway::ProxyStyle) -> AppState {
        Arc::get_mut(&mut self.shared)
            .expect("the proxy style is set before the state is shared")
            .proxy_style = style;
        self
    }

    pub fn new(store: Store, master_key: MasterKey, blobs: crate::blobs::Blobs) -> AppState {
        let limiter = Arc::new(LoginLimiter::default());
        AppState {
            store: store.clone(),
            shared: Arc::new(Shared {
                master_key,
                blobs,
                max_upload: DEFAULT_MAX_UPLOAD,
                llm: None,
                mailer: None,
                gateway: std::sync::Arc::default(),
                metrics: metrics::Metrics::new(store, limiter.clone()),
                limiter,
                session_ttl: time::Duration::hours(12),
                dns: Some(dns::Nameservers::System),
                proxy_style: orgscope_core::gateway::ProxyStyle::Nginx,
                trusted_proxies: Vec::new(),
                extract_time_limit: extract::DEFAULT_TIME_LIMIT,
                draining: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "orgscope",
        description = "Organizations inside tenants, and who can see and change every resource."
    ),
    components(schemas(
        Problem,
        orgscope_app::orgs::OrgRef,
        orgscope_app::resources::Rescope,
        orgscope_app::resources::Rescoped,
        orgscope_app::access::AccessAnswer
    ))
)]
struct ApiDoc;

/// RFC 9457 problem details: every error body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Problem {
    #[schema(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    /// What went wrong and what to fix.
    detail: String,
    /// For 409: what blocks the change.
    blocking: Option<serde_json::Value>,
}

fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::system::router())
        .merge(routes::me::router())
        .merge(routes::tenants::router())
        .merge(routes::orgs::router())
        .merge(routes::users::router())
        .merge(routes::audit::router())
        .merge(routes::files::router())
        .merge(routes::knowledge::router())
        .merge(routes::chat::router())
        .merge(routes::agents::router())
        .merge(routes::api_gateways::router())
        .split_for_parts()
}

/// The OpenAPI document: the annotated handlers plus every kind's routes.
pub fn openapi() -> Value {
    let (_, doc) = api();
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    let (kind_paths, kind_schemas) = routes::kinds::openapi_paths();
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        schemas.extend(kind_schemas);
    }
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in kind_paths {
            match (paths.get_mut(&path), item) {
                (Some(Value::Object(have)), Value::Object(more)) => have.extend(more),
                (_, item) => {
                    paths.insert(path, item);
                }
            }
        }
        paths.insert(
            "/api/v1/gateway/check".into(),
            json!({"get": {"tags": ["gateway"], "operationId": "gateway_check",
                "summary": "Forward auth for API definitions (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz: any method, original path after /check)",
                "parameters": [
                    {"name": "X-API-Key", "in": "header", "schema": {"type": "string"}, "description": "the consumer key (or Authorization: Bearer)"},
                    {"name": "X-Original-Method", "in": "header", "schema": {"type": "string"}},
                    {"name": "X-Original-URI", "in": "header", "schema": {"type": "string"}},
                    {"name": "X-Forwarded-Method", "in": "header", "schema": {"type": "string"}},
                    {"name": "X-Forwarded-Uri", "in": "header", "schema": {"type": "string"}}],
                "responses": {"204": {"description": "allowed"}, "401": {"description": "no or unknown key"},
                    "403": {"description": "not allowed"}, "429": {"description": "over the key's rate limit (Retry-After)"}}}}),
        );
        paths.insert(
            "/portal".into(),
            json!({"get": {"tags": ["portal"], "operationId": "portal",
                "summary": "The portal of the org whose domain is the request's Host: its published API definitions (HTML, or JSON with Accept: application/json)",
                "responses": {"200": {"description": "the portal", "content": {
                    "text/html": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"type": "object", "properties": {
                        "org": {"type": "object"}, "apis": {"type": "array", "items": {"type": "object"}}}}}}},
                    "404": {"description": "no org has this domain"}}}}),
        );
        // Every operation may fail the ways every route can (401, 404, 405,
        // 413, 415, 422, 429, 5xx): all of them are problem+json.
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in item.values_mut().filter_map(Value::as_object_mut) {
                if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                    responses.entry("default").or_insert_with(|| {
                        json!({"description": "an error: RFC 9457 problem details",
                            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
                    });
                }
            }
        }
        paths.insert(
            "/api/v1/openapi.json".into(),
            json!({"get": {"tags": ["system"], "operationId": "openapi", "responses": {"200": {"description": "this document", "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"],
                "properties": {"openapi": {"type": "string"}, "paths": {"type": "object"}}}}}}}}}),
        );
    }
    doc
}

pub fn router(state: AppState) -> Router {
    let (api, _) = api();
    let doc = Arc::new(openapi());
    let query_names = query_names::from_document(&doc);
    api.merge(routes::kinds::router())
        .merge(routes::apis::router())
        .merge(orgscope_web::router::<AppState>())
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json((*doc).clone()) }
            }),
        )
        .fallback(|uri: axum::http::Uri| async move {
            ApiError::NotFound(format!("no route {}", uri.path())).into_response()
        })
        .layer(axum::middleware::from_fn(one_snapshot))
        .layer(axum::middleware::from_fn_with_state(
            query_names,
            query_names::refuse_unknown,
        ))
        .layer(axum::middleware::from_fn(refuse_nul_url))
        .layer(axum::middleware::map_response(problems_only))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe_request,
        ))
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            client::resolve,
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response),
        )
        // The request's id: the client's `X-Request-Id` if it sent one, else
        // a new UUID; returned on the response and on the request's log line.
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(
            tower_http::request_id::MakeRequestUuid,
        ))
        .with_state(state)
}

/// The span of one request: its method, route template (never the path
/// itself, which may hold ids), request id, and — once authenticated — the
/// principal's id. Never a token or a secret.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %req.method(),
        route,
        request_id = id,
        principal = tracing::field::Empty,
    )
}

/// One line per request at `info`: its status and latency (in the span's
/// context: method, route, request id, principal).
fn log_response(
    res: &axum::http::Response<axum::body::Body>,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    tracing::info!(
        status = res.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request"
    );
}

/// A read (`GET`, `HEAD`) authenticates and reads in one transaction: the
/// one authentication began is kept for the handler's first read
/// ([`orgscope_store::Store::keeping`]).
async fn one_snapshot(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    ) {
        orgscope_store::Store::keeping(next.run(req)).await
    } else {
        next.run(req).await
    }
}

/// A NUL (`%00`) in a path segment or query value is refused before any
/// route reads it: no id, slug or name has one, and PostgreSQL cannot
/// compare with one.
async fn refuse_nul_url(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let uri = req.uri();
    let has_nul = |s: &str| {
        s.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    };
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return ApiError::Invalid(
            "the URL contains a NUL character (%00): no id, slug or name has one; remove it".into(),
        )
        .into_response();
    }
    next.run(req).await
}

/// Counts and times each request by its route template (as the log line
/// names it), for /metrics.
async fn observe_request(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let res = next.run(req).await;
    state
        .metrics
        .request(&method, &route, res.status(), started.elapsed());
    res
}

/// axum's own rejections (a wrong method, a path that is not UTF-8, a body
/// over the limit) answer in plain text or not at all: give them our problem
/// body, keeping their status and what they said.
async fn problems_only(res: axum::response::Response) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    let status = res.status();
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|t| t.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() && plain) || status == StatusCode::RANGE_NOT_SATISFIABLE {
        return res;
    }
    let allow = res.headers().get(header::ALLOW).cloned();
    let body = axum::body::to_bytes(res.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let said = String::from_utf8_lossy(&body).trim().to_owned();
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(format!(
            "the body is too large: {said}; JSON bodies are limited to 1 MiB"
        )),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(said),
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::Invalid(said),
        StatusCode::NOT_FOUND => ApiError::NotFound(said),
        _ => ApiError::BadRequest(if said.is_empty() {
            "the request cannot be read".into()
        } else {
            said
        }),
    };
    let mut out = error.into_response();
    *out.status_mut() = status;
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

/// How a stop drains (`--unready-seconds`, `--drain-seconds`).
#[derive(Clone, Copy, Debug)]
pub struct Drain {
    /// After the signal, how long to go on serving while `/readyz` answers
    /// 503, so a load balancer that polls readiness stops sending first.
    pub unready: std::time::Duration,
    /// Then, how long requests in flight may take to finish.
    pub bound: std::time::Duration,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            unready: std::time::Duration::ZERO,
            bound: std::time::Duration::from_secs(30),
        }
    }
}

/// Serves until `signal` completes, then drains: `/readyz` turns unready at
/// once, new connections are taken for `drain.unready` more, then none;
/// requests in flight get `drain.bound` to finish. Last, buffered key uses
/// are written, uploads cut short are removed (local blobs) and the pool
/// closes. Answers whether every request finished within the bound.
pub async fn serve_until(
    listener: TcpListener,
    state: AppState,
    signal: impl Future<Output = ()> + Send + 'static,
    drain: Drain,
) -> std::io::Result<bool> {
    let stopping = Arc::new(tokio::sync::Notify::new());
    let flag = state.clone();
    let told = stopping.clone();
    let shutdown = async move {
        signal.await;
        flag.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(
            unready_seconds = drain.unready.as_secs(),
            drain_seconds = drain.bound.as_secs(),
            "stopping: /readyz is unready; draining"
        );
        tokio::time::sleep(drain.unready).await;
        told.notify_one();
    };
    let server = serve(listener, state.clone(), shutdown);
    let finished = tokio::select! {
        served = server => {
            served?;
            true
        }
        () = async {
            stopping.notified().await;
            tokio::time::sleep(drain.bound).await;
        } => {
            tracing::warn!(drain_seconds = drain.bound.as_secs(), "requests still in flight at the drain bound: cut short");
            false
        }
    };
    state.gateway.flush(&state.store).await;
    if !finished {
        match state.blobs.remove_partials() {
            0 => {}
            removed => tracing::info!(removed, "removed uploads cut short"),
        }
    }
    // Requests cut short may still hold connections in their own tasks:
    // the pool's close waits for them only so long (they end with the process).
    if tokio::time::timeout(std::time::Duration::from_secs(5), state.store.close())
        .await
        .is_err()
    {
        tracing::warn!("database connections still in use after 5s: stopping without them");
    }
    Ok(finished)
}

/// Serves on an already-bound listener until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Serves `/metrics` alone, without authentication, on an already-bound
/// listener (`--metrics-listen`): for a private interface that only the
/// scraper reaches (see DECISIONS, metrics).
pub async fn serve_metrics(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            axum::routing::get(routes::system::metrics_unauthenticated),
        )
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Start-up housekeeping: removes what a crash left half-written, then (in
/// the background, so a large store starts at once) blobs no file refers to,
/// and resumes extractions that never finished.
pub async fn recover(state: &AppState) -> Result<(), String> {
    let removed = state.blobs.remove_partials();
    if removed > 0 {
        tracing::info!(removed, "removed uploads a stop cut short");
    }
    let (blobs, store, cutoff) = (
        state.blobs.clone(),
        state.store.clone(),
        state.blobs.orphan_cutoff(),
    );
    tokio::spawn(async move {
        if let Err(e) = blobs.remove_orphans(&store, cutoff).await {
            tracing::warn!(error = %e, "the orphan sweep stopped");
        }
    });
    tokio::spawn(extract::resume(
        state.store.clone(),
        state.blobs.clone(),
        state.extract_time_limit,
    ));
    tokio::spawn(orgscope_app::gateway_check::flush_usage(
        state.store.clone(),
        state.gateway.clone(),
    ));
    let counting = state.clone();
    tokio::spawn(orgscope_app::agents::run_scheduler(
        state.store.clone(),
        move |made| counting.metrics.scheduler_fired(made),
    ));
    Ok(())
}

/// What opening a server's state needs: where its data lives and the
/// services it uses, as the operator set them (`orgscope serve --help`).
/// Secrets are held as [`SecretString`]: a `Debug` of this never shows them.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// A database URL instead of the data dir's SQLite.
    pub database_url: Option<String>,
    /// 64 hex characters; none: the data dir's `master.key`.
    pub master_key: Option<SecretString>,
    /// S3-compatible blobs; none: the data dir's `blobs/` folder.
    pub s3: Option<blobs::S3Settings>,
    /// The chat model; none: retrieval-only answers.
    pub llm: Option<LlmSettings>,
    /// The SMTP relay of portal mail; none: portals take no sign-ups.
    pub mail: Option<MailSettings>,
    /// Where domain proofs ask; none: /etc/resolv.conf.
    pub dns: Option<dns::Nameservers>,
}

/// An SMTP relay (its URL may hold a password) and the sender.
#[derive(Clone, Debug)]
pub struct MailSettings {
    pub url: SecretString,
    pub from: String,
}

/// An OpenAI-compatible model endpoint.
#[derive(Clone, Debug)]
pub struct LlmSettings {
    pub url: String,
    pub model: String,
    pub api_key: Option<SecretString>,
}

/// Opens the store, master key and blobs for a data dir (and optional database URL),
/// creating the data dir and key file when `create` is true.
pub async fn open(settings: &Settings, create: bool) -> Result<AppState, String> {
    let data_dir = &settings.data_dir;
    let dir = DataDir(data_dir.clone());
    if create {
        dir.create()
            .map_err(|e| format!("cannot create the data dir {}: {e}", data_dir.display()))?;
    } else if settings.database_url.is_none() && !dir.0.join("orgscope.db").exists() {
        return Err(format!(
            "no orgscope database in {}: run `orgscope init` (or `orgscope serve`) first, or pass --data-dir",
            data_dir.display()
        ));
    }
    let key = MasterKey::load(
        settings
            .master_key
            .as_ref()
            .map(ExposeSecret::expose_secret),
        &dir.master_key(),
        create,
    )?;
    let url = settings
        .database_url
        .clone()
        .unwrap_or_else(|| dir.database_url());
    let store = Store::connect(&url)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    if let Some(source) = store
        .copy_unfinished()
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?
    {
        store.close().await;
        return Err(format!(
            "this database is the target of an unfinished `orgscope migrate` from {source}: run it again to finish (it resumes)"
        ));
    }
    let blobs = crate::blobs::Blobs::open(&dir.blobs(), settings.s3.as_ref())?;
    let llm = settings
        .llm
        .as_ref()
        .map(|l| crate::llm::Llm::new(&l.url, &l.model, l.api_key.clone()));
    let mailer = match &settings.mail {
        Some(m) => Some(
            orgscope_app::mail::Mailer::new(m.url.expose_secret(), &m.from)
                .map_err(|e| format!("ORGSCOPE_SMTP_URL / ORGSCOPE_MAIL_FROM: {e:?}"))?,
        ),
        None => None,
    };
    let state = AppState::new(store, key, blobs)
        .with_llm(llm)
        .with_mailer(mailer);
    Ok(match &settings.dns {
        Some(servers) => state.with_nameservers(servers.clone()),
        None => state,
    })
}
