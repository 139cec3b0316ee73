//! text/template's execution: walks a tree with a dot and variables, evaluates pipelines
//! with Go's rules (the previous command's value is the next one's last argument, `and`/`or`
//! short-circuit, a missing map key is nil and prints as nothing), and calls the functions
//! of funcs/. Output and recursion are bounded so a hostile chart cannot exhaust memory or
//! the stack.

use super::ast::{Arg, Branch, Node, Number, Pipe};
use crate::objects::Obj;
use crate::value::Value;
use std::collections::HashMap;
use std::rc::Rc;

/// Deepest nesting of `template`/`include`/`tpl` calls (Helm stops include loops at 1000).
pub const MAX_DEPTH: usize = 1000;
/// Most bytes one render may produce in total.
pub const MAX_OUTPUT: usize = 256 << 20;

/// The named templates every file of a release can call.
#[derive(Default, Clone)]
pub struct Defines {
    pub map: HashMap<String, Rc<Vec<Node>>>,
}

/// Why execution stopped early: an error, or `break`/`continue` unwinding to their range.
pub enum Stop {
    Error(String),
    Break,
    Continue,
}

impl From<String> for Stop {
    fn from(s: String) -> Stop {
        Stop::Error(s)
    }
}

pub type R<T> = Result<T, Stop>;

/// What the functions need from the engine around them (include, tpl, budgets).
pub struct Exec<'a> {
    pub defines: &'a Defines,
    pub engine: &'a crate::render::Engine,
    pub depth: usize,
    pub produced: usize,
    /// The template being executed, for error messages.
    pub name: String,
}

struct Scope {
    vars: Vec<(String, Value)>,
}

impl Scope {
    fn get(&self, name: &str) -> Result<Value, String> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("undefined variable: {name}"))
    }
    fn set(&mut self, name: &str, v: Value) -> Result<(), String> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(format!("undefined variable: {name}")),
        }
    }
}

impl<'a> Exec<'a> {
    /// Run `list` with `dot` as both `.` and `$`, appending to `out`.
    pub fn run(&mut self, list: &[Node], dot: &Value, out: &mut String) -> Result<(), String> {
        let mut scope = Scope {
            vars: vec![("$".into(), dot.clone())],
        };
        match self.walk_list(list, dot, &mut scope, out) {
            Ok(()) => Ok(()),
            Err(Stop::Error(e)) => Err(e),
            Err(_) => Err(format!(
                "template: {}: break or continue outside range",
                self.name
            )),
        }
    }

    /// Execute a named template (the `template` action, `include`).
    pub fn call_named(&mut self, name: &str, dot: &Value, out: &mut String) -> Result<(), String> {
        let body = self.defines.map.get(name).cloned().ok_or_else(|| {
            format!(
                "template: {}: no template {name:?} associated with template",
                self.name
            )
        })?;
        if self.depth >= MAX_DEPTH {
            return Err(format!(
                "rendering template has a nested reference name: {name}: too deep (more than {MAX_DEPTH} nested calls)"
            ));
        }
        self.depth += 1;
        let saved = std::mem::replace(&mut self.name, name.to_string());
        let r = self.run(&body, dot, out);
        self.name = saved;
        self.depth -= 1;
        r
    }

    fn err<T>(&self, line: usize, msg: impl std::fmt::Display) -> R<T> {
        Err(Stop::Error(format!(
            "template: {}:{line}: executing {:?}: {msg}",
            self.name, self.name
        )))
    }

    fn emit(&mut self, out: &mut String, s: &str) -> R<()> {
        self.produced += s.len();
        if self.produced > MAX_OUTPUT {
            return Err(Stop::Error(format!(
                "template: {}: output exceeds {} MiB",
                self.name,
                MAX_OUTPUT >> 20
            )));
        }
        out.push_str(s);
        Ok(())
    }

    fn walk_list(&mut self, list: &[Node], dot: &Value, sc: &mut Scope, out: &mut String) -> R<()> {
        for n in list {
            self.walk(n, dot, sc, out)?;
        }
        Ok(())
    }

    fn walk(&mut self, node: &Node, dot: &Value, sc: &mut Scope, out: &mut String) -> R<()> {
        match node {
            Node::Text(t) => self.emit(out, t),
            Node::Action(p) => {
                let v = self.pipeline(p, dot, sc)?;
                if p.decl.is_empty() {
                    let s = print_value(&v);
                    self.emit(out, &s)?;
                }
                Ok(())
            }
            Node::If(b) => {
                let v = self.branch_value(b, dot, sc)?;
                let mark = sc.vars.len();
                let r = if v.truth() {
                    self.walk_list(&b.list, dot, sc, out)
                } else if let Some(e) = &b.else_list {
                    self.walk_list(e, dot, sc, out)
                } else {
                    Ok(())
                };
                sc.vars.truncate(mark);
                r
            }
            Node::With(b) => {
                let mark = sc.vars.len();
                let v = self.branch_value(b, dot, sc)?;
                let r = if v.truth() {
                    self.walk_list(&b.list, &v, sc, out)
                } else if let Some(e) = &b.else_list {
                    self.walk_list(e, dot, sc, out)
                } else {
                    Ok(())
                };
                sc.vars.truncate(mark);
                r
            }
            Node::Range(b) => self.range(b, dot, sc, out),
            Node::Template { name, pipe, line } => {
                let v = match pipe {
                    Some(p) => self.pipeline(p, dot, sc)?,
                    None => Value::Nil,
                };
                self.call_named(name, &v, out).map_err(|e| {
                    if e.starts_with("template: ") {
                        Stop::Error(e)
                    } else {
                        Stop::Error(format!("template: {}:{line}: {e}", self.name))
                    }
                })
            }
            Node::Break(_) => Err(Stop::Break),
            Node::Continue(_) => Err(Stop::Continue),
        }
    }

    /// The value of an if/with pipeline; its variables stay declared for the branch.
    fn branch_value(&mut self, b: &Branch, dot: &Value, sc: &mut Scope) -> R<Value> {
        self.pipeline(&b.pipe, dot, sc)
    }

    fn range(&mut self, b: &Branch, dot: &Value, sc: &mut Scope, out: &mut String) -> R<()> {
        let mark = sc.vars.len();
        // The declared variables are set per element, not to the collection.
        let mut pipe = b.pipe.clone();
        let decl = std::mem::take(&mut pipe.decl);
        let coll = self.pipeline(&pipe, dot, sc)?;
        let items: Vec<(Value, Value)> = match &coll {
            Value::Nil => Vec::new(),
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                .collect(),
            Value::Map(m) => m
                .entries()
                .into_iter()
                .map(|(k, v)| (Value::str(k), v))
                .collect(),
            Value::Int(n) | Value::Int64(n) => {
                (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect()
            }
            Value::Obj(o) => match o.as_ref() {
                Obj::ApiVersions(v) => v
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (Value::Int(i as i64), Value::str(s)))
                    .collect(),
                _ => {
                    return self.err(
                        b.line,
                        format!("range can't iterate over {}", coll.go_string()),
                    )
                }
            },
            other => {
                return self.err(
                    b.line,
                    format!("range can't iterate over {}", other.go_string()),
                )
            }
        };
        if items.is_empty() {
            if let Some(e) = &b.else_list {
                self.walk_list(e, dot, sc, out)?;
            }
            sc.vars.truncate(mark);
            return Ok(());
        }
        for (k, v) in items {
            let inner = sc.vars.len();
            match decl.len() {
                0 => {}
                1 => self.declare(&b.pipe, &decl[0], v.clone(), sc)?,
                _ => {
                    self.declare(&b.pipe, &decl[0], k, sc)?;
                    self.declare(&b.pipe, &decl[1], v.clone(), sc)?;
                }
            }
            let r = self.walk_list(&b.list, &v, sc, out);
            if !b.pipe.is_assign {
                sc.vars.truncate(inner);
            }
            match r {
                Ok(()) | Err(Stop::Continue) => {}
                Err(Stop::Break) => break,
                Err(e) => return Err(e),
            }
        }
        sc.vars.truncate(mark);
        Ok(())
    }

    fn declare(&mut self, p: &Pipe, name: &str, v: Value, sc: &mut Scope) -> R<()> {
        if p.is_assign {
            sc.set(name, v).map_err(Stop::Error)
        } else {
            sc.vars.push((name.to_string(), v));
            Ok(())
        }
    }

    fn pipeline(&mut self, p: &Pipe, dot: &Value, sc: &mut Scope) -> R<Value> {
        let mut value: Option<Value> = None;
        for cmd in &p.cmds {
            let v = self.command(&cmd.args, dot, sc, value.take(), p.line)?;
            value = Some(v);
        }
        let v = value.unwrap_or(Value::Nil);
        for name in &p.decl {
            self.declare(p, name, v.clone(), sc)?;
        }
        Ok(v)
    }

    fn command(
        &mut self,
        args: &[Arg],
        dot: &Value,
        sc: &mut Scope,
        fin: Option<Value>,
        line: usize,
    ) -> R<Value> {
        let Some(first) = args.first() else {
            return self.err(line, "empty command");
        };
        let rest = &args[1..];
        let no_args = |this: &Self, what: &str| -> R<()> {
            if !rest.is_empty() || fin.is_some() {
                return this.err(line, format!("can't give argument to non-function {what}"));
            }
            Ok(())
        };
        match first {
            Arg::Ident(name) => self.call(name, rest, dot, sc, fin, line),
            Arg::Field(fields) => {
                let extra = self.method_args(rest, dot, sc, fin)?;
                self.chain(dot.clone(), fields, extra, line, ".")
            }
            Arg::Var(name, fields) => {
                let base = sc.get(name).map_err(Stop::Error)?;
                if fields.is_empty() {
                    no_args(self, name)?;
                    return Ok(base);
                }
                let extra = self.method_args(rest, dot, sc, fin)?;
                self.chain(base, fields, extra, line, name)
            }
            Arg::Chain(inner, fields) => {
                let base = self.arg(inner, dot, sc, line)?;
                let extra = self.method_args(rest, dot, sc, fin)?;
                self.chain(base, fields, extra, line, "chain")
            }
            Arg::Pipe(p) => {
                no_args(self, "pipeline")?;
                let mark = sc.vars.len();
                let v = self.pipeline(p, dot, sc);
                sc.vars.truncate(mark);
                v
            }
            Arg::Dot => {
                no_args(self, "dot")?;
                Ok(dot.clone())
            }
            Arg::Nil => self.err(line, "nil is not a command"),
            Arg::Str(_) | Arg::Number(_) | Arg::Bool(_) => {
                no_args(self, "constant")?;
                self.arg(first, dot, sc, line)
            }
        }
    }

    /// Arguments after a field chain: only a method (`.Files.Get "x"`) may take them.
    fn method_args(
        &mut self,
        rest: &[Arg],
        dot: &Value,
        sc: &mut Scope,
        fin: Option<Value>,
    ) -> R<Option<Vec<Value>>> {
        if rest.is_empty() && fin.is_none() {
            return Ok(None);
        }
        let mut v = Vec::new();
        for a in rest {
            v.push(self.arg(a, dot, sc, 0)?);
        }
        v.extend(fin);
        Ok(Some(v))
    }

    /// `.a.b.c` from `base`; `args` go to the last step, which must then be a method.
    fn chain(
        &mut self,
        mut cur: Value,
        fields: &[String],
        args: Option<Vec<Value>>,
        line: usize,
        what: &str,
    ) -> R<Value> {
        let _ = what;
        // Go tells two nils apart: one read from a map by this chain is a nil interface,
        // and a field of it is an error; one that came out of a pipeline, a variable or
        // dot is an invalid value, and a field of it is silently nil.
        let mut read_nil = false;
        for (i, f) in fields.iter().enumerate() {
            let last = i + 1 == fields.len();
            let a = if last { args.as_deref() } else { None };
            cur = match &cur {
                Value::Nil if !read_nil => return Ok(Value::Nil),
                Value::Map(m) => {
                    if a.is_some() {
                        return self.err(line, format!("{f} is not a method but has arguments"));
                    }
                    let v = m.get(f).unwrap_or(Value::Nil);
                    read_nil = v.is_nil();
                    v
                }
                Value::Obj(o) => match o.field(f, a, self.engine) {
                    Ok(v) => v,
                    Err(e) => return self.err(line, e),
                },
                Value::Nil => {
                    return self.err(line, format!("nil pointer evaluating interface {{}}.{f}"))
                }
                other => {
                    return self.err(
                        line,
                        format!("can't evaluate field {f} in type {}", other.type_name()),
                    )
                }
            };
        }
        Ok(cur)
    }

    /// An argument's value: constants become Go's `int` (integer text) or float64.
    fn arg(&mut self, a: &Arg, dot: &Value, sc: &mut Scope, line: usize) -> R<Value> {
        match a {
            Arg::Dot => Ok(dot.clone()),
            Arg::Nil => Ok(Value::Nil),
            Arg::Bool(b) => Ok(Value::Bool(*b)),
            Arg::Str(s) => Ok(Value::Str(s.clone())),
            Arg::Number(n) => Ok(number_value(n)),
            Arg::Field(f) => self.chain(dot.clone(), f, None, line, "."),
            Arg::Var(name, f) => {
                let base = sc.get(name).map_err(Stop::Error)?;
                self.chain(base, f, None, line, name)
            }
            Arg::Chain(inner, f) => {
                let base = self.arg(inner, dot, sc, line)?;
                self.chain(base, f, None, line, "chain")
            }
            Arg::Pipe(p) => {
                let mark = sc.vars.len();
                let v = self.pipeline(p, dot, sc);
                sc.vars.truncate(mark);
                v
            }
            Arg::Ident(name) => self.call(name, &[], dot, sc, None, line),
        }
    }

    fn call(
        &mut self,
        name: &str,
        args: &[Arg],
        dot: &Value,
        sc: &mut Scope,
        fin: Option<Value>,
        line: usize,
    ) -> R<Value> {
        // and/or evaluate their arguments only as far as needed (Go 1.18 on).
        if name == "and" || name == "or" {
            let n = args.len() + usize::from(fin.is_some());
            if n == 0 {
                return self.err(
                    line,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                );
            }
            let mut last = Value::Nil;
            for a in args {
                last = self.arg(a, dot, sc, line)?;
                if last.truth() == (name == "or") {
                    return Ok(last);
                }
            }
            if let Some(f) = fin {
                last = f;
            }
            return Ok(last);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(a, dot, sc, line)?);
        }
        vals.extend(fin);
        match crate::funcs::call(self, name, vals) {
            Ok(v) => Ok(v),
            Err(crate::funcs::FnError::Unknown) => {
                self.err(line, format!("function {name:?} not defined"))
            }
            Err(crate::funcs::FnError::Msg(m)) => {
                self.err(line, format!("error calling {name}: {m}"))
            }
            Err(crate::funcs::FnError::Raw(m)) => Err(Stop::Error(m)),
        }
    }
}

pub fn number_value(n: &Number) -> Value {
    let lower = n.text.to_ascii_lowercase();
    let floaty = !lower.starts_with("0x")
        && !lower.starts_with("-0x")
        && !n.text.starts_with('\'')
        && n.text.contains(['.', 'e', 'E', 'p', 'P']);
    match (floaty, n.int, n.float) {
        (false, Some(i), _) => Value::Int(i),
        (_, _, Some(f)) => Value::Float(f),
        (_, Some(i), None) => Value::Int(i),
        _ => Value::Nil,
    }
}

/// How `{{ }}` prints a value: nil as `<no value>` (which Helm then deletes), Helm's
/// objects by their String method, everything else as fmt's `%v`.
pub fn print_value(v: &Value) -> String {
    match v {
        Value::Nil => "<no value>".into(),
        Value::Obj(o) => o.go_string(true),
        other => other.go_string(),
    }
}
