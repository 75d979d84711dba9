//! The template language of definitions: `${…}` placeholders over JSONPath ([`path`]),
//! parsed by one parser and resolved over a task input. The validator, the prepare path, the
//! runner and Decision conditions all read values through this module.
//!
//! Policy (SimWorkflow, with Amazon States Language semantics where it is silent):
//! - a placeholder holds a JSONPath of the [`path`] subset; `${jsonata:…}` and strings
//!   starting `jsonata:` are JSONata expressions, evaluated by [`jsonata`] with the task input
//!   as `$` (a whole one keeps the JSON type of its result, one inside text interpolates like
//!   a path);
//! - `${swf:key}` reads a system key (`${swf:sequenceNumber}`), as `${$.swf:key}` does;
//! - `${...$.items}` (or `${...jsonata:…}`) is a spread: as an array item it stands for the
//!   items of the array it names (a string: its characters); anywhere else it is an error
//!   (inferred from SimWorkflow's one line on spread; docs/templates.md);
//! - `$${` is an escape for a literal `${`;
//! - a string that is exactly one placeholder keeps the JSON type of the value it resolves to;
//!   a placeholder inside text interpolates as text (strings raw, other values as JSON).

pub mod jsonata;
pub mod path;

use serde_json::Value;

pub use path::{Context, JsonPath, PathError, Root, Scope, Step};

/// A piece of an interpolated string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text (escapes already applied).
    Text(String),
    /// A placeholder.
    Path(JsonPath),
    /// A `${jsonata:…}` expression.
    Jsonata(String),
}

/// What a string in a definition means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Template {
    /// No placeholder: the string itself (with `$${` unescaped).
    Literal(String),
    /// Exactly one placeholder: the referenced value, JSON type kept.
    Whole(JsonPath),
    /// Text with placeholders: always a string.
    Interpolated(Vec<Part>),
    /// A JSONata expression (`jsonata:` prefix or `${jsonata:…}` alone).
    Jsonata(String),
    /// `${...source}` alone: an array item that stands for the items of what `source` (a
    /// [`Template::Whole`] or [`Template::Jsonata`]) gives.
    Spread(Box<Template>),
}

/// A malformed placeholder: where in the string (character offset) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceholderError {
    /// Character offset of the `${` that starts the bad placeholder.
    pub offset: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

/// The byte index of the `}` that closes a placeholder whose body starts at `from`, skipping
/// quoted bracket keys.
fn closing_brace(s: &str, from: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (j, c) in s[from..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '}') => return Some(from + j),
            _ => {}
        }
    }
    None
}

/// The path of a string that is exactly one `${…}` JSONPath placeholder (not JSONata).
fn whole_path(s: &str) -> Option<&str> {
    if !s.starts_with("${") {
        return None;
    }
    let close = closing_brace(s, 2)?;
    let inner = s[2..close].trim();
    (close + 1 == s.len() && inner.starts_with('$')).then_some(inner)
}

/// The path of a placeholder's inner text: a JSONPath, or `swf:key` for `$.swf:key`.
fn placeholder_path(inner: &str) -> Result<JsonPath, PathError> {
    if inner.starts_with("swf:") {
        let mut path = path::parse(&format!("$.{inner}"))?;
        path.text = inner.to_owned();
        return Ok(path);
    }
    path::parse(inner)
}

/// The message for a spread that is not a whole array item.
pub const SPREAD_PLACE: &str = "a spread `${...}` stands alone as an array item (`[\"${...$.items}\"]`): it expands into that array";

/// `s`'s own text with each placeholder written as `placeholder`; `None` when `s` does not
/// parse or is one placeholder as a whole (a path, JSONata, a spread: no text of its own).
pub fn text_with(s: &str, placeholder: &str) -> Option<String> {
    match parse(s).ok()? {
        Template::Literal(text) => Some(text),
        Template::Interpolated(parts) => Some(
            parts
                .iter()
                .map(|p| match p {
                    Part::Text(text) => text.as_str(),
                    _ => placeholder,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// Parses a string from a definition, in one pass (linear in its length, however many
/// placeholders it holds).
pub fn parse(s: &str) -> Result<Template, PlaceholderError> {
    if let Some(expr) = s.strip_prefix("jsonata:") {
        return Ok(Template::Jsonata(expr.to_owned()));
    }
    let mut parts: Vec<Part> = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    // Character offset of byte `i`, kept as we go (offsets in errors count characters).
    let mut chars_before = 0;
    while let Some(c) = s[i..].chars().next() {
        let rest = &s[i..];
        if rest.starts_with("$${") {
            text.push_str("${");
            i += 3;
            chars_before += 3;
            continue;
        }
        if rest.starts_with("${") {
            let offset = chars_before;
            let Some(close) = closing_brace(s, i + 2) else {
                return Err(PlaceholderError {
                    offset,
                    message: "unbalanced placeholder: `${` without a closing `}` (write `$${` for a literal `${`)".into(),
                });
            };
            let inner = s[i + 2..close].trim();
            if inner.is_empty() {
                return Err(PlaceholderError {
                    offset,
                    message: "empty placeholder `${}`; expected a JSONPath such as `${$.quantity}`"
                        .into(),
                });
            }
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            if let Some(source) = inner.strip_prefix("...") {
                if offset != 0 || close + 1 != s.len() {
                    return Err(PlaceholderError {
                        offset,
                        message: SPREAD_PLACE.into(),
                    });
                }
                let source = match source.trim_start().strip_prefix("jsonata:") {
                    Some(expr) => Template::Jsonata(expr.to_owned()),
                    None => {
                        Template::Whole(placeholder_path(source.trim_start()).map_err(|e| {
                            PlaceholderError {
                                offset,
                                message: format!("spread: {}", e.message),
                            }
                        })?)
                    }
                };
                return Ok(Template::Spread(Box::new(source)));
            }
            if let Some(expr) = inner.strip_prefix("jsonata:") {
                parts.push(Part::Jsonata(expr.to_owned()));
            } else {
                let path = placeholder_path(inner).map_err(|e| PlaceholderError {
                    offset,
                    message: e.message,
                })?;
                parts.push(Part::Path(path));
            }
            chars_before += s[i..=close].chars().count();
            i = close + 1;
            continue;
        }
        text.push(c);
        i += c.len_utf8();
        chars_before += 1;
    }
    if parts.is_empty() {
        return Ok(Template::Literal(text));
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(match parts.as_mut_slice() {
        [Part::Path(p)] => Template::Whole(std::mem::replace(
            p,
            JsonPath {
                text: String::new(),
                root: Root::Input,
                steps: vec![],
            },
        )),
        [Part::Jsonata(e)] => Template::Jsonata(std::mem::take(e)),
        _ => Template::Interpolated(parts),
    })
}

/// Why a placeholder could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// The path names nothing in the input.
    Missing(String),
    /// A JSONata expression yielded nothing (JSONata's answer, not an error, for a path that
    /// matches nothing): the expression.
    Nothing(String),
    /// A JSONata expression failed: the expression and why.
    Jsonata(String, jsonata::JsonataError),
    /// A placeholder that does not parse (a definition that skipped validation), or a spread
    /// outside an array.
    Malformed(PlaceholderError),
    /// A spread over a value that is neither an array nor a string: the source and its JSON
    /// type.
    NotIterable(String, &'static str),
}

/// Resolves a template against a task input.
pub fn resolve(template: &Template, input: &Value) -> Result<Value, Unresolved> {
    resolve_in(template, &Scope::input(input))
}

/// Resolves a template in a scope (input, context object, system keys).
pub fn resolve_in(template: &Template, scope: &Scope<'_>) -> Result<Value, Unresolved> {
    let get = |p: &JsonPath| {
        p.lookup_in(scope)
            .cloned()
            .ok_or_else(|| Unresolved::Missing(p.text.clone()))
    };
    match template {
        Template::Literal(s) => Ok(Value::String(s.clone())),
        Template::Whole(p) => get(p),
        Template::Jsonata(expr) => evaluate(expr, scope),
        Template::Spread(_) => Err(Unresolved::Malformed(PlaceholderError {
            offset: 0,
            message: SPREAD_PLACE.into(),
        })),
        Template::Interpolated(parts) => {
            let mut out = String::new();
            for part in parts {
                let value = match part {
                    Part::Text(t) => {
                        out.push_str(t);
                        continue;
                    }
                    Part::Jsonata(expr) => evaluate(expr, scope)?,
                    Part::Path(p) => get(p)?,
                };
                match value {
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                }
            }
            Ok(Value::String(out))
        }
    }
}

/// Evaluates a JSONata expression in `scope`: the task input is `$` and `$states.input`, the
/// context object `$states.context`.
pub fn evaluate(expr: &str, scope: &Scope<'_>) -> Result<Value, Unresolved> {
    match jsonata::evaluate(expr, scope.input, &bindings(scope)) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(Unresolved::Nothing(expr.to_owned())),
        Err(e) => Err(Unresolved::Jsonata(expr.to_owned(), e)),
    }
}

/// What a JSONata expression reads besides `$`: `$states.input` and `$states.context`.
fn bindings(scope: &Scope<'_>) -> Value {
    serde_json::json!({
        "states": { "input": scope.input, "context": scope.context_object() }
    })
}

/// Whether [`evaluate`] of `expr` in `scope` reads a value equal to `mark`
/// ([`jsonata::reads_marked`]).
pub(crate) fn reads_marked(expr: &str, scope: &Scope<'_>, mark: &str) -> bool {
    jsonata::reads_marked(expr, scope.input, &bindings(scope), mark)
}

/// Resolves every string of `value` (keys are not templated).
///
/// Strings without placeholders and strings that are exactly one placeholder resolve without
/// building a [`Template`] (they run for every field of every request).
pub fn resolve_value(value: &Value, input: &Value) -> Result<Value, Unresolved> {
    resolve_value_in(value, &Scope::input(input))
}

/// [`resolve_value`] in a scope (input, context object, system keys).
pub fn resolve_value_in(value: &Value, scope: &Scope<'_>) -> Result<Value, Unresolved> {
    Ok(match value {
        Value::String(s) if !s.contains("${") && !s.starts_with("jsonata:") => value.clone(),
        Value::String(s) => {
            if let Some(path) = whole_path(s)
                && let Ok(found) = path::lookup_text(path, scope)
            {
                return found
                    .cloned()
                    .ok_or_else(|| Unresolved::Missing(path.to_owned()));
            }
            resolve_in(&parse(s).map_err(Unresolved::Malformed)?, scope)?
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match spread_of(item) {
                    Some(source) => out.extend(spread(&source, scope)?),
                    None => out.push(resolve_value_in(item, scope)?),
                }
            }
            Value::Array(out)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_value_in(v, scope)?)))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

/// The source of an array item that is a spread (`"${...$.items}"`), if it is one.
pub fn spread_of(item: &Value) -> Option<Template> {
    match item {
        Value::String(s) if s.starts_with("${") && s[2..].trim_start().starts_with("...") => {
            match parse(s) {
                Ok(Template::Spread(source)) => Some(*source),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The items a spread of `source` stands for: an array's items, a string's characters. A
/// JSONata source's lone value is one item (JSONata gives a one-item sequence as its item).
fn spread(source: &Template, scope: &Scope<'_>) -> Result<Vec<Value>, Unresolved> {
    match resolve_in(source, scope)? {
        Value::Array(items) => Ok(items),
        other if matches!(source, Template::Jsonata(_)) => Ok(vec![other]),
        Value::String(s) => Ok(s.chars().map(|c| Value::String(c.into())).collect()),
        other => {
            let named = match source {
                Template::Whole(p) => p.text.clone(),
                Template::Jsonata(e) => format!("jsonata:{e}"),
                _ => String::new(),
            };
            Err(Unresolved::NotIterable(named, json_type(&other)))
        }
    }
}

/// The JSON type name of a value (`object`, `array`, `string`, …).
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_form() {
        assert_eq!(parse("plain").unwrap(), Template::Literal("plain".into()));
        assert_eq!(
            parse("cost $${x}").unwrap(),
            Template::Literal("cost ${x}".into())
        );
        assert!(matches!(parse("${$}").unwrap(), Template::Whole(p) if p.steps.is_empty()));
        let Template::Whole(p) = parse("${$.a['b c'][2].d}").unwrap() else {
            panic!()
        };
        assert_eq!(
            p.steps,
            vec![
                Step::Key("a".into()),
                Step::Key("b c".into()),
                Step::Index(2),
                Step::Key("d".into())
            ]
        );
        assert!(
            matches!(parse("evt-${$.id}-x").unwrap(), Template::Interpolated(parts) if parts.len() == 3)
        );
        assert_eq!(
            parse("jsonata:$sum(x)").unwrap(),
            Template::Jsonata("$sum(x)".into())
        );
        assert_eq!(
            parse("${jsonata:$.a + 1}").unwrap(),
            Template::Jsonata("$.a + 1".into())
        );
        assert!(
            matches!(parse("${$['a}b']}").unwrap(), Template::Whole(p) if p.steps == vec![Step::Key("a}b".into())])
        );
    }

    #[test]
    fn rejects_malformed_placeholders_with_a_reason() {
        // Placeholder syntax here; path errors (passed through) are tested in `path`.
        let message = |s: &str| parse(s).unwrap_err().message;
        assert!(message("${$.a").contains("unbalanced"));
        assert!(message("x ${}").contains("empty placeholder"));
        assert!(message("${$..a}").contains("recursive descent"));
        assert_eq!(parse("ab${$.").unwrap_err().offset, 2);
        // Offsets count characters, also after earlier placeholders and multi-byte text.
        assert_eq!(parse("é${$.a}x${$.").unwrap_err().offset, 8);
    }

    #[test]
    fn resolution_keeps_types_for_whole_values_and_interpolates_text() {
        let input = json!({"q": 5.125, "id": "a1", "n": [1, {"k": true}], "sp ace": "s"});
        assert_eq!(
            resolve_value(&json!("${$.q}"), &input).unwrap(),
            json!(5.125)
        );
        assert_eq!(
            resolve_value(&json!("evt-${$.id}-${$.q}"), &input).unwrap(),
            json!("evt-a1-5.125")
        );
        assert_eq!(
            resolve_value(&json!({"x": ["${$.n[1].k}", "${$['sp ace']}"]}), &input).unwrap(),
            json!({"x": [true, "s"]})
        );
        assert_eq!(
            resolve_value(&json!("${$.nope}"), &input),
            Err(Unresolved::Missing("$.nope".into()))
        );
        // JSONata, in both placements: whole (type kept) and inside text.
        assert_eq!(
            resolve_value(&json!("jsonata:q * 2"), &input).unwrap(),
            json!(10.25)
        );
        assert_eq!(
            resolve_value(&json!("${jsonata:$count(n)}"), &input).unwrap(),
            json!(2)
        );
        assert_eq!(
            resolve_value(&json!("evt-${jsonata:$uppercase(id)}-${$.q}"), &input).unwrap(),
            json!("evt-A1-5.125")
        );
        assert_eq!(
            resolve_value(&json!("jsonata:nope.deeper"), &input),
            Err(Unresolved::Nothing("nope.deeper".into()))
        );
        assert!(matches!(
            resolve_value(&json!("jsonata:id + 1"), &input),
            Err(Unresolved::Jsonata(e, _)) if e == "id + 1"
        ));
    }

    #[test]
    fn a_spread_expands_an_iterable_as_an_array_item_and_nowhere_else() {
        let input = json!({"more": ["b", "c"], "none": [], "word": "hé", "n": 2, "o": {"k": 1}});
        let spread = |v: Value| resolve_value(&v, &input);
        assert_eq!(
            spread(json!(["a", "${...$.more}", "z"])).unwrap(),
            json!(["a", "b", "c", "z"])
        );
        assert_eq!(spread(json!(["${...$.none}"])).unwrap(), json!([]));
        assert_eq!(spread(json!(["${... $.word}"])).unwrap(), json!(["h", "é"]));
        assert_eq!(
            spread(json!({"x": ["${...jsonata:more.$uppercase($)}", 1]})).unwrap(),
            json!({"x": ["B", "C", 1]})
        );
        // JSONata gives a one-item sequence as its item: still one item, never its letters.
        assert_eq!(
            spread(json!(["${...jsonata:more[0]}", "${...jsonata:o}"])).unwrap(),
            json!(["b", {"k": 1}])
        );
        assert!(matches!(
            spread(json!(["${...$.n}"])),
            Err(Unresolved::NotIterable(p, "number")) if p == "$.n"
        ));
        assert!(matches!(
            spread(json!(["${...$.o}"])),
            Err(Unresolved::NotIterable(_, "object"))
        ));
        assert_eq!(
            spread(json!(["${...$.nope}"])),
            Err(Unresolved::Missing("$.nope".into()))
        );
        // Not an array item: an error, never a silent string.
        assert!(matches!(
            spread(json!({"x": "${...$.more}"})),
            Err(Unresolved::Malformed(_))
        ));
        assert_eq!(parse("a ${...$.more}").unwrap_err().message, SPREAD_PLACE);
        assert_eq!(parse("${...$.more} b").unwrap_err().message, SPREAD_PLACE);
        assert!(
            parse("${...$.a b}")
                .unwrap_err()
                .message
                .starts_with("spread:")
        );
    }

    #[test]
    fn a_bare_system_key_reads_like_its_path() {
        let Template::Whole(p) = parse("${swf:sequenceNumber}").unwrap() else {
            panic!()
        };
        assert_eq!(p.steps, vec![Step::Key("swf:sequenceNumber".into())]);
        assert_eq!(p.text, "swf:sequenceNumber");
        let input = json!({"swf:taskName": "own"});
        assert_eq!(
            resolve_value(&json!("${swf:taskName}"), &input).unwrap(),
            "own"
        );
    }

    /// Strings around the fast paths: placeholder-shaped ones (mostly well-formed paths, with
    /// spaces, text around or a second placeholder) and arbitrary mixes of the syntax.
    fn template_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let shaped = (
            "(|x|\\$)",
            "( |)",
            "\\$(\\.(a|k|é|a b|)|\\[(0|1|'a b'|\"k\"|x|)\\]|\\.\\.){0,3}",
            "( |)",
            "(}|)",
            "(|x|\\$\\{\\$\\.k\\})",
        )
            .prop_map(|(pre, sp1, path, sp2, close, post)| {
                format!("{pre}${{{sp1}{path}{sp2}{close}{post}")
            });
        let mixed = "(\\$\\{|\\$\\$\\{|jsonata:|[$.'\"\\[\\]{}}ak0-2 é]){0,10}";
        prop_oneof![shaped, mixed]
    }

    proptest::proptest! {
        /// The allocation-free paths of `resolve_value` (plain text, one whole placeholder)
        /// give exactly what parsing into a `Template` and resolving it gives.
        #[test]
        fn fast_paths_resolve_like_templates(s in template_text()) {
            let input = json!({"a": {"k": [7, "x"], "a b": 2}, "k": 1, "a b": null, "é": "e"});
            let general = match parse(&s) {
                Ok(t) => resolve(&t, &input),
                Err(e) => Err(Unresolved::Malformed(e)),
            };
            proptest::prop_assert_eq!(resolve_value(&json!(s), &input), general);
        }
    }
}
