//! What a caller may choose between, for the edges that offer choices
//! before the operation decides (the web UI's pickers and sign-in form).
//! Each answer comes from core's rules, read in one transaction; the
//! operation itself still checks when it is asked, so a stale offer can
//! only be refused, never widen anything.

use orgscope_core::kind::Kind;
use orgscope_core::policy::{self, Scope};
use orgscope_store::Page;

use crate::{Caller, Env, Result};

/// An org as a picker shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgChoice {
    pub id: String,
    pub slug: String,
    pub name: String,
}

/// Where the caller may place a new resource of a kind.
#[derive(Clone, Debug, Default)]
pub struct Placements {
    /// The orgs it may go into, by name.
    pub orgs: Vec<OrgChoice>,
    /// Whether it may be tenant-wide.
    pub tenant_wide: bool,
    /// The caller's default org, when it is one of `orgs`.
    pub default_org: Option<String>,
}

/// At most this many orgs are offered in one picker.
const MAX_CHOICES: i64 = 500;

/// The orgs the caller can see, by name (at most 500).
pub async fn visible_orgs(env: &Env<'_>, auth: &Caller) -> Result<Vec<OrgChoice>> {
    let mut tx = env.store.read().await?;
    let page = Page {
        limit: MAX_CHOICES,
        after: None,
    };
    let rows = tx
        .orgs(&policy::read_filter(&auth.principal), &page)
        .await?;
    let mut out: Vec<OrgChoice> = rows
        .into_iter()
        .map(|o| OrgChoice {
            id: o.id,
            slug: o.slug,
            name: o.name,
        })
        .collect();
    out.sort_by_key(|o| o.name.to_lowercase());
    Ok(out)
}

/// Where the caller may place a resource of `kind`: each visible org core's
/// `can_place` allows, tenant-wide if it allows that, and the default org.
pub async fn placements(env: &Env<'_>, auth: &Caller, kind: &Kind) -> Result<Placements> {
    placements_among(auth, kind, &visible_orgs(env, auth).await?)
}

/// [`placements`] among the orgs `visible_orgs` answered (a page that has
/// them already asks no second time).
pub fn placements_among(auth: &Caller, kind: &Kind, visible: &[OrgChoice]) -> Result<Placements> {
    let tenant = auth.tenant()?.to_owned();
    let scope = |org: Option<String>| Scope {
        tenant: tenant.as_str().into(),
        org: org.map(Into::into),
    };
    let orgs: Vec<OrgChoice> = visible
        .iter()
        .filter(|o| {
            policy::can_place(&auth.principal, kind.policy, &scope(Some(o.id.clone()))).is_ok()
        })
        .cloned()
        .collect();
    let tenant_wide = policy::can_place(&auth.principal, kind.policy, &scope(None)).is_ok();
    let default_org = auth
        .user
        .as_ref()
        .and_then(|u| u.default_org_id.clone())
        .filter(|d| orgs.iter().any(|o| &o.id == d));
    Ok(Placements {
        orgs,
        tenant_wide,
        default_org,
    })
}

/// Whether signing in needs the tenant named: the server has several (or none).
pub async fn sign_in_needs_tenant(env: &Env<'_>) -> Result<bool> {
    let mut tx = env.store.read().await?;
    Ok(tx.sole_tenant().await?.is_none())
}

// ---------------------------------------------------------------------------
// Added for the web UI's second slice: what the caller's role opens, so a
// page shows only the entries and buttons that can work. Each answer is
// core's rule; the operation still decides when it is asked.

/// What the caller may do beyond its own resources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Powers {
    /// List and manage users (admins; auditors list them).
    pub list_users: bool,
    /// Create and delete orgs, change their slug and parent.
    pub restructure_orgs: bool,
    /// Read some of the audit log: the tenant's (admins, auditors) or the
    /// orgs it manages.
    pub read_audit: bool,
    /// The roles it may give a user (`user`, `admin`, ...).
    pub grantable_roles: Vec<&'static str>,
    /// Choose the tenant it works in (superusers).
    pub pick_tenant: bool,
}

/// What `auth`'s role opens.
#[must_use]
pub fn powers(auth: &Caller) -> Powers {
    use policy::{Actor, Role};
    let p = &auth.principal;
    let manages_some = matches!(&p.actor, Actor::User { managing, .. } if !managing.is_empty());
    Powers {
        list_users: policy::can_list_users(p),
        restructure_orgs: policy::can_restructure_orgs(p),
        read_audit: policy::audit_filter(p).is_some() && (p.sees_tenant() || manages_some),
        grantable_roles: [Role::User, Role::Admin, Role::Auditor, Role::Superuser]
            .into_iter()
            .filter(|r| policy::can_grant_role(p, *r))
            .map(Role::as_str)
            .collect(),
        pick_tenant: policy::spans_tenants(p),
    }
}

/// Whether `auth` manages the org `org` (slug or id) it can see: its
/// members, name and domain. An org it cannot see is a 404.
pub async fn manages_org(env: &Env<'_>, auth: &Caller, org: &str) -> Result<bool> {
    let mut tx = env.store.read().await?;
    let row = crate::orgs::visible_org(&mut tx, auth, org).await?;
    Ok(policy::can_manage_org(
        &auth.principal,
        &row.tenant(),
        &row.org(),
    ))
}

// ---------------------------------------------------------------------------
// Added for the web UI's last slice: whom a picker of people may suggest
// (the add-member field). Core's `named_users` rule, read here; adding a
// member still goes through `orgs::add_member`, which decides.

/// The usernames of the enabled users of the caller's tenant that it may
/// name, sorted (at most 500): every user of the tenant for those who list
/// users (admins, auditors, superusers); otherwise the members of its orgs,
/// itself included.
pub async fn nameable_users(env: &Env<'_>, auth: &Caller) -> Result<Vec<String>> {
    let tenant = auth.tenant()?.to_owned();
    let mut tx = env.store.read().await?;
    let page = Page {
        limit: MAX_CHOICES,
        after: None,
    };
    let mut names = std::collections::BTreeSet::new();
    match policy::named_users(&auth.principal) {
        None => {
            for u in tx.users(Some(&tenant), &page).await? {
                if u.disabled == 0 {
                    names.insert(u.username);
                }
            }
        }
        Some(orgs) => {
            if let Some(me) = &auth.user {
                names.insert(me.username.clone());
            }
            for org in &orgs {
                for m in tx.members(org.as_str(), &page).await? {
                    names.insert(m.username);
                }
            }
        }
    }
    Ok(names
        .into_iter()
        .take(usize::try_from(MAX_CHOICES).unwrap_or(500))
        .collect())
}
