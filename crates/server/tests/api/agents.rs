//! Agent infrastructure through HTTP: the org rules and references of agents,
//! hosts, tasks, jobs and gateways; blacklists on every way a task is made;
//! claims under contention; one task per job firing across replicas; the
//! gateway webhook; credential reveal.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, backends};

pub(crate) struct Infra {
    pub s: TestServer,
    pub alice: String,
    pub bob: String,
    pub auditor: String,
    pub agent: String,
    pub host: String,
    pub cred: String,
    pub rw_a: String,
    pub read_a: String,
    pub rw_b: String,
}

/// Orgs alpha (alice, an agent, host web-1, keys) and beta (bob), with
/// blacklists in force (tenant-wide `rm -rf *`; alpha: reboot, shutdown).
pub(crate) async fn infra(s: TestServer) -> Infra {
    s.org("alpha").await;
    s.org("beta").await;
    let (_, alice) = s.fast_user("alice", "user", &[("alpha", false)]).await;
    let (_, bob) = s.fast_user("bob", "user", &[("beta", false)]).await;
    let (_, auditor) = s.fast_user("audrey", "auditor", &[]).await;
    let spec = s
        .create(
            &s.admin,
            "specialties",
            json!({"name": "k8s", "org": null, "description": "Kubernetes"}),
        )
        .await;
    s.create(
        &s.admin,
        "operational-rules",
        json!({"name": "change window", "org": null, "content": "Announce in #ops first."}),
    )
    .await;
    s.create(
        &alice,
        "operational-rules",
        json!({"name": "alpha rule", "org": "alpha", "content": "Page alpha on-call."}),
    )
    .await;
    s.create(
        &bob,
        "operational-rules",
        json!({"name": "beta rule", "org": "beta", "content": "beta only"}),
    )
    .await;
    s.create(
        &s.admin,
        "blacklists",
        json!({"name": "no wipes", "org": null, "patterns": ["glob:rm -rf *"]}),
    )
    .await;
    s.create(&alice, "blacklists", json!({"name": "alpha no reboot", "org": "alpha", "patterns": ["reboot", "re:^shutdown\\b"]})).await;
    let cred = s
        .create(
            &alice,
            "credentials",
            json!({"name": "ssh", "org": "alpha", "secret": "hunter2"}),
        )
        .await;
    let cred = cred["id"].as_str().unwrap().to_owned();
    let agent = s
        .create(&alice, "agents", json!({"name": "ops bot", "org": "alpha", "specialty": spec["id"], "credentials": [cred]}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let host = s
        .create(&alice, "hosts", json!({"name": "web-1", "org": "alpha", "address": "10.0.0.5", "labels": {"env": "prod"}}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, rw_a) = s.org_key(&s.admin, "alpha", "read_write").await;
    let (_, read_a) = s.org_key(&s.admin, "alpha", "read").await;
    let (_, rw_b) = s.org_key(&s.admin, "beta", "read_write").await;
    Infra {
        s,
        alice,
        bob,
        auditor,
        agent,
        host,
        cred,
        rw_a,
        read_a,
        rw_b,
    }
}

async fn task(i: &Infra, token: &str, command: &str) -> (StatusCode, Value) {
    i.s.post(
        token,
        "/api/v1/tasks",
        json!({"name": "t", "org": "alpha", "agent": i.agent, "host": i.host, "command": command}),
    )
    .await
}

#[tokio::test]
async fn the_kinds_follow_the_org_rules_and_keep_references_in_their_org() {
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        for kind in ["agents", "hosts"] {
            let (st, _) = s
                .get(
                    &i.bob,
                    &format!(
                        "/api/v1/{kind}/{}",
                        if kind == "agents" { &i.agent } else { &i.host }
                    ),
                )
                .await;
            assert_eq!(st, StatusCode::NOT_FOUND, "{backend:?} {kind}");
        }
        assert_eq!(s.list_all(&i.auditor, "/api/v1/agents").await.len(), 1);
        let (st, _) = s
            .post(
                &i.auditor,
                "/api/v1/hosts",
                json!({"name": "h", "org": "alpha", "address": "x"}),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, _) = s
            .post(
                &s.admin,
                "/api/v1/agents",
                json!({"name": "a", "org": null}),
            )
            .await;
        assert_eq!(
            st,
            StatusCode::UNPROCESSABLE_ENTITY,
            "agents are org-required"
        );
        // A credential of another org: visible to the admin (409 naming it), hidden from alice (422).
        let other = s
            .create(
                &i.bob,
                "credentials",
                json!({"name": "b", "org": "beta", "secret": "x"}),
            )
            .await;
        let other = other["id"].as_str().unwrap();
        let (st, body) = s
            .post(
                &s.admin,
                "/api/v1/agents",
                json!({"name": "a", "org": "alpha", "credentials": [other]}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["blocking"][0]["id"], other);
        let (st, _) = s
            .post(
                &i.alice,
                "/api/v1/agents",
                json!({"name": "a", "org": "alpha", "credentials": [other]}),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        let (st, _) = s
            .patch(
                &s.admin,
                &format!("/api/v1/agents/{}", i.agent),
                json!({"credentials": [other]}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "an update is checked too");
        // Moving the agent away from its host's and credential's org is blocked, and previewed.
        let (_, t) = task(&i, &i.alice, "uptime").await;
        let rescope = format!("/api/v1/agents/{}/rescope", i.agent);
        let (st, preview) = s
            .post(&s.admin, &rescope, json!({"org": "beta", "preview": true}))
            .await;
        assert_eq!(st, StatusCode::OK);
        let blocking = preview["impact"]["blocking_references"].to_string();
        assert!(
            blocking.contains(&i.cred) && blocking.contains(t["id"].as_str().unwrap()),
            "{blocking}"
        );
        let (st, _) = s.post(&s.admin, &rescope, json!({"org": "beta"})).await;
        assert_eq!(st, StatusCode::CONFLICT);
        // Agent, host and command are fixed once made (even to the same
        // value); a rename is not.
        let task_path = format!("/api/v1/tasks/{}", t["id"].as_str().unwrap());
        for body in [
            json!({"command": "ls"}),
            json!({"agent": t["agent"]}),
            json!({"host": t["host"], "name": "x"}),
        ] {
            let (st, e) = s.patch(&i.alice, &task_path, body.clone()).await;
            assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {e}");
            assert!(
                e["detail"]
                    .as_str()
                    .unwrap()
                    .contains("is fixed once the task is made"),
                "{e}"
            );
        }
        let (st, renamed) = s
            .patch(&i.alice, &task_path, json!({"name": "nightly"}))
            .await;
        assert_eq!(st, StatusCode::OK, "{renamed}");
        assert_eq!(renamed["command"], t["command"]);
        assert_eq!(
            (t["status"].as_str(), t["attempts"].as_i64()),
            (Some("queued"), Some(0)),
            "the create answer shows the new task's state"
        );
        let (_, got) = s
            .get(
                &i.alice,
                &format!("/api/v1/tasks/{}", t["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(got["status"], "queued");
    }
}

#[tokio::test]
async fn blacklists_refuse_tasks_by_hand_by_gateway_and_by_job() {
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        let (st, body) = task(&i, &i.alice, "sudo rm -rf /var").await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("no wipes") && detail.contains("glob:rm -rf *"),
            "{detail}"
        );
        let (st, body) = task(&i, &i.alice, "reboot now").await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["detail"].as_str().unwrap().contains("alpha no reboot"));
        let (st, _) = task(&i, &i.alice, "shutdown -h now").await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        let (st, uptime) = task(&i, &i.alice, "uptime").await;
        assert_eq!(st, StatusCode::CREATED);
        // A blacklist made later refuses new tasks, and leaves a queued one
        // renamable: its command is fixed and was allowed when it was made.
        let later = s
            .create(
                &i.alice,
                "blacklists",
                json!({"name": "no uptime", "org": "alpha", "patterns": ["uptime"]}),
            )
            .await;
        let (st, _) = task(&i, &i.alice, "uptime").await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        let (st, body) = s
            .patch(
                &i.alice,
                &format!("/api/v1/tasks/{}", uptime["id"].as_str().unwrap()),
                json!({"name": "renamed"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{backend:?}: {body}");
        let (st, _) = s
            .delete(
                &i.alice,
                &format!("/api/v1/blacklists/{}", later["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        // Gateway: its own secret, once; a wrong one makes nothing.
        let gw = s
            .create(&i.alice, "gateways", json!({"name": "tickets", "org": "alpha", "type": "generic", "agent": i.agent, "host": i.host}))
            .await;
        let secret = gw["token"].as_str().unwrap().to_owned();
        let hook = format!("{}/hooks/gateways/{}", s.base, gw["id"].as_str().unwrap());
        let send = |secret: String, command: &'static str| {
            s.http
                .post(&hook)
                .header("x-gateway-secret", secret)
                .json(&json!({"title": "disk full", "command": command}))
                .send()
        };
        assert_eq!(
            send("osg_wrong".into(), "df -h").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            send(secret.clone(), "reboot").await.unwrap().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let made = send(secret.clone(), "df -h").await.unwrap();
        assert_eq!(made.status(), StatusCode::CREATED);
        assert_eq!(
            s.list_all(&i.alice, "/api/v1/tasks").await.len(),
            2,
            "{backend:?}: uptime and df -h only"
        );
        // Job: a refused command is refused when written, not only at firings.
        let (st, body) = s
            .post(&i.alice, "/api/v1/jobs", json!({"name": "nightly", "org": "alpha", "agent": i.agent, "host": i.host, "command": "REBOOT", "schedule": "0 3 * * *"}))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{backend:?}: {body}");
        // Due now, its command blacklisted since: the firing makes no task and is logged.
        let job = s
            .create(&i.alice, "jobs", json!({"name": "nightly", "org": "alpha", "agent": i.agent, "host": i.host, "command": "backup --all", "schedule": "0 3 * * *"}))
            .await;
        s.create(
            &i.alice,
            "blacklists",
            json!({"name": "no backups", "org": "alpha", "patterns": ["Backup"]}),
        )
        .await;
        let good = s
            .create(&i.alice, "jobs", json!({"name": "hourly", "org": "alpha", "agent": i.agent, "host": i.host, "command": "uptime", "schedule": "0 * * * *", "timezone": "+02:00"}))
            .await;
        for j in [&job, &good] {
            let mut tx = s.store.write().await.unwrap();
            tx.job_schedule_set(
                j["id"].as_str().unwrap(),
                Some("2000-01-01T00:00:00.000000Z"),
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
        let made = orgscope_server::routes::agents::fire_due(&s.state)
            .await
            .unwrap();
        assert_eq!(made.len(), 1, "{backend:?}");
        assert_eq!(s.list_all(&i.alice, "/api/v1/tasks").await.len(), 3);
        let (_, log) = s.get(&s.admin, "/api/v1/audit?limit=200").await;
        assert!(log.to_string().contains("job.refused"));
        // Bad schedules and time zones are refused on write, saying what is wrong.
        let (st, body) = s
            .post(&i.alice, "/api/v1/jobs", json!({"name": "x", "org": "alpha", "agent": i.agent, "host": i.host, "command": "ls", "schedule": "every day"}))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["detail"].as_str().unwrap().contains("schedule"));
        let (st, _) = s
            .post(&i.alice, "/api/v1/jobs", json!({"name": "x", "org": "alpha", "agent": i.agent, "host": i.host, "command": "ls", "schedule": "* * * * *", "timezone": "Mars/Olympus"}))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

async fn claim(s: &TestServer, token: &str, agent: &str) -> (StatusCode, Value) {
    s.post(token, "/api/v1/tasks/claim", json!({"agent": agent}))
        .await
}

#[tokio::test]
async fn agents_claim_with_their_orgs_key_and_report() {
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        let (_, t) = task(&i, &i.alice, "uptime").await;
        assert_eq!(
            claim(s, &i.alice, &i.agent).await.0,
            StatusCode::FORBIDDEN,
            "people do not claim"
        );
        assert_eq!(claim(s, &i.read_a, &i.agent).await.0, StatusCode::FORBIDDEN);
        assert_eq!(
            claim(s, &i.rw_b, &i.agent).await.0,
            StatusCode::NOT_FOUND,
            "another org's agent does not exist"
        );
        let (st, got) = claim(s, &i.rw_a, &i.agent).await;
        assert_eq!(st, StatusCode::OK, "{got}");
        assert_eq!(got["task"]["id"], t["id"]);
        assert_eq!(got["task"]["command"], "uptime");
        assert_eq!(got["specialty"]["name"], "k8s");
        let rules: Vec<&str> = got["operational_rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(
            rules.contains(&"change window")
                && rules.contains(&"alpha rule")
                && !rules.contains(&"beta rule"),
            "{rules:?}"
        );
        assert_eq!(
            claim(s, &i.rw_a, &i.agent).await.0,
            StatusCode::NO_CONTENT,
            "nothing left"
        );
        let result = format!("/api/v1/tasks/{}/result", t["id"].as_str().unwrap());
        let (st, done) = s
            .post(
                &i.rw_a,
                &result,
                json!({"status": "succeeded", "output": "up 3 days", "exit_code": 0}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{done}");
        assert_eq!(done["status"], "succeeded");
        let (st, _) = s.post(&i.rw_a, &result, json!({"status": "failed"})).await;
        assert_eq!(st, StatusCode::CONFLICT, "reported once");
        let (_, read) = s
            .get(
                &i.alice,
                &format!("/api/v1/tasks/{}", t["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(
            (read["status"].as_str(), read["output"].as_str()),
            (Some("succeeded"), Some("up 3 days"))
        );
    }
}

#[tokio::test]
async fn two_claimants_racing_for_one_task_one_wins() {
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        for round in 0..5 {
            task(&i, &i.alice, "uptime").await;
            let (_, other_key) = s.org_key(&s.admin, "alpha", "read_write").await;
            let a = s.post(&i.rw_a, "/api/v1/tasks/claim", json!({"agent": i.agent}));
            let b = s.post(&other_key, "/api/v1/tasks/claim", json!({"agent": i.agent}));
            let ((sa, ba), (sb, bb)) = tokio::join!(a, b);
            let mut statuses = [sa, sb];
            statuses.sort();
            assert_eq!(
                statuses,
                [StatusCode::OK, StatusCode::NO_CONTENT],
                "{backend:?} round {round}: {ba} {bb}"
            );
        }
    }
}

async fn audit_count(s: &TestServer, action: &str, target: &str) -> usize {
    let (_, log) = s
        .get(
            &s.admin,
            &format!("/api/v1/audit?action={action}&limit=200"),
        )
        .await;
    log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == target)
        .count()
}

#[tokio::test]
async fn a_lapsed_lease_returns_the_task_once_to_another_claimant() {
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        let (_, t) = task(&i, &i.alice, "uptime").await;
        let id = t["id"].as_str().unwrap().to_owned();
        assert_eq!(
            (t["status"].as_str(), t["attempts"].as_i64()),
            (Some("queued"), Some(0))
        );
        let (_, second_agent) = s.org_key(&s.admin, "alpha", "read_write").await;
        let lease = |lease: i64| json!({"agent": i.agent, "lease_seconds": lease});
        let (st, bad) = s.post(&i.rw_a, "/api/v1/tasks/claim", lease(0)).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let (st, got) = s.post(&i.rw_a, "/api/v1/tasks/claim", lease(1)).await;
        assert_eq!(st, StatusCode::OK, "{got}");
        assert_eq!(
            (got["task"]["id"].as_str(), got["task"]["attempts"].as_i64()),
            (Some(id.as_str()), Some(1))
        );
        // A heartbeat keeps it; only the claimant may send one.
        let beat = format!("/api/v1/tasks/{id}/heartbeat");
        let (st, _) = s
            .post(&second_agent, &beat, json!({"lease_seconds": 1}))
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{backend:?}: not the claimant");
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        let (st, b) = s.post(&i.rw_a, &beat, json!({"lease_seconds": 1})).await;
        assert_eq!(st, StatusCode::OK, "{b}");
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        assert_eq!(
            claim(s, &second_agent, &i.agent).await.0,
            StatusCode::NO_CONTENT,
            "{backend:?}: the heartbeat kept the lease"
        );
        // The first agent goes silent: its lease lapses, the sweep (run by
        // the scheduler, here twice) returns the task to the queue once.
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        let moved = orgscope_app::agents::sweep_leases(&s.store).await.unwrap();
        assert_eq!(moved, vec![id.clone()], "{backend:?}");
        assert!(
            orgscope_app::agents::sweep_leases(&s.store)
                .await
                .unwrap()
                .is_empty()
        );
        let (_, read) = s.get(&i.alice, &format!("/api/v1/tasks/{id}")).await;
        assert_eq!(
            (read["status"].as_str(), read["attempts"].as_i64()),
            (Some("queued"), Some(1)),
            "{read}"
        );
        assert_eq!(audit_count(s, "task.lease_lapsed", &id).await, 1);
        let (st, again) = s.post(&second_agent, "/api/v1/tasks/claim", lease(1)).await;
        assert_eq!(st, StatusCode::OK, "{again}");
        assert_eq!(
            (
                again["task"]["id"].as_str(),
                again["task"]["attempts"].as_i64()
            ),
            (Some(id.as_str()), Some(2))
        );
        // The silent agent wakes up: its task is no longer its own.
        let result = format!("/api/v1/tasks/{id}/result");
        let (st, _) = s
            .post(&i.rw_a, &result, json!({"status": "succeeded"}))
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{backend:?}");
        assert_eq!(
            s.post(&i.rw_a, &beat, json!({})).await.0,
            StatusCode::CONFLICT
        );
        // A claim also lapses what is overdue, without waiting for the sweep;
        // the third lapsed claim fails the task instead of queueing it.
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        let (st, third) = s.post(&i.rw_a, "/api/v1/tasks/claim", lease(1)).await;
        assert_eq!(
            (st, third["task"]["attempts"].as_i64()),
            (StatusCode::OK, Some(3)),
            "{third}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        assert_eq!(
            orgscope_app::agents::sweep_leases(&s.store).await.unwrap(),
            vec![id.clone()]
        );
        let (_, read) = s.get(&i.alice, &format!("/api/v1/tasks/{id}")).await;
        assert_eq!(read["status"], "failed", "{read}");
        assert!(
            read["output"].as_str().unwrap().contains("lease lapsed"),
            "{read}"
        );
        assert_eq!(audit_count(s, "task.claim", &id).await, 3);
    }
}

#[tokio::test]
async fn writers_cancel_and_requeue_tasks_and_agents_hear_it() {
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        let (_, t) = task(&i, &i.alice, "uptime").await;
        let id = t["id"].as_str().unwrap().to_owned();
        let cancel = format!("/api/v1/tasks/{id}/cancel");
        let requeue = format!("/api/v1/tasks/{id}/requeue");
        // Hidden from another org's member and key: 404; a read key: 403.
        assert_eq!(
            s.post(&i.bob, &cancel, json!({})).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            s.post(&i.rw_b, &cancel, json!({})).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            s.post(&i.read_a, &cancel, json!({})).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            s.post(&i.auditor, &cancel, json!({})).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            s.post(&i.alice, &requeue, json!({})).await.0,
            StatusCode::CONFLICT,
            "a queued task is not requeued"
        );
        // A running task cancelled: its agent hears 409 at its next report.
        let (_, got) = claim(s, &i.rw_a, &i.agent).await;
        assert_eq!(got["task"]["id"], id.as_str());
        let (st, out) = s.post(&i.alice, &cancel, json!({})).await;
        assert_eq!(
            (st, out["status"].as_str()),
            (StatusCode::OK, Some("cancelled")),
            "{out}"
        );
        assert_eq!(
            s.post(&i.alice, &cancel, json!({})).await.0,
            StatusCode::CONFLICT,
            "cancelled once"
        );
        let result = format!("/api/v1/tasks/{id}/result");
        let (st, _) = s
            .post(&i.rw_a, &result, json!({"status": "succeeded"}))
            .await;
        assert_eq!(st, StatusCode::CONFLICT);
        // Requeued: a fresh start, claimed again.
        let (st, out) = s.post(&i.alice, &requeue, json!({})).await;
        assert_eq!(
            (st, out["status"].as_str(), out["attempts"].as_i64()),
            (StatusCode::OK, Some("queued"), Some(0)),
            "{out}"
        );
        let (_, got) = claim(s, &i.rw_a, &i.agent).await;
        assert_eq!(got["task"]["id"], id.as_str());
        let (st, _) = s
            .post(
                &i.rw_a,
                &result,
                json!({"status": "failed", "exit_code": 2}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        // A blacklist made since refuses the requeue of its command.
        s.create(
            &i.alice,
            "blacklists",
            json!({"name": "no uptime", "org": "alpha", "patterns": ["uptime"]}),
        )
        .await;
        let (st, why) = s.post(&i.alice, &requeue, json!({})).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        assert_eq!(
            (
                audit_count(s, "task.cancel", &id).await,
                audit_count(s, "task.requeue", &id).await
            ),
            (1, 1)
        );
    }
}

#[tokio::test]
async fn two_schedulers_on_one_database_make_one_task_per_firing() {
    // Two replicas: two servers over the same database.
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        let replica = orgscope_server::AppState::new(
            orgscope_store::Store::connect(&s.database_url)
                .await
                .unwrap(),
            orgscope_server::crypto::MasterKey::generate(),
            orgscope_server::blobs::Blobs::local(&s.dir.join("blobs2")).unwrap(),
        );
        let job = s
            .create(&i.alice, "jobs", json!({"name": "often", "org": "alpha", "agent": i.agent, "host": i.host, "command": "uptime", "schedule": "*/5 * * * *"}))
            .await;
        let id = job["id"].as_str().unwrap().to_owned();
        for round in 0..5 {
            let mut tx = s.store.write().await.unwrap();
            tx.job_schedule_set(
                &id,
                Some(&format!("2000-01-0{}T00:00:00.000000Z", round + 1)),
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
            let (a, b) = tokio::join!(
                orgscope_server::routes::agents::fire_due(&s.state),
                orgscope_server::routes::agents::fire_due(&replica)
            );
            let made = a.unwrap().len() + b.unwrap().len();
            assert_eq!(made, 1, "{backend:?} round {round}");
        }
        assert_eq!(s.list_all(&i.alice, "/api/v1/tasks").await.len(), 5);
    }
}

#[tokio::test]
async fn credentials_are_revealed_to_writers_and_their_orgs_agents_and_audited() {
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        let path = format!("/api/v1/credentials/{}/reveal", i.cred);
        let (st, body) = s.post(&i.alice, &path, json!({})).await;
        assert_eq!(
            (st, body["secret"].as_str()),
            (StatusCode::OK, Some("hunter2"))
        );
        let (st, body) = s.post(&i.rw_a, &path, json!({})).await;
        assert_eq!(
            (st, body["secret"].as_str()),
            (StatusCode::OK, Some("hunter2"))
        );
        assert_eq!(
            s.post(&i.auditor, &path, json!({})).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            s.post(&i.bob, &path, json!({})).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            s.post(&i.rw_b, &path, json!({})).await.0,
            StatusCode::NOT_FOUND
        );
        // Rotating keeps the id; the new secret is what is revealed.
        let (st, _) = s
            .patch(
                &i.alice,
                &format!("/api/v1/credentials/{}", i.cred),
                json!({"secret": "correct horse"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let (_, body) = s.post(&i.rw_a, &path, json!({})).await;
        assert_eq!(body["secret"], "correct horse");
        // A read key never reveals (DESIGN 3: keys never outdo their makers).
        assert_eq!(
            s.post(&i.read_a, &path, json!({})).await.0,
            StatusCode::FORBIDDEN
        );
        let (_, log) = s.get(&s.admin, "/api/v1/audit?limit=200").await;
        let reveals = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "credential.reveal")
            .count();
        assert_eq!(reveals, 3, "{backend:?}");
        assert!(!log.to_string().contains("hunter2"));
    }
}

#[tokio::test]
async fn every_kind_answers_every_role_and_key_by_the_rules() {
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        let (_, t) = task(&i, &i.alice, "uptime").await;
        let job = s
            .create(&i.alice, "jobs", json!({"name": "j", "org": "alpha", "agent": i.agent, "host": i.host, "command": "uptime", "schedule": "0 * * * *"}))
            .await;
        let gw = s
            .create(
                &i.alice,
                "gateways",
                json!({"name": "g", "org": "alpha", "type": "generic", "agent": i.agent}),
            )
            .await;
        let items = [
            ("agents", i.agent.clone()),
            ("hosts", i.host.clone()),
            ("tasks", t["id"].as_str().unwrap().to_owned()),
            ("jobs", job["id"].as_str().unwrap().to_owned()),
            ("gateways", gw["id"].as_str().unwrap().to_owned()),
        ];
        for (kind, id) in &items {
            let path = format!("/api/v1/{kind}/{id}");
            // (who, read, rename): hidden is 404 for both; read-only is 403 on write.
            let gateway = *kind == "gateways";
            for (who, token, read, write) in [
                ("admin", &s.admin, StatusCode::OK, StatusCode::OK),
                ("member of alpha", &i.alice, StatusCode::OK, StatusCode::OK),
                (
                    "member of beta",
                    &i.bob,
                    StatusCode::NOT_FOUND,
                    StatusCode::NOT_FOUND,
                ),
                ("auditor", &i.auditor, StatusCode::OK, StatusCode::FORBIDDEN),
                (
                    "read key of alpha",
                    &i.read_a,
                    StatusCode::OK,
                    StatusCode::FORBIDDEN,
                ),
                // Keys never manage what holds a secret of its own (gateways).
                (
                    "rw key of alpha",
                    &i.rw_a,
                    StatusCode::OK,
                    if gateway {
                        StatusCode::FORBIDDEN
                    } else {
                        StatusCode::OK
                    },
                ),
                (
                    "rw key of beta",
                    &i.rw_b,
                    StatusCode::NOT_FOUND,
                    StatusCode::NOT_FOUND,
                ),
            ] {
                let (st, _) = s.get(token, &path).await;
                assert_eq!(st, read, "{backend:?} {who} reads {kind}");
                let (st, body) = s
                    .patch(token, &path, json!({"name": format!("renamed by {who}")}))
                    .await;
                assert_eq!(st, write, "{backend:?} {who} renames {kind}: {body}");
            }
            // Listing with the org filter: beta's member sees none of alpha's.
            assert!(
                s.list_all(&i.bob, &format!("/api/v1/{kind}"))
                    .await
                    .is_empty()
            );
            assert_eq!(
                s.list_all(&i.rw_a, &format!("/api/v1/{kind}?org=alpha"))
                    .await
                    .len(),
                1
            );
        }
    }
}
