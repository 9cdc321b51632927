//! The `skys3` binary: parse, run, exit with the documented code.

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("skys3: cannot start the async runtime: {e}");
            std::process::exit(skys3::exit::USAGE);
        }
    };
    let code = runtime.block_on(skys3::cli::run(std::env::args_os()));
    // Do not wait for stray background work (an unfinished request after a timeout): the verdict is printed.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    // A credential_process or exec plugin cut by the deadline must not outlive the run.
    skys3::reap::descendants_kill();
    std::process::exit(code);
}
