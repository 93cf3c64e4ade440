//! The `orgscope` binary: the server (`serve`, `init`) and the admin CLI.
//!
//! Decisions: every admin command is one request to the REST API, sent either
//! to a running server (`--url` + `--token`) or, when no URL is given, to the
//! API's router in this process over the database directly (`--data-dir` or
//! `--database-url`), acting as a local operator with superuser rights, like
//! an `*-infra` tool. One code path, so the CLI and the API cannot disagree.
#![forbid(unsafe_code)]

mod args;
mod client;
mod login;
mod ops;
mod output;
mod settings;

use std::io::Write;

use anyhow::{Context, Result, bail};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::args::{
    ApiCmd, Args, AuditCmd, Command, ConsumerKeyCmd, CredentialCmd, DeveloperCmd, FileCmd, KeyCmd,
    KeyRequestCmd, KnowledgeCmd, MemberCmd, OrgCmd, PersonaCmd, ResourceCmd, RotatingCmd,
    SessionCmd, TaskCmd, TenantCmd, UserCmd,
};
use crate::client::Client;
use crate::output::Output;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (args, warnings) = match settings::parse(std::env::args_os().collect()) {
        Ok(parsed) => parsed,
        Err(e) => e.exit(),
    };
    // As before the setting was a flag: a filter that does not parse means `info`.
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.log_format == "json" {
        // One JSON object per line, with the request's span fields.
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<()> {
    match &args.command {
        Command::Serve {
            listen,
            max_upload_bytes,
            gateway_headers,
            trusted_proxies,
            metrics_listen,
            unready_seconds,
            drain_seconds,
            ..
        } => {
            let style = orgscope_core::gateway::ProxyStyle::parse(gateway_headers)
                .context("--gateway-headers: use nginx, traefik or envoy")?;
            let proxies = orgscope_server::client::Network::parse_list(trusted_proxies)
                .map_err(|e| anyhow::anyhow!("--trusted-proxies: {e}"))?;
            serve(
                &args,
                listen,
                metrics_listen.as_deref(),
                *max_upload_bytes,
                style,
                proxies,
                orgscope_server::Drain {
                    unready: std::time::Duration::from_secs(*unready_seconds),
                    bound: std::time::Duration::from_secs(*drain_seconds),
                },
            )
            .await
        }
        Command::Init => init(&args).await,
        Command::Migrate { from, to, batch } => ops::migrate(&args, from, to, *batch).await,
        Command::Backup { file } => ops::backup(&args, file).await,
        Command::Restore { file } => ops::restore(&args, file).await,
        _ => admin(&args).await,
    }
}

fn admin_password(args: &Args) -> Option<String> {
    args.admin_password
        .as_ref()
        .map(|p| p.expose_secret().to_owned())
}

async fn open(args: &Args, create: bool) -> Result<orgscope_server::AppState> {
    orgscope_server::open(&settings::server(args), create)
        .await
        .map_err(anyhow::Error::msg)
}

/// A password never comes from the command line: from `var`, else typed at
/// a prompt without echo, else the next line of standard input.
fn read_password(var: &str, prompt: &str) -> Result<String> {
    if let Some(v) = std::env::var_os(var) {
        return v
            .into_string()
            .map_err(|_| anyhow::anyhow!("{var} is not UTF-8"));
    }
    let password = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        rpassword::prompt_password(prompt).context("cannot read the password")?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        bail!("no password given ({var}, a prompt, or a line of standard input)");
    }
    Ok(password)
}

fn announce(b: &orgscope_server::Bootstrapped) {
    println!(
        "orgscope: created tenant '{}' with default org '{}' and admin user 'admin'",
        b.tenant, b.org
    );
    if let Some(p) = &b.generated_password {
        println!("orgscope: the admin's password (shown once, change it): {p}");
    }
}

async fn init(args: &Args) -> Result<()> {
    let state = open(args, true).await?;
    let store = &state.store;
    match orgscope_server::bootstrap(store, admin_password(args))
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?
    {
        Some(b) => announce(&b),
        None => println!(
            "orgscope: {} is already initialised; nothing to do",
            args.data_dir.display()
        ),
    }
    store.close().await;
    Ok(())
}

async fn serve(
    args: &Args,
    listen: &str,
    metrics_listen: Option<&str>,
    max_upload: u64,
    proxy_style: orgscope_core::gateway::ProxyStyle,
    trusted_proxies: Vec<orgscope_server::client::Network>,
    drain: orgscope_server::Drain,
) -> Result<()> {
    let state = open(args, true)
        .await?
        .with_max_upload(max_upload)
        .with_proxy_style(proxy_style)
        .with_trusted_proxies(trusted_proxies);
    if let Some(b) = orgscope_server::bootstrap(&state.store, admin_password(args))
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?
    {
        announce(&b);
    }
    orgscope_server::recover(&state)
        .await
        .map_err(|e| anyhow::anyhow!("start-up recovery: {e}"))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {listen}: is another server using it? pick another with --listen"
            )
        })?;
    if let Some(metrics_listen) = metrics_listen {
        let metrics = tokio::net::TcpListener::bind(metrics_listen)
            .await
            .with_context(|| format!("cannot listen on {metrics_listen} (--metrics-listen)"))?;
        println!(
            "orgscope: metrics on http://{}/metrics",
            metrics.local_addr()?
        );
        // It stops with the process, after the main server has drained.
        tokio::spawn(orgscope_server::serve_metrics(
            metrics,
            state.clone(),
            std::future::pending(),
        ));
    }
    let addr = listener.local_addr()?;
    println!(
        "orgscope: listening on http://{addr} (data in {})",
        args.data_dir.display()
    );
    if !orgscope_server::serve_until(listener, state, stop_signal(), drain).await? {
        eprintln!(
            "orgscope: stopped with requests still in flight after {}s (--drain-seconds)",
            drain.bound.as_secs()
        );
    }
    Ok(())
}

/// SIGTERM (what service managers and orchestrators send) or SIGINT (Ctrl-C).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Who has access, as people read it: one line per group (or the decision).
fn access_table(v: &Value) -> String {
    let mut out = String::new();
    if let Some(see) = v["see"].as_bool() {
        let yes = |b: bool| if b { "yes" } else { "no" };
        out.push_str(&format!(
            "{} {}\n  see:    {:<4}{}\n  change: {:<4}{}\n",
            v["kind"].as_str().unwrap_or_default(),
            v["name"].as_str().unwrap_or_default(),
            yes(see),
            v["see_because"].as_str().unwrap_or_default(),
            yes(v["change"].as_bool().unwrap_or(false)),
            v["change_because"].as_str().unwrap_or_default(),
        ));
        return out;
    }
    let r = &v["resource"];
    out.push_str(&format!(
        "{} {} ({}) in {}\n",
        r["kind"].as_str().unwrap_or_default(),
        r["name"].as_str().unwrap_or_default(),
        r["id"].as_str().unwrap_or_default(),
        r["org"]["slug"].as_str().unwrap_or("tenant-wide"),
    ));
    out.push_str(&format!(
        "{:<40} {:<5} {:<6} {:>6}  {}\n",
        "WHO", "SEE", "CHANGE", "COUNT", "NAMES"
    ));
    for g in v["groups"].as_array().into_iter().flatten() {
        let names: Vec<&str> = g["names"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let more = if g["next_cursor"].is_string() {
            ", ..."
        } else {
            ""
        };
        out.push_str(&format!(
            "{:<40} {:<5} {:<6} {:>6}  {}{more}\n",
            g["text"].as_str().unwrap_or_default(),
            if g["see"] == true { "yes" } else { "no" },
            if g["change"] == true { "yes" } else { "no" },
            g["count"].as_i64().unwrap_or(0),
            names.join(", "),
        ));
    }
    out
}

/// After a domain is set: what to publish in DNS, and the command that follows.
fn domain_hint(org: &Value) {
    let v = &org["domain_verification"];
    if v["status"] == "pending" {
        eprintln!(
            "the portal answers on {} once verified: publish a TXT record at {} with the value {}, then run `orgscope org verify-domain {}`",
            org["domain"].as_str().unwrap_or_default(),
            v["txt_name"].as_str().unwrap_or_default(),
            v["txt_value"].as_str().unwrap_or_default(),
            org["slug"].as_str().unwrap_or_default(),
        );
    }
}

fn org_value(org: &Option<String>, tenant_wide: bool) -> Option<Value> {
    if tenant_wide {
        Some(Value::Null)
    } else {
        org.as_ref().map(|o| json!(o))
    }
}

async fn admin(args: &Args) -> Result<()> {
    if let Command::Login { username } = &args.command {
        return login::login(args, username).await;
    }
    let client = Client::new(args).await?;
    let out = Output::pick(args.output.as_deref());
    let show = |v: &Value| output::show(out, v);
    match &args.command {
        Command::Serve { .. }
        | Command::Init
        | Command::Login { .. }
        | Command::Migrate { .. }
        | Command::Backup { .. }
        | Command::Restore { .. } => {
            unreachable!("handled in run and above")
        }
        Command::Logout => login::logout(&client).await?,
        Command::Tenant(cmd) => match cmd {
            TenantCmd::List => show(&client.get("/api/v1/tenants?limit=200").await?),
            TenantCmd::Create { slug, name } => show(
                &client
                    .send(
                        "POST",
                        "/api/v1/tenants",
                        Some(json!({"slug": slug, "name": name.as_deref().unwrap_or(slug)})),
                    )
                    .await?,
            ),
        },
        Command::Org(cmd) => match cmd {
            OrgCmd::Create {
                slug,
                name,
                parent,
                domain,
            } => {
                let mut body = json!({"slug": slug, "name": name.as_deref().unwrap_or(slug)});
                if let Some(p) = parent {
                    body["parent"] = json!(p);
                }
                if let Some(d) = domain {
                    body["domain"] = json!(d);
                }
                let out = client.send("POST", "/api/v1/orgs", Some(body)).await?;
                show(&out);
                domain_hint(&out);
            }
            OrgCmd::List => list(&client, out, "/api/v1/orgs").await?,
            OrgCmd::Show { org } => show(&client.get(&format!("/api/v1/orgs/{}", enc(org))).await?),
            OrgCmd::Move { org, parent, root } => {
                let parent = if *root {
                    Value::Null
                } else {
                    match parent {
                        Some(p) => json!(p),
                        None => bail!("give --parent ORG, or --root to make it a top-level org"),
                    }
                };
                show(
                    &client
                        .send(
                            "PATCH",
                            &format!("/api/v1/orgs/{}", enc(org)),
                            Some(json!({"parent": parent})),
                        )
                        .await?,
                );
            }
            OrgCmd::Update {
                org,
                name,
                slug,
                domain,
                no_domain,
            } => {
                let mut body = json!({});
                if let Some(n) = name {
                    body["name"] = json!(n);
                }
                if let Some(s) = slug {
                    body["slug"] = json!(s);
                }
                if let Some(d) = domain {
                    body["domain"] = json!(d);
                }
                if *no_domain {
                    body["domain"] = Value::Null;
                }
                let out = client
                    .send("PATCH", &format!("/api/v1/orgs/{}", enc(org)), Some(body))
                    .await?;
                show(&out);
                domain_hint(&out);
            }
            OrgCmd::VerifyDomain { org, skip_dns } => {
                let body = if *skip_dns {
                    json!({"skip_dns": true})
                } else {
                    json!({})
                };
                show(
                    &client
                        .send(
                            "POST",
                            &format!("/api/v1/orgs/{}/domain/verify", enc(org)),
                            Some(body),
                        )
                        .await?,
                );
            }
            OrgCmd::Delete {
                org,
                move_to,
                tenant_wide,
                delete_resources,
                preview,
            } => {
                let mut body = json!({});
                if let Some(m) = org_value(move_to, *tenant_wide) {
                    body["move_to"] = m;
                }
                if *delete_resources {
                    body["delete_resources"] = json!(true);
                }
                if *preview {
                    body["preview"] = json!(true);
                }
                let out = client
                    .send("DELETE", &format!("/api/v1/orgs/{}", enc(org)), Some(body))
                    .await?;
                if out.is_null() {
                    println!("deleted org {org}");
                } else {
                    show(&out);
                }
            }
        },
        Command::User(cmd) => match cmd {
            UserCmd::Create {
                username,
                role,
                password,
                default_org,
            } => {
                // The variable alone sets it, as when it was read by clap.
                let (password, generated) =
                    if *password || std::env::var_os("ORGSCOPE_USER_PASSWORD").is_some() {
                        (
                            read_password("ORGSCOPE_USER_PASSWORD", "password: ")?,
                            false,
                        )
                    } else {
                        (random_password(), true)
                    };
                let mut body = json!({"username": username, "password": password, "role": role});
                if let Some(o) = default_org {
                    body["default_org"] = json!(o);
                }
                show(&client.send("POST", "/api/v1/users", Some(body)).await?);
                if generated {
                    println!("password for {username} (shown once): {password}");
                }
            }
            UserCmd::List => list(&client, out, "/api/v1/users").await?,
            UserCmd::Delete { user } => show(
                &client
                    .send("DELETE", &format!("/api/v1/users/{}", enc(user)), None)
                    .await?,
            ),
            UserCmd::Show { user } => {
                show(&client.get(&format!("/api/v1/users/{}", enc(user))).await?)
            }
            UserCmd::Update {
                user,
                role,
                default_org,
                no_default_org,
                disable,
                enable,
                password,
                current_password,
            } => {
                let mut body = json!({});
                if *current_password {
                    body["current_password"] = json!(read_password(
                        "ORGSCOPE_CURRENT_PASSWORD",
                        "current password: "
                    )?);
                }
                if let Some(r) = role {
                    body["role"] = json!(r);
                }
                if let Some(o) = default_org {
                    body["default_org"] = json!(o);
                }
                if *no_default_org {
                    body["default_org"] = Value::Null;
                }
                if *disable {
                    body["disabled"] = json!(true);
                }
                if *enable {
                    body["disabled"] = json!(false);
                }
                if *password {
                    body["password"] =
                        json!(read_password("ORGSCOPE_USER_PASSWORD", "new password: ")?);
                }
                if body.as_object().is_some_and(|m| m.is_empty()) {
                    bail!(
                        "nothing to change: give --role, --default-org, --no-default-org, --disable, --enable or --password"
                    );
                }
                show(
                    &client
                        .send("PATCH", &format!("/api/v1/users/{}", enc(user)), Some(body))
                        .await?,
                );
            }
        },
        Command::Member(cmd) => match cmd {
            MemberCmd::Add { org, user, manage } => show(
                &client
                    .send(
                        "POST",
                        &format!("/api/v1/orgs/{}/members", enc(org)),
                        Some(json!({"user": user, "can_manage": manage})),
                    )
                    .await?,
            ),
            MemberCmd::Remove { org, user } => show(
                &client
                    .send(
                        "DELETE",
                        &format!("/api/v1/orgs/{}/members/{}", enc(org), enc(user)),
                        None,
                    )
                    .await?,
            ),
            MemberCmd::List { org } => {
                list(&client, out, &format!("/api/v1/orgs/{}/members", enc(org))).await?
            }
        },
        Command::Access {
            kind,
            id,
            user,
            key,
        } => {
            if orgscope_core::kind::by_path(kind).is_none() {
                bail!(
                    "no kind '{kind}': use the API's name of a kind (files, personas, agents, api-keys, ...)"
                );
            }
            let mut path = format!("/api/v1/{kind}/{}/access", enc(id));
            if let Some(u) = user {
                path.push_str(&format!("?user={}", enc(u)));
            } else if let Some(k) = key {
                path.push_str(&format!("?key={}", enc(k)));
            }
            let answer = client.send("GET", &path, None).await?;
            print!("{}", access_table(&answer));
        }
        Command::Key(cmd) => match cmd {
            KeyCmd::Create {
                name,
                org,
                access,
                expires_at,
            } => {
                let mut body = json!({"name": name, "org": org, "access": access});
                if let Some(e) = expires_at {
                    body["expires_at"] = json!(e);
                }
                let out = client.send("POST", "/api/v1/api-keys", Some(body)).await?;
                show(&out);
                eprintln!("the key is shown once: store `token` now");
            }
            KeyCmd::List { org } => list(&client, out, &with_org("/api/v1/api-keys", org)).await?,
            KeyCmd::Revoke { id } => {
                client
                    .send("DELETE", &format!("/api/v1/api-keys/{}", enc(id)), None)
                    .await?;
                println!("revoked key {id}");
            }
        },
        Command::File(cmd) => match cmd {
            FileCmd::Upload {
                paths,
                org,
                tenant_wide,
            } => {
                for path in paths {
                    let file = upload(&client, path, org.as_deref(), *tenant_wide).await?;
                    show(&file);
                    if matches!(client, Client::Local { .. }) {
                        // On the data dir, this process is the only one
                        // extracting: finish before exiting, or the file
                        // would wait for a server's sweep.
                        extracted(&client, &file).await?;
                    }
                }
            }
            FileCmd::List {
                org,
                sort,
                q,
                content_type,
                extraction,
            } => {
                let path = query(
                    "/api/v1/files",
                    &[
                        ("sort", Some(sort.clone())),
                        ("org", org.clone()),
                        ("q", q.clone()),
                        ("content_type", content_type.clone()),
                        ("extraction", extraction.clone()),
                    ],
                );
                list(&client, out, &path).await?;
            }
            FileCmd::Download { id, to } => download(&client, id, to.as_deref()).await?,
            FileCmd::Delete { id } => {
                client
                    .send("DELETE", &format!("/api/v1/files/{}", enc(id)), None)
                    .await?;
                eprintln!("deleted file {id} and its knowledge");
            }
            FileCmd::Rescope {
                id,
                org,
                tenant_wide,
                preview,
            } => {
                let body = json!({"org": org_value(org, *tenant_wide), "preview": preview});
                show(
                    &client
                        .send(
                            "POST",
                            &format!("/api/v1/files/{}/rescope", enc(id)),
                            Some(body),
                        )
                        .await?,
                );
            }
        },
        Command::Agent(cmd) => resource(&client, out, "agents", cmd).await?,
        Command::Host(cmd) => resource(&client, out, "hosts", cmd).await?,
        Command::Job(cmd) => resource(&client, out, "jobs", cmd).await?,
        Command::Specialty(cmd) => resource(&client, out, "specialties", cmd).await?,
        Command::OperationalRule(cmd) => resource(&client, out, "operational-rules", cmd).await?,
        Command::Plugin(cmd) => resource(&client, out, "plugins", cmd).await?,
        Command::Blacklist(cmd) => resource(&client, out, "blacklists", cmd).await?,
        Command::Task(TaskCmd::Common(cmd)) => resource(&client, out, "tasks", cmd).await?,
        Command::Task(TaskCmd::Cancel { id }) => show(
            &client
                .send("POST", &format!("/api/v1/tasks/{}/cancel", enc(id)), None)
                .await?,
        ),
        Command::Task(TaskCmd::Requeue { id }) => show(
            &client
                .send("POST", &format!("/api/v1/tasks/{}/requeue", enc(id)), None)
                .await?,
        ),
        Command::Gateway(cmd) => rotating(&client, out, "gateways", cmd).await?,
        Command::ApiGateway(cmd) => rotating(&client, out, "api-gateways", cmd).await?,
        Command::Persona(PersonaCmd::Common(cmd)) => {
            resource(&client, out, "personas", cmd).await?
        }
        Command::Persona(PersonaCmd::Assign { id, users, open }) => {
            let body = if *open {
                json!({"users": null})
            } else if users.is_empty() {
                bail!("name the users who may select it, or give --open");
            } else {
                json!({"users": users})
            };
            show(
                &client
                    .send(
                        "PUT",
                        &format!("/api/v1/personas/{}/assignments", enc(id)),
                        Some(body),
                    )
                    .await?,
            );
        }
        Command::Session(cmd) => session(&client, out, cmd).await?,
        Command::Knowledge(KnowledgeCmd::Search { query: q, org }) => {
            let path = query(
                "/api/v1/knowledge/search",
                &[("q", Some(q.clone())), ("org", org.clone())],
            );
            let hits = client.get(&path).await?;
            let items: Vec<Value> = hits["items"].as_array().cloned().unwrap_or_default();
            output::list(out, &items, &client.searched(&path));
        }
        Command::Credential(cmd) => credential(&client, out, cmd).await?,
        Command::KeyRequest(cmd) => match cmd {
            KeyRequestCmd::List { org, q } => {
                let path = query(
                    "/api/v1/key-requests",
                    &[("org", org.clone()), ("q", q.clone())],
                );
                list(&client, out, &path).await?;
            }
            KeyRequestCmd::Show { id } => show(
                &client
                    .get(&format!("/api/v1/key-requests/{}", enc(id)))
                    .await?,
            ),
            KeyRequestCmd::Approve { id } | KeyRequestCmd::Deny { id } => show(
                &client
                    .send(
                        "POST",
                        &format!("/api/v1/key-requests/{}/decide", enc(id)),
                        Some(json!({"approve": matches!(cmd, KeyRequestCmd::Approve { .. })})),
                    )
                    .await?,
            ),
        },
        Command::Api(cmd) => match cmd {
            ApiCmd::Create {
                name,
                org,
                listen_path,
                upstream_url,
                published,
                methods,
            } => {
                let body = json!({"name": name, "org": org, "listen_path": listen_path,
                    "upstream_url": upstream_url, "published": published, "methods": methods});
                show(
                    &client
                        .send("POST", "/api/v1/api-definitions", Some(body))
                        .await?,
                );
            }
            ApiCmd::List { org } => {
                list(&client, out, &with_org("/api/v1/api-definitions", org)).await?
            }
            ApiCmd::Show { id } => show(
                &client
                    .get(&format!("/api/v1/api-definitions/{}", enc(id)))
                    .await?,
            ),
            ApiCmd::Publish { id, off } => show(
                &client
                    .send(
                        "PATCH",
                        &format!("/api/v1/api-definitions/{}", enc(id)),
                        Some(json!({"published": !off})),
                    )
                    .await?,
            ),
            ApiCmd::Delete { id } => {
                client
                    .send(
                        "DELETE",
                        &format!("/api/v1/api-definitions/{}", enc(id)),
                        None,
                    )
                    .await?;
                println!("deleted API definition {id}");
            }
        },
        Command::Developer(cmd) => match cmd {
            DeveloperCmd::Create { name, org, email } => show(
                &client
                    .send(
                        "POST",
                        "/api/v1/developers",
                        Some(json!({"name": name, "org": org, "email": email})),
                    )
                    .await?,
            ),
            DeveloperCmd::List { org } => {
                list(&client, out, &with_org("/api/v1/developers", org)).await?
            }
            DeveloperCmd::Delete { id } => {
                client
                    .send("DELETE", &format!("/api/v1/developers/{}", enc(id)), None)
                    .await?;
                println!("deleted developer {id}");
            }
        },
        Command::ConsumerKey(cmd) => match cmd {
            ConsumerKeyCmd::Create {
                name,
                org,
                developer,
                apis,
                rate_limit,
                expires_at,
            } => {
                let mut body =
                    json!({"name": name, "org": org, "developer": developer, "apis": apis});
                if let Some(r) = rate_limit {
                    body["rate_limit"] = json!(r);
                }
                if let Some(e) = expires_at {
                    body["expires_at"] = json!(e);
                }
                show(
                    &client
                        .send("POST", "/api/v1/consumer-keys", Some(body))
                        .await?,
                );
                eprintln!("the key is shown once: give `token` to the developer now");
            }
            ConsumerKeyCmd::List { org } => {
                list(&client, out, &with_org("/api/v1/consumer-keys", org)).await?
            }
            ConsumerKeyCmd::Revoke { id } => {
                client
                    .send(
                        "DELETE",
                        &format!("/api/v1/consumer-keys/{}", enc(id)),
                        None,
                    )
                    .await?;
                println!("revoked consumer key {id}");
            }
        },
        Command::Audit(AuditCmd::Export { since, file }) => {
            let path = match since {
                Some(s) => format!("/api/v1/audit/export?since={}", enc(s)),
                None => "/api/v1/audit/export".into(),
            };
            let mut out: Box<dyn Write + Send> = match file {
                Some(file) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(file)
                        .with_context(|| format!("cannot create {}", file.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout())),
            };
            let lines = client.stream(&path, &mut out).await?;
            out.flush()?;
            eprintln!("exported {lines} audit entries");
        }
    }
    client.close().await;
    Ok(())
}

/// Streams one file to the server with a progress bar (on a terminal).
async fn upload(
    client: &Client,
    path: &std::path::Path,
    org: Option<&str>,
    tenant_wide: bool,
) -> Result<Value> {
    use futures_util::StreamExt;
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().await?.len();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} has no file name", path.display()))?;
    let mut query = format!("/api/v1/files?name={}", enc(&name));
    if tenant_wide {
        query.push_str("&org=tenant");
    } else if let Some(o) = org {
        query.push_str(&format!("&org={}", enc(o)));
    }
    let bar = indicatif::ProgressBar::new(size).with_message(name.clone());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let counted = bar.clone();
    let stream =
        tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).inspect(move |chunk| {
            if let Ok(c) = chunk {
                counted.inc(c.len() as u64);
            }
        });
    let out = client.send_stream(&query, stream, size).await;
    bar.finish_and_clear();
    out.with_context(|| format!("uploading {}", path.display()))
}

fn random_password() -> String {
    orgscope_server::auth::new_secret("")[..20].to_owned()
}

/// `--field name=value` pairs as a JSON object (values that read as JSON
/// are taken as JSON: lists, objects, numbers, booleans).
fn field_values(fields: &[String]) -> Result<serde_json::Map<String, Value>> {
    let mut out = serde_json::Map::new();
    for f in fields {
        let Some((name, value)) = f.split_once('=') else {
            bail!("--field {f}: write it as NAME=VALUE");
        };
        if name == "secret" {
            bail!(
                "--field secret: a secret never goes on the command line (every user of this machine sees it); set ORGSCOPE_SECRET or type it at the prompt"
            );
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
        out.insert(name.to_owned(), value);
    }
    Ok(out)
}

/// The generic verbs of a kind served at `/api/v1/{path}`.
async fn resource(client: &Client, out: Output, path: &str, cmd: &ResourceCmd) -> Result<()> {
    let base = format!("/api/v1/{path}");
    let show = |v: &Value| output::show(out, v);
    match cmd {
        ResourceCmd::Create { name, org, fields } => {
            let mut body = field_values(fields)?;
            body.insert("name".into(), json!(name));
            if let Some(o) = org {
                body.insert("org".into(), json!(o));
            }
            let made = client
                .send("POST", &base, Some(Value::Object(body)))
                .await?;
            show(&made);
            if made.get("token").is_some() {
                eprintln!("the secret is shown once: store `token` now");
            }
        }
        ResourceCmd::List {
            org,
            q,
            status,
            agent,
            enabled,
        } => {
            let path = query(
                &base,
                &[
                    ("org", org.clone()),
                    ("q", q.clone()),
                    ("status", status.clone()),
                    ("agent", agent.clone()),
                    ("enabled", enabled.map(|e| e.to_string())),
                ],
            );
            list(client, out, &path).await?;
        }
        ResourceCmd::Show { id } => show(&client.get(&format!("{base}/{}", enc(id))).await?),
        ResourceCmd::Update { id, name, fields } => {
            let mut body = field_values(fields)?;
            if let Some(n) = name {
                body.insert("name".into(), json!(n));
            }
            if body.is_empty() {
                bail!("nothing to change: give --name or --field NAME=VALUE");
            }
            show(
                &client
                    .send(
                        "PATCH",
                        &format!("{base}/{}", enc(id)),
                        Some(Value::Object(body)),
                    )
                    .await?,
            );
        }
        ResourceCmd::Delete { id } => {
            client
                .send("DELETE", &format!("{base}/{}", enc(id)), None)
                .await?;
            println!("deleted {id}");
        }
        ResourceCmd::Rescope { id, org, preview } => {
            let org = if org == "tenant" {
                Value::Null
            } else {
                json!(org)
            };
            show(
                &client
                    .send(
                        "POST",
                        &format!("{base}/{}/rescope", enc(id)),
                        Some(json!({"org": org, "preview": preview})),
                    )
                    .await?,
            );
        }
    }
    Ok(())
}

/// Waits, with a spinner, until a file's knowledge extraction has ended.
async fn extracted(client: &Client, file: &Value) -> Result<()> {
    let id = file["id"].as_str().unwrap_or_default();
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(format!("extracting the knowledge of {id}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let now = client
            .send("GET", &format!("/api/v1/files/{}", enc(id)), None)
            .await?;
        let state = now["extraction"]["state"].as_str().unwrap_or_default();
        if !["pending", "running"].contains(&state) {
            bar.finish_and_clear();
            eprintln!(
                "{id}: extraction {state} ({} knowledge entries){}",
                now["extraction"]["entries"],
                now["extraction"]["error"]
                    .as_str()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bar.finish_and_clear();
            bail!(
                "{id}: extraction is still {state} after 10 minutes; a running server will finish it"
            );
        }
        bar.tick();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A listing path, narrowed to an org when one is given.
fn with_org(path: &str, org: &Option<String>) -> String {
    match org {
        Some(o) => format!("{path}?org={}", enc(o)),
        None => path.to_owned(),
    }
}

/// Percent-encodes a path segment or query value.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every page of a listing, printed as `out` asks; an empty one says, on
/// standard error, what was searched.
async fn list(client: &Client, out: Output, path: &str) -> Result<()> {
    let items = client.list_all(path).await?;
    output::list(out, &items, &client.searched(path));
    Ok(())
}

/// `path` with the query parameters that are set.
fn query(path: &str, params: &[(&str, Option<String>)]) -> String {
    let mut out = path.to_owned();
    for (name, value) in params {
        if let Some(v) = value {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(&format!("{name}={}", enc(v)));
        }
    }
    out
}

/// The verbs of a kind whose secret the server issues, and its rotation.
async fn rotating(client: &Client, out: Output, path: &str, cmd: &RotatingCmd) -> Result<()> {
    match cmd {
        RotatingCmd::Common(cmd) => resource(client, out, path, cmd).await,
        RotatingCmd::Rotate { id, grace } => {
            let mut body = json!({});
            if let Some(g) = grace {
                body["grace_seconds"] = json!(g);
            }
            if let Some(given) = std::env::var_os("ORGSCOPE_GATEWAY_SECRET") {
                body["secret"] = json!(given.to_string_lossy());
            }
            let made = client
                .send(
                    "POST",
                    &format!("/api/v1/{path}/{}/rotate", enc(id)),
                    Some(body),
                )
                .await?;
            output::show(out, &made);
            eprintln!("the new secret is shown once: store `token` now");
            Ok(())
        }
    }
}

/// Chat sessions: start, send (the answer and what it cites), read.
async fn session(client: &Client, out: Output, cmd: &SessionCmd) -> Result<()> {
    let show = |v: &Value| output::show(out, v);
    match cmd {
        SessionCmd::Start { persona, name } => {
            let mut body = json!({"persona": persona});
            if let Some(n) = name {
                body["name"] = json!(n);
            }
            if let Ok(tz) = std::env::var("TZ")
                && !tz.is_empty()
            {
                body["timezone"] = json!(tz.trim_start_matches(':'));
            }
            show(&client.send("POST", "/api/v1/sessions", Some(body)).await?);
        }
        SessionCmd::List { org, q } => {
            let path = query(
                "/api/v1/sessions",
                &[("org", org.clone()), ("q", q.clone())],
            );
            list(client, out, &path).await?;
        }
        SessionCmd::Show { id } => {
            show(&client.get(&format!("/api/v1/sessions/{}", enc(id))).await?)
        }
        SessionCmd::Messages { id } => {
            list(
                client,
                out,
                &format!("/api/v1/sessions/{}/messages", enc(id)),
            )
            .await?;
        }
        SessionCmd::Send { id, message } => {
            let path = format!("/api/v1/sessions/{}/messages", enc(id));
            let body = json!({"content": message});
            if out != Output::Table {
                show(&client.send("POST", &path, Some(body)).await?);
                return Ok(());
            }
            // For people: the answer as the model writes it, then its sources.
            let mut streamed = false;
            let turn = client
                .post_streamed(&path, body, |delta| {
                    streamed = true;
                    print!("{delta}");
                    let _ = std::io::stdout().flush();
                })
                .await?;
            if streamed {
                println!();
                print!("{}", sources_text(&turn));
            } else {
                print!("{}", answer_text(&turn));
            }
        }
        SessionCmd::Delete { id } => {
            client
                .send("DELETE", &format!("/api/v1/sessions/{}", enc(id)), None)
                .await?;
            eprintln!("deleted session {id}");
        }
    }
    Ok(())
}

/// A turn's answer as people read it: the text, then its sources.
fn answer_text(turn: &Value) -> String {
    format!(
        "{}\n{}",
        turn["content"].as_str().unwrap_or_default(),
        sources_text(turn)
    )
}

/// The passages an answer cites, one a line.
fn sources_text(answer: &Value) -> String {
    let mut text = String::new();
    for c in answer["citations"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "  [{}] {}: {}\n",
            c["n"],
            c["file_name"].as_str().unwrap_or("a file you cannot see"),
            c["snippet"].as_str().unwrap_or_default()
        ));
    }
    text
}

/// A secret for a credential: never from the command line.
fn credential_secret() -> Result<String> {
    read_password("ORGSCOPE_SECRET", "secret: ")
}

async fn credential(client: &Client, out: Output, cmd: &CredentialCmd) -> Result<()> {
    let show = |v: &Value| output::show(out, v);
    match cmd {
        CredentialCmd::Create { name, org, fields } => {
            let mut body = field_values(fields)?;
            body.insert("name".into(), json!(name));
            if let Some(o) = org {
                body.insert("org".into(), json!(o));
            }
            body.insert("secret".into(), json!(credential_secret()?));
            show(
                &client
                    .send("POST", "/api/v1/credentials", Some(Value::Object(body)))
                    .await?,
            );
        }
        CredentialCmd::List { org, q } => {
            let path = query(
                "/api/v1/credentials",
                &[("org", org.clone()), ("q", q.clone())],
            );
            list(client, out, &path).await?;
        }
        CredentialCmd::Show { id } => show(
            &client
                .get(&format!("/api/v1/credentials/{}", enc(id)))
                .await?,
        ),
        CredentialCmd::Rotate { id } => {
            let body = json!({"secret": credential_secret()?});
            show(
                &client
                    .send(
                        "PATCH",
                        &format!("/api/v1/credentials/{}", enc(id)),
                        Some(body),
                    )
                    .await?,
            );
            eprintln!("credential {id}: the secret is replaced");
        }
        CredentialCmd::Reveal { id, yes } => {
            if !yes {
                confirm(&format!(
                    "reveal the secret of credential {id}? The reveal is audited"
                ))?;
            }
            let revealed = client
                .send(
                    "POST",
                    &format!("/api/v1/credentials/{}/reveal", enc(id)),
                    None,
                )
                .await?;
            match out {
                Output::Table => println!("{}", revealed["secret"].as_str().unwrap_or_default()),
                _ => show(&revealed),
            }
        }
        CredentialCmd::Delete { id } => {
            client
                .send("DELETE", &format!("/api/v1/credentials/{}", enc(id)), None)
                .await?;
            eprintln!("deleted credential {id}");
        }
    }
    Ok(())
}

/// Asks `question` on a terminal; elsewhere, says to give --yes.
fn confirm(question: &str) -> Result<()> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!("{question}: give --yes to confirm without a prompt");
    }
    eprint!("{question} [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if !matches!(line.trim(), "y" | "Y" | "yes") {
        bail!("not confirmed: nothing revealed");
    }
    Ok(())
}

/// Streams a file's content to `to` (or standard output) with a progress
/// bar on a terminal; a partial file is removed on failure.
async fn download(client: &Client, id: &str, to: Option<&std::path::Path>) -> Result<()> {
    let meta = client.get(&format!("/api/v1/files/{}", enc(id))).await?;
    let size = meta["size"].as_u64().unwrap_or(0);
    let name = meta["name"].as_str().unwrap_or(id).to_owned();
    let bar = indicatif::ProgressBar::new(size).with_message(name.clone());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let path = format!("/api/v1/files/{}/content", enc(id));
    let written = match to {
        Some(file) => {
            let f = std::fs::File::create(file)
                .with_context(|| format!("cannot create {}", file.display()))?;
            let mut w = output::Counted::new(std::io::BufWriter::new(f), bar.clone());
            let done = client.stream(&path, &mut w).await.and_then(|_| {
                w.flush()?;
                Ok(w.count())
            });
            if done.is_err() {
                let _ = std::fs::remove_file(file);
            }
            done
        }
        None => {
            let mut w = output::Counted::new(std::io::stdout(), bar.clone());
            let done = client.stream(&path, &mut w).await;
            w.flush()?;
            done.map(|_| w.count())
        }
    };
    bar.finish_and_clear();
    let written = written.with_context(|| format!("downloading file {id}"))?;
    if let Some(file) = to {
        eprintln!("{name}: {written} bytes to {}", file.display());
    }
    Ok(())
}
