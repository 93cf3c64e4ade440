//! Chat: persona assignments, sessions that keep their persona's org and
//! instructions, and turns answered from the session's knowledge.

use orgscope_core::ids::UserId;
use orgscope_core::kind::{self, Kind};
use orgscope_core::policy::{self, Audience, Denied, OrgSelector, ReadFilter, SystemRead};
use orgscope_store::{
    KnowledgeHit, MessageRow, NewResource, Page, ResourceRow, Store, StoreError, Tx,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::audit::{Change, audit, snapshot};
use crate::input::{Listing, next_cursor, required};
use crate::knowledge::{snippet_html, terms};
use crate::orgs::{MemberUser, org_ref};
use crate::{Caller, Env, Error, OrNotFound, Result};

/// `PUT /api/v1/personas/{id}/assignments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAssignments {
    /// Usernames or ids: only they (and admins) may select the persona, even
    /// when the list is or becomes empty. `null` opens it to everyone who
    /// can see it. An org's persona may be assigned only to its members.
    #[serde(deserialize_with = "Option::deserialize")]
    pub users: Option<Vec<String>>,
}

/// Who may select a persona.
#[derive(Debug, Serialize, ToSchema)]
pub struct Assignments {
    pub persona: String,
    /// Only `users` (and admins) may select it; false: everyone who sees it.
    pub restricted: bool,
    pub users: Vec<MemberUser>,
}

/// `POST /api/v1/sessions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// The persona (id); the session takes its org now, for good.
    pub persona: String,
    /// Default: the persona's name and the date and time, e.g. "Ops helper,
    /// Thu 3 Dec 2026 15:04" in `timezone`.
    #[serde(default)]
    pub name: Option<String>,
    /// The caller's time zone for the default name: UTC (default), an
    /// offset like +02:00 or a zone like Europe/Paris.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// Is `tz` a time zone [`NewSession`] takes?
pub fn known_zone(tz: &str) -> bool {
    crate::agents::wall_clock(tz, chrono::Utc::now()).is_ok()
}

/// A session's default name: its persona and the caller's local time.
fn default_name(persona: &str, tz: Option<&str>) -> Result<String> {
    let now = chrono::Utc::now();
    let local = crate::agents::wall_clock(tz.unwrap_or("UTC"), now).map_err(Error::Invalid)?;
    let zone = if tz.is_none() { " UTC" } else { "" };
    Ok(format!(
        "{persona}, {}{zone}",
        local.format("%a %-d %b %Y %H:%M")
    ))
}

/// `POST /api/v1/sessions/{id}/messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    pub content: String,
    /// Only search these files (ids), which must be in the session's context.
    #[serde(default)]
    pub files: Option<Vec<String>>,
}

/// A message of a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    pub id: String,
    /// `user` or `assistant`.
    pub role: String,
    /// An answer's origin: `model` or `retrieval_only`.
    pub mode: Option<String>,
    pub content: String,
    /// The passages an answer used that you may still see: `{n, entry,
    /// file, file_name, org, snippet, position}`.
    #[schema(value_type = Vec<Object>)]
    pub citations: Vec<Value>,
    pub author: Option<String>,
    pub created_at: String,
}

fn persona_kind() -> &'static Kind {
    kind::by_path("personas").expect("personas are in the kinds table")
}

fn session_kind() -> &'static Kind {
    kind::by_path("sessions").expect("sessions are in the kinds table")
}

/// How many passages a turn retrieves.
const PASSAGES: i64 = 6;

async fn visible(tx: &mut Tx, auth: &Caller, kind: &Kind, id: &str) -> Result<ResourceRow> {
    tx.resource(kind.name, &policy::read_filter(&auth.principal), id)
        .await
        .or_not_found(kind.name, id)
}

/// The persona's fields keep whether its assignments restrict it: an empty
/// list by pruning must not open it up.
const RESTRICTED: &str = "assignments_restrict";

fn restricted(persona: &ResourceRow) -> bool {
    serde_json::from_str::<Value>(&persona.fields).is_ok_and(|f| f[RESTRICTED] == Value::Bool(true))
}

/// Who may select a persona, as core's rule takes it.
async fn audience(tx: &mut Tx, persona: &ResourceRow) -> Result<Audience> {
    if !restricted(persona) {
        return Ok(Audience::Open);
    }
    let users = tx.assignments(&persona.id).await?;
    Ok(Audience::Assigned(
        users.into_iter().map(|(id, _)| UserId::from(id)).collect(),
    ))
}

/// May the caller start a session with this persona (shown on its reads)?
pub(crate) async fn selectable(
    tx: &mut Tx,
    p: &orgscope_core::policy::Principal,
    persona: &ResourceRow,
) -> Result<bool> {
    let kind = orgscope_core::kind::by_name("persona").expect("personas are kinds");
    let audience = audience(tx, persona).await?;
    Ok(policy::can_select_persona(p, kind.policy, &persona.scope(), &audience).is_ok())
}

fn render_assignments(persona: &ResourceRow, users: &[(String, String)]) -> Assignments {
    Assignments {
        persona: persona.id.clone(),
        restricted: restricted(persona),
        users: users
            .iter()
            .map(|(id, name)| MemberUser {
                id: id.clone(),
                username: name.clone(),
            })
            .collect(),
    }
}

/// A passage an answer used, as stored with the message.
fn citation(n: usize, h: &KnowledgeHit) -> Value {
    json!({
        "n": n, "entry": h.id, "file": h.file_id, "file_name": h.file_name,
        "org": org_ref(h.org_id.as_deref(), h.org_slug.as_deref()),
        "snippet": h.snippet, "position": h.position,
    })
}

/// The citations of a message that the reader may still see: a file that
/// left their view disappears whole (no name, no snippet, no id).
async fn visible_citations(tx: &mut Tx, filter: &ReadFilter, stored: &str) -> Result<Vec<Value>> {
    let all: Vec<Value> = serde_json::from_str(stored).unwrap_or_default();
    let mut out = Vec::new();
    for mut c in all {
        let Some(file) = c["file"].as_str().map(str::to_owned) else {
            continue;
        };
        match tx.file(filter, &file).await {
            Ok(_) => {
                let snippet = c["snippet"].as_str().map(snippet_html).unwrap_or_default();
                c["snippet"] = json!(snippet);
                out.push(c);
            }
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

const RETRIEVAL_LABEL: &str =
    "Retrieval only: no model is configured, so here are the passages that match.";

/// A message as a reader sees it, citations filtered for them.
async fn render_message(tx: &mut Tx, filter: &ReadFilter, m: &MessageRow) -> Result<Message> {
    let citations = visible_citations(tx, filter, &m.citations).await?;
    // A retrieval-only answer *is* its passages: built from the visible ones.
    let content = if m.mode.as_deref() == Some("retrieval_only") {
        let mut text = String::from(RETRIEVAL_LABEL);
        if citations.is_empty() {
            text.push_str("\n\nNo passage in this session's knowledge matches.");
        }
        for c in &citations {
            let plain = c["snippet"]
                .as_str()
                .unwrap_or("")
                .replace("<mark>", "")
                .replace("</mark>", "");
            text.push_str(&format!(
                "\n\n[{}] {}: {}",
                c["n"],
                c["file_name"].as_str().unwrap_or(""),
                plain
            ));
        }
        text
    } else {
        m.content.clone()
    };
    Ok(Message {
        id: m.id.clone(),
        role: m.role.clone(),
        mode: m.mode.clone(),
        content,
        citations,
        author: m.author.clone(),
        created_at: m.created_at.clone(),
    })
}

/// A chat session the caller can see, or the 404 of one that does not exist.
pub async fn visible_session(tx: &mut Tx, auth: &Caller, id: &str) -> Result<ResourceRow> {
    visible(tx, auth, session_kind(), id).await
}

/// The instructions a session's answers follow: those its persona had when
/// it started. Sessions started before they were kept take the persona's
/// current ones only while it is still in the session's org (or
/// tenant-wide): a persona that moved away no longer speaks into them.
async fn session_instructions(tx: &mut Tx, session: &ResourceRow) -> Result<String> {
    let fields = serde_json::from_str::<Value>(&session.fields).unwrap_or_default();
    if let Some(kept) = fields["instructions"].as_str() {
        return Ok(kept.to_owned());
    }
    let persona_id = fields["persona"].as_str().unwrap_or_default();
    // The session was admitted by the caller's filter; its persona is read
    // to find where it is now (used only if still in the session's scope).
    let filter = policy::system_filter(&session.tenant(), None, SystemRead::AlreadyAdmitted);
    Ok(match tx.resource("persona", &filter, persona_id).await {
        Ok(p) if p.org_id.is_none() || p.org_id == session.org_id => {
            serde_json::from_str::<Value>(&p.fields)
                .ok()
                .and_then(|f| f["instructions"].as_str().map(str::to_owned))
                .unwrap_or_default()
        }
        Ok(_) | Err(StoreError::NotFound) => String::new(),
        Err(e) => return Err(e.into()),
    })
}

/// The session's knowledge context: its org and tenant-wide, or tenant-wide only.
pub fn context(session: &ResourceRow) -> OrgSelector {
    match &session.org_id {
        Some(org) => OrgSelector::Context(org.clone()),
        None => OrgSelector::TenantWide,
    }
}

/// Who may select a persona: open, or restricted to its assigned users.
pub async fn assignments(env: &Env<'_>, auth: &Caller, id: &str) -> Result<Assignments> {
    let mut tx = env.store.read().await?;
    let persona = visible(&mut tx, auth, persona_kind(), id).await?;
    let users = tx.assignments(&persona.id).await?;
    Ok(render_assignments(&persona, &users))
}

/// Restricts a persona to these users (`{users: [...]}`), or opens it to
/// everyone who can see it (`{users: null}`).
pub async fn set_assignments(
    env: &Env<'_>,
    auth: &Caller,
    id: &str,
    input: &SetAssignments,
) -> Result<Assignments> {
    let wanted = &input.users;
    let mut tx = env.store.write().await?;
    let persona = visible(&mut tx, auth, persona_kind(), id).await?;
    policy::can_write(
        &auth.principal,
        persona_kind().policy,
        &persona.scope(),
        persona.created_by.as_deref(),
    )
    .map_err(|d| Error::denied(d, "this persona"))?;
    let mut ids = Vec::new();
    let mut unknown = Vec::new();
    let mut outsiders = Vec::new();
    for reference in wanted.iter().flatten() {
        match tx.user(Some(&persona.tenant_id), reference).await {
            Ok(u) => {
                let outside = match &persona.org_id {
                    Some(org) => tx.member(org, &u.id).await.is_err(),
                    None => false,
                };
                if outside {
                    outsiders.push(u.username.clone());
                    continue;
                }
                if !ids.contains(&u.id) {
                    ids.push(u.id);
                }
            }
            Err(StoreError::NotFound) => unknown.push(reference.clone()),
            Err(e) => return Err(e.into()),
        }
    }
    if !unknown.is_empty() {
        return Err(Error::Invalid(format!(
            "users: no user {} in this tenant",
            unknown.join(", ")
        )));
    }
    if !outsiders.is_empty() {
        return Err(Error::Invalid(format!(
            "users: {} not a member of the persona's org '{}'; add the membership first",
            outsiders.join(", "),
            persona.org_slug.as_deref().unwrap_or("")
        )));
    }
    let before = render_assignments(&persona, &tx.assignments(&persona.id).await?);
    tx.assignments_set(&persona.id, &ids).await?;
    let mut fields: Map<String, Value> = serde_json::from_str(&persona.fields).unwrap_or_default();
    fields.insert(RESTRICTED.into(), Value::Bool(wanted.is_some()));
    tx.resource_update(
        &persona.id,
        &persona.name,
        persona.org_id.as_deref(),
        &Value::Object(fields).to_string(),
        None,
    )
    .await?;
    let persona = visible(&mut tx, auth, persona_kind(), &persona.id).await?;
    let after = tx.assignments(&persona.id).await?;
    let out = render_assignments(&persona, &after);
    audit(
        &mut tx,
        auth,
        Some(&persona.tenant_id),
        Change {
            action: "persona.assign",
            kind: "persona",
            target: &persona.id,
            org: persona.org_id.as_deref(),
            before: Some(snapshot(&before)),
            after: Some(snapshot(&out)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// Starts a chat session with a persona: the session takes the persona's
/// org and instructions now, for good.
pub async fn start_session(env: &Env<'_>, auth: &Caller, input: &NewSession) -> Result<Value> {
    let persona_id = required("persona", &input.persona, 200)?.to_owned();
    let mut tx = env.store.write().await?;
    let persona = visible(&mut tx, auth, persona_kind(), &persona_id).await?;
    let scope = persona.scope();
    let audience = audience(&mut tx, &persona).await?;
    policy::can_select_persona(&auth.principal, session_kind().policy, &scope, &audience).map_err(
        |d| match d {
            Denied::NotAllowed => Error::Forbidden(format!(
                "persona '{}' is assigned to other users; ask its owner to assign it to you",
                persona.name
            )),
            d => Error::denied(d, "sessions with this persona"),
        },
    )?;
    // The persona's instructions as they are now travel with the session:
    // moved or edited later, the persona does not change its sessions.
    let instructions = serde_json::from_str::<Value>(&persona.fields)
        .ok()
        .and_then(|f| f["instructions"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let name = match &input.name {
        Some(n) if !n.trim().is_empty() => n.chars().take(200).collect(),
        _ => default_name(&persona.name, input.timezone.as_deref())?,
    };
    let id = orgscope_store::new_id(session_kind().prefix);
    tx.resource_insert(&NewResource {
        id: id.clone(),
        tenant_id: persona.tenant_id.clone(),
        kind: "session".into(),
        org_id: persona.org_id.clone(),
        name,
        fields: json!({"persona": persona.id, "instructions": instructions}).to_string(),
        secret: None,
        created_by: Some(auth.actor_id()),
    })
    .await?;
    let row = tx
        .resource(
            "session",
            &policy::system_filter(&persona.tenant(), None, SystemRead::AlreadyAdmitted),
            &id,
        )
        .await?;
    let mut out = crate::resources::render(session_kind(), &row);
    out["persona"] = json!({"id": persona.id, "name": persona.name});
    audit(
        &mut tx,
        auth,
        Some(&persona.tenant_id),
        Change {
            action: "session.create",
            kind: "session",
            target: &id,
            org: persona.org_id.as_deref(),
            before: None,
            after: Some(out.clone()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// A page of a session's messages, each with the citations its reader may see.
pub async fn messages(
    env: &Env<'_>,
    auth: &Caller,
    id: &str,
    page: &Page,
) -> Result<Listing<Message>> {
    let mut tx = env.store.read().await?;
    let session = visible(&mut tx, auth, session_kind(), id).await?;
    let filter = policy::read_filter(&auth.principal);
    let mut rows = tx.messages(&session.id, page).await?;
    let next = next_cursor(&mut rows, page, |m| m.id.clone());
    let mut items = Vec::with_capacity(rows.len());
    for m in &rows {
        items.push(render_message(&mut tx, &filter, m).await?);
    }
    Ok(Listing {
        items,
        next_cursor: next,
    })
}

/// A turn under way: the question is saved, the passages retrieved in the
/// session's context through the asker's filter. The answer is saved by
/// [`answer_from_passages`] or, once a model has written it, [`finish_turn`].
pub struct Turn {
    pub session: String,
    /// The session's instructions (its persona's when it started).
    pub instructions: String,
    pub question: String,
    pub hits: Vec<KnowledgeHit>,
    citations: String,
    filter: ReadFilter,
}

/// Starts a turn in a session only its owner posts in.
pub async fn begin_turn(
    env: &Env<'_>,
    auth: &Caller,
    id: &str,
    input: &NewMessage,
) -> Result<Turn> {
    let content = required("content", &input.content, 20_000)?.to_owned();
    let files = input.files.clone().unwrap_or_default();
    let filter = policy::read_filter(&auth.principal);
    let mut tx = env.store.write().await?;
    let session = visible(&mut tx, auth, session_kind(), id).await?;
    policy::can_post_turn(
        &auth.principal,
        session_kind().policy,
        &session.scope(),
        session.created_by.as_deref(),
    )
    .map_err(|d| match d {
        Denied::NotAllowed => Error::Forbidden(
            "only the user who started this session posts in it; start your own session".into(),
        ),
        d => Error::denied(d, "this session"),
    })?;
    let ctx = context(&session);
    // Named files must be visible *and* in the session's context; anything
    // else reads as a file that does not exist.
    for f in &files {
        let ok = match tx.file(&filter, f).await {
            Ok(row) => match (&ctx, &row.resource.org_id) {
                (_, None) => true,
                (OrgSelector::Context(org), Some(o)) => org == o,
                _ => false,
            },
            Err(StoreError::NotFound) => false,
            Err(e) => return Err(e.into()),
        };
        if !ok {
            return Err(Error::Invalid(format!(
                "files: no file '{f}' in this session's knowledge"
            )));
        }
    }
    let instructions = session_instructions(&mut tx, &session).await?;
    tx.message_insert(
        &session.id,
        "user",
        &content,
        None,
        "[]",
        Some(&auth.actor_name),
    )
    .await?;
    tx.commit().await?;

    // Retrieval, in the session's context and through the caller's filter.
    let hits = match terms(&content) {
        Ok(words) => {
            let mut tx = env.store.read().await?;
            let mut hits = tx
                .knowledge_search(&filter, &ctx, &words, true, PASSAGES * 4)
                .await?;
            if !files.is_empty() {
                hits.retain(|h| files.contains(&h.file_id));
            }
            hits.truncate(PASSAGES as usize);
            hits
        }
        Err(_) => Vec::new(),
    };

    let citations: Vec<Value> = hits
        .iter()
        .enumerate()
        .map(|(i, h)| citation(i + 1, h))
        .collect();
    Ok(Turn {
        session: session.id,
        instructions,
        question: content,
        hits,
        citations: Value::Array(citations).to_string(),
        filter,
    })
}

/// With no model: the answer is the passages themselves, labelled so.
pub async fn answer_from_passages(env: &Env<'_>, turn: Turn) -> Result<Message> {
    finish(env.store, turn, "", "retrieval_only").await
}

/// Saves a model's answer to the turn.
pub async fn finish_turn(store: &Store, turn: Turn, answer: &str) -> Result<Message> {
    finish(store, turn, answer, "model").await
}

async fn finish(store: &Store, turn: Turn, answer: &str, mode: &str) -> Result<Message> {
    let mut tx = store.write().await?;
    let m = tx
        .message_insert(
            &turn.session,
            "assistant",
            answer,
            Some(mode),
            &turn.citations,
            None,
        )
        .await?;
    let out = render_message(&mut tx, &turn.filter, &m).await?;
    tx.commit().await?;
    Ok(out)
}
