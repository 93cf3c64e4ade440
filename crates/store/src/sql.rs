//! A small SQL text builder with `$n` placeholders (which both SQLite and
//! PostgreSQL accept), and [`push_scope`]: the one place a read filter becomes SQL.

use orgscope_core::policy::{OrgSelector, ReadFilter, Rule};
use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryAs};

#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bytes(Vec<u8>),
}

impl From<&[u8]> for Arg {
    fn from(b: &[u8]) -> Arg {
        Arg::Bytes(b.to_vec())
    }
}
impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Text(Some(s.to_owned()))
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Text(Some(s))
    }
}
impl From<&String> for Arg {
    fn from(s: &String) -> Arg {
        Arg::Text(Some(s.clone()))
    }
}
// The ids of core's rules bind as their text.
macro_rules! id_arg {
    ($($t:ty),*) => {$(
        impl From<&$t> for Arg {
            fn from(id: &$t) -> Arg {
                Arg::Text(Some(id.as_str().to_owned()))
            }
        }
    )*};
}
id_arg!(
    orgscope_core::ids::TenantId,
    orgscope_core::ids::OrgId,
    orgscope_core::ids::UserId
);

impl From<Option<String>> for Arg {
    fn from(s: Option<String>) -> Arg {
        Arg::Text(s)
    }
}
impl From<Option<&str>> for Arg {
    fn from(s: Option<&str>) -> Arg {
        Arg::Text(s.map(str::to_owned))
    }
}
impl From<i64> for Arg {
    fn from(i: i64) -> Arg {
        Arg::Int(Some(i))
    }
}
impl From<Option<i64>> for Arg {
    fn from(i: Option<i64>) -> Arg {
        Arg::Int(i)
    }
}
impl From<bool> for Arg {
    fn from(b: bool) -> Arg {
        Arg::Int(Some(i64::from(b)))
    }
}

/// The columns partial indexes are restricted on (`WHERE kind =
/// 'api_key'`, `WHERE status = 'running'`). When SQLite plans a statement
/// that compares one with a parameter, it checks the parameter's value
/// against the index's condition, and so plans the statement again at
/// every execution: a fifth of the server's CPU under load (issue 22).
/// Compare them with literals ([`Sql::eq_word`]); a test holds this list
/// to the schema's partial indexes.
#[cfg_attr(not(debug_assertions), allow(dead_code))]
pub(crate) const PARTIAL_INDEX_COLUMNS: [&str; 2] = ["kind", "status"];

/// A kind or a status as the schema spells them: lower-case letters and
/// `_`, so safe to write into a statement as a literal.
pub fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

#[derive(Default, Debug)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `arg`.
    pub(crate) fn arg(&mut self, arg: impl Into<Arg>) -> &mut Sql {
        self.args.push(arg.into());
        self.text.push('$');
        self.text.push_str(&self.args.len().to_string());
        self
    }

    /// Appends `col = 'word'`: a kind or a status from code, compared as a
    /// literal, never a parameter ([`PARTIAL_INDEX_COLUMNS`]). Anything but
    /// lower-case letters and `_` is bound instead (and fails the debug
    /// check: callers pass words).
    pub(crate) fn eq_word(&mut self, col: &str, word: &str) -> &mut Sql {
        self.push(col).push(" = ");
        if is_word(word) {
            self.push("'").push(word).push("'")
        } else {
            self.arg(word)
        }
    }

    /// Appends ` LIMIT n` as a literal: SQLite's planner reads a bound
    /// `LIMIT` and so plans the statement again at every execution (a
    /// fifth of the server's CPU under load, issue 22).
    pub(crate) fn limit(&mut self, n: i64) -> &mut Sql {
        self.push(&format!(" LIMIT {n}"))
    }

    /// Appends `$n, $n+1, …`, one placeholder an item (for `IN (…)`).
    pub(crate) fn args<'a>(&mut self, items: impl IntoIterator<Item = &'a str>) -> &mut Sql {
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.arg(item);
        }
        self
    }

    /// `INSERT INTO table (columns) VALUES ($1, …)` with one value a column.
    pub(crate) fn insert(table: &str, columns: &[&str], values: Vec<Arg>) -> Sql {
        debug_assert_eq!(columns.len(), values.len(), "one value a column");
        let mut sql = Sql::new(&format!(
            "INSERT INTO {table} ({}) VALUES (",
            columns.join(", ")
        ));
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.arg(value);
        }
        sql.push(")");
        sql
    }

    /// The same statement behind `prefix` (`EXPLAIN `).
    pub(crate) fn prefixed(&self, prefix: &str) -> Sql {
        Sql {
            text: format!("{prefix}{}", self.text),
            args: self.args.clone(),
        }
    }

    /// In debug builds (the tests), a statement that binds its `LIMIT` or
    /// compares a partial index's column with a parameter panics, naming
    /// it: SQLite would plan it again at every execution.
    fn checked_text(&self) -> String {
        #[cfg(debug_assertions)]
        assert!(
            !self.text.contains("LIMIT $"),
            "a bound LIMIT (use Sql::limit): {}",
            self.text
        );
        #[cfg(debug_assertions)]
        for col in PARTIAL_INDEX_COLUMNS {
            for before in [".", "WHERE ", "AND "] {
                assert!(
                    !self.text.contains(&format!("{before}{col} = $")),
                    "{col} compared with a parameter (use Sql::eq_word): {}",
                    self.text
                );
            }
        }
        self.text.clone()
    }

    pub(crate) fn query(&self) -> Query<'static, Any, AnyArguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.checked_text()));
        for a in &self.args {
            q = match a.clone() {
                Arg::Text(s) => q.bind(s),
                Arg::Int(i) => q.bind(i),
                Arg::Bytes(b) => q.bind(b),
            };
        }
        q
    }

    pub(crate) fn query_as<T>(&self) -> QueryAs<'static, Any, T, AnyArguments>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(self.checked_text()));
        for a in &self.args {
            q = match a.clone() {
                Arg::Text(s) => q.bind(s),
                Arg::Int(i) => q.bind(i),
                Arg::Bytes(b) => q.bind(b),
            };
        }
        q
    }
}

/// Appends ` AND …` conditions that restrict the rows (whose tenant and org are
/// in `tenant_col` and `org_col`) to what `filter` allows and `selector` asks.
///
/// This is the only function that turns a read filter into SQL. Membership is
/// read by a subquery in the same statement as the data, so a membership removal
/// or a re-scope is in force for the very next query.
///
/// `also_org_col` is a second org a row belongs to (the org an audited move
/// came from): org managers see rows of either.
pub(crate) fn push_scope(
    sql: &mut Sql,
    filter: &ReadFilter,
    selector: &OrgSelector,
    tenant_col: &str,
    org_col: &str,
    also_org_col: Option<&str>,
) {
    sql.push(&format!(" AND {tenant_col} = "))
        .arg(filter.tenant());
    match filter.rule() {
        Rule::Tenant { .. } => {}
        Rule::Member { user, .. } => {
            // A correlated probe, not `IN (SELECT …)`: SQLite builds an IN
            // list only once a row is found, so a hidden id's 404 took
            // measurably longer than an unused one's (examples/hidden_timing.rs).
            sql.push(&format!(
                " AND ({org_col} IS NULL OR EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = {org_col} AND m.user_id = "
            ))
            .arg(user)
            .push("))");
        }
        Rule::OrgKey { org, .. } => {
            sql.push(&format!(" AND ({org_col} IS NULL OR {org_col} = "))
                .arg(org)
                .push(")");
        }
        Rule::Manager { user, .. } => {
            let managed =
                "SELECT m.org_id FROM memberships m WHERE m.can_manage = 1 AND m.user_id = ";
            sql.push(&format!(" AND ({org_col} IN ({managed}"))
                .arg(user)
                .push(")");
            if let Some(also) = also_org_col {
                sql.push(&format!(" OR {also} IN ({managed}"))
                    .arg(user)
                    .push(")");
            }
            sql.push(")");
        }
    }
    match selector {
        OrgSelector::All => {}
        OrgSelector::TenantWide => {
            sql.push(&format!(" AND {org_col} IS NULL"));
        }
        OrgSelector::Org(org) => {
            sql.push(&format!(" AND {org_col} = ")).arg(org);
        }
        OrgSelector::Context(org) => {
            sql.push(&format!(" AND ({org_col} IS NULL OR {org_col} = "))
                .arg(org)
                .push(")");
        }
    }
}

/// At most this many orgs drive a member's "all my orgs" page (see
/// [`driving_selectors`]); a member of more walks the kind instead.
pub(crate) const MAX_DRIVING_ORGS: usize = 64;

/// The selectors that cover `selector` for `filter` one org at a time, when
/// that is the cheaper shape: a member's "all my orgs" page read as one
/// branch per org they belong to (`orgs`) and one tenant-wide, each through
/// [`push_scope`] with the whole filter, merged by the caller. Each branch
/// walks the `(tenant, kind, org, …)` index for at most a page, so the cost
/// follows the member's orgs, not the tenant's rows. `None`: one statement
/// over the kind is as good (anyone else, one org asked, too many orgs).
pub(crate) fn driving_selectors(
    filter: &ReadFilter,
    selector: &OrgSelector,
    orgs: &[String],
) -> Option<Vec<OrgSelector>> {
    let member = matches!(filter.rule(), Rule::Member { .. });
    if !member || *selector != OrgSelector::All || orgs.len() > MAX_DRIVING_ORGS {
        return None;
    }
    let mut out: Vec<OrgSelector> = orgs.iter().cloned().map(OrgSelector::Org).collect();
    out.push(OrgSelector::TenantWide);
    Some(out)
}

/// `SELECT * FROM (branch) AS b0 UNION ALL SELECT * FROM (branch) AS b1 …`,
/// one branch a selector (each with its own ORDER BY and LIMIT).
pub(crate) fn union_all(
    sql: &mut Sql,
    selectors: &[OrgSelector],
    mut branch: impl FnMut(&mut Sql, &OrgSelector),
) {
    for (i, s) in selectors.iter().enumerate() {
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push("SELECT * FROM (");
        branch(sql, s);
        sql.push(&format!(") AS b{i}"));
    }
}
