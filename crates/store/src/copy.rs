//! Copying a whole installation from SQLite to PostgreSQL (`orgscope
//! migrate`). An operator's operation on every table, not a principal's
//! read: nothing here is scoped, and nothing serves a request.
//!
//! The target's schema is made by its own migrations; the tables and
//! their order come from it (foreign keys first, a table's references to
//! itself filled in after the table). Rows are read in rowid order in
//! batches, and each batch commits with the table's progress in
//! `orgscope_migrate_progress`, so an interrupted copy resumes where it
//! stopped and never writes a row twice. The progress table marks the
//! target as unfinished until the copy is verified and [`Store::copy_finish`]
//! drops it; a server does not start on an unfinished target.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Arg, Sql};
use crate::{Backend, Ctx, Result, Store, StoreError, Tx};

/// The table that marks an unfinished copy and holds its progress.
const PROGRESS: &str = "orgscope_migrate_progress";

/// Tables that are not data: the migrations' history, and search indexes
/// the target builds by itself.
const SKIPPED: &[&str] = &["_sqlx_migrations", "orgscope_migrations", PROGRESS];

/// How a column's values are bound on the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Type {
    Int,
    Text,
    Bytes,
}

/// One table to copy: its columns (those the target does not generate),
/// its primary key, and the columns that refer to its own rows.
#[derive(Clone, Debug)]
pub struct TablePlan {
    pub name: String,
    columns: Vec<(String, Type)>,
    primary_key: Vec<String>,
    self_refs: Vec<String>,
}

/// Where a table's copy stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableProgress {
    /// The last source rowid copied.
    pub last_rowid: i64,
    pub done: bool,
}

fn unsupported(what: &str) -> StoreError {
    StoreError::Other(sqlx::Error::Configuration(what.to_owned().into()))
}

impl Store {
    /// Every file's blob: (blob key, size, SHA-256), in id order. For
    /// copies and backups, which carry every blob.
    pub async fn blob_inventory(&self) -> Result<Vec<(String, i64, String)>> {
        Sql::new("SELECT blob_key, size, sha256 FROM files ORDER BY id")
            .query_as()
            .fetch_all(self.pool())
            .await
            .ctx()
    }

    /// A consistent copy of this (SQLite) database in a new file at `path`,
    /// taken while others go on reading and writing (`VACUUM INTO`).
    pub async fn snapshot_into(&self, path: &str) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Err(unsupported(
                "a snapshot is of the embedded SQLite store; back up PostgreSQL with its own tools (pg_dump, PITR)",
            ));
        }
        let mut sql = Sql::new("VACUUM INTO ");
        sql.arg(path);
        sql.query().execute(self.pool()).await.ctx()?;
        Ok(())
    }

    /// Whether this database holds no row of data (its own migrations'
    /// history aside).
    pub async fn is_empty(&self) -> Result<bool> {
        for table in self.data_tables().await? {
            if self.count_rows(&table).await? > 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The tables that hold data, by name.
    async fn data_tables(&self) -> Result<Vec<String>> {
        let sql = match self.backend {
            Backend::Postgres => {
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
            }
            // FTS5's shadow tables are an index the triggers keep.
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'knowledge_fts%' ORDER BY 1"
            }
        };
        let rows: Vec<(String,)> = Sql::new(sql)
            .query_as()
            .fetch_all(self.pool())
            .await
            .ctx()?;
        Ok(rows
            .into_iter()
            .map(|(t,)| t)
            .filter(|t| !SKIPPED.contains(&t.as_str()))
            .collect())
    }

    /// How many rows `table` holds (a name from [`Store::copy_plan`]).
    pub async fn count_rows(&self, table: &str) -> Result<i64> {
        let (n,): (i64,) = Sql::new(&format!("SELECT count(*) FROM {}", quote(table)))
            .query_as()
            .fetch_one(self.pool())
            .await
            .ctx()?;
        Ok(n)
    }

    /// The tables of this (PostgreSQL) target in the order a copy fills
    /// them: every table after those it refers to.
    pub async fn copy_plan(&self) -> Result<Vec<TablePlan>> {
        if self.backend != Backend::Postgres {
            return Err(unsupported("the target of a copy is PostgreSQL"));
        }
        let tables = self.data_tables().await?;
        let columns: Vec<(String, String, String)> = Sql::new(
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns WHERE table_schema = current_schema() AND is_generated = 'NEVER' ORDER BY table_name, ordinal_position",
        )
        .query_as()
        .fetch_all(self.pool())
        .await
        .ctx()?;
        let keys: Vec<(String, String)> = Sql::new(
            "SELECT c.relname::text, a.attname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) WHERE i.indisprimary AND n.nspname = current_schema() ORDER BY 1, 2",
        )
        .query_as()
        .fetch_all(self.pool())
        .await
        .ctx()?;
        // (table, column, the table it refers to)
        let refs: Vec<(String, String, String)> = Sql::new(
            "SELECT c.relname::text, a.attname::text, f.relname::text FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class f ON f.oid = k.confrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(k.conkey) WHERE k.contype = 'f' AND n.nspname = current_schema()",
        )
        .query_as()
        .fetch_all(self.pool())
        .await
        .ctx()?;
        let mut plans = BTreeMap::new();
        for table in &tables {
            let mut cols = Vec::new();
            for (t, c, data_type) in &columns {
                if t != table {
                    continue;
                }
                let ty = match data_type.as_str() {
                    "bigint" | "integer" | "smallint" => Type::Int,
                    "text" | "character varying" => Type::Text,
                    "bytea" => Type::Bytes,
                    other => {
                        return Err(unsupported(&format!(
                            "{table}.{c} is {other}: this version cannot copy it"
                        )));
                    }
                };
                cols.push((c.clone(), ty));
            }
            plans.insert(
                table.clone(),
                TablePlan {
                    name: table.clone(),
                    columns: cols,
                    primary_key: keys
                        .iter()
                        .filter(|(t, _)| t == table)
                        .map(|(_, c)| c.clone())
                        .collect(),
                    self_refs: refs
                        .iter()
                        .filter(|(t, _, f)| t == table && f == table)
                        .map(|(_, c, _)| c.clone())
                        .collect(),
                },
            );
        }
        // Depth-first: a table comes after every table it refers to.
        let mut order = Vec::new();
        let mut placed = BTreeSet::new();
        fn place(
            table: &str,
            refs: &[(String, String, String)],
            placed: &mut BTreeSet<String>,
            visiting: &mut BTreeSet<String>,
            order: &mut Vec<String>,
        ) -> Result<()> {
            if placed.contains(table) {
                return Ok(());
            }
            if !visiting.insert(table.to_owned()) {
                return Err(unsupported(&format!(
                    "the tables' references go round through {table}"
                )));
            }
            for (t, _, f) in refs {
                if t == table && f != table {
                    place(f, refs, placed, visiting, order)?;
                }
            }
            visiting.remove(table);
            placed.insert(table.to_owned());
            order.push(table.to_owned());
            Ok(())
        }
        for table in &tables {
            place(table, &refs, &mut placed, &mut BTreeSet::new(), &mut order)?;
        }
        Ok(order.into_iter().filter_map(|t| plans.remove(&t)).collect())
    }

    /// Marks this target as the destination of a copy from `source` (a
    /// name for the source: the same one resumes, another is refused).
    /// Answers the progress so far (empty for a new copy).
    pub async fn copy_begin(&self, source: &str) -> Result<BTreeMap<String, TableProgress>> {
        Sql::new(&format!(
            "CREATE TABLE IF NOT EXISTS {PROGRESS} (table_name TEXT PRIMARY KEY, source TEXT NOT NULL, last_rowid BIGINT NOT NULL, done INTEGER NOT NULL)"
        ))
        .query()
        .execute(self.pool())
        .await
        .ctx()?;
        let rows: Vec<(String, String, i64, i64)> = Sql::new(&format!(
            "SELECT table_name, source, last_rowid, done FROM {PROGRESS}"
        ))
        .query_as()
        .fetch_all(self.pool())
        .await
        .ctx()?;
        let mut out = BTreeMap::new();
        for (table, from, last_rowid, done) in rows {
            if from != source {
                return Err(unsupported(&format!(
                    "this database is the target of an unfinished copy from {from}; finish that one (or start over on an empty database)"
                )));
            }
            out.insert(
                table,
                TableProgress {
                    last_rowid,
                    done: done != 0,
                },
            );
        }
        if out.is_empty() {
            // A new copy: record the source before the first row.
            let mut sql = Sql::new(&format!(
                "INSERT INTO {PROGRESS} (table_name, source, last_rowid, done) VALUES ('', "
            ));
            sql.arg(source).push(", 0, 1)");
            sql.query().execute(self.pool()).await.ctx()?;
        }
        Ok(out)
    }

    /// The source of an unfinished copy into this database, if there is one.
    pub async fn copy_unfinished(&self) -> Result<Option<String>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let (exists,): (i64,) = Sql::new(&format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '{PROGRESS}'"
        ))
        .query_as()
        .fetch_one(self.pool())
        .await
        .ctx()?;
        if exists == 0 {
            return Ok(None);
        }
        let source: Option<(String,)> = Sql::new(&format!(
            "SELECT source FROM {PROGRESS} WHERE table_name = ''"
        ))
        .query_as()
        .fetch_optional(self.pool())
        .await
        .ctx()?;
        Ok(Some(source.map_or_else(String::new, |(s,)| s)))
    }

    /// The copy is verified: the target is an installation like any other.
    /// Sequences continue after the copied rows.
    pub async fn copy_finish(&self) -> Result<()> {
        let serials: Vec<(String, String)> = Sql::new(
            "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'",
        )
        .query_as()
        .fetch_all(self.pool())
        .await
        .ctx()?;
        for (table, column) in serials {
            Sql::new(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), coalesce((SELECT max({c}) FROM {t}), 0) + 1, false)",
                c = quote(&column),
                t = quote(&table)
            ))
            .query()
            .execute(self.pool())
            .await
            .ctx()?;
        }
        Sql::new(&format!("DROP TABLE {PROGRESS}"))
            .query()
            .execute(self.pool())
            .await
            .ctx()?;
        Ok(())
    }

    /// Copies up to `limit` rows of `plan`'s table after source rowid
    /// `after` from `self` (SQLite) into `target`, with the progress, in
    /// one transaction of the target. Answers the rows copied and the last
    /// rowid (0 rows: the table is done, and so marked).
    pub async fn copy_batch(
        &self,
        target: &Store,
        plan: &TablePlan,
        after: i64,
        limit: i64,
    ) -> Result<(usize, i64)> {
        if self.backend != Backend::Sqlite {
            return Err(unsupported("the source of a copy is SQLite"));
        }
        let names: Vec<String> = plan.columns.iter().map(|(c, _)| quote(c)).collect();
        let mut read = Sql::new(&format!(
            "SELECT rowid, {} FROM {} WHERE rowid > ",
            names.join(", "),
            quote(&plan.name)
        ));
        read.arg(after).push(" ORDER BY rowid").limit(limit);
        let rows: Vec<AnyRow> = read.query().fetch_all(self.pool()).await.ctx()?;
        let mut tx = target.write().await?;
        let Some(last) = rows.last() else {
            progress(&mut tx, &plan.name, after, true).await?;
            tx.commit().await?;
            return Ok((0, after));
        };
        let last: i64 = last.try_get(0).ctx()?;
        let mut insert = Sql::new(&format!(
            "INSERT INTO {} ({}) VALUES ",
            quote(&plan.name),
            names.join(", ")
        ));
        for (r, row) in rows.iter().enumerate() {
            insert.push(if r == 0 { "(" } else { ", (" });
            for (i, (column, ty)) in plan.columns.iter().enumerate() {
                if i > 0 {
                    insert.push(", ");
                }
                // A reference to the same table waits for the second pass.
                let arg = if plan.self_refs.contains(column) {
                    null_of(*ty)
                } else {
                    value(row, i + 1, *ty)?
                };
                insert.arg(arg);
            }
            insert.push(")");
        }
        insert.query().execute(tx.conn()).await.ctx()?;
        progress(&mut tx, &plan.name, last, false).await?;
        tx.commit().await?;
        Ok((rows.len(), last))
    }

    /// The second pass over a table that refers to itself: sets those
    /// references once every row is there. Repeating it changes nothing.
    pub async fn copy_self_refs(&self, target: &Store, plan: &TablePlan) -> Result<()> {
        if plan.self_refs.is_empty() {
            return Ok(());
        }
        if plan.primary_key.is_empty() {
            return Err(unsupported(&format!(
                "{} refers to itself but has no primary key",
                plan.name
            )));
        }
        let wanted: Vec<&(String, Type)> = plan
            .columns
            .iter()
            .filter(|(c, _)| plan.primary_key.contains(c) || plan.self_refs.contains(c))
            .collect();
        let names: Vec<String> = wanted.iter().map(|(c, _)| quote(c)).collect();
        let rows: Vec<AnyRow> = Sql::new(&format!(
            "SELECT {} FROM {}",
            names.join(", "),
            quote(&plan.name)
        ))
        .query()
        .fetch_all(self.pool())
        .await
        .ctx()?;
        let mut tx = target.write().await?;
        for row in &rows {
            let mut update = Sql::new(&format!("UPDATE {} SET ", quote(&plan.name)));
            let mut first = true;
            for (i, (c, ty)) in wanted.iter().enumerate() {
                if plan.self_refs.contains(c) {
                    update.push(if first { "" } else { ", " });
                    update
                        .push(&format!("{} = ", quote(c)))
                        .arg(value(row, i, *ty)?);
                    first = false;
                }
            }
            update.push(" WHERE ");
            let mut first = true;
            for (i, (c, ty)) in wanted.iter().enumerate() {
                if plan.primary_key.contains(c) {
                    update.push(if first { "" } else { " AND " });
                    update
                        .push(&format!("{} = ", quote(c)))
                        .arg(value(row, i, *ty)?);
                    first = false;
                }
            }
            update.query().execute(tx.conn()).await.ctx()?;
        }
        tx.commit().await
    }
}

async fn progress(tx: &mut Tx, table: &str, last_rowid: i64, done: bool) -> Result<()> {
    let mut sql = Sql::new(&format!(
        "INSERT INTO {PROGRESS} (table_name, source, last_rowid, done) VALUES ("
    ));
    sql.arg(table)
        .push(&format!(", (SELECT source FROM {PROGRESS} WHERE table_name = ''), "))
        .arg(last_rowid)
        .push(", ")
        .arg(done)
        .push(") ON CONFLICT (table_name) DO UPDATE SET last_rowid = excluded.last_rowid, done = excluded.done");
    sql.query().execute(tx.conn()).await.ctx()?;
    Ok(())
}

fn null_of(ty: Type) -> Arg {
    match ty {
        Type::Int => Arg::Int(None),
        Type::Text | Type::Bytes => Arg::Text(None),
    }
}

/// Column `i` of a source row, bound as the target's column type wants.
fn value(row: &AnyRow, i: usize, ty: Type) -> Result<Arg> {
    Ok(match ty {
        Type::Int => Arg::Int(row.try_get::<Option<i64>, _>(i).ctx()?),
        Type::Text => Arg::Text(row.try_get::<Option<String>, _>(i).ctx()?),
        Type::Bytes => match row.try_get::<Option<Vec<u8>>, _>(i).ctx()? {
            Some(b) => Arg::Bytes(b),
            None => Arg::Text(None),
        },
    })
}

/// A table or column name as an identifier (they come from the catalog).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
