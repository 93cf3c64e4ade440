//! Knowledge search latency through the API (a member of 50 orgs searching in
//! an org context), beside the same FTS query run straight against SQLite, in
//! the same run over the same data.
//!
//!     cargo run --release -p orgscope-server --example search_load [-- ENTRIES ORGS REQUESTS] [--rescope]
//!
//! Defaults: 100,000 entries in 1,000 orgs (one file of 100 entries per org,
//! plus tenant-wide files), 2,000 searches. A second user, a member of every
//! other org, searches without a context: about half the entries are in
//! scope. `--rescope` adds two files of 1,000 and of ENTRIES entries and
//! times their re-scope (preview and move) side by side.

use std::time::{Duration, Instant};

mod common;

use orgscope_store::{NewFile, NewResource, Store, new_id};
use serde_json::json;
use sqlx::Connection;

/// A deterministic word list and generator, so runs compare.
struct Words {
    vocab: Vec<String>,
    state: u64,
}

impl Words {
    fn new() -> Words {
        let syllables = [
            "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "da", "fu",
        ];
        let mut vocab = Vec::new();
        for a in syllables {
            for b in syllables {
                for c in syllables {
                    vocab.push(format!("{a}{b}{c}"));
                }
            }
        }
        Words { vocab, state: 42 }
    }

    fn next(&mut self) -> usize {
        self.state = self
            .state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.state >> 33) as usize
    }

    fn word(&mut self) -> String {
        let i = self.next() % self.vocab.len();
        self.vocab[i].clone()
    }

    fn text(&mut self, n: usize) -> String {
        (0..n).map(|_| self.word()).collect::<Vec<_>>().join(" ")
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>().as_secs_f64() * 1000.0 / samples.len() as f64;
    println!(
        "{what:<32} n={:<6} mean {mean:6.2} ms  p50 {:6.2} ms  p99 {:6.2} ms  max {:6.2} ms",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0)
    );
}

/// One search: its words for the URL and for FTS5, its context org (slug)
/// and the value the raw query binds to `$2`.
struct Query {
    words: String,
    phrase: String,
    org: Option<String>,
    bind: String,
}

fn phrase(a: &str, b: &str) -> String {
    if b.is_empty() {
        format!("\"{a}\"")
    } else {
        format!("\"{a}\" \"{b}\"")
    }
}

/// Runs `queries` over HTTP as `token`, then the raw FTS5 query with
/// `scope` straight on SQLite; checks both found as many, reports both.
async fn compare(
    what: &str,
    http: &reqwest::Client,
    base: &str,
    token: &str,
    conn: &mut sqlx::AnyConnection,
    queries: &[Query],
    scope: &str,
) {
    let mut api = Vec::with_capacity(queries.len());
    let mut hits_api = 0;
    for q in queries {
        let org = q
            .org
            .as_ref()
            .map(|o| format!("&org={o}"))
            .unwrap_or_default();
        let t = Instant::now();
        let res: serde_json::Value = http
            .get(format!(
                "{base}/api/v1/knowledge/search?q={}{org}&limit=20",
                q.words
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        api.push(t.elapsed());
        hits_api += res["items"].as_array().map_or(0, Vec::len);
    }
    let sql = format!(
        "SELECT k.seq, snippet(knowledge_fts, 0, char(1), char(2), '…', 24) FROM knowledge_fts JOIN knowledge k ON k.seq = knowledge_fts.rowid JOIN resources r ON r.id = k.file_id WHERE knowledge_fts MATCH $1 AND ({scope}) ORDER BY bm25(knowledge_fts) LIMIT 20"
    );
    let mut raw = Vec::with_capacity(queries.len());
    let mut hits_raw = 0;
    for q in queries {
        let t = Instant::now();
        let rows: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(&q.phrase)
            .bind(&q.bind)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        raw.push(t.elapsed());
        hits_raw += rows.len();
    }
    assert_eq!(
        hits_api, hits_raw,
        "{what}: the API and the raw query find as many entries"
    );
    println!(
        "{what}: {:.1} results per query",
        hits_api as f64 / queries.len() as f64
    );
    report("  API search (HTTP)", api);
    report("  raw FTS5 query (no orgscope)", raw);
}

/// A file in `org` (tenant-wide if `None`) whose extraction found `chunks`.
async fn seed_file(
    tx: &mut orgscope_store::Tx,
    tenant: &str,
    creator: &str,
    org: Option<String>,
    chunks: &[String],
) -> String {
    let id = new_id("file");
    tx.resource_insert(&NewResource {
        id: id.clone(),
        tenant_id: tenant.into(),
        kind: "file".into(),
        org_id: org,
        name: format!("{id}.txt"),
        fields: "{}".into(),
        secret: None,
        created_by: Some(creator.into()),
    })
    .await
    .unwrap();
    tx.file_insert(&NewFile {
        id: id.clone(),
        blob_key: format!("files/{id}"),
        size: 0,
        sha256: String::new(),
        content_type: "text/plain".into(),
    })
    .await
    .unwrap();
    tx.extraction_finish(&id, "done", None, chunks)
        .await
        .unwrap();
    id
}

#[tokio::main]
async fn main() {
    let (flags, args): (Vec<String>, Vec<String>) =
        std::env::args().skip(1).partition(|a| a.starts_with("--"));
    let args: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let entries = args.first().copied().unwrap_or(100_000);
    let orgs = args.get(1).copied().unwrap_or(1_000);
    let requests = args.get(2).copied().unwrap_or(2_000);
    let per_file = (entries / orgs).max(1);

    let dir = std::env::temp_dir().join(new_id("orgscope-search-load"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let store = Store::connect(&url).await.unwrap();
    orgscope_server::bootstrap(&store, Some("bench-password".into()))
        .await
        .unwrap();

    let started = Instant::now();
    let mut words = Words::new();
    let mut tx = store.write().await.unwrap();
    let tenant = tx.sole_tenant().await.unwrap().unwrap().id;
    let password = orgscope_server::auth::hash_password("bench-user-password").unwrap();
    let user = tx
        .user_create(Some(&tenant), "bench", &password, "user", None)
        .await
        .unwrap();
    let half = tx
        .user_create(Some(&tenant), "half", &password, "user", None)
        .await
        .unwrap();
    let mut org_ids = Vec::new();
    for o in 0..orgs {
        let org = tx
            .org_create(
                &tenant,
                &format!("org-{o}"),
                &format!("Org {o}"),
                None,
                None,
            )
            .await
            .unwrap();
        if o % (orgs / 50).max(1) == 0 {
            tx.member_put(&org.id, &user.id, false).await.unwrap();
        }
        if o % 2 == 0 {
            tx.member_put(&org.id, &half.id, false).await.unwrap();
        }
        org_ids.push(org.id);
    }
    // One file per org, and a tenant-wide file per 100 orgs.
    let mut scopes: Vec<Option<String>> = org_ids.iter().cloned().map(Some).collect();
    scopes.extend((0..orgs / 100).map(|_| None));
    for scope in &scopes {
        let chunks: Vec<String> = (0..per_file).map(|_| words.text(60)).collect();
        seed_file(&mut tx, &tenant, &user.id, scope.clone(), &chunks).await;
    }
    // Files that move: 1,000 entries and ENTRIES entries, in orgs neither
    // searcher is a member of (1 and 3).
    let moving = match flags.iter().any(|f| f == "--rescope") {
        true => {
            let mut files = Vec::new();
            for n in [1_000, entries] {
                let chunks: Vec<String> = (0..n).map(|_| words.text(8)).collect();
                let org = Some(org_ids[1].clone());
                files.push((n, seed_file(&mut tx, &tenant, &user.id, org, &chunks).await));
            }
            files
        }
        false => Vec::new(),
    };
    tx.commit().await.unwrap();
    println!(
        "seeded {} entries in {} orgs (+{} tenant-wide files) in {:.1} s",
        scopes.len() * per_file,
        orgs,
        orgs / 100,
        started.elapsed().as_secs_f64()
    );

    let (base, http, token) = common::serve_as_bench(&store, &dir).await;
    let member_orgs: Vec<usize> = (0..orgs).filter(|o| o % (orgs / 50).max(1) == 0).collect();

    // The same queries for both runs.
    let queries: Vec<(String, String, usize)> = (0..requests)
        .map(|i| {
            let o = member_orgs[i % member_orgs.len()];
            // Half one-word, half two-word queries.
            let b = if i % 2 == 0 {
                String::new()
            } else {
                words.word()
            };
            (words.word(), b, o)
        })
        .collect();

    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    // About 1%: one org's file and the tenant-wide ones.
    let one_org: Vec<Query> = queries
        .iter()
        .map(|(a, b, o)| Query {
            words: format!("{a}+{b}"),
            phrase: phrase(a, b),
            org: Some(format!("org-{o}")),
            bind: org_ids[*o].clone(),
        })
        .collect();
    compare(
        "member of 50, one org (1%)",
        &http,
        &base,
        &token,
        &mut conn,
        &one_org,
        "r.org_id IS NULL OR r.org_id = $2",
    )
    .await;
    // About half: every other org's file, no context.
    let half_token = common::login(&http, &base, "half", "bench-user-password").await;
    let everything: Vec<Query> = queries
        .iter()
        .map(|(a, b, _)| Query {
            words: format!("{a}+{b}"),
            phrase: phrase(a, b),
            org: None,
            bind: half.id.clone(),
        })
        .collect();
    compare(
        "member of half, no context (50%)",
        &http,
        &base,
        &half_token,
        &mut conn,
        &everything,
        "r.org_id IS NULL OR EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = r.org_id AND m.user_id = $2)",
    )
    .await;
    if !moving.is_empty() {
        let admin = common::login(&http, &base, "admin", "bench-password").await;
        let to = ["org-3", "org-1"];
        for (n, file) in &moving {
            let path = format!("{base}/api/v1/files/{file}/rescope");
            let mut preview = Vec::new();
            let mut moved = Vec::new();
            for i in 0..requests.min(300) {
                for (times, body) in [
                    (&mut preview, json!({"org": to[i % 2], "preview": true})),
                    (&mut moved, json!({ "org": to[i % 2] })),
                ] {
                    let t = Instant::now();
                    let res = http
                        .post(&path)
                        .bearer_auth(&admin)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert!(res.status().is_success(), "{path}: {}", res.status());
                    let _ = res.bytes().await;
                    times.push(t.elapsed());
                }
            }
            report(&format!("re-scope preview, {n} entries"), preview);
            report(&format!("re-scope, {n} entries"), moved);
        }
    }
    if std::env::var_os("ORGSCOPE_BENCH_KEEP").is_some() {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
