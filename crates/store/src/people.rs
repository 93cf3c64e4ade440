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
        page_clause(&mut sql, "u.id", page);
        self.all(&sql).await
    }
}
