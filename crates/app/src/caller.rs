//! Who is calling an operation: the principal core judges, and what the
//! operations need beside it (the audit name, the user row, how it
//! authenticated, an org key's maker). The edges build it (the server from
//! a token, the CLI as the local operator); operations only read it.

use std::collections::BTreeSet;

use orgscope_core::policy::{Actor, Principal, Role};
use orgscope_store::{Tx, UserRow};

use crate::error::{Error, Result};

/// How the principal authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    Session { hash: String },
    PersonalToken,
    OrgKey,
    Local,
}

/// The authenticated principal of a request, with what handlers need
/// besides the policy's view of it.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    /// For the audit log: a username, `key:<id>` or `local-cli`.
    pub actor_name: String,
    pub user: Option<UserRow>,
    pub credential: Credential,
    /// For an org key: its maker as a principal, loaded at this use (a key
    /// never outdoes its maker; reveal asks about the maker too).
    pub maker: Option<Principal>,
}

impl Caller {
    /// The tenant this request acts in. Superusers name one with the
    /// `X-Orgscope-Tenant` header unless the server has only one.
    pub fn tenant(&self) -> Result<&str> {
        if self.principal.tenant.is_empty() {
            return Err(Error::Invalid(
                "no tenant: as a superuser, name the tenant with the X-Orgscope-Tenant header (slug or id)".into(),
            ));
        }
        Ok(&self.principal.tenant)
    }

    /// Who to record as a resource's creator: the user, or the org key.
    pub fn actor_id(&self) -> String {
        match &self.principal.actor {
            Actor::User { id, .. } | Actor::OrgKey { id, .. } => id.clone(),
        }
    }

    pub fn is_superuser(&self) -> bool {
        self.principal.role() == Some(Role::Superuser)
    }
}

/// Loads the role and memberships of a user as a principal acting in `tenant`.
pub async fn user_principal(tx: &mut Tx, user: &UserRow, tenant: String) -> Result<Principal> {
    let memberships = tx.memberships_of(&user.id).await?;
    principal_of(user, tenant, memberships)
}

/// A user with these memberships `(org, can_manage)` as a principal acting
/// in `tenant`.
pub fn principal_of(
    user: &UserRow,
    tenant: String,
    memberships: impl IntoIterator<Item = (String, i64)>,
) -> Result<Principal> {
    let role = Role::parse(&user.role)
        .ok_or_else(|| Error::Internal(format!("user {} has role {}", user.id, user.role)))?;
    let mut member_of = BTreeSet::new();
    let mut managing = BTreeSet::new();
    for (org, can_manage) in memberships {
        if can_manage != 0 {
            managing.insert(org.clone());
        }
        member_of.insert(org);
    }
    Ok(Principal {
        tenant,
        actor: Actor::User {
            id: user.id.clone(),
            role,
            member_of,
            managing,
        },
    })
}
