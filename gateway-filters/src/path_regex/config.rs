//! The validated rewrite: a compiled pattern and a substitution in the `regex` crate's form.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use regex::{Regex, RegexBuilder};
use serde::{Serialize, Serializer};
use std::{fmt::Write as _, sync::Arc};

use crate::spec::FieldError;

/// Bound on the compiled size of a pattern, so that a configuration cannot make the gateway
/// build an automaton of unbounded size.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Characters of a substitution that cannot appear raw in a URI path; they are
/// percent-encoded (`%` itself is kept, so pre-encoded text passes unchanged).
const NOT_IN_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A validated `pathRegex` rewrite; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct PathRegexConfig {
    /// The compiled pattern.
    regex: Regex,
    /// The substitution in the `regex` crate's replacement syntax (`${1}`, `${name}`, `$$`).
    replacement: Box<str>,
    /// The substitution as configured, shown by the config dump.
    substitution: Arc<str>,
}

impl PathRegexConfig {
    /// Compiles `pattern` and converts `substitution` (`\1`, `\g<name>`, `\\`) into the
    /// `regex` crate's replacement syntax. Errors name `pattern` or `substitution`.
    pub fn new(pattern: &str, substitution: &str) -> Result<Self, FieldError> {
        let regex = RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| FieldError::new("pattern", format!("invalid regular expression: {e}")))?;
        let replacement = convert_substitution(substitution, &regex)
            .map_err(|reason| FieldError::new("substitution", reason))?;
        Ok(Self {
            regex,
            replacement: replacement.into(),
            substitution: substitution.into(),
        })
    }

    /// The pattern as configured.
    pub fn pattern(&self) -> &str {
        self.regex.as_str()
    }

    /// The substitution as configured.
    pub fn substitution(&self) -> &str {
        &self.substitution
    }

    /// The rewritten path, or `None` when the pattern does not match `path` (no allocation
    /// then). The result always starts with `/`.
    pub fn rewrite(&self, path: &str) -> Option<String> {
        match self.regex.replace_all(path, &*self.replacement) {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(rewritten) if rewritten.starts_with('/') => Some(rewritten),
            std::borrow::Cow::Owned(rewritten) => Some(format!("/{rewritten}")),
        }
    }
}

impl PartialEq for PathRegexConfig {
    fn eq(&self, other: &Self) -> bool {
        self.pattern() == other.pattern() && self.substitution == other.substitution
    }
}

impl Eq for PathRegexConfig {}

impl Serialize for PathRegexConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut state = serializer.serialize_struct("PathRegexConfig", 2)?;
        state.serialize_field("pattern", self.pattern())?;
        state.serialize_field("substitution", &*self.substitution)?;
        state.end()
    }
}

/// Converts an RE2/Envoy-style substitution into the `regex` crate's replacement syntax:
/// `\N` (one digit) becomes `${N}`, `\g<name>` becomes `${name}`, `\\` a backslash, `$` is
/// escaped as `$$`, and literal text is percent-encoded where a path needs it.
fn convert_substitution(substitution: &str, regex: &Regex) -> Result<String, String> {
    let mut out = String::with_capacity(substitution.len() + 8);
    let mut rest = substitution;
    while let Some(at) = rest.find(['\\', '$']) {
        push_literal(&mut out, &rest[..at]);
        let special = &rest[at..];
        if let Some(after) = special.strip_prefix('$') {
            out.push_str("$$");
            rest = after;
            continue;
        }
        let escaped = &special[1..];
        let mut chars = escaped.chars();
        match chars.next() {
            Some('\\') => {
                out.push('\\');
                rest = chars.as_str();
            }
            Some(digit @ '0'..='9') => {
                let group = digit as usize - '0' as usize;
                if group >= regex.captures_len() {
                    return Err(format!(
                        "\\{group} refers to group {group}, but the pattern has {} capture group(s)",
                        regex.captures_len() - 1
                    ));
                }
                let _ = write!(out, "${{{group}}}");
                rest = chars.as_str();
            }
            Some('g') if chars.as_str().starts_with('<') => {
                let body = &chars.as_str()[1..];
                let end = body
                    .find('>')
                    .ok_or_else(|| "\\g<name> is missing its closing `>`".to_owned())?;
                let name = &body[..end];
                let known = match name.parse::<usize>() {
                    Ok(index) => index < regex.captures_len(),
                    Err(_) => regex.capture_names().flatten().any(|n| n == name),
                };
                if !known {
                    return Err(format!(
                        "\\g<{name}> refers to a group the pattern does not have"
                    ));
                }
                let _ = write!(out, "${{{name}}}");
                rest = &body[end + 1..];
            }
            Some(other) => {
                return Err(format!(
                    "`\\{other}` is not a valid escape (use \\0 to \\9, \\g<name> or \\\\)"
                ));
            }
            None => return Err("ends with a lone `\\`".to_owned()),
        }
    }
    push_literal(&mut out, rest);
    Ok(out)
}

/// Appends literal substitution text, percent-encoding what a path cannot hold.
fn push_literal(out: &mut String, literal: &str) {
    out.extend(utf8_percent_encode(literal, NOT_IN_PATH));
}
