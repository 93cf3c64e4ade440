//! Operating a server: a stop drains, backup and restore, migrate.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use std::process::Stdio;

use crate::{Server, bin, blob_files, data_dir, login, start_server, start_server_with};

/// Sends SIGTERM, as a service manager does.
fn terminate(server: &Server) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Starts a raw upload of `total` bytes and sends `sent` of them.
fn begin_upload(url: &str, token: &str, name: &str, total: usize, sent: usize) -> TcpStream {
    let addr = url.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "POST /api/v1/files?name={name} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: {total}\r\n\r\n"
    )
    .unwrap();
    conn.write_all(&vec![7u8; sent]).unwrap();
    conn.flush().unwrap();
    conn
}

fn status_of(url: &str, path: &str) -> Option<u16> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{url}{path}"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    })
}

/// SIGTERM: /readyz turns unready at once while requests are still served;
/// an upload in flight that finishes within the bound becomes a file, one
/// that does not is cut short and leaves nothing behind, and the process
/// exits on its own.
#[test]
fn a_stop_drains_in_flight_requests_within_its_bound() {
    let dir = data_dir();
    let (mut server, url) = start_server_with(
        &dir,
        &["--unready-seconds", "2", "--drain-seconds", "3"],
        &[],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let token = login(&rt, &url);
    assert_eq!(status_of(&url, "/readyz"), Some(200));
    let size = 4 * 1024 * 1024;
    let mut finishing = begin_upload(&url, &token, "finishing.bin", size, size / 2);
    let mut stalled = begin_upload(&url, &token, "stalled.bin", size, size / 2);
    let staged = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        blob_files(&dir).iter().filter(|n| n.contains('#')).count() == 2
    });
    assert!(
        staged,
        "both uploads reached the disk: {:?}",
        blob_files(&dir)
    );

    let stopped_at = Instant::now();
    terminate(&server);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(status_of(&url, "/readyz"), Some(503), "unready at once");
    assert_eq!(status_of(&url, "/healthz"), Some(200), "still serving");
    // The first upload finishes while draining; the second never does.
    finishing.write_all(&vec![7u8; size - size / 2]).unwrap();
    let mut answer = String::new();
    finishing
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = finishing.read(&mut buf).unwrap();
    answer.push_str(&String::from_utf8_lossy(&buf[..n]));
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    let status = server.0.wait().unwrap();
    let took = stopped_at.elapsed();
    assert!(status.success(), "a drained stop exits cleanly: {status:?}");
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(15),
        "unready 2s, then the bound of 3s: {took:?}"
    );
    drop(stalled.write_all(b"late"));
    let left = blob_files(&dir);
    assert_eq!(left.len(), 1, "only the finished upload remains: {left:?}");
    assert!(!left[0].contains('#'), "{left:?}");

    let (_server, url) = start_server(&dir);
    let token = login(&rt, &url);
    let out = bin()
        .args(["--url", &url, "--output", "json", "file", "list"])
        .env("ORGSCOPE_TOKEN", &token)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("finishing.bin") && !listed.contains("stalled.bin"),
        "{listed}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A test's HTTP client on one server.
pub(crate) struct Api {
    url: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Api {
    pub(crate) fn new(url: &str) -> Api {
        Api {
            url: url.to_owned(),
            http: reqwest::Client::new(),
            rt: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    pub(crate) fn at(&self, url: &str) -> Api {
        Api::new(url)
    }

    pub(crate) fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.rt.block_on(async {
            let mut req = self
                .http
                .request(method.parse().unwrap(), format!("{}{path}", self.url))
                .bearer_auth(token);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let bytes = res.bytes().await.unwrap();
            let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                // Not JSON (a file's content): its hash stands for it.
                use std::fmt::Write as _;
                let mut h = String::new();
                for b in bytes.iter().take(64) {
                    let _ = write!(h, "{b:02x}");
                }
                json!({"bytes": bytes.len(), "head": h})
            });
            (status, value)
        })
    }

    /// A request with these headers (and a JSON body unless null); its status.
    pub(crate) fn call_with(
        &self,
        headers: &[(&str, &str)],
        method: &str,
        path: &str,
        body: Value,
    ) -> u16 {
        self.rt.block_on(async {
            let mut req = self
                .http
                .request(method.parse().unwrap(), format!("{}{path}", self.url));
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if !body.is_null() {
                req = req.json(&body);
            }
            req.send().await.unwrap().status().as_u16()
        })
    }

    /// A create that must succeed; answers the body.
    pub(crate) fn make(&self, token: &str, path: &str, body: Value) -> Value {
        let (st, v) = self.call(token, "POST", path, Some(body.clone()));
        assert!((200..300).contains(&st), "POST {path} {body}: {st} {v}");
        v
    }

    pub(crate) fn upload(&self, token: &str, name: &str, org: &str, text: &str) -> Value {
        self.rt.block_on(async {
            let res = self
                .http
                .post(format!("{}/api/v1/files?name={name}&org={org}", self.url))
                .bearer_auth(token)
                .body(text.to_owned())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 201);
            res.json().await.unwrap()
        })
    }

    pub(crate) fn login(&self, username: &str, password: &str) -> String {
        let (st, v) = self.call(
            "",
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": username, "password": password})),
        );
        assert_eq!(st, 200, "{v}");
        v["token"].as_str().unwrap().to_owned()
    }
}

/// Every kind's listing path, from the kinds table.
fn kind_paths() -> Vec<&'static str> {
    orgscope_core::kind::KINDS.iter().map(|k| k.path).collect()
}

/// An installation with every kind, in two orgs (one moved under an org
/// made after it), tenant-wide, and people who see different parts of it.
/// Answers the tokens of the people (admin first).
fn populate(api: &Api) -> Vec<String> {
    let admin = api.login("admin", "admin-password-1");
    for slug in ["alpha", "beta", "gamma"] {
        api.make(&admin, "/api/v1/orgs", json!({"slug": slug, "name": slug}));
    }
    // beta's parent is younger than beta: a copy in id order must cope.
    let (st, v) = api.call(
        &admin,
        "PATCH",
        "/api/v1/orgs/beta",
        Some(json!({"parent": "gamma"})),
    );
    assert_eq!(st, 200, "{v}");
    for (user, role, org, manage) in [
        ("ann", "user", Some("alpha"), false),
        ("ben", "user", Some("beta"), true),
        ("audrey", "auditor", None, false),
    ] {
        api.make(
            &admin,
            "/api/v1/users",
            json!({"username": user, "password": "a-long-password", "role": role}),
        );
        if let Some(org) = org {
            api.make(
                &admin,
                &format!("/api/v1/orgs/{org}/members"),
                json!({"user": user, "can_manage": manage}),
            );
        }
    }
    // Tenant-wide, each kind that may be (the others refuse with a 422).
    for path in kind_paths() {
        let (st, v) = api.call(
            &admin,
            "POST",
            &format!("/api/v1/{path}"),
            Some(json!({"name": format!("tenant {path}"), "org": null, "content": "x", "patterns": ["rm -rf /"], "secret": "s", "instructions": "x", "address": "10.0.0.2"})),
        );
        assert!(matches!(st, 201 | 405 | 422), "{path}: {st} {v}");
    }
    for org in [json!("alpha"), json!("beta")] {
        let o = org.as_str().unwrap();
        let id = |v: Value| v["id"].as_str().unwrap().to_owned();
        api.make(
            &admin,
            "/api/v1/api-keys",
            json!({"name": format!("{o} key"), "org": org, "access": "read"}),
        );
        let specialty = id(api.make(
            &admin,
            "/api/v1/specialties",
            json!({"name": format!("{o} sre"), "org": org}),
        ));
        api.make(
            &admin,
            "/api/v1/operational-rules",
            json!({"name": format!("{o} rule"), "org": org, "content": "be careful"}),
        );
        let plugin = id(api.make(
            &admin,
            "/api/v1/plugins",
            json!({"name": format!("{o} plugin"), "org": org, "url": "https://example.com/p"}),
        ));
        api.make(
            &admin,
            "/api/v1/blacklists",
            json!({"name": format!("{o} deny"), "org": org, "patterns": ["rm -rf /"]}),
        );
        let credential = id(api.make(
            &admin,
            "/api/v1/credentials",
            json!({"name": format!("{o} db"), "org": org, "secret": format!("hunter2-{o}")}),
        ));
        let agent = id(api.make(&admin, "/api/v1/agents", json!({"name": format!("{o} bot"), "org": org, "specialty": specialty, "plugins": [plugin], "credentials": [credential]})));
        let host = id(api.make(
            &admin,
            "/api/v1/hosts",
            json!({"name": format!("{o} host"), "org": org, "address": "10.0.0.1"}),
        ));
        api.make(&admin, "/api/v1/tasks", json!({"name": format!("{o} task"), "org": org, "agent": agent, "host": host, "command": "uptime"}));
        api.make(&admin, "/api/v1/jobs", json!({"name": format!("{o} job"), "org": org, "agent": agent, "host": host, "command": "uptime", "schedule": "0 3 * * *"}));
        api.make(&admin, "/api/v1/gateways", json!({"name": format!("{o} alerts"), "org": org, "type": "alertmanager", "agent": agent, "host": host}));
        let definition = id(api.make(&admin, "/api/v1/api-definitions", json!({"name": format!("{o} api"), "org": org, "listen_path": format!("/{o}/"), "upstream_url": "http://127.0.0.1:9/", "published": true})));
        api.make(
            &admin,
            "/api/v1/api-gateways",
            json!({"name": format!("{o} edge"), "org": org}),
        );
        let developer = id(api.make(&admin, "/api/v1/developers", json!({"name": format!("{o} dev"), "org": org, "email": format!("dev@{o}.example.com")})));
        // Key requests come from developers, through a portal only (the portal tests).
        api.make(&admin, "/api/v1/consumer-keys", json!({"name": format!("{o} consumer"), "org": org, "developer": developer, "apis": [definition], "rate_limit": 100}));
        api.upload(
            &admin,
            &format!("{o}-runbook.md"),
            o,
            &format!("# {o}\nrestart the {o} ingress with care\n"),
        );
        let persona = id(api.make(
            &admin,
            "/api/v1/personas",
            json!({"name": format!("{o} helper"), "org": org, "instructions": "Answer briefly."}),
        ));
        let session = id(api.make(&admin, "/api/v1/sessions", json!({"persona": persona})));
        api.make(
            &admin,
            &format!("/api/v1/sessions/{session}/messages"),
            json!({"content": "how do I restart the ingress?"}),
        );
    }
    api.upload(
        &admin,
        "handbook.md",
        "tenant",
        "# handbook\nthe ingress lives in the edge\n",
    );
    // Extraction runs in the background: wait until every file has text.
    for _ in 0..200 {
        let (_, files) = api.call(&admin, "GET", "/api/v1/files?limit=200", None);
        let items = files["items"].as_array().cloned().unwrap_or_default();
        if items.iter().all(|f| f["extraction"] == "done") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut tokens = vec![admin];
    for user in ["ann", "ben", "audrey"] {
        tokens.push(api.login(user, "a-long-password"));
    }
    tokens
}

/// What each person is answered: every kind's listing, every resource by
/// id (seen or 404), file contents, search, orgs, users and the audit log.
/// The original's answers are the oracle a copy must match.
fn answers(api: &Api, tokens: &[String]) -> Answers {
    let mut out = Answers::new();
    let admin = &tokens[0];
    let mut ids = Vec::new();
    for path in kind_paths() {
        let (_, list) = api.call(admin, "GET", &format!("/api/v1/{path}?limit=200"), None);
        for item in list["items"].as_array().into_iter().flatten() {
            ids.push(format!("/api/v1/{path}/{}", item["id"].as_str().unwrap()));
            if path == "files" {
                ids.push(format!(
                    "/api/v1/files/{}/content",
                    item["id"].as_str().unwrap()
                ));
            }
        }
    }
    let mut asked: Vec<String> = kind_paths()
        .into_iter()
        .map(|p| format!("/api/v1/{p}?limit=200"))
        .collect();
    asked.extend(ids);
    asked.extend(
        [
            "/api/v1/orgs?limit=200",
            "/api/v1/users?limit=200",
            "/api/v1/audit?limit=500",
            "/api/v1/knowledge/search?q=ingress",
            "/api/v1/me",
        ]
        .map(String::from),
    );
    for (who, token) in tokens.iter().enumerate() {
        for path in &asked {
            out.insert(format!("{who} {path}"), api.call(token, "GET", path, None));
        }
    }
    out
}

/// Search scores are each database's own ranking (FTS5's bm25 and
/// PostgreSQL's ts_rank): the hits and their order must match, not them.
fn without_scores(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "score")
                .map(|(k, v)| (k.clone(), without_scores(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_scores).collect()),
        other => other.clone(),
    }
}

type Answers = std::collections::BTreeMap<String, (u16, Value)>;

/// The answers `api` gives now to what `before` asked ("who path" keys),
/// leaving out of listings the items `before` did not list: what a later
/// write added.
fn asked_again(api: &Api, tokens: &[String], before: &Answers) -> Answers {
    let mut out = Answers::new();
    for (ask, (_, was)) in before {
        let (who, path) = ask.split_once(' ').unwrap();
        let (st, mut now) = api.call(&tokens[who.parse::<usize>().unwrap()], "GET", path, None);
        if let (Some(items), Some(listed)) =
            (now["items"].as_array().cloned(), was["items"].as_array())
        {
            let ids: Vec<&Value> = listed.iter().map(|i| &i["id"]).collect();
            now["items"] = Value::Array(
                items
                    .into_iter()
                    .filter(|i| ids.contains(&&i["id"]))
                    .collect(),
            );
            if let Some(cursor) = was.get("next_cursor") {
                now["next_cursor"] = cursor.clone();
            }
        }
        out.insert(ask.clone(), (st, now));
    }
    out
}

fn assert_same_answers(original: &Answers, copy: &Answers) {
    assert_eq!(original.len(), copy.len());
    let mut seen = 0;
    for (ask, answer) in original {
        let copied = copy.get(ask).map(|(st, v)| (*st, without_scores(v)));
        assert_eq!(Some((answer.0, without_scores(&answer.1))), copied, "{ask}");
        if answer.0 == 200 {
            seen += 1;
        }
    }
    // Something was visible and something hidden: the comparison has teeth.
    assert!(
        seen > 100 && seen < original.len(),
        "{seen} of {}",
        original.len()
    );
}

/// Where PostgreSQL and S3 are for tests; `None` (skip) without them,
/// which CI never is.
pub(crate) fn postgres_and_s3() -> Option<(String, String, String)> {
    let pg = std::env::var("ORGSCOPE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let s3 = std::env::var("ORGSCOPE_TEST_S3_ENDPOINT")
        .ok()
        .filter(|u| !u.is_empty());
    let bucket = std::env::var("ORGSCOPE_TEST_S3_BUCKET").ok();
    match (pg, s3, bucket) {
        (Some(pg), Some(s3), Some(bucket)) => Some((pg, s3, bucket)),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI provides PostgreSQL and S3"
            );
            eprintln!("no ORGSCOPE_TEST_DATABASE_URL / ORGSCOPE_TEST_S3_*: skipped");
            None
        }
    }
}

/// A new, empty PostgreSQL database beside the test server's; its URL.
pub(crate) fn new_database(admin_url: &str) -> String {
    let name = format!(
        "orgscope_test_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let out = std::process::Command::new("psql")
        .args([admin_url, "-qc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (head, _) = admin_url.rsplit_once('/').unwrap();
    format!("{head}/{name}")
}

/// `orgscope migrate` of a populated installation into PostgreSQL and S3:
/// interrupted once, refused by a server meanwhile, resumed; then the copy
/// answers everyone exactly as the original did, every blob included.
#[test]
fn migrate_a_populated_installation_to_postgres_and_s3() {
    let Some((pg, s3, bucket)) = postgres_and_s3() else {
        return;
    };
    let dir = data_dir();
    let (mut server, url) = start_server(&dir);
    let api = Api::new(&url);
    let tokens = populate(&api);
    let original = answers(&api, &tokens);
    terminate(&server);
    server.0.wait().unwrap();

    let target = new_database(&pg);
    let s3_env = [
        ("ORGSCOPE_S3_ENDPOINT", s3.as_str()),
        ("ORGSCOPE_S3_BUCKET", bucket.as_str()),
    ];
    let migrate = |batch: &str| {
        let mut cmd = bin();
        cmd.args(["migrate", "--from"])
            .arg(&dir)
            .args(["--to", &target, "--batch", batch])
            .envs(s3_env);
        cmd
    };
    // Interrupted: one row a transaction, stopped once rows are in.
    let mut first = migrate("1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let copied = |table: &str| -> i64 {
        let out = std::process::Command::new("psql")
            .args([&target, "-tAc", &format!("SELECT count(*) FROM {table}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    };
    let started = Instant::now();
    while copied("resources") < 10 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the copy made no progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    // Orgs come before resources and are marked done with their last batch;
    // as if stopped before their references to each other were set.
    crate::replicas::psql(&target, "UPDATE orgs SET parent_id = NULL");
    // A server will not start on a half-copied database.
    let refused = bin()
        .args([
            "--database-url",
            &target,
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env(
            "ORGSCOPE_MASTER_KEY",
            std::fs::read_to_string(dir.join("master.key"))
                .unwrap()
                .trim(),
        )
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("unfinished `orgscope migrate`") && said.contains("run it again"),
        "{said}"
    );
    // Resumed to the end, verified.
    let done = migrate("500").output().unwrap();
    let said = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(
        said.contains("blobs verified") && said.contains("rows/s") && said.contains("MiB/s"),
        "{said}"
    );
    // Into a database that now holds data, a second copy is refused.
    let again = migrate("500").output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds data"));

    // The copy on PostgreSQL and S3, with the same master key, and the
    // blob folder gone: everything is read from the bucket.
    std::fs::rename(dir.join("blobs"), dir.join("blobs-moved")).unwrap();
    let other = data_dir();
    let key = std::fs::read_to_string(dir.join("master.key")).unwrap();
    let (_copy, copy_url) = start_server_with(
        &other,
        &["--database-url", &target],
        &[
            ("ORGSCOPE_MASTER_KEY", key.trim()),
            ("ORGSCOPE_S3_ENDPOINT", s3.as_str()),
            ("ORGSCOPE_S3_BUCKET", bucket.as_str()),
        ],
    );
    let copy = answers(&api.at(&copy_url), &tokens);
    assert_same_answers(&original, &copy);
    // A sealed secret opens with the same key on the copy.
    let (_, creds) = api
        .at(&copy_url)
        .call(&tokens[0], "GET", "/api/v1/credentials?q=alpha", None);
    let id = creds["items"][0]["id"].as_str().unwrap();
    let (st, revealed) = api.at(&copy_url).call(
        &tokens[0],
        "POST",
        &format!("/api/v1/credentials/{id}/reveal"),
        Some(json!({})),
    );
    assert_eq!(
        (st, revealed["secret"].as_str()),
        (200, Some("hunter2-alpha"))
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

/// `orgscope backup` while writes run, then `orgscope restore` into an
/// empty data dir: the restored server answers everyone as the original
/// did about everything the backup holds, including what was written
/// before the backup began, and every blob is the same.
#[test]
fn backup_while_writes_run_then_restore() {
    let dir = data_dir();
    let (server, url) = start_server(&dir);
    let api = Api::new(&url);
    let tokens = populate(&api);
    let before = answers(&api, &tokens);

    // Writers: orgs, credentials and files, until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rounds = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = {
        let (url, token, stop, rounds) =
            (url.clone(), tokens[0].clone(), stop.clone(), rounds.clone());
        std::thread::spawn(move || {
            let api = Api::new(&url);
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                api.make(
                    &token,
                    "/api/v1/orgs",
                    json!({"slug": format!("busy-{n}"), "name": "busy"}),
                );
                api.make(
                    &token,
                    "/api/v1/credentials",
                    json!({"name": format!("busy {n}"), "org": "alpha", "secret": "s"}),
                );
                api.upload(
                    &token,
                    &format!("busy-{n}.txt"),
                    "alpha",
                    &"busy ".repeat(1000 * (n + 1)),
                );
                n += 1;
                rounds.store(n, std::sync::atomic::Ordering::SeqCst);
            }
            n
        })
    };
    // The backup starts once writes are under way (and they go on during it).
    while rounds.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let file = dir.with_extension("backup.zip");
    let out = bin()
        .arg("--data-dir")
        .arg(&dir)
        .arg("backup")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let written = writer.join().unwrap();
    assert!(written > 0, "writes ran during the backup");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "a backup holds the master key");
    }

    // Into a data dir that is not empty: refused.
    let out = bin()
        .arg("--data-dir")
        .arg(&dir)
        .arg("restore")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    let restored = data_dir();
    let out = bin()
        .arg("--data-dir")
        .arg(&restored)
        .arg("restore")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (_copy, copy_url) = start_server(&restored);
    let copy = api.at(&copy_url);
    // Everything from before the backup began, answered alike.
    assert_same_answers(&before, &asked_again(&copy, &tokens, &before));
    // What the writers made: whatever the backup holds is whole, and
    // answered as the original answers it (files with their content).
    let admin = &tokens[0];
    let (_, files) = copy.call(admin, "GET", "/api/v1/files?q=busy&limit=200", None);
    let busy = files["items"].as_array().unwrap();
    for f in busy {
        let path = format!("/api/v1/files/{}/content", f["id"].as_str().unwrap());
        assert_eq!(
            copy.call(admin, "GET", &path, None),
            api.call(admin, "GET", &path, None),
            "{path}"
        );
    }
    let (_, orgs) = copy.call(admin, "GET", "/api/v1/orgs?limit=200", None);
    let orgs = orgs["items"].as_array().unwrap();
    let busy_orgs: Vec<&Value> = orgs
        .iter()
        .filter(|o| o["slug"].as_str().unwrap().starts_with("busy-"))
        .collect();
    assert!(
        !busy.is_empty() || !busy_orgs.is_empty(),
        "the backup holds some of what was written during it"
    );
    for o in busy_orgs {
        let path = format!("/api/v1/orgs/{}", o["id"].as_str().unwrap());
        assert_eq!(
            copy.call(admin, "GET", &path, None),
            api.call(admin, "GET", &path, None)
        );
    }
    // A sealed secret opens: the master key came back with the data.
    let (_, creds) = copy.call(admin, "GET", "/api/v1/credentials?q=alpha", None);
    let id = creds["items"][0]["id"].as_str().unwrap();
    let (st, revealed) = copy.call(
        admin,
        "POST",
        &format!("/api/v1/credentials/{id}/reveal"),
        Some(json!({})),
    );
    assert_eq!(
        (st, revealed["secret"].as_str()),
        (200, Some("hunter2-alpha"))
    );
    // No blob without its file, none missing.
    let blobs = blob_files(&restored);
    let (_, all) = copy.call(admin, "GET", "/api/v1/files?limit=200", None);
    assert_eq!(
        blobs.len(),
        all["items"].as_array().unwrap().len(),
        "{blobs:?}"
    );

    // A blob lost while its file stays: the backup fails naming it, and
    // leaves neither a zip that could not be restored nor its snapshot.
    let lost = blob_files(&dir)
        .into_iter()
        .find(|b| !b.contains('#'))
        .unwrap();
    std::fs::remove_file(dir.join("blobs/files").join(&lost)).unwrap();
    let broken = dir.with_extension("broken.zip");
    let out = bin()
        .arg("--data-dir")
        .arg(&dir)
        .arg("backup")
        .arg(&broken)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("damaged") && said.contains(&lost),
        "{said}"
    );
    assert!(!broken.exists(), "an unrestorable backup was left");
    let beside: Vec<_> = std::fs::read_dir(broken.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".orgscope-backup-")
        })
        .collect();
    assert!(beside.is_empty(), "the snapshot was left: {beside:?}");

    drop(server);
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&restored);
}
