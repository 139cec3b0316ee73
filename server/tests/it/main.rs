//! Integration tests: the real server on 127.0.0.1:0 against a fresh SQLite file or a fresh
//! PostgreSQL database, driven over HTTP; the real `fluxgate` binary for the command line.
//! One test binary (one link) for all of them.

mod account;
mod audit;
mod authz;
mod builders;
mod cli;
mod demo;
mod gitserve;
mod live;
mod oidc;
mod pipeline;
mod processes;
mod reviews;
mod runs;
mod signin;
mod support;
mod web;
