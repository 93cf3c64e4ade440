//! The command line as clap parses it. `--help` on every command explains it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use secrecy::SecretString;

/// Secrets are parsed straight into `SecretString`, so no `Debug` of the
/// arguments shows them.
fn secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s))
}

fn nameservers(s: &str) -> Result<orgscope_server::dns::Nameservers, String> {
    orgscope_server::dns::parse_list(s)
}

/// The arguments that hold secrets: refused on the command line (other
/// users see it in `ps`, shells keep it in their history), accepted from
/// the environment and the config file.
pub const SECRETS: &[&str] = &[
    "token",
    "master_key",
    "admin_password",
    "s3_secret_access_key",
    "s3_session_token",
    "llm_api_key",
    "smtp_url",
];

#[derive(Debug, Parser)]
#[command(
    name = "orgscope",
    version,
    about = "orgscope: organizations inside tenants, and who can see and change every resource",
    long_about = "orgscope is at once the server and its admin CLI.\n\n\
        `orgscope serve` runs the server (first start: creates a tenant, its admin and a default org).\n\
        Admin commands work on the database directly (--data-dir or --database-url, acting as a local operator \
        with superuser rights) or against a running server (--url with ORGSCOPE_TOKEN).\n\n\
        Settings come from the command line, then the environment, then the config file (--config), \
        then the defaults shown. Secrets (marked below) are never accepted on the command line."
)]
pub struct Args {
    /// Where the embedded store keeps its database, blobs and master key.
    #[arg(
        long,
        global = true,
        env = "ORGSCOPE_DATA_DIR",
        default_value = "./orgscope-data"
    )]
    pub data_dir: PathBuf,
    /// A PostgreSQL (postgres://…) or SQLite (sqlite://…) URL instead of the data dir's database.
    #[arg(long, global = true, env = "ORGSCOPE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// A running server's base URL (e.g. http://127.0.0.1:8080); admin commands then go to it.
    #[arg(long, global = true, env = "ORGSCOPE_URL")]
    pub url: Option<String>,
    /// A session or personal token for --url. Secret: from the environment only.
    #[arg(long, global = true, env = "ORGSCOPE_TOKEN", hide_env_values = true, value_parser = secret)]
    pub token: Option<SecretString>,
    /// How answers are printed: a table (the default on a terminal), JSON
    /// (the default otherwise; listings one item a line) or ids only.
    #[arg(long, short = 'o', global = true, env = "ORGSCOPE_OUTPUT", value_parser = ["table", "json", "ids"])]
    pub output: Option<String>,
    /// Log lines as text for people, or as JSON for log pipelines.
    #[arg(long, global = true, env = "ORGSCOPE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// The tenant (slug or id) to act in, for superusers and local use when the server has several.
    #[arg(long, global = true, env = "ORGSCOPE_TENANT")]
    pub tenant: Option<String>,
    /// A TOML file of settings named as the long flags (`data-dir = "/srv/orgscope"`);
    /// the command line and the environment override it.
    #[arg(long, global = true, env = "ORGSCOPE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Which log lines are written (a tracing filter: `info`, `warn,orgscope_server=debug`).
    #[arg(long, global = true, env = "ORGSCOPE_LOG", default_value = "info")]
    pub log: String,
    /// The master key that encrypts secrets at rest, 64 hex characters
    /// (default: the data dir's `master.key`, created at init). Secret: from
    /// the environment or the config file, never the command line.
    #[arg(long, global = true, env = "ORGSCOPE_MASTER_KEY", hide_env_values = true, value_parser = secret, help_heading = "Storage")]
    pub master_key: Option<SecretString>,
    /// The first admin's password when a tenant is bootstrapped (default:
    /// generated and printed once). Secret: from the environment or the
    /// config file, never the command line.
    #[arg(long, global = true, env = "ORGSCOPE_ADMIN_PASSWORD", hide_env_values = true, value_parser = secret, help_heading = "Storage")]
    pub admin_password: Option<SecretString>,
    /// Keep blobs in this S3-compatible bucket instead of the data dir's `blobs/`.
    #[arg(
        long,
        global = true,
        env = "ORGSCOPE_S3_BUCKET",
        help_heading = "Storage"
    )]
    pub s3_bucket: Option<String>,
    /// The S3 endpoint (e.g. http://127.0.0.1:9000); default: AWS.
    #[arg(
        long,
        global = true,
        env = "ORGSCOPE_S3_ENDPOINT",
        help_heading = "Storage"
    )]
    pub s3_endpoint: Option<String>,
    /// The S3 region [default: us-east-1].
    #[arg(
        long,
        global = true,
        env = "ORGSCOPE_S3_REGION",
        help_heading = "Storage"
    )]
    pub s3_region: Option<String>,
    /// The S3 access key id (other `AWS_*` credential sources still work).
    #[arg(
        long,
        global = true,
        env = "AWS_ACCESS_KEY_ID",
        help_heading = "Storage"
    )]
    pub s3_access_key_id: Option<String>,
    /// The S3 secret access key. Secret: from the environment or the config
    /// file, never the command line.
    #[arg(long, global = true, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true, value_parser = secret, help_heading = "Storage")]
    pub s3_secret_access_key: Option<SecretString>,
    /// A temporary S3 session token. Secret: from the environment or the config
    /// file, never the command line.
    #[arg(long, global = true, env = "AWS_SESSION_TOKEN", hide_env_values = true, value_parser = secret, help_heading = "Storage")]
    pub s3_session_token: Option<SecretString>,
    /// The DNS resolvers asked for org domain proofs: `ip` or `ip:port`,
    /// several comma-separated, asked in turn (default: every nameserver of
    /// /etc/resolv.conf).
    #[arg(long, global = true, env = "ORGSCOPE_DNS_SERVER", value_parser = nameservers)]
    pub dns_server: Option<orgscope_server::dns::Nameservers>,
    #[command(subcommand)]
    pub command: Command,
    /// Set by the parser: the data dir or database was chosen (command line,
    /// environment or config file), so a saved login does not apply.
    #[arg(skip)]
    pub local_chosen: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (REST API); bootstraps the data dir on first start.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "ORGSCOPE_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// The largest file upload accepted, in bytes (larger ones get 413).
        #[arg(long, env = "ORGSCOPE_MAX_UPLOAD_BYTES", default_value_t = orgscope_server::DEFAULT_MAX_UPLOAD)]
        max_upload_bytes: u64,
        /// The proxy in front of the gateway check, which decides where it
        /// reads the original request: nginx (X-Original-Method and
        /// X-Original-URI, pass $request_uri), traefik (X-Forwarded-Method
        /// and X-Forwarded-Uri) or envoy (the path after
        /// /api/v1/gateway/check). Requests with another style's headers are
        /// refused.
        #[arg(long, env = "ORGSCOPE_GATEWAY_HEADERS", default_value = "nginx", value_parser = ["nginx", "traefik", "envoy"])]
        gateway_headers: String,
        /// Proxies (addresses or networks, comma-separated: 10.0.0.0/8,127.0.0.1)
        /// whose X-Forwarded-For names the client, for login limits. None by
        /// default: the connection's address is the client's.
        #[arg(long, env = "ORGSCOPE_TRUSTED_PROXIES", default_value = "")]
        trusted_proxies: String,
        /// Also serve /metrics on this address, without authentication: put
        /// it on an interface only the scraper reaches (e.g. 10.0.0.5:9090).
        /// On --listen, /metrics answers superusers only.
        #[arg(long, env = "ORGSCOPE_METRICS_LISTEN")]
        metrics_listen: Option<String>,
        /// On SIGTERM or SIGINT, how long to go on taking requests while
        /// /readyz answers 503 (for a load balancer that polls readiness)
        /// before new connections are refused.
        #[arg(long, env = "ORGSCOPE_UNREADY_SECONDS", default_value_t = 0)]
        unready_seconds: u64,
        /// Then, how long requests in flight may take to finish before the
        /// process stops anyway (uploads cut short leave no file).
        #[arg(long, env = "ORGSCOPE_DRAIN_SECONDS", default_value_t = 30)]
        drain_seconds: u64,
        /// An OpenAI-compatible model endpoint for chat answers (its API root,
        /// e.g. http://127.0.0.1:11434/v1); none: answers are the retrieved passages.
        #[arg(long, env = "ORGSCOPE_LLM_URL", help_heading = "Chat model")]
        llm_url: Option<String>,
        /// The model the endpoint is asked for.
        #[arg(
            long,
            env = "ORGSCOPE_LLM_MODEL",
            default_value = "default",
            help_heading = "Chat model"
        )]
        llm_model: String,
        /// The endpoint's API key (sent as a bearer token). Secret: from the
        /// environment or the config file, never the command line.
        #[arg(long, env = "ORGSCOPE_LLM_API_KEY", hide_env_values = true, value_parser = secret, help_heading = "Chat model")]
        llm_api_key: Option<SecretString>,
        /// The SMTP relay the portals' confirmation mail goes through:
        /// smtp://host:port, smtp://user:password@host?tls=required
        /// (STARTTLS) or smtps://host; none: portals take no sign-ups.
        /// Secret (it may hold a password): from the environment or the
        /// config file, never the command line.
        #[arg(long, env = "ORGSCOPE_SMTP_URL", hide_env_values = true, value_parser = secret, help_heading = "Mail")]
        smtp_url: Option<SecretString>,
        /// The address portal mail comes from.
        #[arg(
            long,
            env = "ORGSCOPE_MAIL_FROM",
            default_value = "orgscope <noreply@localhost>",
            help_heading = "Mail"
        )]
        mail_from: String,
    },
    /// Copy an embedded installation (its SQLite database and blobs) into an
    /// empty PostgreSQL database, and its blobs to the S3 bucket of
    /// --s3-bucket (without one they stay in the data dir), with progress;
    /// then check every table's row count and every blob's SHA-256. Stop
    /// the server first. Run it again after an interruption: it resumes.
    Migrate {
        /// The installation to copy: its data dir, or sqlite://DIR/orgscope.db.
        #[arg(long)]
        from: String,
        /// The PostgreSQL database to copy into (postgres://user@host/db); empty.
        /// A URL with a password belongs in the variable, not on the command line.
        #[arg(long, env = "ORGSCOPE_MIGRATE_TO")]
        to: String,
        /// Rows written a transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=5000))]
        batch: i64,
    },
    /// Write a consistent snapshot of the embedded store (--data-dir: its
    /// database, every file's blob and the master key) to FILE, a zip,
    /// while the server runs. FILE holds every secret: keep it as safe as
    /// the data dir. (PostgreSQL: use pg_dump, see docs/DEPLOY.md.)
    Backup {
        /// The backup to write (a new file).
        file: PathBuf,
    },
    /// Put a backup (from `orgscope backup`) into an empty --data-dir,
    /// checking every blob's SHA-256, then serve it as usual.
    Restore {
        /// The backup to read.
        file: PathBuf,
    },
    /// Create the data dir, database and master key, and bootstrap the first
    /// tenant, its admin (password from ORGSCOPE_ADMIN_PASSWORD, or printed once) and default org.
    Init,
    /// Log in to a running server (--url) and keep its token in a file only
    /// you can read, so later commands need neither --url nor a token. The
    /// password comes from ORGSCOPE_PASSWORD, a prompt, or standard input.
    Login {
        #[arg(long)]
        username: String,
    },
    /// Forget the saved login (the token is logged out on the server too).
    Logout,
    /// Tenants (superusers).
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Organizations: create, list, show, update, move (re-parent), delete.
    #[command(subcommand)]
    Org(OrgCmd),
    /// Users: create, list, show, update (role, default org, disable, password).
    #[command(subcommand)]
    User(UserCmd),
    /// Org memberships.
    #[command(subcommand)]
    Member(MemberCmd),
    /// Org access keys (the `api-keys` kind): create, list, revoke.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Files: upload (streamed, with progress), list, re-scope (with preview).
    #[command(subcommand)]
    File(FileCmd),
    /// AI agents (fields: specialty, plugins, credentials).
    #[command(subcommand)]
    Agent(ResourceCmd),
    /// Hosts agents work on (fields: address, labels).
    #[command(subcommand)]
    Host(ResourceCmd),
    /// Tasks: one agent on one host (fields: agent, host, command); cancel, requeue.
    #[command(subcommand)]
    Task(TaskCmd),
    /// Scheduled jobs (fields: agent, host, command, schedule, timezone, enabled).
    #[command(subcommand)]
    Job(ResourceCmd),
    /// Gateways that turn tickets into tasks (fields: type, agent, host, default_command); rotate.
    #[command(subcommand)]
    Gateway(RotatingCmd),
    /// Chat personas (fields: instructions); assign restricts who may select one.
    #[command(subcommand)]
    Persona(PersonaCmd),
    /// Chat sessions: start one with a persona, send a message, read the answer.
    #[command(subcommand)]
    Session(SessionCmd),
    /// Search the knowledge extracted from the files you can see.
    #[command(subcommand)]
    Knowledge(KnowledgeCmd),
    /// Credentials agents use (the secret is never printed but by reveal).
    #[command(subcommand)]
    Credential(CredentialCmd),
    /// Specialties agents have.
    #[command(subcommand)]
    Specialty(ResourceCmd),
    /// Operational rules in force for agents (fields: content).
    #[command(subcommand, name = "operational-rule")]
    OperationalRule(ResourceCmd),
    /// Plugins agents use.
    #[command(subcommand)]
    Plugin(ResourceCmd),
    /// Blacklists: commands no task may run (fields: patterns).
    #[command(subcommand)]
    Blacklist(ResourceCmd),
    /// Developers' requests for consumer keys (from the portal): list, show, approve or deny.
    #[command(subcommand, name = "key-request")]
    KeyRequest(KeyRequestCmd),
    /// API gateways (proxies) of an org (fields: tags); rotate their secret.
    #[command(subcommand, name = "api-gateway")]
    ApiGateway(RotatingCmd),
    /// API definitions (served through the gateway check, listed on portals).
    #[command(subcommand)]
    Api(ApiCmd),
    /// Developers who consume an org's APIs.
    #[command(subcommand)]
    Developer(DeveloperCmd),
    /// Consumer keys issued to developers for API definitions.
    #[command(subcommand, name = "consumer-key")]
    ConsumerKey(ConsumerKeyCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Who can see and change a resource, and why (a table of groups), or
    /// one user's or org key's decision.
    Access {
        /// The kind as the API names it: files, personas, agents, api-keys...
        kind: String,
        id: String,
        /// One user's decision (username or id).
        #[arg(long, conflicts_with = "key")]
        user: Option<String>,
        /// One org key's decision (its id).
        #[arg(long)]
        key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiCmd {
    /// Define an API: the gateway serves it on its listen path.
    Create {
        name: String,
        #[arg(long)]
        org: String,
        /// Path prefix, e.g. /payments/ (unique in the tenant).
        #[arg(long)]
        listen_path: String,
        #[arg(long)]
        upstream_url: String,
        /// List it on the org's portal.
        #[arg(long)]
        published: bool,
        /// Allowed methods (repeat); none = all.
        #[arg(long = "method")]
        methods: Vec<String>,
    },
    /// List API definitions.
    List {
        #[arg(long)]
        org: Option<String>,
    },
    /// Show one.
    Show { id: String },
    /// Publish or unpublish on the portal.
    Publish {
        id: String,
        /// Take it off the portal instead.
        #[arg(long)]
        off: bool,
    },
    /// Delete one (refused while consumer keys grant it).
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum DeveloperCmd {
    /// Register a developer in an org.
    Create {
        name: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
    },
    /// List developers.
    List {
        #[arg(long)]
        org: Option<String>,
    },
    /// Delete one (refused while keys are issued to them).
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ConsumerKeyCmd {
    /// Issue a key to a developer for API definitions of the same org; the
    /// secret is printed once.
    Create {
        name: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        developer: String,
        /// An API definition id (repeat).
        #[arg(long = "api", required = true)]
        apis: Vec<String>,
        /// Requests per minute.
        #[arg(long)]
        rate_limit: Option<u32>,
        /// RFC 3339 time when the key stops working.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        org: Option<String>,
    },
    /// Revoke a key: the gateway refuses it at once.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum FileCmd {
    /// Upload one or more files. Without --org or --tenant-wide they go to your
    /// default org.
    Upload {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The org (slug or id) the files belong to.
        #[arg(long, conflicts_with = "tenant_wide")]
        org: Option<String>,
        /// Make the files visible to the whole tenant.
        #[arg(long)]
        tenant_wide: bool,
    },
    /// List files you can see.
    List {
        /// `all`, `tenant` or an org slug or id.
        #[arg(long)]
        org: Option<String>,
        /// name, time or size; '-' before for descending.
        #[arg(long, default_value = "time")]
        sort: String,
        /// Only files whose name contains this, ignoring case.
        #[arg(long)]
        q: Option<String>,
        /// Only files of this content type (text/markdown, application/pdf, ...).
        #[arg(long)]
        content_type: Option<String>,
        /// Only files whose extraction is pending, running, done, failed or unsupported.
        #[arg(long)]
        extraction: Option<String>,
    },
    /// Download a file's content (with progress) to --to, or standard output.
    Download {
        id: String,
        /// The file to write; default: standard output.
        #[arg(long)]
        to: Option<PathBuf>,
    },
    /// Delete a file and the knowledge extracted from it.
    Delete { id: String },
    /// Move a file to another org (or tenant-wide); --preview reports who
    /// loses and gains access and changes nothing.
    Rescope {
        id: String,
        #[arg(
            long,
            conflicts_with = "tenant_wide",
            required_unless_present = "tenant_wide"
        )]
        org: Option<String>,
        #[arg(long)]
        tenant_wide: bool,
        #[arg(long)]
        preview: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCmd {
    /// List tenants.
    List,
    /// Create a tenant (with a default org).
    Create {
        slug: String,
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCmd {
    /// Create an org.
    Create {
        /// Unique in the tenant: lower-case letters, digits and dashes.
        slug: String,
        /// Display name (default: the slug).
        #[arg(long)]
        name: Option<String>,
        /// Parent org (slug or id).
        #[arg(long)]
        parent: Option<String>,
        /// Host name of the org's portal (serves once verified: `org verify-domain`).
        #[arg(long)]
        domain: Option<String>,
    },
    /// List the orgs you can see.
    List,
    /// Show one org.
    Show { org: String },
    /// Rename an org, change its slug or domain.
    Update {
        org: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        slug: Option<String>,
        #[arg(long, conflicts_with = "no_domain")]
        domain: Option<String>,
        /// Remove the org's domain.
        #[arg(long)]
        no_domain: bool,
    },
    /// Prove the org's domain by its DNS TXT record; the portal then answers on it.
    VerifyDomain {
        org: String,
        /// Superusers: vouch for the domain without asking DNS.
        #[arg(long)]
        skip_dns: bool,
    },
    /// Re-parent an org (cycles are refused).
    Move {
        org: String,
        /// The new parent (slug or id).
        #[arg(long, conflicts_with = "root")]
        parent: Option<String>,
        /// Make it a top-level org.
        #[arg(long)]
        root: bool,
    },
    /// Delete an org; while it owns resources, say where they go.
    Delete {
        org: String,
        /// Move its resources to this org.
        #[arg(long, conflicts_with_all = ["tenant_wide", "delete_resources"])]
        move_to: Option<String>,
        /// Make its resources tenant-wide (refused for kinds that need an org).
        #[arg(long, conflicts_with = "delete_resources")]
        tenant_wide: bool,
        /// Delete its resources.
        #[arg(long)]
        delete_resources: bool,
        /// Report the impact and change nothing.
        #[arg(long)]
        preview: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user. Their password comes from ORGSCOPE_USER_PASSWORD when
    /// set, else with --password from a prompt (or standard input's first
    /// line when it is not a terminal); else a random one is printed once.
    Create {
        username: String,
        /// user, admin, auditor or superuser.
        #[arg(long, default_value = "user")]
        role: String,
        /// Ask for the password (never given as a value: see above).
        #[arg(long)]
        password: bool,
        /// An org (slug or id) the user joins and starts in.
        #[arg(long)]
        default_org: Option<String>,
    },
    /// List users.
    List,
    /// Show one user.
    Show { user: String },
    /// Delete a user: their sessions, tokens and org keys stop; what they made stays.
    Delete { user: String },
    /// Change a user's role, default org, password, or disable them (revoking
    /// their sessions, tokens and org keys at once).
    Update {
        user: String,
        #[arg(long)]
        role: Option<String>,
        #[arg(long, conflicts_with = "no_default_org")]
        default_org: Option<String>,
        #[arg(long)]
        no_default_org: bool,
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        #[arg(long)]
        enable: bool,
        /// Set a new password, from ORGSCOPE_USER_PASSWORD, else a prompt,
        /// else standard input's first line when it is not a terminal. Never
        /// given as a value.
        #[arg(long)]
        password: bool,
        /// Also give your current password, needed to change your own (remote
        /// mode): from ORGSCOPE_CURRENT_PASSWORD, else a prompt, else the
        /// line of standard input before the new one.
        #[arg(long, requires = "password")]
        current_password: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCmd {
    /// Add a user to an org (or change their can_manage).
    Add {
        org: String,
        user: String,
        /// Let them manage the org (members, name, domain).
        #[arg(long)]
        manage: bool,
    },
    /// Remove a user from an org: in force on their very next request.
    Remove { org: String, user: String },
    /// List an org's members.
    List { org: String },
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Create an org access key; its secret is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// The org the key acts in (slug or id).
        #[arg(long)]
        org: String,
        /// read or read_write.
        #[arg(long, default_value = "read")]
        access: String,
        /// RFC 3339 time when the key stops working.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        org: Option<String>,
    },
    /// Revoke a key: it stops working at once.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Export the audit log as JSON lines, oldest first.
    Export {
        /// Only entries at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        file: Option<PathBuf>,
    },
}

/// The same verbs for every kind of resource; kind fields are given as
/// `--field name=value` (JSON values such as lists and objects are read as JSON).
#[derive(Debug, Subcommand)]
pub enum ResourceCmd {
    /// Create one.
    Create {
        name: String,
        /// Its org (slug or id); absent: your default org.
        #[arg(long)]
        org: Option<String>,
        /// A kind field, e.g. --field command=uptime --field 'labels={"env":"prod"}'.
        #[arg(long = "field", value_name = "NAME=VALUE")]
        fields: Vec<String>,
    },
    /// List those you can see.
    List {
        /// `all`, `tenant` or an org slug or id.
        #[arg(long)]
        org: Option<String>,
        /// Only those whose name contains this, ignoring case.
        #[arg(long)]
        q: Option<String>,
        /// Tasks: queued, running, succeeded, failed, refused or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Tasks, jobs, gateways: those of this agent (id).
        #[arg(long)]
        agent: Option<String>,
        /// Jobs: firing (true) or disabled (false).
        #[arg(long)]
        enabled: Option<bool>,
    },
    /// Show one.
    Show { id: String },
    /// Change its name or fields.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "field", value_name = "NAME=VALUE")]
        fields: Vec<String>,
    },
    /// Delete one (refused while others refer to it).
    Delete { id: String },
    /// Move it to another org; --preview reports the impact and changes nothing.
    Rescope {
        id: String,
        #[arg(long, required = true)]
        org: String,
        #[arg(long)]
        preview: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TaskCmd {
    #[command(flatten)]
    Common(ResourceCmd),
    /// Stop a queued or running task (its agent hears so at its next report).
    Cancel { id: String },
    /// Queue a failed or cancelled task again, with a fresh count of attempts.
    Requeue { id: String },
}

/// A kind whose secret the server issues and can rotate.
#[derive(Debug, Subcommand)]
pub enum RotatingCmd {
    #[command(flatten)]
    Common(ResourceCmd),
    /// A new secret, printed once. Ticket gateways: the old one stays valid
    /// for --grace seconds; a secret the source made (PagerDuty) comes from
    /// ORGSCOPE_GATEWAY_SECRET.
    Rotate {
        id: String,
        /// Seconds the replaced secret keeps working (ticket gateways; at most a week).
        #[arg(long)]
        grace: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PersonaCmd {
    #[command(flatten)]
    Common(ResourceCmd),
    /// Restrict who may select it to these users (of its org), or --open it to everyone who sees it.
    Assign {
        id: String,
        /// Usernames or ids.
        users: Vec<String>,
        #[arg(long, conflicts_with = "users")]
        open: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Start a session with a persona (its org becomes the session's).
    Start {
        #[arg(long)]
        persona: String,
        /// Default: the persona's name and the local date and time.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the sessions you can see.
    List {
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        q: Option<String>,
    },
    /// Show one.
    Show { id: String },
    /// Send a message and print the answer with the passages it cites.
    Send { id: String, message: String },
    /// The messages of a session, oldest first.
    Messages { id: String },
    /// Delete one.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum KnowledgeCmd {
    /// Search what the files you can see say.
    Search {
        query: String,
        /// One org's knowledge and the tenant-wide one (slug or id).
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CredentialCmd {
    /// Create one; its secret comes from ORGSCOPE_SECRET, a prompt, or standard input.
    Create {
        name: String,
        #[arg(long)]
        org: Option<String>,
        #[arg(long = "field", value_name = "NAME=VALUE")]
        fields: Vec<String>,
    },
    /// List those you can see (never their secrets).
    List {
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        q: Option<String>,
    },
    /// Show one (never its secret).
    Show { id: String },
    /// Replace its secret (from ORGSCOPE_SECRET, a prompt, or standard input).
    Rotate { id: String },
    /// Print its secret; audited. Asks first on a terminal, unless --yes.
    Reveal {
        id: String,
        #[arg(long)]
        yes: bool,
    },
    /// Delete one (refused while agents list it).
    Delete { id: String },
}

/// The commands that manage a kind of the kinds table, by the kind's path.
pub const KIND_COMMANDS: &[(&str, &str)] = &[
    ("agent", "agents"),
    ("host", "hosts"),
    ("task", "tasks"),
    ("job", "jobs"),
    ("gateway", "gateways"),
    ("persona", "personas"),
    ("credential", "credentials"),
    ("specialty", "specialties"),
    ("operational-rule", "operational-rules"),
    ("plugin", "plugins"),
    ("blacklist", "blacklists"),
    ("api-gateway", "api-gateways"),
];

/// A field's type as `--help` reads it.
fn type_text(ty: &orgscope_core::kind::FieldType) -> String {
    use orgscope_core::kind::FieldType as T;
    match ty {
        T::Text(n) => format!("text (at most {n})"),
        T::Choice(c) => format!("one of {}", c.join("|")),
        T::Timestamp => "RFC 3339 time in the future".into(),
        T::Patterns => "JSON list of patterns (text, glob:…, re:…)".into(),
        T::Secret => "secret (never on the command line)".into(),
        T::Bool => "true|false".into(),
        T::Int(a, b) => format!("whole number {a}..{b}"),
        T::Choices(c) => format!("JSON list of {}", c.join("|")),
        T::Ref(k) => format!("id of a {k}"),
        T::Refs(k) => format!("JSON list of {k} ids"),
        T::Labels => "JSON object of labels".into(),
        T::Tags => "JSON list of tags".into(),
        T::Document(_) => "JSON object".into(),
        T::ReadOnly => "set by the server".into(),
    }
}

/// The fields of a kind, from core's kinds table, for `--help`.
pub fn fields_help(kind: &orgscope_core::kind::Kind) -> String {
    let shown: Vec<_> = kind
        .fields
        .iter()
        .filter(|f| !matches!(f.ty, orgscope_core::kind::FieldType::ReadOnly))
        .collect();
    let width = shown.iter().map(|f| f.name.len()).max().unwrap_or(0);
    let mut out = format!(
        "Fields of {} (--field NAME=VALUE; lists and objects as JSON):\n",
        kind.path
    );
    for f in shown {
        let mut notes = vec![type_text(&f.ty)];
        if f.required {
            notes.push("required".into());
        }
        if f.fixed {
            notes.push("fixed once made".into());
        }
        if let Some(d) = f.default {
            notes.push(format!("default {d}"));
        }
        out.push_str(&format!(
            "  {:<width$}  {}. {}\n",
            f.name,
            notes.join(", "),
            f.doc
        ));
    }
    out
}

/// `--help` of each kind's create and update lists the kind's fields.
pub fn with_kind_help(mut cmd: clap::Command) -> clap::Command {
    for (name, path) in KIND_COMMANDS {
        let Some(kind) = orgscope_core::kind::by_path(path) else {
            continue;
        };
        let help = fields_help(kind);
        cmd = cmd.mut_subcommand(*name, |c| {
            let mut c = c;
            for verb in ["create", "update"] {
                if c.find_subcommand(verb).is_some() {
                    let help = help.clone();
                    c = c.mut_subcommand(verb, |v| v.after_help(help));
                }
            }
            c
        });
    }
    cmd
}

#[derive(Debug, Subcommand)]
pub enum KeyRequestCmd {
    /// List the requests you can see.
    List {
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        q: Option<String>,
    },
    /// Show one.
    Show { id: String },
    /// Issue the consumer key asked for (its secret is the developer's, on the portal).
    Approve { id: String },
    /// Refuse it.
    Deny { id: String },
}
