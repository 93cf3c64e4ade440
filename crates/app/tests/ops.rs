//! The app layer without HTTP: operations called as the edges call them, on
//! SQLite and (with `ORGSCOPE_TEST_DATABASE_URL`) PostgreSQL. Also the
//! promise of "kinds are data": a kind that exists only in this test, one
//! row of a table, works through the generic operations.

use std::collections::BTreeSet;

use orgscope_app::blobs::Blobs;
use orgscope_app::crypto::MasterKey;
use orgscope_app::{Caller, Credential, Env, Error, resources};
use orgscope_core::kind::{Behaviour, Field, FieldType, Kind, ScopePolicy, Secret};
use orgscope_core::policy::{Actor, Principal, Role};
use orgscope_store::{Page, Store, UserRow, new_id};
use serde_json::json;
use sqlx::Connection;

async fn stores() -> Vec<Store> {
    let dir = std::env::temp_dir().join(new_id("orgscope-app"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
    let mut out = vec![Store::connect(&url).await.unwrap()];
    if let Some(url) = std::env::var("ORGSCOPE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        orgscope_store::install_default_drivers();
        let name = new_id("orgscope_test");
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let (head, _) = url.rsplit_once('/').unwrap();
        out.push(Store::connect(&format!("{head}/{name}")).await.unwrap());
    }
    out
}

/// A tenant with orgs `eng` and `ops`, an admin and alice (member of eng).
struct World {
    store: Store,
    key: MasterKey,
    blobs: Blobs,
    admin: Caller,
    alice: Caller,
}

impl World {
    fn env(&self) -> Env<'_> {
        Env {
            store: &self.store,
            master_key: &self.key,
            blobs: &self.blobs,
            dns: None,
            extract_time_limit: orgscope_app::extract::DEFAULT_TIME_LIMIT,
        }
    }
}

fn caller(user: &UserRow, tenant: &str, orgs: &[&str]) -> Caller {
    Caller {
        principal: Principal {
            tenant: tenant.into(),
            actor: Actor::User {
                id: user.id.as_str().into(),
                role: Role::parse(&user.role).unwrap(),
                member_of: orgs.iter().map(|o| (*o).into()).collect(),
                managing: BTreeSet::new(),
            },
        },
        actor_name: user.username.clone(),
        user: Some(user.clone()),
        credential: Credential::PersonalToken,
        maker: None,
    }
}

async fn world(store: Store) -> World {
    let mut tx = store.write().await.unwrap();
    let tenant = tx.tenant_create("t", "T").await.unwrap();
    let eng = tx
        .org_create(&tenant.id, "eng", "Eng", None, None)
        .await
        .unwrap();
    tx.org_create(&tenant.id, "ops", "Ops", None, None)
        .await
        .unwrap();
    let admin = tx
        .user_create(Some(&tenant.id), "admin", "x", "admin", None)
        .await
        .unwrap();
    let alice = tx
        .user_create(Some(&tenant.id), "alice", "x", "user", Some(&eng.id))
        .await
        .unwrap();
    tx.member_put(&eng.id, &alice.id, false).await.unwrap();
    tx.commit().await.unwrap();
    let dir = std::env::temp_dir().join(new_id("orgscope-app-blobs"));
    World {
        key: MasterKey::generate(),
        blobs: Blobs::local(&dir).unwrap(),
        admin: caller(&admin, &tenant.id, &[]),
        alice: caller(&alice, &tenant.id, &[eng.id.as_str()]),
        store,
    }
}

fn page() -> Page {
    Page {
        limit: 51,
        after: None,
    }
}

/// A kind no table of the product has: a row here is all it takes.
static WIDGET: Kind = Kind {
    path: "widgets",
    name: "widget",
    prefix: "wdg",
    policy: ScopePolicy::AdminTenantWide,
    fields: &[Field {
        name: "colour",
        ty: FieldType::Choice(&["red", "blue"]),
        required: true,
        doc: "The widget's colour.",
        fixed: false,
        default: None,
    }],
    secret: Secret::None,
    behaviour: Behaviour::Plain,
    doc: "Widgets: a kind that exists only in this test.",
};

#[tokio::test]
async fn a_kind_added_as_a_table_row_works_through_the_generic_operations() {
    for store in stores().await {
        let w = world(store).await;
        let env = w.env();
        // alice makes one in eng; the kind's fields are validated.
        let body = json!({"name": "w1", "org": "eng", "colour": "red"});
        let made = resources::create(&env, &w.alice, &WIDGET, &body)
            .await
            .unwrap();
        assert_eq!(made["kind"], "widget");
        assert_eq!(made["colour"], "red");
        let id = made["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("wdg_"));
        let body = json!({"name": "w2", "org": "eng", "colour": "green"});
        let bad = resources::create(&env, &w.alice, &WIDGET, &body).await;
        assert!(
            matches!(&bad, Err(Error::Invalid(d)) if d.contains("colour")),
            "{bad:?}"
        );
        // Tenant-wide widgets are the admin's to make (the kind's policy).
        let body = json!({"name": "w3", "org": null, "colour": "blue"});
        let tw = resources::create(&env, &w.alice, &WIDGET, &body).await;
        assert!(matches!(tw, Err(Error::Forbidden(_))), "{tw:?}");
        resources::create(&env, &w.admin, &WIDGET, &body)
            .await
            .unwrap();
        let (items, next) = resources::list(&env, &w.alice, &WIDGET, None, &page())
            .await
            .unwrap();
        assert_eq!(items.len(), 2);
        assert!(next.is_none());
        // Re-scoped by the admin to ops, it is gone for alice, as if never made.
        let to_ops = resources::Rescope {
            org: Some("ops".into()),
            preview: false,
            losing_cursor: None,
            gaining_cursor: None,
        };
        let moved = resources::rescope(&env, &w.admin, &WIDGET, &id, &to_ops)
            .await
            .unwrap();
        assert_eq!(moved.impact.users_losing_access, ["alice"]);
        let gone = resources::read(&env, &w.alice, &WIDGET, &id).await;
        let never = resources::read(&env, &w.alice, &WIDGET, "wdg_unused").await;
        match (gone, never) {
            (Err(Error::NotFound(a)), Err(Error::NotFound(b))) => {
                assert_eq!(a.replace(&id, "X"), b.replace("wdg_unused", "X"));
            }
            other => panic!("{other:?}"),
        }
        // Every change is in the audit log.
        let mut tx = w.store.read().await.unwrap();
        let filter = orgscope_core::policy::read_filter(&w.admin.principal);
        let log = tx
            .audit(&filter, &orgscope_store::AuditQuery::default(), &page())
            .await
            .unwrap();
        let actions: Vec<&str> = log.iter().map(|a| a.action.as_str()).collect();
        assert!(
            actions.contains(&"widget.create") && actions.contains(&"widget.rescope"),
            "{actions:?}"
        );
    }
}

#[tokio::test]
async fn operations_answer_domain_errors_not_http() {
    for store in stores().await {
        let w = world(store).await;
        let env = w.env();
        let creds = orgscope_core::kind::by_path("credentials").unwrap();
        let body = json!({"name": "db", "secret": "s3"});
        let made = resources::create(&env, &w.alice, creds, &body)
            .await
            .unwrap();
        // Absent org: alice's default (eng); the secret is never shown.
        assert_eq!(made["org"]["slug"], "eng");
        assert_eq!(made.get("secret"), None);
        let id = made["id"].as_str().unwrap();
        let mut auditor = w.alice.clone();
        if let Actor::User { role, .. } = &mut auditor.principal.actor {
            *role = Role::Auditor;
        }
        let denied = resources::update(&env, &auditor, creds, id, &json!({"name": "x"})).await;
        assert!(matches!(denied, Err(Error::Forbidden(_))), "{denied:?}");
        let moved = resources::update(&env, &w.alice, creds, id, &json!({"org": "ops"})).await;
        assert!(
            matches!(&moved, Err(Error::Invalid(d)) if d.contains("rescope")),
            "{moved:?}"
        );
    }
}
