//! The `pathprox` command line: parses arguments, calls the library, prints. Nothing else lives here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pathprox::gpu::{adapter, AdapterChoice, Gpu};

#[derive(Parser)]
#[command(name = "pathprox", version, about = "PathProx and its baselines on a portable WGSL/wgpu engine")]
struct Cli {
    /// GPU backend(s) to search: vulkan, gl, metal, dx12 (comma-separated). Default: all, or WGPU_BACKEND.
    #[arg(long, global = true)]
    backend: Option<String>,
    /// Use the adapter whose name contains this text (case-insensitive), e.g. "llvmpipe".
    #[arg(long, global = true)]
    adapter: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the adapters wgpu can see, best first.
    Adapters,
    /// Print GFLOP/s of the kernels at the paper's shapes and the time of a Task-1 training step.
    Bench {
        /// Skip the largest problems.
        #[arg(long)]
        quick: bool,
    },
    /// (Re)draw the figures of a training run into RUN_DIR/figures/ and print their paths and the summary table.
    Plot {
        /// A run directory: config.json and one <method>.jsonl per method.
        run_dir: std::path::PathBuf,
    },
}

fn choice(cli: &Cli) -> pathprox::Result<AdapterChoice> {
    let mut c = AdapterChoice { name: cli.adapter.clone(), ..Default::default() };
    if let Some(b) = &cli.backend {
        c = c.with_backend_names(b)?;
    }
    Ok(c)
}

fn open_gpu(cli: &Cli) -> pathprox::Result<Gpu> {
    let gpu = Gpu::new_blocking(&choice(cli)?)?;
    eprintln!("using {}", gpu.describe());
    Ok(gpu)
}

fn run(cli: Cli) -> pathprox::Result<()> {
    match cli.command {
        Command::Adapters => {
            let adapters = pollster::block_on(adapter::list(&choice(&cli)?));
            if adapters.is_empty() {
                return Err(pathprox::Error::NoAdapter { backends: cli.backend.clone().unwrap_or_else(|| "all".into()) });
            }
            for (i, a) in adapters.iter().enumerate() {
                println!("{}{}", if i == 0 { "* " } else { "  " }, adapter::describe(&a.get_info()));
            }
        }
        Command::Bench { quick } => {
            let gpu = open_gpu(&cli)?;
            let rows = pathprox::bench::matmul_rows(&gpu, quick)?;
            pathprox::bench::print_table(&gpu, &rows);
        }
        Command::Plot { run_dir } => {
            for path in pathprox::report::write_figures(&run_dir)? {
                println!("{}", path.display());
            }
            print!("\n{}", pathprox::report::summary_table(&run_dir)?);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // Mesa's drivers probe for a Wayland display when a device opens and print an alarming
    // "XDG_RUNTIME_DIR is invalid" when the variable is unset (headless machines, CI). We never open a
    // window, so point it at the temp dir. SAFETY: nothing else runs yet, so no thread reads the environment.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
