//! Who is calling an operation: the principal core judges, and what the
//! operations need beside it (the audit name, the user row, how it
//! authenticated, an org key's maker). The edges build it (the server from
//! a token, the CLI as the local operator); operations only read it.

use std::collections::BTreeSet;

use orgscope_core::ids::{OrgId, TenantId, UserId};
use orgscope_core::policy::{self, Access, Actor, Principal, Role, Scope};
use orgscope_store::{ResourceRow, Store, StoreError, Tx, UserRow};

use crate::error::{Error, Result};
use crate::secrets::{ORG_KEY_PREFIX, PERSONAL_TOKEN_PREFIX, SESSION_PREFIX, ct_eq, hash_secret};

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
            Actor::User { id, .. } => id.to_string(),
            Actor::OrgKey { id, .. } => id.clone(),
        }
    }

    pub fn is_superuser(&self) -> bool {
        self.principal.role() == Some(Role::Superuser)
    }
}

/// Loads the role and memberships of a user as a principal acting in `tenant`.
pub async fn user_principal(tx: &mut Tx, user: &UserRow, tenant: TenantId) -> Result<Principal> {
    let memberships = tx.memberships_of(&user.id).await?;
    principal_of(user, tenant, memberships)
}

/// A user with these memberships `(org, can_manage)` as a principal acting
/// in `tenant`.
pub fn principal_of(
    user: &UserRow,
    tenant: TenantId,
    memberships: impl IntoIterator<Item = (String, i64)>,
) -> Result<Principal> {
    let role = Role::parse(&user.role)
        .ok_or_else(|| Error::Internal(format!("user {} has role {}", user.id, user.role)))?;
    let mut member_of = BTreeSet::new();
    let mut managing = BTreeSet::new();
    for (org, can_manage) in memberships {
        let org = OrgId::from(org);
        if can_manage != 0 {
            managing.insert(org.clone());
        }
        member_of.insert(org);
    }
    Ok(Principal {
        tenant,
        actor: Actor::User {
            id: UserId::from(&user.id),
            role,
            member_of,
            managing,
        },
    })
}

/// The actor id and name of the local operator in resources and the audit log.
pub const LOCAL_OPERATOR: &str = "local-cli";

/// The request's principal as the database says it is now, read in `tx`:
/// a write checked at the start of a long request (an upload) is checked
/// again in the transaction that writes, so a membership removed, a user
/// disabled or a key revoked meanwhile is seen.
pub async fn principal_now(tx: &mut Tx, auth: &Caller) -> Result<Principal> {
    match (&auth.principal.actor, &auth.user) {
        (Actor::User { .. }, Some(user)) => {
            let (user, memberships) = match tx.user_with_memberships_for_auth(&user.id).await {
                Ok((u, m)) if u.disabled == 0 => (u, m),
                Ok(_) | Err(StoreError::NotFound) => return Err(Error::Unauthorized),
                Err(e) => return Err(e.into()),
            };
            principal_of(&user, auth.principal.tenant.clone(), memberships)
        }
        (Actor::OrgKey { id, org, access }, _) => {
            // The key still exists (not revoked, its org not deleted)...
            let scope = Scope {
                tenant: auth.principal.tenant.clone(),
                org: Some(org.clone()),
            };
            let filter =
                policy::system_filter(&scope.tenant, None, policy::SystemRead::AlreadyAdmitted);
            let key = match tx.resource("api_key", &filter, id).await {
                Ok(k) => k,
                Err(StoreError::NotFound) => return Err(Error::Unauthorized),
                Err(e) => return Err(e.into()),
            };
            // ...and its maker still holds the org.
            let maker = key_maker(tx, &key).await?;
            let access = policy::key_access(*access, &maker, &scope).ok_or(Error::Unauthorized)?;
            Ok(Principal {
                tenant: scope.tenant,
                actor: Actor::OrgKey {
                    id: id.clone(),
                    org: org.clone(),
                    access,
                },
            })
        }
        // The local operator is the operator for as long as the process runs.
        _ => Ok(auth.principal.clone()),
    }
}

/// The maker of an org key as a principal in the key's tenant, as they are
/// now. Keys made by the local operator (`orgscope key create` on the
/// database) have the operator's rights: a superuser's.
pub async fn key_maker(tx: &mut Tx, key: &ResourceRow) -> Result<Principal> {
    let tenant = key.tenant();
    match key.created_by.as_deref() {
        Some(LOCAL_OPERATOR) => Ok(operator(tenant)),
        Some(maker) => match tx.user_with_memberships_for_auth(maker).await {
            Ok((user, memberships)) if user.disabled == 0 => {
                principal_of(&user, tenant, memberships)
            }
            Ok(_) | Err(StoreError::NotFound) => Err(Error::Unauthorized),
            Err(e) => Err(e.into()),
        },
        None => Err(Error::Unauthorized),
    }
}

/// The local operator as a principal: a superuser acting in `tenant`.
fn operator(tenant: TenantId) -> Principal {
    Principal {
        tenant,
        actor: Actor::User {
            id: LOCAL_OPERATOR.into(),
            role: Role::Superuser,
            member_of: BTreeSet::new(),
            managing: BTreeSet::new(),
        },
    }
}

fn expired(expires_at: Option<&str>) -> bool {
    expires_at.is_some_and(|t| t <= orgscope_store::now().as_str())
}

/// The tenant a superuser acts in: the one it names (slug or id), else the
/// server's only tenant, else none.
async fn superuser_tenant(tx: &mut Tx, named: Option<&str>) -> Result<String> {
    if let Some(reference) = named {
        return match tx.tenant(reference).await {
            Ok(t) => Ok(t.id),
            Err(StoreError::NotFound) => Err(Error::not_found("tenant", reference)),
            Err(e) => Err(e.into()),
        };
    }
    Ok(tx.sole_tenant().await?.map(|t| t.id).unwrap_or_default())
}

/// The operator working on the database directly (the CLI's local mode): a
/// superuser acting in the tenant it names, or the only one.
pub async fn local_operator(store: &Store, tenant: Option<&str>) -> Result<Caller> {
    let mut tx = store.read().await?;
    let tenant = superuser_tenant(&mut tx, tenant).await?;
    store.keep(tx);
    Ok(Caller {
        principal: operator(TenantId::from(tenant)),
        actor_name: LOCAL_OPERATOR.into(),
        user: None,
        credential: Credential::Local,
        maker: None,
    })
}

/// An org key as the principal it acts as now, with its maker; `None` when
/// it is inert: expired, or its maker disabled, gone or without rights in
/// its org (a key never outdoes its maker).
pub async fn key_principal(
    tx: &mut Tx,
    key: &ResourceRow,
) -> Result<Option<(Principal, Principal)>> {
    let fields: serde_json::Value = serde_json::from_str(&key.fields).unwrap_or_default();
    let access = fields["access"]
        .as_str()
        .and_then(Access::parse)
        .ok_or_else(|| Error::Internal(format!("key {} has no access", key.id)))?;
    if expired(fields["expires_at"].as_str()) {
        return Ok(None);
    }
    let Some(org) = key.org_id.as_deref().map(OrgId::from) else {
        return Ok(None);
    };
    let maker = match key_maker(tx, key).await {
        Ok(maker) => maker,
        Err(Error::Unauthorized) => return Ok(None),
        Err(e) => return Err(e),
    };
    let scope = Scope {
        tenant: key.tenant(),
        org: Some(org.clone()),
    };
    let Some(access) = policy::key_access(access, &maker, &scope) else {
        return Ok(None);
    };
    let principal = Principal {
        tenant: key.tenant(),
        actor: Actor::OrgKey {
            id: key.id.clone(),
            org,
            access,
        },
    };
    Ok(Some((principal, maker)))
}

/// The caller a secret stands for (a password session, a personal token or
/// an org key), as the database says now: memberships read fresh, a key
/// capped by its maker's rights in its org. `tenant` is the tenant a
/// superuser names. Anything that does not work is `Unauthorized`, alike.
/// Its transaction is kept for the request's first read
/// ([`Store::keeping`]).
pub async fn authenticate(store: &Store, secret: &str, tenant: Option<&str>) -> Result<Caller> {
    let mut tx = store.read().await?;
    let hash = hash_secret(secret);
    if secret.starts_with(ORG_KEY_PREFIX) {
        let (key, creator_disabled) = match tx.key_by_hash_for_auth(&hash).await {
            Ok(found) => found,
            Err(StoreError::NotFound) => return Err(Error::Unauthorized),
            Err(e) => return Err(e.into()),
        };
        let stored = key.secret.as_deref().unwrap_or("");
        if !ct_eq(stored.as_bytes(), hash.as_bytes()) || creator_disabled != 0 {
            return Err(Error::Unauthorized);
        }
        let Some((principal, maker)) = key_principal(&mut tx, &key).await? else {
            return Err(Error::Unauthorized);
        };
        store.keep(tx);
        return Ok(Caller {
            principal,
            actor_name: format!("key:{}", key.id),
            user: None,
            credential: Credential::OrgKey,
            maker: Some(maker),
        });
    }
    if !(secret.starts_with(SESSION_PREFIX) || secret.starts_with(PERSONAL_TOKEN_PREFIX)) {
        return Err(Error::Unauthorized);
    }
    let (token, stored, user, memberships) = match tx.token_and_user_for_auth(&hash).await {
        Ok(found) => found,
        Err(StoreError::NotFound) => return Err(Error::Unauthorized),
        Err(e) => return Err(e.into()),
    };
    if !ct_eq(stored.as_bytes(), hash.as_bytes()) || expired(token.expires_at.as_deref()) {
        return Err(Error::Unauthorized);
    }
    if user.disabled != 0 {
        return Err(Error::Unauthorized);
    }
    let tenant = match &user.tenant_id {
        Some(t) => t.clone(),
        None => superuser_tenant(&mut tx, tenant).await?,
    };
    let principal = principal_of(&user, TenantId::from(tenant), memberships)?;
    let credential = if token.kind == "session" {
        Credential::Session { hash }
    } else {
        Credential::PersonalToken
    };
    store.keep(tx);
    Ok(Caller {
        principal,
        actor_name: user.username.clone(),
        user: Some(user),
        credential,
        maker: None,
    })
}
