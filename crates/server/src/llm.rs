//! An OpenAI-compatible chat endpoint (`POST …/chat/completions`, streamed),
//! configured by `ORGSCOPE_LLM_URL`, `ORGSCOPE_LLM_MODEL` and
//! `ORGSCOPE_LLM_API_KEY`. Only the passages retrieved in the session's
//! context are ever sent to it.

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use orgscope_store::KnowledgeHit;
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub struct Llm {
    http: reqwest::Client,
    /// The full `…/chat/completions` URL.
    url: String,
    model: String,
    api_key: Option<String>,
}

impl Llm {
    /// `base` is the API root (e.g. `http://127.0.0.1:11434/v1`) or the full
    /// chat-completions URL.
    pub fn new(base: &str, model: &str, api_key: Option<String>) -> Llm {
        let base = base.trim_end_matches('/');
        let url = if base.ends_with("/chat/completions") {
            base.to_owned()
        } else {
            format!("{base}/chat/completions")
        };
        Llm {
            http: reqwest::Client::new(),
            url,
            model: model.to_owned(),
            api_key: api_key.filter(|k| !k.is_empty()),
        }
    }

    pub fn from_env() -> Option<Llm> {
        let url = std::env::var("ORGSCOPE_LLM_URL")
            .ok()
            .filter(|u| !u.is_empty())?;
        let model = std::env::var("ORGSCOPE_LLM_MODEL").unwrap_or_else(|_| "default".into());
        Some(Llm::new(
            &url,
            &model,
            std::env::var("ORGSCOPE_LLM_API_KEY").ok(),
        ))
    }

    /// Sends the conversation; answers once the endpoint has accepted it.
    pub async fn start(&self, messages: &Value) -> Result<Upstream, String> {
        let mut req = self
            .http
            .post(&self.url)
            .json(&json!({"model": self.model, "messages": messages, "stream": true}));
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        let res = req
            .send()
            .await
            .map_err(|e| format!("the model endpoint {} is unreachable: {e}", self.url))?;
        if !res.status().is_success() {
            return Err(format!(
                "the model endpoint {} answered {}",
                self.url,
                res.status()
            ));
        }
        let sse = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        Ok(Upstream {
            body: res.bytes_stream().boxed(),
            buffer: String::new(),
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

/// The endpoint's answer, read a piece at a time.
pub struct Upstream {
    body: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    sse: bool,
    url: String,
    done: bool,
}

impl Upstream {
    /// The next piece of text, or `None` at the end.
    pub async fn next_delta(&mut self) -> Result<Option<String>, String> {
        loop {
            if self.done {
                return Ok(None);
            }
            if !self.sse {
                // A plain JSON answer (the endpoint ignored `stream`).
                while let Some(chunk) = self.body.next().await {
                    let chunk = chunk.map_err(|e| self.failed(e))?;
                    self.buffer.push_str(&String::from_utf8_lossy(&chunk));
                }
                self.done = true;
                let v: Value = serde_json::from_str(&self.buffer)
                    .map_err(|e| format!("the model endpoint {} sent no JSON: {e}", self.url))?;
                return Ok(v["choices"][0]["message"]["content"]
                    .as_str()
                    .map(str::to_owned));
            }
            if let Some(end) = self.buffer.find('\n') {
                let line: String = self.buffer.drain(..=end).collect();
                let Some(data) = line.trim().strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    self.done = true;
                    return Ok(None);
                }
                let v: Value = serde_json::from_str(data).map_err(|e| {
                    format!("the model endpoint {} sent a bad event: {e}", self.url)
                })?;
                match v["choices"][0]["delta"]["content"].as_str() {
                    Some(delta) if !delta.is_empty() => return Ok(Some(delta.to_owned())),
                    _ => {}
                }
                continue;
            }
            match self.body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| self.failed(e))?;
                    self.buffer.push_str(&String::from_utf8_lossy(&chunk));
                }
                None => {
                    self.done = true;
                    return Ok(None);
                }
            }
        }
    }

    fn failed(&self, e: reqwest::Error) -> String {
        format!("the model endpoint {} broke off: {e}", self.url)
    }
}

/// The whole answer.
pub async fn collect(mut up: Upstream) -> Result<String, String> {
    let mut answer = String::new();
    while let Some(delta) = up.next_delta().await? {
        answer.push_str(&delta);
    }
    Ok(answer)
}
