//! Design-time (and, with an input, run-time) validation of one workflow definition file.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::diagnostic::{Diagnostic, Severity};
use super::locate::{child, positions};
use super::placeholder::{self, Template, Unresolved};
use super::{hint_for, validate_request_with};
use crate::catalog::{Endpoint, EndpointId};
use crate::execute::credentials::SECRET_HEADERS;
use crate::validators::{TASK_TYPES, Validators, detailed_violations, json_type};

/// Largest definition file accepted (10 MiB); larger files get `E-TOO-LARGE`.
pub const MAX_DEFINITION_BYTES: usize = 10 * 1024 * 1024;

/// The outcome of validating one file.
#[derive(Debug, Clone)]
pub struct Report {
    /// Findings in file order (by line, then column).
    pub diagnostics: Vec<Diagnostic>,
    /// The file's text, when it was valid UTF-8 (for showing offending lines).
    pub source: Option<String>,
}

impl Report {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

struct Ctx<'a> {
    validators: &'a Validators,
    out: Vec<Diagnostic>,
    /// Task name → pointer of its first definition, across all scopes.
    names: HashMap<String, String>,
    /// Http tasks matched to the catalog: pointer → endpoint.
    matched: HashMap<String, EndpointId>,
}

impl Ctx<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.out.push(d);
    }
}

fn line_col(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    (
        line,
        String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1,
    )
}

/// Validates one definition file. `input` is the workflow input for run-time checks.
pub fn validate_definition(
    file: &str,
    bytes: &[u8],
    validators: &Validators,
    input: Option<&Value>,
) -> Report {
    let fail = |d: Diagnostic| Report {
        diagnostics: vec![Diagnostic {
            file: file.to_owned(),
            ..d
        }],
        source: None,
    };
    if bytes.len() > MAX_DEFINITION_BYTES {
        return fail(Diagnostic::error(
            "E-TOO-LARGE",
            "",
            format!(
                "file is {} bytes; definitions are limited to {MAX_DEFINITION_BYTES} bytes (10 MiB)",
                bytes.len()
            ),
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let (line, column) = line_col(bytes, e.valid_up_to());
            let mut d = Diagnostic::error(
                "E-UTF8",
                "",
                format!(
                    "file is not UTF-8: invalid byte at offset {}",
                    e.valid_up_to()
                ),
            );
            d.line = Some(line);
            d.column = Some(column);
            return fail(d.hint("save the file as UTF-8"));
        }
    };
    let root: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let mut d = Diagnostic::error("E-JSON", "", format!("invalid JSON: {e}"));
            d.line = Some(e.line().max(1));
            d.column = Some(e.column().max(1));
            if e.to_string().contains("recursion limit") {
                d = d.hint("definitions may nest at most 128 levels deep");
            }
            return Report {
                diagnostics: vec![Diagnostic {
                    file: file.to_owned(),
                    ..d
                }],
                source: Some(text.to_owned()),
            };
        }
    };
    let mut ctx = Ctx {
        validators,
        out: Vec::new(),
        names: HashMap::new(),
        matched: HashMap::new(),
    };
    for dup in super::locate::duplicate_keys(text) {
        let pointer = child(&dup.object, &dup.key);
        let is_task = dup.object == "/tasks" || dup.object.ends_with("/tasks");
        let (code, message) = if is_task {
            (
                "E-NAME-DUPLICATE",
                format!(
                    "task `{}` is defined twice in this `tasks` object; only the last one would run",
                    dup.key
                ),
            )
        } else {
            (
                "E-DUPLICATE-KEY",
                format!(
                    "key `{}` appears twice in this object; only the last value counts",
                    dup.key
                ),
            )
        };
        let mut d = Diagnostic::error(code, pointer, message);
        d.line = Some(dup.position.0);
        d.column = Some(dup.position.1);
        ctx.push(if is_task { d.task(&dup.key) } else { d });
    }
    match &root {
        Value::Object(obj) => check_definition(&mut ctx, obj, &root),
        other => ctx.push(Diagnostic::error(
            "E-ROOT",
            "",
            format!(
                "a workflow definition is a JSON object; found {}",
                json_type(other)
            ),
        )),
    }
    if let (Some(input), Value::Object(obj)) = (input, &root) {
        check_runtime(&mut ctx, obj, input);
    }
    let mut diagnostics = ctx.out;
    place(&mut diagnostics, text, file);
    Report {
        diagnostics,
        source: Some(text.to_owned()),
    }
}

/// Fills file, line and column; a pointer that is not in the text (e.g. a missing field) is
/// placed at its nearest existing parent.
fn place(diagnostics: &mut [Diagnostic], text: &str, file: &str) {
    let mut wanted = HashSet::new();
    for d in diagnostics.iter() {
        let mut p = d.pointer.as_str();
        loop {
            wanted.insert(p.to_owned());
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => break,
            }
        }
    }
    let found = positions(text, &wanted);
    for d in diagnostics.iter_mut() {
        d.file = file.to_owned();
        if d.line.is_some() {
            continue;
        }
        let mut p = d.pointer.as_str();
        loop {
            if let Some(&(line, col)) = found.get(p) {
                d.line = Some(line);
                d.column = Some(col);
                break;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => break,
            }
        }
    }
    diagnostics.sort_by_key(|d| (d.line.unwrap_or(0), d.column.unwrap_or(0), d.code.clone()));
}

/// Maps a schema keyword failing outside a request body to a code.
fn code_for(keyword: &str, pointer: &str) -> &'static str {
    if pointer.contains("/httpRequest/body") || pointer.contains("/httpRequest/headers") {
        return "E-SCHEMA";
    }
    if pointer.ends_with("/httpRequest/method") {
        return "E-METHOD";
    }
    if pointer.ends_with("/httpRequest/url") {
        return "E-URL";
    }
    match keyword {
        "required" => "E-REQUIRED",
        "additionalProperties" => "E-UNKNOWN-FIELD",
        "type" => "E-TYPE",
        "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => "E-RANGE",
        _ => "E-SCHEMA",
    }
}

fn schema_diagnostics(
    ctx: &mut Ctx<'_>,
    validator: &jsonschema::Validator,
    instance: &Value,
    base: &str,
    task: Option<&str>,
    endpoint: Option<&str>,
) {
    if validator.is_valid(instance) {
        return;
    }
    for v in detailed_violations(validator, instance) {
        let found = instance.pointer(&v.pointer);
        let hint = hint_for(&v, found);
        let pointer = format!("{base}{}", v.pointer);
        let mut d = Diagnostic::error(code_for(&v.keyword, &pointer), pointer, v.message)
            .endpoint(endpoint);
        d.task = task.map(str::to_owned);
        d.hint = hint;
        ctx.push(d);
    }
}

fn check_definition(ctx: &mut Ctx<'_>, obj: &Map<String, Value>, root: &Value) {
    schema_diagnostics(ctx, ctx.validators.definition_shell(), root, "", None, None);
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
                Diagnostic::error(
                    "E-NAME-LENGTH",
                    pointer.clone(),
                    format!("task names are 1 to 80 characters; this one has {len}"),
                )
                .task(name),
            );
        }
        if let Some(first) = ctx.names.get(name) {
            ctx.push(
                Diagnostic::error(
                    "E-NAME-DUPLICATE",
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
        let d = Diagnostic::error(
            "E-START-MISSING",
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
                let mut d = Diagnostic::error(
                    "E-NEXT-MISSING",
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
                    Severity::Warning,
                    "W-UNREACHABLE",
                    child(&format!("{scope}/tasks"), name),
                    "no path from startTask reaches this task",
                )
                .task(name),
            );
        }
    }
    if !reaches_end && routes.len() == tasks.len() {
        ctx.push(
            Diagnostic::error(
                "E-NO-END",
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
            Diagnostic::error(
                "E-TYPE",
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
                Diagnostic::error(
                    "E-TASK-TYPE",
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
            let mut d = Diagnostic::error(
                "E-TASK-TYPE",
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
            schema_diagnostics(ctx, validator, task, pointer, Some(name), Some(id.as_str()));
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
                    Diagnostic::error(
                        "E-TERMINATE-NEXT",
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
                    Diagnostic::error(
                        "E-END-NOT-ALLOWED",
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
                                Diagnostic::error(
                                    "E-CONDITION",
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
                        Diagnostic::error("E-NO-NEXT", pointer, "a Parallel task needs `nextTask`")
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
                Diagnostic::error(
                    "E-NEXT-AND-END",
                    next_at,
                    "a task has either `nextTask` or `end: true`, not both",
                )
                .task(name),
            ),
            (None, false) => ctx.push(
                Diagnostic::error(
                    "E-NO-NEXT",
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

static URL_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[^\s#]*)?(\?[^\s#]*)?$").expect("static")
});

/// Substitutes every placeholder of `url` with `x` and checks the result is an http(s) URL.
fn url_parses(url: &str) -> bool {
    match placeholder::parse(url) {
        Ok(Template::Literal(s)) => URL_SHAPE.is_match(&s),
        Ok(Template::Interpolated(parts)) => {
            let s: String = parts
                .iter()
                .map(|p| match p {
                    placeholder::Part::Text(t) => t.as_str(),
                    _ => "x",
                })
                .collect();
            URL_SHAPE.is_match(&s)
        }
        // A URL that is entirely dynamic cannot be checked before run time.
        Ok(_) => true,
        Err(_) => false,
    }
}

fn match_endpoint(
    ctx: &mut Ctx<'_>,
    name: &str,
    pointer: &str,
    obj: &Map<String, Value>,
) -> Option<EndpointId> {
    let request = obj.get("httpRequest")?;
    let url = request.get("url")?.as_str()?;
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if placeholder::parse(url).is_ok() && !url_parses(url) {
        ctx.push(
            Diagnostic::error(
                "E-URL",
                format!("{pointer}/httpRequest/url"),
                format!("`{url}` is not an http(s) URL, even with its placeholders filled in"),
            )
            .task(name)
            .hint("expected e.g. https://api-sandbox.rebilly.com/usages"),
        );
        return None;
    }
    let catalog = ctx.validators.catalog();
    let by_url: Vec<&Endpoint> = catalog
        .endpoints
        .iter()
        .filter(|e| {
            Regex::new(&e.url_pattern())
                .map(|re| re.is_match(url))
                .unwrap_or(false)
        })
        .collect();
    if let Some(e) = by_url.iter().find(|e| e.method == method) {
        return Some(e.id);
    }
    let message = match by_url.first() {
        Some(e) => format!(
            "{method} {url} is not in the catalog ({} is {} only); not checked against a schema",
            e.id, e.method
        ),
        None => format!("{url} is not a catalog endpoint; only the generic Http task rules apply"),
    };
    ctx.push(
        Diagnostic::new(
            Severity::Note,
            "N-UNKNOWN-URL",
            format!("{pointer}/httpRequest/url"),
            message,
        )
        .task(name),
    );
    None
}

fn check_http_auth(
    ctx: &mut Ctx<'_>,
    name: &str,
    pointer: &str,
    obj: &Map<String, Value>,
    endpoint: Endpoint,
) {
    if obj
        .get("credentials")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty())
    {
        return;
    }
    let headers = obj
        .get("httpRequest")
        .and_then(|r| r.get("headers"))
        .and_then(Value::as_object);
    let has_auth = headers.is_some_and(|h| {
        h.keys().any(|k| {
            endpoint
                .auth
                .iter()
                .any(|a| a.header.eq_ignore_ascii_case(k))
        })
    });
    if !has_auth {
        let accepted: Vec<&str> = endpoint.auth.iter().map(|a| a.header).collect();
        ctx.push(
            Diagnostic::error("E-AUTH", pointer, format!("{} needs `credentials` or an auth header ({})", endpoint.id, accepted.join(" or ")))
                .task(name)
                .endpoint(Some(endpoint.id.as_str()))
                .hint("set `credentials` to an entry of your credentials file; keep secrets out of definitions"),
        );
    }
}

fn check_http_headers(ctx: &mut Ctx<'_>, name: &str, pointer: &str, obj: &Map<String, Value>) {
    let Some(headers) = obj
        .get("httpRequest")
        .and_then(|r| r.get("headers"))
        .and_then(Value::as_object)
    else {
        return;
    };
    for (key, value) in headers {
        let Some(text) = value.as_str() else { continue };
        let lower = key.to_ascii_lowercase();
        let secretish = SECRET_HEADERS.contains(&lower.as_str())
            || ["secret", "token", "password"]
                .iter()
                .any(|w| lower.contains(w));
        let literal = matches!(placeholder::parse(text), Ok(Template::Literal(_)));
        if secretish && literal && !text.trim().is_empty() {
            ctx.push(
                Diagnostic::new(Severity::Warning, "W-SECRET", format!("{pointer}/httpRequest/headers/{}", super::locate::escape_token(key)), format!("header `{key}` holds a literal secret"))
                    .task(name)
                    .hint("use `credentials` (resolved from the credentials file) or a `${…}` placeholder"),
            );
        }
    }
}

/// Reports malformed placeholders in every string below `value`.
fn check_strings(ctx: &mut Ctx<'_>, value: &Value, pointer: &str, task: Option<&str>) {
    match value {
        Value::String(s) => {
            if let Err(e) = placeholder::parse(s) {
                let mut d = Diagnostic::error(
                    "E-PLACEHOLDER",
                    pointer,
                    format!("{} (at character {})", e.message, e.offset + 1),
                );
                d.task = task.map(str::to_owned);
                ctx.push(d);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_strings(ctx, v, &format!("{pointer}/{i}"), task);
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

/// The tasks whose input is the workflow input: the start task, and the start tasks of the
/// branches of a Parallel start task (recursively).
fn entry_tasks<'a>(
    scope: &str,
    start: &str,
    tasks: &'a Map<String, Value>,
    out: &mut Vec<(String, String, &'a Value)>,
) {
    let Some(task) = tasks.get(start) else { return };
    let pointer = child(&format!("{scope}/tasks"), start);
    if task.get("type").and_then(Value::as_str) == Some("Parallel")
        && let Some(Value::Array(branches)) = task.get("branches")
    {
        for (i, branch) in branches.iter().enumerate() {
            if let (Some(s), Some(Value::Object(t))) = (
                branch.get("startTask").and_then(Value::as_str),
                branch.get("tasks"),
            ) {
                entry_tasks(&format!("{pointer}/branches/{i}"), s, t, out);
            }
        }
    }
    out.push((start.to_owned(), pointer, task));
}

fn check_runtime(ctx: &mut Ctx<'_>, obj: &Map<String, Value>, input: &Value) {
    let (Some(start), Some(Value::Object(tasks))) = (
        obj.get("startTask").and_then(Value::as_str),
        obj.get("tasks"),
    ) else {
        return;
    };
    let mut entries = Vec::new();
    entry_tasks("", start, tasks, &mut entries);
    let entry_pointers: HashSet<String> = entries.iter().map(|(_, p, _)| p.clone()).collect();
    for (name, pointer, task) in entries {
        let Some(&endpoint) = ctx.matched.get(&pointer) else {
            continue;
        };
        let task_input = match task.get("inputParameters") {
            Some(params @ Value::Object(_)) => match placeholder::resolve_value(params, input) {
                Ok(v) => v,
                Err(e) => {
                    push_unresolved(
                        ctx,
                        &name,
                        &format!("{pointer}/inputParameters"),
                        endpoint,
                        e,
                    );
                    continue;
                }
            },
            _ => input.clone(),
        };
        let body_pointer = format!("{pointer}/httpRequest/body");
        let Some(body) = task.get("httpRequest").and_then(|r| r.get("body")) else {
            continue;
        };
        let body = match placeholder::resolve_value(body, &task_input) {
            Ok(b) => b,
            Err(e) => {
                push_unresolved(ctx, &name, &body_pointer, endpoint, e);
                continue;
            }
        };
        if let Err(found) = validate_request_with(ctx.validators, endpoint, &body) {
            for d in found {
                let shown: String = body
                    .pointer(&d.pointer)
                    .map(|v| v.to_string())
                    .unwrap_or_default()
                    .chars()
                    .take(80)
                    .collect();
                let resolved = if shown.is_empty() {
                    String::new()
                } else {
                    format!(" (resolved value {shown})")
                };
                ctx.push(Diagnostic {
                    pointer: format!("{body_pointer}{}", d.pointer),
                    task: Some(name.clone()),
                    message: format!(
                        "with this input, the request is invalid: {}{resolved}",
                        d.message
                    ),
                    ..d
                });
            }
        }
    }
    // Other Http tasks depend on earlier task outputs.
    for (pointer, endpoint) in ctx.matched.clone() {
        if !entry_pointers.contains(&pointer) {
            let name = pointer
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .replace("~1", "/")
                .replace("~0", "~");
            ctx.push(
                Diagnostic::new(
                    Severity::Note,
                    "N-RUNTIME-SKIPPED",
                    pointer,
                    "input depends on earlier task outputs; request checked at design time only",
                )
                .task(&name)
                .endpoint(Some(endpoint.as_str())),
            );
        }
    }
}

fn push_unresolved(
    ctx: &mut Ctx<'_>,
    name: &str,
    pointer: &str,
    endpoint: EndpointId,
    e: Unresolved,
) {
    let d = match e {
        Unresolved::Missing(path) => Diagnostic::error(
            "E-INPUT-MISSING",
            pointer,
            format!("`{path}` names no value in the task input"),
        )
        .hint("add it to the input, or fix the path"),
        Unresolved::Jsonata => Diagnostic::new(
            Severity::Note,
            "N-RUNTIME-SKIPPED",
            pointer,
            "JSONata expressions are not evaluated before run time",
        ),
    };
    ctx.push(d.task(name).endpoint(Some(endpoint.as_str())));
}
