//! The caller's own account: signing in and out, who they are, their
//! personal tokens.

use orgscope_core::policy::Actor;
use orgscope_store::{StoreError, TokenRow, UserRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{Change, audit, snapshot};
use crate::input::required;
use crate::limits::LoginLimiter;
use crate::orgs::OrgRef;
use crate::secrets::{
    PERSONAL_TOKEN_PREFIX, SESSION_PREFIX, hash_secret, new_secret, verify_password,
};
use crate::{Caller, Credential, Env, Error, Result};

/// `POST /api/v1/auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Tenant slug or id; may be left out when the server has one tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    pub username: String,
    pub password: String,
}

/// `POST /api/v1/me/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    /// RFC 3339; absent = never.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// A personal token (its secret only once, when made).
#[derive(Debug, Serialize, ToSchema)]
pub struct Token {
    pub id: String,
    /// Always `personal_token`.
    pub kind: String,
    pub name: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// The secret: in the answer that made the token, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `{id, slug, name}` of a tenant or an org.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Named {
    pub id: String,
    pub slug: String,
    pub name: String,
}

/// One of the caller's memberships.
#[derive(Debug, Serialize, ToSchema)]
pub struct Membership {
    pub org: Named,
    pub can_manage: bool,
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `user`, `api_key` or `local_operator`.
    pub kind: String,
    /// The user's or key's id (none for the local operator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Null for a superuser outside any tenant.
    pub tenant: Option<Named>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// user, admin, auditor or superuser.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_org: Option<OrgRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// A user's orgs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memberships: Option<Vec<Membership>>,
    /// An org key's org.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<Named>,
    /// An org key's access: `read` or `read_write`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
}

impl Me {
    fn bare(kind: &str, tenant: Option<Named>) -> Me {
        Me {
            kind: kind.into(),
            id: None,
            tenant,
            username: None,
            role: None,
            default_org: None,
            disabled: None,
            created_at: None,
            updated_at: None,
            memberships: None,
            org: None,
            access: None,
        }
    }
}

fn named(id: &str, slug: &str, name: &str) -> Named {
    Named {
        id: id.into(),
        slug: slug.into(),
        name: name.into(),
    }
}

fn render_token(t: &TokenRow) -> Token {
    Token {
        id: t.id.clone(),
        kind: "personal_token".into(),
        name: t.name.clone(),
        created_at: t.created_at.clone(),
        expires_at: t.expires_at.clone(),
        token: None,
    }
}

fn token_user(auth: &Caller) -> Result<&str> {
    match (&auth.credential, &auth.user) {
        (Credential::Session { .. } | Credential::PersonalToken, Some(u)) => Ok(&u.id),
        _ => Err(Error::Forbidden(
            "personal tokens belong to users: log in as one".into(),
        )),
    }
}

/// Signs in with a password: a new
/// session token and when it expires. Failed attempts count against the
/// (tenant, username) and the address (`limiter`); the password is checked
/// with no transaction open.
pub async fn login(
    env: &Env<'_>,
    limiter: &LoginLimiter,
    ttl: time::Duration,
    input: &Login,
    address: &str,
) -> Result<(String, String)> {
    let username = required("username", &input.username, 200)?.to_owned();
    let password = required("password", &input.password, 1024)?.to_owned();
    let tenant_ref = input.tenant.clone();
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
    // With the read transaction closed: the count takes a connection of its
    // own, and logins holding one each while waiting for another would
    // empty the pool.
    limiter.check_user(env.store, &limit_key).await?;
    let hash = |u: &Option<UserRow>| u.as_ref().map(|u| u.password_hash.clone());
    let super_hash = superuser.as_ref().map(hash);
    let tenant_hash = hash(&tenant_user);
    // Both checks in one go on the blocking pool (argon2 is slow on purpose).
    let (super_ok, tenant_ok) = crate::secrets::off_the_workers(move || {
        let super_ok = super_hash.is_some_and(|h| verify_password(&password, h.as_deref()));
        (super_ok, verify_password(&password, tenant_hash.as_deref()))
    })
    .await?;
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
            limiter.failed(env.store, address).await?;
            limiter.check_address(env.store, address).await?;
            if tenant.is_none() && tenant_ref.is_none() {
                return Err(Error::Invalid(
                    "tenant: this server has several tenants; name yours in `tenant` (its slug)"
                        .into(),
                ));
            }
            return Err(Error::Unauthorized);
        }
    };
    limiter.succeeded(env.store, &limit_key).await?;
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
pub async fn whoami(env: &Env<'_>, auth: &Caller) -> Result<Me> {
    let mut tx = env.store.read().await?;
    let tenant = match auth.principal.tenant.as_str() {
        "" => None,
        t => {
            let row = tx.tenant(t).await?;
            Some(named(&row.id, &row.slug, &row.name))
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
            let ids: Vec<&str> = member_of.iter().map(|o| o.as_str()).collect();
            let mut rows = tx.orgs_among(&filter, &ids).await?;
            rows.sort_by(|a, b| a.id.cmp(&b.id));
            let memberships = rows
                .iter()
                .map(|o| Membership {
                    org: named(&o.id, &o.slug, &o.name),
                    can_manage: managing.contains(o.id.as_str()),
                })
                .collect();
            let u = crate::users::render_user_in(&mut tx, user).await?;
            Me {
                id: Some(u.id),
                username: Some(u.username),
                role: Some(u.role),
                default_org: u.default_org,
                disabled: Some(u.disabled),
                created_at: Some(u.created_at),
                updated_at: Some(u.updated_at),
                memberships: Some(memberships),
                ..Me::bare("user", tenant)
            }
        }
        (Actor::OrgKey { id, org, access }, _) => {
            let o = tx.org(&filter, org).await?;
            Me {
                id: Some(id.clone()),
                access: Some(access.as_str().into()),
                org: Some(named(&o.id, &o.slug, &o.name)),
                ..Me::bare("api_key", tenant)
            }
        }
        (Actor::User { .. }, None) => Me {
            role: Some("superuser".into()),
            ..Me::bare("local_operator", tenant)
        },
    };
    Ok(out)
}

/// The caller's personal tokens (never their secrets).
pub async fn tokens(env: &Env<'_>, auth: &Caller) -> Result<Vec<Token>> {
    let user = token_user(auth)?;
    let mut tx = env.store.read().await?;
    let rows = tx.tokens_of(user, "personal").await?;
    Ok(rows.iter().map(render_token).collect())
}

/// A new personal token, made from a password session only; its secret is
/// answered once, as `token`.
pub async fn create_token(env: &Env<'_>, auth: &Caller, input: &NewToken) -> Result<Token> {
    let user = token_user(auth)?.to_owned();
    // A token made by a token would outlive its parent's revocation.
    if auth.credential == Credential::PersonalToken {
        return Err(Error::Forbidden(
            "personal tokens are made from a password session: log in and create it there".into(),
        ));
    }
    let name = required("name", &input.name, 200)?.to_owned();
    let expires_at = input
        .expires_at
        .as_deref()
        .map(|t| {
            orgscope_core::parse_time(t).map_err(|e| Error::Invalid(format!("expires_at: {e}")))
        })
        .transpose()?;
    if let Some(t) = expires_at.as_deref()
        && t <= orgscope_store::now().as_str()
    {
        return Err(Error::Invalid(format!(
            "expires_at: {t} is already past; give a time in the future, or none for no expiry"
        )));
    }
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
            after: Some(snapshot(&out)),
        },
    )
    .await?;
    tx.commit().await?;
    out.token = Some(token);
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
