//! ARNs and OIDC provider names built from the caller's partition and account: never a hard-coded `aws`, since
//! China (`aws-cn`) and GovCloud (`aws-us-gov`) ARNs differ.

use crate::probe::CallerIdentity;

/// The partition of a region, by its prefix (`cn-`, `us-gov-`, the ISO regions); `aws` otherwise.
pub fn partition_of_region(region: &str) -> &'static str {
    match region {
        r if r.starts_with("cn-") => "aws-cn",
        r if r.starts_with("us-gov-") => "aws-us-gov",
        r if r.starts_with("us-isob-") => "aws-iso-b",
        r if r.starts_with("us-iso-") => "aws-iso",
        r if r.starts_with("eu-isoe-") => "aws-iso-e",
        r if r.starts_with("us-isof-") => "aws-iso-f",
        _ => "aws",
    }
}

/// `arn:<partition>:iam::<account>:role/<name>`.
pub fn role_arn(id: &CallerIdentity, name: &str) -> String {
    format!("arn:{}:iam::{}:role/{name}", id.partition(), id.account)
}

/// A role ARN's account and name (the last path segment): `arn:aws:iam::111122223333:role/path/name` ->
/// (`111122223333`, `name`). `None` for anything but an IAM role ARN.
pub fn role_parts(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, _partition, service, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let path = resource.strip_prefix("role/")?;
    let name = path.rsplit('/').next()?;
    (prefix == "arn" && service == "iam" && !account.is_empty() && !name.is_empty()).then_some((account, name))
}

/// `arn:<partition>:iam::<account>:policy/<name>`.
pub fn policy_arn(id: &CallerIdentity, name: &str) -> String {
    format!("arn:{}:iam::{}:policy/{name}", id.partition(), id.account)
}

/// The OIDC provider's host and path: the issuer URL without `https://`.
pub fn oidc_provider(issuer: &str) -> String {
    issuer
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
}

/// `arn:<partition>:iam::<account>:oidc-provider/<host/path>`.
pub fn oidc_provider_arn(id: &CallerIdentity, provider: &str) -> String {
    format!("arn:{}:iam::{}:oidc-provider/{provider}", id.partition(), id.account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_parts_reads_account_and_name() {
        assert_eq!(
            role_parts("arn:aws:iam::111122223333:role/team/Reader"),
            Some(("111122223333", "Reader"))
        );
        assert_eq!(
            role_parts("arn:aws-cn:iam::111122223333:role/R"),
            Some(("111122223333", "R"))
        );
        assert_eq!(role_parts("arn:aws:iam::111122223333:user/R"), None);
        assert_eq!(role_parts("arn:aws:sts::111122223333:assumed-role/R/s"), None);
        assert_eq!(role_parts("R"), None);
    }

    #[test]
    fn arns_follow_the_callers_partition() {
        let cn = CallerIdentity {
            account: "210987654321".into(),
            arn: "arn:aws-cn:iam::210987654321:user/x".into(),
        };
        assert_eq!(role_arn(&cn, "R"), "arn:aws-cn:iam::210987654321:role/R");
        assert_eq!(policy_arn(&cn, "P"), "arn:aws-cn:iam::210987654321:policy/P");
        let provider = oidc_provider("https://oidc.eks.cn-north-1.amazonaws.com.cn/id/ABC/");
        assert_eq!(provider, "oidc.eks.cn-north-1.amazonaws.com.cn/id/ABC");
        assert_eq!(
            oidc_provider_arn(&cn, &provider),
            "arn:aws-cn:iam::210987654321:oidc-provider/oidc.eks.cn-north-1.amazonaws.com.cn/id/ABC"
        );
        let gov = CallerIdentity {
            account: "1".into(),
            arn: "arn:aws-us-gov:sts::1:assumed-role/a/b".into(),
        };
        assert_eq!(gov.partition(), "aws-us-gov");
    }
}
