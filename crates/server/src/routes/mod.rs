//! The REST API. Helpers shared by every route family live here: paging, the
//! `org=` selector, org references in bodies, and the audit append.

pub mod agents;
pub mod apis;
pub mod audit;
pub mod chat;
pub mod files;
pub mod kinds;
pub mod knowledge;
pub mod me;
pub mod orgs;
pub mod system;
pub mod tenants;
pub mod users;

use orgscope_core::policy::{self, OrgSelector};
use orgscope_store::{OrgRow, Page, StoreError, Tx};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// `limit` and `cursor` of every listing, and `org` where it applies.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `all` (default: everything you can see), `tenant` (tenant-wide only) or an org slug or id.
    pub org: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ListQuery {
    /// The page to ask the store for: one row more than asked, to know
    /// whether another page follows.
    pub fn page(&self) -> ApiResult<Page> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit: must be between 1 and {MAX_LIMIT}, got {limit}"
            )));
        }
        if let Some(c) = &self.cursor {
            let ok = c.len() <= 64 && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            if !ok {
                return Err(ApiError::BadRequest(format!(
                    "cursor: '{c}' is not a cursor this server gave; use the next_cursor of the previous page"
                )));
            }
        }
        Ok(Page {
            limit: limit + 1,
            after: self.cursor.clone(),
        })
    }
}

/// Drops the extra row fetched by [`ListQuery::page`] and returns the cursor of
/// the next page, if there is one.
pub fn next_cursor<T>(
    rows: &mut Vec<T>,
    page: &Page,
    cursor_of: impl Fn(&T) -> String,
) -> Option<String> {
    let asked = usize::try_from(page.limit - 1).unwrap_or(0);
    if rows.len() > asked {
        rows.truncate(asked);
        rows.last().map(cursor_of)
    } else {
        None
    }
}

/// `{items, next_cursor}` from rows fetched with [`ListQuery::page`].
pub fn listing<T>(
    mut rows: Vec<T>,
    page: &Page,
    cursor_of: impl Fn(&T) -> String,
    render: impl Fn(&T) -> Value,
) -> Value {
    let next = next_cursor(&mut rows, page, cursor_of);
    json!({ "items": rows.iter().map(render).collect::<Vec<_>>(), "next_cursor": next })
}

/// The `org=` query value as a selector. An org the caller cannot see is a
/// 404, exactly as one that does not exist.
pub async fn selector(tx: &mut Tx, auth: &Auth, org: Option<&str>) -> ApiResult<OrgSelector> {
    match org {
        None | Some("all") => Ok(OrgSelector::All),
        Some("tenant" | "none") => Ok(OrgSelector::TenantWide),
        Some(reference) => {
            let row = visible_org(tx, auth, reference).await?;
            Ok(OrgSelector::Org(row.id))
        }
    }
}

/// An org the caller can see, by slug or id; 404 otherwise.
pub async fn visible_org(tx: &mut Tx, auth: &Auth, reference: &str) -> ApiResult<OrgRow> {
    let filter = policy::read_filter(&auth.principal);
    match tx.org(&filter, reference).await {
        Ok(org) => Ok(org),
        Err(StoreError::NotFound) => Err(ApiError::not_found("org", reference)),
        Err(e) => Err(e.into()),
    }
}

/// Resolves the `org` field of a body: absent = the caller's default org (an
/// org key's own org), `null` = tenant-wide, otherwise a slug or id the caller
/// can see. Never falls back to anything else.
pub async fn org_field(tx: &mut Tx, auth: &Auth, body: &Value) -> ApiResult<Option<OrgRow>> {
    match body.get("org") {
        None => {
            let default = match &auth.principal.actor {
                policy::Actor::OrgKey { org, .. } => Some(org.clone()),
                policy::Actor::User { .. } => {
                    auth.user.as_ref().and_then(|u| u.default_org_id.clone())
                }
            };
            match default {
                Some(id) => Ok(Some(visible_org(tx, auth, &id).await?)),
                None => Err(ApiError::Invalid(
                    "org: you have no default org; give an org slug or id, or null for tenant-wide"
                        .into(),
                )),
            }
        }
        Some(Value::Null) => Ok(None),
        Some(Value::String(reference)) => match visible_org(tx, auth, reference).await {
            Ok(org) => Ok(Some(org)),
            Err(ApiError::NotFound(_)) => Err(ApiError::Invalid(format!(
                "org: no org '{reference}'; give the slug or id of an org you belong to, or null for tenant-wide"
            ))),
            Err(e) => Err(e),
        },
        Some(_) => Err(ApiError::Invalid(
            "org: must be an org slug or id, or null for tenant-wide".into(),
        )),
    }
}

/// `{id, slug}` of an org, or null.
pub fn org_ref(id: Option<&str>, slug: Option<&str>) -> Value {
    match id {
        Some(id) => json!({ "id": id, "slug": slug }),
        None => Value::Null,
    }
}

pub use orgscope_app::audit::{Change, audit, audit_move};

/// A JSON object body, or a 422 saying so.
pub fn object(body: &Value) -> ApiResult<&serde_json::Map<String, Value>> {
    body.as_object()
        .ok_or_else(|| ApiError::Invalid("the body must be a JSON object".into()))
}

/// A required string field of a body.
pub fn text<'a>(body: &'a Value, field: &str, max: usize) -> ApiResult<&'a str> {
    match body.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => Ok(s),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(ApiError::Invalid(format!("{field}: must not be empty")))
        }
        Some(Value::String(_)) => Err(ApiError::Invalid(format!(
            "{field}: must be at most {max} characters"
        ))),
        None => Err(ApiError::Invalid(format!("{field}: is required"))),
        Some(_) => Err(ApiError::Invalid(format!("{field}: must be a string"))),
    }
}

/// Refuses fields a body does not take.
pub fn only_fields(body: &Value, allowed: &[&str]) -> ApiResult<()> {
    if let Some(k) = body
        .as_object()
        .and_then(|map| map.keys().find(|k| !allowed.contains(&k.as_str())))
    {
        return Err(ApiError::Invalid(format!(
            "{k}: unknown field; this body takes {}",
            allowed.join(", ")
        )));
    }
    Ok(())
}
