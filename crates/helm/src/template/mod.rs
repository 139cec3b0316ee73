//! Go's text/template: lexer, parser and executor (Helm's template language).

pub mod ast;
pub mod exec;
pub mod lex;
pub mod parse;
