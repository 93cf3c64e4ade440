//! The audit log: every change is appended in the transaction that makes
//! it; admins and auditors read the tenant's, org managers their orgs'.

use orgscope_core::policy::{self, ReadFilter};
use orgscope_store::{AuditRow, NewAudit, Page, Tx};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::input::{Listing, listing};
use crate::{Caller, Env, Error, Result};

/// What an audit entry records, beside who and when.
pub struct Change<'a> {
    pub action: &'a str,
    pub kind: &'a str,
    pub target: &'a str,
    pub org: Option<&'a str>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A view as the audit log keeps it.
pub fn snapshot<T: serde::Serialize>(view: &T) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// Appends an audit entry in the transaction of the change.
pub async fn audit(
    tx: &mut Tx,
    caller: &Caller,
    tenant: Option<&str>,
    c: Change<'_>,
) -> Result<()> {
    audit_move(tx, caller, tenant, c, None).await
}

/// Appends the audit entry of a move: it is in the log of the org it left
/// (`from`) as well as of the one it entered (`c.org`).
pub async fn audit_move(
    tx: &mut Tx,
    caller: &Caller,
    tenant: Option<&str>,
    c: Change<'_>,
    from: Option<&str>,
) -> Result<()> {
    tx.audit_append(&NewAudit {
        tenant_id: tenant.map(str::to_owned),
        actor: caller.actor_name.clone(),
        actor_id: Some(caller.actor_id()),
        action: c.action.to_owned(),
        kind: c.kind.to_owned(),
        target: c.target.to_owned(),
        org_id: c.org.map(str::to_owned),
        other_org_id: from.filter(|f| Some(*f) != c.org).map(str::to_owned),
        before: c.before.map(|v| v.to_string()),
        after: c.after.map(|v| v.to_string()),
    })
    .await?;
    Ok(())
}

/// What a reader of the log asks for (beside what its rights allow).
#[derive(Debug, Default)]
pub struct AuditFilters {
    pub since: Option<String>,
    pub until: Option<String>,
    /// An org slug or id the reader can see.
    pub org: Option<String>,
    pub actor: Option<String>,
    pub kind: Option<String>,
    pub action: Option<String>,
}

fn parse_json(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

/// An entry of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    /// Who: a username, an org key's name, or `orgscope` for the server itself.
    pub actor: String,
    pub actor_id: Option<String>,
    /// What, as `<thing>.<verb>`: `file.create`, `org.delete`, `task.claim`...
    pub action: String,
    pub kind: String,
    /// The id of what changed.
    pub target: String,
    /// The org the change happened in (the org entered, for a move).
    pub org: Option<String>,
    /// For a move: the org left.
    pub from_org: Option<String>,
    /// The thing as it was (null when created).
    #[schema(value_type = Object)]
    pub before: Value,
    /// The thing as it is (null when deleted).
    #[schema(value_type = Object)]
    pub after: Value,
}

pub fn render(a: &AuditRow) -> AuditEntry {
    AuditEntry {
        id: a.id.clone(),
        at: a.at.clone(),
        actor: a.actor.clone(),
        actor_id: a.actor_id.clone(),
        action: a.action.clone(),
        kind: a.kind.clone(),
        target: a.target.clone(),
        org: a.org_id.clone(),
        from_org: a.other_org_id.clone(),
        before: parse_json(a.before.as_deref()),
        after: parse_json(a.after.as_deref()),
    }
}

/// The filter the caller's rights allow, and what the query asks.
pub async fn filter_and_query(
    env: &Env<'_>,
    auth: &Caller,
    q: &AuditFilters,
) -> Result<(ReadFilter, orgscope_store::AuditQuery)> {
    auth.tenant()?;
    let filter = policy::audit_filter(&auth.principal)
        .ok_or_else(|| Error::Forbidden("org access keys cannot read the audit log".into()))?;
    let time = |field: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| {
                orgscope_core::parse_time(s).map_err(|e| Error::BadRequest(format!("{field}: {e}")))
            })
            .transpose()
    };
    let org = match &q.org {
        Some(o) => {
            let mut tx = env.store.read().await?;
            Some(crate::orgs::visible_org(&mut tx, auth, o).await?.id)
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
            kind: kind_word(q.kind.as_deref())?,
            action: q.action.clone(),
        },
    ))
}

/// The audit log's kinds are words (`plugin`, `api_key`, `org`): one with
/// other characters is refused, saying so, rather than matching nothing.
fn kind_word(kind: Option<&str>) -> Result<Option<String>> {
    match kind {
        Some(k) if !orgscope_store::is_word(k) => Err(Error::BadRequest(format!(
            "kind: '{k}' is not a kind; kinds are lower-case words such as plugin or api_key"
        ))),
        k => Ok(k.map(str::to_owned)),
    }
}

pub fn check_cursor(cursor: Option<&str>) -> Result<()> {
    match cursor {
        Some(c)
            if !(c.starts_with("aud_")
                && c.len() <= 64
                && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')) =>
        {
            Err(Error::BadRequest(format!(
                "cursor: '{c}' is not a cursor this server gave; use the next_cursor of the previous page"
            )))
        }
        _ => Ok(()),
    }
}

pub fn export_stream(
    store: orgscope_store::Store,
    filter: ReadFilter,
    query: orgscope_store::AuditQuery,
    start: Option<String>,
) -> impl futures_util::Stream<Item = std::result::Result<Vec<u8>, std::io::Error>> {
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
                chunk.extend_from_slice(snapshot(&render(row)).to_string().as_bytes());
                chunk.push(b'\n');
            }
            let next = (rows.len() as i64 == CHUNK).then(|| rows.last().map(|r| r.id.clone()));
            Ok(Some((chunk, next)))
        }
    })
}

/// A page of the entries the caller may read and asks for, oldest first.
pub async fn list(
    env: &Env<'_>,
    auth: &Caller,
    q: &AuditFilters,
    page: &Page,
) -> Result<Listing<AuditEntry>> {
    let (filter, query) = filter_and_query(env, auth, q).await?;
    check_cursor(page.after.as_deref())?;
    let mut tx = env.store.read().await?;
    let rows = tx.audit(&filter, &query, page).await?;
    Ok(listing(rows, page, |a| a.id.clone(), render))
}
