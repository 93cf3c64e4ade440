//! Knowledge entries and their full-text search, always through the file
//! they come from (their scope is a join on it, never a copy).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use orgscope_app::access::{AccessAnswer, AccessQuery};
use orgscope_app::input::Listing;
use orgscope_app::knowledge::{self, KnowledgeEntry, SearchResults};

use super::ListQuery;
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_knowledge))
        .routes(routes!(search))
        .routes(routes!(entry_access))
}

/// Who has access to a knowledge entry: its file's answer (an entry's
/// scope is its file's).
#[utoipa::path(get, path = "/api/v1/knowledge/{id}/access", tag = "knowledge",
    params(("id" = String, Path), AccessQuery),
    responses((status = 200, description = "the file's groups, or one decision", body = AccessAnswer),
        (status = 403, description = "you may not change the file"), (status = 404, description = "no such entry for you")))]
async fn entry_access(
    State(state): State<AppState>,
    auth: Auth,
    axum::extract::Path(id): axum::extract::Path<String>,
    AppQuery(q): AppQuery<AccessQuery>,
) -> ApiResult<Response> {
    let out = orgscope_app::access::explain_knowledge(&state.env(), &auth, &id, &q).await?;
    Ok(axum::Json(out).into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeQuery {
    /// `all` (default), `tenant` or an org slug or id.
    org: Option<String>,
    /// Only the entries of this file.
    file: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/knowledge", tag = "knowledge", params(KnowledgeQuery),
    responses((status = 200, description = "entries of files you can see", body = Listing<KnowledgeEntry>)))]
async fn list_knowledge(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<KnowledgeQuery>,
) -> ApiResult<Response> {
    if q.cursor.as_deref().is_some_and(|c| !c.starts_with("ke_")) {
        return Err(ApiError::BadRequest(
            "cursor: not a cursor this server gave; use the next_cursor of the previous page"
                .into(),
        ));
    }
    let page = ListQuery {
        org: None,
        limit: q.limit,
        cursor: q.cursor.clone(),
    }
    .page()?;
    let out = knowledge::list(
        &state.env(),
        &auth,
        q.org.as_deref(),
        q.file.as_deref(),
        &page,
    )
    .await?;
    Ok(axum::Json(out).into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Words to find (all must match); punctuation and operators are ignored.
    q: Option<String>,
    /// The context org (slug or id): its entries and tenant-wide ones, never another org's.
    /// `tenant`: tenant-wide entries only. Absent: everything you can see.
    org: Option<String>,
    /// A chat session (id) instead of `org`: search in its context, as its
    /// answers do (its org and tenant-wide).
    session: Option<String>,
    /// How many results, 1 to 100 (default 20).
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/knowledge/search", tag = "knowledge", params(SearchQuery),
    responses((status = 200, description = "ranked entries with a highlighted snippet and their file", body = SearchResults),
        (status = 400, description = "no words, a bad limit, or both org and session"), (status = 404, description = "no such org or session for you")))]
async fn search(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<SearchQuery>,
) -> ApiResult<Response> {
    let out = knowledge::search(
        &state.env(),
        &auth,
        q.q.as_deref().unwrap_or(""),
        q.org.as_deref(),
        q.session.as_deref(),
        q.limit.unwrap_or(20),
    )
    .await?;
    Ok(axum::Json(out).into_response())
}
