//! Knowledge search in an org context: ranked passages with the matches
//! highlighted, each linking to its file.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use orgscope_app::Error;
use serde::Deserialize;

use super::given;
use crate::Host;
use crate::error::{PageError, html};
use crate::session::{Viewer, wants_main};
use crate::views::{self, Badge, Choice, Hit, Layout};

/// Results shown.
const HITS: i64 = 25;

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    q: Option<String>,
    org: Option<String>,
}

#[derive(Template)]
#[template(path = "knowledge.html")]
struct KnowledgePage<'a> {
    l: &'a Layout,
    q: &'a str,
    context: Badge,
    options: Vec<Choice>,
    hits: Option<Vec<Hit>>,
    error: Option<String>,
}

/// The main area alone, for htmx (the layout is not rendered).
#[derive(Template)]
#[template(path = "knowledge.html", block = "main")]
#[allow(dead_code)]
struct KnowledgeMain<'a> {
    l: &'a Layout,
    q: &'a str,
    context: Badge,
    options: Vec<Choice>,
    hits: Option<Vec<Hit>>,
    error: Option<String>,
}

pub async fn search<S: Host>(
    State(state): State<S>,
    v: Viewer,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> Response {
    let q = given(query.q.as_ref()).unwrap_or_default();
    let org = given(query.org.as_ref()).filter(|o| *o != "all");
    let mut options = vec![
        Choice::new("all", "Everything I can see", org.is_none()),
        Choice::new("tenant", "Tenant-wide files only", org == Some("tenant")),
    ];
    options.extend(v.orgs.iter().map(|o| {
        Choice::new(
            &o.slug,
            format!("{} (and tenant-wide)", o.name),
            org == Some(o.slug.as_str()) || org == Some(o.id.as_str()),
        )
    }));
    let (hits, error) = if q.is_empty() {
        (None, None)
    } else {
        match orgscope_app::knowledge::search(&state.env(), &v.caller, q, org, None, HITS).await {
            Ok(found) => (
                Some(found.items.iter().map(|h| views::hit(h, &v.orgs)).collect()),
                None,
            ),
            Err(e @ Error::BadRequest(_)) => (None, Some(PageError::from(e).message())),
            Err(e) => return v.fail(e),
        }
    };
    let context = Badge::selector(org, &v.orgs);
    let l = Layout::new("Knowledge", "knowledge", &v);
    if wants_main(&headers) {
        html(&KnowledgeMain {
            l: &l,
            q,
            context,
            options,
            hits,
            error,
        })
    } else {
        html(&KnowledgePage {
            l: &l,
            q,
            context,
            options,
            hits,
            error,
        })
    }
}
