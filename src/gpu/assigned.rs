//! The GPU a batch scheduler gave this process, as a wgpu adapter.
//!
//! Slurm (and other schedulers) say which GPUs a job may use through environment variables, in CUDA's or
//! ROCm's terms: `CUDA_VISIBLE_DEVICES` / `ROCR_VISIBLE_DEVICES` / `HIP_VISIBLE_DEVICES` (indexes as the
//! job sees them) and `SLURM_STEP_GPUS` / `SLURM_JOB_GPUS` (the node's device numbers). Vulkan and the
//! other wgpu backends ignore those variables and list every GPU of the node, so the choice is made here:
//! - where the job sees only its own GPUs (Slurm's `ConstrainDevices=yes` cgroup hides the others), the
//!   hardware adapters are exactly the job's, and the job's first GPU is the first of them;
//! - otherwise the node's device number (from `SLURM_STEP_GPUS`/`SLURM_JOB_GPUS`, else the first entry of
//!   the `*_VISIBLE_DEVICES` list) picks the adapter of that rank in PCI bus order, the order in which the
//!   NVIDIA and AMD drivers number `/dev/nvidiaN` and `/dev/dri/renderD*`.
//!
//! Entries that are not numbers (CUDA's `GPU-<uuid>`, `MIG-…`) cannot be matched to a wgpu adapter; the
//! first hardware adapter is used and the reason says so. Every choice comes with a sentence saying how it
//! was made, which the sweep writes into each run's record.

/// The variables, in the order they are trusted.
pub const LOCAL_VARS: [&str; 3] = ["CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES"];
pub const NODE_VARS: [&str; 2] = ["SLURM_STEP_GPUS", "SLURM_JOB_GPUS"];

/// What the environment says about this process's GPUs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Assignment {
    /// (variable, value) of the first `LOCAL_VARS` entry set.
    pub local: Option<(String, String)>,
    /// (variable, value) of the first `NODE_VARS` entry set.
    pub node: Option<(String, String)>,
}

impl Assignment {
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Assignment {
        let first = |names: &[&str]| names.iter().find_map(|n| var(n).filter(|v| !v.trim().is_empty()).map(|v| (n.to_string(), v)));
        Assignment { local: first(&LOCAL_VARS), node: first(&NODE_VARS) }
    }

    pub fn here() -> Assignment {
        Assignment::from_env(&|k| std::env::var(k).ok())
    }

    pub fn is_empty(&self) -> bool {
        self.local.is_none() && self.node.is_none()
    }

    /// How many GPUs the job has (the longest of the lists).
    fn count(&self) -> usize {
        [&self.local, &self.node].iter().filter_map(|v| v.as_ref()).map(|(_, v)| list(v).len()).max().unwrap_or(0)
    }
}

fn list(v: &str) -> Vec<&str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
}

/// Which of the `hardware` adapters (one per physical GPU, in PCI bus order) to use, and why.
/// `None` when there is nothing to choose by (no variable set, or no hardware adapter).
pub fn pick(a: &Assignment, hardware: usize) -> Option<(usize, String)> {
    if a.is_empty() || hardware == 0 {
        return None;
    }
    let shown = |v: &Option<(String, String)>| v.as_ref().map(|(k, v)| format!("{k}={v}"));
    let said = [shown(&a.local), shown(&a.node)].into_iter().flatten().collect::<Vec<_>>().join(", ");
    if a.count() == hardware {
        return Some((0, format!("{said}: the job sees only its {hardware} GPU(s); the first of them in PCI bus order")));
    }
    let number = |v: &Option<(String, String)>| v.as_ref().and_then(|(_, v)| list(v).first().and_then(|s| s.parse::<usize>().ok()));
    match number(&a.node).or_else(|| number(&a.local)) {
        Some(n) if n < hardware => Some((n, format!("{said}: device {n} of the node's {hardware} GPUs in PCI bus order"))),
        Some(n) => Some((0, format!("{said}: device {n}, but only {hardware} GPU adapter(s) are visible; using the first"))),
        None => Some((0, format!("{said}: not device numbers (UUIDs cannot be matched to a wgpu adapter); using the first GPU adapter"))),
    }
}

/// The hardware adapters (not CPU ones) of the chosen backends, one per physical device (a GPU seen
/// through several backends is kept once, its best backend), in PCI bus order.
#[cfg(not(target_arch = "wasm32"))]
pub async fn hardware_adapters(choice: &super::AdapterChoice) -> Vec<wgpu::Adapter> {
    let mut seen = std::collections::HashSet::new();
    // `list` sorts best backend first, so the first of each device is its best backend.
    let mut v: Vec<wgpu::Adapter> = super::adapter::list(choice)
        .await
        .into_iter()
        .filter(|a| {
            let i = a.get_info();
            i.device_type != wgpu::DeviceType::Cpu && seen.insert(if i.device_pci_bus_id.is_empty() { format!("{}:{}:{}", i.vendor, i.device, i.name) } else { i.device_pci_bus_id.clone() })
        })
        .collect();
    v.sort_by_key(|a| a.get_info().device_pci_bus_id);
    v
}

/// The adapter for this process: `--adapter` when given; else the GPU the scheduler assigned; else the
/// best adapter. Returns it with a sentence on how it was chosen.
#[cfg(not(target_arch = "wasm32"))]
pub async fn select(choice: &super::AdapterChoice) -> crate::Result<(wgpu::Adapter, String)> {
    let a = Assignment::here();
    if choice.name.is_none() && !a.is_empty() {
        let hw = hardware_adapters(choice).await;
        if let Some((i, why)) = pick(&a, hw.len()) {
            return Ok((hw.into_iter().nth(i).expect("pick returns an index in range"), why));
        }
    }
    let why = if choice.name.is_some() {
        "--adapter".to_string()
    } else if a.is_empty() {
        "no scheduler GPU variables; the best adapter".to_string()
    } else {
        "scheduler GPU variables set, but no GPU adapter visible; the best adapter".to_string()
    };
    Ok((super::adapter::select(choice).await?, why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Assignment {
        let m: std::collections::HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Assignment::from_env(&|k| m.get(k).cloned())
    }

    #[test]
    fn maps_scheduler_variables_to_an_adapter() {
        assert_eq!(pick(&env(&[]), 4), None);
        assert_eq!(pick(&env(&[("CUDA_VISIBLE_DEVICES", "2")]), 0), None);
        // Confined by cgroups: the job sees its own GPU only, Slurm still says which node device it is.
        let (i, why) = pick(&env(&[("CUDA_VISIBLE_DEVICES", "0"), ("SLURM_STEP_GPUS", "3")]), 1).unwrap();
        assert_eq!(i, 0);
        assert!(why.contains("SLURM_STEP_GPUS=3") && why.contains("only its 1"), "{why}");
        // Every GPU visible: the node's device number picks one, SLURM_STEP_GPUS before CUDA's list.
        assert_eq!(pick(&env(&[("CUDA_VISIBLE_DEVICES", "0"), ("SLURM_STEP_GPUS", "3")]), 4).unwrap().0, 3);
        assert_eq!(pick(&env(&[("ROCR_VISIBLE_DEVICES", "2,3")]), 8).unwrap().0, 2);
        assert_eq!(pick(&env(&[("SLURM_JOB_GPUS", "1")]), 4).unwrap().0, 1);
        let (i, why) = pick(&env(&[("CUDA_VISIBLE_DEVICES", "GPU-8a1c-uuid")]), 4).unwrap();
        assert!(i == 0 && why.contains("UUIDs"), "{why}");
        let (i, why) = pick(&env(&[("SLURM_STEP_GPUS", "7")]), 2).unwrap();
        assert!(i == 0 && why.contains("only 2"), "{why}");
        assert_eq!(env(&[("CUDA_VISIBLE_DEVICES", " ")]), Assignment::default(), "an empty list is no assignment");
    }
}
