//! Error texts from awscli, boto3/botocore and the Go SDK (goofys, rclone), classified into catalog codes.
//! Used on the in-pod probe's output, and by `skys3 explain` on text pasted from a pod or a log.

/// A recognised error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// The catalog code it maps to.
    pub code: &'static str,
    /// What it means, in a phrase.
    pub meaning: &'static str,
}

/// Patterns, most specific first; matched case-insensitively.
const PATTERNS: &[(&[&str], Known)] = &[
    (
        &["no openidconnect provider found", "invalididentitytoken"],
        Known {
            code: "SKY345",
            meaning: "STS rejected the pod's web identity token: the OIDC provider is not registered in IAM",
        },
    ),
    (
        &[
            "unable to locate credentials",
            "nocredentialproviders",
            "no valid providers in chain",
            "nocredentialserror",
            "failed to refresh cached credentials",
            "no credentials found",
        ],
        Known {
            code: "SKY342",
            meaning: "the pod's AWS client found no credentials",
        },
    ),
    (
        &["accessdenied", "access denied", "status code: 403", "forbidden"],
        Known {
            code: "SKY344",
            meaning: "S3 denied the request",
        },
    ),
];

/// The code an error text points at, if it is recognised.
pub fn classify(text: &str) -> Option<Known> {
    let t = text.to_ascii_lowercase();
    PATTERNS
        .iter()
        .find(|(needles, _)| needles.iter().any(|n| t.contains(n)))
        .map(|(_, k)| *k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_error_texts() {
        let code = |t: &str| classify(t).map(|k| k.code);
        // awscli v2
        assert_eq!(
            code("\nUnable to locate credentials. You can configure credentials by running \"aws configure\".\n"),
            Some("SKY342")
        );
        assert_eq!(
            code("An error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied"),
            Some("SKY344")
        );
        assert_eq!(
            code(
                "An error occurred (InvalidIdentityToken) when calling the AssumeRoleWithWebIdentity operation: No OpenIDConnect provider found in your account for https://oidc.eks.us-west-2.amazonaws.com/id/X"
            ),
            Some("SKY345")
        );
        // aws-sdk-go v1 (goofys)
        assert_eq!(
            code("NoCredentialProviders: no valid providers in chain. Deprecated."),
            Some("SKY342")
        );
        // boto3
        assert_eq!(code("NoCredentialsError: Unable to locate credentials"), Some("SKY342"));
        assert_eq!(code("Could not connect to the endpoint URL"), None);
        assert_eq!(code(""), None);
    }
}
