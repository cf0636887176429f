//! One integration-test binary per crate: every file here is a module of it, so the
//! crate and the shared helpers are compiled and linked once.

mod apply_e2e;
mod cloudbees_e2e;
mod comment_e2e;
mod common;
mod completions_man;
mod concurrency_e2e;
mod confidence_e2e;
mod confidence_targeting_e2e;
mod convert_e2e;
mod corpus_e2e;
mod diff_e2e;
mod doctor_e2e;
mod endpoints_e2e;
mod exit_codes;
mod export_e2e;
mod fmt_e2e;
mod hostile_repo;
mod init_e2e;
mod install_action;
mod json_outputs;
mod pacing_e2e;
mod plan_e2e;
mod progress_e2e;
mod results_e2e;
mod robustness_e2e;
mod scope_e2e;
mod secrets_e2e;
mod show_e2e;
mod undeclared_e2e;
mod unify_e2e;
mod untrusted_config_e2e;
mod validate_cli;
mod validate_github;
