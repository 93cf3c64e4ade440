//! Counts behind the limits that guard security: failed sign-ins and
//! consumer keys' rate. They live in the database, not in a process, so
//! replicas behind a load balancer share one count (spreading requests over
//! them gains an attacker nothing). Each is a single autocommit statement on
//! the pool: no transaction to hold, and nothing here is scoped data.

use crate::sql::Sql;
use crate::{Ctx, Result, Store};

/// A fixed window of `seconds` that `now` (Unix seconds) falls in: its start.
#[must_use]
pub fn window_start(now: i64, seconds: i64) -> i64 {
    now - now.rem_euclid(seconds)
}

impl Store {
    /// Counts one event for `key` in the window starting at `window_start`
    /// and answers the window's count with it.
    pub async fn limit_hit(&self, key: &str, window_start: i64, seconds: i64) -> Result<i64> {
        let mut sql =
            Sql::new("INSERT INTO limit_counts (key, window_start, count, expires_at) VALUES (");
        sql.arg(key)
            .push(", ")
            .arg(window_start)
            .push(", 1, ")
            // The count is still read as the previous window during the next.
            .arg(window_start + 2 * seconds)
            .push(
                ") ON CONFLICT (key, window_start) DO UPDATE SET count = limit_counts.count + 1 RETURNING count",
            );
        let (count,): (i64,) = sql.query_as().fetch_one(self.pool()).await.ctx()?;
        Ok(count)
    }

    /// `key`'s counts in the window before the one starting at
    /// `window_start` and in that one: (previous, current), 0 where none.
    pub async fn limit_counts(
        &self,
        key: &str,
        window_start: i64,
        seconds: i64,
    ) -> Result<(i64, i64)> {
        let mut sql = Sql::new("SELECT window_start, count FROM limit_counts WHERE key = ");
        sql.arg(key)
            .push(" AND window_start IN (")
            .arg(window_start - seconds)
            .push(", ")
            .arg(window_start)
            .push(")");
        let rows: Vec<(i64, i64)> = sql.query_as().fetch_all(self.pool()).await.ctx()?;
        let of = |start: i64| {
            rows.iter()
                .find(|(s, _)| *s == start)
                .map_or(0, |(_, n)| *n)
        };
        Ok((of(window_start - seconds), of(window_start)))
    }

    /// Forgets `key`'s counts (a successful sign-in clears its failures).
    pub async fn limit_clear(&self, key: &str) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM limit_counts WHERE key = ");
        sql.arg(key);
        sql.query().execute(self.pool()).await.ctx()?;
        Ok(())
    }

    /// Removes windows that ended before `now`; answers how many.
    pub async fn limit_prune(&self, now: i64) -> Result<u64> {
        let mut sql = Sql::new("DELETE FROM limit_counts WHERE expires_at < ");
        sql.arg(now);
        Ok(sql
            .query()
            .execute(self.pool())
            .await
            .ctx()?
            .rows_affected())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn windows_start_on_their_boundary() {
        assert_eq!(super::window_start(125, 60), 120);
        assert_eq!(super::window_start(120, 60), 120);
        assert_eq!(super::window_start(1_700_000_299, 300), 1_700_000_100);
    }
}
