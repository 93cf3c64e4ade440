//! Ticket gateways as their sources call them: GitHub's and PagerDuty's
//! signatures (their published examples, valid and tampered), a real
//! Prometheus Alertmanager delivering alerts, duplicates, and rotation with
//! a grace period.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::agents::{Infra, infra};
use crate::harness::{TestServer, backends};

/// GitHub's example in "Validating webhook deliveries".
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_BODY: &str = "Hello, World!";
const GITHUB_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

/// PagerDuty's example, from the verification tests of its Go client
/// (github.com/PagerDuty/go-pagerduty, webhookv3).
const PAGERDUTY_SECRET: &str = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK";
const PAGERDUTY_SIGNATURE: &str =
    "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd";
const PAGERDUTY_BODY: &str = include_str!("../fixtures/pagerduty_priority_updated.json");

/// HMAC-SHA256 of `body` with `key`, hex, as `openssl` computes it: the
/// test signs with a tool of its own, not with the server's code.
fn openssl_hmac(key: &str, body: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", key, "-r"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

async fn gateway(i: &Infra, source: &str, extra: Value) -> (String, String) {
    let mut body =
        json!({"name": source, "org": "alpha", "type": source, "agent": i.agent, "host": i.host});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let gw = i.s.create(&i.alice, "gateways", body).await;
    (
        gw["id"].as_str().unwrap().to_owned(),
        gw["token"].as_str().unwrap().to_owned(),
    )
}

async fn deliver(
    s: &TestServer,
    id: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, Value) {
    let mut req = s
        .http
        .post(format!("{}/hooks/gateways/{id}", s.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn tasks_named(i: &Infra, part: &str) -> Vec<Value> {
    i.s.list_all(&i.alice, "/api/v1/tasks")
        .await
        .into_iter()
        .filter(|t| t["name"].as_str().unwrap_or_default().contains(part))
        .collect()
}

#[tokio::test]
async fn github_deliveries_are_checked_by_their_signature() {
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        let (id, _) = gateway(&i, "github", json!({"default_command": "deploy --check"})).await;
        // The secret GitHub is given: here, the one of its documented example.
        let (st, out) = s
            .post(
                &i.alice,
                &format!("/api/v1/gateways/{id}/rotate"),
                json!({"secret": GITHUB_SECRET}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{out}");
        // The documented signature is admitted (then its body, not JSON, is
        // refused); one bit off, or none, is a 401 like an unknown gateway.
        let sig = [
            ("x-hub-signature-256", GITHUB_SIGNATURE),
            ("x-github-event", "ping"),
        ];
        let (st, why) = deliver(s, &id, &sig, GITHUB_BODY).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{backend:?}: {why}");
        let (st, _) = deliver(s, &id, &sig, "Hello, World?").await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{backend:?}: tampered body");
        let tampered = GITHUB_SIGNATURE.replace("e17", "e18");
        let (st, _) = deliver(s, &id, &[("x-hub-signature-256", &tampered)], GITHUB_BODY).await;
        assert_eq!(
            st,
            StatusCode::UNAUTHORIZED,
            "{backend:?}: tampered signature"
        );
        assert_eq!(
            deliver(s, &id, &[], GITHUB_BODY).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            deliver(s, "gw_nonesuch", &sig, GITHUB_BODY).await.0,
            StatusCode::UNAUTHORIZED
        );

        // An issue opened: one task, titled by the issue, with the default
        // command; the same delivery again makes none.
        let issue = json!({"action": "opened", "issue": {"number": 7, "title": "checkout is down"},
            "repository": {"full_name": "acme/shop"}})
        .to_string();
        let signature = format!("sha256={}", openssl_hmac(GITHUB_SECRET, &issue));
        let headers = [
            ("x-hub-signature-256", signature.as_str()),
            ("x-github-event", "issues"),
            ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ];
        let (st, made) = deliver(s, &id, &headers, &issue).await;
        assert_eq!(st, StatusCode::CREATED, "{backend:?}: {made}");
        let task = made["task"].as_str().unwrap().to_owned();
        let (_, t) = s.get(&i.alice, &format!("/api/v1/tasks/{task}")).await;
        assert_eq!(
            (
                t["name"].as_str(),
                t["command"].as_str(),
                t["host"].as_str()
            ),
            (
                Some("acme/shop#7: checkout is down"),
                Some("deploy --check"),
                Some(i.host.as_str())
            ),
            "{t}"
        );
        let (st, again) = deliver(s, &id, &headers, &issue).await;
        assert_eq!(
            (st, &again["duplicates"]),
            (StatusCode::OK, &json!([task])),
            "{again}"
        );
        let (st, ping) = deliver(
            s,
            &id,
            &[
                (
                    "x-hub-signature-256",
                    &format!("sha256={}", openssl_hmac(GITHUB_SECRET, "{}")),
                ),
                ("x-github-event", "ping"),
            ],
            "{}",
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert!(ping["ignored"].as_str().unwrap().contains("ping"), "{ping}");
        assert_eq!(tasks_named(&i, "acme/shop").await.len(), 1);
    }
}

#[tokio::test]
async fn pagerduty_deliveries_are_checked_by_any_of_their_signatures() {
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        let (id, _) = gateway(
            &i,
            "pagerduty",
            json!({"default_command": "collect-diagnostics"}),
        )
        .await;
        // PagerDuty makes the secret when a subscription is made: it is given.
        let (st, _) = s
            .post(
                &i.alice,
                &format!("/api/v1/gateways/{id}/rotate"),
                json!({"secret": PAGERDUTY_SECRET}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let body = PAGERDUTY_BODY.trim_end();
        let (st, out) = deliver(
            s,
            &id,
            &[("x-pagerduty-signature", PAGERDUTY_SIGNATURE)],
            body,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{backend:?}: {out}");
        assert!(
            out["ignored"]
                .as_str()
                .unwrap()
                .contains("incident.priority_updated"),
            "{out}"
        );
        // While PagerDuty rotates, it sends several: one valid one admits.
        let several = format!(
            "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5,{PAGERDUTY_SIGNATURE}"
        );
        assert_eq!(
            deliver(s, &id, &[("x-pagerduty-signature", &several)], body)
                .await
                .0,
            StatusCode::OK
        );
        let mismatch = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5";
        assert_eq!(
            deliver(s, &id, &[("x-pagerduty-signature", mismatch)], body)
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
        let tampered = body.replace("A little bump", "A big bump");
        assert_eq!(
            deliver(
                s,
                &id,
                &[("x-pagerduty-signature", PAGERDUTY_SIGNATURE)],
                &tampered
            )
            .await
            .0,
            StatusCode::UNAUTHORIZED
        );
        // An incident triggered: a task.
        let triggered = body.replace("incident.priority_updated", "incident.triggered");
        let signature = format!("v1={}", openssl_hmac(PAGERDUTY_SECRET, &triggered));
        let (st, made) =
            deliver(s, &id, &[("x-pagerduty-signature", &signature)], &triggered).await;
        assert_eq!(st, StatusCode::CREATED, "{backend:?}: {made}");
        let found = tasks_named(&i, "PagerDuty #2: A little bump in the road").await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["command"], "collect-diagnostics");
    }
}

#[tokio::test]
async fn a_rotated_secret_keeps_working_for_its_grace_period_only() {
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        let (id, first) = gateway(&i, "generic", json!({})).await;
        let ticket = json!({"title": "t", "command": "uptime"}).to_string();
        let bearer = |t: &str| format!("Bearer {t}");
        let rotate = format!("/api/v1/gateways/{id}/rotate");
        // Only people who may change the gateway rotate it.
        assert_eq!(
            s.post(&i.bob, &rotate, json!({})).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            s.post(&i.rw_a, &rotate, json!({})).await.0,
            StatusCode::FORBIDDEN
        );
        let (st, bad) = s
            .post(&i.alice, &rotate, json!({"grace_seconds": -1}))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let (st, bad) = s.post(&i.alice, &rotate, json!({"secret": "short"})).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let (_, out) = s.post(&i.alice, &rotate, json!({"grace_seconds": 2})).await;
        let second = out["token"].as_str().unwrap().to_owned();
        assert!(second.starts_with("osg_") && second != first);
        for t in [&first, &second] {
            let (st, made) = deliver(s, &id, &[("authorization", &bearer(t))], &ticket).await;
            assert_eq!(st, StatusCode::CREATED, "{backend:?}: {made}");
        }
        tokio::time::sleep(Duration::from_millis(2200)).await;
        assert_eq!(
            deliver(s, &id, &[("authorization", &bearer(&first))], &ticket)
                .await
                .0,
            StatusCode::UNAUTHORIZED,
            "{backend:?}: the grace has ended"
        );
        // No grace: the replaced secret stops at once.
        let (_, out) = s.post(&i.alice, &rotate, json!({})).await;
        let third = out["token"].as_str().unwrap().to_owned();
        assert_eq!(
            deliver(s, &id, &[("authorization", &bearer(&second))], &ticket)
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            deliver(s, &id, &[("x-gateway-secret", &third)], &ticket)
                .await
                .0,
            StatusCode::CREATED
        );
        let (_, log) = s.get(&s.admin, "/api/v1/audit?action=gateway.rotate").await;
        assert_eq!(log["items"].as_array().unwrap().len(), 2);
        // A gateway made before secrets were kept encrypted holds the hash:
        // its token still works as a bearer, and only as itself.
        let legacy = "osg_madeBeforeTheUpgrade0000000000000000000000";
        let mut tx = s.store.write().await.unwrap();
        let row = tx.resource_for_hook(&id).await.unwrap();
        let hash = orgscope_app::secrets::hash_secret(legacy);
        tx.resource_update(
            &id,
            &row.name,
            row.org_id.as_deref(),
            &row.fields,
            Some(&hash),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            deliver(s, &id, &[("authorization", &bearer(legacy))], &ticket)
                .await
                .0,
            StatusCode::CREATED
        );
        assert_eq!(
            deliver(s, &id, &[("authorization", &bearer(&third))], &ticket)
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
    }
}

/// A running Prometheus Alertmanager, stopped when dropped.
struct Alertmanager {
    child: Child,
    url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Alertmanager {
    /// Debian's `prometheus-alertmanager` with this config; `None` where it
    /// is not installed (CI installs it, so there a missing one fails).
    async fn start(dir: &std::path::Path, config: &str) -> Option<Alertmanager> {
        let binary = "/usr/bin/prometheus-alertmanager";
        if !std::path::Path::new(binary).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI installs prometheus-alertmanager: it must be found"
            );
            eprintln!("prometheus-alertmanager is not installed: the test is skipped");
            return None;
        }
        std::fs::create_dir_all(dir.join("am")).unwrap();
        std::fs::write(dir.join("alertmanager.yml"), config).unwrap();
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", dir.join("am").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("alertmanager.log")).unwrap())
            .spawn()
            .unwrap();
        let am = Alertmanager {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http
                .get(format!("{}/-/ready", am.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Some(am);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "alertmanager did not start: {}",
            std::fs::read_to_string(dir.join("alertmanager.log")).unwrap_or_default()
        );
    }

    async fn fire(&self, labels: Value, annotations: Value) {
        let res = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.url))
            .json(&json!([{"labels": labels, "annotations": annotations}]))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    }

    /// How many webhook notifications it sent, and how many failed.
    async fn notifications(&self) -> (u64, u64) {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let count = |name: &str| {
            text.lines()
                .filter(|l| l.starts_with(name) && l.contains("integration=\"webhook\""))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>() as u64
        };
        (
            count("alertmanager_notifications_total"),
            count("alertmanager_notifications_failed_total"),
        )
    }
}

#[tokio::test]
async fn a_real_alertmanager_turns_firing_alerts_into_tasks_in_the_gateways_org() {
    for backend in backends() {
        let i = infra(TestServer::start(backend).await).await;
        let s = &i.s;
        let (id, secret) = gateway(&i, "alertmanager", json!({"default_command": "triage"})).await;
        let hook = format!("{}/hooks/gateways/{id}", s.base);
        // Two receivers: the gateway's secret, and a wrong one.
        let config = format!(
            "route:
  receiver: orgscope
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['team=\"mallory\"']
      receiver: wrong-secret
receivers:
  - name: orgscope
    webhook_configs:
      - url: {hook}
        send_resolved: false
        http_config:
          authorization:
            credentials: {secret}
  - name: wrong-secret
    webhook_configs:
      - url: {hook}
        send_resolved: false
        http_config:
          authorization:
            credentials: osg_not_the_secret
"
        );
        let Some(am) = Alertmanager::start(&s.dir, &config).await else {
            return;
        };
        am.fire(
            json!({"alertname": "DiskFull", "host": "web-1", "severity": "page"}),
            json!({"summary": "/ is 95% full", "command": "df -h /"}),
        )
        .await;
        // No command in the alert: the gateway's default.
        am.fire(
            json!({"alertname": "Latency", "severity": "page"}),
            json!({"summary": "p99 over 2s"}),
        )
        .await;
        // A command a blacklist in force refuses: no task.
        am.fire(
            json!({"alertname": "Stuck", "severity": "page"}),
            json!({"command": "reboot now"}),
        )
        .await;
        am.fire(
            json!({"alertname": "Forged", "team": "mallory"}),
            json!({"command": "uptime"}),
        )
        .await;
        let mut tasks = Vec::new();
        for _ in 0..150 {
            tasks = i.s.list_all(&i.alice, "/api/v1/tasks").await;
            let (sent, failed) = am.notifications().await;
            if tasks.len() >= 2 && sent >= 4 && failed >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut made: Vec<(String, String)> = tasks
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_owned(),
                    t["command"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        made.sort();
        assert_eq!(
            made,
            [
                ("DiskFull: / is 95% full".to_owned(), "df -h /".to_owned()),
                ("Latency: p99 over 2s".to_owned(), "triage".to_owned()),
            ],
            "{backend:?}: {}",
            std::fs::read_to_string(s.dir.join("alertmanager.log")).unwrap_or_default()
        );
        for t in &tasks {
            assert_eq!(
                (t["org"]["slug"].as_str(), t["host"].as_str()),
                (Some("alpha"), Some(i.host.as_str()))
            );
        }
        let (_, failed) = am.notifications().await;
        assert!(failed >= 1, "the wrong secret's deliveries were refused");
        // Alertmanager sends a group again when it changes: the alerts
        // already made into tasks are not made again.
        am.fire(
            json!({"alertname": "DiskFull", "host": "web-1", "severity": "page", "mount": "/var"}),
            json!({"summary": "/var is full", "command": "df -h /var"}),
        )
        .await;
        for _ in 0..100 {
            if tasks_named(&i, "/var is full").await.len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(tasks_named(&i, "DiskFull").await.len(), 2, "{backend:?}");
        assert_eq!(i.s.list_all(&i.alice, "/api/v1/tasks").await.len(), 3);
    }
}
