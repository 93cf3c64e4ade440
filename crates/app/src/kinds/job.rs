//! Jobs: a cron schedule in a time zone that makes a task at each firing.
//! The command is judged when it is written (and at each firing); the next
//! firing is kept beside the row for the scheduler.

use orgscope_store::Tx;
use serde_json::{Map, Value};

use super::{Place, Write, text};
use crate::{Error, Result};

pub async fn check(
    tx: &mut Tx,
    at: &Place<'_>,
    fields: &Map<String, Value>,
    write: &Write<'_>,
) -> Result<()> {
    let command_written = match write {
        Write::Create => true,
        Write::Update { changes, .. } => changes.contains_key("command"),
    };
    if command_written {
        crate::agents::blacklist_check(tx, at.tenant, at.org, text(fields, "command")).await?;
    }
    next(fields).map(|_| ())
}

pub async fn after_write(tx: &mut Tx, id: &str, fields: &Map<String, Value>) -> Result<()> {
    let enabled = fields
        .get("enabled")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let next = next(fields)?;
    tx.job_schedule_set(id, enabled.then_some(next.as_str()))
        .await?;
    Ok(())
}

fn next(fields: &Map<String, Value>) -> Result<String> {
    crate::agents::next_firing(
        text(fields, "schedule"),
        fields.get("timezone").and_then(Value::as_str),
        chrono::Utc::now(),
    )
    .map_err(Error::Invalid)
}
