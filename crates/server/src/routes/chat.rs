//! Chat: persona assignments, sessions that keep their persona's org, and
//! turns answered from knowledge in that org's context, with citations.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use orgscope_core::kind::{self, Kind};
use orgscope_core::policy::{self, Audience, Denied, OrgSelector, ReadFilter, Scope, SystemRead};
use orgscope_store::{KnowledgeHit, MessageRow, NewResource, ResourceRow, StoreError, Tx};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::knowledge::{snippet_html, terms};
use super::{Change, ListQuery, audit, only_fields, org_ref, text};
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppJson, AppQuery, OrNotFound};
use crate::llm;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_assignments, put_assignments))
        .routes(routes!(start_session))
        .routes(routes!(list_messages, post_message))
}

fn persona_kind() -> &'static Kind {
    kind::by_path("personas").expect("personas are in the kinds table")
}

fn session_kind() -> &'static Kind {
    kind::by_path("sessions").expect("sessions are in the kinds table")
}

/// How many passages a turn retrieves.
const PASSAGES: i64 = 6;

async fn visible(tx: &mut Tx, auth: &Auth, kind: &Kind, id: &str) -> ApiResult<ResourceRow> {
    tx.resource(kind.name, &policy::read_filter(&auth.principal), id)
        .await
        .or_not_found(kind.name, id)
}

/// `PUT /api/v1/personas/{id}/assignments`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AssignmentsBody {
    /// Usernames or ids: only they (and admins) may select the persona, even
    /// when the list is or becomes empty. `null` opens it to everyone who
    /// can see it. An org's persona may be assigned only to its members.
    users: Option<Vec<String>>,
}

/// The persona's fields keep whether its assignments restrict it: an empty
/// list by pruning must not open it up.
const RESTRICTED: &str = "assignments_restrict";

fn restricted(persona: &ResourceRow) -> bool {
    serde_json::from_str::<Value>(&persona.fields).is_ok_and(|f| f[RESTRICTED] == Value::Bool(true))
}

/// Who may select a persona, as core's rule takes it.
async fn audience(tx: &mut Tx, persona: &ResourceRow) -> ApiResult<Audience> {
    if !restricted(persona) {
        return Ok(Audience::Open);
    }
    let users = tx.assignments(&persona.id).await?;
    Ok(Audience::Assigned(
        users.into_iter().map(|(id, _)| id).collect(),
    ))
}

fn render_assignments(persona: &ResourceRow, users: &[(String, String)]) -> Value {
    json!({
        "persona": persona.id,
        "restricted": restricted(persona),
        "users": users.iter().map(|(id, name)| json!({"id": id, "username": name})).collect::<Vec<_>>(),
    })
}

#[utoipa::path(get, path = "/api/v1/personas/{id}/assignments", tag = "personas", params(("id" = String, Path)),
    responses((status = 200, description = "the users the persona is assigned to"), (status = 404, description = "no such persona for you")))]
async fn get_assignments(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.store.read().await?;
    let persona = visible(&mut tx, &auth, persona_kind(), &id).await?;
    let users = tx.assignments(&persona.id).await?;
    Ok(axum::Json(render_assignments(&persona, &users)).into_response())
}

#[utoipa::path(put, path = "/api/v1/personas/{id}/assignments", tag = "personas", params(("id" = String, Path)),
    request_body = AssignmentsBody,
    responses((status = 200, description = "the assignments now"), (status = 403, description = "you cannot change this persona"),
        (status = 404, description = "no such persona for you"), (status = 422, description = "unknown users, or not members of the persona's org")))]
async fn put_assignments(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    only_fields(&body, &["users"])?;
    let wanted: Option<Vec<String>> = match body.get("users") {
        Some(Value::Null) => None,
        Some(Value::Array(list)) => Some(
            list.iter()
                .map(|u| u.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    ApiError::Invalid("users: every item must be a username or id".into())
                })?,
        ),
        _ => {
            return Err(ApiError::Invalid(
                "users: give a list of usernames or ids (only they may select the persona), or null to open it to everyone who can see it".into(),
            ));
        }
    };
    let mut tx = state.store.write().await?;
    let persona = visible(&mut tx, &auth, persona_kind(), &id).await?;
    policy::can_write(
        &auth.principal,
        persona_kind().policy,
        &Scope {
            tenant: persona.tenant_id.clone(),
            org: persona.org_id.clone(),
        },
        persona.created_by.as_deref(),
    )
    .map_err(|d| ApiError::denied(d, "this persona"))?;
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
        return Err(ApiError::Invalid(format!(
            "users: no user {} in this tenant",
            unknown.join(", ")
        )));
    }
    if !outsiders.is_empty() {
        return Err(ApiError::Invalid(format!(
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
    let persona = visible(&mut tx, &auth, persona_kind(), &persona.id).await?;
    let after = tx.assignments(&persona.id).await?;
    let out = render_assignments(&persona, &after);
    audit(
        &mut tx,
        &auth,
        Some(&persona.tenant_id),
        Change {
            action: "persona.assign",
            kind: "persona",
            target: &persona.id,
            org: persona.org_id.as_deref(),
            before: Some(before),
            after: Some(out.clone()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(out).into_response())
}

/// `POST /api/v1/sessions`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct SessionBody {
    /// The persona (id); the session takes its org now, for good.
    persona: String,
    name: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", request_body = SessionBody,
    responses((status = 201, description = "the session, in its persona's org"), (status = 403, description = "the persona is assigned to others, or your access is read-only"),
        (status = 404, description = "no such persona for you")))]
async fn start_session(
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    only_fields(&body, &["persona", "name"])?;
    let persona_id = text(&body, "persona", 200)?.to_owned();
    let mut tx = state.store.write().await?;
    let persona = visible(&mut tx, &auth, persona_kind(), &persona_id).await?;
    let scope = Scope {
        tenant: persona.tenant_id.clone(),
        org: persona.org_id.clone(),
    };
    let audience = audience(&mut tx, &persona).await?;
    policy::can_select_persona(&auth.principal, session_kind().policy, &scope, &audience).map_err(
        |d| match d {
            Denied::NotAllowed => ApiError::Forbidden(format!(
                "persona '{}' is assigned to other users; ask its owner to assign it to you",
                persona.name
            )),
            d => ApiError::denied(d, "sessions with this persona"),
        },
    )?;
    // The persona's instructions as they are now travel with the session:
    // moved or edited later, the persona does not change its sessions.
    let instructions = serde_json::from_str::<Value>(&persona.fields)
        .ok()
        .and_then(|f| f["instructions"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let name = match body.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => n.chars().take(200).collect(),
        _ => format!("{} {}", persona.name, orgscope_store::now()),
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
            &policy::system_filter(&persona.tenant_id, None, SystemRead::AlreadyAdmitted),
            &id,
        )
        .await?;
    let mut out = super::kinds::render(session_kind(), &row);
    out["persona"] = json!({"id": persona.id, "name": persona.name});
    audit(
        &mut tx,
        &auth,
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
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
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
async fn visible_citations(
    tx: &mut Tx,
    filter: &ReadFilter,
    stored: &str,
) -> ApiResult<Vec<Value>> {
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
async fn render_message(tx: &mut Tx, filter: &ReadFilter, m: &MessageRow) -> ApiResult<Value> {
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
    Ok(json!({
        "id": m.id, "role": m.role, "mode": m.mode, "content": content,
        "citations": citations, "author": m.author, "created_at": m.created_at,
    }))
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/messages", tag = "sessions", params(("id" = String, Path), ListQuery),
    responses((status = 200, description = "{items, next_cursor}: the history, oldest first"), (status = 404, description = "no such session for you")))]
async fn list_messages(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Response> {
    if q.cursor
        .as_deref()
        .is_some_and(|c| c.parse::<i64>().is_err())
    {
        return Err(ApiError::BadRequest(
            "cursor: not a cursor this server gave; use the next_cursor of the previous page"
                .into(),
        ));
    }
    let page = q.page()?;
    let mut tx = state.store.read().await?;
    let session = visible(&mut tx, &auth, session_kind(), &id).await?;
    let filter = policy::read_filter(&auth.principal);
    let mut rows = tx.messages(&session.id, &page).await?;
    let next = super::next_cursor(&mut rows, &page, |m| m.id.clone());
    let mut items = Vec::with_capacity(rows.len());
    for m in &rows {
        items.push(render_message(&mut tx, &filter, m).await?);
    }
    Ok(axum::Json(json!({"items": items, "next_cursor": next})).into_response())
}

/// `POST /api/v1/sessions/{id}/messages`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct MessageBody {
    content: String,
    /// Only search these files (ids), which must be in the session's context.
    files: Option<Vec<String>>,
}

/// A chat session the caller can see, or the 404 of one that does not exist.
pub(crate) async fn visible_session(tx: &mut Tx, auth: &Auth, id: &str) -> ApiResult<ResourceRow> {
    visible(tx, auth, session_kind(), id).await
}

/// The instructions a session's answers follow: those its persona had when
/// it started. Sessions started before they were kept take the persona's
/// current ones only while it is still in the session's org (or
/// tenant-wide): a persona that moved away no longer speaks into them.
async fn session_instructions(tx: &mut Tx, session: &ResourceRow) -> ApiResult<String> {
    let fields = serde_json::from_str::<Value>(&session.fields).unwrap_or_default();
    if let Some(kept) = fields["instructions"].as_str() {
        return Ok(kept.to_owned());
    }
    let persona_id = fields["persona"].as_str().unwrap_or_default();
    // The session was admitted by the caller's filter; its persona is read
    // to find where it is now (used only if still in the session's scope).
    let filter = policy::system_filter(&session.tenant_id, None, SystemRead::AlreadyAdmitted);
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
pub(crate) fn context(session: &ResourceRow) -> OrgSelector {
    match &session.org_id {
        Some(org) => OrgSelector::Context(org.clone()),
        None => OrgSelector::TenantWide,
    }
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/messages", tag = "sessions", params(("id" = String, Path)),
    request_body = MessageBody,
    responses((status = 200, description = "the answer with its citations (JSON), or a text/event-stream of it when a model is configured and asked for"),
        (status = 404, description = "no such session for you"), (status = 422, description = "empty content, or files outside the session's context"),
        (status = 502, description = "the model endpoint failed; your message is saved")))]
async fn post_message(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    only_fields(&body, &["content", "files"])?;
    let content = text(&body, "content", 20_000)?.to_owned();
    let files: Vec<String> = match body.get("files") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|f| f.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::Invalid("files: every item must be a file id".into()))?,
        Some(_) => {
            return Err(ApiError::Invalid(
                "files: must be a list of file ids".into(),
            ));
        }
    };
    let filter = policy::read_filter(&auth.principal);
    let mut tx = state.store.write().await?;
    let session = visible(&mut tx, &auth, session_kind(), &id).await?;
    policy::can_post_turn(
        &auth.principal,
        session_kind().policy,
        &Scope {
            tenant: session.tenant_id.clone(),
            org: session.org_id.clone(),
        },
        session.created_by.as_deref(),
    )
    .map_err(|d| match d {
        Denied::NotAllowed => ApiError::Forbidden(
            "only the user who started this session posts in it; start your own session".into(),
        ),
        d => ApiError::denied(d, "this session"),
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
            return Err(ApiError::Invalid(format!(
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
            let mut tx = state.store.read().await?;
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
    let citations_text = Value::Array(citations).to_string();

    let Some(model) = state.llm.clone() else {
        let mut tx = state.store.write().await?;
        let m = tx
            .message_insert(
                &session.id,
                "assistant",
                "",
                Some("retrieval_only"),
                &citations_text,
                None,
            )
            .await?;
        let out = render_message(&mut tx, &filter, &m).await?;
        tx.commit().await?;
        return Ok(axum::Json(out).into_response());
    };

    let prompt = llm::prompt(&instructions, &hits, &content);
    let upstream = model.start(&prompt).await.map_err(ApiError::BadGateway)?;
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    let store = state.store.clone();
    let session_id = session.id.clone();
    let finish = move |answer: String| async move {
        let mut tx = store.write().await?;
        let m = tx
            .message_insert(
                &session_id,
                "assistant",
                &answer,
                Some("model"),
                &citations_text,
                None,
            )
            .await?;
        let out = render_message(&mut tx, &filter, &m).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(out)
    };
    if !wants_stream {
        let answer = llm::collect(upstream).await.map_err(ApiError::BadGateway)?;
        return Ok(axum::Json(finish(answer).await?).into_response());
    }
    // Server-Sent Events: `delta` events as the model writes, then `message`
    // with the saved answer and its citations (or `error`).
    let stream = async_stream(upstream, finish);
    Ok(Sse::new(stream).into_response())
}

fn async_stream<F, Fut>(
    upstream: llm::Upstream,
    finish: F,
) -> impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>
where
    F: FnOnce(String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ApiResult<Value>> + Send,
{
    enum Step<F> {
        Reading(llm::Upstream, String, F),
        Done,
    }
    futures_util::stream::unfold(
        Step::Reading(upstream, String::new(), finish),
        |step| async move {
            match step {
                Step::Done => None,
                Step::Reading(mut up, mut answer, finish) => match up.next_delta().await {
                    Ok(Some(delta)) => {
                        answer.push_str(&delta);
                        let event = Event::default().event("delta").data(delta);
                        Some((Ok(event), Step::Reading(up, answer, finish)))
                    }
                    Ok(None) => {
                        let event = match finish(answer).await {
                            Ok(message) => {
                                Event::default().event("message").data(message.to_string())
                            }
                            // The client hears what the error type lets
                            // it hear (a 5xx says only that it is logged).
                            Err(e) => {
                                let problem = e.problem();
                                Event::default().event("error").data(problem.to_string())
                            }
                        };
                        Some((Ok(event), Step::Done))
                    }
                    Err(e) => Some((Ok(Event::default().event("error").data(e)), Step::Done)),
                },
            }
        },
    )
    .boxed()
}
