// conv2d_gemm.wgsl — 3×3 convolution (stride 1, padding 1, NCHW) as an implicit GEMM on the block tiling
// of gemm_block.wgsl (joined in front), for hardware GPUs: the forward pass (bias and ReLU fused) and the data gradient.
//
//   out[n, m, pix] = Σ_{c, t} K(m, c, t) · in[n, c, pix + offset(t)]         (0 outside the image)
//
// is C = A·B with C[m, P] (P = n·H·W + pix, every pixel of the batch), A[m, c·9 + t] = K(m, c, t) and
// B[c·9 + t, P] = in[n, c, pix + offset(t)]: B is im2col(in), which is never written to memory — each
// slice of it is gathered straight into workgroup memory. As in conv2d_common.wgsl:
//   forward:        in = x,  out = y,  K(m, c, t) = wts[m·w_m + c·w_c + t]       (w_m = Cin·9, w_c = 9)
//   backward data:  in = dy, out = dx, K(m, c, t) = wts[m·w_m + c·w_c + 8 - t]   (w_m = 9, w_c = Cin·9)
//
// A workgroup of 16×16 invocations computes BM×BN = (16·TM) channels × (16·TN) pixels. A slice of k is BKC
// whole reduction channels (BK = 9·BKC rows of B), so the tap, the channel offset and the padding mask of
// every element an invocation gathers are the same in every slice: they are worked out once, before the
// loop, and each gathered element costs one comparison and one load. Both slices are stored k-major as
// vec4s (A transposed), double-buffered with one barrier per slice, as gemm_block.wgsl lays them out.

const TM: u32 = 8u;    // output channels per invocation (4 or 8)
const TN: u32 = 8u;    // pixels per invocation (4 or 8)
const BKC: u32 = 1u;   // reduction channels per slice

const BK: u32 = 9u * BKC;
const A_PER: u32 = (BM * BK + THREADS - 1u) / THREADS;   // weights each invocation gathers per slice
const B_ROWS: u32 = THREADS / BN;                          // rows of B one pass of the workgroup covers
const B_PER: u32 = (BK + B_ROWS - 1u) / B_ROWS;            // input values each invocation gathers per slice

struct Params {
    c_in: u32,    // reduction channels (forward: Cin; backward data: Cout)
    c_out: u32,   // output channels (forward: Cout; backward data: Cin)
    h: u32,
    w: u32,
    images: u32,  // images bound in this dispatch
    w_m: u32,     // stride of K between output channels
    w_c: u32,     // stride of K between reduction channels
    flags: u32,
}

const FLAG_BIAS: u32 = 1u;
const FLAG_RELU: u32 = 2u;
const FLAG_FLIP: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> wts: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

// What one invocation gathers, fixed for every slice: element r's offset (without the slice's channel
// term), its reduction channel within the slice, and whether it exists (false: it reads as zero).
struct Gather {
    a_at: array<u32, A_PER>,
    a_dc: array<u32, A_PER>,
    a_ok: array<bool, A_PER>,
    b_at: array<u32, B_PER>,
    b_dc: array<u32, B_PER>,
    b_ok: array<bool, B_PER>,
}

fn plan(m0: u32, col0: u32, li: u32) -> Gather {
    var g: Gather;
    let flip = (p.flags & FLAG_FLIP) != 0u;
    for (var r = 0u; r < A_PER; r++) {
        // Element e = (m, kk) with kk fastest: a row of K is contiguous in both layouts.
        let e = li + r * THREADS;
        let m = m0 + e / BK;
        let kk = e % BK;
        let t = kk % 9u;
        g.a_dc[r] = kk / 9u;
        g.a_ok[r] = e < BM * BK && m < p.c_out;
        g.a_at[r] = select(0u, m * p.w_m + g.a_dc[r] * p.w_c + select(t, 8u - t, flip), g.a_ok[r]);
    }
    let hw = p.h * p.w;
    let pix = col0 + li % BN;
    let n = pix / hw;
    let hh = i32((pix % hw) / p.w);
    let ww = i32(pix % p.w);
    for (var r = 0u; r < B_PER; r++) {
        let kk = li / BN + r * B_ROWS;
        let t = kk % 9u;
        let hi = hh + i32(t / 3u) - 1;
        let wi = ww + i32(t % 3u) - 1;
        g.b_dc[r] = kk / 9u;
        g.b_ok[r] = kk < BK && n < p.images && hi >= 0 && hi < i32(p.h) && wi >= 0 && wi < i32(p.w);
        g.b_at[r] = select(0u, (n * p.c_in + g.b_dc[r]) * hw + u32(hi) * p.w + u32(wi), g.b_ok[r]);
    }
    return g;
}

fn gather_a(g: ptr<function, Gather>, c0: u32, r: u32) -> f32 {
    if ((*g).a_ok[r] && c0 + (*g).a_dc[r] < p.c_in) { return wts[(*g).a_at[r] + c0 * p.w_c]; }
    return 0.0;
}

fn gather_b(g: ptr<function, Gather>, c0: u32, r: u32) -> f32 {
    if ((*g).b_ok[r] && c0 + (*g).b_dc[r] < p.c_in) { return src[(*g).b_at[r] + c0 * p.h * p.w]; }
    return 0.0;
}

fn put(buf: u32, li: u32, ra: ptr<function, array<f32, A_PER>>, rb: ptr<function, array<f32, B_PER>>) {
    for (var r = 0u; r < A_PER; r++) {
        let e = li + r * THREADS;
        if (e < BM * BK) {
            let m = e / BK;
            a_s[buf][(e % BK) * BM4 + m / 4u][m % 4u] = (*ra)[r];
        }
    }
    let j = li % BN;
    for (var r = 0u; r < B_PER; r++) {
        let kk = li / BN + r * B_ROWS;
        if (kk < BK) { b_s[buf][kk * BN4 + j / 4u][j % 4u] = (*rb)[r]; }
    }
}

@compute @workgroup_size(WX, WY)
fn conv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let m0 = wid.y * BM;
    let col0 = wid.x * BN;
    var g = plan(m0, col0, li);
    let slices = (p.c_in + BKC - 1u) / BKC;
    var ra: array<f32, A_PER>;
    var rb: array<f32, B_PER>;
    for (var r = 0u; r < A_PER; r++) { ra[r] = gather_a(&g, 0u, r); }
    for (var r = 0u; r < B_PER; r++) { rb[r] = gather_b(&g, 0u, r); }
    put(0u, li, &ra, &rb);
    workgroupBarrier();

    var acc: array<array<vec4<f32>, TN4>, TM>;
    for (var s = 0u; s < slices; s++) {
        let cur = s % 2u;
        let more = s + 1u < slices;
        if (more) {
            let c0 = (s + 1u) * BKC;
            for (var r = 0u; r < A_PER; r++) { ra[r] = gather_a(&g, c0, r); }
            for (var r = 0u; r < B_PER; r++) { rb[r] = gather_b(&g, c0, r); }
        }
        multiply_slice(cur, lid, &acc);
        if (more) { put(1u - cur, li, &ra, &rb); }
        workgroupBarrier();
    }

    let hw = p.h * p.w;
    let pixels = p.images * hw;
    for (var x = 0u; x < TN4; x++) {
        for (var c = 0u; c < 4u; c++) {
            let pix = col0 + block_col(lid, x) + c;
            if (pix < pixels) {
                let base = (pix / hw) * p.c_out * hw + pix % hw;
                for (var i = 0u; i < TM; i++) {
                    let m = m0 + block_row(lid, i);
                    if (m < p.c_out) {
                        var v = acc[i][x][c];
                        if ((p.flags & FLAG_BIAS) != 0u) { v += bias[m]; }
                        if ((p.flags & FLAG_RELU) != 0u) { v = max(v, 0.0); }
                        dst[base + m * hw] = v;
                    }
                }
            }
        }
    }
}
