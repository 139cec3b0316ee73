//! Output handling for `super::exec`: splitting a child's pipe into bounded
//! lines, masking secrets, and reading the `$FLUXGATE_OUTPUT` file.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

pub(super) const OUTPUT_FILE_LIMIT: usize = 64 * 1024;
pub(super) const OUTPUT_KEY_LIMIT: usize = 100;
/// Bad lines are quoted in `output_errors`; a short excerpt is enough to find
/// them and keeps a runaway file from bloating the error list.
const EXCERPT_BYTES: usize = 60;

/// Replaces every occurrence of a secret with `***`.
pub(super) struct Masker {
    patterns: Vec<String>,
    longest: usize,
}

impl Masker {
    pub(super) fn new(secrets: &[String]) -> Self {
        let mut patterns = Vec::new();
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            patterns.push(secret.clone());
            // Output is masked one line at a time, so a multi-line secret (a
            // PEM key, say) could never match whole. Masking each of its lines
            // on its own keeps every part of it out of the log, at the price
            // of also hiding those lines where they appear for other reasons.
            if secret.contains('\n') {
                patterns.extend(secret.lines().filter(|l| !l.is_empty()).map(String::from));
            }
        }
        patterns.sort();
        patterns.dedup();
        let longest = patterns.iter().map(String::len).max().unwrap_or(0);
        Self { patterns, longest }
    }

    /// Length of the longest pattern: how far past a cut point a line must be
    /// kept so that a secret starting before the cut is seen whole.
    pub(super) fn longest(&self) -> usize {
        self.longest
    }

    pub(super) fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.mask_prefix(text, text.len())
    }

    /// Masks `text` and keeps only its first `limit` bytes (`limit` must be a
    /// char boundary). A secret that starts before `limit` is replaced whole
    /// even when it reaches past it, so a cut never reveals a secret's head.
    pub(super) fn mask_prefix<'a>(&self, text: &'a str, limit: usize) -> Cow<'a, str> {
        // Matches of all secrets are collected first and merged, so that
        // overlapping secrets ("abcd" and "cdef" in "abcdef") are hidden
        // together; replacing one secret after another would leave a fragment
        // of the second one in view.
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for pattern in &self.patterns {
            let mut from = 0;
            while let Some(found) = text[from..].find(pattern.as_str()) {
                let start = from + found;
                if start >= limit {
                    break;
                }
                spans.push((start, start + pattern.len()));
                // Advance by one char, not by the match, so overlapping
                // occurrences ("aa" in "aaa") all count.
                from = start + text[start..].chars().next().map_or(1, char::len_utf8);
            }
        }
        if spans.is_empty() {
            return Cow::Borrowed(&text[..limit]);
        }
        spans.sort_unstable();
        let mut out = String::with_capacity(limit);
        let mut pos = 0;
        let (mut start, mut end) = spans[0];
        for &(s, e) in &spans[1..] {
            if s <= end {
                end = end.max(e);
            } else {
                out.push_str(&text[pos..start]);
                out.push_str("***");
                pos = end;
                (start, end) = (s, e);
            }
        }
        out.push_str(&text[pos..start]);
        out.push_str("***");
        if end < limit {
            out.push_str(&text[end..limit]);
        }
        Cow::Owned(out)
    }
}

/// One line as read from a pipe, without its line ending.
pub(super) struct RawLine {
    /// The line's first bytes: all of it when `complete`.
    pub(super) bytes: Vec<u8>,
    pub(super) complete: bool,
    /// The line's whole length as printed, also when `bytes` keeps only its head.
    pub(super) len: usize,
}

/// Splits a byte stream into lines while holding at most `keep` bytes of a
/// line in memory, so a child printing gigabytes without a newline costs
/// nothing but reading time.
pub(super) struct LineReader<R> {
    inner: R,
    keep: usize,
    buf: Vec<u8>,
    /// Length of the current line so far, including bytes not kept.
    len: usize,
    last: Option<u8>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub(super) fn new(inner: R, keep: usize) -> Self {
        Self {
            inner,
            keep,
            buf: Vec::new(),
            len: 0,
            last: None,
        }
    }

    /// Next line, or `None` at end of stream. Cancel-safe: a partial line
    /// lives in `self`, and the only await is `fill_buf`, which consumes
    /// nothing, so a caller may race this against a timer.
    pub(super) async fn next_line(&mut self) -> io::Result<Option<RawLine>> {
        loop {
            let chunk = self.inner.fill_buf().await?;
            if chunk.is_empty() {
                return Ok((self.len > 0).then(|| self.take_line()));
            }
            let newline = chunk.iter().position(|&b| b == b'\n');
            let taken = newline.unwrap_or(chunk.len());
            let room = self.keep.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&chunk[..taken.min(room)]);
            if taken > 0 {
                self.last = Some(chunk[taken - 1]);
            }
            self.len += taken;
            self.inner.consume(taken + usize::from(newline.is_some()));
            if newline.is_some() {
                return Ok(Some(self.take_line()));
            }
        }
    }

    fn take_line(&mut self) -> RawLine {
        let mut len = self.len;
        if self.last == Some(b'\r') {
            len -= 1;
            self.buf.truncate(len);
        }
        let complete = self.buf.len() == len;
        self.len = 0;
        self.last = None;
        RawLine {
            bytes: std::mem::take(&mut self.buf),
            complete,
            len,
        }
    }
}

/// Bytes of a line to keep in memory so that `render_line` can both cut at
/// `max_line_bytes` and still see every secret that starts before the cut.
pub(super) fn keep_bytes(max_line_bytes: usize, masker: &Masker) -> usize {
    max_line_bytes.saturating_add(masker.longest())
}

/// Turns a raw line into log text: lossy UTF-8, secrets masked, cut at
/// `max` bytes of the text as printed (before masking, so whether a line is
/// cut does not depend on which secrets it happens to contain).
pub(super) fn render_line(raw: &RawLine, max: usize, masker: &Masker) -> String {
    let text = String::from_utf8_lossy(&raw.bytes);
    if raw.complete && text.len() <= max {
        return masker.mask(&text).into_owned();
    }
    let cut = floor_char_boundary(&text, max);
    let mut out = masker.mask_prefix(&text, cut).into_owned();
    out.push_str(&format!("… [line cut at {max} bytes]"));
    out
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Reads and parses the step's output file. A missing file (the step removed
/// it) simply means no outputs.
pub(super) fn read_outputs(
    path: &Path,
    masker: &Masker,
) -> (BTreeMap<String, String>, Vec<String>) {
    match read_capped(path) {
        Ok(data) => parse_outputs(&data, masker),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (BTreeMap::new(), Vec::new()),
        Err(e) => (
            BTreeMap::new(),
            vec![format!("cannot read the output file: {e}")],
        ),
    }
}

fn read_capped(path: &Path) -> io::Result<Vec<u8>> {
    // The step owns the file and may have replaced it: a symlink could point
    // at a file of the server, and opening a FIFO for reading would block
    // forever. Neither is followed or waited on.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    let mut data = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    file.take(OUTPUT_FILE_LIMIT as u64 + 1)
        .read_to_end(&mut data)?;
    Ok(data)
}

pub(super) fn parse_outputs(
    data: &[u8],
    masker: &Masker,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut outputs = BTreeMap::new();
    let mut errors = Vec::new();
    let data = if data.len() > OUTPUT_FILE_LIMIT {
        errors.push(format!(
            "output file is larger than {OUTPUT_FILE_LIMIT} bytes; the rest was ignored"
        ));
        let head = &data[..OUTPUT_FILE_LIMIT];
        // The line straddling the limit is incomplete: dropping it beats
        // storing half a value as if it were the whole.
        head.iter()
            .rposition(|&b| b == b'\n')
            .map_or(&[][..], |i| &head[..=i])
    } else {
        data
    };
    let text = String::from_utf8_lossy(data);
    for (index, line) in text.split('\n').enumerate() {
        let number = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            errors.push(format!(
                "line {number}: expected KEY=VALUE, got {}",
                excerpt(line, masker)
            ));
            continue;
        };
        if !valid_key(key) {
            errors.push(format!(
                "line {number}: invalid key {}",
                excerpt(key, masker)
            ));
            continue;
        }
        // Keys are shown as they are, so one that contains a secret is refused
        // rather than stored under a masked name that could collide.
        if masker.mask(key) != key {
            errors.push(format!("line {number}: key contains a secret; ignored"));
            continue;
        }
        if !outputs.contains_key(key) && outputs.len() >= OUTPUT_KEY_LIMIT {
            errors.push(format!(
                "line {number}: more than {OUTPUT_KEY_LIMIT} outputs; {key} ignored"
            ));
            continue;
        }
        outputs.insert(key.to_owned(), masker.mask(value).into_owned());
    }
    (outputs, errors)
}

fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn excerpt(text: &str, masker: &Masker) -> String {
    let masked = masker.mask(text);
    let cut = floor_char_boundary(&masked, EXCERPT_BYTES);
    if cut < masked.len() {
        format!("{:?}…", &masked[..cut])
    } else {
        format!("{masked:?}")
    }
}

/// "300ms", "2.5s", "1m 30s", "2h 5m".
pub(super) fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    let millis = d.subsec_millis();
    if secs < 60 && millis > 0 {
        let frac = format!("{millis:03}");
        parts.push(format!("{s}.{}s", frac.trim_end_matches('0')));
    } else if s > 0 {
        parts.push(format!("{s}s"));
    }
    parts.join(" ")
}
