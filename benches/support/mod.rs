//! What both benchmarks share beyond the lab.

/// The benchmarks' added latency per request: 50 ms, or `SKYS3_BENCH_LATENCY_MS`.
pub fn bench_latency_ms() -> u64 {
    std::env::var("SKYS3_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}
