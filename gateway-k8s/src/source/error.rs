//! Why loading a directory failed.

use std::{fmt, io, path::PathBuf};

/// Loading a directory failed; the caller keeps serving its last good snapshot.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The directory, one of its subdirectories or a file could not be read (missing,
    /// unreadable, not UTF-8, a symlink loop, ...).
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// One or more documents are not valid; every one of them is listed.
    #[error("{} invalid document(s):{}", .errors.len(), Lines(.errors))]
    Invalid {
        /// The failing documents, in file order.
        errors: Vec<ParseError>,
    },
}

/// One document that could not be decoded.
///
/// Displays as `manifests/routes.yaml: document 2 (line 14): spec.rules[0].matches: ...`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: document {document} (line {line}): {reason}", .file.display())]
pub struct ParseError {
    /// The file, as the directory walk reached it (the directory joined with its path).
    pub file: PathBuf,
    /// 0-based index of the document within the file.
    pub document: usize,
    /// 1-based line in the file: where the parser stopped when it knows, else the first
    /// line of the document's content.
    pub line: usize,
    /// What is wrong, starting with the field path when there is one.
    pub reason: String,
}

/// Displays errors one per line, each on a new line.
struct Lines<'a>(&'a [ParseError]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|error| write!(f, "\n  {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_every_document() {
        let error = |document, line| ParseError {
            file: PathBuf::from("manifests/routes.yaml"),
            document,
            line,
            reason: "spec.rules[0].backendRefs[0].port: invalid value `x`, expected u16".into(),
        };
        assert_eq!(
            error(2, 14).to_string(),
            "manifests/routes.yaml: document 2 (line 14): \
             spec.rules[0].backendRefs[0].port: invalid value `x`, expected u16"
        );
        let all = LoadError::Invalid {
            errors: vec![error(0, 1), error(2, 14)],
        };
        let text = all.to_string();
        assert!(text.starts_with("2 invalid document(s):\n  manifests/routes.yaml: document 0"));
        assert!(text.contains("\n  manifests/routes.yaml: document 2 (line 14)"));
    }
}
