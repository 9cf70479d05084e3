//! Kernels: a WGSL entry point with its binding list, compiled once per (constants) into a cached pipeline,
//! and bound to tensors as a `Dispatch` that can be recorded any number of times.
//!
//! Conventions every shader in `shaders/` follows:
//! - binding 0 of group 0 is the kernel's uniform `Params` (mirrored by a `#[repr(C)]` Rust struct);
//!   bindings 1.. are storage buffers in the order the Rust wrapper lists them in `KernelDef::bindings`.
//! - tunable sizes are written as `const NAME: u32 = 8u;` at the top of the file; a variant replaces the
//!   value (`Variant`), so every file also validates as it stands, with its defaults.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};

/// How a kernel uses one of its bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Uniform,
    Read,
    ReadWrite,
}

/// One WGSL file.
#[derive(Debug)]
pub struct Shader {
    /// File name in `shaders/` without the extension.
    pub name: &'static str,
    pub source: &'static str,
    /// Needs the `SUBGROUP` feature (and the subgroup width the wrapper checks).
    pub subgroups: bool,
}

/// One entry point of a shader and the bindings it declares, in binding order (0 = the uniform params).
#[derive(Debug)]
pub struct KernelDef {
    pub shader: &'static Shader,
    pub entry: &'static str,
    pub bindings: &'static [Access],
}

/// Values for a shader's tunable `const` declarations, e.g. `[("TM", 24), ("TN", 8)]`.
pub type Variant = Vec<(&'static str, u32)>;

/// Replaces `const NAME: u32 = ...;` lines; every named constant must exist in the file.
pub fn specialize(shader: &Shader, variant: &[(&'static str, u32)]) -> Result<String> {
    let mut out = String::with_capacity(shader.source.len());
    let mut replaced = vec![false; variant.len()];
    for line in shader.source.lines() {
        let decl = variant.iter().position(|(name, _)| line.starts_with(&format!("const {name}: u32 =")));
        match decl {
            Some(i) => {
                out.push_str(&format!("const {}: u32 = {}u;", variant[i].0, variant[i].1));
                replaced[i] = true;
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    if let Some(i) = replaced.iter().position(|r| !r) {
        return Err(Error::Shader { name: shader.name.into(), msg: format!("no `const {}: u32 = ...;` line to specialize", variant[i].0) });
    }
    Ok(out)
}

/// A compiled pipeline and the layout its bind groups follow.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub def: &'static KernelDef,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

type CacheKey = (&'static str, &'static str, Variant);

/// Each (shader, entry, variant) is compiled once per `Gpu`.
#[derive(Default)]
pub struct PipelineCache {
    map: Mutex<HashMap<CacheKey, Pipeline>>,
}

impl PipelineCache {
    pub fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn layout_entry(binding: u32, access: Access) -> wgpu::BindGroupLayoutEntry {
    let ty = match access {
        Access::Uniform => wgpu::BufferBindingType::Uniform,
        Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
        Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
    };
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer { ty, has_dynamic_offset: false, min_binding_size: None },
        count: None,
    }
}

impl Gpu {
    /// The pipeline for `def` specialized with `variant`, compiled on first use.
    pub fn pipeline(&self, def: &'static KernelDef, variant: &[(&'static str, u32)]) -> Result<Pipeline> {
        let key: CacheKey = (def.shader.name, def.entry, variant.to_vec());
        if let Some(p) = self.pipelines.map.lock().unwrap().get(&key) {
            return Ok(p.clone());
        }
        if def.shader.subgroups && !self.features.contains(wgpu::Features::SUBGROUP) {
            return Err(Error::Shader { name: def.shader.name.into(), msg: "needs subgroup operations, which this adapter lacks".into() });
        }
        let source = specialize(def.shader, variant)?;
        let label = format!("{}::{}", def.shader.name, def.entry);
        let desc = wgpu::ShaderModuleDescriptor { label: Some(&label), source: wgpu::ShaderSource::Wgsl(source.into()) };
        // SAFETY: wgpu's injected bounds checks and loop counters stop llvmpipe from unrolling the register
        // tiles (measured: matmul 4.8 → 47 GFLOP/s on lavapipe without them). The kernels index only inside
        // their bindings: every wrapper validates shapes before building a dispatch, kernels clamp or guard
        // the indexes they compute, loops have constant or uniform bounds, tests run awkward sizes against
        // poisoned buffers, and Vulkan's robustBufferAccess still bounds every access. On WebGPU the browser
        // keeps its own checks (this call is then plain `create_shader_module`).
        let module = unsafe { self.device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) };
        let entries: Vec<_> = def.bindings.iter().enumerate().map(|(i, a)| layout_entry(i as u32, *a)).collect();
        let layout = self.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(&label), entries: &entries });
        let pipeline_layout = self.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(def.entry),
            compilation_options: Default::default(),
            cache: None,
        });
        self.check_errors().map_err(|e| Error::Shader { name: label.clone(), msg: e.to_string() })?;
        let p = Pipeline { def, pipeline, layout };
        self.pipelines.map.lock().unwrap().insert(key, p.clone());
        Ok(p)
    }
}

/// A tensor bound to a kernel, whole or an element range of it (for work split to fit binding limits).
#[derive(Clone)]
pub struct Arg {
    pub tensor: Tensor,
    /// (first element, element count); `None` binds the whole (padded) buffer.
    pub range: Option<(usize, usize)>,
}

impl From<&Tensor> for Arg {
    fn from(t: &Tensor) -> Self {
        Arg { tensor: t.clone(), range: None }
    }
}

impl Arg {
    pub fn range(t: &Tensor, first: usize, count: usize) -> Self {
        Arg { tensor: t.clone(), range: Some((first, count)) }
    }
}

/// A kernel bound to its parameters and tensors, with its grid: built once, recorded many times.
/// It keeps the tensors it binds alive, so their buffers cannot be recycled while it may still run.
pub struct Dispatch {
    pub label: &'static str,
    pub pipeline: wgpu::ComputePipeline,
    pub bind_group: wgpu::BindGroup,
    pub workgroups: [u32; 3],
    /// The uniform buffer behind binding 0; `Gpu::update_params` rewrites it (e.g. a new learning rate).
    pub params: wgpu::Buffer,
    pub(crate) _args: Vec<Tensor>,
}

impl Gpu {
    /// Binds `params` (any `Pod` struct; padded to 16 bytes) and `args` to `pipeline` with `workgroups`.
    pub fn dispatch<P: bytemuck::Pod>(&self, pipeline: &Pipeline, params: &P, args: &[Arg], workgroups: [u32; 3]) -> Result<Dispatch> {
        let def = pipeline.def;
        let label = def.entry;
        if args.len() + 1 != def.bindings.len() {
            return Err(Error::shape(label, format!("kernel takes {} tensors, got {}", def.bindings.len() - 1, args.len())));
        }
        let max = self.limits.max_compute_workgroups_per_dimension;
        if workgroups.iter().any(|&w| w > max) {
            return Err(Error::Limit { op: label, msg: format!("grid {workgroups:?} too large"), limit: format!("{max} workgroups per dimension") });
        }
        let mut bytes = bytemuck::bytes_of(params).to_vec();
        bytes.resize(bytes.len().max(16).div_ceil(16) * 16, 0);
        let params_buffer = self.uniform_buffer(label, &bytes);
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: params_buffer.as_entire_binding() }];
        let max_binding = self.limits.max_storage_buffer_binding_size;
        for (i, arg) in args.iter().enumerate() {
            let buffer = arg.tensor.buffer();
            let (first, count) = match arg.range {
                None => (0, arg.tensor.len()),
                Some((first, count)) => {
                    if first + count > arg.tensor.len() {
                        return Err(Error::shape(label, format!("range {first}+{count} outside tensor of {} elements", arg.tensor.len())));
                    }
                    (first, count)
                }
            };
            let offset = arg.tensor.byte_offset() + first as u64 * 4;
            // Bindings cover whole vec4s (kernels may read a vec4 that ends past the data), within the buffer.
            let size = crate::gpu::pool::padded_size(count as u64 * 4).min(buffer.size() - offset);
            if size > max_binding {
                return Err(Error::Limit { op: label, msg: format!("binding {} is {size} bytes", i + 1), limit: format!("{max_binding} bytes per storage binding") });
            }
            if !offset.is_multiple_of(self.limits.min_storage_buffer_offset_alignment as u64) {
                return Err(Error::shape(label, format!("binding {} offset {offset} is not aligned to {}", i + 1, self.limits.min_storage_buffer_offset_alignment)));
            }
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer, offset, size: std::num::NonZeroU64::new(size) }),
            });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(label), layout: &pipeline.layout, entries: &entries });
        Ok(Dispatch {
            label,
            pipeline: pipeline.pipeline.clone(),
            bind_group,
            workgroups,
            params: params_buffer,
            _args: args.iter().map(|a| a.tensor.clone()).collect(),
        })
    }

    /// Rewrites a dispatch's parameters; takes effect at the next submit.
    pub fn update_params<P: bytemuck::Pod>(&self, dispatch: &Dispatch, params: &P) {
        self.queue.write_buffer(&dispatch.params, 0, bytemuck::bytes_of(params));
    }

    /// A 1-D grid of `n` workgroups folded into two dimensions when it exceeds the per-dimension limit.
    /// Kernels recover the linear index as `wid.x + wid.y * nwg.x` (`@builtin(num_workgroups)`), written once
    /// in `shaders/grid.wgsl` (`folded_workgroup`), which the shaders that use it are joined after.
    pub fn grid_1d(&self, n: u32) -> [u32; 3] {
        let max = self.limits.max_compute_workgroups_per_dimension;
        if n <= max { [n.max(1), 1, 1] } else { [max, n.div_ceil(max), 1] }
    }
}
