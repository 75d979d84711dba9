//! JSONata expressions, evaluated by the reference implementation (jsonata-js 2.2.2, the one
//! pinned third-party file in `connector/third_party/jsonata/`) on an embedded QuickJS engine.
//!
//! Policy:
//! - one engine per thread, built on first use (about 15 ms) and kept; compiled expressions
//!   are cached in it;
//! - the expression reads the task input as `$` and `$states.input`, and the context object
//!   (`$$` of a JSONPath) as `$states.context` (Step Functions' names; SimWorkflow's are
//!   unknown, see `docs/templates.md`);
//! - values cross as JSON text, so a number keeps the shortest decimal form of its double
//!   (`$sum([0.1, 0.2])` is `0.30000000000000004`): the endpoint's decimal rules then round it
//!   (the task's rounding policy) or refuse it (`E-DECIMALS`), never send it as a float;
//! - a result of "nothing" (JSONata's `undefined`: a path that matched nothing) is `None`;
//! - `$now()`, `$millis()`, `$random()` and `$uuid()` fail (`UNSTABLE`): a value that differs
//!   on every evaluation would change the request on a retry or re-run, and with it its
//!   identity;
//! - before a run, an expression over a task input that holds what only the run can tell (a
//!   marker value) is evaluated once with each marker hidden (`reads_marked`): its key stays,
//!   and a read of its value (a property read) stops the evaluation; so do an engine limit and a
//!   result that carries the marker. Only an evaluation none of those stopped is claimed;
//! - every evaluation has a budget: [`TIME_BUDGET`] of run time, [`STACK_BUDGET`] of stack
//!   (depth) and [`MEMORY_BUDGET`] of heap. An expression over budget fails with
//!   [`Failure::Budget`] and the thread's engine is rebuilt, so no run hangs or aborts.

use std::cell::{Cell, RefCell};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rquickjs::{CatchResultExt, Context, Function, Promise, Runtime};
use serde_json::Value;

/// The reference implementation, unmodified.
const JSONATA_JS: &str = include_str!("../../third_party/jsonata/jsonata.min.js");

/// How long one evaluation may run.
pub const TIME_BUDGET: Duration = Duration::from_secs(1);
/// The stack one evaluation may use (deep recursion stops here).
pub const STACK_BUDGET: usize = 1 << 20;
/// The heap the engine may hold.
pub const MEMORY_BUDGET: usize = 256 << 20;
/// The most compiled expressions an engine keeps.
const CACHED: usize = 1024;

/// The glue: compile (cached), evaluate, and answer with one string: `R` + JSON result, `U`
/// (undefined), `E` + JSON of the error (`code`, `message`, `position`), or `K` / `KX` (a read
/// of a hidden value, or an engine limit that may have stopped one: [`reads_marked`]).
const GLUE: &str = include_str!("jsonata_glue.js");

/// Why an expression gave no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It does not parse.
    Syntax,
    /// It parsed, and failed on this input (a type error, a function's own error).
    Evaluation,
    /// It ran over its time, depth or memory budget.
    Budget,
}

/// A JSONata error: its kind, the implementation's code (`S0201`, `T2001`, …) and message,
/// and where in the expression (a character offset; JSONata's `position`, counted from 0 at
/// the token's end) when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonataError {
    /// What went wrong.
    pub failure: Failure,
    /// JSONata's error code, when it gave one.
    pub code: Option<String>,
    /// The message.
    pub message: String,
    /// Character offset in the expression, when known.
    pub position: Option<usize>,
}

impl std::fmt::Display for JsonataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.code, self.position) {
            (Some(code), Some(at)) => write!(f, "{code} at character {at}: {}", self.message),
            (Some(code), None) => write!(f, "{code}: {}", self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

struct Engine {
    // Dropped after the context (field order): the context holds the runtime.
    context: Context,
    _runtime: Runtime,
    deadline: Arc<Mutex<Option<Instant>>>,
    /// An engine limit stopped an evaluation in a way the glue caught: rebuild it.
    spent: Cell<bool>,
}

impl Engine {
    fn new() -> Result<Self, JsonataError> {
        let broken = |e: rquickjs::Error| JsonataError {
            failure: Failure::Evaluation,
            code: None,
            message: format!("the JSONata engine did not start: {e}"),
            position: None,
        };
        let runtime = Runtime::new().map_err(broken)?;
        runtime.set_max_stack_size(STACK_BUDGET);
        runtime.set_memory_limit(MEMORY_BUDGET);
        let deadline: Arc<Mutex<Option<Instant>>> = Arc::default();
        let watched = deadline.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            watched
                .lock()
                .map(|d| d.is_some_and(|d| Instant::now() > d))
                .unwrap_or(true)
        })));
        let context = Context::full(&runtime).map_err(broken)?;
        context.with(|ctx| -> Result<(), JsonataError> {
            let load = |code: &str| {
                ctx.eval::<(), _>(code)
                    .catch(&ctx)
                    .map_err(|e| broken_text(&e.to_string()))
            };
            load("var module, exports, define, self = globalThis;")?;
            load(JSONATA_JS)?;
            load(&GLUE.replace("CACHED", &CACHED.to_string()))
        })?;
        Ok(Engine {
            context,
            _runtime: runtime,
            deadline,
            spent: Cell::new(false),
        })
    }

    fn arm(&self, budget: Option<Duration>) {
        if let Ok(mut d) = self.deadline.lock() {
            *d = budget.map(|b| Instant::now() + b);
        }
    }

    fn over_time(&self) -> bool {
        self.deadline
            .lock()
            .map(|d| d.is_some_and(|d| Instant::now() > d))
            .unwrap_or(true)
    }
}

fn broken_text(message: &str) -> JsonataError {
    JsonataError {
        failure: Failure::Evaluation,
        code: None,
        message: format!("the JSONata engine did not start: {message}"),
        position: None,
    }
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's engine (built on first use); a budget overrun drops the engine.
fn with_engine<T>(f: impl FnOnce(&Engine) -> Result<T, JsonataError>) -> Result<T, JsonataError> {
    ENGINE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Engine::new()?);
        }
        let engine = slot.as_ref().expect("built above");
        let out = f(engine);
        if engine.spent.get() || matches!(&out, Err(e) if e.failure == Failure::Budget) {
            *slot = None;
        }
        out
    })
}

/// Reads the glue's answer.
fn answer(text: &str, budget_hit: bool) -> Result<Option<Value>, JsonataError> {
    let parse = |json: &str| serde_json::from_str::<Value>(json);
    match text.split_at_checked(1) {
        Some(("R", json)) => parse(json).map(Some).map_err(|e| JsonataError {
            failure: Failure::Evaluation,
            code: None,
            message: format!("the result is not JSON: {e}"),
            position: None,
        }),
        Some(("U", _)) => Ok(None),
        Some(("E", json)) => {
            let e = parse(json).unwrap_or(Value::Null);
            let code = e["code"].as_str().map(str::to_owned);
            let message = e["message"].as_str().unwrap_or("failed").to_owned();
            let lower = message.to_ascii_lowercase();
            let failure = if budget_hit
                || lower.contains("stack overflow")
                || lower.contains("call stack")
                || lower.contains("out of memory")
                || lower.contains("interrupted")
                || code.as_deref() == Some("U1001")
            {
                Failure::Budget
            } else if code.as_deref().is_some_and(|c| c.starts_with('S')) {
                Failure::Syntax
            } else {
                Failure::Evaluation
            };
            Err(JsonataError {
                failure,
                code,
                message,
                position: e["position"].as_u64().map(|p| p as usize),
            })
        }
        _ => Err(JsonataError {
            failure: Failure::Evaluation,
            code: None,
            message: format!("unexpected answer from the JSONata engine: {text}"),
            position: None,
        }),
    }
}

fn over_budget(what: &str) -> JsonataError {
    JsonataError {
        failure: Failure::Budget,
        code: None,
        message: format!(
            "the expression ran over its budget ({what}: {} s of run time, {} KiB of stack, {} MiB of memory)",
            TIME_BUDGET.as_secs_f64(),
            STACK_BUDGET >> 10,
            MEMORY_BUDGET >> 20
        ),
        position: None,
    }
}

/// Calls the glue's function `name` with `expr`, within the time budget.
fn call_glue(name: &str, expr: &str) -> Result<String, JsonataError> {
    with_engine(|engine| {
        engine.arm(Some(TIME_BUDGET));
        let text = engine.context.with(|ctx| -> Result<String, JsonataError> {
            let f: Function = ctx
                .globals()
                .get(name)
                .map_err(|e| broken_text(&e.to_string()))?;
            f.call((expr,))
                .catch(&ctx)
                .map_err(|e| broken_text(&e.to_string()))
        });
        engine.arm(None);
        text
    })
}

/// Checks that `expr` parses (nothing is evaluated).
pub fn check(expr: &str) -> Result<(), JsonataError> {
    let text = call_glue("__check", expr)?;
    if text.is_empty() {
        return Ok(());
    }
    answer(&text, false).map(|_| ())
}

/// The names `expr` reads at the top of its input (`a` in `a.b[0]`, `$.a`, `$states.input.a`;
/// not inside predicates, later path steps or lambdas, where the context is another value).
pub fn input_names(expr: &str) -> Result<Vec<String>, JsonataError> {
    let text = call_glue("__names", expr)?;
    if text.starts_with('E') {
        return answer(&text, false).map(|_| Vec::new());
    }
    serde_json::from_str(&text).map_err(|e| broken_text(&e.to_string()))
}

/// The functions `expr` calls that give another value on every run (`now`, `millis`,
/// `random`, `uuid`; one the expression binds itself is its own): every evaluation of it fails
/// `UNSTABLE`. An error when it does not parse.
pub fn unstable_calls(expr: &str) -> Result<Vec<String>, JsonataError> {
    let text = call_glue("__unstable_calls", expr)?;
    if text.starts_with('E') {
        return answer(&text, false).map(|_| Vec::new());
    }
    serde_json::from_str(&text).map_err(|e| broken_text(&e.to_string()))
}

/// Evaluates `expr` with `input` as `$` and `bindings` as variables (`{"states": …}` binds
/// `$states`); `None` when it yields nothing. See the module docs for the budget.
pub fn evaluate(
    expr: &str,
    input: &Value,
    bindings: &Value,
) -> Result<Option<Value>, JsonataError> {
    evaluate_within(expr, Some(input), bindings, TIME_BUDGET)
}

/// [`evaluate`] with another time budget; `input` `None`: no input at all (JSONata's
/// `undefined`, not `null`).
pub fn evaluate_within(
    expr: &str,
    input: Option<&Value>,
    bindings: &Value,
    budget: Duration,
) -> Result<Option<Value>, JsonataError> {
    match run_eval(expr, input, bindings, budget, None)? {
        Evaluation::Done(value) => Ok(value),
        Evaluation::Read { .. } => Err(broken_text("a read of a hidden value without one")),
    }
}

/// What the glue's `__eval` gave.
#[derive(Debug, PartialEq)]
enum Evaluation {
    /// Its result (JSONata's `undefined`: `None`).
    Done(Option<Value>),
    /// With a mark: it read a hidden value; `stopped`: an engine limit stopped it, maybe
    /// inside a read (the engine is rebuilt).
    Read { stopped: bool },
}

/// Whether evaluating `expr` (as [`evaluate`] does) reads a value equal to `mark`, a string
/// standing for what only the run can tell: it is evaluated once with every such value hidden
/// (the keys stay), and any read of one stops it. `false` means the result (a value, or the
/// expression's own error) does not depend on them. A task input that is the mark as a whole
/// is evaluated over three stand-ins instead (an object and an array whose reads count, and
/// the mark): only the same answer from all three, none read, does not depend on it. An
/// evaluation stopped by its budget or an engine limit counts as a read.
pub(crate) fn reads_marked(expr: &str, input: &Value, bindings: &Value, mark: &str) -> bool {
    match run_eval(expr, Some(input), bindings, TIME_BUDGET, Some(mark)) {
        Ok(Evaluation::Done(_)) => false,
        Ok(Evaluation::Read { .. }) => true,
        Err(e) => e.failure == Failure::Budget,
    }
}

/// Runs the glue's `__eval` (with `mark`: hiding what equals it); an expression's error, or
/// one over its budget (the engine is then rebuilt), is `Err`.
fn run_eval(
    expr: &str,
    input: Option<&Value>,
    bindings: &Value,
    budget: Duration,
    mark: Option<&str>,
) -> Result<Evaluation, JsonataError> {
    let input = input.map_or_else(String::new, Value::to_string);
    let bindings = bindings.to_string();
    with_engine(|engine| {
        engine.arm(Some(budget));
        let text = engine.context.with(|ctx| -> Result<String, String> {
            let f: Function = ctx.globals().get("__eval").map_err(|e| e.to_string())?;
            let call = match mark {
                Some(mark) => f.call((expr, input.as_str(), bindings.as_str(), mark)),
                None => f.call((expr, input.as_str(), bindings.as_str())),
            };
            let promise: Promise = call.catch(&ctx).map_err(|e| e.to_string())?;
            promise
                .finish::<String>()
                .catch(&ctx)
                .map_err(|e| e.to_string())
        });
        let hit = engine.over_time();
        engine.arm(None);
        match text {
            Ok(text) if text == "K" => Ok(Evaluation::Read { stopped: false }),
            Ok(text) if text == "KX" => {
                engine.spent.set(true);
                Ok(Evaluation::Read { stopped: true })
            }
            Ok(text) => answer(&text, hit).map(Evaluation::Done),
            Err(_) if hit => Err(over_budget("time")),
            Err(message) => {
                let lower = message.to_ascii_lowercase();
                if lower.contains("stack") || lower.contains("memory") {
                    Err(over_budget("depth or memory"))
                } else {
                    // The engine's state is unknown after an uncaught error: rebuild it.
                    Err(JsonataError {
                        failure: Failure::Budget,
                        code: None,
                        message: format!("the expression stopped the engine: {message}"),
                        position: None,
                    })
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, input: Value) -> Result<Option<Value>, JsonataError> {
        evaluate(expr, &input, &json!({}))
    }

    #[test]
    fn evaluates_paths_functions_and_constructors_with_numbers_in_their_shortest_form() {
        let order =
            json!({"lines": [{"qty": 2, "price": 0.1}, {"qty": 1, "price": 0.2}], "plan": "pro"});
        assert_eq!(
            eval("$sum(lines.(qty * price))", order.clone()).unwrap(),
            Some(json!(0.4))
        );
        let sum = eval("$sum([0.1, 0.2])", json!({})).unwrap().unwrap();
        assert_eq!(
            sum.to_string(),
            "0.30000000000000004",
            "the double, exactly"
        );
        assert_eq!(
            eval(
                "{'id': plan = 'pro' ? 'price_pro' : 'price_basic', 'n': $count(lines)}",
                order
            )
            .unwrap(),
            Some(json!({"id": "price_pro", "n": 2}))
        );
        assert_eq!(eval("missing.field", json!({})).unwrap(), None, "nothing");
        assert_eq!(
            evaluate(
                "$states.context.Task.Name",
                &json!({}),
                &json!({"states": {"context": {"Task": {"Name": "t"}}}})
            )
            .unwrap(),
            Some(json!("t"))
        );
    }

    #[test]
    fn the_unstable_functions_an_expression_calls_are_named_before_it_runs() {
        let calls = |e: &str| unstable_calls(e).unwrap();
        assert_eq!(
            calls("{'at': $now(), 'n': $random() + $now()}"),
            ["now", "random"]
        );
        assert_eq!(
            calls("lines[$millis() > 0].(qty * $uuid())"),
            ["millis", "uuid"]
        );
        assert!(
            calls("$sum(lines.qty) & 'now()'").is_empty(),
            "a string is not a call"
        );
        assert!(
            calls("($now := function(){'2025-05-01'}; $now())").is_empty(),
            "a function the expression binds is its own"
        );
        assert!(
            calls("$map([1], function($v, $i, $now){ $now() })").is_empty(),
            "so is a lambda's parameter"
        );
        assert!(
            unstable_calls("lines.(qty *").is_err(),
            "what does not parse is `check`'s to report"
        );
        for e in ["$now()", "$random()"] {
            assert_eq!(
                eval(e, json!({})).unwrap_err().code.as_deref(),
                Some("UNSTABLE")
            );
        }
    }

    #[test]
    fn a_syntax_error_says_where_and_an_evaluation_error_says_what() {
        let e = check("lines.(qty *").unwrap_err();
        assert_eq!(e.failure, Failure::Syntax, "{e:?}");
        assert!(e.position.is_some() && e.code.is_some(), "{e:?}");
        assert!(check("$sum(lines.qty)").is_ok());
        let e = eval("'a' + 1", json!({})).unwrap_err();
        assert_eq!(e.failure, Failure::Evaluation, "{e:?}");
        assert_eq!(e.code.as_deref(), Some("T2001"), "{e:?}");
        let e = eval("{'at': $now()}", json!({})).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("UNSTABLE"), "{e:?}");
    }

    #[test]
    fn names_read_at_the_top_of_the_input_are_found_and_inner_ones_are_not() {
        let names = |e: &str| input_names(e).unwrap();
        assert_eq!(names("$sum(lines.(qty * price))"), ["lines"]);
        assert_eq!(
            names("plan = 'pro' ? price_pro : $.fallback"),
            ["plan", "price_pro", "fallback"]
        );
        assert_eq!(
            names("{'q': quantity, 'id': $states.input.subscription}"),
            ["quantity", "subscription"]
        );
        assert_eq!(
            names("items[price > 3].sku"),
            ["items"],
            "price is an item's"
        );
        assert!(
            names("$map([1, 2], function($v) { $v * k })").is_empty(),
            "lambdas are skipped"
        );
        assert!(input_names("lines.(").is_err());
    }

    #[test]
    fn an_expression_over_its_budget_fails_and_the_next_one_runs() {
        let started = Instant::now();
        let e = evaluate_within(
            "$reduce([1..10000000], function($a, $b) { $a + $b })",
            Some(&json!({})),
            &json!({}),
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert_eq!(e.failure, Failure::Budget, "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(30), "it stopped");
        let e = eval(
            "($f := function($n) { $n = 0 ? 0 : 1 + $f($n - 1) }; $f(10000000))",
            json!({}),
        )
        .unwrap_err();
        assert_eq!(e.failure, Failure::Budget, "deep recursion: {e:?}");
        assert_eq!(eval("1 + 1", json!({})).unwrap(), Some(json!(2)), "rebuilt");
    }

    /// A claim that an expression never reads a hidden value holds for every value the run may
    /// put there, even at the depth where reading through the hiding proxy, and only that,
    /// overflows the stack (the overflow must count as a read, not as the expression's error).
    #[test]
    fn what_reads_a_hidden_value_is_never_claimed_at_any_depth() {
        let mark = "\u{0}hidden\u{0}";
        let input = json!({"charge": mark, "lines": [1]});
        let bindings = json!({});
        // Depth by depth until the run's own evaluation overflows too.
        let mut stopped_in_a_read = 0;
        for depth in 20..=1200 {
            let expr = format!(
                "{{'v': {}charge.status{}}}.v ~> $boolean()",
                "[".repeat(depth),
                "]".repeat(depth)
            );
            let with = |charge: Value| {
                evaluate(&expr, &json!({"charge": charge, "lines": [1]}), &bindings)
            };
            let (created, refused) = (with(json!({"status": 201})), with(json!({"status": 0})));
            if created
                .as_ref()
                .is_err_and(|e| e.failure == Failure::Budget)
            {
                break;
            }
            let hidden = run_eval(&expr, Some(&input), &bindings, TIME_BUDGET, Some(mark));
            if created.is_ok() && hidden == Ok(Evaluation::Read { stopped: true }) {
                stopped_in_a_read += 1;
            }
            if !reads_marked(&expr, &input, &bindings, mark) {
                assert_eq!(
                    created, refused,
                    "depth {depth}: claimed, yet the value decides"
                );
            }
        }
        assert!(
            stopped_in_a_read > 0,
            "no depth where only the hidden evaluation overflowed: the test proves nothing"
        );
        assert!(!reads_marked("$sum(lines)", &input, &bindings, mark));
    }

    /// An array's items run side by side: when one reads a hidden value, the others' work goes
    /// on in later evaluations. Its reads are its own, not those of the expression that then
    /// runs.
    #[test]
    fn a_read_by_work_an_earlier_evaluation_left_is_not_the_next_ones() {
        let mark = "\u{0}hidden\u{0}";
        let input = json!({"charge": mark, "lines": [1, 2]});
        let bindings = json!({});
        let left = "[charge, ($f := function($n) { $n = 0 ? charge : $f($n - 1) }; $f(3))]";
        for _ in 0..3 {
            assert!(reads_marked(left, &input, &bindings, mark));
            for _ in 0..5 {
                assert!(!reads_marked("$sum(lines)", &input, &bindings, mark));
            }
        }
    }
}
