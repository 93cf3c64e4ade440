//! The rules of DESIGN section 3 as an exhaustive table (DESIGN section 7,
//! "core"): every principal (a user of each role, an org key of each access),
//! every membership of the resource's org, the principal's tenant the same as
//! the resource's or not, every resource scope, kind scope policy and creator,
//! and every action, each answered by an oracle written here from the DESIGN
//! text. The oracle never calls `orgscope_core::policy`: it reads the model of
//! the case ([`Setup`], [`Res`], [`Target`]), not a `Principal`.
//!
//! Decisions beyond the DESIGN text, taken by the authors of core and encoded
//! in the oracle:
//! - org keys are never admins; a superuser may do everything in every tenant;
//! - auditors and `read` keys never write or place (`Denied::ReadOnly`);
//! - placing an org-required kind tenant-wide is `Denied::OrgRequired` for
//!   everyone, checked before anything else;
//! - tenant-wide resources of an admin-tenant-wide kind are placed and changed
//!   by admins only; of a creator-tenant-wide kind, placed by any *user* who
//!   may write (never a key) and changed by their creator (a user) and admins;
//! - an org is managed by superusers, the admins of its tenant and role `user`
//!   members with `can_manage` (auditors never);
//! - superusers grant every role, admins every role but superuser, nobody else
//!   any;
//! - the audit log is read tenant-wide by admins, auditors and superusers, as
//!   managers by role `user` users, not at all by keys.
//! - re-scoping a creator-tenant-wide resource to tenant-wide takes its creator
//!   or an admin (DESIGN: "the right to place into b ... per the kind's rule").

use std::collections::BTreeSet;

use orgscope_core::kind::ScopePolicy;
use orgscope_core::policy::{
    self, Access, Actor, Denied, Principal, ReadFilter, Role, Rule, Scope,
};

/// The resource's tenant (and the tenant of every org below).
const HOME: &str = "tenant-home";
/// The principal's tenant when it is not the resource's.
const AWAY: &str = "tenant-away";
/// The resource's org, when it has one.
const ORG_A: &str = "org-a";
/// An org the principal is never a member of.
const ORG_B: &str = "org-b";
/// An org every user principal is a member and manager of, and the org of a
/// key not bound to A: no principal's memberships are ever empty.
const ORG_C: &str = "org-c";
const ME_USER: &str = "user-me";
const ME_KEY: &str = "key-me";
const SOMEONE_ELSE: &str = "user-someone-else";

/// Every role, spelled out here so the table does not follow `Role::ALL`.
const ROLES: [Role; 4] = [Role::User, Role::Admin, Role::Auditor, Role::Superuser];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    User(Role),
    Key(Access),
}

/// The principal's membership of org A (for a key: whether A is its org).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Membership {
    NotMember,
    Member,
    MemberCanManage,
}

#[derive(Clone, Copy, Debug)]
struct Setup {
    who: Who,
    membership: Membership,
    same_tenant: bool,
}

/// Every principal: 4 roles x 3 memberships + 2 key accesses x 2 (a key has
/// no `can_manage`), each in the resource's tenant and in another: 32.
fn setups() -> Vec<Setup> {
    use Membership::{Member, MemberCanManage, NotMember};
    let mut whos: Vec<(Who, &[Membership])> = Vec::new();
    for role in ROLES {
        whos.push((Who::User(role), &[NotMember, Member, MemberCanManage]));
    }
    for access in [Access::Read, Access::ReadWrite] {
        whos.push((Who::Key(access), &[NotMember, Member]));
    }
    let mut out = Vec::new();
    for (who, memberships) in whos {
        for &membership in memberships {
            for same_tenant in [true, false] {
                out.push(Setup {
                    who,
                    membership,
                    same_tenant,
                });
            }
        }
    }
    assert_eq!(out.len(), 32);
    out
}

impl Setup {
    fn tenant(&self) -> &'static str {
        if self.same_tenant { HOME } else { AWAY }
    }

    fn id(&self) -> &'static str {
        match self.who {
            Who::User(_) => ME_USER,
            Who::Key(_) => ME_KEY,
        }
    }

    fn is_superuser(&self) -> bool {
        self.who == Who::User(Role::Superuser)
    }

    /// A tenant admin (superusers are answered before this is asked).
    fn is_admin(&self) -> bool {
        self.who == Who::User(Role::Admin)
    }

    fn is_auditor(&self) -> bool {
        self.who == Who::User(Role::Auditor)
    }

    fn is_user(&self) -> bool {
        matches!(self.who, Who::User(_))
    }

    /// "never for auditors or `read` keys".
    fn read_only(&self) -> bool {
        matches!(self.who, Who::User(Role::Auditor) | Who::Key(Access::Read))
    }

    fn key_org(&self) -> &'static str {
        if self.membership == Membership::NotMember {
            ORG_C
        } else {
            ORG_A
        }
    }

    /// "`p` is a member of `o` (an org key: `o` is its org)".
    fn member_of(&self, org: &str) -> bool {
        match self.who {
            Who::User(_) => {
                org == ORG_C || (org == ORG_A && self.membership != Membership::NotMember)
            }
            Who::Key(_) => org == self.key_org(),
        }
    }

    /// A membership with `can_manage` (keys have none).
    fn has_can_manage(&self, org: &str) -> bool {
        self.is_user()
            && (org == ORG_C || (org == ORG_A && self.membership == Membership::MemberCanManage))
    }

    /// The principal the code is asked about.
    fn principal(&self) -> Principal {
        let actor = match self.who {
            Who::User(role) => {
                let mut member_of = BTreeSet::from([ORG_C.into()]);
                let mut managing = BTreeSet::from([ORG_C.into()]);
                if self.membership != Membership::NotMember {
                    member_of.insert(ORG_A.into());
                }
                if self.membership == Membership::MemberCanManage {
                    managing.insert(ORG_A.into());
                }
                Actor::User {
                    id: ME_USER.into(),
                    role,
                    member_of,
                    managing,
                }
            }
            Who::Key(access) => Actor::OrgKey {
                id: ME_KEY.to_owned(),
                org: self.key_org().into(),
                access,
            },
        };
        Principal {
            tenant: self.tenant().into(),
            actor,
        }
    }
}

/// Where the existing resource lives (always in [`HOME`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Res {
    TenantWide,
    OrgA,
}

impl Res {
    fn org(self) -> Option<&'static str> {
        match self {
            Res::TenantWide => None,
            Res::OrgA => Some(ORG_A),
        }
    }
}

/// Where a resource is placed (created, or re-scoped to), in [`HOME`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    TenantWide,
    OrgA,
    /// An org the principal is not a member of.
    OrgB,
}

impl Target {
    fn org(self) -> Option<&'static str> {
        match self {
            Target::TenantWide => None,
            Target::OrgA => Some(ORG_A),
            Target::OrgB => Some(ORG_B),
        }
    }
}

fn scope(tenant: &str, org: Option<&str>) -> Scope {
    Scope {
        tenant: tenant.into(),
        org: org.map(Into::into),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Creator {
    ThePrincipal,
    SomeoneElse,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// `visible`
    Read,
    /// `can_write`
    Write,
    /// `can_place`
    Place(Target),
    /// `can_rescope`
    Rescope(Target),
}

const ACTIONS: [Action; 8] = [
    Action::Read,
    Action::Write,
    Action::Place(Target::TenantWide),
    Action::Place(Target::OrgA),
    Action::Place(Target::OrgB),
    Action::Rescope(Target::TenantWide),
    Action::Rescope(Target::OrgA),
    Action::Rescope(Target::OrgB),
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Visible(bool),
    Decision(Result<(), Denied>),
}

#[derive(Clone, Copy, Debug)]
struct Case {
    setup: Setup,
    res: Res,
    policy: ScopePolicy,
    creator: Creator,
    action: Action,
}

// ---------------------------------------------------------------------------
// The oracle, from DESIGN sections 2 and 3.
// ---------------------------------------------------------------------------

/// **Read** — `visible(p, r)`, rules 1 to 5 in order.
fn oracle_visible(s: &Setup, tenant: &str, org: Option<&str>) -> bool {
    // 1. superuser → yes.
    if s.is_superuser() {
        return true;
    }
    // 2. different tenant → no.
    if s.tenant() != tenant {
        return false;
    }
    // 3. admin or auditor → yes.
    if s.is_admin() || s.is_auditor() {
        return true;
    }
    match org {
        // 4. `r` tenant-wide → yes.
        None => true,
        // 5. `r` in org `o` → `p` is a member of `o` (an org key: its org).
        Some(o) => s.member_of(o),
    }
}

/// Section 2's last column, "who may create/modify it tenant-wide", for a
/// principal that may write, in its own tenant, and is not an admin.
fn tenant_wide_by_non_admin(s: &Setup, policy: ScopePolicy, is_creator: bool) -> bool {
    match policy {
        // "nobody"
        ScopePolicy::OrgRequired => false,
        // "admins only"
        ScopePolicy::AdminTenantWide => false,
        // "the creator and admins" (a creator is a user, never a key)
        ScopePolicy::CreatorTenantWide => s.is_user() && is_creator,
    }
}

/// **Write** — never for auditors or `read` keys; superusers everywhere;
/// admins always in their tenant; otherwise by the resource's scope.
fn oracle_write(
    s: &Setup,
    policy: ScopePolicy,
    org: Option<&str>,
    is_creator: bool,
) -> Result<(), Denied> {
    if s.read_only() {
        return Err(Denied::ReadOnly);
    }
    if s.is_superuser() {
        return Ok(());
    }
    if s.tenant() != HOME {
        return Err(Denied::NotAllowed);
    }
    if s.is_admin() {
        return Ok(());
    }
    let allowed = match org {
        // "a member of its org (an org key: only in its own org)"
        Some(o) => s.member_of(o),
        // "per the kind's rule in section 2"
        None => tenant_wide_by_non_admin(s, policy, is_creator),
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied::NotAllowed)
    }
}

/// The right to place a resource into `target` ("member of b, or admin; b
/// tenant-wide: per the kind's rule; org-required kinds can't go
/// tenant-wide"); `is_creator`: whether the principal is (or, for a new
/// resource, becomes) its creator.
fn oracle_place(
    s: &Setup,
    policy: ScopePolicy,
    target: Option<&str>,
    is_creator: bool,
) -> Result<(), Denied> {
    if target.is_none() && policy == ScopePolicy::OrgRequired {
        return Err(Denied::OrgRequired);
    }
    if s.read_only() {
        return Err(Denied::ReadOnly);
    }
    if s.is_superuser() {
        return Ok(());
    }
    if s.tenant() != HOME {
        return Err(Denied::NotAllowed);
    }
    if s.is_admin() {
        return Ok(());
    }
    let allowed = match target {
        Some(o) => s.member_of(o),
        None => tenant_wide_by_non_admin(s, policy, is_creator),
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied::NotAllowed)
    }
}

/// **Re-scope** — write on `r` *and* the right to place it into `target`.
fn oracle_rescope(
    s: &Setup,
    policy: ScopePolicy,
    org: Option<&str>,
    is_creator: bool,
    target: Option<&str>,
) -> Result<(), Denied> {
    oracle_place(s, policy, target, is_creator)?;
    oracle_write(s, policy, org, is_creator)
}

fn expected(c: &Case) -> Answer {
    let s = &c.setup;
    let is_creator = c.creator == Creator::ThePrincipal;
    match c.action {
        Action::Read => Answer::Visible(oracle_visible(s, HOME, c.res.org())),
        Action::Write => Answer::Decision(oracle_write(s, c.policy, c.res.org(), is_creator)),
        // A new resource: its creator is the principal.
        Action::Place(t) => Answer::Decision(oracle_place(s, c.policy, t.org(), true)),
        Action::Rescope(t) => Answer::Decision(oracle_rescope(
            s,
            c.policy,
            c.res.org(),
            is_creator,
            t.org(),
        )),
    }
}

// ---------------------------------------------------------------------------
// The code under test.
// ---------------------------------------------------------------------------

fn actual(c: &Case) -> Answer {
    let p = c.setup.principal();
    let r = scope(HOME, c.res.org());
    let created_by = Some(match c.creator {
        Creator::ThePrincipal => c.setup.id(),
        Creator::SomeoneElse => SOMEONE_ELSE,
    });
    match c.action {
        Action::Read => Answer::Visible(policy::visible(&p, &r)),
        Action::Write => Answer::Decision(policy::can_write(&p, c.policy, &r, created_by)),
        Action::Place(t) => {
            Answer::Decision(policy::can_place(&p, c.policy, &scope(HOME, t.org())))
        }
        Action::Rescope(t) => Answer::Decision(policy::can_rescope(
            &p,
            c.policy,
            &r,
            created_by,
            &scope(HOME, t.org()),
        )),
    }
}

/// Collects mismatches so one run shows all of them.
#[derive(Default)]
struct Table {
    cases: usize,
    failures: Vec<String>,
}

impl Table {
    fn check<T: PartialEq + std::fmt::Debug>(&mut self, what: String, got: T, want: T) {
        self.cases += 1;
        if got != want {
            self.failures
                .push(format!("{what}: expected {want:?}, got {got:?}"));
        }
    }

    fn finish(self, expected_cases: usize) {
        assert!(
            self.failures.is_empty(),
            "{} of {} cases differ from the oracle:\n{}",
            self.failures.len(),
            self.cases,
            self.failures.join("\n")
        );
        assert_eq!(self.cases, expected_cases, "the table changed size");
    }
}

#[test]
fn every_action_by_every_principal_on_every_resource() {
    let mut table = Table::default();
    let mut seen = Vec::new();
    for setup in setups() {
        for res in [Res::TenantWide, Res::OrgA] {
            for policy in ScopePolicy::ALL {
                for creator in [Creator::ThePrincipal, Creator::SomeoneElse] {
                    for action in ACTIONS {
                        let case = Case {
                            setup,
                            res,
                            policy,
                            creator,
                            action,
                        };
                        let want = expected(&case);
                        let got = actual(&case);
                        if !seen.contains(&got) {
                            seen.push(got.clone());
                        }
                        table.check(format!("{case:?}"), got, want);
                    }
                }
            }
        }
    }
    // 32 principals x 2 scopes x 3 policies x 2 creators x 8 actions.
    table.finish(3072);
    // The table is not degenerate: every answer occurs.
    for answer in [
        Answer::Visible(true),
        Answer::Visible(false),
        Answer::Decision(Ok(())),
        Answer::Decision(Err(Denied::ReadOnly)),
        Answer::Decision(Err(Denied::NotAllowed)),
        Answer::Decision(Err(Denied::OrgRequired)),
    ] {
        assert!(seen.contains(&answer), "{answer:?} never occurs");
    }
}

/// What the store would return for a filter, read from the model: the rows of
/// `tenant` and `org` a filter admits.
fn admits(s: &Setup, filter: &ReadFilter, tenant: &str, org: Option<&str>) -> bool {
    match filter.rule() {
        Rule::Tenant { tenant: t } => t == tenant,
        Rule::Member { tenant: t, user } => {
            assert_eq!(user, ME_USER);
            t == tenant && org.is_none_or(|o| s.member_of(o))
        }
        Rule::OrgKey { tenant: t, org: k } => t == tenant && org.is_none_or(|o| o == k.as_str()),
        Rule::Manager { tenant: t, user } => {
            assert_eq!(user, ME_USER);
            t == tenant && org.is_some_and(|o| s.has_can_manage(o))
        }
    }
}

#[test]
fn read_and_audit_filters() {
    let mut table = Table::default();
    for s in setups() {
        let p = s.principal();
        let tenant = orgscope_core::ids::TenantId::from(s.tenant());
        let read = match s.who {
            Who::User(Role::Admin | Role::Auditor | Role::Superuser) => Rule::Tenant {
                tenant: tenant.clone(),
            },
            Who::User(Role::User) => Rule::Member {
                tenant: tenant.clone(),
                user: ME_USER.into(),
            },
            Who::Key(_) => Rule::OrgKey {
                tenant: tenant.clone(),
                org: s.key_org().into(),
            },
        };
        let audit = match s.who {
            Who::User(Role::Admin | Role::Auditor | Role::Superuser) => Some(Rule::Tenant {
                tenant: tenant.clone(),
            }),
            Who::User(Role::User) => Some(Rule::Manager {
                tenant: tenant.clone(),
                user: ME_USER.into(),
            }),
            Who::Key(_) => None,
        };
        let got = policy::read_filter(&p);
        table.check(format!("read_filter {s:?}"), got.rule().clone(), read);
        table.check(
            format!("audit_filter {s:?}"),
            policy::audit_filter(&p).map(|f| f.rule().clone()),
            audit,
        );

        // The read filter admits exactly what the read rule shows, in the
        // tenant the principal acts in. A superuser is the one exception
        // across tenants: rule 1 shows them everything, their filter keeps them
        // to the tenant they act in (they name a tenant per request).
        for tenant in [HOME, AWAY] {
            for org in [None, Some(ORG_A), Some(ORG_B), Some(ORG_C)] {
                let shown = oracle_visible(&s, tenant, org);
                let want = if s.is_superuser() && tenant != s.tenant() {
                    false
                } else {
                    shown
                };
                table.check(
                    format!("read_filter of {s:?} admits ({tenant}, {org:?})"),
                    admits(&s, &got, tenant, org),
                    want,
                );
            }
        }
    }
    // 32 principals x (read_filter + audit_filter + 2 tenants x 4 scopes).
    table.finish(320);
}

#[test]
fn orgs_and_roles() {
    let mut table = Table::default();
    for s in setups() {
        let p = s.principal();
        for org in [ORG_A, ORG_B, ORG_C] {
            // An org is visible (and so nameable) to exactly those who would
            // see a resource in it.
            table.check(
                format!("org_visible {s:?} {org}"),
                policy::org_visible(&p, &HOME.into(), &org.into()),
                oracle_visible(&s, HOME, Some(org)),
            );
            // `can_manage` lets the member manage the org; auditors change
            // nothing, keys have no `can_manage`.
            let manage = s.is_superuser()
                || (s.tenant() == HOME
                    && (s.is_admin() || (s.who == Who::User(Role::User) && s.has_can_manage(org))));
            table.check(
                format!("can_manage_org {s:?} {org}"),
                policy::can_manage_org(&p, &HOME.into(), &org.into()),
                manage,
            );
        }
        for role in ROLES {
            let grant = match s.who {
                Who::User(Role::Superuser) => true,
                Who::User(Role::Admin) => role != Role::Superuser,
                Who::User(Role::User | Role::Auditor) | Who::Key(_) => false,
            };
            table.check(
                format!("can_grant_role {s:?} {role:?}"),
                policy::can_grant_role(&p, role),
                grant,
            );
        }
    }
    // 32 principals x (3 orgs x 2 + 4 roles).
    table.finish(320);
}

/// An org key of org A made by the principal of `maker` (a user setup):
/// `made_with` capped by what the maker holds in A now.
fn oracle_key_access(maker: &Setup, made_with: Access) -> Option<Access> {
    if !oracle_visible(maker, HOME, Some(ORG_A)) {
        return None;
    }
    Some(
        if oracle_write(maker, ScopePolicy::OrgRequired, Some(ORG_A), false).is_ok() {
            made_with
        } else {
            Access::Read
        },
    )
}

#[test]
fn keys_never_outdo_their_makers() {
    let mut table = Table::default();
    let makers: Vec<Setup> = setups().into_iter().filter(Setup::is_user).collect();
    for maker in &makers {
        let maker_p = maker.principal();
        for made_with in [Access::Read, Access::ReadWrite] {
            let got = policy::key_access(made_with, &maker_p, &scope(HOME, Some(ORG_A)));
            let want = oracle_key_access(maker, made_with);
            table.check(format!("key_access {maker:?} {made_with:?}"), got, want);
            let Some(access) = got else { continue };
            // The key as it asks: bound to A, in the maker's home tenant.
            let key = Principal {
                tenant: HOME.into(),
                actor: Actor::OrgKey {
                    id: ME_KEY.to_owned(),
                    org: ORG_A.into(),
                    access,
                },
            };
            // No right of the key's that its maker lacks, on any resource.
            for res in [Res::TenantWide, Res::OrgA] {
                let r = scope(HOME, res.org());
                for policy in ScopePolicy::ALL {
                    let key_reads = policy::visible(&key, &r);
                    table.check(
                        format!("key reads {res:?} beyond {maker:?}"),
                        key_reads && !policy::visible(&maker_p, &r),
                        false,
                    );
                    let key_writes = policy::can_write(&key, policy, &r, None).is_ok();
                    let maker_writes = policy::can_write(&maker_p, policy, &r, None).is_ok();
                    table.check(
                        format!("key writes {res:?} {policy:?} beyond {maker:?}"),
                        key_writes && !maker_writes,
                        false,
                    );
                    for target in [Target::TenantWide, Target::OrgA, Target::OrgB] {
                        let t = scope(HOME, target.org());
                        let key_places = policy::can_place(&key, policy, &t).is_ok();
                        let maker_places = policy::can_place(&maker_p, policy, &t).is_ok();
                        table.check(
                            format!("key places {target:?} {policy:?} beyond {maker:?}"),
                            key_places && !maker_places,
                            false,
                        );
                    }
                }
                // Reveal: read_write keys only, a credential an agent of
                // the key's org lists, and only what the maker may reveal.
                for listed in [true, false] {
                    for creator in [Creator::ThePrincipal, Creator::SomeoneElse] {
                        let created_by = Some(match creator {
                            Creator::ThePrincipal => maker.id(),
                            Creator::SomeoneElse => SOMEONE_ELSE,
                        });
                        let policy = ScopePolicy::AdminTenantWide;
                        let got = policy::can_reveal(
                            &key,
                            Some(&maker_p),
                            policy,
                            &r,
                            created_by,
                            listed,
                        );
                        let want = if access == Access::Read {
                            Err(Denied::ReadOnly)
                        } else if !listed {
                            Err(Denied::NotAllowed)
                        } else {
                            oracle_write(maker, policy, res.org(), creator == Creator::ThePrincipal)
                        };
                        table.check(
                            format!(
                                "can_reveal key of {maker:?} {res:?} listed={listed} {creator:?}"
                            ),
                            got,
                            want,
                        );
                    }
                }
            }
        }
    }
    // People reveal what they may change, listed or not.
    for s in setups().into_iter().filter(Setup::is_user) {
        for res in [Res::TenantWide, Res::OrgA] {
            let policy = ScopePolicy::AdminTenantWide;
            table.check(
                format!("can_reveal {s:?} {res:?}"),
                policy::can_reveal(
                    &s.principal(),
                    None,
                    policy,
                    &scope(HOME, res.org()),
                    Some(SOMEONE_ELSE),
                    false,
                ),
                oracle_write(&s, policy, res.org(), false),
            );
        }
    }
    // 24 makers x 2 accesses; the 28 live keys x 2 scopes x (3 policies x
    // (read, write, 3 placements) + 4 reveals); 24 people x 2 reveals.
    table.finish(48 + 28 * 2 * (3 * 5 + 4) + 48);
}

#[test]
fn chat_personas_and_turns() {
    use policy::Audience;
    let mut table = Table::default();
    let policy = ScopePolicy::CreatorTenantWide;
    for s in setups() {
        let p = s.principal();
        for res in [Res::TenantWide, Res::OrgA] {
            let r = scope(HOME, res.org());
            // Selecting a persona: placing a session in its scope, and
            // being in its audience (admins always are; a list restricts
            // even when pruning emptied it; keys are no user to assign).
            for (audience, name) in [
                (Audience::Open, "open"),
                (Audience::Assigned(BTreeSet::new()), "assigned to none"),
                (
                    Audience::Assigned(BTreeSet::from([s.id().into()])),
                    "assigned to me",
                ),
            ] {
                let in_audience = s.is_superuser()
                    || s.is_admin()
                    || match &audience {
                        Audience::Open => true,
                        Audience::Assigned(users) => s.is_user() && users.contains(s.id()),
                    };
                let want = oracle_place(&s, policy, res.org(), true).and(if in_audience {
                    Ok(())
                } else {
                    Err(Denied::NotAllowed)
                });
                table.check(
                    format!("can_select_persona {s:?} {res:?} {name}"),
                    policy::can_select_persona(&p, policy, &r, &audience),
                    want,
                );
            }
            // Posting a turn: the owner, while they may write there.
            for creator in [Creator::ThePrincipal, Creator::SomeoneElse] {
                let owner = match creator {
                    Creator::ThePrincipal => s.id(),
                    Creator::SomeoneElse => SOMEONE_ELSE,
                };
                let mine = creator == Creator::ThePrincipal;
                let want = oracle_write(&s, policy, res.org(), mine).and(if mine {
                    Ok(())
                } else {
                    Err(Denied::NotAllowed)
                });
                table.check(
                    format!("can_post_turn {s:?} {res:?} {creator:?}"),
                    policy::can_post_turn(&p, policy, &r, Some(owner)),
                    want,
                );
            }
        }
    }
    // 32 principals x 2 scopes x (3 audiences + 2 owners).
    table.finish(32 * 2 * 5);
}

#[test]
fn account_changes() {
    use policy::{AccountChange, AccountRefusal};
    #[derive(Debug, PartialEq)]
    enum Says {
        Yes,
        Forbidden,
        Invalid,
    }
    let mut table = Table::default();
    for s in setups() {
        let p = s.principal();
        let superuser = s.is_superuser();
        // Admins of the account's tenant, and superusers.
        let admin = superuser || (s.is_admin() && s.tenant() == HOME);
        let my_role = match s.who {
            Who::User(role) => Some(role),
            Who::Key(_) => None,
        };
        let mut targets: Vec<(&str, Role)> = vec![
            (SOMEONE_ELSE, Role::User),
            (SOMEONE_ELSE, Role::Admin),
            (SOMEONE_ELSE, Role::Superuser),
        ];
        // Accounts live in HOME: one's own only when one is there too.
        let foreign = !superuser && s.tenant() != HOME;
        if let (Some(role), false) = (my_role, foreign) {
            targets.push((ME_USER, role));
        }
        for role in ROLES {
            let grant = superuser || (admin && role != Role::Superuser);
            let want = if grant && !foreign {
                Says::Yes
            } else {
                Says::Forbidden
            };
            let got = policy::can_change_account(&p, HOME, None, AccountChange::Create { role });
            table.check(format!("create {role:?} by {s:?}"), says(got), want);
        }
        for (id, role) in targets {
            let myself = id == ME_USER;
            let touches_super = role == Role::Superuser && !superuser;
            for to in ROLES {
                let want = if foreign || myself && to != role {
                    Says::Forbidden
                } else if (to == Role::Superuser) != (role == Role::Superuser) {
                    Says::Invalid
                } else if !(superuser || (admin && to != Role::Superuser)) || touches_super {
                    Says::Forbidden
                } else {
                    Says::Yes
                };
                let got = policy::can_change_account(
                    &p,
                    HOME,
                    Some((id, role)),
                    AccountChange::SetRole { to },
                );
                table.check(
                    format!("role {role:?}->{to:?} of {id} by {s:?}"),
                    says(got),
                    want,
                );
            }
            for change in [
                AccountChange::Disable,
                AccountChange::Enable,
                AccountChange::Delete,
            ] {
                let want = if foreign || !admin || touches_super {
                    Says::Forbidden
                } else if myself && change != AccountChange::Enable {
                    Says::Invalid
                } else {
                    Says::Yes
                };
                let got = policy::can_change_account(&p, HOME, Some((id, role)), change);
                table.check(format!("{change:?} {id} by {s:?}"), says(got), want);
            }
            for change in [AccountChange::SetPassword, AccountChange::SetDefaultOrg] {
                let want = if foreign {
                    Says::Forbidden
                } else if myself
                    || (admin && !(change == AccountChange::SetPassword && touches_super))
                {
                    Says::Yes
                } else {
                    Says::Forbidden
                };
                let got = policy::can_change_account(&p, HOME, Some((id, role)), change);
                table.check(format!("{change:?} {id} by {s:?}"), says(got), want);
            }
        }
        // Each lists the users of the tenant it acts in.
        let lists = superuser || s.is_admin() || s.is_auditor();
        table.check(
            format!("list users {s:?}"),
            policy::can_list_users(&p),
            lists,
        );
        table.check(
            format!("restructure {s:?}"),
            policy::can_restructure_orgs(&p),
            admin || (s.is_admin()),
        );
        table.check(
            format!("spans tenants {s:?}"),
            policy::spans_tenants(&p),
            superuser,
        );
    }
    fn says(r: Result<(), AccountRefusal>) -> Says {
        match r {
            Ok(()) => Says::Yes,
            Err(AccountRefusal::Forbidden(_)) => Says::Forbidden,
            Err(AccountRefusal::Invalid(_)) => Says::Invalid,
        }
    }
    // 32 principals x (4 creations + 3 questions) and (32 x 3 others + 15
    // principals at home asking about themselves) x (4 roles + 5 changes).
    table.finish(32 * 4 + (32 * 3 + 15) * 9 + 32 * 3);
}

/// The rule that decides a read, from DESIGN section 3's read rules in order.
fn oracle_see_rule(s: &Setup, org: Option<&str>) -> &'static str {
    if s.is_superuser() {
        return "superuser";
    }
    if s.tenant() != HOME {
        return "other_tenant";
    }
    if s.is_admin() {
        return "admin";
    }
    if s.is_auditor() {
        return "auditor";
    }
    match (org, s.who) {
        (None, _) => "tenant_wide",
        (Some(o), Who::User(_)) if s.member_of(o) => "member_of",
        (Some(_), Who::User(_)) => "not_member_of",
        (Some(o), Who::Key(_)) if s.member_of(o) => "org_key",
        (Some(_), Who::Key(_)) => "key_of_other_org",
    }
}

/// The rule that decides a change by one who sees the resource; org keys
/// never manage the kinds that issue secrets (DECISIONS: keys and tokens).
fn oracle_change_rule(
    s: &Setup,
    policy: ScopePolicy,
    keys_manage: bool,
    org: Option<&str>,
    is_creator: bool,
) -> &'static str {
    if s.is_superuser() {
        return "superuser";
    }
    if s.is_auditor() {
        return "auditors_only_read";
    }
    if s.is_admin() {
        return "admin";
    }
    if s.who == Who::Key(Access::Read) {
        return "read_key";
    }
    if matches!(s.who, Who::Key(_)) && !keys_manage {
        return "keys_do_not_manage";
    }
    match (org, s.who) {
        (Some(_), Who::User(_)) => "member_of",
        (Some(_), Who::Key(_)) => "org_key",
        (None, Who::User(_)) if policy == ScopePolicy::CreatorTenantWide && is_creator => "creator",
        (None, _) if policy == ScopePolicy::CreatorTenantWide => {
            "creator_or_admins_change_tenant_wide"
        }
        (None, _) => "admins_change_tenant_wide",
    }
}

/// Who has access, and why (DESIGN section 5): for every principal, scope,
/// policy and creator, `explain` agrees with the decisions of the oracle and
/// names the rule the oracle names; the groups that admit the principal
/// grant exactly what `explain` says; and only those who see the tenant or
/// may change the resource may ask.
#[test]
fn who_has_access_and_why() {
    use orgscope_core::access::{self, KindRules};
    let mut table = Table::default();
    for s in setups() {
        let p = s.principal();
        for res in [Res::TenantWide, Res::OrgA] {
            let r = scope(HOME, res.org());
            for policy in ScopePolicy::ALL {
                for keys_manage in [true, false] {
                    let rules = KindRules {
                        policy,
                        keys_manage,
                    };
                    for creator in [Creator::ThePrincipal, Creator::SomeoneElse] {
                        let is_creator = creator == Creator::ThePrincipal;
                        let created_by = Some(if is_creator { s.id() } else { SOMEONE_ELSE });
                        let what = format!("{s:?} {res:?} {rules:?} {creator:?}");
                        let sees = oracle_visible(&s, HOME, res.org());
                        let key_refused = matches!(s.who, Who::Key(_)) && !keys_manage;
                        let changes = sees
                            && !key_refused
                            && oracle_write(&s, policy, res.org(), is_creator).is_ok();
                        let see_rule = oracle_see_rule(&s, res.org());
                        let change_rule = if sees {
                            oracle_change_rule(&s, policy, keys_manage, res.org(), is_creator)
                        } else {
                            see_rule
                        };
                        let got = access::explain(&p, rules, &r, created_by);
                        table.check(
                            format!("explain {what}"),
                            (
                                got.see.allowed,
                                got.see.because.code(),
                                got.change.allowed,
                                got.change.because.code(),
                            ),
                            (sees, see_rule, changes, change_rule),
                        );
                        let admitting: Vec<_> = access::groups(rules, &r, created_by)
                            .into_iter()
                            .filter(|g| access::admits(g, &p, &r, created_by))
                            .collect();
                        table.check(
                            format!("groups {what}"),
                            (
                                admitting.iter().any(|g| g.see),
                                admitting.iter().any(|g| g.change),
                            ),
                            (sees, changes),
                        );
                        let may_ask = s.is_superuser()
                            || (s.tenant() == HOME && (s.is_admin() || s.is_auditor()))
                            || changes;
                        table.check(
                            format!("can_explain {what}"),
                            access::can_explain(&p, rules, &r, created_by),
                            may_ask,
                        );
                    }
                }
            }
        }
    }
    // 32 principals x 2 scopes x 3 policies x 2 key rules x 2 creators x 3 questions.
    table.finish(2304);
}
