//! The audit log: admins and auditors read their tenant's, org managers their
//! orgs' entries; exported as JSON lines, streamed page by page.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use orgscope_core::policy::{self, ReadFilter};
use orgscope_store::{AuditRow, Page};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::listing;
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(export_audit))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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

fn parse_json(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

fn render(a: &AuditRow) -> Value {
    json!({
        "id": a.id, "at": a.at, "actor": a.actor, "actor_id": a.actor_id,
        "action": a.action, "kind": a.kind, "target": a.target, "org": a.org_id,
        "from_org": a.other_org_id,
        "before": parse_json(a.before.as_deref()), "after": parse_json(a.after.as_deref()),
    })
}

/// The filter the caller's rights allow, and what the query asks.
async fn filter_and_query(
    state: &AppState,
    auth: &Auth,
    q: &AuditQuery,
) -> ApiResult<(ReadFilter, orgscope_store::AuditQuery)> {
    auth.tenant()?;
    let filter = policy::audit_filter(&auth.principal)
        .ok_or_else(|| ApiError::Forbidden("org access keys cannot read the audit log".into()))?;
    let time = |field: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| {
                orgscope_core::parse_time(s)
                    .map_err(|e| ApiError::BadRequest(format!("{field}: {e}")))
            })
            .transpose()
    };
    let org = match &q.org {
        Some(o) => {
            let mut tx = state.store.read().await?;
            Some(super::visible_org(&mut tx, auth, o).await?.id)
        }
        None => None,
    };
    Ok((
        filter,
        orgscope_store::AuditQuery {
            since: time("since", &q.since)?,
            until: time("until", &q.until)?,
            org,
            actor: q.actor.clone(),
            kind: q.kind.clone(),
            action: q.action.clone(),
        },
    ))
}

fn check_cursor(cursor: Option<&str>) -> ApiResult<()> {
    match cursor {
        Some(c)
            if !(c.starts_with("aud_")
                && c.len() <= 64
                && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')) =>
        {
            Err(ApiError::BadRequest(format!(
                "cursor: '{c}' is not a cursor this server gave; use the next_cursor of the previous page"
            )))
        }
        _ => Ok(()),
    }
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "{items, next_cursor}, oldest first")))]
async fn list_audit(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<AuditQuery>,
) -> ApiResult<Response> {
    let (filter, query) = filter_and_query(&state, &auth, &q).await?;
    check_cursor(q.cursor.as_deref())?;
    let page = super::ListQuery {
        org: None,
        limit: q.limit,
        cursor: q.cursor.clone(),
    }
    .page()?;
    let mut tx = state.store.read().await?;
    let rows = tx.audit(&filter, &query, &page).await?;
    Ok(axum::Json(listing(rows, &page, |a| a.id.clone(), render)).into_response())
}

#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "every entry you may read, one JSON object a line, oldest first", content_type = "application/x-ndjson")))]
async fn export_audit(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<AuditQuery>,
) -> ApiResult<Response> {
    let (filter, query) = filter_and_query(&state, &auth, &q).await?;
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

fn export_stream(
    store: orgscope_store::Store,
    filter: ReadFilter,
    query: orgscope_store::AuditQuery,
    start: Option<String>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    const CHUNK: i64 = 500;
    let failed = |e: orgscope_store::StoreError| {
        tracing::error!(error = %e, "audit export failed");
        std::io::Error::other("audit export failed")
    };
    futures_util::stream::try_unfold(Some(start), move |after| {
        let (store, filter, query) = (store.clone(), filter.clone(), query.clone());
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            let page = Page {
                limit: CHUNK,
                after: after.clone(),
            };
            let mut tx = store.read().await.map_err(failed)?;
            let rows = tx.audit(&filter, &query, &page).await.map_err(failed)?;
            drop(tx);
            let mut chunk = Vec::new();
            for row in &rows {
                chunk.extend_from_slice(render(row).to_string().as_bytes());
                chunk.push(b'\n');
            }
            let next = (rows.len() as i64 == CHUNK).then(|| rows.last().map(|r| r.id.clone()));
            Ok(Some((chunk, next)))
        }
    })
}
