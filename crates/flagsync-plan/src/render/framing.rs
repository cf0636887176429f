//! What a rendered plan compares and what it says around its actions: `flagsync plan`
//! compares the repository with live state; `flagsync diff` compares two revisions, which
//! changes the title, the no-changes sentence, what a deletion warning speaks of, and how
//! to see everything. Each renderer asks the framing for its wording instead of having its
//! output rewritten afterwards.

use super::human::printable;
use super::markdown::code_span;

/// The words around a rendered plan. The default is `flagsync plan`'s: the repository
/// against live state, no notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Framing {
    pub compared: Compared,
    /// What the reader must know about how the sides were read; shown after the summary
    /// line.
    pub notes: Vec<Phrase>,
}

/// What the plan compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Compared {
    /// The repository against live state (`flagsync plan`).
    #[default]
    LiveState,
    /// The desired state of `head` against that of `base`, offline (`flagsync diff`).
    Revisions { base: Revision, head: Revision },
}

/// One revision of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// As the user wrote it, e.g. `origin/main`.
    pub rev: String,
    /// The full commit id it resolved to; `None` when it was not read.
    pub commit: Option<String>,
    /// What to call it, e.g. `origin/main (abc1234)`.
    pub described: String,
}

impl Framing {
    /// The summary line when nothing changes, when it differs from the plan's.
    pub(crate) fn no_changes(&self) -> Option<Phrase> {
        match &self.compared {
            Compared::LiveState => None,
            Compared::Revisions { base, head } => Some(
                Phrase::new()
                    .text("No changes. ")
                    .name(&head.rev)
                    .text(" declares the same desired state as ")
                    .name(&base.rev)
                    .text("."),
            ),
        }
    }

    /// What deletes, in "This … **deletes N resources**".
    pub(crate) fn subject(&self) -> &'static str {
        match self.compared {
            Compared::LiveState => "plan",
            Compared::Revisions { .. } => "change",
        }
    }
}

/// A sentence with names in it; each format quotes the names its own way (in backticks
/// for a terminal and JSON, as code spans in markdown) and keeps their control characters
/// from acting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Phrase {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Name(String),
}

impl Phrase {
    pub fn new() -> Self {
        Self::default()
    }

    /// Words of our own.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.parts.push(Part::Text(text.into()));
        self
    }

    /// A name from a repository or a user: quoted, shown literally.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.parts.push(Part::Name(name.into()));
        self
    }

    /// For a terminal or JSON: names in backticks, control characters escaped.
    pub fn plain(&self) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.clone(),
                Part::Name(name) => format!("`{}`", printable(name)),
            })
            .collect()
    }

    /// For markdown: names as code spans.
    pub fn markdown(&self) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.clone(),
                Part::Name(name) => code_span(name),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_quote_names_per_format() {
        let note = Phrase::new()
            .text("Environment ")
            .name("Staging")
            .text(" on ")
            .name("st`g")
            .text(".");
        assert_eq!(note.plain(), "Environment `Staging` on `st`g`.");
        assert_eq!(note.markdown(), "Environment `Staging` on ``st`g``.");
    }
}
