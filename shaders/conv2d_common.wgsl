// conv2d_common.wgsl — what the implicit-GEMM conv kernels (conv2d_sg, conv2d_reg) share: parameters,
// bindings, the pixel tile each invocation owns, and the epilogue. A variant file is compiled after this one.
//
// 3×3 convolution, stride 1, padding 1, NCHW:
//
//   out[n, m, h, w] = Σ_{c, kh, kw} K(m, c, kh·3 + kw) · in[n, c, h + kh - 1, w + kw - 1]   (0 outside the image)
//
// forward:        in = x,  out = y,  K(m, c, t) = wts[m·Cin·9 + c·9 + t]          (then + bias, ReLU)
// backward data:  in = dy, out = dx, K(m, c, t) = wts[c·Cin·9 + m·9 + (8 - t)]    (the transposed, flipped kernel)
// so one kernel serves both: the wrapper sets the strides w_m, w_c and FLAG_FLIP.
//
// Each invocation owns TM output channels × one pixel tile of TB images × TR rows × TW columns (TN pixels).
// Per reduction channel it reads the tile's (TR+2)×(TW+2) input neighbourhood once per image and uses each
// value for up to 9 taps × TM channels, so loads stay few per multiply-add.

struct Params {
    c_in: u32,      // reduction channels (forward: Cin; backward data: Cout)
    c_out: u32,     // output channels (forward: Cout; backward data: Cin)
    h: u32,
    w: u32,
    images: u32,    // images bound in this dispatch
    tiles_w: u32,   // tiles across a row: ceil(W / TW)
    tiles_img: u32, // tiles per group of TB images: ceil(H / TR) · tiles_w
    tiles: u32,     // tiles in the dispatch: ceil(images / TB) · tiles_img
    w_m: u32,       // stride of K between output channels
    w_c: u32,       // stride of K between reduction channels
    flags: u32,
    _pad: u32,
}

const FLAG_BIAS: u32 = 1u;   // + bias[m]
const FLAG_RELU: u32 = 2u;   // max(·, 0) after the bias
const FLAG_FLIP: u32 = 4u;   // tap t reads K at 8 - t

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> wts: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

// Accumulators of one invocation: [tile row q = b·TR + i][output channel][column].
alias Acc = array<array<array<f32, TW>, TM>, ROWS>;
alias Taps = array<array<f32, 9>, TM>;
alias Row = array<f32, TW2>;

// Index of K(m, c, t) for tap t (the flip reads the kernel rotated by 180°).
fn k_index(m_base: u32, c: u32, t: u32) -> u32 {
    return m_base + c * p.w_c + select(t, 8u - t, (p.flags & FLAG_FLIP) != 0u);
}

// Why the code below is written as calls with constant arguments instead of nested loops: Mesa unrolls a
// loop only while its unrolled body stays small (~800 instructions), and an array indexed by a loop that
// stays rolled lives in memory, where every access is a per-lane gather (measured: 0.4 vs 20+ GFLOP/s).
// So every loop here is at most TW·TM multiply-adds, and everything around it is unrolled by hand; the
// `if (CONST > n)` guards fold away at compile time.

// acc[q] += K(·, ·, t) · v[kw ..]: one tap of one input row for the tile row q.
fn tap(acc: ptr<function, Acc>, k: ptr<function, Taps>, v: ptr<function, Row>, q: u32, t: u32, kw: u32) {
    for (var j = 0u; j < TW; j++) {
        for (var m = 0u; m < TM; m++) {
            (*acc)[q][m][j] = fma((*k)[m][t], (*v)[j + kw], (*acc)[q][m][j]);
        }
    }
}

// Input row r (of TR + 2) of image b's neighbourhood, at `plane` (the image's channel plane): it feeds
// output row i = r - kh through kernel row kh, for each kh that lands inside the tile.
fn input_row(acc: ptr<function, Acc>, k: ptr<function, Taps>, g: ptr<function, Geom>, plane: u32, b: u32, r: u32) {
    var v: Row;
    let at = plane + (*g).row_at[r];
    let ok = (*g).img_ok[b] && (*g).row_ok[r];
    for (var c = 0u; c < TW2; c++) {
        v[c] = select(0.0, src[at + (*g).col_at[c]], ok && (*g).col_ok[c]);
    }
    if (r < TR) {
        tap(acc, k, &v, b * TR + r, 0u, 0u); tap(acc, k, &v, b * TR + r, 1u, 1u); tap(acc, k, &v, b * TR + r, 2u, 2u);
    }
    if (r >= 1u && r - 1u < TR) {
        tap(acc, k, &v, b * TR + r - 1u, 3u, 0u); tap(acc, k, &v, b * TR + r - 1u, 4u, 1u); tap(acc, k, &v, b * TR + r - 1u, 5u, 2u);
    }
    if (r >= 2u && r - 2u < TR) {
        tap(acc, k, &v, b * TR + r - 2u, 6u, 0u); tap(acc, k, &v, b * TR + r - 2u, 7u, 1u); tap(acc, k, &v, b * TR + r - 2u, 8u, 2u);
    }
}

fn image_rows(acc: ptr<function, Acc>, k: ptr<function, Taps>, g: ptr<function, Geom>, ch: u32, b: u32) {
    let plane = ((*g).img_at[b] * p.c_in + ch) * p.h * p.w;
    input_row(acc, k, g, plane, b, 0u);
    input_row(acc, k, g, plane, b, 1u);
    input_row(acc, k, g, plane, b, 2u);
    if (TR > 1u) { input_row(acc, k, g, plane, b, 3u); }
    if (TR > 2u) { input_row(acc, k, g, plane, b, 4u); }
    if (TR > 3u) { input_row(acc, k, g, plane, b, 5u); }
    if (TR > 4u) { input_row(acc, k, g, plane, b, 6u); }
    if (TR > 5u) { input_row(acc, k, g, plane, b, 7u); }
    if (TR > 6u) { input_row(acc, k, g, plane, b, 8u); }
    if (TR > 7u) { input_row(acc, k, g, plane, b, 9u); }
}

// acc += K(·, ch, ·) ⊛ the tile's neighbourhood in reduction channel ch, for the TM channels whose taps are in k.
fn accumulate_channel(acc: ptr<function, Acc>, k: ptr<function, Taps>, g: ptr<function, Geom>, ch: u32) {
    image_rows(acc, k, g, ch, 0u);
    if (TB > 1u) { image_rows(acc, k, g, ch, 1u); }
    if (TB > 2u) { image_rows(acc, k, g, ch, 2u); }
    if (TB > 3u) { image_rows(acc, k, g, ch, 3u); }
    if (TB > 4u) { image_rows(acc, k, g, ch, 4u); }
    if (TB > 5u) { image_rows(acc, k, g, ch, 5u); }
    if (TB > 6u) { image_rows(acc, k, g, ch, 6u); }
    if (TB > 7u) { image_rows(acc, k, g, ch, 7u); }
}

// Column j of tile row q: + bias, ReLU, stored for the channels and pixels inside the output.
fn store_column(acc: ptr<function, Acc>, g: ptr<function, Geom>, m0: u32, q: u32, j: u32) {
    let b = q / TR;
    let i = q % TR;
    if (!pixel_ok(g, b, i, j)) { return; }
    let hw = p.h * p.w;
    let at = ((*g).n0 + b) * p.c_out * hw + ((*g).h0 + i) * p.w + (*g).w0 + j;
    for (var m = 0u; m < TM; m++) {
        if (m0 + m < p.c_out) {
            var v = (*acc)[q][m][j];
            if ((p.flags & FLAG_BIAS) != 0u) { v += bias[m0 + m]; }
            if ((p.flags & FLAG_RELU) != 0u) { v = max(v, 0.0); }
            dst[at + (m0 + m) * hw] = v;
        }
    }
}

fn store_row(acc: ptr<function, Acc>, g: ptr<function, Geom>, m0: u32, q: u32) {
    store_column(acc, g, m0, q, 0u);
    if (TW > 1u) { store_column(acc, g, m0, q, 1u); }
    if (TW > 2u) { store_column(acc, g, m0, q, 2u); }
    if (TW > 3u) { store_column(acc, g, m0, q, 3u); }
    if (TW > 4u) { store_column(acc, g, m0, q, 4u); }
    if (TW > 5u) { store_column(acc, g, m0, q, 5u); }
    if (TW > 6u) { store_column(acc, g, m0, q, 6u); }
    if (TW > 7u) { store_column(acc, g, m0, q, 7u); }
}

// Writes the finished tile.
fn store_tile(acc: ptr<function, Acc>, g: ptr<function, Geom>, m0: u32) {
    store_row(acc, g, m0, 0u);
    if (ROWS > 1u) { store_row(acc, g, m0, 1u); }
    if (ROWS > 2u) { store_row(acc, g, m0, 2u); }
    if (ROWS > 3u) { store_row(acc, g, m0, 3u); }
    if (ROWS > 4u) { store_row(acc, g, m0, 4u); }
    if (ROWS > 5u) { store_row(acc, g, m0, 5u); }
    if (ROWS > 6u) { store_row(acc, g, m0, 6u); }
    if (ROWS > 7u) { store_row(acc, g, m0, 7u); }
}
