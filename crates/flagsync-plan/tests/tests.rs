//! One integration-test binary per crate: every file here is a module of it, so the
//! crate and the shared helpers are compiled and linked once.

mod export_round_trip;
mod planning;
mod render;
mod unify_planning;
mod unify_translate;
