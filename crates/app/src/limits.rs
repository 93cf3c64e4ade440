//! Limits that guard sign-in. In memory (see DECISIONS: keys and tokens).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Failed-login counting per key (a username, an address), in memory.
/// Each replica counts on its own: behind a load balancer with N replicas an
/// attacker gets at most N times the budget, which stays small.
pub struct LoginLimiter {
    window: Duration,
    per_user: u32,
    per_address: u32,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
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
            window: Duration::from_secs(300),
            per_user: 10,
            per_address: 50,
            failures: Mutex::new(HashMap::new()),
            failed_total: AtomicU64::new(0),
            locked_total: AtomicU64::new(0),
        }
    }
}

impl LoginLimiter {
    /// `Err(seconds)` while `key`'s budget is spent.
    fn over(&self, key: &str, budget: u32) -> Result<(), u64> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some((n, since)) = map.get(key) {
            let age = now.duration_since(*since);
            if age < self.window && *n >= budget {
                return Err((self.window - age).as_secs().max(1));
            }
        }
        Ok(())
    }

    /// `Err(seconds)` while `user` (tenant and username) is locked: its own
    /// failures, from anywhere, spent its budget. Asked before the password.
    pub fn check_user(&self, user: &str) -> Result<(), u64> {
        let answer = self.over(&format!("u:{user}"), self.per_user);
        if answer.is_err() {
            self.locked_total.fetch_add(1, Ordering::Relaxed);
        }
        answer
    }

    /// `Err(seconds)` while `address` has spent its budget of failures. Asked
    /// after a *failed* attempt only: it turns that address's failures into
    /// 429s, and never refuses a correct password for a username that is
    /// not itself locked (behind a shared address, others' failures lock
    /// nobody out).
    pub fn check_address(&self, address: &str) -> Result<(), u64> {
        self.over(&format!("a:{address}"), self.per_address)
    }

    pub fn failed(&self, user: &str, address: &str) {
        self.failed_total.fetch_add(1, Ordering::Relaxed);
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| now.duration_since(*since) < self.window);
        }
        for key in [format!("u:{user}"), format!("a:{address}")] {
            let entry = map.entry(key).or_insert((0, now));
            if now.duration_since(entry.1) >= self.window {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    #[must_use]
    pub fn counts(&self) -> LoginCounts {
        LoginCounts {
            failed: self.failed_total.load(Ordering::Relaxed),
            locked: self.locked_total.load(Ordering::Relaxed),
        }
    }

    pub fn succeeded(&self, user: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("u:{user}"));
    }
}
