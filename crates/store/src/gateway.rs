//! What the gateway check and the portal read. Both run before (or without)
//! a principal: the check is authorised by the consumer key it is given, the
//! portal by the Host it is asked for, and each says so in its names.

use sqlx::FromRow;

use crate::sql::Sql;
use crate::{Ctx, Result, Tx};

#[derive(Clone, Debug, FromRow)]
pub struct Route {
    pub api_id: String,
    pub listen_path: String,
}

impl Tx {
    /// Sets (or clears, with `None`) where an API definition listens.
    pub async fn route_set(
        &mut self,
        api: &str,
        tenant: &str,
        listen_path: Option<&str>,
    ) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM gateway_routes WHERE api_id = ");
        sql.arg(api);
        self.exec(&sql).await?;
        if let Some(path) = listen_path {
            let mut sql =
                Sql::new("INSERT INTO gateway_routes (api_id, tenant_id, listen_path) VALUES (");
            sql.arg(api)
                .push(", ")
                .arg(tenant)
                .push(", ")
                .arg(path)
                .push(")");
            self.exec(&sql).await?;
        }
        Ok(())
    }

    /// The API definition whose listen path is the longest prefix of `path`,
    /// in the tenant of the consumer key that asks (gateway check only).
    pub async fn route_for_gateway(&mut self, tenant: &str, path: &str) -> Result<Option<Route>> {
        let mut sql = Sql::new("SELECT api_id, listen_path FROM gateway_routes WHERE tenant_id = ");
        sql.arg(tenant).push(" AND substr(").arg(path).push(
            ", 1, length(listen_path)) = listen_path ORDER BY length(listen_path) DESC LIMIT 1",
        );
        Ok(self.all::<Route>(&sql).await?.into_iter().next())
    }

    /// The consumer key with this token hash (gateway check: the key is the
    /// only credential there is).
    pub async fn consumer_key_for_gateway(&mut self, hash: &str) -> Result<crate::ResourceRow> {
        let mut sql = Sql::new(&format!(
            "SELECT {} FROM resources r LEFT JOIN orgs o ON o.id = r.org_id WHERE r.kind = 'consumer_key' AND r.secret = ",
            crate::RESOURCE_COLUMNS
        ));
        sql.arg(hash);
        self.one(&sql).await
    }

    /// An API definition by id for the gateway check (the key has been
    /// verified; the check then compares orgs itself).
    pub async fn api_for_gateway(&mut self, id: &str) -> Result<crate::ResourceRow> {
        let mut sql = Sql::new(&format!(
            "SELECT {} FROM resources r LEFT JOIN orgs o ON o.id = r.org_id WHERE r.kind = 'api_definition' AND r.id = ",
            crate::RESOURCE_COLUMNS
        ));
        sql.arg(id);
        self.one(&sql).await
    }

    /// The org whose portal domain this is (the portal is public).
    pub async fn org_by_domain_for_portal(&mut self, domain: &str) -> Result<crate::OrgRow> {
        let mut sql = Sql::new(
            "SELECT o.id, o.tenant_id, o.slug, o.name, o.parent_id, o.domain, o.created_at, o.updated_at FROM orgs o WHERE o.domain = ",
        );
        sql.arg(domain);
        self.one(&sql).await
    }

    /// Records when keys were last used.
    pub async fn keys_used(&mut self, uses: &[(String, String)]) -> Result<()> {
        for (key, at) in uses {
            let mut sql = Sql::new("INSERT INTO key_usage (key_id, last_used_at) SELECT id, ");
            sql.arg(at.as_str())
                .push(" FROM resources WHERE id = ")
                .arg(key.as_str())
                .push(" ON CONFLICT (key_id) DO UPDATE SET last_used_at = excluded.last_used_at");
            self.exec(&sql).await?;
        }
        Ok(())
    }

    pub async fn key_last_used(&mut self, key: &str) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT last_used_at FROM key_usage WHERE key_id = ");
        sql.arg(key);
        let rows: Vec<(String,)> = sql.query_as().fetch_all(&mut *self.0).await.ctx()?;
        Ok(rows.into_iter().next().map(|(t,)| t))
    }
}
