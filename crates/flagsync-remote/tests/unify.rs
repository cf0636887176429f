//! The CloudBees Unify client against the emulator's Unify API over loopback HTTP.

use std::time::Duration;

use flagsync_emulator::{
    EmulatorConfig, RunningEmulator, UNIFY_DEFAULT_APPLICATION_ID, UNIFY_DEFAULT_APPLICATION_NAME,
    UNIFY_DEFAULT_ORGANIZATION_DOMAIN, UNIFY_DEFAULT_ORGANIZATION_ID,
};
use flagsync_remote::{
    HttpSettings, LiveRequest, RemoteError, Secret, UnifyClient, UnifyObject, UnifyScope,
    UnifySettings, fetch_live_state,
};
use serde_json::{Value, json};

use super::{
    TOKEN, count, counters, emulator, fast_retry, reset_counters, set_faults, status_count,
};

fn client_for(emu: &RunningEmulator, organization: &str, application: &str) -> UnifyClient {
    UnifyClient::new(UnifySettings {
        base_url: emu.unify_url(),
        http: HttpSettings {
            retry: fast_retry(),
            timeout: Duration::from_secs(5),
            ..HttpSettings::new(f64::INFINITY)
        },
        ..UnifySettings::new(organization, application, Secret::new(TOKEN))
    })
    .unwrap()
}

fn client(emu: &RunningEmulator) -> UnifyClient {
    client_for(
        emu,
        UNIFY_DEFAULT_ORGANIZATION_DOMAIN,
        UNIFY_DEFAULT_APPLICATION_ID,
    )
}

fn envs(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

async fn control(emu: &RunningEmulator, path: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{}/_emulator/{path}", emu.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    resp.json().await.unwrap()
}

#[tokio::test]
async fn names_resolve_to_ids_once_per_client() {
    let emu = emulator(EmulatorConfig::default()).await;
    // By domain name and application id, by organization id and application name.
    for (org, app) in [
        (
            UNIFY_DEFAULT_ORGANIZATION_DOMAIN,
            UNIFY_DEFAULT_APPLICATION_ID,
        ),
        (
            UNIFY_DEFAULT_ORGANIZATION_ID,
            UNIFY_DEFAULT_APPLICATION_NAME,
        ),
    ] {
        reset_counters(&emu).await;
        let c = client_for(&emu, org, app);
        let account = c.account().await.unwrap();
        assert_eq!(account.organization_id, UNIFY_DEFAULT_ORGANIZATION_ID);
        assert_eq!(account.application_id, UNIFY_DEFAULT_APPLICATION_ID);
        let ids = c
            .environment_ids(&envs(&["Staging", "Production"]))
            .await
            .unwrap();
        assert_eq!(ids[0].0, "Staging");
        assert_eq!(ids[1].1, "f1a65ac0-0000-4000-8000-000000000201");
        c.environment_id("Development").await.unwrap();
        let counted = counters(&emu).await;
        // Once: the organization by name (unless given as an id), its applications and
        // its environments, however often the ids are asked for.
        let by_name = usize::from(org == UNIFY_DEFAULT_ORGANIZATION_DOMAIN);
        assert_eq!(
            count(&counted, "GET /v1/organizations/name") as usize,
            by_name
        );
        assert_eq!(count(&counted, "GET /v1/organizations/{org}/services"), 1);
        assert_eq!(
            count(&counted, "GET /v2/organizations/{org}/environments"),
            1
        );
        assert_eq!(counted["total"].as_u64().unwrap() as usize, 2 + by_name);
    }
}

#[tokio::test]
async fn unknown_or_unlinked_names_are_refused_with_what_exists() {
    let emu = emulator(EmulatorConfig::default()).await;
    let err = client(&emu)
        .environment_ids(&envs(&["Production", "Prodution"]))
        .await
        .unwrap_err();
    match &err {
        RemoteError::UnknownEnvironment { name, known, help } => {
            assert_eq!(name, "Prodution");
            assert!(known.contains(&"Production".to_owned()), "{known:?}");
            assert!(help.contains("Staging"), "{help}");
        }
        other => panic!("{other:?}"),
    }

    let err = client_for(&emu, UNIFY_DEFAULT_ORGANIZATION_DOMAIN, "no-such-app")
        .account()
        .await
        .unwrap_err();
    match &err {
        RemoteError::UnknownApplication { help, .. } => {
            assert!(help.contains(UNIFY_DEFAULT_APPLICATION_NAME), "{help}");
        }
        other => panic!("{other:?}"),
    }
    let err = client_for(&emu, "no-such-org", UNIFY_DEFAULT_APPLICATION_ID)
        .account()
        .await
        .unwrap_err();
    assert!(matches!(err, RemoteError::NotFound { .. }), "{err:?}");

    // An environment of the organization that the application is not linked to.
    control(
        &emu,
        "unify/organizations",
        json!({"domainName": UNIFY_DEFAULT_ORGANIZATION_DOMAIN, "environments": [{"name": "Sandbox"}],
               "applications": [{"name": "other", "environments": ["Sandbox"]}]}),
    )
    .await;
    let err = client(&emu)
        .environment_ids(&envs(&["Sandbox"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RemoteError::EnvironmentNotLinked { name, .. } if name == "Sandbox"),
        "{err:?}"
    );
}

#[tokio::test]
async fn live_state_is_read_at_the_request_floor() {
    let emu = emulator(EmulatorConfig::default()).await;
    let c = client(&emu);
    c.create(
        UnifyObject::Property,
        &json!({"name": "plan", "type": "String"}),
    )
    .await
    .unwrap();
    let group = c
        .create(
            UnifyObject::TargetGroup,
            &json!({"name": "Beta", "conditions": {"property": {"name": "plan", "operator": "eq", "operands": ["beta"]}}}),
        )
        .await
        .unwrap();
    for i in 0..25 {
        c.create(UnifyObject::Flag, &json!({"name": format!("flag.{i}")}))
            .await
            .unwrap();
    }
    let flag_id = c.id_of(UnifyObject::Flag, "flag.3").await.unwrap().unwrap();
    let prod = c.environment_id("Production").await.unwrap();
    c.put_configuration(
        &flag_id,
        &prod,
        &json!({"enabled": true, "defaultValue": false,
                "conditions": [{"group": {"id": group.id}, "flagValue": true}]}),
    )
    .await
    .unwrap();

    // A fresh client, as a new run has: everything is resolved and read anew.
    let fresh = client(&emu);
    reset_counters(&emu).await;
    let names = envs(&["Production", "Staging", "Development"]);
    let snapshot = fetch_live_state(LiveRequest {
        unify: Some(UnifyScope {
            client: &fresh,
            environments: &names,
        }),
        ..LiveRequest::default()
    })
    .await
    .unwrap();
    let live = snapshot.unify.expect("unify was read");
    assert_eq!(live.flags.len(), 25);
    assert_eq!(live.target_groups.len(), 1);
    assert_eq!(live.properties.len(), 1);
    assert_eq!(live.configurations.len(), 3);
    assert!(live.configurations.values().all(|list| list.len() == 25));
    let flag3 = live.configurations["Production"]
        .iter()
        .find(|c| c.flag_name.as_deref() == Some("flag.3"))
        .unwrap();
    assert_eq!(flag3.body["conditions"][0]["group"]["id"], json!(group.id));
    assert!(flag3.seed.is_some());
    assert_eq!(fresh.kept_fields(&prod, &flag_id).unwrap().seed, flag3.seed);

    let counted = counters(&emu).await;
    assert_eq!(
        count(
            &counted,
            "GET /v2/applications/{app}/environments/{env}/configuration"
        ),
        3,
        "{counted:#}"
    );
    for list in ["flags", "target-groups", "custom-properties"] {
        assert_eq!(
            count(&counted, &format!("GET /v2/applications/{{app}}/{list}")),
            1
        );
    }
    // 3 to resolve the names, 3 lists, 3 bulk reads: nothing per flag.
    assert_eq!(counted["total"], 9, "{counted:#}");
    // Ids learnt by reading serve the writes: no lookup by name.
    reset_counters(&emu).await;
    assert!(
        fresh
            .id_of(UnifyObject::Flag, "flag.24")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        fresh
            .id_of(UnifyObject::TargetGroup, "Beta")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(counters(&emu).await["total"], 0);
}

#[tokio::test]
async fn objects_are_created_found_updated_and_deleted() {
    let emu = emulator(EmulatorConfig::default()).await;
    let c = client(&emu);
    let created = c
        .create(
            UnifyObject::Flag,
            &json!({"name": "odd/name é", "flagType": "String", "variants": ["a"]}),
        )
        .await
        .unwrap();
    let id = created.id.clone().unwrap();
    assert_eq!(created.name.as_deref(), Some("odd/name é"));
    let found = c
        .by_name(UnifyObject::Flag, "odd/name é")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id.as_deref(), Some(id.as_str()));
    c.update(
        UnifyObject::Flag,
        &id,
        &json!({"name": "odd/name é", "flagType": "String", "description": "d", "variants": ["a", "b"]}),
    )
    .await
    .unwrap();
    let found = c
        .by_name(UnifyObject::Flag, "odd/name é")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.body["description"], "d");

    // A name in use: 409, a conflict.
    let again = c
        .create(UnifyObject::Flag, &json!({"name": "odd/name é"}))
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(409), "{again:?}");

    // Enabled somewhere: the service refuses the delete; disabled, it goes.
    let prod = c.environment_id("Production").await.unwrap();
    c.set_enabled(&id, &prod, true).await.unwrap();
    let states = c.configuration_states(&id).await.unwrap();
    assert!(states.contains(&(prod.clone(), true)), "{states:?}");
    let refused = c.delete(UnifyObject::Flag, &id).await.unwrap_err();
    assert_eq!(refused.status(), Some(400), "{refused:?}");
    assert!(refused.to_string().contains("disable it"), "{refused}");
    c.set_enabled(&id, &prod, false).await.unwrap();
    assert!(c.delete(UnifyObject::Flag, &id).await.unwrap());
    assert!(!c.delete(UnifyObject::Flag, &id).await.unwrap());
    assert_eq!(
        c.id_of(UnifyObject::Flag, "odd/name é").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_ambiguous_and_found_by_name() {
    let emu = emulator(EmulatorConfig::default()).await;
    let c = client(&emu);
    c.account().await.unwrap();
    set_faults(&emu, json!({"dropAfterWriteRate": 1.0})).await;
    let err = c
        .create(
            UnifyObject::Property,
            &json!({"name": "plan", "type": "String"}),
        )
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    set_faults(&emu, json!({"dropAfterWriteRate": 0.0})).await;
    // Sent once (never blindly again), and it was created.
    let counted = counters(&emu).await;
    assert_eq!(
        count(&counted, "POST /v2/applications/{app}/custom-properties"),
        1
    );
    assert!(
        c.by_name(UnifyObject::Property, "plan")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn rate_limited_reads_back_off_and_succeed() {
    let emu = emulator(EmulatorConfig {
        unify_requests_per_second: Some(2),
        ..EmulatorConfig::default()
    })
    .await;
    let c = client(&emu);
    let names = envs(&["Production", "Staging", "Development"]);
    let snapshot = fetch_live_state(LiveRequest {
        unify: Some(UnifyScope {
            client: &c,
            environments: &names,
        }),
        ..LiveRequest::default()
    })
    .await
    .unwrap();
    assert_eq!(snapshot.unify.unwrap().configurations.len(), 3);
    let counted = counters(&emu).await;
    assert!(status_count(&counted, "429") > 0, "{counted:#}");
}

#[tokio::test]
async fn both_error_envelopes_are_read() {
    let emu = emulator(EmulatorConfig::default()).await;
    let refused = UnifyClient::new(UnifySettings {
        base_url: emu.unify_url(),
        http: HttpSettings {
            retry: fast_retry(),
            ..HttpSettings::new(f64::INFINITY)
        },
        ..UnifySettings::new(
            UNIFY_DEFAULT_ORGANIZATION_ID,
            UNIFY_DEFAULT_APPLICATION_ID,
            Secret::new("wrong-token"),
        )
    })
    .unwrap();
    let err = refused.account().await.unwrap_err();
    match &err {
        RemoteError::Unauthorized {
            status, message, ..
        } => {
            assert_eq!(*status, 401);
            assert_eq!(
                message.as_deref(),
                Some("you are not authorized to perform this action")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("wrong-token"));

    // `{code, message, details}`: a split that does not add up.
    let c = client(&emu);
    let flag = c
        .create(UnifyObject::Flag, &json!({"name": "f"}))
        .await
        .unwrap();
    let prod = c.environment_id("Production").await.unwrap();
    let err = c
        .put_configuration(
            flag.id.as_deref().unwrap(),
            &prod,
            &json!({"enabled": true, "defaultValue": [{"option": true, "percentage": 30}]}),
        )
        .await
        .unwrap_err();
    match &err {
        RemoteError::Http {
            status,
            code,
            message,
            method,
            url,
            ..
        } => {
            assert_eq!((*status, *code), (400, Some(3)));
            assert!(
                message.as_deref().unwrap().contains("sum to"),
                "{message:?}"
            );
            assert_eq!(method, "PUT");
            assert!(url.contains("/configuration/environments/"), "{url}");
        }
        other => panic!("{other:?}"),
    }
}
