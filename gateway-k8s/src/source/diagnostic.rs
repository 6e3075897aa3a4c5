//! Turning serde-saphyr errors into one-line reasons with a line number.

use std::borrow::Cow;

use serde_saphyr::{MessageFormatter, UserMessageFormatter};

/// Why a document could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DocumentError {
    /// 1-based line within the document text, when the YAML parser knows it.
    pub(crate) line: Option<usize>,
    /// What went wrong, prefixed with the field path when there is one.
    pub(crate) reason: String,
}

/// A serde-saphyr error as a [`DocumentError`]: its message (without the location suffix,
/// which the caller renders as a file line) and the line it carries.
pub(crate) fn document_error(
    text: &str,
    path: Option<&str>,
    error: &serde_saphyr::Error,
) -> DocumentError {
    let message = match error {
        // serde-saphyr says only "invalid u16"; name the offending scalar too.
        serde_saphyr::Error::InvalidScalar { ty, location } => match scalar_at(text, location) {
            Some(value) => format!("invalid value `{}`, expected {ty}", shorten(value)),
            None => format!("invalid {ty}"),
        },
        _ => UserMessageFormatter.format_message(error).into_owned(),
    };
    let message = one_line(message);
    // A syntax error is about the text, not a field: its path is only where the
    // deserializer happened to be.
    let syntax = matches!(
        error,
        serde_saphyr::Error::ExternalMessage { .. }
            | serde_saphyr::Error::Eof { .. }
            | serde_saphyr::Error::UnknownAnchor { .. }
    );
    let reason = match path {
        Some(path) if !syntax && !path.is_empty() && path != "." => format!("{path}: {message}"),
        _ => message,
    };
    let line = error
        .location()
        .and_then(|l| usize::try_from(l.line()).ok())
        .filter(|&line| line > 0);
    DocumentError { line, reason }
}

/// The source text of the scalar at `location`, if its byte span is known.
fn scalar_at<'a>(text: &'a str, location: &serde_saphyr::Location) -> Option<&'a str> {
    let span = location.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    text.get(start..start.checked_add(len)?)
}

/// At most 60 characters of `value`, marked when cut.
fn shorten(value: &str) -> Cow<'_, str> {
    const MAX: usize = 60;
    match value.char_indices().nth(MAX) {
        Some((end, _)) => Cow::Owned(format!("{}...", &value[..end])),
        None => Cow::Borrowed(value),
    }
}

/// Escapes control characters (a line break in a quoted value, say) so that a reason
/// stays on one line of a log.
fn one_line(message: String) -> String {
    if !message.contains(char::is_control) {
        return message;
    }
    message
        .chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("a\nb".into()), "a\\nb");
        assert_eq!(one_line("ünïcode \"q\"".into()), "ünïcode \"q\"");
    }

    #[test]
    fn long_values_are_cut() {
        assert_eq!(shorten(&"x".repeat(70)), format!("{}...", "x".repeat(60)));
        assert_eq!(shorten("short"), "short");
    }
}
