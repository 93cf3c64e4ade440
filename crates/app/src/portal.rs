//! An org's developer portal, answered only on the org's proved domain: its
//! catalogue of published API definitions, and developers' own accounts.
//!
//! A developer account is the `developer` kind of that org. Signing up
//! sends a confirmation link (the password waits beside the link, hashed,
//! and becomes the account's only when it is followed, so nobody can take
//! an address they cannot read mail at; signing up again with a known
//! address is how a forgotten password is replaced). A signed-in developer
//! holds a portal session: its secret is kept in `portal_tokens`, never in
//! the API's tokens, so it opens nothing but this portal, and the API's
//! sessions open nothing here.
//!
//! Every read is bounded to the portal's org by the `Portal` system filter;
//! a developer of another org, or of another tenant, is an unknown account.

use orgscope_core::policy::{self, OrgSelector, SystemRead};
use orgscope_store::{
    NewAudit, NewResource, OrgRow, PortalSettingsRow, ResourceRow, Store, StoreError, Tx,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::limits::LoginLimiter;
use crate::mail::Mailer;
use crate::secrets::{
    hash_password_off, hash_secret, new_secret, off_the_workers, verify_password,
};
use crate::{Caller, Env, Error, Result};

/// Secrets of a portal session (`osp_`) and of a confirmation link (`ospc_`).
pub const SESSION_PREFIX: &str = "osp_";
const CONFIRM_PREFIX: &str = "ospc_";
/// How long a confirmation link works.
const CONFIRM_TTL: time::Duration = time::Duration::hours(24);

/// The org whose portal a request reached, by its proved domain.
#[derive(Clone, Debug)]
pub struct Site {
    org: OrgRow,
}

impl Site {
    #[must_use]
    pub fn name(&self) -> &str {
        &self.org.name
    }

    #[must_use]
    pub fn slug(&self) -> &str {
        &self.org.slug
    }

    fn filter(&self) -> policy::ReadFilter {
        // Public by design: the org whose proved domain this is, bounded to it.
        policy::system_filter(
            &self.org.tenant(),
            Some(&self.org.org()),
            SystemRead::Portal,
        )
    }

    fn selector(&self) -> OrgSelector {
        OrgSelector::Org(self.org.id.clone())
    }
}

/// The name in a Host header: no port, no final dot, lower case.
#[must_use]
pub fn host_name(header: &str) -> String {
    header
        .rsplit_once(':')
        .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        .map_or(header, |(h, _)| h)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// The portal at `host` (a Host header's name, without port), or the "no
/// portal" of a domain nobody proved.
pub async fn site(store: &Store, host: &str) -> Result<Site> {
    let mut tx = store.read().await?;
    match tx.org_by_domain_for_portal(host).await {
        Ok(org) => Ok(Site { org }),
        Err(StoreError::NotFound) => Err(Error::NotFound(format!("no portal at '{host}'"))),
        Err(e) => Err(e.into()),
    }
}

/// A published API definition as the portal shows it: never its upstream.
#[derive(Clone, Debug, Serialize)]
pub struct PortalApi {
    pub id: String,
    pub name: String,
    pub listen_path: String,
    /// Empty: every method.
    pub methods: Vec<String>,
    pub description: Option<String>,
    /// Key requests for it are approved at once (`key_approval: auto`).
    pub auto_approval: bool,
    /// Its OpenAPI document as the portal may hand it out (no `servers`).
    #[serde(skip)]
    pub openapi: Option<Value>,
}

impl PortalApi {
    /// The reference pages of its OpenAPI document, if it has one.
    #[must_use]
    pub fn reference(&self) -> Option<crate::openapi::Reference> {
        self.openapi
            .as_ref()
            .map(|doc| crate::openapi::reference(doc, &self.listen_path, &self.methods))
    }
}

/// Who decided an auto-approved request (`decided_by`).
pub const AUTO_APPROVAL: &str = "auto-approval";

fn portal_api(r: &ResourceRow) -> Option<PortalApi> {
    let f: Value = serde_json::from_str(&r.fields).unwrap_or_default();
    (f["published"] == Value::Bool(true)).then(|| PortalApi {
        id: r.id.clone(),
        name: r.name.clone(),
        listen_path: f["listen_path"].as_str().unwrap_or_default().to_owned(),
        methods: f["methods"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        description: f["description"].as_str().map(str::to_owned),
        auto_approval: f["key_approval"] == "auto",
        openapi: f
            .get("openapi")
            .filter(|d| d.is_object())
            .map(crate::openapi::published),
    })
}

/// The org's published API definitions, in the order they were made.
pub async fn catalogue(store: &Store, site: &Site) -> Result<Vec<PortalApi>> {
    let mut tx = store.read().await?;
    let rows = tx
        .resources_all("api_definition", &site.filter(), &site.selector())
        .await?;
    Ok(rows.iter().filter_map(portal_api).collect())
}

/// One published API definition of the org (else the "no such" of an
/// unused id: unpublished ones and other orgs' are not there).
pub async fn api(store: &Store, site: &Site, id: &str) -> Result<PortalApi> {
    let mut tx = store.read().await?;
    let row = match tx.resource("api_definition", &site.filter(), id).await {
        Ok(r) if r.org_id.as_deref() == Some(site.org.id.as_str()) => r,
        Ok(_) | Err(StoreError::NotFound) => return Err(Error::not_found("API", id)),
        Err(e) => return Err(e.into()),
    };
    portal_api(&row).ok_or_else(|| Error::not_found("API", id))
}

/// A developer signed in to the portal.
#[derive(Clone, Debug, Serialize)]
pub struct Developer {
    pub id: String,
    pub email: String,
}

fn email_of(r: &ResourceRow) -> String {
    serde_json::from_str::<Value>(&r.fields).unwrap_or_default()["email"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn developer_of(r: &ResourceRow) -> Developer {
    Developer {
        id: r.id.clone(),
        email: email_of(r),
    }
}

/// The org's developer with this address (any case), if any.
async fn developer_by_email(tx: &mut Tx, site: &Site, email: &str) -> Result<Option<ResourceRow>> {
    let rows = tx
        .resources_all("developer", &site.filter(), &site.selector())
        .await?;
    Ok(rows
        .into_iter()
        .find(|r| email_of(r).eq_ignore_ascii_case(email)))
}

fn checked_email(email: &str) -> Result<String> {
    let email = email.trim();
    let ok = email.len() <= 320
        && email.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !host.contains('@')
        })
        && !email.chars().any(char::is_whitespace);
    if ok {
        Ok(email.to_owned())
    } else {
        Err(Error::Invalid(format!(
            "email: '{email}' is not an e-mail address; write it as name@example.com"
        )))
    }
}

/// An entry of the audit log by the developer `dev` (as `developer:<email>`).
async fn audit(
    tx: &mut Tx,
    site: &Site,
    dev: &ResourceRow,
    action: &str,
    (kind, target): (&str, &str),
    after: Value,
) -> Result<()> {
    tx.audit_append(&NewAudit {
        tenant_id: Some(site.org.tenant_id.clone()),
        actor: format!("developer:{}", email_of(dev)),
        actor_id: Some(dev.id.clone()),
        action: action.to_owned(),
        kind: kind.into(),
        target: target.into(),
        org_id: Some(site.org.id.clone()),
        other_org_id: None,
        before: None,
        after: Some(after.to_string()),
    })
    .await?;
    Ok(())
}

fn later(d: time::Duration) -> String {
    (time::OffsetDateTime::now_utc() + d)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn expired(at: &str) -> bool {
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .map_or(true, |t| t <= time::OffsetDateTime::now_utc())
}

/// Signs a developer up on the portal: the confirmation link goes to
/// `email` (with `base` the portal's own URL, e.g. `https://api.acme.test`).
/// The answer is the same whether the address was known or not.
pub async fn sign_up(
    env: &Env<'_>,
    mailer: Option<&Mailer>,
    site: &Site,
    email: &str,
    password: &str,
    base: &str,
) -> Result<()> {
    let email = checked_email(email)?;
    let open = {
        let mut tx = env.store.read().await?;
        PortalSettings::of(tx.portal_settings(&site.org.id).await?).signup_open
    };
    if !open {
        return Err(Error::Forbidden(format!(
            "{} takes no sign-ups on this portal; ask them for an account",
            site.org.name
        )));
    }
    let Some(mailer) = mailer else {
        return Err(Error::NotReady(
            "this portal cannot send mail, so it takes no sign-ups yet: its operator sets an SMTP relay (ORGSCOPE_SMTP_URL)".into(),
        ));
    };
    let hash = hash_password_off(password.to_owned()).await?;
    let link = new_secret(CONFIRM_PREFIX);
    let mut tx = env.store.write().await?;
    let dev = match developer_by_email(&mut tx, site, &email).await? {
        Some(d) => d,
        None => {
            let id = orgscope_store::new_id("dev");
            tx.resource_insert(&NewResource {
                id: id.clone(),
                tenant_id: site.org.tenant_id.clone(),
                kind: "developer".into(),
                org_id: Some(site.org.id.clone()),
                name: email.clone(),
                fields: json!({ "email": email }).to_string(),
                secret: None,
                created_by: None,
            })
            .await?;
            let row = tx.resource("developer", &site.filter(), &id).await?;
            audit(
                &mut tx,
                site,
                &row,
                "developer.signup",
                ("developer", &id),
                json!({"id": id, "email": email}),
            )
            .await?;
            row
        }
    };
    tx.portal_token_put(
        &hash_secret(&link),
        &dev.id,
        "confirm",
        Some(&hash),
        &later(CONFIRM_TTL),
    )
    .await?;
    tx.commit().await?;
    let body = format!(
        "Someone (we hope you) signed up with this address on the {name} developer portal.\n\n\
         Confirm it, and your password, within 24 hours:\n\n{base}/portal/confirm?token={link}\n\n\
         If it was not you, ignore this mail: nothing changes until the link is followed.\n",
        name = site.org.name,
    );
    mailer
        .send(
            &email,
            &format!("Confirm your address for {}", site.org.name),
            body,
        )
        .await
}

/// Follows a confirmation link: the password signed up with becomes the
/// account's, and the address is confirmed.
pub async fn confirm(env: &Env<'_>, site: &Site, link: &str) -> Result<Developer> {
    let gone = || {
        Error::Invalid(
        "this confirmation link is used, expired or not for this portal; sign up again to get a new one".into(),
    )
    };
    if !link.starts_with(CONFIRM_PREFIX) {
        return Err(gone());
    }
    let hash = hash_secret(link);
    let mut tx = env.store.write().await?;
    let token = match tx.portal_token_for_auth(&hash, "confirm").await {
        Ok(t) => t,
        Err(StoreError::NotFound) => return Err(gone()),
        Err(e) => return Err(e.into()),
    };
    let dev = match tx
        .resource("developer", &site.filter(), &token.developer_id)
        .await
    {
        Ok(d) if d.org_id.as_deref() == Some(site.org.id.as_str()) => d,
        Ok(_) | Err(StoreError::NotFound) => return Err(gone()),
        Err(e) => return Err(e.into()),
    };
    if expired(&token.expires_at) {
        tx.portal_token_drop(&hash).await?;
        tx.commit().await?;
        return Err(gone());
    }
    let mut fields: Value = serde_json::from_str(&dev.fields).unwrap_or_default();
    fields["confirmed_at"] = json!(orgscope_store::now());
    tx.resource_update(
        &dev.id,
        &dev.name,
        dev.org_id.as_deref(),
        &fields.to_string(),
        token.pending_secret.as_deref(),
    )
    .await?;
    // One link, one password: the others (and old sessions) end here.
    tx.portal_tokens_drop(&dev.id, "confirm").await?;
    tx.portal_tokens_drop(&dev.id, "session").await?;
    audit(
        &mut tx,
        site,
        &dev,
        "developer.confirm",
        ("developer", &dev.id),
        json!({"id": dev.id}),
    )
    .await?;
    tx.commit().await?;
    Ok(developer_of(&dev))
}

/// Signs a developer in: a portal session secret and when it ends.
pub async fn sign_in(
    env: &Env<'_>,
    limiter: &LoginLimiter,
    site: &Site,
    ttl: time::Duration,
    email: &str,
    password: &str,
    address: &str,
) -> Result<(String, String)> {
    let email = email.trim().to_owned();
    let limit_key = format!("portal:{}/{}", site.org.id, email.to_ascii_lowercase());
    // As for tenant users (`me::login`): a locked address refuses only
    // failures, never a correct password of a username not itself locked.
    limiter.check_user(env.store, &limit_key).await?;
    let mut tx = env.store.read().await?;
    let dev = developer_by_email(&mut tx, site, &email).await?;
    drop(tx);
    // Only a confirmed account has a password; a miss costs a verification too.
    let hash = dev.as_ref().and_then(|d| d.secret.clone());
    let given = password.to_owned();
    let ok = off_the_workers(move || verify_password(&given, hash.as_deref())).await?;
    let Some(dev) = dev.filter(|_| ok) else {
        limiter.failed(env.store, address).await?;
        limiter.check_address(env.store, address).await?;
        return Err(Error::Unauthorized);
    };
    limiter.succeeded(env.store, &limit_key).await?;
    let secret = new_secret(SESSION_PREFIX);
    let expires = later(ttl);
    let mut tx = env.store.write().await?;
    tx.portal_token_put(&hash_secret(&secret), &dev.id, "session", None, &expires)
        .await?;
    tx.commit().await?;
    Ok((secret, expires))
}

/// The developer a portal session belongs to, on this portal only.
pub async fn developer(store: &Store, site: &Site, secret: &str) -> Result<Developer> {
    if !secret.starts_with(SESSION_PREFIX) || secret.starts_with(CONFIRM_PREFIX) {
        return Err(Error::Unauthorized);
    }
    let mut tx = store.read().await?;
    let token = match tx
        .portal_token_for_auth(&hash_secret(secret), "session")
        .await
    {
        Ok(t) if !expired(&t.expires_at) => t,
        Ok(_) | Err(StoreError::NotFound) => return Err(Error::Unauthorized),
        Err(e) => return Err(e.into()),
    };
    match tx
        .resource("developer", &site.filter(), &token.developer_id)
        .await
    {
        Ok(d) if d.org_id.as_deref() == Some(site.org.id.as_str()) && d.secret.is_some() => {
            Ok(developer_of(&d))
        }
        Ok(_) | Err(StoreError::NotFound) => Err(Error::Unauthorized),
        Err(e) => Err(e.into()),
    }
}

/// Ends a portal session.
pub async fn sign_out(store: &Store, secret: &str) -> Result<()> {
    let mut tx = store.write().await?;
    tx.portal_token_drop(&hash_secret(secret)).await?;
    tx.commit().await?;
    Ok(())
}

/// The names of the API ids in `ids` among the org's `apis` (an id that is
/// gone stays as it is).
fn api_names(apis: &[ResourceRow], ids: &Value) -> Vec<String> {
    ids.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|id| {
                    apis.iter()
                        .find(|r| r.id == id)
                        .map_or_else(|| id.to_owned(), |r| r.name.clone())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A consumer key as its developer sees it on the portal (never its secret).
#[derive(Clone, Debug, Serialize)]
pub struct DeveloperKey {
    pub id: String,
    pub name: String,
    /// The APIs it opens, by name.
    pub apis: Vec<String>,
    pub expires_at: Option<String>,
    pub rate_limit: Option<i64>,
    pub created_at: String,
}

/// The developer's own consumer keys.
pub async fn keys(store: &Store, site: &Site, dev: &Developer) -> Result<Vec<DeveloperKey>> {
    let mut tx = store.read().await?;
    let apis = tx
        .resources_all("api_definition", &site.filter(), &site.selector())
        .await?;

    let rows = tx
        .resources_all("consumer_key", &site.filter(), &site.selector())
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let f: Value = serde_json::from_str(&r.fields).unwrap_or_default();
            (f["developer"].as_str() == Some(dev.id.as_str())).then(|| DeveloperKey {
                id: r.id.clone(),
                name: r.name.clone(),
                apis: api_names(&apis, &f["apis"]),
                expires_at: f["expires_at"].as_str().map(str::to_owned),
                rate_limit: f["rate_limit"].as_i64(),
                created_at: r.created_at.clone(),
            })
        })
        .collect())
}

/// Revokes one of the developer's own keys (another's is not there).
pub async fn revoke_key(env: &Env<'_>, site: &Site, dev: &Developer, id: &str) -> Result<()> {
    let mut tx = env.store.write().await?;
    let key = match tx.resource("consumer_key", &site.filter(), id).await {
        Ok(k) => k,
        Err(StoreError::NotFound) => return Err(Error::not_found("key", id)),
        Err(e) => return Err(e.into()),
    };
    let f: Value = serde_json::from_str(&key.fields).unwrap_or_default();
    if f["developer"].as_str() != Some(dev.id.as_str())
        || key.org_id.as_deref() != Some(site.org.id.as_str())
    {
        return Err(Error::not_found("key", id));
    }
    tx.resource_delete(&key.id).await?;
    let row = tx.resource("developer", &site.filter(), &dev.id).await?;
    tx.audit_append(&NewAudit {
        tenant_id: Some(site.org.tenant_id.clone()),
        actor: format!("developer:{}", dev.email),
        actor_id: Some(row.id.clone()),
        action: "consumer_key.delete".into(),
        kind: "consumer_key".into(),
        target: key.id.clone(),
        org_id: Some(site.org.id.clone()),
        other_org_id: None,
        before: Some(json!({"id": key.id, "name": key.name}).to_string()),
        after: None,
    })
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A developer's request for a key, as they see it.
#[derive(Clone, Debug, Serialize)]
pub struct DeveloperRequest {
    pub id: String,
    /// The APIs asked for, by name.
    pub apis: Vec<String>,
    pub reason: Option<String>,
    /// `pending`, `approved` or `denied`.
    pub status: String,
    pub created_at: String,
}

/// A key issued on approval, shown to its developer once.
#[derive(Clone, Debug, Serialize)]
pub struct IssuedKey {
    pub request: String,
    pub token: String,
}

/// Asks the org for a key to these published APIs, with a reason; an org
/// member approves or denies it (`key_requests::decide`).
pub async fn request_key(
    env: &Env<'_>,
    site: &Site,
    dev: &Developer,
    apis: &[String],
    reason: &str,
) -> Result<DeveloperRequest> {
    let reason = reason.trim();
    if reason.chars().count() > 2000 {
        return Err(Error::Invalid("reason: at most 2000 characters".into()));
    }
    if apis.is_empty() {
        return Err(Error::Invalid("apis: choose at least one API".into()));
    }
    let mut tx = env.store.write().await?;
    let published: Vec<PortalApi> = tx
        .resources_all("api_definition", &site.filter(), &site.selector())
        .await?
        .iter()
        .filter_map(portal_api)
        .collect();
    let mut names = Vec::new();
    let mut auto = true;
    for id in apis {
        match published.iter().find(|a| &a.id == id) {
            Some(a) => {
                names.push(a.name.clone());
                auto &= a.auto_approval;
            }
            None => return Err(Error::Invalid(format!("apis: no published API '{id}'"))),
        }
    }
    let me = tx.resource("developer", &site.filter(), &dev.id).await?;
    let id = orgscope_store::new_id("kr");
    let mut fields = json!({"developer": dev.id, "apis": apis, "status": "pending"});
    if !reason.is_empty() {
        fields["reason"] = json!(reason);
    }
    let refs: Vec<(String, String)> = std::iter::once(("developer".to_owned(), dev.id.clone()))
        .chain(apis.iter().map(|a| ("apis".to_owned(), a.clone())))
        .collect();
    // Every API asked for issues its keys at once: the key is made here,
    // as a member's approval would make it, and waits sealed for the
    // developer's one look.
    let sealed = if auto {
        let key = orgscope_store::new_id("ck");
        let token = new_secret("ock_");
        let key_fields = json!({"developer": dev.id, "apis": apis});
        tx.resource_insert(&NewResource {
            id: key.clone(),
            tenant_id: site.org.tenant_id.clone(),
            kind: "consumer_key".into(),
            org_id: Some(site.org.id.clone()),
            name: format!("key for {id}"),
            fields: key_fields.to_string(),
            secret: Some(hash_secret(&token)),
            created_by: None,
        })
        .await?;
        tx.refs_set(&key, &refs).await?;
        audit(
            &mut tx,
            site,
            &me,
            "consumer_key.create",
            ("consumer_key", &key),
            key_fields,
        )
        .await?;
        fields["status"] = json!("approved");
        fields["decided_by"] = json!(AUTO_APPROVAL);
        fields["consumer_key"] = json!(key);
        Some(env.master_key.seal(&token, &id).map_err(Error::Internal)?)
    } else {
        None
    };
    tx.resource_insert(&NewResource {
        id: id.clone(),
        tenant_id: site.org.tenant_id.clone(),
        kind: "key_request".into(),
        org_id: Some(site.org.id.clone()),
        name: format!("{} asks for {}", dev.email, names.join(", ")),
        fields: fields.to_string(),
        secret: sealed,
        created_by: None,
    })
    .await?;
    tx.refs_set(&id, &refs).await?;
    audit(
        &mut tx,
        site,
        &me,
        "key_request.create",
        ("key_request", &id),
        fields.clone(),
    )
    .await?;
    let row = tx.resource("key_request", &site.filter(), &id).await?;
    tx.commit().await?;
    Ok(DeveloperRequest {
        id,
        apis: names,
        reason: (!reason.is_empty()).then(|| reason.to_owned()),
        status: fields["status"].as_str().unwrap_or("pending").to_owned(),
        created_at: row.created_at,
    })
}

/// The developer's requests, newest first.
pub async fn requests(
    store: &Store,
    site: &Site,
    dev: &Developer,
) -> Result<Vec<DeveloperRequest>> {
    let mut tx = store.read().await?;
    let apis = tx
        .resources_all("api_definition", &site.filter(), &site.selector())
        .await?;

    let mut out: Vec<DeveloperRequest> = tx
        .resources_all("key_request", &site.filter(), &site.selector())
        .await?
        .iter()
        .filter_map(|r| {
            let f: Value = serde_json::from_str(&r.fields).unwrap_or_default();
            (f["developer"].as_str() == Some(dev.id.as_str())).then(|| DeveloperRequest {
                id: r.id.clone(),
                apis: api_names(&apis, &f["apis"]),
                reason: f["reason"].as_str().map(str::to_owned),
                status: f["status"].as_str().unwrap_or("pending").to_owned(),
                created_at: r.created_at.clone(),
            })
        })
        .collect();
    out.reverse();
    Ok(out)
}

/// The keys issued to the developer since they last looked: each secret
/// is answered this once, then forgotten.
pub async fn take_issued(env: &Env<'_>, site: &Site, dev: &Developer) -> Result<Vec<IssuedKey>> {
    let mut tx = env.store.write().await?;
    let rows = tx
        .resources_all("key_request", &site.filter(), &site.selector())
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let f: Value = serde_json::from_str(&r.fields).unwrap_or_default();
        let Some(sealed) = r.secret.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        if f["developer"].as_str() != Some(dev.id.as_str()) {
            continue;
        }
        let token = env
            .master_key
            .open(sealed, &r.id)
            .map_err(Error::Internal)?;
        out.push(IssuedKey {
            request: r.id.clone(),
            token: token.to_string(),
        });
        tx.resource_update(&r.id, &r.name, r.org_id.as_deref(), &r.fields, Some(""))
            .await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// The accent colours a portal may take (classes of the stylesheet: a
/// content policy without inline styles allows no free colour).
pub const ACCENTS: &[&str] = &["blue", "green", "purple", "orange", "teal", "slate"];

/// How a portal looks and whether it takes sign-ups, as its org's managers
/// set it (`GET/PUT` through the org's page).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PortalSettings {
    /// The portal's title; none: the org's name.
    pub title: Option<String>,
    /// An introduction in Markdown (raw HTML is shown as text).
    pub intro: Option<String>,
    /// One of `ACCENTS`.
    pub accent: String,
    /// Whether developers may sign up.
    pub signup_open: bool,
    /// Whether it shows a logo (uploaded apart: [`set_logo`]).
    #[serde(default)]
    pub logo: bool,
}

impl PortalSettings {
    fn of(row: Option<PortalSettingsRow>) -> PortalSettings {
        match row {
            Some(r) => PortalSettings {
                title: r.title,
                intro: r.intro,
                accent: r.accent,
                signup_open: r.signup_open != 0,
                logo: false,
            },
            None => PortalSettings {
                title: None,
                intro: None,
                accent: ACCENTS[0].into(),
                signup_open: true,
                logo: false,
            },
        }
    }
}

/// What a portal page shows of its settings.
#[derive(Clone, Debug)]
pub struct Branding {
    pub title: String,
    /// The logo's address (versioned), if the portal has one.
    pub logo: Option<String>,
    /// The introduction as HTML, made safe.
    pub intro_html: Option<String>,
    pub accent: String,
    pub signup_open: bool,
}

/// Markdown as HTML that runs nothing: raw HTML becomes text, and links and
/// images keep only http(s), mailto and relative addresses.
#[must_use]
pub fn markdown(text: &str) -> String {
    use pulldown_cmark::{Event, Parser, Tag};
    let safe = |url: &str| {
        let lower = url.trim().to_ascii_lowercase();
        let scheme = lower.split_once(':').map(|(s, _)| s);
        match scheme {
            None => true,
            Some(s) if s.contains('/') || s.contains('?') || s.contains('#') => true,
            Some(s) => matches!(s, "http" | "https" | "mailto"),
        }
    };
    let events = Parser::new(text).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) if !safe(&dest_url) => Event::Start(Tag::Link {
            link_type,
            dest_url: "#".into(),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) if !safe(&dest_url) => Event::Start(Tag::Image {
            link_type,
            dest_url: "#".into(),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

/// The portal's look, for its pages.
pub async fn branding(store: &Store, site: &Site) -> Result<Branding> {
    let mut tx = store.read().await?;
    let s = PortalSettings::of(tx.portal_settings(&site.org.id).await?);
    let logo = tx.portal_logo_stamp(&site.org.id).await?;
    Ok(Branding {
        logo: logo.map(|at| {
            format!(
                "/portal/logo?v={}",
                at.replace(|c: char| !c.is_ascii_alphanumeric(), "")
            )
        }),
        title: s.title.unwrap_or_else(|| site.org.name.clone()),
        intro_html: s.intro.as_deref().map(markdown),
        accent: s.accent,
        signup_open: s.signup_open,
    })
}

/// An org whose portal the caller manages (its admins and managers).
async fn managed_org(tx: &mut Tx, auth: &Caller, org: &str) -> Result<OrgRow> {
    let row = crate::orgs::visible_org(tx, auth, org).await?;
    if !policy::can_manage_org(&auth.principal, &row.tenant(), &row.org()) {
        return Err(Error::Forbidden(
            "only the org's admins and managers change its portal".into(),
        ));
    }
    Ok(row)
}

/// An org's portal settings, for those who manage the org.
pub async fn settings(env: &Env<'_>, auth: &Caller, org: &str) -> Result<PortalSettings> {
    let mut tx = env.store.read().await?;
    let row = managed_org(&mut tx, auth, org).await?;
    let mut settings = PortalSettings::of(tx.portal_settings(&row.id).await?);
    settings.logo = tx.portal_logo_stamp(&row.id).await?.is_some();
    Ok(settings)
}

/// Sets an org's portal settings (its admins and managers); audited.
pub async fn update_settings(
    env: &Env<'_>,
    auth: &Caller,
    org: &str,
    input: &PortalSettings,
) -> Result<PortalSettings> {
    let title = input
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if title.is_some_and(|t| t.chars().count() > 120) {
        return Err(Error::Invalid("title: at most 120 characters".into()));
    }
    let intro = input
        .intro
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if intro.is_some_and(|t| t.chars().count() > 10_000) {
        return Err(Error::Invalid("intro: at most 10,000 characters".into()));
    }
    if !ACCENTS.contains(&input.accent.as_str()) {
        return Err(Error::Invalid(format!(
            "accent: one of {}",
            ACCENTS.join(", ")
        )));
    }
    let mut tx = env.store.write().await?;
    let row = managed_org(&mut tx, auth, org).await?;
    let before = PortalSettings::of(tx.portal_settings(&row.id).await?);
    let after = PortalSettings {
        title: title.map(str::to_owned),
        intro: intro.map(str::to_owned),
        accent: input.accent.clone(),
        signup_open: input.signup_open,
        logo: before.logo,
    };
    tx.portal_settings_put(&PortalSettingsRow {
        org_id: row.id.clone(),
        title: after.title.clone(),
        intro: after.intro.clone(),
        accent: after.accent.clone(),
        signup_open: i64::from(after.signup_open),
    })
    .await?;
    crate::audit::audit(
        &mut tx,
        auth,
        Some(&row.tenant_id),
        crate::audit::Change {
            action: "org.portal",
            kind: "org",
            target: &row.id,
            org: Some(&row.id),
            before: Some(json!(before)),
            after: Some(json!(after)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// The largest logo a portal takes.
pub const MAX_LOGO: usize = 256 * 1024;

/// The image type of a logo, by its first bytes: PNG, JPEG, GIF or WebP
/// (never SVG, which may carry script).
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Sets (`Some`) or removes (`None`) an org's portal logo; audited.
pub async fn set_logo(env: &Env<'_>, auth: &Caller, org: &str, image: Option<&[u8]>) -> Result<()> {
    let logo = match image {
        Some(bytes) if bytes.len() > MAX_LOGO => {
            return Err(Error::TooLarge(format!(
                "logo: the image is {} KiB; at most {} KiB",
                bytes.len().div_ceil(1024),
                MAX_LOGO / 1024
            )));
        }
        Some(bytes) => Some((
            image_type(bytes).ok_or_else(|| {
                Error::Invalid(
                    "logo: choose a PNG, JPEG, GIF or WebP image (SVG is not taken)".into(),
                )
            })?,
            bytes,
        )),
        None => None,
    };
    let mut tx = env.store.write().await?;
    let row = managed_org(&mut tx, auth, org).await?;
    let had = tx.portal_logo_stamp(&row.id).await?.is_some();
    tx.portal_logo_put(&row.id, logo).await?;
    let described =
        |l: Option<(&str, &[u8])>| l.map(|(t, b)| json!({"content_type": t, "bytes": b.len()}));
    crate::audit::audit(
        &mut tx,
        auth,
        Some(&row.tenant_id),
        crate::audit::Change {
            action: "org.portal_logo",
            kind: "org",
            target: &row.id,
            org: Some(&row.id),
            before: Some(json!({"logo": had})),
            after: Some(json!({"logo": described(logo)})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The portal's logo: its content type and bytes.
pub async fn logo(store: &Store, site: &Site) -> Result<(String, Vec<u8>)> {
    let mut tx = store.read().await?;
    tx.portal_logo(&site.org.id)
        .await?
        .ok_or_else(|| Error::NotFound("this portal has no logo".into()))
}
