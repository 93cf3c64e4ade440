//! Settings as an operator gives them: every variable named by `serve
//! --help`, a config file under the command line and the environment, and
//! secrets kept off the command line.

use std::io::Write;
use std::process::Stdio;

use crate::{bin, data_dir, login, start_server};

/// Every environment variable orgscope reads, written out by hand: a new
/// one must be added here and to `serve --help`.
const VARIABLES: &[&str] = &[
    "ORGSCOPE_DATA_DIR",
    "ORGSCOPE_DATABASE_URL",
    "ORGSCOPE_URL",
    "ORGSCOPE_TOKEN",
    "ORGSCOPE_TENANT",
    "ORGSCOPE_CONFIG",
    "ORGSCOPE_LOG",
    "ORGSCOPE_LOG_FORMAT",
    "ORGSCOPE_LISTEN",
    "ORGSCOPE_MAX_UPLOAD_BYTES",
    "ORGSCOPE_GATEWAY_HEADERS",
    "ORGSCOPE_TRUSTED_PROXIES",
    "ORGSCOPE_METRICS_LISTEN",
    "ORGSCOPE_MASTER_KEY",
    "ORGSCOPE_ADMIN_PASSWORD",
    "ORGSCOPE_S3_BUCKET",
    "ORGSCOPE_S3_ENDPOINT",
    "ORGSCOPE_S3_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "ORGSCOPE_DNS_SERVER",
    "ORGSCOPE_LLM_URL",
    "ORGSCOPE_LLM_MODEL",
    "ORGSCOPE_LLM_API_KEY",
    "ORGSCOPE_SMTP_URL",
    "ORGSCOPE_MAIL_FROM",
];

#[test]
fn serve_help_names_every_variable_and_shows_no_secret() {
    let out = bin()
        .args(["serve", "--help"])
        .env("ORGSCOPE_LISTEN", "127.0.0.1:7777")
        .env("ORGSCOPE_LLM_API_KEY", "sk-never-shown")
        .env(
            "ORGSCOPE_SMTP_URL",
            "smtp://mailer:relay-never-shown@127.0.0.1:2525",
        )
        .env("ORGSCOPE_MASTER_KEY", "ab".repeat(32))
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in VARIABLES {
        assert!(
            help.contains(&format!("[env: {var}")),
            "{var} is not in:\n{help}"
        );
    }
    // A plain setting's value is shown, a secret's is not.
    assert!(help.contains("ORGSCOPE_LISTEN=127.0.0.1:7777"), "{help}");
    assert!(!help.contains("sk-never-shown") && !help.contains(&"ab".repeat(32)));
    assert!(!help.contains("relay-never-shown"), "{help}");
}

fn config(text: &str) -> std::path::PathBuf {
    let file = data_dir().join("orgscope.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// The command line beats the environment, which beats the file, which
/// beats the default.
#[test]
fn a_config_file_under_the_environment_and_the_command_line() {
    let (from_file, from_env, from_flag) = (data_dir(), data_dir(), data_dir());
    let file = config(&format!(
        "data-dir = {:?}\n",
        from_file.display().to_string()
    ));
    let init = |env: Option<&std::path::Path>, flag: Option<&std::path::Path>| {
        let mut cmd = bin();
        cmd.env_remove("ORGSCOPE_DATA_DIR")
            .env_remove("ORGSCOPE_ADMIN_PASSWORD")
            .env("ORGSCOPE_CONFIG", &file);
        if let Some(dir) = env {
            cmd.env("ORGSCOPE_DATA_DIR", dir);
        }
        if let Some(dir) = flag {
            cmd.arg("--data-dir").arg(dir);
        }
        let out = cmd.arg("init").output().unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    let db = |dir: &std::path::Path| dir.join("orgscope.db").exists();
    init(None, None);
    assert!(db(&from_file));
    init(Some(&from_env), None);
    assert!(db(&from_env));
    init(Some(&from_env), Some(&from_flag));
    assert!(db(&from_flag));

    // A serve setting: the server listens where the file says.
    let dir = data_dir();
    let file = config(&format!(
        "data-dir = {:?}\nlisten = \"127.0.0.1:0\"\nadmin-password = \"admin-password-1\"\n",
        dir.display().to_string()
    ));
    let mut child = bin()
        .args(["serve", "--config"])
        .arg(&file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = crate::Server(child);
    let line = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map(Result::unwrap)
        .find(|l| l.starts_with("orgscope: listening on "))
        .unwrap();
    assert!(!line.contains(":8080"), "{line}");
    let url = line["orgscope: listening on ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    // The admin's password came from the file (`login` insists on a token).
    let rt = tokio::runtime::Runtime::new().unwrap();
    login(&rt, &url);
}

#[test]
fn an_unknown_key_is_an_error_naming_it_and_the_file() {
    let file = config("listen = \"127.0.0.1:0\"\nlisten-adress = \"x\"\n");
    let out = bin()
        .arg("--config")
        .arg(&file)
        .arg("init")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`listen-adress`") && err.contains(&file.display().to_string()),
        "{err}"
    );
    // A value clap refuses on the command line is refused from the file too.
    let file = config("max-upload-bytes = \"lots\"\n");
    let out = bin()
        .arg("--config")
        .arg(&file)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// A password given as a value is refused by the parser (it would sit in
/// `ps` and the shell's history); standard input and the variable work.
#[test]
fn passwords_never_come_from_the_command_line() {
    let dir = data_dir();
    let cli = || {
        let mut cmd = bin();
        cmd.arg("--data-dir").arg(&dir);
        cmd
    };
    let out = cli()
        .env("ORGSCOPE_ADMIN_PASSWORD", "admin-password-1")
        .arg("init")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for refused in [
        &["user", "create", "bob", "--password", "bob-password-1"][..],
        &["user", "update", "admin", "--password", "other-password-1"],
        &["user", "update", "admin", "--password=other-password-1"],
        &["--admin-password", "x", "init"],
    ] {
        let out = cli().args(refused).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{refused:?}: {out:?}");
    }
    // The variable.
    let out = cli()
        .args(["user", "create", "bob"])
        .env("ORGSCOPE_USER_PASSWORD", "bob-password-1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // Standard input, as a script gives it.
    let mut child = cli()
        .args(["user", "update", "bob", "--password"])
        .env_remove("ORGSCOPE_USER_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"bob-password-2\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");

    let (_server, url) = start_server(&dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = |password: &str| {
        rt.block_on(async {
            reqwest::Client::new()
                .post(format!("{url}/api/v1/auth/login"))
                .json(&serde_json::json!({"username": "bob", "password": password}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    assert_eq!(status("bob-password-2"), 200);
    assert_eq!(status("bob-password-1"), 401);
}
