//! Consumer keys: gateway credentials, shown with their last use.

use orgscope_core::kind::Kind;
use orgscope_store::{ResourceRow, Tx};
use serde_json::{Value, json};

use crate::Result;

pub async fn present(tx: &mut Tx, kind: &Kind, r: &ResourceRow) -> Result<Value> {
    let mut out = crate::resources::render(kind, r);
    out["last_used_at"] = json!(tx.key_last_used(&r.id).await?);
    Ok(out)
}
