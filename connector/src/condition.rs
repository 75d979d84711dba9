//! Decision conditions: the JavaScript-expression subset SimWorkflow examples use.
//!
//! Grammar: `or := and ('||' and)*`, `and := not ('&&' not)*`, `not := '!' not | cmp`,
//! `cmp := value (op value)?` with `op` in `== != === !== < <= > >=`, `value := '(' or ')' |
//! number | 'string' | "string" | true | false | null | JSONPath` where a JSONPath is `$`
//! followed by `.key`, `['key']` or `[n]` (the placeholder subset), read from the Decision's
//! input (the previous task's output). Anything else — function calls, arithmetic, assignment
//! — is rejected when the definition is validated, never a surprise at run time.
//!
//! Semantics as in JavaScript: `===`/`!==` compare JSON values strictly (numbers by value);
//! `==`/`!=` and `<`… also read a numeric string as a number (`"2.5" > 0` is true, so the
//! executor's decimal-string quantities compare naturally); two strings compare as text;
//! anything else is false. Truthiness as in JavaScript; a missing path is `undefined` (falsy,
//! `== null`).

use serde_json::Value;

use crate::validate::placeholder::{JsonPath, Step, lookup};

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal.
    Literal(Value),
    /// A value read from the input.
    Path(JsonPath),
    /// `!e`.
    Not(Box<Expr>),
    /// `a && b`.
    And(Box<Expr>, Box<Expr>),
    /// `a || b`.
    Or(Box<Expr>, Box<Expr>),
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

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn err<T>(&self, message: impl Into<String>) -> Result<T, ConditionError> {
        Err(ConditionError {
            offset: self.pos,
            message: message.into(),
        })
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        let t: Vec<char> = token.chars().collect();
        if self.chars.get(self.pos..self.pos + t.len()) == Some(&t[..]) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, ConditionError> {
        let mut left = self.and()?;
        while self.eat("||") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut left = self.not()?;
        while self.eat("&&") {
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ConditionError> {
        self.skip_ws();
        if self.chars.get(self.pos) == Some(&'!') && self.chars.get(self.pos + 1) != Some(&'=') {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
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
        let Some(&c) = self.chars.get(self.pos) else {
            return self.err("expected a value, found the end of the condition");
        };
        if c == '(' {
            self.pos += 1;
            let e = self.or()?;
            if !self.eat(")") {
                return self.err("expected `)`");
            }
            return Ok(e);
        }
        if c == '\'' || c == '"' {
            let start = self.pos + 1;
            let Some(len) = self.chars[start..].iter().position(|&x| x == c) else {
                return self.err("unterminated string");
            };
            self.pos = start + len + 1;
            return Ok(Expr::Literal(Value::String(
                self.chars[start..start + len].iter().collect(),
            )));
        }
        if c.is_ascii_digit()
            || (c == '-'
                && self
                    .chars
                    .get(self.pos + 1)
                    .is_some_and(char::is_ascii_digit))
        {
            let start = self.pos;
            self.pos += 1;
            while self
                .chars
                .get(self.pos)
                .is_some_and(|x| x.is_ascii_digit() || *x == '.' || *x == 'e' || *x == 'E')
            {
                self.pos += 1;
            }
            let text: String = self.chars[start..self.pos].iter().collect();
            return match serde_json::from_str::<Value>(&text) {
                Ok(v @ Value::Number(_)) => Ok(Expr::Literal(v)),
                _ => Err(ConditionError {
                    offset: start,
                    message: format!("`{text}` is not a number"),
                }),
            };
        }
        if c == '$' {
            return self.path();
        }
        let start = self.pos;
        while self
            .chars
            .get(self.pos)
            .is_some_and(|x| x.is_alphanumeric() || *x == '_')
        {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        match word.as_str() {
            "true" => Ok(Expr::Literal(Value::Bool(true))),
            "false" => Ok(Expr::Literal(Value::Bool(false))),
            "null" | "undefined" => Ok(Expr::Literal(Value::Null)),
            "" => Err(ConditionError {
                offset: start,
                message: format!(
                    "unexpected `{c}`; supported: comparisons (== != === !== < <= > >=), && || !, parentheses, numbers, strings, true/false/null and $-paths"
                ),
            }),
            _ => {
                self.skip_ws();
                let what = if self.chars.get(self.pos) == Some(&'(') {
                    "function calls are"
                } else {
                    "identifiers other than true, false, null are"
                };
                Err(ConditionError {
                    offset: start,
                    message: format!(
                        "`{word}`: {what} not supported; read values with $-paths such as $.body.quantity"
                    ),
                })
            }
        }
    }

    fn path(&mut self) -> Result<Expr, ConditionError> {
        let start = self.pos;
        self.pos += 1;
        let mut steps = Vec::new();
        loop {
            match self.chars.get(self.pos) {
                Some('.') => {
                    let s = self.pos + 1;
                    let mut e = s;
                    while self
                        .chars
                        .get(e)
                        .is_some_and(|x| x.is_alphanumeric() || *x == '_' || *x == '-' || *x == ':')
                    {
                        e += 1;
                    }
                    if e == s {
                        self.pos = s;
                        return self.err("expected a key after `.`");
                    }
                    steps.push(Step::Key(self.chars[s..e].iter().collect()));
                    self.pos = e;
                }
                Some('[') => {
                    let Some(close) = self.chars[self.pos..]
                        .iter()
                        .position(|&x| x == ']')
                        .map(|p| p + self.pos)
                    else {
                        return self.err("`[` without `]`");
                    };
                    let inner: String = self.chars[self.pos + 1..close].iter().collect();
                    let quoted = inner.len() >= 2
                        && ((inner.starts_with('\'') && inner.ends_with('\''))
                            || (inner.starts_with('"') && inner.ends_with('"')));
                    if quoted {
                        steps.push(Step::Key(inner[1..inner.len() - 1].to_owned()));
                    } else if let Ok(n) = inner.parse::<usize>() {
                        steps.push(Step::Index(n));
                    } else {
                        return self
                            .err(format!("`[{inner}]` is not supported; use [0] or ['key']"));
                    }
                    self.pos = close + 1;
                }
                Some('(') => return self.err("method calls are not supported"),
                _ => break,
            }
        }
        Ok(Expr::Path(JsonPath {
            text: self.chars[start..self.pos].iter().collect(),
            steps,
        }))
    }
}

/// Parses a condition; `Err` says where and why it is outside the supported subset.
pub fn parse(condition: &str) -> Result<Expr, ConditionError> {
    let mut p = Parser {
        chars: condition.chars().collect(),
        pos: 0,
    };
    p.skip_ws();
    if p.pos == p.chars.len() {
        return p.err("empty condition");
    }
    let e = p.or()?;
    p.skip_ws();
    if p.pos != p.chars.len() {
        return p.err(format!(
            "unexpected `{}`; expected && || or the end",
            p.chars[p.pos..].iter().take(10).collect::<String>()
        ));
    }
    Ok(e)
}

fn value(e: &Expr, input: &Value) -> Option<Value> {
    match e {
        Expr::Literal(v) => Some(v.clone()),
        Expr::Path(p) => lookup(p, input).cloned(),
        other => Some(Value::Bool(truthy(eval_inner(other, input)))),
    }
}

fn truthy(v: Option<Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

fn eval_inner(e: &Expr, input: &Value) -> Option<Value> {
    Some(Value::Bool(match e {
        Expr::Literal(_) | Expr::Path(_) => return value(e, input),
        Expr::Not(x) => !truthy(value(x, input)),
        Expr::And(a, b) => truthy(value(a, input)) && truthy(value(b, input)),
        Expr::Or(a, b) => truthy(value(a, input)) || truthy(value(b, input)),
        Expr::Compare(a, op, b) => {
            let (l, r) = (value(a, input), value(b, input));
            match op {
                Op::StrictEq => equal(&l, &r),
                Op::StrictNe => !equal(&l, &r),
                Op::Eq => {
                    equal(&l, &r) || numeric(&l).zip(numeric(&r)).is_some_and(|(x, y)| x == y)
                }
                Op::Ne => {
                    !(equal(&l, &r) || numeric(&l).zip(numeric(&r)).is_some_and(|(x, y)| x == y))
                }
                _ => match (&l, &r) {
                    (Some(Value::String(x)), Some(Value::String(y))) => order(op, Some(x.cmp(y))),
                    _ => match numeric(&l).zip(numeric(&r)) {
                        Some((x, y)) => order(op, x.partial_cmp(&y)),
                        None => false,
                    },
                },
            }
        }
    }))
}

/// A number, or a string that reads as one (JavaScript's coercion in `<` and `==`).
fn numeric(v: &Option<Value>) -> Option<f64> {
    match v {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

fn equal(l: &Option<Value>, r: &Option<Value>) -> bool {
    match (l, r) {
        (None | Some(Value::Null), None | Some(Value::Null)) => true,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn order(op: &Op, o: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
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
    truthy(eval_inner(e, input))
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
