//! Library usage: inspect sdists from Rust, the way a resolver would.
//!
//! One `Inspector` is built once and reused for every input; it loads (and, when allowed,
//! installs) the sandbox runtime on first need and shares the compiled module across
//! threads. Each answer says how it was obtained and carries a hash-pinned requirement.
//!
//! Run: `cargo run --example inspect -- examples/sample/static-demo examples/sample/setup-py-demo`

use std::path::PathBuf;

use sdistill::{Inspector, Options};

fn main() {
    let inputs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if inputs.is_empty() {
        eprintln!("usage: inspect SDIST_OR_DIR...");
        std::process::exit(2);
    }
    let inspector = Inspector::new(Options::default());
    for report in inspector.inspect_batch(&inputs, 2, |_, _| {}) {
        match &report.outcome {
            Ok(meta) => {
                println!(
                    "{} {} (via {})",
                    meta.name,
                    meta.version,
                    meta.method.as_str()
                );
                for req in &meta.requires_dist {
                    println!("  requires {req}");
                }
                if let Some(pin) = &meta.pin {
                    println!("  {pin}");
                }
            }
            Err(e) => println!("{}: [{}] {e}", report.input.display(), e.kind()),
        }
        for w in &report.warnings {
            println!("  warning: {w}");
        }
    }
}
