//! The stable codes of diagnostics. Their string forms are a public contract: `validate
//! --format json` prints them and tools match on them. README.md lists them (a test keeps
//! that list equal to this one).

use serde::{Serialize, Serializer};

macro_rules! codes {
    ($($variant:ident = $name:literal, $severity:literal, $meaning:literal;)*) => {
        /// What a [`crate::Diagnostic`] is about.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $(#[doc = $meaning] $variant,)*
        }

        impl Code {
            /// Every code, in the order README.md lists them.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable string form, e.g. `unknown-field`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }

            /// The severity it is reported with, as documented (some codes are warnings in
            /// some cases).
            pub fn documented_severity(self) -> &'static str {
                match self {
                    $(Code::$variant => $severity,)*
                }
            }

            /// What it means, as documented.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$variant => $meaning,)*
                }
            }
        }
    };
}

codes! {
    // Reading files.
    ReadError = "read-error", "error", "a file or directory cannot be read";
    RefusedPath = "refused-path", "error (a warning for a file that is not a manifest)", "a path not read: a link leaving the repository, a link loop, or a special file";
    FileTooLarge = "file-too-large", "error", "the file is larger than a manifest may be (4 MiB)";
    InvalidUtf8 = "invalid-utf8", "error", "the file is not UTF-8 text";
    EmptyFile = "empty-file", "error", "the file holds no YAML document";
    YamlSyntax = "yaml-syntax", "error", "the file is not valid YAML";
    MultipleDocuments = "multiple-documents", "error", "the file holds more than one YAML document";
    YamlTooDeep = "yaml-too-deep", "error", "the YAML nests deeper than flagsync reads";
    YamlTooLarge = "yaml-too-large", "error", "the YAML has more nodes than flagsync reads";
    YamlLimit = "yaml-limit", "error", "the YAML exceeds a limit of the reader (aliases, size)";
    DuplicateKey = "duplicate-key", "error", "a mapping has the same key twice";
    InexactNumber = "inexact-number", "error", "a number beyond ±2^53, which the services would round";
    // Structure.
    MissingType = "missing-type", "error", "a manifest has no `type`";
    UnknownType = "unknown-type", "error", "`type` names no manifest kind";
    MisplacedManifest = "misplaced-manifest", "error", "a manifest is in the directory of another kind";
    UnknownField = "unknown-field", "error", "a field the manifest kind does not have";
    UnknownVariant = "unknown-variant", "error", "a value that is not one of the words the field takes";
    MissingField = "missing-field", "error", "a required field is missing";
    InvalidType = "invalid-type", "error", "a value has the wrong type, or a manifest is not a mapping";
    InvalidValue = "invalid-value", "error (a warning for a rollout flag not named `flags/<name>`)", "a value the field does not accept (empty, out of its form)";
    UnusedField = "unused-field", "warning", "a field that means nothing here and is not sent";
    // Experiments and target groups.
    ValueNotAvailable = "value-not-available", "warning", "a value that is not one of the flag's `availableValues`";
    PercentageRange = "percentage-range", "error", "a percentage outside 0..100, or a split adding up to more than 100";
    SplitUnder100 = "split-under-100", "warning", "the percentages of a non-boolean flag's split add up to less than 100";
    ScheduleNonBoolean = "schedule-non-boolean", "error", "a schedule on a flag that is not boolean";
    InvalidTimestamp = "invalid-timestamp", "error", "a timestamp that is not an ISO-8601 instant";
    EmptyCondition = "empty-condition", "warning", "a condition with neither a test nor a value: it serves the code default to everyone";
    InvalidCondition = "invalid-condition", "error", "a condition that mixes two forms, or has none";
    InvalidSemver = "invalid-semver", "error", "a version that is not dot-separated numbers with an optional pre-release (1 to 3 numbers in a rollout)";
    InvalidOperand = "invalid-operand", "error", "an operand of the wrong shape for its operator";
    MissingOperand = "missing-operand", "error", "an operator that needs an operand has none";
    UnusedOperand = "unused-operand", "warning", "an operand given to an operator that takes none";
    InvalidRegex = "invalid-regex", "warning", "a pattern that may not be a valid regular expression";
    IgnoredName = "ignored-name", "warning", "an experiment `name` other than the flag's own name as a label: the service ignores it, so flagsync neither sends, compares nor exports it";
    ArchivedConflict = "archived-conflict", "error", "an `archived:` that contradicts the folder (files under `experiments/archived/` are archived, others not)";
    // Rollouts.
    InvalidName = "invalid-name", "error", "a flag or target-group name that no request can address (`.` or `..`)";
    InvalidId = "invalid-id", "error", "a rollout `id` that is not a valid label value";
    ServerManagedField = "server-managed-field", "error", "a field only the service writes";
    ReservedLabel = "reserved-label", "error", "a label flagsync sets itself";
    ReachRange = "reach-range", "error", "a reach outside 0..1";
    InvalidReach = "invalid-reach", "error", "a reach that is not a decimal fraction";
    InvalidCriterion = "invalid-criterion", "error", "a targeting criterion without exactly one rule or form";
    StringRuleValue = "string-rule-value", "error", "a `startsWithRule`, `endsWithRule` or `containsRule` whose value is not a plain string";
    UnusedCriterion = "unused-criterion", "warning", "a targeting criterion the expression does not use";
    InvalidExpression = "invalid-expression", "error", "a targeting expression node without exactly one operation";
    UnknownRef = "unknown-ref", "error", "an expression names no criterion of its targeting";
    // flagsync.yaml.
    InvalidEnvName = "invalid-env-name", "error", "a credential setting that is not an environment variable name";
    InvalidPath = "invalid-path", "error", "a directory that is not a relative path inside the repository";
    InvalidEnvironment = "invalid-environment", "error", "an environment with neither `experiments` nor `branch`";
    InvalidAuth = "invalid-auth", "error", "Confidence credentials that are neither a token nor a client id and secret";
    NoEnvironments = "no-environments", "warning", "`cloudbees` lists no environments";
    NoProviders = "no-providers", "error", "flagsync.yaml configures no provider";
    BranchUnavailable = "branch-unavailable", "error", "an environment's branch cannot be read";
    NoManifests = "no-manifests", "error", "there are no manifests to read";
    UnknownEnvironment = "unknown-environment", "error", "an environment that does not exist: `plan`/`apply` found one in flagsync.yaml that the CloudBees application does not have, or a CloudBees Unify configuration is outside a configured environment's folder";
    // Across files.
    DuplicateIdentity = "duplicate-identity", "error", "two files (or two platforms of one experiment) declare one identity";
    UnknownTargetGroup = "unknown-target-group", "error (a warning in a legacy repository)", "a reference to a target group no manifest declares";
    UnknownDependency = "unknown-dependency", "error (a warning in a legacy repository)", "a dependency on a flag the environment does not configure";
    GroupCycle = "group-cycle", "error", "target groups include each other in a cycle";
    DependencyCycle = "dependency-cycle", "error", "flags depend on each other in a cycle";
    // CloudBees Unify.
    MissingKind = "missing-kind", "error", "a CloudBees Unify CasC manifest has no `kind`";
    UnknownKind = "unknown-kind", "error", "`kind` names no CloudBees Unify CasC manifest kind";
    ValueType = "value-type", "error", "a value that is not of its flag's type (CloudBees Unify)";
    SplitSum = "split-sum", "error", "the percentages of a CloudBees Unify split do not add up to exactly 100";
    UnknownFlag = "unknown-flag", "error", "a reference to a flag no `flag` manifest declares (CloudBees Unify)";
    UnknownProperty = "unknown-property", "error", "a condition on a property that is neither declared nor built in (CloudBees Unify)";
    NoUnifyEquivalent = "no-unify-equivalent", "error (a warning for what does not change what a flag serves: an archived mark, a description that differs between environments)", "a part of a legacy manifest that CloudBees Unify cannot express (a platform's flag name, a schedule step serving `false`, ...)";
    InferredTranslation = "inferred-translation", "warning", "a part of a legacy manifest carried over to CloudBees Unify by a mapping the sources only infer (`platforms` as conditions on `rox.platform`)";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{s}"
            );
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(s));
        }
    }
}
