//! Decision conditions: the JavaScript-expression subset SimWorkflow examples use.
//!
//! Grammar: `or := and ('||' and)*`, `and := not ('&&' not)*`, `not := '!' not | cmp`,
//! `cmp := value (op value)?` with `op` in `== != === !== < <= > >=`, `value := '(' or ')' |
//! number | 'string' | "string" | true | false | null | JSONPath` where a JSONPath is `$`
//! followed by `.key`, `['key']` or `[n]` ([`crate::template::path`], the one JSONPath parser), read from the Decision's
//! input (the previous task's output). Anything else — function calls, arithmetic, assignment
//! — is rejected when the definition is validated, never a surprise at run time.
//!
//! Semantics as in JavaScript: `===`/`!==` compare JSON values strictly (numbers by value);
//! `==`/`!=` and `<`… also read a numeric string as a number (`"2.5" > 0` is true, so the
//! executor's decimal-string quantities compare naturally), comparing exact decimals (`0.1 +
//! 0.2`-style binary rounding never decides a branch); two strings compare as text;
//! anything else is false. Truthiness as in JavaScript; a missing path is `undefined` (falsy,
//! `== null`).

use std::cmp::Ordering;

use serde_json::Value;

use crate::decimal;
use crate::template::path::{self, JsonPath, Scope};

/// Deepest nesting of parentheses and `!` a condition may have (a guard against input that
/// would exhaust the stack; real conditions nest a few levels).
pub const MAX_DEPTH: usize = 64;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal.
    Literal(Value),
    /// A value read from the input.
    Path(JsonPath),
    /// `!e`.
    Not(Box<Expr>),
    /// `a && b && …` (left to right, short-circuit).
    And(Vec<Expr>),
    /// `a || b || …` (left to right, short-circuit).
    Or(Vec<Expr>),
    /// `a op b`.
    Compare(Box<Expr>, Op, Box<Expr>),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Op {
    Eq,
    Ne,
    StrictEq,
    StrictNe,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A condition outside the supported subset: where (character offset) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError {
    /// 0-based character offset.
    pub offset: usize,
    /// What is wrong and what is supported.
    pub message: String,
}

/// Parses over the text with byte positions; errors convert to character offsets.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err_at<T>(&self, pos: usize, message: impl Into<String>) -> Result<T, ConditionError> {
        Err(ConditionError {
            offset: self.text[..pos.min(self.text.len())].chars().count(),
            message: message.into(),
        })
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, ConditionError> {
        self.err_at(self.pos, message)
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// Enters one level of nesting (`(` or `!`), refusing past [`MAX_DEPTH`].
    fn enter(&mut self) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!(
                "the condition nests deeper than {MAX_DEPTH} levels of parentheses and `!`"
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ConditionError> {
        let mut terms = vec![self.and()?];
        while self.eat("||") {
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            Expr::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut terms = vec![self.not()?];
        while self.eat("&&") {
            terms.push(self.not()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            Expr::And(terms)
        })
    }

    fn not(&mut self) -> Result<Expr, ConditionError> {
        self.skip_ws();
        if self.rest().starts_with('!') && !self.rest().starts_with("!=") {
            self.pos += 1;
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, ConditionError> {
        let left = self.value()?;
        for (token, op) in [
            ("===", Op::StrictEq),
            ("!==", Op::StrictNe),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if self.eat(token) {
                return Ok(Expr::Compare(Box::new(left), op, Box::new(self.value()?)));
            }
        }
        Ok(left)
    }

    fn value(&mut self) -> Result<Expr, ConditionError> {
        self.skip_ws();
        let Some(c) = self.peek() else {
            return self.err("expected a value, found the end of the condition");
        };
        if c == '(' {
            self.pos += 1;
            self.enter()?;
            let e = self.or()?;
            if !self.eat(")") {
                return self.err("expected `)`");
            }
            self.depth -= 1;
            return Ok(e);
        }
        if c == '\'' || c == '"' {
            let start = self.pos + 1;
            let Some(len) = self.text[start..].find(c) else {
                return self.err("unterminated string");
            };
            self.pos = start + len + 1;
            return Ok(Expr::Literal(Value::String(
                self.text[start..start + len].to_owned(),
            )));
        }
        let rest = self.rest();
        if c.is_ascii_digit() || (c == '-' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) {
            let start = self.pos;
            let len = 1 + rest[1..]
                .find(|x: char| !(x.is_ascii_digit() || matches!(x, '.' | 'e' | 'E')))
                .unwrap_or(rest.len() - 1);
            self.pos += len;
            let text = &self.text[start..self.pos];
            return match serde_json::from_str::<Value>(text) {
                Ok(v @ Value::Number(_)) => Ok(Expr::Literal(v)),
                _ => self.err_at(start, format!("`{text}` is not a number")),
            };
        }
        if c == '$' {
            let start = self.pos;
            let (path, len) =
                path::parse_prefix(rest).or_else(|e| self.err_at(start + e.offset, e.message))?;
            self.pos += len;
            if self.peek() == Some('(') {
                return self.err("method calls are not supported");
            }
            return Ok(Expr::Path(path));
        }
        let start = self.pos;
        let len = rest
            .find(|x: char| !(x.is_alphanumeric() || x == '_'))
            .unwrap_or(rest.len());
        self.pos += len;
        let word = &self.text[start..self.pos];
        match word {
            "true" => Ok(Expr::Literal(Value::Bool(true))),
            "false" => Ok(Expr::Literal(Value::Bool(false))),
            "null" | "undefined" => Ok(Expr::Literal(Value::Null)),
            "" => self.err_at(
                start,
                format!(
                    "unexpected `{c}`; supported: comparisons (== != === !== < <= > >=), && || !, parentheses, numbers, strings, true/false/null and $-paths"
                ),
            ),
            _ => {
                self.skip_ws();
                let what = if self.peek() == Some('(') {
                    "function calls are"
                } else {
                    "identifiers other than true, false, null are"
                };
                self.err_at(
                    start,
                    format!(
                        "`{word}`: {what} not supported; read values with $-paths such as $.body.quantity"
                    ),
                )
            }
        }
    }
}

/// Parses a condition; `Err` says where and why it is outside the supported subset (including
/// nesting deeper than [`MAX_DEPTH`]). `&&`/`||` chains are flat lists, so their length costs
/// no stack.
pub fn parse(condition: &str) -> Result<Expr, ConditionError> {
    let mut p = Parser {
        text: condition,
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    if p.pos == p.text.len() {
        return p.err("empty condition");
    }
    let e = p.or()?;
    p.skip_ws();
    if p.pos != p.text.len() {
        let shown: String = p.rest().chars().take(10).collect();
        return p.err(format!("unexpected `{shown}`; expected && || or the end"));
    }
    Ok(e)
}

/// A value as JavaScript's truthiness sees it; `None` is `undefined` (a missing path).
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(n @ Value::Number(_)) => match decimal::number_decimal(n) {
            Some(d) => !d.is_zero(),
            None => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        },
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// An operand's value: borrowed from the input or the literal, or a computed boolean.
enum Operand<'a> {
    Borrowed(Option<&'a Value>),
    Bool(bool),
}

impl Operand<'_> {
    fn get(&self) -> Option<&Value> {
        match self {
            Operand::Borrowed(v) => *v,
            Operand::Bool(true) => Some(&Value::Bool(true)),
            Operand::Bool(false) => Some(&Value::Bool(false)),
        }
    }
}

fn operand<'a>(e: &'a Expr, scope: &Scope<'a>) -> Operand<'a> {
    match e {
        Expr::Literal(v) => Operand::Borrowed(Some(v)),
        Expr::Path(p) => Operand::Borrowed(p.lookup_in(scope)),
        other => Operand::Bool(eval_in(other, scope)),
    }
}

/// Compares two values numerically: exact decimals when both read as one, else as doubles
/// (numbers beyond the decimal range).
fn numeric_order(l: &Value, r: &Value) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (decimal::numeric(l), decimal::numeric(r)) {
        return Some(x.cmp(&y));
    }
    let double = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    double(l)?.partial_cmp(&double(r)?)
}

/// `===`: same JSON value (numbers by value, `undefined` equals `null`).
fn strict_equal(l: Option<&Value>, r: Option<&Value>) -> bool {
    match (l, r) {
        (None | Some(Value::Null), None | Some(Value::Null)) => true,
        (Some(x @ Value::Number(_)), Some(y @ Value::Number(_))) => {
            numeric_order(x, y) == Some(Ordering::Equal)
        }
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// `==`: strict equality, or equal as numbers (a numeric string reads as a number).
fn loose_equal(l: Option<&Value>, r: Option<&Value>) -> bool {
    strict_equal(l, r)
        || matches!((l, r), (Some(x), Some(y)) if numeric_order(x, y) == Some(Ordering::Equal))
}

fn order(op: Op, o: Option<Ordering>) -> bool {
    use Ordering::{Equal, Greater, Less};
    matches!(
        (op, o),
        (Op::Lt, Some(Less))
            | (Op::Le, Some(Less | Equal))
            | (Op::Gt, Some(Greater))
            | (Op::Ge, Some(Greater | Equal))
    )
}

/// Evaluates a parsed condition against the Decision's input.
pub fn eval(e: &Expr, input: &Value) -> bool {
    eval_in(e, &Scope::input(input))
}

/// Evaluates a parsed condition in a scope (the Decision's input, the context object `$$`,
/// the system keys).
pub fn eval_in(e: &Expr, scope: &Scope<'_>) -> bool {
    match e {
        Expr::Literal(v) => truthy(Some(v)),
        Expr::Path(p) => truthy(p.lookup_in(scope)),
        Expr::Not(x) => !truthy(operand(x, scope).get()),
        Expr::And(terms) => terms.iter().all(|t| truthy(operand(t, scope).get())),
        Expr::Or(terms) => terms.iter().any(|t| truthy(operand(t, scope).get())),
        Expr::Compare(a, op, b) => {
            let (l, r) = (operand(a, scope), operand(b, scope));
            let (l, r) = (l.get(), r.get());
            match op {
                Op::StrictEq => strict_equal(l, r),
                Op::StrictNe => !strict_equal(l, r),
                Op::Eq => loose_equal(l, r),
                Op::Ne => !loose_equal(l, r),
                _ => match (l, r) {
                    (Some(Value::String(x)), Some(Value::String(y))) => order(*op, Some(x.cmp(y))),
                    (Some(x), Some(y)) => order(*op, numeric_order(x, y)),
                    _ => false,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(c: &str, input: &Value) -> bool {
        eval(&parse(c).unwrap(), input)
    }

    #[test]
    fn evaluates_the_documented_examples() {
        let input = json!({"value": 25, "type": "Public", "quantity": {"remainder": 2.5}, "list": [1, {"k": "v"}], "sp ace": true});
        assert!(check("$.value >= 20 && $.value < 30", &input));
        assert!(check("$.type !== 'Private'", &input));
        assert!(check("$.quantity.remainder > 0", &input));
        assert!(!check("$.quantity.remainder > 2.5", &input));
        assert!(check("$.list[1].k == \"v\" && $['sp ace']", &input));
        assert!(check("!($.value < 20) || false", &input));
        assert!(check("$.missing == null && !$.missing", &input));
        assert!(!check("$.missing > 0", &input));
        assert!(check("$.value === 25.0", &input));
        assert!(check("'b' > 'a'", &input));
        let q = json!({"quantity": {"remainder": "2.5", "zero": "0"}});
        assert!(check(
            "$.quantity.remainder > 0 && !($.quantity.zero > 0)",
            &q
        ));
        assert!(check(
            "$.quantity.remainder == 2.5 && $.quantity.remainder !== 2.5",
            &q
        ));
        assert!(check("$.list", &input));
    }

    #[test]
    fn numbers_compare_as_exact_decimals() {
        let q = json!({"q": "2.6750000000000001", "n": 12345678901234567.5, "big": 1e40});
        // As doubles both sides would be 2.675.
        assert!(check("$.q > 2.675 && $.q != 2.675", &q));
        assert!(check("$.big > 1e39 && $.n > 0", &q));
    }

    #[test]
    fn nesting_is_bounded_and_long_chains_are_flat() {
        let deep = format!(
            "{}$.a{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(&deep).unwrap_err().message.contains("nests deeper"));
        let bangs = format!("{}$.a", "!".repeat(1600));
        assert!(parse(&bangs).unwrap_err().message.contains("nests deeper"));
        let ok = format!("{}$.a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let chain = vec!["$.a > 0"; 10_000].join(" && ");
        assert!(check(&chain, &json!({"a": 1})));
    }

    #[test]
    fn rejects_anything_outside_the_subset_with_a_position() {
        for (c, needle, offset) in [
            ("$.value.toFixed(2) > 1", "method calls", 15),
            ("Math.max($.a, 1) > 0", "`Math`", 0),
            ("parseInt($.a) > 0", "function calls", 0),
            ("$.a + 1 > 2", "unexpected `+ 1 > 2`", 4),
            ("$.a = 1", "unexpected `= 1`", 4),
            ("$..a", "expected a key", 2),
            ("", "empty", 0),
            ("($.a > 1", "expected `)`", 8),
            ("'open", "unterminated", 0),
        ] {
            let e = parse(c).unwrap_err();
            assert!(e.message.contains(needle), "{c}: {}", e.message);
            assert_eq!(e.offset, offset, "{c}");
        }
    }
}
