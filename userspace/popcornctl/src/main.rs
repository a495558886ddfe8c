//! `popcornctl`: inspect and drive a Popcorn multikernel from user space.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use popcornctl::{boot, migrate, ping, status};

#[derive(Parser)]
#[command(version, about = "Inspect and drive a Popcorn multikernel")]
struct Cli {
    /// Root of the Popcorn sysfs tree.
    #[arg(long, global = true, default_value = status::DEFAULT_ROOT, value_name = "DIR")]
    sysfs: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show every kernel with its role, state, CPUs and memory.
    Status,
    /// Start a secondary kernel on CPUS (writes /sys/kernel/popcorn/boot).
    Boot(BootCommand),
    /// Stop a secondary kernel (forced after a timeout) and take its CPUs
    /// and memory back. Exits non-zero unless it stopped cleanly (not
    /// crashed, not forced).
    Shutdown {
        /// The kernel's id, as `status` shows it.
        id: u32,
    },
    /// Send messages to another kernel and print their round-trip times.
    Ping {
        /// The kernel's id (as `status` shows it).
        id: u32,
        /// Stop after this many messages.
        #[arg(short = 'c', long, default_value_t = 4)]
        count: u32,
        /// Seconds between messages.
        #[arg(short = 'i', long, default_value_t = 1.0)]
        interval: f64,
    },
    /// Forget a stopped or crashed kernel (removes its entry).
    Release {
        /// The kernel's id, as `status` shows it.
        id: u32,
    },
    /// Move a running process to another kernel. Its parent keeps waiting
    /// on the same PID here, and signals sent to it reach the process.
    Migrate {
        /// The process (single-threaded, statically linked, console files).
        pid: u32,
        /// The kernel to move it to, as `status` shows it.
        kernel: u32,
    },
    /// (Started by the kernel on a migration's destination.)
    #[command(hide = true)]
    Restore {
        /// The migration's id.
        id: u64,
        /// The PID the process had where it comes from: kept if free here.
        #[arg(long)]
        pid: Option<i32>,
    },
}

#[derive(Args)]
struct BootCommand {
    /// CPUs to give the new kernel, e.g. 2-3 or 2,5-6.
    cpus: String,
    /// Memory for it, e.g. 512M (default: a fair share of the free pool).
    #[arg(long)]
    mem: Option<String>,
    /// Kernel image (default: the module's, /popcorn/bzImage).
    #[arg(long)]
    kernel: Option<String>,
    /// Initramfs (default: the module's).
    #[arg(long)]
    initrd: Option<String>,
    /// Extra kernel command-line arguments.
    #[arg(long)]
    cmdline: Option<String>,
}

fn fail(what: &str, err: impl std::fmt::Display) -> ExitCode {
    eprintln!("popcornctl: {what}: {err} (the kernel log says why)");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Status => match status::read_status(&cli.sysfs) {
            Ok(s) => {
                print!("{}", status::render(&s));
                print!("{}", migrate::render(&migrate::processes(&cli.sysfs)));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("popcornctl: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Boot(b) => {
            let args = boot::BootArgs {
                cpus: b.cpus,
                mem: b.mem,
                kernel: b.kernel,
                initrd: b.initrd,
                cmdline: b.cmdline,
            };
            match boot::boot(&cli.sysfs, &args) {
                Ok(Some(id)) => {
                    println!("kernel {id} started");
                    ExitCode::SUCCESS
                }
                Ok(None) => {
                    println!("started");
                    ExitCode::SUCCESS
                }
                Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                    // Refused here, before anything was written.
                    eprintln!("popcornctl: boot: {e}");
                    ExitCode::FAILURE
                }
                Err(e) => fail(&format!("boot {}", boot::request_line(&args)), e),
            }
        }
        Command::Shutdown { id } => match boot::shutdown(&cli.sysfs, id) {
            Ok(state) => {
                println!("kernel {id} {state}");
                ExitCode::SUCCESS
            }
            // Ended, but not cleanly: say how on stdout too, and fail.
            Err(e) => {
                if let Some(state) = &e.state {
                    println!("kernel {id} {state}");
                }
                fail(&format!("shutdown {id}"), e)
            }
        },
        Command::Ping {
            id,
            count,
            interval,
        } => run_ping(&cli.sysfs, id, count, interval),
        Command::Migrate { pid, kernel } => match migrate::migrate(&cli.sysfs, pid, kernel) {
            Ok(()) => {
                println!("process {pid} now runs on kernel {kernel}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("popcornctl: migrate {pid} to kernel {kernel}: {}", migrate::explain(&e, kernel));
                ExitCode::FAILURE
            }
        },
        Command::Restore { id, pid } => match migrate::restore(&cli.sysfs, id, pid) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("restore {id}"), e),
        },
        Command::Release { id } => match boot::release(&cli.sysfs, id) {
            Ok(()) => {
                println!("kernel {id} released");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("release {id}"), e),
        },
    }
}

fn run_ping(root: &std::path::Path, id: u32, count: u32, interval: f64) -> ExitCode {
    let file = match ping::ping_file(root, id) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("popcornctl: ping: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !(0.0..=3600.0).contains(&interval) {
        eprintln!("popcornctl: ping: interval must be 0 to 3600 seconds");
        return ExitCode::FAILURE;
    }
    println!("PING kernel {id}: {} bytes through the message layer", ping::PING_BYTES);
    let mut probes = Vec::new();
    for seq in 0..count {
        if seq > 0 {
            std::thread::sleep(std::time::Duration::from_secs_f64(interval));
        }
        let probe = ping::probe(&file);
        println!("{}", ping::probe_line(id, seq, &probe));
        probes.push(probe);
    }
    print!("{}", ping::summary(id, &probes));
    if probes.iter().any(|p| matches!(p, ping::Probe::Reply(_))) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
