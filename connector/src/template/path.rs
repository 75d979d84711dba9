//! JSONPath, the one subset the connector reads values with: in `${…}` placeholders, in
//! `inputParameters`/`workflowOutput`, and in Decision conditions.
//!
//! Policy: a path is `$` followed by steps: `.key`, `['key']` / `["key"]` (any characters but
//! the quote) and `[n]`; `$$` starts a path on the context object instead of the input. A dotted key is a run of any characters but whitespace, the path's
//! own syntax and the operators a condition may write after a path (so `$.swf:workflowId` and
//! `$.a@b` read, and `$.n>2` is a comparison); anything else needs brackets. Recursive descent, wildcards,
//! filters and slices are rejected with a reason. The same rules hold wherever a path is
//! written; a path inside a longer text (a condition) ends at the first character that cannot
//! continue it.

use serde_json::Value;

/// One step of a JSONPath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `.key` or `['key']`.
    Key(String),
    /// `[n]`.
    Index(usize),
}

/// What a path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `$`: the task's input.
    Input,
    /// `$$`: the context object (`$$.Execution.Input`, `$$.Task.Name`, …).
    Context,
}

/// A parsed JSONPath (`$` or `$$` followed by steps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    /// The text as written, e.g. `$.a['b c'][0]`.
    pub text: String,
    /// What it starts from.
    pub root: Root,
    /// The steps after the root.
    pub steps: Vec<Step>,
}

/// What a task reads besides its input: the context object and the system keys (built by data
/// passing, [`crate::data::context`]).
pub trait Context: std::fmt::Debug {
    /// The context object (`$$`) without the execution's input.
    fn object(&self) -> &Value;
    /// The system keys (`swf:workflowId`, `swf:taskName`, `swf:sequenceNumber`, …).
    fn system(&self) -> &Value;
}

/// What paths read: the task input (`$`), the context object (`$$`), and the system keys
/// (`swf:workflowId`, `swf:taskName`, …) that `$.swf:…` reads when the input has no such key.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The task input.
    pub input: &'a Value,
    /// The context object and system keys, when the task runs in an execution.
    pub context: Option<&'a dyn Context>,
    /// The execution's input, read as `$$.Execution.Input` (`Value::Null` when unknown).
    pub execution_input: &'a Value,
}

static NULL: Value = Value::Null;

impl<'a> Scope<'a> {
    /// A scope of only a task input.
    pub fn input(input: &'a Value) -> Self {
        Scope {
            input,
            context: None,
            execution_input: &NULL,
        }
    }

    /// The context object without the execution's input (`Value::Null` outside a frame).
    fn object(&self) -> &'a Value {
        self.context.map_or(&NULL, |c| c.object())
    }

    /// The whole context object, `Execution.Input` included, as JSONata reads it
    /// (`$states.context`).
    pub fn context_object(&self) -> Value {
        let mut context = self.object().clone();
        if !self.execution_input.is_null()
            && let Some(execution) = context
                .as_object_mut()
                .and_then(|c| c.get_mut("Execution"))
                .and_then(Value::as_object_mut)
        {
            execution.insert("Input".into(), self.execution_input.clone());
        }
        context
    }

    /// The system keys (`Value::Null` outside a frame).
    fn system(&self) -> &'a Value {
        self.context.map_or(&NULL, |c| c.system())
    }
}

fn follow<'a>(from: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(from, |v, step| match step {
        Step::Key(k) => v.get(k.as_str()),
        Step::Index(n) => v.get(*n),
    })
}

impl JsonPath {
    /// The value this path names in `input` alone, if any.
    pub fn lookup<'a>(&self, input: &'a Value) -> Option<&'a Value> {
        self.lookup_in(&Scope::input(input))
    }

    /// The value this path names in `scope`, if any.
    pub fn lookup_in<'a>(&self, scope: &Scope<'a>) -> Option<&'a Value> {
        match self.root {
            Root::Context => match self.steps.as_slice() {
                [Step::Key(e), Step::Key(i), rest @ ..] if e == "Execution" && i == "Input" => {
                    follow(scope.execution_input, rest)
                }
                steps => follow(scope.object(), steps),
            },
            Root::Input => follow(scope.input, &self.steps).or_else(|| match self.steps.first() {
                Some(Step::Key(k)) if k.starts_with("swf:") => follow(scope.system(), &self.steps),
                _ => None,
            }),
        }
    }
}

/// A path that breaks the rules: where (byte offset into the text given) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// Byte offset of the offending character.
    pub offset: usize,
    /// What is wrong and what would work.
    pub message: String,
}

/// One step as written (borrowed from the path's text).
#[derive(Debug, Clone, Copy)]
pub(crate) enum StepRef<'a> {
    Key(&'a str),
    Index(usize),
}

impl StepRef<'_> {
    pub(crate) fn get(self, v: &Value) -> Option<&Value> {
        match self {
            StepRef::Key(k) => v.get(k),
            StepRef::Index(n) => v.get(n),
        }
    }
}

/// Whether `c` may appear in a dotted key: anything but whitespace, the path's own syntax
/// (`.` `[` `]` `*` quotes) and the characters a condition uses around a path (`(` `)` `=` `!`
/// `<` `>` `&` `|` `,` `{` `}`).
fn key_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '.' | '['
                | ']'
                | '*'
                | '\''
                | '"'
                | '('
                | ')'
                | '='
                | '!'
                | '<'
                | '>'
                | '&'
                | '|'
                | ','
                | '{'
                | '}'
        )
}

/// Reads the path at the start of `text`, giving each step to `each`; returns its root and
/// byte length. Nothing is allocated unless the path is malformed.
pub(crate) fn walk_prefix<'a>(
    text: &'a str,
    mut each: impl FnMut(StepRef<'a>),
) -> Result<(Root, usize), PathError> {
    let err = |offset: usize, message: String| Err(PathError { offset, message });
    if !text.starts_with('$') {
        let shown: String = text.chars().take(40).collect();
        return err(
            0,
            format!("`{shown}` is not a JSONPath: it must start with `$` (e.g. `$.quantity`)"),
        );
    }
    let (root, mut at) = if text.starts_with("$$") {
        (Root::Context, 2)
    } else {
        (Root::Input, 1)
    };
    loop {
        let rest = &text[at..];
        match rest.chars().next() {
            Some('.') => {
                let key_len = rest[1..]
                    .find(|c: char| !key_char(c))
                    .unwrap_or(rest.len() - 1);
                if key_len == 0 {
                    let message = match rest[1..].chars().next() {
                        Some('.') => "recursive descent `..` is not supported; expected a key after `.`".to_owned(),
                        Some('*') => "wildcards are not supported; expected a key after `.`".to_owned(),
                        Some(c) if c.is_whitespace() => "expected a key after `.`; a dotted key cannot contain spaces: write `['key with spaces']`".to_owned(),
                        Some(c) => format!("expected a key after `.`; `{c}` cannot start a dotted key: write `['…']`"),
                        None => "empty key after `.`: expected a key".to_owned(),
                    };
                    return err(at + 1, message);
                }
                each(StepRef::Key(&rest[1..1 + key_len]));
                at += 1 + key_len;
            }
            Some('[') => {
                let inner = &rest[1..];
                match inner.chars().next() {
                    Some(q @ ('\'' | '"')) => {
                        let Some(close) = inner[1..].find(q) else {
                            return err(at, format!("`{q}` key without its closing `{q}`"));
                        };
                        if !inner[1 + close + 1..].starts_with(']') {
                            return err(at, "expected `]` after the quoted key".to_owned());
                        }
                        each(StepRef::Key(&inner[1..1 + close]));
                        at += 1 + close + 3;
                    }
                    _ => {
                        let Some(close) = inner.find(']') else {
                            return err(at, "`[` without `]`".to_owned());
                        };
                        match inner[..close].parse::<usize>() {
                            Ok(n) => each(StepRef::Index(n)),
                            Err(_) => {
                                return err(
                                    at,
                                    format!(
                                        "`[{}]` is not supported; use `[0]` for an index or `['key']` for a key",
                                        &inner[..close]
                                    ),
                                );
                            }
                        }
                        at += close + 2;
                    }
                }
            }
            _ => return Ok((root, at)),
        }
    }
}

/// Parses the path at the start of `text` (e.g. inside a condition); returns it and its byte
/// length. The caller decides what may follow.
pub fn parse_prefix(text: &str) -> Result<(JsonPath, usize), PathError> {
    let mut steps = Vec::new();
    let (root, len) = walk_prefix(text, |step| {
        steps.push(match step {
            StepRef::Key(k) => Step::Key(k.to_owned()),
            StepRef::Index(n) => Step::Index(n),
        });
    })?;
    Ok((
        JsonPath {
            text: text[..len].to_owned(),
            root,
            steps,
        },
        len,
    ))
}

/// The message for a character that cannot continue a path at `offset` of `text`.
pub(crate) fn trailing(text: &str, offset: usize) -> PathError {
    let c = text[offset..].chars().next().unwrap_or(' ');
    let message = if c.is_whitespace() {
        format!("`{text}`: a dotted key cannot contain spaces; write `['key with spaces']`")
    } else {
        format!(
            "`{text}`: unexpected `{c}`; a dotted key holds letters, digits, `_`, `-` and `:` (write `['…']` for others), steps are `.key`, `['key']` or `[index]`"
        )
    };
    PathError { offset, message }
}

/// Parses a path that makes up all of `text`.
pub fn parse(text: &str) -> Result<JsonPath, PathError> {
    let (path, len) = parse_prefix(text)?;
    if len != text.len() {
        return Err(trailing(text, len));
    }
    Ok(path)
}

/// Follows the path `text` (all of it) in `scope` without allocating for paths on the input:
/// `Err` when the path is malformed, `Ok(None)` when it names nothing.
pub(crate) fn lookup_text<'a>(
    text: &str,
    scope: &Scope<'a>,
) -> Result<Option<&'a Value>, PathError> {
    let mut at = Some(scope.input);
    let (root, len) = walk_prefix(text, |step| at = at.and_then(|v| step.get(v)))?;
    if len != text.len() {
        return Err(trailing(text, len));
    }
    if root == Root::Input && at.is_some() {
        return Ok(at);
    }
    // The context, or a system key the input lacks: the general path.
    Ok(parse(text)?.lookup_in(scope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_step_form_with_one_key_rule() {
        let p = parse("$.a['b c'][2].d[\"e]f\"].swf:taskName.a@b/c").unwrap();
        assert_eq!(
            p.steps,
            vec![
                Step::Key("a".into()),
                Step::Key("b c".into()),
                Step::Index(2),
                Step::Key("d".into()),
                Step::Key("e]f".into()),
                Step::Key("swf:taskName".into()),
                Step::Key("a@b/c".into()),
            ]
        );
        assert!(parse("$").unwrap().steps.is_empty());
        let (p, len) = parse_prefix("$.quantity.remainder > 0").unwrap();
        assert_eq!((p.text.as_str(), len), ("$.quantity.remainder", 20));
    }

    #[test]
    fn rejects_what_the_subset_does_not_have_with_a_reason() {
        for (text, needle) in [
            ("a.b", "must start with `$`"),
            ("$..a", "recursive descent"),
            ("$.", "empty key"),
            ("$.*", "wildcards"),
            ("$[x]", "is not supported"),
            ("$[*]", "is not supported"),
            ("$.a b", "spaces"),
            ("$.a=b", "unexpected `=`"),
            ("$['a", "without its closing"),
            ("$['a'x", "expected `]`"),
            ("$[0", "without `]`"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.message.contains(needle), "{text}: {}", e.message);
        }
    }

    #[test]
    fn lookup_reads_keys_and_indexes() {
        let input = json!({"a": [1, {"k": "v"}], "sp ace": true});
        assert_eq!(parse("$.a[1].k").unwrap().lookup(&input), Some(&json!("v")));
        let scope = Scope::input(&input);
        assert_eq!(
            lookup_text("$['sp ace']", &scope).unwrap(),
            Some(&json!(true))
        );
        assert_eq!(lookup_text("$.nope", &scope).unwrap(), None);
        assert!(lookup_text("$.a b", &scope).is_err());
        let frames = crate::data::Frame {
            workflow_id: "wf",
            definition: "d",
            task: "t",
            sequence: None,
        }
        .build();
        let execution_input = json!({"q": 2});
        let scope = frames.scope(&input, &execution_input);
        assert_eq!(
            lookup_text("$$.Execution.Input.q", &scope).unwrap(),
            Some(&json!(2))
        );
        assert_eq!(
            lookup_text("$.swf:taskName", &scope).unwrap(),
            Some(&json!("t"))
        );
        assert_eq!(parse("$$.Task.Name").unwrap().root, Root::Context);
    }
}
