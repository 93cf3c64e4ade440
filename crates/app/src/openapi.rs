//! An API definition's OpenAPI document: checked when it is written (3.0 or
//! 3.1, operations under paths, local `$ref`s that resolve) and read as the
//! reference a portal shows. The portal never shows `servers`: they may name
//! the upstream, and developers call the API through the gateway.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::portal::markdown;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
const LOCATIONS: &[&str] = &["query", "header", "path", "cookie"];
/// How deep a schema's properties are unfolded on a reference page.
const DEPTH: usize = 3;

/// Whether `doc` is an OpenAPI document the portal can show: the first
/// problem, with where it is (`paths./pets.get.parameters[0]`), else none.
pub fn check(doc: &Value) -> Result<(), String> {
    let version = doc["openapi"].as_str().unwrap_or_default();
    if !(version.starts_with("3.0.") || version.starts_with("3.1.")) {
        return Err(if doc.get("swagger").is_some() {
            "openapi: this is a Swagger 2.0 document; convert it to OpenAPI 3 (e.g. with swagger2openapi) and attach that".into()
        } else {
            "openapi: the document's 'openapi' must be a 3.0.x or 3.1.x version, e.g. \"3.1.0\""
                .into()
        });
    }
    for key in ["title", "version"] {
        if !doc["info"][key].is_string() {
            return Err(format!("openapi: info.{key} must be a string"));
        }
    }
    let paths = match doc.get("paths") {
        None => &Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => return Err("openapi: paths must be an object".into()),
    };
    for (path, item) in paths {
        let at = format!("paths.{path}");
        if !path.starts_with('/') {
            return Err(format!("openapi: {at}: a path must start with /"));
        }
        let Some(item) = item.as_object() else {
            return Err(format!("openapi: {at} must be an object"));
        };
        check_parameters(item.get("parameters"), &at)?;
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let at = format!("{at}.{method}");
            if !op.is_object() {
                return Err(format!("openapi: {at} must be an object"));
            }
            check_parameters(op.get("parameters"), &at)?;
            if let Some(r) = op.get("responses")
                && !r.is_object()
            {
                return Err(format!("openapi: {at}.responses must be an object"));
            }
        }
    }
    check_refs(doc, doc, "")
}

fn check_parameters(list: Option<&Value>, at: &str) -> Result<(), String> {
    let Some(list) = list else {
        return Ok(());
    };
    let Some(list) = list.as_array() else {
        return Err(format!("openapi: {at}.parameters must be a list"));
    };
    for (i, p) in list.iter().enumerate() {
        if p.get("$ref").is_some() {
            continue;
        }
        let ok = p["name"].is_string() && p["in"].as_str().is_some_and(|l| LOCATIONS.contains(&l));
        if !ok {
            return Err(format!(
                "openapi: {at}.parameters[{i}] needs a name and an 'in' of query, header, path or cookie"
            ));
        }
    }
    Ok(())
}

/// Every `$ref` is local (`#/…`) and resolves: the portal fetches nothing.
fn check_refs(doc: &Value, v: &Value, at: &str) -> Result<(), String> {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref") {
                let target = r.as_str().unwrap_or_default();
                if !target.starts_with("#/") {
                    return Err(format!(
                        "openapi: {at}: $ref '{target}' is not local; put what it names under components and refer to it as #/components/…"
                    ));
                }
                if doc.pointer(&target[1..]).is_none() {
                    return Err(format!(
                        "openapi: {at}: $ref '{target}' names nothing in the document"
                    ));
                }
            }
            for (k, child) in m {
                check_refs(doc, child, &join(at, k))?;
            }
            Ok(())
        }
        Value::Array(list) => {
            for (i, child) in list.iter().enumerate() {
                check_refs(doc, child, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

/// An API's reference, as its portal page shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Reference {
    pub title: String,
    pub version: String,
    pub description_html: Option<String>,
    /// Operations grouped by their first tag (untagged ones last).
    pub sections: Vec<Section>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Section {
    pub name: String,
    pub description_html: Option<String>,
    pub operations: Vec<Operation>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Operation {
    /// A fragment id for the page's contents.
    pub anchor: String,
    /// Upper case: `GET`.
    pub method: String,
    /// The path as a developer calls it through the gateway.
    pub path: String,
    pub summary: Option<String>,
    pub description_html: Option<String>,
    pub deprecated: bool,
    /// Whether the API definition's methods let it through the gateway.
    pub served: bool,
    pub parameters: Vec<Parameter>,
    pub body: Option<Body>,
    pub responses: Vec<Response>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Parameter {
    pub name: String,
    pub location: String,
    pub required: bool,
    pub ty: String,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Body {
    pub required: bool,
    pub content_types: Vec<String>,
    pub description: Option<String>,
    /// The schema's type in words (`array of Pet`), empty when none.
    pub ty: String,
    pub schema: Vec<Row>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Response {
    pub status: String,
    pub description: Option<String>,
    pub content_types: Vec<String>,
    /// The schema's type in words (`array of Pet`), empty when none.
    pub ty: String,
    pub schema: Vec<Row>,
}

/// One line of a schema's outline: a property at some depth.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub depth: usize,
    pub name: String,
    pub ty: String,
    pub required: bool,
    pub description: Option<String>,
}

/// The reference of a checked document; paths are shown under the API's
/// listen path, where the gateway serves them, and operations whose method
/// is not among `methods` (empty: all) are marked as not served.
#[must_use]
pub fn reference(doc: &Value, listen_path: &str, methods: &[String]) -> Reference {
    let mut sections: Vec<Section> = Vec::new();
    let tag_doc = |name: &str| {
        doc["tags"].as_array().and_then(|tags| {
            tags.iter()
                .find(|t| t["name"] == name)
                .and_then(|t| t["description"].as_str())
                .map(markdown)
        })
    };
    let mut untagged = Vec::new();
    let mut anchors = BTreeSet::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            let shared = item["parameters"].as_array().cloned().unwrap_or_default();
            for method in METHODS {
                let Some(op) = item.get(*method).filter(|o| o.is_object()) else {
                    continue;
                };
                let mut operation =
                    operation(doc, listen_path, path, method, op, &shared, &mut anchors);
                operation.served = methods.is_empty() || methods.contains(&operation.method);
                match op["tags"][0].as_str() {
                    Some(tag) => match sections.iter_mut().find(|s| s.name == tag) {
                        Some(s) => s.operations.push(operation),
                        None => sections.push(Section {
                            name: tag.to_owned(),
                            description_html: tag_doc(tag),
                            operations: vec![operation],
                        }),
                    },
                    None => untagged.push(operation),
                }
            }
        }
    }
    if !untagged.is_empty() {
        sections.push(Section {
            name: if sections.is_empty() {
                "Operations"
            } else {
                "Other operations"
            }
            .into(),
            description_html: None,
            operations: untagged,
        });
    }
    Reference {
        title: doc["info"]["title"].as_str().unwrap_or_default().to_owned(),
        version: doc["info"]["version"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        description_html: doc["info"]["description"].as_str().map(markdown),
        sections,
    }
}

fn operation(
    doc: &Value,
    listen_path: &str,
    path: &str,
    method: &str,
    op: &Value,
    shared: &[Value],
    anchors: &mut BTreeSet<String>,
) -> Operation {
    let full = format!("{}{}", listen_path.trim_end_matches('/'), path);
    let base: String = match op["operationId"].as_str() {
        Some(id) => id.to_owned(),
        None => format!("{method}{path}"),
    }
    .chars()
    .map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        }
    })
    .collect();
    let mut anchor = format!("op-{}", base.trim_matches('-'));
    let mut n = 1;
    while !anchors.insert(anchor.clone()) {
        n += 1;
        anchor = format!("op-{}-{n}", base.trim_matches('-'));
    }
    // An operation's parameter overrides the path's of the same name and place.
    let own: Vec<Value> = op["parameters"]
        .as_array()
        .map(|l| l.iter().map(|p| resolve(doc, p).clone()).collect())
        .unwrap_or_default();
    let mut params: Vec<Value> = shared
        .iter()
        .map(|p| resolve(doc, p).clone())
        .filter(|p| {
            !own.iter()
                .any(|o| o["name"] == p["name"] && o["in"] == p["in"])
        })
        .collect();
    params.extend(own);
    let body = op.get("requestBody").map(|b| {
        let b = resolve(doc, b);
        let (content_types, ty, schema) = content(doc, &b["content"]);
        Body {
            required: b["required"] == true,
            content_types,
            description: b["description"].as_str().map(str::to_owned),
            ty,
            schema,
        }
    });
    let responses = op["responses"]
        .as_object()
        .map(|all| {
            all.iter()
                .map(|(status, r)| {
                    let r = resolve(doc, r);
                    let (content_types, ty, schema) = content(doc, &r["content"]);
                    Response {
                        status: status.clone(),
                        description: r["description"].as_str().map(str::to_owned),
                        content_types,
                        ty,
                        schema,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Operation {
        anchor,
        method: method.to_ascii_uppercase(),
        path: full,
        summary: op["summary"].as_str().map(str::to_owned),
        description_html: op["description"].as_str().map(markdown),
        deprecated: op["deprecated"] == true,
        served: true,
        parameters: params
            .iter()
            .map(|p| Parameter {
                name: p["name"].as_str().unwrap_or_default().to_owned(),
                location: p["in"].as_str().unwrap_or_default().to_owned(),
                required: p["required"] == true,
                ty: type_name(&p["schema"]),
                description: p["description"].as_str().map(str::to_owned),
            })
            .collect(),
        body,
        responses,
    }
}

/// A content map's media types, and the type and outline of the first
/// one's schema.
fn content(doc: &Value, c: &Value) -> (Vec<String>, String, Vec<Row>) {
    let Some(c) = c.as_object() else {
        return (Vec::new(), String::new(), Vec::new());
    };
    let mut rows = Vec::new();
    let mut ty = String::new();
    if let Some((_, first)) = c.iter().next().filter(|(_, f)| f.get("schema").is_some()) {
        ty = type_name(&first["schema"]);
        outline(doc, &first["schema"], 0, &mut Vec::new(), &mut rows);
    }
    (c.keys().cloned().collect(), ty, rows)
}

/// What a `$ref` names (itself when it is none, or when it names nothing).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    let mut v = v;
    // A chain of refs is followed a few steps, never round a cycle forever.
    for _ in 0..8 {
        match v["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
            Some(pointer) => match doc.pointer(pointer) {
                Some(target) => v = target,
                None => break,
            },
            None => break,
        }
    }
    v
}

/// A schema's type in a few words: `string (uuid)`, `array of Pet`, `Pet`.
fn type_name(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.clone(),
        // 3.1: a list of types, e.g. ["string", "null"].
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => {
            for key in ["oneOf", "anyOf", "allOf"] {
                if let Some(list) = schema[key].as_array() {
                    let words = if key == "allOf" { " and " } else { " or " };
                    return list.iter().map(type_name).collect::<Vec<_>>().join(words);
                }
            }
            if schema.get("properties").is_some() {
                "object".into()
            } else {
                "any".into()
            }
        }
    };
    let ty = if ty == "array" {
        format!("array of {}", type_name(&schema["items"]))
    } else if let Some(format) = schema["format"].as_str() {
        format!("{ty} ({format})")
    } else {
        ty
    };
    match schema["enum"].as_array() {
        Some(values) => format!(
            "{ty}: one of {}",
            values
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => ty,
    }
}

/// A schema's properties as rows, unfolded `DEPTH` deep; `seen` holds the
/// refs being unfolded, so a schema that contains itself stops.
fn outline(doc: &Value, schema: &Value, depth: usize, seen: &mut Vec<String>, rows: &mut Vec<Row>) {
    if depth >= DEPTH {
        return;
    }
    // A list's rows are its items'.
    let listed = resolve(doc, schema);
    let schema = if listed["type"] == "array" {
        &listed["items"]
    } else {
        schema
    };
    let r = schema["$ref"].as_str().map(str::to_owned);
    if let Some(r) = &r {
        if seen.contains(r) {
            return;
        }
        seen.push(r.clone());
    }
    let s = resolve(doc, schema);
    let required: Vec<&str> = s["required"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = s["properties"].as_object() {
        for (name, p) in props {
            rows.push(Row {
                depth,
                name: name.clone(),
                ty: type_name(p),
                required: required.contains(&name.as_str()),
                description: resolve(doc, p)["description"].as_str().map(str::to_owned),
            });
            outline(doc, p, depth + 1, seen, rows);
        }
    }
    for part in s["allOf"].as_array().into_iter().flatten() {
        outline(doc, part, depth, seen, rows);
    }
    if r.is_some() {
        seen.pop();
    }
}

/// The document as a developer may download it: without `servers`
/// anywhere (they may name the upstream).
#[must_use]
pub fn published(doc: &Value) -> Value {
    match doc {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "servers")
                .map(|(k, v)| (k.clone(), published(v)))
                .collect(),
        ),
        Value::Array(l) => Value::Array(l.iter().map(published).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pets() -> Value {
        json!({
            "openapi": "3.1.0",
            "info": {"title": "Pets", "version": "2.1", "description": "All the **pets**."},
            "servers": [{"url": "http://pets.internal:9000"}],
            "tags": [{"name": "pets", "description": "Pets one by one."}],
            "paths": {
                "/pets/{id}": {
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                    "get": {"operationId": "getPet", "tags": ["pets"], "summary": "One pet",
                        "responses": {"200": {"description": "The pet", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
                                      "404": {"description": "No such pet"}}},
                    "delete": {"summary": "Let one go", "deprecated": true, "responses": {"204": {"description": "Gone"}}}
                }
            },
            "components": {"schemas": {
                "Pet": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string", "description": "What it answers to"},
                    "kind": {"type": "string", "enum": ["cat", "dog"]},
                    "friends": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}
                }}
            }}
        })
    }

    #[test]
    fn a_document_is_read_as_its_reference_under_the_listen_path() {
        let doc = pets();
        assert_eq!(check(&doc), Ok(()));
        let r = reference(&doc, "/pets-api/", &["GET".to_owned()]);
        assert_eq!((r.title.as_str(), r.version.as_str()), ("Pets", "2.1"));
        assert!(
            r.description_html
                .unwrap()
                .contains("<strong>pets</strong>")
        );
        assert_eq!(r.sections.len(), 2, "a tag's section and the untagged");
        let get = &r.sections[0].operations[0];
        assert_eq!(
            (get.method.as_str(), get.path.as_str()),
            ("GET", "/pets-api/pets/{id}")
        );
        assert_eq!(get.anchor, "op-getpet");
        assert_eq!(get.parameters[0].ty, "string (uuid)");
        assert!(get.parameters[0].required);
        assert_eq!(get.responses[0].status, "200");
        let rows: Vec<(usize, &str, &str)> = get.responses[0]
            .schema
            .iter()
            .map(|r| (r.depth, r.name.as_str(), r.ty.as_str()))
            .collect();
        // The self-reference stops instead of unfolding for ever.
        assert_eq!(
            rows,
            vec![
                (0, "name", "string"),
                (0, "kind", "string: one of \"cat\", \"dog\""),
                (0, "friends", "array of Pet"),
            ]
        );
        assert!(get.responses[0].schema[0].required);
        let delete = &r.sections[1].operations[0];
        assert!(delete.deprecated);
        assert!(
            get.served && !delete.served,
            "the definition serves GET only"
        );
        assert_eq!(
            delete.parameters[0].name, "id",
            "the path's parameters apply"
        );
        assert!(published(&doc).get("servers").is_none());
    }

    #[test]
    fn a_bad_document_is_refused_saying_where() {
        let mut doc = pets();
        doc["paths"]["/pets/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            ["$ref"] = json!("https://example.com/pet.json");
        assert!(
            check(&doc).unwrap_err().contains("is not local"),
            "{:?}",
            check(&doc)
        );
        let mut doc = pets();
        doc["components"]["schemas"]["Pet"]["properties"]["friends"]["items"]["$ref"] =
            json!("#/components/schemas/Cat");
        let e = check(&doc).unwrap_err();
        assert!(
            e.contains("components.schemas.Pet.properties.friends.items")
                && e.contains("names nothing"),
            "{e}"
        );
        let e =
            check(&json!({"swagger": "2.0", "info": {"title": "x", "version": "1"}})).unwrap_err();
        assert!(e.contains("Swagger 2.0"), "{e}");
        let mut doc = pets();
        doc["paths"]["/pets/{id}"]["parameters"][0]["in"] = json!("body");
        let e = check(&doc).unwrap_err();
        assert!(e.contains("paths./pets/{id}.parameters[0]"), "{e}");
        let mut doc = pets();
        doc["paths"]["pets"] = json!({});
        assert!(check(&doc).unwrap_err().contains("must start with /"));
        let mut doc = pets();
        doc["info"] = json!({"title": "x"});
        assert!(check(&doc).unwrap_err().contains("info.version"));
    }
}
