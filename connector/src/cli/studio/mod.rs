//! `usage-connector studio [DIR]`: a local web page for authors (docs/studio.md): the catalog,
//! definitions of DIR with the diagnostics of `validate` as they are typed, and one task tested
//! against the embedded sandbox (or the given servers).
//!
//! Policy: loopback only unless `--listen` says otherwise; the first stdout line is
//! `listening on http://127.0.0.1:PORT/?token=TOKEN`; every request is checked by
//! [`guard::Guard`] (token, `Host`, `Origin`); files stay inside DIR ([`guard::inside`]);
//! secrets stay in this process (requests are shown redacted); a malformed request is a 4xx.
//! The page is HTML, CSS and one ES module embedded at compile time: no CDN, no build step.

mod api;
mod guard;
mod runs;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use usage_connector::catalog::{Catalog, Vendor};
use usage_connector::execute::Executor;
use usage_connector::simworkflow::WorkflowDefinition;
use usage_connector::validators::Validators;

use crate::cli::shared::{credentials, session};

/// Arguments of `studio`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder of the definitions to open and save (files outside it are never read).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Address to listen on (port 0 picks a free one). Anything but a loopback address makes
    /// the studio reachable from other machines: the token is then all that guards it.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Send a vendor's calls to URL (repeatable), e.g. rebilly=http://127.0.0.1:8080; without
    /// any, an embedded sandbox serves both vendors with its dev keys.
    #[arg(long = "server", value_name = "VENDOR=URL")]
    servers: Vec<String>,
    /// Credentials file (with --server; default ./credentials.json if present). A task whose
    /// credentials id is `solvimon` or `rebilly`, with no such entry, uses SOLVIMON_API_KEY or
    /// REBILLY_API_KEY.
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
}

/// What the handlers share.
pub struct Studio {
    /// The canonical folder of the definitions.
    pub dir: PathBuf,
    /// Who may call.
    pub guard: guard::Guard,
    /// The compiled validators.
    pub validators: Arc<Validators>,
    /// The catalog.
    pub catalog: Catalog,
    /// The credentials Http tasks are sent with: the embedded sandbox's dev keys, or the
    /// credentials file (each run adds the vendor key variables, as `run` does).
    pub credentials: usage_connector::credentials::Credentials,
    /// Where each vendor's calls go.
    pub servers: Vec<(Vendor, String)>,
    /// The credentials file the studio sends with (not on its embedded sandbox), which the
    /// runs it starts record for their resume.
    pub credentials_file: Option<PathBuf>,
    /// The embedded sandbox's URL, when there is one.
    pub sandbox: Option<String>,
    /// The runs started here.
    pub runs: runs::Runs,
}

impl Studio {
    /// A new executor (each run gets its own journal) for `definition`, with the studio's
    /// credentials and servers. As with `run`, a task whose credentials id is a vendor's name
    /// and has no entry gets the vendor's API key variable (for that vendor's endpoints only);
    /// any other task is sent with the credentials it names, or refused before sending.
    pub fn executor(&self, definition: &WorkflowDefinition) -> Executor {
        let mut keys = self.credentials.clone();
        credentials::fill_from_env(
            &mut keys,
            definition.http_tasks().into_iter().map(|(_, t)| t),
            &self.validators,
        );
        let mut executor = Executor::new(keys).with_validators(self.validators.clone());
        for (vendor, url) in &self.servers {
            executor = executor.with_server(*vendor, url);
        }
        executor
    }
}

/// Serves the studio until Ctrl-C.
pub fn run(catalog: &Catalog, args: Args) -> anyhow::Result<String> {
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("opening the studio's folder {}", args.dir.display()))?;
    anyhow::ensure!(dir.is_dir(), "{} is not a folder", dir.display());
    let validators = Arc::new(Validators::new(catalog).context("compiling schemas")?);
    crate::cli::runtime()?.block_on(async {
        let servers = session::servers(&args.servers)?;
        let mut sandbox = None;
        let mut credentials_file = None;
        let (credentials, servers) = if servers.is_empty() {
            let running = usage_sandbox::start(usage_sandbox::Config::default())
                .await
                .context("starting the embedded sandbox")?;
            let mut credentials = usage_connector::credentials::Credentials::new();
            for vendor in Vendor::ALL {
                let endpoint = catalog.first_of(vendor);
                if let Some(key) = running.dev_key(vendor.as_str()) {
                    credentials.insert_for(
                        vendor.as_str().to_owned(),
                        usage_connector::credentials::Credential {
                            header: endpoint.key_header().to_owned(),
                            value: usage_connector::credentials::Secret::new(key.key.clone()),
                            platform_id: None,
                        },
                        vendor,
                    );
                }
            }
            let servers = Vendor::ALL.map(|v| (v, running.url())).to_vec();
            sandbox = Some(running);
            (credentials, servers)
        } else {
            let mut given = Vec::new();
            for (vendor, url) in &servers {
                let vendor: Vendor = vendor.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
                given.push((vendor, url.clone()));
            }
            credentials_file = credentials::file(args.credentials.as_deref());
            (credentials::load(args.credentials.as_deref())?, given)
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let bound = listener.local_addr()?;
        let token = guard::new_token()?;
        let studio = Arc::new(Studio {
            dir,
            guard: guard::Guard::new(token.clone(), bound),
            validators,
            catalog: catalog.clone(),
            credentials,
            servers,
            credentials_file,
            sandbox: sandbox.as_ref().map(usage_sandbox::Running::url),
            runs: runs::Runs::default(),
        });
        let host = if bound.ip().is_loopback() {
            format!("127.0.0.1:{}", bound.port())
        } else {
            bound.to_string()
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{host}/?token={token}")?;
        out.flush()?;
        drop(out);
        axum::serve(listener, api::router(studio))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving the studio")?;
        if let Some(running) = sandbox {
            running.shutdown().await;
        }
        anyhow::Ok(String::new())
    })
}
