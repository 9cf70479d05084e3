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
    /// Fetch a data set's official files (checksummed; files already present are kept).
    Download {
        /// mnist or fashion-mnist.
        dataset: pathprox::data::DatasetKind,
        /// Directory to write into. Default: data/mnist or data/fashion-mnist.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Mirror to fetch from (the file names are appended). Default: the well-known public mirror.
        #[arg(long)]
        base_url: Option<String>,
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
            use pathprox::train::method::Method;
            let steps = [Method::WeightDecay, Method::PathProx { balance: true }]
                .into_iter()
                .map(|m| pathprox::bench::task1_step(&gpu, m))
                .collect::<pathprox::Result<Vec<_>>>()?;
            pathprox::bench::print_steps(&steps);
        }
        Command::Download { dataset, data_dir, base_url } => {
            use pathprox::data::download::{self, Outcome};
            let mut req = download::Request::official(dataset);
            req.dir = data_dir.unwrap_or(req.dir);
            req.base_url = base_url.unwrap_or(req.base_url);
            for r in download::download(&req)? {
                match r.outcome {
                    Outcome::AlreadyPresent => println!("{}: already present and valid", r.path.display()),
                    Outcome::Downloaded { bytes } => println!("{}: downloaded {bytes} bytes, checksum ok", r.path.display()),
                }
            }
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
