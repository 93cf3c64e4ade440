//! The web UI's files list page for a user in 20 orgs over 100,000 files,
//! beside the JSON listing of the same page (`GET /api/v1/files`, same
//! sort, same page size), interleaved in the same run: the whole page
//! (session, who am I, the orgs for the filter, the listing, where uploads
//! may go, the template) against the listing alone.
//!
//!     cargo run --release -p orgscope-server --example files_page_load [-- FILES ORGS REQUESTS]
//!
//! Defaults: 100,000 files in 200 orgs (500 each), the user a member of 20
//! of them (10,000 files visible), 1,000 requests of each. With
//! `ORGSCOPE_BENCH_KEEP` set, the database is kept (its path is printed)
//! for `EXPLAIN QUERY PLAN`.

use std::time::{Duration, Instant};

mod common;

use orgscope_store::{NewFile, NewResource, Store, new_id};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>().as_secs_f64() * 1000.0 / samples.len() as f64;
    println!(
        "{what:<52} n={:<6} mean {mean:6.2} ms  p50 {:6.2} ms  p99 {:6.2} ms  max {:6.2} ms",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0)
    );
}

/// Whether a listing of 50 came back: rows of the page's table, items of the JSON.
fn rows_of_page(html: &str) -> usize {
    html.matches("class=\"file-link\"").count()
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let files = args.first().copied().unwrap_or(100_000);
    let orgs = args.get(1).copied().unwrap_or(200);
    let requests = args.get(2).copied().unwrap_or(1_000);
    let member_of = 20.min(orgs);
    let per_org = (files / orgs).max(1);

    let dir = std::env::temp_dir().join(new_id("orgscope-files-page-load"));
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
    let user = tx
        .user_create(Some(&tenant), "bench", &password, "user", None)
        .await
        .unwrap();
    let step = (orgs / member_of).max(1);
    let mut member_slugs = Vec::new();
    for o in 0..orgs {
        let slug = format!("org-{o}");
        let org = tx
            .org_create(&tenant, &slug, &format!("Org {o}"), None, None)
            .await
            .unwrap();
        if o % step == 0 && member_slugs.len() < member_of {
            tx.member_put(&org.id, &user.id, false).await.unwrap();
            member_slugs.push(slug);
        }
        for f in 0..per_org {
            let id = new_id("file");
            tx.resource_insert(&NewResource {
                id: id.clone(),
                tenant_id: tenant.clone(),
                kind: "file".into(),
                org_id: Some(org.id.clone()),
                name: format!("report-{o}-{f}.txt"),
                fields: "{}".into(),
                secret: None,
                created_by: Some(user.id.clone()),
            })
            .await
            .unwrap();
            tx.file_insert(&NewFile {
                id: id.clone(),
                blob_key: format!("files/{id}"),
                size: 1024 + i64::try_from(f).unwrap(),
                sha256: String::new(),
                content_type: "text/plain".into(),
            })
            .await
            .unwrap();
            // Extracted already: nothing for the server's worker to pick up.
            tx.extraction_finish(&id, "done", None, &[]).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
    println!(
        "seeded {} files in {orgs} orgs, the user a member of {} ({} files visible), in {:.1} s",
        per_org * orgs,
        member_slugs.len(),
        per_org * member_slugs.len(),
        started.elapsed().as_secs_f64()
    );

    let (base, http, token) = common::serve_as_bench(&store, &dir).await;
    let cookie = format!("orgscope_session={token}");
    let page = |path: String| {
        let (http, cookie) = (http.clone(), cookie.clone());
        async move {
            let t = Instant::now();
            let res = http
                .get(path)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "{}", res.status());
            let body = res.text().await.unwrap();
            (t.elapsed(), rows_of_page(&body))
        }
    };
    let json = |path: String| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let t = Instant::now();
            let res = http.get(path).bearer_auth(token).send().await.unwrap();
            assert!(res.status().is_success(), "{}", res.status());
            let body: serde_json::Value = res.json().await.unwrap();
            (t.elapsed(), body["items"].as_array().map_or(0, Vec::len))
        }
    };
    // Warm up, and check both answer the same full page.
    assert_eq!(page(format!("{base}/files")).await.1, 50);
    assert_eq!(
        json(format!("{base}/api/v1/files?sort=-time&limit=50"))
            .await
            .1,
        50
    );

    let mut all_page = Vec::with_capacity(requests);
    let mut all_json = Vec::with_capacity(requests);
    let mut org_page = Vec::with_capacity(requests);
    let mut org_json = Vec::with_capacity(requests);
    for i in 0..requests {
        let org = &member_slugs[i % member_slugs.len()];
        all_page.push(page(format!("{base}/files")).await.0);
        all_json.push(
            json(format!("{base}/api/v1/files?sort=-time&limit=50"))
                .await
                .0,
        );
        org_page.push(page(format!("{base}/files?org={org}")).await.0);
        org_json.push(
            json(format!("{base}/api/v1/files?org={org}&sort=-time&limit=50"))
                .await
                .0,
        );
    }
    report("page  /files (all my organizations)", all_page);
    report("JSON  /api/v1/files?sort=-time&limit=50", all_json);
    report("page  /files?org=<one of hers>", org_page);
    report(
        "JSON  /api/v1/files?org=<one of hers>&sort=-time&limit=50",
        org_json,
    );
    if std::env::var_os("ORGSCOPE_BENCH_KEEP").is_some() {
        println!("kept {}", dir.join("bench.db").display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
