//! JSON Schema helpers: schemas from Rust types (schemars, draft 2020-12) and a small
//! validator for tools registered with a raw schema.
//!
//! Typed handlers are validated by deserializing into their argument type; the
//! validator here covers the keywords that matter for hand-written schemas (`type`,
//! `required`, `properties`, `additionalProperties: false`, `enum`, `const`, `items`,
//! numeric and length bounds, `allOf`/`anyOf`/`oneOf`). Unknown keywords are ignored,
//! as the JSON Schema spec says.

use std::sync::Arc;

use schemars::JsonSchema;
use serde_json::{Map, Value};

use crate::protocol::JsonObject;

/// The input schema of an argument type, as an object schema.
///
/// ```
/// #[derive(schemars::JsonSchema)]
/// struct Add { a: i64, b: i64 }
/// let s = ferromcp_core::schema::object_schema_for::<Add>();
/// assert_eq!(s["type"], "object");
/// assert_eq!(s["required"], serde_json::json!(["a", "b"]));
/// ```
pub fn object_schema_for<T: JsonSchema>() -> Arc<JsonObject> {
    let settings = schemars::generate::SchemaSettings::draft2020_12();
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut obj = match schema.to_value() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    obj.remove("title");
    if !obj.contains_key("type")
        && !obj.contains_key("$ref")
        && !obj.contains_key("anyOf")
        && !obj.contains_key("oneOf")
    {
        obj.insert("type".into(), Value::String("object".into()));
    }
    Arc::new(obj)
}

/// An empty object schema (`{"type":"object","properties":{}}`), for tools without
/// arguments.
pub fn empty_object_schema() -> Arc<JsonObject> {
    let mut m = Map::new();
    m.insert("type".into(), Value::String("object".into()));
    m.insert("properties".into(), Value::Object(Map::new()));
    Arc::new(m)
}

/// Validates `value` against `schema`; the error names the failing path.
///
/// ```
/// let schema = serde_json::json!({"type":"object","required":["a"],"properties":{"a":{"type":"integer"}}});
/// assert!(ferromcp_core::schema::validate(&schema, &serde_json::json!({"a": 1})).is_ok());
/// let err = ferromcp_core::schema::validate(&schema, &serde_json::json!({"a": "x"})).unwrap_err();
/// assert!(err.contains("/a"));
/// ```
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, schema, value, &mut String::new(), 0)
}

const MAX_DEPTH: usize = 64;

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let Some(r) = schema.get("$ref").and_then(Value::as_str) else { return schema };
    let Some(path) = r.strip_prefix("#/") else { return schema };
    let mut cur = root;
    for part in path.split('/') {
        match cur.get(part.replace("~1", "/").replace("~0", "~")) {
            Some(next) => cur = next,
            None => return schema,
        }
    }
    cur
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.as_i64().is_some() || v.as_u64().is_some() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

fn at(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

fn check(root: &Value, schema: &Value, v: &Value, path: &mut String, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{}: schema nesting too deep", at(path)));
    }
    let schema = resolve(root, schema);
    let Some(s) = schema.as_object() else {
        return if schema == &Value::Bool(false) {
            Err(format!("{}: no value is allowed here", at(path)))
        } else {
            Ok(())
        };
    };
    match s.get("type") {
        Some(Value::String(t)) if !type_ok(t, v) => return Err(format!("{}: expected {t}", at(path))),
        Some(Value::Array(ts)) if !ts.iter().filter_map(Value::as_str).any(|t| type_ok(t, v)) => {
            return Err(format!("{}: expected one of {}", at(path), Value::Array(ts.clone())));
        }
        _ => {}
    }
    if let Some(Value::Array(options)) = s.get("enum")
        && !options.contains(v)
    {
        return Err(format!("{}: must be one of {}", at(path), Value::Array(options.clone())));
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        return Err(format!("{}: must equal {c}", at(path)));
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            return Err(format!("{}: must be >= {min}", at(path)));
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            return Err(format!("{}: must be <= {max}", at(path)));
        }
    }
    if let Some(text) = v.as_str() {
        let len = text.chars().count() as u64;
        if s.get("minLength").and_then(Value::as_u64).is_some_and(|m| len < m) {
            return Err(format!("{}: too short", at(path)));
        }
        if s.get("maxLength").and_then(Value::as_u64).is_some_and(|m| len > m) {
            return Err(format!("{}: too long", at(path)));
        }
    }
    if let Some(obj) = v.as_object() {
        if let Some(Value::Array(req)) = s.get("required") {
            for name in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(name) {
                    return Err(format!("{}: missing required property `{name}`", at(path)));
                }
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, val) in obj {
            let len = path.len();
            path.push('/');
            path.push_str(k);
            let r = match props.and_then(|p| p.get(k)) {
                Some(ps) => check(root, ps, val, path, depth + 1),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => Err(format!("{}: unexpected property", at(path))),
                    Some(extra @ Value::Object(_)) => check(root, extra, val, path, depth + 1),
                    _ => Ok(()),
                },
            };
            path.truncate(len);
            r?;
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            let len = path.len();
            path.push_str(&format!("/{i}"));
            let r = check(root, items, item, path, depth + 1);
            path.truncate(len);
            r?;
        }
    }
    if let Some(Value::Array(all)) = s.get("allOf") {
        for sub in all {
            check(root, sub, v, path, depth + 1)?;
        }
    }
    if let Some(Value::Array(any)) = s.get("anyOf")
        && !any.iter().any(|sub| check(root, sub, v, &mut path.clone(), depth + 1).is_ok())
    {
        return Err(format!("{}: matches none of anyOf", at(path)));
    }
    if let Some(Value::Array(one)) = s.get("oneOf") {
        let n = one.iter().filter(|sub| check(root, sub, v, &mut path.clone(), depth + 1).is_ok()).count();
        if n != 1 {
            return Err(format!("{}: must match exactly one of oneOf ({n} matched)", at(path)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs_enums_and_additional_properties() {
        let schema = json!({
            "type": "object",
            "$defs": {"color": {"enum": ["red", "blue"]}},
            "properties": {"c": {"$ref": "#/$defs/color"}, "n": {"type": "integer", "minimum": 0}},
            "additionalProperties": false
        });
        assert!(validate(&schema, &json!({"c": "red", "n": 3})).is_ok());
        assert!(validate(&schema, &json!({"c": "green"})).is_err());
        assert!(validate(&schema, &json!({"n": -1})).is_err());
        assert!(validate(&schema, &json!({"zzz": 1})).is_err());
        assert!(validate(&schema, &json!([1])).is_err());
    }

    #[test]
    fn self_referencing_schema_does_not_overflow() {
        let schema = json!({"$defs": {"a": {"$ref": "#/$defs/a"}}, "properties": {"x": {"$ref": "#/$defs/a"}}});
        let mut v = json!(1);
        for _ in 0..100 {
            v = json!({"x": v});
        }
        let _ = validate(&schema, &v);
    }
}
