//! Two `orgscope serve` processes on one PostgreSQL database and one S3
//! bucket, behind a real nginx (round robin): they start together,
//! migrate once, and a change made through one is in force on the next
//! request through the other; limits, the scheduler and extraction hold
//! across both.

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::ops::{Api, new_database, postgres_and_s3};
use crate::{Server, bin, data_dir};

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// nginx in front of `replicas`, with the settings docs/DEPLOY.md gives.
fn nginx(dir: &Path, replicas: &[u16]) -> Option<(Nginx, String)> {
    let Some(binary) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        assert!(std::env::var_os("CI").is_none(), "CI installs nginx");
        eprintln!("no nginx: skipped");
        return None;
    };
    let port = free_port();
    let d = dir.display();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let servers: String = replicas
        .iter()
        .map(|p| format!("server 127.0.0.1:{p};\n"))
        .collect();
    let mut f = std::fs::File::create(dir.join("nginx.conf")).unwrap();
    write!(
        f,
        "worker_processes 1;
error_log {d}/error.log;
pid {d}/nginx.pid;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi; uwsgi_temp_path {d}/tmp/uwsgi; scgi_temp_path {d}/tmp/scgi;
  upstream orgscope {{ {servers} }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 0;
    location / {{
      proxy_pass http://orgscope;
      proxy_http_version 1.1;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}
}}
"
    )
    .unwrap();
    let child = Command::new(binary)
        .args([
            "-c",
            &format!("{d}/nginx.conf"),
            "-g",
            "daemon off; user root root;",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let nginx = Nginx(child);
    wait_for(port);
    Some((nginx, format!("http://127.0.0.1:{port}")))
}

/// A replica on `port`, on the shared database and bucket.
fn replica(dir: &Path, port: u16, database: &str, key: &str, s3: &[(&str, &str)]) -> Server {
    let child = bin()
        .arg("--data-dir")
        .arg(dir)
        .args([
            "--database-url",
            database,
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--trusted-proxies",
            "127.0.0.1",
        ])
        .env("ORGSCOPE_MASTER_KEY", key)
        .env("ORGSCOPE_ADMIN_PASSWORD", "admin-password-1")
        .envs(s3.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server(child)
}

pub(crate) fn psql(database: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([database, "-tAc", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn ids(listing: &Value) -> Vec<String> {
    listing["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn two_replicas_behind_nginx_act_as_one() {
    let Some((pg, s3, bucket)) = postgres_and_s3() else {
        return;
    };
    let dir = data_dir();
    let database = new_database(&pg);
    let key: String = (0..64)
        .map(|i| b"0123456789abcdef"[(i * 7 + 3) % 16] as char)
        .collect();
    let s3_env = [
        ("ORGSCOPE_S3_ENDPOINT", s3.as_str()),
        ("ORGSCOPE_S3_BUCKET", bucket.as_str()),
    ];
    let (pa, pb) = (free_port(), free_port());
    // Both start at the same moment on an empty database.
    let _a = replica(&dir.join("a"), pa, &database, &key, &s3_env);
    let _b = replica(&dir.join("b"), pb, &database, &key, &s3_env);
    wait_for(pa);
    wait_for(pb);
    assert_eq!(
        psql(
            &database,
            "SELECT count(*) = count(DISTINCT version) AND count(*) > 0 FROM _sqlx_migrations"
        ),
        "t",
        "each migration once"
    );
    assert_eq!(
        psql(&database, "SELECT count(*) FROM tenants"),
        "1",
        "one bootstrap"
    );
    let Some((_nginx, front)) = nginx(&dir.join("nginx"), &[pa, pb]) else {
        return;
    };
    let a = Api::new(&format!("http://127.0.0.1:{pa}"));
    let b = a.at(&format!("http://127.0.0.1:{pb}"));
    let lb = a.at(&front);
    let admin = lb.login("admin", "admin-password-1");
    for slug in ["alpha", "beta", "temp"] {
        lb.make(&admin, "/api/v1/orgs", json!({"slug": slug, "name": slug}));
    }
    for (user, org) in [("ann", "alpha"), ("ben", "beta"), ("carl", "temp")] {
        lb.make(
            &admin,
            "/api/v1/users",
            json!({"username": user, "password": "a-long-password", "role": "user"}),
        );
        lb.make(
            &admin,
            &format!("/api/v1/orgs/{org}/members"),
            json!({"user": user, "can_manage": false}),
        );
    }
    let ann = lb.login("ann", "a-long-password");
    let ben = lb.login("ben", "a-long-password");
    let carl = lb.login("carl", "a-long-password");

    // Re-scope through one, read through the other.
    let file = lb.upload(
        &admin,
        "runbook.md",
        "alpha",
        "restart the zanzibar ingress gently\n",
    );
    let path = format!("/api/v1/files/{}", file["id"].as_str().unwrap());
    assert_eq!(b.call(&ann, "GET", &path, None).0, 200);
    let (st, v) = a.call(
        &admin,
        "POST",
        &format!("{path}/rescope"),
        Some(json!({"org": "beta"})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        b.call(&ann, "GET", &path, None).0,
        404,
        "re-scoped on A, B still showed it"
    );
    assert_eq!(b.call(&ben, "GET", &path, None).0, 200);
    // Back through B, read through A.
    b.call(
        &admin,
        "POST",
        &format!("{path}/rescope"),
        Some(json!({"org": "alpha"})),
    );
    assert_eq!(a.call(&ben, "GET", &path, None).0, 404);
    assert_eq!(a.call(&ann, "GET", &path, None).0, 200);

    // Member removal.
    let cred = lb.make(
        &admin,
        "/api/v1/credentials",
        json!({"name": "db", "org": "alpha", "secret": "s"}),
    );
    let cred = format!("/api/v1/credentials/{}", cred["id"].as_str().unwrap());
    assert_eq!(a.call(&ann, "GET", &cred, None).0, 200);
    assert!(
        (200..300).contains(
            &b.call(&admin, "DELETE", "/api/v1/orgs/alpha/members/ann", None)
                .0
        )
    );
    assert_eq!(
        a.call(&ann, "GET", &cred, None).0,
        404,
        "removed on B, A still let her in"
    );
    assert!(ids(&a.call(&ann, "GET", "/api/v1/files", None).1).is_empty());

    // A user disabled.
    assert_eq!(b.call(&ben, "GET", "/api/v1/me", None).0, 200);
    let (st, v) = a.call(
        &admin,
        "PATCH",
        "/api/v1/users/ben",
        Some(json!({"disabled": true})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        b.call(&ben, "GET", "/api/v1/me", None).0,
        401,
        "disabled on A, B still let him in"
    );

    // A key revoked.
    let made = lb.make(
        &admin,
        "/api/v1/api-keys",
        json!({"name": "ci", "org": "alpha", "access": "read"}),
    );
    let token = made["token"].as_str().unwrap();
    assert_eq!(b.call(token, "GET", &cred, None).0, 200);
    let (st, _) = b.call(
        &admin,
        "DELETE",
        &format!("/api/v1/api-keys/{}", made["id"].as_str().unwrap()),
        None,
    );
    assert!((200..300).contains(&st), "{st}");
    assert_eq!(
        a.call(token, "GET", &cred, None).0,
        401,
        "revoked on B, A still took it"
    );

    // An org deleted.
    assert_eq!(a.call(&carl, "GET", "/api/v1/orgs/temp", None).0, 200);
    let (st, v) = b.call(&admin, "DELETE", "/api/v1/orgs/temp", None);
    assert!((200..300).contains(&st), "{st} {v}");
    assert_eq!(
        a.call(&carl, "GET", "/api/v1/orgs/temp", None).0,
        404,
        "deleted on B, A still had it"
    );

    // Limits, spread over both by nginx: a user's budget, then an address's.
    for i in 0..10 {
        let (st, _) = lb.call(
            "",
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": "carl", "password": format!("wrong-{i}")})),
        );
        assert_eq!(st, 401, "failure {i}");
    }
    let (st, _) = lb.call(
        "",
        "POST",
        "/api/v1/auth/login",
        Some(json!({"username": "carl", "password": "a-long-password"})),
    );
    assert_eq!(st, 429, "ten failures over two replicas lock the user");
    let from = |address: &str, user: &str, password: &str| {
        lb.call_with(
            &[("x-forwarded-for", address)],
            "POST",
            "/api/v1/auth/login",
            json!({"username": user, "password": password}),
        )
    };
    for i in 0..49 {
        assert_eq!(
            from("203.0.113.5", &format!("nobody-{i}"), "wrong"),
            401,
            "address failure {i}"
        );
    }
    assert_eq!(
        from("203.0.113.5", "nobody", "wrong"),
        429,
        "the address's budget is shared"
    );
    lb.make(
        &admin,
        "/api/v1/users",
        json!({"username": "dora", "password": "a-long-password", "role": "user"}),
    );
    assert_eq!(
        from("203.0.113.6", "dora", "a-long-password"),
        200,
        "another client behind the same proxy"
    );
    assert_eq!(
        from("127.0.0.1", "dora", "a-long-password"),
        200,
        "the proxy's own address is not locked"
    );

    // A consumer key's rate, spread over both.
    let api = lb.make(&admin, "/api/v1/api-definitions", json!({"name": "orders", "org": "alpha", "listen_path": "/orders/", "upstream_url": "http://127.0.0.1:9/", "published": true}));
    let dev = lb.make(
        &admin,
        "/api/v1/developers",
        json!({"name": "Dee", "org": "alpha", "email": "dee@example.com"}),
    );
    let consumer = lb.make(&admin, "/api/v1/consumer-keys", json!({"name": "metered", "org": "alpha", "developer": dev["id"], "apis": [api["id"]], "rate_limit": 4}));
    let consumer = consumer["token"].as_str().unwrap();
    // The shared check, which the tenant must take (else a gateway's secret).
    let (st, v) = lb.call(
        &admin,
        "PATCH",
        "/api/v1/tenant/gateways",
        Some(json!({"shared_check": true})),
    );
    assert_eq!(st, 200, "{v}");
    let checked = |via: &Api| {
        via.call_with(
            &[
                ("x-api-key", consumer),
                ("x-original-method", "GET"),
                ("x-original-uri", "/orders/1"),
            ],
            "GET",
            "/api/v1/gateway/check",
            Value::Null,
        )
    };
    let first: Vec<u16> = (0..4)
        .map(|i| checked(if i % 2 == 0 { &a } else { &b }))
        .collect();
    assert_eq!(first, vec![204; 4], "within the rate");
    assert_eq!(checked(&a), 429);
    assert_eq!(checked(&b), 429);

    // Extraction once per file, with two replicas' workers.
    let mut hits = 0;
    for _ in 0..200 {
        let (_, found) = lb.call(&admin, "GET", "/api/v1/knowledge/search?q=zanzibar", None);
        hits = found["items"].as_array().map_or(0, Vec::len);
        if hits > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    let (_, found) = lb.call(&admin, "GET", "/api/v1/knowledge/search?q=zanzibar", None);
    assert_eq!(
        (hits, found["items"].as_array().map_or(0, Vec::len)),
        (1, 1),
        "{found}"
    );

    // The scheduler fires each firing once across both (every 2 seconds,
    // over several ticks of each replica).
    let agent = lb.make(
        &admin,
        "/api/v1/agents",
        json!({"name": "bot", "org": "alpha"}),
    );
    let host = lb.make(
        &admin,
        "/api/v1/hosts",
        json!({"name": "box", "org": "alpha", "address": "10.0.0.1"}),
    );
    lb.make(&admin, "/api/v1/jobs", json!({"name": "often", "org": "alpha", "agent": agent["id"], "host": host["id"], "command": "uptime", "schedule": "*/2 * * * * *"}));
    std::thread::sleep(Duration::from_secs(16));
    let (_, tasks) = lb.call(&admin, "GET", "/api/v1/tasks?limit=200", None);
    let names: Vec<&str> = tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let distinct: std::collections::BTreeSet<&&str> = names.iter().collect();
    assert!(names.len() >= 3, "the job fired over the ticks: {names:?}");
    assert_eq!(
        distinct.len(),
        names.len(),
        "a firing made twice: {names:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
