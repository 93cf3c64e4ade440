//! Agent infrastructure with behaviour: blacklists in force on every task,
//! agents claiming their tasks with their org's key, jobs fired by a
//! scheduler (one task per firing across replicas), gateways turning tickets
//! into tasks, and the audited reveal of a credential's secret.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use orgscope_app::agents::{self, Claim, Claimed, Revealed, TaskResult};
pub use orgscope_app::agents::{
    add_state, agent_key, blacklist_check, blacklist_refusal, in_force, make_task, next_firing,
};
use orgscope_app::tickets::{self, Delivered, Proof, Rotation, Ticket};

/// One scheduler pass (tests drive the scheduler with it); the tasks made,
/// counted as the running scheduler counts them.
pub async fn fire_due(state: &AppState) -> ApiResult<Vec<String>> {
    let made = orgscope_app::agents::fire_due(&state.store).await?;
    state.metrics.scheduler_fired(made.len());
    Ok(made)
}

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, AppJson, OptionalJson};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(claim))
        .routes(routes!(result))
        .routes(routes!(heartbeat))
        .routes(routes!(cancel))
        .routes(routes!(requeue))
        .routes(routes!(reveal))
        .routes(routes!(decide))
        .routes(routes!(hook))
        .routes(routes!(rotate))
}

#[utoipa::path(post, path = "/api/v1/tasks/claim", tag = "tasks", request_body = Claim,
    responses((status = 200, description = "the oldest queued task of the agent, judged again by the blacklists in force", body = Claimed),
        (status = 204, description = "no queued task"), (status = 403, description = "not a read_write org key"),
        (status = 404, description = "no such agent for this key")))]
async fn claim(
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<Claim>,
) -> ApiResult<Response> {
    Ok(match agents::claim(&state.env(), &auth, &body).await? {
        Some(claimed) => axum::Json(claimed).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/result", tag = "tasks", params(("id" = String, Path)),
    request_body = TaskResult,
    responses((status = 200, description = "the task with its outcome", body = ref("#/components/schemas/resource.task")), (status = 403, description = "not a read_write org key"),
        (status = 404, description = "no such task for this key"), (status = 409, description = "not claimed and running by this key")))]
async fn result(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    AppJson(body): AppJson<TaskResult>,
) -> ApiResult<Response> {
    Ok(axum::Json(agents::report(&state.env(), &auth, &id, &body).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/heartbeat", tag = "tasks", params(("id" = String, Path)),
    request_body(content = Option<agents::Heartbeat>, description = "optional"),
    responses((status = 200, description = "the claim's new lease_until", body = agents::Lease), (status = 403, description = "not a read_write org key"),
        (status = 404, description = "no such task for this key"), (status = 409, description = "no longer claimed by this key (cancelled, or its lease lapsed): stop work on it")))]
async fn heartbeat(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<agents::Heartbeat>,
) -> ApiResult<Response> {
    Ok(axum::Json(agents::heartbeat(&state.env(), &auth, &id, &body).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/cancel", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, description = "the task, cancelled; audited", body = ref("#/components/schemas/resource.task")),
        (status = 403, description = "may not change this task"), (status = 404, description = "no such task for you"),
        (status = 409, description = "the task has ended already")))]
async fn cancel(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(
        axum::Json(agents::steer(&state.env(), &auth, &id, agents::Steer::Cancel).await?)
            .into_response(),
    )
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/requeue", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, description = "the task, queued again with a fresh count of attempts; audited", body = ref("#/components/schemas/resource.task")),
        (status = 403, description = "may not change this task"), (status = 404, description = "no such task for you"),
        (status = 409, description = "the task is not failed or cancelled"), (status = 422, description = "a blacklist in force now refuses its command")))]
async fn requeue(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(
        axum::Json(agents::steer(&state.env(), &auth, &id, agents::Steer::Requeue).await?)
            .into_response(),
    )
}

#[utoipa::path(post, path = "/api/v1/credentials/{id}/reveal", tag = "credentials", params(("id" = String, Path)),
    responses((status = 200, description = "the secret; audited", body = Revealed), (status = 403, description = "not a writer of its scope, a read key, or a key whose org's agents do not list it"),
        (status = 404, description = "no such credential for you")))]
async fn reveal(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(agents::reveal(&state.env(), &auth, &id).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/key-requests/{id}/decide", tag = "key-requests", params(("id" = String, Path)),
    request_body = orgscope_app::key_requests::Decision,
    responses((status = 200, description = "approved (a consumer key issued to the developer, its secret shown to them once on the portal) or denied; audited", body = orgscope_app::key_requests::Decided),
        (status = 403, description = "may not change API management in its org"),
        (status = 404, description = "no such key request for you"), (status = 409, description = "already decided")))]
async fn decide(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    AppJson(body): AppJson<orgscope_app::key_requests::Decision>,
) -> ApiResult<Response> {
    Ok(
        axum::Json(orgscope_app::key_requests::decide(&state.env(), &auth, &id, &body).await?)
            .into_response(),
    )
}

/// A delivery from outside: proven by the gateway's secret as its source
/// proves things, it becomes tasks for the gateway's agent in its org.
#[utoipa::path(post, path = "/hooks/gateways/{id}", tag = "gateways", params(("id" = String, Path),
        ("Authorization" = Option<String>, Header, description = "generic and alertmanager: Bearer and the gateway's secret (or X-Gateway-Secret)"),
        ("X-Hub-Signature-256" = Option<String>, Header, description = "github: sha256= and the HMAC-SHA256 of the body"),
        ("X-PagerDuty-Signature" = Option<String>, Header, description = "pagerduty: v1= and the HMAC-SHA256 of the body, comma-separated")),
    request_body(content = Ticket, description = "generic: a ticket; alertmanager, github, pagerduty: their own webhook payloads"),
    responses((status = 201, description = "tasks made", body = Delivered),
        (status = 200, description = "no task made: the delivery was ignored, a duplicate, or its tickets refused (each says why)", body = Delivered),
        (status = 401, description = "unknown gateway or wrong proof (alike)"),
        (status = 422, description = "a generic ticket with no command, or refused by a blacklist")))]
async fn hook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let proof = Proof {
        bearer: header("x-gateway-secret")
            .or_else(|| header("authorization"))
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim()),
        github_signature: header("x-hub-signature-256"),
        github_event: header("x-github-event"),
        github_delivery: header("x-github-delivery"),
        pagerduty_signature: header("x-pagerduty-signature"),
    };
    let made = tickets::deliver(&state.env(), &id, &proof, &body).await?;
    let status = if made.tasks.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(made)).into_response())
}

#[utoipa::path(post, path = "/api/v1/gateways/{id}/rotate", tag = "gateways", params(("id" = String, Path)),
    request_body(content = Option<Rotation>, description = "optional"),
    responses((status = 200, description = "the gateway, with its new secret as `token`, shown this once; audited", body = ref("#/components/schemas/resource.gateway")),
        (status = 403, description = "may not change this gateway (org keys never manage gateways)"),
        (status = 404, description = "no such gateway for you"), (status = 422, description = "a grace period or secret out of range")))]
async fn rotate(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<Rotation>,
) -> ApiResult<Response> {
    Ok(axum::Json(tickets::rotate(&state.env(), &auth, &id, &body).await?).into_response())
}
