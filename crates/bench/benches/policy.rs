//! The policy decision beside Cedar and casbin (issue 22, target 7), on the
//! same inputs with the same answers: a tenant of 10,000 orgs, a user of the
//! role `user` in 3 or in 20 of them, and a resource in one of their orgs,
//! in another org, or tenant-wide.
//!
//!     cargo bench -p orgscope-bench
//!
//! orgscope: `visible`, `can_write` and `read_filter` (pure functions of
//! the principal, as a request holds it). Cedar 4: the same rule as a
//! policy set over entities (orgs as the user's parents), asked through
//! `Authorizer::is_authorized`. casbin 2: RBAC with domains, a `member`
//! role in each org's domain, `enforce((user, org, kind, action))`. Every
//! answer is checked equal before anything is timed.

use std::hint::black_box;

use casbin::prelude::*;
use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request};
use criterion::{Criterion, criterion_group, criterion_main};
use orgscope_core::ids::{OrgId, TenantId, UserId};
use orgscope_core::kind::ScopePolicy;
use orgscope_core::policy::{Actor, Principal, Role, Scope, can_write, read_filter, visible};
use serde_json::json;

const ORGS: usize = 10_000;
const TENANT: &str = "ten_bench";

/// Read: admins see all; a user sees tenant-wide and their orgs'. Write: a
/// user changes their orgs' (tenant-wide is the admins').
const CEDAR: &str = r#"
permit(principal, action == Action::"read", resource)
  when { resource.tenant_wide };
permit(principal, action, resource)
  when { resource has org && principal in resource.org };
"#;

const CASBIN: &str = r#"
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj && r.act == p.act
"#;

fn org(i: usize) -> String {
    format!("org_{i:05}")
}

fn principal(orgs: usize) -> Principal {
    Principal {
        tenant: TenantId::from(TENANT),
        actor: Actor::User {
            id: UserId::from("usr_alice"),
            role: Role::User,
            member_of: (0..orgs).map(|i| OrgId::from(org(i * 7))).collect(),
            managing: Default::default(),
        },
    }
}

/// The resources asked about: `(name, org)`: one of the user's orgs, an org
/// not theirs, tenant-wide.
fn resources() -> Vec<(&'static str, Option<String>)> {
    vec![
        ("in a member org", Some(org(14))),
        ("in another org", Some(org(9_999))),
        ("tenant-wide", None),
    ]
}

fn cedar_entities(orgs: usize) -> Entities {
    let mut all = Vec::new();
    for i in 0..ORGS {
        all.push(json!({"uid": {"type": "Org", "id": org(i)}, "attrs": {}, "parents": []}));
    }
    let parents: Vec<_> = (0..orgs)
        .map(|i| json!({"type": "Org", "id": org(i * 7)}))
        .collect();
    all.push(json!({"uid": {"type": "User", "id": "usr_alice"}, "attrs": {}, "parents": parents}));
    for (name, o) in resources() {
        let attrs = match o {
            Some(o) => json!({"tenant_wide": false, "org": {"__entity": {"type": "Org", "id": o}}}),
            None => json!({"tenant_wide": true}),
        };
        all.push(json!({"uid": {"type": "Resource", "id": name}, "attrs": attrs, "parents": []}));
    }
    Entities::from_json_value(json!(all), None).expect("cedar entities")
}

fn cedar_request(resource: &str, action: &str) -> Request {
    let uid =
        |t: &str, id: &str| -> EntityUid { format!("{t}::{}", json!(id)).parse().expect("uid") };
    Request::new(
        uid("User", "usr_alice"),
        uid("Action", action),
        uid("Resource", resource),
        Context::empty(),
        None,
    )
    .expect("cedar request")
}

async fn casbin_enforcer(orgs: usize) -> Enforcer {
    let model = DefaultModel::from_str(CASBIN).await.expect("casbin model");
    let mut e = Enforcer::new(model, MemoryAdapter::default())
        .await
        .expect("casbin enforcer");
    let mut policies = Vec::new();
    for i in 0..ORGS {
        for act in ["read", "write"] {
            policies.push(vec!["member".into(), org(i), "resource".into(), act.into()]);
        }
    }
    // Tenant-wide rows are read by everyone: a domain of their own.
    policies.push(vec![
        "member".into(),
        "tenant".into(),
        "resource".into(),
        "read".into(),
    ]);
    e.add_policies(policies).await.expect("casbin policies");
    let mut groups: Vec<Vec<String>> = (0..orgs)
        .map(|i| vec!["usr_alice".into(), "member".into(), org(i * 7)])
        .collect();
    groups.push(vec!["usr_alice".into(), "member".into(), "tenant".into()]);
    e.add_grouping_policies(groups)
        .await
        .expect("casbin groups");
    e
}

fn scope(o: &Option<String>) -> Scope {
    Scope {
        tenant: TenantId::from(TENANT),
        org: o.as_deref().map(OrgId::from),
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let policies: PolicySet = CEDAR.parse().expect("cedar policies");
    let authorizer = Authorizer::new();
    for orgs in [3, 20] {
        let p = principal(orgs);
        let entities = cedar_entities(orgs);
        let enforcer = runtime.block_on(casbin_enforcer(orgs));
        for (name, o) in resources() {
            let r = scope(&o);
            let domain = o.clone().unwrap_or_else(|| "tenant".into());
            for action in ["read", "write"] {
                let ours = |p: &Principal| match action {
                    "read" => visible(p, &r),
                    _ => can_write(p, ScopePolicy::AdminTenantWide, &r, None).is_ok(),
                };
                let request = cedar_request(name, action);
                let cedar = || {
                    authorizer
                        .is_authorized(&request, &policies, &entities)
                        .decision()
                };
                let asked = ("usr_alice", domain.as_str(), "resource", action);
                // The same answer first.
                let want = ours(&p);
                assert_eq!(
                    want,
                    cedar() == Decision::Allow,
                    "{orgs} orgs, {name}, {action}: orgscope and Cedar differ"
                );
                assert_eq!(
                    want,
                    enforcer.enforce(asked).unwrap(),
                    "{orgs} orgs, {name}, {action}: orgscope and casbin differ"
                );
                let mut g = c.benchmark_group(format!("{action}, member of {orgs}, {name}"));
                g.bench_function("orgscope", |b| b.iter(|| ours(black_box(&p))));
                g.bench_function("cedar", |b| b.iter(|| black_box(cedar())));
                g.bench_function("casbin", |b| {
                    b.iter(|| enforcer.enforce(black_box(asked)).unwrap())
                });
                g.finish();
            }
        }
        c.bench_function(
            &format!("read filter, member of {orgs}, orgscope read_filter"),
            |b| b.iter(|| read_filter(black_box(&p))),
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
