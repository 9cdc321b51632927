//! Filling remediation templates: `{name}` placeholders get the user's values; in commands, shell-quoted.

use std::collections::BTreeMap;

/// Replaces each `{name}` (name: lower-case letters, digits, `_`) that has a value in `vars`. With `quote`, values
/// are shell-quoted so the command is copy-paste safe whatever the value holds. Unknown names stay as they are.
pub fn fill(template: &str, vars: &BTreeMap<String, String>, quote: bool) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let name_len = after.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        match name_len {
            Some(n) if n > 0 && after[n..].starts_with('}') => {
                let name = &after[..n];
                match vars.get(name) {
                    Some(v) if quote => out.push_str(&shell_quote(v)),
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[start..start + n + 2]),
                }
                rest = &after[n + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// POSIX-shell quoting; plain words stay unquoted.
pub fn shell_quote(v: &str) -> String {
    match shlex::try_quote(v) {
        Ok(q) => q.into_owned(),
        // Only a NUL byte makes quoting impossible; such a value cannot reach a shell anyway.
        Err(_) => format!("'{}'", v.replace('\0', "").replace('\'', "'\\''")),
    }
}

/// The `{name}` placeholders a template uses.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        if let Some(n) = after.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            && n > 0
            && after[n..].starts_with('}')
        {
            names.push(after[..n].to_string());
        }
        rest = after;
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_quotes() {
        let vars: BTreeMap<String, String> = [
            ("cluster".to_string(), "my cluster".to_string()),
            ("region".into(), "us-west-2".into()),
        ]
        .into();
        assert_eq!(
            fill(
                "aws eks describe-cluster --name {cluster} --region {region}",
                &vars,
                true
            ),
            "aws eks describe-cluster --name 'my cluster' --region us-west-2"
        );
        assert_eq!(fill("cluster {cluster}", &vars, false), "cluster my cluster");
        assert_eq!(
            fill("{unknown} and `aws: {remote_identity: X}`", &vars, true),
            "{unknown} and `aws: {remote_identity: X}`"
        );
        assert_eq!(placeholders("a {cluster} {x: y} {b_2}"), vec!["cluster", "b_2"]);
    }

    #[test]
    fn quoting_defuses_shell_metacharacters() {
        let vars: BTreeMap<String, String> = [("bucket".to_string(), "x; rm -rf / `id` $(id)".to_string())].into();
        let cmd = fill("aws s3 ls s3://{bucket}", &vars, true);
        assert_eq!(cmd, "aws s3 ls s3://'x; rm -rf / `id` $(id)'");
    }
}
