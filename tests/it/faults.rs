//! Trust when things break: the read-only audit over every lab scenario, and the fault matrix (each dependency
//! times each fault: the run ends in time, prints a valid document, marks exactly the affected checks
//! inconclusive with a cause, and leaves every other verdict as it was).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::lab::{FaultKind, Lab, Scenario, free_port, named};

/// Every named scenario (healthy and broken): `Lab::run` asserts that each request is read-only, covered by
/// `skys3 permissions`, and that the only exec is the documented probe.
#[test]
fn every_scenario_is_read_only() {
    for (name, _, scenario) in named() {
        let lab = Lab::start(scenario);
        let (_, doc) = lab.doctor_json(&[]);
        assert!(!lab.requests().is_empty(), "{name} made requests");
        assert!(doc["checks"].as_array().is_some_and(|c| !c.is_empty()), "{name}");
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Refused,
    Hang,
    ServerError,
    Throttle,
    AccessDenied,
    Malformed,
}

const FAULTS: [Fault; 6] = [
    Fault::Refused,
    Fault::Hang,
    Fault::ServerError,
    Fault::Throttle,
    Fault::AccessDenied,
    Fault::Malformed,
];

fn verdicts(doc: &Value) -> BTreeMap<String, (String, Option<String>)> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                (
                    c["status"].as_str().unwrap().to_string(),
                    c["code"].as_str().map(String::from),
                ),
            )
        })
        .collect()
}

/// Runs the matrix row of one dependency: `service` in the lab's terms, `op` limiting the fault to one resource.
fn row(service: &str, op: Option<&str>, faults: &[Fault]) {
    let lab = Lab::start(Scenario::healthy_pod_identity());
    let (code, baseline) = lab.doctor_json(&[]);
    assert_eq!(code, 0, "the baseline is healthy");
    let baseline = verdicts(&baseline);
    let original = lab.state.scenario.lock().unwrap().clone();

    for &fault in faults {
        {
            let mut s = lab.state.scenario.lock().unwrap();
            *s = original.clone();
            let kind = match fault {
                Fault::Refused => None,
                Fault::Hang => Some(FaultKind::Hang(30)),
                Fault::ServerError => Some(FaultKind::ServerError),
                Fault::Throttle => Some(FaultKind::Throttle),
                Fault::AccessDenied => Some(FaultKind::AccessDenied),
                Fault::Malformed => Some(FaultKind::Malformed),
            };
            match kind {
                Some(kind) => s.faults.push(crate::lab::Fault {
                    service: service.into(),
                    op: op.map(String::from),
                    kind,
                }),
                None => {
                    let closed = format!("http://127.0.0.1:{}", free_port());
                    if service == "kube" {
                        s.kube_server = Some(closed);
                    } else {
                        s.env
                            .insert(format!("AWS_ENDPOINT_URL_{}", service.to_uppercase()), Some(closed));
                    }
                }
            }
            if fault == Fault::Throttle {
                // Let the SDK retry with backoff, as it does for users.
                s.env.insert("AWS_MAX_ATTEMPTS".into(), Some("3".into()));
            }
        }
        // The kubeconfig carries the server: write it for this case (and back after a refused one).
        lab.rewrite_kubeconfig();
        let before = lab.requests().len();
        let started = Instant::now();
        let (code, doc) = lab.doctor_json(&["--check-timeout", "3", "--timeout", "20"]);
        let elapsed = started.elapsed();
        let case = format!("{service}/{op:?} {fault:?}");
        assert!(
            elapsed < Duration::from_secs(22),
            "{case}: the run ends before its deadline ({elapsed:?})"
        );

        let now = verdicts(&doc);
        let mut affected = 0;
        for (id, (status, code_)) in &now {
            if baseline.get(id) == Some(&(status.clone(), code_.clone())) {
                continue;
            }
            let c = doc["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == id.as_str())
                .unwrap();
            match status.as_str() {
                "inconclusive" => {
                    affected += 1;
                    let message = c["message"].as_str().unwrap_or("");
                    assert!(!message.is_empty(), "{case}: {id} says why");
                    assert!(
                        matches!(
                            code_.as_deref(),
                            Some("SKY001" | "SKY002" | "SKY003" | "SKY005" | "SKY006")
                        ),
                        "{case}: {id} has a cause code: {c:#}"
                    );
                }
                "skip" => assert!(
                    c["blocked_by"].as_array().is_some_and(|b| !b.is_empty()),
                    "{case}: {id} skipped without a blocker: {c:#}"
                ),
                other => panic!("{case}: {id} changed to {other}, not inconclusive: {c:#}"),
            }
        }
        assert!(affected > 0, "{case}: some check is inconclusive: {doc:#}");
        assert_eq!(code, 3, "{case}: exit 3 (no real failure, something undecided)");
        if fault == Fault::Throttle && service != "kube" && op != Some("pods/exec") {
            // The run's own requests end when it does (prefetches are cancelled), so look for any retried one:
            // a check that waits for its answer sees the SDK retry with backoff.
            let throttled: Vec<_> = lab.requests()[before..]
                .iter()
                .filter(|r| r.service == service)
                .cloned()
                .collect();
            let retried = throttled
                .iter()
                .any(|r| throttled.iter().filter(|x| x.op == r.op && x.path == r.path).count() >= 2);
            assert!(retried, "{case}: throttling is retried: {throttled:?}");
        }
    }
    *lab.state.scenario.lock().unwrap() = original;
}

#[test]
fn fault_matrix_sts() {
    row("sts", None, &FAULTS);
}

#[test]
fn fault_matrix_eks() {
    row("eks", None, &FAULTS);
}

#[test]
fn fault_matrix_iam() {
    row("iam", None, &FAULTS);
}

#[test]
fn fault_matrix_s3() {
    row("s3", None, &FAULTS);
}

#[test]
fn fault_matrix_kube() {
    row("kube", None, &FAULTS);
}

#[test]
fn fault_matrix_exec() {
    // The exec goes to the same API server as every other kube call: "refused" is the kube row's.
    row("kube", Some("pods/exec"), &FAULTS[1..]);
}

#[test]
fn kube_throttling_is_retried_with_backoff() {
    let lab = Lab::start(Scenario::healthy_pod_identity().fault("kube", Some("serviceaccounts"), FaultKind::Throttle));
    let (code, doc) = lab.doctor_json(&[]);
    let attempts = lab.requests().iter().filter(|r| r.op == "get serviceaccounts").count();
    assert_eq!(attempts, 3, "throttling is retried twice with backoff");
    assert_eq!(
        crate::doctor_checks::check(&doc, "kube.service-account")["code"],
        "SKY005"
    );
    assert_eq!(code, 3);
}
