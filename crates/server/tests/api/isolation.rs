//! Model-based isolation: random sequences of membership changes (by the
//! admin and by members who manage an org), re-parented orgs, resource
//! creations, re-scopes (previewed or not), disables, key revocations and
//! org deletions, driven through the real API; after every step each
//! principal's listings, gets, searches, downloads and writes, and what it
//! may manage, are compared with an oracle written from DESIGN sections 1
//! and 3 (it does not call core). Zero differences is the only pass; proptest shrinks a failing
//! sequence. A second tenant's resources must not exist for any of them.
//! `ORGSCOPE_MODEL_CASES` runs more cases (default 6).

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TestServer, backends};

const ORGS: [&str; 3] = ["org-a", "org-b", "org-c"];
/// (username, role)
const USERS: [(&str, &str); 4] = [
    ("u0", "user"),
    ("u1", "user"),
    ("u2", "user"),
    ("aud", "auditor"),
];
/// Kinds under test, one or more of each scope policy and product area:
/// (path, may a plain user write it tenant-wide?, may it be tenant-wide at all?)
const KINDS: [(&str, bool, bool); 13] = [
    ("specialties", false, true),
    ("personas", true, true),
    ("hosts", false, false),
    ("files", true, true),
    ("credentials", false, true),
    ("developers", false, false),
    ("agents", false, false),
    ("plugins", false, true),
    ("api-definitions", false, false),
    ("blacklists", false, true),
    ("operational-rules", false, true),
    // Made by CreateTask only: it refers to an agent and a host.
    ("tasks", false, false),
    // Derived: made by StartSession only, in its persona's org for good.
    ("sessions", true, true),
];
const PERSONAS: usize = 1;
const HOSTS: usize = 2;
const AGENTS: usize = 6;
const TASKS: usize = KINDS.len() - 2;
const SESSIONS: usize = KINDS.len() - 1;
/// Every file says this word: search finds exactly the files one may see.
const WORD: &str = "isolationword";

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
    /// A user (None: the admin) makes a task in the n-th agent's org, for
    /// that agent, on the n-th host (which may be in another org).
    CreateTask {
        by: Option<usize>,
        agent: usize,
        host: usize,
    },
    /// A user (None: the admin) starts a chat session with the n-th persona.
    StartSession {
        by: Option<usize>,
        persona: usize,
    },
    Rescope {
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
    RevokeKey {
        key: usize,
    },
    /// Delete an org: `None` deletes its resources, `Some(to)` moves them to
    /// another org or (`Some(None)`) tenant-wide.
    DeleteOrg {
        org: usize,
        to: Option<Option<usize>>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS.len();
    let org = 0..ORGS.len();
    prop_oneof![
        3 => (user.clone(), org.clone(), any::<bool>())
            .prop_map(|(user, org, manage)| Op::Join { user, org, manage }),
        2 => (user.clone(), user.clone(), org.clone(), any::<bool>())
            .prop_map(|(by, user, org, manage)| Op::ManagerAdds { by, user, org, manage }),
        1 => (org.clone(), proptest::option::of(org.clone()))
            .prop_map(|(org, parent)| Op::Reparent { org, parent }),
        1 => (user.clone(), org.clone()).prop_map(|(user, org)| Op::Leave { user, org }),
        4 => (proptest::option::of(0..3usize), 0..TASKS, proptest::option::of(org.clone()))
            .prop_map(|(by, kind, org)| Op::Create { by, kind, org }),
        1 => (proptest::option::of(0..3usize), 0..4usize)
            .prop_map(|(by, persona)| Op::StartSession { by, persona }),
        2 => (proptest::option::of(0..3usize), 0..3usize, 0..3usize)
            .prop_map(|(by, agent, host)| Op::CreateTask { by, agent, host }),
        2 => (0..8usize, proptest::option::of(org), any::<bool>())
            .prop_map(|(res, org, preview)| Op::Rescope { res, org, preview }),
        1 => user.clone().prop_map(|user| Op::Disable { user }),
        1 => user.prop_map(|user| Op::Enable { user }),
        1 => (0..2usize).prop_map(|key| Op::RevokeKey { key }),
        1 => (0..ORGS.len(), proptest::option::of(proptest::option::of(0..ORGS.len())))
            .prop_map(|(org, to)| Op::DeleteOrg { org, to }),
    ]
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
    /// Users ever disabled: their session was revoked for good (re-enabling
    /// restores login, which this test does not redo).
    disabled: BTreeSet<usize>,
    revoked: BTreeSet<usize>,
    /// Orgs deleted: for everyone they no longer exist.
    deleted: BTreeSet<usize>,
    /// (kind index, org, creator: None = admin)
    resources: Vec<(usize, Option<usize>, Option<usize>)>,
    /// References between resources (from, to), by index in `resources`.
    refs: Vec<(usize, usize)>,
}

/// Who asks: a user, the admin, or an org key (org index, read_write?).
#[derive(Clone, Copy, Debug)]
enum Who {
    Admin,
    User(usize),
    Key(usize),
    /// A personal token of a user: the same rights as their session.
    Token(usize),
    /// A user's session sent as a browser does: cookie and CSRF header.
    Cookie(usize),
}

/// A personal token or the session cookie answers as the user's session does.
fn as_user(who: Who) -> Who {
    match who {
        Who::Token(u) | Who::Cookie(u) => Who::User(u),
        other => other,
    }
}

/// The two org keys of the test: (org, read_write).
const KEYS: [(usize, bool); 2] = [(0, true), (1, false)];

impl Model {
    /// The index of the n-th resource of `kind`.
    fn nth(&self, kind: usize, n: usize) -> Option<usize> {
        (0..self.resources.len())
            .filter(|i| self.resources[*i].0 == kind)
            .nth(n)
    }

    /// Would moving resource `r` to `org` leave a reference across orgs?
    fn breaks_refs(&self, r: usize, org: Option<usize>) -> bool {
        self.refs.iter().any(|&(a, b)| {
            let other = if a == r {
                b
            } else if b == r {
                a
            } else {
                return false;
            };
            let there = self.resources[other].1;
            there.is_some() && there != org
        })
    }

    /// Forgets resources (highest index first), and their references.
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

    fn alive(&self, who: Who) -> bool {
        match who {
            Who::Admin => true,
            Who::User(u) | Who::Token(u) | Who::Cookie(u) => !self.disabled.contains(&u),
            Who::Key(k) => !self.revoked.contains(&k),
        }
    }

    /// DESIGN 3, Read.
    fn sees(&self, who: Who, org: Option<usize>) -> bool {
        let who = as_user(who);
        match (who, org) {
            (Who::Admin, _) => true,
            (Who::User(u), _) if USERS[u].1 == "auditor" => true,
            (_, None) => true,
            (Who::User(u) | Who::Token(u) | Who::Cookie(u), Some(o)) => {
                self.members.contains(&(u, o))
            }
            (Who::Key(k), Some(o)) => KEYS[k].0 == o,
        }
    }

    /// Which orgs a principal may name (DESIGN 1: admins and auditors all of
    /// the tenant's, users their memberships, a key its own).
    fn names_org(&self, who: Who, org: usize) -> bool {
        if self.deleted.contains(&org) {
            return false;
        }
        match as_user(who) {
            Who::Admin => true,
            Who::User(u) if USERS[u].1 == "auditor" => true,
            Who::User(u) | Who::Token(u) | Who::Cookie(u) => self.members.contains(&(u, org)),
            Who::Key(k) => KEYS[k].0 == org,
        }
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
            Who::Key(k) if !KEYS[k].1 => false,
            Who::User(u) | Who::Token(u) | Who::Cookie(u) => match org {
                Some(o) => self.members.contains(&(u, o)),
                None => KINDS[kind].1 && creator == Some(u),
            },
            Who::Key(k) => org == Some(KEYS[k].0),
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
    users: Vec<String>,
    /// A personal token of each user.
    tokens: Vec<String>,
    /// Each user's session as a cookie credential (see the harness).
    cookies: Vec<String>,
    keys: Vec<String>,
    /// Resource ids, in the model's order.
    ids: Vec<String>,
    /// Ids of another tenant's resources.
    foreign: Vec<String>,
}

async fn world(backend: crate::harness::Backend) -> World {
    let s = TestServer::start(backend).await;
    for o in ORGS {
        s.org(o).await;
    }
    let mut users = Vec::new();
    for (name, role) in USERS {
        users.push(s.fast_user(name, role, &[]).await.1);
    }
    let mut keys = Vec::new();
    for (org, rw) in KEYS {
        let access = if rw { "read_write" } else { "read" };
        keys.push(s.org_key(&s.admin, ORGS[org], access).await.1);
    }
    let mut tokens = Vec::new();
    for session in &users {
        let (st, t) = s
            .post(session, "/api/v1/me/tokens", json!({"name": "model"}))
            .await;
        assert_eq!(st, StatusCode::CREATED);
        tokens.push(t["token"].as_str().unwrap().to_owned());
    }
    let foreign = other_tenant(&s).await;
    let cookies = users
        .iter()
        .map(|session| {
            let csrf = orgscope_server::auth::csrf_token(session);
            format!("cookie:{session}:{csrf}")
        })
        .collect();
    World {
        s,
        users,
        tokens,
        cookies,
        keys,
        ids: Vec::new(),
        foreign,
    }
}

/// A second tenant with resources of its own: for everyone in the first
/// tenant they must not exist (its tenant-wide ones included).
async fn other_tenant(s: &TestServer) -> Vec<String> {
    let root = s.superuser().await;
    let acme = s.other_tenant(&root, "acme").await.admin;
    let mut ids = Vec::new();
    for org in [serde_json::Value::Null, json!("default")] {
        ids.push(
            s.create(&acme, "specialties", json!({"name": "acme", "org": org}))
                .await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let res = s
        .http
        .post(format!("{}/api/v1/files?name=acme.txt&org=tenant", s.base))
        .bearer_auth(&acme)
        .body(format!("acme's {WORD}"))
        .send()
        .await
        .unwrap();
    let file: serde_json::Value = res.json().await.unwrap();
    let id = file["id"].as_str().unwrap().to_owned();
    wait_extracted(s, &acme, &id).await.unwrap();
    ids.push(id);
    ids
}

impl World {
    /// The ids of the modelled resources whose (kind, org) satisfy `keep`.
    fn ids_where(
        &self,
        m: &Model,
        keep: impl Fn(usize, Option<usize>) -> bool,
    ) -> BTreeSet<String> {
        m.resources
            .iter()
            .zip(&self.ids)
            .filter(|((k, org, _), _)| keep(*k, *org))
            .map(|(_, id)| id.clone())
            .collect()
    }

    fn token(&self, who: Who) -> &str {
        match who {
            Who::Admin => &self.s.admin,
            Who::User(u) => &self.users[u],
            Who::Token(u) => &self.tokens[u],
            Who::Cookie(u) => &self.cookies[u],
            Who::Key(k) => &self.keys[k],
        }
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
                if st != want {
                    return Err(format!("{op:?}: {st}, oracle {want}: {body}"));
                }
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
                if st != want {
                    return Err(format!("{op:?}: {st}, oracle {want}: {body}"));
                }
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
            }
            Op::Create { by, kind, org } => {
                let who = by.map_or(Who::Admin, Who::User);
                let want = if m.alive(who) {
                    m.create_status(by, kind, org)
                } else {
                    StatusCode::UNAUTHORIZED
                };
                let mut body = json!({"name": "r", "org": org.map(|o| ORGS[o])});
                match KINDS[kind].0 {
                    "personas" => body["instructions"] = json!("x"),
                    "hosts" => body["address"] = json!("10.0.0.1"),
                    "credentials" => body["secret"] = json!("s3cret"),
                    "developers" => body["email"] = json!("dev@example.com"),
                    "blacklists" => body["patterns"] = json!(["rm -rf /"]),
                    "operational-rules" => body["content"] = json!("ask first"),
                    "api-definitions" => {
                        // Listen paths are unique in the tenant.
                        body["listen_path"] = json!(format!("/m{}/", self.ids.len()));
                        body["upstream_url"] = json!("http://127.0.0.1:9/");
                    }
                    _ => {}
                }
                let (st, created) = if KINDS[kind].0 == "files" {
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
                    s.post(self.token(who), &format!("/api/v1/{}", KINDS[kind].0), body)
                        .await
                };
                if st != want {
                    return Err(format!("{op:?}: {st}, oracle {want}: {created}"));
                }
                if st == StatusCode::CREATED {
                    m.resources.push((kind, org, by));
                    self.ids.push(created["id"].as_str().unwrap().to_owned());
                }
            }
            Op::CreateTask { by, agent, host } => {
                let (Some(a), Some(h)) = (m.nth(AGENTS, agent), m.nth(HOSTS, host)) else {
                    return Ok(());
                };
                let who = by.map_or(Who::Admin, Who::User);
                let org = m.resources[a].1;
                let host_org = m.resources[h].1;
                // References stay in the task's org; another org's host is
                // named in a 409 to who sees it and is absent (422) to others.
                let want = if !m.alive(who) {
                    StatusCode::UNAUTHORIZED
                } else if by.is_some_and(|u| org.is_some_and(|o| !m.members.contains(&(u, o)))) {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else if host_org != org {
                    if m.sees(who, host_org) {
                        StatusCode::CONFLICT
                    } else {
                        StatusCode::UNPROCESSABLE_ENTITY
                    }
                } else {
                    StatusCode::CREATED
                };
                let (st, body) = s
                    .post(
                        self.token(who),
                        "/api/v1/tasks",
                        json!({
                            "name": "t", "org": org.map(|o| ORGS[o]), "agent": self.ids[a],
                            "host": self.ids[h], "command": "echo model",
                        }),
                    )
                    .await;
                if st != want {
                    return Err(format!("{op:?}: {st}, oracle {want}: {body}"));
                }
                if st == StatusCode::CREATED {
                    let t = m.resources.len();
                    m.resources.push((TASKS, org, by));
                    m.refs.extend([(t, a), (t, h)]);
                    self.ids.push(body["id"].as_str().unwrap().to_owned());
                }
            }
            Op::StartSession { by, persona } => {
                let Some(p) = m.nth(PERSONAS, persona) else {
                    return Ok(());
                };
                let who = by.map_or(Who::Admin, Who::User);
                let org = m.resources[p].1;
                // Nobody is assigned personas here: whoever sees one may use it.
                let want = if !m.alive(who) {
                    StatusCode::UNAUTHORIZED
                } else if !m.sees(who, org) {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::CREATED
                };
                let (st, body) = s
                    .post(
                        self.token(who),
                        "/api/v1/sessions",
                        json!({"persona": self.ids[p]}),
                    )
                    .await;
                if st != want {
                    return Err(format!("{op:?}: {st}, oracle {want}: {body}"));
                }
                if st == StatusCode::CREATED {
                    m.resources.push((SESSIONS, org, by));
                    self.ids.push(body["id"].as_str().unwrap().to_owned());
                }
            }
            Op::Rescope { res, org, preview } => {
                let Some(&(kind, _, _)) = m.resources.get(res) else {
                    return Ok(());
                };
                let want = if kind == SESSIONS
                    || org.is_none() && !KINDS[kind].2
                    || org.is_some_and(|o| m.deleted.contains(&o))
                {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else if !preview && m.breaks_refs(res, org) {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::OK
                };
                let (st, body) = s
                    .post(
                        &s.admin,
                        &format!("/api/v1/{}/{}/rescope", KINDS[kind].0, self.ids[res]),
                        json!({"org": org.map(|o| ORGS[o]), "preview": preview}),
                    )
                    .await;
                if st != want {
                    return Err(format!("{op:?}: {st}, oracle {want}: {body}"));
                }
                if st == StatusCode::OK && !preview {
                    m.resources[res].1 = org;
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
                if disable {
                    m.disabled.insert(user);
                }
            }
            Op::DeleteOrg { org, to } => {
                let body = match to {
                    None => json!({"delete_resources": true}),
                    Some(None) => json!({"move_to": null}),
                    Some(Some(t)) => json!({"move_to": ORGS[t]}),
                };
                let in_org: Vec<usize> = (0..m.resources.len())
                    .filter(|i| m.resources[*i].1 == Some(org))
                    .collect();
                let want = if m.deleted.contains(&org) {
                    StatusCode::NOT_FOUND
                } else {
                    match to {
                        Some(Some(t)) if t == org || m.deleted.contains(&t) => {
                            StatusCode::UNPROCESSABLE_ENTITY
                        }
                        Some(None) if in_org.iter().any(|i| !KINDS[m.resources[*i].0].2) => {
                            StatusCode::CONFLICT
                        }
                        _ => StatusCode::NO_CONTENT,
                    }
                };
                let (st, answer, _) = s
                    .call(
                        reqwest::Method::DELETE,
                        &format!("/api/v1/orgs/{}", ORGS[org]),
                        Some(&s.admin),
                        Some(body),
                    )
                    .await;
                if st != want {
                    return Err(format!("{op:?}: {st}, oracle {want}: {answer}"));
                }
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
                    for (k, (key_org, _)) in KEYS.iter().enumerate() {
                        if *key_org == org {
                            m.revoked.insert(k);
                        }
                    }
                    match to {
                        None => {
                            for i in in_org.iter().rev() {
                                self.ids.remove(*i);
                            }
                            m.remove(&in_org);
                        }
                        Some(target) => {
                            for i in in_org {
                                m.resources[i].1 = target;
                            }
                        }
                    }
                }
            }
            Op::RevokeKey { key } => {
                if m.revoked.insert(key) {
                    // Revoke by id: find it through the admin's listing.
                    let keys = s.list_all(&s.admin, "/api/v1/api-keys").await;
                    let org = ORGS[KEYS[key].0];
                    let access = if KEYS[key].1 { "read_write" } else { "read" };
                    let id = keys
                        .iter()
                        .find(|k| k["org"]["slug"] == org && k["access"] == access)
                        .and_then(|k| k["id"].as_str())
                        .ok_or("the key is listed")?
                        .to_owned();
                    let (st, _) = s.delete(&s.admin, &format!("/api/v1/api-keys/{id}")).await;
                    if st != StatusCode::NO_CONTENT {
                        return Err(format!("{op:?}: {st}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every principal's view against the oracle's. The org filters are
    /// tried on one kind per step, `filtered`, so every kind gets its turn.
    async fn check(&self, m: &Model, filtered: usize) -> Result<(), String> {
        let s = &self.s;
        let mut whos = vec![Who::Admin];
        whos.extend((0..USERS.len()).map(Who::User));
        whos.extend((0..USERS.len()).map(Who::Token));
        whos.extend((0..USERS.len()).map(Who::Cookie));
        whos.extend((0..KEYS.len()).map(Who::Key));
        for who in whos {
            let token = self.token(who);
            if !m.alive(who) {
                let (st, _) = s.get(token, "/api/v1/me").await;
                if st != StatusCode::UNAUTHORIZED {
                    return Err(format!("{who:?} is disabled or revoked but got {st}"));
                }
                continue;
            }
            for (kind, (path, _, _)) in KINDS.iter().enumerate() {
                let got: BTreeSet<String> = s
                    .list_all(token, &format!("/api/v1/{path}"))
                    .await
                    .iter()
                    .map(|r| r["id"].as_str().unwrap().to_owned())
                    .collect();
                let want: BTreeSet<String> =
                    self.ids_where(m, |k, org| k == kind && m.sees(who, org));
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
                let want = if !m.names_org(who, o) {
                    StatusCode::NOT_FOUND
                } else if m.manages(who, o) {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                };
                if st != want {
                    return Err(format!(
                        "{who:?} renames org {slug}: {st}, oracle {want}: {body}"
                    ));
                }
            }
            if matches!(who, Who::Admin) {
                let orgs = s.list_all(token, "/api/v1/orgs").await;
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
            }
            // The org filter narrows, never widens: `tenant`, and each org by slug.
            let (path, _, _) = KINDS[filtered];
            let tenant_wide: BTreeSet<String> = s
                .list_all(token, &format!("/api/v1/{path}?org=tenant"))
                .await
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect();
            let want: BTreeSet<String> = self.ids_where(m, |k, org| k == filtered && org.is_none());
            if tenant_wide != want {
                return Err(format!(
                    "{who:?} lists {path}?org=tenant: got {tenant_wide:?}, oracle {want:?}"
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
                let got: BTreeSet<String> = page["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| r["id"].as_str().unwrap().to_owned())
                    .collect();
                let want: BTreeSet<String> =
                    self.ids_where(m, |k, org| k == filtered && org == Some(o));
                if got != want {
                    return Err(format!(
                        "{who:?} lists {path}?org={slug}: got {got:?}, oracle {want:?}"
                    ));
                }
            }
            for id in &self.foreign {
                let kind = if id.starts_with("file_") {
                    "files"
                } else {
                    "specialties"
                };
                let (st, _) = s.get(token, &format!("/api/v1/{kind}/{id}")).await;
                if st != StatusCode::NOT_FOUND {
                    return Err(format!("{who:?} reaches another tenant's {id}: {st}"));
                }
            }
            // Knowledge search: without a context, every visible file; in an
            // org's context, that org's and tenant-wide files, never another's.
            let files = KINDS
                .iter()
                .position(|k| k.0 == "files")
                .expect("files are modelled");
            // Contexts: (query, None = everything | Some(org or tenant-wide only)).
            let mut contexts: Vec<(String, Option<Option<usize>>)> = vec![(String::new(), None)];
            contexts.extend(
                (0..ORGS.len())
                    .filter(|o| m.names_org(who, *o))
                    .map(|o| (format!("&org={}", ORGS[o]), Some(Some(o)))),
            );
            // A chat session's context is its org (or tenant-wide only), for
            // those who see the session; for anyone else it does not exist.
            for (i, (kind, org, _)) in m.resources.iter().enumerate() {
                if *kind != SESSIONS {
                    continue;
                }
                let q = format!("&session={}", self.ids[i]);
                if m.sees(who, *org) {
                    contexts.push((q, Some(*org)));
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
                let got: BTreeSet<String> = hits["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|h| h["file"]["id"].as_str().unwrap().to_owned())
                    .collect();
                let want: BTreeSet<String> = self.ids_where(m, |k, org| {
                    k == files && m.sees(who, org) && ctx.is_none_or(|c| org.is_none() || org == c)
                });
                if got != want {
                    return Err(format!(
                        "{who:?} searches {q}: got {got:?}, oracle {want:?}"
                    ));
                }
            }
            for (i, (kind, org, creator)) in m.resources.iter().enumerate() {
                let path = format!("/api/v1/{}/{}", KINDS[*kind].0, self.ids[i]);
                if *kind == files {
                    let (st, _, _) = s
                        .call(
                            reqwest::Method::GET,
                            &format!("{path}/content"),
                            Some(token),
                            None,
                        )
                        .await;
                    let want = if m.sees(who, *org) {
                        StatusCode::OK
                    } else {
                        StatusCode::NOT_FOUND
                    };
                    if st != want {
                        return Err(format!("{who:?} downloads {path}: {st}, oracle {want}"));
                    }
                }
                let sees = m.sees(who, *org);
                let (st, _) = s.get(token, &path).await;
                let want = if sees {
                    StatusCode::OK
                } else {
                    StatusCode::NOT_FOUND
                };
                if st != want {
                    return Err(format!("{who:?} gets {path}: {st}, oracle {want}"));
                }
                let writes = m.writes(who, *kind, *org, *creator);
                let (st, body) = s.patch(token, &path, json!({"name": "r"})).await;
                let want = match (sees, writes) {
                    (false, _) => StatusCode::NOT_FOUND,
                    (true, true) => StatusCode::OK,
                    (true, false) => StatusCode::FORBIDDEN,
                };
                if st != want {
                    return Err(format!(
                        "{who:?} renames {path} ({org:?}, by {creator:?}): {st}, oracle {want}: {body}"
                    ));
                }
            }
        }
        Ok(())
    }
}

async fn wait_extracted(s: &TestServer, token: &str, id: &str) -> Result<(), String> {
    for _ in 0..400 {
        let (_, f) = s.get(token, &format!("/api/v1/files/{id}")).await;
        if f["extraction"]["state"] == "done" {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Err(format!("file {id} was not extracted"))
}

fn prelude() -> Vec<Op> {
    let files = KINDS.iter().position(|k| k.0 == "files").expect("files");
    let mut ops: Vec<Op> = [Some(0), Some(1), None]
        .into_iter()
        .map(|org| Op::Create {
            by: None,
            kind: files,
            org,
        })
        .collect();
    ops.push(Op::Create {
        by: None,
        kind: PERSONAS,
        org: Some(0),
    });
    ops.push(Op::StartSession {
        by: None,
        persona: 0,
    });
    // An agent and a host in org-a, a host in org-b, and a task on the first.
    for (kind, org) in [(AGENTS, 0), (HOSTS, 0), (HOSTS, 1)] {
        ops.push(Op::Create {
            by: None,
            kind,
            org: Some(org),
        });
    }
    ops.push(Op::CreateTask {
        by: None,
        agent: 0,
        host: 0,
    });
    // The task holds its agent in org-a: a move is previewed, then refused.
    // Each earlier step made one resource: its position is the agent's index.
    let agent = ops
        .iter()
        .position(|op| matches!(op, Op::Create { kind: AGENTS, .. }))
        .expect("the agent");
    for preview in [true, false] {
        ops.push(Op::Rescope {
            res: agent,
            org: Some(1),
            preview,
        });
    }
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
                // Every case starts from files in two orgs and tenant-wide, a
                // session and a task in org-a: derived data and references
                // have something to leak or break.
                for op in prelude() {
                    w.apply(&mut m, &op)
                        .await
                        .map_err(|e| TestCaseError::fail(format!("prelude: {e}")))?;
                }
                for (step, op) in ops.iter().enumerate() {
                    w.apply(&mut m, op)
                        .await
                        .map_err(|e| TestCaseError::fail(format!("step {step}: {e}")))?;
                    w.check(&m, step % KINDS.len()).await.map_err(|e| {
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
