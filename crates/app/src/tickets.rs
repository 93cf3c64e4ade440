//! Ticket gateways: deliveries from outside (a generic JSON ticket,
//! Prometheus Alertmanager's webhook, GitHub's, PagerDuty's v3) become tasks
//! for the gateway's agent in the gateway's org.
//!
//! Decisions: the gateway's secret is the only authority, proven the way its
//! source proves things (a bearer token, or an HMAC-SHA256 of the raw body),
//! so it is kept encrypted, not hashed; a rotated secret stays valid for the
//! grace period its rotation chose. An unknown gateway and a wrong proof
//! answer alike (401). Each delivery that names itself (an alert's
//! fingerprint and start, GitHub's delivery id, PagerDuty's event id) makes
//! one task however often it is sent. The mapping from payload to task is in
//! README's "Ticket gateways".

use hmac::{Hmac, KeyInit, Mac};
use orgscope_core::ids::OrgId;
use orgscope_core::policy::{self, SystemRead};
use orgscope_store::{ResourceRow, StoreError, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use utoipa::ToSchema;

use crate::agents::make_task;
use crate::audit::{Change, audit};
use crate::crypto::MasterKey;
use crate::resources::{render, writable};
use crate::secrets::{ct_eq, hash_secret, new_secret};
use crate::{Caller, Env, Error, Result};

/// A generic gateway's ticket. Other fields a ticket system sends are
/// ignored: the gateway's secret, not the shape, is the authority.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Ticket {
    /// What to run (judged by the blacklists in force in the gateway's
    /// org); else the gateway's `default_command`.
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// A host (id or name) of the gateway's org; else the gateway's host.
    #[serde(default)]
    pub host: Option<String>,
}

/// What a delivery became.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Delivered {
    /// The first task made (a generic ticket makes one).
    pub task: Option<String>,
    /// Every task made, in the delivery's order.
    pub tasks: Vec<String>,
    /// Tickets already made into tasks by an earlier delivery: those tasks.
    pub duplicates: Vec<String>,
    /// Tickets that made no task, and why (a blacklist, no command, no host).
    pub refused: Vec<Refused>,
    /// Why the delivery holds no ticket at all (a ping, a resolved alert,
    /// an event the source type does not turn into tasks).
    pub ignored: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Refused {
    pub title: String,
    pub why: String,
}

/// The headers a delivery proves itself with and names itself by.
#[derive(Debug, Default)]
pub struct Proof<'a> {
    /// `Authorization: Bearer …` or `X-Gateway-Secret`.
    pub bearer: Option<&'a str>,
    /// `X-Hub-Signature-256`.
    pub github_signature: Option<&'a str>,
    /// `X-GitHub-Event`.
    pub github_event: Option<&'a str>,
    /// `X-GitHub-Delivery`.
    pub github_delivery: Option<&'a str>,
    /// `X-PagerDuty-Signature`.
    pub pagerduty_signature: Option<&'a str>,
}

/// `POST /api/v1/gateways/{id}/rotate`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// How long the replaced secret stays valid (0 to 604,800 seconds;
    /// default 0: it stops at once).
    #[serde(default)]
    pub grace_seconds: Option<i64>,
    /// The new secret, when the source makes it (PagerDuty shows its
    /// signing secret when a subscription is made); else one is issued.
    #[serde(default)]
    pub secret: Option<String>,
}

/// Sources whose deliveries hold several tickets: one refused is listed,
/// the others still made.
const BATCHES: &[&str] = &["alertmanager", "github", "pagerduty"];

/// One ticket read from a delivery.
struct Ask {
    title: String,
    command: Option<String>,
    host: Option<String>,
    /// Names the delivery, so a resend makes no second task.
    key: Option<String>,
}

/// A stored gateway secret: sealed (the text, encrypted), or the hash
/// gateways kept before they took signatures (a bearer token only).
enum Stored {
    Text(zeroize::Zeroizing<String>),
    Hash(String),
}

fn stored(master_key: &MasterKey, gateway: &str, value: &str) -> Result<Stored> {
    if value.len() == 64 {
        return Ok(Stored::Hash(value.to_owned()));
    }
    master_key
        .open(value, gateway)
        .map(Stored::Text)
        .map_err(|e| Error::Internal(format!("gateway {gateway}: {e}")))
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    crate::secrets::hex(&mac.finalize().into_bytes())
}

/// Does the delivery prove one of `secrets` the way `source` proves things?
fn proven(source: &str, secrets: &[Stored], proof: &Proof<'_>, body: &[u8]) -> bool {
    match source {
        "github" => {
            let Some(given) = proof
                .github_signature
                .and_then(|s| s.trim().strip_prefix("sha256="))
            else {
                return false;
            };
            secrets.iter().any(|s| match s {
                Stored::Text(key) => ct_eq(hmac_hex(key, body).as_bytes(), given.as_bytes()),
                Stored::Hash(_) => false,
            })
        }
        "pagerduty" => {
            let given: Vec<&str> = proof
                .pagerduty_signature
                .unwrap_or_default()
                .split(',')
                .filter_map(|s| s.trim().strip_prefix("v1="))
                .collect();
            secrets.iter().any(|s| match s {
                Stored::Text(key) => {
                    let want = hmac_hex(key, body);
                    given.iter().any(|g| ct_eq(want.as_bytes(), g.as_bytes()))
                }
                Stored::Hash(_) => false,
            })
        }
        // generic and alertmanager: the secret itself, as a bearer token.
        _ => {
            let Some(given) = proof.bearer else {
                return false;
            };
            secrets.iter().any(|s| match s {
                Stored::Text(t) => ct_eq(t.as_bytes(), given.as_bytes()),
                Stored::Hash(h) => ct_eq(hash_secret(given).as_bytes(), h.as_bytes()),
            })
        }
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The tickets of a delivery, by its source's payload; `Err(why)` when the
/// delivery holds none.
fn tickets(
    source: &str,
    proof: &Proof<'_>,
    body: &Value,
) -> Result<std::result::Result<Vec<Ask>, String>> {
    Ok(Ok(match source {
        "alertmanager" => {
            let Some(alerts) = body["alerts"].as_array() else {
                return Err(Error::Invalid(
                    "alerts: an Alertmanager webhook carries a list of alerts".into(),
                ));
            };
            let firing: Vec<Ask> = alerts
                .iter()
                .filter(|a| a["status"] == "firing")
                .map(|a| {
                    let (labels, notes) = (&a["labels"], &a["annotations"]);
                    let name = text(&labels["alertname"]).unwrap_or_else(|| "alert".into());
                    Ask {
                        title: match text(&notes["summary"]) {
                            Some(summary) => format!("{name}: {summary}"),
                            None => name,
                        },
                        command: text(&notes["command"]).or_else(|| text(&labels["command"])),
                        host: text(&labels["host"]).or_else(|| text(&notes["host"])),
                        key: text(&a["fingerprint"]).map(|f| {
                            format!("alert:{f}:{}", a["startsAt"].as_str().unwrap_or_default())
                        }),
                    }
                })
                .collect();
            if firing.is_empty() {
                return Ok(Err("no firing alert (resolved alerts make no task)".into()));
            }
            firing
        }
        "github" => match proof.github_event.unwrap_or_default() {
            "ping" => return Ok(Err("ping: the gateway is reachable".into())),
            "issues" if matches!(body["action"].as_str(), Some("opened" | "reopened")) => {
                let issue = &body["issue"];
                vec![Ask {
                    title: format!(
                        "{}#{}: {}",
                        body["repository"]["full_name"].as_str().unwrap_or_default(),
                        issue["number"],
                        issue["title"].as_str().unwrap_or_default()
                    ),
                    command: None,
                    host: None,
                    key: proof.github_delivery.map(|d| format!("github:{d}")),
                }]
            }
            other => {
                return Ok(Err(format!(
                    "GitHub event '{other}' ({}) makes no task: issues opened or reopened do",
                    body["action"].as_str().unwrap_or("no action")
                )));
            }
        },
        "pagerduty" => {
            let event = &body["event"];
            match event["event_type"].as_str().unwrap_or_default() {
                "incident.triggered" | "incident.reopened" => vec![Ask {
                    title: format!(
                        "PagerDuty #{}: {}",
                        event["data"]["number"],
                        event["data"]["title"].as_str().unwrap_or_default()
                    ),
                    command: None,
                    host: None,
                    key: text(&event["id"]).map(|id| format!("pagerduty:{id}")),
                }],
                other => {
                    return Ok(Err(format!(
                        "PagerDuty event '{other}' makes no task: incident.triggered and incident.reopened do"
                    )));
                }
            }
        }
        _ => {
            let ticket: Ticket = serde_json::from_value(body.clone())
                .map_err(|e| Error::Invalid(format!("the ticket does not fit: {e}")))?;
            vec![Ask {
                title: ticket.title.unwrap_or_else(|| "ticket".into()),
                command: ticket.command.filter(|c| !c.trim().is_empty()),
                host: ticket.host,
                key: None,
            }]
        }
    }))
}

/// A delivery to a gateway's webhook. Runs before any principal: the
/// gateway's secret, proven as its source proves it, is the authority.
pub async fn deliver(env: &Env<'_>, id: &str, proof: &Proof<'_>, body: &[u8]) -> Result<Delivered> {
    let mut tx = env.store.write().await?;
    let gateway = match tx.resource_for_hook(id).await {
        Ok(g) => g,
        Err(StoreError::NotFound) => return Err(Error::Unauthorized),
        Err(e) => return Err(e.into()),
    };
    let fields: Value = serde_json::from_str(&gateway.fields).unwrap_or_default();
    let source = fields["type"].as_str().unwrap_or("generic").to_owned();
    let mut secrets = Vec::new();
    for s in gateway
        .secret
        .iter()
        .cloned()
        .chain(tx.gateway_old_secrets(id, &orgscope_store::now()).await?)
    {
        secrets.push(stored(env.master_key, id, &s)?);
    }
    if !proven(&source, &secrets, proof, body) {
        return Err(Error::Unauthorized);
    }
    // Read only once the proof has admitted the sender.
    let raw: Value = serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(format!("the delivery is not a JSON object: {e}")))?;
    crate::input::refuse_nul(&raw, "")?;
    let asks = match tickets(&source, proof, &raw)? {
        Ok(asks) => asks,
        Err(why) => {
            return Ok(Delivered {
                ignored: Some(why),
                ..Delivered::default()
            });
        }
    };
    let mut out = Delivered::default();
    for ask in asks {
        let title = ask.title.chars().take(200).collect::<String>();
        if let Some(key) = &ask.key
            && let Some(task) = tx.gateway_ticket(id, key).await?
        {
            out.duplicates.push(task);
            continue;
        }
        match make(&mut tx, &gateway, &fields, &ask, &title).await {
            Ok(task) => {
                if let Some(key) = &ask.key {
                    tx.gateway_ticket_keep(id, key, &task).await?;
                }
                out.tasks.push(task);
            }
            // A generic ticket is one request: its refusal is the answer.
            Err(e) if !BATCHES.contains(&source.as_str()) => return Err(e),
            Err(Error::Invalid(why)) => {
                out.refused.push(Refused { title, why });
            }
            Err(e) => return Err(e),
        }
    }
    tx.commit().await?;
    out.task = out.tasks.first().cloned();
    Ok(out)
}

/// One ticket's task: its command (or the gateway's default), its host (a
/// host of the gateway's org, by id or name, or the gateway's).
async fn make(
    tx: &mut Tx,
    gateway: &ResourceRow,
    fields: &Value,
    ask: &Ask,
    title: &str,
) -> Result<String> {
    let org = gateway.org_id.clone().ok_or(Error::Unauthorized)?;
    let Some(command) = ask
        .command
        .clone()
        .or_else(|| text(&fields["default_command"]))
    else {
        return Err(Error::Invalid(
            "command: the ticket carries none and the gateway has no default_command".into(),
        ));
    };
    let host = match ask.host.as_deref().or(fields["host"].as_str()) {
        Some(h) => h.to_owned(),
        None => {
            return Err(Error::Invalid(
                "host: the ticket names no host and the gateway has none".into(),
            ));
        }
    };
    // The gateway's secret authorized this: its own org and tenant-wide.
    let filter = policy::system_filter(
        &gateway.tenant(),
        Some(&OrgId::from(&org)),
        SystemRead::Webhook,
    );
    let host_row = match tx.resource("host", &filter, &host).await {
        Ok(h) => Some(h),
        Err(StoreError::NotFound) => {
            crate::agents::in_force(tx, &gateway.tenant_id, Some(&org), "host")
                .await?
                .into_iter()
                .find(|h| h.name == host)
        }
        Err(e) => return Err(e.into()),
    };
    let host_row = host_row
        .filter(|h| h.org_id.as_deref() == Some(org.as_str()))
        .ok_or_else(|| Error::Invalid(format!("host: no host '{host}' in the gateway's org")))?;
    make_task(
        tx,
        &gateway.tenant_id,
        &org,
        title,
        fields["agent"].as_str().unwrap_or_default(),
        &host_row.id,
        command.trim(),
        &gateway.id,
    )
    .await
}

/// Forgets delivery keys after a week, and secrets past their grace.
pub async fn prune(store: &orgscope_store::Store) -> Result<()> {
    let week_ago =
        orgscope_core::format_time(time::OffsetDateTime::now_utc() - time::Duration::days(7));
    let mut tx = store.write().await?;
    tx.gateway_prune(&week_ago, &orgscope_store::now()).await?;
    tx.commit().await?;
    Ok(())
}

/// A ticket gateway's new secret, shown this once: issued, or the one its
/// source made (`secret`). The replaced one stays valid `grace_seconds`.
pub async fn rotate(env: &Env<'_>, auth: &Caller, id: &str, input: &Rotation) -> Result<Value> {
    let grace = input.grace_seconds.unwrap_or(0);
    if !(0..=604_800).contains(&grace) {
        return Err(Error::Invalid(format!(
            "grace_seconds: {grace} is not between 0 and 604800 (a week)"
        )));
    }
    let token = match &input.secret {
        Some(s) if (16..=500).contains(&s.len()) && !s.chars().any(char::is_control) => s.clone(),
        Some(_) => {
            return Err(Error::Invalid(
                "secret: 16 to 500 characters, no control characters".into(),
            ));
        }
        None => new_secret("osg_"),
    };
    let kind = orgscope_core::kind::by_name("gateway").expect("gateways are kinds");
    let mut tx = env.store.write().await?;
    let row = writable(&mut tx, kind, auth, id).await?;
    if let Some(old) = row.secret.as_deref().filter(|_| grace > 0) {
        let until = orgscope_core::format_time(
            time::OffsetDateTime::now_utc() + time::Duration::seconds(grace),
        );
        tx.gateway_old_secret_keep(id, old, &until).await?;
    }
    let sealed = env.master_key.seal(&token, id).map_err(Error::Internal)?;
    tx.resource_update(
        id,
        &row.name,
        row.org_id.as_deref(),
        &row.fields,
        Some(&sealed),
    )
    .await?;
    audit(
        &mut tx,
        auth,
        Some(&row.tenant_id),
        Change {
            action: "gateway.rotate",
            kind: "gateway",
            target: id,
            org: row.org_id.as_deref(),
            before: None,
            after: Some(json!({"grace_seconds": grace, "given": input.secret.is_some()})),
        },
    )
    .await?;
    tx.commit().await?;
    let mut out = render(kind, &row);
    out["token"] = json!(token);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn githubs_documented_signature() {
        // From GitHub's "Validating webhook deliveries".
        assert_eq!(
            hmac_hex("It's a Secret to Everybody", b"Hello, World!"),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }
}
