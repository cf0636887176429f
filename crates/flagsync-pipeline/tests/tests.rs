//! One integration-test binary per crate: every file here is a module of it.

mod common;
mod compare;
mod steps;
