//! A sweep as independent runs (`pathprox sweep run DIR --index I`) and as Slurm job arrays (`pathprox
//! sweep slurm`), against the one-process sweep: same Table 1 and the same final checkpoints, byte for
//! byte, also when an array task is cancelled mid-run and resubmitted or requeued, or a worker is SIGKILLed and run
//! again; a second worker on an index refuses; `collect` and a re-run refuse an incomplete sweep.
//!
//! The Slurm test needs a cluster: `.ci/slurm.sh start` makes a one-node one (CI does, and sets
//! PATHPROX_REQUIRE_SLURM=1 so that a missing cluster fails the test instead of skipping it). Without
//! `sbatch` or a controller that answers, it is skipped with a notice on stderr.
//!
//! A checkpoint's `wall_s` (seconds of training, kept for `--resume`) is the one thing that differs
//! between two runs of the same settings; it is left out of the comparison, every other byte is compared.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The tiny sweep: Task 1, 2 lrs × 2 λs, 2 methods, 2 seeds, 40 iterations (log and checkpoint every 10).
const TINY: [&str; 20] = [
    "task1", "--lrs", "0.05,0.1", "--lambdas", "1e-4,1e-3", "--seeds", "2", "--methods", "wd,pathprox", "--iters", "40", "--log-every", "10",
    "--checkpoint-every", "1", "--batch", "20", "--max-rows", "100", "--data-dir",
];

fn temp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("pathprox-slurm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn data_dir() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").display().to_string()
}

fn pathprox() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pathprox"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn run(args: &[&str]) -> Output {
    pathprox().args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "pathprox {args:?} failed:\n{stderr}");
    stdout.into_owned()
}

/// The sweep directory a command printed.
fn sweep_dir(stdout: &str) -> PathBuf {
    PathBuf::from(stdout.lines().find_map(|l| l.strip_prefix("sweep directory: ")).unwrap_or_else(|| panic!("no sweep directory in:\n{stdout}")))
}

/// The tiny sweep's options, with `--data-dir`, `--runs-dir` and any more.
fn tiny<'a>(data: &'a str, runs: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = TINY.to_vec();
    v.extend([data, "--runs-dir", runs]);
    v.extend_from_slice(more);
    v
}

/// A safetensors file as (header without `wall_s`, tensor bytes).
fn checkpoint_bytes(path: &Path) -> (serde_json::Value, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["__metadata__"].as_object_mut().expect("metadata").remove("wall_s").expect("a wall_s to leave out");
    (header, bytes[8 + n..].to_vec())
}

/// Every checkpoint under `a` equals the one at the same place under `b`; returns how many there are.
fn same_checkpoints(a: &Path, b: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![a.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "safetensors") {
                let q = b.join(p.strip_prefix(a).unwrap());
                assert!(checkpoint_bytes(&p) == checkpoint_bytes(&q), "{} and {} differ", p.display(), q.display());
                n += 1;
            }
        }
    }
    n
}

/// Lines of a log file (0 if it does not exist yet).
fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `sinfo`'s answer, given at most 15 s (with a missing config it retries for a minute).
fn sinfo() -> Result<String, String> {
    let mut child = Command::new("sinfo").args(["-h", "-o", "%T"]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| format!("no sinfo/sbatch ({e})"))?;
    let t = Instant::now();
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if t.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("sinfo did not answer within 15 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(format!("no Slurm controller answers ({})", String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("").trim()));
    }
    Ok(text)
}

/// Whether a Slurm cluster with an idle node answers here; panics instead of skipping under
/// PATHPROX_REQUIRE_SLURM=1. The notice goes straight to stderr, past the test harness's capture, so
/// that a skip is seen in a plain `cargo test`.
fn slurm_here() -> bool {
    let required = std::env::var("PATHPROX_REQUIRE_SLURM").is_ok_and(|v| v == "1");
    let why = match sinfo() {
        Err(why) => why,
        Ok(t) if !(t.contains("idle") || t.contains("mix")) => format!("no idle node (sinfo: {})", t.trim()),
        Ok(_) => return true,
    };
    assert!(!required, "PATHPROX_REQUIRE_SLURM=1 but {why}; start one with `eval \"$(.ci/slurm.sh start)\"`");
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "NOTICE: tests/slurm.rs: skipping the Slurm test: {why}. `eval \"$(.ci/slurm.sh start)\"` starts a one-node cluster (Debian: apt-get install slurm-wlm munge)."
    );
    false
}

/// Job ids from `sweep slurm`'s output ("grid array job 12: …", "collect job 14, …").
fn job_ids(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(" job ").map(|(_, r)| r.split([':', ',', ' ']).next().unwrap_or("").to_string()))
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
        .collect()
}

/// Waits until Slurm lists none of `ids` as pending or running (bounded); cancels them on timeout.
fn wait_for_jobs(ids: &[String], limit: Duration) {
    let t = Instant::now();
    loop {
        let out = Command::new("squeue").args(["-h", "-o", "%i %T", "-j", &ids.join(",")]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.trim().is_empty() {
            return;
        }
        if t.elapsed() > limit {
            let _ = Command::new("scancel").args(ids).status();
            panic!("Slurm jobs {ids:?} still queued after {limit:?}:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The tiny sweep through `pathprox sweep slurm` with 2 array tasks at once, one grid task cancelled
/// mid-run and resubmitted, another requeued mid-run: Table 1 and every checkpoint equal the one-process
/// sweep's.
#[test]
fn slurm_sweep_equals_the_one_process_sweep_also_after_a_cancelled_and_a_requeued_task() {
    if !slurm_here() {
        return;
    }
    let root = temp("equal");
    let data = data_dir();
    let (seq_runs, slurm_runs) = (root.join("seq").display().to_string(), root.join("slurm").display().to_string());
    let t = Instant::now();
    let mut args = vec!["sweep"];
    args.extend(tiny(&data, &seq_runs, &[]));
    let seq = sweep_dir(&ok(&args));
    let seq_s = t.elapsed().as_secs_f64();

    // The Slurm sweep shares the one-process sweep's kernel choices (--tuning): timed choices made under
    // other load could differ and change the last bits.
    let seq_str = seq.display().to_string();
    let t = Instant::now();
    let mut args = vec!["sweep", "slurm"];
    args.extend(tiny(&data, &slurm_runs, &["--max-parallel", "2", "--tuning", &seq_str, "--time", "10:00"]));
    let out = ok(&args);
    let dir = sweep_dir(&out);
    let ids = job_ids(&out);
    assert_eq!(ids.len(), 3, "grid, re-run and collect jobs: {out}");
    for name in ["grid", "reruns", "collect"] {
        assert!(dir.join("slurm").join(format!("{name}.sbatch")).is_file(), "{name}.sbatch written");
    }
    // Cancel grid index 2 (wd at lr 0.05, λ 1e-3) once it has logged its first point.
    let victim_log = dir.join("lr0.05_lambda1e-3/wd.jsonl");
    wait_for("grid task 2 to start training", Duration::from_secs(300), || lines(&victim_log) >= 1);
    let status = Command::new("scancel").arg(format!("{}_2", ids[0])).status().unwrap();
    assert!(status.success());
    // Requeue grid index 5 (pathprox at lr 0.1, λ 1e-4) mid-run, as preemption or a dead node would: it
    // starts again under the same job id and continues from its checkpoint.
    let requeued_log = dir.join("lr0.1_lambda1e-4/pathprox.jsonl");
    wait_for("grid task 5 to start training", Duration::from_secs(300), || lines(&requeued_log) >= 1);
    let task5 = format!("{}_5", ids[0]);
    let status = Command::new("scontrol").args(["requeue", &task5]).status().unwrap();
    assert!(status.success());
    // Slurm holds a requeued job back for two minutes (its begin time); let it start again now.
    let state = || String::from_utf8_lossy(&Command::new("squeue").args(["-h", "-j", &task5, "-o", "%T"]).output().unwrap().stdout).trim().to_string();
    wait_for("the requeued task to be pending", Duration::from_secs(60), || state() == "PENDING");
    assert!(Command::new("scontrol").args(["update", &format!("JobId={task5}"), "StartTime=now"]).status().unwrap().success());
    wait_for_jobs(&ids, Duration::from_secs(300));
    assert!(dir.join("records/5.json").exists(), "the requeued task ran again to the end");
    let log5 = std::fs::read_dir(dir.join("slurm/logs")).unwrap().map(|e| e.unwrap().path()).find(|p| p.to_string_lossy().ends_with(&format!("grid-{}_5.out", ids[0]))).expect("task 5's log");
    let log5 = std::fs::read_to_string(log5).unwrap();
    assert!(log5.contains("pathprox: resuming at iteration"), "the requeued run continues from its checkpoint:\n{log5}");
    let iters_done = lines(&victim_log);
    assert!(!dir.join("records/2.json").exists(), "the cancelled run has no result (it logged {iters_done} points)");
    // The re-runs and collect depended on the grid: Slurm cancelled them; collect names what is missing.
    let collect = run(&["sweep", "collect", dir.to_str().unwrap()]);
    assert!(!collect.status.success());
    let err = String::from_utf8_lossy(&collect.stderr);
    assert!(err.contains("#2 wd lr 0.05 λ 1e-3 seed 0: missing") && err.contains("#8 wd re-run seed 1: missing"), "{err}");
    let status = run(&["sweep", "status", dir.to_str().unwrap()]);
    assert!(!status.status.success(), "an incomplete sweep's status exits ≠ 0");
    let first_round_s = t.elapsed().as_secs_f64();

    // Resubmitted: only what is left.
    let t = Instant::now();
    let out = ok(&["sweep", "slurm", "task1", "--resume", dir.to_str().unwrap(), "--max-parallel", "2"]);
    assert!(out.contains("grid array job") && out.contains("1 task(s), indexes 2"), "only index 2 of the grid again: {out}");
    let ids2 = job_ids(&out);
    wait_for_jobs(&ids2, Duration::from_secs(300));
    let second_round_s = t.elapsed().as_secs_f64();
    let log = std::fs::read_dir(dir.join("slurm/logs")).unwrap().map(|e| e.unwrap().path()).find(|p| p.to_string_lossy().contains(&format!("grid-{}_2", ids2[0]))).expect("the resubmitted task's log");
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("wd: resuming at iteration"), "the resubmitted run continues from its checkpoint:\n{log}");

    let table = |d: &Path| std::fs::read_to_string(d.join("table1.md")).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    assert_eq!(table(&dir), table(&seq), "table1.md byte for byte");
    let n = same_checkpoints(&seq, &dir);
    assert_eq!(n, 20, "8 grid runs and 2 re-runs, each a last and a best-validation checkpoint");
    let text = String::from_utf8_lossy(&run(&["sweep", "status", dir.to_str().unwrap()]).stdout).to_string();
    assert!(text.contains("grid (8 runs): 8 done") && text.contains("re-runs (2 runs): 2 done"), "{text}");
    eprintln!(
        "tiny sweep (10 runs of 40 iterations): one process {seq_s:.1} s; Slurm, 2 tasks at once: {first_round_s:.1} s until the cancelled round had left the queue, \
         {second_round_s:.1} s for the resubmission"
    );
    let _ = std::fs::remove_dir_all(root);
}

/// Without Slurm: a worker SIGKILLed mid-run and run again ends with the uninterrupted run's checkpoints;
/// a second worker on a running index refuses, naming the first; a re-run refuses while the grid is
/// incomplete, and so does `collect`, naming the runs that are missing.
#[test]
fn killed_worker_resumes_bit_for_bit_and_a_second_worker_refuses() {
    let root = temp("workers");
    let data = data_dir();
    let runs = root.display().to_string();
    let plan = |more: &[&str]| {
        let mut args = vec!["sweep"];
        args.extend(tiny(&data, &runs, more));
        args.push("--plan-only");
        sweep_dir(&ok(&args))
    };
    let reference = plan(&[]);
    let listing = std::fs::read_to_string(reference.join("plan.json")).unwrap();
    let plan_json: serde_json::Value = serde_json::from_str(&listing).unwrap();
    assert_eq!((plan_json["grid"].as_u64(), plan_json["reruns"].as_u64()), (Some(8), Some(2)));
    let refs = reference.display().to_string();
    ok(&["sweep", "run", &refs, "--index", "0"]);
    // The second sweep takes the first one's kernel choices.
    let faulted = plan(&["--tuning", &refs]);
    let f = faulted.display().to_string();

    // SIGKILL once the worker has logged a point past the start.
    let log = faulted.join("lr0.05_lambda1e-4/wd.jsonl");
    let mut child = pathprox().args(["sweep", "run", &f, "--index", "0"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for("the worker's second log point", Duration::from_secs(300), || lines(&log) >= 2);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!faulted.join("records/0.json").exists(), "killed before it finished");
    assert!(faulted.join("locks/0.lock").exists(), "a SIGKILLed worker leaves its lock behind");
    let status = String::from_utf8_lossy(&run(&["sweep", "status", &f]).stdout).to_string();
    assert!(status.contains("#0 wd lr 0.05 λ 1e-4 seed 0: missing (stale lock"), "{status}");
    let again = run(&["sweep", "run", &f, "--index", "0"]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success() && err.contains("wd: resuming at iteration"), "the stale lock is taken over and the run resumes:\n{err}");
    assert_eq!(same_checkpoints(&reference.join("lr0.05_lambda1e-4"), &faulted.join("lr0.05_lambda1e-4")), 2);
    let done = run(&["sweep", "run", &f, "--index", "0"]);
    assert!(done.status.success() && String::from_utf8_lossy(&done.stderr).contains("done (Done in an earlier session"), "a finished index is not run again");

    // Two workers on index 1: the second refuses while the first runs.
    let mut first = pathprox().args(["sweep", "run", &f, "--index", "1"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for("the first worker's lock", Duration::from_secs(60), || faulted.join("locks/1.lock").exists());
    let second = run(&["sweep", "run", &f, "--index", "1"]);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "the second worker refuses");
    assert!(err.contains("index 1 is being run by another worker") && err.contains(&format!("pid {}", first.id())), "{err}");
    assert!(first.wait().unwrap().success(), "the first worker finishes");

    // A re-run needs the whole grid; collect needs every run.
    let rerun = run(&["sweep", "run", &f, "--index", "8"]);
    let err = String::from_utf8_lossy(&rerun.stderr);
    assert!(!rerun.status.success() && err.contains("6 of the 8 grid runs have none yet") && err.contains("#2 wd lr 0.05 λ 1e-3 seed 0"), "{err}");
    let collect = run(&["sweep", "collect", &f]);
    let err = String::from_utf8_lossy(&collect.stderr);
    assert!(!collect.status.success() && err.contains("8 of 10 runs have no result") && err.contains("#7 pathprox lr 0.1 λ 1e-3 seed 0: missing"), "{err}");
    assert!(!faulted.join("table1.md").exists());
    let _ = std::fs::remove_dir_all(root);
}

/// `--dry-run` writes and prints the three scripts and the sbatch commands, submitting nothing (no Slurm
/// needed); the options reach the scripts.
#[test]
fn slurm_dry_run_writes_the_scripts() {
    let root = temp("dry");
    let data = data_dir();
    let runs = root.display().to_string();
    let mut args = vec!["sweep", "slurm"];
    args.extend(tiny(&data, &runs, &["--partition", "gpu", "--gpus-per-task", "1", "--time", "2:00:00", "--max-parallel", "4", "--sbatch-arg=--account=proj", "--dry-run"]));
    let out = ok(&args);
    let dir = sweep_dir(&out);
    let grid = std::fs::read_to_string(dir.join("slurm/grid.sbatch")).unwrap();
    for line in ["#SBATCH --array=0-7%4", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-task=1", "#SBATCH --time=2:00:00", "#SBATCH --account=proj", "#SBATCH --requeue"] {
        assert!(grid.contains(line), "{line} in:\n{grid}");
    }
    assert!(grid.contains(&format!("sweep run {} --index \"$SLURM_ARRAY_TASK_ID\"", dir.display())), "{grid}");
    let reruns = std::fs::read_to_string(dir.join("slurm/reruns.sbatch")).unwrap();
    assert!(reruns.contains("#SBATCH --array=8-9%4"), "{reruns}");
    let collect = std::fs::read_to_string(dir.join("slurm/collect.sbatch")).unwrap();
    assert!(collect.contains("sweep collect") && !collect.contains("--gpus-per-task"), "{collect}");
    assert!(out.contains("dry run: nothing submitted") && out.contains("--dependency=afterok:<job 1>") && out.contains("--dependency=afterok:<job 2>"), "{out}");
    assert!(out.contains(&grid), "the scripts are printed");
    assert!(!dir.join("slurm/submissions.jsonl").exists());
    let _ = std::fs::remove_dir_all(root);
}
