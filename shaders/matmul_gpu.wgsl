// matmul_gpu.wgsl — matmul for hardware GPUs (NVIDIA, AMD, Intel, Apple): the 2-D block tiling of the
// well-known SGEMM progression, written for no particular subgroup width. Compiled after matmul_common.wgsl
// and gemm_block.wgsl (the block geometry, the slices in workgroup memory and their multiply-adds).
//
// A workgroup of 16×16 invocations computes a BM×BN = (16·TM)×(16·TN) block of C (128×128 at 8×8 per
// invocation). The k dimension runs in slices of BK:
//   - global → registers: every invocation loads whole quads (4 consecutive floats) along the operand's
//     contiguous dimension — as one vec4 where the layout allows it (A4 / B4: the contiguous extent is a
//     multiple of 4, so an in-range quad is one aligned vec4), else as 4 guarded scalars. Quads past the
//     edges read zeros, so the interior pays one comparison per quad and no per-element branches.
//   - registers → workgroup memory, in the layout the inner loop reads: both slices k-major, A transposed
//     (a_s[kk][i], b_s[kk][j]), as vec4s, so each step of the inner loop reads TM/4 + TN/4 vec4s.
//   - double-buffered: the next slice is loaded into registers before the current one is multiplied, and
//     stored into the other half of workgroup memory after, so one barrier per slice suffices and the
//     global loads' latency hides behind the multiply-adds.
// Invocation (x, y) owns the row quads y, y+16, … and column quads x, x+16, … of the block: neighbouring
// invocations read neighbouring vec4s of b_s (no bank conflicts) and the same vec4 of a_s (a broadcast).

const TM: u32 = 8u;    // rows of C per invocation (4 or 8)
const TN: u32 = 8u;    // columns of C per invocation (4 or 8)
const BK: u32 = 8u;    // depth of a slice of k (a multiple of 4)
const A_T: u32 = 0u;   // 1: A stored [K, M] (a_si == 1): quads run along i; 0: along k (a_sk == 1)
const A4: u32 = 0u;    // 1: quads of A are one vec4 load (A_T ? M : K is a multiple of 4)
const B_T: u32 = 0u;   // 1: B stored [N, K] (b_sk == 1): quads run along k; 0: along j (b_sj == 1)
const B4: u32 = 0u;    // 1: quads of B are one vec4 load (B_T ? K : N is a multiple of 4)

const BK4: u32 = BK / 4u;
const A_QUADS: u32 = BM * BK4;                            // quads in a slice of A
const B_QUADS: u32 = BN * BK4;
const A_PER: u32 = (A_QUADS + THREADS - 1u) / THREADS;    // quads each invocation loads
const B_PER: u32 = (B_QUADS + THREADS - 1u) / THREADS;

// The same buffer as `a`, read four floats at a time (A4).
@group(0) @binding(7) var<storage, read> a4: array<vec4<f32>>;

// Quad q of the slice of A at (row0, k0), zero outside op(A).
fn load_a(row0: u32, k0: u32, q: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (q >= A_QUADS) { return v; }
    if (A_T == 0u) {
        let i = row0 + q / BK4;
        let k = k0 + (q % BK4) * 4u;
        if (A4 == 1u) {
            if (i < p.m && k < p.k) { v = a4[(i * p.a_si + k) / 4u]; }
        } else if (i < p.m) {
            for (var c = 0u; c < 4u; c++) { if (k + c < p.k) { v[c] = a_at(i, k + c); } }
        }
    } else {
        let k = k0 + q / BM4;
        let i = row0 + (q % BM4) * 4u;
        if (A4 == 1u) {
            if (i < p.m && k < p.k) { v = a4[(k * p.a_sk + i) / 4u]; }
        } else if (k < p.k) {
            for (var c = 0u; c < 4u; c++) { if (i + c < p.m) { v[c] = a_at(i + c, k); } }
        }
    }
    return v;
}

fn put_a(buf: u32, q: u32, v: vec4<f32>) {
    if (q >= A_QUADS) { return; }
    if (A_T == 0u) {
        let i = q / BK4;
        let kk = (q % BK4) * 4u;
        for (var c = 0u; c < 4u; c++) { a_s[buf][(kk + c) * BM4 + i / 4u][i % 4u] = v[c]; }
    } else {
        a_s[buf][(q / BM4) * BM4 + q % BM4] = v;
    }
}

fn load_b(col0: u32, k0: u32, q: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (q >= B_QUADS) { return v; }
    if (B_T == 0u) {
        let k = k0 + q / BN4;
        let j = col0 + (q % BN4) * 4u;
        if (B4 == 1u) {
            if (j < p.n && k < p.k) { v = b4[(k * p.b_sk + j) / 4u]; }
        } else if (k < p.k) {
            for (var c = 0u; c < 4u; c++) { if (j + c < p.n) { v[c] = b_at(k, j + c); } }
        }
    } else {
        let j = col0 + q / BK4;
        let k = k0 + (q % BK4) * 4u;
        if (B4 == 1u) {
            if (j < p.n && k < p.k) { v = b4[(j * p.b_sj + k) / 4u]; }
        } else if (j < p.n) {
            for (var c = 0u; c < 4u; c++) { if (k + c < p.k) { v[c] = b_at(k + c, j); } }
        }
    }
    return v;
}

fn put_b(buf: u32, q: u32, v: vec4<f32>) {
    if (q >= B_QUADS) { return; }
    if (B_T == 0u) {
        b_s[buf][q] = v;
    } else {
        let j = q / BK4;
        let kk = (q % BK4) * 4u;
        for (var c = 0u; c < 4u; c++) { b_s[buf][(kk + c) * BN4 + j / 4u][j % 4u] = v[c]; }
    }
}

@compute @workgroup_size(WX, WY)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let slices = (p.k + BK - 1u) / BK;
    var ra: array<vec4<f32>, A_PER>;
    var rb: array<vec4<f32>, B_PER>;
    for (var r = 0u; r < A_PER; r++) { ra[r] = load_a(row0, 0u, li + r * THREADS); }
    for (var r = 0u; r < B_PER; r++) { rb[r] = load_b(col0, 0u, li + r * THREADS); }
    for (var r = 0u; r < A_PER; r++) { put_a(0u, li + r * THREADS, ra[r]); }
    for (var r = 0u; r < B_PER; r++) { put_b(0u, li + r * THREADS, rb[r]); }
    workgroupBarrier();

    var acc: array<array<vec4<f32>, TN4>, TM>;
    for (var s = 0u; s < slices; s++) {
        let cur = s % 2u;
        let more = s + 1u < slices;
        if (more) {
            let k0 = (s + 1u) * BK;
            for (var r = 0u; r < A_PER; r++) { ra[r] = load_a(row0, k0, li + r * THREADS); }
            for (var r = 0u; r < B_PER; r++) { rb[r] = load_b(col0, k0, li + r * THREADS); }
        }
        multiply_slice(cur, lid, &acc);
        if (more) {
            // The other buffer was last read in the previous slice, before the barrier that ended it.
            for (var r = 0u; r < A_PER; r++) { put_a(1u - cur, li + r * THREADS, ra[r]); }
            for (var r = 0u; r < B_PER; r++) { put_b(1u - cur, li + r * THREADS, rb[r]); }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < TM; i++) {
        let row = row0 + block_row(lid, i);
        if (row < p.m) {
            for (var x = 0u; x < TN4; x++) {
                let col = col0 + block_col(lid, x);
                for (var c = 0u; c < 4u; c++) {
                    if (col + c < p.n) { store(row, col + c, acc[i][x][c]); }
                }
            }
        }
    }
}
