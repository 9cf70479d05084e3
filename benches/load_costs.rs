//! What one memory load costs a kernel on this adapter, by kind of load: `cargo bench --bench load_costs`.
//!
//! Why: on lavapipe the cost of a kernel is mostly the cost of its loads, and that cost depends on the
//! host CPU far more than arithmetic does. Mesa 22.3 turns a storage-buffer load whose address differs
//! per lane into a loop over the 8 lanes that inserts each lane's value at a variable position; with
//! AVX-512 that insert is cheap, without it (AVX2) it goes through memory and the load costs ~5× more.
//! Texture fetches and uniform-buffer loads are built differently and do not pay this. This table
//! shows it on any host (compare `GALLIUM_OVERRIDE_CPU_CAPS=avx`, which hides AVX-512 from Mesa).
//!
//! Each kernel runs 1024 workgroups of 8 invocations (one SIMD vector each on lavapipe) × ITERS
//! iterations of 8 independent loads added into 8 vec4 accumulators; the row "no load" does the same
//! arithmetic without loading, and the other rows report (time − that) per load per 8-lane vector.

use std::time::Instant;

use pathprox::{AdapterChoice, Gpu};
use wgpu::util::DeviceExt;

const GROUPS: u32 = 1024;
const ITERS: u32 = 1024;

/// (name, binding declaration, load expression of T = 0..7; `q` is a row base, `lane` the lane).
const KINDS: &[(&str, &str, &str)] = &[
    ("no load", "", "vec4(f32(k + T))"),
    ("storage f32, address per lane", "@group(0) @binding(0) var<storage, read> buf: array<vec4<f32>>;", "vec4(buf[q + lane + 64u * T].x)"),
    ("storage f32, same address", "@group(0) @binding(0) var<storage, read> buf: array<vec4<f32>>;", "vec4(buf[q + 64u * T].x)"),
    ("storage vec4, address per lane", "@group(0) @binding(0) var<storage, read> buf: array<vec4<f32>>;", "buf[q + lane + 64u * T]"),
    ("texture vec4, address per lane", "@group(0) @binding(1) var tex: texture_2d<f32>;", "textureLoad(tex, vec2<i32>(i32(lane + 8u * T), i32(k & 1023u)), 0)"),
    ("uniform vec4, address per lane", "@group(0) @binding(4) var<uniform> ubo: array<vec4<f32>, 4096>;", "ubo[(q + lane + 64u * T) & 4095u]"),
];

fn shader(binding: &str, load: &str) -> String {
    let mut decl = String::new();
    let mut body = String::new();
    let mut sum = String::from("vec4(0.0)");
    for t in 0..8 {
        decl += &format!("    var acc{t} = vec4(f32(lane));\n");
        body += &format!("        acc{t} += {};\n", load.replace('T', &format!("{t}u")));
        sum += &format!(" + acc{t}");
    }
    format!(
        "{binding}
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> iters: vec4<u32>;
@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{
    let lane = lid.x;
{decl}    for (var k = 0u; k < iters.x; k++) {{
        let q = (wid.x % 64u) * 8192u + (k & 1023u) * 8u;
{body}    }}
    out[wid.x * 8u + lane] = dot({sum}, vec4(1.0));
}}
"
    )
}

fn main() {
    let gpu = match Gpu::new_blocking(&AdapterChoice::default()) {
        Ok(gpu) => gpu,
        Err(e) => {
            eprintln!("load_costs: {e}");
            std::process::exit(1);
        }
    };
    println!("adapter: {}\nhost CPU: {}", gpu.describe(), pathprox::bench::host_cpu());
    let dev = &gpu.device;
    let n = 1024 * 1024 * 4;
    let data: Vec<f32> = (0..n).map(|i| (i % 97) as f32 * 0.01).collect();
    let buf = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: bytemuck::cast_slice(&data), usage: wgpu::BufferUsages::STORAGE });
    let ubo = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: bytemuck::cast_slice(&data[..16384]), usage: wgpu::BufferUsages::UNIFORM });
    let out = dev.create_buffer(&wgpu::BufferDescriptor { label: None, size: 4 * 8 * GROUPS as u64, usage: wgpu::BufferUsages::STORAGE, mapped_at_creation: false });
    let iters = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: bytemuck::cast_slice(&[ITERS, 0, 0, 0]), usage: wgpu::BufferUsages::UNIFORM });
    let size = wgpu::Extent3d { width: 1024, height: 1024, depth_or_array_layers: 1 };
    let desc = wgpu::TextureDescriptor { label: None, size, mip_level_count: 1, sample_count: 1, dimension: wgpu::TextureDimension::D2, format: wgpu::TextureFormat::Rgba32Float, usage: wgpu::TextureUsages::TEXTURE_BINDING, view_formats: &[] };
    let tex = dev.create_texture_with_data(&gpu.queue, &desc, wgpu::util::TextureDataOrder::LayerMajor, bytemuck::cast_slice(&data));
    let view = tex.create_view(&Default::default());

    let mut baseline = None;
    println!("{:<34} {:>14} {:>16}", "load (8 per iteration)", "ns/iteration", "ns per load");
    for &(name, binding, load) in KINDS {
        let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(name), source: wgpu::ShaderSource::Wgsl(shader(binding, load).into()) });
        let pipe = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor { label: Some(name), layout: None, module: &module, entry_point: Some("main"), compilation_options: Default::default(), cache: None });
        let mut entries = vec![wgpu::BindGroupEntry { binding: 2, resource: out.as_entire_binding() }, wgpu::BindGroupEntry { binding: 3, resource: iters.as_entire_binding() }];
        if binding.contains("binding(0)") {
            entries.push(wgpu::BindGroupEntry { binding: 0, resource: buf.as_entire_binding() });
        } else if binding.contains("binding(1)") {
            entries.push(wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::TextureView(&view) });
        } else if binding.contains("binding(4)") {
            entries.push(wgpu::BindGroupEntry { binding: 4, resource: ubo.as_entire_binding() });
        }
        let bind_group = dev.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &pipe.get_bind_group_layout(0), entries: &entries });
        let run = || {
            let t = Instant::now();
            let mut enc = dev.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&pipe);
                pass.set_bind_group(0, &bind_group, &[]);
                pass.dispatch_workgroups(GROUPS, 1, 1);
            }
            gpu.queue.submit([enc.finish()]);
            gpu.wait_idle().expect("device lost");
            t.elapsed().as_secs_f64()
        };
        run();
        let best = (0..5).map(|_| run()).fold(f64::INFINITY, f64::min);
        // ns per iteration of one 8-lane vector, all cores together: the time a core spends on it.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let per_iter = best * 1e9 * threads / (GROUPS as f64 * ITERS as f64);
        let base = *baseline.get_or_insert(per_iter);
        let per_load = if name == "no load" { String::from("-") } else { format!("{:.1}", (per_iter - base) / 8.0) };
        println!("{name:<34} {per_iter:>14.1} {per_load:>16}");
    }
    println!("(one core's time per 8-lane vector, assuming all {} threads busy)", std::thread::available_parallelism().map_or(1, |n| n.get()));
}
