//! The `orgscope` binary as a person runs it: init, admin commands on the
//! database directly, then the same commands against a running server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

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

    let user = ok(
        &dir,
        &["user", "create", "alice", "--password", "alice-password-1"],
    );
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
    let out = run(&dir, &["org", "show", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("404: no org 'nope'"));

    let export = dir.join("audit.jsonl");
    ok(
        &dir,
        &["audit", "export", "--output", export.to_str().unwrap()],
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
    ] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64())
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

#[test]
fn serve_then_commands_against_the_server() {
    let dir = data_dir();
    let mut child = bin()
        .arg("--data-dir")
        .arg(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
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
    let url = url.expect("the server says where it listens");
    // Log in with the README's curl, here with reqwest's blocking-free twin: the CLI.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let token = rt.block_on(async {
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
    });
    let remote = |args: &[&str]| {
        bin()
            .args(["--url", &url, "--token", &token])
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
        .args(["--url", &url, "--token", "oss_wrong", "org", "list"])
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
