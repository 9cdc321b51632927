//! Saved reports (`skys3 doctor -o json`): read back for `skys3 report FILE` (rendered in any format, for the
//! support engineer who received the JSON) and compared by `skys3 report diff OLD NEW`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::report::{Document, Report, SCHEMA_VERSION, Status};

/// The largest saved report read (a report with every call of a big run is well under 1 MiB).
const MAX_BYTES: u64 = 32 << 20;

/// Why a saved report could not be read. The messages name the file and a position, never its content.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {file}: {reason}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// Not a report document.
    #[error("{file} is not a skys3 JSON report (line {line}, column {column}): {reason}")]
    Parse {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's category of error, without the content.
        reason: String,
    },
    /// Valid JSON, but not a report.
    #[error("{file} is not a skys3 JSON report: {reason}")]
    Shape {
        /// The file.
        file: String,
        /// Which field is wrong, without its value.
        reason: String,
    },
    /// Written by a newer skys3.
    #[error(
        "{file} was written by a newer skys3 (schema_version {found}); this one reads schema_version {SCHEMA_VERSION} and older: upgrade skys3 to read it"
    )]
    Newer {
        /// The file.
        file: String,
        /// Its schema version.
        found: u64,
    },
}

/// Reads a saved one-target report (what `report diff` compares); a several-targets document is refused, naming
/// what it is.
pub fn load(path: &Path) -> Result<Report, LoadError> {
    match load_document(path)? {
        Document::Single(r) => Ok(*r),
        Document::Targets(t) => Err(LoadError::Shape {
            file: path.display().to_string(),
            reason: format!(
                "it holds {} targets (doctor with several contexts); compare one target's reports",
                t.targets.len()
            ),
        }),
    }
}

/// Reads a saved document: one target's report, or several targets'. Documents of this schema version and older
/// are read; newer ones are refused.
pub fn load_document(path: &Path) -> Result<Document, LoadError> {
    let file = path.display().to_string();
    let read = |reason: String| LoadError::Read {
        file: file.clone(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| read(e.to_string()))?;
    if meta.len() > MAX_BYTES {
        return Err(read(format!("it is larger than {} MiB", MAX_BYTES >> 20)));
    }
    let text = std::fs::read(path).map_err(|e| read(e.to_string()))?;
    let parse = |e: serde_json::Error| LoadError::Parse {
        file: file.clone(),
        line: e.line(),
        column: e.column(),
        // The category only: serde's message may quote a value from the file.
        reason: match e.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not valid JSON",
            serde_json::error::Category::Data => "not the report's shape",
            serde_json::error::Category::Eof => "the document ends early",
        }
        .to_string(),
    };
    let value: serde_json::Value = serde_json::from_slice(&text).map_err(parse)?;
    match value.get("schema_version").and_then(serde_json::Value::as_u64) {
        Some(v) if v > u64::from(SCHEMA_VERSION) => return Err(LoadError::Newer { file, found: v }),
        Some(_) => {}
        None => {
            return Err(LoadError::Shape {
                file,
                reason: "it has no schema_version".into(),
            });
        }
    }
    let shape = |e: serde_json::Error| LoadError::Shape {
        file: file.clone(),
        reason: shape_hint(&e),
    };
    // Told apart by their required fields, so a broken document gets the hint of the shape it was meant to have.
    if value.get("targets").is_some() {
        serde_json::from_value(value).map(Document::Targets).map_err(shape)
    } else {
        serde_json::from_value(value)
            .map(|r| Document::Single(Box::new(r)))
            .map_err(shape)
    }
}

/// Where a shape error is, without any value: serde names fields and types, which is safe to show.
fn shape_hint(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // Only "missing field `x`" names nothing but a field; "unknown variant" and "invalid type" quote the value.
    if text.starts_with("missing field") {
        text.split(" at line")
            .next()
            .unwrap_or("")
            .chars()
            .take(120)
            .collect::<String>()
            .replace('`', "'")
    } else {
        "a field has a value of the wrong kind".into()
    }
}

fn rank(s: Status) -> u8 {
    match s {
        Status::Pass | Status::Skip | Status::Suppressed => 0,
        Status::Warn => 1,
        Status::Inconclusive => 2,
        Status::Fail => 3,
    }
}

/// One check's change between two reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// The check.
    pub id: String,
    /// Before (`None`: the check was not in the old report).
    pub old: Option<(Status, Option<String>)>,
    /// After (`None`: not in the new report).
    pub new: Option<(Status, Option<String>)>,
}

/// What changed between two reports, by kind.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Diff {
    /// Was failing or warning, now passes (or was skipped).
    pub fixed: Vec<Change>,
    /// Got worse: passed before, or a milder status.
    pub worse: Vec<Change>,
    /// Still not passing (same status; the code may have changed).
    pub still: Vec<Change>,
    /// Better, but not passing yet.
    pub better: Vec<Change>,
}

impl Diff {
    /// Whether anything got worse (the exit code is 1 then).
    pub fn got_worse(&self) -> bool {
        !self.worse.is_empty()
    }
}

/// Compares two reports check by check.
pub fn diff(old: &Report, new: &Report) -> Diff {
    let index = |r: &Report| -> BTreeMap<String, (Status, Option<String>)> {
        r.checks
            .iter()
            .map(|c| (c.id.clone(), (c.status, c.code.map(|k| k.as_str().to_string()))))
            .collect()
    };
    let (o, n) = (index(old), index(new));
    let mut out = Diff::default();
    // Report order: the new report's checks, then any the old one had alone.
    let ids = new
        .checks
        .iter()
        .map(|c| c.id.clone())
        .chain(old.checks.iter().map(|c| c.id.clone()).filter(|id| !n.contains_key(id)));
    for id in ids {
        let (before, after) = (o.get(&id).cloned(), n.get(&id).cloned());
        let r = |x: &Option<(Status, Option<String>)>| x.as_ref().map(|(s, _)| rank(*s)).unwrap_or(0);
        let change = Change {
            id,
            old: before.clone(),
            new: after.clone(),
        };
        match (r(&before), r(&after)) {
            (b, a) if a > b => out.worse.push(change),
            (b, 0) if b > 0 => out.fixed.push(change),
            (b, a) if a > 0 && a == b => out.still.push(change),
            (b, a) if a > 0 && a < b => out.better.push(change),
            _ => {}
        }
    }
    out
}

/// The diff for people.
pub fn render_diff(d: &Diff) -> String {
    let show = |x: &Option<(Status, Option<String>)>| match x {
        Some((s, Some(code))) => format!("{} {code}", s.as_str().to_uppercase()),
        Some((s, None)) => s.as_str().to_uppercase(),
        None => "absent".into(),
    };
    let mut out = String::new();
    for (title, list) in [
        ("Newly broken", &d.worse),
        ("Fixed", &d.fixed),
        ("Better, not fixed", &d.better),
        ("Still broken", &d.still),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{title}:");
        for c in list.iter() {
            let _ = writeln!(out, "  {:<26} {} -> {}", c.id, show(&c.old), show(&c.new));
        }
    }
    if out.is_empty() {
        out.push_str("No check changed status.\n");
    }
    out
}
