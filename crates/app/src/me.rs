//! The caller's own account: signing in and out, who they are, their
//! personal tokens.

use orgscope_core::policy::Actor;
use orgscope_store::{StoreError, TokenRow, UserRow};
use serde_json::{Value, json};

use crate::audit::{Change, audit};
use crate::input::{only_fields, text};
use crate::limits::LoginLimiter;
use crate::secrets::{
    PERSONAL_TOKEN_PREFIX, SESSION_PREFIX, hash_secret, new_secret, verify_password,
};
use crate::{Caller, Credential, Env, Error, Result};

fn render_token(t: &TokenRow) -> Value {
    json!({"id": t.id, "kind": "personal_token", "name": t.name, "created_at": t.created_at, "expires_at": t.expires_at})
}

fn token_user(auth: &Caller) -> Result<&str> {
    match (&auth.credential, &auth.user) {
        (Credential::Session { .. } | Credential::PersonalToken, Some(u)) => Ok(&u.id),
        _ => Err(Error::Forbidden(
            "personal tokens belong to users: log in as one".into(),
        )),
    }
}

/// Signs in with a password (`{tenant?, username, password}`): a new
/// session token and when it expires. Failed attempts count against the
/// (tenant, username) and the address (`limiter`); the password is checked
/// with no transaction open.
pub async fn login(
    env: &Env<'_>,
    limiter: &LoginLimiter,
    ttl: time::Duration,
    body: &Value,
    address: &str,
) -> Result<(String, String)> {
    only_fields(body, &["tenant", "username", "password"])?;
    let username = text(body, "username", 200)?.to_owned();
    let password = text(body, "password", 1024)?.to_owned();
    let tenant_ref = match body.get("tenant") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => return Err(Error::Invalid("tenant: must be a slug or id".into())),
    };
    // Read, then verify (slow on purpose) with no transaction open, then write.
    let mut tx = env.store.read().await?;
    let tenant = match &tenant_ref {
        Some(t) => tx.tenant(t).await.ok(),
        None => tx.sole_tenant().await?,
    };
    // The budget is per user, however the tenant was named.
    let limit_key = format!(
        "{}/{username}",
        tenant.as_ref().map_or("-", |t| t.id.as_str())
    );
    limiter
        .check(&limit_key, address)
        .map_err(Error::TooManyRequests)?;
    // Named tenant: only its users. No tenant: superusers (who have no
    // tenant) and the users of the server's only tenant are both candidates,
    // so a tenant user named like a superuser never shadows them; both are
    // always verified (a dummy for a missing one), so the time taken does
    // not tell which exist.
    let tenant_user = match &tenant {
        Some(t) => tx.user(Some(&t.id), &username).await.ok(),
        None => None,
    }
    .filter(|u| u.username == username);
    let superuser = match &tenant_ref {
        None => Some(
            tx.user(None, &username)
                .await
                .ok()
                .filter(|u| u.username == username),
        ),
        Some(_) => None,
    };
    drop(tx);
    let hash = |u: &Option<UserRow>| u.as_ref().map(|u| u.password_hash.clone());
    let super_ok = superuser
        .as_ref()
        .is_some_and(|s| verify_password(&password, hash(s).as_deref()));
    let tenant_ok = verify_password(&password, hash(&tenant_user).as_deref());
    let found = if super_ok {
        superuser.flatten()
    } else if tenant_ok {
        tenant_user
    } else {
        None
    };
    let user = match found {
        Some(u) if u.disabled == 0 => u,
        _ => {
            limiter.failed(&limit_key, address);
            if tenant.is_none() && tenant_ref.is_none() {
                return Err(Error::Invalid(
                    "tenant: this server has several tenants; name yours in `tenant` (its slug)"
                        .into(),
                ));
            }
            return Err(Error::Unauthorized);
        }
    };
    limiter.succeeded(&limit_key);
    let token = new_secret(SESSION_PREFIX);
    let expires = orgscope_core::format_time(time::OffsetDateTime::now_utc() + ttl);
    let mut tx = env.store.write().await?;
    tx.token_create(
        &hash_secret(&token),
        "session",
        &user.id,
        "login",
        Some(&expires),
    )
    .await?;
    tx.commit().await?;
    Ok((token, expires))
}

/// Who the caller is: role, memberships (with `can_manage`), default org;
/// for an org key its org and access.
pub async fn whoami(env: &Env<'_>, auth: &Caller) -> Result<Value> {
    let mut tx = env.store.read().await?;
    let tenant = match auth.principal.tenant.as_str() {
        "" => Value::Null,
        t => {
            let row = tx.tenant(t).await?;
            json!({"id": row.id, "slug": row.slug, "name": row.name})
        }
    };
    let filter = orgscope_core::policy::read_filter(&auth.principal);
    let out = match (&auth.principal.actor, &auth.user) {
        (
            Actor::User {
                member_of,
                managing,
                ..
            },
            Some(user),
        ) => {
            let mut memberships = Vec::new();
            for org in member_of {
                if let Ok(o) = tx.org(&filter, org).await {
                    memberships.push(json!({"org": {"id": o.id, "slug": o.slug, "name": o.name}, "can_manage": managing.contains(org)}));
                }
            }
            let mut out = crate::users::render_user_in(&mut tx, user).await?;
            out["tenant"] = tenant;
            out["memberships"] = json!(memberships);
            out
        }
        (Actor::OrgKey { id, org, access }, _) => {
            let o = tx.org(&filter, org).await?;
            json!({"kind": "api_key", "id": id, "tenant": tenant, "access": access.as_str(),
                "org": {"id": o.id, "slug": o.slug, "name": o.name}})
        }
        (Actor::User { .. }, None) => {
            json!({"kind": "local_operator", "role": "superuser", "tenant": tenant})
        }
    };
    Ok(out)
}

/// The caller's personal tokens (never their secrets).
pub async fn tokens(env: &Env<'_>, auth: &Caller) -> Result<Vec<Value>> {
    let user = token_user(auth)?;
    let mut tx = env.store.read().await?;
    let rows = tx.tokens_of(user, "personal").await?;
    let items: Vec<Value> = rows.iter().map(render_token).collect();
    Ok(items)
}

/// A new personal token (`{name, expires_at?}`), made from a password
/// session only; its secret is answered once, as `token`.
pub async fn create_token(env: &Env<'_>, auth: &Caller, body: &Value) -> Result<Value> {
    only_fields(body, &["name", "expires_at"])?;
    let user = token_user(auth)?.to_owned();
    // A token made by a token would outlive its parent's revocation.
    if auth.credential == Credential::PersonalToken {
        return Err(Error::Forbidden(
            "personal tokens are made from a password session: log in and create it there".into(),
        ));
    }
    let name = text(body, "name", 200)?.to_owned();
    let expires_at = match body.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(
            orgscope_core::parse_time(t).map_err(|e| Error::Invalid(format!("expires_at: {e}")))?,
        ),
        Some(_) => {
            return Err(Error::Invalid(
                "expires_at: must be an RFC 3339 timestamp string".into(),
            ));
        }
    };
    let token = new_secret(PERSONAL_TOKEN_PREFIX);
    let mut tx = env.store.write().await?;
    let row = tx
        .token_create(
            &hash_secret(&token),
            "personal",
            &user,
            &name,
            expires_at.as_deref(),
        )
        .await?;
    let mut out = render_token(&row);
    audit(
        &mut tx,
        auth,
        auth.user.as_ref().and_then(|u| u.tenant_id.as_deref()),
        Change {
            action: "token.create",
            kind: "personal_token",
            target: &row.id,
            org: None,
            before: None,
            after: Some(out.clone()),
        },
    )
    .await?;
    tx.commit().await?;
    out["token"] = json!(token);
    Ok(out)
}

/// Revokes one of the caller's personal tokens.
pub async fn revoke_token(env: &Env<'_>, auth: &Caller, id: &str) -> Result<()> {
    let user = token_user(auth)?.to_owned();
    let mut tx = env.store.write().await?;
    match tx.token_delete(&user, id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(Error::not_found("token", id)),
        Err(e) => return Err(e.into()),
    }
    audit(
        &mut tx,
        auth,
        auth.user.as_ref().and_then(|u| u.tenant_id.as_deref()),
        Change {
            action: "token.revoke",
            kind: "personal_token",
            target: id,
            org: None,
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends the caller's password session (other credentials end otherwise).
pub async fn logout(env: &Env<'_>, auth: &Caller) -> Result<()> {
    if let Credential::Session { hash } = &auth.credential {
        let mut tx = env.store.write().await?;
        tx.session_delete(hash).await?;
        tx.commit().await?;
    }
    Ok(())
}
