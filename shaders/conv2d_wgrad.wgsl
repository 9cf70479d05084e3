// conv2d_wgrad.wgsl — the weight gradient of a 3×3 conv (stride 1, padding 1, NCHW), as partial sums over
// chunks of pixels: what its variants share. Compiled after conv2d_tile.wgsl and before
// conv2d_wgrad_reg.wgsl (portable) or conv2d_wgrad_sg.wgsl (8-wide subgroups).
//
//   dw[m, c, t] = Σ_{n, h, w} dy[n, m, h, w] · x[n, c, h + kh - 1, w + kw - 1]      (t = kh·3 + kw)
//
// The sum runs over every pixel of the batch (N·H·W terms: 131,072 at batch 128 and 32×32), longer than
// llvmpipe lets one invocation loop (65,535 iterations in all), and the outputs can be few (Cin = 3), so
// the pixels are cut into chunks of at most `tiles_per_chunk` tiles: workgroup row z writes the partial
// sums of chunk z to slot `slot0 + z` of `out` (each slot a whole [Cout, Cin, 9] block), and a second pass
// (`sum_slots` in conv2d_reduce.wgsl) adds the slots in a fixed order. With a single slot `out` is dw.
//
// Each invocation owns TM output channels × TC input channels × 9 taps. Per tile of TB·TR·TW pixels it
// loads the tile's TM gradient planes and TC input neighbourhoods, for 9·TM·TC·TB·TR·TW multiply-adds.

struct Params {
    c_in: u32,
    c_out: u32,
    h: u32,
    w: u32,
    images: u32,          // images bound in this dispatch
    tiles_w: u32,         // tiles across a row: ceil(W / TW)
    tiles_img: u32,       // tiles per group of TB images
    tiles: u32,           // tiles in the dispatch
    tiles_per_chunk: u32, // tiles summed by one invocation
    c_blocks: u32,        // blocks of input channels: ceil(Cin / TC) (reg), ceil(Cin / (8·TC)) (sg)
    m_blocks: u32,        // ceil(Cout / TM)
    slot0: u32,           // first output slot of this dispatch
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

alias Acc = array<array<array<f32, 9>, TC>, TM>;      // [output channel][input channel][tap]
alias Grads = array<array<array<f32, TW>, TM>, ROWS>;  // the tile's dy: [tile row][output channel][column]
alias Row = array<f32, TW2>;

// As in conv2d_common.wgsl, loops stay small (TW·TM) and the rest is unrolled by hand, so that Mesa
// unrolls them and keeps acc and d in registers; the `if (CONST > n)` guards fold away.

// acc[·][c][t] += Σ_j d[q][·][j] · v[j + kw]: one tap, one input row, tile row q.
fn tap(acc: ptr<function, Acc>, d: ptr<function, Grads>, v: ptr<function, Row>, q: u32, c: u32, t: u32, kw: u32) {
    for (var m = 0u; m < TM; m++) {
        var sum = (*acc)[m][c][t];
        for (var j = 0u; j < TW; j++) {
            sum = fma((*d)[q][m][j], (*v)[j + kw], sum);
        }
        (*acc)[m][c][t] = sum;
    }
}

// Input row r of image b's neighbourhood in channel plane `plane`, met by output row i = r - kh.
fn input_row(acc: ptr<function, Acc>, d: ptr<function, Grads>, g: ptr<function, Geom>, plane: u32, c: u32, b: u32, r: u32) {
    var v: Row;
    let at = plane + (*g).row_at[r];
    let ok = (*g).img_ok[b] && (*g).row_ok[r];
    for (var cc = 0u; cc < TW2; cc++) {
        v[cc] = select(0.0, x[at + (*g).col_at[cc]], ok && (*g).col_ok[cc]);
    }
    if (r < TR) {
        tap(acc, d, &v, b * TR + r, c, 0u, 0u); tap(acc, d, &v, b * TR + r, c, 1u, 1u); tap(acc, d, &v, b * TR + r, c, 2u, 2u);
    }
    if (r >= 1u && r - 1u < TR) {
        tap(acc, d, &v, b * TR + r - 1u, c, 3u, 0u); tap(acc, d, &v, b * TR + r - 1u, c, 4u, 1u); tap(acc, d, &v, b * TR + r - 1u, c, 5u, 2u);
    }
    if (r >= 2u && r - 2u < TR) {
        tap(acc, d, &v, b * TR + r - 2u, c, 6u, 0u); tap(acc, d, &v, b * TR + r - 2u, c, 7u, 1u); tap(acc, d, &v, b * TR + r - 2u, c, 8u, 2u);
    }
}

fn image_rows(acc: ptr<function, Acc>, d: ptr<function, Grads>, g: ptr<function, Geom>, ch: u32, c: u32, b: u32) {
    let plane = ((*g).img_at[b] * p.c_in + ch) * p.h * p.w;
    input_row(acc, d, g, plane, c, b, 0u);
    input_row(acc, d, g, plane, c, b, 1u);
    input_row(acc, d, g, plane, c, b, 2u);
    if (TR > 1u) { input_row(acc, d, g, plane, c, b, 3u); }
    if (TR > 2u) { input_row(acc, d, g, plane, c, b, 4u); }
    if (TR > 3u) { input_row(acc, d, g, plane, c, b, 5u); }
    if (TR > 4u) { input_row(acc, d, g, plane, c, b, 6u); }
    if (TR > 5u) { input_row(acc, d, g, plane, c, b, 7u); }
    if (TR > 6u) { input_row(acc, d, g, plane, c, b, 8u); }
    if (TR > 7u) { input_row(acc, d, g, plane, c, b, 9u); }
}

// Input channel c (of TC) over the whole tile.
fn channel(acc: ptr<function, Acc>, d: ptr<function, Grads>, g: ptr<function, Geom>, ch: u32, c: u32) {
    image_rows(acc, d, g, ch, c, 0u);
    if (TB > 1u) { image_rows(acc, d, g, ch, c, 1u); }
    if (TB > 2u) { image_rows(acc, d, g, ch, c, 2u); }
    if (TB > 3u) { image_rows(acc, d, g, ch, c, 3u); }
    if (TB > 4u) { image_rows(acc, d, g, ch, c, 4u); }
    if (TB > 5u) { image_rows(acc, d, g, ch, c, 5u); }
    if (TB > 6u) { image_rows(acc, d, g, ch, c, 6u); }
    if (TB > 7u) { image_rows(acc, d, g, ch, c, 7u); }
}

// d[q] = the gradients of tile row q (zero for pixels outside the images).
fn load_grads(d: ptr<function, Grads>, g: ptr<function, Geom>, m_at: ptr<function, array<u32, TM>>, q: u32) {
    let b = q / TR;
    let i = q % TR;
    let hw = p.h * p.w;
    let at = (*g).img_at[b] * p.c_out * hw + (*g).row_at[i + 1u];
    for (var j = 0u; j < TW; j++) {
        let ok = pixel_ok(g, b, i, j);
        for (var m = 0u; m < TM; m++) {
            (*d)[q][m][j] = select(0.0, dy[at + (*g).col_at[j + 1u] + (*m_at)[m] * hw], ok);
        }
    }
}

// Writes input channel c's 9·TM sums to the slot.
fn store_channel(acc: ptr<function, Acc>, slot: u32, m0: u32, c0: u32, c: u32) {
    if (c0 + c >= p.c_in) { return; }
    for (var m = 0u; m < TM; m++) {
        if (m0 + m < p.c_out) {
            let at = slot + ((m0 + m) * p.c_in + c0 + c) * 9u;
            for (var t = 0u; t < 9u; t++) { out[at + t] = (*acc)[m][c][t]; }
        }
    }
}


// The whole tile for the TC input channels from c0 (clamped to the last channel; surplus ones are not stored).
fn accumulate_tile(acc: ptr<function, Acc>, d: ptr<function, Grads>, g: ptr<function, Geom>, c0: u32) {
    channel(acc, d, g, min(c0, p.c_in - 1u), 0u);
    if (TC > 1u) { channel(acc, d, g, min(c0 + 1u, p.c_in - 1u), 1u); }
    if (TC > 2u) { channel(acc, d, g, min(c0 + 2u, p.c_in - 1u), 2u); }
    if (TC > 3u) { channel(acc, d, g, min(c0 + 3u, p.c_in - 1u), 3u); }
}

// Writes the invocation's sums to partial-sum slot `slot` (an element offset).
fn store_sums(acc: ptr<function, Acc>, slot: u32, m0: u32, c0: u32) {
    store_channel(acc, slot, m0, c0, 0u);
    if (TC > 1u) { store_channel(acc, slot, m0, c0, 1u); }
    if (TC > 2u) { store_channel(acc, slot, m0, c0, 2u); }
    if (TC > 3u) { store_channel(acc, slot, m0, c0, 3u); }
}
