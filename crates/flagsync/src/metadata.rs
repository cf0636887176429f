//! The `metadata` of every JSON document flagsync prints: its version, the repository's git
//! revision, and the providers (applications, environments) the document covers.

use flagsync_manifest::model::Config;
use flagsync_plan::{Metadata, ProviderScope, RepoRevision};
use flagsync_source::Source;

/// Metadata for a document made from `source` with `config`; `environments` narrows the
/// CloudBees environments listed (`--env`; empty: all).
pub fn of(source: &dyn Source, config: Option<&Config>, environments: &[String]) -> Metadata {
    Metadata {
        revision: source.revision().map(|r| RepoRevision {
            rev: r.name,
            commit: r.commit,
            modified: r.modified,
        }),
        providers: config
            .map(|c| ProviderScope::of(c, environments))
            .unwrap_or_default(),
        ..Metadata::default()
    }
}
