//! Execution numbers (`swf:sequenceNumber`) of a state folder: one counter file, locked while
//! it counts, so processes sharing it never get the same number.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// The next execution number of the counter file at `path` (created, and the folder with it,
/// when missing; its text is the last number given). The file is locked while it is read and
/// written, so processes sharing it never get the same number.
pub fn next_sequence(path: &Path) -> Result<u64> {
    let io = |action: &'static str| {
        move |source| Error::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io("creating the folder of"))?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(io("opening"))?;
    file.lock().map_err(io("locking"))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).map_err(io("reading"))?;
    let last: u64 = text.trim().parse().unwrap_or(0);
    let next = last + 1;
    // Fixed width, written in place: the file is never empty or shorter between two numbers.
    std::io::Seek::rewind(&mut file).map_err(io("writing"))?;
    file.write_all(format!("{next:020}\n").as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(io("writing"))?;
    Ok(next)
}
