//! Process exit codes: part of the CLI contract that CI scripts gate on.

/// No fail and no inconclusive result (warnings allowed).
pub const OK: i32 = 0;
/// At least one check failed.
pub const FAIL: i32 = 1;
/// Usage or input error: bad flag, unreadable file named on the command line, unknown kube context, missing input.
pub const USAGE: i32 = 2;
/// No fail, but at least one check could not decide.
pub const INCONCLUSIVE: i32 = 3;
