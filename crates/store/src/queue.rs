//! Task queues and job schedules: the rows that replicas race for, decided
//! by conditional updates in the database (no other coordinator).

use sqlx::FromRow;

use crate::sql::Sql;
use crate::{Result, Tx, now};

#[derive(Clone, Debug, FromRow)]
pub struct TaskState {
    pub id: String,
    pub agent_id: String,
    pub status: String,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<String>,
    pub finished_at: Option<String>,
    pub output: Option<String>,
    pub exit_code: Option<i64>,
    /// How many times it was claimed.
    pub attempts: i64,
    /// When a running task's claim lapses unless its agent reports.
    pub lease_until: Option<String>,
}

/// A running task whose lease ran out, as the sweep found it.
#[derive(Clone, Debug, FromRow)]
pub struct LapsedLease {
    pub id: String,
    pub lease_until: String,
    pub attempts: i64,
}

impl Tx {
    pub async fn task_enqueue(&mut self, id: &str, agent: &str) -> Result<()> {
        let mut sql = Sql::new("INSERT INTO task_queue (id, agent_id, status) VALUES (");
        sql.arg(id).push(", ").arg(agent).push(", 'queued')");
        self.exec(&sql).await?;
        Ok(())
    }

    /// The queue state of a task (the task was read through the filter).
    pub async fn task_state(&mut self, id: &str) -> Result<TaskState> {
        let mut sql = Sql::new(
            "SELECT id, agent_id, status, claimed_by, claimed_at, finished_at, output, exit_code, attempts, lease_until FROM task_queue WHERE id = ",
        );
        sql.arg(id);
        self.one(&sql).await
    }

    /// Takes the oldest queued task of an agent for `claimant` until
    /// `lease_until`; `None` when there is none. Two claimants never get the
    /// same task: the update only succeeds while the task is still queued,
    /// and a loser tries the next.
    pub async fn task_claim(
        &mut self,
        agent: &str,
        claimant: &str,
        lease_until: &str,
    ) -> Result<Option<String>> {
        for _ in 0..8 {
            let mut sql = Sql::new("SELECT id FROM task_queue WHERE agent_id = ");
            sql.arg(agent)
                .push(" AND status = 'queued' ORDER BY id LIMIT 1");
            let next: Vec<(String,)> = self.all(&sql).await?;
            let Some((id,)) = next.into_iter().next() else {
                return Ok(None);
            };
            let mut sql = Sql::new("UPDATE task_queue SET status = 'running', claimed_by = ");
            sql.arg(claimant)
                .push(", claimed_at = ")
                .arg(now())
                .push(", attempts = attempts + 1, lease_until = ")
                .arg(lease_until)
                .push(" WHERE id = ")
                .arg(id.as_str())
                .push(" AND status = 'queued'");
            if self.exec(&sql).await? == 1 {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Records a task's outcome.
    pub async fn task_finish(
        &mut self,
        id: &str,
        status: &str,
        output: &str,
        exit_code: Option<i64>,
    ) -> Result<()> {
        let mut sql = Sql::new("UPDATE task_queue SET status = ");
        sql.arg(status)
            .push(", output = ")
            .arg(output)
            .push(", exit_code = ")
            .arg(exit_code)
            .push(", finished_at = ")
            .arg(now())
            .push(", lease_until = NULL WHERE id = ")
            .arg(id);
        self.exec(&sql).await?;
        Ok(())
    }

    /// Moves a task from one of `from` to `to` (queued again: unclaimed;
    /// ended: finished now); false when it was in none of them (another
    /// writer got there first).
    pub async fn task_move(
        &mut self,
        id: &str,
        from: &[&str],
        to: &str,
        reset_attempts: bool,
    ) -> Result<bool> {
        let mut sql = Sql::new("UPDATE task_queue SET status = ");
        sql.arg(to).push(", lease_until = NULL");
        if to == "queued" {
            sql.push(", claimed_by = NULL, claimed_at = NULL, finished_at = NULL, output = NULL, exit_code = NULL");
        } else {
            sql.push(", finished_at = ").arg(now());
        }
        if reset_attempts {
            sql.push(", attempts = 0");
        }
        sql.push(" WHERE id = ").arg(id).push(" AND status IN (");
        for (i, s) in from.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.arg(*s);
        }
        sql.push(")");
        Ok(self.exec(&sql).await? == 1)
    }

    /// Extends the lease of a task that `claimant` holds and is running.
    pub async fn task_extend(&mut self, id: &str, claimant: &str, until: &str) -> Result<bool> {
        let mut sql = Sql::new("UPDATE task_queue SET lease_until = ");
        sql.arg(until)
            .push(" WHERE id = ")
            .arg(id)
            .push(" AND status = 'running' AND claimed_by = ")
            .arg(claimant);
        Ok(self.exec(&sql).await? == 1)
    }

    /// Running tasks whose lease ended before `now` (the sweep acts for the
    /// server: no principal).
    pub async fn tasks_lapsed_for_sweep(
        &mut self,
        now: &str,
        limit: i64,
    ) -> Result<Vec<LapsedLease>> {
        let mut sql = Sql::new(
            "SELECT id, lease_until, attempts FROM task_queue WHERE status = 'running' AND lease_until < ",
        );
        sql.arg(now).push(" ORDER BY lease_until").limit(limit);
        self.all(&sql).await
    }

    /// Ends a lapsed lease: back to the queue, or `failed` with `why` once
    /// the task used its attempts. Conditional on the lease the sweep saw,
    /// so of several replicas one acts and a report that came in first wins.
    pub async fn task_lapse(&mut self, lapsed: &LapsedLease, fail: Option<&str>) -> Result<bool> {
        let mut sql = Sql::new("UPDATE task_queue SET lease_until = NULL, ");
        match fail {
            None => sql.push("status = 'queued', claimed_by = NULL, claimed_at = NULL"),
            Some(why) => sql
                .push("status = 'failed', output = ")
                .arg(why)
                .push(", finished_at = ")
                .arg(now()),
        };
        sql.push(" WHERE id = ")
            .arg(lapsed.id.as_str())
            .push(" AND status = 'running' AND lease_until = ")
            .arg(lapsed.lease_until.as_str());
        Ok(self.exec(&sql).await? == 1)
    }

    /// Sets when a job fires next (`None`: never, it is disabled).
    pub async fn job_schedule_set(&mut self, id: &str, next_at: Option<&str>) -> Result<()> {
        let mut sql = Sql::new("INSERT INTO job_schedule (id, next_at) VALUES (");
        sql.arg(id)
            .push(", ")
            .arg(next_at)
            .push(") ON CONFLICT (id) DO UPDATE SET next_at = excluded.next_at");
        self.exec(&sql).await?;
        Ok(())
    }

    /// When a job fires next and when it last fired (the job was read
    /// through the filter).
    pub async fn job_schedule_of(&mut self, id: &str) -> Result<(Option<String>, Option<String>)> {
        let mut sql = Sql::new("SELECT next_at, last_at FROM job_schedule WHERE id = ");
        sql.arg(id);
        let rows: Vec<(Option<String>, Option<String>)> = self.all(&sql).await?;
        Ok(rows.into_iter().next().unwrap_or((None, None)))
    }

    /// Jobs due at `now` (scheduler: it acts for the server, not a principal).
    pub async fn jobs_due_for_scheduler(
        &mut self,
        now: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        let mut sql = Sql::new(
            "SELECT id, next_at FROM job_schedule WHERE next_at IS NOT NULL AND next_at <= ",
        );
        sql.arg(now).push(" ORDER BY next_at").limit(limit);
        self.all(&sql).await
    }

    /// Moves a job's next firing from `from` to `to`; true for the one
    /// replica that did it (the firing is then that replica's to make).
    pub async fn job_advance(&mut self, id: &str, from: &str, to: Option<&str>) -> Result<bool> {
        let mut sql = Sql::new("UPDATE job_schedule SET next_at = ");
        sql.arg(to)
            .push(", last_at = ")
            .arg(from)
            .push(" WHERE id = ")
            .arg(id)
            .push(" AND next_at = ")
            .arg(from);
        Ok(self.exec(&sql).await? == 1)
    }
}

impl Tx {
    /// A ticket gateway's earlier secrets still in their grace period (the
    /// gateway was found by id for its webhook: no principal yet).
    pub async fn gateway_old_secrets(&mut self, gateway: &str, now: &str) -> Result<Vec<String>> {
        let mut sql = Sql::new("SELECT secret FROM gateway_old_secrets WHERE gateway_id = ");
        sql.arg(gateway).push(" AND valid_until > ").arg(now);
        let rows: Vec<(String,)> = self.all(&sql).await?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }

    /// Keeps a gateway's replaced secret valid until `until`.
    pub async fn gateway_old_secret_keep(
        &mut self,
        gateway: &str,
        secret: &str,
        until: &str,
    ) -> Result<()> {
        let mut sql =
            Sql::new("INSERT INTO gateway_old_secrets (gateway_id, secret, valid_until) VALUES (");
        sql.arg(gateway)
            .push(", ")
            .arg(secret)
            .push(", ")
            .arg(until)
            .push(")");
        self.exec(&sql).await?;
        Ok(())
    }

    /// The task a gateway already made of the delivery `key`, if any.
    pub async fn gateway_ticket(&mut self, gateway: &str, key: &str) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT task_id FROM gateway_tickets WHERE gateway_id = ");
        sql.arg(gateway).push(" AND key = ").arg(key);
        let rows: Vec<(String,)> = self.all(&sql).await?;
        Ok(rows.into_iter().next().map(|(t,)| t))
    }

    pub async fn gateway_ticket_keep(
        &mut self,
        gateway: &str,
        key: &str,
        task: &str,
    ) -> Result<()> {
        let mut sql =
            Sql::new("INSERT INTO gateway_tickets (gateway_id, key, task_id, at) VALUES (");
        sql.arg(gateway)
            .push(", ")
            .arg(key)
            .push(", ")
            .arg(task)
            .push(", ")
            .arg(now())
            .push(")");
        self.exec(&sql).await?;
        Ok(())
    }

    /// Forgets delivery keys older than `before` and secrets past their grace.
    pub async fn gateway_prune(&mut self, before: &str, now: &str) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM gateway_tickets WHERE at < ");
        sql.arg(before);
        self.exec(&sql).await?;
        let mut sql = Sql::new("DELETE FROM gateway_old_secrets WHERE valid_until <= ");
        sql.arg(now);
        self.exec(&sql).await?;
        Ok(())
    }

    /// A gateway by id, for its webhook (the caller then checks the
    /// gateway's own secret: there is no principal before that).
    pub async fn resource_for_hook(&mut self, id: &str) -> Result<crate::ResourceRow> {
        self.resource_of_kind_unscoped("gateway", id).await
    }

    /// A task by id, for the lease sweep (it acts for the server itself).
    pub async fn resource_for_sweep(&mut self, id: &str) -> Result<crate::ResourceRow> {
        self.resource_of_kind_unscoped("task", id).await
    }

    /// A job by id, for the scheduler (it acts for the server itself).
    pub async fn resource_for_scheduler(&mut self, id: &str) -> Result<crate::ResourceRow> {
        self.resource_of_kind_unscoped("job", id).await
    }

    /// Unscoped on purpose, and private: only the callers above, which
    /// run before any principal exists, may read a resource without a filter.
    async fn resource_of_kind_unscoped(
        &mut self,
        kind: &str,
        id: &str,
    ) -> Result<crate::ResourceRow> {
        let mut sql = Sql::new(&format!(
            "SELECT {} FROM resources r LEFT JOIN orgs o ON o.id = r.org_id WHERE ",
            crate::RESOURCE_COLUMNS
        ));
        sql.eq_word("r.kind", kind).push(" AND r.id = ").arg(id);
        self.one(&sql).await
    }
}
