//! Knowledge search latency through the API (a member of 50 orgs searching in
//! an org context), beside the same FTS query run straight against SQLite, in
//! the same run over the same data.
//!
//!     cargo run --release -p orgscope-server --example search_load [-- ENTRIES ORGS REQUESTS]
//!
//! Defaults: 100,000 entries in 1,000 orgs (one file of 100 entries per org,
//! plus tenant-wide files), 2,000 searches.

use std::time::{Duration, Instant};

mod common;

use orgscope_store::{NewFile, NewResource, Store, new_id};
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

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
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
        org_ids.push(org.id);
    }
    // One file per org, and a tenant-wide file per 100 orgs.
    let mut scopes: Vec<Option<String>> = org_ids.iter().cloned().map(Some).collect();
    scopes.extend((0..orgs / 100).map(|_| None));
    for scope in &scopes {
        let id = new_id("file");
        tx.resource_insert(&NewResource {
            id: id.clone(),
            tenant_id: tenant.clone(),
            kind: "file".into(),
            org_id: scope.clone(),
            name: format!("{id}.txt"),
            fields: "{}".into(),
            secret: None,
            created_by: Some(user.id.clone()),
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
        let chunks: Vec<String> = (0..per_file).map(|_| words.text(60)).collect();
        tx.extraction_finish(&id, "done", None, &chunks)
            .await
            .unwrap();
    }
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

    let mut api = Vec::with_capacity(requests);
    let mut hits_api = 0;
    for (a, b, o) in &queries {
        let t = Instant::now();
        let res: serde_json::Value = http
            .get(format!(
                "{base}/api/v1/knowledge/search?q={a}+{b}&org=org-{o}&limit=20"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        api.push(t.elapsed());
        hits_api += res["items"].as_array().map_or(0, Vec::len);
    }

    // The raw FTS query with the same org condition, straight on SQLite.
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let mut raw = Vec::with_capacity(requests);
    let mut hits_raw = 0;
    for (a, b, o) in &queries {
        let t = Instant::now();
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT k.seq, snippet(knowledge_fts, 0, char(1), char(2), '…', 24) FROM knowledge_fts JOIN knowledge k ON k.seq = knowledge_fts.rowid JOIN resources r ON r.id = k.file_id WHERE knowledge_fts MATCH $1 AND (r.org_id IS NULL OR r.org_id = $2) ORDER BY bm25(knowledge_fts) LIMIT 20",
        )
        .bind(if b.is_empty() { format!("\"{a}\"") } else { format!("\"{a}\" \"{b}\"") })
        .bind(&org_ids[*o])
        .fetch_all(&mut conn)
        .await
        .unwrap();
        raw.push(t.elapsed());
        hits_raw += rows.len();
    }
    assert_eq!(
        hits_api, hits_raw,
        "the API and the raw query find the same entries"
    );
    report("API search (HTTP, member filter)", api);
    report("raw FTS5 query (no orgscope)", raw);
    println!(
        "results per query: {:.1}",
        hits_api as f64 / requests as f64
    );
    if std::env::var_os("ORGSCOPE_BENCH_KEEP").is_some() {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
