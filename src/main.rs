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
    /// Reuse the kernel choices of an earlier sweep (its directory, its tuning/ folder or one file).
    #[arg(long)]
    tuning: Option<PathBuf>,
}

impl SweepArgs {
    fn overrides(&self) -> pathprox::tasks::sweep::SweepOverrides {
        pathprox::tasks::sweep::SweepOverrides {
            base: self.task_args.overrides(),
            lrs: self.lrs.clone(),
            lambdas: self.lambdas.clone(),
            seeds: self.seeds,
            corrupted_dir: self.corrupted_dir.clone(),
            tuning: self.tuning.clone(),
        }
    }
}

/// `pathprox sweep`: the one-process sweep (`sweep TASK`), or one of its parts for array jobs.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct SweepCommand {
    #[command(subcommand)]
    part: Option<SweepPart>,
    /// task1, task2, task3 or task4.
    task: Option<String>,
    #[command(flatten)]
    args: SweepArgs,
    /// Only write the sweep directory (config.json, plan.json) and print its runs; `sweep run` runs them.
    #[arg(long)]
    plan_only: bool,
}

#[derive(Subcommand)]
enum SweepPart {
    /// Run one run of a sweep's plan (an array task): a grid run, or a re-run once the grid is complete.
    Run {
        /// The sweep directory (`sweep TASK --plan-only` writes one).
        dir: PathBuf,
        /// The run's index in plan.json: the grid first, then the re-runs (an array task's id).
        #[arg(long)]
        index: usize,
    },
    /// Per phase: runs done, running, failed, diverged, skipped, missing (exit status 0 when complete).
    Status {
        /// The sweep directory.
        dir: PathBuf,
    },
    /// Table 1, the heat map and the training curves of a complete sweep (names what is missing otherwise).
    Collect {
        /// The sweep directory.
        dir: PathBuf,
    },
    /// Write the sweep's batch scripts and submit them to Slurm: the grid array, the re-run array (after
    /// the grid) and the collect job (after the re-runs). `--resume DIR` submits what is left of a sweep.
    Slurm(Box<SlurmArgs>),
}

#[derive(Args)]
struct SlurmArgs {
    /// task1, task2, task3 or task4.
    task: String,
    #[command(flatten)]
    sweep: SweepArgs,
    /// Slurm partition.
    #[arg(long)]
    partition: Option<String>,
    /// GPUs per array task.
    #[arg(long)]
    gpus_per_task: Option<u32>,
    /// Time limit per array task (e.g. 12:00:00).
    #[arg(long)]
    time: Option<String>,
    /// Array tasks running at once.
    #[arg(long)]
    max_parallel: Option<usize>,
    /// More sbatch options for every job (repeatable), e.g. --sbatch-arg=--account=proj.
    #[arg(long, allow_hyphen_values = true)]
    sbatch_arg: Vec<String>,
    /// Write and print the scripts and the sbatch commands; submit nothing.
    #[arg(long)]
    dry_run: bool,
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
    /// re-run with more seeds; writes sweep.jsonl, table1.md and figures/sweep.png. `sweep run`, `status`,
    /// `collect` and `slurm` run it as independent runs on a cluster (docs/cluster.md).
    Sweep(Box<SweepCommand>),
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
        /// Only where a training step's time goes: each of its dispatches timed on its own (host wall
        /// clock over batched submissions, no timestamp queries, so on any adapter). With --vgg19: the
        /// VGG19 step at batch 128 instead of the Task-1 steps.
        #[arg(long, conflicts_with = "quick")]
        profile: bool,
        /// One table for a hardware GPU: FP32 FMA peak, matmul 1024³ and 4096³ (and % of peak), the conv
        /// passes at VGG19's shapes at batch 128, the Task-1 and VGG19 steps (benches/gpu.sh, docs/gpu.md).
        #[arg(long, conflicts_with_all = ["quick", "vgg19", "profile"])]
        gpu_check: bool,
        /// With --gpu-check: sizes that finish in minutes on a CPU adapter (256³/512³, conv batch 2, VGG19 batch 4).
        #[arg(long, requires = "gpu_check")]
        small: bool,
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

/// The device of a sweep's worker: `--adapter` if given, else the GPU the scheduler assigned
/// (CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES, SLURM_STEP_GPUS, …), else the best adapter; with how.
fn open_assigned_gpu(cli: &Cli) -> pathprox::Result<(Gpu, String)> {
    let (a, why) = pollster::block_on(pathprox::gpu::assigned::select(&choice(cli)?))?;
    let gpu = pollster::block_on(Gpu::from_adapter(&a))?;
    eprintln!("using {} (chosen by: {why})", gpu.describe());
    if let Some(note) = adapter::slow_mesa_note_here(&gpu.info) {
        eprintln!("note: {note}");
    }
    Ok((gpu, why))
}

fn run_sweep(cli: &Cli, cmd: &SweepCommand) -> pathprox::Result<()> {
    use pathprox::tasks::sweep;
    let bar = pathprox::progress::bar::Bar::new();
    match (&cmd.part, &cmd.task) {
        (Some(SweepPart::Run { dir, index }), _) => {
            install_interrupt()?;
            match sweep::run::run_one_index(&|| open_assigned_gpu(cli), dir, *index, &INTERRUPTED, &bar)? {
                sweep::run::Ran::Recorded { .. } => Ok(()),
                sweep::run::Ran::Interrupted => Err(pathprox::Error::Other(format!("index {index} interrupted; its checkpoint is kept, and running it again continues from there"))),
            }
        }
        (Some(SweepPart::Status { dir }), _) => {
            let (text, complete) = sweep::status::report(&sweep::plan::SweepDir::open(dir)?)?;
            print!("{text}");
            if complete { Ok(()) } else { Err(pathprox::Error::Other("the sweep is incomplete".into())) }
        }
        (Some(SweepPart::Collect { dir }), _) => {
            let out = sweep::collect::collect(&sweep::plan::SweepDir::open(dir)?, &bar)?;
            println!("{}\nwrote {} and {}", out.table, dir.join("table1.md").display(), out.figure.display());
            Ok(())
        }
        (Some(SweepPart::Slurm(a)), _) => {
            let s = match &a.sweep.task_args.resume {
                Some(dir) => sweep::open(&a.task, dir)?,
                None => sweep::plan(&a.task, &a.sweep.overrides(), &a.sweep.task_args.runs_dir, &serde_json::Value::Null)?,
            };
            let mut global_args = Vec::new();
            if let Some(b) = &cli.backend {
                global_args.extend(["--backend".to_string(), b.clone()]);
            }
            if let Some(n) = &cli.adapter {
                global_args.extend(["--adapter".to_string(), n.clone()]);
            }
            let o = sweep::slurm::SlurmOptions {
                partition: a.partition.clone(),
                gpus_per_task: a.gpus_per_task,
                time: a.time.clone(),
                max_parallel: a.max_parallel,
                sbatch_args: a.sbatch_arg.clone(),
                exe: std::env::current_exe().map_err(|e| pathprox::Error::Other(format!("the pathprox binary's path: {e}")))?,
                global_args,
                dry_run: a.dry_run,
            };
            let (jobs, submitted) = sweep::slurm::submit(&s, &o)?;
            print!("{}", sweep::slurm::describe(&s, &jobs, &submitted, a.dry_run));
            println!("sweep directory: {}", s.path.display());
            Ok(())
        }
        (None, Some(task)) if cmd.plan_only => {
            let args = &cmd.args;
            let s = sweep::plan(task, &args.overrides(), &args.task_args.runs_dir, &serde_json::Value::Null)?;
            println!("{}: {} runs ({} grid, indexes 0–{}; {} re-runs after the grid)", s.config.caption(), s.plan.len(), s.plan.grid, s.plan.grid.saturating_sub(1), s.plan.reruns);
            for p in &s.plan.runs {
                println!("  {p}");
            }
            println!("run each with `pathprox sweep run {} --index I`", s.path.display());
            println!("sweep directory: {}", s.path.display());
            Ok(())
        }
        (None, Some(task)) => {
            let args = &cmd.args;
            let (gpu, why) = open_assigned_gpu(cli)?;
            install_interrupt()?;
            let dir = sweep::run_with(&gpu, &why, task, &args.overrides(), &args.task_args.runs_dir, args.task_args.resume.as_deref(), &INTERRUPTED, &bar)?;
            println!("sweep directory: {}", dir.display());
            Ok(())
        }
        (None, None) => Err(pathprox::Error::Other("sweep: name a task (task1–task4) or a part: run, status, collect, slurm (`pathprox sweep --help`)".into())),
    }
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
        Command::Bench { quick, vgg19, profile, gpu_check, small } => {
            let gpu = open_gpu(&cli)?;
            use pathprox::train::method::Method;
            // Minutes of measuring (and of compiling, on a cold shader cache): say what is being measured.
            let spinner = bench_spinner();
            let on_row = |what: &str| spinner.set_message(what.to_string());
            if *gpu_check {
                let rows = pathprox::bench::gpu_check(&gpu, &pathprox::bench::CheckSizes::new(*small), &on_row)?;
                spinner.suspend(|| pathprox::bench::print_check(&gpu, &rows));
                spinner.finish_and_clear();
                return Ok(());
            }
            if *profile {
                println!("adapter: {}\nhost CPU: {}", gpu.describe(), pathprox::bench::host_cpu());
                let methods: &[Method] = if *vgg19 { &[Method::PathProx { balance: true }] } else { &[Method::WeightDecay, Method::PathProx { balance: true }] };
                for &method in methods {
                    let what = format!("{} step ({})", if *vgg19 { "vgg19" } else { "task1" }, method.name());
                    on_row(&format!("{what}, dispatch by dispatch"));
                    let parts = if *vgg19 { pathprox::bench::vgg19_step_profile(&gpu, method)? } else { pathprox::bench::task1_step_profile(&gpu, method)? };
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
