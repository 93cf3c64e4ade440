//! One story through the store on SQLite, and on PostgreSQL when
//! `ORGSCOPE_TEST_DATABASE_URL` is set: the read filter applied to every kind
//! of read, uniqueness and references.

use std::collections::BTreeSet;

use orgscope_core::policy::{self, Access, Actor, OrgSelector, Principal, ReadFilter, Role};

/// Filters are made by core from principals only: these are the ones the
/// story asks with.
fn admin_filter(tenant: &str) -> ReadFilter {
    user_filter(tenant, "an-admin", Role::Admin)
}

fn user_filter(tenant: &str, user: &str, role: Role) -> ReadFilter {
    policy::read_filter(&Principal {
        tenant: tenant.into(),
        actor: Actor::User {
            id: user.into(),
            role,
            member_of: BTreeSet::new(),
            managing: BTreeSet::new(),
        },
    })
}

fn key_filter(tenant: &str, org: &str) -> ReadFilter {
    policy::read_filter(&Principal {
        tenant: tenant.into(),
        actor: Actor::OrgKey {
            id: "a-key".into(),
            org: org.into(),
            access: Access::Read,
        },
    })
}
use orgscope_store::{
    Disposition, DomainClaim, FileSort, NewFile, NewResource, Page, Store, StoreError, new_id,
};
use sqlx::Connection;

/// Empty databases, one per backend under test: (backend, URL).
async fn fresh_databases() -> Vec<(String, String)> {
    orgscope_store::install_default_drivers();
    let dir = std::env::temp_dir().join(new_id("orgscope-store"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = vec![(
        "sqlite".to_owned(),
        format!("sqlite://{}?mode=rwc", dir.join("t.db").display()),
    )];
    if let Some(url) = std::env::var("ORGSCOPE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        let name = new_id("orgscope_test");
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let (head, _) = url.rsplit_once('/').unwrap();
        out.push(("postgres".to_owned(), format!("{head}/{name}")));
    }
    out
}

async fn stores() -> Vec<(String, Store)> {
    let mut out = Vec::new();
    for (backend, url) in fresh_databases().await {
        out.push((backend, Store::connect(&url).await.unwrap()));
    }
    out
}

fn page() -> Page {
    Page {
        limit: 100,
        after: None,
    }
}

fn resource(tenant: &str, org: Option<&str>, name: &str) -> NewResource {
    NewResource {
        id: new_id("spec"),
        tenant_id: tenant.to_owned(),
        kind: "specialty".to_owned(),
        org_id: org.map(str::to_owned),
        name: name.to_owned(),
        fields: "{}".to_owned(),
        secret: None,
        created_by: None,
    }
}

#[tokio::test]
async fn the_read_filter_decides_every_read() {
    for (backend, store) in stores().await {
        let mut tx = store.write().await.unwrap();
        let t1 = tx.tenant_create("one", "One").await.unwrap();
        let t2 = tx.tenant_create("two", "Two").await.unwrap();
        let a = tx.org_create(&t1.id, "a", "A", None, None).await.unwrap();
        let b = tx.org_create(&t1.id, "b", "B", None, None).await.unwrap();
        let c = tx.org_create(&t2.id, "c", "C", None, None).await.unwrap();
        let alice = tx
            .user_create(Some(&t1.id), "alice", "x", "user", None)
            .await
            .unwrap();
        tx.member_put(&a.id, &alice.id, false).await.unwrap();
        for (org, name) in [(None, "wide"), (Some(&a.id), "in-a"), (Some(&b.id), "in-b")] {
            tx.resource_insert(&resource(&t1.id, org.map(String::as_str), name))
                .await
                .unwrap();
        }
        tx.resource_insert(&resource(&t2.id, Some(&c.id), "other-tenant"))
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let names = |filter: ReadFilter, sel: OrgSelector| {
            let store = store.clone();
            async move {
                let mut tx = store.read().await.unwrap();
                let mut n: Vec<String> = tx
                    .resources("specialty", &filter, &sel, &page())
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| r.name)
                    .collect();
                n.sort();
                n
            }
        };
        let admin = admin_filter(&t1.id);
        let member = user_filter(&t1.id, &alice.id, Role::User);
        let key_b = key_filter(&t1.id, &b.id);
        assert_eq!(
            names(admin.clone(), OrgSelector::All).await,
            ["in-a", "in-b", "wide"],
            "{backend}"
        );
        assert_eq!(
            names(member.clone(), OrgSelector::All).await,
            ["in-a", "wide"],
            "{backend}"
        );
        assert_eq!(
            names(key_b.clone(), OrgSelector::All).await,
            ["in-b", "wide"],
            "{backend}"
        );
        assert_eq!(
            names(member.clone(), OrgSelector::TenantWide).await,
            ["wide"],
            "{backend}"
        );
        assert_eq!(
            names(member.clone(), OrgSelector::Org(a.id.clone())).await,
            ["in-a"],
            "{backend}"
        );
        // A selector never widens the filter.
        assert!(
            names(member.clone(), OrgSelector::Org(b.id.clone()))
                .await
                .is_empty(),
            "{backend}"
        );
        assert!(
            names(member.clone(), OrgSelector::Org(c.id.clone()))
                .await
                .is_empty(),
            "{backend}"
        );

        // Gets and org lookups obey the same filter.
        let mut tx = store.read().await.unwrap();
        let in_b = tx
            .resources(
                "specialty",
                &admin,
                &OrgSelector::Org(b.id.clone()),
                &page(),
            )
            .await
            .unwrap()
            .remove(0);
        assert!(matches!(
            tx.resource("specialty", &member, &in_b.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(tx.resource("specialty", &key_b, &in_b.id).await.is_ok());
        assert!(matches!(
            tx.org(&member, "b").await,
            Err(StoreError::NotFound)
        ));
        assert!(tx.org(&member, "a").await.is_ok());
        assert!(
            matches!(tx.org(&admin, "c").await, Err(StoreError::NotFound)),
            "{backend}: other tenant"
        );
        drop(tx);

        // Removing the membership is in force on the next read.
        let mut tx = store.write().await.unwrap();
        tx.member_remove(&a.id, &alice.id).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            names(member.clone(), OrgSelector::All).await,
            ["wide"],
            "{backend}"
        );

        // Uniqueness: slugs and domain claims per tenant; a proved domain
        // belongs to one org across the server, the last to prove it.
        let mut tx = store.write().await.unwrap();
        assert!(
            matches!(
                tx.org_create(&t1.id, "a", "again", None, None).await,
                Err(StoreError::Duplicate("slug"))
            ),
            "{backend}"
        );
        drop(tx);
        let claim = |token| DomainClaim {
            domain: "d.example.com",
            token,
        };
        let mut tx = store.write().await.unwrap();
        assert!(
            tx.org_create(&t2.id, "a", "same slug, other tenant", None, None)
                .await
                .is_ok()
        );
        let d = tx
            .org_create(&t1.id, "d", "D", None, Some(claim("t-d")))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.write().await.unwrap();
        assert!(
            matches!(
                tx.org_create(&t1.id, "d2", "D2", None, Some(claim("t-d2")))
                    .await,
                Err(StoreError::Duplicate("domain"))
            ),
            "{backend}"
        );
        drop(tx);
        let mut tx = store.write().await.unwrap();
        let e = tx
            .org_create(&t2.id, "e", "E", None, Some(claim("t-e")))
            .await
            .expect("a claim in another tenant does not conflict");
        assert!(tx.org_domain_proved(&d).await.unwrap().is_empty());
        let lost = tx.org_domain_proved(&e).await.unwrap();
        assert_eq!(
            lost.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
            [d.id.as_str()]
        );
        assert_eq!(
            tx.org_by_domain_for_portal("d.example.com")
                .await
                .unwrap()
                .id,
            e.id
        );
        let t1_filter = admin_filter(&t1.id);
        let d_now = tx.org(&t1_filter, &d.id).await.unwrap();
        assert_eq!(
            d_now.domain.as_deref(),
            Some("d.example.com"),
            "the claim stays"
        );
        assert_eq!(
            d_now.domain_verified_at, None,
            "{backend}: the proof is gone"
        );
        tx.commit().await.unwrap();

        // An org that owns resources cannot simply vanish; a disposition moves them.
        let mut tx = store.write().await.unwrap();
        assert!(
            matches!(tx.org_delete(&b.id).await, Err(StoreError::Referenced)),
            "{backend}"
        );
        drop(tx);
        let mut tx = store.write().await.unwrap();
        tx.org_dispose(&b.id, Disposition::Move(Some(&a.id)))
            .await
            .unwrap();
        tx.org_delete(&b.id).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            names(admin.clone(), OrgSelector::Org(a.id.clone())).await,
            ["in-a", "in-b"],
            "{backend}"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn pages_follow_each_other_without_gaps() {
    for (backend, store) in stores().await {
        let mut tx = store.write().await.unwrap();
        let t = tx.tenant_create("one", "One").await.unwrap();
        for i in 0..25 {
            tx.resource_insert(&resource(&t.id, None, &format!("r{i:02}")))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let filter = admin_filter(&t.id);
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let mut tx = store.read().await.unwrap();
            let rows = tx
                .resources(
                    "specialty",
                    &filter,
                    &OrgSelector::All,
                    &Page {
                        limit: 7,
                        after: after.clone(),
                    },
                )
                .await
                .unwrap();
            if rows.is_empty() {
                break;
            }
            after = rows.last().map(|r| r.id.clone());
            seen.extend(rows.into_iter().map(|r| r.name));
        }
        let want: Vec<String> = (0..25).map(|i| format!("r{i:02}")).collect();
        assert_eq!(seen, want, "{backend}");
        store.close().await;
    }
}

/// A member's "all my orgs" pages are read one branch per org (and one
/// tenant-wide) and merged: page after page they must be exactly the rows
/// of their orgs and tenant-wide, in the order one statement over the kind
/// gives, with nothing of another org.
#[tokio::test]
async fn a_members_pages_are_their_orgs_and_tenant_wide_in_order() {
    for (backend, store) in stores().await {
        let mut tx = store.write().await.unwrap();
        let t = tx.tenant_create("one", "One").await.unwrap();
        let a = tx.org_create(&t.id, "a", "A", None, None).await.unwrap();
        let b = tx.org_create(&t.id, "b", "B", None, None).await.unwrap();
        let c = tx.org_create(&t.id, "c", "C", None, None).await.unwrap();
        let u = tx
            .user_create(Some(&t.id), "u", "x", "user", None)
            .await
            .unwrap();
        tx.member_put(&a.id, &u.id, false).await.unwrap();
        tx.member_put(&b.id, &u.id, false).await.unwrap();
        let places = [Some(&a.id), Some(&b.id), Some(&c.id), None];
        for i in 0..30 {
            let org = places[i % places.len()].map(String::as_str);
            tx.resource_insert(&resource(&t.id, org, &format!("r{i:02}")))
                .await
                .unwrap();
            let mut file = resource(&t.id, org, &format!("f{i:02}"));
            file.kind = "file".into();
            file.id = new_id("file");
            tx.resource_insert(&file).await.unwrap();
            tx.file_insert(&NewFile {
                id: file.id.clone(),
                blob_key: file.id.clone(),
                size: 1,
                sha256: String::new(),
                content_type: "text/plain".into(),
            })
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let admin = admin_filter(&t.id);
        let member = user_filter(&t.id, &u.id, Role::User);
        let hers = |org: &Option<String>| org.as_deref() != Some(c.id.as_str());

        // Resources, in id order, 7 a page.
        let pages = |filter: ReadFilter| {
            let store = store.clone();
            async move {
                let mut seen = Vec::new();
                let mut after = None;
                loop {
                    let mut tx = store.read().await.unwrap();
                    let page = Page {
                        limit: 7,
                        after: after.clone(),
                    };
                    let rows = tx
                        .resources("specialty", &filter, &OrgSelector::All, &page)
                        .await
                        .unwrap();
                    if rows.is_empty() {
                        return seen;
                    }
                    after = rows.last().map(|r| r.id.clone());
                    seen.extend(rows.into_iter().map(|r| (r.org_id, r.name)));
                }
            }
        };
        let want: Vec<_> = pages(admin.clone())
            .await
            .into_iter()
            .filter(|(org, _)| hers(org))
            .collect();
        assert_eq!(want.len(), 23, "{backend}");
        assert_eq!(pages(member.clone()).await, want, "{backend}: resources");

        // Files, newest first, 4 a page.
        let file_pages = |filter: ReadFilter| {
            let store = store.clone();
            async move {
                let mut seen = Vec::new();
                let mut after = None;
                loop {
                    let mut tx = store.read().await.unwrap();
                    let rows = tx
                        .files(
                            &filter,
                            &OrgSelector::All,
                            (FileSort::Time, true),
                            after.clone(),
                            4,
                            &orgscope_store::Narrow::default(),
                        )
                        .await
                        .unwrap();
                    let Some(last) = rows.last() else {
                        return seen;
                    };
                    after = Some((last.resource.created_at.clone(), last.resource.id.clone()));
                    seen.extend(
                        rows.into_iter()
                            .map(|f| (f.resource.org_id, f.resource.name)),
                    );
                }
            }
        };
        let want: Vec<_> = file_pages(admin)
            .await
            .into_iter()
            .filter(|(org, _)| hers(org))
            .collect();
        assert_eq!(want.len(), 23, "{backend}");
        assert_eq!(file_pages(member).await, want, "{backend}: files");
        store.close().await;
    }
}

/// The migrations applied to a database, in order.
async fn applied(url: &str) -> Vec<(i64, String)> {
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    // The Any driver does not decode SQLite's BOOLEAN: say it in words.
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT version, CASE WHEN success THEN 'ok' ELSE 'failed' END FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    rows
}

fn all_applied() -> Vec<(i64, String)> {
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    (1..=i64::try_from(files).unwrap())
        .map(|v| (v, "ok".to_owned()))
        .collect()
}

/// A migration whose SQL differs from what was applied (here: its recorded
/// checksum no longer matches the file) stops the start, naming the file and
/// what to do, instead of running on a schema that is not the one described.
#[tokio::test]
async fn an_edited_migration_stops_the_start_and_says_which() {
    for (backend, url) in fresh_databases().await {
        Store::connect(&url).await.unwrap().close().await;
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        let other_bytes = if backend == "sqlite" {
            "X'00'"
        } else {
            "decode('00', 'hex')"
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE _sqlx_migrations SET checksum = {other_bytes} WHERE version = 3"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        let err = Store::connect(&url).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Migration(_)),
            "{backend}: {err:?}"
        );
        let message = err.to_string();
        for says in [
            "migration 0003",
            &format!("migrations/{backend}/0003_chat.sql"),
            "new migration",
        ] {
            assert!(message.contains(says), "{backend}: {message}");
        }
    }
}

/// A database the hand-written migrations made, as they left it: tables up
/// to `last` and their versions in `orgscope_migrations`.
async fn old_style_database(backend: &str, url: &str, last: usize) {
    let folder = format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query(
        "CREATE TABLE orgscope_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    for (i, file) in files.iter().take(last).enumerate() {
        let sql = std::fs::read_to_string(file).unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO orgscope_migrations (version, applied_at) VALUES ($1, 'then')")
            .bind(i64::try_from(i + 1).unwrap())
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
}

/// A database from before sqlx's Migrator opens: its history is recorded in
/// `_sqlx_migrations` once (nothing it had is applied again), the migrations
/// it lacked are applied, and opening it again changes nothing.
#[tokio::test]
async fn an_old_migration_history_is_adopted() {
    for (backend, url) in fresh_databases().await {
        old_style_database(&backend, &url, 10).await;
        let store = Store::connect(&url).await.unwrap();
        let mut tx = store.write().await.unwrap();
        tx.tenant_create("one", "One").await.unwrap();
        tx.commit().await.unwrap();
        store.close().await;
        assert_eq!(applied(&url).await, all_applied(), "{backend}");
        Store::connect(&url).await.unwrap().close().await;
        assert_eq!(applied(&url).await, all_applied(), "{backend}: again");
    }
}

/// Replicas starting together on one PostgreSQL database (new, or from
/// before the Migrator) all start, and each migration is applied once.
#[tokio::test]
async fn replicas_starting_together_migrate_once() {
    for (backend, url) in fresh_databases().await {
        if backend != "postgres" {
            continue;
        }
        let (head, _) = url.rsplit_once('/').unwrap();
        let old = new_id("orgscope_test");
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {old}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let old = format!("{head}/{old}");
        old_style_database(&backend, &old, 10).await;
        for url in [url.clone(), old] {
            let starts: Vec<_> = (0..4)
                .map(|_| {
                    let url = url.clone();
                    tokio::spawn(async move { Store::connect(&url).await })
                })
                .collect();
            for start in starts {
                start.await.unwrap().unwrap().close().await;
            }
            assert_eq!(applied(&url).await, all_applied(), "{url}");
        }
    }
}

/// A portal logo's bytes come back as stored on both databases (BLOB and
/// BYTEA), and go with their org.
#[tokio::test]
async fn a_portal_logo_keeps_its_bytes() {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    for (backend, store) in stores().await {
        let mut tx = store.write().await.unwrap();
        let t = tx.tenant_create("one", "One").await.unwrap();
        let a = tx.org_create(&t.id, "a", "A", None, None).await.unwrap();
        assert_eq!(tx.portal_logo(&a.id).await.unwrap(), None, "{backend}");
        tx.portal_logo_put(&a.id, Some(("image/png", &bytes)))
            .await
            .unwrap();
        tx.portal_logo_put(&a.id, Some(("image/gif", &bytes[..10])))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.read().await.unwrap();
        assert_eq!(
            tx.portal_logo(&a.id).await.unwrap(),
            Some(("image/gif".to_owned(), bytes[..10].to_vec())),
            "{backend}: the last one set"
        );
        assert!(tx.portal_logo_stamp(&a.id).await.unwrap().is_some());
        drop(tx);
        let mut tx = store.write().await.unwrap();
        tx.portal_logo_put(&a.id, Some(("image/png", &bytes)))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.read().await.unwrap();
        assert_eq!(
            tx.portal_logo(&a.id).await.unwrap().map(|(_, b)| b),
            Some(bytes.clone()),
            "{backend}"
        );
        drop(tx);
        let mut tx = store.write().await.unwrap();
        tx.portal_logo_put(&a.id, None).await.unwrap();
        assert_eq!(
            tx.portal_logo_stamp(&a.id).await.unwrap(),
            None,
            "{backend}"
        );
        tx.commit().await.unwrap();
        store.close().await;
    }
}
