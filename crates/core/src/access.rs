//! Who has access to a resource, and why: the rule of DESIGN section 3 that
//! decides whether one principal sees and changes it ([`explain`]), and the
//! groups of everyone who does ([`groups`]). The decisions are those of
//! [`crate::policy::visible`] and [`crate::policy::can_write`] (with
//! [`crate::kind::Kind::keys_manage`]); this module says why, and
//! the table test holds the two together.

use crate::ids::OrgId;
use crate::kind::ScopePolicy;
use crate::policy::{Access, Actor, Principal, Role, Scope};

/// The rule that allows, or the one that would have allowed, an access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Because {
    /// Superusers see and change everything.
    Superuser,
    /// Admins see and change everything in their tenant.
    Admin,
    /// Auditors read everything in their tenant, and change nothing.
    Auditor,
    /// Members of the resource's org see and change it.
    MemberOf(OrgId),
    /// Everyone of the tenant reads a tenant-wide resource.
    TenantWide,
    /// The creator of a tenant-wide resource of a kind whose creators
    /// change their own.
    Creator,
    /// An org key of the resource's org, with its access.
    OrgKey { org: OrgId, access: Access },
    /// (Groups only.) The org keys of every org read a tenant-wide resource.
    AnyOrgKey,
    /// Denied: the resource is in another tenant.
    OtherTenant,
    /// Denied: membership of this org would allow it.
    NotMemberOf(OrgId),
    /// Denied: the key is of another org than the resource's.
    KeyOfOtherOrg { key_org: OrgId, org: OrgId },
    /// Denied change: auditors only read.
    AuditorsOnlyRead,
    /// Denied change: a `read` key only reads.
    ReadKey { org: OrgId },
    /// Denied change: org keys do not manage the kinds that issue secrets.
    KeysDoNotManage,
    /// Denied change: admins change the tenant-wide resources of this kind.
    AdminsChangeTenantWide,
    /// Denied change: its creator and admins change a tenant-wide one.
    CreatorOrAdminsChangeTenantWide,
}

impl Because {
    /// A stable, machine-readable name of the rule.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Because::Superuser => "superuser",
            Because::Admin => "admin",
            Because::Auditor => "auditor",
            Because::MemberOf(_) => "member_of",
            Because::TenantWide => "tenant_wide",
            Because::Creator => "creator",
            Because::OrgKey { .. } => "org_key",
            Because::AnyOrgKey => "any_org_key",
            Because::OtherTenant => "other_tenant",
            Because::NotMemberOf(_) => "not_member_of",
            Because::KeyOfOtherOrg { .. } => "key_of_other_org",
            Because::AuditorsOnlyRead => "auditors_only_read",
            Because::ReadKey { .. } => "read_key",
            Because::KeysDoNotManage => "keys_do_not_manage",
            Because::AdminsChangeTenantWide => "admins_change_tenant_wide",
            Because::CreatorOrAdminsChangeTenantWide => "creator_or_admins_change_tenant_wide",
        }
    }

    /// The org the rule names, if any.
    #[must_use]
    pub fn org(&self) -> Option<&OrgId> {
        match self {
            Because::MemberOf(org)
            | Because::NotMemberOf(org)
            | Because::OrgKey { org, .. }
            | Because::KeyOfOtherOrg { org, .. }
            | Because::ReadKey { org } => Some(org),
            _ => None,
        }
    }

    /// The rule in words, orgs named by `slug`.
    #[must_use]
    pub fn text(&self, slug: impl Fn(&OrgId) -> String) -> String {
        match self {
            Because::Superuser => "superuser".into(),
            Because::Admin => "admin".into(),
            Because::Auditor => "auditor (read)".into(),
            Because::MemberOf(org) => format!("member of {}", slug(org)),
            Because::TenantWide => "tenant-wide".into(),
            Because::Creator => "creator of this tenant-wide resource".into(),
            Because::OrgKey { org, access } => {
                format!("org key of {} ({})", slug(org), access.as_str())
            }
            Because::AnyOrgKey => "org keys of every org (read)".into(),
            Because::OtherTenant => "in another tenant".into(),
            Because::NotMemberOf(org) => format!("not a member of {}", slug(org)),
            Because::KeyOfOtherOrg { key_org, org } => {
                format!("an org key of {}, not of {}", slug(key_org), slug(org))
            }
            Because::AuditorsOnlyRead => "auditors only read".into(),
            Because::ReadKey { org } => format!("org key of {} (read): only reads", slug(org)),
            Because::KeysDoNotManage => "org keys do not manage keys: people do".into(),
            Because::AdminsChangeTenantWide => "tenant-wide: only admins change it".into(),
            Because::CreatorOrAdminsChangeTenantWide => {
                "tenant-wide: only its creator and admins change it".into()
            }
        }
    }
}

/// One answer and the rule that gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub allowed: bool,
    pub because: Because,
}

/// Whether a principal sees and changes a resource, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    pub see: Answer,
    pub change: Answer,
}

impl Explained {
    /// The rule that decided the whole: the one allowing the change, else
    /// the one allowing the read (with why no change), else the denial.
    #[must_use]
    pub fn because(&self) -> &Because {
        if self.change.allowed || !self.see.allowed {
            &self.change.because
        } else {
            &self.see.because
        }
    }
}

fn allow(because: Because) -> Answer {
    Answer {
        allowed: true,
        because,
    }
}

fn deny(because: Because) -> Answer {
    Answer {
        allowed: false,
        because,
    }
}

/// What a kind's rules add to the scope policy: whether org keys may
/// change its resources ([`crate::kind::Kind::keys_manage`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindRules {
    pub policy: ScopePolicy,
    pub keys_manage: bool,
}

impl KindRules {
    #[must_use]
    pub fn of(kind: &crate::kind::Kind) -> KindRules {
        KindRules {
            policy: kind.policy,
            keys_manage: kind.keys_manage(),
        }
    }
}

/// Why `p` does or does not see, and does or does not change, the resource
/// at `r` of a kind with `rules`, created by `created_by`.
#[must_use]
pub fn explain(p: &Principal, rules: KindRules, r: &Scope, created_by: Option<&str>) -> Explained {
    let see = see(p, r);
    let change = if see.allowed {
        change(p, rules, r, created_by)
    } else {
        see.clone()
    };
    Explained { see, change }
}

fn see(p: &Principal, r: &Scope) -> Answer {
    match p.role() {
        Some(Role::Superuser) => return allow(Because::Superuser),
        _ if p.tenant != r.tenant => return deny(Because::OtherTenant),
        Some(Role::Admin) => return allow(Because::Admin),
        Some(Role::Auditor) => return allow(Because::Auditor),
        _ => {}
    }
    match (&r.org, &p.actor) {
        (None, _) => allow(Because::TenantWide),
        (Some(org), Actor::User { member_of, .. }) => {
            if member_of.contains(org) {
                allow(Because::MemberOf(org.clone()))
            } else {
                deny(Because::NotMemberOf(org.clone()))
            }
        }
        (
            Some(org),
            Actor::OrgKey {
                org: key_org,
                access,
                ..
            },
        ) => {
            if key_org == org {
                allow(Because::OrgKey {
                    org: org.clone(),
                    access: *access,
                })
            } else {
                deny(Because::KeyOfOtherOrg {
                    key_org: key_org.clone(),
                    org: org.clone(),
                })
            }
        }
    }
}

/// Change, for a principal that sees the resource.
fn change(p: &Principal, rules: KindRules, r: &Scope, created_by: Option<&str>) -> Answer {
    let policy = rules.policy;
    match &p.actor {
        Actor::User {
            role: Role::Superuser,
            ..
        } => return allow(Because::Superuser),
        Actor::User {
            role: Role::Auditor,
            ..
        } => return deny(Because::AuditorsOnlyRead),
        Actor::User {
            role: Role::Admin, ..
        } => return allow(Because::Admin),
        Actor::OrgKey {
            org,
            access: Access::Read,
            ..
        } => return deny(Because::ReadKey { org: org.clone() }),
        Actor::OrgKey { .. } if !rules.keys_manage => return deny(Because::KeysDoNotManage),
        _ => {}
    }
    match (&r.org, &p.actor) {
        (Some(org), Actor::User { .. }) => allow(Because::MemberOf(org.clone())),
        (Some(org), Actor::OrgKey { access, .. }) => allow(Because::OrgKey {
            org: org.clone(),
            access: *access,
        }),
        (None, Actor::User { id, .. })
            if policy == ScopePolicy::CreatorTenantWide && created_by == Some(id.as_str()) =>
        {
            allow(Because::Creator)
        }
        (None, _) if policy == ScopePolicy::CreatorTenantWide => {
            deny(Because::CreatorOrAdminsChangeTenantWide)
        }
        (None, _) => deny(Because::AdminsChangeTenantWide),
    }
}

/// A group of principals one rule admits, and what it admits them to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub because: Because,
    pub see: bool,
    pub change: bool,
}

/// Everyone who sees or changes the resource at `r`, as the groups the
/// rules admit (a principal may be in several: a creator also reads as
/// everyone of the tenant does).
#[must_use]
pub fn groups(rules: KindRules, r: &Scope, created_by: Option<&str>) -> Vec<Group> {
    let policy = rules.policy;
    let group = |because, see, change| Group {
        because,
        see,
        change,
    };
    let mut out = vec![
        group(Because::Superuser, true, true),
        group(Because::Admin, true, true),
        group(Because::Auditor, true, false),
    ];
    match &r.org {
        Some(org) => {
            out.push(group(Because::MemberOf(org.clone()), true, true));
            for (access, change) in [
                (Access::ReadWrite, rules.keys_manage),
                (Access::Read, false),
            ] {
                out.push(group(
                    Because::OrgKey {
                        org: org.clone(),
                        access,
                    },
                    true,
                    change,
                ));
            }
        }
        None => {
            out.push(group(Because::TenantWide, true, false));
            if policy == ScopePolicy::CreatorTenantWide && created_by.is_some() {
                out.push(group(Because::Creator, true, true));
            }
            out.push(group(Because::AnyOrgKey, true, false));
        }
    }
    out
}

/// Is `p` one of the group (in `r`'s tenant)? Users by role and
/// membership, keys by org and access.
#[must_use]
pub fn admits(g: &Group, p: &Principal, r: &Scope, created_by: Option<&str>) -> bool {
    let here = p.tenant == r.tenant;
    match (&g.because, &p.actor) {
        (Because::Superuser, _) => p.role() == Some(Role::Superuser),
        (Because::Admin, _) => here && p.role() == Some(Role::Admin),
        (Because::Auditor, _) => here && p.role() == Some(Role::Auditor),
        (
            Because::MemberOf(org),
            Actor::User {
                role: Role::User,
                member_of,
                ..
            },
        ) => here && member_of.contains(org),
        (
            Because::TenantWide,
            Actor::User {
                role: Role::User, ..
            },
        ) => here,
        (
            Because::Creator,
            Actor::User {
                role: Role::User,
                id,
                ..
            },
        ) => here && created_by == Some(id.as_str()),
        (
            Because::OrgKey { org, access },
            Actor::OrgKey {
                org: key_org,
                access: key_access,
                ..
            },
        ) => here && key_org == org && key_access == access,
        (Because::AnyOrgKey, Actor::OrgKey { .. }) => here,
        _ => false,
    }
}

/// May `p` ask who has access to a resource it sees? Those who see the
/// whole tenant (admins, auditors, superusers) and those who may change it.
pub fn can_explain(p: &Principal, rules: KindRules, r: &Scope, created_by: Option<&str>) -> bool {
    if p.sees_tenant() && (p.tenant == r.tenant || p.role() == Some(Role::Superuser)) {
        return true;
    }
    explain(p, rules, r, created_by).change.allowed
}
