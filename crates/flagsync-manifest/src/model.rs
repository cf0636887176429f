//! Typed manifests. Each kind deserializes from its YAML file and from the live API's JSON,
//! and serializes to the JSON body the API takes. The CloudBees Unify CasC kinds are in
//! [`unify`].

/// Declares the property operators of one CloudBees API (legacy, or Unify), with their
/// names as written (kebab-case), `ALL` and `as_str`: the comparisons both APIs have, in this
/// order, then the API's own `$extra` operators named `$name`. The comparisons are declared
/// here once; each API keeps its own type, as each accepts only its own operators.
macro_rules! property_operators {
    ($(#[$meta:meta])* $enum:ident { $($extra:ident = $name:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "kebab-case")]
        pub enum $enum {
            IsUndefined,
            IsTrue,
            IsFalse,
            Eq,
            Ne,
            Gt,
            Gte,
            Lt,
            Lte,
            $($extra,)*
        }

        impl $enum {
            pub const ALL: [$enum; 9 + [$($name),*].len()] = [
                $enum::IsUndefined,
                $enum::IsTrue,
                $enum::IsFalse,
                $enum::Eq,
                $enum::Ne,
                $enum::Gt,
                $enum::Gte,
                $enum::Lt,
                $enum::Lte,
                $($enum::$extra,)*
            ];

            pub fn as_str(self) -> &'static str {
                match self {
                    $enum::IsUndefined => "is-undefined",
                    $enum::IsTrue => "is-true",
                    $enum::IsFalse => "is-false",
                    $enum::Eq => "eq",
                    $enum::Ne => "ne",
                    $enum::Gt => "gt",
                    $enum::Gte => "gte",
                    $enum::Lt => "lt",
                    $enum::Lte => "lte",
                    $($enum::$extra => $name,)*
                }
            }
        }
    };
}

mod cloudbees;
mod config;
mod lenient;
mod rollout;
pub mod unify;

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

impl Resource for unify::Flag {
    const KIND: Kind = Kind::Flag;
    fn identity(&self) -> &str {
        &self.flag
    }
}

impl Resource for unify::FlagConfiguration {
    const KIND: Kind = Kind::FlagConfiguration;
    fn identity(&self) -> &str {
        &self.flag
    }
}

impl Resource for unify::TargetGroup {
    const KIND: Kind = Kind::UnifyTargetGroup;
    fn identity(&self) -> &str {
        &self.name
    }
}

impl Resource for unify::Property {
    const KIND: Kind = Kind::CustomProperty;
    fn identity(&self) -> &str {
        &self.name
    }
}

/// A manifest of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    TargetGroup(TargetGroup),
    Experiment(Experiment),
    Rollout(Box<Rollout>),
    CustomProperty(unify::Property),
    UnifyTargetGroup(unify::TargetGroup),
    Flag(unify::Flag),
    FlagConfiguration(unify::FlagConfiguration),
}

impl Manifest {
    pub fn kind(&self) -> Kind {
        match self {
            Manifest::TargetGroup(_) => Kind::TargetGroup,
            Manifest::Experiment(_) => Kind::Experiment,
            Manifest::Rollout(_) => Kind::Rollout,
            Manifest::CustomProperty(_) => Kind::CustomProperty,
            Manifest::UnifyTargetGroup(_) => Kind::UnifyTargetGroup,
            Manifest::Flag(_) => Kind::Flag,
            Manifest::FlagConfiguration(_) => Kind::FlagConfiguration,
        }
    }

    /// Reads a manifest of `kind` from its JSON form (what [`serde_json::to_value`] gives).
    pub fn from_json(kind: Kind, json: serde_json::Value) -> Result<Manifest, serde_json::Error> {
        Ok(match kind {
            Kind::TargetGroup => Manifest::TargetGroup(serde_json::from_value(json)?),
            Kind::Experiment => Manifest::Experiment(serde_json::from_value(json)?),
            Kind::Rollout => Manifest::Rollout(Box::new(serde_json::from_value(json)?)),
            Kind::CustomProperty => Manifest::CustomProperty(serde_json::from_value(json)?),
            Kind::UnifyTargetGroup => Manifest::UnifyTargetGroup(serde_json::from_value(json)?),
            Kind::Flag => Manifest::Flag(serde_json::from_value(json)?),
            Kind::FlagConfiguration => Manifest::FlagConfiguration(serde_json::from_value(json)?),
        })
    }
}
