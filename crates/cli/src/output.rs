//! How answers are printed (`--output`): a table for people, JSON for
//! programs (one object, or one item a line for listings), ids to pipe into
//! another command. On a terminal the default is a table, else JSON, so
//! scripts keep reading what they always read.

use std::io::IsTerminal;

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
    Ids,
}

impl Output {
    pub fn pick(asked: Option<&str>) -> Output {
        match asked {
            Some("table") => Output::Table,
            Some("json") => Output::Json,
            Some("ids") => Output::Ids,
            _ if std::io::stdout().is_terminal() => Output::Table,
            _ => Output::Json,
        }
    }
}

/// Keys a table leaves out: the kind is the command's, the times and the
/// maker are in `show`, long texts do not fit a cell.
const QUIET: &[&str] = &[
    "kind",
    "created_by",
    "created_at",
    "updated_at",
    "description",
    "output",
    "instructions",
    "content",
    "openapi",
];
const MAX_EXTRA_COLUMNS: usize = 5;
const MAX_CELL: usize = 40;

/// One value as a table cell: an org as its slug (or tenant-wide), lists
/// joined, long text cut.
fn cell(key: &str, v: &Value) -> String {
    let text = match v {
        Value::Null if key == "org" => "tenant-wide".to_owned(),
        Value::Null => String::new(),
        Value::String(s) if key != "snippet" => s.clone(),
        // A reference reads as what people call it.
        Value::Object(o) => ["slug", "name", "username", "state"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str))
            .unwrap_or_default()
            .to_owned(),
        // Search snippets are HTML with the matched words marked.
        Value::String(s) if key == "snippet" => s
            .replace("<mark>", "")
            .replace("</mark>", "")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    let one_line = text.replace(['\n', '\r', '\t'], " ");
    if one_line.chars().count() > MAX_CELL {
        let cut: String = one_line.chars().take(MAX_CELL - 1).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}

/// The columns of a listing: id and name first, then what its items hold
/// that fits a cell.
fn columns(items: &[Value]) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    for first in ["id", "username", "slug", "name", "org"] {
        if items.iter().any(|i| i.get(first).is_some()) {
            cols.push(first.to_owned());
        }
    }
    let mut extra = 0;
    if let Some(Value::Object(o)) = items.first() {
        for (k, v) in o {
            if extra == MAX_EXTRA_COLUMNS {
                break;
            }
            let fits = match v {
                Value::Object(o) => ["slug", "name", "username", "state"]
                    .iter()
                    .any(|n| o.contains_key(*n)),
                _ => true,
            };
            if !cols.contains(k) && !QUIET.contains(&k.as_str()) && fits {
                cols.push(k.clone());
                extra += 1;
            }
        }
    }
    cols
}

/// A table of `items`, columns aligned.
pub fn table(items: &[Value]) -> String {
    let cols = columns(items);
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| cols.iter().map(|c| cell(c, &i[c.as_str()])).collect())
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(n, c)| {
            rows.iter()
                .map(|r| r[n].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (n, c) in cells.iter().enumerate() {
            if n + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  ", w = widths[n]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(cols.iter().map(|c| c.to_uppercase()).collect());
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

/// One answer: as `key  value` lines for people.
pub fn record(v: &Value) -> String {
    let Value::Object(o) = v else {
        return format!("{v}\n");
    };
    let width = o.keys().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    for (k, val) in o {
        let text = match val {
            Value::String(s) => s.clone(),
            Value::Null => "-".to_owned(),
            Value::Object(org) if k == "org" => cell(k, &Value::Object(org.clone())),
            other => other.to_string(),
        };
        out.push_str(&format!("{k:<width$}  {text}\n"));
    }
    out
}

/// Prints one answer.
pub fn show(output: Output, v: &Value) {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
        Output::Table => print!("{}", record(v)),
        Output::Ids => match v["id"].as_str() {
            Some(id) => println!("{id}"),
            None => println!("{v}"),
        },
    }
}

/// Prints a listing; an empty one says, on stderr, what was searched.
pub fn list(output: Output, items: &[Value], searched: &str) {
    if items.is_empty() {
        eprintln!("nothing found: {searched}");
        return;
    }
    match output {
        Output::Json => {
            for i in items {
                println!("{i}");
            }
        }
        Output::Ids => {
            for i in items {
                println!("{}", i["id"].as_str().unwrap_or_default());
            }
        }
        Output::Table => print!("{}", table(items)),
    }
}

/// A writer that counts what passes and moves a progress bar.
pub struct Counted<W> {
    inner: W,
    bar: indicatif::ProgressBar,
    count: u64,
}

impl<W: std::io::Write> Counted<W> {
    pub fn new(inner: W, bar: indicatif::ProgressBar) -> Counted<W> {
        Counted {
            inner,
            bar,
            count: 0,
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

impl<W: std::io::Write> std::io::Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        self.bar.inc(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_put_id_and_name_first_and_cut_long_cells() {
        let items = [
            json!({"id": "hst_1", "kind": "host", "org": {"id": "org_1", "slug": "eng"}, "name": "web-1",
                "address": "10.0.0.5", "labels": {"env": "prod"}, "created_at": "t"}),
            json!({"id": "hst_2", "kind": "host", "org": null, "name": "x".repeat(60),
                "address": "10.0.0.6", "labels": null, "created_at": "t"}),
        ];
        let t = table(&items);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["ID", "NAME", "ORG", "ADDRESS"]
        );
        assert!(lines[1].starts_with("hst_1  web-1"), "{t}");
        assert!(
            lines[1].contains("eng") && lines[2].contains("tenant-wide"),
            "{t}"
        );
        assert!(
            lines[2].contains('…') && !lines[2].contains(&"x".repeat(41)),
            "{t}"
        );
    }
}
