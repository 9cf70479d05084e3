//! The `pathprox` command line: parses arguments, calls the library, prints. Nothing else lives here.

use std::process::ExitCode;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand};
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

/// Overrides of a task's paper settings (all optional).
#[derive(Args, Clone, Debug)]
struct TaskArgs {
    /// Training iterations per method.
    #[arg(long)]
    iters: Option<u64>,
    /// Learning rate γ.
    #[arg(long)]
    lr: Option<f64>,
    /// Regularisation strength λ.
    #[arg(long)]
    lambda: Option<f64>,
    /// Mini-batch size.
    #[arg(long)]
    batch: Option<usize>,
    /// Seed of the initialisation, the data split and the batch order.
    #[arg(long)]
    seed: Option<u64>,
    /// Comma-separated methods: wd, wd-wn, pathprox, pathprox-nobalance, pathnorm-sgd, lasso, group-lasso.
    #[arg(long, value_delimiter = ',')]
    methods: Option<Vec<String>>,
    /// Iterations between log points (metrics over the whole data sets).
    #[arg(long)]
    log_every: Option<u64>,
    /// Log points between checkpoints.
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// Run PathProx without layer-wise balancing.
    #[arg(long)]
    no_balance: bool,
    /// mnist or fashion-mnist (Tasks 1, 2, 5); Task 3 is cifar10, Task 4 svhn.
    #[arg(long)]
    dataset: Option<String>,
    /// Where the data files are (default: data/, /usr/share/datasets/fashion-mnist for Fashion-MNIST,
    /// data/cifar10 or data/svhn).
    #[arg(long)]
    data_dir: Option<String>,
    /// Rows per forward pass when evaluating.
    #[arg(long)]
    eval_batch: Option<usize>,
    /// Use at most this many rows of each of the training, validation and test sets (quick runs).
    #[arg(long)]
    max_rows: Option<usize>,
    /// Where run directories are created.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Continue the run in this directory from its checkpoints (its settings are reused).
    #[arg(long)]
    resume: Option<PathBuf>,
}

impl TaskArgs {
    fn overrides(&self) -> pathprox::tasks::Overrides {
        pathprox::tasks::Overrides {
            iters: self.iters,
            lr: self.lr,
            lambda: self.lambda,
            batch: self.batch,
            seed: self.seed,
            methods: self.methods.clone(),
            log_every: self.log_every,
            checkpoint_every: self.checkpoint_every,
            no_balance: self.no_balance,
            dataset: self.dataset.clone(),
            data_dir: self.data_dir.clone(),
            eval_batch: self.eval_batch,
            max_rows: self.max_rows,
        }
    }
}

/// `pathprox toy`: the points, the network and the run.
#[derive(Args, Clone, Debug)]
struct ToyArgs {
    /// The point set: outliers (two clouds, some points inside the other class), moons or xor.
    #[arg(long, default_value = "outliers")]
    data: String,
    /// Points before the outliers.
    #[arg(long)]
    points: Option<usize>,
    /// Outliers: points placed in the other class's cloud (outliers) or with their label flipped.
    #[arg(long)]
    outliers: Option<usize>,
    /// Standard deviation of the clouds, or of the jitter.
    #[arg(long)]
    noise: Option<f32>,
    /// Hidden units.
    #[arg(long)]
    width: Option<usize>,
    /// Learning rate γ (the paper: 0.1).
    #[arg(long)]
    lr: Option<f64>,
    /// Regularisation strength λ.
    #[arg(long)]
    lambda: Option<f64>,
    /// Full-batch iterations per method.
    #[arg(long, default_value_t = pathprox::tasks::toy::DEFAULT_ITERS)]
    iters: u64,
    /// Iterations between log points.
    #[arg(long, default_value_t = pathprox::tasks::toy::DEFAULT_LOG_EVERY)]
    log_every: u64,
    /// Seed of the points, the initialisation and the batch order.
    #[arg(long)]
    seed: Option<u64>,
    /// Comma-separated methods (default: wd,pathprox).
    #[arg(long, value_delimiter = ',')]
    methods: Option<Vec<String>>,
    /// Where run directories are created.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Continue the run in this directory from its checkpoints (its settings are reused).
    #[arg(long)]
    resume: Option<PathBuf>,
}

impl ToyArgs {
    fn settings(&self) -> pathprox::train::toy::ToySettings {
        let mut s = pathprox::train::toy::ToySettings::default();
        s.data.dataset = self.data.clone();
        s.data.points = self.points.unwrap_or(s.data.points);
        s.data.outliers = self.outliers.unwrap_or(s.data.outliers);
        s.data.noise = self.noise.unwrap_or(s.data.noise);
        s.data.seed = self.seed.unwrap_or(s.data.seed);
        s.width = self.width.unwrap_or(s.width);
        s.lr = self.lr.unwrap_or(s.lr);
        s.lambda = self.lambda.unwrap_or(s.lambda);
        s
    }
}

fn run_toy(cli: &Cli, args: &ToyArgs) -> pathprox::Result<()> {
    use pathprox::tasks::{self, Start};
    let start = match &args.resume {
        Some(dir) => Start::Resume(dir),
        None => Start::New(Box::new(tasks::toy::config(&args.settings(), args.iters, args.log_every, args.methods.clone())?)),
    };
    let gpu = open_gpu(cli)?;
    install_interrupt()?;
    let dir = tasks::train(&gpu, start, &args.runs_dir, &INTERRUPTED, &pathprox::progress::bar::Bar::new())?;
    println!("run directory: {}", dir.display());
    Ok(())
}

/// Task 5's grid and sparsity levels, besides the common task settings.
#[derive(Args, Clone, Debug)]
struct Task5Args {
    #[command(flatten)]
    task: TaskArgs,
    /// Learning rates of the grid (default 0.01,0.03).
    #[arg(long, value_delimiter = ',')]
    lrs: Option<Vec<f64>>,
    /// λ values of the grid (default 1e-4,1e-3,3e-3,1e-2).
    #[arg(long, value_delimiter = ',')]
    lambdas: Option<Vec<f64>>,
    /// Sparsity levels in percent of units removed (default 0,10,…,90,95).
    #[arg(long, value_delimiter = ',')]
    levels: Option<Vec<f64>>,
    /// Retraining iterations at each sparsity level (default 2000).
    #[arg(long)]
    retrain_iters: Option<u64>,
    /// One threshold over all layers of units instead of the same fraction of each layer.
    #[arg(long)]
    global_threshold: bool,
}

/// The grid search of `sweep`, besides the common task settings.
#[derive(Args, Clone, Debug)]
struct SweepArgs {
    /// task1, task2, task3 or task4.
    task: String,
    #[command(flatten)]
    task_args: TaskArgs,
    /// Learning rates of the grid (default 0.003,0.01,0.03,0.1,0.3,0.5; task3 0.01,0.03,0.1,0.3; task4
    /// 0.03,0.1,0.3,0.5).
    #[arg(long, value_delimiter = ',')]
    lrs: Option<Vec<f64>>,
    /// λ values of the grid (default 1e-5,3e-5,1e-4,3e-4,1e-3,3e-3,1e-2; task4 1e-4,3e-4,1e-3,3e-3).
    #[arg(long, value_delimiter = ',')]
    lambdas: Option<Vec<f64>>,
    /// Seeds in all: the search runs at --seed, each method's best point is re-run at --seed + 1, … (default 4).
    #[arg(long)]
    seeds: Option<u64>,
    /// An MNIST-C directory (published, or from `pathprox corrupt mnist`): adds each run's corrupted
    /// accuracy (its best-validation model, mean over the corruptions) to sweep.jsonl and the table.
    #[arg(long)]
    corrupted_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Task 1: MLP-3-400 factorized on 100 MNIST images per class; weight decay vs PathProx.
    Task1(TaskArgs),
    /// Task 2: MLP-6-400 on MNIST (55k/5k split); weight decay vs PathProx.
    Task2(TaskArgs),
    /// Task 3: VGG19 on CIFAR-10 (45k/5k split, crop + flip), batch 128, lr 0.1 (×0.1 at epochs 80, 120),
    /// λ 1e-3, 160 epochs; weight decay vs PathProx (add wd-wn with --methods).
    Task3(TaskArgs),
    /// Task 4: VGG19 on SVHN (67,257/6,000 split), one point of the paper's lr × λ grid (default lr 0.1,
    /// λ 1e-3; `sweep task4` runs the grid); weight decay vs PathProx.
    Task4(TaskArgs),
    /// Task 5: sparsity of wd, lasso, group lasso (MLP-3-800) and PathProx (MLP-3-800 factorized) over an
    /// lr × λ grid: train with pruning, cut to each sparsity level, retrain, test.
    Task5(Task5Args),
    /// The paper's Fig. 2: a 2-D two-class toy with outliers, one hidden layer, trained full-batch with
    /// weight decay and with PathProx from the same initialisation; writes figures/fig2-toy.png and the logs.
    Toy(ToyArgs),
    /// Grid search (Table 1): every method over lr × λ, each method's best point by validation accuracy
    /// re-run with more seeds; writes sweep.jsonl, table1.md and figures/sweep.png.
    Sweep(SweepArgs),
    /// List the adapters wgpu can see, best first.
    Adapters,
    /// Run N steps of a method on a fixed batch (the first B training images) and write the parameters.
    Step {
        /// mlp-6-400, mlp-3-400-factorized, mlp-3-800, mlp-3-800-factorized or vgg19.
        #[arg(long)]
        model: String,
        /// wd, wd-wn, pathprox, pathprox-nobalance, pathnorm-sgd, lasso or group-lasso.
        #[arg(long)]
        method: String,
        /// Initial parameters (safetensors); default: the seeded initialisation.
        #[arg(long)]
        init: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where the data files are (default: data/).
        #[arg(long = "data", alias = "data-dir")]
        data_dir: Option<String>,
        /// mnist, fashion-mnist, cifar10 or svhn (vgg19 takes the colour ones).
        #[arg(long, default_value = "mnist")]
        dataset: String,
        #[arg(long, default_value_t = 1)]
        iters: u64,
        #[arg(long, default_value_t = 200)]
        batch: usize,
        #[arg(long, default_value_t = 0.1)]
        lr: f64,
        #[arg(long, default_value_t = 1e-4)]
        lambda: f64,
        /// Output safetensors file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print GFLOP/s of the kernels at the paper's shapes and the time of a Task-1 training step.
    Bench {
        /// Skip the largest problems (and the VGG19 step).
        #[arg(long)]
        quick: bool,
        /// Only the VGG19 training step (batch 128): seconds per step on a CPU adapter.
        #[arg(long, conflicts_with = "quick")]
        vgg19: bool,
        /// Only where a Task-1 step's time goes: each of its dispatches timed on its own.
        #[arg(long, conflicts_with_all = ["quick", "vgg19"])]
        profile: bool,
    },
    /// Fetch a data set's official files (checksummed; files already present are kept).
    Download {
        /// mnist, fashion-mnist, cifar10 or svhn.
        dataset: pathprox::data::download::Set,
        /// cifar10: fetch the Python version (pickled batches) instead of the binary one.
        #[arg(long)]
        python: bool,
        /// Directory to write into. Default: data/mnist, data/fashion-mnist, data/cifar10 or data/svhn.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Mirror to fetch from (the file names are appended). Default: where the files are published
        /// (for MNIST, the well-known public mirror).
        #[arg(long)]
        base_url: Option<String>,
    },
    /// Local Lipschitz constants (the paper's Fig. 1, middle): σ_max of ∂logits/∂input on the first N test
    /// images, for every method's best-validation checkpoint in RUN_DIR; writes RUN_DIR/lipschitz.jsonl and
    /// RUN_DIR/figures/lipschitz.png.
    Lipschitz {
        run_dir: PathBuf,
        #[arg(long, default_value_t = pathprox::tasks::lipschitz::DEFAULT_SAMPLES)]
        samples: usize,
    },
    /// Write a model file in another form. --compact: without the units whose w or v is all zero.
    Export {
        /// Remove every unit whose w or v is all zero (the same function, smaller widths).
        #[arg(long)]
        compact: bool,
        checkpoint: PathBuf,
        out: PathBuf,
    },
    /// Test accuracy, cross-entropy and inference time of a model file (checkpoint or compact export).
    Eval {
        checkpoint: PathBuf,
        /// A second model file to evaluate and compare with (max logit difference, agreeing predictions).
        #[arg(long)]
        compare: Option<PathBuf>,
        /// Use this run's test set (default: the run holding the checkpoint, if any).
        #[arg(long)]
        run: Option<PathBuf>,
        /// Where the data files are (the test set Task 2 uses from there).
        #[arg(long)]
        data_dir: Option<String>,
        #[arg(long, default_value_t = 1000)]
        eval_batch: usize,
        /// Timed passes over the test set (the median is reported).
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
    /// Generate MNIST-C's corruptions from the official MNIST test set, in MNIST-C's layout (generated
    /// locally: not the published MNIST-C; every output says so).
    Corrupt {
        /// The data set to corrupt: mnist.
        dataset: String,
        /// Where the official t10k-* files are (default: data/).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Output directory: <out>/<corruption>/test_images.npy, test_labels.npy.
        #[arg(long, default_value = "data/mnist_c_local")]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Corrupt only the first N test images (quick runs, CI).
        #[arg(long)]
        max_rows: Option<usize>,
    },
    /// Accuracy of a checkpoint on each corruption of MNIST-C (published or `pathprox corrupt`) and the mean.
    EvalCorrupted {
        /// A checkpoint, e.g. runs/task1-<time>/checkpoints/pathprox.safetensors.
        checkpoint: PathBuf,
        /// An MNIST-C directory (holding <corruption>/test_images.npy, or mnist_c/ with them).
        #[arg(long)]
        data_dir: PathBuf,
        /// Append the JSON result here (default: corrupted.jsonl beside the checkpoint).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Rows per forward pass.
        #[arg(long, default_value_t = 1000)]
        eval_batch: usize,
        /// Evaluate only the first N images of each corruption.
        #[arg(long)]
        max_rows: Option<usize>,
    },
    /// (Re)draw the figures of a training run into RUN_DIR/figures/ and print their paths and the summary table.
    Plot {
        /// A run directory: config.json and one <method>.jsonl per method.
        run_dir: std::path::PathBuf,
    },
    /// Serve a directory over HTTP on 127.0.0.1 (the browser demo: `web/build.sh`, then `pathprox serve`).
    Serve {
        /// The directory to serve.
        #[arg(default_value = "web/dist")]
        dir: PathBuf,
        #[arg(long, default_value_t = 8000)]
        port: u16,
    },
}

fn choice(cli: &Cli) -> pathprox::Result<AdapterChoice> {
    let mut c = AdapterChoice { name: cli.adapter.clone(), ..Default::default() };
    if let Some(b) = &cli.backend {
        c = c.with_backend_names(b)?;
    }
    Ok(c)
}

/// The benchmark's progress line on stderr (hidden when stderr is not a terminal): elapsed time and
/// what is being measured. A spinner rather than a bar: rows differ in cost by 1000×, so a count says little.
fn bench_spinner() -> indicatif::ProgressBar {
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_style(indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} measuring {msg}").expect("valid template"));
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    spinner
}

fn open_gpu(cli: &Cli) -> pathprox::Result<Gpu> {
    let gpu = Gpu::new_blocking(&choice(cli)?)?;
    eprintln!("using {}", gpu.describe());
    if let Some(note) = adapter::slow_mesa_note_here(&gpu.info) {
        eprintln!("note: {note}");
    }
    Ok(gpu)
}

/// Set by Ctrl-C: training stops after the current submission and checkpoints.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn install_interrupt() -> pathprox::Result<()> {
    ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130); // a second Ctrl-C: give up at once
        }
        eprintln!("\ninterrupted: finishing the current steps and writing a checkpoint (Ctrl-C again to quit at once)");
    })
    .map_err(|e| pathprox::Error::Other(format!("cannot install the Ctrl-C handler: {e}")))
}

fn run_task(cli: &Cli, task: &str, args: &TaskArgs) -> pathprox::Result<()> {
    let gpu = open_gpu(cli)?;
    install_interrupt()?;
    let bar = pathprox::progress::bar::Bar::new();
    let dir = pathprox::tasks::run(&gpu, task, &args.overrides(), &args.runs_dir, args.resume.as_deref(), &INTERRUPTED, &bar)?;
    println!("run directory: {}", dir.display());
    Ok(())
}

fn run_task5(cli: &Cli, args: &Task5Args) -> pathprox::Result<()> {
    let gpu = open_gpu(cli)?;
    install_interrupt()?;
    let o = pathprox::tasks::task5::Task5Overrides {
        base: args.task.overrides(),
        lrs: args.lrs.clone(),
        lambdas: args.lambdas.clone(),
        levels: args.levels.clone(),
        retrain_iters: args.retrain_iters,
        global_threshold: args.global_threshold,
    };
    let bar = pathprox::progress::bar::Bar::new();
    let dir = pathprox::tasks::task5::run(&gpu, &o, &args.task.runs_dir, args.task.resume.as_deref(), &INTERRUPTED, &bar)?;
    println!("run directory: {}", dir.display());
    Ok(())
}

fn corrupt(dataset: &str, data_dir: &std::path::Path, out: &std::path::Path, seed: u64, max_rows: Option<usize>) -> pathprox::Result<()> {
    use pathprox::data::corrupt;
    if dataset != "mnist" {
        return Err(pathprox::Error::Other(format!("corrupt: unknown data set '{dataset}': only mnist (MNIST-C) can be generated")));
    }
    let test = corrupt::load_test_set(data_dir, max_rows)?;
    eprintln!("corrupting {} images of {} into {}: {}", test.len(), test.source, out.display(), corrupt::NOTE);
    let t = std::time::Instant::now();
    for m in corrupt::generate(&test, out, seed, &pathprox::progress::bar::Bar::new())? {
        println!("{:>14}: {:.1} s", m.name, m.seconds);
    }
    println!("wrote {} ({:.1} s): {}", out.display(), t.elapsed().as_secs_f64(), corrupt::NOTE);
    Ok(())
}

fn run_sweep(cli: &Cli, args: &SweepArgs) -> pathprox::Result<()> {
    let gpu = open_gpu(cli)?;
    install_interrupt()?;
    let o = pathprox::tasks::sweep::SweepOverrides { base: args.task_args.overrides(), lrs: args.lrs.clone(), lambdas: args.lambdas.clone(), seeds: args.seeds, corrupted_dir: args.corrupted_dir.clone() };
    let bar = pathprox::progress::bar::Bar::new();
    let dir = pathprox::tasks::sweep::run(&gpu, &args.task, &o, &args.task_args.runs_dir, args.task_args.resume.as_deref(), &INTERRUPTED, &bar)?;
    println!("sweep directory: {}", dir.display());
    Ok(())
}

fn run(cli: Cli) -> pathprox::Result<()> {
    match &cli.command {
        Command::Task1(args) => run_task(&cli, "task1", args)?,
        Command::Task2(args) => run_task(&cli, "task2", args)?,
        Command::Task3(args) => run_task(&cli, "task3", args)?,
        Command::Task4(args) => run_task(&cli, "task4", args)?,
        Command::Task5(args) => run_task5(&cli, args)?,
        Command::Sweep(args) => run_sweep(&cli, args)?,
        Command::Toy(args) => run_toy(&cli, args)?,
        Command::Step { model, method, init, seed, data_dir, dataset, iters, batch, lr, lambda, out } => {
            let gpu = open_gpu(&cli)?;
            let args = pathprox::tasks::step::StepArgs {
                model: model.clone(),
                method: method.clone(),
                init: init.clone(),
                seed: *seed,
                data_dir: data_dir.clone(),
                dataset: dataset.clone(),
                iters: *iters,
                batch: *batch,
                lr: *lr,
                lambda: *lambda,
                out: out.clone(),
            };
            pathprox::tasks::step::step(&gpu, &args)?;
            println!("wrote {}", out.display());
        }
        Command::Adapters => {
            let adapters = pollster::block_on(adapter::list(&choice(&cli)?));
            if adapters.is_empty() {
                return Err(pathprox::Error::NoAdapter { backends: cli.backend.clone().unwrap_or_else(|| "all".into()) });
            }
            for (i, a) in adapters.iter().enumerate() {
                println!("{}{}", if i == 0 { "* " } else { "  " }, adapter::describe(&a.get_info()));
            }
        }
        Command::Bench { quick, vgg19, profile } => {
            let gpu = open_gpu(&cli)?;
            use pathprox::train::method::Method;
            // Minutes of measuring (and of compiling, on a cold shader cache): say what is being measured.
            let spinner = bench_spinner();
            let on_row = |what: &str| spinner.set_message(what.to_string());
            if *profile {
                println!("adapter: {}\nhost CPU: {}", gpu.describe(), pathprox::bench::host_cpu());
                for method in [Method::WeightDecay, Method::PathProx { balance: true }] {
                    let what = format!("task1 step ({})", method.name());
                    on_row(&format!("{what}, dispatch by dispatch"));
                    let parts = pathprox::bench::task1_step_profile(&gpu, method)?;
                    spinner.suspend(|| pathprox::bench::print_profile(&what, &parts));
                }
                spinner.finish_and_clear();
                return Ok(());
            }
            if !*vgg19 {
                let mut rows = pathprox::bench::matmul_rows(&gpu, *quick, &on_row)?;
                rows.extend(pathprox::bench::conv2d_rows(&gpu, *quick, &on_row)?);
                spinner.suspend(|| pathprox::bench::print_table(&gpu, &rows));
                let steps = [Method::WeightDecay, Method::PathProx { balance: true }]
                    .into_iter()
                    .map(|m| {
                        on_row(&format!("task1 step ({})", m.name()));
                        pathprox::bench::task1_step(&gpu, m)
                    })
                    .collect::<pathprox::Result<Vec<_>>>()?;
                spinner.suspend(|| pathprox::bench::print_steps(&steps));
            } else {
                println!("adapter: {}\nhost CPU: {}", gpu.describe(), pathprox::bench::host_cpu());
            }
            if !*quick {
                // Issue 8's figure: one VGG19 training step at batch 128 (seconds on a CPU adapter).
                on_row("vgg19 step (pathprox), batch 128");
                let (row, bytes) = pathprox::bench::vgg19_step(&gpu, Method::PathProx { balance: true })?;
                spinner.suspend(|| {
                    pathprox::bench::print_steps(std::slice::from_ref(&row));
                    println!("VGG19 at batch 128: parameters, gradients and activations take {:.0} MB on the GPU", bytes as f64 / 1e6);
                });
            }
            spinner.finish_and_clear();
        }
        Command::Download { dataset, python, data_dir, base_url } => {
            use pathprox::data::download::{self, Outcome};
            let mut req = download::Request::of(*dataset, *python)?;
            req.dir = data_dir.clone().unwrap_or(req.dir);
            req.base_url = base_url.clone().unwrap_or(req.base_url);
            for r in download::download(&req)? {
                match r.outcome {
                    Outcome::AlreadyPresent => println!("{}: already present and valid", r.path.display()),
                    Outcome::Downloaded { bytes } => println!("{}: downloaded {bytes} bytes, checksum ok", r.path.display()),
                }
            }
        }
        Command::Lipschitz { run_dir, samples } => {
            let gpu = open_gpu(&cli)?;
            let bar = pathprox::progress::bar::Bar::new();
            println!("{}", pathprox::tasks::lipschitz::report(&pathprox::tasks::lipschitz::run(&gpu, run_dir, *samples, &bar)?));
        }
        Command::Export { compact, checkpoint, out } => {
            if !compact {
                return Err(pathprox::Error::Other("export: say what to export; the only form is --compact".into()));
            }
            let c = pathprox::tasks::export::export_compact(checkpoint, out)?;
            println!("{}wrote {}", pathprox::tasks::export::describe(&c), out.display());
        }
        Command::Eval { checkpoint, compare, run, data_dir, eval_batch, repeats } => {
            let gpu = open_gpu(&cli)?;
            let args = pathprox::tasks::evaluate::EvalArgs { checkpoint: checkpoint.clone(), compare: compare.clone(), run: run.clone(), data_dir: data_dir.clone(), batch: *eval_batch, repeats: *repeats };
            print!("{}", pathprox::tasks::evaluate::run(&gpu, &args, &|s| eprintln!("{s}"))?);
        }
        Command::Corrupt { dataset, data_dir, out, seed, max_rows } => corrupt(dataset, data_dir, out, *seed, *max_rows)?,
        Command::EvalCorrupted { checkpoint, data_dir, json, eval_batch, max_rows } => {
            let gpu = open_gpu(&cli)?;
            let req = pathprox::tasks::eval_corrupted::Request { checkpoint: checkpoint.clone(), data_dir: data_dir.clone(), eval_batch: *eval_batch, max_rows: *max_rows };
            let report = pathprox::tasks::eval_corrupted::run(&gpu, &req, &pathprox::progress::bar::Bar::new())?;
            print!("{}", report.table());
            println!("wrote {} ({:.1} s)", report.append_json(json.as_deref())?.display(), report.seconds);
        }
        Command::Plot { run_dir } => {
            for path in pathprox::report::write_figures(run_dir)? {
                println!("{}", path.display());
            }
            print!("\n{}", pathprox::report::summary_table(run_dir)?);
        }
        Command::Serve { dir, port } => pathprox::serve::serve(dir, *port)?,
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
        // Everything was written, but a result is missing: distinct from a failure to run at all.
        Err(e @ pathprox::Error::Diverged { .. }) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
