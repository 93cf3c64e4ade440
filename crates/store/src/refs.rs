//! References between resources, for the checks that keep them inside one
//! org (or pointing at tenant-wide resources). The rows name ids only: the
//! server reads the resources themselves through the read filter.

use sqlx::FromRow;

use crate::sql::Sql;
use crate::{Result, Tx};

/// One reference, with the scope of the resource at its other end.
#[derive(Clone, Debug, FromRow)]
pub struct RefRow {
    pub field: String,
    /// The resource at the other end.
    pub id: String,
    pub kind: String,
    pub org_id: Option<String>,
    pub org_slug: Option<String>,
}

impl Tx {
    /// Replaces what `from` refers to.
    pub async fn refs_set(&mut self, from: &str, refs: &[(String, String)]) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM resource_refs WHERE from_id = ");
        sql.arg(from);
        self.exec(&sql).await?;
        for (field, to) in refs {
            let mut sql = Sql::new("INSERT INTO resource_refs (from_id, field, to_id) VALUES (");
            sql.arg(from)
                .push(", ")
                .arg(field.as_str())
                .push(", ")
                .arg(to.as_str())
                .push(") ON CONFLICT DO NOTHING");
            self.exec(&sql).await?;
        }
        Ok(())
    }

    /// What `from` refers to.
    pub async fn refs_from(&mut self, from: &str) -> Result<Vec<RefRow>> {
        let mut sql = Sql::new(
            "SELECT x.field, r.id, r.kind, r.org_id, o.slug AS org_slug FROM resource_refs x JOIN resources r ON r.id = x.to_id LEFT JOIN orgs o ON o.id = r.org_id WHERE x.from_id = ",
        );
        sql.arg(from).push(" ORDER BY x.field, r.id");
        self.all(&sql).await
    }

    /// What refers to `to`.
    pub async fn refs_to(&mut self, to: &str) -> Result<Vec<RefRow>> {
        let mut sql = Sql::new(
            "SELECT x.field, r.id, r.kind, r.org_id, o.slug AS org_slug FROM resource_refs x JOIN resources r ON r.id = x.from_id LEFT JOIN orgs o ON o.id = r.org_id WHERE x.to_id = ",
        );
        sql.arg(to).push(" ORDER BY r.id, x.field");
        self.all(&sql).await
    }
}
