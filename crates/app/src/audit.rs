//! The audit log: every change is appended in the transaction that makes it.

use orgscope_store::{NewAudit, Tx};
use serde_json::Value;

use crate::{Caller, Result};

/// What an audit entry records, beside who and when.
pub struct Change<'a> {
    pub action: &'a str,
    pub kind: &'a str,
    pub target: &'a str,
    pub org: Option<&'a str>,
    pub before: Option<Value>,
    pub after: Option<Value>,
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
