//! Files and their knowledge entries. A file is a resource (its scope is the
//! resource's org); its entries carry no scope of their own and are read only
//! joined to it, through the read filter.

use orgscope_core::policy::{OrgSelector, ReadFilter};
use sqlx::FromRow;

use crate::sql::{Arg, Sql, push_scope, union_all};
use crate::{Backend, Ctx, Page, RESOURCE_COLUMNS, Result, StoreError, Tx, now};

/// A file resource with its blob and extraction state.
#[derive(Clone, Debug, FromRow)]
pub struct FileRow {
    #[sqlx(flatten)]
    pub resource: crate::ResourceRow,
    pub blob_key: String,
    pub size: i64,
    pub sha256: String,
    pub content_type: String,
    /// `pending`, `running`, `done`, `failed` or `unsupported`.
    pub extraction: String,
    pub extraction_error: Option<String>,
    pub entries: i64,
}

pub struct NewFile {
    pub id: String,
    pub blob_key: String,
    pub size: i64,
    pub sha256: String,
    pub content_type: String,
}

/// How a file listing is ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileSort {
    Name,
    Time,
    Size,
}

impl FileSort {
    fn column(self) -> &'static str {
        match self {
            FileSort::Name => "r.name",
            FileSort::Time => "r.created_at",
            FileSort::Size => "f.size",
        }
    }
}

#[derive(Clone, Debug, FromRow)]
pub struct KnowledgeRow {
    /// The public id (`ke_…`); the internal order number stays inside.
    pub id: String,
    pub file_id: String,
    pub file_name: String,
    pub org_id: Option<String>,
    pub org_slug: Option<String>,
    pub position: i64,
    pub text: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct KnowledgeHit {
    pub id: String,
    pub file_id: String,
    pub file_name: String,
    pub org_id: Option<String>,
    pub org_slug: Option<String>,
    pub position: i64,
    /// The matching passage with matches between \u{1} and \u{2}.
    pub snippet: String,
    pub text: String,
    pub score: f64,
}

const FILE_COLUMNS: &str =
    "f.blob_key, f.size, f.sha256, f.content_type, f.extraction, f.extraction_error, f.entries";

impl Tx {
    pub async fn file_insert(&mut self, f: &NewFile) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO files (id, blob_key, size, sha256, content_type, extraction, entries) VALUES (",
        );
        sql.arg(&f.id)
            .push(", ")
            .arg(&f.blob_key)
            .push(", ")
            .arg(f.size)
            .push(", ")
            .arg(&f.sha256)
            .push(", ")
            .arg(&f.content_type)
            .push(", 'pending', 0)");
        self.exec(&sql).await?;
        Ok(())
    }

    /// Files `filter` allows, narrowed by `selector`, in `sort` order.
    /// `after` is the previous page's last (sort value, id).
    pub async fn files(
        &mut self,
        filter: &ReadFilter,
        selector: &OrgSelector,
        (sort, descending): (FileSort, bool),
        after: Option<(String, String)>,
        limit: i64,
        narrow: &crate::Narrow,
    ) -> Result<Vec<FileRow>> {
        let backend = self.1;
        let col = sort.column();
        let (cmp, dir) = if descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        let after = match (after, sort) {
            (Some((value, id)), FileSort::Size) => Some((
                Arg::from(value.parse::<i64>().map_err(|_| StoreError::NotFound)?),
                id,
            )),
            (Some((value, id)), _) => Some((Arg::from(value), id)),
            (None, _) => None,
        };
        // The conditions after the scope: the cursor, the order, the page.
        let tail = |sql: &mut Sql| {
            if let Some((value, id)) = &after {
                sql.push(&format!(" AND ({col}, r.id) {cmp} ("))
                    .arg(value.clone())
                    .push(", ")
                    .arg(id.as_str())
                    .push(")");
            }
            sql.push(&format!(" ORDER BY {col} {dir}, r.id {dir}"))
                .limit(limit);
        };
        // Only creation time has an index per org to walk.
        let driving = match sort {
            FileSort::Time => self.driving_selectors(filter, selector).await?,
            _ => None,
        };
        let mut sql = match driving {
            Some(selectors) => {
                // The page is cut from the branches' ids and keys before
                // any row is joined.
                let mut sql = Sql::new(&format!(
                    "SELECT {RESOURCE_COLUMNS}, {FILE_COLUMNS} FROM (SELECT page_id FROM ("
                ));
                union_all(&mut sql, &selectors, |sql, sel| {
                    sql.push(&format!(
                        "SELECT r.id AS page_id, {col} AS page_key FROM resources r WHERE r.kind = 'file'"
                    ));
                    push_scope(sql, filter, sel, "r.tenant_id", "r.org_id", None);
                    narrow.push(sql, backend);
                    tail(sql);
                });
                sql.push(&format!(
                    ") u ORDER BY page_key {dir}, page_id {dir}"
                ))
                .limit(limit)
                .push(") d JOIN resources r ON r.id = d.page_id JOIN files f ON f.id = r.id LEFT JOIN orgs o ON o.id = r.org_id WHERE 1 = 1");
                sql
            }
            None => {
                let mut sql = Sql::new(&format!(
                    "SELECT {RESOURCE_COLUMNS}, {FILE_COLUMNS} FROM resources r JOIN files f ON f.id = r.id LEFT JOIN orgs o ON o.id = r.org_id WHERE r.kind = 'file'"
                ));
                push_scope(&mut sql, filter, selector, "r.tenant_id", "r.org_id", None);
                narrow.push(&mut sql, backend);
                sql
            }
        };
        tail(&mut sql);
        self.all(&sql).await
    }

    /// One file, if `filter` allows it.
    pub async fn file(&mut self, filter: &ReadFilter, id: &str) -> Result<FileRow> {
        let mut sql = Sql::new(&format!(
            "SELECT {RESOURCE_COLUMNS}, {FILE_COLUMNS} FROM resources r JOIN files f ON f.id = r.id LEFT JOIN orgs o ON o.id = r.org_id WHERE r.kind = 'file' AND r.id = "
        ));
        sql.arg(id);
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

    /// Whether a blob belongs to a file (start-up sweep of orphans; not
    /// scoped: it answers only yes or no to the server itself).
    pub async fn blob_is_referenced(&mut self, blob_key: &str) -> Result<bool> {
        // Through files_blob_key: one probe, whatever the number of files.
        let mut sql = Sql::new("SELECT COUNT(*) FROM (SELECT 1 FROM files WHERE blob_key = ");
        sql.arg(blob_key).push(" LIMIT 1) f");
        let (n,): (i64,) = sql.query_as().fetch_one(self.conn()).await.ctx()?;
        Ok(n > 0)
    }

    /// Takes a file's extraction if it is pending (or stale since `stale_before`):
    /// true when this caller got it, so one replica extracts each file.
    pub async fn extraction_claim(&mut self, id: &str, stale_before: &str) -> Result<bool> {
        let mut sql = Sql::new("UPDATE files SET extraction = 'running', extraction_started_at = ");
        sql.arg(now())
            .push(" WHERE id = ")
            .arg(id)
            .push(" AND (extraction = 'pending' OR (extraction = 'running' AND extraction_started_at < ")
            .arg(stale_before)
            .push("))");
        Ok(self.exec(&sql).await? == 1)
    }

    /// Ids of files whose extraction is waiting (or stale), oldest first.
    pub async fn extraction_backlog(
        &mut self,
        stale_before: &str,
        limit: i64,
    ) -> Result<Vec<String>> {
        let mut sql = Sql::new(
            "SELECT id FROM files WHERE extraction = 'pending' OR (extraction = 'running' AND extraction_started_at < ",
        );
        sql.arg(stale_before).push(") ORDER BY id").limit(limit);
        let rows: Vec<(String,)> = sql.query_as().fetch_all(self.conn()).await.ctx()?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// How many files, in every tenant, are in each extraction state but
    /// `done` (which the index would have to walk in full): for /metrics,
    /// which only superusers or a private listener read. Counts, no rows.
    pub async fn extraction_counts_all_tenants(&mut self) -> Result<Vec<(String, i64)>> {
        sqlx::query_as(
            "SELECT extraction, COUNT(*) FROM files WHERE extraction IN ('pending', 'running', 'failed', 'unsupported') GROUP BY extraction",
        )
        .fetch_all(self.conn())
        .await
        .ctx()
    }

    /// The blob and type of a file, for its extractor (the claim was made).
    pub async fn file_blob_for_extraction(
        &mut self,
        id: &str,
    ) -> Result<(String, String, String, i64)> {
        let mut sql = Sql::new(
            "SELECT f.blob_key, f.content_type, r.name, f.size FROM files f JOIN resources r ON r.id = f.id WHERE f.id = ",
        );
        sql.arg(id);
        sql.query_as().fetch_one(self.conn()).await.ctx()
    }

    /// Replaces a file's entries and records the outcome of its extraction.
    pub async fn extraction_finish(
        &mut self,
        id: &str,
        state: &str,
        error: Option<&str>,
        chunks: &[String],
    ) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM knowledge WHERE file_id = ");
        sql.arg(id);
        self.exec(&sql).await?;
        for (i, chunk) in chunks.iter().enumerate() {
            let mut sql = Sql::new("INSERT INTO knowledge (id, file_id, position, text) VALUES (");
            sql.arg(crate::new_id("ke"))
                .push(", ")
                .arg(id)
                .push(", ")
                .arg(i as i64)
                .push(", ")
                .arg(chunk.as_str())
                .push(")");
            self.exec(&sql).await?;
        }
        let mut sql = Sql::new("UPDATE files SET extraction = ");
        sql.arg(state)
            .push(", extraction_error = ")
            .arg(error)
            .push(", entries = ")
            .arg(chunks.len() as i64)
            .push(" WHERE id = ")
            .arg(id);
        self.exec(&sql).await?;
        Ok(())
    }

    /// Knowledge entries `filter` allows (through their file), narrowed by `selector`.
    pub async fn knowledge(
        &mut self,
        filter: &ReadFilter,
        selector: &OrgSelector,
        file: Option<&str>,
        page: &Page,
    ) -> Result<Vec<KnowledgeRow>> {
        let mut sql = Sql::new(
            "SELECT k.id, k.file_id, r.name AS file_name, r.org_id, o.slug AS org_slug, k.position, k.text FROM knowledge k JOIN resources r ON r.id = k.file_id LEFT JOIN orgs o ON o.id = r.org_id WHERE r.kind = 'file'",
        );
        push_scope(&mut sql, filter, selector, "r.tenant_id", "r.org_id", None);
        if let Some(file) = file {
            sql.push(" AND k.file_id = ").arg(file);
        }
        if let Some(after) = &page.after {
            sql.push(" AND k.seq > (SELECT seq FROM knowledge WHERE id = ")
                .arg(after.as_str())
                .push(")");
        }
        sql.push(" ORDER BY k.seq").limit(page.limit);
        self.all(&sql).await
    }

    /// One knowledge entry, through its file's scope.
    pub async fn knowledge_entry(&mut self, filter: &ReadFilter, id: &str) -> Result<KnowledgeRow> {
        let mut sql = Sql::new(
            "SELECT k.id, k.file_id, r.name AS file_name, r.org_id, o.slug AS org_slug, k.position, k.text FROM knowledge k JOIN resources r ON r.id = k.file_id LEFT JOIN orgs o ON o.id = r.org_id WHERE r.kind = 'file'",
        );
        push_scope(
            &mut sql,
            filter,
            &OrgSelector::All,
            "r.tenant_id",
            "r.org_id",
            None,
        );
        sql.push(" AND k.id = ").arg(id);
        self.one(&sql).await
    }

    /// How many knowledge entries a file has (the impact of a re-scope):
    /// the count its extraction recorded with them, so a preview costs the
    /// same for 1,000 entries as for 1,000,000 (counting them took 50 ms).
    pub async fn knowledge_count(&mut self, file: &str) -> Result<i64> {
        let mut sql = Sql::new("SELECT entries FROM files WHERE id = ");
        sql.arg(file);
        let (n,): (i64,) = sql.query_as().fetch_one(self.conn()).await.ctx()?;
        Ok(n)
    }

    /// Full-text search over the entries `filter` allows, narrowed by
    /// `selector`, best first. `terms` are plain words (the caller has
    /// removed all query syntax); every term must match, or with `any`
    /// at least one.
    pub async fn knowledge_search(
        &mut self,
        filter: &ReadFilter,
        selector: &OrgSelector,
        terms: &[String],
        any: bool,
        limit: i64,
    ) -> Result<Vec<KnowledgeHit>> {
        let sql = self.search_sql(filter, selector, terms, any, limit);
        self.all(&sql).await
    }

    /// The plan the database chooses for a search (EXPLAIN).
    pub async fn knowledge_search_plan(
        &mut self,
        filter: &ReadFilter,
        selector: &OrgSelector,
        terms: &[String],
    ) -> Result<String> {
        let sql = self.search_sql(filter, selector, terms, false, 10);
        self.plan(&sql).await
    }

    fn search_sql(
        &self,
        filter: &ReadFilter,
        selector: &OrgSelector,
        terms: &[String],
        any: bool,
        limit: i64,
    ) -> Sql {
        let mut sql = match self.1 {
            Backend::Sqlite => {
                // Each term is a quoted FTS5 string: no operator can be formed.
                // CROSS JOIN fixes the join order (SQLite's hint): the full-text
                // match drives, and the scope filter checks its few hits,
                // rather than every entry of every visible file being matched.
                let query = terms
                    .iter()
                    .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
                    .collect::<Vec<_>>()
                    .join(if any { " OR " } else { " " });
                let mut sql = Sql::new(
                    "SELECT k.id, k.file_id, r.name AS file_name, r.org_id, o.slug AS org_slug, k.position, snippet(knowledge_fts, 0, char(1), char(2), '…', 24) AS snippet, k.text, -bm25(knowledge_fts) AS score FROM knowledge_fts CROSS JOIN knowledge k ON k.seq = knowledge_fts.rowid CROSS JOIN resources r ON r.id = k.file_id LEFT JOIN orgs o ON o.id = r.org_id WHERE knowledge_fts MATCH ",
                );
                sql.arg(query).push(" AND r.kind = 'file'");
                sql
            }
            Backend::Postgres => {
                let mut sql = Sql::new(
                    "SELECT k.id, k.file_id, r.name AS file_name, r.org_id, o.slug AS org_slug, k.position, ts_headline('simple', k.text, q, 'StartSel=' || chr(1) || ', StopSel=' || chr(2) || ', MaxWords=24, MinWords=8') AS snippet, k.text, CAST(ts_rank(k.tsv, q) AS DOUBLE PRECISION) AS score FROM knowledge k CROSS JOIN to_tsquery('simple', ",
                );
                // Terms are letters and digits only: joined, they form no other operator.
                sql.arg(terms.join(if any { " | " } else { " & " }))
                    .push(") AS q JOIN resources r ON r.id = k.file_id LEFT JOIN orgs o ON o.id = r.org_id WHERE k.tsv @@ q AND r.kind = 'file'");
                sql
            }
        };
        push_scope(&mut sql, filter, selector, "r.tenant_id", "r.org_id", None);
        sql.push(" ORDER BY score DESC, k.seq").limit(limit);
        sql
    }
}
