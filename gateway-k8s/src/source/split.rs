//! Splitting a multi-document YAML file into its documents, remembering the line each one
//! starts on so that errors point into the file rather than into the document.
//!
//! A document starts at a line that is exactly `---` or starts with `--- ` (a marker
//! followed by a comment, a tag or inline content), as YAML 1.2 defines the directives-end
//! marker. Text before the first marker is a document only if it holds content: a file
//! that opens with a licence comment and then `---` has one document, not two.

/// One YAML document of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Document<'a> {
    /// 0-based index of the document within its file.
    pub(crate) index: usize,
    /// 1-based line of the file where `text` begins (its `---` marker, if it has one).
    pub(crate) start_line: usize,
    /// The document's text, including its leading `---` marker line.
    pub(crate) text: &'a str,
}

impl Document<'_> {
    /// Converts a 1-based line within [`Document::text`] into a 1-based line of the file.
    pub(crate) fn file_line(&self, line_in_document: usize) -> usize {
        self.start_line + line_in_document.saturating_sub(1)
    }

    /// The 1-based file line of the document's first content (what `kubectl` would call
    /// the object's start): not blank, not a comment, not a bare `---` marker.
    pub(crate) fn content_line(&self) -> usize {
        self.text
            .lines()
            .enumerate()
            .find(|&(i, line)| {
                let line = if i == 0 && is_marker(line) {
                    &line[3..]
                } else {
                    line
                };
                has_content(line)
            })
            .map_or(self.start_line, |(i, _)| self.start_line + i)
    }
}

/// Splits `text` (one file's contents) into its documents, in order.
pub(crate) fn split(text: &str) -> Vec<Document<'_>> {
    // Byte offset and 1-based line number of every marker line.
    let mut markers = Vec::new();
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if is_marker(line.trim_end_matches(['\n', '\r'])) {
            markers.push((offset, i + 1));
        }
        offset += line.len();
    }

    let preamble_end = markers.first().map_or(text.len(), |&(offset, _)| offset);
    let preamble = &text[..preamble_end];
    let mut starts = Vec::with_capacity(markers.len() + 1);
    if markers.is_empty() || preamble.lines().any(has_content) {
        starts.push((0, 1));
    }
    starts.extend(markers);

    starts
        .iter()
        .enumerate()
        .map(|(index, &(offset, start_line))| {
            let end = starts.get(index + 1).map_or(text.len(), |&(end, _)| end);
            Document {
                index,
                start_line,
                text: &text[offset..end],
            }
        })
        .collect()
}

/// Whether `line` (without its line break) is a directives-end marker.
fn is_marker(line: &str) -> bool {
    line == "---" || line.starts_with("--- ") || line.starts_with("---\t")
}

/// Whether `line` holds YAML content rather than whitespace, a comment or a directive.
fn has_content(line: &str) -> bool {
    let line = line.trim();
    !(line.is_empty() || line.starts_with('#') || line.starts_with('%'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(text: &str) -> Vec<(usize, usize, &str)> {
        split(text)
            .into_iter()
            .map(|d| (d.index, d.start_line, d.text))
            .collect()
    }

    #[test]
    fn no_marker_is_one_document() {
        assert_eq!(summary("a: 1\nb: 2\n"), vec![(0, 1, "a: 1\nb: 2\n")]);
        assert_eq!(summary(""), vec![(0, 1, "")]);
    }

    #[test]
    fn comment_preamble_is_not_a_document() {
        let text = "# licence\n\n---\na: 1\n---\nb: 2\n";
        assert_eq!(
            summary(text),
            vec![(0, 3, "---\na: 1\n"), (1, 5, "---\nb: 2\n")]
        );
    }

    #[test]
    fn content_before_first_marker_is_a_document() {
        let text = "a: 1\n--- # second\nb: 2\n---\n";
        assert_eq!(
            summary(text),
            vec![
                (0, 1, "a: 1\n"),
                (1, 2, "--- # second\nb: 2\n"),
                (2, 4, "---\n")
            ]
        );
    }

    #[test]
    fn markers_inside_values_do_not_split() {
        let text = "a: |\n  ---\n  x\nb: ---x\n----\n";
        assert_eq!(split(text).len(), 1);
    }

    #[test]
    fn crlf_markers_split() {
        let text = "a: 1\r\n---\r\nb: 2\r\n";
        assert_eq!(
            summary(text),
            vec![(0, 1, "a: 1\r\n"), (1, 2, "---\r\nb: 2\r\n")]
        );
    }

    #[test]
    fn lines_map_into_the_file() {
        let docs = split("a: 1\n---\n\n# comment\nkind: x\n");
        assert_eq!(docs[1].file_line(1), 2);
        assert_eq!(docs[1].file_line(4), 5);
        assert_eq!(docs[1].content_line(), 5);
        assert_eq!(docs[0].content_line(), 1);
        assert_eq!(split("--- {a: 1}\n")[0].content_line(), 1);
    }
}
