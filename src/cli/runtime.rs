//! `sdistill runtime`: install and describe the pinned guest runtime.

use clap::Subcommand;

use super::{sandbox_config, shown, RuntimeArgs, EXIT_ENVIRONMENT, EXIT_OK};
use crate::sandbox::runtime;

#[derive(Debug, Subcommand)]
pub(super) enum RuntimeCommand {
    /// Download every artifact of python-wasm/runtime.lock, verify and install it.
    Install(RuntimeArgs),
    /// Show what is installed, where, and its hashes.
    Info(RuntimeArgs),
}

impl RuntimeCommand {
    /// Runs the subcommand; returns the exit status.
    pub(super) fn run(self) -> u8 {
        match self {
            RuntimeCommand::Install(args) => runtime_install(args),
            RuntimeCommand::Info(args) => runtime_info(args),
        }
    }
}

fn runtime_install(args: RuntimeArgs) -> u8 {
    let config = sandbox_config(&args, None, false);
    match runtime::install(&config, &mut |msg| config.notify.say(msg)) {
        Ok(installed) => {
            println!("runtime installed in {}", installed.dir.display());
            EXIT_OK
        }
        Err(e) => {
            eprintln!("sdistill: {}", shown(&e.to_string()));
            EXIT_ENVIRONMENT
        }
    }
}

fn runtime_info(args: RuntimeArgs) -> u8 {
    let config = sandbox_config(&args, None, true);
    match runtime::info(&config) {
        Ok(text) => {
            print!("{text}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("sdistill: {}", shown(&e.to_string()));
            EXIT_ENVIRONMENT
        }
    }
}
