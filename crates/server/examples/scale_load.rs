//! The load tool for performance at scale (issue 22): one tenant of 10,000
//! orgs, 100,000 users (1 to 20 orgs each, 1.05M memberships) and 1,000,000
//! resources (500,000 org-only hosts; 500,000 plugins, half of them
//! tenant-wide), built once with a progress bar and kept; then each scenario
//! over HTTP beside the same answer's SQL run straight on the database in
//! the same run, and one table of figures.
//!
//!     cargo run --release -p orgscope-server --example scale_load -- [sqlite|postgres] [SCALE] [REQUESTS] [--spicedb]
//!
//! SCALE multiplies the population (default 1.0; 0.1 builds a tenth).
//! REQUESTS per scenario (default 300). `--spicedb` adds SpiceDB as a peer
//! for the "all my orgs" listings (Node.js 20 and npm; `scripts/spicedb-peer`,
//! about 12 GiB of memory and 7 minutes to load at full scale). On PostgreSQL a Row-Level Security
//! policy is a peer too. The dataset is kept in
//! `target/scale-cache/` (SQLite) or the database `orgscope_scale_<SCALE>`
//! on `ORGSCOPE_BENCH_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), and reused.

use std::time::{Duration, Instant};

mod common;

use indicatif::{ProgressBar, ProgressStyle};
use orgscope_store::{NewResource, Store, new_id};
use serde_json::{Value, json};
use sqlx::Connection;

/// A small deterministic generator: the dataset is the same on every build.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Sizes {
    orgs: usize,
    users: usize,
    hosts: usize,
    plugins: usize,
}

fn sizes(scale: f64) -> Sizes {
    let n = |full: f64| ((full * scale) as usize).max(20);
    Sizes {
        orgs: n(10_000.0),
        users: n(100_000.0),
        hosts: n(500_000.0),
        plugins: n(500_000.0),
    }
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len as u64);
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{what:>12} [{{bar:40}}] {{pos}}/{{len}} {{per_sec}} eta {{eta}}"
        ))
        .unwrap(),
    );
    b
}

/// Builds the population into an empty, bootstrapped store.
async fn build(store: &Store, s: &Sizes) {
    let mut rng = Rng(22);
    let password = orgscope_server::auth::hash_password("bench-user-password").unwrap();
    let mut tx = store.write().await.unwrap();
    let tenant = tx.sole_tenant().await.unwrap().unwrap().id;
    let b = bar(s.orgs, "orgs");
    let mut orgs = Vec::with_capacity(s.orgs);
    for i in 0..s.orgs {
        let slug = format!("org-{i:05}");
        orgs.push(
            tx.org_create(&tenant, &slug, &slug, None, None)
                .await
                .unwrap()
                .id,
        );
        b.inc(1);
    }
    b.finish();
    // Members of 1, 3 and 20 orgs who run the scenarios: m1, bench (3), m20.
    for (name, n) in [("m1", 1), ("bench", 3), ("m20", 20)] {
        let u = tx
            .user_create(Some(&tenant), name, &password, "user", None)
            .await
            .unwrap();
        for org in &orgs[..n] {
            tx.member_put(org, &u.id, false).await.unwrap();
        }
    }
    let b = bar(s.users, "users");
    for i in 0..s.users {
        let u = tx
            .user_create(Some(&tenant), &format!("u{i:06}"), &password, "user", None)
            .await
            .unwrap();
        let mut mine = std::collections::BTreeSet::new();
        for _ in 0..1 + rng.below(20) {
            mine.insert(rng.below(orgs.len()));
        }
        for o in mine {
            tx.member_put(&orgs[o], &u.id, false).await.unwrap();
        }
        b.inc(1);
        if i % 20_000 == 19_999 {
            tx.commit().await.unwrap();
            tx = store.write().await.unwrap();
        }
    }
    b.finish();
    let b = bar(s.hosts + s.plugins, "resources");
    for i in 0..s.hosts + s.plugins {
        let host = i < s.hosts;
        let (kind, prefix) = if host {
            ("host", "hst")
        } else {
            ("plugin", "plug")
        };
        let org = (host || rng.below(2) == 0).then(|| orgs[rng.below(orgs.len())].clone());
        tx.resource_insert(&NewResource {
            id: new_id(prefix),
            tenant_id: tenant.clone(),
            kind: kind.into(),
            org_id: org,
            name: format!("{kind}-{i:07}"),
            fields: "{}".into(),
            secret: None,
            created_by: None,
        })
        .await
        .unwrap();
        b.inc(1);
        if i % 20_000 == 19_999 {
            tx.commit().await.unwrap();
            tx = store.write().await.unwrap();
        }
    }
    b.finish();
    // Marks the dataset whole.
    tx.user_create(Some(&tenant), "bench-ready", &password, "user", None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Opens (or builds) the cached dataset; returns the store and its URL.
async fn dataset(backend: &str, scale: f64, s: &Sizes) -> (Store, String) {
    let tag = format!("{}", (scale * 1000.0).round() as u64);
    let url = match backend {
        "sqlite" => {
            let dir =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/scale-cache");
            std::fs::create_dir_all(&dir).unwrap();
            format!(
                "sqlite://{}?mode=rwc",
                dir.join(format!("scale-{tag}.db")).display()
            )
        }
        _ => {
            let admin = std::env::var("ORGSCOPE_BENCH_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let (head, _) = admin.rsplit_once('/').unwrap();
            let name = format!("orgscope_scale_{tag}");
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
            let exists: Option<(i32,)> =
                sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(&name)
                    .fetch_optional(&mut conn)
                    .await
                    .unwrap();
            if exists.is_none() {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            format!("{head}/{name}")
        }
    };
    let store = Store::connect(&url).await.unwrap();
    let ready = match store.read().await {
        Ok(mut tx) => match tx.sole_tenant().await {
            Ok(Some(t)) => tx.user(Some(&t.id), "bench-ready").await.is_ok(),
            _ => false,
        },
        Err(_) => false,
    };
    if ready {
        if backend != "sqlite" {
            // What autovacuum does on a server that has it on (this
            // machine's PostgreSQL has it off): statistics and the
            // visibility map, so the planner knows the tables it plans for.
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql("VACUUM ANALYZE")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        return (store, url);
    }
    // A half-built dataset is thrown away.
    store.close().await;
    match backend {
        "sqlite" => {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_end_matches("?mode=rwc");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
        _ => {
            let (head, name) = url.rsplit_once('/').unwrap();
            let mut conn = sqlx::PgConnection::connect(&format!("{head}/postgres"))
                .await
                .unwrap();
            for sql in [
                format!("DROP DATABASE {name}"),
                format!("CREATE DATABASE {name}"),
            ] {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }
    let store = Store::connect(&url).await.unwrap();
    println!("building the dataset (kept for the next run) ...");
    let started = Instant::now();
    orgscope_server::bootstrap(&store, Some("bench-password".into()))
        .await
        .unwrap();
    build(&store, s).await;
    println!("built in {:.0} s", started.elapsed().as_secs_f64());
    store.close().await;
    // Opened again, as a kept dataset is (statistics included).
    Box::pin(dataset(backend, scale, s)).await
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    ms(sorted[((sorted.len() as f64 - 1.0) * p).round() as usize])
}

struct Row {
    what: String,
    ours: Vec<Duration>,
    reference: Option<Vec<Duration>>,
    target: &'static str,
}

fn print(rows: &mut [Row]) {
    println!(
        "\n| scenario | p50 | p99 | peer p50 | peer p99 | p99 / peer | target |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    for r in rows {
        r.ours.sort();
        let (p50, p99) = (pct(&r.ours, 0.5), pct(&r.ours, 0.99));
        match &mut r.reference {
            Some(refs) => {
                refs.sort();
                let (r50, r99) = (pct(refs, 0.5), pct(refs, 0.99));
                // Far below 1, a ratio reads better as a fraction.
                let ratio = match p99 / r99 {
                    x if x < 0.1 => format!("1/{:.0}", r99 / p99),
                    x => format!("{x:.2}x"),
                };
                println!(
                    "| {} | {p50:.2} ms | {p99:.2} ms | {r50:.2} ms | {r99:.2} ms | {ratio} | {} |",
                    r.what, r.target
                );
            }
            None => println!(
                "| {} | {p50:.2} ms | {p99:.2} ms | | | | {} |",
                r.what, r.target
            ),
        }
    }
}

struct Bench {
    base: String,
    http: reqwest::Client,
    requests: usize,
}

impl Bench {
    async fn login(&self, user: &str, password: &str) -> String {
        common::login(&self.http, &self.base, user, password).await
    }

    async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (Duration, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let t = Instant::now();
        let res = req.send().await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let took = t.elapsed();
        assert!(status.is_success(), "{path}: {status} {body}");
        (took, body)
    }

    async fn times(&self, token: &str, path: &str) -> (Vec<Duration>, Value) {
        let (_, first) = self.call(token, reqwest::Method::GET, path, None).await;
        let mut out = Vec::with_capacity(self.requests);
        for _ in 0..self.requests {
            out.push(self.call(token, reqwest::Method::GET, path, None).await.0);
        }
        (out, first)
    }
}

/// The ids of a page's items.
fn ids_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs `one` (which answers its time and the ids it found) once to check
/// it answers `want`'s ids, then `n` times, or until `budget` is spent,
/// and returns the times.
async fn check_then_time(
    what: &str,
    want: &Value,
    n: usize,
    budget: Duration,
    mut one: impl AsyncFnMut() -> (Duration, Vec<String>),
) -> Vec<Duration> {
    let ids = ids_of(want);
    let (_, got) = one().await;
    let got: Vec<String> = got.into_iter().take(ids.len()).collect();
    assert_eq!(got, ids, "{what} answers otherwise");
    let started = Instant::now();
    let mut out = Vec::with_capacity(n);
    while out.len() < n && started.elapsed() < budget {
        out.push(one().await.0);
    }
    out
}

/// The same answer's SQL, straight on the database: its ids must be the
/// page's, and its times are the reference.
async fn reference(pool: &sqlx::AnyPool, sql: &str, want: &Value, n: usize) -> Vec<Duration> {
    check_then_time(sql, want, n, Duration::MAX, async || {
        let t = Instant::now();
        let got: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .unwrap();
        (t.elapsed(), got.into_iter().map(|(i,)| i).collect())
    })
    .await
}

/// The Row-Level Security peer (PostgreSQL): the same rule as a policy on
/// `resources` ("tenant-wide, or in an org the user is a member of"), read
/// by a role the policy binds, on one connection set to the user. The
/// table's owner (the server's connection) is not bound by it.
async fn rls_connection(url: &str, tenant: &str, user: &str) -> sqlx::PgConnection {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(
        "DO $$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orgscope_rls_peer') THEN
             CREATE ROLE orgscope_rls_peer NOLOGIN;
           END IF;
         END $$;
         GRANT SELECT ON resources, memberships TO orgscope_rls_peer;
         ALTER TABLE resources ENABLE ROW LEVEL SECURITY;
         DROP POLICY IF EXISTS rls_peer ON resources;
         CREATE POLICY rls_peer ON resources FOR SELECT TO orgscope_rls_peer USING (
           tenant_id = current_setting('rls.tid')
           AND (org_id IS NULL OR EXISTS (SELECT 1 FROM memberships m
                WHERE m.org_id = resources.org_id AND m.user_id = current_setting('rls.uid'))));",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET ROLE orgscope_rls_peer; SET rls.tid = '{tenant}'; SET rls.uid = '{user}'"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    conn
}

/// Times the listing an application under RLS writes (no scope of its own:
/// the policy adds it), after checking it answers `want`'s ids.
async fn rls_times(
    conn: &mut sqlx::PgConnection,
    kind: &str,
    want: &Value,
    n: usize,
) -> Vec<Duration> {
    let sql = format!("SELECT id FROM resources WHERE kind = '{kind}' ORDER BY id LIMIT 51");
    check_then_time("the RLS peer", want, n, Duration::MAX, async || {
        let t = Instant::now();
        let got: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        (t.elapsed(), got.into_iter().map(|(i,)| i).collect())
    })
    .await
}

/// SpiceDB, embedded in Node.js (`scripts/spicedb-peer`) with its
/// in-memory datastore and the dataset's tuples: the peer an application on
/// SpiceDB would ask for "what may I see", before fetching those rows.
struct SpiceDb {
    _child: std::process::Child,
    stdin: std::io::BufWriter<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl SpiceDb {
    /// Starts the peer and loads the tenant's users, memberships, hosts and
    /// plugins; `None`, said why, where Node.js or the package is missing.
    async fn start(pool: &sqlx::AnyPool, tenant: &str) -> Option<SpiceDb> {
        use std::io::{BufRead, Write};
        use std::process::{Command, Stdio};
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/spicedb-peer");
        if !dir.join("node_modules").exists() {
            println!("installing the SpiceDB peer: npm ci in {}", dir.display());
            let ok = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status();
            if !matches!(ok, Ok(s) if s.success()) {
                println!(
                    "SpiceDB peer skipped: `npm ci` in {} failed (it needs Node.js 20 and npm)",
                    dir.display()
                );
                return None;
            }
        }
        // SpiceDB's in-memory datastore keeps a few KiB per tuple; a Go
        // collector that runs sooner keeps the 2.15M of them in memory.
        let mut child = match Command::new("node")
            .arg("peer.mjs")
            .env("GOGC", "20")
            .env("GOMEMLIMIT", "12GiB")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                println!("SpiceDB peer skipped: `node` did not start ({e})");
                return None;
            }
        };
        let mut stdin = std::io::BufWriter::new(child.stdin.take().unwrap());
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let rows = |sql: String| sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool);
        use sqlx::Row as _;
        let users = rows(format!("SELECT id FROM users WHERE tenant_id = '{tenant}'"))
            .await
            .unwrap();
        let members = rows(format!(
            "SELECT m.org_id, m.user_id FROM memberships m JOIN orgs o ON o.id = m.org_id WHERE o.tenant_id = '{tenant}'"
        ))
        .await
        .unwrap();
        let resources = rows(format!(
            "SELECT kind, id, org_id FROM resources WHERE tenant_id = '{tenant}' AND kind IN ('host', 'plugin')"
        ))
        .await
        .unwrap();
        let started = Instant::now();
        let b = bar(users.len() + members.len() + resources.len(), "SpiceDB");
        // The peer writes 1,000 tuples at a time as they come, so the pipe
        // moves at its pace and the bar shows it.
        tokio::task::block_in_place(|| {
            let lines = users
                .iter()
                .map(|r| format!("t {}", r.get::<String, _>(0)))
                .chain(
                    members
                        .iter()
                        .map(|r| format!("m {} {}", r.get::<String, _>(0), r.get::<String, _>(1))),
                )
                .chain(resources.iter().map(|r| {
                    let org: Option<String> = r.get(2);
                    format!(
                        "r {} {} {}",
                        r.get::<String, _>(0),
                        r.get::<String, _>(1),
                        org.as_deref().unwrap_or("-")
                    )
                }));
            for line in lines {
                writeln!(stdin, "{line}").unwrap();
                b.inc(1);
            }
            writeln!(stdin, "load").unwrap();
            stdin.flush().unwrap();
            let mut done = String::new();
            stdout.read_line(&mut done).unwrap();
            b.finish();
            println!(
                "SpiceDB peer: {} in {:.0} s",
                done.trim(),
                started.elapsed().as_secs_f64()
            );
        });
        Some(SpiceDb {
            _child: child,
            stdin,
            stdout,
        })
    }

    /// LookupResources for every `kind` `user` may view; the time it took
    /// and the first 51 ids in order.
    fn lookup(&mut self, kind: &str, user: &str) -> (Duration, Vec<String>) {
        use std::io::{BufRead, Write};
        tokio::task::block_in_place(|| {
            writeln!(self.stdin, "q {kind} {user}").unwrap();
            self.stdin.flush().unwrap();
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            let answer: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("the SpiceDB peer answered {line:?}: {e}"));
            let ids = answer["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap().to_owned())
                .collect();
            (
                Duration::from_secs_f64(answer["ms"].as_f64().unwrap() / 1000.0),
                ids,
            )
        })
    }

    /// Times the lookup and then the fetch of the page's rows by id, after
    /// checking they are `want`'s; at most 30 s of lookups per scenario.
    async fn times(
        &mut self,
        pool: &sqlx::AnyPool,
        kind: &str,
        user: &str,
        want: &Value,
        n: usize,
    ) -> Vec<Duration> {
        check_then_time(
            "the SpiceDB peer",
            want,
            n,
            Duration::from_secs(30),
            async || {
                let (looked, ids) = self.lookup(kind, user);
                let sql = format!(
                    "SELECT id, name, fields FROM resources WHERE id IN ({}) ORDER BY id",
                    list(&ids)
                );
                let t = Instant::now();
                let got: Vec<(String, String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                (
                    looked + t.elapsed(),
                    got.into_iter().map(|(i, ..)| i).collect(),
                )
            },
        )
        .await
    }
}

/// Leaves the dataset as built: no policy, RLS off.
async fn rls_remove(url: &str) {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(
        "DROP POLICY IF EXISTS rls_peer ON resources; ALTER TABLE resources DISABLE ROW LEVEL SECURITY",
    )
    .execute(&mut conn)
    .await
    .unwrap();
}

/// A plugin of org `from` (about 105 members), previewed to org `to` and
/// to tenant-wide, then moved between the two orgs, as the admin; deleted
/// after. The times of each, and the preview's counts printed.
async fn rescope(b: &Bench, from: &str, to: &str) -> Vec<(&'static str, Vec<Duration>)> {
    let admin = b.login("admin", "bench-password").await;
    let (_, made) = b
        .call(
            &admin,
            reqwest::Method::POST,
            "/api/v1/plugins",
            Some(json!({"name": "moving", "org": from})),
        )
        .await;
    let plugin = format!("/api/v1/plugins/{}", made["id"].as_str().unwrap());
    let path = format!("{plugin}/rescope");
    let mut out = Vec::new();
    for (what, org) in [
        ("re-scope preview, org to org", json!(to)),
        ("re-scope preview, org to tenant-wide", Value::Null),
    ] {
        let mut t = Vec::new();
        let mut impact = Value::Null;
        for _ in 0..b.requests {
            let (d, body) = b
                .call(
                    &admin,
                    reqwest::Method::POST,
                    &path,
                    Some(json!({"org": org, "preview": true})),
                )
                .await;
            t.push(d);
            impact = body["impact"].clone();
        }
        println!(
            "{what}: {} lose, {} gain",
            impact["users_losing_access_count"], impact["users_gaining_access_count"]
        );
        out.push((what, t));
    }
    let mut t = Vec::new();
    for i in 0..b.requests {
        let org = [to, from][i % 2];
        t.push(
            b.call(
                &admin,
                reqwest::Method::POST,
                &path,
                Some(json!({ "org": org })),
            )
            .await
            .0,
        );
    }
    out.push(("re-scope, org to org", t));
    b.call(&admin, reqwest::Method::DELETE, &plugin, None).await;
    out
}

/// The tenant as the bench itself reads it (orgs' slugs, what it cleans up).
fn all_of(tenant: &str) -> orgscope_core::policy::ReadFilter {
    use orgscope_core::policy::{SystemRead, system_filter};
    system_filter(&tenant.into(), None, SystemRead::AlreadyAdmitted)
}

fn list(ids: &[String]) -> String {
    ids.iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() {
    let (flags, args): (Vec<String>, Vec<String>) =
        std::env::args().skip(1).partition(|a| a.starts_with("--"));
    let backend = args.first().map_or("sqlite", String::as_str).to_owned();
    let scale: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let requests: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(300);
    let s = sizes(scale);
    println!(
        "{backend}: {} orgs, {} users, {} resources",
        s.orgs,
        s.users,
        s.hosts + s.plugins
    );
    let (store, url) = dataset(&backend, scale, &s).await;
    let dir = std::env::temp_dir().join(new_id("orgscope-scale"));
    std::fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    let (base, http, bench_token) = common::serve_as_bench(&store, &dir).await;
    println!("server up in {:.2} s", started.elapsed().as_secs_f64());
    let b = Bench {
        base,
        http,
        requests,
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let (tenant, orgs20): (String, Vec<(String, String)>) = {
        let mut tx = store.read().await.unwrap();
        let tenant = tx.sole_tenant().await.unwrap().unwrap().id;
        let m20 = tx.user(Some(&tenant), "m20").await.unwrap();
        let mut orgs = Vec::new();
        for (org, _) in tx.memberships_of(&m20.id).await.unwrap() {
            let slug = tx.org(&all_of(&tenant), &org).await.unwrap().slug;
            orgs.push((org, slug));
        }
        (tenant, orgs)
    };
    let ids: Vec<String> = orgs20.iter().map(|(i, _)| i.clone()).collect();
    let mut rows = Vec::new();
    let base_sql = |kind: &str, cond: &str, after: Option<&str>| {
        let after = after
            .map(|a| format!(" AND id > '{a}'"))
            .unwrap_or_default();
        format!(
            "SELECT id FROM resources WHERE tenant_id = '{tenant}' AND kind = '{kind}' AND ({cond}){after} ORDER BY id LIMIT 51"
        )
    };
    let mut spicedb = match flags.iter().any(|f| f == "--spicedb") {
        true => SpiceDb::start(&pool, &tenant).await,
        false => None,
    };
    for (user, n) in [("m1", 1), ("bench", 3), ("m20", 20)] {
        let token = if user == "bench" {
            bench_token.clone()
        } else {
            b.login(user, "bench-user-password").await
        };
        let mine = list(&ids[..n]);
        let user_id = store
            .read()
            .await
            .unwrap()
            .user(Some(&tenant), user)
            .await
            .unwrap()
            .id;
        let mut rls = match backend.as_str() {
            "postgres" => Some(rls_connection(&url, &tenant, &user_id).await),
            _ => None,
        };
        // Sparse: org-only hosts, a few hundred of 500,000 visible. Dense:
        // plugins, half of them tenant-wide.
        let mut dense = (Value::Null, String::new());
        for (kinds, kind, cond) in [
            ("hosts", "host", format!("org_id IN ({mine})")),
            (
                "plugins",
                "plugin",
                format!("org_id IN ({mine}) OR org_id IS NULL"),
            ),
        ] {
            let (t, page) = b.times(&token, &format!("/api/v1/{kinds}")).await;
            let what = format!("{kinds}, all my orgs, member of {n}");
            if let Some(conn) = &mut rls {
                rows.push(Row {
                    what: format!("{what}, beside RLS"),
                    ours: t.clone(),
                    reference: Some(rls_times(conn, kind, &page, requests).await),
                    target: "<= 1.1x RLS",
                });
            }
            if let Some(peer) = &mut spicedb {
                rows.push(Row {
                    what: format!("{what}, beside SpiceDB"),
                    ours: t.clone(),
                    reference: Some(peer.times(&pool, kind, &user_id, &page, requests).await),
                    target: "<= 0.1x SpiceDB",
                });
            }
            let sql = base_sql(kind, &cond, None);
            rows.push(Row {
                what,
                ours: t,
                reference: Some(reference(&pool, &sql, &page, requests).await),
                target: "p99 < 5 ms, <= 1.5x SQL",
            });
            dense = (page, cond);
        }
        drop(rls);
        let (page, cond) = dense;
        // 20 cursors deep.
        let mut cursor = page["next_cursor"].as_str().unwrap().to_owned();
        for _ in 0..19 {
            let (_, p) = b
                .call(
                    &token,
                    reqwest::Method::GET,
                    &format!("/api/v1/plugins?cursor={cursor}"),
                    None,
                )
                .await;
            cursor = p["next_cursor"].as_str().unwrap().to_owned();
        }
        let (t, page) = b
            .times(&token, &format!("/api/v1/plugins?cursor={cursor}"))
            .await;
        let sql = base_sql("plugin", &cond, Some(&cursor));
        rows.push(Row {
            what: format!("plugins, 20 pages deep, member of {n}"),
            ours: t,
            reference: Some(reference(&pool, &sql, &page, requests).await),
            target: "p99 < 5 ms, <= 1.5x SQL",
        });
        let (t, page) = b
            .times(&token, &format!("/api/v1/hosts?org={}", orgs20[0].1))
            .await;
        let sql = base_sql("host", &format!("org_id = '{}'", ids[0]), None);
        rows.push(Row {
            what: format!("hosts, one org, member of {n}"),
            ours: t,
            reference: Some(reference(&pool, &sql, &page, requests).await),
            target: "p99 < 5 ms, <= 1.5x SQL",
        });
        let (t, page) = b.times(&token, "/api/v1/plugins?org=tenant").await;
        let sql = base_sql("plugin", "org_id IS NULL", None);
        rows.push(Row {
            what: format!("plugins, tenant-wide, member of {n}"),
            ours: t,
            reference: Some(reference(&pool, &sql, &page, requests).await),
            target: "p99 < 5 ms, <= 1.5x SQL",
        });
    }

    if backend == "postgres" {
        rls_remove(&url).await;
    }

    // Re-scope, and the same at a hundredth of the users (1,000) in the
    // same run: orgs of about the same size, so the figures should match.
    let moves = rescope(&b, &orgs20[0].1, &orgs20[1].1).await;
    let small = if scale > 0.01 {
        let (small, _) = dataset(&backend, 0.01, &sizes(0.01)).await;
        let dir = std::env::temp_dir().join(new_id("orgscope-scale"));
        let (base, http, _) = common::serve_as_bench(&small, &dir).await;
        let b = Bench {
            base,
            http,
            requests,
        };
        let times = rescope(&b, &orgs20[0].1, &orgs20[1].1).await;
        let _ = std::fs::remove_dir_all(&dir);
        times.into_iter().map(Some).collect()
    } else {
        vec![None; moves.len()]
    };
    for ((what, t), small) in moves.into_iter().zip(small) {
        rows.push(Row {
            what: format!("{what} (peer: 1,000 users)"),
            ours: t,
            reference: small.map(|(_, t)| t),
            target: "< 5 ms org to org, within 20% of 1,000 users",
        });
    }

    // Mixed load: 64 clients, 95% listings by the three members, 5% creates.
    let tokens = [
        bench_token.clone(),
        b.login("m1", "bench-user-password").await,
        b.login("m20", "bench-user-password").await,
    ];
    let clients = 64;
    let seconds = 10;
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, base, tokens, org) = (
            b.http.clone(),
            b.base.clone(),
            tokens.clone(),
            orgs20[0].1.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(c as u64);
            let (mut times, mut errors) = (Vec::new(), 0);
            while Instant::now() < until {
                let token = &tokens[rng.below(3)];
                let req = match rng.below(100) {
                    0..5 => http
                        .post(format!("{base}/api/v1/plugins"))
                        .json(&json!({"name": "load", "org": org}))
                        .bearer_auth(&tokens[0]),
                    5..50 => http.get(format!("{base}/api/v1/hosts")).bearer_auth(token),
                    _ => http
                        .get(format!("{base}/api/v1/plugins"))
                        .bearer_auth(token),
                };
                let t = Instant::now();
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        times.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (times, errors)
        }));
    }
    let (mut mixed, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (times, e) = t.await.unwrap();
        mixed.extend(times);
        errors += e;
    }
    mixed.sort();
    println!(
        "mixed load, {clients} clients, {seconds} s: {:.0} req/s, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, {errors} errors",
        mixed.len() as f64 / seconds as f64,
        pct(&mixed, 0.5),
        pct(&mixed, 0.95),
        pct(&mixed, 0.99)
    );
    rows.push(Row {
        what: format!("mixed 95/5, {clients} clients ({errors} errors)"),
        ours: mixed,
        reference: None,
        target: "p50 < 5 ms, p95 < 20 ms",
    });
    // What the mixed load made goes, so the dataset stays as built.
    {
        let mut tx = store.write().await.unwrap();
        let all = all_of(&tenant);
        for r in tx
            .resources_all(
                "plugin",
                &all,
                &orgscope_core::policy::OrgSelector::Org(ids[0].clone()),
            )
            .await
            .unwrap()
        {
            if r.name == "load" {
                tx.resource_delete(&r.id).await.unwrap();
            }
        }
        tx.commit().await.unwrap();
    }
    print(&mut rows);
    let _ = std::fs::remove_dir_all(&dir);
}
