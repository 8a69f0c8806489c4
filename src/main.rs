//! The `sdistill` binary: a thin shell over [`sdistill::cli`].

fn main() -> std::process::ExitCode {
    sdistill::cli::main()
}
