//! Users of a tenant: created by admins, changed by themselves (password,
//! default org) and by admins (role, disabled), deleted by admins; the
//! rules are core's (`can_change_account`).

use orgscope_core::policy::{self, AccountChange, AccountRefusal, Role, SystemRead};
use orgscope_store::{Page, StoreError, Tx, UserRow};
use serde_json::{Value, json};

use crate::audit::{Change, audit};
use crate::input::{next_cursor, only_fields, text};
use crate::secrets::{hash_password, verify_password};
use crate::{Caller, Credential, Env, Error, Result};

pub fn render_user(u: &UserRow, default_org_slug: Option<&str>) -> Value {
    json!({
        "id": u.id, "kind": "user", "username": u.username, "role": u.role,
        "tenant": u.tenant_id,
        "default_org": crate::orgs::org_ref(u.default_org_id.as_deref(), default_org_slug),
        "disabled": u.disabled != 0,
        "created_at": u.created_at, "updated_at": u.updated_at,
    })
}

pub async fn render_user_in(tx: &mut Tx, u: &UserRow) -> Result<Value> {
    let slug = match (&u.default_org_id, &u.tenant_id) {
        (Some(org), Some(tenant)) => tx
            .org(
                // The user was read through the caller's rules; their
                // default org is one they belong to.
                &policy::system_filter(tenant, None, SystemRead::Accounts),
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

pub async fn list_users(env: &Env<'_>, auth: &Caller, page: &Page) -> Result<Value> {
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
    let out = json!({"items": items, "next_cursor": next});
    Ok(out)
}

pub async fn create_user(env: &Env<'_>, auth: &Caller, body: &Value) -> Result<Value> {
    only_fields(body, &["username", "password", "role", "default_org"])?;
    let username = text(body, "username", 64)?.to_owned();
    check_username(&username)?;
    let password = text(body, "password", 1024)?.to_owned();
    let role = match body.get("role") {
        None | Some(Value::Null) => Role::User,
        Some(Value::String(r)) => Role::parse(r).ok_or_else(|| {
            Error::Invalid(format!(
                "role: '{r}' is not a role; use user, admin, auditor or superuser"
            ))
        })?,
        Some(_) => return Err(Error::Invalid("role: must be a string".into())),
    };
    policy::can_change_account(
        &auth.principal,
        &auth.principal.tenant,
        None,
        AccountChange::Create { role },
    )
    .map_err(refused)?;
    let hash = hash_password(&password)?;
    let tenant = if role == Role::Superuser {
        None
    } else {
        Some(auth.tenant()?.to_owned())
    };
    let mut tx = env.store.write().await?;
    let default_org = match (body.get("default_org"), &tenant) {
        (None | Some(Value::Null), _) => None,
        (Some(Value::String(o)), Some(_)) => Some(
            crate::orgs::visible_org(&mut tx, auth, o)
                .await
                .map_err(|_| Error::Invalid(format!("default_org: no org '{o}'")))?,
        ),
        _ => {
            return Err(Error::Invalid(
                "default_org: must be an org slug or id (superusers have none)".into(),
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
            after: Some(out.clone()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

pub async fn get_user(env: &Env<'_>, auth: &Caller, user: &str) -> Result<Value> {
    let mut tx = env.store.read().await?;
    let u = visible_user(&mut tx, auth, user).await?;
    render_user_in(&mut tx, &u).await
}

pub async fn update_user(env: &Env<'_>, auth: &Caller, user: &str, body: &Value) -> Result<Value> {
    only_fields(
        body,
        &[
            "role",
            "default_org",
            "disabled",
            "password",
            "current_password",
        ],
    )?;
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
    if let Some(role) = body.get("role") {
        let role = role
            .as_str()
            .and_then(Role::parse)
            .ok_or_else(|| Error::Invalid("role: use user, admin, auditor or superuser".into()))?;
        may(AccountChange::SetRole { to: role })?;
        after.role = role.as_str().to_owned();
    }
    if let Some(disabled) = body.get("disabled") {
        let disabled = disabled
            .as_bool()
            .ok_or_else(|| Error::Invalid("disabled: must be true or false".into()))?;
        may(if disabled {
            AccountChange::Disable
        } else {
            AccountChange::Enable
        })?;
        after.disabled = i64::from(disabled);
    }
    if let Some(password) = body.get("password") {
        may(AccountChange::SetPassword)?;
        let password = password
            .as_str()
            .ok_or_else(|| Error::Invalid("password: must be a string".into()))?;
        // Whoever holds a session of yours must not lock you out: your own
        // password changes only with the current one.
        if myself {
            let current = body
                .get("current_password")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    Error::Invalid(
                        "current_password: is required to change your own password".into(),
                    )
                })?;
            if !verify_password(current, Some(&before.password_hash)) {
                return Err(Error::Forbidden(
                    "current_password: is not your password".into(),
                ));
            }
        }
        after.password_hash = hash_password(password)?;
    } else if body.get("current_password").is_some() {
        return Err(Error::Invalid(
            "current_password: goes with password, to change it".into(),
        ));
    }
    if let Some(org) = body.get("default_org") {
        may(AccountChange::SetDefaultOrg)?;
        after.default_org_id = match org {
            Value::Null => None,
            Value::String(o) => {
                let tenant = before.tenant_id.clone().ok_or_else(|| {
                    Error::Invalid("default_org: superusers have no default org".into())
                })?;
                // Looked up as the caller sees orgs: one hidden from them
                // answers as one that does not exist.
                let filter = if auth.principal.sees_tenant() {
                    // Admins and auditors see every org of the user's tenant.
                    policy::system_filter(&tenant, None, SystemRead::Accounts)
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
            _ => {
                return Err(Error::Invalid(
                    "default_org: must be an org slug or id, or null".into(),
                ));
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
    let mut audit_after = out.clone();
    if revoked > 0 {
        audit_after["tokens_revoked"] = json!(revoked);
    }
    if !keys_revoked.is_empty() {
        audit_after["keys_revoked"] = json!(keys_revoked);
    }
    if after.password_hash != before.password_hash {
        audit_after["password_changed"] = json!(true);
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
            before: Some(before_out),
            after: Some(audit_after),
        },
    )
    .await?;
    tx.commit().await?;
    if revoked > 0 {
        out["tokens_revoked"] = json!(revoked);
    }
    if !keys_revoked.is_empty() {
        out["keys_revoked"] = json!(keys_revoked);
    }
    Ok(out)
}

pub async fn delete_user(env: &Env<'_>, auth: &Caller, user: &str) -> Result<Value> {
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
    let out = json!({"deleted": before, "keys_revoked": keys});
    audit(
        &mut tx,
        auth,
        u.tenant_id.as_deref(),
        Change {
            action: "user.delete",
            kind: "user",
            target: &u.id,
            org: None,
            before: Some(before),
            after: Some(out.clone()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}
