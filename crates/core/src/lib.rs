//! fluxgate's server-side domain, shared by the pages' server functions (`app`, built with
//! `ssr`) and the binary (`server`). Never built for the browser.
//!
//! It owns the tables it holds: the job queue is written only through [`jobs`], and a
//! [`db::Db`] carries the waker that lets an enqueue anywhere in the process start an idle
//! worker at once.

pub mod db;
pub mod jobs;
pub mod live;
