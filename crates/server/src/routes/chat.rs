//! Chat: persona assignments, sessions that keep their persona's org, and
//! turns answered from knowledge in that org's context, with citations.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ListQuery;
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppJson, AppQuery};
use crate::llm;
use orgscope_app::chat::{self, Assignments, Message, NewMessage, NewSession, SetAssignments};
use orgscope_app::input::Listing;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_assignments, put_assignments))
        .routes(routes!(start_session))
        .routes(routes!(list_messages, post_message))
}

#[utoipa::path(get, path = "/api/v1/personas/{id}/assignments", tag = "personas", params(("id" = String, Path)),
    responses((status = 200, description = "the users the persona is assigned to", body = Assignments), (status = 404, description = "no such persona for you")))]
async fn get_assignments(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(chat::assignments(&state.env(), &auth, &id).await?).into_response())
}

#[utoipa::path(put, path = "/api/v1/personas/{id}/assignments", tag = "personas", params(("id" = String, Path)),
    request_body = SetAssignments,
    responses((status = 200, description = "the assignments now", body = Assignments), (status = 403, description = "you cannot change this persona"),
        (status = 404, description = "no such persona for you"), (status = 422, description = "unknown users, or not members of the persona's org")))]
async fn put_assignments(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    AppJson(body): AppJson<SetAssignments>,
) -> ApiResult<Response> {
    Ok(axum::Json(chat::set_assignments(&state.env(), &auth, &id, &body).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", request_body = NewSession,
    responses((status = 201, description = "the session, in its persona's org", body = ref("#/components/schemas/resource.session")), (status = 403, description = "the persona is assigned to others, or your access is read-only"),
        (status = 404, description = "no such persona for you")))]
async fn start_session(
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<NewSession>,
) -> ApiResult<Response> {
    let out = chat::start_session(&state.env(), &auth, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/messages", tag = "sessions", params(("id" = String, Path), ListQuery),
    responses((status = 200, description = "the history, oldest first", body = Listing<Message>), (status = 404, description = "no such session for you")))]
async fn list_messages(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Response> {
    if q.cursor.as_deref().is_some_and(|c| !c.starts_with("msg_")) {
        return Err(ApiError::BadRequest(
            "cursor: not a cursor this server gave; use the next_cursor of the previous page"
                .into(),
        ));
    }
    let page = q.page()?;
    Ok(axum::Json(chat::messages(&state.env(), &auth, &id, &page).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/messages", tag = "sessions", params(("id" = String, Path)),
    request_body = NewMessage,
    responses((status = 200, description = "the answer with its citations (JSON), or a text/event-stream of it when a model is configured and asked for", body = Message),
        (status = 404, description = "no such session for you"), (status = 422, description = "empty content, or files outside the session's context"),
        (status = 502, description = "the model endpoint failed; your message is saved")))]
async fn post_message(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<NewMessage>,
) -> ApiResult<Response> {
    let turn = chat::begin_turn(&state.env(), &auth, &id, &body).await?;
    let Some(model) = state.llm.clone() else {
        return Ok(
            axum::Json(chat::answer_from_passages(&state.env(), turn).await?).into_response(),
        );
    };
    let prompt = llm::prompt(&turn.instructions, &turn.hits, &turn.question);
    let upstream = model.start(&prompt).await?;
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    let store = state.store.clone();
    let finish = move |answer: String| async move {
        Ok::<_, ApiError>(chat::finish_turn(&store, turn, &answer).await?)
    };
    if !wants_stream {
        let answer = llm::collect(upstream).await?;
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
    Fut: std::future::Future<Output = ApiResult<Message>> + Send,
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
                                let json = serde_json::to_string(&message).unwrap_or_default();
                                Event::default().event("message").data(json)
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
                    Err(e) => {
                        let problem = ApiError::from(e).problem();
                        let event = Event::default().event("error").data(problem.to_string());
                        Some((Ok(event), Step::Done))
                    }
                },
            }
        },
    )
    .boxed()
}
