//! Files: a blob with its size, hash and extraction state; their knowledge
//! entries follow them (a join, never a copy).

use orgscope_core::policy::{self, SystemRead};
use orgscope_store::{ResourceRow, Tx};
use serde_json::{Value, json};

use crate::Result;

pub async fn present(tx: &mut Tx, r: &ResourceRow) -> Result<Value> {
    // `r` was read through the caller's filter.
    let filter = policy::system_filter(&r.tenant(), None, SystemRead::AlreadyAdmitted);
    let f = tx.file(&filter, &r.id).await?;
    Ok(crate::files::render(&f))
}

pub async fn derived(tx: &mut Tx, r: &ResourceRow) -> Result<Value> {
    Ok(json!({"knowledge_entries": tx.knowledge_count(&r.id).await?}))
}

pub async fn blob_of(tx: &mut Tx, r: &ResourceRow) -> Result<String> {
    // `r` was admitted (for writing) in this transaction.
    let filter = policy::system_filter(&r.tenant(), None, SystemRead::AlreadyAdmitted);
    Ok(tx.file(&filter, &r.id).await?.blob_key)
}
