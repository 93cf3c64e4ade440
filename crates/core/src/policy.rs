//! The rules of DESIGN section 3 as pure functions of a principal and a scope.
//!
//! Nothing here reads a database: the server loads the principal (its role and
//! memberships) fresh for every request and the store turns [`ReadFilter`] into
//! SQL in one place, so membership and scope are evaluated in the same statement
//! as the data they guard.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ids::{OrgId, TenantId, UserId};
use crate::kind::ScopePolicy;

/// A user's role in their tenant (superusers have none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
    /// Reads everything in its tenant and changes nothing.
    Auditor,
    /// Acts in every tenant; belongs to none.
    Superuser,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::User, Role::Admin, Role::Auditor, Role::Superuser];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Superuser => "superuser",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What an org access key may do in its org.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    ReadWrite,
}

impl Access {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::ReadWrite => "read_write",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Access> {
        match s {
            "read" => Some(Access::Read),
            "read_write" => Some(Access::ReadWrite),
            _ => None,
        }
    }
}

/// Who is asking, in which tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The tenant the request acts in (a superuser's is the one they named).
    pub tenant: TenantId,
    pub actor: Actor,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User {
        id: UserId,
        role: Role,
        /// Orgs the user is a member of.
        member_of: BTreeSet<OrgId>,
        /// Orgs where the membership has `can_manage`.
        managing: BTreeSet<OrgId>,
    },
    /// An org access key: bound to exactly one org.
    OrgKey {
        id: String,
        org: OrgId,
        access: Access,
    },
}

/// Where a resource lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub tenant: TenantId,
    /// `None` = tenant-wide.
    pub org: Option<OrgId>,
}

/// The rows a principal may read, as the store must apply it to every query of
/// scoped data. Only this module builds one: from a principal
/// ([`read_filter`], [`audit_filter`]) or, for work that runs before or
/// without one, [`system_filter`] with its reason. Its rule is readable
/// (the store turns it into SQL) but a `ReadFilter` cannot be made from it
/// elsewhere:
///
/// ```compile_fail
/// use orgscope_core::policy::{ReadFilter, Rule};
/// let everything = ReadFilter(Rule::Tenant { tenant: "t".into() });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadFilter(Rule);

/// What a [`ReadFilter`] admits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Everything in the tenant (admins, auditors, superusers).
    Tenant { tenant: TenantId },
    /// Tenant-wide rows and rows of orgs the user is a member of *now*.
    Member { tenant: TenantId, user: UserId },
    /// Tenant-wide rows and rows of one org (an org key's, or a system read
    /// bounded to an org).
    OrgKey { tenant: TenantId, org: OrgId },
    /// Only rows of orgs the user manages (the audit log for org managers).
    Manager { tenant: TenantId, user: UserId },
}

impl ReadFilter {
    #[must_use]
    pub fn rule(&self) -> &Rule {
        &self.0
    }

    #[must_use]
    pub fn tenant(&self) -> &str {
        match &self.0 {
            Rule::Tenant { tenant }
            | Rule::Member { tenant, .. }
            | Rule::OrgKey { tenant, .. }
            | Rule::Manager { tenant, .. } => tenant,
        }
    }
}

/// Why a read runs under [`system_filter`] rather than a principal's
/// filter. Every use names one, with a comment saying why it is safe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemRead {
    /// Reading back, or presenting, a row the caller's own filter already
    /// admitted (or that it was just allowed to write) in this transaction.
    AlreadyAdmitted,
    /// The rules in force in an org (blacklists, operational rules) apply
    /// to whoever acts there.
    InForce,
    /// A gateway webhook, authorized by the gateway's own secret.
    Webhook,
    /// The scheduler firing due jobs.
    Scheduler,
    /// An org's public portal, by its proved domain.
    Portal,
    /// The API gateways and API definitions of a tenant: matched up for a
    /// gateway authorized by its own secret, and compared for listen paths
    /// one gateway would serve twice.
    GatewayRoutes,
    /// Account bookkeeping the handler already authorized (a user's default
    /// org, an org tree walk).
    Accounts,
}

/// A filter for reads that run before or without a principal: the whole
/// tenant, or with `org` that org's rows and tenant-wide ones.
#[must_use]
pub fn system_filter(tenant: &TenantId, org: Option<&OrgId>, _why: SystemRead) -> ReadFilter {
    let tenant = tenant.clone();
    ReadFilter(match org {
        Some(org) => Rule::OrgKey {
            tenant,
            org: org.clone(),
        },
        None => Rule::Tenant { tenant },
    })
}

/// The `org=` value of a listing or search: narrows, never widens, the filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrgSelector {
    /// Everything the principal can see.
    All,
    /// Tenant-wide rows only.
    TenantWide,
    /// One org's rows only (an org id).
    Org(String),
    /// A knowledge context: that org's rows and the tenant-wide ones, never
    /// another org's, whoever asks.
    Context(String),
}

/// Why a write is refused. The server maps each to a status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    /// The principal may not change anything (auditor, read key).
    ReadOnly,
    /// The principal may not act on this scope.
    NotAllowed,
    /// The kind cannot be tenant-wide.
    OrgRequired,
}

impl Principal {
    #[must_use]
    pub fn role(&self) -> Option<Role> {
        match &self.actor {
            Actor::User { role, .. } => Some(*role),
            Actor::OrgKey { .. } => None,
        }
    }

    #[must_use]
    pub fn user_id(&self) -> Option<&str> {
        match &self.actor {
            Actor::User { id, .. } => Some(id),
            Actor::OrgKey { .. } => None,
        }
    }

    /// Admins and superusers: every write in the tenant.
    #[must_use]
    pub fn is_admin(&self) -> bool {
        matches!(self.role(), Some(Role::Admin | Role::Superuser))
    }

    /// Admins, auditors and superusers: every read in the tenant.
    #[must_use]
    pub fn sees_tenant(&self) -> bool {
        matches!(
            self.role(),
            Some(Role::Admin | Role::Auditor | Role::Superuser)
        )
    }

    #[must_use]
    pub fn is_member(&self, org: &str) -> bool {
        match &self.actor {
            Actor::User { member_of, .. } => member_of.contains(org),
            Actor::OrgKey { org: key_org, .. } => key_org == org,
        }
    }

    /// Auditors and `read` keys change nothing.
    #[must_use]
    pub fn read_only(&self) -> bool {
        match &self.actor {
            Actor::User { role, .. } => *role == Role::Auditor,
            Actor::OrgKey { access, .. } => *access == Access::Read,
        }
    }
}

/// Read rule of DESIGN section 3.
#[must_use]
pub fn visible(p: &Principal, r: &Scope) -> bool {
    if p.role() == Some(Role::Superuser) {
        return true;
    }
    if p.tenant != r.tenant {
        return false;
    }
    if p.sees_tenant() {
        return true;
    }
    match &r.org {
        None => true,
        Some(org) => p.is_member(org),
    }
}

/// The filter the store applies to every read of scoped rows for `p`.
#[must_use]
pub fn read_filter(p: &Principal) -> ReadFilter {
    let tenant = p.tenant.clone();
    ReadFilter(match &p.actor {
        _ if p.sees_tenant() => Rule::Tenant { tenant },
        Actor::User { id, .. } => Rule::Member {
            tenant,
            user: id.clone(),
        },
        Actor::OrgKey { org, .. } => Rule::OrgKey {
            tenant,
            org: org.clone(),
        },
    })
}

/// Which audit entries `p` may read: all of the tenant for admins and auditors,
/// their managed orgs' entries for org managers, nothing else.
#[must_use]
pub fn audit_filter(p: &Principal) -> Option<ReadFilter> {
    let tenant = p.tenant.clone();
    match &p.actor {
        _ if p.sees_tenant() => Some(ReadFilter(Rule::Tenant { tenant })),
        Actor::User { id, .. } => Some(ReadFilter(Rule::Manager {
            tenant,
            user: id.clone(),
        })),
        Actor::OrgKey { .. } => None,
    }
}

/// May `p` modify, delete or re-scope the existing resource `r` of a kind with
/// `policy`, created by `created_by`? (The caller has already checked that `r`
/// is visible: an invisible resource is a 404, not a denial.)
pub fn can_write(
    p: &Principal,
    policy: ScopePolicy,
    r: &Scope,
    created_by: Option<&str>,
) -> Result<(), Denied> {
    if p.read_only() {
        return Err(Denied::ReadOnly);
    }
    if p.role() == Some(Role::Superuser) {
        return Ok(());
    }
    if p.tenant != r.tenant {
        return Err(Denied::NotAllowed);
    }
    if p.is_admin() {
        return Ok(());
    }
    match &r.org {
        Some(org) if p.is_member(org) => Ok(()),
        Some(_) => Err(Denied::NotAllowed),
        None => match (policy, &p.actor) {
            (ScopePolicy::CreatorTenantWide, Actor::User { id, .. })
                if created_by == Some(id.as_str()) =>
            {
                Ok(())
            }
            _ => Err(Denied::NotAllowed),
        },
    }
}

/// May `p` place a resource of a kind with `policy` into `target` (create it
/// there, or re-scope into it)? `target.org = None` is tenant-wide.
pub fn can_place(p: &Principal, policy: ScopePolicy, target: &Scope) -> Result<(), Denied> {
    if target.org.is_none() && policy == ScopePolicy::OrgRequired {
        return Err(Denied::OrgRequired);
    }
    if p.read_only() {
        return Err(Denied::ReadOnly);
    }
    if p.role() == Some(Role::Superuser) {
        return Ok(());
    }
    if p.tenant != target.tenant {
        return Err(Denied::NotAllowed);
    }
    if p.is_admin() {
        return Ok(());
    }
    match (&target.org, &p.actor) {
        (Some(org), _) if p.is_member(org) => Ok(()),
        (Some(_), _) => Err(Denied::NotAllowed),
        // The creator of a knowledge resource may make it tenant-wide.
        (None, Actor::User { .. }) if policy == ScopePolicy::CreatorTenantWide => Ok(()),
        (None, _) => Err(Denied::NotAllowed),
    }
}

/// Re-scope: write on `r` where it is *and* the right to place into `target`.
pub fn can_rescope(
    p: &Principal,
    policy: ScopePolicy,
    r: &Scope,
    created_by: Option<&str>,
    target: &Scope,
) -> Result<(), Denied> {
    can_place(p, policy, target)?;
    can_write(p, policy, r, created_by)?;
    // Making a knowledge resource tenant-wide is its creator's call (or an
    // admin's), not any member's who may edit it in its org.
    let creator = created_by.is_some() && created_by == p.user_id();
    if target.org.is_none() && policy == ScopePolicy::CreatorTenantWide && !p.is_admin() && !creator
    {
        return Err(Denied::NotAllowed);
    }
    Ok(())
}

/// The access an org key has at this use: what it was made with, never more
/// than its maker holds in the key's org now (DESIGN 3: keys never outdo
/// their makers). A maker who may read but not write there (an auditor)
/// gives a `read` key; `None` when the maker holds nothing there (no longer
/// a member): the key is inert until they are again.
#[must_use]
pub fn key_access(made_with: Access, maker: &Principal, org: &Scope) -> Option<Access> {
    if !visible(maker, org) || org.org.is_none() {
        return None;
    }
    match can_write(maker, ScopePolicy::OrgRequired, org, None) {
        Ok(()) => Some(made_with),
        Err(_) => Some(Access::Read),
    }
}

/// May `p` reveal a credential's secret (the caller has already read it
/// through `p`'s filter)? People: those who may change it. An org key: a
/// `read_write` one (a `read` key never reveals), only for a credential that
/// an agent of its org lists in `credentials` (`listed_by_org_agent`: what
/// the key's agents are there to use), and only if its maker could reveal it
/// too (`maker`, loaded at this use).
pub fn can_reveal(
    p: &Principal,
    maker: Option<&Principal>,
    policy: ScopePolicy,
    credential: &Scope,
    created_by: Option<&str>,
    listed_by_org_agent: bool,
) -> Result<(), Denied> {
    match &p.actor {
        Actor::User { .. } => can_write(p, policy, credential, created_by),
        Actor::OrgKey { access, .. } => {
            if *access == Access::Read {
                return Err(Denied::ReadOnly);
            }
            if !listed_by_org_agent {
                return Err(Denied::NotAllowed);
            }
            let maker = maker.ok_or(Denied::NotAllowed)?;
            if matches!(maker.actor, Actor::OrgKey { .. }) {
                return Err(Denied::NotAllowed);
            }
            can_write(maker, policy, credential, created_by)
        }
    }
}

/// Who a persona is for, beyond who can see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Everyone who can see it.
    Open,
    /// Only these users (possibly none), and admins. Pruning never opens it.
    Assigned(BTreeSet<UserId>),
}

/// May `p` (who can see the persona) start a chat session with it? Admins
/// always; users when it is open or assigned to them; org keys only with an
/// open persona of their own org (they are no user to assign). The session
/// must also be placeable in the persona's scope.
pub fn can_select_persona(
    p: &Principal,
    policy: ScopePolicy,
    persona: &Scope,
    audience: &Audience,
) -> Result<(), Denied> {
    can_place(p, policy, persona)?;
    if p.is_admin() {
        return Ok(());
    }
    match (&p.actor, audience) {
        (_, Audience::Open) => Ok(()),
        (Actor::User { id, .. }, Audience::Assigned(users)) if users.contains(id) => Ok(()),
        _ => Err(Denied::NotAllowed),
    }
}

/// May `p` (who can see the session) post a turn into it? Only its owner
/// (who started it), and only while they may write in its scope: others
/// who see it read the history.
pub fn can_post_turn(
    p: &Principal,
    policy: ScopePolicy,
    session: &Scope,
    owner: Option<&str>,
) -> Result<(), Denied> {
    can_write(p, policy, session, owner)?;
    let me = match &p.actor {
        Actor::User { id, .. } => id.as_str(),
        Actor::OrgKey { id, .. } => id.as_str(),
    };
    if owner == Some(me) {
        Ok(())
    } else {
        Err(Denied::NotAllowed)
    }
}

/// Whose names `p` may learn, beside its own: `None` = every user of its
/// tenant (admins, auditors, superusers list users); otherwise the members
/// of these orgs (the member lists it can read: a user's orgs, a key's org).
/// Everyone else is counted, never named.
#[must_use]
pub fn named_users(p: &Principal) -> Option<BTreeSet<OrgId>> {
    if p.sees_tenant() {
        return None;
    }
    Some(match &p.actor {
        Actor::User { member_of, .. } => member_of.clone(),
        Actor::OrgKey { org, .. } => BTreeSet::from([org.clone()]),
    })
}

/// Orgs a principal can see (and so name): all of the tenant for those who see
/// the tenant, the memberships of a user, the key's own org.
#[must_use]
pub fn org_visible(p: &Principal, org_tenant: &TenantId, org: &OrgId) -> bool {
    if p.role() == Some(Role::Superuser) {
        return true;
    }
    p.tenant == *org_tenant && (p.sees_tenant() || p.is_member(org))
}

/// May `p` manage an org (name, domain, members)? Admins, superusers and
/// members with `can_manage`. Managing never widens what they can see.
#[must_use]
pub fn can_manage_org(p: &Principal, org_tenant: &TenantId, org: &OrgId) -> bool {
    if p.role() == Some(Role::Superuser) {
        return true;
    }
    if p.tenant != *org_tenant {
        return false;
    }
    match &p.actor {
        Actor::User {
            role: Role::Admin, ..
        } => true,
        Actor::User {
            role: Role::User,
            managing,
            ..
        } => managing.contains(org),
        _ => false,
    }
}

/// Why an account change is refused: `Forbidden` (403, the caller may not)
/// or `Invalid` (422, nobody may: the request itself is wrong).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountRefusal {
    Forbidden(&'static str),
    Invalid(&'static str),
}

/// A change to a user account, as core judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountChange {
    Create { role: Role },
    SetRole { to: Role },
    Disable,
    Enable,
    SetPassword,
    SetDefaultOrg,
    Delete,
}

/// May `p` see user accounts beyond its own? Admins, auditors, superusers.
#[must_use]
pub fn can_list_users(p: &Principal) -> bool {
    p.sees_tenant()
}

/// May `p` make `change` to the account `target` (its id and role; none
/// for a new one) of `tenant`? Admins of that tenant manage its users,
/// only superusers touch superusers, nobody raises, disables or deletes
/// themselves; everyone may set their own password and default org.
pub fn can_change_account(
    p: &Principal,
    tenant: &str,
    target: Option<(&str, Role)>,
    change: AccountChange,
) -> Result<(), AccountRefusal> {
    use AccountRefusal::{Forbidden, Invalid};
    let superuser = p.role() == Some(Role::Superuser);
    if !superuser && p.tenant != tenant {
        return Err(Forbidden("accounts are managed in their own tenant"));
    }
    let myself = target.is_some_and(|(id, _)| p.user_id() == Some(id));
    let target_is_super = target.is_some_and(|(_, r)| r == Role::Superuser);
    match change {
        AccountChange::Create { role } => {
            if can_grant_role(p, role) {
                Ok(())
            } else if p.is_admin() {
                Err(Forbidden("only superusers create superusers"))
            } else {
                Err(Forbidden("only admins create users"))
            }
        }
        AccountChange::SetRole { to } => {
            if myself && target.is_some_and(|(_, r)| r != to) {
                return Err(Forbidden("you cannot change your own role"));
            }
            if (to == Role::Superuser) != target_is_super {
                return Err(Invalid(
                    "role: a tenant user cannot become a superuser, nor a superuser a tenant user; create a new user",
                ));
            }
            if !can_grant_role(p, to) || (target_is_super && !superuser) {
                return Err(Forbidden(
                    "only admins change roles, and only superusers touch superusers",
                ));
            }
            Ok(())
        }
        AccountChange::Disable | AccountChange::Enable => {
            if !p.is_admin() || (target_is_super && !superuser) {
                return Err(Forbidden("only admins disable users"));
            }
            if myself && change == AccountChange::Disable {
                return Err(Invalid("disabled: you cannot disable yourself"));
            }
            Ok(())
        }
        AccountChange::SetPassword
            if myself || (p.is_admin() && (!target_is_super || superuser)) =>
        {
            Ok(())
        }
        AccountChange::SetPassword => Err(Forbidden("you cannot change this user's password")),
        AccountChange::SetDefaultOrg if myself || p.is_admin() => Ok(()),
        AccountChange::SetDefaultOrg => Err(Forbidden("you cannot change this user's default org")),
        AccountChange::Delete => {
            if !p.is_admin() || (target_is_super && !superuser) {
                return Err(Forbidden(
                    "only admins delete users, and only superusers delete superusers",
                ));
            }
            if myself {
                return Err(Invalid("user: you cannot delete yourself"));
            }
            Ok(())
        }
    }
}

/// May `p` create or delete orgs, or change an org's slug or parent (its
/// place in the tree)? Admins and superusers; managers change names,
/// domains and members only.
#[must_use]
pub fn can_restructure_orgs(p: &Principal) -> bool {
    p.is_admin()
}

/// Tenants, `/metrics` and anything else that spans tenants: superusers.
#[must_use]
pub fn spans_tenants(p: &Principal) -> bool {
    p.role() == Some(Role::Superuser)
}

/// May `p` give a user `role`? Admins grant user, admin and auditor in their
/// tenant; only superusers make superusers. Nobody else changes roles.
#[must_use]
pub fn can_grant_role(p: &Principal, role: Role) -> bool {
    match p.role() {
        Some(Role::Superuser) => true,
        Some(Role::Admin) => role != Role::Superuser,
        _ => false,
    }
}
