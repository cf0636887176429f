//! A credential that never shows itself.

use std::fmt;
use std::sync::Arc;

/// An API token or client secret.
///
/// `Debug` and `Display` print `[redacted]`, and the type deliberately implements neither
/// `Serialize` nor `PartialEq`, so a secret cannot end up in a plan file, a log line or an
/// error message by accident. The only way to read the value is [`Secret::expose`], which the
/// HTTP layer calls when it builds an `Authorization` header.
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a credential value (typically read from an environment variable by the binary).
    pub fn new(value: impl Into<String>) -> Self {
        Self(Arc::from(value.into()))
    }

    /// The raw value. Use it only to build a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the value is empty (the binary reports this as a configuration problem).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// [`scrub_all`] with this secret alone.
    #[cfg(test)]
    pub(crate) fn scrub(&self, text: &str) -> String {
        scrub_all(text, [self])
    }

    /// The spellings of this secret a server may echo: as is, escaped inside a JSON string,
    /// and percent-encoded (a form body or a URL).
    fn spellings(&self) -> Vec<String> {
        let raw = self.expose().to_owned();
        let json = serde_json::to_string(&raw)
            .ok()
            .and_then(|quoted| Some(quoted.get(1..quoted.len().checked_sub(1)?)?.to_owned()));
        let percent =
            percent_encoding::utf8_percent_encode(&raw, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let mut out = vec![raw];
        for other in json.into_iter().chain([percent]) {
            if !out.contains(&other) {
                out.push(other);
            }
        }
        out
    }
}

/// Secrets shorter than this (in characters) would match ordinary words if redacted in
/// place, and the gaps would spell them out: a text holding one is withheld whole.
const SHORT_SECRET_CHARS: usize = 12;

/// What replaces a text that held a short secret.
pub(crate) const WITHHELD: &str = "[the answer is not shown: it contains a credential]";

/// `text` (something a server sent back) with every spelling of every secret replaced by
/// `[redacted]`, or [`WITHHELD`] when it holds a short secret; whatever their length,
/// secrets never come back out.
pub(crate) fn scrub_all<'s>(text: &str, secrets: impl IntoIterator<Item = &'s Secret>) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if secret.is_empty() {
            continue;
        }
        let short = secret.expose().chars().count() < SHORT_SECRET_CHARS;
        for spelling in secret.spellings() {
            if !out.contains(&spelling) {
                continue;
            }
            if short {
                return WITHHELD.to_owned();
            }
            out = out.replace(&spelling, "[redacted]");
        }
    }
    out
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("super-secret-token-123");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert!(!format!("{s:#?}").contains("super-secret"));
        assert_eq!(s.expose(), "super-secret-token-123");
    }

    #[test]
    fn scrub_removes_every_occurrence_and_spelling() {
        let s = Secret::new("tok-abcdef/\"123");
        assert_eq!(
            s.scrub("bad token tok-abcdef/\"123, again tok-abcdef/\"123"),
            "bad token [redacted], again [redacted]"
        );
        assert_eq!(
            s.scrub(r#"{"clientSecret":"tok-abcdef/\"123"}"#),
            r#"{"clientSecret":"[redacted]"}"#
        );
        assert_eq!(
            s.scrub("clientSecret=tok%2Dabcdef%2F%22123"),
            "clientSecret=[redacted]"
        );
    }

    #[test]
    fn a_short_secret_withholds_the_whole_text() {
        // Redacted in place, `ab` would leave "[redacted] c[redacted]" and spell itself out.
        assert_eq!(Secret::new("ab").scrub("ab cab"), WITHHELD);
        assert_eq!(Secret::new("ab").scrub("nothing here"), "nothing here");
        assert_eq!(Secret::new("").scrub("text"), "text");
        let id = Secret::new("client-7");
        let secret = Secret::new("a-long-client-secret");
        assert_eq!(
            scrub_all("client-7 / a-long-client-secret", [&secret, &id]),
            WITHHELD
        );
        assert_eq!(
            scrub_all("a-long-client-secret", [&secret, &id]),
            "[redacted]"
        );
    }

    #[test]
    fn a_struct_holding_a_secret_debugs_redacted() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            token: Secret,
        }
        let h = Holder {
            token: Secret::new("xyz-very-secret"),
        };
        assert!(!format!("{h:?}").contains("xyz-very-secret"));
    }
}
