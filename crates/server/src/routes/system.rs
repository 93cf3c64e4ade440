//! Liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use std::sync::atomic::{AtomicU64, Ordering};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// Responses sent, by status class (1xx…5xx).
#[derive(Default)]
pub struct ResponseCounts([AtomicU64; 5]);

impl ResponseCounts {
    pub fn add(&self, status: StatusCode) {
        let class = usize::from((status.as_u16() / 100).clamp(1, 5)) - 1;
        self.0[class].fetch_add(1, Ordering::Relaxed);
    }
}

#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 403, description = "superusers only: the counts cover every tenant")))]
async fn metrics(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    if !orgscope_core::policy::spans_tenants(&auth.principal) {
        return Err(ApiError::Forbidden(
            "only superusers read /metrics: it counts every tenant's requests (scrape with a superuser's personal token)".into(),
        ));
    }
    let mut out = String::from(
        "# HELP orgscope_http_responses_total Responses sent, by status class.\n# TYPE orgscope_http_responses_total counter\n",
    );
    for (i, n) in state.responses.0.iter().enumerate() {
        let n = n.load(Ordering::Relaxed);
        out.push_str(&format!(
            "orgscope_http_responses_total{{class=\"{}xx\"}} {n}\n",
            i + 1
        ));
    }
    out.push_str(&format!(
        "# HELP orgscope_db_statements_total Statements run in database transactions.\n# TYPE orgscope_db_statements_total counter\norgscope_db_statements_total {}\n",
        state.store.statements()
    ));
    out.push_str(&format!(
        "# HELP orgscope_build_info The running version.\n# TYPE orgscope_build_info gauge\norgscope_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    ));
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, description = "the process is up", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, description = "the database answers", body = String, content_type = "text/plain"), (status = 503, description = "it does not")))]
async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}
