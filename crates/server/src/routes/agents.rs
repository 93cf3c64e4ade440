//! Agent infrastructure with behaviour: blacklists in force on every task,
//! agents claiming their tasks with their org's key, jobs fired by a
//! scheduler (one task per firing across replicas), gateways turning tickets
//! into tasks, and the audited reveal of a credential's secret.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use orgscope_core::kind::by_name;
use orgscope_core::policy::{self, Access, Actor, Denied, Scope, SystemRead};
use orgscope_store::{NewAudit, NewResource, StoreError, Tx};
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use orgscope_app::agents::{
    add_state, blacklist_check, blacklist_refusal, in_force, next_firing,
};

use super::{Change, audit, only_fields, text};
use crate::AppState;
use crate::auth::{Auth, ct_eq, hash_secret};
use crate::error::{ApiError, ApiResult, AppJson, OrNotFound};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(claim))
        .routes(routes!(result))
        .routes(routes!(reveal))
        .routes(routes!(hook))
}

/// `POST /api/v1/tasks/claim`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ClaimBody {
    /// The agent (id) of the key's org whose oldest queued task to take.
    agent: String,
}

/// `POST /api/v1/tasks/{id}/result`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ResultBody {
    /// `succeeded` or `failed`.
    status: String,
    /// What the task printed (at most 1 MiB).
    output: Option<String>,
    exit_code: Option<i64>,
}

/// A gateway webhook's ticket.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TicketBody {
    /// What to run (judged by the blacklists in force in the gateway's org).
    command: String,
    title: Option<String>,
    /// A host (id) of the gateway's org; else the gateway's default host.
    host: Option<String>,
}

/// A new task, by hand (through the generic route), by a job or by a
/// gateway: checked against the blacklists in force, queued for its agent,
/// audited. `created_by` is a user, a key, a job or a gateway.
#[allow(clippy::too_many_arguments)]
pub async fn make_task(
    tx: &mut Tx,
    tenant: &str,
    org: &str,
    name: &str,
    agent: &str,
    host: &str,
    command: &str,
    created_by: &str,
) -> ApiResult<String> {
    blacklist_check(tx, tenant, Some(org), command).await?;
    let id = orgscope_store::new_id(by_name("task").expect("tasks are kinds").prefix);
    let fields = json!({"agent": agent, "host": host, "command": command});
    tx.resource_insert(&NewResource {
        id: id.clone(),
        tenant_id: tenant.to_owned(),
        kind: "task".into(),
        org_id: Some(org.to_owned()),
        name: name.chars().take(200).collect(),
        fields: fields.to_string(),
        secret: None,
        created_by: Some(created_by.to_owned()),
    })
    .await?;
    tx.refs_set(
        &id,
        &[("agent".into(), agent.into()), ("host".into(), host.into())],
    )
    .await?;
    tx.task_enqueue(&id, agent).await?;
    tx.audit_append(&NewAudit {
        tenant_id: Some(tenant.to_owned()),
        actor: created_by.to_owned(),
        actor_id: Some(created_by.to_owned()),
        action: "task.create".into(),
        kind: "task".into(),
        target: id.clone(),
        org_id: Some(org.to_owned()),
        other_org_id: None,
        before: None,
        after: Some(fields.to_string()),
    })
    .await?;
    Ok(id)
}

/// The org key of an agent's org, or a 403 that says what is needed.
fn agent_key(auth: &Auth) -> ApiResult<(String, String)> {
    match &auth.principal.actor {
        Actor::OrgKey {
            id,
            org,
            access: Access::ReadWrite,
        } => Ok((id.clone(), org.clone())),
        Actor::OrgKey { .. } => Err(ApiError::Forbidden(
            "claiming and reporting tasks takes a read_write org key".into(),
        )),
        Actor::User { .. } => Err(ApiError::Forbidden(
            "agents claim tasks with an org access key of their org".into(),
        )),
    }
}

#[utoipa::path(post, path = "/api/v1/tasks/claim", tag = "tasks", request_body = ClaimBody,
    responses((status = 200, description = "{task, host, specialty, operational_rules}: the oldest queued task of the agent, judged again by the blacklists in force"),
        (status = 204, description = "no queued task"), (status = 403, description = "not a read_write org key"),
        (status = 404, description = "no such agent for this key")))]
async fn claim(
    State(state): State<AppState>,
    auth: Auth,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    only_fields(&body, &["agent"])?;
    let agent_id = text(&body, "agent", 100)?.to_owned();
    let mut tx = state.store.write().await?;
    let agent = tx
        .resource("agent", &policy::read_filter(&auth.principal), &agent_id)
        .await
        .or_not_found("agent", &agent_id)?;
    let (key, org) = agent_key(&auth)?;
    if agent.org_id.as_deref() != Some(org.as_str()) {
        return Err(ApiError::not_found("agent", &agent_id));
    }
    // The agent was admitted by the key's filter: its tasks, their hosts and
    // its specialty are read within its org (and tenant-wide).
    let in_agents_org =
        policy::system_filter(&agent.tenant_id, Some(&org), SystemRead::AlreadyAdmitted);
    // The blacklists in force now judge each task again as it is handed
    // out: one queued before a blacklist was made is refused here, marked
    // `refused` with the reason and audited, and the next one is taken.
    let (task, fields) = loop {
        let Some(task_id) = tx.task_claim(&agent.id, &key).await? else {
            tx.commit().await?;
            return Ok(StatusCode::NO_CONTENT.into_response());
        };
        let task = tx.resource("task", &in_agents_org, &task_id).await?;
        let fields: Value = serde_json::from_str(&task.fields).unwrap_or_default();
        let command = fields["command"].as_str().unwrap_or_default();
        let Some(why) =
            blacklist_refusal(&mut tx, &task.tenant_id, task.org_id.as_deref(), command).await?
        else {
            break (task, fields);
        };
        tx.task_finish(&task.id, "refused", &why, None).await?;
        audit(
            &mut tx,
            &auth,
            Some(&task.tenant_id),
            Change {
                action: "task.refused",
                kind: "task",
                target: &task.id,
                org: task.org_id.as_deref(),
                before: None,
                after: Some(json!({"status": "refused", "reason": why})),
            },
        )
        .await?;
    };
    let host_id = fields["host"].as_str().unwrap_or_default().to_owned();
    let host = tx.resource("host", &in_agents_org, &host_id).await.ok();
    let agent_fields: Value = serde_json::from_str(&agent.fields).unwrap_or_default();
    let specialty = match agent_fields["specialty"].as_str() {
        Some(id) => tx
            .resource("specialty", &in_agents_org, id)
            .await
            .ok()
            .map(|s| json!({"id": s.id, "name": s.name, "fields": serde_json::from_str::<Value>(&s.fields).unwrap_or_default()})),
        None => None,
    };
    let rules: Vec<Value> = in_force(&mut tx, &agent.tenant_id, Some(&org), "operational_rule")
        .await?
        .iter()
        .map(|r| {
            let f: Value = serde_json::from_str(&r.fields).unwrap_or_default();
            json!({"id": r.id, "name": r.name, "content": f["content"], "tenant_wide": r.org_id.is_none()})
        })
        .collect();
    tx.commit().await?;
    Ok(axum::Json(json!({
        "task": {"id": task.id, "name": task.name, "command": fields["command"], "agent": agent.id},
        "host": host.map(|h| json!({"id": h.id, "name": h.name, "fields": serde_json::from_str::<Value>(&h.fields).unwrap_or_default()})),
        "specialty": specialty,
        "operational_rules": rules,
    }))
    .into_response())
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/result", tag = "tasks", params(("id" = String, Path)),
    request_body = ResultBody,
    responses((status = 200, description = "the task with its outcome"), (status = 403, description = "not a read_write org key"),
        (status = 404, description = "no such task for this key"), (status = 409, description = "not claimed and running by this key")))]
async fn result(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Response> {
    only_fields(&body, &["status", "output", "exit_code"])?;
    let status = match body.get("status").and_then(Value::as_str) {
        Some(s @ ("succeeded" | "failed")) => s.to_owned(),
        _ => {
            return Err(ApiError::Invalid(
                "status: must be succeeded or failed".into(),
            ));
        }
    };
    let output = match body.get("output") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.len() <= 1024 * 1024 => s.clone(),
        Some(_) => {
            return Err(ApiError::Invalid(
                "output: a string of at most 1 MiB".into(),
            ));
        }
    };
    let exit_code = match body.get("exit_code") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| ApiError::Invalid("exit_code: a whole number".into()))?,
        ),
    };
    let mut tx = state.store.write().await?;
    let task = tx
        .resource("task", &policy::read_filter(&auth.principal), &id)
        .await
        .or_not_found("task", &id)?;
    let (key, _) = agent_key(&auth)?;
    let before = tx.task_state(&task.id).await?;
    if before.status != "running" || before.claimed_by.as_deref() != Some(key.as_str()) {
        return Err(ApiError::conflict(format!(
            "task {id} is {} and not claimed by this key; report only tasks you claimed and are running",
            before.status
        )));
    }
    tx.task_finish(&task.id, &status, &output, exit_code)
        .await?;
    let after = tx.task_state(&task.id).await?;
    let mut out = super::kinds::render(by_name("task").expect("tasks are kinds"), &task);
    add_state(&mut out, &after);
    audit(
        &mut tx,
        &auth,
        Some(&task.tenant_id),
        Change {
            action: "task.result",
            kind: "task",
            target: &task.id,
            org: task.org_id.as_deref(),
            before: Some(json!({"status": before.status})),
            after: Some(json!({"status": status, "exit_code": exit_code})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(out).into_response())
}

#[utoipa::path(post, path = "/api/v1/credentials/{id}/reveal", tag = "credentials", params(("id" = String, Path)),
    responses((status = 200, description = "{id, name, secret}; audited"), (status = 403, description = "not a writer of its scope, a read key, or a key whose org's agents do not list it"),
        (status = 404, description = "no such credential for you")))]
async fn reveal(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut tx = state.store.write().await?;
    let cred = tx
        .resource("credential", &policy::read_filter(&auth.principal), &id)
        .await
        .or_not_found("credential", &id)?;
    let scope = Scope {
        tenant: cred.tenant_id.clone(),
        org: cred.org_id.clone(),
    };
    // Writers in its scope; an org key only for a credential an agent of
    // its org lists, and only what the key's maker could reveal.
    let listed_by_org_agent = match &auth.principal.actor {
        Actor::OrgKey { org, .. } => tx.refs_to(&cred.id).await?.iter().any(|r| {
            r.kind == "agent" && r.field == "credentials" && r.org_id.as_deref() == Some(org)
        }),
        Actor::User { .. } => false,
    };
    policy::can_reveal(
        &auth.principal,
        auth.maker.as_ref(),
        by_name("credential").expect("credentials are kinds").policy,
        &scope,
        cred.created_by.as_deref(),
        listed_by_org_agent,
    )
    .map_err(|d| match d {
        Denied::ReadOnly => ApiError::Forbidden(
            "a read key never reveals a secret; use a read_write key of an agent's org".into(),
        ),
        _ => ApiError::Forbidden(
            "only writers of this credential's scope reveal it, and an org key only when an agent of its org lists it and its maker may reveal it".into(),
        ),
    })?;
    let sealed = cred.secret.as_deref().unwrap_or_default();
    let secret = state
        .master_key
        .open(sealed, &cred.id)
        .map_err(|e| ApiError::Internal(format!("credential {}: {e}", cred.id)))?;
    audit(
        &mut tx,
        &auth,
        Some(&cred.tenant_id),
        Change {
            action: "credential.reveal",
            kind: "credential",
            target: &cred.id,
            org: cred.org_id.as_deref(),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(
        axum::Json(json!({"id": cred.id, "name": cred.name, "secret": secret.as_str()}))
            .into_response(),
    )
}

/// A ticket from outside: with the gateway's own secret it becomes a task
/// for the gateway's agent, in the gateway's org.
#[utoipa::path(post, path = "/hooks/gateways/{id}", tag = "gateways", params(("id" = String, Path),
        ("X-Gateway-Secret" = String, Header, description = "the gateway's secret (or Authorization: Bearer)")),
    request_body = TicketBody,
    responses((status = 201, description = "the task made"), (status = 401, description = "unknown gateway or wrong secret (alike)"),
        (status = 422, description = "no command, or refused by a blacklist")))]
async fn hook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let secret = headers
        .get("x-gateway-secret")
        .or_else(|| headers.get("authorization"))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim().to_owned())
        .ok_or(ApiError::Unauthorized)?;
    let mut tx = state.store.write().await?;
    // The gateway is found by id, then its secret decides: a wrong secret and
    // an unknown gateway answer alike.
    let gateway = match tx.resource_for_hook(&id).await {
        Ok(g) => g,
        Err(StoreError::NotFound) => return Err(ApiError::Unauthorized),
        Err(e) => return Err(e.into()),
    };
    let stored = gateway.secret.clone().unwrap_or_default();
    if !ct_eq(stored.as_bytes(), hash_secret(&secret).as_bytes()) {
        return Err(ApiError::Unauthorized);
    }
    let ticket: Map<String, Value> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the ticket is not a JSON object: {e}")))?;
    crate::error::refuse_nul(&Value::Object(ticket.clone()), "")?;
    let command = ticket
        .get("command")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| ApiError::Invalid("command: the ticket must say what to run".into()))?
        .to_owned();
    let title = ticket
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("ticket")
        .to_owned();
    let fields: Value = serde_json::from_str(&gateway.fields).unwrap_or_default();
    let org = gateway.org_id.clone().ok_or(ApiError::Unauthorized)?;
    let agent = fields["agent"].as_str().unwrap_or_default().to_owned();
    let host = match ticket
        .get("host")
        .and_then(Value::as_str)
        .or(fields["host"].as_str())
    {
        Some(h) => h.to_owned(),
        None => {
            return Err(ApiError::Invalid(
                "host: the ticket names no host and the gateway has none".into(),
            ));
        }
    };
    // A host named by the ticket must be the gateway's org's.
    // The gateway's secret authorized this: its own org and tenant-wide.
    let filter = policy::system_filter(&gateway.tenant_id, Some(&org), SystemRead::Webhook);
    let host_row = tx
        .resource("host", &filter, &host)
        .await
        .or_not_found("host", &host)?;
    if host_row.org_id.as_deref() != Some(org.as_str()) {
        return Err(ApiError::not_found("host", &host));
    }
    let task = make_task(
        &mut tx,
        &gateway.tenant_id,
        &org,
        &title,
        &agent,
        &host,
        &command,
        &gateway.id,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"task": task}))).into_response())
}

/// Fires due jobs, every few seconds, for as long as the server runs. Each
/// firing is claimed by advancing the job's next time with a conditional
/// update: of several replicas, one wins and makes the task in the same
/// transaction. A job whose firings were missed (the server was down) fires
/// once, now, and then follows its schedule: missed firings are not replayed.
pub async fn run_scheduler(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Err(e) = fire_due(&state).await {
            tracing::warn!(error = ?e, "scheduler tick failed");
        }
    }
}

/// One scheduler pass; returns the tasks it made.
pub async fn fire_due(state: &AppState) -> ApiResult<Vec<String>> {
    let now = chrono::Utc::now();
    let mut tx = state.store.read().await?;
    let due = tx
        .jobs_due_for_scheduler(&orgscope_store::now(), 100)
        .await?;
    drop(tx);
    let mut made = Vec::new();
    for (id, at) in due {
        let mut tx = state.store.write().await?;
        let job = match tx.resource_for_scheduler(&id).await {
            Ok(j) => j,
            Err(StoreError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        let f: Value = serde_json::from_str(&job.fields).unwrap_or_default();
        let next = next_firing(
            f["schedule"].as_str().unwrap_or_default(),
            f["timezone"].as_str(),
            now,
        )
        .ok();
        if !tx.job_advance(&id, &at, next.as_deref()).await? {
            continue; // another replica took this firing
        }
        let org = job.org_id.clone().unwrap_or_default();
        let made_task = make_task(
            &mut tx,
            &job.tenant_id,
            &org,
            &format!("{} at {at}", job.name),
            f["agent"].as_str().unwrap_or_default(),
            f["host"].as_str().unwrap_or_default(),
            f["command"].as_str().unwrap_or_default(),
            &job.id,
        )
        .await;
        match made_task {
            Ok(task) => {
                tx.commit().await?;
                made.push(task);
            }
            Err(ApiError::Invalid(why)) => {
                // A blacklist now refuses the job's command: the firing is
                // spent (no retry storm), the refusal is in the audit log.
                drop(tx);
                let mut tx = state.store.write().await?;
                tx.job_advance(&id, &at, next.as_deref()).await?;
                tx.audit_append(&NewAudit {
                    tenant_id: Some(job.tenant_id.clone()),
                    actor: job.id.clone(),
                    actor_id: Some(job.id.clone()),
                    action: "job.refused".into(),
                    kind: "job".into(),
                    target: job.id.clone(),
                    org_id: job.org_id.clone(),
                    other_org_id: None,
                    before: None,
                    after: Some(json!({"firing": at, "why": why}).to_string()),
                })
                .await?;
                tx.commit().await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::next_firing;

    fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    #[test]
    fn firings_in_utc_offsets_and_named_zones() {
        let after = at("2026-01-15T10:30:00Z");
        assert_eq!(
            next_firing("0 * * * *", None, after).unwrap(),
            "2026-01-15T11:00:00.000000Z"
        );
        assert_eq!(
            next_firing("0 12 * * *", Some("+02:00"), after).unwrap(),
            "2026-01-16T10:00:00.000000Z"
        );
        // 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer.
        assert_eq!(
            next_firing("0 9 * * *", Some("Europe/Paris"), after).unwrap(),
            "2026-01-16T08:00:00.000000Z"
        );
        let summer = at("2026-07-15T10:30:00Z");
        assert_eq!(
            next_firing("0 9 * * *", Some("Europe/Paris"), summer).unwrap(),
            "2026-07-16T07:00:00.000000Z"
        );
        assert!(
            next_firing("0 9 * * *", Some("Mars/Olympus"), after)
                .unwrap_err()
                .contains("timezone")
        );
        assert!(next_firing("0 9 * * *", Some("+25:00"), after).is_err());
        assert!(
            next_firing("often", None, after)
                .unwrap_err()
                .contains("schedule")
        );
    }
}
