//! Tenants: made and listed by superusers, each with its default org.

use orgscope_store::{Page, Store, StoreError, TenantRow};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::audit::{Change, audit, snapshot};
use crate::input::{Listing, listing, required};
use crate::orgs::OrgRef;
use crate::{Caller, Env, Error, Result};

/// A tenant as `POST /api/v1/tenants` takes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// 2-63 of a-z, 0-9 and '-'; unique on the server.
    pub slug: String,
    pub name: String,
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tenant {
    pub id: String,
    /// Always `tenant`.
    pub kind: String,
    pub slug: String,
    pub name: String,
    pub created_at: String,
    /// On creation: the org made with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_org: Option<OrgRef>,
}

fn render_tenant(t: &TenantRow) -> Tenant {
    Tenant {
        id: t.id.clone(),
        kind: "tenant".into(),
        slug: t.slug.clone(),
        name: t.name.clone(),
        created_at: t.created_at.clone(),
        default_org: None,
    }
}

fn superuser(auth: &Caller) -> Result<()> {
    if orgscope_core::policy::spans_tenants(&auth.principal) {
        Ok(())
    } else {
        Err(Error::Forbidden("only superusers manage tenants".into()))
    }
}

/// The server's tenants (superusers).
pub async fn list(env: &Env<'_>, auth: &Caller, page: &Page) -> Result<Listing<Tenant>> {
    superuser(auth)?;
    let mut tx = env.store.read().await?;
    let rows = tx.tenants(page).await?;
    Ok(listing(rows, page, |t| t.id.clone(), render_tenant))
}

/// The tenant a superuser names to work in (slug or id): the web UI keeps
/// it for the session, the JSON API takes it per request.
pub async fn enter(env: &Env<'_>, auth: &Caller, reference: &str) -> Result<Tenant> {
    superuser(auth)?;
    let mut tx = env.store.read().await?;
    match tx.tenant(reference.trim()).await {
        Ok(t) => Ok(render_tenant(&t)),
        Err(StoreError::NotFound) => Err(Error::not_found("tenant", reference)),
        Err(e) => Err(e.into()),
    }
}

/// A new tenant (`{slug, name}`) with its `default` org (superusers).
pub async fn create(env: &Env<'_>, auth: &Caller, input: &NewTenant) -> Result<Tenant> {
    superuser(auth)?;
    let slug = required("slug", &input.slug, 63)?.to_owned();
    orgscope_core::check_slug(&slug).map_err(Error::Invalid)?;
    let name = required("name", &input.name, 200)?.to_owned();
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
    out.default_org = OrgRef::of(Some(&org.id), Some(&org.slug));
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
            after: Some(snapshot(&out)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// What a first start made.
pub struct Bootstrapped {
    pub tenant: String,
    pub org: String,
    /// The admin's password when it was generated (printed once).
    pub generated_password: Option<String>,
}

/// Makes the first tenant, its admin (`admin`) and its default org, once.
/// Returns `None` when the database already has a tenant.
pub async fn bootstrap(
    store: &Store,
    admin_password: Option<String>,
) -> Result<Option<Bootstrapped>> {
    let mut tx = store.write().await?;
    if !tx
        .tenants(&orgscope_store::Page {
            limit: 1,
            after: None,
        })
        .await?
        .is_empty()
    {
        return Ok(None);
    }
    let (password, generated) = match admin_password.filter(|p| !p.is_empty()) {
        Some(p) => (p, false),
        None => {
            let p = crate::secrets::new_secret("");
            (p[..24].to_owned(), true)
        }
    };
    let hash = crate::secrets::hash_password(&password).map_err(|_| {
        Error::Invalid("ORGSCOPE_ADMIN_PASSWORD must be at least 8 characters".into())
    })?;
    let tenant = match tx.tenant_create("default", "Default").await {
        Ok(t) => t,
        // Another replica starting at the same moment made it first.
        Err(StoreError::Duplicate(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let org = tx
        .org_create(&tenant.id, "default", "Default", None, None)
        .await?;
    let admin = tx
        .user_create(Some(&tenant.id), "admin", &hash, "admin", Some(&org.id))
        .await?;
    tx.member_put(&org.id, &admin.id, true).await?;
    tx.audit_append(&orgscope_store::NewAudit {
        tenant_id: Some(tenant.id.clone()),
        actor: "bootstrap".into(),
        actor_id: None,
        action: "tenant.bootstrap".into(),
        kind: "tenant".into(),
        target: tenant.id.clone(),
        org_id: None,
        other_org_id: None,
        before: None,
        after: Some(
            json!({"tenant": tenant.slug, "org": org.slug, "admin": admin.username}).to_string(),
        ),
    })
    .await?;
    tx.commit().await?;
    Ok(Some(Bootstrapped {
        tenant: tenant.slug,
        org: org.slug,
        generated_password: generated.then_some(password),
    }))
}
