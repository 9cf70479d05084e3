//! One worker per run: `locks/<index>.lock` names the host, pid and Slurm job of the worker running that
//! index. A second worker started on the same index refuses while that worker lives.
//!
//! The lock file is written in full under a unique temporary name and then hard-linked to its name: the
//! link fails if the name exists, on a local disk and over NFS alike (the classic NFS-safe lock), and a
//! reader never sees a half-written lock. A lock is stale, and is taken over, once its worker is known to
//! be gone: on this host, its pid no longer runs (or runs another program, told apart by its start
//! time); under Slurm, its job is this very job (a requeued job runs again under its old id) or `squeue`
//! no longer lists it as active. A lock held on another host outside Slurm (Kubernetes pods, `xargs` over
//! ssh) is judged by its heartbeat: its worker refreshes the file's modification time every minute, and a
//! lock not refreshed for ten minutes is stale. Until then the worker refuses and says which file it is.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Who holds (or held) a lock, or ran a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    /// The process's start time in clock ticks since boot (/proc/PID/stat), to tell a reused pid apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    /// `SLURM_JOB_ID` (unique per array task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// `SLURM_ARRAY_JOB_ID_SLURM_ARRAY_TASK_ID`, the name `squeue` and `scancel` show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_task: Option<String>,
    /// `SLURM_RESTART_COUNT`: how often Slurm requeued the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<String>,
    #[serde(default)]
    pub since: String,
}

/// This machine's name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Field 22 of /proc/PID/stat (after the parenthesised command name, which may hold spaces).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

impl Owner {
    pub fn me() -> Owner {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let pid = std::process::id();
        Owner {
            host: hostname(),
            pid,
            pid_start: process_start(pid),
            job: var("SLURM_JOB_ID"),
            array_task: var("SLURM_ARRAY_JOB_ID").zip(var("SLURM_ARRAY_TASK_ID")).map(|(a, t)| format!("{a}_{t}")),
            restarts: var("SLURM_RESTART_COUNT"),
            since: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        }
    }

    /// "host node1, pid 4242, Slurm job 17 (array task 12_3)".
    pub fn describe(&self) -> String {
        let mut s = format!("host {}, pid {}", self.host, self.pid);
        if let Some(j) = &self.job {
            s += &format!(", Slurm job {j}");
            if let Some(a) = &self.array_task {
                s += &format!(" (array task {a})");
            }
        }
        if !self.since.is_empty() {
            s += &format!(", since {}", self.since);
        }
        s
    }
}

/// Whether a lock's owner still runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Liveness {
    Alive(String),
    Gone(String),
    /// Cannot be judged from here (another host, no Slurm job, or `squeue` not answering).
    Unknown(String),
}

/// Slurm job states in which a job may still run (or run again): its lock is not stale.
const ACTIVE_JOB_STATES: [&str; 10] = ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "STOPPED"];

/// `squeue`'s state of a job: `Ok(None)` when it no longer lists the job, `Err` when squeue cannot say.
fn squeue_state(job: &str) -> std::result::Result<Option<String>, String> {
    let out = std::process::Command::new("squeue").args(["-h", "-j", job, "-o", "%T"]).output().map_err(|e| format!("squeue: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // squeue exits 1 with "Invalid job id specified" once a job has left its memory.
        return if err.contains("Invalid job id") { Ok(None) } else { Err(format!("squeue -j {job}: {}", err.trim())) };
    }
    Ok(text.lines().next().map(str::to_string).filter(|s| !s.is_empty()))
}

/// Judges `holder` from the point of view of `me`; `job_state` asks Slurm about a job (`squeue_state`).
pub fn liveness(holder: &Owner, me: &Owner, job_state: &dyn Fn(&str) -> std::result::Result<Option<String>, String>) -> Liveness {
    let same_host = holder.host == me.host;
    let pid_alive = || same_host && process_start(holder.pid).is_some_and(|s| holder.pid_start.is_none_or(|h| h == s));
    if let (Some(h), Some(m)) = (&holder.job, &me.job)
        && h == m
        && !pid_alive()
    {
        return Liveness::Gone(format!("job {h} is this job, started again (requeued or restarted)"));
    }
    if same_host {
        return if pid_alive() { Liveness::Alive(format!("pid {} runs on this host", holder.pid)) } else { Liveness::Gone(format!("pid {} no longer runs on this host", holder.pid)) };
    }
    match &holder.job {
        Some(job) => match job_state(job) {
            Ok(Some(state)) if ACTIVE_JOB_STATES.contains(&state.as_str()) => Liveness::Alive(format!("Slurm job {job} is {state}")),
            Ok(Some(state)) => Liveness::Gone(format!("Slurm job {job} is {state}")),
            Ok(None) => Liveness::Gone(format!("squeue no longer lists Slurm job {job}")),
            Err(e) => Liveness::Unknown(e),
        },
        None => Liveness::Unknown(format!("it runs on another host ({}) outside Slurm", holder.host)),
    }
}

/// How often a holder refreshes its lock's modification time, and how old an unrefreshed lock must be
/// to be stale where nothing else can tell (ten heartbeats: NFS caches attributes for up to a minute).
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(60);
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

/// `liveness`, with the lock's age since its last heartbeat deciding what cannot be judged otherwise.
pub fn judge(holder: &Owner, me: &Owner, age: Option<std::time::Duration>, job_state: &dyn Fn(&str) -> std::result::Result<Option<String>, String>) -> Liveness {
    match liveness(holder, me, job_state) {
        Liveness::Unknown(why) if age.is_some_and(|a| a > STALE_AFTER) => {
            Liveness::Gone(format!("{why}, and its lock has not been refreshed for {} s", age.map_or(0, |a| a.as_secs())))
        }
        l => l,
    }
}

fn age(path: &Path) -> Option<std::time::Duration> {
    std::fs::metadata(path).ok()?.modified().ok()?.elapsed().ok()
}

pub fn lock_path(dir: &Path, index: usize) -> PathBuf {
    dir.join("locks").join(format!("{index}.lock"))
}

/// A held lock; dropping it removes the file (if it is still ours).
pub struct IndexLock {
    path: PathBuf,
    me: Owner,
    /// Stops the heartbeat thread (dropping the sender wakes it at once).
    heartbeat: Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

/// Refreshes `path`'s modification time every `HEARTBEAT` until told to stop.
fn heartbeat(path: PathBuf) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let h = std::thread::spawn(move || {
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(HEARTBEAT) {
            if let Ok(f) = std::fs::File::options().append(true).open(&path) {
                let _ = f.set_modified(std::time::SystemTime::now());
            }
        }
    });
    (tx, h)
}

/// The owner a lock file names, if it can be read.
pub fn read_lock(path: &Path) -> Option<Owner> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The holder of index `index`'s lock and whether it lives (`None`: no lock).
pub fn holder(dir: &Path, index: usize) -> Option<(Owner, Liveness)> {
    let path = lock_path(dir, index);
    let owner = read_lock(&path)?;
    let l = judge(&owner, &Owner::me(), age(&path), &squeue_state);
    Some((owner, l))
}

/// The outcome of trying a lock.
pub enum Taken {
    Lock(IndexLock),
    /// Another worker holds it: it lives (`unknown` false) or cannot be judged (`unknown` true).
    Held { holder: Owner, why: String, unknown: bool },
}

impl IndexLock {
    /// Takes the lock of `index`, taking over a stale one; refuses (an error naming the holder) while
    /// another worker holds it.
    pub fn acquire(dir: &Path, index: usize) -> Result<IndexLock> {
        Self::acquire_with(dir, index, &squeue_state)
    }

    pub fn acquire_with(dir: &Path, index: usize, job_state: &dyn Fn(&str) -> std::result::Result<Option<String>, String>) -> Result<IndexLock> {
        let path = lock_path(dir, index);
        match Self::try_at(&path, job_state)? {
            Taken::Lock(l) => Ok(l),
            Taken::Held { holder, why, unknown: false } => {
                Err(Error::Other(format!("sweep: index {index} is being run by another worker ({}; {why}); not starting a second one (lock {})", holder.describe(), path.display())))
            }
            Taken::Held { holder, why, unknown: true } => Err(Error::Other(format!(
                "sweep: index {index} is locked by {} and it cannot be told from here whether that worker still runs ({why}); delete {} once it is gone",
                holder.describe(),
                path.display()
            ))),
        }
    }

    /// Tries the lock file `path` (taking over a stale one).
    pub fn try_at(path: &Path, job_state: &dyn Fn(&str) -> std::result::Result<Option<String>, String>) -> Result<Taken> {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let io = |p: &Path, e: std::io::Error| Error::Other(format!("{}: {e}", p.display()));
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let me = Owner::me();
        let text = serde_json::to_string_pretty(&me).map_err(|e| Error::Other(e.to_string()))?;
        let tmp = dir.join(format!(".{name}.{}.{}", me.host, me.pid));
        std::fs::write(&tmp, text.as_bytes()).map_err(|e| io(&tmp, e))?;
        let result = (|| {
            for _ in 0..5 {
                match std::fs::hard_link(&tmp, path) {
                    Ok(()) => return Ok(Taken::Lock(IndexLock { path: path.to_path_buf(), me: me.clone(), heartbeat: Some(heartbeat(path.to_path_buf())) })),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io(path, e)),
                }
                let Some(holder) = read_lock(path) else {
                    // Vanished between the link and the read (its holder finished): try again.
                    if path.exists() {
                        return Err(Error::Other(format!("{}: an unreadable lock; delete it if no worker holds it", path.display())));
                    }
                    continue;
                };
                match judge(&holder, &me, age(path), job_state) {
                    Liveness::Alive(why) => return Ok(Taken::Held { holder, why, unknown: false }),
                    Liveness::Unknown(why) => return Ok(Taken::Held { holder, why, unknown: true }),
                    Liveness::Gone(_) => {
                        // Only one of several workers that found the same stale lock can rename it away.
                        let stale = dir.join(format!(".{name}.stale.{}.{}", me.host, me.pid));
                        if std::fs::rename(path, &stale).is_ok() {
                            let _ = std::fs::remove_file(&stale);
                        }
                    }
                }
            }
            Err(Error::Other(format!("could not take the lock {}: other workers keep taking it", path.display())))
        })();
        let _ = std::fs::remove_file(&tmp);
        result
    }

    /// Waits (polling) while a live worker holds `path`, then takes it.
    pub fn wait_at(path: &Path, say: &dyn Fn(&str)) -> Result<IndexLock> {
        let mut said = false;
        loop {
            match Self::try_at(path, &squeue_state)? {
                Taken::Lock(l) => return Ok(l),
                Taken::Held { holder, why, unknown } => {
                    if unknown {
                        return Err(Error::Other(format!("{} is held by {} ({why}); delete it once that worker is gone", path.display(), holder.describe())));
                    }
                    if !said {
                        say(&format!("waiting for {} ({}) to release {}", holder.describe(), why, path.display()));
                        said = true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
            }
        }
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        if let Some((tx, h)) = self.heartbeat.take() {
            drop(tx);
            let _ = h.join();
        }
        if read_lock(&self.path).is_some_and(|o| o.host == self.me.host && o.pid == self.me.pid) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(host: &str, pid: u32, job: Option<&str>) -> Owner {
        Owner { host: host.into(), pid, job: job.map(str::to_string), ..Default::default() }
    }

    #[test]
    fn judges_pids_here_jobs_elsewhere_and_a_requeued_self() {
        let me = Owner { job: None, ..Owner::me() };
        let squeue = |j: &str| -> std::result::Result<Option<String>, String> {
            match j {
                "1" => Ok(Some("RUNNING".into())),
                "2" => Ok(Some("CANCELLED".into())),
                "3" => Ok(None),
                _ => Err("squeue: not found".into()),
            }
        };
        // This very process is alive; pid 0 is never a user process.
        assert!(matches!(liveness(&Owner { since: String::new(), ..me.clone() }, &me, &squeue), Liveness::Alive(_)));
        assert!(matches!(liveness(&owner(&me.host, u32::MAX, None), &me, &squeue), Liveness::Gone(_)));
        // A reused pid: alive, but started at another time.
        let reused = Owner { pid_start: me.pid_start.map(|s| s + 1), ..me.clone() };
        assert!(matches!(liveness(&reused, &me, &squeue), Liveness::Gone(_)));
        assert!(matches!(liveness(&owner("elsewhere", 5, Some("1")), &me, &squeue), Liveness::Alive(s) if s.contains("RUNNING")));
        assert!(matches!(liveness(&owner("elsewhere", 5, Some("2")), &me, &squeue), Liveness::Gone(s) if s.contains("CANCELLED")));
        assert!(matches!(liveness(&owner("elsewhere", 5, Some("3")), &me, &squeue), Liveness::Gone(_)));
        assert!(matches!(liveness(&owner("elsewhere", 5, Some("4")), &me, &squeue), Liveness::Unknown(_)));
        assert!(matches!(liveness(&owner("elsewhere", 5, None), &me, &squeue), Liveness::Unknown(_)));
        // Outside Slurm on another host: stale once its heartbeat is older than STALE_AFTER.
        let minute = std::time::Duration::from_secs(60);
        assert!(matches!(judge(&owner("elsewhere", 5, None), &me, Some(minute), &squeue), Liveness::Unknown(_)));
        assert!(matches!(judge(&owner("elsewhere", 5, None), &me, Some(STALE_AFTER + minute), &squeue), Liveness::Gone(s) if s.contains("not been refreshed")));
        assert!(matches!(judge(&owner("elsewhere", 5, Some("1")), &me, Some(STALE_AFTER + minute), &squeue), Liveness::Alive(_)), "Slurm's word first");
        // Requeued: the lock names this job, held by a process of its earlier start on another node.
        let me_in_job = Owner { job: Some("1".into()), ..me.clone() };
        assert!(matches!(liveness(&owner("node-that-died", 5, Some("1")), &me_in_job, &squeue), Liveness::Gone(s) if s.contains("this job")));
    }

    #[test]
    fn a_second_lock_refuses_and_a_stale_one_is_taken_over() {
        let dir = std::env::temp_dir().join(format!("pathprox-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let no_slurm = |_: &str| -> std::result::Result<Option<String>, String> { Err("no squeue".into()) };
        let held = IndexLock::acquire_with(&dir, 3, &no_slurm).unwrap();
        let err = IndexLock::acquire_with(&dir, 3, &no_slurm).err().expect("refuses").to_string();
        assert!(err.contains("index 3 is being run by another worker") && err.contains(&format!("pid {}", std::process::id())), "{err}");
        drop(held);
        assert!(!lock_path(&dir, 3).exists(), "released");
        // A lock left by a killed process on this host.
        let dead = Owner { pid: u32::MAX, ..Owner::me() };
        std::fs::write(lock_path(&dir, 3), serde_json::to_string(&dead).unwrap()).unwrap();
        let taken = IndexLock::acquire_with(&dir, 3, &no_slurm).unwrap();
        assert_eq!(read_lock(&lock_path(&dir, 3)).unwrap().pid, std::process::id());
        drop(taken);
        let _ = std::fs::remove_dir_all(dir);
    }
}
