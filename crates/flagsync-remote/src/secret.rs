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

    /// Replaces every occurrence of this secret in `text` by `[redacted]`. Used on text that
    /// comes back from a server, which could in principle echo a credential.
    pub(crate) fn scrub(&self, text: &str) -> String {
        // Very short values would redact ordinary words; real tokens are long.
        if self.0.len() < 4 {
            return text.to_owned();
        }
        text.replace(&*self.0, "[redacted]")
    }
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
    fn scrub_removes_every_occurrence() {
        let s = Secret::new("tok-abcdef");
        assert_eq!(
            s.scrub("bad token tok-abcdef, again tok-abcdef"),
            "bad token [redacted], again [redacted]"
        );
        assert_eq!(Secret::new("ab").scrub("ab cd"), "ab cd");
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
