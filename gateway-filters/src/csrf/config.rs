//! Configuration of the CSRF filter.

use regex::{Regex, RegexBuilder};
use serde::{Serialize, Serializer, ser::SerializeMap};
use std::hash::{Hash, Hasher};

use crate::spec::Percent;

/// Largest compiled size of a user regex: enough for origin patterns, bounded for safety.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A CSRF policy (kgateway `CSRFPolicy`, Envoy's `CsrfPolicy`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CsrfConfig {
    /// Share of requests checked and enforced. kgateway's default, and this type's: 0,
    /// which leaves the filter off unless shadowed.
    pub percentage_enabled: Percent,
    /// Share of requests checked but not enforced (only counted and logged): shadow mode.
    /// Default 0.
    pub percentage_shadowed: Percent,
    /// Source origins allowed besides the destination's own.
    pub additional_origins: Vec<OriginMatcher>,
}

impl Default for CsrfConfig {
    /// kgateway's defaults: neither enabled nor shadowed (0 %), no additional origins.
    fn default() -> Self {
        Self {
            percentage_enabled: Percent::ZERO,
            percentage_shadowed: Percent::ZERO,
            additional_origins: Vec::new(),
        }
    }
}

/// A string matcher for a source origin (kgateway and Envoy `StringMatcher`). The origin
/// it sees is the `host[:port]` part of `Origin` or `Referer` (`example.com`,
/// `example.com:8443`), not the whole URL.
#[derive(Clone, Debug)]
pub struct OriginMatcher {
    pattern: Pattern,
    ignore_case: bool,
}

#[derive(Clone, Debug)]
enum Pattern {
    Exact(Box<str>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    Contains(Box<str>),
    /// Anchored at both ends: the whole origin must match.
    SafeRegex(Box<str>, Regex),
}

impl OriginMatcher {
    /// Matches exactly `value`.
    pub fn exact(value: &str) -> Self {
        Self::new(Pattern::Exact(value.into()))
    }

    /// Matches origins starting with `value`.
    pub fn prefix(value: &str) -> Self {
        Self::new(Pattern::Prefix(value.into()))
    }

    /// Matches origins ending with `value`.
    pub fn suffix(value: &str) -> Self {
        Self::new(Pattern::Suffix(value.into()))
    }

    /// Matches origins containing `value`.
    pub fn contains(value: &str) -> Self {
        Self::new(Pattern::Contains(value.into()))
    }

    /// Matches origins the RE2-style regex `pattern` matches as a whole.
    pub fn safe_regex(pattern: &str) -> Result<Self, regex::Error> {
        let regex = RegexBuilder::new(&format!("^(?:{pattern})$"))
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()?;
        Ok(Self::new(Pattern::SafeRegex(pattern.into(), regex)))
    }

    fn new(pattern: Pattern) -> Self {
        Self {
            pattern,
            ignore_case: false,
        }
    }

    /// The same matcher comparing ASCII letters without regard to case (not for regexes,
    /// as in kgateway and Envoy).
    #[must_use]
    pub fn ignoring_case(mut self) -> Self {
        self.ignore_case = true;
        self
    }

    /// Whether `origin` (`host[:port]`) matches.
    pub fn matches(&self, origin: &str) -> bool {
        let origin = origin.as_bytes();
        let same = |a: &[u8], b: &[u8]| {
            if self.ignore_case {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        match &self.pattern {
            Pattern::Exact(value) => same(origin, value.as_bytes()),
            Pattern::Prefix(value) => origin
                .get(..value.len())
                .is_some_and(|head| same(head, value.as_bytes())),
            Pattern::Suffix(value) => origin
                .len()
                .checked_sub(value.len())
                .is_some_and(|start| same(&origin[start..], value.as_bytes())),
            Pattern::Contains(value) => {
                value.is_empty()
                    || origin
                        .windows(value.len())
                        .any(|window| same(window, value.as_bytes()))
            }
            Pattern::SafeRegex(_, regex) => {
                std::str::from_utf8(origin).is_ok_and(|origin| regex.is_match(origin))
            }
        }
    }

    /// The kind and text of the pattern, for comparison and display.
    fn parts(&self) -> (&'static str, &str) {
        match &self.pattern {
            Pattern::Exact(value) => ("exact", value),
            Pattern::Prefix(value) => ("prefix", value),
            Pattern::Suffix(value) => ("suffix", value),
            Pattern::Contains(value) => ("contains", value),
            Pattern::SafeRegex(source, _) => ("safeRegex", source),
        }
    }
}

impl PartialEq for OriginMatcher {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts() && self.ignore_case == other.ignore_case
    }
}

impl Eq for OriginMatcher {}

impl Hash for OriginMatcher {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
        self.ignore_case.hash(state);
    }
}

impl Serialize for OriginMatcher {
    /// As kgateway writes it: `{"suffix": ".example.com", "ignoreCase": true}`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (kind, text) = self.parts();
        let mut map = serializer.serialize_map(Some(1 + usize::from(self.ignore_case)))?;
        map.serialize_entry(kind, text)?;
        if self.ignore_case {
            map.serialize_entry("ignoreCase", &true)?;
        }
        map.end()
    }
}
