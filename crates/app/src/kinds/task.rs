//! Tasks: one agent on one host, queued once made. The command is judged by
//! the blacklists in force in the task's org when it is made (and again when
//! an agent claims it); agent, host and command are fixed after that.

use orgscope_core::kind::Kind;
use orgscope_store::{ResourceRow, Tx};
use serde_json::{Map, Value};

use super::{Place, Write, text};
use crate::Result;

pub async fn check(
    tx: &mut Tx,
    at: &Place<'_>,
    fields: &Map<String, Value>,
    write: &Write<'_>,
) -> Result<()> {
    match write {
        Write::Create => {
            crate::agents::blacklist_check(tx, at.tenant, at.org, text(fields, "command")).await
        }
        // Agent, host and command are fixed (core's table refuses them in an
        // update), so an update is a rename: a command allowed when the task
        // was made is not re-judged by a blacklist made since.
        Write::Update { .. } => Ok(()),
    }
}

pub async fn after_write(
    tx: &mut Tx,
    id: &str,
    fields: &Map<String, Value>,
    write: &Write<'_>,
) -> Result<()> {
    if let Write::Create = write {
        tx.task_enqueue(id, text(fields, "agent")).await?;
    }
    Ok(())
}

pub async fn present(tx: &mut Tx, kind: &Kind, r: &ResourceRow) -> Result<Value> {
    let mut out = crate::resources::render(kind, r);
    crate::agents::add_state(&mut out, &tx.task_state(&r.id).await?);
    Ok(out)
}
