//! What the Restate tests share: a real Restate server (the pinned npm package, started on
//! loopback ports of its own: one node or a 3-node cluster), the `usage-restate` service
//! process (killable and restartable on the same address), and runs submitted through
//! Restate's ingress.

#![allow(dead_code)]

mod in_process;

#[allow(unused_imports)] // each test binary uses some of them
pub use in_process::{executor_for, masked, serve_in_process, validators};

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The pinned server binary (`npm ci` in restate/server installs it; scripts/test.sh does):
/// the platform package's own binary, not `node_modules/.bin/restate-server` (a Node wrapper
/// that starts the binary as its child: a SIGKILL would kill the wrapper and leave the server
/// running).
pub fn server_binary() -> PathBuf {
    let packages = root().join("restate/server/node_modules/@restatedev");
    let found = std::fs::read_dir(&packages).ok().and_then(|dir| {
        dir.filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("restate-server-")
            })
            .map(|e| e.path().join("bin/restate-server"))
            .find(|bin| bin.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "no restate-server binary under {}: run `npm ci` in restate/server (scripts/test.sh does)",
            packages.display()
        )
    })
}

/// Whether something accepts connections at `url`'s host and port.
pub fn answers(url: &str) -> bool {
    let host = url.trim_start_matches("http://").split('/').next().unwrap();
    std::net::TcpStream::connect_timeout(&host.parse().unwrap(), Duration::from_millis(500)).is_ok()
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scratch folder of this test process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("restate-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One Restate server process.
pub struct Node {
    child: Option<Child>,
    /// Admin API.
    pub admin: String,
    /// Ingress.
    pub ingress: String,
}

impl Node {
    /// Kills the node (SIGKILL).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn spawn_node(dir: &Path, env: &[(String, String)]) -> Child {
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    Command::new(server_binary())
        .arg("--base-dir")
        .arg(dir)
        .arg("--no-logo")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RESTATE_DISABLE_TELEMETRY", "true")
        .env("RESTATE_LISTEN_MODE", "tcp")
        .env("RESTATE_BIND_IP", "127.0.0.1")
        .env("RESTATE_LOG_DISABLE_ANSI_CODES", "true")
        .env("RESTATE_ROCKSDB_TOTAL_MEMORY_SIZE", "256MiB")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("restate-server starts")
}

/// Waits until `url` (plain http on loopback) answers 200. Raw HTTP/1.1 on a std socket: the
/// harness runs inside the tests' runtimes and must not block on one of its own.
pub fn wait_ok(url: &str, within: Duration) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let deadline = Instant::now() + within;
    loop {
        let answered = std::net::TcpStream::connect(host).ok().and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            )
            .ok()?;
            let mut head = [0u8; 12];
            s.read_exact(&mut head).ok()?;
            Some(head.starts_with(b"HTTP/1.1 200"))
        });
        if answered == Some(true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A single Restate node on free loopback ports.
pub fn single_node(name: &str) -> Node {
    let dir = scratch(name);
    let (bind, admin, ingress) = (free_port(), free_port(), free_port());
    let env = vec![
        ("RESTATE_NODE_NAME".to_owned(), "n1".to_owned()),
        ("RESTATE_BIND_PORT".to_owned(), bind.to_string()),
        ("RESTATE_ADMIN__BIND_PORT".to_owned(), admin.to_string()),
        ("RESTATE_INGRESS__BIND_PORT".to_owned(), ingress.to_string()),
    ];
    let child = spawn_node(&dir, &env);
    let node = Node {
        child: Some(child),
        admin: format!("http://127.0.0.1:{admin}"),
        ingress: format!("http://127.0.0.1:{ingress}"),
    };
    wait_ok(&format!("{}/health", node.admin), Duration::from_secs(60));
    wait_ok(
        &format!("{}/restate/health", node.ingress),
        Duration::from_secs(60),
    );
    node
}

/// A 3-node cluster on loopback (replication 2): node 1 provisions it.
pub fn cluster(name: &str) -> Vec<Node> {
    let dir = scratch(name);
    let ports: Vec<(u16, u16, u16)> = (0..3)
        .map(|_| (free_port(), free_port(), free_port()))
        .collect();
    let metadata = format!(
        "[{}]",
        ports
            .iter()
            .map(|(b, _, _)| format!("\"http://127.0.0.1:{b}/\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let cluster_name = format!("uc-{}-{name}", std::process::id());
    let mut nodes = Vec::new();
    for (i, (bind, admin, ingress)) in ports.iter().enumerate() {
        let node_dir = dir.join(format!("n{}", i + 1));
        std::fs::create_dir_all(&node_dir).unwrap();
        let mut env = vec![
            ("RESTATE_CLUSTER_NAME".to_owned(), cluster_name.clone()),
            ("RESTATE_NODE_NAME".to_owned(), format!("n{}", i + 1)),
            ("RESTATE_BIND_PORT".to_owned(), bind.to_string()),
            (
                "RESTATE_ADVERTISED_ADDRESS".to_owned(),
                format!("http://127.0.0.1:{bind}/"),
            ),
            ("RESTATE_ADMIN__BIND_PORT".to_owned(), admin.to_string()),
            ("RESTATE_INGRESS__BIND_PORT".to_owned(), ingress.to_string()),
            (
                "RESTATE_METADATA_CLIENT__ADDRESSES".to_owned(),
                metadata.clone(),
            ),
            ("RESTATE_DEFAULT_REPLICATION".to_owned(), "2".to_owned()),
            ("RESTATE_DEFAULT_NUM_PARTITIONS".to_owned(), "4".to_owned()),
        ];
        // Auto-provisioning is on by default: a node that has it would found a cluster of
        // its own instead of joining node 1's.
        env.push(("RESTATE_AUTO_PROVISION".to_owned(), (i == 0).to_string()));
        nodes.push(Node {
            child: Some(spawn_node(&node_dir, &env)),
            admin: format!("http://127.0.0.1:{admin}"),
            ingress: format!("http://127.0.0.1:{ingress}"),
        });
    }
    for node in &nodes {
        wait_ok(&format!("{}/health", node.admin), Duration::from_secs(120));
        wait_ok(
            &format!("{}/restate/health", node.ingress),
            Duration::from_secs(120),
        );
    }
    nodes
}

/// The `usage-restate serve` process, on an address that stays the same across restarts.
pub struct Service {
    child: Option<Child>,
    /// Where it listens.
    pub listen: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Service {
    /// Starts the service sending both vendors to the sandbox at `sandbox` with these keys,
    /// and registers it with `admin`.
    pub fn start_with(admin: &str, sandbox: &str, solvimon_key: &str, rebilly_key: &str) -> Self {
        let listen = format!("127.0.0.1:{}", free_port());
        let args = vec![
            "serve".to_owned(),
            "--listen".to_owned(),
            listen.clone(),
            "--server".to_owned(),
            format!("solvimon={sandbox}"),
            "--server".to_owned(),
            format!("rebilly={sandbox}"),
        ];
        let env = vec![
            ("SOLVIMON_API_KEY".to_owned(), solvimon_key.to_owned()),
            ("REBILLY_API_KEY".to_owned(), rebilly_key.to_owned()),
        ];
        let mut service = Service {
            child: None,
            listen,
            args,
            env,
        };
        service.spawn(Some(admin));
        service
    }

    /// [`Service::start_with`] on `sandbox` with its dev keys, from async code (starting
    /// blocks until the service is registered).
    pub async fn for_sandbox(admin: &str, sandbox: &usage_test_support::Sandbox) -> Self {
        let (admin, url) = (admin.to_owned(), sandbox.url());
        let keys = (
            sandbox.dev_key("solvimon").to_owned(),
            sandbox.dev_key("rebilly").to_owned(),
        );
        tokio::task::spawn_blocking(move || Service::start_with(&admin, &url, &keys.0, &keys.1))
            .await
            .unwrap()
    }

    fn spawn(&mut self, register: Option<&str>) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_usage-restate"));
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(admin) = register {
            command.args(["--register", admin]);
        }
        let mut child = command.spawn().expect("usage-restate starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let want = if register.is_some() {
            "registered"
        } else {
            "listening on"
        };
        loop {
            let line = lines.next().expect("the service says it is ready").unwrap();
            if line.starts_with(want) {
                break;
            }
        }
        // Keep reading its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    /// Kills the service process (SIGKILL): in-flight invocations lose their process.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same address (Restate keeps the registration).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn(None);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs submitted through Restate's ingress.
pub struct Ingress {
    client: ::reqwest::Client,
    base: String,
}

impl Ingress {
    /// Runs through `base` (an ingress URL).
    pub fn new(base: &str) -> Self {
        usage_test_support::install_crypto_provider();
        Ingress {
            client: ::reqwest::Client::builder()
                .timeout(Duration::from_secs(600))
                .build()
                .unwrap(),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// Starts run `id` of `definition` with `input` without waiting: the HTTP status.
    pub async fn send(&self, id: &str, definition: &Value, input: &Value) -> u16 {
        self.client
            .post(format!("{}/UsageWorkflow/{id}/run/send", self.base))
            .json(&json!({"definition": definition, "input": input}))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// Runs `id` and waits for its `{status, output}` (status 0 on a transport error).
    pub async fn run(&self, id: &str, definition: &Value, input: &Value) -> (u16, Value) {
        let answer = self
            .client
            .post(format!("{}/UsageWorkflow/{id}/run", self.base))
            .json(&json!({"definition": definition, "input": input}))
            .send()
            .await;
        read(answer).await
    }

    /// Waits for run `id`'s `{status, output}`.
    pub async fn attach(&self, id: &str) -> (u16, Value) {
        let answer = self
            .client
            .get(format!(
                "{}/restate/workflow/UsageWorkflow/{id}/attach",
                self.base
            ))
            .send()
            .await;
        read(answer).await
    }
}

impl Ingress {
    /// Waits for runs `{prefix}-0` .. `{prefix}-{n-1}` (50 at a time): one line per run that
    /// did not complete (none when all did).
    pub async fn incomplete(&self, prefix: &str, n: usize) -> Vec<String> {
        let mut failed = Vec::new();
        for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
            let replies = futures::future::join_all(
                chunk
                    .iter()
                    .map(|i| async move { (*i, self.attach(&format!("{prefix}-{i}")).await) }),
            )
            .await;
            for (i, (status, reply)) in replies {
                if status != 200 || reply["status"] != "Completed" {
                    failed.push(format!("{prefix}-{i}: {status} {reply}"));
                }
            }
        }
        failed
    }
}

async fn read(answer: ::reqwest::Result<::reqwest::Response>) -> (u16, Value) {
    match answer {
        Ok(r) => {
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
        Err(e) => (0, Value::String(e.to_string())),
    }
}

/// A definition file of the repository as JSON.
pub fn definition(path: &str) -> Value {
    serde_json::from_slice(&std::fs::read(root().join(path)).unwrap()).unwrap()
}

/// Asserts that `sandbox` holds exactly two usages and one charge per execution of
/// `restate/tests/data/load.json`: none lost, none doubled.
pub async fn assert_one_record_each(
    sandbox: &usage_test_support::Sandbox,
    executions: usize,
    context: &str,
) {
    let stats = sandbox.stats().await;
    assert_eq!(
        (stats["usages"].as_u64(), stats["charge-data"].as_u64()),
        (Some(2 * executions as u64), Some(executions as u64)),
        "exactly one record per intended usage and charge ({context}): {stats}"
    );
}
