//! `flagsync convert --to unify`: a legacy CloudBees repository as the files of a CloudBees
//! Unify CasC tree (the translation is `flagsync_plan::unify::translate`'s, the manifests
//! `flagsync_manifest::write`'s), with the flagsync.yaml that points at the account when it
//! is known. Offline; nothing is written here.

use flagsync_manifest::model::unify::DEFAULT_CASC_DIR;
use flagsync_manifest::model::{
    CloudbeesApi, CloudbeesConfig, Config, DEFAULT_CLOUDBEES_TOKEN_ENV,
};
use flagsync_manifest::write::{self, CascError, CascResource, File, Mismatch};
use flagsync_manifest::{CONFIG_FILE, Loaded};
use flagsync_plan::normalize;
use flagsync_plan::unify::translate::{Translation, translate};

/// The CloudBees Unify account a converted repository's flagsync.yaml names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnifyAccount {
    /// Its id or domain name.
    pub organization: String,
    pub application: String,
}

/// A converted repository, not yet written.
#[derive(Debug)]
pub struct Conversion {
    /// The translation, with its findings (what could not be carried over, or was
    /// carried over differently).
    pub translation: Translation,
    /// The files of the CasC tree, and flagsync.yaml when the account was known.
    pub files: Vec<File>,
    /// Resources whose manifest does not normalize back to the translation exactly, and
    /// how it differs.
    pub not_reproduced: Vec<(String, Mismatch)>,
    /// Whether `files` holds a flagsync.yaml.
    pub wrote_config: bool,
}

/// `loaded` (a legacy repository without errors) as a CasC tree; with `account`, also the
/// flagsync.yaml that plans it against that account.
pub fn to_unify(loaded: &Loaded, account: Option<UnifyAccount>) -> Result<Conversion, CascError> {
    let translation = translate(&loaded.repository);
    let resources: Vec<CascResource<'_>> = translation
        .resources
        .iter()
        .map(|r| CascResource {
            kind: r.key.kind,
            env: r.key.env.as_deref(),
            identity: &r.key.name,
            canonical: &r.body,
        })
        .collect();
    let tree = write::casc_tree(DEFAULT_CASC_DIR, &resources, &normalize::manifest_body)?;
    let not_reproduced = tree.not_reproduced;
    let mut files = tree.files;
    let config = account.map(|account| unify_config(loaded, account));
    if let Some(config) = &config {
        files.push(File {
            rel: CONFIG_FILE.to_owned(),
            content: config_text(config),
            replaces: None,
        });
    }
    Ok(Conversion {
        translation,
        files,
        not_reproduced,
        wrote_config: config.is_some(),
    })
}

/// The flagsync.yaml of the converted repository: the account, the token variable and the
/// environments of the legacy one.
fn unify_config(loaded: &Loaded, account: UnifyAccount) -> Config {
    let source = loaded.repository.config.as_ref();
    let token_env = source.and_then(|c| c.cloudbees.as_ref()).map_or_else(
        || DEFAULT_CLOUDBEES_TOKEN_ENV.to_owned(),
        |cb| cb.token_env.clone(),
    );
    Config {
        cloudbees: Some(CloudbeesConfig {
            api: CloudbeesApi::Unify,
            organization: Some(account.organization),
            application: account.application,
            token_env,
            url: None,
            requests_per_second: None,
            target_groups: None,
            casc: Some(DEFAULT_CASC_DIR.to_owned()),
            environments: loaded
                .repository
                .environments
                .iter()
                .map(|e| (e.name.clone(), Default::default()))
                .collect(),
        }),
        confidence: None,
        emulator: source.and_then(|c| c.emulator.clone()),
        // The team's choice about pruning carries over with the rest of the repository.
        prune: source.is_some_and(|c| c.prune),
    }
}

fn config_text(config: &Config) -> String {
    // A Config always serializes: its fields are strings, maps and booleans.
    let value = serde_json::to_value(config).unwrap_or_default();
    format!(
        "# CloudBees Unify, written by `flagsync convert --to unify`.\n{}",
        write::to_yaml(&value)
    )
}
