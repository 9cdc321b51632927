//! Error texts from awscli, boto3/botocore and the Go SDK (goofys, rclone), classified into catalog codes.
//! Used on the in-pod probe's output, and by `skys3 explain` on text pasted from a pod or a log.

use crate::code::Code;

/// A recognised error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// The catalog code it maps to.
    pub code: Code,
    /// What it means, in a phrase.
    pub meaning: &'static str,
}

/// A rule: every needle of one of its alternatives must occur (case-insensitively).
type Rule = (&'static [&'static [&'static str]], Known);

/// Rules, most specific first: an agent failure mentions "container-role" and the trust problem behind it; a Go SDK
/// 403 may be a clock or key problem before it is an access denial; a web identity denial often comes wrapped in
/// "failed to refresh cached credentials", which also reads as "no credentials".
const RULES: &[Rule] = &[
    (
        // botocore before 1.34.41 ("Unsupported host ... Can only retrieve metadata from these hosts"), aws-sdk-go
        // v1 before 1.47.11, the JS v3 and Java v2 SDKs before their Pod Identity releases (EKS user guide,
        // "pod-id-minimum-sdk"; wordings from aws-sdk-js-v3#5709, aws-ebs-csi-driver#1870, OpenSearch#17305).
        &[
            &["unsupported host", "169.254.170.23"],
            &["169.254.170.23", "not a valid container metadata service hostname"],
            &["invalid endpoint host", "169.254.170.23"],
            &["169.254.170.23", "has an invalid host"],
        ],
        Known {
            code: Code::PodSdkTooOld,
            meaning: "the pod's AWS SDK predates EKS Pod Identity and refuses the agent's address",
        },
    ),
    (
        &[
            &["eks does not have permissions to assume the associated role"],
            &["not authorized to perform: sts:tagsession"],
            &["not authorized to perform sts:tagsession"],
        ],
        Known {
            code: Code::PodIdentityAssumeDenied,
            meaning: "the Pod Identity agent may not assume the role: its trust policy does not trust pods.eks.amazonaws.com",
        },
    ),
    (
        &[
            &["error when retrieving credentials from container-role"],
            &["169.254.170.23"],
            &["service account token cannot be empty"],
            &["eks-pod-identity-token"],
            &["no such file or directory", "serviceaccount/token"],
            &["unable to read web identity token"],
        ],
        Known {
            code: Code::PodAgentOrTokenFailed,
            meaning: "the pod's injected credentials could not be used: the Pod Identity agent or the projected token failed",
        },
    ),
    (
        &[
            &["requesttimetooskewed"],
            &["signature expired"],
            &["signature not yet current"],
        ],
        Known {
            code: Code::PodClockSkew,
            meaning: "the pod's clock differs from AWS's: signatures are rejected",
        },
    ),
    (
        &[
            &["invalidaccesskeyid"],
            &["signaturedoesnotmatch"],
            &["invalidclienttokenid"],
            &["the security token included in the request is invalid"],
            &["aws access key id you provided does not exist"],
        ],
        Known {
            code: Code::PodKeysRejected,
            meaning: "AWS rejected the pod's access keys: static keys (usually uploaded) that were rotated or deleted",
        },
    ),
    (
        &[
            &["idpcommunicationerror"],
            &["couldn't retrieve verification key"],
            &["could not retrieve verification key"],
        ],
        Known {
            code: Code::PodOidcKeysUnreachable,
            meaning: "STS could not fetch the cluster's OIDC keys (usually transient)",
        },
    ),
    (
        &[
            &["expiredtoken"],
            &["token is expired"],
            &["the provided token has expired"],
        ],
        Known {
            code: Code::PodCredentialsExpired,
            meaning: "the pod's web identity token or temporary credentials expired",
        },
    ),
    (
        &[&["regiondisabledexception"], &["sts is not activated in this region"]],
        Known {
            code: Code::PodStsRegionInactive,
            meaning: "STS is not activated in the region the pod uses",
        },
    ),
    (
        // Only this wording: STS sends InvalidIdentityToken for other causes too (an audience or issuer mismatch).
        &[&["no openidconnect provider found"]],
        Known {
            code: Code::PodNoOidcProvider,
            meaning: "STS rejected the pod's web identity token: the OIDC provider is not registered in IAM",
        },
    ),
    (
        &[
            &["not authorized to perform sts:assumerolewithwebidentity"],
            &["not authorized to perform: sts:assumerolewithwebidentity"],
            &["accessdenied", "assumerolewithwebidentity"],
            &["not authorized to perform sts:assumerole"],
            &["not authorized to perform: sts:assumerole"],
        ],
        Known {
            code: Code::PodAssumeDenied,
            meaning: "STS refused to let the pod assume the role (its trust policy does not match the pod)",
        },
    ),
    (
        &[
            &["unable to locate credentials"],
            &["nocredentialproviders"],
            &["no valid providers in chain"],
            &["nocredentialserror"],
            &["failed to refresh cached credentials"],
            &["no credentials found"],
            &["could not load credentials from any providers"],
            &["unable to load aws credentials from any provider"],
        ],
        Known {
            code: Code::PodNoCredentials,
            meaning: "the pod's AWS client found no credentials",
        },
    ),
    (
        &[
            &["accessdenied"],
            &["access denied"],
            &["status code: 403"],
            &["forbidden"],
        ],
        Known {
            code: Code::PodAccessDenied,
            meaning: "S3 denied the request",
        },
    ),
];

/// The code an error text points at, if it is recognised.
pub fn classify(text: &str) -> Option<Known> {
    let t = text.to_ascii_lowercase();
    RULES
        .iter()
        .find(|(alternatives, _)| alternatives.iter().any(|all| all.iter().all(|n| t.contains(n))))
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
            Some(Code::PodNoCredentials)
        );
        assert_eq!(
            code("An error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied"),
            Some(Code::PodAccessDenied)
        );
        assert_eq!(
            code(
                "An error occurred (InvalidIdentityToken) when calling the AssumeRoleWithWebIdentity operation: No OpenIDConnect provider found in your account for https://oidc.eks.us-west-2.amazonaws.com/id/X"
            ),
            Some(Code::PodNoOidcProvider)
        );
        // aws-sdk-go v1 (goofys)
        assert_eq!(
            code("NoCredentialProviders: no valid providers in chain. Deprecated."),
            Some(Code::PodNoCredentials)
        );
        // boto3
        assert_eq!(
            code("NoCredentialsError: Unable to locate credentials"),
            Some(Code::PodNoCredentials)
        );
        assert_eq!(
            code(
                "An error occurred (AccessDenied) when calling the AssumeRoleWithWebIdentity operation: Not authorized to perform sts:AssumeRoleWithWebIdentity"
            ),
            Some(Code::PodAssumeDenied)
        );
        assert_eq!(code("Could not connect to the endpoint URL"), None);
        assert_eq!(code(""), None);
    }

    proptest::proptest! {
        /// Any text (including multi-byte and huge inputs) classifies without panicking, and a known marker
        /// anywhere in it is found.
        #[test]
        fn classifier_never_panics(text in "\\PC{0,300}", pos in 0usize..300) {
            let _ = classify(&text);
            let cut = text.char_indices().map(|(i, _)| i).find(|&i| i >= pos).unwrap_or(text.len());
            let with = format!("{}NoCredentialProviders{}", &text[..cut], &text[cut..]);
            proptest::prop_assert!(classify(&with).is_some());
        }
    }
}

/// A likely cause of a recognised error, and the checks (and codes) that decide whether it is the one.
#[derive(Debug, Clone, Copy)]
pub struct Cause {
    /// The cause, for people.
    pub cause: &'static str,
    /// The checks that decide it, with the codes they report when it is.
    pub decided_by: &'static [(&'static str, &'static [Code])],
}

/// The likely causes behind a recognised code, most common first.
pub fn causes(code: Code) -> &'static [Cause] {
    match code {
        Code::PodNoCredentials => &[
            Cause {
                cause: "SkyPilot uploaded local credentials, or aws.remote_identity is not NO_UPLOAD",
                decided_by: &[(
                    "sky.config",
                    &[
                        Code::RemoteIdentityUnset,
                        Code::RemoteIdentityListForm,
                        Code::RemoteIdentityOtherValue,
                    ],
                )],
            },
            Cause {
                cause: "no Pod Identity association for the pods' namespace and service account",
                decided_by: &[
                    ("mode", &[Code::NoWiring]),
                    (
                        "pod-identity.association",
                        &[Code::AssociationMissing, Code::AssociationElsewhere],
                    ),
                ],
            },
            Cause {
                cause: "the service account lacks the IRSA annotation",
                decided_by: &[(
                    "irsa.annotation",
                    &[Code::IrsaAnnotationMissing, Code::IrsaAnnotationOtherRole],
                )],
            },
            Cause {
                cause: "the pods were created before the wiring (sky down, then sky launch)",
                decided_by: &[("pod.credentials", &[Code::PodPredatesWiring, Code::PodNotInjected])],
            },
            Cause {
                cause: "the Pod Identity agent is missing or not ready, or the pod uses hostNetwork",
                decided_by: &[
                    (
                        "pod-identity.addon",
                        &[
                            Code::AgentAddonMissing,
                            Code::AgentAddonNotActive,
                            Code::AgentPodsNotReady,
                        ],
                    ),
                    ("pod.credentials", &[Code::PodHostNetwork]),
                ],
            },
        ],
        Code::PodNoOidcProvider => &[
            Cause {
                cause: "the cluster's OIDC issuer is not registered as an IAM OIDC provider",
                decided_by: &[(
                    "irsa.oidc-provider",
                    &[Code::OidcProviderMissing, Code::OidcProviderAudience],
                )],
            },
            Cause {
                cause: "the role trusts another cluster's or region's provider",
                decided_by: &[(
                    "iam.trust-policy",
                    &[Code::TrustNoOidcProvider, Code::TrustOtherOidcProvider],
                )],
            },
        ],
        Code::PodAssumeDenied => &[
            Cause {
                cause: "the trust policy's :sub names another namespace or service account, or StringEquals has a *",
                decided_by: &[(
                    "iam.trust-policy",
                    &[Code::TrustSubMismatch, Code::TrustSubWildcardEquals],
                )],
            },
            Cause {
                cause: "the trust policy federates another cluster's OIDC provider",
                decided_by: &[(
                    "iam.trust-policy",
                    &[Code::TrustNoOidcProvider, Code::TrustOtherOidcProvider],
                )],
            },
            Cause {
                cause: "Pod Identity: the trust policy lacks pods.eks.amazonaws.com or sts:TagSession",
                decided_by: &[("iam.trust-policy", &[Code::TrustNoPodsService, Code::TrustNoTagSession])],
            },
        ],
        Code::PodAccessDenied => &[
            Cause {
                cause: "the role's policies lack the S3 action, or a Deny or boundary blocks it",
                decided_by: &[(
                    "iam.s3-permissions",
                    &[
                        Code::S3ActionsMissing,
                        Code::S3PolicyUnattached,
                        Code::S3ExplicitDeny,
                        Code::S3BoundaryBlocks,
                    ],
                )],
            },
            Cause {
                cause: "the pod does not run as the role (uploaded keys, or the node's role)",
                decided_by: &[("pod.s3-list", &[Code::PodUploadedCredentials, Code::PodOtherIdentity])],
            },
            Cause {
                cause: "a bucket policy, SCP, VPC endpoint policy or SSE-KMS key denies it",
                decided_by: &[("pod.s3-list", &[Code::PodAccessDenied])],
            },
        ],
        _ => &[],
    }
}

/// The guide's troubleshooting advice, verbatim in substance.
pub const GUIDE_TROUBLESHOOTING: &[&str] = &[
    "Ensure aws.remote_identity: NO_UPLOAD is set in ~/.sky/config.yaml",
    "For IRSA: verify the service account has the correct eks.amazonaws.com/role-arn annotation",
    "For Pod Identity: verify the Pod Identity association exists (aws eks list-pod-identity-associations)",
    "Restart pods after making changes (sky down, then sky launch)",
    "\"No OpenIDConnect provider found\" (IRSA only): register the OIDC provider in IAM (IRSA Step 2)",
];
