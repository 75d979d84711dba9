//! Reading records from a file, one at a time: NDJSON (one JSON value per line) or CSV (a
//! header row; each value typed as JSON would type it), gzip read transparently.
//!
//! Policy: nothing is held but the record being read. Every record carries its line number
//! (1-based; for CSV the line its row starts on) and a digest of its text, which the ingest
//! journal keeps to notice a file that changed under it. A line that is not a record (invalid
//! JSON, a CSV row of the wrong width, bytes that are not UTF-8) is a record whose value is an
//! error: the run reports it and goes on. Blank NDJSON lines are not records. A CSV cell is a
//! JSON number, `true`, `false`, `null`, object or array when its text is one (a decimal keeps
//! its exact text: `2.675` stays `2.675`), else a string; an empty cell is absent.

use std::io::{BufRead, BufReader, Read};

use serde_json::{Map, Value};

/// The format of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON value per line (`.ndjson`, `.jsonl`, `.json`).
    Ndjson,
    /// Comma-separated values with a header row (`.csv`).
    Csv,
}

impl Format {
    /// The format a file name implies (a `.gz` suffix is looked through), if any.
    pub fn from_name(name: &str) -> Option<Format> {
        let name = name.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        match name.rsplit_once('.')?.1 {
            "ndjson" | "jsonl" | "json" => Some(Format::Ndjson),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// One record of the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Its line number (1-based).
    pub line: u64,
    /// A digest of its text (hex, 16 bytes of SHA-256).
    pub digest: String,
    /// Its value, or why the line is not one.
    pub value: Result<Value, String>,
}

/// Wraps `reader` in a gzip decoder when its first bytes are gzip's magic number.
pub fn decompressed(
    reader: impl Read + Send + 'static,
) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let gzip = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        Box::new(BufReader::with_capacity(
            64 * 1024,
            flate2::bufread::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    })
}

/// The records of `reader` (already decompressed) in `format`, in order. An I/O error (or a
/// corrupt gzip stream) ends the iteration with that error.
pub fn records(
    reader: Box<dyn BufRead + Send>,
    format: Format,
) -> Box<dyn Iterator<Item = std::io::Result<Record>> + Send> {
    match format {
        Format::Ndjson => Box::new(Ndjson {
            reader,
            line: 0,
            buf: Vec::new(),
        }),
        Format::Csv => Box::new(Csv::new(reader)),
    }
}

fn hex_digest(parts: &[&str]) -> String {
    crate::identity::hex_digest("", parts)
}

struct Ndjson {
    reader: Box<dyn BufRead + Send>,
    line: u64,
    buf: Vec<u8>,
}

impl Iterator for Ndjson {
    type Item = std::io::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(e)),
            }
            self.line += 1;
            let bytes = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            let text = match std::str::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    return Some(Ok(Record {
                        line: self.line,
                        digest: hex_digest(&[&String::from_utf8_lossy(bytes)]),
                        value: Err(format!("not UTF-8: {e}")),
                    }));
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            let value = serde_json::from_str::<Value>(text)
                .map_err(|e| e.to_string())
                .and_then(|v| match once_each(text, &v) {
                    Some(why) => Err(why),
                    None => Ok(v),
                });
            return Some(Ok(Record {
                line: self.line,
                digest: hex_digest(&[text]),
                value,
            }));
        }
    }
}

struct Csv {
    reader: csv::Reader<Box<dyn BufRead + Send>>,
    headers: Result<Vec<String>, ()>,
    header_error: Option<String>,
    row: csv::StringRecord,
}

impl Csv {
    fn new(reader: Box<dyn BufRead + Send>) -> Self {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(reader);
        let (headers, header_error) = match reader.headers() {
            Ok(h) => {
                let names: Vec<String> = h.iter().map(str::to_owned).collect();
                let twice = names
                    .iter()
                    .enumerate()
                    // An empty name is no column (a spreadsheet's trailing ones): its cells are
                    // left out.
                    .filter(|(_, n)| !n.is_empty())
                    .find_map(|(i, n)| Some((names[..i].iter().position(|m| m == n)?, i)));
                match twice {
                    Some((first, second)) => (
                        Err(()),
                        Some(format!(
                            "the CSV header row names `{}` twice (columns {} and {}); only one value can count",
                            names[second],
                            first + 1,
                            second + 1
                        )),
                    ),
                    None => (Ok(names), None),
                }
            }
            Err(e) => (Err(()), Some(format!("the CSV header row: {e}"))),
        };
        Csv {
            reader,
            headers,
            header_error,
            row: csv::StringRecord::new(),
        }
    }
}

/// Why `text` (JSON, parsed as `value`) cannot be one record: a key it holds twice in one
/// object, of which a parser would keep the last value silently (`call` and `run` refuse such
/// input too). Every record pays only a count of its keys; a record that has more in its text
/// than in its value is located.
fn once_each(text: &str, value: &Value) -> Option<String> {
    if keys_written(text) == keys_held(value) {
        return None;
    }
    let dup = crate::diagnostic::locate::duplicate_keys(text)
        .into_iter()
        .next()?;
    Some(format!(
        "key `{}` appears twice in one object (column {}); only one value can count",
        dup.key, dup.position.1
    ))
}

/// How many object members JSON `text` writes: strings followed by `:`.
fn keys_written(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut i, mut keys) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        i += 1;
        let after = bytes.get(i..).unwrap_or_default();
        if after.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':') {
            keys += 1;
        }
    }
    keys
}

/// How many object members `value` holds, at any depth.
fn keys_held(value: &Value) -> usize {
    match value {
        Value::Object(map) => map.len() + map.values().map(keys_held).sum::<usize>(),
        Value::Array(items) => items.iter().map(keys_held).sum(),
        _ => 0,
    }
}

/// A CSV cell as JSON would type it.
fn typed(cell: &str) -> Value {
    match serde_json::from_str::<Value>(cell) {
        Ok(
            v @ (Value::Number(_)
            | Value::Bool(_)
            | Value::Null
            | Value::Object(_)
            | Value::Array(_)),
        ) => v,
        _ => Value::String(cell.to_owned()),
    }
}

impl Iterator for Csv {
    type Item = std::io::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        let headers = match &self.headers {
            Ok(h) => h,
            Err(()) => {
                // Said once; then the input ends.
                let e = std::mem::take(&mut self.header_error)?;
                return Some(Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)));
            }
        };
        match self.reader.read_record(&mut self.row) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.row.position().map_or(0, |p| p.line());
                let cells: Vec<&str> = self.row.iter().collect();
                let mut object = Map::new();
                let mut twice = None;
                for (name, cell) in headers.iter().zip(&cells) {
                    if !cell.is_empty() {
                        let value = typed(cell);
                        if value.is_object() || value.is_array() {
                            twice = twice.or_else(|| {
                                once_each(cell, &value).map(|why| format!("column `{name}`: {why}"))
                            });
                        }
                        object.insert(name.clone(), value);
                    }
                }
                Some(Ok(Record {
                    line,
                    digest: hex_digest(&cells),
                    value: match twice {
                        Some(why) => Err(why),
                        None => Ok(Value::Object(object)),
                    },
                }))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                match e.kind() {
                    csv::ErrorKind::Io(_) => Some(Err(std::io::Error::other(e.to_string()))),
                    _ => Some(Ok(Record {
                        line,
                        digest: hex_digest(&[&e.to_string()]),
                        value: Err(e.to_string()),
                    })),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str, format: Format) -> Vec<Record> {
        let reader = decompressed(std::io::Cursor::new(text.as_bytes().to_vec())).unwrap();
        records(reader, format).map(Result::unwrap).collect()
    }

    #[test]
    fn a_key_twice_is_found_and_text_that_only_looks_like_keys_is_not() {
        for (text, twice) in [
            (r#"{"q": 1, "q": 2}"#, true),
            (r#"{"a": {"q": 1, "q": 2}}"#, true),
            (r#"[{"q": 1}, {"q": 2}]"#, false),
            (r#"{"q": "x\": 1, \"q\": 2", "r": "a\\"}"#, false),
            (r#"{"q" : ":", "p": [":", "\"q\":"]}"#, false),
            (r#"{"q": 1, "p": {"q": 2}}"#, false),
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(once_each(text, &value).is_some(), twice, "{text}");
        }
    }

    #[test]
    fn ndjson_lines_keep_their_numbers_and_bad_lines_are_errors() {
        let got = all("{\"q\": 2.675}\n\n{oops\n[1]\r\n", Format::Ndjson);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].line, 1);
        assert_eq!(got[0].value.as_ref().unwrap().to_string(), "{\"q\":2.675}");
        assert_eq!(got[1].line, 3);
        assert!(got[1].value.is_err());
        assert_eq!(got[2].line, 4);
        assert_eq!(got[2].value, Ok(serde_json::json!([1])));
    }

    #[test]
    fn csv_cells_are_typed_as_json_and_decimals_stay_exact() {
        let got = all(
            "subscriptionId,quantity,ok,note\nsub_1,2.675,true,\nsub_2,12345678901234567.5,false,\"x,y\"\nsub_3,1\n",
            Format::Csv,
        );
        assert_eq!(got.len(), 3);
        let first = got[0].value.as_ref().unwrap();
        assert_eq!(first["quantity"].to_string(), "2.675");
        assert_eq!(first["ok"], Value::Bool(true));
        assert!(first.get("note").is_none(), "an empty cell is absent");
        let second = got[1].value.as_ref().unwrap();
        assert_eq!(second["quantity"].to_string(), "12345678901234567.5");
        assert_eq!(second["note"], Value::String("x,y".into()));
        assert_eq!((got[2].line, got[2].value.is_err()), (4, true));
    }

    #[test]
    fn gzip_is_read_through_and_the_format_comes_from_the_name() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"a\":1}\n{\"a\":2}\n").unwrap();
        let bytes = gz.finish().unwrap();
        let reader = decompressed(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(records(reader, Format::Ndjson).count(), 2);
        assert_eq!(Format::from_name("usage.CSV.gz"), Some(Format::Csv));
        assert_eq!(Format::from_name("events.jsonl"), Some(Format::Ndjson));
        assert_eq!(Format::from_name("events.txt"), None);
    }
}
