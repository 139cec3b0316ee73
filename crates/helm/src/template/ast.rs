//! The parse tree of a Go text/template, as text/template/parse builds it (only what
//! execution needs: positions are kept as line numbers for error messages).

use std::rc::Rc;

#[derive(Debug, Clone)]
pub enum Node {
    Text(Rc<str>),
    /// `{{ pipeline }}`: printed unless the pipeline declares or assigns a variable.
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    /// `{{ template "name" pipeline }}`.
    Template {
        name: String,
        pipe: Option<Pipe>,
        line: usize,
    },
    Break(usize),
    Continue(usize),
}

#[derive(Debug, Clone)]
pub struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Pipe {
    /// Variables declared (`$x :=`) or assigned (`$x =`); range may name two.
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Command>,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Command {
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub enum Arg {
    /// `.` itself.
    Dot,
    /// `.a.b`: field or key chain from dot.
    Field(Vec<String>),
    /// `$x.a.b` (`$` is the template's starting data).
    Var(String, Vec<String>),
    /// A function name.
    Ident(String),
    /// `(pipeline).a.b`.
    Chain(Box<Arg>, Vec<String>),
    Pipe(Box<Pipe>),
    Str(Rc<str>),
    Number(Number),
    Bool(bool),
    Nil,
}

/// A numeric constant: text/template keeps every form the text can take; an integer
/// constant becomes an `int` and anything else a float64 when a function receives it.
#[derive(Debug, Clone)]
pub struct Number {
    pub int: Option<i64>,
    pub float: Option<f64>,
    pub text: String,
}

/// A parsed file: its top-level list and the templates it defines.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub root: Vec<Node>,
    pub defines: Vec<(String, Rc<Vec<Node>>)>,
}

impl Tree {
    /// The first function name `known` rejects, with its line (Go's parse-time check).
    pub fn unknown_function(&self, known: &dyn Fn(&str) -> bool) -> Option<(usize, String)> {
        let lists = std::iter::once(&self.root).chain(self.defines.iter().map(|(_, b)| b.as_ref()));
        for l in lists {
            if let Some(r) = list_unknown(l, known) {
                return Some(r);
            }
        }
        None
    }
}

fn list_unknown(list: &[Node], known: &dyn Fn(&str) -> bool) -> Option<(usize, String)> {
    for n in list {
        let r = match n {
            Node::Text(_) | Node::Break(_) | Node::Continue(_) => None,
            Node::Action(p) => pipe_unknown(p, known),
            Node::If(b) | Node::Range(b) | Node::With(b) => pipe_unknown(&b.pipe, known)
                .or_else(|| list_unknown(&b.list, known))
                .or_else(|| b.else_list.as_ref().and_then(|e| list_unknown(e, known))),
            Node::Template { pipe, .. } => pipe.as_ref().and_then(|p| pipe_unknown(p, known)),
        };
        if r.is_some() {
            return r;
        }
    }
    None
}

fn pipe_unknown(p: &Pipe, known: &dyn Fn(&str) -> bool) -> Option<(usize, String)> {
    for c in &p.cmds {
        for a in &c.args {
            if let Some(r) = arg_unknown(a, p.line, known) {
                return Some(r);
            }
        }
    }
    None
}

fn arg_unknown(a: &Arg, line: usize, known: &dyn Fn(&str) -> bool) -> Option<(usize, String)> {
    match a {
        Arg::Ident(name) if !known(name) => Some((line, name.clone())),
        Arg::Pipe(p) => pipe_unknown(p, known),
        Arg::Chain(inner, _) => arg_unknown(inner, line, known),
        _ => None,
    }
}
