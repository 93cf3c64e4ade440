//! Agent infrastructure's rules that travel with work: the blacklists and
//! operational rules in force in an org, job schedules, a task's state.

use std::str::FromStr;

use orgscope_core::pattern::Pattern;
use orgscope_core::policy::{self, OrgSelector, SystemRead};
use orgscope_store::{Page, Tx};
use serde_json::{Value, json};

use crate::{Error, Result};

/// Every resource of a kind in force in an org: the org's and tenant-wide ones.
pub async fn in_force(
    tx: &mut Tx,
    tenant: &str,
    org: Option<&str>,
    kind: &str,
) -> Result<Vec<orgscope_store::ResourceRow>> {
    // What is in force applies to whoever acts in the org.
    let filter = policy::system_filter(tenant, None, SystemRead::InForce);
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
}
