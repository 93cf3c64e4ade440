//! An OpenAI-compatible chat endpoint (`POST …/chat/completions`, streamed),
//! configured by `--llm-url`, `--llm-model` and `--llm-api-key` (or their
//! `ORGSCOPE_LLM_*` variables). Only the passages retrieved in the session's
//! context are ever sent to it.

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use orgscope_store::KnowledgeHit;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

/// How long the model endpoint may take to accept a connection, and to
/// send the next piece of its answer (models pause while they think).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The model endpoint failed: unreachable or broken (502), or too slow (504).
#[derive(Debug)]
pub struct ModelError {
    pub timeout: bool,
    pub detail: String,
}

impl ModelError {
    fn from_http(url: &str, what: &str, e: &reqwest::Error) -> ModelError {
        ModelError {
            timeout: e.is_timeout(),
            detail: if e.is_timeout() {
                format!("the model endpoint {url} did not answer in time ({what})")
            } else {
                format!("the model endpoint {url} {what}: {e}")
            },
        }
    }

    fn bad(detail: String) -> ModelError {
        ModelError {
            timeout: false,
            detail,
        }
    }
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl From<ModelError> for String {
    fn from(e: ModelError) -> String {
        e.detail
    }
}

impl From<ModelError> for crate::error::ApiError {
    fn from(e: ModelError) -> Self {
        if e.timeout {
            crate::error::ApiError::GatewayTimeout(e.detail)
        } else {
            crate::error::ApiError::BadGateway(e.detail)
        }
    }
}

#[derive(Clone, Debug)]
pub struct Llm {
    http: reqwest::Client,
    /// The full `…/chat/completions` URL.
    url: String,
    model: String,
    /// Held as a secret: a `Debug` of the state must not show it.
    api_key: Option<SecretString>,
}

impl Llm {
    /// `base` is the API root (e.g. `http://127.0.0.1:11434/v1`) or the full
    /// chat-completions URL.
    pub fn new(base: &str, model: &str, api_key: Option<SecretString>) -> Llm {
        let base = base.trim_end_matches('/');
        let url = if base.ends_with("/chat/completions") {
            base.to_owned()
        } else {
            format!("{base}/chat/completions")
        };
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .unwrap_or_default();
        Llm {
            http,
            url,
            model: model.to_owned(),
            api_key: api_key.filter(|k| !k.expose_secret().is_empty()),
        }
    }

    /// The same endpoint with other timeouts (connecting, and between two
    /// pieces of the answer).
    #[must_use]
    pub fn with_timeouts(mut self, connect: std::time::Duration, read: std::time::Duration) -> Llm {
        self.http = reqwest::Client::builder()
            .connect_timeout(connect)
            .read_timeout(read)
            .build()
            .unwrap_or_default();
        self
    }

    /// Sends the conversation; answers once the endpoint has accepted it.
    pub async fn start(&self, messages: &Value) -> Result<Upstream, ModelError> {
        let mut req = self
            .http
            .post(&self.url)
            .json(&json!({"model": self.model, "messages": messages, "stream": true}));
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key.expose_secret());
        }
        let res = req
            .send()
            .await
            .map_err(|e| ModelError::from_http(&self.url, "is unreachable", &e))?;
        if !res.status().is_success() {
            return Err(ModelError::bad(format!(
                "the model endpoint {} answered {}",
                self.url,
                res.status()
            )));
        }
        let sse = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        Ok(Upstream {
            body: res.bytes_stream().boxed(),
            buffer: Vec::new(),
            sse,
            url: self.url.clone(),
            done: false,
        })
    }
}

/// The system prompt: the persona's instructions and the numbered passages.
pub fn prompt(instructions: &str, passages: &[KnowledgeHit], question: &str) -> Value {
    let mut system = String::new();
    if !instructions.trim().is_empty() {
        system.push_str(instructions.trim());
        system.push_str("\n\n");
    }
    system.push_str(
        "Answer from the passages below and cite them as [n]. If they do not answer the question, say so.\n",
    );
    for (i, p) in passages.iter().enumerate() {
        system.push_str(&format!("\n[{}] {}:\n{}\n", i + 1, p.file_name, p.text));
    }
    json!([
        {"role": "system", "content": system},
        {"role": "user", "content": question},
    ])
}

/// The endpoint's answer, read a piece at a time. Bytes are kept until a
/// whole line (an event) has arrived: a character split across two chunks
/// is decoded whole.
pub struct Upstream {
    body: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: Vec<u8>,
    sse: bool,
    url: String,
    done: bool,
}

impl Upstream {
    /// The next piece of text, or `None` at the end.
    pub async fn next_delta(&mut self) -> Result<Option<String>, ModelError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if !self.sse {
                // A plain JSON answer (the endpoint ignored `stream`).
                while let Some(chunk) = self.body.next().await {
                    let chunk = chunk.map_err(|e| self.failed(&e))?;
                    self.buffer.extend_from_slice(&chunk);
                }
                self.done = true;
                let v: Value = serde_json::from_slice(&self.buffer).map_err(|e| {
                    ModelError::bad(format!("the model endpoint {} sent no JSON: {e}", self.url))
                })?;
                return Ok(v["choices"][0]["message"]["content"]
                    .as_str()
                    .map(str::to_owned));
            }
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let bytes: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = String::from_utf8(bytes).map_err(|_| {
                    ModelError::bad(format!(
                        "the model endpoint {} sent an event that is not UTF-8",
                        self.url
                    ))
                })?;
                let Some(data) = line.trim().strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    self.done = true;
                    return Ok(None);
                }
                let v: Value = serde_json::from_str(data).map_err(|e| {
                    ModelError::bad(format!(
                        "the model endpoint {} sent a bad event: {e}",
                        self.url
                    ))
                })?;
                match v["choices"][0]["delta"]["content"].as_str() {
                    Some(delta) if !delta.is_empty() => return Ok(Some(delta.to_owned())),
                    _ => {}
                }
                continue;
            }
            match self.body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| self.failed(&e))?;
                    self.buffer.extend_from_slice(&chunk);
                }
                None => {
                    self.done = true;
                    return Ok(None);
                }
            }
        }
    }

    fn failed(&self, e: &reqwest::Error) -> ModelError {
        ModelError::from_http(&self.url, "broke off", e)
    }
}

/// The whole answer.
pub async fn collect(mut up: Upstream) -> Result<String, ModelError> {
    let mut answer = String::new();
    while let Some(delta) = up.next_delta().await? {
        answer.push_str(&delta);
    }
    Ok(answer)
}
