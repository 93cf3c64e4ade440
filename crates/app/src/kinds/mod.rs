//! Kinds with behaviour: one module per [`Behaviour`] tag of core's kinds
//! table, and the few questions the generic operations ask of them. Generic
//! code asks these functions; only this dispatch names the tags.

mod api_definition;
mod consumer_key;
mod developer;
mod file;
mod job;
mod key_request;
mod persona;
mod task;

use orgscope_core::kind::{Behaviour, Kind};
use orgscope_core::policy::{ReadFilter, Scope};
use orgscope_store::{ResourceRow, Tx};
use serde_json::{Map, Value, json};

use crate::Result;

/// Where a write happens and who may hear about a refusal.
pub struct Place<'a> {
    /// The caller's read filter: a refusal names only what it admits.
    pub viewer: &'a ReadFilter,
    pub tenant: &'a str,
    pub org: Option<&'a str>,
    /// The writer is an org access key: it may not issue keys, nor switch
    /// on what issues them.
    pub by_key: bool,
}

/// Which write is being checked.
pub enum Write<'a> {
    Create,
    /// An update of resource `id` with these changed fields (empty: a rename).
    Update {
        id: &'a str,
        changes: &'a Map<String, Value>,
    },
}

/// What the kind checks of the fields beyond their types, before the write.
pub async fn check(
    tx: &mut Tx,
    kind: &Kind,
    at: &Place<'_>,
    fields: &Map<String, Value>,
    write: &Write<'_>,
) -> Result<()> {
    match kind.behaviour {
        Behaviour::Task => task::check(tx, at, fields, write).await,
        Behaviour::Job => job::check(tx, at, fields, write).await,
        Behaviour::ApiDefinition => api_definition::check(tx, at, write, fields).await,
        Behaviour::ApiGateway => {
            let own = match write {
                Write::Create => None,
                Write::Update { id, .. } => Some(*id),
            };
            crate::api_gateways::check_gateway(tx, at.viewer, at.tenant, at.org, own, fields).await
        }
        Behaviour::Developer => developer::check(fields),
        Behaviour::KeyRequest => key_request::check(write),
        _ => Ok(()),
    }
}

/// What the kind keeps beside its row, after the row is written (`id`
/// exists now): a task's queue entry, a job's next firing, an API's route.
pub async fn after_write(
    tx: &mut Tx,
    kind: &Kind,
    at: &Place<'_>,
    id: &str,
    fields: &Map<String, Value>,
    write: &Write<'_>,
) -> Result<()> {
    match kind.behaviour {
        Behaviour::Task => task::after_write(tx, id, fields, write).await,
        Behaviour::Job => job::after_write(tx, id, fields).await,
        Behaviour::ApiDefinition => api_definition::after_write(tx, at, id, fields).await,
        _ => Ok(()),
    }
}

/// A resource as callers see it, with what its kind adds.
pub async fn present(tx: &mut Tx, kind: &Kind, r: &ResourceRow) -> Result<Value> {
    match kind.behaviour {
        Behaviour::File => file::present(tx, r).await,
        Behaviour::Task => task::present(tx, kind, r).await,
        Behaviour::Job => {
            let mut out = crate::resources::render(kind, r);
            let (next, last) = tx.job_schedule_of(&r.id).await?;
            out["next_run_at"] = json!(next);
            out["last_run_at"] = json!(last);
            Ok(out)
        }
        Behaviour::ConsumerKey => consumer_key::present(tx, kind, r).await,
        Behaviour::ApiGateway => {
            let mut out = crate::resources::render(kind, r);
            if let Some((at, version)) = tx.api_gateway_seen(&r.id).await? {
                out["last_seen_at"] = json!(at);
                out["version"] = json!(version);
            }
            Ok(out)
        }
        _ => Ok(crate::resources::render(kind, r)),
    }
}

/// The fields [`present`] adds to the kind's own, as JSON Schemas (for the
/// API's document): a file's size and extraction, a task's state, a key's
/// last use.
pub fn presented_fields(kind: &Kind) -> Vec<(&'static str, Value)> {
    let text = |doc: &str| json!({"type": ["string", "null"], "description": doc});
    match kind.behaviour {
        Behaviour::File => vec![
            ("size", json!({"type": "integer", "description": "bytes"})),
            ("sha256", json!({"type": "string"})),
            ("content_type", json!({"type": "string"})),
            (
                "extraction",
                json!({"type": "object", "description": "the state of the knowledge extracted from it",
                    "properties": {"state": {"type": "string", "enum": ["pending", "running", "done", "failed", "unsupported"]},
                        "error": {"type": ["string", "null"]}, "entries": {"type": "integer"}},
                    "required": ["state", "entries"]}),
            ),
        ],
        Behaviour::Task => vec![
            (
                "status",
                text("queued, running, succeeded, failed, refused or cancelled"),
            ),
            (
                "output",
                text("what the task printed (or why it was refused)"),
            ),
            ("exit_code", json!({"type": ["integer", "null"]})),
            ("claimed_by", text("the key that claimed it")),
            ("claimed_at", text("")),
            ("finished_at", text("")),
            (
                "attempts",
                json!({"type": "integer", "description": "how many times it was claimed; a lapsed lease returns it to the queue until the third"}),
            ),
            (
                "lease_until",
                text(
                    "when a running task's claim lapses unless its agent reports or sends a heartbeat",
                ),
            ),
        ],
        Behaviour::ConsumerKey => vec![("last_used_at", text("its last use at a gateway"))],
        Behaviour::Job => vec![
            (
                "next_run_at",
                text("when it fires next; null while disabled"),
            ),
            ("last_run_at", text("when it last fired")),
        ],
        Behaviour::Persona => vec![(
            "selectable",
            json!({"type": "boolean", "description": "whether you may start a chat session with it"}),
        )],
        _ => Vec::new(),
    }
}

/// What a re-scope carries along besides the resource itself.
pub async fn derived(tx: &mut Tx, kind: &Kind, r: &ResourceRow) -> Result<Value> {
    match kind.behaviour {
        Behaviour::File => file::derived(tx, r).await,
        _ => Ok(json!({})),
    }
}

/// The blob to remove once a delete has committed, if the kind has one.
pub async fn blob_of(tx: &mut Tx, kind: &Kind, r: &ResourceRow) -> Result<Option<String>> {
    match kind.behaviour {
        Behaviour::File => file::blob_of(tx, r).await.map(Some),
        _ => Ok(None),
    }
}

/// Who a re-scope to `to` would take something from (usernames): a
/// persona's assignments of users who are not members there.
pub async fn rescope_prunes(tx: &mut Tx, kind: &Kind, id: &str, to: &Scope) -> Result<Vec<String>> {
    match kind.behaviour {
        Behaviour::Persona => persona::prunes(tx, id, to).await,
        _ => Ok(Vec::new()),
    }
}

/// What a re-scope must check where the resource goes: a listen path (an
/// API definition's, or those an API gateway serves) clashes with none
/// there.
pub async fn rescope_check(
    tx: &mut Tx,
    kind: &Kind,
    at: &Place<'_>,
    id: &str,
    fields: &Map<String, Value>,
) -> Result<()> {
    match kind.behaviour {
        Behaviour::ApiDefinition | Behaviour::ApiGateway => {
            let unchanged = Map::new();
            let write = Write::Update {
                id,
                changes: &unchanged,
            };
            check(tx, kind, at, fields, &write).await
        }
        _ => Ok(()),
    }
}

/// Does what [`rescope_prunes`] reported, in the re-scope's transaction.
pub async fn rescope_apply(tx: &mut Tx, kind: &Kind, id: &str, to: &Scope) -> Result<()> {
    match kind.behaviour {
        Behaviour::Persona => persona::prune(tx, id, to).await,
        _ => Ok(()),
    }
}

/// A string field, or empty.
fn text<'a>(fields: &'a Map<String, Value>, name: &str) -> &'a str {
    fields.get(name).and_then(Value::as_str).unwrap_or_default()
}
