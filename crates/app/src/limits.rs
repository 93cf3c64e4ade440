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
    // The estimate `t` seconds from now, if nothing more is counted: in
    // this window the previous one's count weighs by its overlap, in the
    // next this one's does. Rounded up, so a burst that straddles a
    // boundary counts whole until a whole attempt has slid out.
    let weighed = |count: i64, overlap: i64| (count * overlap.max(0) + seconds - 1) / seconds;
    let over = |t: i64| {
        let estimate = if t < left {
            weighed(previous, left - t) + current
        } else {
            weighed(current, left + seconds - t)
        };
        estimate >= budget
    };
    if !over(0) {
        return Ok(());
    }
    // Refused: the wait until the estimate falls under the budget.
    let wait = (1..=left + seconds)
        .find(|&t| !over(t))
        .unwrap_or(left + seconds);
    Err(u64::try_from(wait).unwrap_or(1))
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
        let key = format!("u:{user}");
        let now = unix_now();
        let start = window_start(now, self.window);
        let (previous, current) = store.limit_counts(&key, start, self.window).await?;
        let mut answer = estimate(now, self.window, (previous, current), self.per_user)
            .map_err(Error::TooManyRequests);
        if answer.is_ok() {
            // The attempt counts before its password is checked, so guesses
            // sent at once (to any replica) cannot all pass the check above;
            // a success clears the count.
            let current = store.limit_hit(&key, start, self.window).await?;
            answer = estimate(now, self.window, (previous, current), self.per_user + 1)
                .map_err(Error::TooManyRequests);
        }
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

    /// A failed sign-in from `address` (the user's count took the attempt
    /// in `check_user`).
    pub async fn failed(&self, store: &Store, address: &str) -> Result<()> {
        self.failed_total.fetch_add(1, Ordering::Relaxed);
        let start = window_start(unix_now(), self.window);
        store
            .limit_hit(&format!("a:{address}"), start, self.window)
            .await?;
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
        // 10 failures late in one window count whole until a whole one has
        // slid out of the last 300 s (10 x 270/300 = 9).
        assert!(estimate(300, 300, (10, 0), 10).is_err());
        assert!(estimate(329, 300, (10, 0), 10).is_err());
        assert!(estimate(330, 300, (10, 0), 10).is_ok());
        // Half a window on, half of them remain.
        assert!(estimate(450, 300, (10, 4), 10).is_ok());
        assert!(estimate(450, 300, (10, 5), 10).is_err());
        // A window with nothing before it is a plain count.
        assert_eq!(estimate(10, 60, (0, 2), 3), Ok(()));
        assert_eq!(estimate(10, 60, (0, 3), 3), Err(70));
    }

    #[test]
    fn the_wait_is_until_the_estimate_falls_under_the_budget() {
        // At the budget just now: only once the next window has begun and
        // this one's weight has dropped below it.
        assert_eq!(estimate(10, 300, (0, 10), 10), Err(320));
        // Far over: well into the next window.
        assert_eq!(estimate(10, 300, (0, 20), 10), Err(455));
        // Over only through the previous window: within this one.
        assert_eq!(estimate(300, 300, (10, 0), 10), Err(30));
        assert_eq!(estimate(301, 300, (20, 0), 10), Err(164));
    }
}
