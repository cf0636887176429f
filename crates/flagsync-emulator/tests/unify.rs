//! CloudBees Unify over loopback HTTP: every route family, every validation rule of
//! `api-notes-unify.md`, the error envelopes, the rate limit, faults and persistence.

use std::time::Duration;

use crate::common::*;
use flagsync_emulator::{
    EmulatorConfig, Faults, RunningEmulator, UNIFY_DEFAULT_APPLICATION_ID as APP,
    UNIFY_DEFAULT_ENVIRONMENTS, UNIFY_DEFAULT_ORGANIZATION_DOMAIN,
    UNIFY_DEFAULT_ORGANIZATION_ID as ORG,
};
use reqwest::Method;
use serde_json::{Value, json};

fn env(name: &str) -> &'static str {
    UNIFY_DEFAULT_ENVIRONMENTS
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(id, _)| *id)
        .expect("a default environment")
}

fn prod() -> &'static str {
    env("Production")
}

fn staging() -> &'static str {
    env("Staging")
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

/// A client of one emulator's Unify API, in the default application unless told.
struct Unify {
    base: String,
    app: String,
    http: reqwest::Client,
}

impl Unify {
    fn new(emu: &RunningEmulator) -> Self {
        Self {
            base: emu.unify_url(),
            app: APP.to_owned(),
            http: client(),
        }
    }

    fn in_app(&self, app: &str) -> Self {
        Self {
            base: self.base.clone(),
            app: app.to_owned(),
            http: self.http.clone(),
        }
    }

    /// `path` under `/v2/applications/{app}`.
    fn url(&self, path: &str) -> String {
        format!("{}/v2/applications/{}{path}", self.base, self.app)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let body = body.map(|b| b.to_string());
        send(
            &self.http,
            method,
            &self.url(path),
            Some(TOKEN),
            body.as_deref(),
        )
        .await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn raw(&self, method: Method, url: &str, body: Option<Value>) -> Answer {
        let body = body.map(|b| b.to_string());
        send(&self.http, method, url, Some(TOKEN), body.as_deref()).await
    }

    async fn create(&self, kind: &str, key: &str, body: Value) -> Value {
        let answer = self
            .call(Method::POST, &format!("/{kind}"), Some(body))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body[key].clone()
    }

    async fn create_flag(&self, body: Value) -> Value {
        self.create("flags", "flag", body).await
    }

    async fn create_group(&self, body: Value) -> Value {
        self.create("target-groups", "targetGroup", body).await
    }

    async fn create_property(&self, body: Value) -> Value {
        self.create("custom-properties", "customProperty", body)
            .await
    }

    fn config_path(flag: &Value, env: &str) -> String {
        format!(
            "/flags/{}/configuration/environments/{env}",
            flag["id"].as_str().expect("flag id")
        )
    }

    async fn put_config(&self, flag: &Value, env: &str, body: Value) -> Answer {
        self.call(Method::PUT, &Self::config_path(flag, env), Some(body))
            .await
    }

    async fn patch_config(&self, flag: &Value, env: &str, body: Value) -> Answer {
        self.call(Method::PATCH, &Self::config_path(flag, env), Some(body))
            .await
    }

    async fn config(&self, flag: &Value, env: &str) -> Value {
        let answer = self.get(&Self::config_path(flag, env)).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body["configuration"].clone()
    }

    async fn set_enabled(&self, flag: &Value, env: &str, enabled: bool) {
        let answer = self
            .call(
                Method::POST,
                &format!("{}/configstate", Self::config_path(flag, env)),
                Some(json!({ "enabled": enabled })),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.body, json!({}));
    }

    async fn flag(&self, id: &str) -> Answer {
        self.get(&format!("/flags/{id}")).await
    }
}

/// Asserts a 400 `INVALID_ARGUMENT` whose message mentions `needle`.
fn assert_invalid(answer: &Answer, needle: &str) {
    assert_unify_error(answer, 400, 3);
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{needle:?} not in {message:?}");
}

#[tokio::test]
async fn default_organization_application_and_environments_resolve_by_name() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let base = &u.base;
    let org = u
        .raw(
            Method::GET,
            &format!("{base}/v1/organizations/name?name={UNIFY_DEFAULT_ORGANIZATION_DOMAIN}"),
            None,
        )
        .await;
    assert_eq!(org.status, 200, "{}", org.text);
    assert_eq!(org.body["organization"]["id"], ORG);
    assert_eq!(org.body["organization"]["organizationId"], ORG);
    assert_eq!(
        org.body["organization"]["domainName"],
        UNIFY_DEFAULT_ORGANIZATION_DOMAIN
    );
    let unknown = u
        .raw(
            Method::GET,
            &format!("{base}/v1/organizations/name?name=nope"),
            None,
        )
        .await;
    assert_unify_error(&unknown, 404, 5);
    let missing = u
        .raw(Method::GET, &format!("{base}/v1/organizations/name"), None)
        .await;
    assert_unify_error(&missing, 400, 3);

    let apps = u
        .raw(
            Method::GET,
            &format!("{base}/v1/organizations/{ORG}/services?typeFilter=APPLICATION_FILTER"),
            None,
        )
        .await;
    assert_eq!(apps.status, 200, "{}", apps.text);
    let services = apps.body["service"].as_array().expect("service list");
    assert_eq!(services.len(), 1, "{}", apps.text);
    assert_eq!(services[0]["id"], APP);
    assert_eq!(services[0]["serviceType"], "APPLICATION");
    assert_eq!(services[0]["organizationId"], ORG);
    let linked: Vec<&str> = UNIFY_DEFAULT_ENVIRONMENTS
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(services[0]["linkedEnvironmentIds"], json!(linked));
    // The default filter keeps services with a repository: the filter must be passed.
    let default_filter = u
        .raw(
            Method::GET,
            &format!("{base}/v1/organizations/{ORG}/services"),
            None,
        )
        .await;
    assert_eq!(default_filter.body, json!({"service": []}));
    let bad_filter = u
        .raw(
            Method::GET,
            &format!("{base}/v1/organizations/{ORG}/services?typeFilter=EVERYTHING"),
            None,
        )
        .await;
    assert_unify_error(&bad_filter, 400, 3);

    let envs = u
        .raw(
            Method::GET,
            &format!("{base}/v2/organizations/{ORG}/environments"),
            None,
        )
        .await;
    assert_eq!(envs.status, 200, "{}", envs.text);
    let expected: Vec<Value> = UNIFY_DEFAULT_ENVIRONMENTS
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name, "resourceId": ORG, "isDisabled": false}))
        .collect();
    assert_eq!(envs.body["environments"], json!(expected));
    let names: Vec<&str> = UNIFY_DEFAULT_ENVIRONMENTS.iter().map(|(_, n)| *n).collect();
    assert_eq!(names, ["Production", "Staging", "Development"]);
    let one = u
        .raw(
            Method::GET,
            &format!("{base}/v2/organizations/{ORG}/environments?name=Staging&timeZone=UTC"),
            None,
        )
        .await;
    assert_eq!(one.body["environments"][0]["id"], staging());
    assert_eq!(one.body["environments"].as_array().map(Vec::len), Some(1));
    let no_org = u
        .raw(
            Method::GET,
            &format!("{base}/v2/organizations/nope/environments"),
            None,
        )
        .await;
    assert_unify_error(&no_org, 404, 5);
    emu.shutdown().await;
}

#[tokio::test]
async fn feature_management_paths_answer_under_v1_and_v2() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let flag = u.create_flag(json!({"name": "both"})).await;
    let id = flag["id"].as_str().expect("id");
    let v1 = format!("{}/v1/applications/{APP}", u.base);
    let got = u.raw(Method::GET, &format!("{v1}/flags/{id}"), None).await;
    assert_eq!(got.body["flag"], flag);
    let by_name = u
        .raw(Method::GET, &format!("{v1}/flags/by-name/both"), None)
        .await;
    assert_eq!(by_name.body["flag"], flag);
    // The official actions' calls: PATCH a configuration and a target group by name on /v1.
    let patched = u
        .raw(
            Method::PATCH,
            &format!("{v1}/flags/{id}/configuration/environments/{}", prod()),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(u.config(&flag, prod()).await["enabled"], true);
    u.create_group(json!({"name": "beta", "conditions": {"property": {"name": "rox.platform", "operator": "eq", "operands": ["ios"]}}}))
        .await;
    let group = u
        .raw(
            Method::GET,
            &format!("{v1}/target-groups/by-name/beta"),
            None,
        )
        .await;
    assert_eq!(group.status, 200, "{}", group.text);
    assert_eq!(group.body["targetGroup"]["name"], "beta");
    emu.shutdown().await;
}

#[tokio::test]
async fn flags_get_server_ids_timestamps_and_defaults() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let flag = u
        .create_flag(json!({"name": "default.newFeature", "id": "mine", "resourceId": "x"}))
        .await;
    let id = flag["id"].as_str().expect("id").to_owned();
    assert!(is_uuid(&id), "{id}");
    let created = flag["created"].as_str().expect("created");
    assert!(created.ends_with('Z') && created.len() >= 20, "{created}");
    assert_eq!(flag["updated"], flag["created"]);
    assert_eq!(
        flag,
        json!({
            "id": id,
            "name": "default.newFeature",
            "description": "",
            "flagType": "Boolean",
            "variants": ["false", "true"],
            "resourceId": APP,
            "labels": [],
            "isPermanent": false,
            "cascUrl": "",
            "created": created,
            "updated": created,
            "configStates": [],
        })
    );
    let text = u
        .create_flag(json!({"name": "colour", "flagType": "String", "variants": ["red", "blue"], "labels": ["ui"], "description": "d", "isPermanent": true}))
        .await;
    assert_eq!(text["variants"], json!(["red", "blue"]));
    assert_eq!(text["isPermanent"], true);
    let number = u
        .create_flag(json!({"name": "limit", "flagType": "Number", "labels": ["ui", "api"]}))
        .await;
    assert_eq!(number["variants"], json!([]));

    assert_eq!(u.flag(&id).await.body["flag"], flag);
    assert_eq!(u.get("/flags/by-name/colour").await.body["flag"], text);
    let list = u.get("/flags").await;
    let names: Vec<&str> = list.body["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["default.newFeature", "colour", "limit"],
        "creation order"
    );
    assert_eq!(
        u.get("/flags/labels").await.body,
        json!({"labels": ["api", "ui"]})
    );
    let states = u.get(&format!("/flags/{id}/configuration-state")).await;
    let states = states.body["configurationStates"]
        .as_array()
        .expect("states");
    assert_eq!(states.len(), 3);
    assert!(states.iter().all(|s| s["enabled"] == false));

    // PUT replaces the writable fields; omitted ones take their defaults.
    let text_id = text["id"].as_str().expect("id");
    let put = u
        .call(
            Method::PUT,
            &format!("/flags/{text_id}"),
            Some(json!({"name": "colour", "description": "new", "labels": ["x"]})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let updated = &put.body["flag"];
    assert_eq!(updated["description"], "new");
    assert_eq!(updated["labels"], json!(["x"]));
    assert_eq!(updated["variants"], json!([]));
    assert_eq!(updated["isPermanent"], false);
    assert_eq!(updated["flagType"], "String");
    assert_eq!(updated["created"], text["created"]);

    assert_unify_error(&u.flag("no-such-flag").await, 404, 5);
    assert_unify_error(&u.get("/flags/by-name/nope").await, 404, 5);
    assert_unify_error(&u.in_app("no-such-app").get("/flags").await, 404, 5);
    for bad in [
        json!({}),
        json!({"name": ""}),
        json!({"name": 5}),
        json!({"name": "x", "flagType": "boolean"}),
        json!({"name": "x", "variants": [true, false]}),
        json!({"name": "x", "flagType": "Number", "variants": [1, 2]}),
        json!({"name": "x", "flagType": "Number", "variants": ["one"]}),
        json!({"name": "x", "labels": "a"}),
        json!([]),
    ] {
        let answer = u.call(Method::POST, "/flags", Some(bad.clone())).await;
        assert_unify_error(&answer, 400, 3);
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn names_are_unique_per_application() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    u.create_flag(json!({"name": "dup"})).await;
    let again = u
        .call(
            Method::POST,
            "/flags",
            Some(json!({"name": "dup", "flagType": "String"})),
        )
        .await;
    assert_unify_error(&again, 409, 6);
    u.create_property(json!({"name": "plan", "type": "String"}))
        .await;
    let again = u
        .call(
            Method::POST,
            "/custom-properties",
            Some(json!({"name": "plan", "type": "Number"})),
        )
        .await;
    assert_unify_error(&again, 409, 6);
    let group = json!({"name": "g", "conditions": {"property": {"name": "plan", "operator": "eq", "operands": ["pro"]}}});
    u.create_group(group.clone()).await;
    assert_unify_error(
        &u.call(Method::POST, "/target-groups", Some(group.clone()))
            .await,
        409,
        6,
    );
    assert_eq!(
        u.get("/flags").await.body["flags"].as_array().map(Vec::len),
        Some(1)
    );

    // Renaming a group onto another group's name conflicts too.
    let other = u
        .create_group(json!({"name": "h", "conditions": {"property": {"name": "plan", "operator": "is-undefined"}}}))
        .await;
    let rename = u
        .call(
            Method::PUT,
            &format!("/target-groups/{}", other["id"].as_str().expect("id")),
            Some(group),
        )
        .await;
    assert_unify_error(&rename, 409, 6);

    // Another application may use the same names.
    let created = send(
        &u.http,
        Method::POST,
        &format!("{}/_emulator/unify/organizations", u.base),
        None,
        Some(&json!({"domainName": UNIFY_DEFAULT_ORGANIZATION_DOMAIN, "applications": [{"name": "second"}]}).to_string()),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let second = created.body["applications"]
        .as_array()
        .and_then(|apps| apps.iter().find(|a| a["name"] == "second"))
        .and_then(|a| a["id"].as_str())
        .expect("second application")
        .to_owned();
    u.in_app(&second).create_flag(json!({"name": "dup"})).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn flag_and_property_types_are_immutable() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let flag = u.create_flag(json!({"name": "f"})).await;
    let path = format!("/flags/{}", flag["id"].as_str().expect("id"));
    let retype = u
        .call(
            Method::PUT,
            &path,
            Some(json!({"name": "f", "flagType": "String"})),
        )
        .await;
    assert_invalid(&retype, "cannot be changed");
    let rename = u.call(Method::PUT, &path, Some(json!({"name": "g"}))).await;
    assert_invalid(&rename, "cannot be changed");
    let same = u
        .call(
            Method::PUT,
            &path,
            Some(json!({"name": "f", "flagType": "Boolean", "description": "ok"})),
        )
        .await;
    assert_eq!(same.status, 200, "{}", same.text);
    assert_eq!(
        u.flag(flag["id"].as_str().expect("id")).await.body["flag"]["flagType"],
        "Boolean"
    );

    let property = u
        .create_property(json!({"name": "age", "type": "Number", "description": "years"}))
        .await;
    assert!(is_uuid(property["id"].as_str().expect("id")));
    let path = format!(
        "/custom-properties/{}",
        property["id"].as_str().expect("id")
    );
    let retype = u
        .call(
            Method::PUT,
            &path,
            Some(json!({"name": "age", "type": "String"})),
        )
        .await;
    assert_invalid(&retype, "cannot be changed");
    // PUT needs every field: an omitted type is not "unchanged".
    let untyped = u
        .call(Method::PUT, &path, Some(json!({"name": "age"})))
        .await;
    assert_invalid(&untyped, "type");
    let renamed = u
        .call(
            Method::PUT,
            &path,
            Some(json!({"name": "years", "type": "Number"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.body["customProperty"]["name"], "years");
    assert_eq!(
        renamed.body["customProperty"]["description"], "",
        "omitted: reset"
    );
    for bad in [
        json!({"name": "p", "type": "Datetime"}),
        json!({"name": "p"}),
        json!({"type": "String"}),
    ] {
        assert_unify_error(
            &u.call(Method::POST, "/custom-properties", Some(bad)).await,
            400,
            3,
        );
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn config_states_follow_config_state_envs() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let flag = u.create_flag(json!({"name": "f"})).await;
    u.set_enabled(&flag, prod(), true).await;
    let list = u.get(&format!("/flags?configStateEnvs={}", prod())).await;
    let states = &list.body["flags"][0]["configStates"];
    assert_eq!(states.as_array().map(Vec::len), Some(1), "{}", list.text);
    assert_eq!(states[0]["environmentId"], prod());
    assert_eq!(states[0]["enabled"], true);
    assert!(states[0]["updated"].is_string());
    let two = u
        .get(&format!(
            "/flags/{}?configStateEnvs={}&configStateEnvs={}&configStateEnvs=unknown",
            flag["id"].as_str().expect("id"),
            staging(),
            prod()
        ))
        .await;
    let states = &two.body["flag"]["configStates"];
    assert_eq!(states[0]["environmentId"], staging());
    assert_eq!(states[0]["enabled"], false);
    assert_eq!(states[1]["environmentId"], prod());
    assert_eq!(
        states.as_array().map(Vec::len),
        Some(2),
        "unknown ids are skipped"
    );
    let by_name = u
        .get(&format!("/flags/by-name/f?configStateEnvs={}", staging()))
        .await;
    assert_eq!(by_name.body["flag"]["configStates"][0]["enabled"], false);
    assert_eq!(
        u.get("/flags").await.body["flags"][0]["configStates"],
        json!([])
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn new_configurations_start_disabled_with_a_server_seed_that_is_kept() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let flag = u.create_flag(json!({"name": "f"})).await;
    let mut seeds = Vec::new();
    for (env, _) in UNIFY_DEFAULT_ENVIRONMENTS {
        let config = u.config(&flag, env).await;
        assert_eq!(config["enabled"], false);
        assert_eq!(config["defaultValue"], json!({"valueWrittenInCode": true}));
        assert_eq!(config["conditions"], json!([]));
        assert_eq!(config["stickinessProperty"], "rox.distinct_id");
        assert_eq!(config["variantsEnabled"], false);
        assert_eq!(config["resourceId"], APP);
        assert_eq!(config["cascUrl"], "");
        assert!(config["created"].is_string() && config["updated"].is_string());
        seeds.push(config["seed"].as_str().expect("seed").to_owned());
    }
    assert!(seeds.iter().all(|s| !s.is_empty()));
    assert_ne!(seeds[0], seeds[1], "each configuration has its own seed");

    let put = u
        .put_config(
            &flag,
            prod(),
            json!({"enabled": true, "defaultValue": true}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.body, json!({}));
    let config = u.config(&flag, prod()).await;
    assert_eq!(config["seed"], seeds[0].as_str(), "an omitted seed is kept");
    assert_eq!(config["enabled"], true);
    let put = u
        .put_config(
            &flag,
            prod(),
            json!({"enabled": true, "defaultValue": true, "seed": "s-1"}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(u.config(&flag, prod()).await["seed"], "s-1");
    let patch = u
        .patch_config(&flag, prod(), json!({"enabled": false, "seed": "ignored"}))
        .await;
    assert_eq!(patch.status, 200, "{}", patch.text);
    let config = u.config(&flag, prod()).await;
    assert_eq!(config["seed"], "s-1", "PATCH has no seed");
    assert_eq!(config["enabled"], false);
    assert_eq!(config["defaultValue"], true);

    let unlinked = u
        .get(&Unify::config_path(&flag, "not-an-environment"))
        .await;
    assert_unify_error(&unlinked, 404, 5);
    let no_flag = u
        .get(&format!(
            "/flags/nope/configuration/environments/{}",
            prod()
        ))
        .await;
    assert_unify_error(&no_flag, 404, 5);
    emu.shutdown().await;
}

#[tokio::test]
async fn put_replaces_patch_merges_and_empty_conditions_wipe() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let group = u
        .create_group(json!({"name": "beta", "conditions": {"property": {"name": "rox.platform", "operator": "in-array", "operands": ["ios"]}}}))
        .await;
    let flag = u.create_flag(json!({"name": "f"})).await;
    let conditions = json!([
        {"allOf": [{"allOf": [{"group": {"id": group["id"]}}]}], "flagValue": true},
        {"allOf": [{"not": {"allOf": [{"group": {"id": group["id"]}}]}}], "flagValue": false},
    ]);
    let full = json!({
        "enabled": true,
        "defaultValue": false,
        "conditions": conditions,
        "stickinessProperty": "userId",
        "variantsEnabled": true,
        "resourceId": "ignored",
        "cascUrl": "ignored",
    });
    let put = u.put_config(&flag, prod(), full).await;
    assert_eq!(put.status, 200, "{}", put.text);
    let config = u.config(&flag, prod()).await;
    assert_eq!(config["conditions"], conditions, "order is kept");
    assert_eq!(config["stickinessProperty"], "userId");
    assert_eq!(config["variantsEnabled"], true);
    assert_eq!(config["resourceId"], APP);

    for (bad, needle) in [
        (json!({"defaultValue": true}), "enabled"),
        (json!({"enabled": true}), "defaultValue"),
        (
            json!({"configuration": {"enabled": true, "defaultValue": true}}),
            "enabled",
        ),
        (json!({"enabled": "yes", "defaultValue": true}), "enabled"),
        (
            json!({"enabled": true, "defaultValue": true, "conditions": {}}),
            "conditions",
        ),
        (
            json!({"enabled": true, "defaultValue": true, "stickinessProperty": ""}),
            "stickinessProperty",
        ),
    ] {
        assert_invalid(&u.put_config(&flag, prod(), bad).await, needle);
    }
    assert_eq!(
        u.config(&flag, prod()).await,
        config,
        "refused writes change nothing"
    );

    let patch = u
        .patch_config(&flag, prod(), json!({"enabled": false}))
        .await;
    assert_eq!(patch.status, 200, "{}", patch.text);
    let patched = u.config(&flag, prod()).await;
    assert_eq!(
        patched["conditions"], conditions,
        "PATCH keeps omitted fields"
    );
    assert_eq!(patched["enabled"], false);
    let wipe = u
        .patch_config(&flag, prod(), json!({"conditions": []}))
        .await;
    assert_eq!(wipe.status, 200, "{}", wipe.text);
    let wiped = u.config(&flag, prod()).await;
    assert_eq!(wiped["conditions"], json!([]));
    assert_eq!(wiped["stickinessProperty"], "userId");

    let put = u
        .put_config(
            &flag,
            prod(),
            json!({"enabled": true, "defaultValue": false, "conditions": conditions}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let replaced = u
        .put_config(
            &flag,
            prod(),
            json!({"enabled": true, "defaultValue": true}),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    let replaced = u.config(&flag, prod()).await;
    assert_eq!(
        replaced["conditions"],
        json!([]),
        "PUT replaces: omitted conditions are none"
    );
    assert_eq!(replaced["stickinessProperty"], "rox.distinct_id");
    assert_eq!(replaced["variantsEnabled"], false);

    let state = format!("{}/configstate", Unify::config_path(&flag, staging()));
    for bad in [json!({}), json!({"enabled": "yes"})] {
        assert_invalid(&u.call(Method::POST, &state, Some(bad)).await, "enabled");
    }
    u.set_enabled(&flag, staging(), true).await;
    assert_eq!(u.config(&flag, staging()).await["enabled"], true);
    emu.shutdown().await;
}

#[tokio::test]
async fn one_bulk_read_returns_every_configuration_of_an_environment() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let a = u
        .create_flag(json!({"name": "a", "description": "first", "labels": ["l"]}))
        .await;
    let b = u
        .create_flag(json!({"name": "b", "flagType": "Number"}))
        .await;
    let put = u
        .put_config(&b, staging(), json!({"enabled": true, "defaultValue": 7}))
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    send(
        &u.http,
        Method::POST,
        &format!("{}/_emulator/counters/reset", u.base),
        None,
        None,
    )
    .await;
    let bulk = u
        .get(&format!("/environments/{}/configuration", staging()))
        .await;
    assert_eq!(bulk.status, 200, "{}", bulk.text);
    let configurations = bulk.body["configurations"].as_array().expect("list");
    assert_eq!(configurations.len(), 2);
    assert_eq!(configurations[0]["flagId"], a["id"]);
    assert_eq!(configurations[0]["flagName"], "a");
    assert_eq!(configurations[0]["description"], "first");
    assert_eq!(configurations[0]["labels"], json!(["l"]));
    assert_eq!(
        configurations[0]["configuration"],
        u.config(&a, staging()).await
    );
    assert_eq!(configurations[1]["configuration"]["defaultValue"], 7);
    assert_eq!(configurations[1]["configuration"]["enabled"], true);
    assert!(configurations[1]["created"].is_string() && configurations[1]["updated"].is_string());
    let counters = get(&u.http, &format!("{}/_emulator/counters", u.base))
        .await
        .body;
    assert_eq!(
        counters["routes"]["GET /v2/applications/{app}/environments/{env}/configuration"]["count"],
        1,
        "{counters}"
    );
    assert_unify_error(&u.get("/environments/nope/configuration").await, 404, 5);
    emu.shutdown().await;
}

#[tokio::test]
async fn splits_must_sum_to_exactly_100() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let flag = u
        .create_flag(json!({"name": "s", "flagType": "String", "variants": ["a", "b", "c"]}))
        .await;
    let split = |a: f64, b: f64, c: f64| json!([{"option": "a", "percentage": a}, {"option": "b", "percentage": b}, {"option": "c", "percentage": c}]);
    let ok = u
        .put_config(
            &flag,
            prod(),
            json!({"enabled": true, "defaultValue": split(33.3333, 33.3333, 33.3334)}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    for value in [
        split(33.33, 33.33, 33.33),
        split(50.0, 50.0, 0.001),
        json!([{"option": "a", "percentage": 101}]),
        json!([{"option": "a", "percentage": -1}, {"option": "b", "percentage": 101}]),
        json!([{"option": "a"}]),
        json!([]),
    ] {
        let answer = u
            .put_config(
                &flag,
                prod(),
                json!({"enabled": true, "defaultValue": value}),
            )
            .await;
        assert_unify_error(&answer, 400, 3);
    }
    let in_condition = u
        .put_config(
            &flag,
            prod(),
            json!({"enabled": true, "defaultValue": "a", "conditions": [{"property": {"name": "rox.platform", "operator": "eq", "operands": ["ios"]}, "flagValue": split(10.0, 20.0, 30.0)}]}),
        )
        .await;
    assert_invalid(&in_condition, "conditions[0].flagValue");
    assert_invalid(&in_condition, "100");
    emu.shutdown().await;
}

#[tokio::test]
async fn values_must_match_the_flag_type() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let boolean = u.create_flag(json!({"name": "b"})).await;
    let number = u
        .create_flag(json!({"name": "n", "flagType": "Number", "variants": ["1"]}))
        .await;
    let text = u
        .create_flag(json!({"name": "t", "flagType": "String"}))
        .await;
    let written_in_code = json!({"valueWrittenInCode": true});
    for (flag, good, bad) in [
        (&boolean, json!(true), json!("true")),
        (&number, json!(5), json!("5")),
        (&text, json!("five"), json!(5)),
        (
            &number,
            json!([{"option": 1, "percentage": 100}]),
            json!([{"option": "1", "percentage": 100}]),
        ),
        (
            &boolean,
            written_in_code.clone(),
            json!({"valueWrittenInCode": false}),
        ),
        (
            &text,
            written_in_code.clone(),
            json!({"valueWrittenInCode": true, "x": 1}),
        ),
    ] {
        let answer = u
            .put_config(
                flag,
                prod(),
                json!({"enabled": false, "defaultValue": good}),
            )
            .await;
        assert_eq!(answer.status, 200, "{good}: {}", answer.text);
        let answer = u
            .put_config(flag, prod(), json!({"enabled": false, "defaultValue": bad}))
            .await;
        assert_unify_error(&answer, 400, 3);
    }
    let condition = u
        .put_config(
            &boolean,
            prod(),
            json!({"enabled": true, "defaultValue": false, "conditions": [{"property": {"name": "rox.platform", "operator": "is-undefined"}, "flagValue": "yes"}]}),
        )
        .await;
    assert_invalid(&condition, "does not match the flag type Boolean");
    let patch = u
        .patch_config(&number, prod(), json!({"defaultValue": true}))
        .await;
    assert_invalid(&patch, "Number");
    emu.shutdown().await;
}

#[tokio::test]
async fn schedules_only_on_boolean_flags_and_never_mixed_with_splits() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let boolean = u.create_flag(json!({"name": "b"})).await;
    let text = u
        .create_flag(json!({"name": "t", "flagType": "String"}))
        .await;
    // Cumulative, as rollouts are written: the percentages need not sum to 100.
    let schedule = json!([
        {"from": "2024-06-06T22:10:09.912Z", "percentage": 0},
        {"from": "2024-06-27T00:00:00Z", "percentage": 10},
        {"from": "2024-06-29T00:00:00+02:00", "percentage": 100},
    ]);
    let ok = u
        .put_config(
            &boolean,
            prod(),
            json!({"enabled": true, "defaultValue": schedule}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(u.config(&boolean, prod()).await["defaultValue"], schedule);
    let on_string = u
        .put_config(
            &text,
            prod(),
            json!({"enabled": true, "defaultValue": schedule}),
        )
        .await;
    assert_invalid(&on_string, "only supported for Boolean flags");
    for bad in [
        json!([{"from": "2024-06-06T00:00:00Z", "percentage": 50}, {"option": true, "percentage": 50}]),
        json!([{"from": "2024-06-06T00:00:00Z", "option": true, "percentage": 100}]),
        json!([{"from": "next week", "percentage": 100}]),
    ] {
        let answer = u
            .put_config(
                &boolean,
                prod(),
                json!({"enabled": true, "defaultValue": bad}),
            )
            .await;
        assert_unify_error(&answer, 400, 3);
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn references_must_exist() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let flag = u.create_flag(json!({"name": "f"})).await;
    let other = u.create_flag(json!({"name": "other"})).await;
    let plan = u
        .create_property(json!({"name": "plan", "type": "String"}))
        .await;
    let group = u
        .create_group(json!({"name": "pro", "conditions": {"anyOf": [{"property": {"name": "plan", "operator": "eq", "operands": ["pro"]}}]}}))
        .await;
    let with = |matcher: Value| json!({"enabled": true, "defaultValue": false, "conditions": [{"allOf": [matcher], "flagValue": true}]});
    for matcher in [
        json!({"group": {"id": group["id"]}}),
        json!({"property": {"name": "plan", "operator": "in-array", "operands": ["a", "b"]}}),
        json!({"property": {"name": "rox.app_release", "operator": "semver-gte", "operands": ["3.0.1"]}}),
        json!({"property": {"name": "version", "operator": "semver-lt", "operands": ["2.0.0"]}}),
        json!({"flag": {"name": "other", "value": true}}),
        json!({"flag": {"id": other["id"], "value": false}}),
    ] {
        let answer = u.put_config(&flag, prod(), with(matcher.clone())).await;
        assert_eq!(answer.status, 200, "{matcher}: {}", answer.text);
    }
    for (matcher, needle) in [
        (json!({"group": {"id": "missing"}}), "does not exist"),
        (json!({"group": {"name": "pro"}}), "by id"),
        (
            json!({"property": {"name": "tier", "operator": "eq", "operands": ["x"]}}),
            "neither a custom property",
        ),
        (json!({"flag": {"name": "ghost", "value": true}}), "no flag"),
        (
            json!({"flag": {"id": "ghost-id", "value": true}}),
            "no flag",
        ),
        (json!({"segment": {"id": "x"}}), "unknown field"),
        (
            json!({"property": {"name": "plan", "operator": "eq", "operand": "x"}}),
            "unknown field",
        ),
    ] {
        assert_invalid(&u.put_config(&flag, prod(), with(matcher)).await, needle);
    }
    let no_value = u
        .put_config(&flag, prod(), json!({"enabled": true, "defaultValue": false, "conditions": [{"group": {"id": group["id"]}}]}))
        .await;
    assert_invalid(&no_value, "flagValue is required");
    let legacy_shape = u
        .put_config(&flag, prod(), json!({"enabled": true, "defaultValue": false, "conditions": [{"group": {"name": "pro"}, "value": true}]}))
        .await;
    assert_unify_error(&legacy_shape, 400, 3);

    // Target groups: properties and nested groups must exist; no flags in them.
    for (conditions, needle) in [
        (
            json!({"property": {"name": "tier", "operator": "is-true"}}),
            "neither a custom property",
        ),
        (json!({"group": {"id": "missing"}}), "does not exist"),
        (
            json!({"flag": {"name": "other", "value": true}}),
            "cannot depend on flags",
        ),
        (
            json!({"operator": "and", "conditions": []}),
            "unknown field",
        ),
        (json!(["x"]), "object"),
    ] {
        let answer = u
            .call(
                Method::POST,
                "/target-groups",
                Some(json!({"name": "bad", "conditions": conditions})),
            )
            .await;
        assert_invalid(&answer, needle);
    }
    let missing = u
        .call(Method::POST, "/target-groups", Some(json!({"name": "bad"})))
        .await;
    assert_invalid(&missing, "conditions");
    let nested = u
        .create_group(json!({"name": "nested", "description": "d", "conditions": {"not": {"group": {"id": group["id"]}}}}))
        .await;
    assert_eq!(nested["description"], "d");
    assert_eq!(plan["type"], "String");
    emu.shutdown().await;
}

#[tokio::test]
async fn target_group_cycles_are_refused() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let a = u
        .create_group(json!({"name": "A", "conditions": {"property": {"name": "rox.platform", "operator": "eq", "operands": ["ios"]}}}))
        .await;
    let b = u
        .create_group(json!({"name": "B", "conditions": {"allOf": [{"group": {"id": a["id"]}}]}}))
        .await;
    let c = u
        .create_group(json!({"name": "C", "conditions": {"group": {"id": b["id"]}}}))
        .await;
    let a_path = format!("/target-groups/{}", a["id"].as_str().expect("id"));
    let through = u
        .call(
            Method::PUT,
            &a_path,
            Some(json!({"name": "A", "conditions": {"anyOf": [{"group": {"id": c["id"]}}]}})),
        )
        .await;
    assert_invalid(&through, "cycle: A -> C -> B -> A");
    let itself = u
        .call(
            Method::PUT,
            &a_path,
            Some(json!({"name": "A", "conditions": {"not": {"group": {"id": a["id"]}}}})),
        )
        .await;
    assert_invalid(&itself, "cycle");
    assert_eq!(u.get(&a_path).await.body["targetGroup"], a, "unchanged");
    // Renaming (conditions refer to groups by id) is fine.
    let renamed = u
        .call(
            Method::PUT,
            &a_path,
            Some(json!({"name": "A2", "conditions": a["conditions"]})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(
        u.get("/target-groups/by-name/A2").await.body["targetGroup"]["id"],
        a["id"]
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn flag_dependency_cycles_are_refused_per_environment() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let a = u.create_flag(json!({"name": "a"})).await;
    let b = u.create_flag(json!({"name": "b"})).await;
    let c = u.create_flag(json!({"name": "c"})).await;
    let depends_on = |name: &str| json!({"enabled": false, "defaultValue": false, "conditions": [{"flag": {"name": name, "value": true}, "flagValue": true}]});
    assert_eq!(u.put_config(&a, prod(), depends_on("b")).await.status, 200);
    assert_eq!(u.put_config(&b, prod(), depends_on("c")).await.status, 200);
    let cycle = u.put_config(&c, prod(), depends_on("a")).await;
    assert_invalid(
        &cycle,
        "cycle in environment \"Production\": c -> a -> b -> c",
    );
    let by_id = u
        .put_config(&c, prod(), json!({"enabled": false, "defaultValue": false, "conditions": [{"not": {"flag": {"id": a["id"], "value": true}}, "flagValue": true}]}))
        .await;
    assert_invalid(&by_id, "cycle");
    // The same dependency in another environment is no cycle.
    let other_env = u.put_config(&c, staging(), depends_on("a")).await;
    assert_eq!(other_env.status, 200, "{}", other_env.text);
    let itself = u.put_config(&a, staging(), depends_on("a")).await;
    assert_invalid(&itself, "a -> a");
    emu.shutdown().await;
}

#[tokio::test]
async fn configuration_writes_grow_the_flag_variants() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let text = u
        .create_flag(json!({"name": "t", "flagType": "String", "variants": ["a"]}))
        .await;
    let put = u
        .put_config(
            &text,
            prod(),
            json!({"enabled": true, "defaultValue": "b", "conditions": [{"property": {"name": "rox.platform", "operator": "eq", "operands": ["ios"]}, "flagValue": [{"option": "a", "percentage": 50}, {"option": "c", "percentage": 50}]}]}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let id = text["id"].as_str().expect("id");
    assert_eq!(
        u.flag(id).await.body["flag"]["variants"],
        json!(["a", "b", "c"])
    );

    let number = u
        .create_flag(json!({"name": "n", "flagType": "Number", "variants": ["1"]}))
        .await;
    assert_eq!(
        u.put_config(
            &number,
            prod(),
            json!({"enabled": true, "defaultValue": 1.0})
        )
        .await
        .status,
        200
    );
    let id = number["id"].as_str().expect("id");
    assert_eq!(
        u.flag(id).await.body["flag"]["variants"],
        json!(["1"]),
        "1.0 is variant 1"
    );
    assert_eq!(
        u.patch_config(&number, staging(), json!({"defaultValue": 2.5}))
            .await
            .status,
        200
    );
    assert_eq!(
        u.flag(id).await.body["flag"]["variants"],
        json!(["1", "2.5"])
    );

    let boolean = u.create_flag(json!({"name": "b", "variants": []})).await;
    assert_eq!(boolean["variants"], json!([]));
    u.put_config(
        &boolean,
        prod(),
        json!({"enabled": true, "defaultValue": {"valueWrittenInCode": true}}),
    )
    .await;
    let id = boolean["id"].as_str().expect("id");
    assert_eq!(
        u.flag(id).await.body["flag"]["variants"],
        json!([]),
        "code default adds nothing"
    );
    u.put_config(
        &boolean,
        prod(),
        json!({"enabled": true, "defaultValue": true}),
    )
    .await;
    assert_eq!(u.flag(id).await.body["flag"]["variants"], json!(["true"]));
    emu.shutdown().await;
}

#[tokio::test]
async fn enabled_flags_cannot_be_deleted_and_deleting_removes_configurations() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let flag = u
        .create_flag(json!({"name": "gone", "isPermanent": true}))
        .await;
    let id = flag["id"].as_str().expect("id");
    u.set_enabled(&flag, staging(), true).await;
    let refused = u.call(Method::DELETE, &format!("/flags/{id}"), None).await;
    assert_unify_error(&refused, 400, 9);
    assert!(refused.text.contains("Staging"), "{}", refused.text);
    assert_eq!(u.flag(id).await.status, 200);
    u.set_enabled(&flag, staging(), false).await;
    let deleted = u.call(Method::DELETE, &format!("/flags/{id}"), None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.body, json!({}));
    assert_unify_error(&u.flag(id).await, 404, 5);
    assert_unify_error(&u.get(&Unify::config_path(&flag, staging())).await, 404, 5);
    assert_unify_error(&u.get("/flags/by-name/gone").await, 404, 5);
    let bulk = u
        .get(&format!("/environments/{}/configuration", staging()))
        .await;
    assert_eq!(bulk.body, json!({"configurations": []}));
    assert_unify_error(
        &u.call(Method::DELETE, &format!("/flags/{id}"), None).await,
        404,
        5,
    );
    // The name is free again; the new flag is a new object with fresh configurations.
    let again = u.create_flag(json!({"name": "gone"})).await;
    assert_ne!(again["id"], flag["id"]);
    assert_eq!(u.config(&again, staging()).await["enabled"], false);
    emu.shutdown().await;
}

#[tokio::test]
async fn referenced_objects_cannot_be_deleted_and_usage_shows_who_refers() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let plan = u
        .create_property(json!({"name": "plan", "type": "String"}))
        .await;
    let group = u
        .create_group(json!({"name": "pro", "conditions": {"property": {"name": "plan", "operator": "eq", "operands": ["pro"]}}}))
        .await;
    let f = u.create_flag(json!({"name": "f"})).await;
    let h = u.create_flag(json!({"name": "h"})).await;
    let put = u
        .put_config(
            &f,
            prod(),
            json!({"enabled": false, "defaultValue": false, "conditions": [
                {"group": {"id": group["id"]}, "flagValue": true},
                {"property": {"name": "plan", "operator": "is-undefined"}, "flagValue": false},
            ]}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let put = u
        .put_config(&h, staging(), json!({"enabled": false, "defaultValue": false, "conditions": [{"flag": {"name": "f", "value": true}, "flagValue": true}]}))
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let (plan_id, group_id, f_id, h_id) = (
        plan["id"].as_str().expect("id"),
        group["id"].as_str().expect("id"),
        f["id"].as_str().expect("id"),
        h["id"].as_str().expect("id"),
    );

    let refused = u
        .call(
            Method::DELETE,
            &format!("/custom-properties/{plan_id}"),
            None,
        )
        .await;
    assert_unify_error(&refused, 400, 9);
    assert!(
        refused.text.contains("target group \\\"pro\\\""),
        "{}",
        refused.text
    );
    assert_unify_error(
        &u.call(Method::DELETE, &format!("/target-groups/{group_id}"), None)
            .await,
        400,
        9,
    );
    let refused = u
        .call(Method::DELETE, &format!("/flags/{f_id}"), None)
        .await;
    assert_unify_error(&refused, 400, 9);
    assert!(refused.text.contains("\\\"h\\\""), "{}", refused.text);
    let rename = u
        .call(
            Method::PUT,
            &format!("/custom-properties/{plan_id}"),
            Some(json!({"name": "tier", "type": "String"})),
        )
        .await;
    assert_unify_error(&rename, 400, 9);

    let with_usage = u.get("/target-groups/with-flags-usage").await;
    assert_eq!(
        with_usage.body["targetGroupsWithFlagUsage"][0]["flagUsage"],
        json!([{"id": f_id, "name": "f", "resourceId": APP}])
    );
    assert_eq!(
        with_usage.body["targetGroupsWithFlagUsage"][0]["name"],
        "pro"
    );
    let per_env = u
        .get(&format!(
            "/target-groups/{group_id}/flag-usage-per-environment"
        ))
        .await;
    assert_eq!(per_env.body["environments"][0]["environmentId"], prod());
    assert_eq!(
        per_env.body["environments"][0]["flagUsage"],
        json!([{"id": f_id, "name": "f", "enabled": false, "resourceId": APP}])
    );
    assert_eq!(per_env.body["environments"][1]["flagUsage"], json!([]));
    let groups = u
        .get(&format!("/custom-properties/{plan_id}/target-group-usage"))
        .await;
    assert_eq!(
        groups.body,
        json!({"targetGroupUsage": [{"id": group_id, "name": "pro", "resourceId": APP}]})
    );
    let property_flags = u
        .get(&format!(
            "/custom-properties/{plan_id}/flag-usage-per-environment"
        ))
        .await;
    assert_eq!(
        property_flags.body["environments"][0]["flagUsage"][0]["name"],
        "f"
    );
    let dependents = u
        .get(&format!("/flags/{f_id}/flag-usage-per-environment"))
        .await;
    assert_eq!(dependents.body["environments"][0]["flagUsage"], json!([]));
    assert_eq!(
        dependents.body["environments"][1]["environmentId"],
        staging()
    );
    assert_eq!(
        dependents.body["environments"][1]["flagUsage"][0]["id"],
        h_id
    );

    // Deleting in reverse order works.
    assert_eq!(
        u.patch_config(&h, staging(), json!({"conditions": []}))
            .await
            .status,
        200
    );
    assert_eq!(
        u.call(Method::DELETE, &format!("/flags/{f_id}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        u.call(Method::DELETE, &format!("/target-groups/{group_id}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        u.call(
            Method::DELETE,
            &format!("/custom-properties/{plan_id}"),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        u.get("/target-groups").await.body,
        json!({"targetGroups": []})
    );
    assert_eq!(
        u.get("/custom-properties").await.body,
        json!({"customProperties": []})
    );
    assert_unify_error(
        &u.get(&format!("/custom-properties/{plan_id}")).await,
        404,
        5,
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn errors_use_the_unify_envelopes() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let flags = u.url("/flags");
    let unauthorized = json!({"error": "you are not authorized to perform this action"});
    for token in [None, Some("wrong")] {
        let answer = send(&u.http, Method::GET, &flags, token, None).await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.body, unauthorized, "{}", answer.text);
    }
    let org = format!("{}/v1/organizations/name?name=x", u.base);
    assert_eq!(
        send(&u.http, Method::GET, &org, None, None).await.body,
        unauthorized
    );

    for path in [
        "/v2/nothing",
        "/v1/applications/x/nothing",
        "/v2/applications/x/flags/a/b/c",
    ] {
        let answer = u.raw(Method::GET, &format!("{}{path}", u.base), None).await;
        assert_unify_error(&answer, 404, 5);
    }
    let wrong_method = u.raw(Method::DELETE, &flags, None).await;
    assert_unify_error(&wrong_method, 405, 12);
    for body in ["{", "", "[1]", "\"flag\""] {
        let answer = send(&u.http, Method::POST, &flags, Some(TOKEN), Some(body)).await;
        assert_unify_error(&answer, 400, 3);
    }
    // The other services keep their own shapes on the shared /v1 prefix.
    let rollouts = format!("{}/v1/workflows/rollout/instances", u.base);
    assert_confidence_error(
        &send(&u.http, Method::GET, &rollouts, None, None).await,
        401,
        16,
    );
    let legacy = format!("{}/public-api/applications/a/target-groups", u.base);
    assert_cloudbees_error(&send(&u.http, Method::GET, &legacy, None, None).await, 401);
    emu.shutdown().await;
}

#[tokio::test]
async fn the_rate_limit_answers_429_and_recovers() {
    let emu = start(EmulatorConfig {
        unify_requests_per_second: Some(2),
        ..config()
    })
    .await;
    let u = Unify::new(&emu);
    let mut statuses = Vec::new();
    // Quick requests until one is refused (a bound, not a timing assertion).
    for _ in 0..100 {
        let answer = u.get("/flags").await;
        statuses.push(answer.status.as_u16());
        if answer.status == 429 {
            assert_unify_error(&answer, 429, 8);
            assert!(
                !answer.headers.contains_key("retry-after"),
                "none documented"
            );
            break;
        }
    }
    assert_eq!(statuses[..2], [200, 200], "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // The legacy API has its own limit (off here).
    let legacy = format!("{}/public-api/applications/a/target-groups", u.base);
    for _ in 0..5 {
        assert_eq!(get(&u.http, &legacy).await.status, 200);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(u.get("/flags").await.status, 200, "recovers after waiting");

    let faults = format!("{}/_emulator/faults", u.base);
    assert_eq!(
        get(&u.http, &faults).await.body["unifyRequestsPerSecond"],
        2
    );
    let zero = send(
        &u.http,
        Method::PUT,
        &faults,
        None,
        Some(r#"{"unifyRequestsPerSecond": 0}"#),
    )
    .await;
    assert_cloudbees_error(&zero, 400);
    let off = send(
        &u.http,
        Method::PUT,
        &faults,
        None,
        Some(r#"{"unifyRequestsPerSecond": null}"#),
    )
    .await;
    assert_eq!(off.body["unifyRequestsPerSecond"], Value::Null);
    for _ in 0..10 {
        assert_eq!(u.get("/flags").await.status, 200);
    }
    emu.shutdown().await;
    let refused = flagsync_emulator::start(
        EmulatorConfig {
            unify_requests_per_second: Some(0),
            ..config()
        },
        loopback(),
    )
    .await;
    assert!(matches!(
        refused,
        Err(flagsync_emulator::EmulatorError::InvalidConfig(_))
    ));
}

#[tokio::test]
async fn injected_faults_use_the_unify_envelope_and_apply_nothing() {
    let emu = start(EmulatorConfig {
        faults: Faults {
            error_rate: 1.0,
            ..Faults::default()
        },
        ..config()
    })
    .await;
    let u = Unify::new(&emu);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..30 {
        let answer = u
            .call(
                Method::POST,
                "/flags",
                Some(json!({"name": format!("f{i}")})),
            )
            .await;
        let status = answer.status.as_u16();
        assert!(
            [500, 503, 429].contains(&status),
            "{status}: never 555 here"
        );
        assert!(answer.body["details"].is_array(), "{}", answer.text);
        let grpc = match status {
            500 => 13,
            503 => 14,
            _ => 8,
        };
        assert_eq!(answer.body["code"], grpc);
        if status == 429 {
            assert!(!answer.headers.contains_key("retry-after"));
        }
        seen.insert(status);
    }
    assert!(seen.len() > 1, "{seen:?}");
    let faults = format!("{}/_emulator/faults", u.base);
    send(
        &u.http,
        Method::PUT,
        &faults,
        None,
        Some(r#"{"errorRate": 0}"#),
    )
    .await;
    assert_eq!(
        u.get("/flags").await.body,
        json!({"flags": []}),
        "nothing applied"
    );
    emu.shutdown().await;
}

/// A create whose answer is lost was applied: the retry conflicts and the name finds it.
#[tokio::test]
async fn a_retried_create_after_a_lost_answer_conflicts() {
    let emu = start(EmulatorConfig {
        faults: Faults {
            drop_after_write_rate: 1.0,
            ..Faults::default()
        },
        ..config()
    })
    .await;
    let u = Unify::new(&emu);
    let lost = u
        .http
        .post(u.url("/flags"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(json!({"name": "once"}).to_string())
        .send()
        .await;
    assert!(lost.is_err(), "the connection closes without an answer");
    let faults = format!("{}/_emulator/faults", u.base);
    send(
        &u.http,
        Method::PUT,
        &faults,
        None,
        Some(r#"{"dropAfterWriteRate": 0}"#),
    )
    .await;
    let retry = u
        .call(Method::POST, "/flags", Some(json!({"name": "once"})))
        .await;
    assert_unify_error(&retry, 409, 6);
    let found = u.get("/flags/by-name/once").await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(
        u.get("/flags").await.body["flags"].as_array().map(Vec::len),
        Some(1)
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let persistent = |sync_writes| EmulatorConfig {
        state_dir: Some(dir.path().to_path_buf()),
        sync_writes,
        ..config()
    };
    let control = |base: &str| format!("{base}/_emulator/unify/organizations");
    let (before, ids) = {
        let emu = start(persistent(true)).await;
        let u = Unify::new(&emu);
        let made = send(
            &u.http,
            Method::POST,
            &control(&u.base),
            None,
            Some(&json!({"domainName": "acme", "environments": [{"name": "qa"}], "applications": [{"name": "web"}]}).to_string()),
        )
        .await;
        assert_eq!(made.status, 200, "{}", made.text);
        let property = u
            .create_property(json!({"name": "plan", "type": "String"}))
            .await;
        let group = u
            .create_group(json!({"name": "pro", "conditions": {"property": {"name": "plan", "operator": "eq", "operands": ["pro"]}}}))
            .await;
        let flag = u
            .create_flag(json!({"name": "a/b ü", "flagType": "String", "labels": ["x"]}))
            .await;
        let put = u
            .put_config(&flag, prod(), json!({"enabled": true, "defaultValue": [{"option": "x", "percentage": 40}, {"option": "y", "percentage": 60}], "conditions": [{"group": {"id": group["id"]}, "flagValue": "z"}]}))
            .await;
        assert_eq!(put.status, 200, "{}", put.text);
        let snapshot = (
            u.flag(flag["id"].as_str().expect("id")).await.body,
            u.config(&flag, prod()).await,
            u.get("/target-groups").await.body,
            u.get("/custom-properties").await.body,
            get(&u.http, &control(&u.base)).await.body,
        );
        let ids = [
            property["id"].clone(),
            group["id"].clone(),
            flag["id"].clone(),
        ];
        (snapshot, ids)
        // Dropped without shutdown, as in a crash: answered writes are on disk.
    };
    let emu = start(persistent(false)).await;
    let u = Unify::new(&emu);
    let flag_id = ids[2].as_str().expect("id");
    assert_eq!(u.flag(flag_id).await.body, before.0);
    let by_name = u.get("/flags/by-name/a%2Fb%20%C3%BC").await;
    assert_eq!(by_name.body, before.0, "{}", by_name.text);
    assert_eq!(
        u.config(&json!({"id": flag_id}), prod()).await,
        before.1,
        "seed kept"
    );
    assert_eq!(u.get("/target-groups").await.body, before.2);
    assert_eq!(u.get("/custom-properties").await.body, before.3);
    assert_eq!(get(&u.http, &control(&u.base)).await.body, before.4);
    // New ids after a restart are new.
    let fresh = u.create_flag(json!({"name": "later"})).await;
    assert!(!ids.contains(&fresh["id"]), "{fresh}");
    let fresh_group = u
        .create_group(json!({"name": "later", "conditions": {"property": {"name": "version", "operator": "semver-gt", "operands": ["1.0.0"]}}}))
        .await;
    assert!(!ids.contains(&fresh_group["id"]));
    emu.shutdown().await;
}

/// A state file from before Unify (format 1) loads: its data is kept, the defaults appear,
/// and it is rewritten in the current format.
#[tokio::test]
async fn a_state_file_of_format_1_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("emulator-state.json");
    std::fs::write(
        &file,
        json!({
            "formatVersion": 1,
            "cloudbees": {"app1": {"environments": {"Production": {"f": {"type": "experiment", "flag": "f", "name": "f", "conditions": [{"value": true}]}}}, "targetGroups": {}}},
            "confidence": {"nextSeq": 0, "rollouts": {}},
        })
        .to_string(),
    )
    .expect("write");
    let emu = start(EmulatorConfig {
        state_dir: Some(dir.path().to_path_buf()),
        ..config()
    })
    .await;
    let http = client();
    let legacy = get(
        &http,
        &format!(
            "{}/applications/app1/Production/experiments/f",
            emu.cloudbees_url()
        ),
    )
    .await;
    assert_eq!(legacy.status, 200, "{}", legacy.text);
    let u = Unify::new(&emu);
    assert_eq!(u.get("/flags").await.body, json!({"flags": []}));
    u.create_flag(json!({"name": "new"})).await;
    emu.shutdown().await;
    let written: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    assert_eq!(written["formatVersion"], 3);
    assert_eq!(
        written["cloudbees"]["app1"]["environments"]["Production"]["f"]["flag"],
        "f"
    );
    assert!(written["unify"]["applications"][APP]["flags"].is_object());
    // An older emulator's check: a file of a newer format is refused, never overwritten.
    let mut newer = written.clone();
    newer["formatVersion"] = json!(4);
    std::fs::write(&file, newer.to_string()).expect("write");
    let refused = flagsync_emulator::start(
        EmulatorConfig {
            state_dir: Some(dir.path().to_path_buf()),
            ..config()
        },
        loopback(),
    )
    .await;
    assert!(matches!(
        refused,
        Err(flagsync_emulator::EmulatorError::NewerState { version: 4, .. })
    ));
}

#[tokio::test]
async fn the_control_endpoint_makes_organizations_applications_and_environments() {
    let emu = start(config()).await;
    let u = Unify::new(&emu);
    let control = format!("{}/_emulator/unify/organizations", u.base);
    let spec = json!({
        "domainName": "acme",
        "displayName": "Acme Inc",
        "environments": [{"name": "prod"}, {"name": "qa", "id": "qa-env"}],
        "applications": [{"name": "web", "repositoryUrl": "https://example.invalid/web.git", "defaultBranch": "main"}, {"name": "api", "environments": ["prod"]}],
    });
    let made = send(
        &u.http,
        Method::POST,
        &control,
        None,
        Some(&spec.to_string()),
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.text);
    let org_id = made.body["id"].as_str().expect("org id").to_owned();
    assert!(is_uuid(&org_id));
    assert_eq!(made.body["environments"][1]["id"], "qa-env");
    let apps = made.body["applications"].as_array().expect("apps").clone();
    assert_eq!(apps[0]["name"], "web");
    assert_eq!(
        apps[0]["linkedEnvironmentIds"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        apps[1]["linkedEnvironmentIds"],
        json!([made.body["environments"][0]["id"]])
    );
    // The same request again changes nothing.
    let again = send(
        &u.http,
        Method::POST,
        &control,
        None,
        Some(&spec.to_string()),
    )
    .await;
    assert_eq!(again.body, made.body);

    let org = u
        .raw(
            Method::GET,
            &format!("{}/v1/organizations/name?name=acme", u.base),
            None,
        )
        .await;
    assert_eq!(org.body["organization"]["id"], org_id.as_str());
    assert_eq!(org.body["organization"]["displayName"], "Acme Inc");
    let with_repo = u
        .raw(
            Method::GET,
            &format!("{}/v1/organizations/{org_id}/services", u.base),
            None,
        )
        .await;
    assert_eq!(with_repo.body["service"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        with_repo.body["service"][0]["repositoryUrl"],
        "https://example.invalid/web.git"
    );

    // Linking an environment later gives existing flags a configuration there.
    let api = u.in_app(apps[1]["id"].as_str().expect("id"));
    let flag = api.create_flag(json!({"name": "f"})).await;
    assert_unify_error(&api.get(&Unify::config_path(&flag, "qa-env")).await, 404, 5);
    let link =
        json!({"domainName": "acme", "applications": [{"name": "api", "environments": ["qa"]}]});
    let linked = send(
        &u.http,
        Method::POST,
        &control,
        None,
        Some(&link.to_string()),
    )
    .await;
    assert_eq!(linked.status, 200, "{}", linked.text);
    let config = api.config(&flag, "qa-env").await;
    assert_eq!(config["enabled"], false);

    for bad in [
        json!({"domainName": "acme", "environments": [{"name": "other", "id": "qa-env"}]}),
        json!({"domainName": "acme", "environments": [{"name": "qa", "id": "another-id"}]}),
        json!({"domainName": "acme", "applications": [{"name": "x", "environments": ["nope"]}]}),
        json!({"domainName": "acme", "unknown": 1}),
        json!({"id": ORG, "domainName": "acme"}),
        json!({"domainName": ""}),
    ] {
        let answer = send(
            &u.http,
            Method::POST,
            &control,
            None,
            Some(&bad.to_string()),
        )
        .await;
        assert_cloudbees_error(&answer, 400);
    }
    let all = get(&u.http, &control).await;
    let domains: Vec<&str> = all.body["organizations"]
        .as_array()
        .expect("orgs")
        .iter()
        .filter_map(|o| o["domainName"].as_str())
        .collect();
    assert_eq!(domains, [UNIFY_DEFAULT_ORGANIZATION_DOMAIN, "acme"]);
    emu.shutdown().await;
}

#[tokio::test]
async fn examples_preload_the_unify_documents_resources() {
    let emu = start(EmulatorConfig {
        preload_examples: true,
        ..EmulatorConfig::default()
    })
    .await;
    let http = client();
    let app = format!(
        "{}/v2/applications/a3b7c5d9-2f4e-8a1c-b6d4-e9f3a7b5c8d1",
        emu.unify_url()
    );
    let list = send(
        &http,
        Method::GET,
        &format!("{app}/flags?configStateEnvs=e4b7c2d9-8f5a-4c3e-b1d6-a9f3e7c5b8d2"),
        Some("YOUR_TOKEN"),
        None,
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let flag = &list.body["flags"][0];
    assert_eq!(flag["id"], "f7d3c8a1-4b2e-5f9a-b6c4-e1d8f3a7b5c2");
    assert_eq!(flag["name"], "default.newDashboard");
    assert_eq!(flag["labels"], json!(["frontend", "q1-release"]));
    assert_eq!(flag["configStates"][0]["enabled"], true);
    let group = send(
        &http,
        Method::GET,
        &format!("{app}/target-groups/12345678-1234-5678-1234-56781234abcd"),
        Some("YOUR_API_TOKEN"),
        None,
    )
    .await;
    assert_eq!(
        group.body["targetGroup"]["name"], "BetaTesters",
        "{}",
        group.text
    );
    let property = send(
        &http,
        Method::GET,
        &format!("{app}/custom-properties/by-name/exampleProperty"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(
        property.body["customProperty"]["description"],
        "Example description"
    );
    // The default organization is still there, with its own application.
    let envs = send(
        &http,
        Method::GET,
        &format!("{}/v2/organizations/{ORG}/environments", emu.unify_url()),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(envs.body["environments"].as_array().map(Vec::len), Some(5));
    emu.shutdown().await;
}

/// The README's table of the default ids is a copy for users: it must stay true.
#[test]
fn the_readme_names_the_default_ids() {
    let readme = include_str!("../../../README.md");
    let mut rows = vec![
        format!("`{UNIFY_DEFAULT_ORGANIZATION_DOMAIN}` (domain name) | `{ORG}`"),
        format!(
            "`{}` | `{APP}`",
            flagsync_emulator::UNIFY_DEFAULT_APPLICATION_NAME
        ),
    ];
    rows.extend(
        UNIFY_DEFAULT_ENVIRONMENTS
            .iter()
            .map(|(id, name)| format!("`{name}` | `{id}`")),
    );
    for row in rows {
        assert!(readme.contains(&row), "README.md lacks {row:?}");
    }
}
