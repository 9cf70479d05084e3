//! Choosing an adapter: a hardware GPU first, then a software Vulkan driver (lavapipe), then OpenGL (llvmpipe).
//!
//! The user can narrow the search with `--backend` (or the `WGPU_BACKEND` environment variable) and
//! `--adapter NAME` (a case-insensitive substring of the adapter's name).

use crate::error::{Error, Result};

/// What the user asked for; `Default` means "the best adapter there is".
#[derive(Clone, Debug, Default)]
pub struct AdapterChoice {
    /// Restrict to these backends; `None` means every backend wgpu was built with (or `WGPU_BACKEND`).
    pub backends: Option<wgpu::Backends>,
    /// Case-insensitive substring of the adapter name, e.g. "llvmpipe" or "nvidia".
    pub name: Option<String>,
}

impl AdapterChoice {
    /// Parses `--backend` values: one name or a comma-separated list.
    pub fn with_backend_names(mut self, names: &str) -> Result<Self> {
        self.backends = Some(parse_backends(names)?);
        Ok(self)
    }
}

/// Parses "vulkan", "gl", "metal", "dx12", "webgpu" (also "primary", "all"), comma separated.
pub fn parse_backends(names: &str) -> Result<wgpu::Backends> {
    let mut backends = wgpu::Backends::empty();
    for name in names.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()) {
        backends |= match name.as_str() {
            "vulkan" | "vk" => wgpu::Backends::VULKAN,
            "gl" | "gles" | "opengl" => wgpu::Backends::GL,
            "metal" | "mtl" => wgpu::Backends::METAL,
            "dx12" | "d3d12" => wgpu::Backends::DX12,
            "webgpu" | "browser" => wgpu::Backends::BROWSER_WEBGPU,
            "primary" => wgpu::Backends::PRIMARY,
            "all" => wgpu::Backends::all(),
            _ => return Err(Error::UnknownBackend(name)),
        };
    }
    if backends.is_empty() {
        return Err(Error::UnknownBackend(names.to_string()));
    }
    Ok(backends)
}

/// "vulkan, gl" for messages.
pub fn backend_names(b: wgpu::Backends) -> String {
    let names = [(wgpu::Backends::VULKAN, "vulkan"), (wgpu::Backends::GL, "gl"), (wgpu::Backends::METAL, "metal"), (wgpu::Backends::DX12, "dx12"), (wgpu::Backends::BROWSER_WEBGPU, "webgpu")];
    names.iter().filter(|(f, _)| b.contains(*f)).map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
}

/// The instance every adapter search starts from. `WGPU_BACKEND` is honoured unless `backends` overrides it.
pub fn instance(backends: Option<wgpu::Backends>) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if let Some(b) = backends {
        desc.backends = b;
    }
    wgpu::Instance::new(desc)
}

/// Lower is better: hardware before software, and among equals a modern API before OpenGL.
pub fn preference_rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let device = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let api = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        wgpu::Backend::BrowserWebGpu => 1,
        wgpu::Backend::Gl => 2,
        _ => 3,
    };
    (device, api)
}

/// One line for `pathprox adapters` and for the start-up banner.
pub fn describe(info: &wgpu::AdapterInfo) -> String {
    let driver = [info.driver.as_str(), info.driver_info.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    format!("{} ({:?}, {:?}{})", info.name, info.backend, info.device_type, if driver.is_empty() { String::new() } else { format!(", {driver}") })
}

/// A note for users of lavapipe from Mesa before 25 on an x86 CPU without AVX-512 (`cpu_flags`: the
/// `flags` line of /proc/cpuinfo; `override_caps`: `GALLIUM_OVERRIDE_CPU_CAPS`, which hides features from
/// Mesa). Mesa 22.3 builds each storage-buffer load as a per-lane loop that, without AVX-512, goes through
/// the stack: every kernel runs ~2–5× slower than with AVX-512. Mesa 25.0 does not (docs/performance.md, "Which Mesa").
pub fn slow_mesa_note(info: &wgpu::AdapterInfo, cpu_flags: &str, override_caps: Option<&str>) -> Option<String> {
    let is_lavapipe = info.backend == wgpu::Backend::Vulkan && info.device_type == wgpu::DeviceType::Cpu && info.name.contains("llvmpipe");
    let mesa_major: u32 = info.driver_info.split("Mesa ").nth(1)?.split('.').next()?.parse().ok()?;
    let avx512 = cpu_flags.split_whitespace().any(|f| f == "avx512f") && override_caps.is_none_or(|c| c.contains("avx512"));
    let x86 = cpu_flags.split_whitespace().any(|f| f == "avx2" || f == "avx");
    (is_lavapipe && mesa_major < 25 && x86 && !avx512).then(|| {
        format!(
            "lavapipe from Mesa {mesa_major} runs these kernels several times slower on a CPU without AVX-512; \
             Mesa 25 does not (on Debian 12: apt-get install -t bookworm-backports mesa-vulkan-drivers; see docs/performance.md, \"Which Mesa\" in pathprox's repository)"
        )
    })
}

/// `slow_mesa_note` for this host: its CPU flags from /proc/cpuinfo (no note where there is none).
pub fn slow_mesa_note_here(info: &wgpu::AdapterInfo) -> Option<String> {
    slow_mesa_note(info, &cpuinfo_field("flags")?, mesa_cpu_override().as_deref())
}

/// A field of the first processor in /proc/cpuinfo ("model name", "flags"); `None` where there is none.
pub fn cpuinfo_field(key: &str) -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string())
}

/// `GALLIUM_OVERRIDE_CPU_CAPS`: the CPU features Mesa's llvmpipe/lavapipe are told to use instead of
/// the CPU's own (e.g. `avx` hides AVX-512).
pub fn mesa_cpu_override() -> Option<String> {
    std::env::var("GALLIUM_OVERRIDE_CPU_CAPS").ok()
}

/// Every adapter the search can see, best first.
#[cfg(not(target_arch = "wasm32"))]
pub async fn list(choice: &AdapterChoice) -> Vec<wgpu::Adapter> {
    let instance = instance(choice.backends);
    let mut adapters = instance.enumerate_adapters(choice.backends.unwrap_or(wgpu::Backends::all())).await;
    adapters.sort_by_key(|a| preference_rank(&a.get_info()));
    adapters
}

/// The adapter to use, or an error that says what exists and how to get one.
///
/// Without an explicit backend, OpenGL is searched only when no Vulkan/Metal/DX12 adapter exists: it is
/// the last resort (a plain Linux machine with no GPU and no Vulkan driver still has llvmpipe via EGL),
/// and probing EGL is slow and noisy. `--backend gl` asks for it directly.
#[cfg(not(target_arch = "wasm32"))]
pub async fn select(choice: &AdapterChoice) -> Result<wgpu::Adapter> {
    let mut adapters = Vec::new();
    if choice.backends.is_none() {
        let modern = AdapterChoice { backends: Some(wgpu::Backends::PRIMARY), ..choice.clone() };
        adapters = list(&modern).await;
        if let Some(name) = &choice.name {
            let needle = name.to_ascii_lowercase();
            adapters.retain(|a| a.get_info().name.to_ascii_lowercase().contains(&needle));
        }
    }
    if adapters.is_empty() {
        adapters = list(choice).await;
    }
    let searched = backend_names(choice.backends.unwrap_or(wgpu::Backends::all()));
    if adapters.is_empty() {
        return Err(Error::NoAdapter { backends: searched });
    }
    let Some(wanted) = &choice.name else {
        return Ok(adapters.into_iter().next().expect("checked non-empty"));
    };
    let needle = wanted.to_ascii_lowercase();
    let available = adapters.iter().map(|a| format!("  {}", describe(&a.get_info()))).collect::<Vec<_>>().join("\n");
    adapters
        .into_iter()
        .find(|a| a.get_info().name.to_ascii_lowercase().contains(&needle))
        .ok_or(Error::AdapterNotFound { wanted: format!("name '{wanted}' on {searched}"), available })
}

/// In the browser there is one WebGPU adapter to ask for.
#[cfg(target_arch = "wasm32")]
pub async fn select(choice: &AdapterChoice) -> Result<wgpu::Adapter> {
    let instance = instance(Some(choice.backends.unwrap_or(wgpu::Backends::BROWSER_WEBGPU)));
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::NoAdapter { backends: format!("WebGPU ({e})") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_backend_lists_and_rejects_unknown_names() {
        assert_eq!(parse_backends("vulkan").unwrap(), wgpu::Backends::VULKAN);
        assert_eq!(parse_backends("Vulkan, gl").unwrap(), wgpu::Backends::VULKAN | wgpu::Backends::GL);
        assert!(matches!(parse_backends("cuda"), Err(Error::UnknownBackend(n)) if n == "cuda"));
        assert!(parse_backends(" , ").is_err());
    }

    #[test]
    fn slow_mesa_note_only_for_old_lavapipe_without_avx512() {
        let info = |backend, device_type, name: &str, driver_info: &str| wgpu::AdapterInfo {
            name: name.into(),
            driver: "llvmpipe".into(),
            driver_info: driver_info.into(),
            ..wgpu::AdapterInfo::new(device_type, backend)
        };
        let (vk, cpu) = (wgpu::Backend::Vulkan, wgpu::DeviceType::Cpu);
        let old = info(vk, cpu, "llvmpipe (LLVM 15.0.6, 256 bits)", "Mesa 22.3.6 (LLVM 15.0.6)");
        let new = info(vk, cpu, "llvmpipe (LLVM 15.0.6, 256 bits)", "llvmpipe Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)");
        let (avx2, avx512) = ("fpu sse avx avx2 fma", "fpu sse avx avx2 fma avx512f avx512vl");
        assert!(slow_mesa_note(&old, avx2, None).is_some_and(|n| n.contains("Mesa 22") && n.contains("bookworm-backports")));
        assert!(slow_mesa_note(&old, avx512, None).is_none());
        assert!(slow_mesa_note(&old, avx512, Some("avx")).is_some(), "AVX-512 hidden from Mesa");
        assert!(slow_mesa_note(&old, avx512, Some("avx512f")).is_none());
        assert!(slow_mesa_note(&new, avx2, None).is_none());
        assert!(slow_mesa_note(&old, "fp asimd", None).is_none(), "not x86");
        let gl = info(wgpu::Backend::Gl, cpu, "llvmpipe (LLVM 15.0.6, 256 bits)", "4.5 (Core Profile) Mesa 22.3.6");
        assert!(slow_mesa_note(&gl, avx2, None).is_none(), "measured on lavapipe only");
        let gpu = info(vk, wgpu::DeviceType::DiscreteGpu, "AMD Radeon", "Mesa 22.3.6");
        assert!(slow_mesa_note(&gpu, avx2, None).is_none());
    }
}
