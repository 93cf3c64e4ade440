//! From the raw arguments to settings: the command line, then the
//! environment (both read by clap), then the config file, then the defaults.
//!
//! Decisions: the config file's keys are the long flags' names (kebab-case,
//! `data-dir`, `max-upload-bytes`), so there is one list of settings, one
//! parser per setting and one `--help` for both. A value from the file is
//! handed to clap as if it followed the command, but only for settings the
//! command line and the environment left unset, so clap itself applies the
//! precedence and checks the value. Secrets given on the command line are
//! refused before any of this.

use std::ffi::OsString;
use std::path::Path;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::args::{Args, Command, SECRETS};

/// Global arguments that are no server setting: they make no sense in a
/// config file.
const NOT_IN_FILE: &[&str] = &["config", "url", "token", "tenant", "help", "version"];

/// Parses the command line and the config file it names. Also returns the
/// warnings to log once logging is set up.
pub fn parse(argv: Vec<OsString>) -> Result<(Args, Vec<String>), clap::Error> {
    let mut cmd = crate::args::with_kind_help(Args::command());
    let matches = cmd.try_get_matches_from_mut(argv.clone())?;
    for id in SECRETS {
        if source(&matches, id) == Some(ValueSource::CommandLine) {
            let arg = cmd
                .get_arguments()
                .chain(serve(&cmd).get_arguments())
                .find(|a| a.get_id() == id)
                .expect("every secret is an argument");
            let env = arg
                .get_env()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(cmd.error(
                ErrorKind::ArgumentConflict,
                format!(
                    "--{} takes a secret, which the command line shows to every user of this machine: set {env} or put it in the config file (--config)",
                    arg.get_long().unwrap_or_default()
                ),
            ));
        }
    }
    let mut warnings = Vec::new();
    let argv = match matches.get_one::<std::path::PathBuf>("config") {
        Some(file) => {
            let from_file = from_file(&mut cmd, &matches, file, &mut warnings)?;
            // Global settings go right after the program name, the serve
            // command's after it (it takes no positional arguments).
            let mut all = argv;
            let at = 1.min(all.len());
            all.splice(at..at, from_file.global);
            all.extend(from_file.command);
            all
        }
        None => argv,
    };
    let matches = crate::args::with_kind_help(Args::command()).try_get_matches_from(argv)?;
    let mut args = Args::from_arg_matches(&matches)?;
    args.local_chosen = ["data_dir", "database_url"]
        .iter()
        .any(|id| !matches!(source(&matches, id), None | Some(ValueSource::DefaultValue)));
    Ok((args, warnings))
}

/// Where a value came from, the strongest source at any level (a global
/// argument given after the subcommand is recorded there).
fn source(matches: &ArgMatches, id: &str) -> Option<ValueSource> {
    // `try_get_raw` first: `value_source` insists the id belongs to this level.
    let here = matches
        .try_get_raw(id)
        .ok()
        .flatten()
        .and_then(|_| matches.value_source(id));
    let below = matches.subcommand().and_then(|(_, sub)| source(sub, id));
    here.max(below)
}

fn serve(cmd: &clap::Command) -> &clap::Command {
    cmd.find_subcommand("serve")
        .expect("the serve command exists")
}

struct FromFile {
    global: Vec<OsString>,
    command: Vec<OsString>,
}

fn from_file(
    cmd: &mut clap::Command,
    matches: &ArgMatches,
    file: &Path,
    warnings: &mut Vec<String>,
) -> Result<FromFile, clap::Error> {
    let shown = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| {
        cmd.error(
            ErrorKind::Io,
            format!("cannot read the config file {shown}: {e}"),
        )
    })?;
    let table: toml::Table = text.parse().map_err(|e| {
        cmd.error(
            ErrorKind::InvalidValue,
            format!("the config file {shown} is not TOML: {e}"),
        )
    })?;
    let running_serve = matches!(matches.subcommand_name(), Some("serve"));
    let mut out = FromFile {
        global: Vec::new(),
        command: Vec::new(),
    };
    let mut secrets = Vec::new();
    for (key, value) in &table {
        let global = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()));
        let arg = global
            .or_else(|| {
                serve(cmd)
                    .get_arguments()
                    .find(|a| a.get_long() == Some(key.as_str()))
            })
            .filter(|a| !NOT_IN_FILE.contains(&a.get_id().as_str()));
        let Some(arg) = arg else {
            return Err(cmd.error(
                ErrorKind::UnknownArgument,
                format!(
                    "unknown key `{key}` in the config file {shown}: keys are the long flags of `orgscope serve --help`, such as `data-dir` or `listen`"
                ),
            ));
        };
        let id = arg.get_id().as_str().to_owned();
        if SECRETS.contains(&id.as_str()) {
            secrets.push(key.clone());
        }
        let is_global = global.is_some();
        if !is_global && !running_serve {
            // A serve setting: other commands have no use for it.
            continue;
        }
        if matches!(
            source(matches, &id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let flag = format!("--{key}");
        let takes_values = arg.get_action().takes_values();
        let values = match value {
            toml::Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        let mut given = Vec::new();
        for v in values {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) if !takes_values => {
                    if *b {
                        given.push(OsString::from(&flag));
                    }
                    continue;
                }
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(cmd.error(
                        ErrorKind::InvalidValue,
                        format!(
                            "`{key}` in the config file {shown}: give a string, a number or a boolean"
                        ),
                    ));
                }
            };
            // `--key=value`, so a value starting with '-' is not a flag.
            given.push(OsString::from(format!("{flag}={text}")));
        }
        if is_global {
            out.global.extend(given);
        } else {
            out.command.extend(given);
        }
    }
    if !secrets.is_empty() && world_readable(file) {
        warnings.push(format!(
            "the config file {shown} holds secrets ({}) and every user of this machine can read it: chmod o-r it",
            secrets.join(", ")
        ));
    }
    Ok(out)
}

#[cfg(unix)]
fn world_readable(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

#[cfg(not(unix))]
fn world_readable(_: &Path) -> bool {
    false
}

/// What the server's state is opened with.
pub fn server(args: &Args) -> orgscope_server::Settings {
    let s3 = args
        .s3_bucket
        .as_ref()
        .filter(|b| !b.is_empty())
        .map(|bucket| orgscope_server::blobs::S3Settings {
            bucket: bucket.clone(),
            endpoint: args.s3_endpoint.clone().filter(|e| !e.is_empty()),
            region: args.s3_region.clone().filter(|r| !r.is_empty()),
            access_key_id: args.s3_access_key_id.clone(),
            secret_access_key: args.s3_secret_access_key.clone(),
            session_token: args.s3_session_token.clone(),
        });
    let llm = match &args.command {
        Command::Serve {
            llm_url: Some(url),
            llm_model,
            llm_api_key,
            ..
        } if !url.is_empty() => Some(orgscope_server::LlmSettings {
            url: url.clone(),
            model: llm_model.clone(),
            api_key: llm_api_key.clone(),
        }),
        _ => None,
    };
    let mail = match &args.command {
        Command::Serve {
            smtp_url: Some(url),
            mail_from,
            ..
        } if !secrecy::ExposeSecret::expose_secret(url).is_empty() => {
            Some(orgscope_server::MailSettings {
                url: url.clone(),
                from: mail_from.clone(),
            })
        }
        _ => None,
    };
    orgscope_server::Settings {
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.clone(),
        master_key: args.master_key.clone(),
        s3,
        llm,
        mail,
        dns: args.dns_server.clone(),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn config(text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "orgscope-settings-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("orgscope.toml");
        std::fs::write(&file, text).unwrap();
        file
    }

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    /// No secret of the serve settings shows in a `Debug` (logged
    /// settings, a panic message), though each one is set.
    #[test]
    fn debug_shows_no_secret() {
        let file = config(
            r#"
master-key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
admin-password = "admin-secret-1"
s3-bucket = "b"
s3-secret-access-key = "s3-secret-2"
s3-session-token = "s3-token-3"
llm-url = "http://127.0.0.1:1/v1"
llm-api-key = "llm-secret-4"
"#,
        );
        let file = file.to_str().unwrap();
        let (args, _) = parse(argv(&["orgscope", "--config", file, "serve"])).unwrap();
        let settings = server(&args);
        // The environment beats the file (CI exports AWS_* for its S3
        // server): a secret the environment sets is not this file's to test.
        let from_file =
            |var: &str, value: &'static str| std::env::var_os(var).is_none().then_some(value);
        let secrets: Vec<&str> = [
            from_file(
                "ORGSCOPE_MASTER_KEY",
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            ),
            from_file("ORGSCOPE_ADMIN_PASSWORD", "admin-secret-1"),
            from_file("AWS_SECRET_ACCESS_KEY", "s3-secret-2"),
            from_file("AWS_SESSION_TOKEN", "s3-token-3"),
            from_file("ORGSCOPE_LLM_API_KEY", "llm-secret-4"),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert!(
            secrets.len() >= 3,
            "too few secrets left to test: {secrets:?}"
        );
        // They were read: the test would prove nothing otherwise.
        let read = [
            args.admin_password
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            settings.s3.as_ref().and_then(|s| {
                s.secret_access_key
                    .as_ref()
                    .map(|k| k.expose_secret().to_owned())
            }),
            settings.s3.as_ref().and_then(|s| {
                s.session_token
                    .as_ref()
                    .map(|k| k.expose_secret().to_owned())
            }),
            settings
                .llm
                .as_ref()
                .and_then(|l| l.api_key.as_ref().map(|k| k.expose_secret().to_owned())),
        ];
        for secret in secrets.iter().filter(|s| !s.starts_with("0011")) {
            assert!(
                read.iter().flatten().any(|r| r == secret),
                "{secret} was not read"
            );
        }
        assert!(settings.master_key.is_some());
        let shown = format!("{args:?}\n{settings:?}");
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        // The model client built from them hides its key too.
        let llm = settings.llm.unwrap();
        let client = orgscope_server::llm::Llm::new(&llm.url, &llm.model, llm.api_key);
        assert!(!format!("{client:?}").contains("llm-secret-4"));
    }

    #[test]
    fn a_secret_on_the_command_line_is_refused() {
        let err = parse(argv(&["orgscope", "serve", "--llm-api-key", "k"])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        assert!(err.to_string().contains("ORGSCOPE_LLM_API_KEY"), "{err}");
        let err = parse(argv(&["orgscope", "--master-key", "k", "init"])).unwrap_err();
        assert!(err.to_string().contains("ORGSCOPE_MASTER_KEY"), "{err}");
        let err = parse(argv(&["orgscope", "user", "list", "--token", "t"])).unwrap_err();
        assert!(err.to_string().contains("ORGSCOPE_TOKEN"), "{err}");
    }

    #[test]
    fn the_file_fills_what_the_command_line_leaves() {
        let file =
            config("listen = \"127.0.0.1:9999\"\nmax-upload-bytes = 1000\ndata-dir = \"/srv/o\"\n");
        let file = file.to_str().unwrap();
        let (args, _) = parse(argv(&["orgscope", "--config", file, "serve"])).unwrap();
        let Command::Serve {
            listen,
            max_upload_bytes,
            ..
        } = &args.command
        else {
            panic!("serve");
        };
        assert_eq!(
            (listen.as_str(), *max_upload_bytes),
            ("127.0.0.1:9999", 1000)
        );
        assert_eq!(args.data_dir, std::path::PathBuf::from("/srv/o"));
        let (args, _) = parse(argv(&[
            "orgscope",
            "--config",
            file,
            "serve",
            "--listen",
            "0.0.0.0:1",
        ]))
        .unwrap();
        let Command::Serve { listen, .. } = &args.command else {
            panic!("serve");
        };
        assert_eq!(listen, "0.0.0.0:1");
        // Serve's settings do not trouble other commands.
        let (args, _) = parse(argv(&["orgscope", "--config", file, "init"])).unwrap();
        assert_eq!(args.data_dir, std::path::PathBuf::from("/srv/o"));
    }

    #[test]
    fn a_world_readable_file_with_a_secret_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let file = config("admin-password = \"x-1\"\n");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = file.to_str().unwrap();
        let (_, warnings) = parse(argv(&["orgscope", "--config", path, "init"])).unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("admin-password")),
            "{warnings:?}"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (_, warnings) = parse(argv(&["orgscope", "--config", path, "init"])).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
