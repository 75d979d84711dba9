//! Values known in part before a run: the workflow input is known, a task's response is not.
//!
//! Policy: what only the run can tell (a response, a Simple task's result, a Parallel task's
//! outputs) is one marker value; data passing places it where the result goes (`resultPath`),
//! so data carried along a chain stays known. A read that meets the marker is unknown (the
//! template is left for run time); a read that misses in a known part is a real mistake, the
//! same error the run would meet. A JSONata expression is unknown only when it reads the
//! marker's value (evaluated with it hidden, `template::jsonata::reads_marked`). The
//! marker is a string no input holds in practice: it never leaves this module's callers
//! (nothing unknown is prepared or sent).

use serde_json::{Map, Value};

use crate::condition::Expr;
use crate::output::TaskError;
use crate::template::path::JsonPath;
use crate::template::{self, Part, Scope, Template};

const MARK: &str = "\u{0}usage-connector: known at run time only\u{0}";

/// What only the run can tell.
pub(crate) fn unknown() -> Value {
    Value::String(MARK.to_owned())
}

/// Whether `v` is the marker itself.
pub(crate) fn is_unknown(v: &Value) -> bool {
    matches!(v, Value::String(s) if s == MARK)
}

/// Whether `v` holds the marker anywhere.
pub(crate) fn holds_unknown(v: &Value) -> bool {
    match v {
        Value::String(s) => s == MARK,
        Value::Array(items) => items.iter().any(holds_unknown),
        Value::Object(map) => map.values().any(holds_unknown),
        _ => false,
    }
}

/// Whether reading `p` in `scope` meets what only the run can tell.
pub(crate) fn path_unknown(p: &JsonPath, scope: &Scope<'_>) -> bool {
    path_through_unknown(p, scope) || p.lookup_in(scope).is_some_and(holds_unknown)
}

/// Whether `p` in `scope` leads through (or to) what only the run can tell: whether it finds
/// anything there is for the run to say. A path that does not is read now; what it finds may
/// still hold unknowns inside, carried along as they are.
pub(crate) fn path_through_unknown(p: &JsonPath, scope: &Scope<'_>) -> bool {
    (0..=p.steps.len()).any(|n| {
        let prefix = JsonPath {
            text: String::new(),
            root: p.root,
            steps: p.steps[..n].to_vec(),
        };
        prefix.lookup_in(scope).is_some_and(is_unknown)
    })
}

/// Whether resolving the string `s` needs what only the run can tell (a malformed placeholder
/// is left to the run, which reports it).
fn text_unknown(s: &str, scope: &Scope<'_>) -> bool {
    if !s.contains("${") && !s.starts_with("jsonata:") {
        return false;
    }
    template::parse(s).map_or(true, |t| template_unknown(&t, scope))
}

fn template_unknown(t: &Template, scope: &Scope<'_>) -> bool {
    match t {
        Template::Literal(_) => false,
        Template::Whole(p) => path_unknown(p, scope),
        Template::Interpolated(parts) => parts.iter().any(|part| match part {
            Part::Path(p) => path_unknown(p, scope),
            Part::Jsonata(e) => jsonata_unknown(e, scope),
            Part::Text(_) => false,
        }),
        Template::Jsonata(e) => jsonata_unknown(e, scope),
        Template::Spread(source) => template_unknown(source, scope),
    }
}

/// Whether a JSONata expression in `scope` reads what only the run can tell. It may read
/// anything in the input or the context object, so with an unknown there it is evaluated once
/// with every unknown hidden: one that never reads them gives the run's value now.
fn jsonata_unknown(expr: &str, scope: &Scope<'_>) -> bool {
    (holds_unknown(scope.input) || holds_unknown(scope.execution_input))
        && template::reads_marked(expr, scope, MARK)
}

/// Whether resolving any string of `v` needs what only the run can tell.
pub(crate) fn value_unknown(v: &Value, scope: &Scope<'_>) -> bool {
    match v {
        Value::String(s) => text_unknown(s, scope),
        Value::Array(items) => items.iter().any(|i| value_unknown(i, scope)),
        Value::Object(map) => map.values().any(|i| value_unknown(i, scope)),
        _ => false,
    }
}

/// `map` resolved in `scope` as far as it is known: a value whose reads meet the unknown is
/// the marker; `at` names the field in errors (a read that misses in a known part).
pub(crate) fn resolve_map(
    map: &Map<String, Value>,
    scope: &Scope<'_>,
    at: &str,
) -> Result<Value, TaskError> {
    let mut out = Map::new();
    for (key, v) in map {
        let resolved = match v {
            Value::Object(inner) => resolve_map(inner, scope, at)?,
            v if value_unknown(v, scope) => unknown(),
            v => template::resolve_value_in(v, scope).map_err(|e| TaskError::unresolved(e, at))?,
        };
        out.insert(key.clone(), resolved);
    }
    Ok(Value::Object(out))
}

/// Whether a Decision condition reads what only the run can tell.
pub(crate) fn condition_unknown(e: &Expr, scope: &Scope<'_>) -> bool {
    match e {
        Expr::Literal(_) => false,
        Expr::Path(p) => path_unknown(p, scope),
        Expr::Not(x) => condition_unknown(x, scope),
        Expr::And(terms) | Expr::Or(terms) => terms.iter().any(|t| condition_unknown(t, scope)),
        Expr::Compare(a, _, b) => condition_unknown(a, scope) || condition_unknown(b, scope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::ErrorCode;
    use serde_json::json;

    #[test]
    fn reads_through_the_unknown_are_unknown_and_misses_in_known_parts_are_not() {
        let input = json!({"quantity": "2.5", "charge": unknown()});
        let scope = Scope::input(&input);
        assert!(!value_unknown(&json!({"q": "${$.quantity}"}), &scope));
        assert!(value_unknown(&json!("${$.charge.body.id}"), &scope));
        assert!(value_unknown(&json!("id ${$.charge}"), &scope));
        assert!(
            value_unknown(&json!("${$}"), &scope),
            "the whole input holds the unknown"
        );
        assert!(
            !value_unknown(&json!("${$.nope}"), &scope),
            "a miss is known"
        );
        // JSONata is known when it never reads an unknown value (the keys around one are
        // known): evaluated with every unknown hidden, a read of one stops it.
        for known in [
            "jsonata:$sum(x)",
            "jsonata:quantity & '!'",
            "${jsonata:$keys($)}",
            "q=${jsonata:$number(quantity) * 2}",
        ] {
            assert!(!value_unknown(&json!(known), &scope), "{known}");
        }
        for reads in [
            "jsonata:charge.body.id",
            "jsonata:$exists(charge)",
            "jsonata:charge = 'x'",
            "jsonata:$string($)",
            "jsonata:$states.input.charge",
            "jsonata:$map([1], function($v) { charge })",
            // `$eval` catches the read and throws its own error: still a read.
            "jsonata:$eval('charge')",
            "${...jsonata:[charge]}",
        ] {
            assert!(value_unknown(&json!(reads), &scope), "{reads}");
        }
        // An input unknown as a whole: an expression that never reads it, and answers the
        // same whatever its kind, runs now; one that reads it, or answers by its kind, waits.
        let whole = unknown();
        let whole = Scope::input(&whole);
        for known in ["jsonata:1 + 1", "jsonata:$uppercase('a')"] {
            assert!(!value_unknown(&json!(known), &whole), "{known}");
        }
        for reads in [
            "jsonata:$",
            "jsonata:body.id",
            "jsonata:$type($)",
            "jsonata:$count($)",
            "jsonata:$keys($)",
            "jsonata:$string($)",
            "jsonata:$ = 'x'",
            "jsonata:$boolean($)",
            "jsonata:$.body ? 1 : 2",
            "jsonata:$map($, function($v) { 1 })",
            "jsonata:$eval('statusCode')",
            "jsonata:$states.input.body",
        ] {
            assert!(value_unknown(&json!(reads), &whole), "{reads}");
        }
        let known = json!({"quantity": "2.5"});
        assert!(
            !value_unknown(&json!("jsonata:$sum(x)"), &Scope::input(&known)),
            "an input without unknowns: the expression runs before the first write"
        );
        let map = json!({"q": "${$.quantity}", "id": "${$.charge.body.id}"});
        let resolved = resolve_map(map.as_object().unwrap(), &scope, "/inputParameters").unwrap();
        assert_eq!(resolved["q"], "2.5");
        assert!(is_unknown(&resolved["id"]));
        let missing = json!({"x": "${$.nope}"});
        let e = resolve_map(missing.as_object().unwrap(), &scope, "/inputParameters").unwrap_err();
        assert_eq!(e.code, ErrorCode::InputMissing);
    }
}
