//! Orgs as a caller names them: in `org=` selectors and `org` body fields,
//! by slug or id, answered as missing when hidden.

use orgscope_core::policy::{self, OrgSelector};
use orgscope_store::{OrgRow, StoreError, Tx};
use serde_json::{Value, json};

use crate::{Caller, Error, Result};

/// The `org=` query value as a selector. An org the caller cannot see is a
/// 404, exactly as one that does not exist.
pub async fn selector(tx: &mut Tx, auth: &Caller, org: Option<&str>) -> Result<OrgSelector> {
    match org {
        None | Some("all") => Ok(OrgSelector::All),
        Some("tenant" | "none") => Ok(OrgSelector::TenantWide),
        Some(reference) => {
            let row = visible_org(tx, auth, reference).await?;
            Ok(OrgSelector::Org(row.id))
        }
    }
}

/// An org the caller can see, by slug or id; 404 otherwise.
pub async fn visible_org(tx: &mut Tx, auth: &Caller, reference: &str) -> Result<OrgRow> {
    let filter = policy::read_filter(&auth.principal);
    match tx.org(&filter, reference).await {
        Ok(org) => Ok(org),
        Err(StoreError::NotFound) => Err(Error::not_found("org", reference)),
        Err(e) => Err(e.into()),
    }
}

/// Resolves the `org` field of a body: absent = the caller's default org (an
/// org key's own org), `null` = tenant-wide, otherwise a slug or id the caller
/// can see. Never falls back to anything else.
pub async fn org_field(tx: &mut Tx, auth: &Caller, body: &Value) -> Result<Option<OrgRow>> {
    match body.get("org") {
        None => {
            let default = match &auth.principal.actor {
                policy::Actor::OrgKey { org, .. } => Some(org.clone()),
                policy::Actor::User { .. } => {
                    auth.user.as_ref().and_then(|u| u.default_org_id.clone())
                }
            };
            match default {
                Some(id) => Ok(Some(visible_org(tx, auth, &id).await?)),
                None => Err(Error::Invalid(
                    "org: you have no default org; give an org slug or id, or null for tenant-wide"
                        .into(),
                )),
            }
        }
        Some(Value::Null) => Ok(None),
        Some(Value::String(reference)) => match visible_org(tx, auth, reference).await {
            Ok(org) => Ok(Some(org)),
            Err(Error::NotFound(_)) => Err(Error::Invalid(format!(
                "org: no org '{reference}'; give the slug or id of an org you belong to, or null for tenant-wide"
            ))),
            Err(e) => Err(e),
        },
        Some(_) => Err(Error::Invalid(
            "org: must be an org slug or id, or null for tenant-wide".into(),
        )),
    }
}

/// `{id, slug}` of an org, or null.
pub fn org_ref(id: Option<&str>, slug: Option<&str>) -> Value {
    match id {
        Some(id) => json!({ "id": id, "slug": slug }),
        None => Value::Null,
    }
}
