//! "Who has access" latency through the API: the first page of the groups
//! of a resource in an org with 10,000 members, asked by a member who may
//! change it, beside a plain get of the same resource, in the same run.
//!
//!     cargo run --release -p orgscope-server --example access_load [-- MEMBERS REQUESTS]
//!
//! Defaults: 10,000 members, 1,000 requests of each.

use std::time::{Duration, Instant};

mod common;

use orgscope_store::{NewResource, Store, new_id};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>().as_secs_f64() * 1000.0 / samples.len() as f64;
    println!(
        "{what:<40} n={:<6} mean {mean:6.2} ms  p50 {:6.2} ms  p99 {:6.2} ms  max {:6.2} ms",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0)
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let members = args.first().copied().unwrap_or(10_000);
    let requests = args.get(1).copied().unwrap_or(1_000);

    let dir = std::env::temp_dir().join(new_id("orgscope-access-load"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let store = Store::connect(&url).await.unwrap();
    orgscope_server::bootstrap(&store, Some("bench-password".into()))
        .await
        .unwrap();

    let started = Instant::now();
    let mut tx = store.write().await.unwrap();
    let tenant = tx.sole_tenant().await.unwrap().unwrap().id;
    let password = orgscope_server::auth::hash_password("bench-user-password").unwrap();
    let org = tx
        .org_create(&tenant, "eng", "Engineering", None, None)
        .await
        .unwrap();
    let user = tx
        .user_create(Some(&tenant), "bench", &password, "user", None)
        .await
        .unwrap();
    tx.member_put(&org.id, &user.id, false).await.unwrap();
    for i in 0..members.saturating_sub(1) {
        let u = tx
            .user_create(
                Some(&tenant),
                &format!("member-{i:05}"),
                &password,
                "user",
                None,
            )
            .await
            .unwrap();
        tx.member_put(&org.id, &u.id, false).await.unwrap();
    }
    let id = new_id("plug");
    tx.resource_insert(&NewResource {
        id: id.clone(),
        tenant_id: tenant.clone(),
        kind: "plugin".into(),
        org_id: Some(org.id.clone()),
        name: "linter".into(),
        fields: "{}".into(),
        secret: None,
        created_by: Some(user.id.clone()),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    println!(
        "seeded an org of {members} members in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let (base, http, token) = common::serve_as_bench(&store, &dir).await;
    let get = |path: String| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let t = Instant::now();
            let res = http.get(path).bearer_auth(token).send().await.unwrap();
            assert!(res.status().is_success(), "{}", res.status());
            let body: serde_json::Value = res.json().await.unwrap();
            (t.elapsed(), body)
        }
    };
    // Warm up both, and check the answer is the whole org.
    let (_, first) = get(format!("{base}/api/v1/plugins/{id}/access")).await;
    let members_group = first["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["rule"] == "member_of")
        .unwrap();
    assert_eq!(members_group["count"], members as i64);
    assert_eq!(members_group["names"].as_array().unwrap().len(), 50);
    let mut access = Vec::with_capacity(requests);
    let mut plain = Vec::with_capacity(requests);
    for _ in 0..requests {
        access.push(get(format!("{base}/api/v1/plugins/{id}/access")).await.0);
        plain.push(get(format!("{base}/api/v1/plugins/{id}")).await.0);
    }
    report("GET /api/v1/plugins/{id}/access", access);
    report("GET /api/v1/plugins/{id} (plain get)", plain);
    let _ = std::fs::remove_dir_all(&dir);
}
