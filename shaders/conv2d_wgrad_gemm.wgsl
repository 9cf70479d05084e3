// conv2d_wgrad_gemm.wgsl — the weight gradient of a 3×3 conv (stride 1, padding 1, NCHW) as an implicit
// GEMM on the block tiling of gemm_block.wgsl (joined in front), for hardware GPUs, split along the pixels (split-K).
//
//   dw[m, c·9 + t] = Σ_P dy[n, m, pix] · x[n, c, pix + offset(t)]      (P = n·H·W + pix; 0 outside the image)
//
// is C = A·B with C = dw viewed as [Cout, Cin·9] (its own layout), A[m, P] = dy and B[P, c·9 + t] =
// im2col(x)ᵀ, gathered straight into workgroup memory, never written out. The reduction (every pixel of
// the batch) is long and the output can be small (late VGG19 layers: 512×4608 outputs over only 512
// pixels at 2×2, batch 128; the first layer: 64×27 outputs over 131,072 pixels), so workgroup row z sums
// pixels [z·per_chunk, (z+1)·per_chunk) into slot slot0 + z of `out`, and `sum_slots`
// (conv2d_reduce.wgsl) adds the slots; with one slot `out` is dw.
//
// A workgroup of 16×16 invocations computes (16·TM) output channels × (16·TN) columns (c, t) over slices
// of BK = 8 pixels. An invocation gathers the same pixel kk of every slice for each of its elements, and
// the same columns (c, t) in every slice: their offsets and taps are worked out once, before the loop.

const TM: u32 = 8u;   // output channels per invocation (4 or 8)
const TN: u32 = 8u;   // columns (input channel, tap) per invocation (4 or 8)

const BK: u32 = 8u;
const ROWS: u32 = THREADS / BK;   // channels (or columns) one pass of the workgroup covers
const A_PER: u32 = BM / ROWS;
const B_PER: u32 = BN / ROWS;

struct Params {
    c_in: u32,
    c_out: u32,
    h: u32,
    w: u32,
    images: u32,     // images bound in this dispatch
    per_chunk: u32,  // pixels one workgroup row sums (a multiple of BK)
    slot0: u32,      // first output slot of this dispatch
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// The fixed part of an invocation's gathers: dy's channel offsets, x's (channel, tap) offsets and taps.
struct Gather {
    a_at: array<u32, A_PER>,
    a_ok: array<bool, A_PER>,
    b_at: array<i32, B_PER>,
    b_kh: array<i32, B_PER>,
    b_kw: array<i32, B_PER>,
    b_ok: array<bool, B_PER>,
}

fn plan(m0: u32, col0: u32, li: u32) -> Gather {
    var g: Gather;
    let hw = p.h * p.w;
    for (var r = 0u; r < A_PER; r++) {
        let m = m0 + li / BK + r * ROWS;
        g.a_ok[r] = m < p.c_out;
        g.a_at[r] = select(0u, m * hw, g.a_ok[r]);
    }
    for (var r = 0u; r < B_PER; r++) {
        let j = col0 + li / BK + r * ROWS;
        let t = j % 9u;
        g.b_ok[r] = j < p.c_in * 9u;
        g.b_kh[r] = i32(t / 3u) - 1;
        g.b_kw[r] = i32(t % 3u) - 1;
        g.b_at[r] = select(0, i32((j / 9u) * hw) + g.b_kh[r] * i32(p.w) + g.b_kw[r], g.b_ok[r]);
    }
    return g;
}

// Gathers this invocation's elements of the slice at pixel P0 into ra / rb (zeros past `end`).
fn gather(g: ptr<function, Gather>, p0: u32, end: u32, li: u32, ra: ptr<function, array<f32, A_PER>>, rb: ptr<function, array<f32, B_PER>>) {
    let hw = p.h * p.w;
    let pix = p0 + li % BK;
    let live = pix < end;
    let n = pix / hw;
    let in_img = pix % hw;
    let hh = i32(in_img / p.w);
    let ww = i32(in_img % p.w);
    let dy_base = n * p.c_out * hw + in_img;
    let x_base = i32(n * p.c_in * hw + in_img);
    for (var r = 0u; r < A_PER; r++) {
        (*ra)[r] = 0.0;
        if (live && (*g).a_ok[r]) { (*ra)[r] = dy[dy_base + (*g).a_at[r]]; }
    }
    for (var r = 0u; r < B_PER; r++) {
        let hi = hh + (*g).b_kh[r];
        let wi = ww + (*g).b_kw[r];
        (*rb)[r] = 0.0;
        if (live && (*g).b_ok[r] && hi >= 0 && hi < i32(p.h) && wi >= 0 && wi < i32(p.w)) { (*rb)[r] = x[u32(x_base + (*g).b_at[r])]; }
    }
}

fn put(buf: u32, li: u32, ra: ptr<function, array<f32, A_PER>>, rb: ptr<function, array<f32, B_PER>>) {
    let kk = li % BK;
    for (var r = 0u; r < A_PER; r++) {
        let m = li / BK + r * ROWS;
        a_s[buf][kk * BM4 + m / 4u][m % 4u] = (*ra)[r];
    }
    for (var r = 0u; r < B_PER; r++) {
        let j = li / BK + r * ROWS;
        b_s[buf][kk * BN4 + j / 4u][j % 4u] = (*rb)[r];
    }
}

@compute @workgroup_size(WX, WY)
fn weight_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let m0 = wid.y * BM;
    let col0 = wid.x * BN;
    let first = wid.z * p.per_chunk;
    let end = min(first + p.per_chunk, p.images * p.h * p.w);
    let slices = (p.per_chunk + BK - 1u) / BK;
    var g = plan(m0, col0, li);
    var ra: array<f32, A_PER>;
    var rb: array<f32, B_PER>;
    gather(&g, first, end, li, &ra, &rb);
    put(0u, li, &ra, &rb);
    workgroupBarrier();

    var acc: array<array<vec4<f32>, TN4>, TM>;
    for (var s = 0u; s < slices; s++) {
        let cur = s % 2u;
        let more = s + 1u < slices;
        if (more) { gather(&g, first + (s + 1u) * BK, end, li, &ra, &rb); }
        multiply_slice(cur, lid, &acc);
        if (more) { put(1u - cur, li, &ra, &rb); }
        workgroupBarrier();
    }

    let cols = p.c_in * 9u;
    let slot = (p.slot0 + wid.z) * p.c_out * cols;
    for (var i = 0u; i < TM; i++) {
        let m = m0 + block_row(lid, i);
        if (m < p.c_out) {
            for (var q = 0u; q < TN4; q++) {
                let j = col0 + block_col(lid, q);
                for (var c = 0u; c < 4u; c++) {
                    if (j + c < cols) { out[slot + m * cols + j + c] = acc[i][q][c]; }
                }
            }
        }
    }
}
