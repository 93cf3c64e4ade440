//! What the gateway check and the portal read. Both run before (or without)
//! a principal: the check is authorised by the consumer key it is given, the
//! portal by the Host it is asked for, and each says so in its names.

use orgscope_core::policy::{OrgSelector, ReadFilter};
use sqlx::FromRow;

use crate::sql::{Sql, push_scope};
use crate::{Ctx, Result, Tx};

/// An API gateway, found by its secret (the secret is its authority).
#[derive(Clone, Debug, FromRow)]
pub struct ApiGatewayRow {
    pub id: String,
    pub tenant_id: String,
    pub org_id: Option<String>,
    pub fields: String,
}

/// An API gateway and a consumer key of its tenant, each found by its
/// secret.
#[derive(Clone, Debug, FromRow)]
pub struct GatewayKeyHit {
    pub gateway_id: String,
    pub gateway_org: Option<String>,
    pub gateway_fields: String,
    pub tenant_id: String,
    pub key_id: String,
    pub key_org: Option<String>,
    pub key_fields: String,
}

/// An API definition whose listen path serves a path.
#[derive(Clone, Debug, FromRow)]
pub struct RouteHit {
    pub api_id: String,
    pub api_org: Option<String>,
    pub api_org_slug: Option<String>,
    pub api_fields: String,
    pub listen_path: String,
}

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
    /// Whether the key's tenant still takes the check that names no gateway.
    pub shared_check: i64,
}

/// ` (…)`: the route `g`'s listen path serves `path` on whole segments
/// (core's `gateway::serves`).
fn push_serves(sql: &mut Sql, path: &str) {
    sql.push("(rtrim(g.listen_path, '/') = ")
        .arg(path)
        .push(" OR substr(CAST(")
        .arg(path)
        .push(" AS TEXT), 1, length(rtrim(g.listen_path, '/')) + 1) = rtrim(g.listen_path, '/') || '/')");
}

impl crate::Store {
    /// The gateway check's one query: the consumer key with this token hash
    /// and the API definition of its tenant whose listen path serves `path`
    /// on whole segments (core's `gateway::serves`), the longest first.
    /// Outside a transaction: it is a single statement, and the check runs
    /// at the gateway's rate.
    pub async fn gateway_lookup(&self, hash: &str, path: &str) -> Result<Option<GatewayHit>> {
        let mut sql = Sql::new(
            "SELECT k.id AS key_id, k.org_id AS key_org, k.fields AS key_fields, a.id AS api_id, a.org_id AS api_org, o.slug AS api_org_slug, a.fields AS api_fields, t.shared_gateway_check AS shared_check FROM resources k JOIN tenants t ON t.id = k.tenant_id LEFT JOIN gateway_routes g ON g.tenant_id = k.tenant_id AND ",
        );
        push_serves(&mut sql, path);
        sql.push(" LEFT JOIN resources a ON a.id = g.api_id LEFT JOIN orgs o ON o.id = a.org_id WHERE k.kind = 'consumer_key' AND k.secret = ")
            .arg(hash)
            .push(" ORDER BY length(rtrim(g.listen_path, '/')) DESC LIMIT 1");
        let rows: Vec<GatewayHit> = sql.query_as().fetch_all(self.pool()).await.ctx()?;
        Ok(rows.into_iter().next())
    }
}

impl crate::Store {
    /// The API gateway whose secret hashes to `hash`.
    pub async fn api_gateway_by_secret(&self, hash: &str) -> Result<Option<ApiGatewayRow>> {
        let mut sql = Sql::new(
            "SELECT id, tenant_id, org_id, fields FROM resources WHERE kind = 'api_gateway' AND secret = ",
        );
        sql.arg(hash);
        let rows: Vec<ApiGatewayRow> = sql.query_as().fetch_all(self.pool()).await.ctx()?;
        Ok(rows.into_iter().next())
    }

    /// The API gateway whose secret hashes to `gateway` with the consumer
    /// key of the same tenant whose secret hashes to `key`, in one
    /// statement: none when either is unknown or they are of two tenants.
    pub async fn gateway_and_key(&self, gateway: &str, key: &str) -> Result<Option<GatewayKeyHit>> {
        let mut sql = Sql::new(
            "SELECT g.id AS gateway_id, g.org_id AS gateway_org, g.fields AS gateway_fields, g.tenant_id, k.id AS key_id, k.org_id AS key_org, k.fields AS key_fields FROM resources g JOIN resources k ON k.tenant_id = g.tenant_id AND k.kind = 'consumer_key' AND k.secret = ",
        );
        sql.arg(key)
            .push(" WHERE g.kind = 'api_gateway' AND g.secret = ")
            .arg(gateway);
        let rows: Vec<GatewayKeyHit> = sql.query_as().fetch_all(self.pool()).await.ctx()?;
        Ok(rows.into_iter().next())
    }

    /// The API definitions `filter` admits whose listen path serves `path`
    /// on whole segments, the longest first: what a gateway may route it to.
    pub async fn routes_serving(&self, filter: &ReadFilter, path: &str) -> Result<Vec<RouteHit>> {
        let mut sql = Sql::new(
            "SELECT a.id AS api_id, a.org_id AS api_org, o.slug AS api_org_slug, a.fields AS api_fields, g.listen_path FROM gateway_routes g JOIN resources a ON a.id = g.api_id LEFT JOIN orgs o ON o.id = a.org_id WHERE ",
        );
        push_serves(&mut sql, path);
        push_scope(
            &mut sql,
            filter,
            &OrgSelector::All,
            "a.tenant_id",
            "a.org_id",
            None,
        );
        sql.push(" ORDER BY length(rtrim(g.listen_path, '/')) DESC, a.id");
        sql.query_as().fetch_all(self.pool()).await.ctx()
    }
}

impl Tx {
    /// Whether the tenant's consumer keys pass the check that names no
    /// API gateway.
    pub async fn tenant_shared_check(&mut self, tenant: &str) -> Result<bool> {
        let mut sql = Sql::new("SELECT shared_gateway_check FROM tenants WHERE id = ");
        sql.arg(tenant);
        let (on,): (i64,) = self.one(&sql).await?;
        Ok(on != 0)
    }

    pub async fn tenant_set_shared_check(&mut self, tenant: &str, on: bool) -> Result<()> {
        let mut sql = Sql::new("UPDATE tenants SET shared_gateway_check = ");
        sql.arg(i64::from(on)).push(" WHERE id = ").arg(tenant);
        self.exec(&sql).await.map(|_| ())
    }

    /// What an API gateway last reported: (when, version).
    pub async fn api_gateway_seen(
        &mut self,
        gateway: &str,
    ) -> Result<Option<(String, Option<String>)>> {
        let mut sql =
            Sql::new("SELECT last_seen_at, version FROM api_gateway_seen WHERE gateway_id = ");
        sql.arg(gateway);
        let rows: Vec<(String, Option<String>)> =
            sql.query_as().fetch_all(self.conn()).await.ctx()?;
        Ok(rows.into_iter().next())
    }

    /// Records API gateways' reports: (id, when, version).
    pub async fn api_gateways_seen(
        &mut self,
        seen: &[(String, String, Option<String>)],
    ) -> Result<()> {
        for (id, at, version) in seen {
            let mut sql = Sql::new("DELETE FROM api_gateway_seen WHERE gateway_id = ");
            sql.arg(id.as_str());
            self.exec(&sql).await?;
            // The gateway may be gone since it asked.
            let mut sql = Sql::new(
                "INSERT INTO api_gateway_seen (gateway_id, last_seen_at, version) SELECT id, ",
            );
            sql.arg(at.as_str())
                .push(", ")
                .arg(version.clone())
                .push(" FROM resources WHERE id = ")
                .arg(id.as_str());
            self.exec(&sql).await?;
        }
        Ok(())
    }

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
