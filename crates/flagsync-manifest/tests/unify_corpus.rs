//! Real CloudBees Unify CasC trees, as CloudBees' git sync wrote them (fixtures/unify-casc,
//! sources in its README), load into the model: every file becomes a manifest, except the
//! two the service itself wrote wrong, which are reported.

use std::path::PathBuf;

use flagsync_manifest::model::unify::{FlagType, FlagValue, PropertyType};
use flagsync_manifest::{Layout, Loaded, load};
use flagsync_source::DirSource;

use crate::common::{assert_positions, codes};

fn fixture(name: &str) -> Loaded {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/unify-casc")
        .join(name);
    let loaded = load(&DirSource::open(dir).unwrap());
    assert_positions(&loaded);
    assert_eq!(loaded.repository.layout, Layout::Casc);
    loaded
}

#[test]
fn todays_format_loads() {
    let loaded = fixture("fm-casc2");
    // The service wrote a `regex` without operands; its API refuses one.
    assert_eq!(codes(&loaded), ["missing-operand"]);
    assert!(
        loaded.diagnostics[0]
            .file
            .ends_with("target-groups/InternalTesters.yaml")
    );
    let casc = loaded.repository.casc.as_ref().unwrap();
    assert_eq!(casc.flags.len(), 7);
    assert_eq!(casc.properties.len(), 5);
    assert_eq!(casc.target_groups.len(), 2);
    assert_eq!(casc.environments.len(), 1);
    assert_eq!(casc.environments[0].name, "Development");
    assert_eq!(casc.configuration_count(), 6);
    // 20 manifests and flagsync's reading of nothing else (`inheritance.yaml` is not one).
    assert_eq!(loaded.files_read, 20);

    let max = &casc.flag("MaxTicketQuantity").unwrap().value;
    assert_eq!(max.flag_type, Some(FlagType::Number));
    let now = casc
        .properties
        .iter()
        .find(|p| p.value.name == "rox.now")
        .unwrap();
    assert_eq!(now.value.property_type, Some(PropertyType::DateTime));
    let dev = casc.environment("Development").unwrap();
    let show = dev
        .configurations
        .iter()
        .find(|c| c.value.flag == "ShowNewEvent")
        .unwrap();
    assert_eq!(show.value.stickiness_property.as_deref(), Some("email"));
    assert!(matches!(&show.value.default_value, Some(FlagValue::Split(s)) if s.len() == 2));
    let vip = dev
        .configurations
        .iter()
        .find(|c| c.value.flag == "EnableVipPass")
        .unwrap();
    let condition = &vip.value.conditions.as_ref().unwrap()[0];
    let any = &condition.all_of.as_ref().unwrap()[0]
        .any_of
        .as_ref()
        .unwrap()[0];
    assert_eq!(any.group.as_ref().unwrap().name, "beta-testers");
}

#[test]
fn the_older_format_loads() {
    let loaded = fixture("coverage_test-52afdac");
    // The service wrote a split on the line of its key, which is not YAML.
    assert_eq!(codes(&loaded), ["yaml-syntax"]);
    assert!(loaded.diagnostics[0].file.ends_with("lkPerm.config.yaml"));
    let casc = loaded.repository.casc.as_ref().unwrap();
    assert_eq!(casc.flags.len(), 3);
    assert_eq!(casc.target_groups.len(), 2);
    let analytics = casc.environment("fm-analytics").unwrap();
    assert_eq!(analytics.configurations.len(), 2);
    let boolean = analytics
        .configurations
        .iter()
        .find(|c| c.value.flag == "lkBoolean")
        .unwrap();
    assert_eq!(boolean.value.api_version.as_deref(), Some("v1"));
    assert_eq!(boolean.value.stickiness_property, None);
    assert_eq!(
        boolean.value.conditions.as_ref().unwrap()[0].flag_value,
        Some(FlagValue::WrittenInCode)
    );
    let perm = &casc.flag("lkPerm").unwrap().value;
    assert_eq!(perm.is_permanent, Some(true));
    assert_eq!(perm.available_values, None);
}

#[test]
fn nested_and_empty_group_conditions_load() {
    let loaded = fixture("coverage_test-d1b2a4e");
    assert_eq!(codes(&loaded), Vec::<&str>::new());
    let casc = loaded.repository.casc.as_ref().unwrap();
    assert_eq!(casc.target_groups.len(), 3);
    let empty = casc
        .target_groups
        .iter()
        .find(|t| t.value.name == "manual-tg13")
        .unwrap();
    assert_eq!(
        empty.value.conditions.as_ref().unwrap().any_of.as_deref(),
        Some(&[][..])
    );
}
