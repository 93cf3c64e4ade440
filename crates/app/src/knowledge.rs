//! Knowledge entries and their full-text search, always through the file
//! they come from (their scope is a join on it, never a copy).

use orgscope_core::policy::{self, OrgSelector};
use orgscope_store::{KnowledgeHit, KnowledgeRow, Page};
use serde::Serialize;
use utoipa::ToSchema;

use crate::input::{Listing, next_cursor};
use crate::orgs::{OrgRef, selector, visible_org};
use crate::{Caller, Env, Error, Result};

/// `{id, name}` of the file an entry comes from.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileRef {
    pub id: String,
    pub name: String,
}

/// A passage extracted from a file; its scope is its file's.
#[derive(Debug, Serialize, ToSchema)]
pub struct KnowledgeEntry {
    pub id: String,
    /// Always `knowledge_entry`.
    pub kind: String,
    pub file: FileRef,
    pub org: Option<OrgRef>,
    /// Its place in the file, from 0.
    pub position: i64,
    pub text: String,
}

/// A ranked search result.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    pub id: String,
    /// Always `knowledge_entry`.
    pub kind: String,
    pub file: FileRef,
    pub org: Option<OrgRef>,
    pub position: i64,
    /// HTML: the text escaped, the matched words in `<mark>`.
    pub snippet: String,
    /// Higher is better.
    pub score: f64,
}

/// Search results and the words that were searched for.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    pub items: Vec<SearchHit>,
    /// The words used (lowercased, operators and punctuation dropped).
    pub terms: Vec<String>,
}

/// At most this many words of a query are used.
pub const MAX_TERMS: usize = 32;

const MAX_QUERY_CHARS: usize = 1000;

/// The words of a query: letters and digits only, lower-cased, so no input
/// can form an FTS operator or a syntax error on either backend.
pub fn terms(q: &str) -> std::result::Result<Vec<String>, String> {
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

fn render_entry(k: &KnowledgeRow) -> KnowledgeEntry {
    KnowledgeEntry {
        id: k.id.clone(),
        kind: "knowledge_entry".into(),
        file: FileRef {
            id: k.file_id.clone(),
            name: k.file_name.clone(),
        },
        org: OrgRef::of(k.org_id.as_deref(), k.org_slug.as_deref()),
        position: k.position,
        text: k.text.clone(),
    }
}

pub fn render_hit(h: &KnowledgeHit) -> SearchHit {
    SearchHit {
        id: h.id.clone(),
        kind: "knowledge_entry".into(),
        file: FileRef {
            id: h.file_id.clone(),
            name: h.file_name.clone(),
        },
        org: OrgRef::of(h.org_id.as_deref(), h.org_slug.as_deref()),
        position: h.position,
        snippet: snippet_html(&h.snippet),
        score: h.score,
    }
}

/// A page of the knowledge entries the caller can see (of files it can
/// see), narrowed by `org` and optionally one file.
pub async fn list(
    env: &Env<'_>,
    auth: &Caller,
    org: Option<&str>,
    file: Option<&str>,
    page: &Page,
) -> Result<Listing<KnowledgeEntry>> {
    let mut tx = env.store.read().await?;
    let sel = selector(&mut tx, auth, org).await?;
    let mut rows = tx
        .knowledge(&policy::read_filter(&auth.principal), &sel, file, page)
        .await?;
    let next = next_cursor(&mut rows, page, |k| k.id.clone());
    Ok(Listing {
        items: rows.iter().map(render_entry).collect(),
        next_cursor: next,
    })
}

/// Ranked entries for the words of `q`, in a context: an org's (its entries
/// and tenant-wide ones, never another org's), a chat session's, or all the
/// caller can see. Answers the hits and the words used.
pub async fn search(
    env: &Env<'_>,
    auth: &Caller,
    q: &str,
    org: Option<&str>,
    session: Option<&str>,
    limit: i64,
) -> Result<SearchResults> {
    let terms = terms(q).map_err(Error::BadRequest)?;
    if !(1..=100).contains(&limit) {
        return Err(Error::BadRequest(format!(
            "limit: must be between 1 and 100, got {limit}"
        )));
    }
    let mut tx = env.store.read().await?;
    let sel = match (session, org) {
        (Some(_), Some(_)) => {
            return Err(Error::BadRequest(
                "give org or session, not both: a session's context is its own org".into(),
            ));
        }
        (Some(id), None) => {
            crate::chat::context(&crate::chat::visible_session(&mut tx, auth, id).await?)
        }
        (None, None | Some("all")) => OrgSelector::All,
        (None, Some("tenant" | "none")) => OrgSelector::TenantWide,
        (None, Some(reference)) => {
            OrgSelector::Context(visible_org(&mut tx, auth, reference).await?.id)
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
    Ok(SearchResults {
        items: hits.iter().map(render_hit).collect(),
        terms,
    })
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
