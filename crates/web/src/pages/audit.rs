//! The audit log with its filters (org, actor, kind, action, time) and an
//! export link to `/api/v1/audit/export` with the same query. What the
//! viewer may read is the app's answer: the tenant's log for admins and
//! auditors, the orgs they manage for managers.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use orgscope_app::Error;
use orgscope_app::audit::{self, AuditFilters};
use orgscope_store::Page;
use serde::Deserialize;

use super::given;
use crate::Host;
use crate::error::{PageError, encode, html};
use crate::session::{Viewer, wants_main};
use crate::views::{Badge, Choice, Layout, When};

const PAGE: i64 = 100;

#[derive(Deserialize, Default)]
pub struct AuditForm {
    org: Option<String>,
    actor: Option<String>,
    kind: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
}

pub struct EntryItem {
    at: When,
    actor: String,
    action: String,
    kind: String,
    target: String,
    org: Option<Badge>,
    from_org: Option<Badge>,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage<'a> {
    l: &'a Layout,
    f: &'a AuditForm,
    orgs: Vec<Choice>,
    entries: Vec<EntryItem>,
    next: Option<String>,
    export: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "audit.html", block = "main")]
#[allow(dead_code)]
struct AuditMain<'a> {
    l: &'a Layout,
    f: &'a AuditForm,
    orgs: Vec<Choice>,
    entries: Vec<EntryItem>,
    next: Option<String>,
    export: String,
    error: Option<String>,
}

/// A `datetime-local` value (`2026-12-02T14:30`) as RFC 3339 in UTC;
/// anything else as typed (the app says what is wrong with it).
fn time_of(v: Option<&str>) -> Option<String> {
    let v = v?;
    Some(if v.len() == 16 && v.as_bytes()[10] == b'T' {
        format!("{v}:00Z")
    } else if v.len() == 10 {
        format!("{v}T00:00:00Z")
    } else {
        v.to_owned()
    })
}

fn query_of(f: &AuditForm, cursor: Option<&str>) -> String {
    let mut q = Vec::new();
    let org = given(f.org.as_ref()).filter(|o| *o != "all");
    for (k, v) in [
        ("org", org.map(str::to_owned)),
        ("actor", given(f.actor.as_ref()).map(str::to_owned)),
        ("kind", given(f.kind.as_ref()).map(str::to_owned)),
        ("action", given(f.action.as_ref()).map(str::to_owned)),
        ("since", time_of(given(f.since.as_ref()))),
        ("until", time_of(given(f.until.as_ref()))),
        ("cursor", cursor.map(str::to_owned)),
    ] {
        if let Some(v) = v {
            q.push(format!("{k}={}", encode(&v)));
        }
    }
    q.join("&")
}

pub async fn log<S: Host>(
    State(state): State<S>,
    v: Viewer,
    headers: HeaderMap,
    Query(f): Query<AuditForm>,
) -> Response {
    let org = given(f.org.as_ref()).filter(|o| *o != "all");
    let filters = AuditFilters {
        since: time_of(given(f.since.as_ref())),
        until: time_of(given(f.until.as_ref())),
        org: org.map(str::to_owned),
        actor: given(f.actor.as_ref()).map(str::to_owned),
        kind: given(f.kind.as_ref()).map(str::to_owned),
        action: given(f.action.as_ref()).map(str::to_owned),
    };
    let page = Page {
        limit: PAGE,
        after: given(f.cursor.as_ref()).map(str::to_owned),
    };
    let (entries, next, error, status) =
        match audit::list(&state.env(), &v.caller, &filters, &page).await {
            Ok(l) => {
                let entries = l
                    .items
                    .iter()
                    .map(|a| EntryItem {
                        at: When::of(&a.at),
                        actor: a.actor.clone(),
                        action: a.action.clone(),
                        kind: a.kind.clone(),
                        target: a.target.clone(),
                        org: a.org.as_deref().map(|o| Badge::org(o, &v.orgs)),
                        from_org: a.from_org.as_deref().map(|o| Badge::org(o, &v.orgs)),
                    })
                    .collect();
                let next = l
                    .next_cursor
                    .map(|c| format!("/audit?{}", query_of(&f, Some(&c))));
                (entries, next, None, StatusCode::OK)
            }
            Err(e @ Error::BadRequest(_)) => {
                let e = PageError::from(e);
                (Vec::new(), None, Some(e.message()), e.status())
            }
            Err(e) => return v.fail(e),
        };
    let mut orgs = vec![Choice::new("all", "All I may read", org.is_none())];
    orgs.extend(v.orgs.iter().map(|o| {
        Choice::new(
            &o.slug,
            &o.name,
            org == Some(o.slug.as_str()) || org == Some(o.id.as_str()),
        )
    }));
    let q = query_of(&f, None);
    let export = if q.is_empty() {
        "/api/v1/audit/export".to_owned()
    } else {
        format!("/api/v1/audit/export?{q}")
    };
    let l = Layout::new("Audit log", "audit", &v);
    let mut res = if wants_main(&headers) {
        html(&AuditMain {
            l: &l,
            f: &f,
            orgs,
            entries,
            next,
            export,
            error,
        })
    } else {
        html(&AuditPage {
            l: &l,
            f: &f,
            orgs,
            entries,
            next,
            export,
            error,
        })
    };
    *res.status_mut() = status;
    res
}
