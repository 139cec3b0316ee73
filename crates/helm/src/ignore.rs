//! `.helmignore` as Helm's pkg/ignore reads it: one filepath.Match glob per line, `!`
//! negation, a trailing `/` for directories only, a pattern without `/` matched against
//! the base name, `**` refused. Helm adds `templates/.?*` (hidden files in templates/).

pub struct Rules {
    patterns: Vec<Pattern>,
}

struct Pattern {
    rule: String,
    negate: bool,
    must_dir: bool,
    kind: Kind,
}

enum Kind {
    Root,
    Structural,
    Base,
}

impl Rules {
    pub fn parse(text: &str) -> Result<Rules, String> {
        let mut r = Rules {
            patterns: Vec::new(),
        };
        r.add("templates/.?*")?;
        for line in text.lines() {
            r.add(line)?;
        }
        Ok(r)
    }

    fn add(&mut self, rule: &str) -> Result<(), String> {
        let mut rule = rule.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err(format!(
                ".helmignore: double-star (**) syntax is not supported: {rule}"
            ));
        }
        if glob_match(rule, "abc").is_err() {
            return Err(format!(".helmignore: syntax error in pattern {rule:?}"));
        }
        let negate = rule.starts_with('!');
        if negate {
            rule = &rule[1..];
        }
        let must_dir = rule.ends_with('/');
        let rule = rule.trim_end_matches('/');
        let (kind, rule) = if let Some(r) = rule.strip_prefix('/') {
            (Kind::Root, r)
        } else if rule.contains('/') {
            (Kind::Structural, rule)
        } else {
            (Kind::Base, rule)
        };
        self.patterns.push(Pattern {
            rule: rule.to_string(),
            negate,
            must_dir,
            kind,
        });
        Ok(())
    }

    /// Helm's Rules.Ignore, including its reading of negation (a negated pattern that does
    /// not match ignores the path).
    pub fn ignore(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for p in &self.patterns {
            let name = match p.kind {
                Kind::Base => path.rsplit('/').next().unwrap_or(path),
                _ => path,
            };
            let matched = glob_match(&p.rule, name).unwrap_or(false);
            if p.negate {
                if p.must_dir && !is_dir {
                    return true;
                }
                if !matched {
                    return true;
                }
                continue;
            }
            if p.must_dir && !is_dir {
                continue;
            }
            if matched {
                return true;
            }
        }
        false
    }
}

/// Go's filepath.Match: `*` and `?` do not cross `/`, `[a-z]`/`[^a-z]` classes, `\` escapes.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches_at(&p, &n)
}

/// A pattern filepath.Match refuses (an unclosed or empty `[...]`, a trailing `\`).
#[derive(Debug)]
pub struct BadPattern;

fn matches_at(p: &[char], n: &[char]) -> Result<bool, BadPattern> {
    if p.is_empty() {
        return Ok(n.is_empty());
    }
    match p[0] {
        '*' => {
            let rest = &p[1..];
            for i in 0..=n.len() {
                if i > 0 && n[i - 1] == '/' {
                    break;
                }
                if matches_at(rest, &n[i..])? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        '?' => Ok(!n.is_empty() && n[0] != '/' && matches_at(&p[1..], &n[1..])?),
        '[' => {
            let end = p.iter().skip(1).position(|c| *c == ']').ok_or(BadPattern)? + 1;
            let class = &p[1..end];
            let (neg, class) = match class.first() {
                Some('^') => (true, &class[1..]),
                _ => (false, class),
            };
            if class.is_empty() {
                return Err(BadPattern);
            }
            let Some(&c) = n.first() else {
                return Ok(false);
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                let lo = class[i];
                if i + 2 < class.len() && class[i + 1] == '-' {
                    if lo <= c && c <= class[i + 2] {
                        hit = true;
                    }
                    i += 3;
                } else {
                    if lo == c {
                        hit = true;
                    }
                    i += 1;
                }
            }
            Ok(hit != neg && c != '/' && matches_at(&p[end + 1..], &n[1..])?)
        }
        '\\' => {
            let c = *p.get(1).ok_or(BadPattern)?;
            Ok(!n.is_empty() && n[0] == c && matches_at(&p[2..], &n[1..])?)
        }
        c => Ok(!n.is_empty() && n[0] == c && matches_at(&p[1..], &n[1..])?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helmignore_rules() {
        let r = Rules::parse("# comment\n*.tmp\n.git/\n/ci/\ndocs/*.md\n").unwrap();
        assert!(r.ignore("a/b.tmp", false));
        assert!(r.ignore(".git", true));
        assert!(!r.ignore(".git", false));
        assert!(r.ignore("ci", true));
        assert!(r.ignore("docs/x.md", false));
        assert!(!r.ignore("docs/sub/x.md", false));
        assert!(r.ignore("templates/.hidden", false));
        assert!(!r.ignore("templates/a.yaml", false));
        assert!(Rules::parse("a/**/b").is_err());
    }
}
