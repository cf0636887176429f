//! One integration-test binary per crate: every file here is a module of it, so the
//! crate and the shared helpers are compiled and linked once.

mod codes;
mod common;
mod corpus;
mod history;
mod load;
mod schemas;
mod unify;
mod unify_corpus;
