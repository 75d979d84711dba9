//! `usage-connector ingest FILE|- (--task DEFINITION#TASK | --endpoint ID)`: every record of
//! an NDJSON or CSV file (gzip read through) through one Http task, exactly once across
//! restarts (docs/ingest.md).
//!
//! Policy: the template is checked before the first record (a definition must validate, the
//! task must be an Http task, credentials must be there); bad records are reported by line
//! and skipped; stdout stays empty (the report goes to `--report`), progress and the summary
//! go to stderr. Exit 0 when every record is delivered (now or by an earlier run), 1
//! otherwise, 2 on usage or I/O errors (the input or the journal cannot be read or written,
//! the input changed under the journal).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use serde_json::json;
use usage_connector::catalog::{Catalog, EndpointId};
use usage_connector::execute::Executor;
use usage_connector::ingest::{
    self, Options, RecordOutcome, RecordReport, Stop, Summary, Template,
};
use usage_connector::validators::Validators;

use super::Failure;
use crate::cli::shared::task_args::{LimitArg, RoundingArg, endpoint_task};

/// Retries per record of `--endpoint` (maxAttempts): 25 tries. Under the test's fault mix (45 %
/// of requests fail) the model gives one record in 21 million left behind; at 20 tries, one in
/// 760,000, since after a reset the lookup and the resend must both get through in one try
/// (docs/ingest.md, "How many tries").
const ENDPOINT_RETRIES: u32 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EngineArg {
    /// In this process (the default).
    Local,
    /// As durable shards on Restate, through its ingress (`usage-restate serve` serves them).
    Restate,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// One JSON value per line.
    Ndjson,
    /// A header row, then one record per row.
    Csv,
}

/// Arguments of `ingest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The records: a file (NDJSON or CSV, optionally gzip), or `-` for standard input.
    input: String,
    /// The template: an Http task of a definition, DEFINITION#TASK. Each record is that
    /// task's input (inputParameters, placeholders, vendor rules and validation apply).
    #[arg(
        long,
        value_name = "DEFINITION#TASK",
        required_unless_present = "endpoint"
    )]
    task: Option<String>,
    /// Or an endpoint id (see `endpoints`): each record is the request body.
    #[arg(long, value_name = "ID", conflicts_with = "task")]
    endpoint: Option<String>,
    /// The input's format (default: from the extension: .ndjson/.jsonl/.json or .csv, with
    /// an optional .gz).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Send to this base URL instead of the vendor's sandbox server (e.g. a local sandbox).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Credentials file (JSON: {ID: {header, env, prefix?, platformId?}}).
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// With --endpoint: the credentials entry to use.
    #[arg(long, value_name = "ID", requires = "endpoint")]
    credential: Option<String>,
    /// The journal that makes a second run skip what the first delivered (default: the input
    /// path + `.journal`; required for standard input). Keep it until the ingest is done.
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// Tries per record (the first send included; lookups after an ambiguous failure count).
    /// Default: the task's retry block (--task), else 25 (--endpoint): a bulk run rides out
    /// bursts of 429/503 instead of leaving records behind.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    retries: Option<u32>,
    /// Fix the requests in flight at N (nothing adapts; each 429 still waits what it asks).
    /// Default: adaptive: start at 4, grow while answers are fast and accepted, halve on
    /// 429/503, and pace the run once the API says it is rate limited. Local engine only.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: Option<u16>,
    /// Adaptive: the most requests in flight (default 256). Local engine only.
    #[arg(long, value_name = "N", conflicts_with = "concurrency",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    max_concurrency: Option<u16>,
    /// Stop starting records once this many are invalid or failed.
    #[arg(long, value_name = "N")]
    max_errors: Option<u64>,
    /// Stop once this many records in a row failed for want of an answer (out of retries,
    /// outcome unknown, or told to wait longer than the task allows), or, while the API has
    /// never answered, once this many tries went unanswered (twice the records, at least 10,
    /// when the whole input is fewer): the API is down, and failing every remaining record
    /// would only take hours. 0: never. The same command goes on once the API is back.
    #[arg(long, value_name = "N", default_value = "100")]
    give_up_after: u64,
    /// Write one JSON line per record (line, outcome, id, quantity, error) to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Serve metrics in Prometheus text format on ADDR (e.g. 127.0.0.1:9464) while the ingest
    /// lasts: requests, refusals, retries, records by outcome, the window and pace, latency
    /// (docs/operations.md).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    /// Where the records are sent from: this process, or durable shards on Restate (each a
    /// workflow of --shard-size lines; re-running the command reaches the same shards).
    #[arg(long, value_enum, default_value = "local")]
    engine: EngineArg,
    /// With --engine restate: Restate's ingress URL (default http://127.0.0.1:8080).
    #[arg(long, value_name = "URL")]
    ingress: Option<String>,
    /// With --engine restate: lines per shard (default 200).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    shard_size: Option<u32>,
    /// With --engine restate: shards running at once (default 8).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    shards: Option<u16>,
    /// With --engine restate: give up on a shard whose answer has not come this many seconds
    /// after its submission (default 3600; the run then ends with an error, and the same
    /// command resumes it).
    #[arg(long, value_name = "SECONDS")]
    patience: Option<u64>,
    /// With --endpoint: the API version in the path (1, the one the catalog has schemas for).
    #[arg(long, default_value = "1", requires = "endpoint")]
    api_version: String,
    /// With --endpoint: the organization (an optional `/organizations/{organizationId}` prefix).
    #[arg(long, value_name = "ID", requires = "endpoint")]
    organization: Option<String>,
    /// With --endpoint: usage reports over the limit are rejected or partly accepted.
    #[arg(long, value_enum, requires = "endpoint")]
    on_limit: Option<LimitArg>,
    /// With --endpoint: quantities with more than 3 decimals are rejected or rounded half-even.
    #[arg(long, value_enum, requires = "endpoint")]
    rounding: Option<RoundingArg>,
}

/// Refuses options the chosen engine would ignore: a run must not look tuned when it is not.
fn engine_options(args: &Args) -> anyhow::Result<()> {
    let (other, engine, instead) = match args.engine {
        EngineArg::Local => (
            vec![
                ("--ingress", args.ingress.is_some()),
                ("--shard-size", args.shard_size.is_some()),
                ("--shards", args.shards.is_some()),
                ("--patience", args.patience.is_some()),
            ],
            "restate",
            "add --engine restate to send through Restate",
        ),
        EngineArg::Restate => (
            vec![
                ("--concurrency", args.concurrency.is_some()),
                ("--max-concurrency", args.max_concurrency.is_some()),
            ],
            "local",
            "on Restate, --shards sets how many shards run at once",
        ),
    };
    let given: Vec<&str> = other
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect();
    if let [_, ..] = given.as_slice() {
        anyhow::bail!(
            "{}: used only with --engine {engine} ({instead})",
            given.join(", ")
        );
    }
    let held = u64::from(shard_size(args)) * u64::from(args.shards.unwrap_or(8));
    anyhow::ensure!(
        held <= MAX_HELD,
        "--shards × --shard-size is {held} records held in memory at once (each running shard \
         keeps its records until it answers); keep it at most {MAX_HELD}"
    );
    Ok(())
}

/// The most records running Restate shards hold at once (a shard is one invocation, its
/// records its input: about a kilobyte each in memory).
const MAX_HELD: u64 = 100_000;

/// The template and the executor for it.
fn template(catalog: &Catalog, args: &Args) -> anyhow::Result<(Template, Executor, String)> {
    let validators = Arc::new(Validators::new(catalog).context("compiling schemas")?);
    let mut credentials = crate::cli::shared::credentials::load(args.credentials.as_deref())?;
    let (template, vendor, spec) = if let Some(spec) = &args.task {
        let (path, name) = spec.rsplit_once('#').context(
            "--task expects DEFINITION#TASK, e.g. workflows/rebilly-create-usage.json#Report usage",
        )?;
        let definition = crate::cli::shared::definition::definition(Path::new(path), &validators)
            .map_err(|f| f.error)?;
        let (task, entry) = crate::cli::shared::task_args::find(&definition, name)?;
        crate::cli::shared::credentials::fill_from_env(&mut credentials, [task], &validators);
        let vendor = validators
            .endpoints_for_url(&task.http_request.url)
            .into_iter()
            .next()
            .map(|e| e.vendor);
        // Each record is the workflow input of an execution of its own: its shape is the
        // definition's `inputSchema` when the task is one the workflow input reaches.
        let input_schema = match entry {
            true => usage_connector::preflight::InputSchema::of(&definition)
                .map_err(|p| anyhow::anyhow!("{path}: {}", p.error.message))?
                .map(Arc::new),
            false => None,
        };
        let template = Template {
            task: task.clone(),
            task_name: name.to_owned(),
            definition: definition.name.clone(),
            input_schema,
        };
        (template, vendor, format!("task {spec}"))
    } else {
        let id: EndpointId = args.endpoint.as_deref().unwrap_or_default().parse()?;
        let endpoint = catalog.get(id);
        let credential = crate::cli::shared::credentials::for_call(
            catalog,
            endpoint.vendor,
            args.credential.clone(),
            &mut credentials,
        )?;
        let mut params = vec![("version", args.api_version.as_str())];
        if let Some(org) = &args.organization {
            params.push(("organizationId", org));
        }
        let url = endpoint
            .url_for(&params, &[])
            .map_err(|e| anyhow::anyhow!(e))?;
        let mut task = endpoint_task(url, credential, json!("${$}"), args.on_limit, args.rounding);
        task.retry = Some(
            serde_json::from_value(json!({
                "intervalSeconds": 1, "backoffRate": 1.5, "maxDelaySeconds": 10,
                "maxAttempts": ENDPOINT_RETRIES, "jitter": "full"
            }))
            .expect("a retry block"),
        );
        let template = Template {
            task,
            task_name: "ingest".into(),
            definition: String::new(),
            input_schema: None,
        };
        (template, Some(endpoint.vendor), format!("endpoint {id}"))
    };
    let mut template = template;
    if let Some(tries) = args.retries {
        // `maxAttempts` counts retries: tries − 1.
        template
            .task
            .retry
            .get_or_insert_with(|| serde_json::from_value(json!({})).expect("an empty retry block"))
            .max_attempts = Some(tries - 1);
    }
    if let Some(id) = &template.task.credentials
        && !credentials.contains(id)
    {
        // Only the id named after the vendor may come from the vendor's variable.
        let var = vendor
            .filter(|v| v.as_str() == id)
            .map_or(String::new(), |v| format!(" or set {}", v.api_key_env()));
        anyhow::bail!(
            "no credentials `{id}`: add the entry to the credentials file (--credentials){var}"
        );
    }
    let mut executor = Executor::new(credentials).with_validators(validators);
    if let (Some(server), Some(vendor)) = (&args.server, vendor) {
        executor = executor.with_server(vendor, server);
    }
    Ok((template, executor, spec))
}

/// The input's records, and its format.
fn input(
    args: &Args,
) -> anyhow::Result<Box<dyn Iterator<Item = std::io::Result<ingest::Record>> + Send>> {
    let format = match (args.format, args.input.as_str()) {
        (Some(FormatArg::Ndjson), _) => ingest::Format::Ndjson,
        (Some(FormatArg::Csv), _) => ingest::Format::Csv,
        (None, "-") => anyhow::bail!("reading standard input: say --format ndjson or --format csv"),
        (None, name) => ingest::Format::from_name(name).with_context(|| {
            format!("{name}: unknown format; name it .ndjson/.jsonl/.json or .csv (optionally .gz), or say --format")
        })?,
    };
    let reader: Box<dyn std::io::Read + Send> = if args.input == "-" {
        Box::new(std::io::stdin())
    } else {
        let file =
            std::fs::File::open(&args.input).with_context(|| format!("opening {}", args.input))?;
        anyhow::ensure!(
            file.metadata()?.is_file(),
            "{} is not a regular file",
            args.input
        );
        Box::new(file)
    };
    let reader = ingest::decompressed(reader).with_context(|| format!("reading {}", args.input))?;
    Ok(ingest::records(reader, format))
}

/// Runs an ingest; stdout gets nothing.
#[allow(clippy::print_stderr)]
pub fn run(catalog: &Catalog, args: Args) -> Result<String, Failure> {
    engine_options(&args)?;
    if let Some(addr) = args.metrics {
        usage_connector::telemetry::serve(addr).map_err(anyhow::Error::from)?;
    }
    let (template, executor, spec) = template(catalog, &args)?;
    // On Restate the shards are part of what the journal stands for: another shard size would
    // make other shard workflows for the same records (docs/ingest.md).
    let spec = match args.engine {
        EngineArg::Local => spec,
        EngineArg::Restate => format!("{spec}, on Restate in shards of {}", shard_size(&args)),
    };
    let journal_path = match (&args.journal, args.input.as_str()) {
        (Some(p), _) => p.clone(),
        (None, "-") => {
            return Err(anyhow::anyhow!(
                "reading standard input: say where the journal goes (--journal FILE)"
            )
            .into());
        }
        (None, path) => PathBuf::from(format!("{path}.journal")),
    };
    let records = input(&args)?;
    let destination = executor.destination_of(&template.task);
    let endpoint = destination.endpoint.as_deref().and_then(|e| e.parse().ok());
    if let Some(why) = template.same_for_every_record(endpoint) {
        return Err(anyhow::anyhow!("{why}; nothing was sent").into());
    }
    let journal = Arc::new(
        ingest::IngestJournal::open(&journal_path, &spec, &destination)
            .map_err(anyhow::Error::from)?,
    );
    // A file is read once more as far as the journal knows it, before anything is sent: a
    // changed input is refused whole, not where the run would come to it (standard input is
    // read once, and checked line by line as it comes).
    if args.input != "-" {
        ingest::check_input(&journal, input(&args)?)
            .map_err(|e| anyhow::anyhow!("{e}; nothing was sent"))?;
    }
    let report = match &args.report {
        Some(p) => Some(Mutex::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        ))),
        None => None,
    };
    let total = match (args.input.as_str(), args.format) {
        ("-", _) => None,
        // A CSV's header row is not a record.
        (path, f) => crate::cli::shared::progress::count_lines(Path::new(path)).map(|n| {
            let csv = matches!(f, Some(FormatArg::Csv))
                || (f.is_none() && ingest::Format::from_name(path) == Some(ingest::Format::Csv));
            n.saturating_sub(u64::from(csv))
        }),
    };
    let progress = crate::cli::shared::progress::Progress::new(total);
    let shown = AtomicU64::new(0);
    let report = Arc::new(report);
    let report_broken = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let observe = {
        let progress = progress.clone();
        let (report, report_broken) = (report.clone(), report_broken.clone());
        Arc::new(move |r: &RecordReport| {
            progress.record(r.outcome.delivered(), r.outcome == RecordOutcome::Skipped);
            if !r.outcome.delivered() && shown.fetch_add(1, Ordering::Relaxed) < 20 {
                progress.println(&problem(r));
            }
            if let Some(w) = report.as_ref() {
                let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
                if serde_json::to_writer(&mut *w, r).is_err() || writeln!(w).is_err() {
                    report_broken.store(true, Ordering::Relaxed);
                }
            }
        })
    };
    let runtime = super::local_runtime()?;
    let governor = Arc::new(ingest::Governor::new(match args.concurrency {
        Some(n) => ingest::Concurrency::Fixed(usize::from(n)),
        None => ingest::Concurrency::Adaptive {
            max: usize::from(args.max_concurrency.unwrap_or(256)),
        },
    }));
    let options = Options {
        governor: governor.clone(),
        max_errors: args.max_errors,
        give_up_after: give_up_after(&args),
    };
    let ticker = runtime.spawn(progress.clone().lines(Duration::from_secs(3)));
    let watcher = (args.engine == EngineArg::Local).then(|| {
        let plan = crate::cli::shared::watch::Plan {
            server: destination.server.clone(),
            tries: usage_connector::retry::RetryPolicy::from_task(template.task.retry.as_ref())
                .max_retries
                + 1,
            give_up_after: give_up_after(&args),
        };
        runtime.spawn(crate::cli::shared::watch::watch(
            governor.clone(),
            progress.clone(),
            plan,
        ))
    });
    let result = match args.engine {
        EngineArg::Local => runtime.block_on(ingest::ingest(
            Arc::new(executor),
            Arc::new(template),
            records,
            journal.clone(),
            options,
            observe,
        )),
        EngineArg::Restate => runtime.block_on(ingest::shard::ingest_on_restate(
            Arc::new(executor),
            Arc::new(template),
            &spec,
            records,
            journal.clone(),
            ingest::shard::RestateOptions {
                ingress: args
                    .ingress
                    .clone()
                    .unwrap_or_else(|| "http://127.0.0.1:8080".into()),
                shard_size: shard_size(&args) as usize,
                shards: usize::from(args.shards.unwrap_or(8)),
                max_errors: args.max_errors,
                give_up_after: give_up_after(&args),
                patience: Duration::from_secs(args.patience.unwrap_or(3600)),
            },
            observe,
        )),
    };
    ticker.abort();
    if let Some(w) = watcher {
        w.abort();
    }
    progress.finish();
    journal.close();
    let summary = result.map_err(anyhow::Error::from)?;
    if let (Some(p), Some(w)) = (&args.report, report.as_ref()) {
        let flushed = w.lock().unwrap_or_else(|p| p.into_inner()).flush();
        if flushed.is_err() || report_broken.load(Ordering::Relaxed) {
            eprintln!("{}", summary_line(&summary));
            return Err(anyhow::anyhow!("writing the report {} failed", p.display()).into());
        }
        eprintln!("report: {}", p.display());
    }
    eprintln!("{}", summary_line(&summary));
    if let Some(Stop::Unreachable { tries }) = summary.stopped {
        let health = governor.health();
        eprintln!(
            "ingest: no answer from {}: {tries} tries failed, the last: {}",
            destination.server,
            health.last_failure.as_deref().unwrap_or("no answer")
        );
    }
    if summary.all_delivered() {
        Ok(String::new())
    } else {
        Err(Failure::invalid(anyhow::anyhow!(
            "{}",
            undelivered(&summary, &journal_path)
        )))
    }
}

/// What a run that left records behind says, and what to do: a failed record is tried again
/// by the same command; an invalid one fails the same way until its line is fixed. An invalid
/// record was never journaled (one begun before is `failed`), so fixing its line in place is
/// safe as long as no other line changes (the journal knows lines by number and text).
fn undelivered(summary: &Summary, journal: &Path) -> String {
    const FIX_LIST: &str = "the first are said above, --report FILE lists them all";
    let (invalid, failed) = (summary.invalid, summary.failed + summary.abandoned);
    let (stopped, go_on) = if summary.stopped.is_some() {
        (", and the run stopped before its end", " and go on")
    } else {
        ("", "")
    };
    let journal = journal.display();
    match (invalid, failed) {
        (0, n) => format!(
            "{n} records not delivered{stopped} (journal {journal}: run the same command again to retry them{go_on}; a line the API refused may be fixed in place first)"
        ),
        (n, 0) => format!(
            "{n} records not delivered{stopped}: invalid, never sent; fix those lines in place, changing no other line ({FIX_LIST}), and run the same command again (journal {journal}: what was delivered is skipped{})",
            if go_on.is_empty() {
                ""
            } else {
                ", and it goes on"
            }
        ),
        (i, f) => format!(
            "{} records not delivered{stopped}: {i} invalid, never sent (fix those lines in place, changing no other line; {FIX_LIST}), and {f} failed (journal {journal}: run the same command again to retry them, send the fixed ones{go_on}; a line the API refused may be fixed in place first)",
            i + f
        ),
    }
}

/// --give-up-after, 0 meaning never.
fn give_up_after(args: &Args) -> Option<u64> {
    (args.give_up_after > 0).then_some(args.give_up_after)
}

/// Lines per Restate shard: --shard-size, else 200.
fn shard_size(args: &Args) -> u32 {
    args.shard_size.unwrap_or(200)
}

/// One record's problem as a line (and its diagnostics under it).
fn problem(r: &RecordReport) -> String {
    let what = match r.outcome {
        RecordOutcome::Invalid => "invalid",
        _ => "failed",
    };
    let Some(e) = &r.error else {
        return format!("line {}: {what}", r.line);
    };
    let mut text = format!("line {}: {what}: {}: {}", r.line, e.code, e.message);
    for d in &e.diagnostics {
        text.push_str(&format!(
            "\n  {}",
            d.render(None).trim_end().replace('\n', "\n  ")
        ));
    }
    text
}

fn summary_line(s: &Summary) -> String {
    let secs = s.elapsed.as_secs_f64();
    format!(
        "ingest: {} records: {} created, {} duplicate, {} recovered, {} partial (remainder {}), {} done before, {} invalid, {} failed{} in {:.1} s ({:.0} records/s)",
        s.records,
        s.created,
        s.duplicate,
        s.recovered,
        s.partial,
        s.remainder.normalize(),
        s.skipped,
        s.invalid,
        s.failed,
        match s.stopped {
            None => String::new(),
            Some(Stop::MaxErrors) if s.abandoned > 0 => format!(
                ", stopped at --max-errors, then for want of an answer with {} left in progress",
                s.abandoned
            ),
            Some(Stop::MaxErrors) => ", stopped at --max-errors".into(),
            Some(Stop::Unanswered { streak }) => format!(
                ", stopped after {streak} records in a row went unanswered (--give-up-after; is the API down?) with {} left in progress",
                s.abandoned
            ),
            Some(Stop::Unreachable { tries }) => format!(
                ", stopped: the API never answered ({tries} tries in a row failed; --give-up-after) with {} left in progress",
                s.abandoned
            ),
        },
        secs,
        s.records as f64 / secs.max(1e-9)
    )
}
