//! The JSON documents of docs/json.md, read from its tables, and the check that a document the
//! commands print is exactly what the page says: its `schema` is documented, it has every
//! field its table lists and no other, each value has a listed type, and every field name in
//! it is camelCase.
//!
//! The page's tables are the schema: a row `` | `a[].b` | string or null | … | `` says that
//! each object in the list `a` has a field `b`, a string or null. Types: `string`, `integer`,
//! `boolean`, `null`, `object`, `array`, `array of T`, `map of T` (an object whose keys are
//! data), `format` (an object in a file format of formats.md, printed as stored: neither its
//! field set nor its names are checked here), joined by ` or `; `, optional` marks a field that
//! may be absent.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

/// One documented field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The types it may have.
    pub types: Vec<String>,
    /// Whether it may be absent.
    pub optional: bool,
}

/// The documents of docs/json.md: for each `schema`, its fields by path (`results[].verdict`).
#[derive(Debug, Default)]
pub struct Documents {
    /// Fields by schema, then by path.
    pub schemas: BTreeMap<String, BTreeMap<String, Field>>,
    /// The examples, with the schema of the section each stands in.
    pub examples: Vec<(String, String)>,
}

/// docs/json.md.
pub fn page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/json.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The documents of docs/json.md, read once.
pub fn documents() -> &'static Documents {
    static DOCS: OnceLock<Documents> = OnceLock::new();
    DOCS.get_or_init(|| parse(&page()))
}

/// Reads the tables, aliases and examples of a page written as docs/json.md is.
pub fn parse(page: &str) -> Documents {
    let mut docs = Documents::default();
    let mut current: Option<String> = None;
    let mut aliases: Vec<String> = Vec::new();
    let mut lines = page.lines();
    let finish = |docs: &mut Documents, current: &Option<String>, aliases: &mut Vec<String>| {
        if let Some(schema) = current {
            let fields = docs.schemas.get(schema).cloned().unwrap_or_default();
            for alias in aliases.drain(..) {
                docs.schemas.insert(alias, fields.clone());
            }
        }
    };
    while let Some(line) = lines.next() {
        if let Some(heading) = line.strip_prefix("### ") {
            finish(&mut docs, &current, &mut aliases);
            let schema = heading.trim().trim_matches('`').to_owned();
            assert!(
                schema.starts_with("hallmark.") && schema.ends_with("/v1"),
                "docs/json.md: a section `### {heading}` that names no schema"
            );
            assert!(
                docs.schemas
                    .insert(schema.clone(), BTreeMap::new())
                    .is_none(),
                "docs/json.md: {schema} is documented twice"
            );
            current = Some(schema);
            continue;
        }
        if line.starts_with("## ") {
            finish(&mut docs, &current, &mut aliases);
            current = None;
            continue;
        }
        let Some(schema) = &current else { continue };
        if let Some(alias) = line
            .strip_prefix("- `")
            .and_then(|rest| rest.strip_suffix('`'))
            .filter(|a| a.starts_with("hallmark."))
        {
            aliases.push(alias.to_owned());
        } else if line.starts_with("| `") {
            let cells: Vec<&str> = line.split(" | ").collect();
            assert!(
                cells.len() >= 3,
                "docs/json.md: a row without 3 cells: {line}"
            );
            let path = cells[0]
                .trim_start_matches("| ")
                .trim_matches('`')
                .to_owned();
            let (types, optional) = match cells[1].strip_suffix(", optional") {
                Some(types) => (types, true),
                None => (cells[1], false),
            };
            let types: Vec<String> = types.split(" or ").map(str::to_owned).collect();
            for t in &types {
                assert!(
                    known_type(t),
                    "docs/json.md: {schema} `{path}`: unknown type {t:?}"
                );
            }
            let fields = docs.schemas.get_mut(schema).expect("section");
            assert!(
                fields
                    .insert(path.clone(), Field { types, optional })
                    .is_none(),
                "docs/json.md: {schema} lists `{path}` twice"
            );
        } else if line == "```json" {
            let mut text = String::new();
            for line in lines.by_ref() {
                if line == "```" {
                    break;
                }
                text.push_str(line);
                text.push('\n');
            }
            docs.examples.push((schema.clone(), text));
        }
    }
    finish(&mut docs, &current, &mut aliases);
    docs
}

fn known_type(t: &str) -> bool {
    let base = |t: &str| {
        matches!(
            t,
            "string" | "integer" | "boolean" | "null" | "object" | "array" | "format"
        )
    };
    base(t)
        || t.strip_prefix("array of ").is_some_and(base)
        || t.strip_prefix("map of ").is_some_and(base)
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(value: &Value, t: &str) -> bool {
    if let Some(element) = t.strip_prefix("array of ") {
        return value
            .as_array()
            .is_some_and(|items| items.iter().all(|v| has_type(v, element)));
    }
    if let Some(element) = t.strip_prefix("map of ") {
        return value
            .as_object()
            .is_some_and(|map| map.values().all(|v| has_type(v, element)));
    }
    match t {
        "format" => value.is_object(),
        t => type_of(value) == t,
    }
}

/// Whether a field name is camelCase: an ASCII letter first, lowercase, then letters and
/// digits only.
pub fn is_camel_case(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Checks one document against docs/json.md; the error says every difference.
pub fn check(document: &Value) -> Result<(), String> {
    let Some(schema) = document.get("schema").and_then(Value::as_str) else {
        return Err(format!("a document without a `schema`: {document}"));
    };
    let Some(fields) = documents().schemas.get(schema) else {
        return Err(format!("{schema} is not documented in docs/json.md"));
    };
    let mut problems = Vec::new();
    walk(document, "", fields, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{schema} differs from docs/json.md:\n  {}\n{document:#}",
            problems.join("\n  ")
        ))
    }
}

/// Panics unless `document` is exactly what docs/json.md says.
#[track_caller]
pub fn assert_documented(document: &Value) {
    if let Err(e) = check(document) {
        panic!("{e}");
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Checks the object or list at `path`: its fields against the table, recursively.
fn walk(value: &Value, path: &str, fields: &BTreeMap<String, Field>, problems: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                let at = child(path, key);
                if !is_camel_case(key) {
                    problems.push(format!("`{at}` is not camelCase"));
                }
                if path.is_empty() && key == "schema" {
                    continue;
                }
                let Some(field) = fields.get(&at) else {
                    problems.push(format!("`{at}` is not documented"));
                    continue;
                };
                if !field.types.iter().any(|t| has_type(item, t)) {
                    problems.push(format!(
                        "`{at}` is {}, documented as {}",
                        type_of(item),
                        field.types.join(" or ")
                    ));
                    continue;
                }
                // A file format or a map of data is not this page's to check inside.
                if !field
                    .types
                    .iter()
                    .any(|t| t == "format" || t.starts_with("map of "))
                {
                    walk(item, &at, fields, problems);
                }
            }
            let prefix = if path.is_empty() {
                String::new()
            } else {
                format!("{path}.")
            };
            for (documented, field) in fields {
                let Some(name) = documented.strip_prefix(&prefix) else {
                    continue;
                };
                if name.contains('.') || name.contains('[') || field.optional {
                    continue;
                }
                if !map.contains_key(name) {
                    problems.push(format!("`{documented}` is missing"));
                }
            }
        }
        Value::Array(items) => {
            let at = format!("{path}[]");
            for item in items {
                match fields.get(&at) {
                    Some(field) => {
                        if !field.types.iter().any(|t| has_type(item, t)) {
                            problems.push(format!(
                                "an item of `{path}` is {}, documented as {}",
                                type_of(item),
                                field.types.join(" or ")
                            ));
                        }
                    }
                    None => walk(item, &at, fields, problems),
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_names() {
        for good in ["keyId", "exitCode", "a", "spkiSha256"] {
            assert!(is_camel_case(good), "{good}");
        }
        for bad in ["key_id", "KeyId", "key-id", "", "1a"] {
            assert!(!is_camel_case(bad), "{bad}");
        }
    }
}
