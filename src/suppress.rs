//! Suppressions (`--suppressions PATH`): findings a team has accepted, with a reason and an optional expiry.
//!
//! ```toml
//! [[suppress]]
//! code = "SKY282"                 # or its name, "bucket-other-region"; and/or: check = "s3.bucket"
//! resource = "my-bucket"          # optional: only findings whose message names it
//! reason = "the bucket lives in eu-central-1 on purpose"
//! expires = "2027-03-31"          # optional; after it, the finding counts again
//! ```

use std::path::Path;

use jiff::civil::Date;
use serde::Deserialize;

use crate::code::Code;
use crate::report::{Report, Status, Suppression};

/// One entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Check id.
    pub check: Option<String>,
    /// Code (an unknown code is an error when the file is read).
    pub code: Option<Code>,
    /// A string the finding's message must contain.
    pub resource: Option<String>,
    /// Why (required).
    pub reason: String,
    /// Last day it applies.
    pub expires: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    suppress: Vec<Entry>,
}

/// A parsed suppressions file.
#[derive(Debug, Clone)]
pub struct Suppressions {
    entries: Vec<(Entry, Option<Date>)>,
}

impl Suppressions {
    /// Reads and validates a file; the error names the file and what is wrong.
    pub fn load(path: &Path) -> Result<Suppressions, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read suppressions file {}: {e}", path.display()))?;
        Suppressions::parse(&text).map_err(|e| format!("suppressions file {}: {e}", path.display()))
    }

    /// Parses the TOML text.
    pub fn parse(text: &str) -> Result<Suppressions, String> {
        let file: File = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let mut entries = Vec::new();
        for (i, e) in file.suppress.into_iter().enumerate() {
            let n = i + 1;
            if e.check.is_none() && e.code.is_none() {
                return Err(format!("entry {n} names neither a check nor a code"));
            }
            if e.reason.trim().is_empty() {
                return Err(format!("entry {n} has an empty reason"));
            }
            let date = match &e.expires {
                Some(d) => Some(
                    d.parse::<Date>()
                        .map_err(|err| format!("entry {n}: expires {d:?} is not a YYYY-MM-DD date ({err})"))?,
                ),
                None => None,
            };
            entries.push((e, date));
        }
        Ok(Suppressions { entries })
    }

    /// Applies the first matching entry to each finding (fail, warn, inconclusive). An entry past its expiry
    /// date leaves the finding as it is (at least a warning) and says so.
    pub fn apply(&self, report: &mut Report, today: Date) {
        for c in &mut report.checks {
            if !matches!(c.status, Status::Fail | Status::Warn | Status::Inconclusive) {
                continue;
            }
            let hit = self.entries.iter().find(|(e, _)| {
                e.check.as_deref().is_none_or(|id| id == c.id)
                    && e.code.is_none_or(|code| c.code == Some(code))
                    && e.resource.as_deref().is_none_or(|r| c.message.contains(r))
            });
            let Some((entry, date)) = hit else { continue };
            let expired = date.is_some_and(|d| today > d);
            c.suppression = Some(Suppression {
                reason: entry.reason.clone(),
                expires: entry.expires.clone(),
                expired,
                original_status: c.status,
            });
            if expired {
                c.message = format!(
                    "{} (suppression expired on {})",
                    c.message,
                    entry.expires.clone().unwrap_or_default()
                );
            } else {
                c.status = Status::Suppressed;
            }
        }
        report.refresh_status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(Suppressions::parse("[[suppress]]\ncode = \"SKY282\"\nreason = \"ok\"\n").is_ok());
        // A code's name is as good as its number.
        let by_name = Suppressions::parse("[[suppress]]\ncode = \"bucket-other-region\"\nreason = \"ok\"\n").unwrap();
        assert_eq!(by_name.entries[0].0.code, Some(Code::BucketOtherRegion));
        assert!(
            Suppressions::parse("[[suppress]]\nreason = \"ok\"\n")
                .unwrap_err()
                .contains("neither")
        );
        assert!(
            Suppressions::parse("[[suppress]]\ncode = \"SKY282\"\nreason = \" \"\n")
                .unwrap_err()
                .contains("reason")
        );
        assert!(Suppressions::parse("[[suppress]]\ncode = \"SKY282\"\n").is_err());
        assert!(
            Suppressions::parse("[[suppress]]\ncode = \"SKY999\"\nreason = \"x\"\n")
                .unwrap_err()
                .contains("SKY999")
        );
        assert!(
            Suppressions::parse("[[suppress]]\ncode = \"SKY282\"\nreason = \"x\"\nexpires = \"soon\"\n")
                .unwrap_err()
                .contains("YYYY-MM-DD")
        );
        assert!(Suppressions::parse("[[suppress]]\ncode = \"SKY282\"\nreason = \"x\"\ntypo = 1\n").is_err());
    }
}
