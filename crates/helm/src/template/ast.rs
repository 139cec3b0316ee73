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
