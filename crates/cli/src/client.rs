//! Sends one API request to a running server or to the router in-process.

use std::io::Write;

use anyhow::{Context, Result, bail};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::args::Args;

pub enum Client {
    Remote {
        http: reqwest::Client,
        base: String,
        token: String,
        tenant: Option<String>,
    },
    Local {
        router: axum::Router,
        tenant: Option<String>,
        store: orgscope_store::Store,
        /// The data dir or database, as said when nothing is found.
        place: String,
    },
}

fn problem(status: u16, body: &[u8]) -> anyhow::Error {
    let detail = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            let mut d = v["detail"].as_str()?.to_owned();
            if !v["blocking"].is_null() {
                d.push_str(&format!("\nblocking: {}", v["blocking"]));
            }
            Some(d)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    anyhow::anyhow!("{status}: {detail}")
}

impl Client {
    pub async fn new(args: &Args) -> Result<Client> {
        match &args.url {
            Some(url) => {
                let Some(token) = &args.token else {
                    bail!(
                        "--url needs ORGSCOPE_TOKEN: a session token from POST /api/v1/auth/login or a personal token"
                    );
                };
                let token = secrecy::ExposeSecret::expose_secret(token).to_owned();
                Ok(Client::Remote {
                    http: reqwest::Client::new(),
                    base: url.trim_end_matches('/').to_owned(),
                    token,
                    tenant: args.tenant.clone(),
                })
            }
            None if !args.local_chosen
                && args.token.is_none()
                && crate::login::saved()?.is_some() =>
            {
                let saved = crate::login::saved()?.expect("just read");
                Ok(Client::Remote {
                    http: reqwest::Client::new(),
                    base: saved.url,
                    token: saved.token,
                    tenant: args.tenant.clone().or(saved.tenant),
                })
            }
            None => {
                let state = crate::open(args, false).await?;
                let store = state.store.clone();
                let place = match &args.database_url {
                    Some(url) => format!("database {}", url.split('@').next_back().unwrap_or(url)),
                    None => format!("data dir {}", args.data_dir.display()),
                };
                let tenant = match &args.tenant {
                    Some(t) => Some(t.clone()),
                    None => only_tenant(&store, &place).await?,
                };
                Ok(Client::Local {
                    router: orgscope_server::router(state),
                    tenant,
                    store,
                    place,
                })
            }
        }
    }

    /// The raw answer: status and body stream, as bytes chunks.
    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Response)> {
        let (status, _, res) = self.request_accepting(method, path, body, None).await?;
        Ok((status, res))
    }

    /// [`Client::request`] with an `Accept` header; also answers the
    /// response's content type.
    async fn request_accepting(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        accept: Option<&str>,
    ) -> Result<(u16, String, Response)> {
        let content_type = |h: &axum::http::HeaderMap| {
            h.get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        match self {
            Client::Remote {
                http,
                base,
                token,
                tenant,
            } => {
                let method = reqwest::Method::from_bytes(method.as_bytes())?;
                let mut req = http
                    .request(method, format!("{base}{path}"))
                    .bearer_auth(token);
                if let Some(t) = tenant {
                    req = req.header(orgscope_server::auth::TENANT_HEADER, t);
                }
                if let Some(a) = accept {
                    req = req.header("accept", a);
                }
                if let Some(b) = body {
                    req = req.json(&b);
                }
                let res = req
                    .send()
                    .await
                    .with_context(|| format!("cannot reach {base}: is the server running?"))?;
                let kind = content_type(res.headers());
                Ok((res.status().as_u16(), kind, Response::Remote(res)))
            }
            Client::Local { router, tenant, .. } => {
                let mut req = Request::builder().method(method).uri(path);
                if let Some(t) = tenant {
                    req = req.header(orgscope_server::auth::TENANT_HEADER, t);
                }
                if let Some(a) = accept {
                    req = req.header("accept", a);
                }
                let body = match body {
                    Some(b) => {
                        req = req.header("content-type", "application/json");
                        Body::from(b.to_string())
                    }
                    None => Body::empty(),
                };
                let mut req = req.body(body)?;
                req.extensions_mut()
                    .insert(orgscope_server::auth::LocalOperator);
                let res = router.clone().oneshot(req).await?;
                let kind = content_type(res.headers());
                Ok((
                    res.status().as_u16(),
                    kind,
                    Response::Local(res.into_body()),
                ))
            }
        }
    }

    /// POSTs `body` asking for server-sent events: each `delta` goes to
    /// `on_delta` as it comes; answers the final `message` (or the JSON
    /// answer of a server that does not stream).
    pub async fn post_streamed(
        &self,
        path: &str,
        body: Value,
        mut on_delta: impl FnMut(&str),
    ) -> Result<Value> {
        let (status, kind, res) = self
            .request_accepting(
                "POST",
                path,
                Some(body),
                Some("text/event-stream, application/json"),
            )
            .await?;
        if status >= 400 || !kind.starts_with("text/event-stream") {
            let bytes = res.bytes().await?;
            if status >= 400 {
                return Err(problem(status, &bytes));
            }
            return Ok(serde_json::from_slice(&bytes)?);
        }
        let mut pending = String::new();
        let mut last = None;
        let mut take = |chunk: &[u8], pending: &mut String| -> Result<()> {
            pending.push_str(&String::from_utf8_lossy(chunk));
            while let Some(end) = pending.find("\n\n") {
                let block: String = pending.drain(..end + 2).collect();
                let mut event = "message";
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event:") {
                        event = if e.trim() == "delta" {
                            "delta"
                        } else if e.trim() == "error" {
                            "error"
                        } else {
                            "message"
                        };
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push(d.strip_prefix(' ').unwrap_or(d).to_owned());
                    }
                }
                let data = data.join("\n");
                match event {
                    "delta" => on_delta(&data),
                    "error" => bail!("the answer stopped: {data}"),
                    _ => last = Some(serde_json::from_str(&data)?),
                }
            }
            Ok(())
        };
        match res {
            Response::Remote(mut r) => {
                while let Some(chunk) = r.chunk().await? {
                    take(&chunk, &mut pending)?;
                }
            }
            Response::Local(mut b) => {
                while let Some(frame) = b.frame().await {
                    if let Ok(data) = frame?.into_data() {
                        take(&data, &mut pending)?;
                    }
                }
            }
        }
        last.context("the stream ended before the answer was saved")
    }

    /// POSTs a streamed body of `size` bytes; returns the JSON answer.
    pub async fn send_stream<S>(&self, path: &str, stream: S, size: u64) -> Result<Value>
    where
        S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + Sync + 'static,
    {
        let (status, res) = match self {
            Client::Remote {
                http,
                base,
                token,
                tenant,
            } => {
                let mut req = http
                    .post(format!("{base}{path}"))
                    .bearer_auth(token)
                    .header("content-length", size)
                    .body(reqwest::Body::wrap_stream(stream));
                if let Some(t) = tenant {
                    req = req.header(orgscope_server::auth::TENANT_HEADER, t);
                }
                let res = req
                    .send()
                    .await
                    .with_context(|| format!("cannot reach {base}: is the server running?"))?;
                (res.status().as_u16(), Response::Remote(res))
            }
            Client::Local { router, tenant, .. } => {
                let mut req = Request::builder()
                    .method("POST")
                    .uri(path)
                    .header("content-length", size);
                if let Some(t) = tenant {
                    req = req.header(orgscope_server::auth::TENANT_HEADER, t);
                }
                let mut req = req.body(Body::from_stream(stream))?;
                req.extensions_mut()
                    .insert(orgscope_server::auth::LocalOperator);
                let res = router.clone().oneshot(req).await?;
                (res.status().as_u16(), Response::Local(res.into_body()))
            }
        };
        let bytes = res.bytes().await?;
        if status >= 400 {
            return Err(problem(status, &bytes));
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Sends a request and returns its JSON answer (null for 204).
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let (status, res) = self.request(method, path, body).await?;
        let bytes = res.bytes().await?;
        if status >= 400 {
            return Err(problem(status, &bytes));
        }
        if status == StatusCode::NO_CONTENT.as_u16() || bytes.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.send("GET", path, None).await
    }

    /// Every page of a listing's items.
    pub async fn list_all(&self, path: &str) -> Result<Vec<Value>> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut cursor: Option<String> = None;
        let mut items = Vec::new();
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit=200&cursor={c}"),
                None => format!("{path}{sep}limit=200"),
            };
            let page = self.get(&url).await?;
            items.extend(page["items"].as_array().into_iter().flatten().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(items),
            }
        }
    }

    /// What was asked, where and as whom: said when nothing was found.
    pub fn searched(&self, path: &str) -> String {
        let (place, tenant) = match self {
            Client::Remote { base, tenant, .. } => (base.clone(), tenant),
            Client::Local { place, tenant, .. } => (place.clone(), tenant),
        };
        let tenant = tenant
            .as_deref()
            .map(|t| format!(", tenant {t}"))
            .unwrap_or_default();
        format!("GET {path} ({place}{tenant})")
    }

    /// Copies a streamed answer to `out`; returns the number of lines.
    pub async fn stream(&self, path: &str, out: &mut (dyn Write + Send)) -> Result<u64> {
        let (status, res) = self.request("GET", path, None).await?;
        if status >= 400 {
            return Err(problem(status, &res.bytes().await?));
        }
        let mut lines = 0;
        let mut count = |chunk: &[u8], out: &mut (dyn Write + Send)| -> Result<()> {
            lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            out.write_all(chunk)?;
            Ok(())
        };
        match res {
            Response::Remote(mut res) => {
                while let Some(chunk) = res.chunk().await? {
                    count(&chunk, out)?;
                }
            }
            Response::Local(mut body) => {
                while let Some(frame) = body.frame().await {
                    if let Ok(data) = frame?.into_data() {
                        count(&data, out)?;
                    }
                }
            }
        }
        Ok(lines)
    }

    pub async fn close(self) {
        if let Client::Local { store, .. } = self {
            store.close().await;
        }
    }
}

/// The one tenant of a local database, which local commands act in; with
/// several, the operator names one (`--tenant`): a command that searched
/// none of them would answer nothing and look like success.
async fn only_tenant(store: &orgscope_store::Store, place: &str) -> Result<Option<String>> {
    let mut tx = store.read().await?;
    let tenants: Vec<String> = tx
        .tenants(&orgscope_store::Page {
            limit: 3,
            after: None,
        })
        .await?
        .into_iter()
        .map(|t| t.slug)
        .collect();
    drop(tx);
    match tenants.as_slice() {
        [] | [_] => Ok(None),
        many => bail!(
            "the {place} holds several tenants ({}{}): give --tenant SLUG (or ORGSCOPE_TENANT)",
            many.iter().take(2).cloned().collect::<Vec<_>>().join(", "),
            if many.len() > 2 { ", ..." } else { "" }
        ),
    }
}

pub enum Response {
    Remote(reqwest::Response),
    Local(Body),
}

impl Response {
    async fn bytes(self) -> Result<Vec<u8>> {
        Ok(match self {
            Response::Remote(r) => r.bytes().await?.to_vec(),
            Response::Local(b) => b.collect().await?.to_bytes().to_vec(),
        })
    }
}
