//! Limits that guard sign-in. Counted in the database (store `limit_counts`),
//! so replicas behind a load balancer share one budget; see DECISIONS
//! (limits across replicas).

use std::sync::atomic::{AtomicU64, Ordering};

use orgscope_store::{Store, window_start};

use crate::{Error, Result};

/// Failed-login counting per key (a username, an address) in fixed windows.
/// The counts are shared; only the totals for /metrics are this process's.
pub struct LoginLimiter {
    window: i64,
    per_user: i64,
    per_address: i64,
    /// Since start, for /metrics: wrong credentials, and sign-ins refused
    /// before the password because the username was locked.
    failed_total: AtomicU64,
    locked_total: AtomicU64,
}

/// What the limiter saw since the process started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginCounts {
    /// Wrong password, unknown or disabled user.
    pub failed: u64,
    /// Refused with 429 before the password was checked.
    pub locked: u64,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            window: 300,
            per_user: 10,
            per_address: 50,
            failed_total: AtomicU64::new(0),
            locked_total: AtomicU64::new(0),
        }
    }
}

/// Unix seconds now.
#[must_use]
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A sliding window over two fixed ones: the previous window's count
/// weighs by how much of it still overlaps the last `seconds`, so a burst
/// that straddles a boundary is counted whole (no reset at the boundary).
/// `Err(seconds to wait)` once the estimate reaches `budget`.
fn estimate(
    now: i64,
    seconds: i64,
    (previous, current): (i64, i64),
    budget: i64,
) -> std::result::Result<(), u64> {
    let start = window_start(now, seconds);
    let left = start + seconds - now;
    // previous * left / seconds + current >= budget, in integers.
    if previous * left + current * seconds >= budget * seconds {
        return Err(u64::try_from(left).unwrap_or(1).max(1));
    }
    Ok(())
}

impl LoginLimiter {
    /// `Error::TooManyRequests(seconds)` while `key`'s budget is spent.
    async fn over(&self, store: &Store, key: &str, budget: i64) -> Result<()> {
        let now = unix_now();
        let counts = store
            .limit_counts(key, window_start(now, self.window), self.window)
            .await?;
        estimate(now, self.window, counts, budget).map_err(Error::TooManyRequests)
    }

    /// Refused while `user` (tenant and username) is locked: its own
    /// failures, from anywhere, spent its budget. Asked before the password.
    pub async fn check_user(&self, store: &Store, user: &str) -> Result<()> {
        let answer = self.over(store, &format!("u:{user}"), self.per_user).await;
        if matches!(answer, Err(Error::TooManyRequests(_))) {
            self.locked_total.fetch_add(1, Ordering::Relaxed);
        }
        answer
    }

    /// Refused while `address` has spent its budget of failures. Asked
    /// after a *failed* attempt only: it turns that address's failures into
    /// 429s, and never refuses a correct password for a username that is
    /// not itself locked (behind a shared address, others' failures lock
    /// nobody out).
    pub async fn check_address(&self, store: &Store, address: &str) -> Result<()> {
        self.over(store, &format!("a:{address}"), self.per_address)
            .await
    }

    pub async fn failed(&self, store: &Store, user: &str, address: &str) -> Result<()> {
        self.failed_total.fetch_add(1, Ordering::Relaxed);
        let start = window_start(unix_now(), self.window);
        for key in [format!("u:{user}"), format!("a:{address}")] {
            store.limit_hit(&key, start, self.window).await?;
        }
        Ok(())
    }

    #[must_use]
    pub fn counts(&self) -> LoginCounts {
        LoginCounts {
            failed: self.failed_total.load(Ordering::Relaxed),
            locked: self.locked_total.load(Ordering::Relaxed),
        }
    }

    pub async fn succeeded(&self, store: &Store, user: &str) -> Result<()> {
        Ok(store.limit_clear(&format!("u:{user}")).await?)
    }
}

/// A consumer key's rate: `Err(seconds to wait)` once it has made more
/// than `per_minute` requests in the last minute (sliding, see
/// [`estimate`]), counted across replicas. Refused requests count too.
pub async fn admit_rate(
    store: &Store,
    key: &str,
    per_minute: u64,
) -> Result<std::result::Result<(), u64>> {
    let now = unix_now();
    let start = window_start(now, 60);
    let key = format!("r:{key}");
    store.limit_hit(&key, start, 60).await?;
    let counts = store.limit_counts(&key, start, 60).await?;
    // This request is in `current`: over the limit means more than it.
    let budget = i64::try_from(per_minute).unwrap_or(i64::MAX - 1) + 1;
    Ok(estimate(now, 60, counts, budget))
}

/// Forgets windows that have ended (the scheduler calls it each tick).
pub async fn prune(store: &Store) -> Result<()> {
    store.limit_prune(unix_now()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::estimate;

    #[test]
    fn the_window_slides_across_its_boundary() {
        // 10 failures late in one window still count just after it ends.
        assert!(estimate(301, 300, (10, 0), 10).is_err());
        // Half a window on, half of them remain.
        assert!(estimate(450, 300, (10, 4), 10).is_ok());
        assert!(estimate(450, 300, (10, 5), 10).is_err());
        // A window with nothing before it is a plain count.
        assert_eq!(estimate(10, 60, (0, 2), 3), Ok(()));
        assert_eq!(estimate(10, 60, (0, 3), 3), Err(50));
    }
}
