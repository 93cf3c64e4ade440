//! Agent infrastructure's rules that travel with work: the blacklists and
//! operational rules in force in an org, job schedules, a task's state.

use std::str::FromStr;

use orgscope_core::pattern::Pattern;
use orgscope_core::policy::{self, OrgSelector, SystemRead};
use std::time::Duration;

use orgscope_core::ids::{OrgId, TenantId};
use orgscope_core::kind::by_name;
use orgscope_core::policy::{Access, Actor, Denied};
use orgscope_store::{NewAudit, NewResource, Page, Store, StoreError, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::audit::{Change, audit};
use crate::input::required;
use crate::{Caller, Env, Error, OrNotFound, Result};

/// `POST /api/v1/tasks/claim`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// The agent (id) of the key's org whose oldest queued task to take.
    pub agent: String,
    /// How long the claim holds without a report or heartbeat (1 to
    /// 86,400 seconds; default 300). A lapsed claim returns the task to the
    /// queue, up to [`MAX_ATTEMPTS`] claims in all.
    #[serde(default)]
    pub lease_seconds: Option<i64>,
}

/// `POST /api/v1/tasks/{id}/heartbeat`: the claimant is still at work.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The lease from now (1 to 86,400 seconds; default 300).
    #[serde(default)]
    pub lease_seconds: Option<i64>,
}

/// A claim's lease after a heartbeat.
#[derive(Debug, Serialize, ToSchema)]
pub struct Lease {
    /// The task.
    pub id: String,
    /// When the claim lapses unless the agent reports or beats again.
    pub lease_until: String,
}

/// Claims a task gets before a lapsed lease fails it instead of queueing it
/// again: a task that crashes its agent does not crash every agent.
pub const MAX_ATTEMPTS: i64 = 3;
const DEFAULT_LEASE_SECONDS: i64 = 300;

fn lease_until(seconds: Option<i64>) -> Result<String> {
    let s = seconds.unwrap_or(DEFAULT_LEASE_SECONDS);
    if !(1..=86_400).contains(&s) {
        return Err(Error::Invalid(format!(
            "lease_seconds: {s} is not between 1 and 86400"
        )));
    }
    Ok(orgscope_core::format_time(
        time::OffsetDateTime::now_utc() + time::Duration::seconds(s),
    ))
}

/// What an agent gets with the task it claimed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Claimed {
    pub task: ClaimedTask,
    /// The host to run on (`{id, name, fields}`), if it still exists.
    #[schema(value_type = Option<Object>)]
    pub host: Option<Value>,
    /// The agent's specialty (`{id, name, fields}`), if any.
    #[schema(value_type = Option<Object>)]
    pub specialty: Option<Value>,
    /// The operational rules in force in the agent's org.
    pub operational_rules: Vec<RuleInForce>,
}

/// The task an agent claimed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimedTask {
    pub id: String,
    pub name: String,
    pub command: String,
    pub agent: String,
    /// This claim's number (1 for the first).
    pub attempts: i64,
    /// When the claim lapses unless the agent reports or sends a heartbeat.
    pub lease_until: String,
}

/// An operational rule in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleInForce {
    pub id: String,
    pub name: String,
    pub content: Option<String>,
    pub tenant_wide: bool,
}

/// `POST /api/v1/tasks/{id}/result`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskResult {
    /// `succeeded` or `failed`.
    pub status: String,
    /// What the task printed (at most 1 MiB).
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i64>,
}

/// A credential's secret, revealed (and audited).
#[derive(Debug, Serialize, ToSchema)]
pub struct Revealed {
    pub id: String,
    pub name: String,
    pub secret: String,
}

/// Every resource of a kind in force in an org: the org's and tenant-wide ones.
pub async fn in_force(
    tx: &mut Tx,
    tenant: &str,
    org: Option<&str>,
    kind: &str,
) -> Result<Vec<orgscope_store::ResourceRow>> {
    // What is in force applies to whoever acts in the org.
    let filter = policy::system_filter(&TenantId::from(tenant), None, SystemRead::InForce);
    let selector = match org {
        Some(o) => OrgSelector::Context(o.to_owned()),
        None => OrgSelector::TenantWide,
    };
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let rows = tx
            .resources(kind, &filter, &selector, &Page { limit: 500, after })
            .await?;
        let done = rows.len() < 500;
        after = rows.last().map(|r| r.id.clone());
        out.extend(rows);
        if done {
            return Ok(out);
        }
    }
}

/// Refuses a command that a blacklist in force in the org matches (422,
/// naming the blacklist and the pattern).
pub async fn blacklist_check(
    tx: &mut Tx,
    tenant: &str,
    org: Option<&str>,
    command: &str,
) -> Result<()> {
    match blacklist_refusal(tx, tenant, org, command).await? {
        Some(why) => Err(Error::Invalid(format!("command: {why}"))),
        None => Ok(()),
    }
}

/// Why the blacklists in force in `org` (its own and tenant-wide ones)
/// refuse `command`, if they do. A stored pattern that no longer reads
/// refuses everything until it is fixed: the check fails closed.
pub async fn blacklist_refusal(
    tx: &mut Tx,
    tenant: &str,
    org: Option<&str>,
    command: &str,
) -> Result<Option<String>> {
    for bl in in_force(tx, tenant, org, "blacklist").await? {
        let fields: Value = serde_json::from_str(&bl.fields).unwrap_or_default();
        let Some(patterns) = fields["patterns"].as_array() else {
            return Ok(Some(format!(
                "blacklist '{}' ({}) cannot be read; an admin must fix its patterns",
                bl.name, bl.id
            )));
        };
        for p in patterns {
            let pattern = p.as_str().map(Pattern::parse);
            match pattern {
                Some(Ok(pat)) if !pat.matches(command) => {}
                Some(Ok(_)) => {
                    return Ok(Some(format!(
                        "refused by blacklist '{}' ({}), pattern '{}'",
                        bl.name,
                        bl.id,
                        p.as_str().unwrap_or_default()
                    )));
                }
                _ => {
                    return Ok(Some(format!(
                        "blacklist '{}' ({}) has a pattern that cannot be read ({p}); an admin must fix it",
                        bl.name, bl.id
                    )));
                }
            }
        }
    }
    Ok(None)
}

/// The next firing of a job after `after`, in its time zone (`UTC`, a fixed
/// offset like `+02:00`, or an IANA name like `Europe/Paris`, daylight saving
/// included), as a stored timestamp.
pub fn next_firing(
    schedule: &str,
    timezone: Option<&str>,
    after: chrono::DateTime<chrono::Utc>,
) -> std::result::Result<String, String> {
    let cron = croner::Cron::from_str(schedule)
        .map_err(|e| format!("schedule: '{schedule}' is not a cron expression: {e}"))?;
    let never = |e: croner::errors::CronError| format!("schedule: '{schedule}' never fires: {e}");
    let tz = timezone.unwrap_or("UTC");
    let next: chrono::DateTime<chrono::Utc> = if let Some(offset) = fixed_offset(tz) {
        let offset = offset?;
        cron.find_next_occurrence(&after.with_timezone(&offset), false)
            .map_err(never)?
            .with_timezone(&chrono::Utc)
    } else {
        let zone = chrono_tz::Tz::from_str(tz).map_err(|_| {
            format!(
                "timezone: '{tz}' is not UTC, an offset like +02:00 or a zone like Europe/Paris"
            )
        })?;
        cron.find_next_occurrence(&after.with_timezone(&zone), false)
            .map_err(never)?
            .with_timezone(&chrono::Utc)
    };
    let t = time::OffsetDateTime::from_unix_timestamp(next.timestamp())
        .map_err(|e| format!("schedule: {e}"))?;
    Ok(orgscope_core::format_time(t))
}

/// `at` as a wall clock reads it in `tz` (`UTC`, `+02:00`, `Europe/Paris`).
pub fn wall_clock(
    tz: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> std::result::Result<chrono::DateTime<chrono::FixedOffset>, String> {
    if let Some(offset) = fixed_offset(tz) {
        return Ok(at.with_timezone(&offset?));
    }
    let zone = chrono_tz::Tz::from_str(tz).map_err(|_| {
        format!("timezone: '{tz}' is not UTC, an offset like +02:00 or a zone like Europe/Paris")
    })?;
    Ok(at.with_timezone(&zone).fixed_offset())
}

/// `UTC` or `±HH:MM` as an offset; `None` when it is neither (a zone name).
fn fixed_offset(tz: &str) -> Option<std::result::Result<chrono::FixedOffset, String>> {
    if matches!(tz, "UTC" | "utc" | "Z" | "") {
        return Some(Ok(chrono::FixedOffset::east_opt(0).expect("zero offset")));
    }
    let sign = match tz.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return None,
    };
    let bad = || format!("timezone: '{tz}' is not an offset like +02:00");
    Some(
        tz[1..]
            .split_once(':')
            .and_then(|(h, m)| Some((h.parse::<i32>().ok()?, m.parse::<i32>().ok()?)))
            .filter(|(h, m)| (0..=14).contains(h) && (0..60).contains(m))
            .and_then(|(h, m)| chrono::FixedOffset::east_opt(sign * (h * 3600 + m * 60)))
            .ok_or_else(bad),
    )
}

/// A task's queue state, for its reads.
pub fn add_state(out: &mut Value, s: &orgscope_store::TaskState) {
    out["status"] = json!(s.status);
    out["output"] = json!(s.output);
    out["exit_code"] = json!(s.exit_code);
    out["claimed_by"] = json!(s.claimed_by);
    out["claimed_at"] = json!(s.claimed_at);
    out["finished_at"] = json!(s.finished_at);
    out["attempts"] = json!(s.attempts);
    out["lease_until"] = json!(s.lease_until);
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
) -> Result<String> {
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
pub fn agent_key(auth: &Caller) -> Result<(String, OrgId)> {
    match &auth.principal.actor {
        Actor::OrgKey {
            id,
            org,
            access: Access::ReadWrite,
        } => Ok((id.clone(), org.clone())),
        Actor::OrgKey { .. } => Err(Error::Forbidden(
            "claiming and reporting tasks takes a read_write org key".into(),
        )),
        Actor::User { .. } => Err(Error::Forbidden(
            "agents claim tasks with an org access key of their org".into(),
        )),
    }
}

/// Fires due jobs, every few seconds, for as long as the server runs. Each
/// firing is claimed by advancing the job's next time with a conditional
/// update: of several replicas, one wins and makes the task in the same
/// transaction. A job whose firings were missed (the server was down) fires
/// once, now, and then follows its schedule: missed firings are not replayed.
/// `fired` hears how many tasks each pass made (the server counts them).
pub async fn run_scheduler(store: Store, fired: impl Fn(usize) + Send) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        match fire_due(&store).await {
            Ok(made) => fired(made.len()),
            Err(e) => tracing::warn!(error = ?e, "scheduler tick failed"),
        }
        if let Err(e) = sweep_leases(&store).await {
            tracing::warn!(error = ?e, "lease sweep failed");
        }
        if let Err(e) = crate::tickets::prune(&store).await {
            tracing::warn!(error = ?e, "gateway delivery prune failed");
        }
        if let Err(e) = crate::limits::prune(&store).await {
            tracing::warn!(error = ?e, "limit window prune failed");
        }
    }
}

/// Ends the leases that lapsed: each task goes back to its queue (audited
/// `task.lease_lapsed`), or fails once it has had [`MAX_ATTEMPTS`] claims.
/// Returns the tasks it moved.
pub async fn sweep_leases(store: &Store) -> Result<Vec<String>> {
    let mut tx = store.write().await?;
    let moved = lapse_leases(&mut tx).await?;
    tx.commit().await?;
    Ok(moved)
}

async fn lapse_leases(tx: &mut Tx) -> Result<Vec<String>> {
    let mut moved = Vec::new();
    for lapsed in tx
        .tasks_lapsed_for_sweep(&orgscope_store::now(), 100)
        .await?
    {
        let spent = lapsed.attempts >= MAX_ATTEMPTS;
        let why = spent.then(|| {
            format!(
                "the lease lapsed on claim {} of {MAX_ATTEMPTS}: no agent reported; requeue it by hand",
                lapsed.attempts
            )
        });
        if !tx.task_lapse(&lapsed, why.as_deref()).await? {
            continue;
        }
        let task = tx.resource_for_sweep(&lapsed.id).await?;
        tx.audit_append(&NewAudit {
            tenant_id: Some(task.tenant_id.clone()),
            actor: "lease sweep".into(),
            actor_id: None,
            action: "task.lease_lapsed".into(),
            kind: "task".into(),
            target: task.id.clone(),
            org_id: task.org_id.clone(),
            other_org_id: None,
            before: Some(json!({"status": "running", "lease_until": lapsed.lease_until, "attempts": lapsed.attempts}).to_string()),
            after: Some(json!({"status": if spent { "failed" } else { "queued" }}).to_string()),
        })
        .await?;
        moved.push(task.id);
    }
    Ok(moved)
}

/// One scheduler pass; returns the tasks it made.
pub async fn fire_due(store: &Store) -> Result<Vec<String>> {
    let now = chrono::Utc::now();
    let mut tx = store.read().await?;
    let due = tx
        .jobs_due_for_scheduler(&orgscope_store::now(), 100)
        .await?;
    drop(tx);
    let mut made = Vec::new();
    for (id, at) in due {
        let mut tx = store.write().await?;
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
            Err(Error::Invalid(why)) => {
                // A blacklist now refuses the job's command: the firing is
                // spent (no retry storm), the refusal is in the audit log.
                drop(tx);
                let mut tx = store.write().await?;
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

/// An agent's key takes the oldest queued task of one of its org's agents
/// (`{agent}`), judged again by the blacklists in force; `None` when no task
/// is queued. The task travels with its host, the agent's specialty and the
/// operational rules in force.
pub async fn claim(env: &Env<'_>, auth: &Caller, input: &Claim) -> Result<Option<Claimed>> {
    let agent_id = required("agent", &input.agent, 100)?.to_owned();
    let lease = lease_until(input.lease_seconds)?;
    let mut tx = env.store.write().await?;
    let agent = tx
        .resource("agent", &policy::read_filter(&auth.principal), &agent_id)
        .await
        .or_not_found("agent", &agent_id)?;
    let (key, org) = agent_key(auth)?;
    if agent.org_id.as_deref() != Some(org.as_str()) {
        return Err(Error::not_found("agent", &agent_id));
    }
    // The agent was admitted by the key's filter: its tasks, their hosts and
    // its specialty are read within its org (and tenant-wide).
    let in_agents_org =
        policy::system_filter(&agent.tenant(), Some(&org), SystemRead::AlreadyAdmitted);
    // The blacklists in force now judge each task again as it is handed
    // out: one queued before a blacklist was made is refused here, marked
    // `refused` with the reason and audited, and the next one is taken.
    // Lapsed claims go back to the queue first, so a crashed agent's task
    // is the next one taken even between the scheduler's sweeps.
    lapse_leases(&mut tx).await?;
    let (task, fields) = loop {
        let Some(task_id) = tx.task_claim(&agent.id, &key, &lease).await? else {
            tx.commit().await?;
            return Ok(None);
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
            auth,
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
    let rules = in_force(&mut tx, &agent.tenant_id, Some(&org), "operational_rule")
        .await?
        .iter()
        .map(|r| {
            let f: Value = serde_json::from_str(&r.fields).unwrap_or_default();
            RuleInForce {
                id: r.id.clone(),
                name: r.name.clone(),
                content: f["content"].as_str().map(str::to_owned),
                tenant_wide: r.org_id.is_none(),
            }
        })
        .collect();
    let state = tx.task_state(&task.id).await?;
    audit(
        &mut tx,
        auth,
        Some(&task.tenant_id),
        Change {
            action: "task.claim",
            kind: "task",
            target: &task.id,
            org: task.org_id.as_deref(),
            before: None,
            after: Some(json!({"attempts": state.attempts, "lease_until": lease})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(Claimed {
        task: ClaimedTask {
            id: task.id,
            name: task.name,
            command: fields["command"].as_str().unwrap_or_default().to_owned(),
            agent: agent.id,
            attempts: state.attempts,
            lease_until: lease,
        },
        host: host.map(|h| json!({"id": h.id, "name": h.name, "fields": serde_json::from_str::<Value>(&h.fields).unwrap_or_default()})),
        specialty,
        operational_rules: rules,
    }))
}

/// The key that claimed a task reports its outcome, once.
pub async fn report(env: &Env<'_>, auth: &Caller, id: &str, input: &TaskResult) -> Result<Value> {
    let status = match input.status.as_str() {
        s @ ("succeeded" | "failed") => s.to_owned(),
        _ => {
            return Err(Error::Invalid("status: must be succeeded or failed".into()));
        }
    };
    let output = match &input.output {
        None => String::new(),
        Some(s) if s.len() <= 1024 * 1024 => s.clone(),
        Some(_) => {
            return Err(Error::Invalid("output: a string of at most 1 MiB".into()));
        }
    };
    let exit_code = input.exit_code;
    let mut tx = env.store.write().await?;
    let task = tx
        .resource("task", &policy::read_filter(&auth.principal), id)
        .await
        .or_not_found("task", id)?;
    let (key, _) = agent_key(auth)?;
    let before = tx.task_state(&task.id).await?;
    not_held(id, &before, &key)?;
    tx.task_finish(&task.id, &status, &output, exit_code)
        .await?;
    let after = tx.task_state(&task.id).await?;
    let mut out = crate::resources::render(by_name("task").expect("tasks are kinds"), &task);
    add_state(&mut out, &after);
    audit(
        &mut tx,
        auth,
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
    Ok(out)
}

/// 409 unless `key` holds the task's claim: a cancelled task, or one whose
/// lease lapsed and went to another claimant, is no longer the agent's.
fn not_held(id: &str, s: &orgscope_store::TaskState, key: &str) -> Result<()> {
    if s.status != "running" || s.claimed_by.as_deref() != Some(key) {
        return Err(Error::conflict(format!(
            "task {id} is {} and not claimed by this key (its lease may have lapsed); stop work on it and claim again",
            s.status
        )));
    }
    Ok(())
}

/// The claimant is still at work: its lease runs `lease_seconds` from now.
pub async fn heartbeat(env: &Env<'_>, auth: &Caller, id: &str, input: &Heartbeat) -> Result<Lease> {
    let until = lease_until(input.lease_seconds)?;
    let mut tx = env.store.write().await?;
    let task = tx
        .resource("task", &policy::read_filter(&auth.principal), id)
        .await
        .or_not_found("task", id)?;
    let (key, _) = agent_key(auth)?;
    if !tx.task_extend(&task.id, &key, &until).await? {
        not_held(id, &tx.task_state(&task.id).await?, &key)?;
    }
    tx.commit().await?;
    Ok(Lease {
        id: task.id,
        lease_until: until,
    })
}

/// A writer of the task stops it: `cancel` (queued or running: the agent
/// hears 409 at its next heartbeat or report) or `requeue` (failed or
/// cancelled: queued again with a fresh count of attempts, judged again by
/// the blacklists in force). Audited.
pub async fn steer(env: &Env<'_>, auth: &Caller, id: &str, to: Steer) -> Result<Value> {
    let kind = by_name("task").expect("tasks are kinds");
    let mut tx = env.store.write().await?;
    let task = crate::resources::writable(&mut tx, kind, auth, id).await?;
    let before = tx.task_state(&task.id).await?;
    let (from, status, action): (&[&str], _, _) = match to {
        Steer::Cancel => (&["queued", "running"], "cancelled", "task.cancel"),
        Steer::Requeue => (&["failed", "cancelled"], "queued", "task.requeue"),
    };
    if let Steer::Requeue = to {
        let fields: Value = serde_json::from_str(&task.fields).unwrap_or_default();
        blacklist_check(
            &mut tx,
            &task.tenant_id,
            task.org_id.as_deref(),
            fields["command"].as_str().unwrap_or_default(),
        )
        .await?;
    }
    if !tx
        .task_move(&task.id, from, status, matches!(to, Steer::Requeue))
        .await?
    {
        return Err(Error::conflict(format!(
            "task {id} is {}; {} takes a task that is {}",
            before.status,
            match to {
                Steer::Cancel => "cancel",
                Steer::Requeue => "requeue",
            },
            from.join(" or ")
        )));
    }
    let after = tx.task_state(&task.id).await?;
    audit(
        &mut tx,
        auth,
        Some(&task.tenant_id),
        Change {
            action,
            kind: "task",
            target: &task.id,
            org: task.org_id.as_deref(),
            before: Some(json!({"status": before.status, "attempts": before.attempts})),
            after: Some(json!({"status": after.status})),
        },
    )
    .await?;
    tx.commit().await?;
    let mut out = crate::resources::render(kind, &task);
    add_state(&mut out, &after);
    Ok(out)
}

/// What [`steer`] does to a task.
#[derive(Clone, Copy, Debug)]
pub enum Steer {
    Cancel,
    Requeue,
}

/// A credential's secret, to those who may change it and to read_write keys
/// of an org whose agents list it (and whose maker could); audited.
pub async fn reveal(env: &Env<'_>, auth: &Caller, id: &str) -> Result<Revealed> {
    let mut tx = env.store.write().await?;
    let cred = tx
        .resource("credential", &policy::read_filter(&auth.principal), id)
        .await
        .or_not_found("credential", id)?;
    let scope = cred.scope();
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
        Denied::ReadOnly => Error::Forbidden(
            "a read key never reveals a secret; use a read_write key of an agent's org".into(),
        ),
        _ => Error::Forbidden(
            "only writers of this credential's scope reveal it, and an org key only when an agent of its org lists it and its maker may reveal it".into(),
        ),
    })?;
    let sealed = cred.secret.as_deref().unwrap_or_default();
    let secret = env
        .master_key
        .open(sealed, &cred.id)
        .map_err(|e| Error::Internal(format!("credential {}: {e}", cred.id)))?;
    audit(
        &mut tx,
        auth,
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
    Ok(Revealed {
        id: cred.id,
        name: cred.name,
        secret: secret.as_str().to_owned(),
    })
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
        // As documented: seconds first with 6 or 7 fields (the 7th a year),
        // and the @ nicknames.
        assert_eq!(
            next_firing("0 0 12 * * * 2027", None, after).unwrap(),
            "2027-01-01T12:00:00.000000Z"
        );
        assert_eq!(
            next_firing("@daily", None, after).unwrap(),
            "2026-01-16T00:00:00.000000Z"
        );
        assert_eq!(
            next_firing("@hourly", None, after).unwrap(),
            "2026-01-15T11:00:00.000000Z"
        );
        assert!(next_firing("0 0 12 * * * 2027 5", None, after).is_err());
    }
}
