//! The REST API. Helpers shared by every route family live here: paging, the
//! `org=` selector, org references in bodies, and the audit append.

pub mod agents;
pub mod api_gateways;
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

use orgscope_store::Page;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// A kind's listing: the page, the org, and what narrows it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KindListQuery {
    /// `all` (default: everything you can see), `tenant` (tenant-wide only) or an org slug or id.
    pub org: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only those whose name contains this, ignoring case.
    pub q: Option<String>,
    /// Tasks only: queued, running, succeeded, failed, refused or cancelled.
    pub status: Option<String>,
    /// Tasks, jobs and gateways only: those of this agent (an id).
    pub agent: Option<String>,
    /// Jobs only: firing (`true`) or disabled (`false`).
    pub enabled: Option<bool>,
}

impl KindListQuery {
    pub fn page(&self) -> ApiResult<Page> {
        ListQuery {
            org: None,
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
        .page()
    }

    pub fn filters(&self) -> orgscope_app::resources::Filters {
        orgscope_app::resources::Filters {
            q: self.q.clone(),
            status: self.status.clone(),
            agent: self.agent.clone(),
            enabled: self.enabled,
        }
    }
}

/// `limit` and `cursor` of every listing, and `org` where it applies.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
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

pub use orgscope_app::audit::{Change, audit, audit_move};
pub use orgscope_app::input::{listing, next_cursor, object, text};
pub use orgscope_app::orgs::{org_field, org_ref, selector, visible_org};
