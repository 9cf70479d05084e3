// fma_peak.wgsl — the adapter's plain FP32 multiply-add throughput, for `pathprox bench --gpu-check`: the
// ceiling every other kernel's GFLOP/s is read against (WGSL has no tensor cores).
//
// Each invocation runs 8 independent chains of vec4 multiply-adds (32 fma per iteration, 64 FLOPs), long
// enough that latency hides behind the other chains and the other invocations, with nothing loaded in
// the loop; the chains' sum is stored so that no compiler can drop them. x ← x·a + b with a just below 1
// keeps every value finite and normal however many iterations run.

struct Params {
    iters: u32,
    a: f32,
    b: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

// Invocation `idx`'s chains start at seed(idx, c) + (0, 1, 2, 3)·1e-3 for chain c.
fn seed(idx: u32, c: u32) -> vec4<f32> {
    let s = f32(idx % 1024u) * 1e-3 + f32(c) * 1e-2;
    return vec4<f32>(s, s + 1e-3, s + 2e-3, s + 3e-3);
}

@compute @workgroup_size(WG)
fn fma_peak(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let idx = folded_workgroup(wid, nwg) * WG + li;
    let a = vec4<f32>(p.a);
    let b = vec4<f32>(p.b);
    var x0 = seed(idx, 0u);
    var x1 = seed(idx, 1u);
    var x2 = seed(idx, 2u);
    var x3 = seed(idx, 3u);
    var x4 = seed(idx, 4u);
    var x5 = seed(idx, 5u);
    var x6 = seed(idx, 6u);
    var x7 = seed(idx, 7u);
    for (var i = 0u; i < p.iters; i++) {
        x0 = fma(x0, a, b);
        x1 = fma(x1, a, b);
        x2 = fma(x2, a, b);
        x3 = fma(x3, a, b);
        x4 = fma(x4, a, b);
        x5 = fma(x5, a, b);
        x6 = fma(x6, a, b);
        x7 = fma(x7, a, b);
    }
    let s = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7));
    out[idx] = (s.x + s.y) + (s.z + s.w);
}
