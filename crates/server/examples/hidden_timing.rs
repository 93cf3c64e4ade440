//! Does a 404 for another org's resource take the same time as a 404 for an
//! id never used? A member of one org asks, interleaved in random order, for
//! credentials of an org they are not in and for unused ids; beside them, the
//! same member's GET of a credential they can see (a 200), in the same run.
//!
//!     cargo run --release -p orgscope-server --example hidden_timing [-- ROUNDS]
//!
//! Default: 5,000 rounds (each round one request of each of the three).

use std::time::{Duration, Instant};

mod common;

use orgscope_store::{NewResource, Store, new_id};

struct Stats {
    p50: f64,
    p90: f64,
    p99: f64,
    mean: f64,
    var: f64,
    n: f64,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    let n = ms.len() as f64;
    let mean = ms.iter().sum::<f64>() / n;
    let var = ms.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let at = |p: f64| ms[((n - 1.0) * p).round() as usize];
    Stats {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        mean,
        var,
        n,
    }
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000);
    let dir = std::env::temp_dir().join(new_id("orgscope-hidden-timing"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let store = Store::connect(&url).await.unwrap();
    orgscope_server::bootstrap(&store, Some("bench-password".into()))
        .await
        .unwrap();
    let mut tx = store.write().await.unwrap();
    let tenant = tx.sole_tenant().await.unwrap().unwrap().id;
    let password = orgscope_server::auth::hash_password("bench-user-password").unwrap();
    let user = tx
        .user_create(Some(&tenant), "bench", &password, "user", None)
        .await
        .unwrap();
    let mine = tx
        .org_create(&tenant, "mine", "Mine", None, None)
        .await
        .unwrap();
    let theirs = tx
        .org_create(&tenant, "theirs", "Theirs", None, None)
        .await
        .unwrap();
    tx.member_put(&mine.id, &user.id, false).await.unwrap();
    // Ids are time-ordered: made in turn, the three sets interleave in the
    // index, so no set sits on a hotter page than another.
    let (mut hidden, mut unused, mut visible) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..3_000 {
        let id = new_id("cred");
        let org = match i % 3 {
            0 => &theirs.id,
            1 => {
                unused.push(id);
                continue;
            }
            _ => &mine.id,
        };
        tx.resource_insert(&NewResource {
            id: id.clone(),
            tenant_id: tenant.clone(),
            kind: "credential".into(),
            org_id: Some(org.clone()),
            name: "c".into(),
            fields: "{}".into(),
            secret: None,
            created_by: None,
        })
        .await
        .unwrap();
        if i % 3 == 0 {
            hidden.push(id)
        } else {
            visible.push(id)
        }
    }
    tx.commit().await.unwrap();

    let (base, http, token) = common::serve_as_bench(&store, &dir).await;
    let get = |id: String| {
        let req = http
            .get(format!("{base}/api/v1/credentials/{id}"))
            .bearer_auth(&token);
        async move {
            let t = Instant::now();
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            res.bytes().await.unwrap();
            (t.elapsed(), status)
        }
    };
    // Warm up connections and caches.
    for i in 0..200 {
        get(hidden[i].clone()).await;
        get(unused[i].clone()).await;
    }
    let (mut h, mut u, mut v) = (Vec::new(), Vec::new(), Vec::new());
    let mut seed: u64 = 7;
    for i in 0..rounds {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let order = (seed >> 33) % 6;
        let mut three = [0usize, 1, 2];
        three.rotate_left((order % 3) as usize);
        if order >= 3 {
            three.swap(1, 2);
        }
        for which in three {
            let id = [&hidden, &unused, &visible][which][i % hidden.len()].clone();
            let (took, status) = get(id).await;
            let want = if which == 2 { 200 } else { 404 };
            assert_eq!(status, want);
            [&mut h, &mut u, &mut v][which].push(took);
        }
    }
    let (h, u, v) = (stats(h), stats(u), stats(v));
    println!(
        "{rounds} rounds, each a GET of a hidden id, an unused id and a visible id, in random order:"
    );
    for (name, s) in [
        ("hidden (404)", &h),
        ("unused (404)", &u),
        ("visible (200)", &v),
    ] {
        println!(
            "  {name:14} p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  mean {:.3} ms",
            s.p50, s.p90, s.p99, s.mean
        );
    }
    let diff = h.mean - u.mean;
    let se = (h.var / h.n + u.var / u.n).sqrt();
    println!(
        "  hidden - unused: {:+.4} ms mean (95% CI {:+.4} to {:+.4}), Welch t = {:.2}",
        diff,
        diff - 1.96 * se,
        diff + 1.96 * se,
        diff / se
    );
    let _ = std::fs::remove_dir_all(&dir);
}
