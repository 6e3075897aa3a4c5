//! The directory source: every `*.yaml`/`*.yml` file under a directory, read into one
//! [`Snapshot`] — what `kubectl apply -R -f DIR` would take.
//!
//! Files are found recursively, following symlinks, and read in path order so that a load
//! is deterministic. Entries whose name starts with `.` are skipped below the top
//! directory: that covers the `..data` symlink and `..2024_…` timestamped directories of a
//! Kubernetes ConfigMap volume (whose top-level symlinks to `..data/<file>` are followed,
//! so each file is read once), as well as `.git` and editor temporaries.
//!
//! Each file may hold several documents separated by `---`. Documents of kinds the
//! gateway does not read are skipped; unknown fields in the kinds it reads are warnings;
//! any document that fails to decode fails the whole load (see [`LoadError`]), so the
//! caller keeps serving its last good snapshot. Large loads decode their documents on
//! several threads; the result is the same as on one.

use std::{
    fs,
    hash::{DefaultHasher, Hash, Hasher},
    path::{Path, PathBuf},
};

use gateway_routes::snapshot::Snapshot;
use walkdir::{DirEntry, WalkDir};

use super::{
    decode_all::{decode_all, decode_threads},
    diagnostic::DocumentError,
    error::{LoadError, ParseError},
    object::metadata,
    parse::Decoded,
    split::{Document, split},
};

/// The result of a successful [`load_dir`].
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// Every object of a kind the gateway reads.
    pub snapshot: Snapshot,
    /// One line per unknown field, naming file, document, object and field path.
    pub warnings: Vec<String>,
    /// How many YAML files were read.
    pub files: usize,
    /// How many objects went into the snapshot (documents of ignored kinds not counted).
    pub objects: usize,
}

/// Reads every YAML file under `dir` into a [`Snapshot`].
///
/// Namespaced objects without a namespace get `default`, as `kubectl` would give them.
/// This does blocking file I/O: from async code, call it in `spawn_blocking`.
///
/// # Errors
///
/// [`LoadError::Read`] if `dir` or anything under it cannot be read;
/// [`LoadError::Invalid`] listing every document that is not valid YAML, lacks `kind` or
/// `apiVersion`, or does not fit the type of its kind.
pub fn load_dir(dir: &Path) -> Result<Loaded, LoadError> {
    read_dir(dir)?.parse()
}

/// The YAML files under a directory as read, before parsing: what a reload compares with
/// the last one to skip re-applying a configuration that did not change.
#[derive(Clone, Debug, Default)]
pub struct DirContents {
    files: Vec<(PathBuf, String)>,
}

/// Reads every YAML file under `dir` (see [`load_dir`] for which), without parsing.
///
/// # Errors
///
/// [`LoadError::Read`] if `dir` or anything under it cannot be read.
pub fn read_dir(dir: &Path) -> Result<DirContents, LoadError> {
    let files = yaml_files(dir)?
        .into_iter()
        .map(|file| match fs::read_to_string(&file) {
            Ok(text) => Ok((file, text)),
            Err(source) => Err(LoadError::Read { path: file, source }),
        })
        .collect::<Result<_, _>>()?;
    Ok(DirContents { files })
}

impl DirContents {
    /// A hash of every file's path and text: equal contents give equal fingerprints, and
    /// any change to a name or a byte changes it (short of a 64-bit collision).
    pub fn fingerprint(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.files.hash(&mut hasher);
        hasher.finish()
    }

    /// Decodes the files into a [`Snapshot`], as [`load_dir`] does.
    ///
    /// # Errors
    ///
    /// [`LoadError::Invalid`] listing every document that does not decode.
    pub fn parse(&self) -> Result<Loaded, LoadError> {
        let (loaded, errors) = self.decode();
        if errors.is_empty() {
            Ok(loaded)
        } else {
            Err(LoadError::Invalid { errors })
        }
    }

    /// Decodes every document: what decoded, and what failed.
    fn decode(&self) -> (Loaded, Vec<ParseError>) {
        let mut loaded = Loaded {
            files: self.files.len(),
            ..Loaded::default()
        };
        let mut errors = Vec::new();
        let documents: Vec<(&Path, Document<'_>)> = self
            .files
            .iter()
            .flat_map(|(file, text)| {
                // A byte-order mark would hide a leading `---`; it occupies no line.
                let text = text.strip_prefix('\u{feff}').unwrap_or(text);
                split(text)
                    .into_iter()
                    .map(move |document| (file.as_path(), document))
            })
            .collect();
        let texts: Vec<&str> = documents
            .iter()
            .map(|(_, document)| document.text)
            .collect();
        let decoded = decode_all(&texts, decode_threads(texts.len()));
        for ((file, document), decoded) in documents.iter().zip(decoded) {
            record(file, document, decoded, &mut loaded, &mut errors);
        }
        (loaded, errors)
    }
}

/// Adds one decoded document to `loaded`, or its failure to `errors`.
fn record(
    file: &Path,
    document: &Document<'_>,
    decoded: Result<Decoded, DocumentError>,
    loaded: &mut Loaded,
    errors: &mut Vec<ParseError>,
) {
    match decoded {
        Ok(Decoded::Empty) => {}
        Ok(Decoded::Ignored { api_version, kind }) => {
            tracing::debug!(
                file = %file.display(),
                document = document.index,
                %api_version,
                %kind,
                "ignoring a kind the gateway does not read",
            );
        }
        Ok(Decoded::Object {
            object,
            kind,
            unknown_fields,
        }) => {
            let meta = metadata(&object);
            let namespace = meta
                .namespace
                .as_deref()
                .map_or(String::new(), |ns| format!("{ns}/"));
            let name = meta.name.as_deref().unwrap_or_default();
            loaded.warnings.extend(unknown_fields.iter().map(|field| {
                format!(
                    "{}: document {} (line {}): {kind} {namespace}{name}: unknown field `{field}`",
                    file.display(),
                    document.index,
                    document.content_line(),
                )
            }));
            loaded.snapshot.insert(*object);
            loaded.objects += 1;
        }
        Err(error) => errors.push(ParseError {
            file: file.to_path_buf(),
            document: document.index,
            line: error
                .line
                .map_or_else(|| document.content_line(), |line| document.file_line(line)),
            reason: error.reason,
        }),
    }
}

/// Every YAML file under `dir`, sorted by path.
fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let read_error = |path: &Path, source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    };
    let metadata = fs::metadata(dir).map_err(|source| read_error(dir, source))?;
    if !metadata.is_dir() {
        let source = std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory");
        return Err(read_error(dir, source));
    }

    let mut files = Vec::new();
    let walk = WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || !is_hidden(entry));
    for entry in walk {
        let entry = entry.map_err(|error| {
            let path = error.path().unwrap_or(dir).to_path_buf();
            LoadError::Read {
                path,
                source: error.into(),
            }
        })?;
        if entry.file_type().is_file() && is_yaml(entry.path()) {
            files.push(entry.into_path());
        }
    }
    files.sort();
    Ok(files)
}

/// Whether the entry's name starts with `.` (ConfigMap `..data`, `.git`, editor files).
fn is_hidden(entry: &DirEntry) -> bool {
    entry.file_name().as_encoded_bytes().starts_with(b".")
}

/// Whether the path ends in `.yaml` or `.yml` (any case).
fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| ext.eq_ignore_ascii_case("yaml") || ext.eq_ignore_ascii_case("yml"))
}

#[cfg(test)]
mod tests;
