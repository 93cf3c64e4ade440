//! Tenants: made and listed by superusers, each with its default org.

use orgscope_store::{Page, StoreError, TenantRow};
use serde_json::{Value, json};

use crate::audit::{Change, audit};
use crate::input::{listing, only_fields, text};
use crate::{Caller, Env, Error, Result};

fn render_tenant(t: &TenantRow) -> Value {
    json!({"id": t.id, "kind": "tenant", "slug": t.slug, "name": t.name, "created_at": t.created_at})
}

fn superuser(auth: &Caller) -> Result<()> {
    if orgscope_core::policy::spans_tenants(&auth.principal) {
        Ok(())
    } else {
        Err(Error::Forbidden("only superusers manage tenants".into()))
    }
}

/// The server's tenants (superusers).
pub async fn list(env: &Env<'_>, auth: &Caller, page: &Page) -> Result<Value> {
    superuser(auth)?;
    let mut tx = env.store.read().await?;
    let rows = tx.tenants(page).await?;
    Ok(listing(rows, page, |t| t.id.clone(), render_tenant))
}

/// A new tenant (`{slug, name}`) with its `default` org (superusers).
pub async fn create(env: &Env<'_>, auth: &Caller, body: &Value) -> Result<Value> {
    superuser(auth)?;
    only_fields(body, &["slug", "name"])?;
    let slug = text(body, "slug", 63)?.to_owned();
    orgscope_core::check_slug(&slug).map_err(Error::Invalid)?;
    let name = text(body, "name", 200)?.to_owned();
    let mut tx = env.store.write().await?;
    let tenant = tx.tenant_create(&slug, &name).await.map_err(|e| match e {
        StoreError::Duplicate(_) => {
            Error::conflict("slug: a tenant with that slug already exists; choose another")
        }
        e => e.into(),
    })?;
    let org = tx
        .org_create(&tenant.id, "default", "Default", None, None)
        .await?;
    let mut out = render_tenant(&tenant);
    out["default_org"] = json!({"id": org.id, "slug": org.slug});
    audit(
        &mut tx,
        auth,
        Some(&tenant.id),
        Change {
            action: "tenant.create",
            kind: "tenant",
            target: &tenant.id,
            org: None,
            before: None,
            after: Some(out.clone()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}
