//! Maps RFC 6901 pointers to line and column in the JSON text they came from.
//!
//! Policy: one linear scan, only when a file has diagnostics; iterative (no recursion), so any
//! nesting depth is safe. Lines and columns are 1-based; columns count characters.

use std::collections::{HashMap, HashSet};

/// Escapes one pointer token (`~` → `~0`, `/` → `~1`).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Appends a token to a pointer.
pub fn child(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", escape_token(token))
}

enum Frame {
    Object {
        pointer: String,
        key: Option<String>,
        keys: HashSet<String>,
    },
    Array {
        pointer: String,
        index: usize,
    },
}

/// A key that appears twice in one object (JSON parsers keep only the last one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    /// Pointer of the object holding the key.
    pub object: String,
    /// The key.
    pub key: String,
    /// Position of the second occurrence.
    pub position: (usize, usize),
}

/// Finds the position of the value at each wanted pointer (for an object member, the position of
/// its key, which is where a reader looks). Pointers not found are absent from the map.
pub fn positions(text: &str, wanted: &HashSet<String>) -> HashMap<String, (usize, usize)> {
    if wanted.is_empty() {
        return HashMap::new();
    }
    scan(text, wanted).0
}

/// The line and column of character `offset` (counted in the decoded string) of the string
/// value at `pointer`: where a mistake inside a long string is. `None` when the pointer does
/// not name a string in `text`.
pub fn inside_string(text: &str, pointer: &str, offset: usize) -> Option<(usize, usize)> {
    let wanted = HashSet::from([pointer.to_owned()]);
    let (line, col) = *positions(text, &wanted).get(pointer)?;
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    let chars: Vec<char> = text[line_start..].chars().collect();
    // Characters from the start of the line, then from the position found.
    let mut i = col - 1;
    let string_end = |mut i: usize| -> Option<usize> {
        if chars.get(i) != Some(&'"') {
            return None;
        }
        i += 1;
        while let Some(&c) = chars.get(i) {
            match c {
                '\\' => i += 2,
                '"' => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    };
    // A member is found at its key: step over it and the `:`.
    let mut after = string_end(i)?;
    while chars.get(after).is_some_and(|c| c.is_whitespace()) {
        after += 1;
    }
    if chars.get(after) == Some(&':') {
        i = after + 1;
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        string_end(i)?;
    }
    // Walk the value's characters, an escape counting as one.
    let (mut at, mut decoded) = (i + 1, 0);
    while decoded < offset {
        match chars.get(at)? {
            '"' => return None,
            '\\' if chars.get(at + 1) == Some(&'u') => at += 6,
            '\\' => at += 2,
            _ => at += 1,
        }
        decoded += 1;
    }
    // The value may start on a later line than its key (JSON strings hold no raw newline).
    let lines = chars[..at].iter().filter(|&&c| c == '\n').count();
    let column = match chars[..at].iter().rposition(|&c| c == '\n') {
        Some(newline) => at - newline,
        None => at + 1,
    };
    Some((line + lines, column))
}

/// Keys that appear more than once in the same object, in text order.
pub fn duplicate_keys(text: &str) -> Vec<DuplicateKey> {
    scan(text, &HashSet::new()).1
}

fn scan(
    text: &str,
    wanted: &HashSet<String>,
) -> (HashMap<String, (usize, usize)>, Vec<DuplicateKey>) {
    let mut found = HashMap::new();
    let mut duplicates = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let mut stack: Vec<Frame> = Vec::new();
    // Position of the last object key read, so a member's value is located at its key.
    let mut key_pos = (1, 1);
    let record =
        |pointer: &str, pos: (usize, usize), found: &mut HashMap<String, (usize, usize)>| {
            if wanted.contains(pointer) && !found.contains_key(pointer) {
                found.insert(pointer.to_owned(), pos);
            }
        };
    let current = |stack: &[Frame],
                   key_pos: (usize, usize),
                   here: (usize, usize)|
     -> (String, (usize, usize)) {
        match stack.last() {
            None => (String::new(), here),
            Some(Frame::Object { pointer, key, .. }) => {
                (child(pointer, key.as_deref().unwrap_or_default()), key_pos)
            }
            Some(Frame::Array { pointer, index }) => (child(pointer, &index.to_string()), here),
        }
    };
    let mut expecting_key = false;
    while i < chars.len() {
        let c = chars[i];
        let here = (line, col);
        match c {
            '\n' => {
                line += 1;
                col = 0;
            }
            '{' | '[' => {
                let (pointer, pos) = current(&stack, key_pos, here);
                record(&pointer, pos, &mut found);
                if c == '{' {
                    stack.push(Frame::Object {
                        pointer,
                        key: None,
                        keys: HashSet::new(),
                    });
                    expecting_key = true;
                } else {
                    stack.push(Frame::Array { pointer, index: 0 });
                }
            }
            '}' | ']' => {
                stack.pop();
                expecting_key = false;
            }
            ',' => match stack.last_mut() {
                Some(Frame::Array { index, .. }) => *index += 1,
                Some(Frame::Object { .. }) => expecting_key = true,
                None => {}
            },
            ':' => expecting_key = false,
            '"' => {
                let start = here;
                let mut s = String::new();
                i += 1;
                col += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                        col += 1;
                        s.push(match chars[i] {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            'b' => '\u{8}',
                            'f' => '\u{c}',
                            'u' => {
                                let hex: String = chars
                                    .get(i + 1..i + 5)
                                    .map(|h| h.iter().collect())
                                    .unwrap_or_default();
                                i += 4;
                                col += 4;
                                u32::from_str_radix(&hex, 16)
                                    .ok()
                                    .and_then(char::from_u32)
                                    .unwrap_or('\u{fffd}')
                            }
                            other => other,
                        });
                    } else {
                        s.push(chars[i]);
                    }
                    i += 1;
                    col += 1;
                }
                if expecting_key {
                    if let Some(Frame::Object { pointer, key, keys }) = stack.last_mut() {
                        if !keys.insert(s.clone()) {
                            duplicates.push(DuplicateKey {
                                object: pointer.clone(),
                                key: s.clone(),
                                position: start,
                            });
                        }
                        *key = Some(s);
                    }
                    key_pos = start;
                    expecting_key = false;
                } else {
                    let (pointer, pos) = current(&stack, key_pos, start);
                    record(&pointer, pos, &mut found);
                }
            }
            c if c.is_whitespace() => {}
            _ => {
                // A scalar literal: number, true, false, null.
                let (pointer, pos) = current(&stack, key_pos, here);
                record(&pointer, pos, &mut found);
                while i + 1 < chars.len()
                    && !matches!(chars[i + 1], ',' | '}' | ']' | '\n' | ' ' | '\t' | '\r')
                {
                    i += 1;
                    col += 1;
                }
            }
        }
        i += 1;
        col += 1;
    }
    (found, duplicates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_values_and_array_items() {
        let text = "{\n  \"a\": {\"b c\": [1, {\"d/e\": \"x\"}]},\n  \"f\": null\n}";
        let wanted: HashSet<String> = [
            "",
            "/a",
            "/a/b c",
            "/a/b c/1",
            "/a/b c/1/d~1e",
            "/f",
            "/missing",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let found = positions(text, &wanted);
        assert_eq!(found[""], (1, 1));
        assert_eq!(found["/a"], (2, 3));
        assert_eq!(found["/a/b c"], (2, 9));
        assert_eq!(found["/a/b c/1"], (2, 20));
        assert_eq!(found["/a/b c/1/d~1e"], (2, 21));
        assert_eq!(found["/f"], (3, 3));
        assert!(!found.contains_key("/missing"));
    }

    #[test]
    fn finds_duplicate_keys_per_object() {
        let text = "{\"tasks\": {\"A\": {\"x\": 1, \"x\": 2}, \"A\": {}}, \"y\": {\"A\": 1}}";
        let dups = duplicate_keys(text);
        let found: Vec<(&str, &str)> = dups
            .iter()
            .map(|d| (d.object.as_str(), d.key.as_str()))
            .collect();
        assert_eq!(found, vec![("/tasks/A", "x"), ("/tasks", "A")]);
        assert_eq!(dups[1].position, (1, 35));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let text = format!("{}{}", "[".repeat(3_000), "]".repeat(3_000));
        let wanted: HashSet<String> = ["/0/0".to_owned()].into();
        assert_eq!(positions(&text, &wanted)["/0/0"], (1, 3));
    }

    #[test]
    fn a_character_inside_a_string_is_placed_with_escapes_counted_once() {
        let text = "{\n  \"a\": {\"k\":  \"jsonata:\\\"x\\\" & y\"},\n  \"b\": [\"\\u00e9z\"]\n}";
        // `y` is character 15 of the decoded value `jsonata:"x" & y`.
        assert_eq!(inside_string(text, "/a/k", 14), Some((2, 32)));
        assert_eq!(inside_string(text, "/b/0", 1), Some((3, 16)));
        assert_eq!(inside_string(text, "/a", 0), None, "not a string");
    }
}
