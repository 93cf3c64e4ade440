//! Personas (with assignments) and chat: start a session from a persona,
//! send messages, and read the answer as it is written, with citations
//! linking to their files.
//!
//! A turn posted by the page's script (`Accept: text/event-stream`) is
//! answered as server-sent events: `question` (the message as HTML), then
//! `delta` pieces while a model writes, then `message` (the saved answer as
//! HTML, citations included) or `error`. With no model the app answers
//! from the passages alone, at once: the same events without deltas.
//! Without JavaScript the form posts and is sent back to the session.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use orgscope_app::Error;
use orgscope_app::chat::{self, Message, NewMessage, NewSession, SetAssignments};
use orgscope_app::choices::OrgChoice;
use orgscope_app::{orgs, resources};
use orgscope_core::kind::{self, Kind};
use orgscope_store::Page;
use serde::Deserialize;
use serde_json::{Value, json};

use super::files::{filter_choices, org_param};
use super::{access, given};
use crate::Host;
use crate::error::{PageError, encode, html};
use crate::session::{Viewer, see_other, wants_part};
use crate::views::{AccessPanel, Badge, Choice, Layout, When};

const PAGE: i64 = 100;
/// Messages shown on a session's page.
const HISTORY: i64 = 200;

fn personas() -> &'static Kind {
    kind::by_path("personas").expect("personas are in the kinds table")
}

fn sessions() -> &'static Kind {
    kind::by_path("sessions").expect("sessions are in the kinds table")
}

fn s(v: &Value, f: &str) -> String {
    v[f].as_str().unwrap_or_default().to_owned()
}

pub struct PersonaItem {
    id: String,
    name: String,
    org: Badge,
    org_slug: Option<String>,
    instructions: String,
}

fn persona_item(p: &Value, orgs: &[OrgChoice]) -> PersonaItem {
    PersonaItem {
        id: s(p, "id"),
        name: s(p, "name"),
        org: Badge::of(&p["org"], orgs),
        org_slug: p["org"]["slug"].as_str().map(str::to_owned),
        instructions: s(p, "instructions"),
    }
}

pub struct SessionItem {
    id: String,
    name: String,
    org: Badge,
    created: When,
}

fn session_item(x: &Value, orgs: &[OrgChoice]) -> SessionItem {
    SessionItem {
        id: s(x, "id"),
        name: crate::views::readable_name(&s(x, "name")),
        org: Badge::of(&x["org"], orgs),
        created: When::of(x["created_at"].as_str().unwrap_or_default()),
    }
}

/// A message as the page shows it.
pub struct MessageView {
    assistant: bool,
    author: String,
    content: String,
    /// "Retrieved passages (no model)" for a retrieval-only answer.
    mode: Option<&'static str>,
    citations: Vec<CitationView>,
    created: When,
}

pub struct CitationView {
    n: i64,
    file: String,
    file_name: String,
    org: Badge,
    /// Escaped by the app layer, with the matches in `<mark>`.
    snippet_html: String,
}

fn message_view(m: &Message, orgs: &[OrgChoice]) -> MessageView {
    MessageView {
        assistant: m.role == "assistant",
        author: m.author.clone().unwrap_or_else(|| "orgscope".into()),
        content: m.content.clone(),
        mode: match m.mode.as_deref() {
            Some("retrieval_only") => Some("Passages found (no model configured)"),
            _ => None,
        },
        citations: m
            .citations
            .iter()
            .map(|c| CitationView {
                n: c["n"].as_i64().unwrap_or(0),
                file: s(c, "file"),
                file_name: s(c, "file_name"),
                org: Badge::of(&c["org"], orgs),
                snippet_html: s(c, "snippet"),
            })
            .collect(),
        created: When::of(&m.created_at),
    }
}

#[derive(Template)]
#[template(path = "chat.html")]
struct ChatPage<'a> {
    l: &'a Layout,
    personas: Vec<PersonaItem>,
    sessions: Vec<SessionItem>,
    context: Badge,
    filter: Vec<Choice>,
    places: Vec<Choice>,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    org: Option<String>,
    done: Option<String>,
}

async fn chat_page<S: Host>(
    state: &S,
    v: &Viewer,
    org: Option<&str>,
    notice: Option<&'static str>,
    failed: Option<PageError>,
) -> Response {
    let env = state.env();
    let page = Page {
        limit: PAGE,
        after: None,
    };
    let ps = match resources::list(&env, &v.caller, personas(), org, &page).await {
        Ok((p, _)) => p,
        Err(e) => return v.fail(e),
    };
    let ss = match resources::list(&env, &v.caller, sessions(), org, &page).await {
        Ok((p, _)) => p,
        Err(e) => return v.fail(e),
    };
    let places = match orgscope_app::choices::placements_among(&v.caller, personas(), &v.orgs) {
        Ok(p) => p,
        Err(e) => return v.fail(e),
    };
    let mut choices: Vec<Choice> = places
        .orgs
        .iter()
        .map(|o| {
            Choice::new(
                &o.slug,
                &o.name,
                places.default_org.as_deref() == Some(&o.id),
            )
        })
        .collect();
    if places.tenant_wide {
        choices.push(Choice::new(
            "tenant",
            "Tenant-wide (everyone in the tenant)",
            false,
        ));
    }
    let (status, error) = match failed {
        Some(e) => (e.status(), Some(e.message())),
        None => (StatusCode::OK, None),
    };
    let l = Layout::new("Chat", "chat", v);
    let mut res = html(&ChatPage {
        l: &l,
        personas: ps.iter().map(|p| persona_item(p, &v.orgs)).collect(),
        sessions: ss.iter().map(|x| session_item(x, &v.orgs)).collect(),
        context: Badge::selector(org, &v.orgs),
        filter: filter_choices(v, org),
        places: choices,
        notice,
        error,
    });
    *res.status_mut() = status;
    res
}

pub async fn home<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> Response {
    let notice = match q.done.as_deref() {
        Some("persona") => Some("The persona was created."),
        _ => None,
    };
    chat_page(&state, &v, org_param(given(q.org.as_ref())), notice, None).await
}

#[derive(Deserialize, Default)]
pub struct PersonaForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    instructions: String,
    #[serde(default)]
    org: String,
}

pub async fn create_persona<S: Host>(
    State(state): State<S>,
    v: Viewer,
    axum::Form(f): axum::Form<PersonaForm>,
) -> Response {
    let org = match f.org.trim() {
        "tenant" => Value::Null,
        o => json!(o),
    };
    let body = json!({"name": f.name.trim(), "instructions": f.instructions.trim(), "org": org});
    match resources::create(&state.env(), &v.caller, personas(), &body).await {
        Ok(p) => see_other(&format!("/personas/{}?done=created", encode(&s(&p, "id")))),
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_) | Error::Conflict { .. })) => {
            chat_page(&state, &v, None, None, Some(e.into())).await
        }
        Err(e) => v.fail(e),
    }
}

#[derive(Template)]
#[template(path = "persona.html")]
struct PersonaPage<'a> {
    l: &'a Layout,
    p: &'a PersonaItem,
    restricted: bool,
    /// (username, assigned) of those the persona may be assigned to.
    candidates: Vec<(String, bool)>,
    access: Option<AccessPanel>,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "access_panel.html")]
struct AccessPart<'a> {
    a: &'a AccessPanel,
}

#[derive(Deserialize, Default)]
pub struct PersonaQuery {
    done: Option<String>,
    user: Option<String>,
}

async fn persona_page<S: Host>(
    state: &S,
    v: &Viewer,
    id: &str,
    user: Option<&str>,
    notice: Option<&'static str>,
    failed: Option<PageError>,
) -> Response {
    let env = state.env();
    let p = match resources::read(&env, &v.caller, personas(), id).await {
        Ok(p) => persona_item(&p, &v.orgs),
        Err(e) => return v.fail(e),
    };
    let assigned = match chat::assignments(&env, &v.caller, &p.id).await {
        Ok(a) => a,
        Err(e) => return v.fail(e),
    };
    let names: Vec<String> = assigned.users.iter().map(|u| u.username.clone()).collect();
    // The picker offers the org's members only (an org's persona may be
    // assigned to its members alone); a tenant-wide one, those assigned.
    let mut candidates: Vec<(String, bool)> = match &p.org_slug {
        Some(org) => {
            let page = Page {
                limit: 500,
                after: None,
            };
            match orgs::list_members(&env, &v.caller, org, &page).await {
                Ok(m) => m
                    .items
                    .iter()
                    .map(|m| (m.user.username.clone(), names.contains(&m.user.username)))
                    .collect(),
                Err(e) => return v.fail(e),
            }
        }
        None => names.iter().map(|n| (n.clone(), true)).collect(),
    };
    candidates.sort();
    let base = format!("/personas/{}", encode(&p.id));
    let access = match access::panel(state, v, personas(), &p.id, &base, user).await {
        Ok(a) => a,
        Err(e) => return v.fail(e),
    };
    let (status, error) = match failed {
        Some(e) => (e.status(), Some(e.message())),
        None => (StatusCode::OK, None),
    };
    let l = Layout::new(p.name.clone(), "chat", v);
    let mut res = html(&PersonaPage {
        l: &l,
        p: &p,
        restricted: assigned.restricted,
        candidates,
        access,
        notice,
        error,
    });
    *res.status_mut() = status;
    res
}

pub async fn persona<S: Host>(
    State(state): State<S>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PersonaQuery>,
) -> Response {
    let user = given(q.user.as_ref());
    if wants_part(&headers, "access") {
        let base = format!("/personas/{}", encode(&id));
        return match access::panel(&state, &v, personas(), &id, &base, user).await {
            Ok(Some(a)) => html(&AccessPart { a: &a }),
            Ok(None) => v.fail(Error::Forbidden(
                "you may not see who has access to this persona".into(),
            )),
            Err(e) => v.fail(e),
        };
    }
    let notice = match q.done.as_deref() {
        Some("created") => Some("The persona was created. Assign it, or start a session."),
        Some("assigned") => Some("The assignments were saved."),
        _ => None,
    };
    persona_page(&state, &v, &id, user, notice, None).await
}

/// The assignment form: `users` checked, or `open` for everyone.
pub async fn assign<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let open = fields.iter().any(|(k, v)| k == "open" && v == "true");
    let users: Vec<String> = fields
        .into_iter()
        .filter(|(k, _)| k == "users")
        .map(|(_, v)| v)
        .collect();
    let input = SetAssignments {
        users: (!open).then_some(users),
    };
    match chat::set_assignments(&state.env(), &v.caller, &id, &input).await {
        Ok(_) => see_other(&format!("/personas/{}?done=assigned", encode(&id))),
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_))) => {
            persona_page(&state, &v, &id, None, None, Some(e.into())).await
        }
        Err(e) => v.fail(e),
    }
}

#[derive(Deserialize, Default)]
pub struct StartForm {
    #[serde(default)]
    persona: String,
    /// The browser's time zone, for the default name (empty: UTC).
    #[serde(default)]
    timezone: String,
}

pub async fn start<S: Host>(
    State(state): State<S>,
    v: Viewer,
    axum::Form(f): axum::Form<StartForm>,
) -> Response {
    let input = NewSession {
        persona: f.persona.trim().to_owned(),
        name: None,
        // A zone the browser knows and the server does not reads as UTC.
        timezone: Some(f.timezone.trim().to_owned()).filter(|t| chat::known_zone(t)),
    };
    match chat::start_session(&state.env(), &v.caller, &input).await {
        Ok(x) => see_other(&format!("/chat/{}", encode(&s(&x, "id")))),
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_))) => {
            chat_page(&state, &v, None, None, Some(e.into())).await
        }
        Err(e) => v.fail(e),
    }
}

#[derive(Template)]
#[template(path = "session.html")]
struct SessionPage<'a> {
    l: &'a Layout,
    x: &'a SessionItem,
    messages: Vec<MessageView>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePart<'a> {
    msg: &'a MessageView,
}

async fn session_page<S: Host>(
    state: &S,
    v: &Viewer,
    id: &str,
    failed: Option<PageError>,
) -> Response {
    let env = state.env();
    let x = match resources::read(&env, &v.caller, sessions(), id).await {
        Ok(x) => session_item(&x, &v.orgs),
        Err(e) => return v.fail(e),
    };
    let page = Page {
        limit: HISTORY,
        after: None,
    };
    let history = match chat::messages(&env, &v.caller, &x.id, &page).await {
        Ok(h) => h,
        Err(e) => return v.fail(e),
    };
    let (status, error) = match failed {
        Some(e) => (e.status(), Some(e.message())),
        None => (StatusCode::OK, None),
    };
    let l = Layout::new(x.name.clone(), "chat", v);
    let mut res = html(&SessionPage {
        l: &l,
        x: &x,
        messages: history
            .items
            .iter()
            .map(|m| message_view(m, &v.orgs))
            .collect(),
        error,
    });
    *res.status_mut() = status;
    res
}

pub async fn session<S: Host>(
    State(state): State<S>,
    v: Viewer,
    Path(id): Path<String>,
) -> Response {
    session_page(&state, &v, &id, None).await
}

#[derive(Deserialize, Default)]
pub struct MessageForm {
    #[serde(default)]
    content: String,
}

fn part(msg: &MessageView) -> String {
    MessagePart { msg }.render().unwrap_or_default()
}

fn event(name: &str, data: String) -> Result<Event, std::convert::Infallible> {
    Ok(Event::default().event(name).data(data))
}

/// A turn: the question saved, the answer from a model (streamed to the
/// script) or from the passages alone.
pub async fn send<S: Host>(
    State(state): State<S>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<MessageForm>,
) -> Response {
    let streamed = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    let env = state.env();
    let input = NewMessage {
        content: f.content.clone(),
        files: None,
    };
    let turn = match chat::begin_turn(&env, &v.caller, &id, &input).await {
        Ok(t) => t,
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_))) if streamed => {
            let words = PageError::from(e).message();
            return Sse::new(futures_util::stream::iter([event("error", words)])).into_response();
        }
        Err(e @ (Error::Invalid(_) | Error::Forbidden(_))) => {
            return session_page(&state, &v, &id, Some(e.into())).await;
        }
        Err(e) => return v.fail(e),
    };
    let back = format!("/chat/{}#composer", encode(&id));
    let question = MessageView {
        assistant: false,
        author: v.me.username.clone(),
        content: f.content.trim().to_owned(),
        mode: None,
        citations: Vec::new(),
        created: When::of(
            &time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        ),
    };
    let orgs = v.orgs.clone();
    let Some(model) = state.answer(&turn) else {
        return match chat::answer_from_passages(&env, turn).await {
            Ok(m) if streamed => Sse::new(futures_util::stream::iter([
                event("question", part(&question)),
                event("message", part(&message_view(&m, &orgs))),
            ]))
            .into_response(),
            Ok(_) => see_other(&back),
            Err(e) => v.fail(e),
        };
    };
    let store = env.store.clone();
    if !streamed {
        let answer = match model.await {
            Ok(pieces) => pieces
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<String, String>>(),
            Err(e) => Err(e),
        };
        return match answer {
            Ok(text) => match chat::finish_turn(&store, turn, &text).await {
                Ok(_) => see_other(&back),
                Err(e) => v.fail(e),
            },
            Err(e) => v.fail(Error::BadGateway(format!(
                "the model did not answer ({e}); your message is saved"
            ))),
        };
    }
    let first = futures_util::stream::iter([event("question", part(&question))]);
    let rest = futures_util::stream::once(async move {
        let pieces = match model.await {
            Ok(p) => p,
            Err(e) => {
                let words = format!("The model did not answer ({e}). Your message is saved.");
                return futures_util::stream::iter(vec![event("error", words)]).boxed();
            }
        };
        stream_answer(pieces, store, turn, orgs)
    })
    .flatten();
    Sse::new(first.chain(rest)).into_response()
}

/// `delta` events as the model writes, then the saved answer as `message`.
fn stream_answer(
    pieces: crate::AnswerStream,
    store: orgscope_store::Store,
    turn: chat::Turn,
    orgs: Vec<OrgChoice>,
) -> futures_util::stream::BoxStream<'static, Result<Event, std::convert::Infallible>> {
    enum Step {
        Reading(crate::AnswerStream, String, Box<chat::Turn>),
        Done,
    }
    futures_util::stream::unfold(
        (
            Step::Reading(pieces, String::new(), Box::new(turn)),
            store,
            orgs,
        ),
        |(step, store, orgs)| async move {
            match step {
                Step::Done => None,
                Step::Reading(mut pieces, mut answer, turn) => match pieces.next().await {
                    Some(Ok(piece)) => {
                        answer.push_str(&piece);
                        let e = event("delta", piece);
                        Some((e, (Step::Reading(pieces, answer, turn), store, orgs)))
                    }
                    Some(Err(e)) => {
                        let words = format!("The model stopped ({e}). Your message is saved.");
                        Some((event("error", words), (Step::Done, store, orgs)))
                    }
                    None => {
                        let e = match chat::finish_turn(&store, *turn, &answer).await {
                            Ok(m) => event("message", part(&message_view(&m, &orgs))),
                            Err(e) => event("error", PageError::from(e).message()),
                        };
                        Some((e, (Step::Done, store, orgs)))
                    }
                },
            }
        },
    )
    .boxed()
}
