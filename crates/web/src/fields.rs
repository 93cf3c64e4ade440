//! The fields of core's kinds table as a page uses them: each field type
//! as a form input, what a form sends read back into the JSON body the
//! generic operations take, and a stored value as a page shows it. This is
//! the one place of the web crate that knows the field types; the
//! operations still check every value (a form can only be refused).

use std::collections::HashMap;

use orgscope_core::kind::{Field, FieldType, Kind};
use serde_json::{Map, Value, json};

use crate::views::{Choice, When};

/// Words that read better in capitals.
fn word(w: &str) -> String {
    match w {
        "url" => "URL".into(),
        "api" => "API".into(),
        "apis" => "APIs".into(),
        _ => w.to_owned(),
    }
}

/// `listen_path` reads as "Listen path", `upstream_url` as "Upstream URL".
#[must_use]
pub fn label(name: &str) -> String {
    let words: Vec<String> = name.split(['_', '-']).map(word).collect();
    let text = words.join(" ");
    let mut c = text.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// "API definitions", "Operational rules": the kind's list title.
#[must_use]
pub fn plural(kind: &Kind) -> String {
    label(kind.path)
}

/// "API definition", "operational rule": the kind in a sentence.
#[must_use]
pub fn noun(kind: &Kind) -> String {
    kind.name.split('_').map(word).collect::<Vec<_>>().join(" ")
}

/// "An API definition", "A host".
#[must_use]
pub fn a_noun(kind: &Kind) -> String {
    let n = noun(kind);
    let article = if n.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {n}")
}

/// A checkbox starts ticked when core's table says the field defaults to true.
fn default_true(f: &Field) -> bool {
    f.doc.contains("(default true)")
}

/// What a picker offers for a reference: (id, what it is called, where).
#[derive(Clone)]
pub struct Candidate {
    pub id: String,
    pub label: String,
}

/// What a reference field's picker offers.
#[derive(Clone, Default)]
pub struct Offered {
    pub candidates: Vec<Candidate>,
    /// More could be offered than the picker holds (said beside it).
    pub more: bool,
}

/// What each reference field's picker offers, by field name.
pub type RefChoices = HashMap<&'static str, Offered>;

/// Said under a picker that holds the first of many.
pub const MORE_THAN_OFFERED: &str = "Only the first 200 of this organization and 200 tenant-wide are offered, with what is chosen now.";

/// One input of a kind's form.
pub struct Input {
    pub name: &'static str,
    pub id: String,
    pub label: String,
    pub hint: &'static str,
    pub required: bool,
    /// `text`, `textarea`, `select`, `checks`, `checkbox`, `number`,
    /// `datetime`, `secret`, `lines`, or `fixed` (shown, not editable).
    pub widget: &'static str,
    pub value: String,
    pub max: usize,
    pub min: i64,
    pub top: i64,
    pub rows: usize,
    pub options: Vec<Choice>,
    pub checked: bool,
    /// Said when a picker has nothing to offer.
    pub empty: String,
    /// Editing: an empty secret keeps the stored one.
    pub keeps_secret: bool,
}

impl Input {
    fn new(f: &Field, widget: &'static str) -> Input {
        Input {
            name: f.name,
            id: format!("field-{}", f.name),
            label: label(f.name),
            hint: f.doc,
            required: f.required,
            widget,
            value: String::new(),
            max: 0,
            min: 0,
            top: 0,
            rows: 3,
            options: Vec::new(),
            checked: false,
            empty: String::new(),
            keeps_secret: false,
        }
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A stored time as `datetime-local` takes it (UTC, to the minute).
fn local_time(v: &str) -> String {
    v.get(..16).unwrap_or(v).to_owned()
}

/// The inputs of `kind`'s form, filled from `values` (what is stored, or
/// what the person typed), with the references' candidates. `editing`:
/// an update form (secrets may stay empty).
#[must_use]
pub fn inputs(
    kind: &Kind,
    values: &Map<String, Value>,
    refs: &RefChoices,
    editing: bool,
) -> Vec<Input> {
    let mut out = Vec::new();
    for f in kind.fields {
        let v = values.get(f.name).filter(|v| !v.is_null());
        let text = v.and_then(Value::as_str).unwrap_or_default().to_owned();
        let input = match f.ty {
            FieldType::ReadOnly => continue,
            // Shown, not offered: the operation refuses a change to it.
            _ if editing && f.fixed => {
                let mut i = Input::new(f, "fixed");
                i.required = false;
                i.value = match (f.ty, refs.get(f.name)) {
                    (FieldType::Ref(_), Some(offered)) => offered
                        .candidates
                        .iter()
                        .find(|c| c.id == text)
                        .map_or(text, |c| c.label.clone()),
                    _ => text,
                };
                i
            }
            FieldType::Text(max) => {
                let mut i = Input::new(f, if max > 500 { "textarea" } else { "text" });
                i.max = max;
                i.rows = if max > 4000 { 5 } else { 3 };
                i.value = text;
                i
            }
            FieldType::Choice(choices) => {
                let mut i = Input::new(f, "select");
                if !f.required {
                    i.options.push(Choice::new("", "None", text.is_empty()));
                }
                i.options.extend(
                    choices
                        .iter()
                        .map(|c| Choice::new(*c, label(c), *c == text)),
                );
                i
            }
            FieldType::Timestamp => {
                let mut i = Input::new(f, "datetime");
                i.label = format!("{} (UTC)", label(f.name));
                i.value = local_time(&text);
                i
            }
            FieldType::Patterns => {
                let mut i = Input::new(f, "lines");
                i.value = match v {
                    Some(Value::String(raw)) => raw.clone(),
                    _ => strings(v).join("\n"),
                };
                i.hint = "One per line: literal text, glob:… or re:…";
                i
            }
            FieldType::Secret => {
                let mut i = Input::new(f, "secret");
                i.max = 16_384;
                i.keeps_secret = editing;
                i.required = f.required && !editing;
                i
            }
            FieldType::Bool => {
                let mut i = Input::new(f, "checkbox");
                i.checked = v.and_then(Value::as_bool).unwrap_or(default_true(f));
                i
            }
            FieldType::Int(min, top) => {
                let mut i = Input::new(f, "number");
                i.min = min;
                i.top = top;
                i.value = match v {
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                };
                i
            }
            FieldType::Choices(choices) => {
                let chosen = strings(v);
                let mut i = Input::new(f, "checks");
                i.options = choices
                    .iter()
                    .map(|c| Choice::new(*c, *c, chosen.iter().any(|x| x == c)))
                    .collect();
                i
            }
            FieldType::Ref(target) => {
                let mut i = Input::new(f, "select");
                let offered = refs.get(f.name).cloned().unwrap_or_default();
                if !f.required || text.is_empty() {
                    let none = if f.required { "Choose…" } else { "None" };
                    i.options.push(Choice::new("", none, text.is_empty()));
                }
                i.options.extend(
                    offered
                        .candidates
                        .iter()
                        .map(|c| Choice::new(&c.id, &c.label, c.id == text)),
                );
                if offered.more {
                    i.empty = MORE_THAN_OFFERED.into();
                }
                if offered.candidates.is_empty() {
                    i.empty = format!(
                        "There is no {} you can see here to choose.",
                        target.replace('_', " ")
                    );
                }
                i
            }
            FieldType::Refs(target) => {
                let chosen = strings(v);
                let mut i = Input::new(f, "checks");
                let offered = refs.get(f.name).cloned().unwrap_or_default();
                i.options = offered
                    .candidates
                    .iter()
                    .map(|c| Choice::new(&c.id, &c.label, chosen.contains(&c.id)))
                    .collect();
                if offered.more {
                    i.empty = MORE_THAN_OFFERED.into();
                }
                if i.options.is_empty() {
                    i.empty = format!(
                        "There is no {} you can see here to choose.",
                        target.replace('_', " ")
                    );
                }
                i
            }
            FieldType::Tags => {
                let mut i = Input::new(f, "text");
                i.max = 2100;
                i.value = match v {
                    Some(Value::String(raw)) => raw.clone(),
                    _ => strings(v).join(", "),
                };
                i
            }
            FieldType::Document(max) => {
                let mut i = Input::new(f, "textarea");
                i.max = max;
                i.rows = 10;
                i.value = match v {
                    Some(Value::String(raw)) => raw.clone(),
                    Some(doc @ Value::Object(_)) => {
                        serde_json::to_string_pretty(doc).unwrap_or_default()
                    }
                    _ => String::new(),
                };
                i
            }
            FieldType::Labels => {
                let mut i = Input::new(f, "lines");
                i.value = match v {
                    Some(Value::Object(m)) => m
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    Some(Value::String(raw)) => raw.clone(),
                    _ => String::new(),
                };
                i.hint = "One label per line, as name=value (e.g. env=prod).";
                i
            }
        };
        out.push(input);
    }
    out
}

/// What a form sent, read as the operation's fields.
#[derive(Default)]
pub struct Sent {
    pub name: String,
    /// The org picker's value: a slug, `tenant`, or empty.
    pub org: String,
    /// Each kind field given (an optional one left empty is absent).
    pub values: Map<String, Value>,
    /// A value that could not be read as its type, in words.
    pub problem: Option<String>,
}

/// Reads a urlencoded form (or query) of `kind`'s fields.
#[must_use]
pub fn read(kind: &Kind, pairs: &[(String, String)]) -> Sent {
    let all = |name: &str| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let one = |name: &str| -> String { all(name).first().copied().unwrap_or_default().to_owned() };
    let mut sent = Sent {
        name: one("name").trim().to_owned(),
        org: one("org").trim().to_owned(),
        ..Sent::default()
    };
    for f in kind.fields {
        let raw = one(f.name);
        let value = match f.ty {
            FieldType::ReadOnly => continue,
            FieldType::Text(_) => {
                let t = raw.trim();
                (!t.is_empty()).then(|| json!(t))
            }
            FieldType::Secret => (!raw.is_empty()).then(|| json!(raw)),
            FieldType::Choice(_) | FieldType::Ref(_) => {
                let t = raw.trim();
                (!t.is_empty()).then(|| json!(t))
            }
            FieldType::Timestamp => {
                let t = raw.trim();
                match t.len() {
                    0 => None,
                    // datetime-local: to the minute, in UTC as the label says.
                    16 => Some(json!(format!("{t}:00Z"))),
                    19 => Some(json!(format!("{t}Z"))),
                    _ => Some(json!(t)),
                }
            }
            FieldType::Bool => Some(json!(all(f.name).contains(&"true"))),
            FieldType::Int(..) => {
                let t = raw.trim();
                match t.parse::<i64>() {
                    _ if t.is_empty() => None,
                    Ok(n) => Some(json!(n)),
                    // The operation says what it must be.
                    Err(_) => Some(json!(t)),
                }
            }
            FieldType::Choices(_) | FieldType::Refs(_) => {
                let list: Vec<&str> = all(f.name)
                    .into_iter()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .collect();
                (!list.is_empty()).then(|| json!(list))
            }
            FieldType::Patterns => {
                let list: Vec<&str> = raw
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                (!list.is_empty()).then(|| json!(list))
            }
            FieldType::Tags => {
                let list: Vec<&str> = raw
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|t| !t.is_empty())
                    .collect();
                Some(json!(list))
            }
            FieldType::Document(_) => {
                let t = raw.trim();
                if t.is_empty() {
                    None
                } else {
                    match serde_json::from_str::<Value>(t) {
                        Ok(doc) => Some(doc),
                        Err(e) => {
                            sent.problem.get_or_insert(format!(
                                "{}: this is not JSON (line {}, column {}): {e}",
                                label(f.name),
                                e.line(),
                                e.column()
                            ));
                            // Kept as typed, to be fixed.
                            Some(json!(raw))
                        }
                    }
                }
            }
            FieldType::Labels => {
                let mut map = Map::new();
                let mut bad = None;
                for (n, line) in raw.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    match line.split_once('=') {
                        Some((k, v)) => {
                            map.insert(k.trim().to_owned(), json!(v.trim()));
                        }
                        None => bad = Some(n + 1),
                    }
                }
                match bad {
                    Some(n) => {
                        sent.problem.get_or_insert(format!(
                            "{}: write one label per line as name=value (line {n} has no “=”)",
                            label(f.name)
                        ));
                        // Kept as typed, to be fixed.
                        Some(json!(raw))
                    }
                    None => (!map.is_empty()).then_some(Value::Object(map)),
                }
            }
        };
        if let Some(v) = value {
            sent.values.insert(f.name.to_owned(), v);
        }
    }
    sent
}

/// The body of a create: `{name, org, …fields}` (`tenant` is null).
#[must_use]
pub fn create_body(sent: &Sent) -> Value {
    let mut body = sent.values.clone();
    body.insert("name".into(), json!(sent.name));
    body.insert(
        "org".into(),
        match sent.org.as_str() {
            "tenant" => Value::Null,
            o => json!(o),
        },
    );
    Value::Object(body)
}

fn same(f: &Field, was: Option<&Value>, now: Option<&Value>) -> bool {
    let was = was.filter(|v| !v.is_null());
    match f.ty {
        FieldType::Bool => {
            let d = default_true(f);
            was.and_then(Value::as_bool).unwrap_or(d) == now.and_then(Value::as_bool).unwrap_or(d)
        }
        FieldType::Choices(_) | FieldType::Refs(_) | FieldType::Patterns | FieldType::Tags => {
            let empty = |v: Option<&Value>| v.and_then(Value::as_array).is_none_or(Vec::is_empty);
            (empty(was) && empty(now)) || was == now
        }
        FieldType::Labels => {
            let empty = |v: Option<&Value>| v.and_then(Value::as_object).is_none_or(Map::is_empty);
            (empty(was) && empty(now)) || was == now
        }
        FieldType::Timestamp => {
            let minute = |v: Option<&Value>| v.and_then(Value::as_str).map(local_time);
            minute(was) == minute(now)
        }
        _ => was == now,
    }
}

/// The body of an update: only what differs from `current` (a field left
/// as it was is not sent; an emptied optional one is sent as null; an
/// empty secret keeps the stored one).
#[must_use]
pub fn changes(kind: &Kind, current: &Value, sent: &Sent) -> Map<String, Value> {
    let mut out = Map::new();
    if current["name"].as_str() != Some(sent.name.as_str()) {
        out.insert("name".into(), json!(sent.name));
    }
    for f in kind.fields {
        let now = sent.values.get(f.name);
        match f.ty {
            FieldType::ReadOnly => {}
            _ if f.fixed => {}
            FieldType::Secret => {
                if let Some(v) = now {
                    out.insert(f.name.into(), v.clone());
                }
            }
            _ if same(f, current.get(f.name), now) => {}
            _ => {
                out.insert(f.name.into(), now.cloned().unwrap_or(Value::Null));
            }
        }
    }
    out
}

/// A value as a page shows it.
pub struct Shown {
    pub label: String,
    /// `text`, `long`, `pre`, `mono`, `links`, `chips`, `time`, `yes`,
    /// `no`, `none`, `muted`, `state`.
    pub style: &'static str,
    pub text: String,
    pub links: Vec<(String, String)>,
    pub chips: Vec<String>,
    pub time: Option<When>,
}

impl Shown {
    fn new(label: String, style: &'static str) -> Shown {
        Shown {
            label,
            style,
            text: String::new(),
            links: Vec::new(),
            chips: Vec::new(),
            time: None,
        }
    }

    /// A task status's tone (`done`, `failed`, ...).
    pub fn tone(&self) -> &'static str {
        state_tone(&self.text)
    }

    fn text(label: String, style: &'static str, text: String) -> Shown {
        Shown {
            text,
            ..Shown::new(label, style)
        }
    }
}

/// Names of referenced resources by id (those the viewer can see).
pub type Names = HashMap<String, String>;

fn link(target: &str, id: &str, names: &Names) -> (String, String) {
    let path = orgscope_core::kind::by_name(target).map_or("", |k| k.path);
    let label = names.get(id).cloned().unwrap_or_else(|| id.to_owned());
    (format!("/{path}/{id}"), label)
}

/// A task's status as a state chip's tone.
#[must_use]
pub fn state_tone(status: &str) -> &'static str {
    match status {
        "succeeded" => "done",
        "failed" | "refused" => "failed",
        "queued" => "pending",
        "running" => "running",
        _ => "",
    }
}

/// Shows field `f` of a resource.
#[must_use]
pub fn show(f: &Field, v: &Value, names: &Names) -> Shown {
    let label = label(f.name);
    if v.is_null() {
        return match f.ty {
            FieldType::Bool if default_true(f) => Shown::new(label, "yes"),
            FieldType::Bool => Shown::new(label, "no"),
            _ => Shown::new(label, "none"),
        };
    }
    let text = v.as_str().unwrap_or_default().to_owned();
    match f.ty {
        FieldType::Text(max) if max > 500 => Shown::text(label, "long", text),
        FieldType::Text(_) | FieldType::Choice(_) => Shown::text(label, "text", text),
        FieldType::ReadOnly if f.name == "status" => Shown::text(label, "state", text),
        FieldType::ReadOnly => Shown::text(label, "pre", text),
        FieldType::Timestamp => Shown {
            time: Some(When::of(&text)),
            ..Shown::new(label, "time")
        },
        FieldType::Secret => Shown::text(label, "text", "(hidden)".into()),
        FieldType::Bool => Shown::new(
            label,
            if v.as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
        ),
        FieldType::Int(..) => Shown::text(label, "text", v.to_string()),
        FieldType::Choices(_) | FieldType::Patterns | FieldType::Tags => {
            let chips = strings(Some(v));
            if chips.is_empty() {
                return Shown::new(label, "none");
            }
            Shown {
                chips,
                ..Shown::new(label, "chips")
            }
        }
        FieldType::Ref(target) => Shown {
            links: vec![link(target, &text, names)],
            ..Shown::new(label, "links")
        },
        FieldType::Refs(target) => {
            let links: Vec<_> = strings(Some(v))
                .iter()
                .map(|id| link(target, id, names))
                .collect();
            if links.is_empty() {
                return Shown::new(label, "none");
            }
            Shown {
                links,
                ..Shown::new(label, "links")
            }
        }
        FieldType::Document(_) => {
            let size = v.to_string().len();
            let info = &v["info"];
            let about = match (info["title"].as_str(), info["version"].as_str()) {
                (Some(t), Some(ver)) => format!("{t}, version {ver}: "),
                (Some(t), None) => format!("{t}: "),
                _ => String::new(),
            };
            Shown::text(
                label,
                "text",
                format!("{about}a JSON document of {size} bytes"),
            )
        }
        FieldType::Labels => {
            let chips: Vec<String> = v
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default();
            if chips.is_empty() {
                return Shown::new(label, "none");
            }
            Shown {
                chips,
                ..Shown::new(label, "chips")
            }
        }
    }
}

/// The fields a list shows in its columns: short ones first (in the
/// table's order), then references, then long text; at most three.
#[must_use]
pub fn columns(kind: &Kind) -> Vec<&'static Field> {
    let rank = |f: &Field| match f.ty {
        FieldType::Text(n) if n <= 500 => Some(0),
        FieldType::Choice(_) | FieldType::Bool | FieldType::Int(..) | FieldType::Timestamp => {
            Some(0)
        }
        FieldType::Ref(_) | FieldType::Refs(_) => Some(1),
        FieldType::Text(_) | FieldType::Patterns | FieldType::Choices(_) | FieldType::Tags => {
            Some(2)
        }
        FieldType::Secret | FieldType::ReadOnly | FieldType::Labels | FieldType::Document(_) => {
            None
        }
    };
    let mut fields: Vec<(u8, usize, &'static Field)> = kind
        .fields
        .iter()
        .enumerate()
        .filter_map(|(i, f)| rank(f).map(|r| (r, i, f)))
        .collect();
    fields.sort_by_key(|(r, i, _)| (*r, *i));
    fields.into_iter().take(3).map(|(_, _, f)| f).collect()
}

/// The reference fields of a kind: (field, target kind name).
#[must_use]
pub fn ref_fields(kind: &Kind) -> Vec<(&'static str, &'static str)> {
    kind.fields
        .iter()
        .filter_map(|f| match f.ty {
            FieldType::Ref(t) | FieldType::Refs(t) => Some((f.name, t)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use orgscope_core::kind::{KINDS, by_path};

    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn names_read_well() {
        assert_eq!(label("listen_path"), "Listen path");
        assert_eq!(label("upstream_url"), "Upstream URL");
        assert_eq!(
            plural(by_path("api-definitions").unwrap()),
            "API definitions"
        );
        assert_eq!(
            noun(by_path("operational-rules").unwrap()),
            "operational rule"
        );
        assert_eq!(
            a_noun(by_path("api-definitions").unwrap()),
            "an API definition"
        );
        assert_eq!(a_noun(by_path("hosts").unwrap()), "a host");
    }

    #[test]
    fn a_form_reads_back_as_the_operations_body() {
        let jobs = by_path("jobs").unwrap();
        let sent = read(
            jobs,
            &pairs(&[
                ("name", " nightly "),
                ("org", "eng"),
                ("agent", "agt_1"),
                ("host", "hst_1"),
                ("command", "make backup"),
                ("schedule", "0 3 * * *"),
                ("timezone", ""),
            ]),
        );
        let body = create_body(&sent);
        assert_eq!(body["name"], "nightly");
        assert_eq!(body["org"], "eng");
        assert_eq!(body["enabled"], false, "an unticked box is false");
        assert!(
            body.get("timezone").is_none(),
            "an empty optional is left out"
        );
        let hosts = by_path("hosts").unwrap();
        let sent = read(
            hosts,
            &pairs(&[
                ("name", "db"),
                ("org", "tenant"),
                ("address", "db1"),
                ("labels", "env=prod\nrole = db"),
            ]),
        );
        assert_eq!(create_body(&sent)["org"], Value::Null);
        assert_eq!(sent.values["labels"], json!({"env": "prod", "role": "db"}));
        let sent = read(hosts, &pairs(&[("labels", "env=prod\noops")]));
        assert!(sent.problem.unwrap().contains("line 2"));
    }

    #[test]
    fn an_update_sends_only_what_changed() {
        let jobs = by_path("jobs").unwrap();
        let current = json!({"name": "nightly", "agent": "agt_1", "host": "hst_1",
            "command": "x", "schedule": "0 3 * * *", "timezone": "UTC", "enabled": null});
        let sent = read(
            jobs,
            &pairs(&[
                ("name", "nightly"),
                ("agent", "agt_1"),
                ("host", "hst_1"),
                ("command", "x"),
                ("schedule", "0 4 * * *"),
                ("timezone", ""),
                ("enabled", "true"),
            ]),
        );
        let c = changes(jobs, &current, &sent);
        assert_eq!(
            Value::Object(c),
            json!({"schedule": "0 4 * * *", "timezone": null})
        );
    }

    #[test]
    fn a_job_is_enabled_unless_unticked() {
        let jobs = by_path("jobs").unwrap();
        let i = inputs(jobs, &Map::new(), &RefChoices::new(), false);
        assert!(i.iter().find(|i| i.name == "enabled").unwrap().checked);
    }

    /// A form drawn again for another org carries its values in the URL:
    /// that is safe only while no kind has both references and a secret.
    #[test]
    fn no_kind_has_both_references_and_a_secret() {
        for k in KINDS {
            assert!(
                ref_fields(k).is_empty() || k.secret_field().is_none(),
                "{} has references and a secret",
                k.path
            );
        }
    }
}
