//! Failure codes as a type. The enum is generated from `checks/*.toml` at build time, so a check cannot report a
//! code the catalog does not document, and the catalog cannot drop a code a check still reports.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

include!(concat!(env!("OUT_DIR"), "/codes.rs"));

impl Code {
    /// A skip with this code blocks nothing downstream: the check does not apply to the wiring in force, or had
    /// nothing to look at (no pods), so a check that depends on it still decides, and `--wait` does not wait for it.
    pub const fn does_not_apply(self) -> bool {
        matches!(self, Code::NotApplicable | Code::NothingToCheck)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a catalog code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown code {0:?} (`skys3 checks` lists every code)")]
pub struct UnknownCode(pub String);

impl FromStr for Code {
    type Err = UnknownCode;

    /// The code or its name, case-insensitive: `sky121` and `context-other-cluster` are `SKY121`.
    fn from_str(s: &str) -> Result<Code, UnknownCode> {
        let s = s.trim();
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str().eq_ignore_ascii_case(s) || c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownCode(s.to_string()))
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Code {
    fn schema_name() -> Cow<'static, str> {
        "Code".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let all: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        json_schema!({
            "description": "A catalog code (`skys3 explain CODE`); codes are permanent and never reused.",
            "type": "string",
            "enum": all,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_unknown_codes() {
        for c in Code::ALL {
            assert_eq!(c.as_str().parse::<Code>(), Ok(*c));
            assert_eq!(c.as_str().to_lowercase().parse::<Code>(), Ok(*c));
            assert_eq!(c.name().parse::<Code>(), Ok(*c));
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.as_str()));
        }
        assert!("SKY999".parse::<Code>().is_err());
        assert!(serde_json::from_str::<Code>("\"SKY999\"").is_err());
        assert_eq!(Code::BothWirings.check_id(), "mode");
        assert_eq!(Code::of_check("mode"), &[Code::BothWirings, Code::NoWiring]);
    }
}
