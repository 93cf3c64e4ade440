//! `orgscope login`: a running server's URL and a session token, kept in a
//! file only its owner can read, so later commands need neither.
//!
//! Decisions: the file is `$ORGSCOPE_CLI_CONFIG`, else
//! `$XDG_CONFIG_HOME/orgscope/login.toml`, else `~/.config/orgscope/login.toml`,
//! written with mode 0600 (its folder 0700). It is used only when a command
//! names neither `--url` nor a data dir or database (which mean "here").

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::args::Args;
use crate::client::Client;

pub struct Saved {
    pub url: String,
    pub token: String,
    pub tenant: Option<String>,
}

fn path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORGSCOPE_CLI_CONFIG") {
        return Ok(PathBuf::from(p));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(x) if !x.is_empty() => PathBuf::from(x),
        _ => PathBuf::from(
            std::env::var_os("HOME").context("no HOME: set ORGSCOPE_CLI_CONFIG to a file path")?,
        )
        .join(".config"),
    };
    Ok(base.join("orgscope").join("login.toml"))
}

/// The saved login, if there is one.
pub fn saved() -> Result<Option<Saved>> {
    let file = path()?;
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not TOML: log in again", file.display()))?;
    let field = |k: &str| table.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    match (field("url"), field("token")) {
        (Some(url), Some(token)) => Ok(Some(Saved {
            url,
            token,
            tenant: field("tenant"),
        })),
        _ => bail!(
            "{} lacks url or token: run `orgscope login` again",
            file.display()
        ),
    }
}

pub async fn login(args: &Args, username: &str) -> Result<()> {
    let Some(url) = args.url.as_deref() else {
        bail!("give the server: orgscope login --url https://orgscope.example --username NAME");
    };
    let url = url.trim_end_matches('/').to_owned();
    let password = crate::read_password("ORGSCOPE_PASSWORD", &format!("{username}'s password: "))?;
    let mut body = json!({"username": username, "password": password});
    if let Some(t) = &args.tenant {
        body["tenant"] = json!(t);
    }
    let res = reqwest::Client::new()
        .post(format!("{url}/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}: is the server running?"))?;
    let status = res.status();
    let answer: serde_json::Value = res.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!(
            "{}: {}",
            status.as_u16(),
            answer["detail"].as_str().unwrap_or("the login was refused")
        );
    }
    let Some(token) = answer["token"].as_str() else {
        bail!("the server answered no token");
    };
    // TOML basic strings take JSON's escapes.
    let quote = |v: &str| serde_json::to_string(v).unwrap_or_default();
    let mut text = format!("url = {}\ntoken = {}\n", quote(&url), quote(token));
    if let Some(t) = &args.tenant {
        text.push_str(&format!("tenant = {}\n", quote(t)));
    }
    let file = path()?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    // A login replaces the last one; the file is made anew, 0600 from birth.
    let _ = std::fs::remove_file(&file);
    orgscope_server::crypto::write_private(&file, &text)
        .with_context(|| format!("cannot write {}", file.display()))?;
    eprintln!(
        "logged in to {url} as {username}; the token is in {} (only you can read it)",
        file.display()
    );
    Ok(())
}

/// Logs the saved token out on the server, then forgets it.
pub async fn logout(client: &Client) -> Result<()> {
    let file = path()?;
    if saved()?.is_none() {
        eprintln!("not logged in ({} does not exist)", file.display());
        return Ok(());
    }
    if let Client::Remote { .. } = client {
        client.send("POST", "/api/v1/auth/logout", None).await?;
    }
    std::fs::remove_file(&file).with_context(|| format!("cannot remove {}", file.display()))?;
    eprintln!("logged out; removed {}", file.display());
    Ok(())
}
