//! Liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 403, description = "superusers only: the counts cover every tenant")))]
async fn metrics(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    if !orgscope_core::policy::spans_tenants(&auth.principal) {
        return Err(ApiError::Forbidden(
            "only superusers read /metrics: it counts every tenant's requests (scrape with a superuser's personal token, or serve them on a private address with --metrics-listen)".into(),
        ));
    }
    Ok(metrics_unauthenticated(State(state)).await)
}

/// The metrics without asking who reads them: for the listener of
/// `--metrics-listen` only, which the operator puts on a private address.
pub async fn metrics_unauthenticated(State(state): State<AppState>) -> Response {
    match state.metrics.render().await {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, description = "the process is up", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, description = "the database and the blob store answer, and the server is not stopping", body = String, content_type = "text/plain"), (status = 503, description = "stopping, or the database or the blob store does not answer")))]
async fn readyz(State(state): State<AppState>) -> Response {
    let unready = |why: &'static str| (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return unready("draining: this replica is stopping");
    }
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "not ready: database");
        return unready("database unavailable");
    }
    if let Err(e) = state.blobs.ready().await {
        tracing::warn!(error = %e, "not ready: blob store");
        return unready("blob store unavailable");
    }
    "ready".into_response()
}
