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

use crate::kind::Kind;

/// A manifest type: its kind, and the identity that names a manifest among those of its
/// kind (an experiment's within its environment).
pub trait Resource {
    const KIND: Kind;
    fn identity(&self) -> &str;
}

impl Resource for TargetGroup {
    const KIND: Kind = Kind::TargetGroup;
    fn identity(&self) -> &str {
        &self.name
    }
}

impl Resource for Experiment {
    const KIND: Kind = Kind::Experiment;
    fn identity(&self) -> &str {
        &self.flag
    }
}

impl Resource for Rollout {
    const KIND: Kind = Kind::Rollout;
    fn identity(&self) -> &str {
        &self.id
    }
}

/// A manifest of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    TargetGroup(TargetGroup),
    Experiment(Experiment),
    Rollout(Box<Rollout>),
}

impl Manifest {
    pub fn kind(&self) -> Kind {
        match self {
            Manifest::TargetGroup(_) => Kind::TargetGroup,
            Manifest::Experiment(_) => Kind::Experiment,
            Manifest::Rollout(_) => Kind::Rollout,
        }
    }

    /// Reads a manifest of `kind` from its JSON form (what [`serde_json::to_value`] gives).
    pub fn from_json(kind: Kind, json: serde_json::Value) -> Result<Manifest, serde_json::Error> {
        Ok(match kind {
            Kind::TargetGroup => Manifest::TargetGroup(serde_json::from_value(json)?),
            Kind::Experiment => Manifest::Experiment(serde_json::from_value(json)?),
            Kind::Rollout => Manifest::Rollout(Box::new(serde_json::from_value(json)?)),
        })
    }
}
