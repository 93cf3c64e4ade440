//! Deciding a developer's key request: a member who may change the org's
//! API management approves it (a consumer key is issued to the developer
//! for the APIs asked, and its secret waits, sealed, until the developer
//! sees it once on the portal) or denies it. Audited either way.

use orgscope_core::kind::{Kind, by_name};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::audit::{Change, audit};
use crate::resources::{self, writable};
use crate::{Caller, Env, Error, Result};

/// `POST /api/v1/key-requests/{id}/decide`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// true: issue the key; false: deny.
    pub approve: bool,
}

/// What was decided.
#[derive(Debug, Serialize, ToSchema)]
pub struct Decided {
    /// `approved` or `denied`.
    pub status: String,
    /// The consumer key issued (its secret is the developer's to see, once,
    /// on the portal).
    pub consumer_key: Option<String>,
}

fn kind(name: &str) -> &'static Kind {
    by_name(name).expect("the kinds table has it")
}

fn status(fields: &Value) -> &str {
    fields["status"].as_str().unwrap_or("pending")
}

pub async fn decide(env: &Env<'_>, auth: &Caller, id: &str, d: &Decision) -> Result<Decided> {
    let requests = kind("key_request");
    let (org, developer, apis) = {
        let mut tx = env.store.read().await?;
        let row = writable(&mut tx, requests, auth, id).await?;
        let f: Value = serde_json::from_str(&row.fields).unwrap_or_default();
        if status(&f) != "pending" {
            return Err(Error::conflict(format!(
                "this request is already {}; ask the developer to request again",
                status(&f)
            )));
        }
        (row.org_id, f["developer"].clone(), f["apis"].clone())
    };
    // The key is made by the approver, through the one create (its checks,
    // its audit); the request is marked in a second step that re-checks it.
    let issued = if d.approve {
        let body = json!({"name": format!("key for {id}"), "org": org, "developer": developer, "apis": apis});
        let key = resources::create(env, auth, kind("consumer_key"), &body).await?;
        Some((
            key["id"].as_str().unwrap_or_default().to_owned(),
            key["token"].as_str().unwrap_or_default().to_owned(),
        ))
    } else {
        None
    };
    let mut tx = env.store.write().await?;
    let row = writable(&mut tx, requests, auth, id).await?;
    let mut f: Value = serde_json::from_str(&row.fields).unwrap_or_default();
    if status(&f) != "pending" {
        // Decided by someone else meanwhile: the key made here goes again.
        if let Some((key, _)) = &issued {
            tx.resource_delete(key).await?;
            tx.commit().await?;
        }
        return Err(Error::conflict(format!(
            "this request was {} meanwhile",
            status(&f)
        )));
    }
    let before = f.clone();
    let new_status = if d.approve { "approved" } else { "denied" };
    f["status"] = json!(new_status);
    f["decided_by"] = json!(auth.actor_name);
    let sealed = match &issued {
        Some((key, token)) => {
            f["consumer_key"] = json!(key);
            Some(env.master_key.seal(token, id).map_err(Error::Internal)?)
        }
        None => None,
    };
    tx.resource_update(
        id,
        &row.name,
        row.org_id.as_deref(),
        &f.to_string(),
        sealed.as_deref(),
    )
    .await?;
    audit(
        &mut tx,
        auth,
        Some(&row.tenant_id),
        Change {
            action: &format!("key_request.{}", if d.approve { "approve" } else { "deny" }),
            kind: "key_request",
            target: id,
            org: row.org_id.as_deref(),
            before: Some(before),
            after: Some(f.clone()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Decided {
        status: new_status.into(),
        consumer_key: issued.map(|(k, _)| k),
    })
}
