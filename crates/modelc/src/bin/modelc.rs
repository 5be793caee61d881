//! The `modelc` binary: the command line of [`modelc::cli`], which the Python package runs
//! too (`python -m modelc`).

use std::process::ExitCode;

use modelc::cli::HeapUse;

/// Every activation the interpreter computes is a fresh allocation freed after its last
/// read; mimalloc reuses those pages where glibc's malloc returned them to the system and
/// took page faults to get them back on the next run. Built without transparent huge pages
/// (`no_thp`): with them, every 4 KiB page the heap touched could hold a 2 MiB page resident,
/// and `modelc run` of a ResNet-50 peaked at 160 MiB instead of 134 MiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let code = modelc::cli::main_on_this_thread(std::env::args_os(), |heap| {
        if heap == HeapUse::ReadsAndWrites {
            return_freed_pages_promptly();
        }
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// mimalloc's `purge_delay` option, in its v3 header's `mi_option_e` (`mimalloc.h`); the
/// Rust bindings list no constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets mimalloc's purge delay from its default of 1000 ms to 10 ms, for commands that read
/// a graph and write one. Converting the 200,000-node Relu chain to `.tflite` peaked at
/// 118-121 MB with the default, the reader's freed pages still held while the writer
/// allocated; with 10 ms it peaks at 86 MB. Commands that run models keep the default:
/// there a short delay hands each run's activation pages back only to fault them in again
/// on the next run (MobileNetV2 11 -> 15 ms a run, measured).
#[allow(unsafe_code)]
fn return_freed_pages_promptly() {
    // SAFETY: `mi_option_set` stores a value in mimalloc's option table (an atomic store);
    // it takes no pointers, and the purge delay may be changed at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) }
}
