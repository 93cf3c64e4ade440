//! The audit log: admins and auditors read their tenant's, org managers their
//! orgs' entries; exported as JSON lines, streamed page by page.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, AppQuery};
use orgscope_app::audit::{self, AuditEntry, check_cursor, export_stream};
use orgscope_app::input::Listing;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(export_audit))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries at or after this RFC 3339 time.
    since: Option<String>,
    /// Entries before this RFC 3339 time.
    until: Option<String>,
    /// Entries of this org (slug or id), including moves out of it.
    org: Option<String>,
    /// Entries by this actor (username, or user or key id).
    actor: Option<String>,
    /// Entries about this kind (org, user, membership, credential, …).
    kind: Option<String>,
    /// Entries of this action (e.g. member.remove, credential.reveal).
    action: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl AuditQuery {
    fn filters(&self) -> audit::AuditFilters {
        audit::AuditFilters {
            since: self.since.clone(),
            until: self.until.clone(),
            org: self.org.clone(),
            actor: self.actor.clone(),
            kind: self.kind.clone(),
            action: self.action.clone(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "the entries you may read, oldest first", body = Listing<AuditEntry>)))]
async fn list_audit(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<AuditQuery>,
) -> ApiResult<Response> {
    check_cursor(q.cursor.as_deref())?;
    let page = super::ListQuery {
        org: None,
        limit: q.limit,
        cursor: q.cursor.clone(),
    }
    .page()?;
    Ok(axum::Json(audit::list(&state.env(), &auth, &q.filters(), &page).await?).into_response())
}

#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "every entry you may read, one JSON object a line, oldest first", body = AuditEntry, content_type = "application/x-ndjson")))]
async fn export_audit(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<AuditQuery>,
) -> ApiResult<Response> {
    let (filter, query) = audit::filter_and_query(&state.env(), &auth, &q.filters()).await?;
    check_cursor(q.cursor.as_deref())?;
    let store = state.store.clone();
    // Each page is read in its own short transaction so a large export holds
    // no lock; the sequence number makes the pages contiguous and ordered.
    let stream = export_stream(store, filter, query, q.cursor);
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}
