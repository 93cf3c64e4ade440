//! Who has access, and why: for a resource the caller may explain, the
//! groups of everyone who sees or changes it (with the rule that admits each
//! and its users), or one user's or org key's decision with its rule. The
//! rules are core's (`orgscope_core::access`); the re-scope and org-deletion
//! previews ask the same function.

use orgscope_core::access::{self, Because, Explained, Group, KindRules};
use orgscope_core::ids::OrgId;
use orgscope_core::kind::Kind;
use orgscope_core::policy::{self, OrgSelector, Principal, Role, Scope, SystemRead};
use orgscope_store::{Page, ResourceRow, StoreError, Tx, UserSet};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::input::Listing;
use crate::orgs::OrgRef;
use crate::{Caller, Env, Error, OrNotFound, Result};

/// Users shown per group on the first answer (the rest by `?group=`).
const PAGE: i64 = 50;

/// What `GET /api/v1/{kind}/{id}/access` asks.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccessQuery {
    /// One user's decision (username or id), instead of the groups.
    pub user: Option<String>,
    /// One org key's decision (its id), instead of the groups.
    pub key: Option<String>,
    /// More users of one group (its `rule`), from `cursor`.
    pub group: Option<String>,
    pub cursor: Option<String>,
}

/// `{id, kind, name, org}` of what is explained.
#[derive(Debug, Serialize, ToSchema)]
pub struct Subject {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub org: Option<OrgRef>,
}

/// Everyone who sees or changes a resource, by the rule that admits them.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoHasAccess {
    pub resource: Subject,
    /// Derived data asked about (a knowledge entry): its access is that of
    /// `resource`, the file it comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asked_about: Option<Subject>,
    pub groups: Vec<AccessGroup>,
}

/// The principals one rule admits.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessGroup {
    /// `superuser`, `admin`, `auditor`, `member_of`, `tenant_wide`,
    /// `creator`, `org_key` or `any_org_key`.
    pub rule: String,
    /// The rule in words: `member of eng`, `org key of eng (read)`.
    pub text: String,
    pub org: Option<OrgRef>,
    /// For org keys: `read` or `read_write`.
    pub access: Option<String>,
    pub see: bool,
    pub change: bool,
    /// How many (enabled users, or keys in force).
    pub count: i64,
    /// The first of them you may know by name (users: usernames; keys:
    /// names); the others are counted, never named.
    pub names: Vec<String>,
    /// More of the group: `?group=<rule>&cursor=<this>`.
    pub next_cursor: Option<String>,
}

/// One principal's access to a resource, and the rule that decided it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Decision {
    /// `user` or `api_key`.
    pub kind: String,
    pub id: String,
    pub name: String,
    pub see: bool,
    pub change: bool,
    /// The deciding rule (for a denial, the one that would have allowed it).
    pub rule: String,
    pub because: String,
    pub see_because: String,
    pub change_because: String,
}

/// The answer of `GET /api/v1/{kind}/{id}/access`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum AccessAnswer {
    Groups(WhoHasAccess),
    Decision(Decision),
    /// A further page of one group's names.
    Page(Listing<String>),
}

/// Who has access to a resource of `kind`, or one principal's decision.
pub async fn explain(
    env: &Env<'_>,
    auth: &Caller,
    kind: &'static Kind,
    id: &str,
    q: &AccessQuery,
) -> Result<AccessAnswer> {
    let mut tx = env.store.read().await?;
    let row = tx
        .resource(kind.name, &policy::read_filter(&auth.principal), id)
        .await
        .or_not_found(kind.name, id)?;
    answer(&mut tx, auth, KindRules::of(kind), &row, None, q).await
}

/// Who has access to a knowledge entry: its file's answer.
pub async fn explain_knowledge(
    env: &Env<'_>,
    auth: &Caller,
    id: &str,
    q: &AccessQuery,
) -> Result<AccessAnswer> {
    let mut tx = env.store.read().await?;
    let filter = policy::read_filter(&auth.principal);
    let entry = tx
        .knowledge_entry(&filter, id)
        .await
        .or_not_found("knowledge entry", id)?;
    let file = tx
        .resource("file", &filter, &entry.file_id)
        .await
        .or_not_found("knowledge entry", id)?;
    let entry_subject = Subject {
        id: entry.id.clone(),
        kind: "knowledge_entry".into(),
        name: format!("{} #{}", entry.file_name, entry.position),
        org: OrgRef::of(entry.org_id.as_deref(), entry.org_slug.as_deref()),
    };
    let file_kind = crate::files::kind();
    answer(
        &mut tx,
        auth,
        KindRules::of(file_kind),
        &file,
        Some(entry_subject),
        q,
    )
    .await
}

async fn answer(
    tx: &mut Tx,
    auth: &Caller,
    rules: KindRules,
    row: &ResourceRow,
    asked_about: Option<Subject>,
    q: &AccessQuery,
) -> Result<AccessAnswer> {
    let scope = row.scope();
    let created_by = row.created_by.as_deref();
    if !access::can_explain(&auth.principal, rules, &scope, created_by) {
        return Err(Error::Forbidden(format!(
            "only admins, auditors and those who may change this {} see who has access to it",
            row.kind
        )));
    }
    let slug = |org: &OrgId| {
        if Some(org.as_str()) == row.org_id.as_deref() {
            row.org_slug.clone().unwrap_or_else(|| org.to_string())
        } else {
            org.to_string()
        }
    };
    match (&q.user, &q.key, &q.group) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => Err(
            Error::BadRequest("ask one thing: user, key or group".into()),
        ),
        (Some(user), None, None) => {
            let (principal, subject) = user_principal(tx, auth, &scope, user).await?;
            Ok(AccessAnswer::Decision(decide(
                principal, subject, rules, &scope, created_by, &slug,
            )))
        }
        (None, Some(key), None) => {
            let filter = policy::read_filter(&auth.principal);
            let key_row = tx
                .resource("api_key", &filter, key)
                .await
                .or_not_found("api key", key)?;
            let principal = crate::caller::key_principal(tx, &key_row)
                .await?
                .map(|(p, _)| p);
            let subject = ("api_key", key_row.id.clone(), key_row.name.clone());
            Ok(AccessAnswer::Decision(decide(
                principal, subject, rules, &scope, created_by, &slug,
            )))
        }
        (None, None, Some(rule)) => {
            let group = access::groups(rules, &scope, created_by)
                .into_iter()
                .find(|g| g.because.code() == rule && user_set(g, &scope, created_by).is_some())
                .ok_or_else(|| {
                    Error::BadRequest(format!(
                        "group: '{rule}' is not a group of users of this resource; use a rule its answer lists"
                    ))
                })?;
            let page = Page {
                limit: PAGE + 1,
                after: q.cursor.clone(),
            };
            let (_, names, next_cursor) =
                users_of(tx, auth, &group, &scope, created_by, &page).await?;
            Ok(AccessAnswer::Page(Listing {
                items: names,
                next_cursor,
            }))
        }
        (None, None, None) => {
            let mut groups = Vec::new();
            for g in access::groups(rules, &scope, created_by) {
                let page = Page {
                    limit: PAGE + 1,
                    after: None,
                };
                let (count, names, next_cursor) = match user_set(&g, &scope, created_by) {
                    Some(_) => users_of(tx, auth, &g, &scope, created_by, &page).await?,
                    None => keys_of(tx, auth, &g, &scope).await?,
                };
                groups.push(AccessGroup {
                    rule: g.because.code().into(),
                    text: g.because.text(slug),
                    org: g
                        .because
                        .org()
                        .and_then(|o| OrgRef::of(Some(o), Some(&slug(o)))),
                    access: match &g.because {
                        Because::OrgKey { access, .. } => Some(access.as_str().into()),
                        _ => None,
                    },
                    see: g.see,
                    change: g.change,
                    count,
                    names,
                    next_cursor,
                });
            }
            Ok(AccessAnswer::Groups(WhoHasAccess {
                resource: Subject {
                    id: row.id.clone(),
                    kind: row.kind.clone(),
                    name: row.name.clone(),
                    org: OrgRef::of(row.org_id.as_deref(), row.org_slug.as_deref()),
                },
                asked_about,
                groups,
            }))
        }
    }
}

/// A user of the caller's tenant whom the caller may name, as a principal
/// now (`None` when disabled).
async fn user_principal(
    tx: &mut Tx,
    auth: &Caller,
    scope: &Scope,
    reference: &str,
) -> Result<(Option<Principal>, (&'static str, String, String))> {
    let user = match tx.user(Some(&scope.tenant), reference).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => return Err(Error::not_found("user", reference)),
        Err(e) => return Err(e.into()),
    };
    if !may_name(tx, &auth.principal, &user.id).await? {
        return Err(Error::not_found("user", reference));
    }
    let principal = if user.disabled == 0 {
        Some(crate::caller::user_principal(tx, &user, scope.tenant.clone()).await?)
    } else {
        None
    };
    Ok((principal, ("user", user.id, user.username)))
}

/// May `p` learn this user's name? Those who list users may; others know
/// themselves and the members of their orgs (core's `named_users`).
async fn may_name(tx: &mut Tx, p: &Principal, user: &str) -> Result<bool> {
    let Some(orgs) = policy::named_users(p) else {
        return Ok(true);
    };
    if p.user_id() == Some(user) {
        return Ok(true);
    }
    for org in &orgs {
        if tx.member(org, user).await.is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}

fn decide(
    principal: Option<Principal>,
    (kind, id, name): (&'static str, String, String),
    rules: KindRules,
    scope: &Scope,
    created_by: Option<&str>,
    slug: &impl Fn(&OrgId) -> String,
) -> Decision {
    let Some(p) = principal else {
        let why = if kind == "user" {
            "disabled: signs in to nothing"
        } else {
            "inert: expired, or its maker no longer holds its org"
        };
        return Decision {
            kind: kind.into(),
            id,
            name,
            see: false,
            change: false,
            rule: if kind == "user" { "disabled" } else { "inert" }.into(),
            because: why.into(),
            see_because: why.into(),
            change_because: why.into(),
        };
    };
    let e: Explained = access::explain(&p, rules, scope, created_by);
    Decision {
        kind: kind.into(),
        id,
        name,
        see: e.see.allowed,
        change: e.change.allowed,
        rule: e.because().code().into(),
        because: e.because().text(slug),
        see_because: e.see.because.text(slug),
        change_because: e.change.because.text(slug),
    }
}

/// The users who see what is at `at` and may lose sight of it:
/// superusers, admins and auditors see either way.
fn audience<'a>(
    groups: &'a [Group],
    at: &'a Scope,
    created_by: Option<&'a str>,
) -> Vec<UserSet<'a>> {
    groups
        .iter()
        .filter(|g| {
            g.see
                && !matches!(
                    g.because,
                    Because::Superuser | Because::Admin | Because::Auditor
                )
        })
        .filter_map(|g| user_set(g, at, created_by))
        .collect()
}

/// The users a group of people names.
fn user_set<'a>(
    g: &'a Group,
    scope: &'a Scope,
    created_by: Option<&'a str>,
) -> Option<UserSet<'a>> {
    let tenant = scope.tenant.as_str();
    match &g.because {
        Because::Superuser => Some(UserSet::Superusers),
        Because::Admin => Some(UserSet::Role {
            tenant,
            role: Role::Admin.as_str(),
        }),
        Because::Auditor => Some(UserSet::Role {
            tenant,
            role: Role::Auditor.as_str(),
        }),
        Because::MemberOf(org) => Some(UserSet::Members { org: org.as_str() }),
        Because::TenantWide => Some(UserSet::Role {
            tenant,
            role: Role::User.as_str(),
        }),
        Because::Creator => created_by.map(|user| UserSet::One { user }),
        _ => None,
    }
}

/// A group's count and a page of the names the caller may know.
async fn users_of(
    tx: &mut Tx,
    auth: &Caller,
    g: &Group,
    scope: &Scope,
    created_by: Option<&str>,
    page: &Page,
) -> Result<(i64, Vec<String>, Option<String>)> {
    let set =
        user_set(g, scope, created_by).ok_or_else(|| Error::Internal("not a user group".into()))?;
    let count = tx.user_set_count(&set).await?;
    let mut rows = tx.user_set_page(&set, page).await?;
    let next = crate::input::next_cursor(&mut rows, page, |(id, _)| id.clone());
    let all_of = match &g.because {
        Because::MemberOf(org) => Some(org),
        _ => None,
    };
    let names = nameable_page(tx, &auth.principal, all_of, rows).await?;
    Ok((count, names, next))
}

/// The names of a page of users that `p` may learn: one query per org whose
/// members `p` may name (none when all of them are members, `all_of`, of
/// such an org).
async fn nameable_page(
    tx: &mut Tx,
    p: &Principal,
    all_of: Option<&OrgId>,
    rows: Vec<(String, String)>,
) -> Result<Vec<String>> {
    let Some(orgs) = policy::named_users(p) else {
        return Ok(rows.into_iter().map(|(_, name)| name).collect());
    };
    if all_of.is_some_and(|org| orgs.contains(org)) {
        return Ok(rows.into_iter().map(|(_, name)| name).collect());
    }
    let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    let mut known: std::collections::BTreeSet<String> =
        p.user_id().map(str::to_owned).into_iter().collect();
    for org in &orgs {
        known.extend(tx.members_among(org, &ids).await?);
    }
    Ok(rows
        .into_iter()
        .filter(|(id, _)| known.contains(id))
        .map(|(_, name)| name)
        .collect())
}

/// An org-key group: the keys in force (their makers still hold their
/// org) with that access; named when the caller can see them.
async fn keys_of(
    tx: &mut Tx,
    auth: &Caller,
    g: &Group,
    scope: &Scope,
) -> Result<(i64, Vec<String>, Option<String>)> {
    let selector = match &g.because {
        Because::OrgKey { org, .. } => OrgSelector::Org(org.to_string()),
        _ => OrgSelector::All,
    };
    // Counted over the whole tenant (the caller may explain this resource);
    // named only where the caller's own filter reads the key.
    let all = policy::system_filter(&scope.tenant, None, SystemRead::AlreadyAdmitted);
    let keys = tx.resources_all("api_key", &all, &selector).await?;
    let mine = policy::read_filter(&auth.principal);
    let (mut count, mut names) = (0, Vec::new());
    for key in keys {
        let Some((p, _)) = crate::caller::key_principal(tx, &key).await? else {
            continue;
        };
        if !access::admits(g, &p, scope, None) {
            continue;
        }
        count += 1;
        if tx.resource("api_key", &mine, &key.id).await.is_ok() {
            names.push(key.name.clone());
        }
    }
    Ok((count, names, None))
}

/// Who a move or a deletion takes sight from: how many enabled users see
/// what is at `from` and would not at `to` (`None`: deleted), and a page of
/// the names the caller may know.
#[derive(Debug, Default)]
pub struct Moving {
    pub names: Vec<String>,
    pub count: i64,
    pub next_cursor: Option<String>,
}

/// The users who see what is at `from` and would not at `to`, answered as
/// the explain route answers groups: core's groups name the sets (members
/// of an org, the tenant's users, the creator), and the store counts and
/// pages "in `from`'s sets, in none of `to`'s" on their indexes. An org to
/// org move reads the two orgs' members, never the tenant's users.
/// Superusers, admins and auditors see either way: no move takes anything
/// from them.
pub async fn users_moving(
    tx: &mut Tx,
    p: &Principal,
    rules: KindRules,
    from: &Scope,
    to: Option<&Scope>,
    created_by: Option<&str>,
    after: Option<String>,
) -> Result<Moving> {
    let from_groups = access::groups(rules, from, created_by);
    let to_groups = to
        .map(|t| access::groups(rules, t, created_by))
        .unwrap_or_default();
    let from_sets = audience(&from_groups, from, created_by);
    let to_sets = match to {
        Some(t) => audience(&to_groups, t, created_by),
        None => Vec::new(),
    };
    let count = tx.users_between_count(&from_sets, &to_sets).await?;
    let page = Page {
        limit: PAGE + 1,
        after,
    };
    let mut rows = tx.users_between_page(&from_sets, &to_sets, &page).await?;
    let next_cursor = crate::input::next_cursor(&mut rows, &page, |(id, _)| id.clone());
    // Everyone losing sight of an org's resource is a member of it.
    let names = nameable_page(tx, p, from.org.as_ref(), rows).await?;
    Ok(Moving {
        names,
        count,
        next_cursor,
    })
}
