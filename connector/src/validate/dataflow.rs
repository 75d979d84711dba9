//! Design-time data flow: what each task's input can hold, from the declared workflow input
//! (`inputSchema`) and the typed outputs of the tasks before it, so that a placeholder that
//! can name nothing at run time is an error now (`E-DATA`), with the path and what is there.
//!
//! Policy: shapes flow along every transition (a task reached from several places gets either
//! shape) until nothing changes; `inputParameters`, `resultSelector`, `resultPath` and
//! `outputPath` shape the data as the runner does (docs/runner.md). Only what can *never* be
//! there is flagged: unknown data (no `inputSchema`, a Simple task's output, a response body)
//! is never an error. `$$.Execution.Input…` is checked against the declared input; the system
//! keys `$.swf:…` always exist. A JSONata expression reading, at the top of its input, a name
//! that can never be there is a warning (`W-JSONATA-DATA`): JSONata yields nothing for it
//! rather than failing, which a run reports as `INPUT_MISSING` only where nothing is the
//! whole result.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::Ctx;
use super::shape::Shape;
use crate::catalog::Vendor;
use crate::condition::{self, Expr};
use crate::diagnostic::locate::child;
use crate::diagnostic::{Code, Diagnostic};
use crate::simworkflow::{Task, WorkflowDefinition};
use crate::template::{self, JsonPath, Part, Root, Step, Template};
use crate::validators::Validators;

/// The keys of the context object besides `Execution.Input`.
const CONTEXT: [(&str, &[&str]); 4] = [
    ("Execution", &["Id", "Name", "Input"]),
    ("StateMachine", &["Name"]),
    ("Task", &["Name", "RetryCount"]),
    ("State", &["Name", "RetryCount"]),
];

/// Checks every placeholder of `root` against the data that can reach it.
pub(super) fn check(ctx: &mut Ctx<'_>, root: &Value) {
    let Ok(definition) = serde_json::from_value::<WorkflowDefinition>(root.clone()) else {
        return;
    };
    let input = definition
        .input_schema
        .as_ref()
        .map_or(Shape::Any, Shape::from_schema);
    let flow = Flow {
        execution_input: input.clone(),
        validators: ctx.validators,
    };
    flow.scope(ctx, "", &definition.tasks, &definition.start_task, input);
}

struct Flow<'v> {
    execution_input: Shape,
    validators: &'v Validators,
}

/// What a task does to the data.
struct Shaped {
    /// The task input (after `inputParameters`).
    input: Shape,
    /// The task's result, before `resultSelector` (tasks that have one).
    result: Option<Shape>,
    /// What it passes on.
    output: Shape,
}

impl Flow<'_> {
    fn scope(
        &self,
        ctx: &mut Ctx<'_>,
        prefix: &str,
        tasks: &BTreeMap<String, Task>,
        start: &str,
        entry: Shape,
    ) {
        let mut incoming: BTreeMap<&str, Shape> = BTreeMap::new();
        if tasks.contains_key(start) {
            incoming.insert(start, entry);
        }
        // Shapes only grow; a handful of passes settle any definition.
        for _ in 0..(tasks.len() * 4 + 4) {
            let mut changed = false;
            for (name, task) in tasks {
                let Some(raw) = incoming.get(name.as_str()).cloned() else {
                    continue;
                };
                let step = self.step(task, &raw);
                for next in successors(task) {
                    if !tasks.contains_key(next) {
                        continue;
                    }
                    let joined = match incoming.get(next) {
                        Some(s) => s.join(&step.output),
                        None => step.output.clone(),
                    };
                    if incoming.get(next) != Some(&joined) {
                        incoming.insert(next, joined);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        for (name, task) in tasks {
            let Some(raw) = incoming.get(name.as_str()) else {
                continue;
            };
            let pointer = child(&format!("{prefix}/tasks"), name);
            self.check_task(ctx, name, &pointer, task, raw);
        }
    }

    fn step(&self, task: &Task, raw: &Shape) -> Shaped {
        let common = task.common();
        let input = match common.input_parameters {
            Some(map) => self.mapped(map, raw),
            None => raw.clone(),
        };
        let (result, selector, result_path, output_path) = match task {
            Task::Http(t) => (
                Shape::http_output(self.reports_quantity(&t.http_request.url)),
                &t.result_selector,
                &t.result_path,
                &t.output_path,
            ),
            Task::Simple(t) => (
                Shape::Any,
                &t.result_selector,
                &t.result_path,
                &t.output_path,
            ),
            Task::Parallel(t) => (
                Shape::Array(Box::new(Shape::Any)),
                &t.result_selector,
                &t.result_path,
                &t.output_path,
            ),
            Task::Decision(_) | Task::Terminate(_) => {
                return Shaped {
                    output: input.clone(),
                    input,
                    result: None,
                };
            }
        };
        let selected = match selector {
            Some(map) => self.mapped(map, &result),
            None => result.clone(),
        };
        let combined = match result_path {
            None => selected,
            Some(None) => raw.clone(),
            Some(Some(p)) => match template::path::parse(p) {
                Ok(path) if path.steps.is_empty() => selected,
                Ok(path) => raw.with(&path.steps, selected),
                Err(_) => Shape::Any,
            },
        };
        let output = match output_path.as_deref() {
            None | Some("$") => combined,
            Some(p) => template::path::parse(p)
                .ok()
                .and_then(|path| combined.at(&path.steps).ok())
                .unwrap_or(Shape::Any),
        };
        Shaped {
            input,
            result: Some(result),
            output,
        }
    }

    /// Whether an Http task calling `url` reports `quantity` (a usage endpoint: Rebilly's).
    fn reports_quantity(&self, url: &str) -> bool {
        self.validators
            .endpoints_for_url(url)
            .first()
            .is_some_and(|e| e.vendor == Vendor::Rebilly)
    }

    /// The shape of a map of placeholders (`inputParameters`, `resultSelector`) over `from`.
    fn mapped(&self, map: &Map<String, Value>, from: &Shape) -> Shape {
        let keys = map.iter().map(|(k, v)| {
            let shape = match v.as_str().map(template::parse) {
                Some(Ok(Template::Whole(path))) => self.read(&path, from).unwrap_or(Shape::Any),
                // JSONata may build any value.
                Some(Ok(Template::Jsonata(_))) => Shape::Any,
                Some(_) => Shape::Scalar,
                None => Shape::Any,
            };
            (k.as_str(), shape)
        });
        Shape::object(keys)
    }

    /// [`Flow::read`], or for a name a JSONata expression reads (`jsonata`): JSONata maps a
    /// name over an array's items, so only an object without it (or a single value) misses.
    fn read_by(&self, path: &JsonPath, from: &Shape, jsonata: bool) -> Result<Shape, String> {
        match from {
            Shape::Array(_) if jsonata => Ok(Shape::Any),
            _ => self.read(path, from),
        }
    }

    /// The shape `path` reads in `from` (or the context), or why it can read nothing.
    fn read(&self, path: &JsonPath, from: &Shape) -> Result<Shape, String> {
        match (path.root, path.steps.as_slice()) {
            (Root::Input, [Step::Key(k), ..]) if k.starts_with("swf:") => Ok(Shape::Any),
            (Root::Input, steps) => from.at(steps),
            (Root::Context, [Step::Key(e), Step::Key(i), rest @ ..])
                if e == "Execution" && i == "Input" =>
            {
                self.execution_input.at(rest)
            }
            (Root::Context, [Step::Key(top), rest @ ..]) => {
                let Some((_, inner)) = CONTEXT.iter().find(|(name, _)| name == top) else {
                    return Err(format!(
                        "has only {}",
                        CONTEXT.map(|(n, _)| format!("`{n}`")).join(", ")
                    ));
                };
                match rest {
                    [] => Ok(Shape::Any),
                    [Step::Key(k)] if inner.contains(&k.as_str()) => Ok(Shape::Scalar),
                    _ => Err(format!(
                        "has only {} under `$$.{top}`",
                        inner
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                }
            }
            (Root::Context, _) => Ok(Shape::Any),
        }
    }

    /// Reports every read below `value` (at `at`) that can name nothing in `data` (`what`
    /// names it), and every spread of what can only be an object (never iterable).
    fn report(
        &self,
        ctx: &mut Ctx<'_>,
        name: &str,
        (at, value): (String, &Value),
        data: &Shape,
        what: &str,
    ) {
        for read in paths(value, at) {
            match self.read_by(&read.path, data, read.jsonata.is_some()) {
                Err(why) => {
                    let d = self.diagnostic(name, read.at, &read.path, &why, what);
                    ctx.push(match read.jsonata {
                        Some(expr) => jsonata_warning(d, &expr, &read.path),
                        None => d,
                    });
                }
                Ok(Shape::Object { .. }) if read.spread => {
                    let text = &read.path.text;
                    ctx.push(
                        Diagnostic::new(
                            Code::Data,
                            read.at,
                            format!(
                                "the spread `${{...{text}}}` gives an object when this task runs: {} has an object there; a spread expands an array (its items) or a string (its characters)",
                                read_in(&read.path, what)
                            ),
                        )
                        .task(name)
                        .hint(format!(
                            "spread the array that holds it, or make the object one item: `${{{text}}}`"
                        )),
                    );
                }
                Ok(_) => {}
            }
        }
    }

    fn check_task(&self, ctx: &mut Ctx<'_>, name: &str, pointer: &str, task: &Task, raw: &Shape) {
        let step = self.step(task, raw);
        let common = task.common();
        if let Some(map) = common.input_parameters {
            self.report(
                ctx,
                name,
                (
                    format!("{pointer}/inputParameters"),
                    &Value::Object(map.clone()),
                ),
                raw,
                "the task's input",
            );
        }
        match task {
            Task::Http(t) => {
                let request = serde_json::to_value(&t.http_request).unwrap_or_default();
                for field in ["url", "headers", "body"] {
                    if let Some(v) = request.get(field) {
                        self.report(
                            ctx,
                            name,
                            (format!("{pointer}/httpRequest/{field}"), v),
                            &step.input,
                            "the task's input",
                        );
                    }
                }
            }
            Task::Decision(d) => {
                for (i, choice) in d.choices.iter().enumerate() {
                    let Ok(expr) = condition::parse(&choice.condition) else {
                        continue;
                    };
                    let mut found = Vec::new();
                    expr_paths(&expr, &mut found);
                    for path in found {
                        if let Err(why) = self.read(&path, &step.input) {
                            let at = format!("{pointer}/choices/{i}/condition");
                            ctx.push(self.diagnostic(name, at, &path, &why, "the task's input"));
                        }
                    }
                }
            }
            Task::Terminate(t) => {
                if let Some(map) = &t.workflow_output {
                    self.report(
                        ctx,
                        name,
                        (
                            format!("{pointer}/workflowOutput"),
                            &Value::Object(map.clone()),
                        ),
                        &step.input,
                        "the task's input",
                    );
                }
            }
            Task::Parallel(p) => {
                for (i, branch) in p.branches.iter().enumerate() {
                    let prefix = format!("{pointer}/branches/{i}");
                    self.scope(
                        ctx,
                        &prefix,
                        &branch.tasks,
                        &branch.start_task,
                        step.input.clone(),
                    );
                }
            }
            Task::Simple(_) => {}
        }
        if let (Some(result), Some(selector)) = (&step.result, result_selector(task)) {
            self.report(
                ctx,
                name,
                (
                    format!("{pointer}/resultSelector"),
                    &Value::Object(selector.clone()),
                ),
                result,
                "the task's result",
            );
        }
    }

    fn diagnostic(
        &self,
        task: &str,
        pointer: String,
        path: &JsonPath,
        why: &str,
        what: &str,
    ) -> Diagnostic {
        let mut d = Diagnostic::new(
            Code::Data,
            pointer,
            format!(
                "`{}` can name nothing when this task runs: {} {why}",
                path.text,
                read_in(path, what),
            ),
        )
        .task(task);
        // A key of the workflow input read from a later task's input: say how to reach it.
        if path.root == Root::Input
            && !path.steps.is_empty()
            && self.execution_input.at(&path.steps).is_ok()
            && self.execution_input != Shape::Any
        {
            let rest = path.text.trim_start_matches('$');
            d = d.hint(format!(
                "to read the workflow input, write `$$.Execution.Input{rest}`, or keep the input with `resultPath` on the task before"
            ));
        }
        d
    }
}

/// What `path` reads in: the workflow input, the context object, or `what` (the task's data).
fn read_in<'a>(path: &JsonPath, what: &'a str) -> &'a str {
    match path.root {
        Root::Context if path.text.starts_with("$$.Execution.Input") => "the workflow input",
        Root::Context => "the context object",
        Root::Input => what,
    }
}

fn result_selector(task: &Task) -> Option<&Map<String, Value>> {
    match task {
        Task::Http(t) => t.result_selector.as_ref(),
        Task::Simple(t) => t.result_selector.as_ref(),
        Task::Parallel(t) => t.result_selector.as_ref(),
        _ => None,
    }
}

/// The tasks `task` can go to next.
fn successors(task: &Task) -> Vec<&str> {
    let mut out: Vec<&str> = task.common().next_task.into_iter().collect();
    if let Task::Decision(d) = task {
        out.extend(d.choices.iter().map(|c| c.next_task.as_str()));
        out.push(&d.default_task);
    }
    out
}

/// `d` (an `E-DATA` finding of a name JSONata expression `expr` reads) as the warning it is.
fn jsonata_warning(d: Diagnostic, expr: &str, path: &JsonPath) -> Diagnostic {
    let why = d.message.split_once(": ").map_or("", |(_, why)| why);
    Diagnostic {
        code: Code::JsonataData,
        severity: Code::JsonataData.severity(),
        message: format!(
            "the JSONata expression `{expr}` reads `{}`, which can never be there: {why}; JSONata yields nothing for it rather than failing",
            path.text
        ),
        hint: Some("read a name the data holds (the task's input is `$`, the workflow input `$states.context.Execution.Input`)".into()),
        ..d
    }
}

/// A placeholder path in the strings below a value.
struct Read {
    path: JsonPath,
    /// Its pointer.
    at: String,
    /// The JSONata expression it was read from (a name at the top of its input).
    jsonata: Option<String>,
    /// Whether it is what a spread expands (`${...path}`).
    spread: bool,
}

impl Read {
    fn path(path: JsonPath, at: &str) -> Self {
        Read {
            path,
            at: at.to_owned(),
            jsonata: None,
            spread: false,
        }
    }
}

/// The names a JSONata expression reads at the top of its input, as paths.
fn jsonata_reads(expr: &str, at: &str, out: &mut Vec<Read>) {
    let mut names = template::jsonata::input_names(expr).unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    for name in names {
        let path = JsonPath {
            text: format!("$.{name}"),
            root: Root::Input,
            steps: vec![Step::Key(name)],
        };
        out.push(Read {
            jsonata: Some(expr.to_owned()),
            ..Read::path(path, at)
        });
    }
}

/// Every placeholder path in the strings below `value`, with its pointer.
fn paths(value: &Value, at: String) -> Vec<Read> {
    let mut out = Vec::new();
    let mut stack = vec![(value, at)];
    while let Some((v, at)) = stack.pop() {
        match v {
            Value::String(s) => match template::parse(s) {
                Ok(Template::Whole(p)) => out.push(Read::path(p, &at)),
                Ok(Template::Spread(source)) => match *source {
                    Template::Whole(p) => out.push(Read {
                        spread: true,
                        ..Read::path(p, &at)
                    }),
                    Template::Jsonata(e) => jsonata_reads(&e, &at, &mut out),
                    _ => {}
                },
                Ok(Template::Jsonata(e)) => jsonata_reads(&e, &at, &mut out),
                Ok(Template::Interpolated(parts)) => {
                    for part in parts {
                        match part {
                            Part::Path(p) => out.push(Read::path(p, &at)),
                            Part::Jsonata(e) => jsonata_reads(&e, &at, &mut out),
                            Part::Text(_) => {}
                        }
                    }
                }
                _ => {}
            },
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    stack.push((item, format!("{at}/{i}")));
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    stack.push((item, child(&at, k)));
                }
            }
            _ => {}
        }
    }
    out
}

fn expr_paths(e: &Expr, out: &mut Vec<JsonPath>) {
    match e {
        Expr::Path(p) => out.push(p.clone()),
        Expr::Literal(_) => {}
        Expr::Not(x) => expr_paths(x, out),
        Expr::And(terms) | Expr::Or(terms) => terms.iter().for_each(|t| expr_paths(t, out)),
        Expr::Compare(a, _, b) => {
            expr_paths(a, out);
            expr_paths(b, out);
        }
    }
}
