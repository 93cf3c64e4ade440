//! The operator's day with the CLI: every kind's commands, tables and
//! JSON, task steering, credentials revealed on purpose, chat and knowledge,
//! downloads, a saved login against a running server, and local mode that
//! names its tenant.

use std::path::Path;

use serde_json::Value;

use super::{bin, data_dir, json, ok, run, start_server};

fn err(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(!out.status.success(), "orgscope {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

fn with_env(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = bin();
    cmd.arg("--data-dir").arg(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[test]
fn every_kind_tables_ids_and_steering_on_the_database() {
    let dir = data_dir();
    ok(&dir, &["init"]);
    ok(&dir, &["org", "create", "ops"]);
    let agent = id(&json(&ok(
        &dir,
        &["agent", "create", "bot", "--org", "ops"],
    )));
    let host = id(&json(&ok(
        &dir,
        &[
            "host",
            "create",
            "web-1",
            "--org",
            "ops",
            "--field",
            "address=10.0.0.5",
        ],
    )));
    let fields = [format!("agent={agent}"), format!("host={host}")];
    let task = |name: &str| {
        id(&json(&ok(
            &dir,
            &[
                "task",
                "create",
                name,
                "--org",
                "ops",
                "--field",
                &fields[0],
                "--field",
                &fields[1],
                "--field",
                "command=uptime",
            ],
        )))
    };
    let (first, second) = (task("first"), task("second"));

    // A table for people, ids for pipes, JSON lines for programs.
    let table = ok(&dir, &["task", "list", "--output", "table"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().take(3).collect::<Vec<_>>(),
        ["ID", "NAME", "ORG"],
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&first) && l.contains("ops") && l.contains("queued")),
        "{table}"
    );
    let ids = ok(&dir, &["task", "list", "-o", "ids"]);
    assert_eq!(
        ids.lines().collect::<Vec<_>>(),
        [first.as_str(), second.as_str()]
    );
    let shown = ok(&dir, &["task", "show", &first, "-o", "table"]);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("status") && l.ends_with("queued")),
        "{shown}"
    );

    // Steering: cancel, requeue, and listings by status.
    let cancelled = json(&ok(&dir, &["task", "cancel", &first]));
    assert_eq!(cancelled["status"], "cancelled");
    assert!(err(&dir, &["task", "cancel", &first]).contains("409"));
    assert_eq!(
        ok(
            &dir,
            &["task", "list", "--status", "cancelled", "-o", "ids"]
        )
        .trim(),
        first
    );
    let requeued = json(&ok(&dir, &["task", "requeue", &first]));
    assert_eq!(requeued["status"], "queued");
    assert_eq!(
        ok(&dir, &["task", "list", "--status", "queued", "-o", "ids"])
            .lines()
            .count(),
        2
    );
    // An empty listing says what it searched; a filter a kind has not is refused by name.
    let out = run(&dir, &["host", "list", "--q", "nothing-like-it"]);
    assert!(out.status.success() && out.stdout.is_empty());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("nothing found: GET /api/v1/hosts?q=nothing-like-it")
            && said.contains("data dir"),
        "{said}"
    );
    assert!(err(&dir, &["host", "list", "--status", "queued"]).contains("status"));

    // The kinds without a command of their own before.
    for (cmd, extra) in [
        ("specialty", None),
        ("operational-rule", Some("content=Announce in #ops first.")),
        ("plugin", None),
        ("blacklist", Some(r#"patterns=["reboot"]"#)),
    ] {
        let mut args = vec![cmd, "create", "one", "--org", "ops"];
        if let Some(f) = extra {
            args.extend(["--field", f]);
        }
        let made = json(&ok(&dir, &args));
        assert_eq!(made["name"], "one", "{cmd}");
        assert_eq!(
            ok(&dir, &[cmd, "list", "-o", "ids"]).trim(),
            id(&made),
            "{cmd}"
        );
    }
    assert!(
        err(
            &dir,
            &[
                "task",
                "create",
                "bad",
                "--org",
                "ops",
                "--field",
                &fields[0],
                "--field",
                &fields[1],
                "--field",
                "command=reboot"
            ]
        )
        .contains("blacklist")
    );

    // Credentials: the secret never on the command line, revealed on purpose.
    assert!(
        err(
            &dir,
            &[
                "credential",
                "create",
                "db",
                "--org",
                "ops",
                "--field",
                "secret=hunter2"
            ]
        )
        .contains("never goes on the command line")
    );
    let out = with_env(
        &dir,
        &[("ORGSCOPE_SECRET", "hunter2")],
        &["credential", "create", "db", "--org", "ops"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cred = id(&json(&String::from_utf8(out.stdout).unwrap()));
    assert!(!ok(&dir, &["credential", "show", &cred]).contains("hunter2"));
    assert!(err(&dir, &["credential", "reveal", &cred]).contains("--yes"));
    assert_eq!(
        ok(
            &dir,
            &["credential", "reveal", &cred, "--yes", "-o", "table"]
        )
        .trim(),
        "hunter2"
    );
    let out = with_env(
        &dir,
        &[("ORGSCOPE_SECRET", "correct horse")],
        &["credential", "rotate", &cred],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json(&ok(&dir, &["credential", "reveal", &cred, "--yes"]))["secret"],
        "correct horse"
    );

    // A gateway's secret rotated with a grace period, shown once.
    let gw = id(&json(&ok(
        &dir,
        &[
            "gateway",
            "create",
            "alerts",
            "--org",
            "ops",
            "--field",
            "type=alertmanager",
            "--field",
            &fields[0],
        ],
    )));
    let rotated = json(&ok(&dir, &["gateway", "rotate", &gw, "--grace", "60"]));
    assert!(rotated["token"].as_str().unwrap().starts_with("osg_"));

    // Files: uploaded, searched as knowledge, chatted about, downloaded, deleted.
    let runbook = dir.join("runbook.md");
    std::fs::write(
        &runbook,
        "# Ingress\nTo restart the ingress run kubectl rollout restart.\n",
    )
    .unwrap();
    let file = id(&json(&ok(
        &dir,
        &["file", "upload", runbook.to_str().unwrap(), "--org", "ops"],
    )));
    let hits = ok(
        &dir,
        &["knowledge", "search", "restart ingress", "-o", "table"],
    );
    assert!(hits.contains("runbook.md"), "{hits}");
    let back = dir.join("back.md");
    ok(
        &dir,
        &["file", "download", &file, "--to", back.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&runbook).unwrap()
    );
    assert_eq!(
        ok(
            &dir,
            &[
                "file",
                "list",
                "--q",
                "RUNBOOK",
                "--extraction",
                "done",
                "-o",
                "ids"
            ]
        )
        .trim(),
        file
    );
    let persona = id(&json(&ok(
        &dir,
        &[
            "persona",
            "create",
            "Ops helper",
            "--org",
            "ops",
            "--field",
            "instructions=Answer briefly.",
        ],
    )));
    let listed = json(ok(&dir, &["persona", "list"]).lines().next().unwrap());
    assert_eq!(listed["selectable"], true, "{listed}");
    // Restricted to a user, then open to everyone who sees it again.
    ok(&dir, &["user", "create", "rita"]);
    ok(&dir, &["member", "add", "ops", "rita"]);
    let assigned = json(&ok(&dir, &["persona", "assign", &persona, "rita"]));
    assert_eq!(
        (&assigned["restricted"], &assigned["users"][0]["username"]),
        (&Value::Bool(true), &Value::from("rita")),
        "{assigned}"
    );
    let opened = json(&ok(&dir, &["persona", "assign", &persona, "--open"]));
    assert_eq!(opened["restricted"], false, "{opened}");
    let session = json(&ok(&dir, &["session", "start", "--persona", &persona]));
    assert!(
        session["name"]
            .as_str()
            .unwrap()
            .starts_with("Ops helper, "),
        "{session}"
    );
    let answer = ok(
        &dir,
        &[
            "session",
            "send",
            &id(&session),
            "how do I restart the ingress?",
            "-o",
            "table",
        ],
    );
    assert!(answer.contains("runbook.md"), "{answer}");
    assert_eq!(
        ok(&dir, &["session", "messages", &id(&session), "-o", "ids"])
            .lines()
            .count(),
        2
    );
    ok(&dir, &["file", "delete", &file]);
    assert!(ok(&dir, &["file", "list", "-o", "ids"]).is_empty());

    // Key requests come from the portal; here none yet, and an unknown one is named.
    let out = run(&dir, &["key-request", "list"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing found: GET /api/v1/key-requests")
    );
    let why = err(&dir, &["key-request", "approve", "kr_nonesuch"]);
    assert!(why.contains("404") && why.contains("kr_nonesuch"), "{why}");

    // Each kind's create lists its fields and their types.
    let out = bin().args(["job", "create", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("schedule")
            && help.contains("timezone")
            && help.contains("default \"UTC\"")
            && help.contains("id of a agent"),
        "{help}"
    );

    // Local mode on a database of several tenants names one.
    ok(&dir, &["tenant", "create", "second"]);
    let why = err(&dir, &["org", "list"]);
    assert!(
        why.contains("several tenants") && why.contains("--tenant"),
        "{why}"
    );
    assert!(ok(&dir, &["--tenant", "default", "org", "list"]).contains("\"ops\""));
    assert!(
        ok(&dir, &["--tenant", "second", "org", "list", "-o", "ids"])
            .lines()
            .count()
            == 1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_saved_login_serves_later_commands() {
    let dir = data_dir();
    let (server, url) = start_server(&dir);
    let home = data_dir();
    let config = home.join("orgscope").join("login.toml");
    let cli = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = bin();
        cmd.current_dir(&home)
            .env("ORGSCOPE_CLI_CONFIG", &config)
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = cli(
        &["login", "--url", &url, "--username", "admin"],
        &[("ORGSCOPE_PASSWORD", "wrong-password")],
    );
    assert!(!out.status.success() && !config.exists());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    let out = cli(
        &["login", "--url", &url, "--username", "admin"],
        &[("ORGSCOPE_PASSWORD", "admin-password-1")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // No --url, no token: the saved login, against the server.
    let out = cli(&["org", "create", "sales"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["org", "list", "-o", "table"], &[]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.lines().next().unwrap().starts_with("ID") && table.contains("sales"),
        "{table}"
    );
    let out = cli(&["logout"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!config.exists());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&home);
}

/// An OpenAI-compatible endpoint that streams one answer in three pieces:
/// the first at once, the rest when the test opens `gate`.
fn model_server(rt: &tokio::runtime::Runtime, gate: std::sync::Arc<tokio::sync::Notify>) -> String {
    fn event(d: &str) -> String {
        format!(
            "data: {}\n\n",
            serde_json::json!({"choices": [{"delta": {"content": d}}]})
        )
    }
    rt.block_on(async {
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move || {
                let gate = gate.clone();
                async move {
                    use futures_util::StreamExt;
                    let first = futures_util::stream::once(async {
                        Ok::<_, std::convert::Infallible>(event("Run kubectl "))
                    });
                    let rest = futures_util::stream::once(async move {
                        gate.notified().await;
                        Ok(event("rollout restart ") + &event("[1].") + "data: [DONE]\n\n")
                    });
                    (
                        [("content-type", "text/event-stream")],
                        axum::body::Body::from_stream(first.chain(rest)),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    })
}

#[test]
fn a_session_streams_the_models_answer_to_the_terminal() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let model = model_server(&rt, gate.clone());
    let dir = data_dir();
    let mut child = bin()
        .arg("--data-dir")
        .arg(&dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--llm-url", &model])
        .env("ORGSCOPE_ADMIN_PASSWORD", "admin-password-1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = super::Server(child);
    let url = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map(Result::unwrap)
        .find_map(|l| {
            l.strip_prefix("orgscope: listening on ")
                .map(|r| r.split(' ').next().unwrap().to_owned())
        })
        .unwrap();
    let token = super::login(&rt, &url);
    let cli = |args: &[&str]| {
        let out = bin()
            .args(["--url", &url])
            .env("ORGSCOPE_TOKEN", &token)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    cli(&["org", "create", "ops"]);
    let runbook = dir.join("runbook.md");
    std::fs::write(
        &runbook,
        "To restart the ingress run kubectl rollout restart.\n",
    )
    .unwrap();
    cli(&["file", "upload", runbook.to_str().unwrap(), "--org", "ops"]);
    let persona = id(&json(&cli(&[
        "persona",
        "create",
        "Ops helper",
        "--org",
        "ops",
        "--field",
        "instructions=Be brief.",
    ])));
    let session = id(&json(&cli(&["session", "start", "--persona", &persona])));
    // Extraction runs in the server: wait until the file's knowledge is in.
    for _ in 0..100 {
        if cli(&["file", "list", "--extraction", "done", "-o", "ids"])
            .lines()
            .count()
            == 1
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The first words reach the terminal while the model is still writing.
    let mut child = bin()
        .args(["--url", &url])
        .env("ORGSCOPE_TOKEN", &token)
        .args([
            "session",
            "send",
            &session,
            "how do I restart the ingress?",
            "-o",
            "table",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        while std::io::Read::read(&mut stdout, &mut byte).unwrap_or(0) == 1 {
            if tx.send(byte[0]).is_err() {
                break;
            }
        }
    });
    let mut said = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !String::from_utf8_lossy(&said).contains("Run kubectl ") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(b) => said.push(b),
            Err(_) => panic!(
                "nothing streamed before the model finished: {:?}",
                String::from_utf8_lossy(&said)
            ),
        }
    }
    gate.notify_one();
    assert!(child.wait().unwrap().success());
    said.extend(rx.iter());
    let said = String::from_utf8(said).unwrap();
    assert!(
        said.starts_with("Run kubectl rollout restart [1].\n"),
        "{said}"
    );
    assert!(said.contains("[1] runbook.md"), "{said}");
    gate.notify_one();
    // Programs get the saved message as JSON.
    let saved = json(&cli(&[
        "session",
        "send",
        &session,
        "and again?",
        "-o",
        "json",
    ]));
    assert_eq!(saved["content"], "Run kubectl rollout restart [1].");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
