//! Listings that narrow: `q` on every kind, tasks by status and agent, jobs
//! by `enabled`, files by content type and extraction state. A filter only
//! ever narrows what the caller may see; what a listing does not take is a
//! 400 naming it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::agents::infra;
use crate::files::{extracted, upload};
use crate::harness::{TestServer, backends, enc};

fn names(items: &[Value]) -> Vec<String> {
    let mut n: Vec<String> = items
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn listings_narrow_by_name_and_by_what_each_kind_has() {
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        for name in ["Web-2", "db-1", "50%_off", "web_3"] {
            s.create(
                &i.alice,
                "hosts",
                json!({"name": name, "org": "alpha", "address": "10.0.0.9"}),
            )
            .await;
        }
        s.create(
            &i.bob,
            "hosts",
            json!({"name": "web-beta", "org": "beta", "address": "10.1.0.9"}),
        )
        .await;
        let hosts = |q: &str| format!("/api/v1/hosts?q={}", enc(q));
        // Case ignored; another org's match stays hidden; % and _ are
        // characters, not wildcards.
        assert_eq!(
            names(&s.list_all(&i.alice, &hosts("WEB")).await),
            ["Web-2", "web-1", "web_3"],
            "{backend:?}"
        );
        assert_eq!(
            names(&s.list_all(&i.bob, &hosts("web")).await),
            ["web-beta"]
        );
        assert_eq!(names(&s.list_all(&i.alice, &hosts("%")).await), ["50%_off"]);
        assert_eq!(names(&s.list_all(&i.alice, &hosts("b_")).await), ["web_3"]);
        assert_eq!(
            names(
                &s.list_all(&s.admin, &format!("{}&org=alpha", hosts("web")))
                    .await
            ),
            ["Web-2", "web-1", "web_3"]
        );
        // Pages follow the filter.
        let (_, first) = s.get(&i.alice, &format!("{}&limit=2", hosts("web"))).await;
        let cursor = first["next_cursor"].as_str().unwrap();
        let (_, rest) = s
            .get(
                &i.alice,
                &format!("{}&limit=2&cursor={cursor}", hosts("web")),
            )
            .await;
        assert_eq!(
            first["items"].as_array().unwrap().len() + rest["items"].as_array().unwrap().len(),
            3
        );

        // Tasks by status and agent.
        let other_agent = s
            .create(
                &i.alice,
                "agents",
                json!({"name": "second", "org": "alpha"}),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for (name, agent) in [
            ("one", &i.agent),
            ("two", &i.agent),
            ("three", &other_agent),
        ] {
            s.create(&i.alice, "tasks", json!({"name": name, "org": "alpha", "agent": agent, "host": i.host, "command": "uptime"}))
                .await;
        }
        s.post(&i.rw_a, "/api/v1/tasks/claim", json!({"agent": i.agent}))
            .await;
        let tasks = |q: &str| format!("/api/v1/tasks?{q}");
        assert_eq!(
            names(&s.list_all(&i.alice, &tasks("status=running")).await),
            ["one"]
        );
        assert_eq!(
            names(
                &s.list_all(
                    &i.alice,
                    &tasks(&format!("status=queued&agent={}", i.agent))
                )
                .await
            ),
            ["two"]
        );
        assert_eq!(
            names(
                &s.list_all(&i.alice, &tasks(&format!("agent={other_agent}")))
                    .await
            ),
            ["three"]
        );
        assert!(s.list_all(&i.bob, &tasks("status=queued")).await.is_empty());
        // Jobs by enabled (absent means enabled).
        for (name, enabled) in [("on", None), ("off", Some(false))] {
            let mut job = json!({"name": name, "org": "alpha", "agent": i.agent, "host": i.host, "command": "uptime", "schedule": "0 * * * *"});
            if let Some(e) = enabled {
                job["enabled"] = json!(e);
            }
            s.create(&i.alice, "jobs", job).await;
        }
        assert_eq!(
            names(&s.list_all(&i.alice, "/api/v1/jobs?enabled=true").await),
            ["on"]
        );
        assert_eq!(
            names(&s.list_all(&i.alice, "/api/v1/jobs?enabled=false").await),
            ["off"]
        );
        assert_eq!(
            names(
                &s.list_all(&i.alice, "/api/v1/gateways?agent=agt_nonesuch")
                    .await
            ),
            Vec::<String>::new()
        );

        // Files by name, content type and extraction state.
        let (_, md) = upload(
            s,
            &i.alice,
            "Runbook.md",
            Some("alpha"),
            "# restart\nkubectl rollout restart",
        )
        .await;
        let (_, bin) = upload(s, &i.alice, "blob.bin", Some("alpha"), "\u{1}\u{2}binary").await;
        extracted(s, md["id"].as_str().unwrap()).await;
        let bin = extracted(s, bin["id"].as_str().unwrap()).await;
        let ct = md["content_type"].as_str().unwrap().to_owned();
        assert_eq!(
            names(
                &s.list_all(
                    &i.alice,
                    &format!("/api/v1/files?content_type={}", enc(&ct))
                )
                .await
            ),
            ["Runbook.md"]
        );
        assert_eq!(
            names(&s.list_all(&i.alice, "/api/v1/files?q=RUNBOOK").await),
            ["Runbook.md"]
        );
        assert_eq!(
            names(&s.list_all(&i.alice, "/api/v1/files?extraction=done").await),
            ["Runbook.md"]
        );
        let state = bin["extraction"]["state"].as_str().unwrap();
        assert_ne!(state, "done", "{bin}");
        assert_eq!(
            names(
                &s.list_all(&i.alice, &format!("/api/v1/files?extraction={state}"))
                    .await
            ),
            ["blob.bin"]
        );
        assert!(
            s.list_all(&i.bob, "/api/v1/files?q=runbook")
                .await
                .is_empty()
        );

        // What a listing does not take is a 400 naming it.
        for (path, named) in [
            ("/api/v1/hosts?colour=red", "colour"),
            ("/api/v1/hosts?status=queued", "status"),
            ("/api/v1/hosts?enabled=true", "enabled"),
            ("/api/v1/hosts?agent=x", "agent"),
            ("/api/v1/tasks?status=lost", "status"),
            ("/api/v1/files?extraction=maybe", "extraction"),
            ("/api/v1/files?colour=red", "colour"),
            ("/api/v1/orgs?q=x", "q"),
            ("/api/v1/audit?colour=red", "colour"),
            // Routes that take no query parameters say so too.
            ("/api/v1/me?verbose=1", "verbose"),
            (&format!("/api/v1/agents/{}?expand=all", i.agent), "expand"),
        ] {
            let (st, problem) = s.get(&s.admin, path).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{backend:?} {path}: {problem}");
            assert!(
                problem["detail"].as_str().unwrap().contains(named),
                "{path}: {problem}"
            );
        }
    }
}
