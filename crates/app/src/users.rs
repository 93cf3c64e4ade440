//! Users of a tenant: created by admins, changed by themselves (password,
//! default org) and by admins (role, disabled), deleted by admins; the
//! rules are core's (`can_change_account`).

use orgscope_core::ids::TenantId;
use orgscope_core::policy::{self, AccountChange, AccountRefusal, Role, SystemRead};
use orgscope_store::{Page, StoreError, Tx, UserRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{Change, audit, snapshot};
use crate::input::{Listing, next_cursor, nullable, required};
use crate::orgs::OrgRef;
use crate::secrets::{hash_password_off, off_the_workers, verify_password};
use crate::{Caller, Credential, Env, Error, Result};

/// A user as `POST /api/v1/users` takes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1-64 of letters, digits, '.', '_', '-' or '@'; unique in the tenant.
    pub username: String,
    pub password: String,
    /// user (the default), admin, auditor or superuser.
    #[serde(default)]
    pub role: Option<String>,
    /// An org slug or id; the user becomes its member.
    #[serde(default)]
    pub default_org: Option<String>,
}

/// What `PATCH /api/v1/users/{user}` changes; absent fields stay.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChanges {
    /// Admins only: user, admin, auditor or superuser.
    #[serde(default)]
    pub role: Option<String>,
    /// Admins only: a disabled user's sessions, tokens and keys end.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// A new password; your own needs `current_password` too.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub current_password: Option<String>,
    /// An org slug or id the user is a member of, or null for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub default_org: Option<Option<String>>,
}

/// A user, as admins and the user themselves see them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    /// Always `user`.
    pub kind: String,
    pub username: String,
    /// user, admin, auditor or superuser.
    pub role: String,
    /// The tenant's id; null for superusers.
    pub tenant: Option<String>,
    pub default_org: Option<OrgRef>,
    pub disabled: bool,
    pub created_at: String,
    pub updated_at: String,
    /// After a change that ended sessions or tokens of the user: how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_revoked: Option<u64>,
    /// After a change that revoked the org keys the user made: their ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys_revoked: Vec<String>,
}

/// What `DELETE /api/v1/users/{user}` removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedUser {
    pub deleted: User,
    /// The org keys the user had made: revoked with them.
    pub keys_revoked: Vec<String>,
}

pub fn render_user(u: &UserRow, default_org_slug: Option<&str>) -> User {
    User {
        id: u.id.clone(),
        kind: "user".into(),
        username: u.username.clone(),
        role: u.role.clone(),
        tenant: u.tenant_id.clone(),
        default_org: OrgRef::of(u.default_org_id.as_deref(), default_org_slug),
        disabled: u.disabled != 0,
        created_at: u.created_at.clone(),
        updated_at: u.updated_at.clone(),
        tokens_revoked: None,
        keys_revoked: Vec::new(),
    }
}

pub async fn render_user_in(tx: &mut Tx, u: &UserRow) -> Result<User> {
    let slug = match (&u.default_org_id, &u.tenant_id) {
        (Some(org), Some(tenant)) => tx
            .org(
                // The user was read through the caller's rules; their
                // default org is one they belong to.
                &policy::system_filter(&TenantId::from(tenant), None, SystemRead::Accounts),
                org,
            )
            .await
            .ok()
            .map(|o| o.slug),
        _ => None,
    };
    Ok(render_user(u, slug.as_deref()))
}

fn check_username(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
        && !name.starts_with(['_', '-', '.']);
    if !ok {
        return Err(Error::Invalid(format!(
            "username: '{name}' is invalid: use 1-64 letters, digits, '.', '_', '-' or '@'"
        )));
    }
    // Users are named by username or id: a username must not read as an id.
    if name.starts_with("usr_") {
        return Err(Error::Invalid(format!(
            "username: '{name}' looks like a user id (usr_…); choose another"
        )));
    }
    Ok(())
}

/// Core's refusal of an account change, as an answer.
fn refused(r: AccountRefusal) -> Error {
    match r {
        AccountRefusal::Forbidden(why) => Error::Forbidden(why.into()),
        AccountRefusal::Invalid(why) => Error::Invalid(why.into()),
    }
}

/// A user the caller can see: admins, auditors and superusers see the
/// tenant's users, everyone else only themselves.
async fn visible_user(tx: &mut Tx, auth: &Caller, reference: &str) -> Result<UserRow> {
    let found = match tx.user(Some(auth.tenant()?), reference).await {
        Err(StoreError::NotFound) if auth.is_superuser() => tx.user(None, reference).await,
        other => other,
    };
    match found {
        Ok(u)
            if policy::can_list_users(&auth.principal)
                || auth.principal.user_id() == Some(&u.id) =>
        {
            Ok(u)
        }
        Ok(_) | Err(StoreError::NotFound) => Err(Error::not_found("user", reference)),
        Err(e) => Err(e.into()),
    }
}

pub async fn list_users(env: &Env<'_>, auth: &Caller, page: &Page) -> Result<Listing<User>> {
    if !policy::can_list_users(&auth.principal) {
        return Err(Error::Forbidden(
            "only admins and auditors list users; GET /api/v1/me shows yourself".into(),
        ));
    }
    let mut tx = env.store.read().await?;
    let mut rows = tx.users(Some(auth.tenant()?), page).await?;
    let next = next_cursor(&mut rows, page, |u| u.id.clone());
    let mut items = Vec::with_capacity(rows.len());
    for u in &rows {
        items.push(render_user_in(&mut tx, u).await?);
    }
    Ok(Listing {
        items,
        next_cursor: next,
    })
}

fn parse_role(r: &str) -> Result<Role> {
    Role::parse(r).ok_or_else(|| {
        Error::Invalid(format!(
            "role: '{r}' is not a role; use user, admin, auditor or superuser"
        ))
    })
}

pub async fn create_user(env: &Env<'_>, auth: &Caller, input: &NewUser) -> Result<User> {
    let username = required("username", &input.username, 64)?.to_owned();
    check_username(&username)?;
    let password = required("password", &input.password, 1024)?;
    let role = input.role.as_deref().map_or(Ok(Role::User), parse_role)?;
    policy::can_change_account(
        &auth.principal,
        &auth.principal.tenant,
        None,
        AccountChange::Create { role },
    )
    .map_err(refused)?;
    let hash = hash_password_off(password.to_owned()).await?;
    let tenant = if role == Role::Superuser {
        None
    } else {
        Some(auth.tenant()?.to_owned())
    };
    let mut tx = env.store.write().await?;
    let default_org = match (&input.default_org, &tenant) {
        (None, _) => None,
        (Some(o), Some(_)) => Some(
            crate::orgs::visible_org(&mut tx, auth, o)
                .await
                .map_err(|_| Error::Invalid(format!("default_org: no org '{o}'")))?,
        ),
        (Some(_), None) => {
            return Err(Error::Invalid(
                "default_org: superusers have no default org; leave it out".into(),
            ));
        }
    };
    let user = tx
        .user_create(
            tenant.as_deref(),
            &username,
            &hash,
            role.as_str(),
            default_org.as_ref().map(|o| o.id.as_str()),
        )
        .await
        .map_err(|e| match e {
            StoreError::Duplicate(_) => Error::conflict(format!(
                "username: '{username}' is already taken; choose another"
            )),
            e => e.into(),
        })?;
    if let Some(org) = &default_org {
        tx.member_put(&org.id, &user.id, false).await?;
    }
    let out = render_user(&user, default_org.as_ref().map(|o| o.slug.as_str()));
    audit(
        &mut tx,
        auth,
        tenant.as_deref(),
        Change {
            action: "user.create",
            kind: "user",
            target: &user.id,
            org: None,
            before: None,
            after: Some(snapshot(&out)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

pub async fn get_user(env: &Env<'_>, auth: &Caller, user: &str) -> Result<User> {
    let mut tx = env.store.read().await?;
    let u = visible_user(&mut tx, auth, user).await?;
    render_user_in(&mut tx, &u).await
}

pub async fn update_user(
    env: &Env<'_>,
    auth: &Caller,
    user: &str,
    input: &UserChanges,
) -> Result<User> {
    let mut tx = env.store.write().await?;
    let before = visible_user(&mut tx, auth, user).await?;
    let myself = auth.principal.user_id() == Some(before.id.as_str());
    let target_role = Role::parse(&before.role)
        .ok_or_else(|| Error::Internal(format!("user {} has role {}", before.id, before.role)))?;
    let may = |change| {
        policy::can_change_account(
            &auth.principal,
            before
                .tenant_id
                .as_deref()
                .unwrap_or(&auth.principal.tenant),
            Some((before.id.as_str(), target_role)),
            change,
        )
        .map_err(refused)
    };
    let mut after = before.clone();
    if let Some(role) = &input.role {
        let role = parse_role(role)?;
        may(AccountChange::SetRole { to: role })?;
        after.role = role.as_str().to_owned();
    }
    if let Some(disabled) = input.disabled {
        may(if disabled {
            AccountChange::Disable
        } else {
            AccountChange::Enable
        })?;
        after.disabled = i64::from(disabled);
    }
    if let Some(password) = &input.password {
        may(AccountChange::SetPassword)?;
        let password = required("password", password, 1024)?;
        // Whoever holds a session of yours must not lock you out: your own
        // password changes only with the current one.
        if myself {
            let current = input.current_password.as_deref().ok_or_else(|| {
                Error::Invalid("current_password: is required to change your own password".into())
            })?;
            let (current, stored) = (current.to_owned(), before.password_hash.clone());
            let matches = off_the_workers(move || verify_password(&current, Some(&stored))).await?;
            if !matches {
                return Err(Error::Forbidden(
                    "current_password: is not your password".into(),
                ));
            }
        }
        after.password_hash = hash_password_off(password.to_owned()).await?;
    } else if input.current_password.is_some() {
        return Err(Error::Invalid(
            "current_password: goes with password, to change it".into(),
        ));
    }
    if let Some(org) = &input.default_org {
        may(AccountChange::SetDefaultOrg)?;
        after.default_org_id = match org {
            None => None,
            Some(o) => {
                let tenant = before.tenant_id.clone().ok_or_else(|| {
                    Error::Invalid("default_org: superusers have no default org".into())
                })?;
                // Looked up as the caller sees orgs: one hidden from them
                // answers as one that does not exist.
                let filter = if auth.principal.sees_tenant() {
                    // Admins and auditors see every org of the user's tenant.
                    policy::system_filter(&TenantId::from(tenant), None, SystemRead::Accounts)
                } else {
                    policy::read_filter(&auth.principal)
                };
                let row = tx
                    .org(&filter, o)
                    .await
                    .map_err(|_| Error::Invalid(format!("default_org: no org '{o}'")))?;
                if tx.member(&row.id, &before.id).await.is_err() {
                    return Err(Error::Invalid(format!(
                        "default_org: {} is not a member of '{}'; add the membership first",
                        before.username, row.slug
                    )));
                }
                Some(row.id)
            }
        };
    }
    tx.user_update(&after).await?;
    // Disabling stops everything the user holds: sessions, personal tokens
    // and the org keys they made (revoked for good: re-enabling restores
    // login, not them).
    let (revoked, keys_revoked) = if after.disabled != 0 && before.disabled == 0 {
        let keys = tx.keys_made_by(&after.id).await?;
        for key in &keys {
            tx.resource_delete(key).await?;
        }
        (tx.tokens_revoke_all(&after.id).await?, keys)
    } else if after.password_hash != before.password_hash {
        // A new password ends the user's other sessions (the one that
        // changed it goes on); personal tokens are revoked one by one.
        let keep = match &auth.credential {
            Credential::Session { hash } if myself => Some(hash.as_str()),
            _ => None,
        };
        (
            tx.sessions_revoke_others(&after.id, keep).await?,
            Vec::new(),
        )
    } else {
        (0, Vec::new())
    };
    let before_out = render_user_in(&mut tx, &before).await?;
    let mut out = render_user_in(&mut tx, &after).await?;
    out.tokens_revoked = (revoked > 0).then_some(revoked);
    out.keys_revoked = keys_revoked;
    let mut audit_after = snapshot(&out);
    if after.password_hash != before.password_hash {
        audit_after["password_changed"] = serde_json::Value::Bool(true);
    }
    audit(
        &mut tx,
        auth,
        before.tenant_id.as_deref(),
        Change {
            action: "user.update",
            kind: "user",
            target: &before.id,
            org: None,
            before: Some(snapshot(&before_out)),
            after: Some(audit_after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

pub async fn delete_user(env: &Env<'_>, auth: &Caller, user: &str) -> Result<DeletedUser> {
    let mut tx = env.store.write().await?;
    let u = visible_user(&mut tx, auth, user).await?;
    let role = Role::parse(&u.role)
        .ok_or_else(|| Error::Internal(format!("user {} has role {}", u.id, u.role)))?;
    policy::can_change_account(
        &auth.principal,
        u.tenant_id.as_deref().unwrap_or(&auth.principal.tenant),
        Some((u.id.as_str(), role)),
        AccountChange::Delete,
    )
    .map_err(refused)?;
    let before = render_user_in(&mut tx, &u).await?;
    let keys = tx.keys_made_by(&u.id).await?;
    for key in &keys {
        tx.resource_delete(key).await?;
    }
    tx.user_delete(&u.id).await?;
    let out = DeletedUser {
        deleted: before,
        keys_revoked: keys,
    };
    audit(
        &mut tx,
        auth,
        u.tenant_id.as_deref(),
        Change {
            action: "user.delete",
            kind: "user",
            target: &u.id,
            org: None,
            before: Some(snapshot(&out.deleted)),
            after: Some(snapshot(&out)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}
