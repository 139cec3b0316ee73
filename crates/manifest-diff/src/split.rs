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
    /// `ends`: some line of `text` starts with `...`.
    fn new(text: &'a str, line_offset: usize, ends: bool) -> Chunk<'a> {
        let first = text.split_inclusive('\n').next().unwrap_or("");
        // Not with `...` lines: a document end after the marker changes the count.
        let bare = first
            .strip_prefix("---")
            .is_some_and(|r| r.trim().is_empty());
        if bare && !ends {
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

/// Position of the first `\n`, eight bytes at a time: the loaders look for
/// every line end of their input, and lines are short.
pub(crate) fn newline(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(word) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default()) ^ (ONES * 0x0a);
        // The lowest high bit set marks the first zero byte, that is the first `\n`.
        let zero = word.wrapping_sub(ONES) & !word & HIGHS;
        if zero != 0 {
            return Some(i + zero.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    bytes[i..].iter().position(|&b| b == b'\n').map(|p| i + p)
}

/// Splits a stream at `---` lines. Streams with directives (`%YAML`, `%TAG`)
/// stay whole, because a directive belongs to the document after it.
pub fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let bytes = text.as_bytes();
    let mut chunks = Vec::new();
    // The current piece: its start, first line, and whether a line of it starts with `...`.
    let (mut start, mut start_line, mut ends) = (0, 0, false);
    // One pass over line starts, the only places that matter.
    let (mut pos, mut line) = (0, 0);
    while pos < bytes.len() {
        match bytes[pos] {
            b'%' => {
                return vec![Chunk {
                    text,
                    line_offset: 0,
                    explicit: false,
                }]
            }
            b'-' if pos > start && is_separator(&text[pos..]) => {
                chunks.push(Chunk::new(&text[start..pos], start_line, ends));
                (start, start_line, ends) = (pos, line, false);
            }
            b'.' if bytes[pos..].starts_with(b"...") => ends = true,
            _ => {}
        }
        match newline(&bytes[pos..]) {
            Some(at) => (pos, line) = (pos + at + 1, line + 1),
            None => break,
        }
    }
    if text.len() > start || chunks.is_empty() {
        chunks.push(Chunk::new(&text[start..], start_line, ends));
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newline_finds_the_first_line_end() {
        let text = "a\u{e9}\u{a}bcdefghijklmnop\nq";
        for start in 0..text.len() {
            let rest = &text.as_bytes()[start..];
            assert_eq!(newline(rest), rest.iter().position(|&b| b == b'\n'));
        }
        assert_eq!(newline(&[0x8a; 20]), None);
    }

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

    fn old_chunk(text: &str, line: usize) -> Chunk<'_> {
        Chunk::new(
            text,
            line,
            text.starts_with("...") || text.contains("\n..."),
        )
    }

    /// The line-by-line walk with separate searches that the single pass replaced.
    fn walk(text: &str) -> Vec<(usize, &str, bool)> {
        if text.starts_with('%') || text.contains("\n%") {
            return vec![(0, text, false)];
        }
        let (mut chunks, mut start, mut start_line, mut pos) = (Vec::new(), 0, 0, 0);
        for (line, l) in text.split_inclusive('\n').enumerate() {
            if is_separator(l) && pos > start {
                chunks.push(old_chunk(&text[start..pos], start_line));
                (start, start_line) = (pos, line);
            }
            pos += l.len();
        }
        if pos > start || chunks.is_empty() {
            chunks.push(old_chunk(&text[start..], start_line));
        }
        chunks
            .iter()
            .map(|c| (c.line_offset, c.text, c.explicit))
            .collect()
    }

    #[test]
    fn one_pass_cuts_where_the_line_walk_cuts() {
        let pieces = [
            "---",
            "---\n",
            "--- x\n",
            "---\t\n",
            "---\r\n",
            "----\n",
            "---x\n",
            " ---\n",
            "a: 1\n",
            "\n",
            "...\n",
            "... # end\n",
            "b: ---\n",
            "%YAML 1.2\n",
            "a: %x\n",
            "",
        ];
        let mut n = 1usize;
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..6 {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1);
                text.push_str(pieces[(n >> 33) % pieces.len()]);
            }
            let fast: Vec<_> = split_documents(&text)
                .iter()
                .map(|c| (c.line_offset, c.text, c.explicit))
                .collect();
            assert_eq!(fast, walk(&text), "{text:?}");
        }
    }
}
