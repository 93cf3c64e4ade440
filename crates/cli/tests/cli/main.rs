//! The `orgscope` binary as a person runs it: init, admin commands on the
//! database directly, then the same commands against a running server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

mod operator;
mod ops;
mod replicas;
mod settings;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orgscope"));
    cmd.env_remove("ORGSCOPE_URL")
        .env_remove("ORGSCOPE_TOKEN")
        .env_remove("ORGSCOPE_DATABASE_URL")
        .env_remove("ORGSCOPE_MASTER_KEY")
        .env("ORGSCOPE_LOG", "warn");
    cmd
}

fn data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "orgscope-cli-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(dir: &Path, args: &[&str]) -> Output {
    bin()
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run orgscope")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "orgscope {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn init_then_admin_commands_on_the_database() {
    let dir = data_dir();
    let out = bin()
        .arg("--data-dir")
        .arg(&dir)
        .arg("init")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("created tenant 'default'"), "{text}");
    assert!(text.contains("password (shown once"), "{text}");
    // The master key is private to its owner.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A second init changes nothing and prints no secret.
    let again = ok(&dir, &["init"]);
    assert!(
        again.contains("already initialised") && !again.contains("password"),
        "{again}"
    );

    let org = json(&ok(
        &dir,
        &["org", "create", "eng", "--name", "Engineering"],
    ));
    assert_eq!(org["slug"], "eng");
    ok(&dir, &["org", "create", "platform", "--parent", "eng"]);
    let list = ok(&dir, &["org", "list"]);
    assert_eq!(list.lines().count(), 3, "{list}");
    // A cycle is refused with what to fix.
    let out = run(&dir, &["org", "move", "eng", "--parent", "platform"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cycle"));
    // A domain is a claim until proved; on its own machine the operator vouches.
    let out = run(
        &dir,
        &["org", "update", "eng", "--domain", "eng.example.test"],
    );
    assert!(out.status.success());
    let hint = String::from_utf8_lossy(&out.stderr);
    assert!(
        hint.contains("TXT record at _orgscope.eng.example.test")
            && hint.contains("orgscope org verify-domain eng"),
        "{hint}"
    );
    let org = json(&ok(&dir, &["org", "verify-domain", "eng", "--skip-dns"]));
    assert_eq!(org["domain_verification"]["status"], "verified", "{org}");

    let out = bin()
        .arg("--data-dir")
        .arg(&dir)
        .args(["user", "create", "alice"])
        .env("ORGSCOPE_USER_PASSWORD", "alice-password-1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let user = String::from_utf8(out.stdout).unwrap();
    assert!(user.contains("\"alice\""), "{user}");
    let member = json(&ok(&dir, &["member", "add", "eng", "alice", "--manage"]));
    assert_eq!(member["can_manage"], true);
    let key = json(&ok(
        &dir,
        &[
            "key",
            "create",
            "--name",
            "ci",
            "--org",
            "eng",
            "--access",
            "read_write",
        ],
    ));
    assert!(key["token"].as_str().unwrap().starts_with("osk_"));
    let keys = ok(&dir, &["key", "list", "--org", "eng"]);
    assert!(
        !keys.contains("osk_"),
        "a listing never shows a key's secret: {keys}"
    );
    ok(&dir, &["key", "revoke", key["id"].as_str().unwrap()]);
    ok(&dir, &["member", "remove", "eng", "alice"]);
    let disabled = json(&ok(&dir, &["user", "update", "alice", "--disable"]));
    assert_eq!(disabled["disabled"], true);
    let deleted = json(&ok(&dir, &["user", "delete", "alice"]));
    assert_eq!(deleted["deleted"]["username"], "alice");
    let out = run(&dir, &["org", "show", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("404: no org 'nope'"));

    let export = dir.join("audit.jsonl");
    ok(
        &dir,
        &["audit", "export", "--file", export.to_str().unwrap()],
    );
    let lines: Vec<Value> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(json)
        .collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    for want in [
        "tenant.bootstrap",
        "org.create",
        "user.create",
        "member.add",
        "api_key.create",
        "api_key.delete",
        "member.remove",
        "user.update",
        "user.delete",
    ] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["at"].as_str() <= w[1]["at"].as_str() && w[0]["id"] != w[1]["id"])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `orgscope serve` on a free port; returns it and its URL.
fn start_server(dir: &Path) -> (Server, String) {
    start_server_with(dir, &[], &[])
}

/// [`start_server`] with more `serve` arguments and environment.
fn start_server_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Server, String) {
    let mut child = bin()
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .env("ORGSCOPE_ADMIN_PASSWORD", "admin-password-1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut url = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        assert!(
            !line.contains("admin-password-1"),
            "the given password is never printed"
        );
        if let Some(rest) = line.strip_prefix("orgscope: listening on ") {
            url = Some(rest.split(' ').next().unwrap().to_owned());
            break;
        }
    }
    (server, url.expect("the server says where it listens"))
}

/// `--metrics-listen` serves /metrics to anyone on its own address (meant
/// to be private); the API's address keeps asking for a superuser.
#[test]
fn metrics_on_a_listener_of_their_own() {
    let dir = data_dir();
    let mut child = bin()
        .arg("--data-dir")
        .arg(&dir)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .env("ORGSCOPE_ADMIN_PASSWORD", "admin-password-1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);
    let (mut metrics, mut url) = (None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("orgscope: metrics on ") {
            metrics = Some(rest.to_owned());
        }
        if let Some(rest) = line.strip_prefix("orgscope: listening on ") {
            url = Some(rest.split(' ').next().unwrap().to_owned());
            break;
        }
    }
    let (metrics, url) = (metrics.expect("the metrics address"), url.unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let res = http.get(&metrics).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("orgscope_build_info"));
        let res = http.get(format!("{url}/metrics")).send().await.unwrap();
        assert_eq!(res.status(), 401);
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn login(rt: &tokio::runtime::Runtime, url: &str) -> String {
    rt.block_on(async {
        let res: Value = reqwest::Client::new()
            .post(format!("{url}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": "admin", "password": "admin-password-1"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        res["token"].as_str().unwrap().to_owned()
    })
}

#[test]
fn serve_then_commands_against_the_server() {
    let dir = data_dir();
    let (server, url) = start_server(&dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let token = login(&rt, &url);
    let remote = |args: &[&str]| {
        bin()
            .args(["--url", &url])
            .env("ORGSCOPE_TOKEN", &token)
            .args(args)
            .output()
            .unwrap()
    };
    let out = remote(&["org", "create", "sales"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = remote(&["org", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"sales\""));
    let out = bin()
        .args(["--url", &url, "org", "list"])
        .env("ORGSCOPE_TOKEN", "oss_wrong")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_explains_each_command() {
    for cmd in [
        &["--help"][..],
        &["org", "--help"],
        &["org", "delete", "--help"],
        &["key", "create", "--help"],
        &["audit", "export", "--help"],
    ] {
        let out = bin().args(cmd).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:"), "{text}");
    }
    let out = bin().args(["org", "delete", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--move-to"));
}

fn blob_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("blobs/files"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_server_killed_mid_upload_leaves_nothing_after_a_restart() {
    use std::io::Write as _;
    let dir = data_dir();
    let (mut server, url) = start_server(&dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let token = login(&rt, &url);
    let addr = url.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "POST /api/v1/files?name=big.bin HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: 100000000\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![7u8; 1024 * 1024];
    for _ in 0..24 {
        conn.write_all(&chunk).unwrap();
    }
    conn.flush().unwrap();
    // Half-way: a part is on disk, staged, not yet a file.
    let staged = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(25));
        blob_files(&dir).iter().any(|n| n.contains('#'))
    });
    assert!(
        staged,
        "the upload reached the disk: {:?}",
        blob_files(&dir)
    );
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    drop(conn);

    let (_server, url) = start_server(&dir);
    assert!(
        blob_files(&dir).is_empty(),
        "left behind: {:?}",
        blob_files(&dir)
    );
    let token = login(&rt, &url);
    let out = bin()
        .args(["--url", &url, "file", "list"])
        .env("ORGSCOPE_TOKEN", &token)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty(),
        "no file is visible: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn file_upload_with_the_cli_then_rescope_with_preview() {
    let dir = data_dir();
    ok(&dir, &["init"]);
    ok(&dir, &["org", "create", "eng"]);
    let a = dir.join("a.txt");
    let b = dir.join("b.md");
    std::fs::write(&a, "alpha text").unwrap();
    std::fs::write(&b, "# beta").unwrap();
    let out = ok(
        &dir,
        &[
            "file",
            "upload",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--org",
            "eng",
        ],
    );
    assert_eq!(out.matches("\"kind\": \"file\"").count(), 2, "{out}");
    let list = ok(&dir, &["file", "list", "--org", "eng", "--sort", "name"]);
    let files: Vec<Value> = list.lines().map(json).collect();
    assert_eq!(
        files
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["a.txt", "b.md"]
    );
    // On the data dir the CLI finishes extraction before it exits.
    for f in &files {
        assert_eq!(f["extraction"]["state"], "done", "{f}");
        assert_eq!(f["extraction"]["entries"], 1, "{f}");
    }
    let id = files[0]["id"].as_str().unwrap();
    let preview = json(&ok(
        &dir,
        &["file", "rescope", id, "--tenant-wide", "--preview"],
    ));
    assert_eq!(preview["preview"], true);
    let still = ok(&dir, &["file", "list", "--org", "eng"]);
    assert_eq!(still.lines().count(), 2, "a preview changes nothing");
    let moved = json(&ok(&dir, &["file", "rescope", id, "--tenant-wide"]));
    assert_eq!(moved["resource"]["org"], Value::Null);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn api_management_with_the_cli() {
    let dir = data_dir();
    ok(&dir, &["init"]);
    ok(&dir, &["org", "create", "shop"]);
    let api = json(&ok(
        &dir,
        &[
            "api",
            "create",
            "Payments",
            "--org",
            "shop",
            "--listen-path",
            "/pay/",
            "--upstream-url",
            "http://127.0.0.1:9/",
            "--method",
            "GET",
        ],
    ));
    assert_eq!(api["listen_path"], "/pay/");
    let api_id = api["id"].as_str().unwrap();
    let published = json(&ok(&dir, &["api", "publish", api_id]));
    assert_eq!(published["published"], true);
    let dev = json(&ok(
        &dir,
        &[
            "developer",
            "create",
            "Dee",
            "--org",
            "shop",
            "--email",
            "dee@example.com",
        ],
    ));
    let dev_id = dev["id"].as_str().unwrap();
    let key = json(&ok(
        &dir,
        &[
            "consumer-key",
            "create",
            "dee's key",
            "--org",
            "shop",
            "--developer",
            dev_id,
            "--api",
            api_id,
            "--rate-limit",
            "60",
        ],
    ));
    assert!(key["token"].as_str().unwrap().starts_with("ock_"));
    let listed = ok(&dir, &["consumer-key", "list", "--org", "shop"]);
    assert!(!listed.contains("ock_"), "{listed}");
    // Deleting what a key refers to is refused with what blocks it.
    let out = run(&dir, &["developer", "delete", dev_id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("409"));
    ok(
        &dir,
        &["consumer-key", "revoke", key["id"].as_str().unwrap()],
    );
    ok(&dir, &["developer", "delete", dev_id]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn agent_infrastructure_with_the_cli() {
    let dir = data_dir();
    ok(&dir, &["init"]);
    ok(&dir, &["org", "create", "ops"]);
    let agent = json(&ok(&dir, &["agent", "create", "bot", "--org", "ops"]));
    let host = json(&ok(
        &dir,
        &[
            "host",
            "create",
            "web-1",
            "--org",
            "ops",
            "--field",
            "address=10.0.0.5",
            "--field",
            r#"labels={"env":"prod"}"#,
        ],
    ));
    assert_eq!(host["labels"]["env"], "prod");
    let (a, h) = (agent["id"].as_str().unwrap(), host["id"].as_str().unwrap());
    let task = json(&ok(
        &dir,
        &[
            "task",
            "create",
            "check",
            "--org",
            "ops",
            "--field",
            &format!("agent={a}"),
            "--field",
            &format!("host={h}"),
            "--field",
            "command=uptime",
        ],
    ));
    assert_eq!(task["command"], "uptime");
    let job = json(&ok(
        &dir,
        &[
            "job",
            "create",
            "nightly",
            "--org",
            "ops",
            "--field",
            &format!("agent={a}"),
            "--field",
            &format!("host={h}"),
            "--field",
            "command=uptime",
            "--field",
            "schedule=0 3 * * *",
        ],
    ));
    assert_eq!(job["schedule"], "0 3 * * *");
    let out = run(
        &dir,
        &[
            "job",
            "create",
            "bad",
            "--org",
            "ops",
            "--field",
            &format!("agent={a}"),
            "--field",
            &format!("host={h}"),
            "--field",
            "command=ls",
            "--field",
            "schedule=sometimes",
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("422: schedule"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gw = ok(
        &dir,
        &[
            "gateway",
            "create",
            "tickets",
            "--org",
            "ops",
            "--field",
            "type=generic",
            "--field",
            &format!("agent={a}"),
        ],
    );
    assert!(gw.contains("osg_"));
    assert_eq!(
        ok(&dir, &["task", "list", "--org", "ops"]).lines().count(),
        1
    );
    let out = run(
        &dir,
        &["agent", "rescope", a, "--org", "tenant", "--preview"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("always belongs to an org"));
    ok(&dir, &["org", "create", "ops-two"]);
    let preview = json(&ok(
        &dir,
        &["agent", "rescope", a, "--org", "ops-two", "--preview"],
    ));
    assert_eq!(preview["preview"], true);
    let blocking = preview["impact"]["blocking_references"].as_array().unwrap();
    assert!(
        blocking.len() >= 2,
        "the task and the job refer to it: {preview}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--log-format json`: one line per request with its route template,
/// status, request id (the client's, echoed back) and principal; never the
/// token.
#[test]
fn request_logs_name_the_route_the_request_and_the_principal() {
    use std::io::Read;
    let dir = data_dir();
    let mut child = bin()
        .arg("--data-dir")
        .arg(&dir)
        .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
        .env("ORGSCOPE_ADMIN_PASSWORD", "admin-password-1")
        .env("ORGSCOPE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut server = Server(child);
    let url = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("orgscope: listening on ")
                .map(|r| r.split(' ').next().unwrap().to_owned())
        })
        .expect("the server says where it listens");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let token = login(&rt, &url);
    let (echoed, generated) = rt.block_on(async {
        let http = reqwest::Client::new();
        let res = http
            .get(format!("{url}/api/v1/orgs/default"))
            .bearer_auth(&token)
            .header("x-request-id", "test-request-1")
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let res = http.get(format!("{url}/healthz")).send().await.unwrap();
        let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        (echoed, generated)
    });
    assert_eq!(echoed, "test-request-1");
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let mut logs = String::new();
    stderr.read_to_string(&mut logs).unwrap();
    assert!(!logs.contains(&token), "a token never reaches the logs");
    let line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["span"]["request_id"] == "test-request-1" && l["fields"]["status"].is_number())
        .unwrap_or_else(|| panic!("no log line of the request:\n{logs}"));
    assert_eq!(line["span"]["route"], "/api/v1/orgs/{org}", "{line}");
    assert_eq!(line["span"]["method"], "GET", "{line}");
    assert_eq!(line["fields"]["status"], 200, "{line}");
    assert!(
        line["span"]["principal"]
            .as_str()
            .is_some_and(|p| p.starts_with("usr_")),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
