//! Kinds are data: one table of every resource kind the server serves, its
//! scope policy and its fields. The generic routes, the field validation and the
//! OpenAPI document are all read from [`KINDS`].

use serde_json::{Map, Value};

/// Who may hold a resource of a kind tenant-wide (DESIGN section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScopePolicy {
    /// Always in an org; never tenant-wide.
    OrgRequired,
    /// Optional org; tenant-wide ones are written by admins only.
    AdminTenantWide,
    /// Optional org; tenant-wide ones are written by their creator and admins.
    CreatorTenantWide,
}

impl ScopePolicy {
    pub const ALL: [ScopePolicy; 3] = [
        ScopePolicy::OrgRequired,
        ScopePolicy::AdminTenantWide,
        ScopePolicy::CreatorTenantWide,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// A string of at most this many characters.
    Text(usize),
    /// One of these strings.
    Choice(&'static [&'static str]),
    /// An RFC 3339 timestamp: an expiry (the app refuses one already past).
    Timestamp,
    /// A list of blacklist patterns: literal, `glob:…` or `re:…`.
    Patterns,
    /// A secret: accepted on write, never returned (stored encrypted).
    Secret,
    /// true or false.
    Bool,
    /// A whole number in this range.
    Int(i64, i64),
    /// A list of these strings (no repeats).
    Choices(&'static [&'static str]),
    /// The id of a resource of this kind (its `name`), in the same org or tenant-wide.
    Ref(&'static str),
    /// Ids of resources of this kind, in the same org or tenant-wide.
    Refs(&'static str),
    /// An object of short string labels.
    Labels,
    /// Short labels that match things up (an API gateway and the API
    /// definitions it serves): 1-63 letters, digits or `-_.:` each, no
    /// repeats, at most 32.
    Tags,
    /// A JSON object (a document such as an OpenAPI description) of at most
    /// this many bytes as compact JSON.
    Document(usize),
    /// Set by the server, never by a body (a task's status); shown on reads.
    ReadOnly,
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
    pub doc: &'static str,
    /// Set when the resource is made, never changed after (a task's agent,
    /// host and command): an update naming it is refused.
    pub fixed: bool,
    /// What an absent value means, as JSON text (`true`, `"UTC"`, `[]`):
    /// reads show it rather than `null`.
    pub default: Option<&'static str>,
}

/// What a kind does with secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secret {
    None,
    /// The server generates a token with this prefix, answers it once as
    /// `token` and keeps only its hash.
    IssuedToken(&'static str),
    /// The `secret` field is encrypted at rest and never read back.
    Encrypted,
    /// Like `IssuedToken`, but kept encrypted rather than hashed: the
    /// server checks signatures made with it (HMAC), so it needs the text.
    SigningKey(&'static str),
}

/// The sources a ticket gateway takes deliveries from.
pub const GATEWAY_TYPES: &[&str] = &["generic", "alertmanager", "github", "pagerduty"];

/// What a kind does beyond the generic operations: each tag but `Plain` has
/// one module in the app layer (`crates/app/src/kinds/`). Generic code asks
/// the tag, never a kind's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Fields and references only.
    Plain,
    /// Queued for its agent once made; its command is judged by the
    /// blacklists in force, and fixed.
    Task,
    /// A cron schedule that makes tasks.
    Job,
    /// A listen path the gateway check routes by.
    ApiDefinition,
    /// A proxy of an org (or of the tenant): serves the API definitions of
    /// its org whose tags meet its own.
    ApiGateway,
    /// A developer of the API-management portal (an e-mail address).
    Developer,
    /// Gateway credentials whose last use is shown.
    ConsumerKey,
    /// A developer's request for a key, made on the org's portal and
    /// approved or denied by a member (never made or changed otherwise).
    KeyRequest,
    /// An uploaded blob with its knowledge (own create and read routes).
    File,
    /// Assigned to users; a re-scope prunes assignments.
    Persona,
    /// A chat session: started from a persona (own create), its org fixed.
    Session,
    /// An org access key: bound to its org for life.
    OrgKey,
}

#[derive(Debug)]
pub struct Kind {
    /// The path segment: `/api/v1/{path}`.
    pub path: &'static str,
    /// The `kind` value in responses.
    pub name: &'static str,
    /// Ids are `{prefix}_…`.
    pub prefix: &'static str,
    pub policy: ScopePolicy,
    pub fields: &'static [Field],
    pub secret: Secret,
    pub behaviour: Behaviour,
    pub doc: &'static str,
}

const fn field(name: &'static str, ty: FieldType, required: bool, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required,
        doc,
        fixed: false,
        default: None,
    }
}

/// `f`, set once when the resource is made.
const fn fixed(f: Field) -> Field {
    Field { fixed: true, ..f }
}

/// `f`, whose absence means `json`.
const fn or(json: &'static str, f: Field) -> Field {
    Field {
        default: Some(json),
        ..f
    }
}

const DESCRIPTION: Field = field(
    "description",
    FieldType::Text(4000),
    false,
    "Free text for people.",
);

/// Every kind the server serves. Adding a kind here adds its routes.
pub static KINDS: &[Kind] = &[
    Kind {
        path: "api-keys",
        name: "api_key",
        prefix: "key",
        policy: ScopePolicy::OrgRequired,
        fields: &[
            field(
                "access",
                FieldType::Choice(&["read", "read_write"]),
                true,
                "`read` or `read_write` in the key's org.",
            ),
            field(
                "expires_at",
                FieldType::Timestamp,
                false,
                "When the key stops working (RFC 3339).",
            ),
        ],
        secret: Secret::IssuedToken("osk_"),
        behaviour: Behaviour::OrgKey,
        doc: "Org access keys: bound to one org, shown once, stored hashed. DELETE revokes.",
    },
    Kind {
        path: "specialties",
        name: "specialty",
        prefix: "spec",
        policy: ScopePolicy::AdminTenantWide,
        fields: &[DESCRIPTION],
        secret: Secret::None,
        behaviour: Behaviour::Plain,
        doc: "Agent domain configurations.",
    },
    Kind {
        path: "operational-rules",
        name: "operational_rule",
        prefix: "rule",
        policy: ScopePolicy::AdminTenantWide,
        fields: &[
            field(
                "content",
                FieldType::Text(20_000),
                true,
                "The mandatory procedure, as agents will receive it.",
            ),
            DESCRIPTION,
        ],
        secret: Secret::None,
        behaviour: Behaviour::Plain,
        doc: "Mandatory procedures that travel with tasks.",
    },
    Kind {
        path: "plugins",
        name: "plugin",
        prefix: "plug",
        policy: ScopePolicy::AdminTenantWide,
        fields: &[
            field(
                "url",
                FieldType::Text(2000),
                false,
                "Where the plugin (an MCP server or tool) is reached.",
            ),
            DESCRIPTION,
        ],
        secret: Secret::None,
        behaviour: Behaviour::Plain,
        doc: "MCP integrations and tools.",
    },
    Kind {
        path: "blacklists",
        name: "blacklist",
        prefix: "bl",
        policy: ScopePolicy::AdminTenantWide,
        fields: &[
            field(
                "patterns",
                FieldType::Patterns,
                true,
                "Prohibited commands: literal text, `glob:…` or `re:…`.",
            ),
            DESCRIPTION,
        ],
        secret: Secret::None,
        behaviour: Behaviour::Plain,
        doc: "Prohibited commands.",
    },
    Kind {
        path: "credentials",
        name: "credential",
        prefix: "cred",
        policy: ScopePolicy::AdminTenantWide,
        fields: &[
            field(
                "secret",
                FieldType::Secret,
                true,
                "The secret: encrypted at rest, never returned by list or get.",
            ),
            DESCRIPTION,
        ],
        secret: Secret::Encrypted,
        behaviour: Behaviour::Plain,
        doc: "Authentication secrets.",
    },
    Kind {
        path: "agents",
        name: "agent",
        prefix: "agt",
        policy: ScopePolicy::OrgRequired,
        fields: &[
            field(
                "specialty",
                FieldType::Ref("specialty"),
                false,
                "Its specialty (same org or tenant-wide).",
            ),
            or(
                "[]",
                field(
                    "plugins",
                    FieldType::Refs("plugin"),
                    false,
                    "Plugins it uses (same org or tenant-wide).",
                ),
            ),
            or(
                "[]",
                field(
                    "credentials",
                    FieldType::Refs("credential"),
                    false,
                    "Credentials it may reveal (same org or tenant-wide).",
                ),
            ),
            DESCRIPTION,
        ],
        secret: Secret::None,
        behaviour: Behaviour::Plain,
        doc: "AI agents that work on an org's hosts.",
    },
    Kind {
        path: "hosts",
        name: "host",
        prefix: "hst",
        policy: ScopePolicy::OrgRequired,
        fields: &[
            field(
                "address",
                FieldType::Text(255),
                true,
                "Host name or address the agent reaches.",
            ),
            or(
                "{}",
                field(
                    "labels",
                    FieldType::Labels,
                    false,
                    "Free labels, e.g. {\"env\": \"prod\"}.",
                ),
            ),
            DESCRIPTION,
        ],
        secret: Secret::None,
        behaviour: Behaviour::Plain,
        doc: "Target systems registered in an org.",
    },
    Kind {
        path: "tasks",
        name: "task",
        prefix: "tsk",
        policy: ScopePolicy::OrgRequired,
        fields: &[
            fixed(field(
                "agent",
                FieldType::Ref("agent"),
                true,
                "The agent that runs it (same org).",
            )),
            fixed(field(
                "host",
                FieldType::Ref("host"),
                true,
                "The host it runs on (same org).",
            )),
            fixed(field(
                "command",
                FieldType::Text(20_000),
                true,
                "What to run; checked against the blacklists in force.",
            )),
            field(
                "status",
                FieldType::ReadOnly,
                false,
                "queued, running, succeeded, failed, refused (by a blacklist when claimed) or cancelled.",
            ),
            field(
                "output",
                FieldType::ReadOnly,
                false,
                "What the agent reported.",
            ),
        ],
        secret: Secret::None,
        behaviour: Behaviour::Task,
        doc: "Work for an agent on a host: queued, claimed by the agent's org key, reported.",
    },
    Kind {
        path: "jobs",
        name: "job",
        prefix: "job",
        policy: ScopePolicy::OrgRequired,
        fields: &[
            field(
                "agent",
                FieldType::Ref("agent"),
                true,
                "The agent of the tasks it makes.",
            ),
            field(
                "host",
                FieldType::Ref("host"),
                true,
                "The host of the tasks it makes.",
            ),
            field(
                "command",
                FieldType::Text(20_000),
                true,
                "The command of the tasks it makes.",
            ),
            field(
                "schedule",
                FieldType::Text(200),
                true,
                "A cron expression: 5 fields (*/15 * * * *), 6 with seconds first (0 */15 * * * *), 7 with a year last (0 0 12 1 1 * 2027), or @yearly, @monthly, @weekly, @daily, @hourly.",
            ),
            or(
                "\"UTC\"",
                field(
                    "timezone",
                    FieldType::Text(20),
                    false,
                    "UTC (default), an offset like +02:00, or a zone like Europe/Paris.",
                ),
            ),
            or(
                "true",
                field(
                    "enabled",
                    FieldType::Bool,
                    false,
                    "Whether it fires (default true).",
                ),
            ),
        ],
        secret: Secret::None,
        behaviour: Behaviour::Job,
        doc: "Scheduled work: one task per firing, across replicas.",
    },
    Kind {
        path: "gateways",
        name: "gateway",
        prefix: "gw",
        policy: ScopePolicy::OrgRequired,
        fields: &[
            field(
                "type",
                FieldType::Choice(GATEWAY_TYPES),
                true,
                "Where tickets come from, and so how a delivery proves itself: generic (a JSON ticket, the secret as a bearer token), alertmanager (Prometheus Alertmanager's webhook, the secret as its bearer credentials), github (X-Hub-Signature-256) or pagerduty (v3 X-PagerDuty-Signature).",
            ),
            field(
                "agent",
                FieldType::Ref("agent"),
                true,
                "The agent its tickets become tasks for (same org).",
            ),
            field(
                "host",
                FieldType::Ref("host"),
                false,
                "The host of its tasks when a ticket names none.",
            ),
            field(
                "default_command",
                FieldType::Text(20_000),
                false,
                "What its tasks run when a ticket carries no command (GitHub and PagerDuty events never do; an alert may, in its command annotation).",
            ),
        ],
        secret: Secret::SigningKey("osg_"),
        behaviour: Behaviour::Plain,
        doc: "Ticket routing: POST /hooks/gateways/{id}, proven by its secret, makes tasks.",
    },
    Kind {
        path: "api-definitions",
        name: "api_definition",
        prefix: "api",
        policy: ScopePolicy::OrgRequired,
        fields: &[
            field(
                "listen_path",
                FieldType::Text(500),
                true,
                "The path prefix the gateway serves the API on, e.g. /payments/ (unique in the tenant).",
            ),
            field(
                "upstream_url",
                FieldType::Text(2000),
                true,
                "Where the gateway sends allowed requests.",
            ),
            or(
                "false",
                field(
                    "published",
                    FieldType::Bool,
                    false,
                    "Listed on the org's portal.",
                ),
            ),
            or(
                "[]",
                field(
                    "methods",
                    FieldType::Choices(&[
                        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
                    ]),
                    false,
                    "Allowed methods; empty or absent = all.",
                ),
            ),
            field(
                "openapi",
                FieldType::Document(1 << 20),
                false,
                "An OpenAPI 3.0 or 3.1 document (JSON object, at most 1 MiB, local $refs only): the portal renders it as the API's reference.",
            ),
            or(
                "[]",
                field(
                    "tags",
                    FieldType::Tags,
                    false,
                    "Which API gateways serve it: those of its org (or tenant-wide ones) sharing a tag with it; with no tags, those with none.",
                ),
            ),
            or(
                "\"member\"",
                field(
                    "key_approval",
                    FieldType::Choice(&["member", "auto"]),
                    false,
                    "How the portal answers a developer's key request for it: member (default: an org member approves or denies) or auto (the key is issued at once; only people may set it).",
                ),
            ),
            DESCRIPTION,
        ],
        secret: Secret::None,
        behaviour: Behaviour::ApiDefinition,
        doc: "API definitions served through a gateway.",
    },
    Kind {
        path: "api-gateways",
        name: "api_gateway",
        prefix: "agw",
        policy: ScopePolicy::AdminTenantWide,
        fields: &[
            or(
                "[]",
                field(
                    "tags",
                    FieldType::Tags,
                    false,
                    "Which of its org's API definitions it serves (a tenant-wide one: of every org): those sharing a tag with it; with no tags, those with none.",
                ),
            ),
            field(
                "version",
                FieldType::ReadOnly,
                false,
                "The version the proxy last reported (X-Orgscope-Gateway-Version).",
            ),
            field(
                "last_seen_at",
                FieldType::ReadOnly,
                false,
                "When the proxy last asked the check.",
            ),
        ],
        secret: Secret::IssuedToken("oagw_"),
        behaviour: Behaviour::ApiGateway,
        doc: "API gateways (proxies): each one's check (X-Orgscope-Gateway: its secret, shown once) admits only the consumer keys of its org, for the API definitions it serves. Not the agents' ticket gateways.",
    },
    Kind {
        path: "developers",
        name: "developer",
        prefix: "dev",
        policy: ScopePolicy::OrgRequired,
        fields: &[
            field(
                "email",
                FieldType::Text(320),
                true,
                "How to reach the developer.",
            ),
            field(
                "confirmed_at",
                FieldType::ReadOnly,
                false,
                "When they confirmed the address on the org's portal (null: not signed up there).",
            ),
        ],
        secret: Secret::None,
        behaviour: Behaviour::Developer,
        doc: "Developers who consume an org's APIs.",
    },
    Kind {
        path: "key-requests",
        name: "key_request",
        prefix: "kr",
        policy: ScopePolicy::OrgRequired,
        fields: &[
            fixed(field(
                "developer",
                FieldType::Ref("developer"),
                true,
                "The developer who asked (same org).",
            )),
            fixed(field(
                "apis",
                FieldType::Refs("api_definition"),
                true,
                "The API definitions asked for (same org).",
            )),
            fixed(field(
                "reason",
                FieldType::Text(2000),
                false,
                "What the developer says they need it for.",
            )),
            field(
                "status",
                FieldType::ReadOnly,
                false,
                "pending, approved or denied.",
            ),
            field(
                "consumer_key",
                FieldType::ReadOnly,
                false,
                "The key issued on approval.",
            ),
            field(
                "decided_by",
                FieldType::ReadOnly,
                false,
                "Who approved or denied it.",
            ),
        ],
        secret: Secret::None,
        behaviour: Behaviour::KeyRequest,
        doc: "Developers' requests for consumer keys, made on the org's portal; POST /api/v1/key-requests/{id}/decide approves or denies.",
    },
    Kind {
        path: "consumer-keys",
        name: "consumer_key",
        prefix: "ck",
        policy: ScopePolicy::OrgRequired,
        fields: &[
            field(
                "developer",
                FieldType::Ref("developer"),
                true,
                "The developer the key is issued to (same org).",
            ),
            field(
                "apis",
                FieldType::Refs("api_definition"),
                true,
                "The API definitions the key grants (same org).",
            ),
            field(
                "expires_at",
                FieldType::Timestamp,
                false,
                "When the key stops working (RFC 3339).",
            ),
            field(
                "rate_limit",
                FieldType::Int(1, 1_000_000),
                false,
                "Requests per minute the key may make through the gateway.",
            ),
        ],
        secret: Secret::IssuedToken("ock_"),
        behaviour: Behaviour::ConsumerKey,
        doc: "Consumer keys: issued to a developer for API definitions, shown once, stored hashed. DELETE revokes.",
    },
    Kind {
        path: "files",
        name: "file",
        prefix: "file",
        policy: ScopePolicy::CreatorTenantWide,
        fields: &[],
        secret: Secret::None,
        behaviour: Behaviour::File,
        doc: "Uploaded files; their text becomes knowledge entries. Created by upload.",
    },
    Kind {
        path: "personas",
        name: "persona",
        prefix: "per",
        policy: ScopePolicy::CreatorTenantWide,
        fields: &[
            field(
                "instructions",
                FieldType::Text(20_000),
                true,
                "How the persona answers (the model's system prompt).",
            ),
            DESCRIPTION,
        ],
        secret: Secret::None,
        behaviour: Behaviour::Persona,
        doc: "Chat personas; assigned to users with PUT …/assignments.",
    },
    Kind {
        path: "sessions",
        name: "session",
        prefix: "ses",
        policy: ScopePolicy::CreatorTenantWide,
        fields: &[],
        secret: Secret::None,
        behaviour: Behaviour::Session,
        doc: "Chat sessions: their org is their persona's when they start, and never changes.",
    },
];

/// Kinds created by their own route, not the generic one: files by upload,
/// sessions from a persona, key requests by developers on the portal.
#[must_use]
pub fn has_own_create(kind: &Kind) -> bool {
    matches!(
        kind.behaviour,
        Behaviour::File | Behaviour::Session | Behaviour::KeyRequest
    )
}

/// Kinds whose list and get are their own (they add more than fields).
#[must_use]
pub fn has_own_read(kind: &Kind) -> bool {
    kind.behaviour == Behaviour::File
}

/// Kinds whose scope is fixed for life, and what to do instead: a session's
/// org is its persona's when it started; an org access key is bound to its org
/// (moved, its live secret would gain the target org's rights).
#[must_use]
pub fn fixed_scope(kind: &Kind) -> Option<&'static str> {
    match kind.name {
        "session" => Some("a session keeps the org it started in; start a new one instead"),
        "api_key" => Some(
            "an org access key is bound to its org for life; make a new key there and revoke this one",
        ),
        _ => None,
    }
}

/// The kind served at `/api/v1/{path}`.
#[must_use]
pub fn by_path(path: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.path == path)
}

/// The kind with this `name`.
#[must_use]
pub fn by_name(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The kind a prefixed id belongs to.
#[must_use]
pub fn by_id(id: &str) -> Option<&'static Kind> {
    let (prefix, _) = id.split_once('_')?;
    KINDS.iter().find(|k| k.prefix == prefix)
}

/// A field that cannot be accepted, with what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

fn bad(field: &str, problem: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

/// Fields every resource body may carry besides the kind's own.
pub const COMMON_FIELDS: &[&str] = &["name", "org"];

impl Kind {
    /// Checks a create (`partial = false`) or update (`partial = true`) body's
    /// kind fields and returns them normalised, secrets included. `name` and
    /// `org` are the caller's to handle; any other unknown field is an error.
    pub fn validate(
        &self,
        body: &Map<String, Value>,
        partial: bool,
    ) -> Result<Map<String, Value>, FieldError> {
        for key in body.keys() {
            if !COMMON_FIELDS.contains(&key.as_str()) && !self.fields.iter().any(|f| f.name == key)
            {
                let known: Vec<&str> = COMMON_FIELDS
                    .iter()
                    .copied()
                    .chain(self.fields.iter().map(|f| f.name))
                    .collect();
                return Err(bad(
                    key,
                    format!(
                        "unknown field for {}; known fields: {}",
                        self.name,
                        known.join(", ")
                    ),
                ));
            }
        }
        let mut out = Map::new();
        for f in self.fields {
            match body.get(f.name) {
                None if f.required && !partial => {
                    return Err(bad(f.name, "is required"));
                }
                None => {}
                Some(Value::Null) if !f.required => {
                    out.insert(f.name.to_owned(), Value::Null);
                }
                Some(_) if f.fixed && partial => {
                    return Err(bad(
                        f.name,
                        format!(
                            "is fixed once the {} is made; make a new {} instead",
                            self.name, self.name
                        ),
                    ));
                }
                Some(v) => {
                    out.insert(f.name.to_owned(), check(f, v)?);
                }
            }
        }
        Ok(out)
    }

    /// The ids a validated body refers to, as (field, id).
    #[must_use]
    pub fn refs(&self, fields: &Map<String, Value>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for f in self.fields {
            match (f.ty, fields.get(f.name)) {
                (FieldType::Ref(_), Some(Value::String(id))) => {
                    out.push((f.name.to_owned(), id.clone()));
                }
                (FieldType::Refs(_), Some(Value::Array(ids))) => {
                    for id in ids.iter().filter_map(Value::as_str) {
                        out.push((f.name.to_owned(), id.to_owned()));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The kind a reference field points at.
    #[must_use]
    pub fn ref_target(&self, field: &str) -> Option<&'static str> {
        self.fields
            .iter()
            .find(|f| f.name == field)
            .and_then(|f| match f.ty {
                FieldType::Ref(t) | FieldType::Refs(t) => Some(t),
                _ => None,
            })
    }

    /// May org keys change resources of this kind? Not of the kinds that
    /// issue secrets (org keys, gateways, consumer keys): managing keys is
    /// for people, or a key would outlive its own revocation.
    #[must_use]
    pub fn keys_manage(&self) -> bool {
        !self.issues_secret()
    }

    /// Does the server issue this kind's secret (answered once as `token`)?
    #[must_use]
    pub fn issues_secret(&self) -> bool {
        matches!(self.secret, Secret::IssuedToken(_) | Secret::SigningKey(_))
    }

    /// The secret field, if the kind has one.
    #[must_use]
    pub fn secret_field(&self) -> Option<&'static str> {
        self.fields
            .iter()
            .find(|f| f.ty == FieldType::Secret)
            .map(|f| f.name)
    }
}

const MAX_SECRET_CHARS: usize = 16_384;

/// An id names its kind by its prefix: one of another kind is refused here.
fn check_ref(field: &str, target: &str, id: &str) -> Result<(), FieldError> {
    let kind = by_name(target).expect("references name kinds of the table");
    let ok = id
        .strip_prefix(kind.prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|rest| !rest.is_empty() && rest.len() <= 64);
    if ok {
        Ok(())
    } else {
        Err(bad(
            field,
            format!("'{id}' is not a {target} id ({}_…)", kind.prefix),
        ))
    }
}

fn check(f: &Field, v: &Value) -> Result<Value, FieldError> {
    match f.ty {
        FieldType::Text(_) | FieldType::Secret => {
            let max = match f.ty {
                FieldType::Text(max) => max,
                _ => MAX_SECRET_CHARS,
            };
            let s = v.as_str().ok_or_else(|| bad(f.name, "must be a string"))?;
            if f.required && s.trim().is_empty() {
                return Err(bad(f.name, "must not be empty"));
            }
            if s.chars().count() > max {
                return Err(bad(f.name, format!("must be at most {max} characters")));
            }
            Ok(Value::String(s.to_owned()))
        }
        FieldType::Choice(choices) => match v.as_str() {
            Some(s) if choices.contains(&s) => Ok(Value::String(s.to_owned())),
            _ => Err(bad(
                f.name,
                format!("must be one of {}", choices.join(", ")),
            )),
        },
        FieldType::Timestamp => {
            let s = v
                .as_str()
                .ok_or_else(|| bad(f.name, "must be an RFC 3339 timestamp string"))?;
            crate::parse_time(s)
                .map(Value::String)
                .map_err(|e| bad(f.name, e))
        }
        FieldType::Bool => v
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| bad(f.name, "must be true or false")),
        FieldType::Int(min, max) => match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(Value::from(n)),
            _ => Err(bad(
                f.name,
                format!("must be a whole number from {min} to {max}"),
            )),
        },
        FieldType::Choices(choices) => {
            let list = v
                .as_array()
                .ok_or_else(|| bad(f.name, format!("must be a list of {}", choices.join(", "))))?;
            let mut out: Vec<Value> = Vec::new();
            for item in list {
                match item.as_str() {
                    Some(s) if choices.contains(&s) => {
                        if !out.iter().any(|o| o == item) {
                            out.push(item.clone());
                        }
                    }
                    _ => {
                        return Err(bad(
                            f.name,
                            format!("{item} is not one of {}", choices.join(", ")),
                        ));
                    }
                }
            }
            Ok(Value::Array(out))
        }
        FieldType::Ref(target) => {
            let id = v
                .as_str()
                .ok_or_else(|| bad(f.name, format!("must be the id of a {target}")))?;
            check_ref(f.name, target, id)?;
            Ok(Value::String(id.to_owned()))
        }
        FieldType::Refs(target) => {
            let list = v
                .as_array()
                .ok_or_else(|| bad(f.name, format!("must be a list of {target} ids")))?;
            let mut out: Vec<Value> = Vec::new();
            for item in list {
                let id = item
                    .as_str()
                    .ok_or_else(|| bad(f.name, format!("must be a list of {target} ids")))?;
                check_ref(f.name, target, id)?;
                if !out.iter().any(|o| o == item) {
                    out.push(item.clone());
                }
            }
            Ok(Value::Array(out))
        }
        FieldType::Labels => {
            let map = v
                .as_object()
                .ok_or_else(|| bad(f.name, "must be an object of string labels"))?;
            if map.len() > 64 {
                return Err(bad(f.name, "at most 64 labels"));
            }
            for (k, val) in map {
                let ok =
                    !k.is_empty() && k.len() <= 63 && val.as_str().is_some_and(|s| s.len() <= 255);
                if !ok {
                    return Err(bad(
                        f.name,
                        format!(
                            "label '{k}' must be a name of 1-63 characters with a string value of at most 255"
                        ),
                    ));
                }
            }
            Ok(v.clone())
        }
        FieldType::Document(max) => {
            if !v.is_object() {
                return Err(bad(f.name, "must be a JSON object"));
            }
            let size = v.to_string().len();
            if size > max {
                return Err(bad(
                    f.name,
                    format!("is {size} bytes as JSON; at most {max}"),
                ));
            }
            Ok(v.clone())
        }
        FieldType::Tags => {
            let list = v
                .as_array()
                .ok_or_else(|| bad(f.name, "must be a list of tags, e.g. [\"eu\", \"public\"]"))?;
            if list.len() > 32 {
                return Err(bad(f.name, "at most 32 tags"));
            }
            let mut out: Vec<Value> = Vec::new();
            for item in list {
                let tag = item.as_str().unwrap_or_default();
                let ok = !tag.is_empty()
                    && tag.len() <= 63
                    && tag
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
                if !ok {
                    return Err(bad(
                        f.name,
                        format!("{item} is not a tag: 1-63 letters, digits, -, _, . or :"),
                    ));
                }
                if !out.iter().any(|o| o == item) {
                    out.push(item.clone());
                }
            }
            Ok(Value::Array(out))
        }
        FieldType::ReadOnly => Err(bad(f.name, "is set by the server")),
        FieldType::Patterns => {
            let list = v
                .as_array()
                .ok_or_else(|| bad(f.name, "must be a list of strings"))?;
            if list.is_empty() {
                return Err(bad(f.name, "must list at least one pattern"));
            }
            let mut out = Vec::with_capacity(list.len());
            for (i, p) in list.iter().enumerate() {
                let s = p
                    .as_str()
                    .ok_or_else(|| bad(f.name, format!("item {i} must be a string")))?;
                crate::pattern::Pattern::parse(s)
                    .map_err(|e| bad(f.name, format!("item {i}: {e}")))?;
                out.push(Value::String(s.to_owned()));
            }
            Ok(Value::Array(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KINDS;

    #[test]
    fn every_default_is_a_value_its_field_takes() {
        for kind in KINDS {
            for f in kind.fields {
                let Some(d) = f.default else { continue };
                let v: serde_json::Value = serde_json::from_str(d).expect(d);
                let mut body = serde_json::Map::new();
                body.insert(f.name.into(), v);
                let checked = kind.validate(&body, true);
                assert!(
                    checked.is_ok(),
                    "{}.{}: {d}: {checked:?}",
                    kind.path,
                    f.name
                );
            }
        }
    }
}
