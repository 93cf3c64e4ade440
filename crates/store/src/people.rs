//! The enabled users a group of "who has access" names: superusers, a
//! tenant's users of one role, an org's role `user` members, or one user.
//! Counted and paged by id; the rule that admits them is core's.

use crate::sql::Sql;
use crate::{Ctx, Page, Result, Tx, page_clause};

/// A set of enabled users.
#[derive(Clone, Copy, Debug)]
pub enum UserSet<'a> {
    /// Every superuser (they have no tenant).
    Superusers,
    /// A tenant's users of one role.
    Role { tenant: &'a str, role: &'a str },
    /// The role `user` members of an org.
    Members { org: &'a str },
    /// One user, if enabled and of role `user`.
    One { user: &'a str },
}

fn from_where(set: &UserSet<'_>, select: &str) -> Sql {
    match set {
        UserSet::Superusers => Sql::new(&format!(
            "SELECT {select} FROM users u WHERE u.tenant_id IS NULL AND u.role = 'superuser' AND u.disabled = 0"
        )),
        UserSet::Role { tenant, role } => {
            let mut sql = Sql::new(&format!(
                "SELECT {select} FROM users u WHERE u.tenant_id = "
            ));
            sql.arg(*tenant)
                .push(" AND u.role = ")
                .arg(*role)
                .push(" AND u.disabled = 0");
            sql
        }
        UserSet::Members { org } => {
            let mut sql = Sql::new(&format!(
                "SELECT {select} FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = "
            ));
            sql.arg(*org)
                .push(" AND u.role = 'user' AND u.disabled = 0");
            sql
        }
        UserSet::One { user } => {
            let mut sql = Sql::new(&format!("SELECT {select} FROM users u WHERE u.id = "));
            sql.arg(*user)
                .push(" AND u.role = 'user' AND u.disabled = 0");
            sql
        }
    }
}

/// `u` is one of `set` (enabled already: the driving set filters that).
fn is_in(sql: &mut Sql, set: &UserSet<'_>) {
    match set {
        UserSet::Superusers => {
            sql.push("(u.tenant_id IS NULL AND u.role = 'superuser')");
        }
        UserSet::Role { tenant, role } => {
            sql.push("(u.tenant_id = ")
                .arg(*tenant)
                .push(" AND u.role = ")
                .arg(*role)
                .push(")");
        }
        UserSet::Members { org } => {
            sql.push("EXISTS (SELECT 1 FROM memberships x WHERE x.org_id = ")
                .arg(*org)
                .push(" AND x.user_id = u.id)");
        }
        UserSet::One { user } => {
            sql.push("u.id = ").arg(*user);
        }
    }
}

/// The `i`th disjoint piece of "in some of `from`, in none of `to`": in
/// `from[i]`, in no earlier one of `from` and in none of `to`. Each piece is
/// driven by its own set's index, so an org's piece reads that org's members,
/// not the tenant's users.
fn piece(from: &[UserSet<'_>], i: usize, to: &[UserSet<'_>], select: &str) -> Sql {
    let mut sql = from_where(&from[i], select);
    for other in from[..i].iter().chain(to) {
        sql.push(" AND NOT ");
        is_in(&mut sql, other);
    }
    sql
}

impl Tx {
    pub async fn user_set_count(&mut self, set: &UserSet<'_>) -> Result<i64> {
        let sql = from_where(set, "COUNT(*)");
        let (n,): (i64,) = sql.query_as().fetch_one(self.conn()).await.ctx()?;
        Ok(n)
    }

    /// A page of the set, by id: `(id, username)`.
    pub async fn user_set_page(
        &mut self,
        set: &UserSet<'_>,
        page: &Page,
    ) -> Result<Vec<(String, String)>> {
        let mut sql = from_where(set, "u.id, u.username");
        // An org's members in the membership key's order: no sort of them all.
        let order = match set {
            UserSet::Members { .. } => "m.user_id",
            _ => "u.id",
        };
        page_clause(&mut sql, order, page);
        self.all(&sql).await
    }

    /// How many users are in some set of `from` and in none of `to`: who a
    /// move takes sight from (or gives it to).
    pub async fn users_between_count(
        &mut self,
        from: &[UserSet<'_>],
        to: &[UserSet<'_>],
    ) -> Result<i64> {
        let mut n = 0;
        for i in 0..from.len() {
            let others: Vec<&UserSet<'_>> = from[..i].iter().chain(to).collect();
            let small =
                |o: &&UserSet<'_>| matches!(o, UserSet::Members { .. } | UserSet::One { .. });
            n += if matches!(from[i], UserSet::Role { .. })
                && !others.is_empty()
                && others.iter().all(small)
            {
                // A tenant's users less a few orgs' members: |R| - |R ∩ others|,
                // the second read from the memberships, not user by user.
                let (all,): (i64,) = self.one(&from_where(&from[i], "COUNT(*)")).await?;
                let mut sql = Sql::new("SELECT COUNT(*) FROM (");
                for (j, o) in others.iter().enumerate() {
                    if j > 0 {
                        sql.push(" UNION ");
                    }
                    match o {
                        UserSet::Members { org } => {
                            sql.push("SELECT user_id AS id FROM memberships WHERE org_id = ")
                                .arg(*org);
                        }
                        UserSet::One { user } => {
                            sql.push("SELECT id FROM users WHERE id = ").arg(*user);
                        }
                        _ => unreachable!("only small sets here"),
                    }
                }
                // Each of the few probes the users by key: no join order
                // for a planner to turn around.
                sql.push(") x WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = x.id AND u.disabled = 0 AND ");
                is_in(&mut sql, &from[i]);
                sql.push(")");
                let (inside,): (i64,) = self.one(&sql).await?;
                all - inside
            } else {
                let (c,): (i64,) = self.one(&piece(from, i, to, "COUNT(*)")).await?;
                c
            };
        }
        Ok(n)
    }

    /// A page of those users, by id: `(id, username)`.
    pub async fn users_between_page(
        &mut self,
        from: &[UserSet<'_>],
        to: &[UserSet<'_>],
        page: &Page,
    ) -> Result<Vec<(String, String)>> {
        let mut rows: Vec<(String, String)> = Vec::new();
        for (i, set) in from.iter().enumerate() {
            let mut sql = piece(from, i, to, "u.id, u.username");
            let order = match set {
                UserSet::Members { .. } => "m.user_id",
                _ => "u.id",
            };
            page_clause(&mut sql, order, page);
            rows.extend(self.all::<(String, String)>(&sql).await?);
        }
        // The pieces are disjoint; their merge is the page.
        rows.sort();
        rows.truncate(usize::try_from(page.limit).unwrap_or(0));
        Ok(rows)
    }

    /// Which of `users` are members of `org` (one query for a page of names).
    pub async fn members_among(&mut self, org: &str, users: &[String]) -> Result<Vec<String>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new("SELECT user_id FROM memberships WHERE org_id = ");
        sql.arg(org).push(" AND user_id IN (");
        for (i, u) in users.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.arg(u.as_str());
        }
        sql.push(")");
        let rows: Vec<(String,)> = self.all(&sql).await?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }
}
