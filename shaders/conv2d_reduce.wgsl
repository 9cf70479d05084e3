// conv2d_reduce.wgsl — the conv bias gradient and the sum of partial-sum slots (conv2d_wgrad's second pass).
//
// Both are deterministic: fixed partitions added in a fixed order, no float atomics.

// bias_grad: dim = Cout, hw = H·W, images, per_chunk = pixels (of N·H·W) per workgroup, chunks per channel,
//            slot0 = first output slot of this dispatch; out[(slot0 + chunk)·Cout + m]
// sum_slots: dim = elements per slot, chunks = slots; dst[i] = Σ_s src[s·dim + i]
struct Params {
    dim: u32,
    hw: u32,
    images: u32,
    per_chunk: u32,
    chunks: u32,
    slot0: u32,
    _pad0: u32,
    _pad1: u32,
}

const WG: u32 = 256u;   // invocations per workgroup (a power of two)

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

var<workgroup> part: array<f32, WG>;

// db[m] partial sums: workgroup (m, chunk) adds dy[n, m, ·, ·] over the chunk's pixels of the flattened
// (n, pixel) range, each invocation ≤ per_chunk / WG of them (the wrapper keeps that far below llvmpipe's
// 65,535-iteration loop limit), then a tree in workgroup memory.
// Grid: (Cout · chunks) workgroups, folded into 2-D past 65,535 (`Gpu::grid_1d`).
@compute @workgroup_size(WG)
fn bias_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let group = folded_workgroup(wid, nwg);
    if (group >= p.dim * p.chunks) { return; }   // surplus groups of the fold (workgroup-uniform)
    let m = group % p.dim;
    let chunk = group / p.dim;
    let first = chunk * p.per_chunk;
    let end = min(first + p.per_chunk, p.images * p.hw);
    var s = 0.0;
    for (var q = first + lid.x; q < end; q += WG) {
        let n = q / p.hw;
        s += src[(n * p.dim + m) * p.hw + (q - n * p.hw)];
    }
    part[lid.x] = s;
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        workgroupBarrier();
        if (lid.x < half) { part[lid.x] += part[lid.x + half]; }
    }
    if (lid.x == 0u) { dst[(p.slot0 + chunk) * p.dim + m] = part[0]; }
}

// Grid: ceil(dim / WG) workgroups, folded into 2-D past 65,535.
@compute @workgroup_size(WG)
fn sum_slots(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = folded_invocation(wid, nwg, lid, WG);
    if (i >= p.dim) { return; }
    var s = 0.0;
    for (var k = 0u; k < p.chunks; k++) { s += src[k * p.dim + i]; }
    dst[i] = s;
}
