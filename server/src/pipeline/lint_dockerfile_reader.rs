//! The Dockerfile reader behind `lint_dockerfile`: instructions as BuildKit
//! sees them (parser directives, continuation lines, heredocs), and the word
//! splitting the rules need. It parses leniently: a lint should report on a
//! malformed file, not refuse it.

/// One logical instruction: continuation lines joined, heredoc bodies
/// appended after a newline.
pub(super) struct Instruction {
    pub line: usize,
    /// Upper-cased, as instruction names are case-insensitive.
    pub keyword: String,
    pub args: String,
}

pub(super) fn parse(text: &str) -> Vec<Instruction> {
    let lines: Vec<&str> = text.lines().collect();
    let mut escape = '\\';
    let mut i = 0;
    while let Some((key, value)) = lines.get(i).and_then(|l| directive(l)) {
        if key.eq_ignore_ascii_case("escape") && (value == "`" || value == "\\") {
            escape = if value == "`" { '`' } else { '\\' };
        }
        i += 1;
    }
    let skipped = |l: &str| l.trim().is_empty() || l.trim_start().starts_with('#');
    let mut out = Vec::new();
    while i < lines.len() {
        let start = i;
        i += 1;
        if skipped(lines[start]) {
            continue;
        }
        let mut logical = String::new();
        let mut current = lines[start];
        while let Some(joined) = current.trim_end().strip_suffix(escape) {
            logical.push_str(joined);
            while i < lines.len() && skipped(lines[i]) {
                i += 1;
            }
            current = lines.get(i).copied().unwrap_or("");
            i += 1;
        }
        logical.push_str(current.trim_end());
        let logical = logical.trim_start();
        let (keyword, args) = logical
            .split_once(char::is_whitespace)
            .unwrap_or((logical, ""));
        let keyword = keyword.to_ascii_uppercase();
        let mut args = args.trim().to_string();
        // Only these take heredocs; elsewhere `<<` is plain text.
        let heredocs = matches!(keyword.as_str(), "RUN" | "COPY" | "ADD");
        for (word, strip_tabs) in heredoc_markers(&args).into_iter().filter(|_| heredocs) {
            args.push('\n');
            while let Some(l) = lines.get(i) {
                i += 1;
                let l = if strip_tabs {
                    l.trim_start_matches('\t')
                } else {
                    l
                };
                if l == word {
                    break;
                }
                args.push_str(l);
                args.push('\n');
            }
        }
        out.push(Instruction {
            line: start + 1,
            keyword,
            args,
        });
    }
    out
}

/// `# key=value` at the very top of the file.
fn directive(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.trim().strip_prefix('#')?.split_once('=')?;
    let key = key.trim();
    let valid = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| (key, value.trim()))
}

/// Heredoc words opened on an instruction line (`<<EOF`, `<<-"EOF"`), in
/// order, with whether their body lines lose leading tabs. Only whole words
/// count, as in BuildKit, so `$((1<<2))` opens nothing.
fn heredoc_markers(args: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for word in words(args) {
        let Some(rest) = word.strip_prefix("<<") else {
            continue;
        };
        let (rest, strip_tabs) = match rest.strip_prefix('-') {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push((name, strip_tabs));
        }
    }
    out
}

/// Arguments in JSON form (`["a", "b"]`); `None` when they are not, in
/// which case Docker too falls back to the shell form.
pub(super) fn exec_form(args: &str) -> Option<Vec<String>> {
    let inner = args.trim().strip_prefix('[')?.strip_suffix(']')?.trim();
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    while chars.peek().is_some() {
        if chars.next()? != '"' {
            return None;
        }
        let mut s = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => s.push('\n'),
                    't' => s.push('\t'),
                    'u' => {
                        let hex: String = (0..4).map(|_| chars.next()).collect::<Option<_>>()?;
                        s.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    c => s.push(c),
                },
                c => s.push(c),
            }
        }
        out.push(s);
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.next() {
            None => break,
            Some(',') => while chars.next_if(|c| c.is_whitespace()).is_some() {},
            Some(_) => return None,
        }
    }
    Some(out)
}

/// Shell-like word splitting with quotes removed; forgiving of unbalanced
/// quotes because the input may be a fragment of a larger command.
pub(super) fn words(s: &str) -> Vec<String> {
    let (mut out, mut word, mut quote, mut in_word) = (Vec::new(), String::new(), None, false);
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                }
                in_word = false;
                continue;
            }
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.push(c),
            (_, '\\') => word.extend(chars.next()),
            (_, c) => word.push(c),
        }
        in_word = true;
    }
    if in_word {
        out.push(word);
    }
    out
}

/// Leading `--flag` words (FROM, ADD, COPY, RUN) and the remaining text.
pub(super) fn split_flags(args: &str) -> (Vec<&str>, &str) {
    let mut flags = Vec::new();
    let mut rest = args.trim_start();
    while rest.starts_with("--") {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        flags.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    (flags, rest)
}
