//! Any bytes as an IAM policy document (plain or URL-encoded): parsing and evaluating never panic, and adding a
//! Deny never allows more.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skys3::policy::{self, Decision};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(p) = policy::parse_document(text) else { return };
    for (action, resource) in [("s3:GetObject", "arn:aws:s3:::b/*"), ("s3:ListBucket", "arn:aws:s3:::b")] {
        let before = policy::evaluate(std::slice::from_ref(&p), action, resource);
        let _ = policy::evaluate_with_boundary(std::slice::from_ref(&p), Some(&p), action, resource);
        let deny = policy::Policy::from_value(&serde_json::json!({"Statement": [{"Effect": "Deny", "Action": action, "Resource": resource}]}));
        let after = policy::evaluate(&[p.clone(), deny], action, resource);
        assert_eq!(after, Decision::ExplicitDeny, "an unconditional matching Deny wins (before: {before:?})");
    }
});
