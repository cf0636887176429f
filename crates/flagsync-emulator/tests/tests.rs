//! One integration-test binary per crate: every file here is a module of it, so the
//! crate and the shared helpers are compiled and linked once.

mod cloudbees;
mod common;
mod confidence;
mod confidence_resource;
mod faults;
mod persistence;
mod robustness;
mod unify;
