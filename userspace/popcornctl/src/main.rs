//! `popcornctl`: inspect and drive a Popcorn multikernel from user space.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use popcornctl::status;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Status => match status::read_status(&cli.sysfs) {
            Ok(s) => {
                print!("{}", status::render(&s));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("popcornctl: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
