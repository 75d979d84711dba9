//! Shapes: what a value can hold at design time, as far as it is known.
//!
//! Policy: a shape only says what can *never* be there. `Any` is unknown (nothing is
//! flagged); a closed object lists every key it can have; an open one may have others. The
//! declared workflow input (`inputSchema`) is closed over its `properties` unless it allows
//! more with `additionalProperties`; an Http task's output is closed (the executor's typed
//! output); Simple tasks and response bodies are `Any`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::template::Step;

/// What a value can hold.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Shape {
    /// Unknown.
    Any,
    /// An object with these keys (and, when open, maybe others).
    Object {
        keys: BTreeMap<String, Shape>,
        open: bool,
    },
    /// An array of items of this shape.
    Array(Box<Shape>),
    /// A string, number, boolean or null.
    Scalar,
}

impl Shape {
    /// A closed object of `keys`.
    pub(super) fn object<'a>(keys: impl IntoIterator<Item = (&'a str, Shape)>) -> Self {
        Shape::Object {
            keys: keys.into_iter().map(|(k, s)| (k.to_owned(), s)).collect(),
            open: false,
        }
    }

    /// The shape a JSON Schema describes (the declared workflow input).
    pub(super) fn from_schema(schema: &Value) -> Self {
        let kind = match schema.get("type") {
            Some(Value::String(t)) => Some(t.as_str()),
            // Several types: one of them besides `null` (which nothing reads into) is known;
            // more may be any of them.
            Some(Value::Array(types)) => {
                let mut named = types.iter().filter(|t| t.as_str() != Some("null"));
                match (named.next().and_then(Value::as_str), named.next()) {
                    (Some(one), None) => Some(one),
                    _ => return Shape::Any,
                }
            }
            _ => None,
        };
        match kind {
            Some("object") | None if schema.get("properties").is_some() => {
                let keys = schema["properties"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, s)| (k.clone(), Shape::from_schema(s)))
                    .collect();
                let open = match schema.get("additionalProperties") {
                    None | Some(Value::Bool(false)) => false,
                    Some(_) => true,
                };
                Shape::Object { keys, open }
            }
            Some("object") => Shape::Object {
                keys: BTreeMap::new(),
                open: true,
            },
            Some("array") => Shape::Array(Box::new(
                schema.get("items").map_or(Shape::Any, Shape::from_schema),
            )),
            Some("string" | "number" | "integer" | "boolean" | "null") => Shape::Scalar,
            _ => Shape::Any,
        }
    }

    /// The output of an Http task (the executor's `HttpTaskOutput`); `quantity` only where the
    /// endpoint reports one (usages).
    pub(super) fn http_output(quantity_reported: bool) -> Self {
        let quantity = Shape::object(
            ["requested", "accepted", "remainder", "roundedAway"].map(|k| (k, Shape::Scalar)),
        );
        let attempt =
            Shape::object(["kind", "status", "error", "delayMs"].map(|k| (k, Shape::Scalar)));
        let mut out = Shape::object([
            ("statusCode", Shape::Scalar),
            (
                "headers",
                Shape::Object {
                    keys: BTreeMap::new(),
                    open: true,
                },
            ),
            ("body", Shape::Any),
            ("attempts", Shape::Array(Box::new(attempt))),
            ("idempotencyKey", Shape::Scalar),
            ("outcome", Shape::Scalar),
        ]);
        if quantity_reported && let Shape::Object { keys, .. } = &mut out {
            keys.insert("quantity".into(), quantity);
        }
        out
    }

    /// Either shape (a task reached from several places).
    pub(super) fn join(&self, other: &Shape) -> Shape {
        match (self, other) {
            (Shape::Any, _) | (_, Shape::Any) => Shape::Any,
            (Shape::Scalar, Shape::Scalar) => Shape::Scalar,
            (Shape::Array(a), Shape::Array(b)) => Shape::Array(Box::new(a.join(b))),
            (Shape::Object { keys: a, open: oa }, Shape::Object { keys: b, open: ob }) => {
                let mut keys = a.clone();
                for (k, s) in b {
                    let joined = keys.get(k).map_or_else(|| s.clone(), |mine| mine.join(s));
                    keys.insert(k.clone(), joined);
                }
                Shape::Object {
                    keys,
                    open: *oa || *ob,
                }
            }
            _ => Shape::Any,
        }
    }

    /// The shape at `steps`, or why nothing can be there, phrased to follow "the input …"
    /// (`has only `a`, `b``, `has no `k` under `$.a` (only …)`).
    pub(super) fn at(&self, steps: &[Step]) -> Result<Shape, String> {
        let mut here = self.clone();
        for (i, step) in steps.iter().enumerate() {
            let under = render(&steps[..i]);
            here = match (&here, step) {
                (Shape::Any, _) => return Ok(Shape::Any),
                (Shape::Object { keys, open }, Step::Key(k)) => match keys.get(k) {
                    Some(s) => s.clone(),
                    None if *open => return Ok(Shape::Any),
                    None if i == 0 => return Err(format!("has only {}", list(keys))),
                    None => {
                        return Err(format!(
                            "has no `{k}` under `{under}` (only {})",
                            list(keys)
                        ));
                    }
                },
                (Shape::Array(items), Step::Index(_)) => (**items).clone(),
                (Shape::Object { .. }, Step::Index(_)) => {
                    return Err(format!("has an object, not an array, at `{under}`"));
                }
                (Shape::Array(_), Step::Key(_)) => {
                    return Err(format!("has an array, not an object, at `{under}`"));
                }
                (Shape::Scalar, _) => {
                    return Err(format!(
                        "has a single value at `{under}`, with nothing inside"
                    ));
                }
            };
        }
        Ok(here)
    }

    /// `self` with `value` set at `steps` (objects created along the way), as `resultPath`
    /// places a result.
    pub(super) fn with(&self, steps: &[Step], value: Shape) -> Shape {
        let Some((first, rest)) = steps.split_first() else {
            return value;
        };
        match (self, first) {
            (Shape::Object { keys, open }, Step::Key(k)) => {
                let mut keys = keys.clone();
                let inner = keys.get(k).cloned().unwrap_or(Shape::Object {
                    keys: BTreeMap::new(),
                    open: false,
                });
                keys.insert(k.clone(), inner.with(rest, value));
                Shape::Object { keys, open: *open }
            }
            (Shape::Any, Step::Key(k)) => Shape::Object {
                keys: BTreeMap::from([(k.clone(), Shape::Any.with(rest, value))]),
                open: true,
            },
            _ => Shape::Any,
        }
    }
}

fn list(keys: &BTreeMap<String, Shape>) -> String {
    if keys.is_empty() {
        return "no keys".into();
    }
    keys.keys()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `steps` as a path (`$.a[0]`).
fn render(steps: &[Step]) -> String {
    let mut out = String::from("$");
    for step in steps {
        match step {
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(n) => out.push_str(&format!("[{n}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn steps(path: &str) -> Vec<Step> {
        crate::template::path::parse(path).unwrap().steps
    }

    #[test]
    fn closed_shapes_say_what_can_never_be_there() {
        let out = Shape::http_output(true);
        assert!(out.at(&steps("$.quantity.remainder")).is_ok());
        assert!(
            out.at(&steps("$.body.anything.deep")).is_ok(),
            "body is unknown"
        );
        let err = out.at(&steps("$.quantity.left")).unwrap_err();
        assert!(
            err.contains("no `left` under `$.quantity`") && err.contains("`remainder`"),
            "{err}"
        );
        assert!(
            out.at(&steps("$.qty"))
                .unwrap_err()
                .contains("`statusCode`")
        );
        let input =
            Shape::from_schema(&json!({"type": "object", "properties": {"q": {"type": "string"}}}));
        assert!(input.at(&steps("$.q")).is_ok());
        assert!(input.at(&steps("$.p")).is_err());
        assert!(input.at(&steps("$.q.x")).is_err(), "inside a string");
        let open = Shape::from_schema(
            &json!({"type": "object", "properties": {}, "additionalProperties": true}),
        );
        assert!(open.at(&steps("$.anything")).is_ok());
        let joined = input.join(&Shape::object([("p", Shape::Scalar)]));
        assert!(joined.at(&steps("$.p")).is_ok() && joined.at(&steps("$.q")).is_ok());
        let placed = input.with(&steps("$.charge"), Shape::http_output(false));
        assert!(placed.at(&steps("$.charge.outcome")).is_ok() && placed.at(&steps("$.q")).is_ok());
        assert!(
            placed.at(&steps("$.charge.quantity")).is_err(),
            "a charge reports no quantity"
        );
        // Several types may be any of them (an array holds indexes, an object keys); one
        // besides `null` is that one.
        let either = Shape::from_schema(
            &json!({"type": ["array", "object"], "properties": {"a": {}}, "items": {}}),
        );
        assert_eq!(either, Shape::Any);
        let nullable = Shape::from_schema(
            &json!({"type": ["object", "null"], "properties": {"q": {"type": "string"}}}),
        );
        assert!(nullable.at(&steps("$.q")).is_ok() && nullable.at(&steps("$.p")).is_err());
    }
}
