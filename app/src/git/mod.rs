//! git plumbing shared by the web tier (merges) and the runner (proposals, fetches).

pub mod credentials;
pub mod remote;
