//! What the gateway check and the portal read. Both run before (or without)
//! a principal: the check is authorised by the consumer key it is given, the
//! portal by the Host it is asked for, and each says so in its names.

use sqlx::FromRow;

use crate::sql::Sql;
use crate::{Ctx, Result, Tx};

/// A consumer key and the API definition its request's path leads to.
#[derive(Clone, Debug, FromRow)]
pub struct GatewayHit {
    pub key_id: String,
    pub key_org: Option<String>,
    pub key_fields: String,
    pub api_id: Option<String>,
    pub api_org: Option<String>,
    pub api_org_slug: Option<String>,
    pub api_fields: Option<String>,
}

impl crate::Store {
    /// The gateway check's one query: the consumer key with this token hash
    /// and the API definition of its tenant whose listen path serves `path`
    /// on whole segments (core's `gateway::serves`), the longest first.
    /// Outside a transaction: it is a single statement, and the check runs
    /// at the gateway's rate.
    pub async fn gateway_lookup(&self, hash: &str, path: &str) -> Result<Option<GatewayHit>> {
        let mut sql = Sql::new(
            "SELECT k.id AS key_id, k.org_id AS key_org, k.fields AS key_fields, a.id AS api_id, a.org_id AS api_org, o.slug AS api_org_slug, a.fields AS api_fields FROM resources k LEFT JOIN gateway_routes g ON g.tenant_id = k.tenant_id AND (rtrim(g.listen_path, '/') = ",
        );
        sql.arg(path)
            .push(" OR substr(CAST(")
            .arg(path)
            .push(" AS TEXT), 1, length(rtrim(g.listen_path, '/')) + 1) = rtrim(g.listen_path, '/') || '/') LEFT JOIN resources a ON a.id = g.api_id LEFT JOIN orgs o ON o.id = a.org_id WHERE k.kind = 'consumer_key' AND k.secret = ")
            .arg(hash)
            .push(" ORDER BY length(rtrim(g.listen_path, '/')) DESC LIMIT 1");
        let rows: Vec<GatewayHit> = sql.query_as().fetch_all(self.pool()).await.ctx()?;
        Ok(rows.into_iter().next())
    }
}

impl Tx {
    /// The API definitions of a tenant (other than `except`) whose listen
    /// paths overlap `path` on whole segments: (id, org, listen path). It reads
    /// across orgs on purpose: a listen path must not capture another
    /// org's traffic. Callers name only those the principal can see.
    pub async fn routes_overlapping_for_check(
        &mut self,
        tenant: &str,
        path: &str,
        except: Option<&str>,
    ) -> Result<Vec<(String, Option<String>, String)>> {
        let base = path.trim_end_matches('/');
        let mut sql = Sql::new(
            "SELECT g.api_id, r.org_id, g.listen_path FROM gateway_routes g JOIN resources r ON r.id = g.api_id WHERE g.tenant_id = ",
        );
        sql.arg(tenant)
            .push(" AND g.api_id <> ")
            .arg(except.unwrap_or(""))
            // Either serves the other: equal bases, or one base and a `/`
            // begin the other (the root's base is empty: it serves all).
            .push(" AND (rtrim(g.listen_path, '/') = ")
            .arg(base)
            .push(" OR substr(CAST(")
            .arg(base)
            .push(" AS TEXT), 1, length(rtrim(g.listen_path, '/')) + 1) = rtrim(g.listen_path, '/') || '/' OR substr(rtrim(g.listen_path, '/'), 1, CAST(")
            .arg(base.chars().count() as i64 + 1)
            .push(" AS INTEGER)) = ")
            .arg(format!("{base}/"))
            .push(") ORDER BY g.api_id");
        sql.query_as().fetch_all(self.conn()).await.ctx()
    }

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

    /// The org whose portal domain this is (the portal is public).
    pub async fn org_by_domain_for_portal(&mut self, domain: &str) -> Result<crate::OrgRow> {
        // orgs.domain holds proved claims only.
        let mut sql = Sql::new(&format!(
            "SELECT {} FROM orgs o WHERE o.domain = ",
            crate::ORG_COLUMNS
        ));
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
        let rows: Vec<(String,)> = sql.query_as().fetch_all(self.conn()).await.ctx()?;
        Ok(rows.into_iter().next().map(|(t,)| t))
    }
}
