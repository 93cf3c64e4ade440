//! Orgs and their memberships: as a caller names them (in `org=` selectors
//! and `org` body fields, by slug or id, answered as missing when hidden),
//! and the operations on them (create, change, verify a domain, delete
//! with a disposition, members with `can_manage`).

use orgscope_core::ids::{OrgId, TenantId};
use orgscope_core::kind;
use orgscope_core::policy::{self, OrgSelector, ReadFilter, Scope, SystemRead};
use orgscope_store::{MemberRow, OrgRow, Page, StoreError, Tx, UserRow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::audit::{Change, audit, snapshot};
use crate::input::{Listing, listing, nullable, required};
use crate::{Caller, Env, Error, Result};

/// `{id, slug}`: how a resource or user names its org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OrgRef {
    pub id: String,
    pub slug: Option<String>,
}

impl OrgRef {
    pub fn of(id: Option<&str>, slug: Option<&str>) -> Option<OrgRef> {
        id.map(|id| OrgRef {
            id: id.to_owned(),
            slug: slug.map(str::to_owned),
        })
    }
}

/// An org.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Org {
    pub id: String,
    /// Always `org`.
    pub kind: String,
    pub slug: String,
    pub name: String,
    /// The parent org's id; null for a top-level org or one you cannot see.
    pub parent: Option<String>,
    /// The host name the org claims for its portal.
    pub domain: Option<String>,
    pub domain_verification: Option<DomainVerification>,
    pub created_at: String,
    pub updated_at: String,
}

/// Where a domain claim stands, and the DNS record that proves it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainVerification {
    /// `pending` or `verified`.
    pub status: String,
    /// The name of the TXT record to publish.
    pub txt_name: String,
    /// The value it must hold.
    pub txt_value: Option<String>,
    pub verified_at: Option<String>,
}

/// An org as `POST /api/v1/orgs` takes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    /// Unique in the tenant: 2-63 of a-z, 0-9 and '-'; not all, tenant or none.
    pub slug: String,
    pub name: String,
    /// Parent org slug or id (same tenant, no cycles).
    #[serde(default)]
    pub parent: Option<String>,
    /// A host name for the org's portal, unique in the tenant. It serves the
    /// portal once proved: `POST /api/v1/orgs/{org}/domain/verify`.
    #[serde(default)]
    pub domain: Option<String>,
}

/// What `PATCH /api/v1/orgs/{org}` changes; absent fields stay, `null`
/// clears the parent or the domain.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgChanges {
    /// Admins only.
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Admins only: an org slug or id, or null for top level.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub parent: Option<Option<String>>,
    /// A new claim starts unproved; null drops the claim.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub domain: Option<Option<String>>,
}

/// How `DELETE /api/v1/orgs/{org}` disposes of what the org owns (the body
/// may be left out when it owns nothing).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgDisposal {
    /// Another org (slug or id) to move the resources to, or null for tenant-wide.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub move_to: Option<Option<String>>,
    /// Delete what the org owns instead of moving it.
    #[serde(default)]
    pub delete_resources: bool,
    /// Answer the impact and change nothing.
    #[serde(default)]
    pub preview: bool,
    /// With `preview`: more names of users losing access, from this
    /// `users_losing_access_next_cursor`.
    #[serde(default)]
    pub losing_cursor: Option<String>,
}

/// What deleting an org does (answered by a preview, and audited).
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgImpact {
    pub org: Org,
    /// Resources the org owns, by kind.
    pub owns: std::collections::BTreeMap<String, i64>,
    /// Slugs of child orgs that become top level.
    pub children_losing_their_parent: Vec<String>,
    /// Assignments dropped because the user is not a member of `move_to`.
    pub persona_assignments_pruned: Vec<PrunedAssignment>,
    /// The org's access keys: they end with it.
    pub keys_revoked: Vec<String>,
    /// Usernames (those you may know of) who see the org's resources now
    /// and would not after the disposition: a page of 50 users at most.
    pub users_losing_access: Vec<String>,
    /// How many users in all.
    pub users_losing_access_count: i64,
    /// More names: preview again with `losing_cursor` set to this.
    pub users_losing_access_next_cursor: Option<String>,
    /// `"delete"`, `{"move_to": slug or null}`, or null when none was given.
    #[schema(value_type = Object)]
    pub disposition: Value,
}

/// A persona assignment that a move drops.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrunedAssignment {
    pub persona: String,
    pub user: String,
}

/// The answer of an org-deletion preview.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgDeletionPreview {
    /// Always true.
    pub preview: bool,
    pub impact: OrgImpact,
}

/// A membership.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Member {
    /// The org's id.
    pub org: String,
    pub user: MemberUser,
    /// May manage the org (members, name, domain); never widens what they see.
    pub can_manage: bool,
    pub created_at: String,
}

/// The user of a membership.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberUser {
    pub id: String,
    pub username: String,
}

/// A membership as `POST /api/v1/orgs/{org}/members` takes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// Username or id of a user of the same tenant.
    pub user: String,
    /// Lets the member manage the org (members, name, domain); never widens what they see.
    #[serde(default)]
    pub can_manage: bool,
}

/// What `PATCH /api/v1/orgs/{org}/members/{user}` changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberChanges {
    pub can_manage: bool,
}

/// What removing a member did.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberRemoved {
    pub removed: Member,
    /// Whether this org was the user's default org (now none).
    pub default_org_cleared: bool,
    /// The personas of this org whose assignment of the user ended.
    pub persona_assignments_pruned: Vec<String>,
}

/// How `POST /api/v1/orgs/{org}/domain/verify` proves a domain claim (the
/// body may be left out).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainProof {
    /// Superusers only: vouch for the domain without asking DNS (the
    /// operator runs the DNS and the proxy in front of the server).
    #[serde(default)]
    pub skip_dns: bool,
}

/// The `org=` query value as a selector. An org the caller cannot see is a
/// 404, exactly as one that does not exist.
pub async fn selector(tx: &mut Tx, auth: &Caller, org: Option<&str>) -> Result<OrgSelector> {
    match org {
        None | Some("all") => Ok(OrgSelector::All),
        Some("tenant" | "none") => Ok(OrgSelector::TenantWide),
        Some(reference) => {
            let row = visible_org(tx, auth, reference).await?;
            Ok(OrgSelector::Org(row.id))
        }
    }
}

/// An org the caller can see, by slug or id; 404 otherwise.
pub async fn visible_org(tx: &mut Tx, auth: &Caller, reference: &str) -> Result<OrgRow> {
    let filter = policy::read_filter(&auth.principal);
    match tx.org(&filter, reference).await {
        Ok(org) => Ok(org),
        Err(StoreError::NotFound) => Err(Error::not_found("org", reference)),
        Err(e) => Err(e.into()),
    }
}

/// Resolves the `org` field of a body: absent = the caller's default org (an
/// org key's own org), `null` = tenant-wide, otherwise a slug or id the caller
/// can see. Never falls back to anything else.
pub async fn org_field(tx: &mut Tx, auth: &Caller, body: &Value) -> Result<Option<OrgRow>> {
    match body.get("org") {
        None => org_choice(tx, auth, None).await,
        Some(Value::Null) => org_choice(tx, auth, Some(None)).await,
        Some(Value::String(reference)) => org_choice(tx, auth, Some(Some(reference))).await,
        Some(_) => Err(Error::Invalid(
            "org: must be an org slug or id, or null for tenant-wide".into(),
        )),
    }
}

/// The org a typed body names: `None` (absent) = the caller's default org,
/// `Some(None)` (`null`) = tenant-wide, else a slug or id the caller can see.
pub async fn org_choice(
    tx: &mut Tx,
    auth: &Caller,
    org: Option<Option<&str>>,
) -> Result<Option<OrgRow>> {
    match org {
        None => {
            let default = match &auth.principal.actor {
                policy::Actor::OrgKey { org, .. } => Some(org.to_string()),
                policy::Actor::User { .. } => {
                    auth.user.as_ref().and_then(|u| u.default_org_id.clone())
                }
            };
            match default {
                Some(id) => Ok(Some(visible_org(tx, auth, &id).await?)),
                None => Err(Error::Invalid(
                    "org: you have no default org; give an org slug or id, or null for tenant-wide"
                        .into(),
                )),
            }
        }
        Some(None) => Ok(None),
        Some(Some(reference)) => match visible_org(tx, auth, reference).await {
            Ok(org) => Ok(Some(org)),
            Err(Error::NotFound(_)) => Err(Error::Invalid(format!(
                "org: no org '{reference}'; give the slug or id of an org you belong to, or null for tenant-wide"
            ))),
            Err(e) => Err(e),
        },
    }
}

/// `{id, slug}` of an org, or null (in a resource's JSON).
pub fn org_ref(id: Option<&str>, slug: Option<&str>) -> Value {
    snapshot(&OrgRef::of(id, slug))
}

/// An org as `p` sees it: a parent `p` cannot see is not named.
pub fn render_org_for(p: &policy::Principal, o: &OrgRow) -> Org {
    let mut out = render_org(o);
    if o.parent_id
        .as_deref()
        .is_some_and(|parent| !policy::org_visible(p, &o.tenant(), &OrgId::from(parent)))
    {
        out.parent = None;
    }
    out
}

/// An org in full (the audit log, and callers who see the whole tenant).
pub fn render_org(o: &OrgRow) -> Org {
    Org {
        id: o.id.clone(),
        kind: "org".into(),
        slug: o.slug.clone(),
        name: o.name.clone(),
        parent: o.parent_id.clone(),
        domain: o.domain.clone(),
        domain_verification: o.domain.as_ref().map(|d| DomainVerification {
            status: if o.domain_verified_at.is_some() {
                "verified"
            } else {
                "pending"
            }
            .into(),
            txt_name: txt_name(d),
            txt_value: o.domain_token.clone(),
            verified_at: o.domain_verified_at.clone(),
        }),
        created_at: o.created_at.clone(),
        updated_at: o.updated_at.clone(),
    }
}

/// Where the DNS TXT record proving a domain claim lives.
fn txt_name(domain: &str) -> String {
    format!("_orgscope.{domain}")
}

fn new_domain_token() -> String {
    crate::secrets::new_secret("orgscope-verify=")
}

fn render_member(m: &MemberRow) -> Member {
    Member {
        org: m.org_id.clone(),
        user: MemberUser {
            id: m.user_id.clone(),
            username: m.username.clone(),
        },
        can_manage: m.can_manage != 0,
        created_at: m.created_at.clone(),
    }
}

/// Org bookkeeping the handler has already authorized (an org it admitted,
/// a parent an admin names, the tree walk for cycles).
fn tenant_filter(tenant: &str) -> ReadFilter {
    policy::system_filter(&TenantId::from(tenant), None, SystemRead::Accounts)
}

fn check_domain(d: &str) -> Result<String> {
    let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(d)
    } else {
        Err(Error::Invalid(format!(
            "domain: '{d}' is not a host name like portal.example.com"
        )))
    }
}

/// Refuses a parent that is the org itself or one of its descendants.
async fn check_parent(tx: &mut Tx, tenant: &str, org: &str, parent: &str) -> Result<()> {
    let filter = tenant_filter(tenant);
    let mut cursor = Some(parent.to_owned());
    let mut steps = 0;
    while let Some(id) = cursor {
        if id == org {
            return Err(Error::Invalid(
                "parent: that would make a cycle (the parent is this org or one of its descendants)".into(),
            ));
        }
        steps += 1;
        if steps > 1000 {
            return Err(Error::Invalid("parent: the org tree is too deep".into()));
        }
        cursor = tx.org_parent(&filter, &id).await?;
    }
    Ok(())
}

fn duplicate(e: StoreError) -> Error {
    match e {
        StoreError::Duplicate("domain") => {
            Error::conflict("domain: another org of this tenant claims that domain; choose another")
        }
        StoreError::Duplicate(_) => {
            Error::conflict("slug: an org with that slug already exists; choose another")
        }
        e => e.into(),
    }
}

pub async fn list_orgs(env: &Env<'_>, auth: &Caller, page: &Page) -> Result<Listing<Org>> {
    let mut tx = env.store.read().await?;
    let rows = tx.orgs(&policy::read_filter(&auth.principal), page).await?;
    let render = |o: &OrgRow| render_org_for(&auth.principal, o);
    Ok(listing(rows, page, |o| o.id.clone(), render))
}

pub async fn create_org(env: &Env<'_>, auth: &Caller, input: &NewOrg) -> Result<Org> {
    let tenant = auth.tenant()?.to_owned();
    let slug = required("slug", &input.slug, 63)?.to_owned();
    orgscope_core::check_slug(&slug).map_err(Error::Invalid)?;
    let name = required("name", &input.name, 200)?.to_owned();
    let domain = input.domain.as_deref().map(check_domain).transpose()?;
    if !policy::can_restructure_orgs(&auth.principal) {
        return Err(Error::Forbidden("only admins create orgs".into()));
    }
    let mut tx = env.store.write().await?;
    let parent = match &input.parent {
        Some(p) => Some(
            tx.org(&tenant_filter(&tenant), p)
                .await
                .map_err(|_| Error::Invalid(format!("parent: no org '{p}'")))?
                .id,
        ),
        None => None,
    };
    let token = new_domain_token();
    let claim = domain.as_deref().map(|domain| orgscope_store::DomainClaim {
        domain,
        token: &token,
    });
    let org = tx
        .org_create(&tenant, &slug, &name, parent.as_deref(), claim)
        .await
        .map_err(duplicate)?;
    let out = render_org(&org);
    audit(
        &mut tx,
        auth,
        Some(&tenant),
        Change {
            action: "org.create",
            kind: "org",
            target: &org.id,
            org: Some(&org.id),
            before: None,
            after: Some(snapshot(&out)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

pub async fn get_org(env: &Env<'_>, auth: &Caller, org: &str) -> Result<Org> {
    let mut tx = env.store.read().await?;
    let row = visible_org(&mut tx, auth, org).await?;
    Ok(render_org_for(&auth.principal, &row))
}

pub async fn update_org(
    env: &Env<'_>,
    auth: &Caller,
    org: &str,
    input: &OrgChanges,
) -> Result<Org> {
    let mut tx = env.store.write().await?;
    let before = visible_org(&mut tx, auth, org).await?;
    if !policy::can_manage_org(&auth.principal, &before.tenant(), &before.org()) {
        return Err(Error::Forbidden(format!(
            "you cannot manage org '{}': admins and members with can_manage can",
            before.slug
        )));
    }
    let mut after = before.clone();
    if let Some(name) = &input.name {
        after.name = required("name", name, 200)?.to_owned();
    }
    if let Some(domain) = &input.domain {
        after.domain = domain.as_deref().map(check_domain).transpose()?;
        if after.domain != before.domain {
            // A new claim is unproved until DNS says otherwise.
            after.domain_token = after.domain.as_ref().map(|_| new_domain_token());
            after.domain_verified_at = None;
        }
    }
    let structural = input.slug.is_some() || input.parent.is_some();
    if structural && !policy::can_restructure_orgs(&auth.principal) {
        return Err(Error::Forbidden(
            "only admins change an org's slug or parent".into(),
        ));
    }
    if let Some(slug) = &input.slug {
        let slug = required("slug", slug, 63)?.to_owned();
        orgscope_core::check_slug(&slug).map_err(Error::Invalid)?;
        after.slug = slug;
    }
    if let Some(parent) = &input.parent {
        after.parent_id = match parent {
            None => None,
            Some(p) => {
                let row = tx
                    .org(&tenant_filter(&before.tenant_id), p)
                    .await
                    .map_err(|_| Error::Invalid(format!("parent: no org '{p}'")))?;
                check_parent(&mut tx, &before.tenant_id, &before.id, &row.id).await?;
                Some(row.id)
            }
        };
    }
    tx.org_update(&after).await.map_err(duplicate)?;
    org_changed(tx, auth, &before, "org.update").await
}

/// Ends a change to an org: audits it (as it was and is now) and answers it.
async fn org_changed(mut tx: Tx, auth: &Caller, before: &OrgRow, action: &str) -> Result<Org> {
    let after = tx
        .org(&tenant_filter(&before.tenant_id), &before.id)
        .await?;
    audit(
        &mut tx,
        auth,
        Some(&before.tenant_id),
        Change {
            action,
            kind: "org",
            target: &before.id,
            org: Some(&before.id),
            before: Some(snapshot(&render_org(before))),
            after: Some(snapshot(&render_org(&after))),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(render_org_for(&auth.principal, &after))
}

/// Deletes an org with the disposition given; a preview answers the impact
/// and changes nothing.
pub async fn delete_org(
    env: &Env<'_>,
    auth: &Caller,
    org: &str,
    input: &OrgDisposal,
) -> Result<Option<OrgDeletionPreview>> {
    if !input.preview && input.losing_cursor.is_some() {
        return Err(Error::Invalid(
            "losing_cursor: only with preview: true (it pages a preview's names)".into(),
        ));
    }
    // Who loses sight is read before the write transaction: on SQLite that
    // transaction holds every other writer.
    let losing = {
        let mut tx = env.store.read().await?;
        let (row, move_to) = disposal(&mut tx, auth, org, input).await?;
        let from = Scope {
            tenant: row.tenant(),
            org: Some(row.org()),
        };
        let to = move_to.as_ref().map(|target| Scope {
            tenant: row.tenant(),
            org: target.as_ref().map(OrgRow::org),
        });
        crate::access::users_moving(
            &mut tx,
            &auth.principal,
            // Who sees a resource depends on its scope alone, whatever its kind.
            orgscope_core::access::KindRules {
                policy: kind::ScopePolicy::AdminTenantWide,
                keys_manage: true,
            },
            &from,
            to.as_ref(),
            None,
            input.losing_cursor.clone(),
        )
        .await?
    };
    let mut tx = if input.preview {
        env.store.read().await?
    } else {
        env.store.write().await?
    };
    let (row, move_to) = disposal(&mut tx, auth, org, input).await?;
    let holdings = tx
        .org_holdings(&policy::read_filter(&auth.principal), &row.id)
        .await?;
    let children = tx.org_children(&row.id).await?;
    let counts: std::collections::BTreeMap<String, i64> = holdings.iter().cloned().collect();
    let preview = input.preview;
    let delete_resources = input.delete_resources;
    if move_to.is_some() && delete_resources {
        return Err(Error::Invalid(
            "give either move_to or delete_resources, not both".into(),
        ));
    }
    let resources: i64 = holdings
        .iter()
        .filter(|(k, _)| k != "org")
        .map(|(_, n)| n)
        .sum();
    // Org-required kinds cannot follow to tenant-wide.
    if let Some(None) = move_to {
        let stuck: Vec<&String> = holdings
            .iter()
            .map(|(k, _)| k)
            .filter(|k| {
                k.as_str() != "api_key"
                    && orgscope_core::kind::KINDS.iter().any(|kd| {
                        kd.name == k.as_str() && kd.policy == kind::ScopePolicy::OrgRequired
                    })
            })
            .collect();
        if !stuck.is_empty() {
            return Err(Error::Conflict {
                detail: format!(
                    "move_to null: these kinds must belong to an org and cannot become tenant-wide: {}; move them to another org or delete them",
                    stuck
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                blocking: json!(counts),
            });
        }
    }
    // Personas that follow to another org keep only that org's members.
    let mut pruned = Vec::new();
    if let Some(Some(target)) = &move_to {
        let filter = policy::read_filter(&auth.principal);
        let personas = tx
            .resources_all(
                "persona",
                &filter,
                &orgscope_core::policy::OrgSelector::Org(row.id.clone()),
            )
            .await?;
        for p in personas {
            for (user, name) in tx.assignments(&p.id).await? {
                if tx.member(&target.id, &user).await.is_err() {
                    pruned.push(PrunedAssignment {
                        persona: p.id.clone(),
                        user: name,
                    });
                }
            }
            if !preview {
                tx.assignments_prune(&p.id, &target.id).await?;
            }
        }
    }
    // The org's access keys end with it, whatever the disposition: a key
    // moved to another org would gain that org's rights.
    let keys: Vec<String> = tx
        .resources_all(
            "api_key",
            &policy::read_filter(&auth.principal),
            &orgscope_core::policy::OrgSelector::Org(row.id.clone()),
        )
        .await?
        .into_iter()
        .map(|k| k.id)
        .collect();
    let disposition = match &move_to {
        _ if delete_resources => json!("delete"),
        Some(Some(t)) => json!({ "move_to": t.slug }),
        Some(None) => json!({ "move_to": null }),
        None => Value::Null,
    };
    let impact = OrgImpact {
        org: render_org(&row),
        owns: counts.clone(),
        children_losing_their_parent: children,
        persona_assignments_pruned: pruned,
        keys_revoked: keys.clone(),
        users_losing_access: losing.names,
        users_losing_access_count: losing.count,
        users_losing_access_next_cursor: losing.next_cursor,
        disposition,
    };
    if preview {
        return Ok(Some(OrgDeletionPreview {
            preview: true,
            impact,
        }));
    }
    if resources > 0 && move_to.is_none() && !delete_resources {
        return Err(Error::Conflict {
            detail: format!(
                "org '{}' still owns resources: give move_to (an org, or null for tenant-wide) or delete_resources: true",
                row.slug
            ),
            blocking: json!(counts),
        });
    }
    for key in &keys {
        tx.resource_delete(key).await?;
    }
    tx.org_dispose(
        &row.id,
        match &move_to {
            Some(target) => {
                orgscope_store::Disposition::Move(target.as_ref().map(|t| t.id.as_str()))
            }
            None => orgscope_store::Disposition::Delete,
        },
    )
    .await?;
    if move_to.is_some() {
        // What moved must not have a gateway serve a path twice.
        let (routes, proxies) = crate::api_gateways::tenant_routes(&mut tx, &row.tenant_id).await?;
        let pairs = crate::api_gateways::clashes(&routes, &proxies);
        let viewer = policy::read_filter(&auth.principal);
        crate::api_gateways::refuse_clashes(&mut tx, &viewer, &pairs).await?;
    }
    tx.org_delete(&row.id).await?;
    audit(
        &mut tx,
        auth,
        Some(&row.tenant_id),
        Change {
            action: "org.delete",
            kind: "org",
            target: &row.id,
            org: Some(&row.id),
            before: Some(snapshot(&render_org(&row))),
            after: Some(snapshot(&impact)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(None)
}

/// The org to delete (the caller may) and where its resources go: `None`
/// nowhere given, `Some(None)` tenant-wide.
async fn disposal(
    tx: &mut Tx,
    auth: &Caller,
    org: &str,
    input: &OrgDisposal,
) -> Result<(OrgRow, Option<Option<OrgRow>>)> {
    let row = visible_org(tx, auth, org).await?;
    if !policy::can_restructure_orgs(&auth.principal) {
        return Err(Error::Forbidden("only admins delete orgs".into()));
    }
    let move_to = match &input.move_to {
        None => None,
        Some(None) => Some(None),
        Some(Some(target)) => {
            let t = tx
                .org(&tenant_filter(&row.tenant_id), target)
                .await
                .map_err(|_| Error::Invalid(format!("move_to: no org '{target}'")))?;
            if t.id == row.id {
                return Err(Error::Invalid(
                    "move_to: must be another org than the one being deleted".into(),
                ));
            }
            Some(Some(t))
        }
    };
    Ok((row, move_to))
}

/// The org (visible) and whether the caller may manage it.
async fn org_for_members(tx: &mut Tx, auth: &Caller, org: &str) -> Result<(OrgRow, bool)> {
    let row = visible_org(tx, auth, org).await?;
    let manage = policy::can_manage_org(&auth.principal, &row.tenant(), &row.org());
    Ok((row, manage))
}

/// A user of the tenant named in a membership path. A missing user answers
/// as a user who is not a member does: the path asks about a membership.
async fn tenant_user(tx: &mut Tx, tenant: &str, user: &str) -> Result<UserRow> {
    match tx.user(Some(tenant), user).await {
        Ok(u) => Ok(u),
        Err(StoreError::NotFound) => Err(Error::not_found("member", user)),
        Err(e) => Err(e.into()),
    }
}

pub async fn list_members(
    env: &Env<'_>,
    auth: &Caller,
    org: &str,
    page: &Page,
) -> Result<Listing<Member>> {
    let mut tx = env.store.read().await?;
    let (row, _) = org_for_members(&mut tx, auth, org).await?;
    let rows = tx.members(&row.id, page).await?;
    Ok(listing(rows, page, |m| m.user_id.clone(), render_member))
}

pub async fn add_member(
    env: &Env<'_>,
    auth: &Caller,
    org: &str,
    input: &NewMember,
) -> Result<(bool, Member)> {
    let user = required("user", &input.user, 200)?;
    put_member(env, auth, org, user, input.can_manage, true).await
}

pub async fn get_member(env: &Env<'_>, auth: &Caller, org: &str, user: &str) -> Result<Member> {
    let mut tx = env.store.read().await?;
    let (row, _) = org_for_members(&mut tx, auth, org).await?;
    let u = tenant_user(&mut tx, &row.tenant_id, user).await?;
    let m = tx
        .member(&row.id, &u.id)
        .await
        .map_err(|_| Error::not_found("member", user))?;
    Ok(render_member(&m))
}

pub async fn update_member(
    env: &Env<'_>,
    auth: &Caller,
    org: &str,
    user: &str,
    input: &MemberChanges,
) -> Result<Member> {
    put_member(env, auth, org, user, input.can_manage, false)
        .await
        .map(|(_, after)| after)
}

/// Adds (`create`) or changes a membership; answers whether it is new.
async fn put_member(
    env: &Env<'_>,
    auth: &Caller,
    org: &str,
    user: &str,
    can_manage: bool,
    create: bool,
) -> Result<(bool, Member)> {
    let mut tx = env.store.write().await?;
    let (row, manage) = org_for_members(&mut tx, auth, org).await?;
    if !manage {
        return Err(Error::Forbidden(format!(
            "you cannot manage the members of '{}': admins and members with can_manage can",
            row.slug
        )));
    }
    let u = match tenant_user(&mut tx, &row.tenant_id, user).await {
        Err(Error::NotFound(_)) if create => {
            return Err(Error::Invalid(format!(
                "user: no user '{user}' in this tenant"
            )));
        }
        other => other?,
    };
    let before = tx.member(&row.id, &u.id).await.ok();
    if !create && before.is_none() {
        return Err(Error::not_found("member", user));
    }
    tx.member_put(&row.id, &u.id, can_manage).await?;
    let after = render_member(&tx.member(&row.id, &u.id).await?);
    audit(
        &mut tx,
        auth,
        Some(&row.tenant_id),
        Change {
            action: if before.is_some() {
                "member.update"
            } else {
                "member.add"
            },
            kind: "membership",
            target: &u.id,
            org: Some(&row.id),
            before: before.as_ref().map(|m| snapshot(&render_member(m))),
            after: Some(snapshot(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((before.is_none(), after))
}

pub async fn remove_member(
    env: &Env<'_>,
    auth: &Caller,
    org: &str,
    user: &str,
) -> Result<MemberRemoved> {
    let mut tx = env.store.write().await?;
    let (row, manage) = org_for_members(&mut tx, auth, org).await?;
    if !manage {
        return Err(Error::Forbidden(format!(
            "you cannot manage the members of '{}': admins and members with can_manage can",
            row.slug
        )));
    }
    let u = tenant_user(&mut tx, &row.tenant_id, user).await?;
    let before = tx
        .member(&row.id, &u.id)
        .await
        .map_err(|_| Error::not_found("member", user))?;
    let cleared = tx.member_remove(&row.id, &u.id).await?;
    let unassigned = tx.assignments_prune_member(&row.id, &u.id).await?;
    let out = MemberRemoved {
        removed: render_member(&before),
        default_org_cleared: cleared,
        persona_assignments_pruned: unassigned,
    };
    audit(
        &mut tx,
        auth,
        Some(&row.tenant_id),
        Change {
            action: "member.remove",
            kind: "membership",
            target: &u.id,
            org: Some(&row.id),
            before: Some(snapshot(&out.removed)),
            after: Some(snapshot(&out)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

pub async fn verify_domain(
    env: &Env<'_>,
    auth: &Caller,
    org: &str,
    input: &DomainProof,
) -> Result<Org> {
    let skip_dns = input.skip_dns;
    let claimed = {
        let mut tx = env.store.read().await?;
        visible_org(&mut tx, auth, org).await?
    };
    if !policy::can_manage_org(&auth.principal, &claimed.tenant(), &claimed.org()) {
        return Err(Error::Forbidden(format!(
            "you cannot manage org '{}': admins and members with can_manage can",
            claimed.slug
        )));
    }
    let (Some(domain), Some(token)) = (&claimed.domain, &claimed.domain_token) else {
        return Err(Error::conflict(format!(
            "org '{}' claims no domain: set one first (PATCH /api/v1/orgs/{{org}} with {{\"domain\": …}})",
            claimed.slug
        )));
    };
    if claimed.domain_verified_at.is_some() {
        return Ok(render_org_for(&auth.principal, &claimed));
    }
    if skip_dns {
        if !auth.is_superuser() {
            return Err(Error::Forbidden(
                "skip_dns: only superusers vouch for a domain without DNS".into(),
            ));
        }
    } else {
        // Asked with no transaction open: DNS may take seconds.
        prove_by_dns(env.dns, domain, token).await?;
    }
    let mut tx = env.store.write().await?;
    let now = tx
        .org(&tenant_filter(&claimed.tenant_id), &claimed.id)
        .await?;
    if now.domain != claimed.domain || now.domain_token != claimed.domain_token {
        return Err(Error::conflict(
            "domain: the org's domain changed while it was being verified; verify again",
        ));
    }
    // Two proofs of one domain at the same moment: one wins, the other retries.
    let lost = tx.org_domain_proved(&now).await.map_err(|e| match e {
        StoreError::Duplicate(_) => Error::conflict(
            "domain: it was being verified elsewhere at the same moment; verify again",
        ),
        e => e.into(),
    })?;
    for other in &lost {
        // The org that held the domain hears only that DNS now proves
        // someone else's claim: not who, nor which tenant.
        tx.audit_append(&orgscope_store::NewAudit {
            tenant_id: Some(other.tenant_id.clone()),
            actor: "orgscope".into(),
            actor_id: None,
            action: "org.domain_lost".into(),
            kind: "org".into(),
            target: other.id.clone(),
            org_id: Some(other.id.clone()),
            other_org_id: None,
            before: Some(snapshot(&render_org(other)).to_string()),
            after: None,
        })
        .await?;
    }
    org_changed(tx, auth, &claimed, "org.domain_verify").await
}

/// Succeeds when a TXT record at `_orgscope.<domain>` holds `token`. The
/// answer never depends on other tenants: DNS is asked, not the database.
async fn prove_by_dns(
    servers: Option<&crate::dns::Nameservers>,
    domain: &str,
    token: &str,
) -> Result<()> {
    let name = txt_name(domain);
    let Some(servers) = servers else {
        return Err(Error::BadGateway(
            "no DNS resolver is configured: the operator sets ORGSCOPE_DNS_SERVER".into(),
        ));
    };
    let records = crate::dns::txt_records(servers, &name)
        .await
        .map_err(|e| {
            Error::BadGateway(format!(
                "the DNS resolvers {servers} could not be asked for {name}: {e}; try again, or ask the operator to check ORGSCOPE_DNS_SERVER"
            ))
        })?;
    if records.iter().any(|r| r.trim() == token) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "domain: no TXT record at {name} holds {token}; add it at your DNS provider and verify again (new records can take minutes to appear)"
        )))
    }
}
