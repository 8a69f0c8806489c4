//! `sdistill completions SHELL` and `sdistill man`: generated from the clap definition, so
//! they can never disagree with the parser.
//!
//! Packagers run these at build time (`sdistill completions bash > …/sdistill`,
//! `sdistill man --dir share/man/man1`); users can too.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, EXIT_ENVIRONMENT, EXIT_OK};

#[derive(Debug, Args)]
pub(super) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Debug, Args)]
pub(super) struct ManArgs {
    /// Write `sdistill.1` and one page per subcommand (`sdistill-inspect.1`, ...) into
    /// this directory instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell` on stdout.
pub(super) fn completions(args: CompletionsArgs) -> u8 {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "sdistill", &mut out);
    emit(&out)
}

/// Prints the man page (roff) on stdout, or writes every page into `--dir`.
pub(super) fn man(args: ManArgs) -> u8 {
    let command = Cli::command();
    match &args.dir {
        Some(dir) => match write_pages(command, dir) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!(
                    "sdistill: cannot write man pages into {}: {e}",
                    dir.display()
                );
                EXIT_ENVIRONMENT
            }
        },
        None => {
            let mut out = Vec::new();
            match clap_mangen::Man::new(command).render(&mut out) {
                Ok(()) => emit(&out),
                Err(e) => {
                    eprintln!("sdistill: cannot render the man page: {e}");
                    EXIT_ENVIRONMENT
                }
            }
        }
    }
}

fn write_pages(command: clap::Command, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(command, dir)
}

fn emit(bytes: &[u8]) -> u8 {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Ok(()) => EXIT_OK,
        Err(_) => EXIT_ENVIRONMENT,
    }
}
