//! Model-based isolation: random sequences of membership changes (by the
//! admin and by members who manage an org), re-parented orgs, resource
//! creations of every kind (org access keys among them, which then ask too),
//! references between resources, tasks made by webhooks and by the scheduler,
//! persona assignments, task claims, re-scopes (previewed or not, by the
//! admin and by users), disables and re-enables, key revocations, org
//! deletions, orgs made again and new tenants, developers signing up on
//! their org's portal (confirmed by the link a real SMTP server received)
//! and asking for keys that members decide, API gateways of orgs and of the
//! tenant and the tags that match them to API definitions, driven through
//! the real API;
//! after every step each principal's listings, gets, searches, downloads,
//! reveals and writes, and what it may manage, and each developer's portal
//! session (its keys; nowhere else), are compared with an oracle
//! written from DESIGN sections 1 to 3 (it does not call core). Zero
//! differences is the only pass; proptest shrinks a failing sequence. Other
//! tenants' resources must not exist for any of them.
//! `ORGSCOPE_MODEL_CASES` runs more cases (default 6).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{TestServer, backends, enc};

const ORGS: [&str; 3] = ["org-a", "org-b", "org-c"];
/// (username, role)
const USERS: [(&str, &str); 4] = [
    ("u0", "user"),
    ("u1", "user"),
    ("u2", "user"),
    ("aud", "auditor"),
];
/// Every kind, each with (path, may a plain user write it tenant-wide?, may
/// it be tenant-wide at all?, does it issue a secret?). Org keys cannot
/// manage the kinds that issue secrets (DECISIONS: keys and tokens).
const KINDS: [(&str, bool, bool, bool); 19] = [
    ("specialties", false, true, false),
    ("personas", true, true, false),
    ("hosts", false, false, false),
    ("files", true, true, false),
    ("credentials", false, true, false),
    ("developers", false, false, false),
    ("agents", false, false, false),
    ("plugins", false, true, false),
    ("api-definitions", false, false, false),
    ("blacklists", false, true, false),
    ("operational-rules", false, true, false),
    // Made by CreateLinked only: each refers to two others (LINKED).
    ("tasks", false, false, false),
    ("jobs", false, false, false),
    ("gateways", false, false, true),
    ("consumer-keys", false, false, true),
    // Made by CreateKey: each org key is a principal of the model too.
    ("api-keys", false, false, true),
    // Derived: made by StartSessions only, in its persona's org for good.
    ("sessions", true, true, false),
    // Made by a developer on the portal (RequestKey) only.
    ("key-requests", false, false, false),
    // Made by CreateApiGateway: tenant-wide ones by admins only.
    ("api-gateways", false, true, true),
];
/// The kinds made by the generic create come first in KINDS.
const GENERIC: usize = 11;
const PERSONAS: usize = 1;
const HOSTS: usize = 2;
const FILES: usize = 3;
const CREDENTIALS: usize = 4;
const DEVELOPERS: usize = 5;
const AGENTS: usize = 6;
const API_DEFINITIONS: usize = 8;
const BLACKLISTS: usize = 9;
const OPERATIONAL_RULES: usize = 10;
const TASKS: usize = 11;
const JOBS: usize = 12;
const GATEWAYS: usize = 13;
const CONSUMER_KEYS: usize = 14;
const API_KEYS: usize = 15;
const SESSIONS: usize = 16;
const KEY_REQUESTS: usize = 17;
const API_GATEWAYS: usize = 18;
/// The tags of the model: bit t of a mask is TAGS[t].
const TAGS: [&str; 2] = ["blue", "green"];

fn tag_list(mask: u8) -> Vec<&'static str> {
    (0..TAGS.len())
        .filter(|t| mask & (1 << t) != 0)
        .map(|t| TAGS[t])
        .collect()
}
/// Developers' addresses (never the one the generic create gives).
const EMAILS: [&str; 2] = ["dana@dev.test", "eve@dev.test"];
/// Kinds that refer to two resources, the first of which decides their org:
/// (kind, first's kind, second's kind).
const LINKED: [(usize, usize, usize); 4] = [
    (TASKS, AGENTS, HOSTS),
    (JOBS, AGENTS, HOSTS),
    (GATEWAYS, AGENTS, HOSTS),
    (CONSUMER_KEYS, DEVELOPERS, API_DEFINITIONS),
];
/// Every file says this word: search finds exactly the files one may see.
const WORD: &str = "isolationword";
/// What every blacklist of the model refuses.
const REFUSED: &str = "rm -rf /";
/// A `bad` command: the refused one as someone would dodge a byte-for-byte
/// match (case and spacing), which a blacklist must still refuse.
const BAD: &str = "sudo RM  -Rf\t/";
/// At most this many org keys in a case: each one is checked every step.
const MAX_KEYS: usize = 5;
/// At most this many tenants made by steps (one more exists from the start).
const MAX_TENANTS: usize = 2;

#[derive(Clone, Debug)]
enum Op {
    /// The admin adds a member (with or without `can_manage`).
    Join {
        user: usize,
        org: usize,
        manage: bool,
    },
    /// A user's session adds (or updates) a member: only managers may.
    ManagerAdds {
        by: usize,
        user: usize,
        org: usize,
        manage: bool,
    },
    /// The admin re-parents an org (None: top level); cycles are refused.
    Reparent {
        org: usize,
        parent: Option<usize>,
    },
    Leave {
        user: usize,
        org: usize,
    },
    /// Creator: a user index, or None for the admin; org None = tenant-wide.
    Create {
        by: Option<usize>,
        kind: usize,
        org: Option<usize>,
    },
    /// A user (None: the admin) makes an org access key, which then asks too.
    CreateKey {
        by: Option<usize>,
        org: usize,
        read_write: bool,
    },
    /// A user (None: the admin) makes a `LINKED[link]` resource in the org of
    /// the n-th resource of its first kind, referring to it and to the n-th
    /// of its second kind (which may be in another org). A `bad` command is
    /// one the blacklists refuse.
    CreateLinked {
        by: Option<usize>,
        link: usize,
        first: usize,
        second: usize,
        bad: bool,
    },
    /// A ticket reaches the n-th gateway's webhook, with its own secret or
    /// with another's.
    Hook {
        gateway: usize,
        bad: bool,
        own_secret: bool,
    },
    /// The n-th job falls due and the scheduler runs.
    Fire {
        job: usize,
    },
    /// The n-th org key claims the oldest queued task of the n-th agent.
    Claim {
        key: usize,
        agent: usize,
    },
    /// A user (None: the admin) assigns the n-th persona to a set of users
    /// (bit u: USERS[u]; 16: `null`, open to all who see it).
    Assign {
        by: Option<usize>,
        persona: usize,
        users: u8,
    },
    /// Every live user session, the admin and every org key try to start a
    /// chat session with the n-th persona.
    StartSessions {
        persona: usize,
    },
    /// Every live user session, the admin and every org key try to post a
    /// turn into the n-th chat session: only its owner may.
    Post {
        session: usize,
    },
    /// A user (None: the admin) sets the n-th agent's `credentials` to the
    /// n-th credential (which may be in another org): what its org's keys
    /// may reveal.
    AgentUses {
        by: Option<usize>,
        agent: usize,
        credential: usize,
    },
    /// A user (None: the admin) moves the n-th resource into an org or
    /// (None) tenant-wide.
    Rescope {
        by: Option<usize>,
        res: usize,
        org: Option<usize>,
        /// Only report the impact: nothing changes.
        preview: bool,
    },
    Disable {
        user: usize,
    },
    Enable {
        user: usize,
    },
    /// The admin revokes the n-th org key.
    RevokeKey {
        key: usize,
    },
    /// Delete an org: `None` deletes its resources, `Some(to)` moves them to
    /// another org or (`Some(None)`) tenant-wide.
    DeleteOrg {
        org: usize,
        to: Option<Option<usize>>,
    },
    /// The admin makes a deleted org again, with the same slug: it starts
    /// empty (no members, resources or keys of the old one).
    RecreateOrg {
        org: usize,
        parent: Option<usize>,
    },
    /// A superuser makes another tenant with resources of its own.
    NewTenant,
    /// A developer signs up on an org's portal, confirms by the mailed
    /// link and signs in (another session of theirs there ends nothing).
    SignUp {
        org: usize,
        email: usize,
    },
    /// A user (None: the admin) makes an API gateway in an org or
    /// tenant-wide, with these tags (a mask over TAGS).
    CreateApiGateway {
        by: Option<usize>,
        org: Option<usize>,
        tags: u8,
    },
    /// A user (None: the admin) sets the tags of the n-th API definition
    /// (or of the n-th API gateway): what each gateway serves moves.
    Retag {
        by: Option<usize>,
        gateway: bool,
        n: usize,
        tags: u8,
    },
    /// The n-th developer session asks for a key to the n-th API.
    RequestKey {
        dev: usize,
        api: usize,
    },
    /// A user (None: the admin) decides the n-th key request; an approved
    /// key is then shown to its developer, once, if they are signed in.
    Decide {
        by: Option<usize>,
        request: usize,
        approve: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS.len();
    let org = 0..ORGS.len();
    let by = proptest::option::of(0..3usize);
    prop_oneof![
        3 => (user.clone(), org.clone(), any::<bool>())
            .prop_map(|(user, org, manage)| Op::Join { user, org, manage }),
        2 => (user.clone(), user.clone(), org.clone(), any::<bool>())
            .prop_map(|(by, user, org, manage)| Op::ManagerAdds { by, user, org, manage }),
        1 => (org.clone(), proptest::option::of(org.clone()))
            .prop_map(|(org, parent)| Op::Reparent { org, parent }),
        1 => (user.clone(), org.clone()).prop_map(|(user, org)| Op::Leave { user, org }),
        4 => (by.clone(), 0..GENERIC, proptest::option::of(org.clone()))
            .prop_map(|(by, kind, org)| Op::Create { by, kind, org }),
        1 => (by.clone(), org.clone(), any::<bool>())
            .prop_map(|(by, org, read_write)| Op::CreateKey { by, org, read_write }),
        3 => (by.clone(), 0..LINKED.len(), 0..3usize, 0..3usize, proptest::bool::weighted(0.3))
            .prop_map(|(by, link, first, second, bad)| Op::CreateLinked { by, link, first, second, bad }),
        1 => (0..2usize, proptest::bool::weighted(0.3), proptest::bool::weighted(0.8))
            .prop_map(|(gateway, bad, own_secret)| Op::Hook { gateway, bad, own_secret }),
        1 => (0..2usize).prop_map(|job| Op::Fire { job }),
        2 => (0..MAX_KEYS, 0..3usize).prop_map(|(key, agent)| Op::Claim { key, agent }),
        2 => (by.clone(), 0..2usize, 0..17u8)
            .prop_map(|(by, persona, users)| Op::Assign { by, persona, users }),
        2 => (0..4usize).prop_map(|persona| Op::StartSessions { persona }),
        2 => (0..4usize).prop_map(|session| Op::Post { session }),
        2 => (by.clone(), 0..3usize, 0..3usize)
            .prop_map(|(by, agent, credential)| Op::AgentUses { by, agent, credential }),
        3 => (proptest::option::of(0..USERS.len()), 0..40usize, proptest::option::of(org.clone()), any::<bool>())
            .prop_map(|(by, res, org, preview)| Op::Rescope { by, res, org, preview }),
        1 => (org.clone(), proptest::option::of(org.clone()))
            .prop_map(|(org, parent)| Op::RecreateOrg { org, parent }),
        1 => user.clone().prop_map(|user| Op::Disable { user }),
        1 => user.prop_map(|user| Op::Enable { user }),
        1 => (0..MAX_KEYS).prop_map(|key| Op::RevokeKey { key }),
        1 => (0..ORGS.len(), proptest::option::of(proptest::option::of(0..ORGS.len())))
            .prop_map(|(org, to)| Op::DeleteOrg { org, to }),
        1 => Just(Op::NewTenant),
        2 => (org.clone(), 0..EMAILS.len()).prop_map(|(org, email)| Op::SignUp { org, email }),
        2 => (0..4usize, 0..4usize).prop_map(|(dev, api)| Op::RequestKey { dev, api }),
        2 => (by.clone(), proptest::option::of(org.clone()), 0..4u8)
            .prop_map(|(by, org, tags)| Op::CreateApiGateway { by, org, tags }),
        3 => (by.clone(), any::<bool>(), 0..4usize, 0..4u8)
            .prop_map(|(by, gateway, n, tags)| Op::Retag { by, gateway, n, tags }),
        2 => (by.clone(), 0..4usize, proptest::bool::weighted(0.7))
            .prop_map(|(by, request, approve)| Op::Decide { by, request, approve }),
    ]
}

/// A resource as the oracle knows it.
#[derive(Clone, Debug, Default)]
struct Res {
    kind: usize,
    /// None = tenant-wide.
    org: Option<usize>,
    /// The creator: a user, or None for the admin (or the server, for tasks
    /// made by webhooks and jobs).
    by: Option<usize>,
    /// An org access key: its index among the model's keys.
    key: Option<usize>,
    /// A job or task whose command the blacklists refuse.
    bad: bool,
    /// A task an agent has claimed.
    claimed: bool,
    /// A persona's assignments (users).
    assigned: BTreeSet<usize>,
    /// A persona whose assignments restrict it (even to nobody, by pruning).
    restricted: bool,
    /// A chat session an org key started: that key (its owner).
    by_key: Option<usize>,
    /// A developer who signed up on a portal: their address.
    email: Option<usize>,
    /// A key request decided: approved?
    decided: Option<bool>,
    /// An API definition's or API gateway's tags (a mask over TAGS).
    tags: u8,
}

impl Res {
    fn new(kind: usize, org: Option<usize>, by: Option<usize>) -> Res {
        Res {
            kind,
            org,
            by,
            ..Res::default()
        }
    }
}

/// The oracle's world.
#[derive(Default, Debug)]
struct Model {
    /// (user, org)
    members: BTreeSet<(usize, usize)>,
    /// Members with `can_manage`: a subset of `members`.
    managers: BTreeSet<(usize, usize)>,
    /// Each org's parent.
    parents: [Option<usize>; ORGS.len()],
    /// Users disabled now: their sessions and tokens are gone; re-enabled,
    /// they log in again and get new ones.
    disabled: BTreeSet<usize>,
    /// Orgs deleted: for everyone they no longer exist.
    deleted: BTreeSet<usize>,
    resources: Vec<Res>,
    /// References between resources (from, to), by index in `resources`.
    refs: Vec<(usize, usize)>,
    /// Every org key made, by index: read_write? A key works while its
    /// resource exists, and acts in that resource's org.
    keys: Vec<bool>,
    /// Tenants made by steps.
    tenants: usize,
    /// Orgs made again: their domain is not proved, so no portal.
    unproved: BTreeSet<usize>,
}

/// Who asks.
#[derive(Clone, Copy, Debug)]
enum Who {
    Admin,
    /// A superuser acting in the first tenant: the admin's rights there.
    Super,
    User(usize),
    /// The n-th org key.
    Key(usize),
    /// A personal token of a user: the same rights as their session.
    Token(usize),
    /// A user's session sent as a browser does: cookie and CSRF header.
    Cookie(usize),
    /// The n-th org key sent as `X-API-Key`: the same rights as the key.
    Header(usize),
}

/// Principals the oracle treats alike: a personal token or the session
/// cookie answer as the user's session does, a key in either header as the
/// key, a superuser in a tenant as its admin (DESIGN 3, rules 1 and 3).
fn as_user(who: Who) -> Who {
    match who {
        Who::Token(u) | Who::Cookie(u) => Who::User(u),
        Who::Header(k) => Who::Key(k),
        Who::Super => Who::Admin,
        other => other,
    }
}

impl Model {
    /// The index of the n-th resource of `kind`, counting round (so that
    /// few steps find nothing to act on).
    fn nth(&self, kind: usize, n: usize) -> Option<usize> {
        let all: Vec<usize> = (0..self.resources.len())
            .filter(|i| self.resources[*i].kind == kind)
            .collect();
        (!all.is_empty()).then(|| all[n % all.len()])
    }

    /// The org a key acts in, while it exists.
    fn key_org(&self, k: usize) -> Option<Option<usize>> {
        self.resources
            .iter()
            .find(|r| r.key == Some(k))
            .map(|r| r.org)
    }

    /// What resource `r` refers to, in the order it was made with.
    fn targets(&self, r: usize) -> Vec<usize> {
        self.refs
            .iter()
            .filter(|(from, _)| *from == r)
            .map(|(_, to)| *to)
            .collect()
    }

    /// Is a blacklist in force in `org` (the org's own and tenant-wide ones)?
    fn blacklisted(&self, org: Option<usize>) -> bool {
        self.resources
            .iter()
            .any(|r| r.kind == BLACKLISTS && (r.org.is_none() || r.org == org))
    }

    /// Would moving resource `r` to `org` leave a reference across orgs?
    /// What it refers to must be in `org` or tenant-wide; what refers to it
    /// must be in `org`, unless it becomes tenant-wide (then any org's may).
    fn breaks_refs(&self, r: usize, org: Option<usize>) -> bool {
        self.refs.iter().any(|&(a, b)| {
            let other = if a == r {
                b
            } else if b == r && org.is_some() {
                a
            } else {
                return false;
            };
            let there = self.resources[other].org;
            there.is_some() && there != org
        })
    }

    /// Forgets resources (sorted indices), and their references.
    fn remove(&mut self, gone: &[usize]) {
        let shift = |i: usize| i - gone.iter().filter(|g| **g < i).count();
        self.refs
            .retain(|(a, b)| !gone.contains(a) && !gone.contains(b));
        for (a, b) in &mut self.refs {
            (*a, *b) = (shift(*a), shift(*b));
        }
        for i in gone.iter().rev() {
            self.resources.remove(*i);
        }
    }

    fn join(&mut self, user: usize, org: usize, manage: bool) {
        self.members.insert((user, org));
        if manage {
            self.managers.insert((user, org));
        } else {
            self.managers.remove(&(user, org));
        }
    }

    /// Users assigned to a persona stay only while they may be (DECISIONS:
    /// chat): an org's persona keeps its org's members.
    fn prune_assignments(&mut self) {
        let members = self.members.clone();
        for r in &mut self.resources {
            if let (PERSONAS, Some(o)) = (r.kind, r.org) {
                r.assigned.retain(|u| members.contains(&(*u, o)));
            }
        }
    }

    fn alive(&self, who: Who) -> bool {
        match who {
            Who::Admin | Who::Super => true,
            Who::User(u) | Who::Token(u) | Who::Cookie(u) => !self.disabled.contains(&u),
            // A key is inert while its maker holds nothing in its org
            // (DESIGN 3: keys never outdo their makers).
            Who::Key(k) | Who::Header(k) => match self.key_org(k) {
                Some(Some(o)) => self
                    .key_maker(k)
                    .is_none_or(|u| self.members.contains(&(u, o))),
                _ => false,
            },
        }
    }

    /// The admin, every user and every org key that can still ask: who a
    /// step has try an action in turn.
    fn live_askers(&self) -> Vec<Who> {
        let mut whos = vec![Who::Admin];
        whos.extend((0..USERS.len()).map(Who::User));
        whos.extend((0..self.keys.len()).map(Who::Key));
        whos.retain(|w| self.alive(*w));
        whos
    }

    /// Who made the n-th key: a user, or None for the admin.
    fn key_maker(&self, k: usize) -> Option<usize> {
        self.resources
            .iter()
            .find(|r| r.key == Some(k))
            .and_then(|r| r.by)
    }

    /// May the n-th key reveal credential `c`? A read_write key, for a
    /// credential an agent of its org lists, that its maker may reveal.
    fn key_reveals(&self, k: usize, c: usize) -> bool {
        let Some(Some(o)) = self.key_org(k) else {
            return false;
        };
        let cred = &self.resources[c];
        let listed = self.refs.iter().any(|&(a, b)| {
            b == c && self.resources[a].kind == AGENTS && self.resources[a].org == Some(o)
        });
        let maker = self.key_maker(k).map_or(Who::Admin, Who::User);
        self.keys[k]
            && self.sees(Who::Key(k), cred.org)
            && listed
            && self.writes(maker, CREDENTIALS, cred.org, cred.by)
    }

    /// DESIGN 3, Read.
    fn sees(&self, who: Who, org: Option<usize>) -> bool {
        match (as_user(who), org) {
            (Who::Admin, _) => true,
            (Who::User(u), _) if USERS[u].1 == "auditor" => true,
            (_, None) => true,
            (Who::Key(k), Some(o)) => self.key_org(k) == Some(Some(o)),
            (Who::User(u), Some(o)) => self.members.contains(&(u, o)),
            (w, _) => unreachable!("{w:?} is not a rung of its own"),
        }
    }

    /// Which orgs a principal may name (DESIGN 1: admins and auditors all of
    /// the tenant's, users their memberships, a key its own).
    fn names_org(&self, who: Who, org: usize) -> bool {
        !self.deleted.contains(&org) && self.sees(who, Some(org))
    }

    /// DESIGN 1: who manages an org (name, domain, members). Never more
    /// than who sees it; `can_manage` widens nothing else.
    fn manages(&self, who: Who, org: usize) -> bool {
        if self.deleted.contains(&org) {
            return false;
        }
        match as_user(who) {
            Who::Admin => true,
            // Auditors change nothing, can_manage or not (DESIGN 1).
            Who::User(u) => USERS[u].1 == "user" && self.managers.contains(&(u, org)),
            _ => false,
        }
    }

    /// Does the org's portal answer (its domain proved, the org there)?
    fn portal(&self, org: usize) -> bool {
        !self.deleted.contains(&org) && !self.unproved.contains(&org)
    }

    /// A developer's portal session holds while they exist, on the portal
    /// of their org as it is now.
    fn signed_in(&self, dev: Option<usize>) -> Option<usize> {
        let r = &self.resources[dev?];
        r.org.filter(|o| self.portal(*o))
    }

    /// Would `parent` above `org` make a cycle (DESIGN 1: no cycles)?
    fn cycle(&self, org: usize, parent: usize) -> bool {
        let mut at = Some(parent);
        while let Some(o) = at {
            if o == org {
                return true;
            }
            at = self.parents[o];
        }
        false
    }

    /// DESIGN 3, Write, on an existing resource.
    fn writes(&self, who: Who, kind: usize, org: Option<usize>, creator: Option<usize>) -> bool {
        match as_user(who) {
            Who::Admin => true,
            Who::User(u) if USERS[u].1 == "auditor" => false,
            Who::User(u) => match org {
                Some(o) => self.members.contains(&(u, o)),
                None => KINDS[kind].1 && creator == Some(u),
            },
            Who::Key(k) => {
                self.keys[k] && !KINDS[kind].3 && org.is_some() && self.key_org(k) == Some(org)
            }
            w => unreachable!("{w:?} is not a rung of its own"),
        }
    }

    /// DESIGN 3, placing a new resource (statuses as the API answers them).
    fn create_status(&self, by: Option<usize>, kind: usize, org: Option<usize>) -> StatusCode {
        if org.is_none() && !KINDS[kind].2 || org.is_some_and(|o| self.deleted.contains(&o)) {
            return StatusCode::UNPROCESSABLE_ENTITY;
        }
        match (by, org) {
            (None, _) => StatusCode::CREATED,
            (Some(u), Some(o)) if !self.members.contains(&(u, o)) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            (Some(_), Some(_)) => StatusCode::CREATED,
            (Some(_), None) if KINDS[kind].1 => StatusCode::CREATED,
            (Some(_), None) => StatusCode::FORBIDDEN,
        }
    }
}

struct World {
    s: TestServer,
    user_ids: Vec<String>,
    users: Vec<String>,
    /// A personal token of each user.
    tokens: Vec<String>,
    /// Each user's session as a cookie credential (see the harness).
    cookies: Vec<String>,
    /// Each org key's secret, by the model's key index.
    keys: Vec<String>,
    /// The superuser's session.
    root: String,
    /// Resource ids, in the model's order.
    ids: Vec<String>,
    /// Secrets answered once (gateways' and consumer keys'), by id.
    secrets: BTreeMap<String, String>,
    /// Each API definition's listen path, by id.
    paths: BTreeMap<String, String>,
    /// Other tenants' resources: (tenant slug, id).
    foreign: Vec<(String, String)>,
    /// Other tenants' admins: (tenant slug, session).
    foreign_admins: Vec<(String, String)>,
    /// The SMTP server portal mail reaches (none here: no developer steps).
    sink: Option<crate::mailsink::MailSink>,
    /// Confirmation links already followed.
    followed: BTreeSet<String>,
    /// Developers' portal sessions: (developer id, cookies to send).
    devs: Vec<(String, String)>,
    /// Sessions ended by their developer's new password: signed in nowhere.
    ended: Vec<String>,
    /// A client that follows no redirect, as the portal's pages are read.
    browser: reqwest::Client,
}

/// An org's portal domain.
fn domain(org: usize) -> String {
    format!("{}.portal.test", ORGS[org])
}

async fn world(backend: crate::harness::Backend) -> World {
    let sink = crate::mailsink::MailSink::start().await;
    let mailer = sink.as_ref().map(|k| {
        orgscope_app::mail::Mailer::new(&k.url(), "Portal <portal@orgscope.test>").unwrap()
    });
    let s = TestServer::start_with(
        backend,
        crate::harness::Options {
            mailer,
            ..Default::default()
        },
    )
    .await;
    s.shared_gateway_check().await;
    for o in ORGS {
        s.org(o).await;
    }
    let mut user_ids = Vec::new();
    let mut sessions = Vec::new();
    for (name, role) in USERS {
        let (id, session) = s.fast_user(name, role, &[]).await;
        user_ids.push(id);
        sessions.push(session);
    }
    let root = s.superuser().await;
    // Every org's portal domain, proved by the superuser.
    for (o, slug) in ORGS.iter().enumerate() {
        let (st, b) = s
            .patch(
                &s.admin,
                &format!("/api/v1/orgs/{slug}"),
                json!({"domain": domain(o)}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        let (st, b) = s
            .post(
                &root,
                &format!("/api/v1/orgs/{slug}/domain/verify"),
                json!({"skip_dns": true}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    let mut w = World {
        s,
        user_ids,
        users: vec![String::new(); USERS.len()],
        tokens: vec![String::new(); USERS.len()],
        cookies: vec![String::new(); USERS.len()],
        keys: Vec::new(),
        root,
        ids: Vec::new(),
        secrets: BTreeMap::new(),
        paths: BTreeMap::new(),
        foreign: Vec::new(),
        foreign_admins: Vec::new(),
        sink,
        followed: BTreeSet::new(),
        devs: Vec::new(),
        ended: Vec::new(),
        browser: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    for (u, session) in sessions.into_iter().enumerate() {
        w.sign_in(u, session).await.expect("a personal token");
    }
    w.other_tenant("acme").await.expect("a second tenant");
    w
}

impl World {
    /// A tenant with resources of its own (tenant-wide ones, one in its
    /// default org, a file with the searched word): for everyone in the
    /// first tenant they must not exist, and the first tenant's resources
    /// must not exist for its admin.
    async fn other_tenant(&mut self, slug: &str) -> Result<(), String> {
        let s = &self.s;
        let admin = s.other_tenant(&self.root, slug).await.admin;
        let mut ids = Vec::new();
        for org in [serde_json::Value::Null, json!("default")] {
            let made = s
                .create(&admin, "specialties", json!({"name": slug, "org": org}))
                .await;
            ids.push(made["id"].as_str().ok_or("an id")?.to_owned());
        }
        let res = s
            .http
            .post(format!(
                "{}/api/v1/files?name={slug}.txt&org=tenant",
                s.base
            ))
            .bearer_auth(&admin)
            .body(format!("{slug}'s {WORD}"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let file: serde_json::Value = res.json().await.map_err(|e| e.to_string())?;
        let id = file["id"].as_str().ok_or("a file id")?.to_owned();
        wait_extracted(s, &admin, &id).await?;
        ids.push(id);
        self.foreign
            .extend(ids.into_iter().map(|id| (slug.to_owned(), id)));
        self.foreign_admins.push((slug.to_owned(), admin));
        Ok(())
    }

    /// A new session for a user (after a disable), as [`World::sign_in`].
    async fn relogin(&mut self, u: usize) -> Result<(), String> {
        let session = self.s.fast_session(&self.user_ids[u]).await;
        self.sign_in(u, session).await
    }

    /// A user's session, a personal token made with it, and the session as a
    /// browser's cookie.
    async fn sign_in(&mut self, u: usize, session: String) -> Result<(), String> {
        let (st, t) = self
            .s
            .post(&session, "/api/v1/me/tokens", json!({"name": "model"}))
            .await;
        if st != StatusCode::CREATED {
            return Err(format!("{} makes a personal token: {st}: {t}", USERS[u].0));
        }
        self.tokens[u] = t["token"].as_str().ok_or("a token")?.to_owned();
        let csrf = orgscope_server::auth::csrf_token(&session);
        self.cookies[u] = format!("cookie:{session}:{csrf}");
        self.users[u] = session;
        Ok(())
    }

    /// The ids of the modelled resources that satisfy `keep`.
    fn ids_where(&self, m: &Model, keep: impl Fn(&Res) -> bool) -> BTreeSet<String> {
        m.resources
            .iter()
            .zip(&self.ids)
            .filter(|(r, _)| keep(r))
            .map(|(_, id)| id.clone())
            .collect()
    }

    fn token(&self, who: Who) -> String {
        match who {
            Who::Admin => self.s.admin.clone(),
            Who::Super => format!("tenant:default:{}", self.root),
            Who::User(u) => self.users[u].clone(),
            Who::Token(u) => self.tokens[u].clone(),
            Who::Cookie(u) => self.cookies[u].clone(),
            Who::Key(k) => self.keys[k].clone(),
            Who::Header(k) => format!("x-api-key:{}", self.keys[k]),
        }
    }

    /// Forgets resources (sorted indices) in the model and here.
    fn forget(&mut self, m: &mut Model, gone: &[usize]) {
        for i in gone.iter().rev() {
            self.ids.remove(*i);
        }
        m.remove(gone);
    }

    /// Records a task the server made (from a webhook or a job) for the
    /// agent and host that `source` refers to.
    /// `bad`: its command is one the blacklists refuse (claims judge again).
    fn made_task(&mut self, m: &mut Model, source: usize, id: &str, bad: bool) {
        let t = m.resources.len();
        let mut task = Res::new(TASKS, m.resources[source].org, None);
        task.bad = bad;
        m.resources.push(task);
        m.refs
            .extend(m.targets(source).into_iter().map(|to| (t, to)));
        self.ids.push(id.to_owned());
    }

    async fn apply(&mut self, m: &mut Model, op: &Op) -> Result<(), String> {
        let s = &self.s;
        match *op {
            Op::Join { user, org, manage } => {
                let (st, _) = s
                    .post(
                        &s.admin,
                        &format!("/api/v1/orgs/{}/members", ORGS[org]),
                        json!({"user": USERS[user].0, "can_manage": manage}),
                    )
                    .await;
                if m.deleted.contains(&org) {
                    if st != StatusCode::NOT_FOUND {
                        return Err(format!("{op:?}: {st}, oracle 404 (deleted org)"));
                    }
                    return Ok(());
                }
                if st != StatusCode::CREATED && st != StatusCode::OK {
                    return Err(format!("{op:?}: {st}"));
                }
                m.join(user, org, manage);
            }
            Op::ManagerAdds {
                by,
                user,
                org,
                manage,
            } => {
                let (st, body) = s
                    .post(
                        &self.users[by],
                        &format!("/api/v1/orgs/{}/members", ORGS[org]),
                        json!({"user": USERS[user].0, "can_manage": manage}),
                    )
                    .await;
                let who = Who::User(by);
                let want = if !m.alive(who) {
                    StatusCode::UNAUTHORIZED
                } else if !m.names_org(who, org) {
                    StatusCode::NOT_FOUND
                } else if !m.manages(who, org) {
                    StatusCode::FORBIDDEN
                } else if m.members.contains(&(user, org)) {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                };
                agree(op, st, want, &body)?;
                if st.is_success() {
                    m.join(user, org, manage);
                }
            }
            Op::Reparent { org, parent } => {
                let (st, body) = s
                    .patch(
                        &s.admin,
                        &format!("/api/v1/orgs/{}", ORGS[org]),
                        json!({"parent": parent.map(|p| ORGS[p])}),
                    )
                    .await;
                let want = if m.deleted.contains(&org) {
                    StatusCode::NOT_FOUND
                } else if parent.is_some_and(|p| m.deleted.contains(&p) || m.cycle(org, p)) {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::OK
                };
                agree(op, st, want, &body)?;
                if st == StatusCode::OK {
                    m.parents[org] = parent;
                }
            }
            Op::Leave { user, org } => {
                let (st, _) = s
                    .delete(
                        &s.admin,
                        &format!("/api/v1/orgs/{}/members/{}", ORGS[org], USERS[user].0),
                    )
                    .await;
                m.managers.remove(&(user, org));
                let want = if m.members.remove(&(user, org)) {
                    StatusCode::OK
                } else {
                    StatusCode::NOT_FOUND
                };
                if st != want {
                    return Err(format!("{op:?}: {st}, oracle {want}"));
                }
                m.prune_assignments();
            }
            Op::Create { by, kind, org } => {
                let who = by.map_or(Who::Admin, Who::User);
                let want = if m.alive(who) {
                    m.create_status(by, kind, org)
                } else {
                    StatusCode::UNAUTHORIZED
                };
                let mut body = json!({"name": "r", "org": org.map(|o| ORGS[o])});
                let listen_path = format!("/m{}/", self.ids.len());
                match KINDS[kind].0 {
                    "personas" => body["instructions"] = json!("x"),
                    "hosts" => body["address"] = json!("10.0.0.1"),
                    "credentials" => body["secret"] = json!("s3cret"),
                    "developers" => body["email"] = json!("dev@example.com"),
                    "blacklists" => body["patterns"] = json!([REFUSED]),
                    "operational-rules" => body["content"] = json!("ask first"),
                    "api-definitions" => {
                        // Listen paths are unique in the tenant.
                        body["listen_path"] = json!(listen_path);
                        body["upstream_url"] = json!("http://127.0.0.1:9/");
                        body["published"] = json!(true);
                    }
                    _ => {}
                }
                let (st, created) = if kind == FILES {
                    let org = org.map_or("tenant", |o| ORGS[o]);
                    let res = s
                        .http
                        .post(format!("{}/api/v1/files?name=f.txt&org={org}", s.base))
                        .bearer_auth(self.token(who))
                        .body(format!("a file with {WORD} in it"))
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let st = res.status();
                    let body: serde_json::Value = res.json().await.unwrap_or_default();
                    if st == StatusCode::CREATED {
                        wait_extracted(s, &s.admin, body["id"].as_str().unwrap_or_default())
                            .await?;
                    }
                    (st, body)
                } else {
                    s.post(
                        &self.token(who),
                        &format!("/api/v1/{}", KINDS[kind].0),
                        body,
                    )
                    .await
                };
                agree(op, st, want, &created)?;
                if st == StatusCode::CREATED {
                    let id = created["id"].as_str().ok_or("an id")?.to_owned();
                    if kind == API_DEFINITIONS {
                        self.paths.insert(id.clone(), listen_path);
                    }
                    m.resources.push(Res::new(kind, org, by));
                    self.ids.push(id);
                }
            }
            Op::CreateKey {
                by,
                org,
                read_write,
            } => {
                if m.keys.len() >= MAX_KEYS {
                    return Ok(());
                }
                let who = by.map_or(Who::Admin, Who::User);
                let want = if m.alive(who) {
                    m.create_status(by, API_KEYS, Some(org))
                } else {
                    StatusCode::UNAUTHORIZED
                };
                let access = if read_write { "read_write" } else { "read" };
                let (st, body) = s
                    .post(
                        &self.token(who),
                        "/api/v1/api-keys",
                        json!({"name": "k", "org": ORGS[org], "access": access}),
                    )
                    .await;
                agree(op, st, want, &body)?;
                if st == StatusCode::CREATED {
                    let mut key = Res::new(API_KEYS, Some(org), by);
                    key.key = Some(m.keys.len());
                    m.resources.push(key);
                    m.keys.push(read_write);
                    self.keys
                        .push(body["token"].as_str().ok_or("a key secret")?.to_owned());
                    self.ids
                        .push(body["id"].as_str().ok_or("an id")?.to_owned());
                }
            }
            Op::CreateLinked {
                by,
                link,
                first,
                second,
                bad,
            } => {
                let (kind, first_kind, second_kind) = LINKED[link];
                let (Some(a), Some(b)) = (m.nth(first_kind, first), m.nth(second_kind, second))
                else {
                    return Ok(());
                };
                let who = by.map_or(Who::Admin, Who::User);
                let org = m.resources[a].org;
                let other = m.resources[b].org;
                // The placement first, then the task's command against the
                // blacklists in force in its org, then the references: they
                // stay in the org; another org's resource is named in a 409
                // to who sees it and is absent (422) to others.
                let want = if !m.alive(who) {
                    StatusCode::UNAUTHORIZED
                } else if by.is_some_and(|u| org.is_some_and(|o| !m.members.contains(&(u, o))))
                    || (kind == TASKS || kind == JOBS) && bad && m.blacklisted(org)
                {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else if other != org {
                    if m.sees(who, other) {
                        StatusCode::CONFLICT
                    } else {
                        StatusCode::UNPROCESSABLE_ENTITY
                    }
                } else {
                    StatusCode::CREATED
                };
                let (first_id, second_id) = (&self.ids[a], &self.ids[b]);
                let command = if bad { BAD } else { "echo model" };
                let mut body = json!({"name": "l", "org": org.map(|o| ORGS[o])});
                match kind {
                    CONSUMER_KEYS => {
                        body["developer"] = json!(first_id);
                        body["apis"] = json!([second_id]);
                    }
                    _ => {
                        body["agent"] = json!(first_id);
                        body["host"] = json!(second_id);
                        if kind == GATEWAYS {
                            body["type"] = json!("generic");
                        } else {
                            body["command"] = json!(command);
                        }
                        if kind == JOBS {
                            // Falls due only when a Fire step says so.
                            body["schedule"] = json!("0 0 1 1 *");
                        }
                    }
                }
                let (st, body) = s
                    .post(
                        &self.token(who),
                        &format!("/api/v1/{}", KINDS[kind].0),
                        body,
                    )
                    .await;
                agree(op, st, want, &body)?;
                if st == StatusCode::CREATED {
                    let id = body["id"].as_str().ok_or("an id")?.to_owned();
                    if let Some(secret) = body["token"].as_str() {
                        self.secrets.insert(id.clone(), secret.to_owned());
                    }
                    let t = m.resources.len();
                    let mut made = Res::new(kind, org, by);
                    made.bad = bad && kind != GATEWAYS && kind != CONSUMER_KEYS;
                    m.resources.push(made);
                    m.refs.extend([(t, a), (t, b)]);
                    self.ids.push(id);
                }
            }
            Op::Hook {
                gateway,
                bad,
                own_secret,
            } => {
                let Some(g) = m.nth(GATEWAYS, gateway) else {
                    return Ok(());
                };
                let id = self.ids[g].clone();
                let secret = if own_secret {
                    self.secrets[&id].clone()
                } else {
                    // Another gateway's secret, or one that no gateway has.
                    self.secrets
                        .iter()
                        .find(|(other, _)| other.starts_with("gw_") && **other != id)
                        .map(|(_, secret)| secret.clone())
                        .unwrap_or_else(|| orgscope_server::auth::new_secret("osg_"))
                };
                let command = if bad { BAD } else { "echo ticket" };
                let res = s
                    .http
                    .post(format!("{}/hooks/gateways/{id}", s.base))
                    .header("x-gateway-secret", secret)
                    .json(&json!({"title": "ticket", "command": command}))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let st = res.status();
                let body: serde_json::Value = res.json().await.unwrap_or_default();
                let want = if !own_secret {
                    StatusCode::UNAUTHORIZED
                } else if bad && m.blacklisted(m.resources[g].org) {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::CREATED
                };
                agree(op, st, want, &body)?;
                if st == StatusCode::CREATED {
                    let task = body["task"].as_str().ok_or("the task's id")?.to_owned();
                    self.made_task(m, g, &task, bad);
                }
            }
            Op::Fire { job } => {
                let Some(j) = m.nth(JOBS, job) else {
                    return Ok(());
                };
                let mut tx = s.store.write().await.map_err(|e| e.to_string())?;
                tx.job_schedule_set(&self.ids[j], Some("2000-01-01T00:00:00.000000Z"))
                    .await
                    .map_err(|e| e.to_string())?;
                tx.commit().await.map_err(|e| e.to_string())?;
                let made = orgscope_server::routes::agents::fire_due(&s.state)
                    .await
                    .map_err(|e| format!("{op:?}: the scheduler failed: {e:?}"))?;
                // A firing the blacklists in force refuse makes no task.
                let want = usize::from(!(m.resources[j].bad && m.blacklisted(m.resources[j].org)));
                if made.len() != want {
                    return Err(format!(
                        "{op:?}: the firing made {made:?}, oracle {want} task(s)"
                    ));
                }
                if let Some(task) = made.first() {
                    let bad = m.resources[j].bad;
                    self.made_task(m, j, task, bad);
                }
            }
            Op::Claim { key, agent } => {
                let (Some(a), false) = (m.nth(AGENTS, agent), m.keys.is_empty()) else {
                    return Ok(());
                };
                let k = key % m.keys.len();
                let who = Who::Key(k);
                let org = m.resources[a].org;
                let queued: Vec<usize> = (0..m.resources.len())
                    .filter(|t| {
                        let r = &m.resources[*t];
                        r.kind == TASKS && !r.claimed && m.refs.contains(&(*t, a))
                    })
                    .collect();
                // Oldest first, each judged again by the blacklists in force
                // now: the refused ones are set aside until one passes.
                let refused_now = |t: &usize| {
                    let r = &m.resources[*t];
                    r.bad && m.blacklisted(r.org)
                };
                let next = queued.iter().copied().find(|t| !refused_now(t));
                let set_aside: Vec<usize> = queued
                    .iter()
                    .copied()
                    .take_while(|t| Some(*t) != next)
                    .collect();
                // Only a read_write key of the agent's org claims; the agent
                // of another org does not exist for the key.
                let want = if !m.alive(who) {
                    StatusCode::UNAUTHORIZED
                } else if !m.sees(who, org) {
                    StatusCode::NOT_FOUND
                } else if !m.keys[k] {
                    StatusCode::FORBIDDEN
                } else if next.is_none() {
                    StatusCode::NO_CONTENT
                } else {
                    StatusCode::OK
                };
                let (st, body) = s
                    .post(
                        &self.token(who),
                        "/api/v1/tasks/claim",
                        json!({"agent": self.ids[a]}),
                    )
                    .await;
                agree(op, st, want, &body)?;
                if matches!(st, StatusCode::OK | StatusCode::NO_CONTENT) {
                    for t in &set_aside {
                        m.resources[*t].claimed = true;
                    }
                }
                if let (StatusCode::OK, Some(t)) = (st, next) {
                    let task = body["task"]["id"].as_str().unwrap_or_default();
                    if self.ids[t] != task {
                        return Err(format!("{op:?}: claimed {task}, oracle {}", self.ids[t]));
                    }
                    m.resources[t].claimed = true;
                    // The operational rules in force travel with it: its
                    // org's and tenant-wide ones, never another org's.
                    let got = item_ids(&json!({"items": body["operational_rules"]}), "id");
                    let want = self.ids_where(m, |r| {
                        r.kind == OPERATIONAL_RULES && (r.org.is_none() || r.org == org)
                    });
                    if got != want {
                        return Err(format!("{op:?}: rules {got:?}, oracle {want:?}"));
                    }
                }
            }
            Op::Assign { by, persona, users } => {
                let Some(p) = m.nth(PERSONAS, persona) else {
                    return Ok(());
                };
                let who = by.map_or(Who::Admin, Who::User);
                let open = users == 16;
                let chosen: BTreeSet<usize> =
                    (0..USERS.len()).filter(|u| users & (1 << u) != 0).collect();
                let r = &m.resources[p];
                let want = if !m.alive(who) {
                    StatusCode::UNAUTHORIZED
                } else if !m.sees(who, r.org) {
                    StatusCode::NOT_FOUND
                } else if !m.writes(who, PERSONAS, r.org, r.by) {
                    StatusCode::FORBIDDEN
                } else if r
                    .org
                    .is_some_and(|o| chosen.iter().any(|u| !m.members.contains(&(*u, o))))
                {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::OK
                };
                let names: Vec<&str> = chosen.iter().map(|u| USERS[*u].0).collect();
                let users = if open { json!(null) } else { json!(names) };
                let (st, body, _) = s
                    .call(
                        Method::PUT,
                        &format!("/api/v1/personas/{}/assignments", self.ids[p]),
                        Some(&self.token(who)),
                        Some(json!({ "users": users })),
                    )
                    .await;
                agree(op, st, want, &body)?;
                if st == StatusCode::OK {
                    m.resources[p].assigned = chosen;
                    m.resources[p].restricted = !open;
                    if body["restricted"] != json!(!open) {
                        return Err(format!("{op:?}: restricted is {body}"));
                    }
                }
            }
            Op::StartSessions { persona } => {
                let Some(p) = m.nth(PERSONAS, persona) else {
                    return Ok(());
                };
                for who in m.live_askers() {
                    let r = &m.resources[p];
                    let org = r.org;
                    // An assignment list narrows who may select the persona
                    // among those who see it (admins always may); then the
                    // session must be placeable in the persona's scope.
                    let want = if !m.sees(who, org) {
                        StatusCode::NOT_FOUND
                    } else {
                        let may = match who {
                            Who::Admin => true,
                            Who::User(u) => {
                                USERS[u].1 != "auditor"
                                    && (!r.restricted || r.assigned.contains(&u))
                            }
                            Who::Key(k) => m.keys[k] && !r.restricted && org.is_some(),
                            _ => unreachable!("not asked"),
                        };
                        if may {
                            StatusCode::CREATED
                        } else {
                            StatusCode::FORBIDDEN
                        }
                    };
                    let (st, body) = s
                        .post(
                            &self.token(who),
                            "/api/v1/sessions",
                            json!({"persona": self.ids[p]}),
                        )
                        .await;
                    if st != want {
                        return Err(format!("{op:?} by {who:?}: {st}, oracle {want}: {body}"));
                    }
                    if st == StatusCode::CREATED {
                        let by = match who {
                            Who::User(u) => Some(u),
                            _ => None,
                        };
                        let mut session = Res::new(SESSIONS, org, by);
                        if let Who::Key(k) = who {
                            session.by_key = Some(k);
                        }
                        m.resources.push(session);
                        self.ids
                            .push(body["id"].as_str().ok_or("an id")?.to_owned());
                    }
                }
            }
            Op::Post { session } => {
                let Some(x) = m.nth(SESSIONS, session) else {
                    return Ok(());
                };
                for who in m.live_askers() {
                    let r = &m.resources[x];
                    // Only the session's owner posts, while it may write
                    // there; others who see it read.
                    let owner = match who {
                        Who::Admin => r.by.is_none() && r.by_key.is_none(),
                        Who::User(u) => r.by == Some(u) && r.by_key.is_none(),
                        Who::Key(k) => r.by_key == Some(k),
                        _ => unreachable!("not asked"),
                    };
                    let want = if !m.sees(who, r.org) {
                        StatusCode::NOT_FOUND
                    } else if owner && m.writes(who, SESSIONS, r.org, r.by) {
                        StatusCode::OK
                    } else {
                        StatusCode::FORBIDDEN
                    };
                    let (st, body) = s
                        .post(
                            &self.token(who),
                            &format!("/api/v1/sessions/{}/messages", self.ids[x]),
                            json!({"content": WORD}),
                        )
                        .await;
                    if st != want {
                        return Err(format!("{op:?} by {who:?}: {st}, oracle {want}: {body}"));
                    }
                }
            }
            Op::AgentUses {
                by,
                agent,
                credential,
            } => {
                let (Some(a), Some(c)) = (m.nth(AGENTS, agent), m.nth(CREDENTIALS, credential))
                else {
                    return Ok(());
                };
                let who = by.map_or(Who::Admin, Who::User);
                let (ra, rc) = (&m.resources[a], &m.resources[c]);
                // Write on the agent, then its reference: a credential the
                // caller cannot see reads as missing, one of another org
                // is a conflict.
                let want = if !m.alive(who) {
                    StatusCode::UNAUTHORIZED
                } else if !m.sees(who, ra.org) {
                    StatusCode::NOT_FOUND
                } else if !m.writes(who, AGENTS, ra.org, ra.by) {
                    StatusCode::FORBIDDEN
                } else if !m.sees(who, rc.org) {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else if rc.org.is_some() && rc.org != ra.org {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::OK
                };
                let (st, body) = s
                    .patch(
                        &self.token(who),
                        &format!("/api/v1/agents/{}", self.ids[a]),
                        json!({"credentials": [self.ids[c]]}),
                    )
                    .await;
                agree(op, st, want, &body)?;
                if st == StatusCode::OK {
                    let creds: Vec<(usize, usize)> = m
                        .refs
                        .iter()
                        .copied()
                        .filter(|&(from, to)| from == a && m.resources[to].kind == CREDENTIALS)
                        .collect();
                    m.refs.retain(|r| !creds.contains(r));
                    m.refs.push((a, c));
                }
            }
            Op::Rescope {
                by,
                res,
                org,
                preview,
            } => {
                if m.resources.is_empty() {
                    return Ok(());
                }
                let res = res % m.resources.len();
                let r = &m.resources[res];
                let kind = r.kind;
                let who = by.map_or(Who::Admin, Who::User);
                let admin = matches!(who, Who::Admin);
                let auditor = by.is_some_and(|u| USERS[u].1 == "auditor");
                // DESIGN 3, Re-scope: write on the resource where it is and
                // the right to place it into the target, in the order the
                // API checks them.
                let want = if !m.alive(who) {
                    StatusCode::UNAUTHORIZED
                } else if !m.sees(who, r.org) {
                    StatusCode::NOT_FOUND
                } else if kind == SESSIONS || kind == API_KEYS {
                    // Fixed for life (DESIGN 3: a key is bound to its org).
                    StatusCode::UNPROCESSABLE_ENTITY
                } else if org.is_some_and(|o| !m.names_org(who, o))
                    || org.is_none() && !KINDS[kind].2
                {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else if auditor
                    || org.is_none() && !admin && !KINDS[kind].1
                    || !m.writes(who, kind, r.org, r.by)
                    || org.is_none() && !admin && r.by != by
                {
                    StatusCode::FORBIDDEN
                } else if !preview && m.breaks_refs(res, org) {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::OK
                };
                let (st, body) = s
                    .post(
                        &self.token(who),
                        &format!("/api/v1/{}/{}/rescope", KINDS[kind].0, self.ids[res]),
                        json!({"org": org.map(|o| ORGS[o]), "preview": preview}),
                    )
                    .await;
                agree(op, st, want, &body)?;
                if st == StatusCode::OK {
                    // The impact names the users (enabled ones) who lose and
                    // gain sight of it, previewed or done.
                    let from = m.resources[res].org;
                    for (field, a, b) in [
                        ("users_losing_access", from, org),
                        ("users_gaining_access", org, from),
                    ] {
                        let got: BTreeSet<String> = body["impact"][field]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|u| u.as_str().map(str::to_owned))
                            .collect();
                        let all: BTreeSet<usize> = (0..USERS.len())
                            .filter(|u| !m.disabled.contains(u))
                            .filter(|u| m.sees(Who::User(*u), a) && !m.sees(Who::User(*u), b))
                            .collect();
                        // Named only as the caller may list users (admins
                        // and auditors all; a user itself and its orgs'
                        // members); the rest are counted (DESIGN 3, Hiding).
                        let want: BTreeSet<String> = all
                            .iter()
                            .filter(|v| match by {
                                None => true,
                                Some(u) => {
                                    USERS[u].1 == "auditor"
                                        || **v == u
                                        || (0..ORGS.len()).any(|o| {
                                            m.members.contains(&(u, o))
                                                && m.members.contains(&(**v, o))
                                        })
                                }
                            })
                            .map(|u| USERS[*u].0.to_owned())
                            .collect();
                        let count = body["impact"][format!("{field}_count")].as_u64();
                        if got != want || count != Some(all.len() as u64) {
                            return Err(format!(
                                "{op:?}: {field} {got:?} ({count:?} in all), oracle {want:?} ({} in all)",
                                all.len()
                            ));
                        }
                    }
                }
                if st == StatusCode::OK && !preview {
                    m.resources[res].org = org;
                    m.prune_assignments();
                }
            }
            Op::Disable { user } | Op::Enable { user } => {
                let disable = matches!(op, Op::Disable { .. });
                let (st, _) = s
                    .patch(
                        &s.admin,
                        &format!("/api/v1/users/{}", USERS[user].0),
                        json!({"disabled": disable}),
                    )
                    .await;
                if st != StatusCode::OK {
                    return Err(format!("{op:?}: {st}"));
                }
                if !disable && m.disabled.remove(&user) {
                    // Logs in again: a new session, token and cookie, with
                    // the memberships and assignments the user had.
                    self.relogin(user).await?;
                }
                if disable {
                    m.disabled.insert(user);
                    // The org keys the user made end with them, for good.
                    let gone: Vec<usize> = (0..m.resources.len())
                        .filter(|i| {
                            m.resources[*i].kind == API_KEYS && m.resources[*i].by == Some(user)
                        })
                        .collect();
                    self.forget(m, &gone);
                }
            }
            Op::DeleteOrg { org, to } => {
                let body = match to {
                    None => json!({"delete_resources": true}),
                    Some(None) => json!({"move_to": null}),
                    Some(Some(t)) => json!({"move_to": ORGS[t]}),
                };
                let in_org: Vec<usize> = (0..m.resources.len())
                    .filter(|i| m.resources[*i].org == Some(org))
                    .collect();
                let want = if m.deleted.contains(&org) {
                    StatusCode::NOT_FOUND
                } else {
                    match to {
                        Some(Some(t)) if t == org || m.deleted.contains(&t) => {
                            StatusCode::UNPROCESSABLE_ENTITY
                        }
                        // Keys end with their org whatever the disposition;
                        // what else must be in an org cannot go tenant-wide.
                        Some(None)
                            if in_org.iter().any(|i| {
                                let kind = m.resources[*i].kind;
                                kind != API_KEYS && !KINDS[kind].2
                            }) =>
                        {
                            StatusCode::CONFLICT
                        }
                        _ => StatusCode::NO_CONTENT,
                    }
                };
                let (st, answer, _) = s
                    .call(
                        Method::DELETE,
                        &format!("/api/v1/orgs/{}", ORGS[org]),
                        Some(&s.admin),
                        Some(body),
                    )
                    .await;
                agree(op, st, want, &answer)?;
                if st == StatusCode::NO_CONTENT {
                    m.deleted.insert(org);
                    m.members.retain(|(_, o)| *o != org);
                    m.managers.retain(|(_, o)| *o != org);
                    // Children lose their parent; they do not vanish.
                    for p in &mut m.parents {
                        if *p == Some(org) {
                            *p = None;
                        }
                    }
                    let gone: Vec<usize> = match to {
                        None => in_org,
                        Some(target) => {
                            for i in &in_org {
                                m.resources[*i].org = target;
                            }
                            in_org
                                .into_iter()
                                .filter(|i| m.resources[*i].kind == API_KEYS)
                                .collect()
                        }
                    };
                    self.forget(m, &gone);
                    m.prune_assignments();
                }
            }
            Op::RevokeKey { key } => {
                let Some(r) = m.resources.iter().position(|r| r.key == Some(key)) else {
                    return Ok(());
                };
                let (st, body) = s
                    .delete(&s.admin, &format!("/api/v1/api-keys/{}", self.ids[r]))
                    .await;
                if st != StatusCode::NO_CONTENT {
                    return Err(format!("{op:?}: {st}: {body}"));
                }
                self.forget(m, &[r]);
            }
            Op::RecreateOrg { org, parent } => {
                let (st, body) = s
                    .post(
                        &s.admin,
                        "/api/v1/orgs",
                        json!({"slug": ORGS[org], "name": ORGS[org], "parent": parent.map(|p| ORGS[p])}),
                    )
                    .await;
                // The body is read before the write is tried: a parent that
                // is gone is a 422 even when the slug is also taken.
                let want = if parent.is_some_and(|p| m.deleted.contains(&p)) {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else if !m.deleted.contains(&org) {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::CREATED
                };
                agree(op, st, want, &body)?;
                if st == StatusCode::CREATED {
                    m.deleted.remove(&org);
                    m.unproved.insert(org);
                    m.parents[org] = parent;
                }
            }
            Op::NewTenant => {
                if m.tenants < MAX_TENANTS {
                    m.tenants += 1;
                    self.other_tenant(&format!("tenant{}", m.tenants)).await?;
                }
            }
            Op::SignUp { org, email } => self.sign_up(m, org, email).await?,
            Op::CreateApiGateway { by, org, tags } => {
                let who = by.map_or(Who::Admin, Who::User);
                let want = if m.alive(who) {
                    m.create_status(by, API_GATEWAYS, org)
                } else {
                    StatusCode::UNAUTHORIZED
                };
                let (st, body) = s
                    .post(
                        &self.token(who),
                        "/api/v1/api-gateways",
                        json!({"name": "g", "org": org.map(|o| ORGS[o]), "tags": tag_list(tags)}),
                    )
                    .await;
                agree(op, st, want, &body)?;
                if st == StatusCode::CREATED {
                    let id = body["id"].as_str().ok_or("an id")?.to_owned();
                    let secret = body["token"].as_str().ok_or("a secret")?;
                    self.secrets.insert(id.clone(), secret.to_owned());
                    let mut g = Res::new(API_GATEWAYS, org, by);
                    g.tags = tags;
                    m.resources.push(g);
                    self.ids.push(id);
                }
            }
            Op::Retag {
                by,
                gateway,
                n,
                tags,
            } => {
                let kind = if gateway {
                    API_GATEWAYS
                } else {
                    API_DEFINITIONS
                };
                let Some(r) = m.nth(kind, n) else {
                    return Ok(());
                };
                let who = by.map_or(Who::Admin, Who::User);
                let res = &m.resources[r];
                let want = if !m.alive(who) {
                    StatusCode::UNAUTHORIZED
                } else {
                    answer(m.sees(who, res.org), m.writes(who, kind, res.org, res.by))
                };
                let (st, body) = s
                    .patch(
                        &self.token(who),
                        &format!("/api/v1/{}/{}", KINDS[kind].0, self.ids[r]),
                        json!({"tags": tag_list(tags)}),
                    )
                    .await;
                agree(op, st, want, &body)?;
                if st == StatusCode::OK {
                    m.resources[r].tags = tags;
                }
            }
            Op::RequestKey { dev, api } => self.request_key(m, dev, api).await?,
            Op::Decide {
                by,
                request,
                approve,
            } => self.decide(m, op, by, request, approve).await?,
        }
        Ok(())
    }

    async fn portal(
        &self,
        org: usize,
        method: Method,
        path: &str,
        cookie: &str,
        form: Option<&[(&str, &str)]>,
    ) -> crate::portal_client::Got {
        let url = format!("{}{path}", self.s.base);
        crate::portal_client::visit(&self.browser, method, url, &domain(org), cookie, form).await
    }

    /// The model's index of a developer session's developer (None: gone).
    fn dev_index(&self, dev: &str) -> Option<usize> {
        self.ids.iter().position(|id| id == dev)
    }

    async fn sign_up(&mut self, m: &mut Model, org: usize, email: usize) -> Result<(), String> {
        let Some(sink) = &self.sink else {
            return Ok(());
        };
        let home = self.portal(org, Method::GET, "/portal", "", None).await;
        if !m.portal(org) {
            return match home.status {
                StatusCode::NOT_FOUND => Ok(()),
                st => Err(format!("{}'s gone portal answers {st}", ORGS[org])),
            };
        }
        let (form_cookie, token) = crate::portal_client::form_token(&home);
        let address = EMAILS[email];
        let form = [
            ("csrf", token.as_str()),
            ("email", address),
            ("password", "a-long-password"),
        ];
        let got = self
            .portal(
                org,
                Method::POST,
                "/portal/signup",
                &form_cookie,
                Some(&form),
            )
            .await;
        if got.status != StatusCode::OK {
            return Err(format!(
                "sign-up on {}: {}: {}",
                ORGS[org], got.status, got.body
            ));
        }
        // The newest link for this portal: the one not followed yet.
        let mut link = None;
        for n in 1..=self.followed.len() + 1 {
            let mails = sink.to(address, n).await;
            link = mails
                .iter()
                .map(|mail| crate::portal_client::link_in(mail))
                .find(|l| l.contains(&domain(org)) && !self.followed.contains(l));
            if link.is_some() {
                break;
            }
        }
        let link = link.ok_or_else(|| format!("no new link for {address} on {}", ORGS[org]))?;
        self.followed.insert(link.clone());
        let path = &link[link.find("/portal/confirm").ok_or("a confirmation path")?..];
        let confirmed = self.portal(org, Method::GET, path, "", None).await;
        if confirmed.status != StatusCode::OK {
            return Err(format!("confirming on {}: {}", ORGS[org], confirmed.status));
        }
        let form = [
            ("csrf", token.as_str()),
            ("email", address),
            ("password", "a-long-password"),
        ];
        let signed = self
            .portal(
                org,
                Method::POST,
                "/portal/login",
                &form_cookie,
                Some(&form),
            )
            .await;
        let session = crate::portal_client::cookie_of(&signed.cookies, "orgscope_portal")
            .ok_or_else(|| {
                format!(
                    "{address} signs in on {}: {}: {}",
                    ORGS[org], signed.status, signed.body
                )
            })?;
        // Sign-up finds the org's developer with that address, else makes one.
        let existing = (0..m.resources.len()).find(|i| {
            let r = &m.resources[*i];
            r.kind == DEVELOPERS && r.org == Some(org) && r.email == Some(email)
        });
        let id = match existing {
            Some(i) => {
                // A new password (the confirmed sign-up) ends their sessions.
                let id = self.ids[i].clone();
                let (ended, kept) = std::mem::take(&mut self.devs)
                    .into_iter()
                    .partition(|(d, _)| *d == id);
                self.devs = kept;
                self.ended
                    .extend(ended.into_iter().map(|(_, cookies)| cookies));
                id
            }
            None => {
                let all = listed(
                    &self.s,
                    &self.s.admin,
                    &format!("/api/v1/developers?org={}", ORGS[org]),
                )
                .await;
                let new: Vec<&String> = all.iter().filter(|id| !self.ids.contains(id)).collect();
                let [id] = new[..] else {
                    return Err(format!("sign-up made {new:?} in {}", ORGS[org]));
                };
                let mut dev = Res::new(DEVELOPERS, Some(org), None);
                dev.email = Some(email);
                m.resources.push(dev);
                self.ids.push(id.clone());
                id.clone()
            }
        };
        self.devs.push((id, format!("{session}; {form_cookie}")));
        Ok(())
    }

    /// The form token among a session's cookies.
    fn form_token_of(cookies: &str) -> &str {
        cookies
            .split("; ")
            .find_map(|c| c.strip_prefix("orgscope_portal_form="))
            .unwrap_or_default()
    }

    async fn request_key(&mut self, m: &mut Model, dev: usize, api: usize) -> Result<(), String> {
        if self.devs.is_empty() {
            return Ok(());
        }
        let (dev_id, cookies) = self.devs[dev % self.devs.len()].clone();
        let Some(a) = m.nth(API_DEFINITIONS, api) else {
            return Ok(());
        };
        let d = self.dev_index(&dev_id);
        let Some(org) = m
            .signed_in(d)
            .or_else(|| m.resources.get(d?).and_then(|r| r.org))
        else {
            // Their org is gone with them: nothing to ask on.
            return Ok(());
        };
        let form = [
            ("csrf", Self::form_token_of(&cookies)),
            ("apis", &self.ids[a]),
        ];
        let got = self
            .portal(org, Method::POST, "/portal/requests", &cookies, Some(&form))
            .await;
        let signed_in = m.signed_in(d) == Some(org);
        let (want, to) = if !m.portal(org) {
            (StatusCode::NOT_FOUND, "")
        } else if !signed_in {
            (StatusCode::SEE_OTHER, "/portal/login")
        } else if m.resources[a].org != Some(org) {
            // Another org's API is not on this portal.
            (StatusCode::UNPROCESSABLE_ENTITY, "")
        } else {
            (StatusCode::SEE_OTHER, "/portal/keys?done=requested")
        };
        if got.status != want || got.location != to {
            return Err(format!(
                "{dev_id} asks for {} on {}: {} {}, oracle {want} {to}: {}",
                self.ids[a], ORGS[org], got.status, got.location, got.body
            ));
        }
        if to.ends_with("requested") {
            let all = listed(
                &self.s,
                &self.s.admin,
                &format!("/api/v1/key-requests?org={}", ORGS[org]),
            )
            .await;
            let new: Vec<&String> = all.iter().filter(|id| !self.ids.contains(id)).collect();
            let [id] = new[..] else {
                return Err(format!("the request made {new:?}"));
            };
            let t = m.resources.len();
            m.resources.push(Res::new(KEY_REQUESTS, Some(org), None));
            m.refs.extend([(t, d.ok_or("a developer")?), (t, a)]);
            self.ids.push(id.clone());
        }
        Ok(())
    }

    async fn decide(
        &mut self,
        m: &mut Model,
        op: &Op,
        by: Option<usize>,
        request: usize,
        approve: bool,
    ) -> Result<(), String> {
        let Some(r) = m.nth(KEY_REQUESTS, request) else {
            return Ok(());
        };
        let who = by.map_or(Who::Admin, Who::User);
        let req = &m.resources[r];
        let want = if !m.alive(who) {
            StatusCode::UNAUTHORIZED
        } else if !m.sees(who, req.org) {
            StatusCode::NOT_FOUND
        } else if !m.writes(who, KEY_REQUESTS, req.org, req.by) {
            StatusCode::FORBIDDEN
        } else if req.decided.is_some() {
            StatusCode::CONFLICT
        } else {
            StatusCode::OK
        };
        let (st, body) = self
            .s
            .post(
                &self.token(who),
                &format!("/api/v1/key-requests/{}/decide", self.ids[r]),
                json!({"approve": approve}),
            )
            .await;
        agree(op, st, want, &body)?;
        if st != StatusCode::OK {
            return Ok(());
        }
        m.resources[r].decided = Some(approve);
        if !approve {
            return Ok(());
        }
        let key = body["consumer_key"]
            .as_str()
            .ok_or("the key's id")?
            .to_owned();
        let k = m.resources.len();
        m.resources
            .push(Res::new(CONSUMER_KEYS, m.resources[r].org, by));
        m.refs.extend(m.targets(r).into_iter().map(|to| (k, to)));
        self.ids.push(key.clone());
        // Its developer sees it once, on their portal, if signed in there.
        let developer = m.targets(r)[0];
        let Some(org) = m.signed_in(Some(developer)) else {
            return Ok(());
        };
        let Some((_, cookies)) = self
            .devs
            .iter()
            .rev()
            .find(|(id, _)| *id == self.ids[developer])
        else {
            return Ok(());
        };
        let page = self
            .portal(org, Method::GET, "/portal/keys", cookies, None)
            .await;
        let shown = crate::portal_client::keys_shown(&page.body);
        let [secret] = &shown[..] else {
            return Err(format!(
                "{op:?}: the developer's page shows keys {shown:?}: {}",
                page.status
            ));
        };
        let again = self
            .portal(org, Method::GET, "/portal/keys", cookies, None)
            .await;
        if again.body.contains(secret.as_str()) {
            return Err(format!("{op:?}: the key is shown twice"));
        }
        self.secrets.insert(key, secret.clone());
        Ok(())
    }

    /// Every principal's view against the oracle's. Personal tokens, cookies
    /// and keys sent as `X-API-Key` take turns, one of each per step; the org
    /// filters are tried on one kind per step; so every one gets its turn.
    async fn check(&self, m: &Model, step: usize) -> Result<(), String> {
        let mut whos = vec![Who::Admin, Who::Super];
        whos.extend((0..USERS.len()).map(Who::User));
        whos.push(Who::Token(step % USERS.len()));
        whos.push(Who::Cookie((step + 1) % USERS.len()));
        if !m.keys.is_empty() {
            whos.push(Who::Header(step % m.keys.len()));
        }
        whos.extend((0..m.keys.len()).map(Who::Key));
        for who in whos {
            self.check_one(m, who, step % KINDS.len()).await?;
        }
        self.check_elsewhere(m).await?;
        self.check_access(m, step).await?;
        self.check_portals(m, step).await?;
        self.check_gateway(m).await
    }

    /// Each developer session opens its developer's keys on their org's
    /// portal and nothing else: no other portal, not the API; the tenant's
    /// sessions and tokens open no portal account.
    async fn check_portals(&self, m: &Model, step: usize) -> Result<(), String> {
        for (dev_id, cookies) in &self.devs {
            let d = self.dev_index(dev_id);
            let home = m.signed_in(d);
            for org in (0..ORGS.len()).filter(|o| m.portal(*o)) {
                let got = self
                    .portal(org, Method::GET, "/portal/keys", cookies, None)
                    .await;
                if home != Some(org) {
                    if got.status != StatusCode::SEE_OTHER || got.location != "/portal/login" {
                        return Err(format!(
                            "{dev_id}'s portal session on {}: {} {}, oracle: not signed in",
                            ORGS[org], got.status, got.location
                        ));
                    }
                    continue;
                }
                let d = d.ok_or("a developer")?;
                // Their keys: every consumer key issued to them.
                let want: BTreeSet<String> = (0..m.resources.len())
                    .filter(|k| m.resources[*k].kind == CONSUMER_KEYS && m.refs.contains(&(*k, d)))
                    .map(|k| self.ids[k].clone())
                    .collect();
                let got_keys: BTreeSet<String> = got
                    .body
                    .split("action=\"/portal/keys/")
                    .skip(1)
                    .map(|rest| rest.chars().take_while(|c| *c != '/').collect())
                    .collect();
                if got.status != StatusCode::OK || got_keys != want {
                    return Err(format!(
                        "{dev_id} on {}: {} keys {got_keys:?}, oracle {want:?}",
                        ORGS[org], got.status
                    ));
                }
            }
            let session = cookies
                .split("; ")
                .find_map(|c| c.strip_prefix("orgscope_portal="))
                .unwrap_or_default();
            let (st, _) = self.s.get(session, "/api/v1/me").await;
            if st != StatusCode::UNAUTHORIZED {
                return Err(format!("a portal session on the API: {st}"));
            }
        }
        // Ended sessions, and the tenant's credentials, on a portal: not
        // signed in.
        let u = step % USERS.len();
        let others = [
            format!("orgscope_session={}", self.users[u]),
            format!("orgscope_portal={}", self.tokens[u]),
            format!("orgscope_portal={}", self.s.admin),
        ];
        for cookie in self.ended.iter().chain(&others) {
            for org in (0..ORGS.len()).filter(|o| m.portal(*o)) {
                let got = self
                    .portal(org, Method::GET, "/portal/keys", cookie, None)
                    .await;
                if got.status != StatusCode::SEE_OTHER || got.location != "/portal/login" {
                    return Err(format!(
                        "{cookie} on {}'s portal: {} {}",
                        ORGS[org], got.status, got.location
                    ));
                }
            }
        }
        Ok(())
    }

    /// Who has access, and why (DESIGN 5), for a sample of resources: every
    /// user's and key's decision and the groups' counts agree with the
    /// oracle, and only admins, auditors and writers may ask.
    async fn check_access(&self, m: &Model, step: usize) -> Result<(), String> {
        let s = &self.s;
        if m.resources.is_empty() {
            return Ok(());
        }
        let n = m.resources.len();
        let mut sample = vec![step % n, (step * 7 + 3) % n];
        sample.dedup();
        for i in sample {
            let r = &m.resources[i];
            let path = format!("/api/v1/{}/{}/access", KINDS[r.kind].0, self.ids[i]);
            // One decision per user and per key.
            let mut askers: Vec<(Who, String)> = vec![(Who::Admin, "user=admin".into())];
            askers.extend((0..USERS.len()).map(|u| (Who::User(u), format!("user={}", USERS[u].0))));
            for (j, other) in m.resources.iter().enumerate() {
                if let Some(k) = other.key {
                    askers.push((Who::Key(k), format!("key={}", self.ids[j])));
                }
            }
            for (who, query) in askers {
                let alive = m.alive(who);
                let sees = alive && m.sees(who, r.org);
                let writes = sees && m.writes(who, r.kind, r.org, r.by);
                let (st, d) = s.get(&s.admin, &format!("{path}?{query}")).await;
                if st != StatusCode::OK || d["see"] != sees || d["change"] != writes {
                    return Err(format!(
                        "{path}?{query} ({who:?}, {:?}, by {:?}): {st} {d}, oracle see {sees} change {writes}",
                        r.org, r.by
                    ));
                }
            }
            // The groups' counts.
            let (st, groups) = s.get(&s.admin, &path).await;
            if st != StatusCode::OK {
                return Err(format!("admin asks {path}: {st} {groups}"));
            }
            let enabled_users = |keep: &dyn Fn(usize) -> bool| {
                (0..USERS.len())
                    .filter(|u| USERS[*u].1 == "user" && !m.disabled.contains(u) && keep(*u))
                    .count() as i64
            };
            let live_keys = |rw: Option<bool>| {
                (0..m.keys.len())
                    .filter(|k| m.alive(Who::Key(*k)))
                    .filter(|k| r.org.is_none() || m.key_org(*k) == Some(r.org))
                    .filter(|k| rw.is_none_or(|rw| m.keys[*k] == rw))
                    .count() as i64
            };
            let mut want = vec![("auditor".to_owned(), i64::from(!m.disabled.contains(&3)))];
            match r.org {
                Some(o) => {
                    want.push((
                        "member_of".into(),
                        enabled_users(&|u| m.members.contains(&(u, o))),
                    ));
                    want.push(("org_key read_write".into(), live_keys(Some(true))));
                    want.push(("org_key read".into(), live_keys(Some(false))));
                }
                None => {
                    want.push(("tenant_wide".into(), enabled_users(&|_| true)));
                    want.push(("any_org_key".into(), live_keys(None)));
                }
            }
            for (group, count) in want {
                let got = groups["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|g| {
                        let name = match g["access"].as_str() {
                            Some(a) => format!("{} {a}", g["rule"].as_str().unwrap_or("")),
                            None => g["rule"].as_str().unwrap_or("").to_owned(),
                        };
                        name == group
                    })
                    .map(|g| g["count"].as_i64().unwrap_or(-1));
                if got != Some(count) {
                    return Err(format!(
                        "{path}: group {group} counts {got:?}, oracle {count}: {groups}"
                    ));
                }
            }
            // Who may ask: admins, auditors and who may change it; others
            // get what they get for the resource (404 hidden, 403 visible).
            for who in m.live_askers() {
                let sees = m.sees(who, r.org);
                let may = matches!(as_user(who), Who::Admin)
                    || matches!(as_user(who), Who::User(u) if USERS[u].1 == "auditor")
                    || m.writes(who, r.kind, r.org, r.by);
                let want = answer(sees, may);
                let (st, body) = s.get(&self.token(who), &path).await;
                if st != want {
                    return Err(format!("{who:?} asks {path}: {st}, oracle {want}: {body}"));
                }
            }
        }
        Ok(())
    }

    async fn check_one(&self, m: &Model, who: Who, filtered: usize) -> Result<(), String> {
        let s = &self.s;
        let token = &self.token(who);
        if !m.alive(who) {
            let (st, _) = s.get(token, "/api/v1/me").await;
            if st != StatusCode::UNAUTHORIZED {
                return Err(format!("{who:?} is disabled or revoked but got {st}"));
            }
            return Ok(());
        }
        for (kind, (path, ..)) in KINDS.iter().enumerate() {
            let got = listed(s, token, &format!("/api/v1/{path}")).await;
            let want = self.ids_where(m, |r| r.kind == kind && m.sees(who, r.org));
            if got != want {
                return Err(format!(
                    "{who:?} lists {path}: got {got:?}, oracle {want:?}"
                ));
            }
        }
        // Orgs: which it sees, and which it may manage (a rename to the
        // same name changes nothing but answers as any rename would).
        let got: BTreeSet<String> = s
            .list_all(token, "/api/v1/orgs")
            .await
            .iter()
            .map(|o| o["slug"].as_str().unwrap().to_owned())
            .filter(|slug| slug != "default")
            .collect();
        let want: BTreeSet<String> = (0..ORGS.len())
            .filter(|o| m.names_org(who, *o))
            .map(|o| ORGS[o].to_owned())
            .collect();
        if got != want {
            return Err(format!("{who:?} lists orgs: got {got:?}, oracle {want:?}"));
        }
        for (o, slug) in ORGS.iter().enumerate() {
            let (st, body) = s
                .patch(
                    token,
                    &format!("/api/v1/orgs/{slug}"),
                    json!({"name": slug}),
                )
                .await;
            let want = answer(m.names_org(who, o), m.manages(who, o));
            if st != want {
                return Err(format!(
                    "{who:?} renames org {slug}: {st}, oracle {want}: {body}"
                ));
            }
        }
        if matches!(who, Who::Admin) {
            self.check_admin_only(m).await?;
        }
        // The org filter narrows, never widens: `tenant`, and each org by slug.
        let (path, ..) = KINDS[filtered];
        // So does `q`: by a name listed (the listing matched the oracle
        // above; which name turns with the kind checked, to keep the run
        // short), exactly the visible rows whose name holds it, any case.
        let all = s.list_all(token, &format!("/api/v1/{path}")).await;
        let names: BTreeSet<String> = all
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_lowercase))
            .collect();
        let turn = filtered % names.len().max(1);
        for name in names.iter().skip(turn).take(1) {
            let asked: String = name.to_uppercase();
            let got = listed(s, token, &format!("/api/v1/{path}?q={}", enc(&asked))).await;
            let want: BTreeSet<String> = all
                .iter()
                .filter(|r| {
                    r["name"]
                        .as_str()
                        .is_some_and(|n| n.to_lowercase().contains(name.as_str()))
                })
                .filter_map(|r| r["id"].as_str().map(str::to_owned))
                .collect();
            if got != want {
                return Err(format!(
                    "{who:?} lists {path}?q={asked}: got {got:?}, want {want:?}"
                ));
            }
        }
        let got = listed(s, token, &format!("/api/v1/{path}?org=tenant")).await;
        let want = self.ids_where(m, |r| r.kind == filtered && r.org.is_none());
        if got != want {
            return Err(format!(
                "{who:?} lists {path}?org=tenant: got {got:?}, oracle {want:?}"
            ));
        }
        for (o, slug) in ORGS.iter().enumerate() {
            let (st, page) = s
                .get(token, &format!("/api/v1/{path}?org={slug}&limit=200"))
                .await;
            if !m.names_org(who, o) {
                if st != StatusCode::NOT_FOUND {
                    return Err(format!(
                        "{who:?} names {slug} in a filter: {st}, oracle 404"
                    ));
                }
                continue;
            }
            let got = item_ids(&page, "id");
            let want = self.ids_where(m, |r| r.kind == filtered && r.org == Some(o));
            if got != want {
                return Err(format!(
                    "{who:?} lists {path}?org={slug}: got {got:?}, oracle {want:?}"
                ));
            }
        }
        for (_, id) in &self.foreign {
            let (st, _) = s
                .get(token, &format!("/api/v1/{}/{id}", foreign_kind(id)))
                .await;
            if st != StatusCode::NOT_FOUND {
                return Err(format!("{who:?} reaches another tenant's {id}: {st}"));
            }
        }
        self.check_search(m, who, token).await?;
        for (i, r) in m.resources.iter().enumerate() {
            let path = format!("/api/v1/{}/{}", KINDS[r.kind].0, self.ids[i]);
            let sees = m.sees(who, r.org);
            let want = if sees {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            if r.kind == FILES {
                let (st, _, _) = s
                    .call(Method::GET, &format!("{path}/content"), Some(token), None)
                    .await;
                if st != want {
                    return Err(format!("{who:?} downloads {path}: {st}, oracle {want}"));
                }
            }
            if r.kind == CREDENTIALS {
                // Writers of its scope, and org keys of its org (any org's
                // for a tenant-wide one): the agents it is there for.
                let reveals = match as_user(who) {
                    Who::Key(k) => m.key_reveals(k, i),
                    _ => m.writes(who, r.kind, r.org, r.by),
                };
                let want = answer(sees, reveals);
                let (st, _) = s.post(token, &format!("{path}/reveal"), json!({})).await;
                if st != want {
                    return Err(format!("{who:?} reveals {path}: {st}, oracle {want}"));
                }
            }
            let (st, _) = s.get(token, &path).await;
            if st != want {
                return Err(format!("{who:?} gets {path}: {st}, oracle {want}"));
            }
            let writes = m.writes(who, r.kind, r.org, r.by);
            let (st, body) = s.patch(token, &path, json!({"name": "r"})).await;
            let want = answer(sees, writes);
            if st != want {
                return Err(format!(
                    "{who:?} renames {path} ({:?}, by {:?}): {st}, oracle {want}: {body}",
                    r.org, r.by
                ));
            }
        }
        Ok(())
    }

    /// Knowledge search: without a context, every visible file; in an org's
    /// context, that org's and tenant-wide files, never another's; in a chat
    /// session's, its org's (or tenant-wide only), for who sees the session.
    async fn check_search(&self, m: &Model, who: Who, token: &str) -> Result<(), String> {
        let s = &self.s;
        // (query, None = everything | Some(org or tenant-wide only))
        let mut contexts: Vec<(String, Option<Option<usize>>)> = vec![(String::new(), None)];
        contexts.extend(
            (0..ORGS.len())
                .filter(|o| m.names_org(who, *o))
                .map(|o| (format!("&org={}", ORGS[o]), Some(Some(o)))),
        );
        for (i, r) in m.resources.iter().enumerate() {
            if r.kind != SESSIONS {
                continue;
            }
            let q = format!("&session={}", self.ids[i]);
            if m.sees(who, r.org) {
                contexts.push((q, Some(r.org)));
            } else {
                let path = format!("/api/v1/knowledge/search?q={WORD}{q}");
                let (st, _) = s.get(token, &path).await;
                if st != StatusCode::NOT_FOUND {
                    return Err(format!("{who:?} searches {path}: {st}, oracle 404"));
                }
            }
        }
        for (ctx_query, ctx) in contexts {
            let q = format!("/api/v1/knowledge/search?q={WORD}&limit=100{ctx_query}");
            let (st, hits) = s.get(token, &q).await;
            if st != StatusCode::OK {
                return Err(format!("{who:?} searches {q}: {st}"));
            }
            let got = item_ids(&hits, "file");
            let want = self.ids_where(m, |r| {
                r.kind == FILES
                    && m.sees(who, r.org)
                    && ctx.is_none_or(|c| r.org.is_none() || r.org == c)
            });
            if got != want {
                return Err(format!(
                    "{who:?} searches {q}: got {got:?}, oracle {want:?}"
                ));
            }
        }
        Ok(())
    }

    /// What only the admin is asked: org parents and persona assignments.
    async fn check_admin_only(&self, m: &Model) -> Result<(), String> {
        let s = &self.s;
        let orgs = s.list_all(&s.admin, "/api/v1/orgs").await;
        let slug_of = |id: &serde_json::Value| {
            orgs.iter()
                .find(|o| o["id"] == *id)
                .and_then(|o| o["slug"].as_str())
                .map(str::to_owned)
        };
        for o in (0..ORGS.len()).filter(|o| !m.deleted.contains(o)) {
            let org = orgs.iter().find(|x| x["slug"] == ORGS[o]).ok_or("listed")?;
            let got = slug_of(&org["parent"]);
            let want = m.parents[o].map(|p| ORGS[p].to_owned());
            if got != want {
                return Err(format!("{} has parent {got:?}, oracle {want:?}", ORGS[o]));
            }
        }
        for (i, r) in m.resources.iter().enumerate() {
            if r.kind != PERSONAS {
                continue;
            }
            let path = format!("/api/v1/personas/{}/assignments", self.ids[i]);
            let (st, body) = s.get(&s.admin, &path).await;
            let got: BTreeSet<String> = body["users"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u["username"].as_str().map(str::to_owned))
                .collect();
            let want: BTreeSet<String> =
                r.assigned.iter().map(|u| USERS[*u].0.to_owned()).collect();
            if st != StatusCode::OK || got != want {
                return Err(format!("{path}: {st} {got:?}, oracle {want:?}"));
            }
        }
        Ok(())
    }

    /// Other tenants: their admins list exactly their own resources, search
    /// finds only their own file, and the first tenant's ids do not exist
    /// for them; the superuser reaches each tenant's resources by naming it.
    async fn check_elsewhere(&self, m: &Model) -> Result<(), String> {
        let s = &self.s;
        for (slug, admin) in &self.foreign_admins {
            let mine = |prefix: &str| -> BTreeSet<String> {
                self.foreign
                    .iter()
                    .filter(|(t, id)| t == slug && id.starts_with(prefix))
                    .map(|(_, id)| id.clone())
                    .collect()
            };
            for (path, ..) in KINDS {
                let got = listed(s, admin, &format!("/api/v1/{path}")).await;
                let want = match path {
                    "specialties" => mine("spec_"),
                    "files" => mine("file_"),
                    _ => BTreeSet::new(),
                };
                if got != want {
                    return Err(format!(
                        "{slug}'s admin lists {path}: got {got:?}, oracle {want:?}"
                    ));
                }
            }
            let (_, hits) = s
                .get(
                    admin,
                    &format!("/api/v1/knowledge/search?q={WORD}&limit=100"),
                )
                .await;
            let got = item_ids(&hits, "file");
            if got != mine("file_") {
                return Err(format!("{slug}'s admin finds {got:?}"));
            }
            // A few of the first tenant's ids, a different few each step.
            for (i, id) in self.ids.iter().enumerate() {
                if !(i + m.resources.len()).is_multiple_of(4) {
                    continue;
                }
                let kind = KINDS[m.resources[i].kind].0;
                let (st, _) = s.get(admin, &format!("/api/v1/{kind}/{id}")).await;
                if st != StatusCode::NOT_FOUND {
                    return Err(format!("{slug}'s admin reaches {id}: {st}"));
                }
            }
        }
        for (slug, id) in &self.foreign {
            let (st, _) = s
                .get(
                    &format!("tenant:{slug}:{}", self.root),
                    &format!("/api/v1/{}/{id}", foreign_kind(id)),
                )
                .await;
            if st != StatusCode::OK {
                return Err(format!("the superuser in {slug} gets {id}: {st}"));
            }
        }
        Ok(())
    }

    /// The gateway check: a consumer key passes for exactly the APIs it
    /// grants; any other API, of its org or another, is a 403.
    async fn check_gateway(&self, m: &Model) -> Result<(), String> {
        let s = &self.s;
        for (k, key) in m.resources.iter().enumerate() {
            if key.kind != CONSUMER_KEYS {
                continue;
            }
            // A key its developer has not seen yet (not signed in) has no
            // secret known here.
            let Some(secret) = self.secrets.get(&self.ids[k]) else {
                continue;
            };
            for (a, api) in m.resources.iter().enumerate() {
                if api.kind != API_DEFINITIONS {
                    continue;
                }
                let res = s
                    .http
                    .get(format!("{}/api/v1/gateway/check", s.base))
                    .header("x-api-key", secret)
                    .header("x-original-method", "GET")
                    .header("x-original-uri", format!("{}x", self.paths[&self.ids[a]]))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let granted = m.refs.contains(&(k, a));
                let st = res.status();
                if st.is_success() != granted || !granted && st != StatusCode::FORBIDDEN {
                    return Err(format!(
                        "consumer key {} on API {}: {st}, oracle granted={granted}",
                        self.ids[k], self.ids[a]
                    ));
                }
                // Through each API gateway: only its org's keys are known,
                // and only the APIs it serves are there.
                for (g, gw) in m.resources.iter().enumerate() {
                    if gw.kind != API_GATEWAYS {
                        continue;
                    }
                    let res = s
                        .http
                        .get(format!("{}/api/v1/gateway/check", s.base))
                        .header("x-orgscope-gateway", &self.secrets[&self.ids[g]])
                        .header("x-api-key", secret)
                        .header("x-original-method", "GET")
                        .header("x-original-uri", format!("{}x", self.paths[&self.ids[a]]))
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let known = gw.org.is_none() || gw.org == key.org;
                    let serves = (gw.org.is_none() || gw.org == api.org)
                        && (gw.tags & api.tags != 0 || gw.tags == 0 && api.tags == 0);
                    let want = if !known {
                        StatusCode::UNAUTHORIZED
                    } else if serves && granted {
                        StatusCode::NO_CONTENT
                    } else {
                        StatusCode::FORBIDDEN
                    };
                    if res.status() != want {
                        return Err(format!(
                            "consumer key {} on API {} ({:?}, tags {}) through API gateway {} ({:?}, tags {}): {}, oracle {want}",
                            self.ids[k],
                            self.ids[a],
                            api.org,
                            api.tags,
                            self.ids[g],
                            gw.org,
                            gw.tags,
                            res.status()
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// DESIGN 3, Hiding: what is hidden is a 404; visible but not allowed, 403.
fn answer(visible: bool, allowed: bool) -> StatusCode {
    match (visible, allowed) {
        (false, _) => StatusCode::NOT_FOUND,
        (true, true) => StatusCode::OK,
        (true, false) => StatusCode::FORBIDDEN,
    }
}

/// The API's status against the oracle's, for a step.
fn agree(
    op: &Op,
    st: StatusCode,
    want: StatusCode,
    body: &serde_json::Value,
) -> Result<(), String> {
    if st == want {
        Ok(())
    } else {
        Err(format!("{op:?}: {st}, oracle {want}: {body}"))
    }
}

/// The ids a listing answers, every page.
async fn listed(s: &TestServer, token: &str, path: &str) -> BTreeSet<String> {
    s.list_all(token, path)
        .await
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect()
}

/// The ids of one page's items (`field`: "id", or "file" for search hits).
fn item_ids(page: &serde_json::Value, field: &str) -> BTreeSet<String> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let v = &r[field];
            v["id"].as_str().or(v.as_str()).map(str::to_owned)
        })
        .collect()
}

/// The kind path of another tenant's resource.
fn foreign_kind(id: &str) -> &'static str {
    if id.starts_with("file_") {
        "files"
    } else {
        "specialties"
    }
}

async fn wait_extracted(s: &TestServer, token: &str, id: &str) -> Result<(), String> {
    // Generous: on a loaded 2-core machine extraction waits its turn.
    for _ in 0..3000 {
        let (_, f) = s.get(token, &format!("/api/v1/files/{id}")).await;
        if f["extraction"]["state"] == "done" {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Err(format!("file {id} was not extracted"))
}

fn prelude() -> Vec<Op> {
    let mut ops = vec![
        Op::CreateKey {
            by: None,
            org: 0,
            read_write: true,
        },
        Op::CreateKey {
            by: None,
            org: 1,
            read_write: false,
        },
    ];
    ops.extend([Some(0), Some(1), None].into_iter().map(|org| Op::Create {
        by: None,
        kind: FILES,
        org,
    }));
    ops.push(Op::Create {
        by: None,
        kind: PERSONAS,
        org: Some(0),
    });
    // An agent and a host in org-a, a host in org-b, a developer and an API
    // in org-a, an API in org-b.
    for (kind, org) in [
        (AGENTS, 0),
        (HOSTS, 0),
        (HOSTS, 1),
        (DEVELOPERS, 0),
        (API_DEFINITIONS, 0),
        (API_DEFINITIONS, 1),
    ] {
        ops.push(Op::Create {
            by: None,
            kind,
            org: Some(org),
        });
    }
    // A task, a job and a gateway on the first host, a consumer key for the
    // first API.
    for link in 0..LINKED.len() {
        ops.push(Op::CreateLinked {
            by: None,
            link,
            first: 0,
            second: 0,
            bad: false,
        });
    }
    // The task holds its agent in org-a: a move is previewed, then refused.
    // Each earlier step made one resource: its position is the agent's index.
    let agent = ops
        .iter()
        .position(|op| matches!(op, Op::Create { kind: AGENTS, .. }))
        .expect("the agent");
    for preview in [true, false] {
        ops.push(Op::Rescope {
            by: None,
            res: agent,
            org: Some(1),
            preview,
        });
    }
    // Org-a's own API gateway (untagged: it serves org-a's untagged APIs)
    // and a tenant-wide one for blue APIs, which org-b's API becomes.
    ops.push(Op::CreateApiGateway {
        by: None,
        org: Some(0),
        tags: 0,
    });
    ops.push(Op::CreateApiGateway {
        by: None,
        org: None,
        tags: 1,
    });
    ops.push(Op::Retag {
        by: None,
        gateway: false,
        n: 1,
        tags: 1,
    });
    // A developer signs up on org-a's portal and asks for its API; signing
    // up again (a new password) ends that first session.
    ops.push(Op::SignUp { org: 0, email: 0 });
    ops.push(Op::RequestKey { dev: 0, api: 0 });
    ops.push(Op::SignUp { org: 0, email: 0 });
    // u0 and u2 (who manages it) in org-a; the persona assigned to u0 only,
    // so u2 sees it but may not start a session with it.
    for (user, manage) in [(0, false), (2, true)] {
        ops.push(Op::Join {
            user,
            org: 0,
            manage,
        });
    }
    ops.push(Op::Assign {
        by: None,
        persona: 0,
        users: 0b0001,
    });
    ops.push(Op::StartSessions { persona: 0 });
    // A blacklist in org-b is not in force in org-a: a ticket to org-a's
    // gateway with the refused command becomes a task; the job fires.
    ops.push(Op::Create {
        by: None,
        kind: BLACKLISTS,
        org: Some(1),
    });
    ops.push(Op::Hook {
        gateway: 0,
        bad: true,
        own_secret: true,
    });
    ops.push(Op::Fire { job: 0 });
    // A tenant-wide credential and one of org-a: org-a's agent lists the
    // first, so org-a's read_write key (the admin's) reveals it, its read
    // key and plain users never; then the agent lists org-a's own.
    for org in [None, Some(0)] {
        ops.push(Op::Create {
            by: None,
            kind: CREDENTIALS,
            org,
        });
    }
    ops.push(Op::AgentUses {
        by: None,
        agent: 0,
        credential: 0,
    });
    // org-a's key claims a task: org-a's operational rule travels with it,
    // org-b's does not.
    for org in [0, 1] {
        ops.push(Op::Create {
            by: None,
            kind: OPERATIONAL_RULES,
            org: Some(org),
        });
    }
    ops.push(Op::Claim { key: 0, agent: 0 });
    // A bad ticket queued while no blacklist is in force in org-a; then
    // org-a gets one: the claim refuses the queued task (blacklists judge
    // again at claim time), and a job with the bad command is refused now.
    ops.push(Op::Hook {
        gateway: 0,
        bad: true,
        own_secret: true,
    });
    ops.push(Op::Create {
        by: None,
        kind: BLACKLISTS,
        org: Some(0),
    });
    ops.push(Op::Claim { key: 0, agent: 0 });
    ops.push(Op::CreateLinked {
        by: None,
        link: 1,
        first: 0,
        second: 0,
        bad: true,
    });
    // u0 disabled and enabled again: logged in anew, it keeps its membership
    // and its assignment.
    ops.extend([Op::Disable { user: 0 }, Op::Enable { user: 0 }]);
    // Only a session's owner posts into it (the admin's and u0's sessions).
    ops.extend([Op::Post { session: 0 }, Op::Post { session: 1 }]);
    // u2 makes a read_write key of org-a; the agent lists org-a's own
    // credential, which u2 may reveal, so the key may too. When u2 leaves
    // org-a the key is inert; back in, it works again.
    ops.push(Op::CreateKey {
        by: Some(2),
        org: 0,
        read_write: true,
    });
    ops.push(Op::AgentUses {
        by: Some(2),
        agent: 0,
        credential: 1,
    });
    // u0 leaves org-a: the persona's list is pruned to nobody, and stays
    // restricted (no one but admins may start a session with it).
    ops.extend([
        Op::Leave { user: 0, org: 0 },
        Op::Leave { user: 2, org: 0 },
        // u2's key is inert now: its claim is refused as unauthenticated.
        Op::Claim { key: 2, agent: 0 },
        Op::StartSessions { persona: 0 },
        Op::Join {
            user: 2,
            org: 0,
            manage: true,
        },
        Op::StartSessions { persona: 0 },
    ]);
    ops
}

#[test]
fn every_view_of_every_principal_matches_the_oracle() {
    let cases = std::env::var("ORGSCOPE_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for backend in backends() {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&proptest::collection::vec(op(), 1..14), |ops| {
            rt.block_on(async {
                let mut w = world(backend).await;
                let mut m = Model::default();
                // Every case starts from keys in two orgs, files in two orgs
                // and tenant-wide, a session, and a task, a job, a gateway and
                // a consumer key in org-a: derived data and references have
                // something to leak or break.
                for op in prelude() {
                    w.apply(&mut m, &op)
                        .await
                        .map_err(|e| TestCaseError::fail(format!("prelude: {e}")))?;
                }
                for (step, op) in ops.iter().enumerate() {
                    w.apply(&mut m, op)
                        .await
                        .map_err(|e| TestCaseError::fail(format!("step {step}: {e}")))?;
                    w.check(&m, step).await.map_err(|e| {
                        TestCaseError::fail(format!("after step {step} {op:?}: {e}"))
                    })?;
                }
                Ok(())
            })
        });
        if let Err(e) = result {
            panic!("{backend:?}: {e}");
        }
    }
}
