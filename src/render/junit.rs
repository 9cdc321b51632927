//! `-o junit`: JUnit XML for CI test reporters (GitLab, Jenkins, GitHub). One test case per check: fail is a
//! failure, inconclusive an error, skip and suppressed are skipped, warn passes with the warning in system-out.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report as JUnit, TestCase, TestCaseStatus, TestSuite};

use crate::report::{CheckReport, Report, Status};

fn details(c: &CheckReport) -> String {
    let mut text = c.message.clone();
    if let Some(r) = &c.remediation {
        text.push_str(&format!("\n\nFix: {}\n", r.summary));
        for cmd in &r.commands {
            text.push_str(&format!("  $ {cmd}\n"));
        }
        text.push_str(&format!("Guide: {}\n", r.guide));
    }
    if let Some(s) = &c.suppression {
        text.push_str(&format!("\nSuppressed: {}\n", s.reason));
    }
    text
}

/// The report as JUnit XML.
pub fn render(report: &Report) -> String {
    xml(vec![suite(report, "skys3 doctor".into())])
}

/// Several targets' reports as JUnit XML: one test suite per target, named by its context.
pub fn render_targets(report: &crate::report::TargetsReport) -> String {
    xml(report
        .targets
        .iter()
        .map(|t| {
            suite(
                t,
                format!("skys3 doctor {}", t.target.context.as_deref().unwrap_or("-")),
            )
        })
        .collect())
}

fn xml(suites: Vec<TestSuite>) -> String {
    let mut junit = JUnit::new("skys3");
    junit.add_test_suites(suites);
    let mut xml = junit.to_string().expect("JUnit XML serializes");
    if !xml.ends_with('\n') {
        xml.push('\n');
    }
    xml
}

fn suite(report: &Report, name: String) -> TestSuite {
    let mut suite = TestSuite::new(name);
    for c in &report.checks {
        let label = |status: &str| match &c.code {
            Some(code) => format!("{status} {code}: {}", c.message),
            None => format!("{status}: {}", c.message),
        };
        let status = match c.status {
            Status::Pass => TestCaseStatus::success(),
            Status::Warn => TestCaseStatus::success(),
            Status::Fail => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(label("FAIL"))
                    .set_type(c.code.map(|c| c.to_string()).unwrap_or_default())
                    .set_description(details(c));
                s
            }
            Status::Inconclusive => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(label("INCONCLUSIVE"))
                    .set_type(c.code.map(|c| c.to_string()).unwrap_or_default())
                    .set_description(details(c));
                s
            }
            Status::Skip | Status::Suppressed => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(label(c.status.as_str()));
                s
            }
        };
        let mut case = TestCase::new(c.id.clone(), status);
        case.set_classname(format!("skys3.{}", c.id))
            .set_time(Duration::from_millis(c.duration_ms));
        if c.status == Status::Warn {
            case.set_system_out(format!("{}\n{}", label("WARN"), details(c)));
        }
        suite.add_test_case(case);
    }
    suite
}
