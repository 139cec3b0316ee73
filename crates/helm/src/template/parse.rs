//! text/template's parser: tokens to the tree of ast.rs, following text/template/parse's
//! grammar (else-if and else-with chains, range declarations, define/block, parenthesized
//! pipelines and field chains on any term).

use super::ast::{Arg, Branch, Command, Node, Number, Pipe, Tree};
use super::lex::{lex, Tok, Token};
use std::rc::Rc;

pub struct ParseError {
    pub line: usize,
    pub msg: String,
}

type R<T> = Result<T, ParseError>;

/// Deepest nesting of blocks and parentheses a template may have.
const MAX_NESTING: usize = 1000;

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    defines: Vec<(String, Rc<Vec<Node>>)>,
}

/// How a list ended: `{{end}}` or `{{else ...}}` (the else's tokens are left for the caller).
enum Stop {
    End,
    Else,
    Eof,
}

pub fn parse(src: &str) -> R<Tree> {
    let toks = lex(src).map_err(|(line, msg)| ParseError { line, msg })?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        defines: Vec::new(),
    };
    let (root, end) = p.list(true)?;
    match end {
        Stop::Eof => {}
        Stop::End => return Err(p.err("unexpected {{end}}")),
        Stop::Else => return Err(p.err("unexpected {{else}}")),
    }
    let tree = Tree {
        root,
        defines: p.defines,
    };
    if let Some((line, name)) = tree.unknown_function(&crate::funcs::exists) {
        return Err(ParseError {
            line,
            msg: format!("function {name:?} not defined"),
        });
    }
    Ok(tree)
}

impl Parser {
    fn line(&self) -> usize {
        self.toks
            .get(self.pos.min(self.toks.len().saturating_sub(1)))
            .map(|t| t.line)
            .unwrap_or(1)
    }
    fn err(&self, msg: &str) -> ParseError {
        ParseError {
            line: self.line(),
            msg: msg.to_string(),
        }
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.tok.clone());
        self.pos += 1;
        t
    }
    fn skip_space(&mut self) {
        while self.peek() == Some(&Tok::Space) {
            self.pos += 1;
        }
    }
    /// The next non-space token.
    fn next_ns(&mut self) -> Option<Tok> {
        self.skip_space();
        self.next()
    }
    fn expect_close(&mut self, ctx: &str) -> R<()> {
        match self.next_ns() {
            Some(Tok::Close) => Ok(()),
            _ => Err(self.err(&format!("unexpected token in {ctx}"))),
        }
    }
    fn keyword_after_open(&self) -> Option<&str> {
        let mut i = self.pos;
        while let Some(Token {
            tok: Tok::Space, ..
        }) = self.toks.get(i)
        {
            i += 1;
        }
        match self.toks.get(i) {
            Some(Token {
                tok: Tok::Ident(s), ..
            }) => Some(s.as_str()),
            _ => None,
        }
    }

    /// A list of nodes up to `{{end}}`, `{{else}}` or the end of input.
    fn list(&mut self, top: bool) -> R<(Vec<Node>, Stop)> {
        self.depth += 1;
        let r = self.list_inner(top);
        self.depth -= 1;
        r
    }

    fn list_inner(&mut self, top: bool) -> R<(Vec<Node>, Stop)> {
        if self.depth > MAX_NESTING {
            return Err(self.err("blocks nested too deep"));
        }
        let mut nodes = Vec::new();
        loop {
            let Some(tok) = self.next() else {
                return Ok((nodes, Stop::Eof));
            };
            match tok {
                Tok::Text(t) => nodes.push(Node::Text(Rc::from(t))),
                Tok::Open => {
                    let kw = self.keyword_after_open().map(str::to_string);
                    match kw.as_deref() {
                        Some("end") => {
                            self.next_ns();
                            self.expect_close("end")?;
                            return Ok((nodes, Stop::End));
                        }
                        Some("else") => {
                            self.next_ns();
                            return Ok((nodes, Stop::Else));
                        }
                        Some("define") => {
                            if !top {
                                return Err(self.err("unexpected define: not at top level"));
                            }
                            self.next_ns();
                            self.define()?;
                        }
                        _ => nodes.push(self.action()?),
                    }
                }
                _ => return Err(self.err("unexpected token")),
            }
        }
    }

    fn string_arg(&mut self, ctx: &str) -> R<String> {
        match self.next_ns() {
            Some(Tok::Str(s)) => Ok(s),
            _ => Err(self.err(&format!("{ctx}: expected a quoted template name"))),
        }
    }

    fn define(&mut self) -> R<()> {
        let name = self.string_arg("define clause")?;
        self.expect_close("define clause")?;
        let (body, end) = self.list(false)?;
        match end {
            Stop::End => {}
            _ => return Err(self.err(&format!("unexpected EOF in define {name:?}"))),
        }
        self.defines.push((name, Rc::new(body)));
        Ok(())
    }

    fn action(&mut self) -> R<Node> {
        let line = self.line();
        let kw = self.keyword_after_open().map(str::to_string);
        match kw.as_deref() {
            Some("if") | Some("range") | Some("with") => {
                self.next_ns();
                let kind = kw.unwrap_or_default();
                self.branch(&kind, line)
            }
            Some("template") | Some("block") => {
                self.next_ns();
                let name = self.string_arg("template clause")?;
                self.skip_space();
                let pipe = if self.peek() == Some(&Tok::Close) {
                    self.next();
                    None
                } else {
                    Some(self.pipeline(false, "template clause")?)
                };
                if kw.as_deref() == Some("block") {
                    let (body, end) = self.list(false)?;
                    if !matches!(end, Stop::End) {
                        return Err(self.err("unexpected EOF in block clause"));
                    }
                    self.defines.push((name.clone(), Rc::new(body)));
                }
                Ok(Node::Template { name, pipe, line })
            }
            Some("break") | Some("continue") => {
                self.next_ns();
                self.expect_close("break/continue")?;
                Ok(if kw.as_deref() == Some("break") {
                    Node::Break(line)
                } else {
                    Node::Continue(line)
                })
            }
            _ => Ok(Node::Action(self.pipeline(true, "command")?)),
        }
    }

    /// if/range/with after its keyword, up to and including its `{{end}}`.
    fn branch(&mut self, kind: &str, line: usize) -> R<Node> {
        let pipe = self.pipeline(true, kind)?;
        let (list, end) = self.list(false)?;
        let else_list = match end {
            Stop::End => None,
            Stop::Eof => return Err(self.err(&format!("unexpected EOF in {kind}"))),
            Stop::Else => {
                // `{{else if ...}}` / `{{else with ...}}` chain into a nested branch that
                // shares this one's {{end}}.
                let kw = self.keyword_after_open().map(str::to_string);
                match kw.as_deref() {
                    Some(k @ ("if" | "with")) if k == kind => {
                        self.next_ns();
                        let nested = self.branch(k, self.line())?;
                        Some(vec![nested])
                    }
                    _ => {
                        self.expect_close("else")?;
                        let (els, end) = self.list(false)?;
                        if !matches!(end, Stop::End) {
                            return Err(self.err(&format!("expected end; found else in {kind}")));
                        }
                        Some(els)
                    }
                }
            }
        };
        let b = Branch {
            pipe,
            list,
            else_list,
            line,
        };
        Ok(match kind {
            "if" => Node::If(b),
            "range" => Node::Range(b),
            _ => Node::With(b),
        })
    }

    /// A pipeline up to `}}` (or `)` when inside parentheses): optional declaration, then
    /// commands separated by `|`.
    fn pipeline(&mut self, allow_decl: bool, ctx: &str) -> R<Pipe> {
        let line = self.line();
        let mut decl = Vec::new();
        let mut is_assign = false;
        if allow_decl {
            let save = self.pos;
            self.skip_space();
            if let Some(Tok::Var(v)) = self.peek().cloned() {
                self.next();
                self.skip_space();
                match self.peek() {
                    Some(Tok::Declare) | Some(Tok::Assign) => {
                        is_assign = self.peek() == Some(&Tok::Assign);
                        self.next();
                        decl.push(v);
                    }
                    Some(Tok::Comma) if ctx == "range" => {
                        self.next();
                        self.skip_space();
                        match (self.next(), self.next_ns()) {
                            (Some(Tok::Var(v2)), Some(t @ (Tok::Declare | Tok::Assign))) => {
                                is_assign = t == Tok::Assign;
                                decl.push(v);
                                decl.push(v2);
                            }
                            _ => return Err(self.err("range can only initialize variables")),
                        }
                    }
                    _ => self.pos = save,
                }
            } else {
                self.pos = save;
            }
        }
        let mut cmds = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some(Tok::Close) => {
                    self.next();
                    break;
                }
                Some(Tok::RParen) => {
                    self.next();
                    break;
                }
                None => return Err(self.err(&format!("unclosed action in {ctx}"))),
                _ => {}
            }
            cmds.push(self.command()?);
            self.skip_space();
            if self.peek() == Some(&Tok::Pipe) {
                self.next();
                self.skip_space();
                if matches!(self.peek(), Some(Tok::Close) | Some(Tok::RParen)) {
                    return Err(self.err("missing command after |"));
                }
            }
        }
        if cmds.is_empty() {
            return Err(self.err(&format!("missing value for {ctx}")));
        }
        Ok(Pipe {
            decl,
            is_assign,
            cmds,
            line,
        })
    }

    fn command(&mut self) -> R<Command> {
        let mut args = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some(Tok::Close) | Some(Tok::RParen) | Some(Tok::Pipe) | None => break,
                _ => args.push(self.operand()?),
            }
        }
        Ok(Command { args })
    }

    fn operand(&mut self) -> R<Arg> {
        let term = self.term()?;
        let mut fields = Vec::new();
        while let Some(Tok::Field(f)) = self.peek().cloned() {
            self.next();
            fields.push(f);
        }
        if fields.is_empty() {
            return Ok(term);
        }
        Ok(match term {
            Arg::Field(mut f) => {
                f.extend(fields);
                Arg::Field(f)
            }
            Arg::Var(v, mut f) => {
                f.extend(fields);
                Arg::Var(v, f)
            }
            Arg::Dot => Arg::Field(fields),
            Arg::Str(_) | Arg::Number(_) | Arg::Bool(_) | Arg::Nil => {
                return Err(self.err("unexpected . after term"))
            }
            other => Arg::Chain(Box::new(other), fields),
        })
    }

    fn term(&mut self) -> R<Arg> {
        match self.next() {
            Some(Tok::Dot) => Ok(Arg::Dot),
            Some(Tok::Field(f)) => Ok(Arg::Field(vec![f])),
            Some(Tok::Var(v)) => Ok(Arg::Var(v, Vec::new())),
            Some(Tok::Str(s)) => Ok(Arg::Str(Rc::from(s))),
            Some(Tok::Char(c)) => Ok(Arg::Number(Number {
                int: Some(c),
                float: Some(c as f64),
                text: format!("'{c}'"),
            })),
            Some(Tok::Number(t)) => Ok(Arg::Number(number(&t).map_err(|m| self.err(&m))?)),
            Some(Tok::Ident(id)) => Ok(match id.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ => Arg::Ident(id),
            }),
            Some(Tok::LParen) => {
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return Err(self.err("parentheses nested too deep"));
                }
                let p = self.pipeline(true, "parenthesized pipeline");
                self.depth -= 1;
                Ok(Arg::Pipe(Box::new(p?)))
            }
            _ => Err(self.err("unexpected token in operand")),
        }
    }
}

/// A number constant's int and float forms, as text/template/parse computes them.
fn number(text: &str) -> Result<Number, String> {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse::<i64>().ok()
    }
    .map(|i| if neg { -i } else { i });
    let is_hex = lower.starts_with("0x");
    let float = if is_hex {
        int.map(|i| i as f64)
    } else {
        clean.parse::<f64>().ok()
    };
    if int.is_none() && float.is_none() {
        return Err(format!("illegal number syntax: {text:?}"));
    }
    if int.is_none() && !text.contains(['.', 'e', 'E', 'p', 'P']) {
        return Err(format!("integer overflow: {text:?}"));
    }
    let int = int.or_else(|| {
        float
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
            .map(|f| f as i64)
    });
    Ok(Number {
        int,
        float,
        text: text.to_string(),
    })
}
