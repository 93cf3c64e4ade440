//! The listing and search statements use the indexes meant for them, on both
//! databases: read from the plan the database chooses (EXPLAIN), not timed.
//! A member's "all my orgs" page is searched org by org on
//! `resources_scope`, an admin's walks `resources_kind` in id order, and a
//! search is driven by the full-text index or by the visible files, never by
//! a whole table.

use orgscope_core::ids::{OrgId, TenantId, UserId};
use orgscope_core::policy::{Actor, OrgSelector, Principal, Role, read_filter};
use orgscope_store::{NewResource, Page, new_id};
use sqlx::Connection;

use crate::harness::{Backend, TestServer, backends};

fn user(tenant: &str, id: &str, role: Role, orgs: &[&str]) -> Principal {
    Principal {
        tenant: TenantId::from(tenant),
        actor: Actor::User {
            id: UserId::from(id),
            role,
            member_of: orgs.iter().map(|o| OrgId::from(*o)).collect(),
            managing: Default::default(),
        },
    }
}

/// No step reads a whole table: SQLite's `SCAN <table>` without an index
/// (its `SCAN` of a subquery's rows is no table), PostgreSQL's `Seq Scan`.
fn scans_a_table(backend: Backend, plan: &str) -> bool {
    const TABLES: [&str; 8] = ["r", "k", "o", "m", "u", "resources", "knowledge", "orgs"];
    plan.lines().any(|l| match backend {
        Backend::Sqlite => {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.first() == Some(&"SCAN")
                && words.get(1).is_some_and(|t| TABLES.contains(t))
                && !l.contains("USING")
        }
        Backend::Postgres => l.contains("Seq Scan"),
    })
}

/// The indexes that lead with (tenant, kind, org): one org's rows.
const SCOPE: &[&str] = &["resources_scope", "resources_org_time"];
/// The indexes that lead with (tenant, kind): every org's rows; or the
/// primary key in id order, PostgreSQL's choice when most rows are of the
/// kind (the page stops at its limit either way).
const KIND: &[&str] = &["resources_kind", "resources_kind_time", "resources_pkey"];

#[tokio::test]
async fn listings_and_search_use_their_indexes() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let alpha = s.org("alpha").await;
        let bravo = s.org("bravo").await;
        let (alice, _) = s
            .fast_user("alice", "user", &[("alpha", false), ("bravo", false)])
            .await;
        let tenant = s.tenant_id().await;
        // Enough rows that PostgreSQL's planner, given statistics, weighs
        // the indexes as on a real tenant: 200 orgs of 10 hosts each.
        {
            let mut tx = s.store.write().await.unwrap();
            for o in 0..200 {
                let org = tx
                    .org_create(&tenant, &format!("org-{o}"), "org", None, None)
                    .await
                    .unwrap();
                for h in 0..10 {
                    tx.resource_insert(&NewResource {
                        id: new_id("hst"),
                        tenant_id: tenant.clone(),
                        kind: "host".into(),
                        org_id: Some(org.id.clone()),
                        name: format!("host-{o}-{h}"),
                        fields: "{}".into(),
                        secret: None,
                        created_by: None,
                    })
                    .await
                    .unwrap();
                }
            }
            // Rows of another kind that are tenant-wide: PostgreSQL knows
            // `org_id IS NULL` of the table, not of the kind, and once
            // walked every host in id order looking for a tenant-wide one.
            for p in 0..2000 {
                tx.resource_insert(&NewResource {
                    id: new_id("plug"),
                    tenant_id: tenant.clone(),
                    kind: "plugin".into(),
                    org_id: None,
                    name: format!("plugin-{p}"),
                    fields: "{}".into(),
                    secret: None,
                    created_by: None,
                })
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
        }
        if backend == Backend::Postgres {
            let mut conn = sqlx::AnyConnection::connect(&s.database_url).await.unwrap();
            sqlx::raw_sql("ANALYZE").execute(&mut conn).await.unwrap();
        }
        let member = read_filter(&user(&tenant, &alice, Role::User, &[&alpha, &bravo]));
        let admin = read_filter(&user(&tenant, "usr_admin", Role::Admin, &[]));
        let page = Page {
            limit: 51,
            after: Some("hst_0".into()),
        };
        let mut tx = s.store.read().await.unwrap();
        for (what, filter, selector, index) in [
            ("member, all my orgs", &member, OrgSelector::All, SCOPE),
            (
                "member, one org",
                &member,
                OrgSelector::Org(alpha.clone()),
                SCOPE,
            ),
            (
                "member, tenant-wide",
                &member,
                OrgSelector::TenantWide,
                SCOPE,
            ),
            ("admin, all", &admin, OrgSelector::All, KIND),
            (
                "admin, one org",
                &admin,
                OrgSelector::Org(bravo.clone()),
                SCOPE,
            ),
        ] {
            let plan = tx
                .resources_plan("host", filter, &selector, &page)
                .await
                .unwrap();
            // One org's rows, or tenant-wide, are never sought by walking
            // the whole kind.
            let walks_the_kind = index == SCOPE && KIND[..2].iter().any(|i| plan.contains(i));
            assert!(
                index.iter().any(|i| plan.contains(i))
                    && !walks_the_kind
                    && !scans_a_table(backend, &plan),
                "{backend:?}: a listing ({what}) should use one of {index:?}:\n{plan}"
            );
        }
        let plan = tx
            .knowledge_search_plan(&member, &OrgSelector::All, &["hello".into()])
            .await
            .unwrap();
        // SQLite: the full-text match drives, files reached by key (FTS5
        // cannot be asked by file). PostgreSQL picks by its statistics: the
        // GIN index, or the visible files first and their entries by
        // `knowledge_file` (scope before ranking) when they are few.
        let ways: &[&str] = match backend {
            Backend::Sqlite => &["knowledge_fts VIRTUAL TABLE"],
            Backend::Postgres => &["knowledge_tsv", "knowledge_file"],
        };
        assert!(
            ways.iter().any(|w| plan.contains(w)) && !scans_a_table(backend, &plan),
            "{backend:?}: a search should be driven by one of {ways:?}:\n{plan}"
        );
    }
}
