// reduce.wgsl — reductions: column sums (bias gradients), flat sums (mean loss, metrics over chunks),
// L2 norms of groups in a 3-D view (row, column and conv-unit norms), row argmax and correct-label counts.
//
// Every sum is deterministic: the input is cut into a fixed partition of per-invocation partial sums that
// are combined in a fixed order (in registers, then a two-level tree in workgroup memory), never with float
// atomics, so a rerun gives the same bits. Long per-invocation chains are split into blocks of INNER terms
// summed separately, which keeps the rounding error near (INNER + terms/INNER)·eps instead of terms·eps.
//
// Grids larger than 65535 workgroups are folded into 2-D (`Gpu::grid_1d`), so kernels rebuild the linear
// workgroup index (`folded_workgroup`, grid.wgsl) and skip the surplus groups of the fold (`p.groups`).

// One Params layout for every kernel of the file (binding 0 is shared); what each field means per kernel:
//   column_sums   d0 = rows R (of the bound range), d1 = columns C, per_group = rows per workgroup row (grid y),
//                 out_offset = first output row (partial sums of several bound ranges share one buffer)
//   sum, sum_u32  d0 = n, per_group = elements per workgroup, groups, out_offset = first output element
//   group_norms, column_norms_vec4   d0, d1, d2 = the view [a, b, c]
//   correct_count d0 = B rows, d1 = C classes, per_group = rows per workgroup, groups, out_offset
//   argmax_rows   d0 = B rows, d1 = C classes
// `accumulate` != 0 adds to the output's previous value; `scale` multiplies the sum (f32 kernels only).
struct Params {
    d0: u32,
    d1: u32,
    d2: u32,
    per_group: u32,
    groups: u32,
    out_offset: u32,
    accumulate: u32,
    scale: f32,
}

// invocations per workgroup (a multiple of RED)
const WG: u32 = 64u;
// tree fan-in: WG partial sums → WG/RED → 1, in two barrier steps
const RED: u32 = 8u;
// terms per block of an invocation's own partial sum
const INNER: u32 = 16u;
// squares per block of a group norm (a multiple of 4)
const NORM_BLOCK: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
// Binding slots are shared by entry points with different element types; each entry point uses one
// variable per slot (naga and wgpu check collisions per entry point).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> xu: array<u32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> xv: array<V>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> outv: array<V>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> out_u2: array<u32>;
@group(0) @binding(3) var<storage, read_write> out_u3: array<u32>;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_f2: array<f32, RED>;
var<workgroup> red_u: array<u32, WG>;
var<workgroup> red_u2: array<u32, RED>;

// Sum of every invocation's `v`, in a fixed order; the result is valid in invocation 0 only.
// Must be called from workgroup-uniform control flow (it contains barriers).
fn wg_sum_f32(lid: u32, v: f32) -> f32 {
    red_f[lid] = v;
    workgroupBarrier();
    if (lid < RED) {
        var s = 0.0;
        for (var m = 0u; m < WG / RED; m++) {
            s += red_f[lid * (WG / RED) + m];
        }
        red_f2[lid] = s;
    }
    workgroupBarrier();
    var total = 0.0;
    if (lid == 0u) {
        for (var m = 0u; m < RED; m++) {
            total += red_f2[m];
        }
    }
    return total;
}

fn wg_sum_u32(lid: u32, v: u32) -> u32 {
    red_u[lid] = v;
    workgroupBarrier();
    if (lid < RED) {
        var s = 0u;
        for (var m = 0u; m < WG / RED; m++) {
            s += red_u[lid * (WG / RED) + m];
        }
        red_u2[lid] = s;
    }
    workgroupBarrier();
    var total = 0u;
    if (lid == 0u) {
        for (var m = 0u; m < RED; m++) {
            total += red_u2[m];
        }
    }
    return total;
}

// ---- column sums: out[j] (+)= scale·Σ_i x[i, j] -------------------------------------------------------
// One column (or four, as a vec4, when C % 4 == 0: `V`, see lanes_f32.wgsl) per invocation, so the lanes
// of a SIMD vector read adjacent addresses of one row; a workgroup row (grid y) covers `per_group` rows.
// Four accumulators over interleaved rows let the loads and adds overlap and cut each rounding chain to a
// quarter. Measured on lavapipe, [200, 784]: 150 µs scalar, 85 µs vec4 (dispatch overhead ≈ 20 µs of either).
@compute @workgroup_size(WG)
fn column_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let cols = p.d1 / VW;
    let j = wid.x * WG + lid.x;
    if (j >= cols) {
        return;
    }
    let r0 = min(p.d0, wid.y * p.per_group);
    let r1 = min(p.d0, r0 + p.per_group);
    var s0 = V(0.0);
    var s1 = V(0.0);
    var s2 = V(0.0);
    var s3 = V(0.0);
    var i = r0;
    for (; i + 4u <= r1; i += 4u) {
        let at = i * cols + j;
        s0 += xv[at];
        s1 += xv[at + cols];
        s2 += xv[at + 2u * cols];
        s3 += xv[at + 3u * cols];
    }
    for (; i < r1; i++) {
        s0 += xv[i * cols + j];
    }
    let o = (p.out_offset + wid.y) * cols + j;
    var v = p.scale * ((s0 + s1) + (s2 + s3));
    if (p.accumulate != 0u) {
        v += outv[o];
    }
    outv[o] = v;
}

// ---- flat sums: out[out_offset + g] (+)= scale·Σ x[g·per_group ..< (g+1)·per_group] -----------------
// With one workgroup and per_group = n this is the whole sum; with many it writes partial sums that a
// second dispatch adds up (the wrapper recurses).
@compute @workgroup_size(WG)
fn sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let g = folded_workgroup(wid, nwg);
    if (g >= p.groups) {
        return;
    }
    let base = g * p.per_group;
    let end = min(p.d0, base + p.per_group);
    let iters = (p.per_group + WG - 1u) / WG;
    var total = 0.0;
    for (var q0 = 0u; q0 < iters; q0 += INNER) {
        var blk = 0.0;
        let q1 = min(iters, q0 + INNER);
        for (var q = q0; q < q1; q++) {
            let i = base + q * WG + lid.x;
            if (i < end) {
                blk += x[i];
            }
        }
        total += blk;
    }
    let s = wg_sum_f32(lid.x, total);
    if (lid.x == 0u) {
        let o = p.out_offset + g;
        var v = p.scale * s;
        if (p.accumulate != 0u) {
            v += out[o];
        }
        out[o] = v;
    }
}

// The same over u32 (partial counts); exact, so the order does not matter, but it is fixed anyway.
@compute @workgroup_size(WG)
fn sum_u32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let g = folded_workgroup(wid, nwg);
    if (g >= p.groups) {
        return;
    }
    let base = g * p.per_group;
    let end = min(p.d0, base + p.per_group);
    let iters = (p.per_group + WG - 1u) / WG;
    var total = 0u;
    for (var q = 0u; q < iters; q++) {
        let i = base + q * WG + lid.x;
        if (i < end) {
            total += xu[i];
        }
    }
    let s = wg_sum_u32(lid.x, total);
    if (lid.x == 0u) {
        let o = p.out_offset + g;
        var v = s;
        if (p.accumulate != 0u) {
            v += out_u2[o];
        }
        out_u2[o] = v;
    }
}

// ---- group L2 norms over the view [a, b, c]: out[j] = sqrt(Σ_{i<a, k<c} t[i, j, k]²) -----------------
// One group per invocation; adjacent lanes take adjacent groups. On lavapipe this beat a workgroup per
// group (lanes striding along k together, then a tree) by 1.3-4x for every shape the models have — row
// norms [1, 400, 784]: 400 vs 890 µs scalar, 220 µs as vec4 — presumably as it needs no barriers. Squares are
// added in blocks of NORM_BLOCK terms (a counter, not the loop shape, closes a block, so that both long
// rows and many short ones get it), keeping the chain near NORM_BLOCK + a·c / NORM_BLOCK.
@compute @workgroup_size(WG)
fn group_norms(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let a = p.d0;
    let b = p.d1;
    // Elements of VW values along k (the vec4 build needs c % 4 == 0, which the wrapper checks).
    let cv = p.d2 / VW;
    let j = folded_invocation(wid, nwg, lid, WG);
    if (j >= b) {
        return;
    }
    var total = V(0.0);
    var blk = V(0.0);
    var n = 0u;
    for (var i = 0u; i < a; i++) {
        let at = (i * b + j) * cv;
        for (var k = 0u; k < cv; k++) {
            let v = xv[at + k];
            blk += v * v;
            n++;
            if (n == NORM_BLOCK / VW) {
                total += blk;
                blk = V(0.0);
                n = 0u;
            }
        }
    }
    out[j] = sqrt(lane_sum(total + blk));
}

// Column norms (c = 1) with b % 4 == 0: groups 4j ..< 4j + 4 as one vec4 per row, like column_sums over vec4s
// (measured on lavapipe, [400, 400, 1]: 140-180 µs, against 380 µs one group per invocation).
@compute @workgroup_size(WG)
fn column_norms_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let a = p.d0;
    let b4 = p.d1 / 4u;
    let j = folded_invocation(wid, nwg, lid, WG);
    if (j >= b4) {
        return;
    }
    var total = vec4<f32>(0.0);
    for (var i0 = 0u; i0 < a; i0 += NORM_BLOCK) {
        var blk = vec4<f32>(0.0);
        let i1 = min(a, i0 + NORM_BLOCK);
        for (var i = i0; i < i1; i++) {
            let v = x4[i * b4 + j];
            blk += v * v;
        }
        total += blk;
    }
    out4[j] = sqrt(total);
}

// ---- argmax and accuracy ---------------------------------------------------------------------------------
// Index of the first maximum of row r (torch.argmax's choice on ties); 0 for a row of NaNs.
fn row_argmax(r: u32, cols: u32) -> u32 {
    let at = r * cols;
    var best = x[at];
    var idx = 0u;
    for (var k = 1u; k < cols; k++) {
        let v = x[at + k];
        if (v > best) {
            best = v;
            idx = k;
        }
    }
    return idx;
}

@compute @workgroup_size(WG)
fn argmax_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = folded_invocation(wid, nwg, lid, WG);
    if (r < p.d0 && p.d1 > 0u) {
        out_u2[r] = row_argmax(r, p.d1);
    }
}

// out_u3[out_offset + g] (+)= number of rows of group g whose argmax equals the label. A label ≥ C never
// matches and is never used as an index.
@compute @workgroup_size(WG)
fn correct_count(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let g = folded_workgroup(wid, nwg);
    if (g >= p.groups || p.d1 == 0u) {
        return;
    }
    let base = g * p.per_group;
    let end = min(p.d0, base + p.per_group);
    let iters = (p.per_group + WG - 1u) / WG;
    var count = 0u;
    for (var q = 0u; q < iters; q++) {
        let r = base + q * WG + lid.x;
        if (r < end) {
            count += select(0u, 1u, row_argmax(r, p.d1) == labels[r]);
        }
    }
    let s = wg_sum_u32(lid.x, count);
    if (lid.x == 0u) {
        let o = p.out_offset + g;
        var v = s;
        if (p.accumulate != 0u) {
            v += out_u3[o];
        }
        out_u3[o] = v;
    }
}
