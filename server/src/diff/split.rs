//! Splits a YAML stream into documents at `---` lines, before parsing.
//!
//! kubectl's reader splits the same way, and YAML forbids a `---` line inside
//! content, so pieces can be parsed independently: in parallel, and only once
//! when the same document text appears on both sides of a diff.

/// One piece of a stream holding whole documents, with its first line (0-based offset).
pub struct Chunk<'a> {
    pub text: &'a str,
    pub line_offset: usize,
    /// A bare `---` line was cut off the front, so that the same document reads
    /// the same with or without it; it still opens one (possibly empty) document.
    pub explicit: bool,
}

impl<'a> Chunk<'a> {
    fn new(text: &'a str, line_offset: usize) -> Chunk<'a> {
        let first = text.split_inclusive('\n').next().unwrap_or("");
        // Not with `...` lines: a document end after the marker changes the count.
        let bare = first
            .strip_prefix("---")
            .is_some_and(|r| r.trim().is_empty());
        if bare && !text.starts_with("...") && !text.contains("\n...") {
            Chunk {
                text: &text[first.len()..],
                line_offset: line_offset + 1,
                explicit: true,
            }
        } else {
            Chunk {
                text,
                line_offset,
                explicit: false,
            }
        }
    }
}

fn is_separator(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// Splits a stream at `---` lines. Streams with directives (`%YAML`, `%TAG`)
/// stay whole, because a directive belongs to the document after it.
pub fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    if text.starts_with('%') || text.contains("\n%") {
        return vec![Chunk {
            text,
            line_offset: 0,
            explicit: false,
        }];
    }
    let mut chunks = Vec::new();
    let (mut start, mut start_line, mut pos, mut line) = (0, 0, 0, 0);
    for l in text.split_inclusive('\n') {
        if is_separator(l) && pos > start {
            chunks.push(Chunk::new(&text[start..pos], start_line));
            (start, start_line) = (pos, line);
        }
        pos += l.len();
        line += 1;
    }
    if pos > start || chunks.is_empty() {
        chunks.push(Chunk::new(&text[start..], start_line));
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_separator_lines_only() {
        let t = "# c\n---\na: 1\n--- {b: 2}\nc: |\n  ---x\n---\n";
        let parts: Vec<(usize, &str)> = split_documents(t)
            .iter()
            .map(|c| (c.line_offset, c.text))
            .collect();
        assert_eq!(
            parts,
            [
                (0, "# c\n"),
                (2, "a: 1\n"),
                (3, "--- {b: 2}\nc: |\n  ---x\n"),
                (7, "")
            ]
        );
        assert_eq!(split_documents("%YAML 1.2\n---\na: 1\n---\n").len(), 1);
        assert_eq!(split_documents("").len(), 1);
    }
}
