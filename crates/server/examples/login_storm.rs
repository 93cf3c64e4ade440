//! `/healthz` latency while password logins (argon2, slow on purpose) run
//! eight at a time, beside the same probe on the idle server, in one run.
//!
//!     cargo run --release -p orgscope-server --example login_storm [-- LOGINS PROBES]
//!
//! Defaults: 8 concurrent logins, 300 probes in each phase.

use std::time::{Duration, Instant};

mod common;

use orgscope_store::{Store, new_id};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>().as_secs_f64() * 1000.0 / samples.len() as f64;
    println!(
        "{what:<36} n={:<5} mean {mean:6.2} ms  p50 {:6.2} ms  p99 {:6.2} ms  max {:6.2} ms",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0)
    );
}

async fn probe(http: &reqwest::Client, base: &str, n: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let res = http.get(format!("{base}/healthz")).send().await.unwrap();
        assert!(res.status().is_success());
        out.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    out
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let logins = args.first().copied().unwrap_or(8);
    let probes = args.get(1).copied().unwrap_or(300);
    let dir = std::env::temp_dir().join(new_id("orgscope-login-storm"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let store = Store::connect(&url).await.unwrap();
    orgscope_server::bootstrap(&store, Some("bench-password".into()))
        .await
        .unwrap();
    let mut tx = store.write().await.unwrap();
    let tenant = tx.sole_tenant().await.unwrap().unwrap().id;
    let password = orgscope_server::auth::hash_password("bench-user-password").unwrap();
    tx.user_create(Some(&tenant), "bench", &password, "user", None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (base, http, _) = common::serve_as_bench(&store, &dir).await;

    report("GET /healthz, idle", probe(&http, &base, probes).await);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut storm = Vec::new();
    for _ in 0..logins {
        let (http, base, stop, done) = (http.clone(), base.clone(), stop.clone(), done.clone());
        storm.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let res = http
                    .post(format!("{base}/api/v1/auth/login"))
                    .json(&serde_json::json!({"username": "bench", "password": "bench-user-password"}))
                    .send()
                    .await
                    .unwrap();
                assert!(res.status().is_success(), "{}", res.status());
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    let during = probe(&http, &base, probes).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in storm {
        t.await.unwrap();
    }
    report(&format!("GET /healthz, {logins} logins at once"), during);
    println!(
        "logins completed meanwhile: {} ({:.1}/s)",
        done.load(std::sync::atomic::Ordering::Relaxed),
        done.load(std::sync::atomic::Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
