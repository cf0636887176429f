//! The vendors' defaults, one table per kind of resource: what a field means when a document
//! leaves it out. Normalization fills them (`flagsync-plan`), validation compares against them
//! ([`crate::rules`]) and export leaves them out of the manifests it writes
//! ([`crate::write`]), all from here.
//!
//! A default may differ between a manifest and the live REST body the service returns: each
//! field has one value per [`Side`]. Where the vendors document a default differently, the
//! row says which source wins.

use serde_json::{Map, Value, json};

use crate::kind::Kind;
use crate::model::{Number, Scalar};

/// Which document a body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A manifest in the repository.
    Manifest,
    /// The body the service's API returns.
    Live,
}

/// What an exported manifest does with a field that has its manifest default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// Leaves it out: reading the manifest back gives the default again.
    Omitted,
    /// Writes it all the same, so the file says it without the reader knowing the default.
    Written,
}

/// One field's default.
#[derive(Debug, Clone, Copy)]
pub struct FieldDefault {
    /// The field's name in its object (see [`FieldDefault::object`]).
    pub field: &'static str,
    /// The object that holds the field, for the table's readers: `experiment`,
    /// `condition.group`, ...
    pub object: &'static str,
    manifest: fn() -> Value,
    live: fn() -> Value,
    pub export: Export,
}

impl FieldDefault {
    /// A default that differs between a manifest and a live body.
    pub const fn new(
        object: &'static str,
        field: &'static str,
        manifest: fn() -> Value,
        live: fn() -> Value,
        export: Export,
    ) -> Self {
        FieldDefault {
            field,
            object,
            manifest,
            live,
            export,
        }
    }

    /// A default that is the same in a manifest and in a live body.
    const fn same(
        object: &'static str,
        field: &'static str,
        value: fn() -> Value,
        export: Export,
    ) -> Self {
        FieldDefault::new(object, field, value, value, export)
    }

    /// The default in a document of `side`.
    pub fn value(&self, side: Side) -> Value {
        match side {
            Side::Manifest => (self.manifest)(),
            Side::Live => (self.live)(),
        }
    }

    /// Whether `value` is this field's default in a document of `side`.
    pub fn is_default(&self, value: &Value, side: Side) -> bool {
        *value == self.value(side)
    }

    /// Whether an exported manifest leaves `value` of this field out.
    pub fn omitted_from_export(&self, value: &Value) -> bool {
        self.export == Export::Omitted && self.is_default(value, Side::Manifest)
    }

    /// Puts the default of `side` into `map` when the field is absent or `null`.
    pub fn fill(&self, map: &mut Map<String, Value>, side: Side) {
        if map.get(self.field).is_none_or(Value::is_null) {
            map.insert(self.field.to_owned(), self.value(side));
        }
    }
}

/// Experiments (CloudBees `type: experiment`).
pub mod experiment {
    use super::*;

    pub const DESCRIPTION: FieldDefault =
        FieldDefault::same("experiment", "description", || json!(""), Export::Omitted);
    /// The service writes `false` when a flag is killed.
    pub const ENABLED: FieldDefault =
        FieldDefault::same("experiment", "enabled", || json!(true), Export::Omitted);
    pub const LABELS: FieldDefault =
        FieldDefault::same("experiment", "labels", || json!([]), Export::Omitted);
    /// A boolean flag.
    pub const AVAILABLE_VALUES: FieldDefault = FieldDefault::same(
        "experiment",
        "availableValues",
        || json!([false, true]),
        Export::Omitted,
    );
    pub const STICKINESS_PROPERTY: FieldDefault = FieldDefault::same(
        "experiment",
        "stickinessProperty",
        || json!("rox.distinct_id"),
        Export::Omitted,
    );
    pub const PLATFORMS: FieldDefault =
        FieldDefault::same("experiment", "platforms", || json!([]), Export::Omitted);
    pub const CONDITIONS: FieldDefault =
        FieldDefault::same("experiment", "conditions", || json!([]), Export::Omitted);
    /// `null`: the default written in the application's code.
    pub const VALUE: FieldDefault =
        FieldDefault::same("experiment", "value", || Value::Null, Export::Omitted);
    pub const ARCHIVED: FieldDefault =
        FieldDefault::same("experiment", "archived", || json!(false), Export::Omitted);

    pub const PLATFORM_CONDITIONS: FieldDefault =
        FieldDefault::same("platform", "conditions", || json!([]), Export::Omitted);
    pub const PLATFORM_VALUE: FieldDefault =
        FieldDefault::same("platform", "value", || Value::Null, Export::Omitted);

    /// A release rule without `value` yields the code default. A condition `{}` (the
    /// service writes it) therefore matches every user and serves the code default.
    pub const CONDITION_VALUE: FieldDefault =
        FieldDefault::same("condition", "value", || Value::Null, Export::Omitted);
    /// A group condition without `operator` means "any of": the format reference
    /// (`or|and|not`, optional, default `or`) and the REST reference agree. `or`, `and`,
    /// `not` and `nor` are kept as written.
    pub const CONDITION_GROUP_OPERATOR: FieldDefault = FieldDefault::same(
        "condition.group",
        "operator",
        || json!("or"),
        Export::Written,
    );
    /// A step of a split or schedule (`value: [{option, percentage}]`) without
    /// `percentage` gives its option to everyone (the service writes `- option: true`).
    pub const STEP_PERCENTAGE: FieldDefault =
        FieldDefault::same("value[]", "percentage", || json!(100), Export::Written);
    /// A step without `option` gives `true`: the service writes `- percentage: 70` on
    /// boolean flags, whose splits and schedules give a share of users `true` and the rest
    /// `false`. A non-boolean flag has no such meaning: validation requires the option.
    pub const STEP_OPTION: FieldDefault =
        FieldDefault::same("value[]", "option", || json!(true), Export::Written);

    /// The fields of the experiment object itself.
    pub const TOP_LEVEL: &[FieldDefault] = &[
        DESCRIPTION,
        ENABLED,
        LABELS,
        AVAILABLE_VALUES,
        STICKINESS_PROPERTY,
        PLATFORMS,
        CONDITIONS,
        VALUE,
        ARCHIVED,
    ];

    /// The fields of the objects inside it.
    pub const NESTED: &[FieldDefault] = &[
        PLATFORM_CONDITIONS,
        PLATFORM_VALUE,
        CONDITION_VALUE,
        CONDITION_GROUP_OPERATOR,
        STEP_PERCENTAGE,
        STEP_OPTION,
    ];

    /// [`AVAILABLE_VALUES`] as the model's values.
    pub fn available_values(side: Side) -> Vec<Scalar> {
        // The table's value is a list of booleans, which always reads as scalars.
        serde_json::from_value(AVAILABLE_VALUES.value(side)).unwrap_or_default()
    }

    /// [`STEP_OPTION`] as the model's value.
    pub fn step_option(side: Side) -> Scalar {
        // The table's value is a boolean, which always reads as a scalar.
        serde_json::from_value(STEP_OPTION.value(side)).unwrap_or(Scalar::Bool(true))
    }

    /// [`STEP_PERCENTAGE`] as the model's value.
    pub fn step_percentage(side: Side) -> Number {
        serde_json::from_value(STEP_PERCENTAGE.value(side)).unwrap_or(Number::Int(100))
    }
}

/// Target groups (CloudBees `type: target-group`).
pub mod target_group {
    use super::*;

    pub const DESCRIPTION: FieldDefault =
        FieldDefault::same("target-group", "description", || json!(""), Export::Omitted);
    /// How the conditions combine. Two documents, two layers, both right: in a manifest an
    /// absent operator means `and` (the CasC format reference the service writes into every
    /// connected repository: "Optional = and"; the service itself writes `operator: or` and
    /// omits `and`), in a REST body it means `or` (seed 003). flagsync always sends it, and
    /// an exported manifest always says it, so neither reader has to know the default.
    pub const OPERATOR: FieldDefault = FieldDefault::new(
        "target-group",
        "operator",
        || json!("and"),
        || json!("or"),
        Export::Written,
    );
    pub const CONDITIONS: FieldDefault =
        FieldDefault::same("target-group", "conditions", || json!([]), Export::Written);
    /// Membership in other target groups: the only operator is `any-groups`.
    pub const CONDITION_GROUP_OPERATOR: FieldDefault = FieldDefault::same(
        "condition.group",
        "operator",
        || json!("any-groups"),
        Export::Written,
    );

    /// The fields of the target group object itself. A `conditions:` left empty (the
    /// service writes it) is an empty list.
    pub const TOP_LEVEL: &[FieldDefault] = &[DESCRIPTION, OPERATOR, CONDITIONS];
    pub const NESTED: &[FieldDefault] = &[CONDITION_GROUP_OPERATOR];
}

/// Confidence rollouts.
pub mod rollout {
    use super::*;

    /// A rollout that does not say otherwise is a draft.
    pub const STATE: FieldDefault =
        FieldDefault::same("rollout", "state", || json!("draft"), Export::Written);
    /// No labels besides flagsync's own.
    pub const LABELS: FieldDefault =
        FieldDefault::same("rollout", "labels", || json!({}), Export::Omitted);
    /// Nobody is exposed.
    pub const REACH: FieldDefault =
        FieldDefault::same("rollout.rollout", "reach", || json!("0"), Export::Written);

    /// The fields of the rollout object itself.
    pub const TOP_LEVEL: &[FieldDefault] = &[STATE, LABELS];
    pub const NESTED: &[FieldDefault] = &[REACH];
}

/// Whether an exported manifest leaves `value` out as the default of `field`, one of
/// `defaults` (the fields of one object).
pub fn omitted_from_export(defaults: &[FieldDefault], field: &str, value: &Value) -> bool {
    defaults
        .iter()
        .any(|d| d.field == field && d.omitted_from_export(value))
}

/// Every default of `kind`: those of the resource object, then those of objects inside it.
pub fn table(kind: Kind) -> impl Iterator<Item = &'static FieldDefault> {
    let (top, nested) = match kind {
        Kind::TargetGroup => (target_group::TOP_LEVEL, target_group::NESTED),
        Kind::Experiment => (experiment::TOP_LEVEL, experiment::NESTED),
        Kind::Rollout => (rollout::TOP_LEVEL, rollout::NESTED),
    };
    top.iter().chain(nested)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_values_read_as_booleans() {
        assert_eq!(
            experiment::available_values(Side::Manifest),
            [Scalar::Bool(false), Scalar::Bool(true)]
        );
        assert_eq!(experiment::step_option(Side::Manifest), Scalar::Bool(true));
        assert_eq!(experiment::step_percentage(Side::Live), Number::Int(100));
    }

    #[test]
    fn a_target_group_without_operator_is_and_in_a_manifest_and_or_in_a_body() {
        assert_eq!(target_group::OPERATOR.value(Side::Manifest), json!("and"));
        assert_eq!(target_group::OPERATOR.value(Side::Live), json!("or"));
        // Written on export either way: a reader need not know which default applies.
        assert!(!target_group::OPERATOR.omitted_from_export(&json!("and")));
        assert!(!target_group::OPERATOR.omitted_from_export(&json!("or")));
    }

    #[test]
    fn a_default_can_differ_between_manifest_and_live() {
        let operator = FieldDefault::new(
            "t",
            "operator",
            || json!("and"),
            || json!("or"),
            Export::Omitted,
        );
        let mut manifest = Map::new();
        let mut live = Map::new();
        operator.fill(&mut manifest, Side::Manifest);
        operator.fill(&mut live, Side::Live);
        assert_eq!(manifest["operator"], "and");
        assert_eq!(live["operator"], "or");
        // Export compares with the manifest's default: a live `or` must be written.
        assert!(!operator.omitted_from_export(&json!("or")));
        assert!(operator.omitted_from_export(&json!("and")));
    }

    #[test]
    fn each_table_names_a_field_once_per_object() {
        for kind in Kind::ALL {
            let mut seen = std::collections::HashSet::new();
            for d in table(kind) {
                assert!(seen.insert((d.object, d.field)), "{kind}: {}", d.field);
                assert!(d.is_default(&d.value(Side::Live), Side::Live));
            }
        }
    }
}
