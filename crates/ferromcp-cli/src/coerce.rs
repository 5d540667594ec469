//! Tool arguments from the command line: one JSON object, or `key=value` pairs typed by
//! the tool's `inputSchema` (integers, numbers, booleans, JSON for objects and arrays,
//! strings as they are).

use serde_json::{Map, Value};

/// The JSON types a property schema allows (`type`, a list of types, or the types of
/// its `anyOf`/`oneOf` branches); empty when it does not say.
fn types(prop: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match &prop["type"] {
        Value::String(t) => out.push(t.clone()),
        Value::Array(ts) => out.extend(ts.iter().filter_map(Value::as_str).map(str::to_owned)),
        _ => {}
    }
    for key in ["anyOf", "oneOf"] {
        for branch in prop[key].as_array().into_iter().flatten() {
            out.extend(types(branch));
        }
    }
    out
}

/// Converts `raw` to the first of `types` it fits; `Err` lists what was expected.
fn convert(raw: &str, types: &[String]) -> Result<Value, String> {
    if types.is_empty() {
        // No type: JSON if it parses (numbers, true, {…}), else the text.
        return Ok(serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned())));
    }
    for t in types {
        let v = match t.as_str() {
            "string" => Some(Value::String(raw.to_owned())),
            "integer" => raw.trim().parse::<i64>().ok().map(Value::from),
            "number" => raw.trim().parse::<f64>().ok().and_then(|f| {
                // Keep integers integral (`2` rather than `2.0`).
                raw.trim()
                    .parse::<i64>()
                    .ok()
                    .map(Value::from)
                    .or_else(|| serde_json::Number::from_f64(f).map(Value::Number))
            }),
            "boolean" => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "on" => Some(Value::Bool(true)),
                "false" | "no" | "0" | "off" => Some(Value::Bool(false)),
                _ => None,
            },
            "null" => (raw.trim() == "null").then_some(Value::Null),
            "object" => serde_json::from_str::<Value>(raw).ok().filter(Value::is_object),
            "array" => serde_json::from_str::<Value>(raw).ok().filter(Value::is_array),
            _ => None,
        };
        if let Some(v) = v {
            return Ok(v);
        }
    }
    let what: Vec<&str> = types
        .iter()
        .map(|t| match t.as_str() {
            "integer" => "an integer",
            "number" => "a number",
            "boolean" => "true or false",
            "object" => "a JSON object",
            "array" => "a JSON array",
            "null" => "null",
            _ => "text",
        })
        .collect();
    Err(format!("expected {}", what.join(" or ")))
}

/// Builds the `arguments` object of a call of `tool` from `args` (one JSON object, or
/// `key=value` pairs) and the tool's input schema. Errors say which argument is wrong
/// and what the tool takes.
pub fn tool_arguments(tool: &str, schema: &Value, args: &[String]) -> Result<Map<String, Value>, String> {
    let empty = Map::new();
    let props = schema["properties"].as_object().unwrap_or(&empty);
    let closed = schema["additionalProperties"] == Value::Bool(false);
    let takes = || {
        if props.is_empty() {
            "it takes no arguments".to_owned()
        } else {
            let list: Vec<String> = props
                .iter()
                .map(|(k, p)| {
                    let t = types(p);
                    if t.is_empty() { k.clone() } else { format!("{k}: {}", t.join("|")) }
                })
                .collect();
            format!("it takes {}", list.join(", "))
        }
    };
    let mut out = Map::new();
    if let [single] = args
        && single.trim_start().starts_with('{')
    {
        match serde_json::from_str::<Value>(single) {
            Ok(Value::Object(m)) => out = m,
            _ => return Err(format!("the arguments of `{tool}` are not a valid JSON object: {single}")),
        }
    } else {
        for arg in args {
            let Some((key, raw)) = arg.split_once('=') else {
                return Err(format!(
                    "`{arg}` is not key=value; give the arguments of `{tool}` as key=value pairs or one JSON object ({})",
                    takes()
                ));
            };
            let key = key.trim();
            let prop = match props.get(key) {
                Some(p) => p,
                None if closed || !props.is_empty() => {
                    return Err(format!("`{tool}` has no argument `{key}`; {}", takes()));
                }
                None => &Value::Null,
            };
            let v =
                convert(raw, &types(prop)).map_err(|e| format!("argument `{key}` of `{tool}`: {e}, got `{raw}`"))?;
            out.insert(key.to_owned(), v);
        }
    }
    let missing: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|k| !out.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(format!("`{tool}` needs {} ({})", missing.join(", "), takes()));
    }
    Ok(out)
}

/// Prompt arguments: `key=value` pairs, all strings (as `prompts/get` takes them).
pub fn prompt_arguments(name: &str, args: &[String]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for arg in args {
        let (k, v) = arg.split_once('=').ok_or_else(|| {
            format!("`{arg}` is not key=value; give the arguments of prompt `{name}` as key=value pairs")
        })?;
        out.insert(k.trim().to_owned(), Value::String(v.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn key_values_follow_the_schema() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "integer"}, "x": {"type": "number"}, "on": {"type": "boolean"},
            "tags": {"type": "array"}, "opt": {"type": "object"}, "name": {"type": "string"},
            "maybe": {"type": ["integer", "null"]}, "free": {}
        }, "required": ["a"]});
        let got = tool_arguments(
            "t",
            &schema,
            &words(&["a=1", "x=2.5", "on=true", "tags=[1,2]", "opt={\"k\":1}", "name=42", "maybe=7", "free=3"]),
        )
        .unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"a": 1, "x": 2.5, "on": true, "tags": [1, 2], "opt": {"k": 1}, "name": "42", "maybe": 7, "free": 3})
        );
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        let schema =
            json!({"properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]});
        let e = tool_arguments("add", &schema, &words(&["a=x", "b=2"])).unwrap_err();
        assert!(e.contains("argument `a` of `add`: expected an integer, got `x`"), "{e}");
        let e = tool_arguments("add", &schema, &words(&["c=1"])).unwrap_err();
        assert!(e.contains("`add` has no argument `c`; it takes a: integer, b: integer"), "{e}");
        let e = tool_arguments("add", &schema, &words(&["a=1"])).unwrap_err();
        assert!(e.contains("`add` needs b"), "{e}");
        let e = tool_arguments("add", &schema, &words(&["a"])).unwrap_err();
        assert!(e.contains("not key=value"), "{e}");
        let e = tool_arguments("add", &schema, &words(&["{nope"])).unwrap_err();
        assert!(e.contains("not a valid JSON object"), "{e}");
    }

    #[test]
    fn one_json_object_passes_through() {
        let schema = json!({"properties": {"a": {"type": "integer"}}});
        let got = tool_arguments("t", &schema, &words(&[r#"{"a": 5}"#])).unwrap();
        assert_eq!(Value::Object(got), json!({"a": 5}));
        assert_eq!(
            Value::Object(prompt_arguments("p", &words(&["n=42"])).unwrap()),
            json!({"n": "42"}),
            "prompt arguments stay strings"
        );
    }
}
