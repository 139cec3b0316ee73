//! The `fluxgate` binary. Everything lives in the library; this only reports errors on one
//! line and sets the exit code.

use clap::Parser;
use std::process::ExitCode;

use server::one_shot_heap::OneShotHeap;

/// The system allocator, until a one-shot command switches on its bump region.
#[global_allocator]
static HEAP: OneShotHeap = OneShotHeap::new();

fn main() -> ExitCode {
    keep_big_allocations_out_of_the_heap();
    let cli = server::cli::Cli::parse();
    let result = if cli.command.is_blocking() {
        HEAP.switch_on();
        server::cli::run_blocking(&cli)
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| runtime.block_on(server::cli::run(cli)))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fluxgate: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Each Argon2 password check allocates 19 MiB. glibc raises its mmap threshold after the
/// first such block is freed, so later ones land in per-thread heaps that are never given
/// back: an idle server would sit on ~70 MB after a few sign-ins. A fixed threshold keeps
/// them mmapped and returned on free (idle RSS stays ~15 MB).
fn keep_big_allocations_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any other thread starts
    // allocating large blocks, and M_MMAP_THRESHOLD accepts any value up to 32 MiB.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
