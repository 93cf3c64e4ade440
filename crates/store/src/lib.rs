//! orgscope's persistence. One API over SQLite (embedded default, WAL) and
//! PostgreSQL (scale-out), through sqlx's `Any` driver and plain SQL that both
//! accept, with one migrations folder per backend.
//!
//! Decisions: every read of scoped rows takes a [`ReadFilter`] (built by core's
//! policy) and applies it through [`sql::push_scope`], the one place it becomes
//! SQL. The few reads that must happen before there is a principal (token
//! lookups at authentication) say so in their names. There is no cache: scope
//! and membership are read in the statement that reads the data.
#![forbid(unsafe_code)]

mod chat;
mod copy;
mod files;
mod gateway;
mod limits;
mod migrate;
mod people;
mod portal;
mod queue;
mod refs;
mod sql;

pub use chat::MessageRow;
pub use copy::{TablePlan, TableProgress};
pub use files::{FileRow, FileSort, KnowledgeHit, KnowledgeRow, NewFile};
pub use gateway::{ApiGatewayRow, GatewayHit, GatewayKeyHit, RouteHit};
pub use limits::window_start;
pub use people::UserSet;
pub use portal::{PortalSettingsRow, PortalToken};
pub use queue::{LapsedLease, TaskState};
pub use refs::RefRow;

use orgscope_core::ids::{OrgId, TenantId};
use orgscope_core::policy::{OrgSelector, ReadFilter, Rule, Scope};
use sqlx::any::{AnyPoolOptions, AnyRow};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Any, AnyPool, FromRow, Transaction};

use crate::sql::{Sql, push_scope, union_all};

pub use sql::is_word;
pub use sqlx::any::install_default_drivers;

/// Store errors are few and meaningful; sqlx's `RowNotFound` becomes
/// `NotFound` here and nowhere else.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint: the value names which (`slug`, `domain`, `username`, …).
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    /// A foreign key: something still refers to the row.
    #[error("still referenced")]
    Referenced,
    /// The schema cannot be brought up to date; the message names the
    /// migration and what to do (an edited, failed or unknown migration).
    #[error("{0}")]
    Migration(String),
    /// The database cannot be reached (pool timeout, closed, I/O).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] sqlx::Error),
}

impl StoreError {
    fn from_sqlx(e: sqlx::Error) -> StoreError {
        match e {
            sqlx::Error::RowNotFound => return StoreError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                return StoreError::Unavailable(e.to_string());
            }
            _ => {}
        }
        if let Some(db) = e.as_database_error() {
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    return StoreError::Duplicate(unique_meaning(db.constraint(), db.message()));
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => return StoreError::Referenced,
                _ => {}
            }
        }
        StoreError::Other(e)
    }
}

/// Every unique constraint of the schema and what a duplicate of it means:
/// (PostgreSQL's constraint or index name, SQLite's "constraint failed"
/// detail, the field a caller would change).
const UNIQUE: &[(&str, &str, &str)] = &[
    ("tenants_slug_key", "tenants.slug", "slug"),
    (
        "orgs_tenant_id_slug_key",
        "orgs.tenant_id, orgs.slug",
        "slug",
    ),
    ("orgs_domain_key", "orgs.domain", "domain"),
    (
        "orgs_domain_claim",
        "orgs.tenant_id, orgs.domain_claim",
        "domain",
    ),
    ("users_username", "index 'users_username'", "username"),
    ("tokens_hash_key", "tokens.hash", "hash"),
    ("resources_token", "resources.secret", "secret"),
    ("resources_consumer_token", "resources.secret", "secret"),
    (
        "gateway_routes_tenant_id_listen_path_key",
        "gateway_routes.tenant_id, gateway_routes.listen_path",
        "listen_path",
    ),
    ("knowledge_id", "knowledge.id", "id"),
    ("messages_id", "messages.id", "id"),
    ("audit_id", "audit.id", "id"),
];

/// What a unique violation is about, by the constraint's name (PostgreSQL)
/// or the columns SQLite names; `value` for one the table does not know.
fn unique_meaning(constraint: Option<&str>, message: &str) -> &'static str {
    let detail = message.strip_prefix("UNIQUE constraint failed: ");
    UNIQUE
        .iter()
        .find(|(name, columns, _)| constraint == Some(*name) || detail == Some(*columns))
        .map_or("value", |(_, _, what)| what)
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub(crate) trait Ctx<T> {
    fn ctx(self) -> Result<T>;
}
impl<T> Ctx<T> for std::result::Result<T, sqlx::Error> {
    fn ctx(self) -> Result<T> {
        self.map_err(StoreError::from_sqlx)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Statements run in transactions, for /metrics and for tests that show
    /// two requests did the same work.
    statements: Arc<AtomicU64>,
    /// Transactions begun, likewise.
    transactions: Arc<AtomicU64>,
}

tokio::task_local! {
    /// The read transaction a request authenticated in, lent to its first
    /// read (see [`Store::keeping`]).
    static KEPT: std::cell::RefCell<Option<Tx>>;
}

#[cfg(test)]
mod tests {
    /// A migrated SQLite store in a folder of its own (removed by the test).
    async fn temp_store() -> (super::Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(super::new_id("orgscope-store"));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        (super::Store::connect(&url).await.unwrap(), dir)
    }

    #[test]
    fn unique_violations_are_named_by_constraint_not_by_words() {
        use super::unique_meaning;
        assert_eq!(
            unique_meaning(Some("orgs_tenant_id_slug_key"), "duplicate key value"),
            "slug"
        );
        assert_eq!(
            unique_meaning(
                None,
                "UNIQUE constraint failed: gateway_routes.tenant_id, gateway_routes.listen_path"
            ),
            "listen_path"
        );
        assert_eq!(
            unique_meaning(None, "UNIQUE constraint failed: index 'users_username'"),
            "username"
        );
        // A message that merely contains a word is not a match.
        assert_eq!(
            unique_meaning(Some("other"), "slug domain username"),
            "value"
        );
    }

    /// Every partial index is restricted on a column that statements
    /// compare with literals only (`Sql::eq_word`): else SQLite plans the
    /// statement again at every execution.
    #[tokio::test]
    async fn partial_indexes_are_on_columns_compared_with_literals() {
        let (store, dir) = temp_store().await;
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert!(indexes.len() >= 4, "{indexes:?}");
        for (name, sql) in indexes {
            let (_, condition) = sql.split_once(" WHERE ").unwrap();
            let column = condition.split_whitespace().next().unwrap();
            assert!(
                super::sql::PARTIAL_INDEX_COLUMNS.contains(&column),
                "the partial index {name} is restricted on {column}: add it to PARTIAL_INDEX_COLUMNS and compare it with Sql::eq_word"
            );
        }
        store.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Every SQLite connection reads pages through the shared mapping: a
    /// connection without it copies each page it reads into its own small
    /// cache; an org-to-org preview at 100,000 users cost twice as much and
    /// a search at 1,000,000 entries 2.3-2.7 times (even with an 8 MiB cache).
    #[tokio::test]
    async fn sqlite_connections_read_through_a_mapping() {
        let (store, dir) = temp_store().await;
        let (mut a, mut b) = (
            store.pool().acquire().await.unwrap(),
            store.pool().acquire().await.unwrap(),
        );
        for conn in [&mut a, &mut b] {
            let (size,): (i64,) = sqlx::query_as("PRAGMA mmap_size")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert!(size >= 1 << 30, "mmap_size is {size}");
        }
        drop((a, b));
        store.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A re-scope's preview reports how many entries move with a file; that
    /// count is the one the extraction recorded, never the entries counted
    /// (50 ms for a file of 1,000,000, issue 22). The entries are removed
    /// behind its back to tell the two apart.
    #[tokio::test]
    async fn a_files_entry_count_is_recorded_not_counted() {
        let (store, dir) = temp_store().await;
        let mut tx = store.write().await.unwrap();
        let tenant = tx.tenant_create("t", "T").await.unwrap().id;
        tx.resource_insert(&super::NewResource {
            id: "file_1".into(),
            tenant_id: tenant,
            kind: "file".into(),
            org_id: None,
            name: "a.txt".into(),
            fields: "{}".into(),
            secret: None,
            created_by: None,
        })
        .await
        .unwrap();
        tx.file_insert(&super::NewFile {
            id: "file_1".into(),
            blob_key: "files/file_1".into(),
            size: 0,
            sha256: String::new(),
            content_type: "text/plain".into(),
        })
        .await
        .unwrap();
        let chunks = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        tx.extraction_finish("file_1", "done", None, &chunks)
            .await
            .unwrap();
        tx.extraction_finish("file_1", "done", None, &chunks[..2])
            .await
            .unwrap();
        assert_eq!(tx.knowledge_count("file_1").await.unwrap(), 2);
        tx.exec(&super::sql::Sql::new("DELETE FROM knowledge"))
            .await
            .unwrap();
        assert_eq!(tx.knowledge_count("file_1").await.unwrap(), 2);
        tx.commit().await.unwrap();
        store.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(debug_assertions)]
    #[test]
    fn words_are_literals_and_parameters_fail_the_check() {
        let mut sql = super::sql::Sql::new("SELECT 1 FROM resources r WHERE ");
        sql.eq_word("r.kind", "api_key");
        let _ = sql.query();
        let mut sql = super::sql::Sql::new("SELECT 1 FROM resources r WHERE ");
        sql.eq_word("r.kind", "api-key");
        let bound = std::panic::catch_unwind(|| drop(sql.query()));
        assert!(bound.is_err(), "a parameter compared with kind passed");
        let mut sql = super::sql::Sql::new("SELECT 1 FROM resources r ORDER BY id");
        sql.limit(51);
        let _ = sql.query();
        sql.push(" LIMIT ").arg(51);
        let bound = std::panic::catch_unwind(|| drop(sql.query()));
        assert!(bound.is_err(), "a bound LIMIT passed");
    }

    /// A migration added for one backend only would leave the other behind.
    #[test]
    fn both_backends_have_every_migration() {
        let sqlite: Vec<_> = super::migrate::SQLITE.iter().map(|m| (m.0, m.1)).collect();
        let postgres: Vec<_> = super::migrate::POSTGRES
            .iter()
            .map(|m| (m.0, m.1))
            .collect();
        assert_eq!(sqlite, postgres);
        let on_disk = |backend: &str| {
            std::fs::read_dir(format!(
                "{}/migrations/{backend}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
            .count()
        };
        assert_eq!(
            on_disk("sqlite"),
            sqlite.len(),
            "every SQLite migration file is listed"
        );
        assert_eq!(
            on_disk("postgres"),
            postgres.len(),
            "every PostgreSQL migration file is listed"
        );
    }
}

/// A new id: the kind's prefix and a time-ordered UUID, so id order is
/// creation order (cursor pagination relies on it).
#[must_use]
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

#[must_use]
pub fn now() -> String {
    orgscope_core::format_time(time::OffsetDateTime::now_utc())
}

impl Store {
    /// Connects (`sqlite://path` or `postgres://…`) and applies migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        let store = Store::connect_as_is(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating: for operator tools that read a database
    /// a server of another release may be serving (backups).
    pub async fn connect_as_is(url: &str) -> Result<Store> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Other(sqlx::Error::Configuration(
                format!("unsupported database URL '{url}': use sqlite://PATH or postgres://…")
                    .into(),
            )));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers go on while one writer commits; the
                        // busy timeout queues writers instead of failing them.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        // Pages read through a shared mapping, not copied by a
                        // `pread` each into every connection's small cache: at
                        // 1M rows an org's ~100 members sit on ~100 pages, and
                        // a search reads many more (issue 22). SQLite caps it at
                        // 2 GiB; past that, reads. It unmaps it after any commit
                        // (a move pays for that); without it search cost 2.3-2.7x
                        // (DECISIONS, "Requests and the database").
                        sqlx::query("PRAGMA mmap_size = 2147418112")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .ctx()?;
        let store = Store {
            pool,
            backend,
            statements: Arc::default(),
            transactions: Arc::default(),
        };
        Ok(store)
    }

    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn migrate(&self) -> Result<()> {
        let result = migrate::run(self.backend, &migrate::migrator(self.backend), &self.pool).await;
        if result.is_err() {
            // A failed start leaves no session (and no lock) behind.
            self.pool.close().await;
        }
        result
    }

    /// Runs `request` able to keep one read transaction for its first
    /// read: who asks and what they read then come from one transaction on
    /// one connection (on SQLite, one snapshot). The server runs reads
    /// (`GET`, `HEAD`) so; what is kept and not taken ends with `request`.
    pub async fn keeping<F: std::future::Future>(request: F) -> F::Output {
        KEPT.scope(std::cell::RefCell::new(None), request).await
    }

    /// Keeps `tx`, which has only read, for this request's next
    /// [`Store::read`]; outside [`Store::keeping`] it ends here.
    pub fn keep(&self, tx: Tx) {
        let _ = KEPT.try_with(move |kept| kept.borrow_mut().replace(tx));
    }

    /// A transaction for reads: the one this request kept, if any, else a
    /// new one.
    pub async fn read(&self) -> Result<Tx> {
        let kept = KEPT
            .try_with(|kept| {
                kept.borrow_mut()
                    .take_if(|tx| Arc::ptr_eq(&tx.2, &self.statements))
            })
            .ok()
            .flatten();
        if let Some(tx) = kept {
            return Ok(tx);
        }
        let tx = self.pool.begin().await.ctx()?;
        self.transactions.fetch_add(1, Ordering::Relaxed);
        Ok(Tx(tx, self.backend, self.statements.clone()))
    }

    /// A transaction that will write. On SQLite it takes the write lock up
    /// front, so two writers queue instead of failing to upgrade. A kept
    /// read transaction ends first: a request holds one connection at a
    /// time, so requests never wait on each other for a second one.
    pub async fn write(&self) -> Result<Tx> {
        drop(KEPT.try_with(|kept| kept.borrow_mut().take()));
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        let tx = tx.ctx()?;
        self.transactions.fetch_add(1, Ordering::Relaxed);
        Ok(Tx(tx, self.backend, self.statements.clone()))
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// How many statements transactions have run since the server started.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// How many transactions have begun since the server started.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    /// The pool's connections: (open, idle, the most it opens).
    #[must_use]
    pub fn pool_use(&self) -> (u32, usize, u32) {
        (
            self.pool.size(),
            self.pool.num_idle(),
            self.pool.options().get_max_connections(),
        )
    }

    /// Readiness: the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.ctx()?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub struct Tx(Transaction<'static, Any>, Backend, Arc<AtomicU64>);

/// A page request: at most `limit` rows after the cursor `after` (an id, or an
/// audit sequence number).
#[derive(Clone, Debug)]
pub struct Page {
    pub limit: i64,
    pub after: Option<String>,
}

#[derive(Clone, Debug, FromRow)]
pub struct TenantRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct OrgRow {
    pub id: String,
    pub tenant_id: String,
    pub slug: String,
    pub name: String,
    pub parent_id: Option<String>,
    /// The domain the org claims (unique in its tenant).
    pub domain: Option<String>,
    /// The value a DNS TXT record must hold to prove the claim.
    pub domain_token: Option<String>,
    /// When the claim was proved; from then on the portal answers on it.
    pub domain_verified_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl OrgRow {
    /// The org as core's rules name it: its tenant and its id.
    #[must_use]
    pub fn tenant(&self) -> TenantId {
        TenantId::from(&self.tenant_id)
    }

    #[must_use]
    pub fn org(&self) -> OrgId {
        OrgId::from(&self.id)
    }
}

/// A domain an org claims, and the value its DNS TXT record must hold.
pub struct DomainClaim<'a> {
    pub domain: &'a str,
    pub token: &'a str,
}

#[derive(Clone, Debug, FromRow)]
pub struct UserRow {
    pub id: String,
    pub tenant_id: Option<String>,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub default_org_id: Option<String>,
    pub disabled: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct MemberRow {
    pub org_id: String,
    pub user_id: String,
    pub username: String,
    pub can_manage: i64,
    pub created_at: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct TokenRow {
    pub id: String,
    pub kind: String,
    pub user_id: String,
    pub name: String,
    pub created_at: String,
    pub expires_at: Option<String>,
}

#[derive(Clone, Debug, FromRow)]
pub struct ResourceRow {
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub org_id: Option<String>,
    pub org_slug: Option<String>,
    pub name: String,
    /// The kind fields as a JSON object.
    pub fields: String,
    /// A token hash or a ciphertext; never sent to a client.
    pub secret: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl ResourceRow {
    #[must_use]
    pub fn tenant(&self) -> TenantId {
        TenantId::from(&self.tenant_id)
    }

    /// Where the resource lives, as core's rules take it.
    #[must_use]
    pub fn scope(&self) -> Scope {
        Scope {
            tenant: self.tenant(),
            org: self.org_id.as_deref().map(OrgId::from),
        }
    }
}

/// Where an org's resources go when it is deleted.
#[derive(Clone, Copy, Debug)]
pub enum Disposition<'a> {
    /// To another org, or tenant-wide (`None`).
    Move(Option<&'a str>),
    Delete,
}

/// A new resource, ready to insert.
#[derive(Clone, Debug)]
pub struct NewResource {
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub org_id: Option<String>,
    pub name: String,
    pub fields: String,
    pub secret: Option<String>,
    pub created_by: Option<String>,
}

#[derive(Clone, Debug, FromRow)]
pub struct AuditRow {
    /// The public id (`aud_…`).
    pub id: String,
    pub tenant_id: Option<String>,
    pub at: String,
    pub actor: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub kind: String,
    pub target: String,
    pub org_id: Option<String>,
    /// For a move: the org it came from (its managers see the entry too).
    pub other_org_id: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What an audit listing asks for (beside what the filter allows).
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    /// An org id.
    pub org: Option<String>,
    /// A username or a user or key id.
    pub actor: Option<String>,
    pub kind: Option<String>,
    pub action: Option<String>,
}

/// An audit entry to append, in the transaction of the change it records.
#[derive(Clone, Debug)]
pub struct NewAudit {
    pub tenant_id: Option<String>,
    pub actor: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub kind: String,
    pub target: String,
    pub org_id: Option<String>,
    /// For a move: the org it came from (its managers see the entry too).
    pub other_org_id: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

pub(crate) const RESOURCE_COLUMNS: &str = "r.id, r.tenant_id, r.kind, r.org_id, o.slug AS org_slug, r.name, r.fields, r.secret, r.created_by, r.created_at, r.updated_at";
pub(crate) const ORG_COLUMNS: &str = "o.id, o.tenant_id, o.slug, o.name, o.parent_id, o.domain_claim AS domain, o.domain_token, o.domain_verified_at, o.created_at, o.updated_at";
const USER_COLUMNS: &str = "u.id, u.tenant_id, u.username, u.password_hash, u.role, u.default_org_id, u.disabled, u.created_at, u.updated_at";

/// A user's memberships beside the user's columns, one row each (one row
/// of NULLs for none): authentication reads a user and their orgs in one
/// statement.
const MEMBERSHIP_COLUMNS: &str = "m.org_id AS member_org, m.can_manage AS member_can_manage";
const MEMBERSHIPS_JOIN: &str = "LEFT JOIN memberships m ON m.user_id = u.id";

/// The memberships of rows read with [`MEMBERSHIP_COLUMNS`].
fn memberships_in_rows(rows: &[sqlx::any::AnyRow]) -> Result<Vec<(String, i64)>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let org: Option<String> = sqlx::Row::try_get(row, "member_org").ctx()?;
        let manage: Option<i64> = sqlx::Row::try_get(row, "member_can_manage").ctx()?;
        if let Some(org) = org {
            out.push((org, manage.unwrap_or(0)));
        }
    }
    Ok(out)
}

/// What a listing narrows its rows to, besides the read filter and the org.
#[derive(Clone, Debug, Default)]
pub struct Narrow {
    /// The name contains this, ignoring case.
    pub name: Option<String>,
    /// A task in this queue status.
    pub task_status: Option<String>,
    /// Referring to this resource through this field (a task's agent).
    pub refers: Option<(&'static str, String)>,
    /// A job that fires (`true`) or is disabled.
    pub job_enabled: Option<bool>,
    /// A file of this content type.
    pub content_type: Option<String>,
    /// A file in this extraction state.
    pub extraction: Option<String>,
}

impl Narrow {
    pub(crate) fn push(&self, sql: &mut Sql, backend: Backend) {
        if let Some(name) = &self.name {
            let mut pattern = String::from("%");
            for c in name.chars() {
                if matches!(c, '%' | '_' | '\\') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            pattern.push('%');
            // SQLite's LIKE ignores ASCII case only; PostgreSQL's ILIKE all.
            let like = match backend {
                Backend::Sqlite => " AND r.name LIKE (",
                Backend::Postgres => " AND r.name ILIKE (",
            };
            sql.push(like).arg(pattern).push(") ESCAPE '\\'");
        }
        if let Some(status) = &self.task_status {
            sql.push(" AND r.id IN (SELECT q.id FROM task_queue q WHERE ")
                .eq_word("q.status", status.as_str())
                .push(")");
        }
        if let Some((field, to)) = &self.refers {
            sql.push(" AND r.id IN (SELECT f.from_id FROM resource_refs f WHERE f.field = ")
                .arg(*field)
                .push(" AND f.to_id = ")
                .arg(to.as_str())
                .push(")");
        }
        if let Some(enabled) = self.job_enabled {
            sql.push(if enabled {
                " AND r.id IN"
            } else {
                " AND r.id NOT IN"
            })
            .push(" (SELECT j.id FROM job_schedule j WHERE j.next_at IS NOT NULL)");
        }
        for (col, value) in [
            ("content_type", &self.content_type),
            ("extraction", &self.extraction),
        ] {
            if let Some(v) = value {
                sql.push(&format!(
                    " AND r.id IN (SELECT ff.id FROM files ff WHERE ff.{col} = "
                ))
                .arg(v.as_str())
                .push(")");
            }
        }
    }
}

/// A page of resources by id. Where the selector pins the org (one org, or
/// tenant-wide) the order is `(org_id, id)`: the same order, which only the
/// `(tenant, kind, org, id)` index gives. PostgreSQL otherwise misjudges
/// how many rows of a kind are tenant-wide (it knows `org_id IS NULL` of
/// the whole table, not of the kind) and walked a kind's 500,000 rows in id
/// order looking for a tenant-wide one that was not there (247 ms; 1.5 ms
/// so).
fn page_in_scope(sql: &mut Sql, selector: &OrgSelector, page: &Page) {
    match selector {
        OrgSelector::Org(_) | OrgSelector::TenantWide => {
            if let Some(after) = &page.after {
                sql.push(" AND r.id > ").arg(after.as_str());
            }
            sql.push(" ORDER BY r.org_id, r.id").limit(page.limit);
        }
        _ => page_clause(sql, "r.id", page),
    }
}

pub(crate) fn page_clause(sql: &mut Sql, col: &str, page: &Page) {
    if let Some(after) = &page.after {
        sql.push(&format!(" AND {col} > ")).arg(after);
    }
    sql.push(&format!(" ORDER BY {col}")).limit(page.limit);
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        self.0.commit().await.ctx()
    }

    /// The connection for the next statement, counted.
    pub(crate) fn conn(&mut self) -> &mut sqlx::AnyConnection {
        self.2.fetch_add(1, Ordering::Relaxed);
        &mut self.0
    }

    pub(crate) async fn all<T>(&mut self, sql: &Sql) -> Result<Vec<T>>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        sql.query_as::<T>().fetch_all(self.conn()).await.ctx()
    }

    pub(crate) async fn one<T>(&mut self, sql: &Sql) -> Result<T>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        sql.query_as::<T>().fetch_one(self.conn()).await.ctx()
    }

    pub(crate) async fn exec(&mut self, sql: &Sql) -> Result<u64> {
        Ok(sql
            .query()
            .execute(self.conn())
            .await
            .ctx()?
            .rows_affected())
    }

    // --- tenants (not scoped: a tenant is the boundary itself) ---

    pub async fn tenant_create(&mut self, slug: &str, name: &str) -> Result<TenantRow> {
        let row = TenantRow {
            id: new_id("ten"),
            slug: slug.to_owned(),
            name: name.to_owned(),
            created_at: now(),
        };
        // A new tenant's gateways identify themselves (DECISIONS: API
        // gateways); tenants older than them keep the shared check.
        let sql = Sql::insert(
            "tenants",
            &["id", "slug", "name", "created_at", "shared_gateway_check"],
            vec![
                (&row.id).into(),
                (&row.slug).into(),
                (&row.name).into(),
                (&row.created_at).into(),
                0i64.into(),
            ],
        );
        self.exec(&sql).await?;
        Ok(row)
    }

    pub async fn tenants(&mut self, page: &Page) -> Result<Vec<TenantRow>> {
        let mut sql = Sql::new("SELECT id, slug, name, created_at FROM tenants WHERE 1 = 1");
        page_clause(&mut sql, "id", page);
        self.all(&sql).await
    }

    /// A tenant by slug or id.
    pub async fn tenant(&mut self, reference: &str) -> Result<TenantRow> {
        let mut sql = Sql::new("SELECT id, slug, name, created_at FROM tenants WHERE id = ");
        sql.arg(reference).push(" OR slug = ").arg(reference);
        self.one(&sql).await
    }

    /// The tenant, when the server has exactly one.
    pub async fn sole_tenant(&mut self) -> Result<Option<TenantRow>> {
        let rows: Vec<TenantRow> = self
            .all(&Sql::new(
                "SELECT id, slug, name, created_at FROM tenants ORDER BY id LIMIT 2",
            ))
            .await?;
        Ok(if rows.len() == 1 {
            rows.into_iter().next()
        } else {
            None
        })
    }

    // --- orgs ---

    pub async fn org_create(
        &mut self,
        tenant: &str,
        slug: &str,
        name: &str,
        parent: Option<&str>,
        domain: Option<DomainClaim<'_>>,
    ) -> Result<OrgRow> {
        let at = now();
        let row = OrgRow {
            id: new_id("org"),
            tenant_id: tenant.to_owned(),
            slug: slug.to_owned(),
            name: name.to_owned(),
            parent_id: parent.map(str::to_owned),
            domain: domain.as_ref().map(|d| d.domain.to_owned()),
            domain_token: domain.as_ref().map(|d| d.token.to_owned()),
            domain_verified_at: None,
            created_at: at.clone(),
            updated_at: at,
        };
        let sql = Sql::insert(
            "orgs",
            &[
                "id",
                "tenant_id",
                "slug",
                "name",
                "parent_id",
                "domain_claim",
                "domain_token",
                "created_at",
                "updated_at",
            ],
            vec![
                (&row.id).into(),
                (&row.tenant_id).into(),
                (&row.slug).into(),
                (&row.name).into(),
                (row.parent_id.clone()).into(),
                (row.domain.clone()).into(),
                (row.domain_token.clone()).into(),
                (&row.created_at).into(),
                (&row.updated_at).into(),
            ],
        );
        self.exec(&sql).await?;
        Ok(row)
    }

    /// An org by slug or id, if `filter` lets its principal see it.
    pub async fn org(&mut self, filter: &ReadFilter, reference: &str) -> Result<OrgRow> {
        let mut sql = Sql::new(&format!("SELECT {ORG_COLUMNS} FROM orgs o WHERE (o.id = "));
        sql.arg(reference)
            .push(" OR o.slug = ")
            .arg(reference)
            .push(")");
        push_scope(
            &mut sql,
            filter,
            &OrgSelector::All,
            "o.tenant_id",
            "o.id",
            None,
        );
        self.one(&sql).await
    }

    pub async fn orgs(&mut self, filter: &ReadFilter, page: &Page) -> Result<Vec<OrgRow>> {
        let mut sql = Sql::new(&format!("SELECT {ORG_COLUMNS} FROM orgs o WHERE 1 = 1"));
        push_scope(
            &mut sql,
            filter,
            &OrgSelector::All,
            "o.tenant_id",
            "o.id",
            None,
        );
        page_clause(&mut sql, "o.id", page);
        self.all(&sql).await
    }

    /// Those of `ids` (orgs) that `filter` allows, in one statement.
    pub async fn orgs_among(&mut self, filter: &ReadFilter, ids: &[&str]) -> Result<Vec<OrgRow>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let mut sql = Sql::new(&format!("SELECT {ORG_COLUMNS} FROM orgs o WHERE o.id IN ("));
            sql.args(chunk.iter().copied()).push(")");
            push_scope(
                &mut sql,
                filter,
                &OrgSelector::All,
                "o.tenant_id",
                "o.id",
                None,
            );
            out.extend(self.all::<OrgRow>(&sql).await?);
        }
        Ok(out)
    }

    /// The parent of an org, for cycle checks (`filter` is the tenant's).
    pub async fn org_parent(&mut self, filter: &ReadFilter, id: &str) -> Result<Option<String>> {
        Ok(self.org(filter, id).await?.parent_id)
    }

    pub async fn org_update(&mut self, org: &OrgRow) -> Result<()> {
        let mut sql = Sql::new("UPDATE orgs SET slug = ");
        sql.arg(&org.slug)
            .push(", name = ")
            .arg(&org.name)
            .push(", parent_id = ")
            .arg(org.parent_id.clone())
            .push(", domain_claim = ")
            .arg(org.domain.clone())
            .push(", domain_token = ")
            .arg(org.domain_token.clone())
            .push(", domain_verified_at = ")
            .arg(org.domain_verified_at.clone())
            // The portal answers only on a proved claim.
            .push(", domain = ")
            .arg(org.domain_verified_at.as_ref().and(org.domain.clone()))
            .push(", updated_at = ")
            .arg(now())
            .push(" WHERE id = ")
            .arg(&org.id);
        self.exec(&sql).await?;
        Ok(())
    }

    /// Makes an org's proved claim its portal domain. Whichever org held that
    /// domain before, in any tenant, loses it (DNS now says who controls it);
    /// those orgs are returned for their tenants' audit logs.
    pub async fn org_domain_proved(&mut self, org: &OrgRow) -> Result<Vec<OrgRow>> {
        let Some(domain) = &org.domain else {
            return Ok(Vec::new());
        };
        // Server-wide on purpose: a portal domain is unique across tenants.
        let mut sql = Sql::new(&format!(
            "SELECT {ORG_COLUMNS} FROM orgs o WHERE o.domain = "
        ));
        sql.arg(domain.as_str()).push(" AND o.id <> ").arg(&org.id);
        let losers: Vec<OrgRow> = self.all(&sql).await?;
        for lost in &losers {
            let mut sql =
                Sql::new("UPDATE orgs SET domain = NULL, domain_verified_at = NULL WHERE id = ");
            sql.arg(&lost.id);
            self.exec(&sql).await?;
        }
        let mut sql = Sql::new("UPDATE orgs SET domain = domain_claim, domain_verified_at = ");
        sql.arg(now()).push(" WHERE id = ").arg(&org.id);
        self.exec(&sql).await?;
        Ok(losers)
    }

    /// Counts per kind of what an org owns (resources and child orgs), as
    /// `filter` (the caller's) lets them be seen.
    pub async fn org_holdings(
        &mut self,
        filter: &ReadFilter,
        org: &str,
    ) -> Result<Vec<(String, i64)>> {
        let mut sql = Sql::new("SELECT r.kind, COUNT(*) AS n FROM resources r WHERE 1 = 1");
        push_scope(
            &mut sql,
            filter,
            &OrgSelector::Org(org.to_owned()),
            "r.tenant_id",
            "r.org_id",
            None,
        );
        sql.push(" GROUP BY r.kind ORDER BY r.kind");
        let mut out: Vec<(String, i64)> = self.all(&sql).await?;
        let mut sql = Sql::new("SELECT 'org' AS kind, COUNT(*) AS n FROM orgs WHERE parent_id = ");
        sql.arg(org);
        let (kind, n): (String, i64) = sql.query_as().fetch_one(self.conn()).await.ctx()?;
        if n > 0 {
            out.push((kind, n));
        }
        Ok(out)
    }

    /// Hands what an org owns to `disposition` before it is deleted: its
    /// child orgs lose their parent (they do not vanish).
    pub async fn org_dispose(&mut self, org: &str, disposition: Disposition<'_>) -> Result<()> {
        let mut sql = Sql::new("UPDATE orgs SET parent_id = NULL WHERE parent_id = ");
        sql.arg(org);
        self.exec(&sql).await?;
        let mut sql = match disposition {
            Disposition::Move(to) => {
                let mut sql = Sql::new("UPDATE resources SET org_id = ");
                sql.arg(to).push(", updated_at = ").arg(now());
                sql.push(" WHERE org_id = ");
                sql
            }
            Disposition::Delete => {
                // References among what goes go first: PostgreSQL checks a
                // reference to a row deleted in the same statement before
                // the cascade from its referrer has removed it.
                let mut refs = Sql::new(
                    "DELETE FROM resource_refs WHERE from_id IN (SELECT id FROM resources WHERE org_id = ",
                );
                refs.arg(org)
                    .push(") OR to_id IN (SELECT id FROM resources WHERE org_id = ")
                    .arg(org)
                    .push(")");
                self.exec(&refs).await?;
                Sql::new("DELETE FROM resources WHERE org_id = ")
            }
        };
        sql.arg(org);
        self.exec(&sql).await?;
        Ok(())
    }

    /// Deletes an empty org: its memberships go, default orgs pointing at it
    /// are cleared. Refused (`Referenced`) while it still owns resources.
    pub async fn org_delete(&mut self, org: &str) -> Result<()> {
        let mut sql = Sql::new("UPDATE users SET default_org_id = NULL WHERE default_org_id = ");
        sql.arg(org);
        self.exec(&sql).await?;
        let mut sql = Sql::new("DELETE FROM memberships WHERE org_id = ");
        sql.arg(org);
        self.exec(&sql).await?;
        let mut sql = Sql::new("DELETE FROM orgs WHERE id = ");
        sql.arg(org);
        match self.exec(&sql).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    // --- users (tenant rows, not org-scoped) ---

    #[allow(clippy::too_many_arguments)]
    pub async fn user_create(
        &mut self,
        tenant: Option<&str>,
        username: &str,
        password_hash: &str,
        role: &str,
        default_org: Option<&str>,
    ) -> Result<UserRow> {
        let at = now();
        let row = UserRow {
            id: new_id("usr"),
            tenant_id: tenant.map(str::to_owned),
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
            role: role.to_owned(),
            default_org_id: default_org.map(str::to_owned),
            disabled: 0,
            created_at: at.clone(),
            updated_at: at,
        };
        let sql = Sql::insert(
            "users",
            &[
                "id",
                "tenant_id",
                "username",
                "password_hash",
                "role",
                "default_org_id",
                "disabled",
                "created_at",
                "updated_at",
            ],
            vec![
                (&row.id).into(),
                (row.tenant_id.clone()).into(),
                (&row.username).into(),
                (&row.password_hash).into(),
                (&row.role).into(),
                (row.default_org_id.clone()).into(),
                0i64.into(),
                (&row.created_at).into(),
                (&row.updated_at).into(),
            ],
        );
        self.exec(&sql).await?;
        Ok(row)
    }

    /// A user of `tenant` (`None`: the superusers) by username or id.
    pub async fn user(&mut self, tenant: Option<&str>, reference: &str) -> Result<UserRow> {
        let mut sql = Sql::new(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE (u.id = "
        ));
        sql.arg(reference)
            .push(" OR u.username = ")
            .arg(reference)
            .push(")");
        match tenant {
            Some(t) => sql.push(" AND u.tenant_id = ").arg(t),
            None => sql.push(" AND u.tenant_id IS NULL"),
        };
        self.one(&sql).await
    }

    pub async fn users(&mut self, tenant: Option<&str>, page: &Page) -> Result<Vec<UserRow>> {
        let mut sql = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users u WHERE "));
        match tenant {
            Some(t) => sql.push("u.tenant_id = ").arg(t),
            None => sql.push("u.tenant_id IS NULL"),
        };
        page_clause(&mut sql, "u.id", page);
        self.all(&sql).await
    }

    pub async fn user_update(&mut self, user: &UserRow) -> Result<()> {
        let mut sql = Sql::new("UPDATE users SET role = ");
        sql.arg(&user.role)
            .push(", default_org_id = ")
            .arg(user.default_org_id.clone())
            .push(", disabled = ")
            .arg(user.disabled)
            .push(", password_hash = ")
            .arg(&user.password_hash)
            .push(", updated_at = ")
            .arg(now())
            .push(" WHERE id = ")
            .arg(&user.id);
        self.exec(&sql).await?;
        Ok(())
    }

    /// Ids of the org access keys a user made (they stop with the user).
    pub async fn keys_made_by(&mut self, user: &str) -> Result<Vec<String>> {
        let mut sql = Sql::new("SELECT id FROM resources WHERE kind = 'api_key' AND created_by = ");
        sql.arg(user).push(" ORDER BY id");
        let rows: Vec<(String,)> = self.all(&sql).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Deletes a user: their tokens and memberships go; what they made stays
    /// (its `created_by` keeps their id).
    pub async fn user_delete(&mut self, user: &str) -> Result<()> {
        for table in ["tokens", "memberships", "persona_assignments"] {
            let mut sql = Sql::new(&format!("DELETE FROM {table} WHERE user_id = "));
            sql.arg(user);
            self.exec(&sql).await?;
        }
        let mut sql = Sql::new("DELETE FROM users WHERE id = ");
        sql.arg(user);
        match self.exec(&sql).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    /// Slugs of an org's child orgs.
    pub async fn org_children(&mut self, org: &str) -> Result<Vec<String>> {
        let mut sql = Sql::new("SELECT slug FROM orgs WHERE parent_id = ");
        sql.arg(org).push(" ORDER BY slug");
        let rows: Vec<(String,)> = self.all(&sql).await?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }

    // --- memberships ---

    /// (org id, can_manage) of every membership of a user.
    pub async fn memberships_of(&mut self, user: &str) -> Result<Vec<(String, i64)>> {
        let mut sql = Sql::new("SELECT org_id, can_manage FROM memberships WHERE user_id = ");
        sql.arg(user).push(" ORDER BY org_id");
        sql.query_as().fetch_all(self.conn()).await.ctx()
    }

    /// Every member of an org, as (user id, can_manage).
    pub async fn memberships_in(&mut self, org: &str) -> Result<Vec<(String, i64)>> {
        let mut sql = Sql::new("SELECT user_id, can_manage FROM memberships WHERE org_id = ");
        sql.arg(org).push(" ORDER BY user_id");
        sql.query_as().fetch_all(self.conn()).await.ctx()
    }

    pub async fn members(&mut self, org: &str, page: &Page) -> Result<Vec<MemberRow>> {
        let mut sql = Sql::new(
            "SELECT m.org_id, m.user_id, u.username, m.can_manage, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ",
        );
        sql.arg(org);
        page_clause(&mut sql, "m.user_id", page);
        self.all(&sql).await
    }

    pub async fn member(&mut self, org: &str, user: &str) -> Result<MemberRow> {
        let mut sql = Sql::new(
            "SELECT m.org_id, m.user_id, u.username, m.can_manage, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ",
        );
        sql.arg(org).push(" AND m.user_id = ").arg(user);
        self.one(&sql).await
    }

    /// Adds a membership or changes its `can_manage`.
    pub async fn member_put(&mut self, org: &str, user: &str, can_manage: bool) -> Result<()> {
        let mut sql =
            Sql::new("INSERT INTO memberships (org_id, user_id, can_manage, created_at) VALUES (");
        sql.arg(org)
            .push(", ")
            .arg(user)
            .push(", ")
            .arg(can_manage)
            .push(", ")
            .arg(now())
            .push(") ON CONFLICT (org_id, user_id) DO UPDATE SET can_manage = excluded.can_manage");
        self.exec(&sql).await?;
        Ok(())
    }

    /// Removes a membership and clears a default org that pointed at it.
    /// Returns whether the user's default org was cleared.
    pub async fn member_remove(&mut self, org: &str, user: &str) -> Result<bool> {
        let mut sql = Sql::new("DELETE FROM memberships WHERE org_id = ");
        sql.arg(org).push(" AND user_id = ").arg(user);
        if self.exec(&sql).await? == 0 {
            return Err(StoreError::NotFound);
        }
        let mut sql = Sql::new("UPDATE users SET default_org_id = NULL WHERE id = ");
        sql.arg(user).push(" AND default_org_id = ").arg(org);
        Ok(self.exec(&sql).await? > 0)
    }

    // --- tokens (sessions and personal tokens) ---

    pub async fn token_create(
        &mut self,
        hash: &str,
        kind: &str,
        user: &str,
        name: &str,
        expires_at: Option<&str>,
    ) -> Result<TokenRow> {
        let row = TokenRow {
            id: new_id("tok"),
            kind: kind.to_owned(),
            user_id: user.to_owned(),
            name: name.to_owned(),
            created_at: now(),
            expires_at: expires_at.map(str::to_owned),
        };
        let sql = Sql::insert(
            "tokens",
            &[
                "id",
                "hash",
                "kind",
                "user_id",
                "name",
                "created_at",
                "expires_at",
            ],
            vec![
                (&row.id).into(),
                hash.into(),
                kind.into(),
                user.into(),
                name.into(),
                (&row.created_at).into(),
                (row.expires_at.clone()).into(),
            ],
        );
        self.exec(&sql).await?;
        Ok(row)
    }

    /// A token by its hash with its user and the user's memberships
    /// `(org, can_manage)`, in one statement (every request signed in with
    /// a session or a personal token asks it): the token, its stored hash,
    /// its user, their memberships.
    pub async fn token_and_user_for_auth(
        &mut self,
        hash: &str,
    ) -> Result<(TokenRow, String, UserRow, Vec<(String, i64)>)> {
        let mut sql = Sql::new(&format!(
            "SELECT {USER_COLUMNS}, t.id AS token_id, t.kind AS token_kind, t.name AS token_name, t.created_at AS token_created_at, t.expires_at AS token_expires_at, t.hash AS token_hash, {MEMBERSHIP_COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id {MEMBERSHIPS_JOIN} WHERE t.hash = "
        ));
        sql.arg(hash);
        let rows = sql.query().fetch_all(self.conn()).await.ctx()?;
        let first = rows.first().ok_or(StoreError::NotFound)?;
        let user = UserRow::from_row(first).ctx()?;
        let get = |col: &str| sqlx::Row::try_get::<String, _>(first, col).ctx();
        let token = TokenRow {
            id: get("token_id")?,
            kind: get("token_kind")?,
            user_id: user.id.clone(),
            name: get("token_name")?,
            created_at: get("token_created_at")?,
            expires_at: sqlx::Row::try_get(first, "token_expires_at").ctx()?,
        };
        Ok((token, get("token_hash")?, user, memberships_in_rows(&rows)?))
    }

    /// A user by id with their memberships `(org, can_manage)`, in one
    /// statement, whatever their tenant (authentication only: the token or
    /// key that names the user has already been verified).
    pub async fn user_with_memberships_for_auth(
        &mut self,
        id: &str,
    ) -> Result<(UserRow, Vec<(String, i64)>)> {
        let mut sql = Sql::new(&format!(
            "SELECT {USER_COLUMNS}, {MEMBERSHIP_COLUMNS} FROM users u {MEMBERSHIPS_JOIN} WHERE u.id = "
        ));
        sql.arg(id);
        let rows = sql.query().fetch_all(self.conn()).await.ctx()?;
        let first = rows.first().ok_or(StoreError::NotFound)?;
        Ok((UserRow::from_row(first).ctx()?, memberships_in_rows(&rows)?))
    }

    pub async fn tokens_of(&mut self, user: &str, kind: &str) -> Result<Vec<TokenRow>> {
        let mut sql = Sql::new(
            "SELECT id, kind, user_id, name, created_at, expires_at FROM tokens WHERE user_id = ",
        );
        sql.arg(user)
            .push(" AND ")
            .eq_word("kind", kind)
            .push(" ORDER BY id");
        self.all(&sql).await
    }

    /// Deletes one token of a user; `NotFound` if the user has no such token.
    pub async fn token_delete(&mut self, user: &str, id: &str) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM tokens WHERE user_id = ");
        sql.arg(user).push(" AND id = ").arg(id);
        match self.exec(&sql).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    /// Deletes a session by its hash (logout).
    pub async fn session_delete(&mut self, hash: &str) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM tokens WHERE kind = 'session' AND hash = ");
        sql.arg(hash);
        self.exec(&sql).await?;
        Ok(())
    }

    /// Revokes every session and personal token of a user (on disable).
    pub async fn tokens_revoke_all(&mut self, user: &str) -> Result<u64> {
        let mut sql = Sql::new("DELETE FROM tokens WHERE user_id = ");
        sql.arg(user);
        self.exec(&sql).await
    }

    /// Ends a user's password sessions but `keep` (a session hash, the one
    /// that changed the password), after a password change.
    pub async fn sessions_revoke_others(&mut self, user: &str, keep: Option<&str>) -> Result<u64> {
        let mut sql = Sql::new("DELETE FROM tokens WHERE kind = 'session' AND user_id = ");
        sql.arg(user);
        if let Some(keep) = keep {
            sql.push(" AND hash <> ").arg(keep);
        }
        self.exec(&sql).await
    }

    // --- scoped resources ---

    /// Resources of `kind` that `filter` allows, narrowed by `selector`.
    pub async fn resources(
        &mut self,
        kind: &str,
        filter: &ReadFilter,
        selector: &OrgSelector,
        page: &Page,
    ) -> Result<Vec<ResourceRow>> {
        self.resources_narrowed(kind, filter, selector, page, &Narrow::default())
            .await
    }

    /// [`Tx::resources`], narrowed further by what a listing asks for.
    pub async fn resources_narrowed(
        &mut self,
        kind: &str,
        filter: &ReadFilter,
        selector: &OrgSelector,
        page: &Page,
        narrow: &Narrow,
    ) -> Result<Vec<ResourceRow>> {
        let sql = self
            .resources_sql(kind, filter, selector, page, narrow)
            .await?;
        self.all(&sql).await
    }

    /// The plan the database chooses for a listing (EXPLAIN), one line a
    /// step: tests hold it to the indexes meant.
    pub async fn resources_plan(
        &mut self,
        kind: &str,
        filter: &ReadFilter,
        selector: &OrgSelector,
        page: &Page,
    ) -> Result<String> {
        let sql = self
            .resources_sql(kind, filter, selector, page, &Narrow::default())
            .await?;
        self.plan(&sql).await
    }

    pub(crate) async fn plan(&mut self, sql: &Sql) -> Result<String> {
        let lines: Vec<String> = match self.1 {
            Backend::Sqlite => {
                let rows: Vec<(i64, i64, i64, String)> =
                    self.all(&sql.prefixed("EXPLAIN QUERY PLAN ")).await?;
                rows.into_iter().map(|r| r.3).collect()
            }
            Backend::Postgres => {
                // As on tables large enough that the planner would never
                // scan them whole: tests on a few rows see the index a query
                // can use (only this transaction's setting).
                self.exec(&Sql::new("SET LOCAL enable_seqscan = off"))
                    .await?;
                let rows: Vec<(String,)> = self.all(&sql.prefixed("EXPLAIN ")).await?;
                rows.into_iter().map(|r| r.0).collect()
            }
        };
        Ok(lines.join("\n"))
    }

    async fn resources_sql(
        &mut self,
        kind: &str,
        filter: &ReadFilter,
        selector: &OrgSelector,
        page: &Page,
        narrow: &Narrow,
    ) -> Result<Sql> {
        let backend = self.1;
        let mut sql = match self.driving_selectors(filter, selector).await? {
            Some(selectors) => {
                // The page is cut from the branches' ids before any row is
                // joined.
                let mut sql = Sql::new(&format!(
                    "SELECT {RESOURCE_COLUMNS} FROM (SELECT page_id FROM ("
                ));
                union_all(&mut sql, &selectors, |sql, sel| {
                    sql.push("SELECT r.id AS page_id FROM resources r WHERE ")
                        .eq_word("r.kind", kind);
                    push_scope(sql, filter, sel, "r.tenant_id", "r.org_id", None);
                    narrow.push(sql, backend);
                    page_in_scope(sql, sel, page);
                });
                sql.push(") u ORDER BY page_id")
                    .limit(page.limit)
                    .push(") d JOIN resources r ON r.id = d.page_id LEFT JOIN orgs o ON o.id = r.org_id WHERE 1 = 1");
                sql
            }
            None => {
                let mut sql = Sql::new(&format!(
                    "SELECT {RESOURCE_COLUMNS} FROM resources r LEFT JOIN orgs o ON o.id = r.org_id WHERE "
                ));
                sql.eq_word("r.kind", kind);
                push_scope(&mut sql, filter, selector, "r.tenant_id", "r.org_id", None);
                narrow.push(&mut sql, backend);
                page_in_scope(&mut sql, selector, page);
                return Ok(sql);
            }
        };
        page_clause(&mut sql, "r.id", page);
        Ok(sql)
    }

    /// The selectors a member's "all my orgs" page is read by, one branch an
    /// org (`sql::driving_selectors`), or `None` for one statement.
    pub(crate) async fn driving_selectors(
        &mut self,
        filter: &ReadFilter,
        selector: &OrgSelector,
    ) -> Result<Option<Vec<OrgSelector>>> {
        let Rule::Member { user, .. } = filter.rule() else {
            return Ok(None);
        };
        if *selector != OrgSelector::All {
            return Ok(None);
        }
        // Each branch still applies the whole filter: this list only says
        // where to look, so a membership gone since is filtered out there.
        let orgs: Vec<String> = self
            .memberships_of(user)
            .await?
            .into_iter()
            .map(|(org, _)| org)
            .collect();
        Ok(sql::driving_selectors(filter, selector, &orgs))
    }

    /// Every resource of `kind` that `filter` and `selector` allow, page by
    /// page (for work over all of an org's resources: no silent cap).
    pub async fn resources_all(
        &mut self,
        kind: &str,
        filter: &ReadFilter,
        selector: &OrgSelector,
    ) -> Result<Vec<ResourceRow>> {
        const PAGE: i64 = 500;
        let mut out: Vec<ResourceRow> = Vec::new();
        loop {
            let page = Page {
                limit: PAGE,
                after: out.last().map(|r| r.id.clone()),
            };
            let rows = self.resources(kind, filter, selector, &page).await?;
            let done = (rows.len() as i64) < PAGE;
            out.extend(rows);
            if done {
                return Ok(out);
            }
        }
    }

    /// One resource, if `filter` allows it; `NotFound` otherwise, exactly as
    /// for an id that was never used.
    pub async fn resource(
        &mut self,
        kind: &str,
        filter: &ReadFilter,
        id: &str,
    ) -> Result<ResourceRow> {
        let mut sql = Sql::new(&format!(
            "SELECT {RESOURCE_COLUMNS} FROM resources r LEFT JOIN orgs o ON o.id = r.org_id WHERE "
        ));
        sql.eq_word("r.kind", kind).push(" AND r.id = ").arg(id);
        push_scope(
            &mut sql,
            filter,
            &OrgSelector::All,
            "r.tenant_id",
            "r.org_id",
            None,
        );
        self.one(&sql).await
    }

    /// Those of `ids` (resources of `kind`) that `filter` allows: what a
    /// page's references are called, without listing the whole kind.
    pub async fn resources_among(
        &mut self,
        kind: &str,
        filter: &ReadFilter,
        ids: &[String],
    ) -> Result<Vec<ResourceRow>> {
        let mut out = Vec::new();
        // Well under every backend's limit on bound parameters.
        for chunk in ids.chunks(500) {
            let mut sql = Sql::new(&format!(
                "SELECT {RESOURCE_COLUMNS} FROM resources r LEFT JOIN orgs o ON o.id = r.org_id WHERE "
            ));
            sql.eq_word("r.kind", kind)
                .push(" AND r.id IN (")
                .args(chunk.iter().map(String::as_str))
                .push(")");
            push_scope(
                &mut sql,
                filter,
                &OrgSelector::All,
                "r.tenant_id",
                "r.org_id",
                None,
            );
            out.extend(self.all::<ResourceRow>(&sql).await?);
        }
        Ok(out)
    }

    /// The org access key with this token hash (authentication: no principal
    /// yet). Returns the key and the `disabled` flag of the user who made it.
    pub async fn key_by_hash_for_auth(&mut self, hash: &str) -> Result<(ResourceRow, i64)> {
        let mut sql = Sql::new(&format!(
            "SELECT {RESOURCE_COLUMNS}, COALESCE(u.disabled, 0) AS creator_disabled FROM resources r LEFT JOIN orgs o ON o.id = r.org_id LEFT JOIN users u ON u.id = r.created_by WHERE r.kind = 'api_key' AND r.secret = "
        ));
        sql.arg(hash);
        let row = sql.query().fetch_one(self.conn()).await.ctx()?;
        let key = ResourceRow::from_row(&row).ctx()?;
        let disabled: i64 = sqlx::Row::try_get(&row, "creator_disabled").ctx()?;
        Ok((key, disabled))
    }

    pub async fn resource_insert(&mut self, r: &NewResource) -> Result<()> {
        let at = now();
        let sql = Sql::insert(
            "resources",
            &[
                "id",
                "tenant_id",
                "kind",
                "org_id",
                "name",
                "fields",
                "secret",
                "created_by",
                "created_at",
                "updated_at",
            ],
            vec![
                (&r.id).into(),
                (&r.tenant_id).into(),
                (&r.kind).into(),
                (r.org_id.clone()).into(),
                (&r.name).into(),
                (&r.fields).into(),
                (r.secret.clone()).into(),
                (r.created_by.clone()).into(),
                (&at).into(),
                (&at).into(),
            ],
        );
        self.exec(&sql).await?;
        Ok(())
    }

    /// Writes back name, org, fields and (when `secret` is `Some`) the secret.
    pub async fn resource_update(
        &mut self,
        id: &str,
        name: &str,
        org: Option<&str>,
        fields: &str,
        secret: Option<&str>,
    ) -> Result<()> {
        let mut sql = Sql::new("UPDATE resources SET name = ");
        sql.arg(name)
            .push(", org_id = ")
            .arg(org)
            .push(", fields = ")
            .arg(fields)
            .push(", updated_at = ")
            .arg(now());
        if let Some(secret) = secret {
            sql.push(", secret = ").arg(secret);
        }
        sql.push(" WHERE id = ").arg(id);
        match self.exec(&sql).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    pub async fn resource_delete(&mut self, id: &str) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM resources WHERE id = ");
        sql.arg(id);
        match self.exec(&sql).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    // --- audit ---

    pub async fn audit_append(&mut self, e: &NewAudit) -> Result<()> {
        let sql = Sql::insert(
            "audit",
            &[
                "id",
                "tenant_id",
                "at",
                "actor",
                "actor_id",
                "action",
                "kind",
                "target",
                "org_id",
                "other_org_id",
                "before",
                "after",
            ],
            vec![
                (new_id("aud")).into(),
                (e.tenant_id.clone()).into(),
                (now()).into(),
                (&e.actor).into(),
                (e.actor_id.clone()).into(),
                (&e.action).into(),
                (&e.kind).into(),
                (&e.target).into(),
                (e.org_id.clone()).into(),
                (e.other_org_id.clone()).into(),
                (e.before.clone()).into(),
                (e.after.clone()).into(),
            ],
        );
        self.exec(&sql).await?;
        Ok(())
    }

    /// Audit entries `filter` allows and `q` asks for, oldest first, after
    /// sequence number `page.after`.
    pub async fn audit(
        &mut self,
        filter: &ReadFilter,
        q: &AuditQuery,
        page: &Page,
    ) -> Result<Vec<AuditRow>> {
        let mut sql = Sql::new(
            "SELECT id, tenant_id, at, actor, actor_id, action, kind, target, org_id, other_org_id, before, after FROM audit a WHERE 1 = 1",
        );
        push_scope(
            &mut sql,
            filter,
            &OrgSelector::All,
            "a.tenant_id",
            "a.org_id",
            Some("a.other_org_id"),
        );
        if let Some(since) = &q.since {
            sql.push(" AND a.at >= ").arg(since);
        }
        if let Some(until) = &q.until {
            sql.push(" AND a.at < ").arg(until);
        }
        if let Some(org) = &q.org {
            sql.push(" AND (a.org_id = ")
                .arg(org)
                .push(" OR a.other_org_id = ")
                .arg(org)
                .push(")");
        }
        if let Some(actor) = &q.actor {
            sql.push(" AND (a.actor = ")
                .arg(actor)
                .push(" OR a.actor_id = ")
                .arg(actor)
                .push(")");
        }
        if let Some(kind) = &q.kind {
            sql.push(" AND ").eq_word("a.kind", kind);
        }
        if let Some(action) = &q.action {
            sql.push(" AND a.action = ").arg(action);
        }
        if let Some(after) = &page.after {
            sql.push(" AND a.seq > (SELECT seq FROM audit WHERE id = ")
                .arg(after.as_str())
                .push(")");
        }
        sql.push(" ORDER BY a.seq").limit(page.limit);
        self.all(&sql).await
    }
}
