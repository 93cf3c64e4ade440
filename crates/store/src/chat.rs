//! Persona assignments and chat messages. Both hang off resources (a persona,
//! a session) that the caller has already read through the read filter.

use sqlx::FromRow;

use crate::sql::Sql;
use crate::{Ctx, Page, Result, Tx, now};

#[derive(Clone, Debug, FromRow)]
pub struct MessageRow {
    /// The public id (`msg_…`).
    pub id: String,
    pub session_id: String,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// For answers: `model` or `retrieval_only`.
    pub mode: Option<String>,
    /// JSON list of the passages the answer used.
    pub citations: String,
    pub author: Option<String>,
    pub created_at: String,
}

impl Tx {
    /// (user id, username) of a persona's assignments.
    pub async fn assignments(&mut self, persona: &str) -> Result<Vec<(String, String)>> {
        let mut sql = Sql::new(
            "SELECT a.user_id, u.username FROM persona_assignments a JOIN users u ON u.id = a.user_id WHERE a.persona_id = ",
        );
        sql.arg(persona).push(" ORDER BY u.username");
        sql.query_as().fetch_all(self.conn()).await.ctx()
    }

    /// Replaces a persona's assignments.
    pub async fn assignments_set(&mut self, persona: &str, users: &[String]) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM persona_assignments WHERE persona_id = ");
        sql.arg(persona);
        self.exec(&sql).await?;
        for user in users {
            let mut sql =
                Sql::new("INSERT INTO persona_assignments (persona_id, user_id) VALUES (");
            sql.arg(persona).push(", ").arg(user).push(")");
            self.exec(&sql).await?;
        }
        Ok(())
    }

    /// Removes the assignments of users who are not members of `org`;
    /// returns their usernames.
    pub async fn assignments_prune(&mut self, persona: &str, org: &str) -> Result<Vec<String>> {
        let pruned: Vec<(String, String)> = self.assignments(persona).await?.into_iter().collect();
        let mut out = Vec::new();
        for (user, name) in pruned {
            if self.member(org, &user).await.is_err() {
                let mut sql = Sql::new("DELETE FROM persona_assignments WHERE persona_id = ");
                sql.arg(persona).push(" AND user_id = ").arg(&user);
                self.exec(&sql).await?;
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Removes a user's assignments to the personas of an org (they left it);
    /// returns the persona ids.
    pub async fn assignments_prune_member(&mut self, org: &str, user: &str) -> Result<Vec<String>> {
        let mut sql = Sql::new(
            "SELECT a.persona_id FROM persona_assignments a JOIN resources r ON r.id = a.persona_id WHERE r.org_id = ",
        );
        sql.arg(org)
            .push(" AND a.user_id = ")
            .arg(user)
            .push(" ORDER BY a.persona_id");
        let rows: Vec<(String,)> = sql.query_as().fetch_all(self.conn()).await.ctx()?;
        for (persona,) in &rows {
            let mut sql = Sql::new("DELETE FROM persona_assignments WHERE persona_id = ");
            sql.arg(persona).push(" AND user_id = ").arg(user);
            self.exec(&sql).await?;
        }
        Ok(rows.into_iter().map(|(p,)| p).collect())
    }

    pub async fn message_insert(
        &mut self,
        session: &str,
        role: &str,
        content: &str,
        mode: Option<&str>,
        citations: &str,
        author: Option<&str>,
    ) -> Result<MessageRow> {
        let mut sql = Sql::new(
            "INSERT INTO messages (id, session_id, role, content, mode, citations, author, created_at) VALUES (",
        );
        sql.arg(crate::new_id("msg"))
            .push(", ")
            .arg(session)
            .push(", ")
            .arg(role)
            .push(", ")
            .arg(content)
            .push(", ")
            .arg(mode)
            .push(", ")
            .arg(citations)
            .push(", ")
            .arg(author)
            .push(", ")
            .arg(now())
            .push(") RETURNING id, session_id, role, content, mode, citations, author, created_at");
        self.one(&sql).await
    }

    /// A session's messages, oldest first (the session was read through the filter).
    pub async fn messages(&mut self, session: &str, page: &Page) -> Result<Vec<MessageRow>> {
        let mut sql = Sql::new(
            "SELECT id, session_id, role, content, mode, citations, author, created_at FROM messages WHERE session_id = ",
        );
        sql.arg(session);
        if let Some(after) = &page.after {
            sql.push(" AND seq > (SELECT seq FROM messages WHERE id = ")
                .arg(after.as_str())
                .push(")");
        }
        sql.push(" ORDER BY seq").limit(page.limit);
        self.all(&sql).await
    }
}
