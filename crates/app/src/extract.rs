//! Text extraction, off the request path: a file's text is read from its blob,
//! split into knowledge entries and indexed. One replica extracts each file
//! (a conditional update claims it); a failure is recorded on the file, which
//! stays downloadable.

use object_store::ObjectStoreExt;
use object_store::path::Path as BlobPath;

use orgscope_store::Store;

use crate::blobs::Blobs;

/// Files larger than this are stored but not extracted.
pub const MAX_EXTRACT_BYTES: i64 = 64 * 1024 * 1024;
/// Entries are about this many characters, cut at paragraph or sentence ends.
const CHUNK_CHARS: usize = 1200;
/// An extraction claimed this long ago without finishing is taken over.
const STALE_MINUTES: i64 = 10;

fn stale_before() -> String {
    orgscope_core::format_time(
        time::OffsetDateTime::now_utc() - time::Duration::minutes(STALE_MINUTES),
    )
}

/// What kind of text a file holds, from its type or, failing that, its name.
#[derive(Debug, PartialEq, Eq)]
enum Format {
    Text,
    Html,
    Pdf,
}

fn format_of(content_type: &str, name: &str) -> Option<Format> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        "text/html" | "application/xhtml+xml" => return Some(Format::Html),
        "application/pdf" => return Some(Format::Pdf),
        "application/json" | "text/csv" | "text/markdown" | "application/x-ndjson" => {
            return Some(Format::Text);
        }
        t if t.starts_with("text/") => return Some(Format::Text),
        _ => {}
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt" | "md" | "markdown" | "csv" | "json" | "log" | "tsv" | "yaml" | "yml") => {
            Some(Format::Text)
        }
        Some("html" | "htm") => Some(Format::Html),
        Some("pdf") => Some(Format::Pdf),
        _ => None,
    }
}

/// Visible text of an HTML document: tags, scripts and styles removed, the
/// common entities decoded, block elements as line breaks.
pub fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    let bytes = html.as_bytes();
    while i < bytes.len() {
        if bytes[i] == b'<' {
            let rest = &lower[i..];
            let skip_to = ["script", "style"].iter().find_map(|t| {
                rest.strip_prefix('<')
                    .filter(|r| r.starts_with(t))
                    .and_then(|_| rest.find(&format!("</{t}")))
            });
            let from = i + skip_to.unwrap_or(0);
            match html[from..].find('>') {
                Some(end) => {
                    let tag = &lower[i..from + end];
                    if [
                        "<p", "<br", "<div", "<li", "<h", "<tr", "</p", "</div", "</li", "</h",
                        "</tr",
                    ]
                    .iter()
                    .any(|b| tag.starts_with(b))
                    {
                        out.push('\n');
                    } else {
                        out.push(' ');
                    }
                    i = from + end + 1;
                }
                None => break,
            }
        } else {
            let next = html[i..].find('<').map_or(html.len(), |n| i + n);
            out.push_str(&decode_entities(&html[i..next]));
            i = next;
        }
    }
    out
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "#39" => Some('\''),
                "nbsp" => Some(' '),
                n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Splits text into entries of about [`CHUNK_CHARS`] characters, at
/// paragraph breaks where possible, else at sentence ends, else at spaces.
pub fn chunks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, out: &mut Vec<String>| {
        let t = current.split_whitespace().collect::<Vec<_>>().join(" ");
        if !t.is_empty() {
            out.push(t);
        }
        current.clear();
    };
    for para in text.split("\n\n").flat_map(|p| p.split("\r\n\r\n")) {
        let para = para.trim();
        if para.is_empty() {
            continue;
        }
        if current.chars().count() + para.chars().count() > CHUNK_CHARS {
            flush(&mut current, &mut out);
        }
        if para.chars().count() <= CHUNK_CHARS {
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(para);
            continue;
        }
        // A long paragraph: cut at sentence ends or spaces.
        for word in para.split_inclusive(char::is_whitespace) {
            current.push_str(word);
            let n = current.chars().count();
            let sentence_end = word.trim_end().ends_with(['.', '!', '?']);
            if n >= CHUNK_CHARS || (sentence_end && n >= CHUNK_CHARS * 3 / 4) {
                flush(&mut current, &mut out);
            }
        }
    }
    flush(&mut current, &mut out);
    out
}

/// The text of a blob, or why there is none: (`state`, error).
fn text_of(format: Format, bytes: &[u8]) -> Result<String, String> {
    match format {
        Format::Text => Ok(String::from_utf8_lossy(bytes).into_owned()),
        Format::Html => Ok(html_text(&String::from_utf8_lossy(bytes))),
        Format::Pdf => {
            // The PDF parser may panic on hostile input: contain it.
            let bytes = bytes.to_vec();
            match std::panic::catch_unwind(move || pdf_extract::extract_text_from_mem(&bytes)) {
                Ok(Ok(text)) => Ok(text),
                Ok(Err(e)) => Err(format!("the PDF could not be read: {e}")),
                Err(_) => Err("the PDF could not be read: the parser failed on it".into()),
            }
        }
    }
}

/// Extracts one file if this replica can claim it.
pub async fn extract(store: &Store, blobs: &Blobs, id: &str) {
    if let Err(e) = extract_inner(store, blobs, id).await {
        tracing::error!(file = id, error = %e, "extraction failed");
    }
}

async fn extract_inner(store: &Store, blobs: &Blobs, id: &str) -> Result<(), String> {
    let mut tx = store.write().await.map_err(|e| e.to_string())?;
    if !tx
        .extraction_claim(id, &stale_before())
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(());
    }
    let (blob, content_type, name, size) = tx
        .file_blob_for_extraction(id)
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;

    let outcome = match format_of(&content_type, &name) {
        None => Err((
            "unsupported",
            format!("no text is extracted from {content_type} files"),
        )),
        Some(_) if size > MAX_EXTRACT_BYTES => Err((
            "unsupported",
            format!("files over {MAX_EXTRACT_BYTES} bytes are stored but not extracted"),
        )),
        Some(format) => {
            let bytes = blobs
                .store
                .get(&BlobPath::from(blob.as_str()))
                .await
                .map_err(|e| e.to_string())?
                .bytes()
                .await
                .map_err(|e| e.to_string())?;
            // NUL is no text (and PostgreSQL refuses it in a string).
            tokio::task::spawn_blocking(move || {
                text_of(format, &bytes).map(|t| chunks(&t.replace('\0', " ")))
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| ("failed", e))
        }
    };
    let finish = async |state: &str, error: Option<&str>, chunks: &[String]| {
        let mut tx = store.write().await?;
        tx.extraction_finish(id, state, error, chunks).await?;
        tx.commit().await
    };
    let done = match outcome {
        Ok(chunks) => finish("done", None, &chunks).await,
        Err((state, error)) => finish(state, Some(&error), &[]).await,
    };
    // Entries the database refuses must not leave the file `running`.
    if let Err(e) = done {
        let error = format!("the extracted text could not be stored: {e}");
        finish("failed", Some(&error), &[])
            .await
            .map_err(|e| e.to_string())?;
        return Err(error);
    }
    Ok(())
}

/// Picks up files whose extraction never finished (a restart, another
/// replica that stopped), a batch at a time.
pub async fn resume(store: Store, blobs: Blobs) {
    loop {
        let backlog = match store.read().await {
            Ok(mut tx) => tx.extraction_backlog(&stale_before(), 100).await,
            Err(e) => Err(e),
        };
        match backlog {
            Ok(ids) if ids.is_empty() => return,
            Ok(ids) => {
                for id in ids {
                    extract(&store, &blobs, &id).await;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the extraction backlog");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_to_text() {
        let t = html_text(
            "<html><head><style>p{}</style><script>var x='<p>';</script></head><body><h1>Title</h1><p>A &amp; B &lt;c&gt; &#233;t&#xE9;</p></body></html>",
        );
        assert!(t.contains("Title"), "{t}");
        assert!(t.contains("A & B <c> été"), "{t}");
        assert!(!t.contains("var x"), "{t}");
        assert!(!t.contains("p{}"), "{t}");
    }

    #[test]
    fn chunks_cover_the_text_in_order() {
        let para = "word ".repeat(100);
        let text = format!("{para}\n\n{para}\n\n{}", "long sentence here. ".repeat(200));
        let c = chunks(&text);
        assert!(c.len() >= 3, "{}", c.len());
        assert!(c.iter().all(|x| x.chars().count() <= CHUNK_CHARS + 40));
        let words: usize = c.iter().map(|x| x.split_whitespace().count()).sum();
        assert_eq!(words, 200 + 600);
        assert!(chunks("  \n\n ").is_empty());
    }

    #[test]
    fn formats() {
        assert_eq!(
            format_of("application/octet-stream", "a.md"),
            Some(Format::Text)
        );
        assert_eq!(
            format_of("text/html; charset=utf-8", "x"),
            Some(Format::Html)
        );
        assert_eq!(format_of("application/pdf", "x"), Some(Format::Pdf));
        assert_eq!(format_of("image/png", "a.png"), None);
    }
}
