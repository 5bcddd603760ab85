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
    let runtime = match runtime() {
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

/// The async runtime. Given one CPU (by an affinity mask or a cgroup quota), one thread runs
/// everything: a work-stealing scheduler would have no other worker to hand work to, and its
/// bookkeeping cost 5–10 % of a proxied call's CPU (BENCHMARKS.md, "One CPU, one thread").
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_cpu {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().on_thread_park(trim::on_park).build()
}

/// Handing memory back after a burst. mimalloc returns a thread's freed pages to the system
/// only when that thread allocates again, so a runtime worker that goes quiet after 1,000
/// streams kept their ~100 MB until the next burst. A worker that parks (has nothing to do)
/// collects its freed pages, at most once a second, so memory follows the load down within
/// about a second of quiet and busy workers, which rarely park, pay nothing.
mod trim {
    use std::cell::Cell;
    use std::time::{Duration, Instant};

    /// The shortest time between two collections on one thread.
    const EVERY: Duration = Duration::from_secs(1);

    thread_local! {
        static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    }

    /// Called by each runtime worker as it parks.
    pub fn on_park() {
        let now = Instant::now();
        LAST.with(|last| {
            if last.get().is_some_and(|at| now.duration_since(at) < EVERY) {
                return;
            }
            last.set(Some(now));
            // SAFETY: `mi_collect` takes no pointers and only touches the calling thread's own
            // heap and the allocator's shared, internally synchronised arenas; it may be called
            // from any thread at any time.
            #[expect(unsafe_code, reason = "one call into the allocator; see SAFETY")]
            unsafe {
                libmimalloc_sys::mi_collect(true);
            }
        });
    }
}
