//! Personas: moved into an org, they keep only that org's members among
//! their assignments (a restricted persona stays restricted).

use orgscope_core::policy::Scope;
use orgscope_store::Tx;

use crate::Result;

pub async fn prunes(tx: &mut Tx, id: &str, to: &Scope) -> Result<Vec<String>> {
    let Some(org) = &to.org else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (user, name) in tx.assignments(id).await? {
        if tx.member(org, &user).await.is_err() {
            out.push(name);
        }
    }
    Ok(out)
}

pub async fn prune(tx: &mut Tx, id: &str, to: &Scope) -> Result<()> {
    if let Some(org) = &to.org {
        tx.assignments_prune(id, org).await?;
    }
    Ok(())
}
