//! The `canopy` binary: parses the command line and runs one subcommand (see the library).

use std::process::ExitCode;

use canopy::cli::Cli;
use canopy::{output, telemetry};
use clap::Parser;

/// mimalloc rather than the system allocator: a proxied call makes a few dozen short-lived
/// allocations, and glibc's malloc and free were a sixth of the gateway's CPU (BENCHMARKS.md).
/// It is built without transparent huge pages, which cost ~40 MB of RSS under 1,000 streams.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_logging(&cli.global.log, cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            output::error(&format!("cannot start the async runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(canopy::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            output::error(&format!("{error:#}"));
            ExitCode::FAILURE
        }
    }
}
