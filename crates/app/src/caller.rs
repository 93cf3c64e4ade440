//! Who is calling an operation: the principal core judges, and what the
//! operations need beside it (the audit name, the user row, how it
//! authenticated, an org key's maker). The edges build it (the server from
//! a token, the CLI as the local operator); operations only read it.

use orgscope_core::policy::{Actor, Principal, Role};
use orgscope_store::UserRow;

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
