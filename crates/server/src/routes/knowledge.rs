//! Knowledge entries and their full-text search, always through the file
//! they come from (their scope is a join on it, never a copy).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use orgscope_core::policy::{self, OrgSelector};
use orgscope_store::{KnowledgeHit, KnowledgeRow};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ListQuery, listing, org_ref, selector, visible_org};
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_knowledge))
        .routes(routes!(search))
}

/// At most this many words of a query are used.
pub const MAX_TERMS: usize = 32;
const MAX_QUERY_CHARS: usize = 1000;

/// The words of a query: letters and digits only, lower-cased, so no input
/// can form an FTS operator or a syntax error on either backend.
pub fn terms(q: &str) -> Result<Vec<String>, String> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(format!("q: at most {MAX_QUERY_CHARS} characters"));
    }
    let mut out: Vec<String> = Vec::new();
    for word in q.split(|c: char| !c.is_alphanumeric()) {
        let word = word.to_lowercase();
        if !word.is_empty() && !out.contains(&word) {
            out.push(word);
        }
        if out.len() == MAX_TERMS {
            break;
        }
    }
    if out.is_empty() {
        return Err("q: give at least one word to search for".into());
    }
    Ok(out)
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The snippet as HTML: the text escaped, the matches in `<mark>`.
pub fn snippet_html(raw: &str) -> String {
    escape_html(raw)
        .replace('\u{1}', "<mark>")
        .replace('\u{2}', "</mark>")
}

fn render_entry(k: &KnowledgeRow) -> Value {
    json!({
        "id": k.id, "kind": "knowledge_entry",
        "file": {"id": k.file_id, "name": k.file_name},
        "org": org_ref(k.org_id.as_deref(), k.org_slug.as_deref()),
        "position": k.position, "text": k.text,
    })
}

pub fn render_hit(h: &KnowledgeHit) -> Value {
    json!({
        "id": h.id, "kind": "knowledge_entry",
        "file": {"id": h.file_id, "name": h.file_name},
        "org": org_ref(h.org_id.as_deref(), h.org_slug.as_deref()),
        "position": h.position,
        "snippet": snippet_html(&h.snippet),
        "score": h.score,
    })
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KnowledgeQuery {
    /// `all` (default), `tenant` or an org slug or id.
    org: Option<String>,
    /// Only the entries of this file.
    file: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/knowledge", tag = "knowledge", params(KnowledgeQuery),
    responses((status = 200, description = "{items, next_cursor}: entries of files you can see")))]
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
    let mut tx = state.store.read().await?;
    let sel = selector(&mut tx, &auth, q.org.as_deref()).await?;
    let rows = tx
        .knowledge(
            &policy::read_filter(&auth.principal),
            &sel,
            q.file.as_deref(),
            &page,
        )
        .await?;
    Ok(axum::Json(listing(rows, &page, |k| k.id.clone(), render_entry)).into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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
    responses((status = 200, description = "{items}: ranked entries with a highlighted snippet and their file"),
        (status = 400, description = "no words, a bad limit, or both org and session"), (status = 404, description = "no such org or session for you")))]
async fn search(
    State(state): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<SearchQuery>,
) -> ApiResult<Response> {
    let terms = terms(q.q.as_deref().unwrap_or("")).map_err(ApiError::BadRequest)?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit: must be between 1 and 100, got {limit}"
        )));
    }
    let mut tx = state.store.read().await?;
    let sel = match (q.session.as_deref(), q.org.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give org or session, not both: a session's context is its own org".into(),
            ));
        }
        (Some(id), None) => {
            super::chat::context(&super::chat::visible_session(&mut tx, &auth, id).await?)
        }
        (None, None | Some("all")) => OrgSelector::All,
        (None, Some("tenant" | "none")) => OrgSelector::TenantWide,
        (None, Some(reference)) => {
            OrgSelector::Context(visible_org(&mut tx, &auth, reference).await?.id)
        }
    };
    let hits = tx
        .knowledge_search(
            &policy::read_filter(&auth.principal),
            &sel,
            &terms,
            false,
            limit,
        )
        .await?;
    let items: Vec<Value> = hits.iter().map(render_hit).collect();
    Ok(axum::Json(json!({"items": items, "terms": terms})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_become_plain_words() {
        assert_eq!(
            terms("\"rm -rf\" OR NEAR(a b)*").unwrap(),
            ["rm", "rf", "or", "near", "a", "b"]
        );
        assert_eq!(terms("Café café ÉTÉ").unwrap(), ["café", "été"]);
        assert!(terms("  \"' * ^ : ").is_err());
        assert!(terms(&"x".repeat(1001)).is_err());
        assert_eq!(terms(&"a b ".repeat(100)).unwrap().len(), 2);
    }

    #[test]
    fn snippets_are_escaped() {
        assert_eq!(
            snippet_html("<b>\u{1}x\u{2}</b> & y"),
            "&lt;b&gt;<mark>x</mark>&lt;/b&gt; &amp; y"
        );
    }
}
