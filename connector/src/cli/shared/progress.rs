//! Progress of a long command on stderr: on a terminal a live bar (indicatif: done / total when
//! known, records delivered per second by this run, ETA, records not delivered so far, and a
//! status such as the
//! ingest's window, pace and refusal share; no colour under `NO_COLOR`); otherwise a plain line
//! every few seconds, which a log keeps readable.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Counts records as they finish and shows them.
pub struct Progress {
    bar: Option<ProgressBar>,
    done: AtomicU64,
    bad: AtomicU64,
    /// Delivered by this run (not those done before).
    delivered: Arc<AtomicU64>,
    status: Mutex<String>,
    started: Instant,
}

impl Progress {
    /// Progress over `total` records (`None`: unknown), drawn on stderr.
    pub fn new(total: Option<u64>) -> Arc<Self> {
        let delivered = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let bar = std::io::stderr().is_terminal().then(|| {
            let delivered = delivered.clone();
            let plain = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let template = match (total.is_some(), plain) {
                (true, false) => "{spinner:.green} [{bar:30.cyan/blue}] {pos}/{len} records, {rate}, ETA {eta}, {msg}",
                (true, true) => "{spinner} [{bar:30}] {pos}/{len} records, {rate}, ETA {eta}, {msg}",
                (false, false) => "{spinner:.green} {pos} records, {rate}, {elapsed}, {msg}",
                (false, true) => "{spinner} {pos} records, {rate}, {elapsed}, {msg}",
            };
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(template)
                .expect("a valid template")
                .with_key(
                    "rate",
                    move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let rate = delivered.load(Ordering::Relaxed) as f64
                            / started.elapsed().as_secs_f64().max(1e-3);
                        let _ = write!(w, "{rate:.0} delivered/s");
                    },
                );
            bar.set_style(style);
            bar.set_message("0 not delivered");
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Arc::new(Progress {
            bar,
            done: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            delivered,
            status: Mutex::new(String::new()),
            started,
        })
    }

    /// One record finished: `delivered` now, or before (`skipped`), or not.
    pub fn record(&self, delivered: bool, skipped: bool) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if delivered && !skipped {
            self.delivered.fetch_add(1, Ordering::Relaxed);
        }
        if !delivered {
            self.bad.fetch_add(1, Ordering::Relaxed);
            self.show();
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Sets the status shown after the counts (e.g. `window 64, pace open, refused 0.0 %`).
    pub fn set_status(&self, status: String) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = status;
        self.show();
    }

    /// `B not delivered[, status]`.
    fn message(&self) -> String {
        let status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let bad = self.bad.load(Ordering::Relaxed);
        if status.is_empty() {
            format!("{bad} not delivered")
        } else {
            format!("{bad} not delivered, {status}")
        }
    }

    fn show(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(self.message());
        }
    }

    /// Prints `line` on stderr without tearing the bar.
    #[allow(clippy::print_stderr)]
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Without a terminal: a plain progress line every `every` (run it as a task; abort it
    /// at the end).
    pub async fn lines(self: Arc<Self>, every: Duration) {
        if self.bar.is_some() {
            return;
        }
        loop {
            tokio::time::sleep(every).await;
            let done = self.done.load(Ordering::Relaxed);
            let delivered = self.delivered.load(Ordering::Relaxed);
            self.println(&format!(
                "ingest: {done} records done, {:.0} delivered/s, {}",
                delivered as f64 / self.started.elapsed().as_secs_f64(),
                self.message()
            ));
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The lines of a plain (not gzip) regular file, for a progress total: `None` when that
/// cannot be known cheaply.
pub fn count_lines(path: &std::path::Path) -> Option<u64> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut lines = 0u64;
    let mut first = true;
    let mut last = b'\n';
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        if first && buf[..n].starts_with(&[0x1f, 0x8b]) {
            return None; // gzip: the total would need a second decompression
        }
        first = false;
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        last = buf[n - 1];
    }
    Some(lines + u64::from(last != b'\n'))
}

#[cfg(test)]
mod tests {
    use super::count_lines;

    #[test]
    fn lines_are_counted_with_or_without_a_last_newline_and_gzip_is_unknown() {
        let dir = std::env::temp_dir().join(format!("count-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            count_lines(&path)
        };
        assert_eq!(file("a", b"{}\n{}\n"), Some(2));
        assert_eq!(file("b", b"{}\n{}"), Some(2));
        assert_eq!(file("c", b""), Some(0));
        assert_eq!(file("d", &[0x1f, 0x8b, 8, 0]), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
