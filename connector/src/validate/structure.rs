//! Shape and routing of a definition: the top level and each task against the model's
//! schemas, task types, transitions within each scope, reachability, ends, Decision
//! conditions and placeholder syntax in every string.

use std::collections::{BTreeMap, HashSet, VecDeque};

use serde_json::{Map, Value};

use super::Ctx;
use super::http::{check_http_auth, check_http_headers, match_endpoint};
use crate::catalog::EndpointId;
use crate::diagnostic::locate::child;
use crate::diagnostic::{Code, Diagnostic};
use crate::simworkflow::{HttpTask, Task};
use crate::template;
use crate::validators::{TASK_TYPES, decimals, detailed_violations, hint_for, json_type};
use crate::vendor_rules;

/// Maps a failing schema keyword to a code: the exact-decimals rule has its own (external
/// validators cannot see it); other keywords inside a body or headers are `E-SCHEMA`.
fn code_for(keyword: &str, pointer: &str) -> Code {
    if keyword == decimals::KEYWORD {
        return Code::Decimals;
    }
    if pointer.contains("/httpRequest/body") || pointer.contains("/httpRequest/headers") {
        return Code::Schema;
    }
    if pointer.ends_with("/httpRequest/method") {
        return Code::Method;
    }
    if pointer.ends_with("/httpRequest/url") {
        return Code::Url;
    }
    match keyword {
        "required" => Code::Required,
        "additionalProperties" => Code::UnknownField,
        "type" => Code::Type,
        "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => Code::Range,
        _ => Code::Schema,
    }
}

pub(super) fn schema_diagnostics(
    ctx: &mut Ctx<'_>,
    validator: &crate::validators::Compiled,
    instance: &Value,
    base: &str,
    task: Option<&str>,
    endpoint: Option<EndpointId>,
) {
    if validator.is_valid(instance) {
        return;
    }
    // A violation inside a literal body that the vendor's prepare rules fix before sending
    // (e.g. Rebilly's `rounding: halfEven` on a 4-decimal quantity) is not an error: validate
    // judges what `run` sends.
    let http: Option<HttpTask> = endpoint
        .and_then(|_| serde_json::from_value::<Task>(instance.clone()).ok())
        .and_then(|t| match t {
            Task::Http(h) => Some(h),
            _ => None,
        });
    for v in detailed_violations(validator, instance) {
        if let (Some(id), Some(http), Some(in_body)) =
            (endpoint, &http, v.pointer.strip_prefix("/httpRequest/body"))
            && vendor_rules::rules(id.vendor()).fixes(http, in_body, &v.keyword)
        {
            continue;
        }
        let found = instance.pointer(&v.pointer);
        let hint = hint_for(&v, found);
        let pointer = format!("{base}{}", v.pointer);
        let mut d = Diagnostic::new(code_for(&v.keyword, &pointer), pointer, v.message)
            .endpoint(endpoint.map(EndpointId::as_str));
        d.task = task.map(str::to_owned);
        d.hint = hint;
        ctx.push(d);
    }
}

pub(super) fn check_definition(ctx: &mut Ctx<'_>, obj: &Map<String, Value>, root: &Value) {
    schema_diagnostics(ctx, ctx.validators.definition_shell(), root, "", None, None);
    // A schema that does not compile refuses every input: the definition's mistake, found
    // without one.
    if let Some(schema) = obj
        .get("inputSchema")
        .filter(|s| s.is_object() || s.is_boolean())
        && let Err(e) = crate::validators::compile("inputSchema", schema)
    {
        ctx.push(
            Diagnostic::new(
                Code::InputSchema,
                "/inputSchema",
                format!("inputSchema is not a usable JSON Schema: {e}"),
            )
            .hint("fix the definition's inputSchema (draft 2020-12)"),
        );
    }
    let Some(Value::Object(tasks)) = obj.get("tasks") else {
        return;
    };
    let start = obj.get("startTask").and_then(Value::as_str);
    check_scope(ctx, "", start, tasks);
    for (key, value) in obj {
        if key == "tasks" {
            continue;
        }
        check_strings(ctx, value, &child("", key), None);
    }
}

/// Routing of one task: where it can go next, and whether it ends its scope.
struct Routing {
    next: Vec<(String, String)>, // (target, pointer of the field naming it)
    ends: bool,
}

fn check_scope(ctx: &mut Ctx<'_>, scope: &str, start: Option<&str>, tasks: &Map<String, Value>) {
    let mut routes: BTreeMap<String, Routing> = BTreeMap::new();
    for (name, task) in tasks {
        let pointer = child(&format!("{scope}/tasks"), name);
        let len = name.chars().count();
        if len == 0 || len > 80 {
            ctx.push(
                Diagnostic::new(
                    Code::NameLength,
                    pointer.clone(),
                    format!("task names are 1 to 80 characters; this one has {len}"),
                )
                .task(name),
            );
        }
        if let Some(first) = ctx.names.get(name) {
            ctx.push(
                Diagnostic::new(
                    Code::NameDuplicate,
                    pointer.clone(),
                    format!("task name `{name}` is already used at {first}"),
                )
                .task(name)
                .hint("task names are unique across the whole definition, branches included"),
            );
        } else {
            ctx.names.insert(name.clone(), pointer.clone());
        }
        if let Some(routing) = check_task(ctx, name, &pointer, task) {
            routes.insert(name.clone(), routing);
        }
    }
    let start_pointer = format!("{scope}/startTask");
    let Some(start) = start else { return };
    if !tasks.contains_key(start) {
        let d = Diagnostic::new(
            Code::StartMissing,
            start_pointer.clone(),
            format!(
                "startTask `{start}` is not a task of this {}",
                if scope.is_empty() {
                    "definition"
                } else {
                    "branch"
                }
            ),
        );
        ctx.push(d.hint(format!(
            "expected one of: {}",
            tasks.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
        return;
    }
    // Targets exist in this scope.
    for (name, routing) in &routes {
        for (target, at) in &routing.next {
            if !tasks.contains_key(target) {
                let elsewhere = ctx.names.contains_key(target) && !tasks.contains_key(target);
                let mut d = Diagnostic::new(
                    Code::NextMissing,
                    at.clone(),
                    format!(
                        "`{target}` is not a task of this {}",
                        if scope.is_empty() {
                            "definition"
                        } else {
                            "branch"
                        }
                    ),
                )
                .task(name);
                d = if elsewhere {
                    d.hint("transitions may not cross a Parallel branch boundary")
                } else {
                    d.hint(format!(
                        "expected one of: {}",
                        tasks.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                };
                ctx.push(d);
            }
        }
    }
    // Reachability and ends.
    let mut seen: HashSet<&str> = HashSet::new();
    let mut queue = VecDeque::from([start]);
    let mut reaches_end = false;
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name) {
            continue;
        }
        if let Some(r) = routes.get(name) {
            reaches_end |= r.ends;
            for (target, _) in &r.next {
                if tasks.contains_key(target) {
                    queue.push_back(target);
                }
            }
        }
    }
    for name in tasks.keys() {
        if !seen.contains(name.as_str()) {
            ctx.push(
                Diagnostic::new(
                    Code::Unreachable,
                    child(&format!("{scope}/tasks"), name),
                    "no path from startTask reaches this task",
                )
                .task(name),
            );
        }
    }
    if !reaches_end && routes.len() == tasks.len() {
        ctx.push(
            Diagnostic::new(
                Code::NoEnd,
                start_pointer,
                "no path from startTask reaches an end (`end: true` or a Terminate task)",
            )
            .hint("the workflow would run until its timeout"),
        );
    }
}

/// Checks one task; returns its routing when it is well-formed enough to have one.
fn check_task(ctx: &mut Ctx<'_>, name: &str, pointer: &str, task: &Value) -> Option<Routing> {
    let Value::Object(obj) = task else {
        ctx.push(
            Diagnostic::new(
                Code::Type,
                pointer,
                format!("a task is a JSON object; found {}", json_type(task)),
            )
            .task(name),
        );
        return None;
    };
    let expected = TASK_TYPES.join(", ");
    let kind = match obj.get("type") {
        None => {
            ctx.push(
                Diagnostic::new(
                    Code::TaskType,
                    pointer,
                    format!("missing `type`; expected one of {expected}"),
                )
                .task(name),
            );
            return None;
        }
        Some(Value::String(t)) if TASK_TYPES.contains(&t.as_str()) => t.as_str(),
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), |s| format!("`{s}`"));
            let mut d = Diagnostic::new(
                Code::TaskType,
                child(pointer, "type"),
                format!("unknown task type {shown}; expected one of {expected}"),
            )
            .task(name);
            if let Some(fixed) = other
                .as_str()
                .and_then(|s| TASK_TYPES.iter().find(|t| t.eq_ignore_ascii_case(s)))
            {
                d = d.hint(format!("task types are case-sensitive: write `{fixed}`"));
            }
            ctx.push(d);
            return None;
        }
    };
    let endpoint = if kind == "Http" {
        match_endpoint(ctx, name, pointer, obj)
    } else {
        None
    };
    match endpoint {
        Some(id) => {
            let validator = ctx.validators.http_task(id);
            schema_diagnostics(ctx, validator, task, pointer, Some(name), Some(id));
            ctx.matched.insert(pointer.to_owned(), id);
            check_http_auth(
                ctx,
                name,
                pointer,
                obj,
                ctx.validators.catalog().get(id).clone(),
            );
        }
        None => {
            let validator = ctx.validators.task_type(kind).expect("known type");
            schema_diagnostics(ctx, validator, task, pointer, Some(name), None);
        }
    }
    if kind == "Http" {
        check_http_headers(ctx, name, pointer, obj);
    }
    for (key, value) in obj {
        if key != "branches" {
            check_strings(ctx, value, &child(pointer, key), Some(name));
        }
    }
    let next = obj.get("nextTask").and_then(Value::as_str);
    let end = obj.get("end").and_then(Value::as_bool) == Some(true);
    let next_at = child(pointer, "nextTask");
    let mut routing = Routing {
        next: Vec::new(),
        ends: false,
    };
    match kind {
        "Terminate" => {
            if next.is_some() || end {
                let field = if next.is_some() { "nextTask" } else { "end" };
                ctx.push(
                    Diagnostic::new(
                        Code::TerminateNext,
                        child(pointer, field),
                        format!("a Terminate task ends its scope; remove `{field}`"),
                    )
                    .task(name),
                );
            }
            routing.ends = true;
        }
        "Decision" | "Parallel" => {
            if end {
                ctx.push(
                    Diagnostic::new(
                        Code::EndNotAllowed,
                        child(pointer, "end"),
                        format!("a {kind} task cannot be an end task"),
                    )
                    .task(name),
                );
            }
            if kind == "Decision" {
                if let Some(default) = obj.get("defaultTask").and_then(Value::as_str) {
                    routing
                        .next
                        .push((default.to_owned(), child(pointer, "defaultTask")));
                }
                if let Some(Value::Array(choices)) = obj.get("choices") {
                    for (i, choice) in choices.iter().enumerate() {
                        if let Some(condition) = choice.get("condition").and_then(Value::as_str)
                            && let Err(e) = crate::condition::parse(condition)
                        {
                            ctx.push(
                                Diagnostic::new(Code::Condition,
                                    format!("{pointer}/choices/{i}/condition"),
                                    format!("{} (at character {})", e.message, e.offset + 1),
                                )
                                .task(name)
                                .hint("conditions are a JavaScript subset: comparisons, && || !, literals and $-paths (docs/runner.md)"),
                            );
                        }
                        if let Some(t) = choice.get("nextTask").and_then(Value::as_str) {
                            routing
                                .next
                                .push((t.to_owned(), format!("{pointer}/choices/{i}/nextTask")));
                        }
                    }
                }
            } else {
                match next {
                    Some(t) => routing.next.push((t.to_owned(), next_at)),
                    None => ctx.push(
                        Diagnostic::new(Code::NoNext, pointer, "a Parallel task needs `nextTask`")
                            .task(name),
                    ),
                }
                if let Some(Value::Array(branches)) = obj.get("branches") {
                    for (i, branch) in branches.iter().enumerate() {
                        let scope = format!("{pointer}/branches/{i}");
                        if let Some(Value::Object(tasks)) = branch.get("tasks") {
                            check_scope(
                                ctx,
                                &scope,
                                branch.get("startTask").and_then(Value::as_str),
                                tasks,
                            );
                        }
                    }
                }
            }
        }
        _ => match (next, end) {
            (Some(_), true) => ctx.push(
                Diagnostic::new(
                    Code::NextAndEnd,
                    next_at,
                    "a task has either `nextTask` or `end: true`, not both",
                )
                .task(name),
            ),
            (None, false) => ctx.push(
                Diagnostic::new(
                    Code::NoNext,
                    pointer,
                    "a task needs `nextTask` or `end: true`",
                )
                .task(name),
            ),
            (Some(t), false) => routing.next.push((t.to_owned(), next_at)),
            (None, true) => routing.ends = true,
        },
    }
    Some(routing)
}

/// Reports malformed placeholders in every string below `value`.
pub(super) fn check_strings(ctx: &mut Ctx<'_>, value: &Value, pointer: &str, task: Option<&str>) {
    match value {
        Value::String(s) => {
            let misplaced = |offset: usize, message: &str| {
                let mut d = Diagnostic::new(
                    Code::Placeholder,
                    pointer,
                    format!("{message} (at character {})", offset + 1),
                );
                d.task = task.map(str::to_owned);
                d
            };
            let expressions = match template::parse(s) {
                Err(e) => {
                    ctx.push(misplaced(e.offset, &e.message));
                    return;
                }
                // An array item that is a spread is checked by the array.
                Ok(template::Template::Spread(_)) => {
                    ctx.push(misplaced(0, template::SPREAD_PLACE));
                    return;
                }
                Ok(template::Template::Jsonata(e)) => vec![e],
                Ok(template::Template::Interpolated(parts)) => parts
                    .into_iter()
                    .filter_map(|p| match p {
                        template::Part::Jsonata(e) => Some(e),
                        _ => None,
                    })
                    .collect(),
                Ok(_) => vec![],
            };
            for expr in expressions {
                check_jsonata(ctx, s, &expr, pointer, task);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let at = format!("{pointer}/{i}");
                match template::spread_of(v) {
                    Some(template::Template::Jsonata(expr)) => {
                        check_jsonata(ctx, v.as_str().unwrap_or_default(), &expr, &at, task);
                    }
                    Some(_) => {}
                    None => check_strings(ctx, v, &at, task),
                }
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                check_strings(ctx, v, &child(pointer, k), task);
            }
        }
        _ => {}
    }
}

/// `E-JSONATA` for `expr` (written inside the string `s` at `pointer`) when it does not parse,
/// placed at the character of the expression where JSONata stopped.
fn check_jsonata(ctx: &mut Ctx<'_>, s: &str, expr: &str, pointer: &str, task: Option<&str>) {
    let Err(e) = template::jsonata::check(expr) else {
        // It parses; a call to an unstable function fails the task wherever it is evaluated
        // (a branch of the expression may never be: a warning).
        if let Some(name) = template::jsonata::unstable_calls(expr)
            .ok()
            .and_then(|names| names.into_iter().next())
        {
            let mut d = Diagnostic::new(
                Code::Unstable,
                pointer,
                format!(
                    "JSONata `{expr}` calls ${name}(), which gives another value on every run (a re-run or a retry would send another request, and could charge twice): the task fails (UNSTABLE) wherever that call is evaluated"
                ),
            )
            .hint("read a time or an id from the input or $states.context instead");
            d.task = task.map(str::to_owned);
            ctx.push(d);
        }
        return;
    };
    let at = e.position.map_or(String::new(), |p| {
        format!(" at character {p} of the expression")
    });
    let mut d = Diagnostic::new(
        Code::Jsonata,
        pointer,
        format!("JSONata `{expr}` does not parse{at}: {}", e.message),
    )
    .hint("JSONata's syntax: https://docs.jsonata.org/overview");
    d.task = task.map(str::to_owned);
    // JSONata's position is just past the token it stopped at: point at that token's end.
    let start = s
        .find(&format!("jsonata:{expr}"))
        .map(|i| s[..i].chars().count() + "jsonata:".len());
    if let (Some(start), Some(p)) = (start, e.position) {
        let inside = start + p.saturating_sub(1).min(expr.chars().count());
        if let Some((line, column)) =
            crate::diagnostic::locate::inside_string(ctx.text, pointer, inside)
        {
            d.line = Some(line);
            d.column = Some(column);
        }
    }
    ctx.push(d);
}
