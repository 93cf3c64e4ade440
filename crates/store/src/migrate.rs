//! Schema migrations through sqlx's [`Migrator`]: each applied migration is
//! recorded in `_sqlx_migrations` with the SHA-384 of its SQL, so a migration
//! edited after it was applied stops the start with a message naming it, and
//! each migration runs in its own transaction (a failed one leaves nothing).
//!
//! The SQL is compiled into the binary (`include_str!`), not read from disk at
//! run time; `sqlx::migrate!` would do the same but needs sqlx's `macros`
//! feature, which builds both database drivers a second time.
//!
//! Databases made before this kept their history in `orgscope_migrations
//! (version, applied_at)`. [`adopt_history`] records those versions in
//! `_sqlx_migrations` (with the checksums of the files as they are now) before
//! the Migrator runs, so nothing is applied twice. The old table is left in
//! place: nothing writes it any more, and an earlier binary started on the
//! database still finds its history there.

use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::{AnyConnection, AnyPool, SqlSafeStr};

use crate::{Backend, Ctx, Result, StoreError};

/// Each migration exists once per backend, under the same number and name.
macro_rules! migrations {
    ($backend:literal: $($version:literal $name:literal),* $(,)?) => {
        &[$(($version, $name, include_str!(concat!("../migrations/", $backend, "/", $name, ".sql")))),*]
    };
}

/// (version, file name without `.sql`, SQL).
type Listed = (i64, &'static str, &'static str);

pub(crate) const SQLITE: &[Listed] = migrations!("sqlite":
    1 "0001_spine", 2 "0002_files", 3 "0003_chat", 4 "0004_audit_moves", 5 "0005_refs", 6 "0006_gateway", 7 "0007_agents", 8 "0008_domain_claims", 9 "0009_public_ids", 10 "0010_user_roles", 11 "0011_list_order", 12 "0012_portal", 13 "0013_portal_settings", 14 "0014_portal_logos", 15 "0015_api_gateways", 16 "0016_gateway_token", 17 "0017_task_leases", 18 "0018_limit_counts", 19 "0019_sweep_and_users_indexes", 20 "0020_users_enabled");
pub(crate) const POSTGRES: &[Listed] = migrations!("postgres":
    1 "0001_spine", 2 "0002_files", 3 "0003_chat", 4 "0004_audit_moves", 5 "0005_refs", 6 "0006_gateway", 7 "0007_agents", 8 "0008_domain_claims", 9 "0009_public_ids", 10 "0010_user_roles", 11 "0011_list_order", 12 "0012_portal", 13 "0013_portal_settings", 14 "0014_portal_logos", 15 "0015_api_gateways", 16 "0016_gateway_token", 17 "0017_task_leases", 18 "0018_limit_counts", 19 "0019_sweep_and_users_indexes", 20 "0020_users_enabled");

/// The lock the hand-written migrations took on PostgreSQL. Held around
/// adoption and the Migrator too, so a replica still running the previous
/// release and one running this one never migrate at the same time.
const LEGACY_LOCK: i64 = 7_260_218;

fn listed(backend: Backend) -> &'static [Listed] {
    match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }
}

fn folder(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// The backend's migrations as sqlx sees them.
pub(crate) fn migrator(backend: Backend) -> Migrator {
    Migrator::with_migrations(
        listed(backend)
            .iter()
            .map(|&(version, name, sql)| migration(version, name, sql))
            .collect(),
    )
}

/// One migration, run in a transaction of its own (so a failure leaves
/// nothing); the description is the file name after its number, as
/// `sqlx migrate` would record it.
fn migration(version: i64, name: &str, sql: &'static str) -> Migration {
    let description = name.split_once('_').map_or(name, |(_, d)| d);
    Migration::new(
        version,
        description.replace('_', " ").into(),
        MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )
}

/// Brings the schema up to date: adopts an old history, then runs the
/// Migrator (which takes a connection of its own from the pool, and sqlx's
/// lock on it). The connection that holds the legacy lock is closed rather
/// than returned to the pool on an error, so the lock does not outlive a
/// failed start.
pub(crate) async fn run(backend: Backend, migrator: &Migrator, pool: &AnyPool) -> Result<()> {
    let mut conn = pool.acquire().await.ctx()?;
    let result = async {
        if backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(LEGACY_LOCK)
                .execute(&mut *conn)
                .await
                .ctx()?;
        }
        adopt_history(backend, migrator, &mut conn, pool).await?;
        migrator.run(pool).await.map_err(|e| explain(backend, e))?;
        if backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(LEGACY_LOCK)
                .execute(&mut *conn)
                .await
                .ctx()?;
        }
        Ok(())
    }
    .await;
    if result.is_err() {
        conn.close_on_drop();
    }
    result
}

/// Records the versions in `orgscope_migrations` as applied in
/// `_sqlx_migrations` (sqlx's `skip`: under its lock, rows only for versions
/// not recorded yet, checksums of the SQL in this build). Idempotent: on a
/// database already adopted it inserts nothing.
async fn adopt_history(
    backend: Backend,
    migrator: &Migrator,
    conn: &mut AnyConnection,
    pool: &AnyPool,
) -> Result<()> {
    let exists = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'orgscope_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'orgscope_migrations'"
        }
    };
    let (tables,): (i64,) = sqlx::query_as(exists).fetch_one(&mut *conn).await.ctx()?;
    if tables == 0 {
        return Ok(());
    }
    let versions: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM orgscope_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .ctx()?;
    let versions: Vec<i64> = versions.into_iter().map(|(v,)| v).collect();
    let Some(&last) = versions.last() else {
        return Ok(());
    };
    // The old code applied every migration in order, so its history is
    // 1..=last; anything else was not written by it.
    if !versions.iter().copied().eq(1..=last) {
        return Err(StoreError::Migration(format!(
            "orgscope_migrations lists versions {versions:?}, not 1 to {last} in order: \
             this is not a history orgscope wrote; restore the database from a backup"
        )));
    }
    if !migrator.version_exists(last) {
        return Err(newer_database(last));
    }
    tracing::info!(
        last,
        "recording the migrations in orgscope_migrations in _sqlx_migrations"
    );
    migrator
        .skip(pool, Some(last))
        .await
        .map_err(|e| explain(backend, e))
}

fn newer_database(version: i64) -> StoreError {
    StoreError::Migration(format!(
        "the database has migration {version:04}, which this build of orgscope does not know: \
         it was migrated by a newer release; run that release (or a newer one)"
    ))
}

/// sqlx's errors, said so that an operator (or the developer who edited a
/// file) knows which migration and what to do.
fn explain(backend: Backend, e: MigrateError) -> StoreError {
    let file = |version: i64| {
        listed(backend).iter().find(|m| m.0 == version).map_or_else(
            || format!("{version:04}"),
            |m| format!("crates/store/migrations/{}/{}.sql", folder(backend), m.1),
        )
    };
    StoreError::Migration(match e {
        MigrateError::VersionMismatch(v) => format!(
            "migration {v:04} was applied to this database, but its SQL in this build differs \
             from what was applied (checksum mismatch): an applied migration must not be edited; \
             restore {} as it was released and put the change in a new migration",
            file(v)
        ),
        MigrateError::VersionMissing(v) => return newer_database(v),
        MigrateError::ExecuteMigration(error, v) => format!(
            "migration {v:04} ({}) failed and was rolled back, nothing of it is applied: {error}",
            file(v)
        ),
        MigrateError::Dirty(v) => format!(
            "migration {v:04} is recorded as failed in _sqlx_migrations: check the schema by hand, \
             then delete that row"
        ),
        other => format!("migrations: {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    /// A migration that fails part-way leaves neither its first statement nor
    /// a row in `_sqlx_migrations`, and the error names it.
    #[tokio::test]
    async fn a_failed_migration_is_reported_and_rolled_back() {
        let dir = std::env::temp_dir().join(crate::new_id("orgscope-migrate"));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", dir.join("t.db").display()))
            .await
            .unwrap();
        let mut migrations: Vec<Migration> = migrator(Backend::Sqlite).iter().cloned().collect();
        migrations.push(migration(
            99,
            "0099_half",
            "CREATE TABLE half_applied (x INTEGER); INSERT INTO no_such_table VALUES (1);",
        ));
        let broken = Migrator::with_migrations(migrations);
        let err = run(Backend::Sqlite, &broken, store.pool())
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("migration 0099") && message.contains("rolled back"),
            "{message}"
        );
        let mut conn = store.pool().acquire().await.unwrap();
        let (half,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_applied'")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!(half, 0, "the failed migration's first statement is undone");
        let (recorded,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE version = 99")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!(recorded, 0, "a failed migration is not recorded");
    }
}
