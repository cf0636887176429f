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
    /// The evaluation-context field that identifies a unit: the one the API documents'
    /// create sends.
    pub const TARGETING_KEY_SELECTOR: FieldDefault = FieldDefault::same(
        "rollout.flags",
        "targetingKeySelector",
        || json!("targeting_key"),
        Export::Written,
    );
    /// A rollout's segment sets aside the whole population (what the emulator assumes a
    /// rollout's own segment gets; no document says).
    pub const SEGMENT_ALLOCATION: FieldDefault = FieldDefault::same(
        "rollout.segment",
        "allocation",
        || json!({"proportion": {"value": "1"}}),
        Export::Omitted,
    );

    /// The fields of the rollout object itself.
    pub const TOP_LEVEL: &[FieldDefault] = &[STATE, LABELS];
    pub const NESTED: &[FieldDefault] = &[REACH, TARGETING_KEY_SELECTOR, SEGMENT_ALLOCATION];
}

/// CloudBees Unify (api-notes-unify §3-§7), in the API's spelling: the canonical form of a
/// Unify body is the API's shape (`flagType: Boolean`, `variants`), so a CasC manifest's
/// fields are converted to it before these are filled. `Side::Manifest` is a CasC file,
/// `Side::Live` an API body.
pub mod unify {
    use super::*;

    pub const FLAG_DESCRIPTION: FieldDefault =
        FieldDefault::same("flag", "description", || json!(""), Export::Omitted);
    /// The API's default (S3); CasC files write it lowercase.
    pub const FLAG_TYPE: FieldDefault =
        FieldDefault::same("flag", "flagType", || json!("Boolean"), Export::Written);
    /// CloudBees writes an empty `labels:` (null), which means none.
    pub const FLAG_LABELS: FieldDefault =
        FieldDefault::same("flag", "labels", || json!([]), Export::Omitted);
    /// No value is required: the service gives a Boolean flag `["false", "true"]` and adds
    /// every value a configuration serves on its own, so a flag's variants compare as "at
    /// least these" (see `flagsync_plan::unify`).
    pub const FLAG_VARIANTS: FieldDefault =
        FieldDefault::same("flag", "variants", || json!([]), Export::Omitted);
    pub const FLAG_IS_PERMANENT: FieldDefault =
        FieldDefault::same("flag", "isPermanent", || json!(false), Export::Omitted);

    /// A manifest must say it (casc-service requires it); a configuration the service makes
    /// on its own starts disabled (S9).
    pub const CONFIGURATION_ENABLED: FieldDefault = FieldDefault::same(
        "flag-configuration",
        "enabled",
        || json!(false),
        Export::Written,
    );
    /// A manifest must say it (casc-service requires it); a configuration the service makes
    /// on its own serves the value written in code.
    pub const CONFIGURATION_DEFAULT_VALUE: FieldDefault = FieldDefault::same(
        "flag-configuration",
        "defaultValue",
        || json!({"valueWrittenInCode": true}),
        Export::Written,
    );
    /// Older CasC files leave it out (S11); the service uses this one (S11, S16).
    pub const CONFIGURATION_STICKINESS_PROPERTY: FieldDefault = FieldDefault::same(
        "flag-configuration",
        "stickinessProperty",
        || json!("rox.distinct_id"),
        Export::Written,
    );
    pub const CONFIGURATION_CONDITIONS: FieldDefault = FieldDefault::same(
        "flag-configuration",
        "conditions",
        || json!([]),
        Export::Omitted,
    );

    pub const TARGET_GROUP_DESCRIPTION: FieldDefault = FieldDefault::same(
        "unify-target-group",
        "description",
        || json!(""),
        Export::Omitted,
    );

    pub const PROPERTY_DESCRIPTION: FieldDefault = FieldDefault::same(
        "custom-property",
        "description",
        || json!(""),
        Export::Omitted,
    );

    pub const FLAG: &[FieldDefault] = &[
        FLAG_DESCRIPTION,
        FLAG_TYPE,
        FLAG_LABELS,
        FLAG_VARIANTS,
        FLAG_IS_PERMANENT,
    ];
    pub const CONFIGURATION: &[FieldDefault] = &[
        CONFIGURATION_ENABLED,
        CONFIGURATION_DEFAULT_VALUE,
        CONFIGURATION_STICKINESS_PROPERTY,
        CONFIGURATION_CONDITIONS,
    ];
    pub const TARGET_GROUP: &[FieldDefault] = &[TARGET_GROUP_DESCRIPTION];
    pub const PROPERTY: &[FieldDefault] = &[PROPERTY_DESCRIPTION];
}

/// Whether an exported manifest leaves `value` out as the default of `field`, one of
/// `defaults` (the fields of one object).
pub fn omitted_from_export(defaults: &[FieldDefault], field: &str, value: &Value) -> bool {
    defaults
        .iter()
        .any(|d| d.field == field && d.omitted_from_export(value))
}

/// Where the objects a table's rows name (their [`FieldDefault::object`]) are in a body of
/// `kind`: each object and the path of keys from the body to it (lists are walked through,
/// so `conditions` is every condition). A kind not listed has only its own object, named
/// after it.
fn objects(kind: Kind) -> &'static [(&'static str, &'static [&'static str])] {
    match kind {
        Kind::Experiment => &[
            ("experiment", &[]),
            ("platform", &["platforms"]),
            ("condition", &["conditions"]),
            ("condition", &["platforms", "conditions"]),
            ("condition.group", &["conditions", "group"]),
            ("condition.group", &["platforms", "conditions", "group"]),
        ],
        Kind::TargetGroup => &[
            ("target-group", &[]),
            ("condition.group", &["conditions", "group"]),
        ],
        Kind::Rollout => &[("rollout", &[]), ("rollout.rollout", &["rollout"])],
        _ => &[],
    }
}

/// `body` (a body of `kind`, a document of `side`) without the fields an exported manifest
/// leaves out because they hold their default: what a manifest needs to say, with none of
/// the vendor defaults the canonical form spells out. What reviews show of a create or a
/// delete.
pub fn without_defaults(kind: Kind, body: &Value, side: Side) -> Value {
    fn strip(value: &mut Value, path: &[&str], rows: &[&FieldDefault], side: Side) {
        match (value, path) {
            (Value::Array(items), _) => {
                for item in items {
                    strip(item, path, rows, side);
                }
            }
            (Value::Object(map), []) => map.retain(|field, v| {
                !rows.iter().any(|d| {
                    d.field == field && d.export == Export::Omitted && d.is_default(v, side)
                })
            }),
            (Value::Object(map), [key, rest @ ..]) => {
                if let Some(inner) = map.get_mut(*key) {
                    strip(inner, rest, rows, side);
                }
            }
            _ => {}
        }
    }
    let mut out = body.clone();
    let own: &[(&str, &[&str])] = &[(kind.as_str(), &[])];
    let places = match objects(kind) {
        [] => own,
        listed => listed,
    };
    // Innermost first, so that an object emptied of defaults is still seen by its parent.
    for (object, path) in places.iter().rev() {
        let rows: Vec<&FieldDefault> = table(kind).filter(|d| d.object == *object).collect();
        strip(&mut out, path, &rows, side);
    }
    out
}

/// Every default of `kind`: those of the resource object, then those of objects inside it.
pub fn table(kind: Kind) -> impl Iterator<Item = &'static FieldDefault> {
    let (top, nested) = match kind {
        Kind::TargetGroup => (target_group::TOP_LEVEL, target_group::NESTED),
        Kind::Experiment => (experiment::TOP_LEVEL, experiment::NESTED),
        Kind::Rollout => (rollout::TOP_LEVEL, rollout::NESTED),
        Kind::CustomProperty => (unify::PROPERTY, &[][..]),
        Kind::UnifyTargetGroup => (unify::TARGET_GROUP, &[][..]),
        Kind::Flag => (unify::FLAG, &[][..]),
        Kind::FlagConfiguration => (unify::CONFIGURATION, &[][..]),
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
    fn without_defaults_keeps_what_a_manifest_says() {
        let body = json!({
            "type": "experiment", "flag": "f", "description": "", "enabled": true,
            "labels": [], "availableValues": [false, true], "stickinessProperty": "rox.distinct_id",
            "platforms": [{"name": "iOS", "conditions": [], "value": true}],
            "conditions": [{"group": {"name": ["g"], "operator": "or"}, "value": null}],
            "value": null, "archived": false
        });
        assert_eq!(
            without_defaults(Kind::Experiment, &body, Side::Manifest),
            json!({
                "type": "experiment", "flag": "f",
                "platforms": [{"name": "iOS", "value": true}],
                "conditions": [{"group": {"name": ["g"], "operator": "or"}}]
            })
        );
        // Every kind's own row applies; written defaults stay.
        let flag =
            json!({"flag": "f", "description": "", "flagType": "Boolean", "isPermanent": false});
        assert_eq!(
            without_defaults(Kind::Flag, &flag, Side::Live),
            json!({"flag": "f", "flagType": "Boolean"})
        );
        let group = json!({"name": "g", "description": "", "operator": "or", "conditions": []});
        assert_eq!(
            without_defaults(Kind::TargetGroup, &group, Side::Live),
            json!({"name": "g", "operator": "or", "conditions": []})
        );
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
