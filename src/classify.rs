//! Error texts from awscli, boto3/botocore and the Go, Java, JS and Rust SDKs (goofys, rclone, apps), classified
//! into catalog codes. Used on the in-pod probe's output, and by `skys3 explain` on text pasted from a pod or a log.
//!
//! An AccessDenied that names the policy type (AWS since 2024: "... with an explicit deny in a service control
//! policy: arn:..." or "... because no identity-based policy allows the s3:ListBucket action") is parsed into a
//! [`Denial`] first, in any client's wrapping: the type decides who can fix it. The rest is a table of texts, most
//! specific first; where a text alone cannot tell causes apart, the in-pod check decides with what the probe saw.

use std::sync::LazyLock;

use regex::Regex;

use crate::code::Code;

/// The kinds of policy an AccessDenied message names (IAM user guide, "Troubleshoot access denied error
/// messages"; S3 user guide, "Troubleshoot access denied (403 Forbidden) errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyType {
    /// An AWS Organizations service control policy (SCP).
    ServiceControl,
    /// An AWS Organizations resource control policy (RCP).
    ResourceControl,
    /// A VPC endpoint's policy.
    VpcEndpoint,
    /// The role's permissions boundary.
    PermissionsBoundary,
    /// A session policy (Pod Identity's association `policy`).
    Session,
    /// A resource-based policy: for S3, the bucket policy.
    ResourceBased,
    /// The principal's own policies.
    IdentityBased,
    /// A role's trust policy.
    RoleTrust,
}

impl PolicyType {
    /// AWS's own words for the type.
    pub fn words(self) -> &'static str {
        match self {
            PolicyType::ServiceControl => "service control policy",
            PolicyType::ResourceControl => "resource control policy",
            PolicyType::VpcEndpoint => "VPC endpoint policy",
            PolicyType::PermissionsBoundary => "permissions boundary",
            PolicyType::Session => "session policy",
            PolicyType::ResourceBased => "resource-based policy",
            PolicyType::IdentityBased => "identity-based policy",
            PolicyType::RoleTrust => "role trust policy",
        }
    }

    /// The code of a denial by this type.
    pub fn code(self) -> Code {
        match self {
            PolicyType::ServiceControl => Code::PodDeniedByScp,
            PolicyType::ResourceControl => Code::PodDeniedByRcp,
            PolicyType::VpcEndpoint => Code::PodDeniedByVpcEndpointPolicy,
            PolicyType::PermissionsBoundary => Code::PodDeniedByBoundary,
            PolicyType::Session => Code::PodDeniedBySessionPolicy,
            PolicyType::ResourceBased => Code::PodDeniedByBucketPolicy,
            PolicyType::IdentityBased => Code::PodDeniedByIdentityPolicy,
            PolicyType::RoleTrust => Code::PodAssumeDenied,
        }
    }

    fn parse(words: &str) -> Option<PolicyType> {
        Some(match words.to_ascii_lowercase().as_str() {
            "service control policy" => PolicyType::ServiceControl,
            "resource control policy" => PolicyType::ResourceControl,
            "vpc endpoint policy" => PolicyType::VpcEndpoint,
            "permissions boundary" => PolicyType::PermissionsBoundary,
            // "sessions policy" is the IAM user guide's own spelling in one example.
            "session policy" | "sessions policy" => PolicyType::Session,
            "resource-based policy" => PolicyType::ResourceBased,
            "identity-based policy" => PolicyType::IdentityBased,
            "role trust policy" => PolicyType::RoleTrust,
            _ => return None,
        })
    }
}

/// An AccessDenied that says which policy denied, in AWS's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The caller (`User: <arn>`), when named.
    pub principal: Option<String>,
    /// The action, as AWS wrote it (`s3:ListBucket`).
    pub action: String,
    /// The resource, when named (S3 quotes it; IAM does not).
    pub resource: Option<String>,
    /// "with an explicit deny in" (true) or "because no ... allows" (false).
    pub explicit: bool,
    /// The kind of policy.
    pub policy: PolicyType,
    /// The denying policy's ARN, when AWS names it (2025 onwards: ": arn:..." or ", with policy ARN: arn:...").
    pub policy_arn: Option<String>,
    /// "... transitively through a service control policy" follows the type (the IAM user guide's example for a
    /// VPC endpoint policy): said in the finding as AWS said it.
    pub through_scp: bool,
}

impl Denial {
    /// "an explicit deny in a service control policy (arn:...)" / "no identity-based policy allows it".
    pub fn describe(&self) -> String {
        let arn = self.policy_arn.as_deref().map(|a| format!(" {a}")).unwrap_or_default();
        let through = if self.through_scp {
            " transitively through a service control policy"
        } else {
            ""
        };
        match self.explicit {
            true => format!("an explicit deny in a {}{through}{arn}", self.policy.words()),
            false => format!("no {}{arn} allows {}", self.policy.words(), self.action),
        }
    }
}

/// The grammar of both documents, tolerant of line breaks, an unquoted or missing resource, "a", "an" or "the",
/// the two spellings of the policy ARN suffix, and a client's wrapping around it (Java appends "(Service: S3,
/// ...)", Go prefixes "api error AccessDenied:").
static DENIAL: LazyLock<Regex> = LazyLock::new(|| {
    // Any run of whitespace between words: logs and documents break these messages across lines.
    let words = |phrase: &str| phrase.split(' ').collect::<Vec<_>>().join(r"\s+");
    let types = [
        "service control policy",
        "resource control policy",
        "vpc endpoint policy",
        "permissions boundary",
        "sessions? policy",
        "resource-based policy",
        "identity-based policy",
        "role trust policy",
    ]
    .map(words)
    .join("|");
    // An ARN ends at whitespace, a comma, a parenthesis, a quote or a backslash (JSON-escaped logs).
    let arn = r#"arn:[^\s,)"\\]+"#;
    let pattern = format!(
        r#"(?is)(?:user:\s*(?P<principal>arn:[^\s"\\]+)\s+)?{}:?\s*(?P<action>[a-z0-9-]+:[a-z0-9*-]+)(?:\s+on\s+resource:?\s*\\?"?(?P<resource>[^"\s\\]+)\\?"?)?\s+(?:{}\s+(?:a|an|the)\s+(?P<etype>{types})(?P<trans>\s+{})?(?:\s*:\s*(?P<earn>{arn})|\s*,\s*{}:\s*(?P<earn2>{arn}))?|{}\s+(?P<itype>{types})(?:\s*:\s*(?P<iarn>{arn}))?\s+allows\s+the)"#,
        words("is not authorized to perform"),
        words("with an explicit deny in"),
        // The IAM user guide's example of a VPC endpoint policy reached through an SCP; the type named first is
        // the one that denied.
        words("transitively through a service control policy"),
        words("with policy arn"),
        words("because no"),
    );
    Regex::new(&pattern).expect("the denial grammar compiles")
});

/// The denial an AccessDenied text names, if it names its policy type.
pub fn denial(text: &str) -> Option<Denial> {
    let c = DENIAL.captures(text)?;
    let get = |n: &str| c.name(n).map(|m| m.as_str().trim_end_matches(['.', ',']).to_string());
    let (explicit, kind) = match (c.name("etype"), c.name("itype")) {
        (Some(t), _) => (true, t.as_str()),
        (None, Some(t)) => (false, t.as_str()),
        _ => return None,
    };
    Some(Denial {
        principal: get("principal"),
        action: get("action")?,
        resource: get("resource"),
        explicit,
        policy: PolicyType::parse(&kind.split_whitespace().collect::<Vec<_>>().join(" "))?,
        policy_arn: get("earn").or_else(|| get("earn2")).or_else(|| get("iarn")),
        through_scp: c.name("trans").is_some(),
    })
}

/// The caller named by "User: <arn> is not authorized to perform: sts:TagSession", when it is an IAM user.
fn tag_session_user(text: &str) -> Option<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?is)user:\s*(?P<p>arn:[^\s]+:user/[^\s]+)\s+is\s+not\s+authorized\s+to\s+perform:?\s*sts:tagsession",
        )
        .expect("compiles")
    });
    RE.captures(text).map(|c| c["p"].to_string())
}

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
            &["fd00:ec2::23", "has an invalid host"],
            &["fd00:ec2::23", "only loopback hosts are allowed"],
            &["169.254.170.23", "only loopback hosts are allowed"],
            &["uri did not refer to the loopback interface"],
        ],
        Known {
            code: Code::PodSdkTooOld,
            meaning: "the pod's AWS SDK predates EKS Pod Identity and refuses the agent's address",
        },
    ),
    (
        // The agent answered, and EKS Auth refused to assume the role: the trust policy (EKS Auth's
        // AccessDeniedException, passed on by the agent; eks-pod-identity-agent pkg/errors/errors.go).
        &[&["eks does not have permissions to assume the associated role"]],
        Known {
            code: Code::PodIdentityAssumeDenied,
            meaning: "the Pod Identity agent may not assume the role: its trust policy does not trust pods.eks.amazonaws.com",
        },
    ),
    (
        // A role session's refused sts:TagSession: Pod Identity's session tags are transitive, so a role chained
        // from it needs sts:TagSession in its trust (the association's target role, or an app's own AssumeRole).
        &[
            &["not authorized to perform: sts:tagsession"],
            &["not authorized to perform sts:tagsession"],
        ],
        Known {
            code: Code::PodIdentityAssumeDenied,
            meaning: "a role session may not tag the next role's session: Pod Identity's tags are transitive, and the trust lacks sts:TagSession",
        },
    ),
    (
        // The agent answered an HTTP error that is not the trust denial: 500 when it could not reach EKS Auth,
        // 404 without an association, 403 for a wrong address (botocore: "Received non 200 response"; Go v2:
        // "failed to load credentials, ..., fault: client"; Rust: "Non-success status from HTTP credential
        // provider").
        &[
            &["received non 200 response", "container metadata"],
            &["non-success status from http credential provider"],
            &["failed to load credentials", "fault: "],
            &["unable to fetch credentials from eks auth"],
        ],
        Known {
            code: Code::PodAgentRefused,
            meaning: "the Pod Identity agent answered with an error instead of credentials",
        },
    ),
    (
        // Something answered at the agent's address, but not credentials.
        &[
            &["unable to parse json returned from container metadata"],
            &["http credential provider response not of the required format"],
            &["failed to load credentials", "deserialization failed"],
        ],
        Known {
            code: Code::PodAgentUnparseable,
            meaning: "the answer at the Pod Identity agent's address was not credentials the client could read",
        },
    ),
    (
        // The agent did not answer, or the token could not be read: the address with a connection failure, or
        // the token file's own errors.
        &[
            &[
                "error when retrieving credentials from container-role",
                "could not connect",
            ],
            &["error when retrieving credentials from container-role", "timeout"],
            &["error when retrieving credentials from container-role", "timed out"],
            &["169.254.170.23", "connection refused"],
            &["169.254.170.23", "connect:"],
            &["169.254.170.23", "timeout"],
            &["169.254.170.23", "no route to host"],
            &["fd00:ec2::23", "connection refused"],
            &["fd00:ec2::23", "timeout"],
            &["econnrefused"],
            &["service account token cannot be empty"],
            &["eks-pod-identity-token"],
            &["no such file or directory", "serviceaccount/token"],
            &["unable to read web identity token"],
            &["auth token value is not a legal header value"],
        ],
        Known {
            code: Code::PodAgentOrTokenFailed,
            meaning: "the pod's injected credentials could not be used: the Pod Identity agent did not answer, or the projected token could not be read",
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
        // Not necessarily keys: the in-pod check decides with the identity STS gave (SKY364 for static keys that
        // fail every call).
        &[
            &["signaturedoesnotmatch"],
            &["request signature we calculated does not match"],
        ],
        Known {
            code: Code::PodSignatureMismatch,
            meaning: "AWS rejected a request's signature: a wrong secret key, or a request changed on its way (proxy, endpoint, region)",
        },
    ),
    (
        &[&["incorrect token audience"]],
        Known {
            code: Code::PodTokenAudience,
            meaning: "STS rejected the web identity token's audience: the OIDC provider lacks the client ID sts.amazonaws.com",
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
    read(text).map(|r| r.known)
}

/// A recognised error text, with the denial it names when it names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The code and its meaning.
    pub known: Known,
    /// The policy AWS says denied the call.
    pub denial: Option<Denial>,
    /// The IAM user named by a refused sts:TagSession.
    pub user: Option<String>,
}

/// Reads an error text: a denial that names its policy type first (the type decides who can fix it), then an IAM
/// user's refused sts:TagSession, then the table.
pub fn read(text: &str) -> Option<Reading> {
    let denied = denial(text);
    // An IAM user's refused sts:TagSession is the user's own setup, whatever policy of the account's is named;
    // only a policy above the account (SCP, RCP, a VPC endpoint's) says more.
    let above_account = denied.as_ref().is_some_and(|d| {
        matches!(
            d.policy,
            PolicyType::ServiceControl | PolicyType::ResourceControl | PolicyType::VpcEndpoint
        )
    });
    if !above_account && let Some(user) = tag_session_user(text) {
        return Some(Reading {
            known: TAG_SESSION_USER,
            denial: None,
            user: Some(user),
        });
    }
    if let Some(d) = denied {
        let known = Known {
            code: d.policy.code(),
            meaning: "AWS named the policy that denied the call",
        };
        return Some(Reading {
            known,
            denial: Some(d),
            user: None,
        });
    }
    let t = text.to_ascii_lowercase();
    RULES
        .iter()
        .find(|(alternatives, _)| alternatives.iter().any(|all| all.iter().all(|n| t.contains(n))))
        .map(|(_, k)| Reading {
            known: *k,
            denial: None,
            user: None,
        })
}

/// A caller's own refused sts:TagSession, by an IAM user (a CI deploy, uploaded keys): never Pod Identity's, whose
/// refusals come from EKS Auth in its own words ("EKS does not have permissions to assume the associated role").
const TAG_SESSION_USER: Known = Known {
    code: Code::PodTagSessionDeniedForUser,
    meaning: "an IAM user may not tag its role session (sts:TagSession): a user's static keys, not Pod Identity",
};

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

    #[test]
    fn denials_name_their_policy_in_any_wrapping() {
        let scp = "arn:aws:organizations::999988887777:policy/o-x/service_control_policy/p-x";
        let d = denial(&format!(
            "operation error S3: ListObjectsV2, https response error StatusCode: 403, api error AccessDenied: User: \
             arn:aws:sts::1:assumed-role/R/s is not authorized to perform: s3:ListBucket on resource: \
             \"arn:aws:s3:::b\" with an explicit deny in a service control policy: {scp}"
        ))
        .expect("a denial");
        assert_eq!(d.policy, PolicyType::ServiceControl);
        assert!(d.explicit);
        assert_eq!(d.action, "s3:ListBucket");
        assert_eq!(d.resource.as_deref(), Some("arn:aws:s3:::b"));
        assert_eq!(d.policy_arn.as_deref(), Some(scp));
        assert_eq!(d.principal.as_deref(), Some("arn:aws:sts::1:assumed-role/R/s"));
        // Java's wrapping after it, no resource, the implicit form.
        let d = denial(
            "User: arn:aws:sts::1:assumed-role/R/s is not authorized to perform: s3:PutObject because no \
             identity-based policy allows the s3:PutObject action (Service: S3, Status Code: 403, Request ID: X)",
        )
        .expect("a denial");
        assert_eq!(
            (d.policy, d.explicit, d.resource),
            (PolicyType::IdentityBased, false, None)
        );
        // Line breaks inside the phrases, and an ARN at the end of a JSON-escaped quote.
        let d = denial(
            "User: arn:aws:sts::1:assumed-role/R/s is not authorized to\nperform: s3:ListBucket with an explicit\n\
             deny in a service\ncontrol policy: arn:aws:organizations::2:policy/o-x/service_control_policy/p-x\\\"}",
        )
        .expect("a denial across lines");
        assert_eq!(d.policy, PolicyType::ServiceControl);
        assert_eq!(
            d.policy_arn.as_deref(),
            Some("arn:aws:organizations::2:policy/o-x/service_control_policy/p-x")
        );
        // The IAM user guide's "transitively through a service control policy" is kept in the words.
        let d = denial(
            "User: arn:aws:sts::1:assumed-role/R/s is not authorized to perform: SNS:Publish on resource: \
             arn:aws:sns:us-east-1:4:t with an explicit deny in a VPC endpoint policy transitively through a \
             service control policy",
        )
        .expect("a denial");
        assert_eq!(d.policy, PolicyType::VpcEndpoint);
        assert!(
            d.describe().contains("transitively through a service control policy"),
            "{}",
            d.describe()
        );
        // An IAM user's refused sts:TagSession stays the user's own, even when AWS names its identity policy; an
        // SCP named instead is the SCP's.
        let user = "User: arn:aws:iam::1:user/ci is not authorized to perform: sts:TagSession on resource: \
                    arn:aws:iam::1:role/R because no identity-based policy allows the sts:TagSession action";
        assert_eq!(classify(user).map(|k| k.code), Some(Code::PodTagSessionDeniedForUser));
        let scp = "User: arn:aws:iam::1:user/ci is not authorized to perform: sts:TagSession on resource: \
                   arn:aws:iam::1:role/R with an explicit deny in a service control policy";
        assert_eq!(classify(scp).map(|k| k.code), Some(Code::PodDeniedByScp));
        // The old wording names no policy: the table reads it.
        assert_eq!(
            denial("An error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied"),
            None
        );
        assert_eq!(
            classify("An error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied")
                .map(|k| k.code),
            Some(Code::PodAccessDenied)
        );
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
