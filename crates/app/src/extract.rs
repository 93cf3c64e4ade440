//! Text extraction, off the request path: a file's text is read from its blob,
//! split into knowledge entries and indexed. One replica extracts each file
//! (a conditional update claims it); a failure is recorded on the file, which
//! stays downloadable.

use std::time::Duration;

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
    Docx,
    Odt,
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
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
            return Some(Format::Docx);
        }
        "application/vnd.oasis.opendocument.text" => return Some(Format::Odt),
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
        Some("docx") => Some(Format::Docx),
        Some("odt") => Some(Format::Odt),
        _ => None,
    }
}

/// Visible text of an HTML document (html2text: entities decoded, scripts,
/// styles and comments dropped, blocks on lines of their own, no wrapping).
pub fn html_text(html: &[u8]) -> Result<String, String> {
    html2text::config::plain_no_decorate()
        .string_from_read(html, usize::MAX / 4)
        .map(|t| t.lines().map(str::trim_end).collect::<Vec<_>>().join("\n"))
        .map_err(|e| format!("the HTML could not be read: {e}"))
}

/// The text of an office document (DOCX, ODT): the XML part that holds the
/// body, inside its zip, with a line per paragraph. Parts are read with a
/// size cap, so a zip bomb stops at the cap.
fn office_text(bytes: &[u8], part: &str, paragraph: &[u8]) -> Result<String, String> {
    use std::io::Read;
    const MAX_PART: u64 = 64 * 1024 * 1024;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("the document is not a readable zip: {e}"))?;
    let mut xml = Vec::new();
    zip.by_name(part)
        .map_err(|_| format!("the document has no {part}"))?
        .take(MAX_PART)
        .read_to_end(&mut xml)
        .map_err(|e| format!("the document's {part} could not be read: {e}"))?;
    let mut reader = quick_xml::Reader::from_reader(xml.as_slice());
    let mut out = String::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Text(t)) => {
                let text = t
                    .xml10_content()
                    .map_err(|e| format!("the document's {part} is not valid XML: {e}"))?;
                out.push_str(&text);
            }
            Ok(quick_xml::events::Event::GeneralRef(r)) => {
                // `&amp;` and friends, and character references.
                let name = String::from_utf8_lossy(&r);
                let c = match name.as_ref() {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    _ => r.resolve_char_ref().ok().flatten(),
                };
                out.extend(c);
            }
            Ok(quick_xml::events::Event::End(e)) if e.local_name().as_ref() == paragraph => {
                out.push('\n');
            }
            Ok(quick_xml::events::Event::Empty(e))
                if matches!(e.local_name().as_ref(), b"tab" | b"s") =>
            {
                out.push(' ');
            }
            Ok(quick_xml::events::Event::Empty(e))
                if matches!(e.local_name().as_ref(), b"br" | b"line-break") =>
            {
                out.push('\n');
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Err(e) => return Err(format!("the document's {part} is not valid XML: {e}")),
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
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
        Format::Html => html_text(bytes),
        Format::Docx => office_text(bytes, "word/document.xml", b"p"),
        Format::Odt => office_text(bytes, "content.xml", b"p"),
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
pub async fn extract(store: &Store, blobs: &Blobs, limit: Duration, id: &str) {
    if let Err(e) = extract_inner(store, blobs, limit, id).await {
        tracing::error!(file = id, error = %e, "extraction failed");
    }
}

async fn extract_inner(
    store: &Store,
    blobs: &Blobs,
    limit: Duration,
    id: &str,
) -> Result<(), String> {
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
            let work = tokio::task::spawn_blocking(move || {
                text_of(format, &bytes).map(|t| chunks(&t.replace('\0', " ")))
            });
            // A parser that loops on a hostile file is given up on (its
            // thread cannot be stopped, but the file does not wait on it).
            match tokio::time::timeout(limit, work).await {
                Ok(joined) => joined
                    .map_err(|e| e.to_string())?
                    .map_err(|e| ("failed", e)),
                Err(_) => Err((
                    "failed",
                    format!(
                        "the text could not be extracted within the time limit of {}",
                        shown(limit)
                    ),
                )),
            }
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

/// How long one file's text may take to extract, unless the state says
/// otherwise (PDF parsing is the slow path).
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(120);

/// `120 s`, or `5 ms` for a limit under a second.
fn shown(limit: Duration) -> String {
    if limit.subsec_millis() == 0 && limit.as_secs() > 0 {
        format!("{} s", limit.as_secs())
    } else {
        format!("{} ms", limit.as_millis())
    }
}

/// How often the sweep looks for extractions that stalled.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Picks up files whose extraction never finished (a restart, a replica or
/// a process that stopped mid-way, a claim gone stale), a batch at a time;
/// then looks again every minute, for as long as the server runs.
pub async fn resume(store: Store, blobs: Blobs, limit: Duration) {
    loop {
        drain(&store, &blobs, limit).await;
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

/// Extracts the backlog as it stands now.
pub async fn drain(store: &Store, blobs: &Blobs, limit: Duration) {
    loop {
        let backlog = match store.read().await {
            Ok(mut tx) => tx.extraction_backlog(&stale_before(), 100).await,
            Err(e) => Err(e),
        };
        match backlog {
            Ok(ids) if ids.is_empty() => return,
            Ok(ids) => {
                for id in ids {
                    extract(store, blobs, limit, &id).await;
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
            b"<html><head><title>Page</title><style>p{}</style><script>var x='<p>';</script></head><body><h1>Title</h1><!-- hidden note --><p>A &amp; B &lt;c&gt; &#233;t&#xE9; caf&eacute;</p><noscript>enable js</noscript></body></html>",
        )
        .unwrap();
        assert!(t.contains("Title"), "{t}");
        assert!(t.contains("A & B <c> été café"), "{t}");
        assert!(!t.contains("var x"), "{t}");
        assert!(!t.contains("p{}"), "{t}");
        assert!(!t.contains("hidden note"), "comments do not leak: {t}");
    }

    /// A zip with one part, as an office document holds its body.
    fn office(part: &str, xml: &str) -> Vec<u8> {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file(part, stored).unwrap();
        zip.write_all(xml.as_bytes()).unwrap();
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn docx_and_odt_to_text() {
        let docx = office(
            "word/document.xml",
            r#"<?xml version="1.0"?><w:document xmlns:w="w"><w:body><w:p><w:r><w:t>Caf&#233; runbook</w:t></w:r><w:r><w:tab/><w:t xml:space="preserve">restart &amp; check</w:t></w:r></w:p><w:p><w:r><w:t>second line</w:t></w:r></w:p></w:body></w:document>"#,
        );
        let t = text_of(Format::Docx, &docx).unwrap();
        assert_eq!(t, "Café runbook restart & check\nsecond line\n");
        let odt = office(
            "content.xml",
            r#"<office:document-content xmlns:office="o" xmlns:text="t"><office:body><office:text><text:p>first<text:s/>para</text:p><text:p>next</text:p></office:text></office:body></office:document-content>"#,
        );
        assert_eq!(text_of(Format::Odt, &odt).unwrap(), "first para\nnext\n");
        assert!(text_of(Format::Docx, b"not a zip").is_err());
        assert!(text_of(Format::Docx, &office("other.xml", "<a/>")).is_err());
        assert_eq!(
            format_of("application/octet-stream", "Notes.DOCX"),
            Some(Format::Docx)
        );
        assert_eq!(
            format_of(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "x"
            ),
            Some(Format::Docx)
        );
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
