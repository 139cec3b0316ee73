//! Line diff of two canonical YAML texts, as structured hunks and unified text.
//!
//! Hunks carry both old and new line numbers on every line, so a UI can draw
//! a unified or a side-by-side view from the same data; the unified text is
//! rendered from these hunks, so the two forms cannot disagree.

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;
use similar::{Algorithm, ChangeTag, TextDiff};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineTag {
    Context,
    Delete,
    Insert,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Line {
    pub tag: LineTag,
    /// 1-based line number in the old text (absent for inserts).
    pub old_line: Option<usize>,
    /// 1-based line number in the new text (absent for deletes).
    pub new_line: Option<usize>,
    /// Line content without its newline.
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hunk {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub lines: Vec<Line>,
}

/// Hunks with `context` unchanged lines around each change.
pub fn hunks(old: &str, new: &str, context: usize) -> Vec<Hunk> {
    // A deadline bounds pathological inputs; Myers then falls back to a coarser diff.
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .timeout(Duration::from_secs(2))
        .diff_lines(old, new);
    let mut out = Vec::new();
    for group in diff.grouped_ops(context) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let (old_r, new_r) = (
            first.old_range().start..last.old_range().end,
            first.new_range().start..last.new_range().end,
        );
        let mut lines = Vec::new();
        for op in &group {
            for ch in diff.iter_changes(op) {
                let tag = match ch.tag() {
                    ChangeTag::Equal => LineTag::Context,
                    ChangeTag::Delete => LineTag::Delete,
                    ChangeTag::Insert => LineTag::Insert,
                };
                let text = ch
                    .value()
                    .strip_suffix('\n')
                    .unwrap_or(ch.value())
                    .to_owned();
                lines.push(Line {
                    tag,
                    old_line: ch.old_index().map(|i| i + 1),
                    new_line: ch.new_index().map(|i| i + 1),
                    text,
                });
            }
        }
        // Unified-diff convention: an empty range starts at the line before it.
        let start = |r: &std::ops::Range<usize>| if r.is_empty() { r.start } else { r.start + 1 };
        out.push(Hunk {
            old_start: start(&old_r),
            old_len: old_r.len(),
            new_start: start(&new_r),
            new_len: new_r.len(),
            lines,
        });
    }
    out
}

/// Renders hunks as a unified diff with `---`/`+++` headers.
pub fn unified(old_name: &str, new_name: &str, hunks: &[Hunk]) -> String {
    if hunks.is_empty() {
        return String::new();
    }
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    for h in hunks {
        let _ = writeln!(
            out,
            "@@ -{},{} +{},{} @@",
            h.old_start, h.old_len, h.new_start, h.new_len
        );
        for l in &h.lines {
            out.push(match l.tag {
                LineTag::Context => ' ',
                LineTag::Delete => '-',
                LineTag::Insert => '+',
            });
            out.push_str(&l.text);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_parameter_and_numbers() {
        let old = "a\nb\nc\nd\ne\nf\ng\n";
        let new = "a\nb\nc\nD\ne\nf\ng\n";
        let h = hunks(old, new, 1);
        assert_eq!(h.len(), 1);
        assert_eq!(
            (h[0].old_start, h[0].old_len, h[0].new_start, h[0].new_len),
            (3, 3, 3, 3)
        );
        assert_eq!(
            unified("o", "n", &h),
            "--- o\n+++ n\n@@ -3,3 +3,3 @@\n c\n-d\n+D\n e\n"
        );
        assert_eq!(hunks(old, new, 3)[0].lines.len(), 8);
    }

    #[test]
    fn additions_from_empty() {
        let h = hunks("", "x\ny\n", 3);
        assert_eq!(
            (h[0].old_start, h[0].old_len, h[0].new_start, h[0].new_len),
            (0, 0, 1, 2)
        );
        assert!(hunks("same\n", "same\n", 3).is_empty());
    }
}
