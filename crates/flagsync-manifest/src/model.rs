//! Typed manifests. Each kind deserializes from its YAML file and from the live API's JSON,
//! and serializes to the JSON body the API takes.

mod cloudbees;
mod config;
mod lenient;
mod rollout;

pub use cloudbees::*;
pub use config::*;
pub use lenient::{LenientString, Number, Operand, Scalar, StringList};
pub use rollout::*;
