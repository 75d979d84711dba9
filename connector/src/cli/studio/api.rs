//! The studio's HTTP surface: the page and its assets, and a small JSON API (catalog, files,
//! diagnostics, one task tested). Every route passes the guard first.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use usage_connector::execute::{RunInfo, TaskContext};
use usage_connector::simworkflow::{Task, WorkflowDefinition};
use usage_connector::validate::{MAX_DEFINITION_BYTES, validate_definition};

use super::Studio;
use super::guard::{self, Refusal};

const PAGE: &str = include_str!("../../../studio/index.html");
const SCRIPT: &str = include_str!("../../../studio/studio.js");
const STYLE: &str = include_str!("../../../studio/studio.css");

/// The routes, behind the guard.
pub fn router(studio: Arc<Studio>) -> Router {
    Router::new()
        .route("/", get(page))
        .route(
            "/studio.js",
            get(|| async { asset("text/javascript", SCRIPT) }),
        )
        .route("/studio.css", get(|| async { asset("text/css", STYLE) }))
        .route("/api/catalog", get(catalog))
        .route("/api/files", get(files))
        .route("/api/file", get(read_file).put(write_file))
        .route("/api/validate", post(validate))
        .route("/api/test", post(test_task))
        .route("/api/runs", get(list_runs).post(start_run))
        .route("/api/runs/{id}", get(show_run))
        .route("/api/runs/{id}/resume", post(resume_run))
        .route("/api/sandbox", get(sandbox_stats))
        .layer(middleware::from_fn_with_state(studio.clone(), check))
        .with_state(studio)
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The guard, before any route.
async fn check(State(studio): State<Arc<Studio>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let query = Query::<TokenQuery>::try_from_uri(request.uri())
        .ok()
        .and_then(|q| q.0.token);
    let verdict = studio.guard.check(
        text(header::HOST),
        text(header::ORIGIN),
        &[
            headers.get("x-studio-token").and_then(|v| v.to_str().ok()),
            query.as_deref(),
        ],
    );
    match verdict {
        Ok(()) => next.run(request).await,
        Err(Refusal::Token) => failure(
            StatusCode::UNAUTHORIZED,
            "this studio needs its token: open the address it printed (…/?token=…)",
        ),
        Err(Refusal::Place(why)) => failure(StatusCode::FORBIDDEN, &why),
    }
}

fn failure(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

fn asset(kind: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
}

/// The page, its asset URLs carrying the token (no cookie: browsers share cookies across the
/// ports of one host); it may not be framed, and sends no referrer.
async fn page(State(studio): State<Arc<Studio>>) -> Response {
    let page = PAGE.replace("TOKEN", studio.guard.token());
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page,
    )
        .into_response()
}

/// The five endpoints: what they are and their published request schema.
async fn catalog(State(studio): State<Arc<Studio>>) -> Response {
    let files = usage_connector::schemas::generate(&studio.catalog);
    let endpoints: Vec<Value> = studio
        .catalog
        .endpoints
        .iter()
        .map(|e| {
            let schema = files
                .get(&format!("{}/request.schema.json", e.id))
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .unwrap_or(Value::Null);
            json!({
                "id": e.id.as_str(), "vendor": e.vendor.as_str(), "title": e.title,
                "method": e.method, "path": e.display_path(),
                "url": e.url_for(&[], &[]).unwrap_or_default(),
                "credentials": e.vendor.as_str(), "keyHeader": e.key_header(),
                "request": schema,
            })
        })
        .collect();
    Json(json!({"endpoints": endpoints, "sandbox": studio.sandbox})).into_response()
}

/// The definitions of the folder (`*.json`, `examples/` left out), relative paths.
async fn files(State(studio): State<Arc<Studio>>) -> Response {
    let mut found = Vec::new();
    let mut stack = vec![studio.dir.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if kind.is_dir() && !name.starts_with('.') && name != "examples" {
                stack.push(path);
            } else if kind.is_file()
                && name.ends_with(".json")
                && let Ok(rel) = path.strip_prefix(&studio.dir)
            {
                found.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    Json(json!({"files": found})).into_response()
}

#[derive(Deserialize)]
struct FileQuery {
    path: String,
}

async fn read_file(State(studio): State<Arc<Studio>>, Query(q): Query<FileQuery>) -> Response {
    let path = match guard::inside(&studio.dir, &q.path) {
        Ok(p) => p,
        Err(why) => return failure(StatusCode::BAD_REQUEST, &why),
    };
    match std::fs::metadata(&path) {
        Ok(m) if m.len() > MAX_DEFINITION_BYTES as u64 => {
            return failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                "over the definition size limit",
            );
        }
        Ok(m) if m.is_file() => {}
        _ => return failure(StatusCode::NOT_FOUND, &format!("no file `{}`", q.path)),
    }
    match std::fs::read_to_string(&path) {
        Ok(text) => Json(json!({"path": q.path, "text": text})).into_response(),
        Err(e) => failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("`{}`: {e}", q.path),
        ),
    }
}

#[derive(Deserialize)]
struct Written {
    text: String,
}

async fn write_file(
    State(studio): State<Arc<Studio>>,
    Query(q): Query<FileQuery>,
    Json(body): Json<Written>,
) -> Response {
    let path = match guard::inside(&studio.dir, &q.path) {
        Ok(p) => p,
        Err(why) => return failure(StatusCode::BAD_REQUEST, &why),
    };
    if body.text.len() > MAX_DEFINITION_BYTES {
        return failure(
            StatusCode::PAYLOAD_TOO_LARGE,
            "over the definition size limit",
        );
    }
    if let Some(parent) = path.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        return failure(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string());
    }
    // Written beside, then renamed: a crash never leaves half a definition. The temporary file
    // is created new (whatever stood at its name, a link included, is removed first, never
    // followed).
    let temporary = path.with_extension("json.studio-tmp");
    let written = (|| {
        use std::io::Write;
        match std::fs::remove_file(&temporary) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        file.write_all(body.text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)
    })();
    match written {
        Ok(()) => Json(json!({"path": q.path, "saved": true})).into_response(),
        Err(e) => failure(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}

#[derive(Deserialize)]
struct ValidateBody {
    text: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
}

/// `validate` (with `--input` when an input is given) on the text as typed.
async fn validate(State(studio): State<Arc<Studio>>, Json(body): Json<ValidateBody>) -> Response {
    let name = body.name.unwrap_or_else(|| "<editor>".to_owned());
    let report = validate_definition(
        &name,
        body.text.as_bytes(),
        &studio.validators,
        body.input.as_ref(),
    );
    Json(json!({"diagnostics": report.diagnostics, "valid": !report.has_errors()})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestBody {
    text: String,
    task: String,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    state_input: Option<Value>,
    /// The input the task itself received in a recorded run (`inputParameters` applied
    /// already), pinned.
    #[serde(default)]
    task_input: Option<Value>,
    #[serde(default)]
    dry_run: bool,
}

/// One Http task of the text, as `call --task` runs it: its input (the workflow input for a
/// start task, else the state input given), the resolved request (redacted), each attempt, the
/// answer and the task output after its data passing.
async fn test_task(State(studio): State<Arc<Studio>>, Json(body): Json<TestBody>) -> Response {
    let report = validate_definition("<editor>", body.text.as_bytes(), &studio.validators, None);
    if report.has_errors() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "the definition has errors", "diagnostics": report.diagnostics})),
        )
            .into_response();
    }
    let definition: WorkflowDefinition = match serde_json::from_str(&body.text) {
        Ok(d) => d,
        Err(e) => return failure(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    };
    let (task, entry) = match crate::cli::shared::task_args::find(&definition, &body.task) {
        Ok(found) => found,
        Err(e) => return failure(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    };
    // A given workflow input against inputSchema, as `call --task` and `run` check it: one
    // that fails is refused before anything is prepared.
    if let Some(given) = &body.input {
        let problems = usage_connector::preflight::InputSchema::problems(&definition, given);
        if !problems.is_empty() {
            let found = usage_connector::preflight::Preflight {
                problems,
                ..Default::default()
            };
            let report =
                usage_connector::validate::preflight_report("<editor>", &body.text, &found);
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": "the workflow input fails the definition's inputSchema; nothing was sent",
                            "diagnostics": report.diagnostics})),
            )
                .into_response();
        }
    }
    let workflow_input = body.input.unwrap_or_else(|| json!({}));
    let pinned = body.task_input.is_some();
    let (raw, from) = match (body.task_input.or(body.state_input), entry) {
        (Some(given), _) if pinned => (given, "the input this task received in the execution"),
        (Some(state), _) => (state, "the state input given"),
        (None, true) => (workflow_input.clone(), "the workflow input"),
        (None, false) => {
            return failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "this task receives the output of earlier tasks: give its state input",
            );
        }
    };
    let millis = chrono::Utc::now().timestamp_millis();
    let ctx = TaskContext {
        run: Some(Arc::new(RunInfo {
            input: workflow_input,
            definition: definition.name.clone(),
            sequence: None,
        })),
        ..TaskContext::new(format!("studio-{millis}"), body.task.clone())
    };
    let shown = |stage: &str, e: usage_connector::execute::TaskError| {
        Json(json!({"inputFrom": from, "stage": stage, "error": e})).into_response()
    };
    let params = task.input_parameters.as_ref().filter(|_| !pinned);
    let input = match ctx.data().input(params, &raw) {
        Ok(v) => v,
        Err(e) => return shown("input", e),
    };
    // Each retry with its answer, its wait and the rule that set the wait.
    let retries = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let heard = retries.clone();
    let executor = studio
        .executor(&definition)
        .with_progress(Arc::new(move |n| {
            heard.lock().unwrap_or_else(|p| p.into_inner()).push(json!({
                "attempt": n.attempt, "answer": n.status, "error": n.error,
                "delayMs": n.delay.as_millis() as u64, "rule": n.rule,
            }));
        }));
    let request = match executor.prepare(task, &input, &ctx) {
        Ok(p) => json!({
            "method": p.method,
            "url": usage_connector::credentials::redact_user_info(p.url.as_str()),
            "headers": p.redacted_headers().collect::<std::collections::BTreeMap<_, _>>(),
            "body": p.body_json(),
        }),
        Err(e) => return shown("request", e),
    };
    if body.dry_run {
        return Json(json!({"inputFrom": from, "input": input, "request": request}))
            .into_response();
    }
    let sent = executor.execute_http(task, &input, &ctx).await;
    let retries = std::mem::take(&mut *retries.lock().unwrap_or_else(|p| p.into_inner()));
    let result = match sent {
        Ok(out) => serde_json::to_value(&out).unwrap_or(Value::Null),
        Err(e) => {
            return Json(
                json!({"inputFrom": from, "input": input, "request": request,
                               "retries": retries, "stage": "send", "error": e}),
            )
            .into_response();
        }
    };
    let output = ctx
        .data()
        .output(&Task::Http(task.clone()), raw, result.clone());
    Json(json!({
        "inputFrom": from, "input": input, "request": request, "result": result,
        "retries": retries, "output": output.as_ref().ok(), "outputError": output.err(),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct RunBody {
    /// A file of the folder, or …
    #[serde(default)]
    path: Option<String>,
    /// … the definition's text as typed.
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    input: Option<Value>,
}

/// Starts a run: its id, or why it did not start (pre-flight's diagnostics among them).
async fn start_run(State(studio): State<Arc<Studio>>, Json(body): Json<RunBody>) -> Response {
    let read = match (&body.path, &body.text) {
        (Some(path), _) => {
            let file = match guard::inside(&studio.dir, path) {
                Ok(p) => p,
                Err(why) => return failure(StatusCode::BAD_REQUEST, &why),
            };
            match crate::cli::shared::files::read_limited(&file, "definition") {
                Ok(bytes) => {
                    crate::cli::shared::definition::checked(path, &bytes, &studio.validators)
                }
                Err(e) => return failure(StatusCode::NOT_FOUND, &format!("`{path}`: {e:#}")),
            }
        }
        (None, Some(text)) => {
            crate::cli::shared::definition::checked("<editor>", text.as_bytes(), &studio.validators)
        }
        (None, None) => return failure(StatusCode::BAD_REQUEST, "give `path` or `text`"),
    };
    let read = match read {
        Ok(read) => read,
        Err(f) => return failure(StatusCode::UNPROCESSABLE_ENTITY, &format!("{:#}", f.error)),
    };
    match super::runs::start(&studio, read, body.input.unwrap_or_else(|| json!({}))) {
        Ok(id) => Json(json!({"id": id})).into_response(),
        Err((status, body)) => (status, Json(body)).into_response(),
    }
}

async fn list_runs(State(studio): State<Arc<Studio>>) -> Response {
    Json(json!({"runs": super::runs::list(&studio)})).into_response()
}

async fn show_run(
    State(studio): State<Arc<Studio>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    match super::runs::show(&studio, &id) {
        Some(view) => Json(view).into_response(),
        None => failure(StatusCode::NOT_FOUND, &format!("no run `{id}`")),
    }
}

#[derive(Deserialize, Default)]
struct ResumeBody {
    /// An edited definition to resume with.
    #[serde(default)]
    text: Option<String>,
}

async fn resume_run(
    State(studio): State<Arc<Studio>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Json(body): Json<ResumeBody>,
) -> Response {
    match super::runs::resume(&studio, &id, body.text.as_deref()) {
        Ok(()) => Json(json!({"id": id})).into_response(),
        Err((status, body)) => (status, Json(body)).into_response(),
    }
}

/// What the embedded sandbox holds (its own counts; no key needed, none shown).
async fn sandbox_stats(State(studio): State<Arc<Studio>>) -> Response {
    let Some(url) = &studio.sandbox else {
        return failure(
            StatusCode::NOT_FOUND,
            "no embedded sandbox (--server was given)",
        );
    };
    let answer = async {
        reqwest::get(format!("{url}/_sandbox/stats"))
            .await?
            .json::<Value>()
            .await
    };
    match answer.await {
        Ok(stats) => Json(stats).into_response(),
        Err(e) => failure(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_loads_only_its_own_assets() {
        assert!(super::PAGE.contains("src=\"/studio.js?token=TOKEN\""));
        assert!(!super::PAGE.contains("http://") && !super::PAGE.contains("https://"));
    }
}
