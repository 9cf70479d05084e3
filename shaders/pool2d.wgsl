// pool2d.wgsl — 2×2 max and average pooling, stride 2, NCHW f32, forward and backward.
//
// x is [planes, H, W] (planes = N·C, or the slice of them one dispatch covers), y is [planes, Ho, Wo] with
// Ho = H/2, Wo = W/2 rounded down: an odd last row or column of x belongs to no window (as in PyTorch).
// One invocation per window (= per output element): it writes y[window], or in backward the window's four
// dx elements — plus, for windows on the last row/column of an odd-sized plane, the dropped dx elements
// beside them (zeros), so every dx element is written by exactly one invocation.
//
// The wrapper splits the planes into chunks that fit a storage binding. A chunk's binding starts at an
// aligned element at or before the chunk's first one; `*_base` is the distance from there (elements).
// The grid may be folded into 2-D past the per-dimension workgroup limit, so the linear index is rebuilt
// from the workgroup id and the grid width, and every index follows from a guarded window number.

struct Params {
    windows: u32,    // planes · Ho · Wo in this dispatch
    h: u32,
    w: u32,
    ho: u32,
    wo: u32,
    src_base: u32,   // first element of the chunk in `src`
    grad_base: u32,  // first element of the chunk in `grad`
    dst_base: u32,   // first element of the chunk in `dst`
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
// x (forwards, max_backward) or dy (avg_backward)
@group(0) @binding(1) var<storage, read> src: array<f32>;
// dy (max_backward only; the other kernels leave it unused)
@group(0) @binding(2) var<storage, read> grad: array<f32>;
// y (forwards) or dx (backwards)
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

// Window i (i < p.windows) as (plane, row, column) of y: the only integer divisions, done once, as
// llvmpipe computes them lane by lane.
fn window(i: u32) -> vec3<u32> {
    let plane_len = p.ho * p.wo;
    let plane = i / plane_len;
    let r = i - plane * plane_len;
    let oh = r / p.wo;
    return vec3<u32>(plane, oh, r - oh * p.wo);
}

// Element (within the planes this dispatch covers) of the top-left corner of window `win`.
fn corner(win: vec3<u32>) -> u32 {
    return win.x * p.h * p.w + 2u * win.y * p.w + 2u * win.z;
}

fn is_nan(v: f32) -> bool {
    // On the bits: `v != v` may be folded away by a fast-math compiler.
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// Position 0..3 of the window's maximum in row-major order (0,0),(0,1),(1,0),(1,1): the first maximum on
// ties, the first NaN if any (PyTorch's rule, so a NaN reaches the loss instead of vanishing).
fn argmax4(v: vec4<f32>) -> u32 {
    var k = 0u;
    var best = v.x;
    if (beats(v.y, best)) { k = 1u; best = v.y; }
    if (beats(v.z, best)) { k = 2u; best = v.z; }
    if (beats(v.w, best)) { k = 3u; }
    return k;
}

fn beats(candidate: f32, best: f32) -> bool {
    return !is_nan(best) && (candidate > best || is_nan(candidate));
}

fn load_window(c: u32) -> vec4<f32> {
    let s = p.src_base + c;
    return vec4<f32>(src[s], src[s + 1u], src[s + p.w], src[s + p.w + 1u]);
}

// Writes v to the four dx elements of window `win`, and zeros to the dropped column/row elements it owns:
// the last window of a row owns column W-1 beside it (W odd), the last row of windows owns row H-1
// below it (H odd), and the window in the last row and column owns the corner (H-1, W-1).
fn store_window_grad(win: vec3<u32>, v: vec4<f32>) {
    let d = p.dst_base + corner(win);
    dst[d] = v.x;
    dst[d + 1u] = v.y;
    dst[d + p.w] = v.z;
    dst[d + p.w + 1u] = v.w;
    let last_col = (p.w & 1u) == 1u && win.z == p.wo - 1u;
    let last_row = (p.h & 1u) == 1u && win.y == p.ho - 1u;
    if (last_col) {
        dst[d + 2u] = 0.0;
        dst[d + p.w + 2u] = 0.0;
    }
    if (last_row) {
        dst[d + 2u * p.w] = 0.0;
        dst[d + 2u * p.w + 1u] = 0.0;
    }
    if (last_col && last_row) {
        dst[d + 2u * p.w + 2u] = 0.0;
    }
}

// y = max over each window of x
@compute @workgroup_size(WG)
fn max_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = folded_invocation(wid, nwg, lid, WG);
    if (i < p.windows) {
        let v = load_window(corner(window(i)));
        dst[p.dst_base + i] = v[argmax4(v)];
    }
}

// dx = dy at each window's argmax (recomputed from x), 0 elsewhere
@compute @workgroup_size(WG)
fn max_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = folded_invocation(wid, nwg, lid, WG);
    if (i < p.windows) {
        let win = window(i);
        let k = argmax4(load_window(corner(win)));
        let g = grad[p.grad_base + i];
        let v = vec4<f32>(select(0.0, g, k == 0u), select(0.0, g, k == 1u), select(0.0, g, k == 2u), select(0.0, g, k == 3u));
        store_window_grad(win, v);
    }
}

// y = mean of each window of x: pairwise sum, then ·¼ (exact)
@compute @workgroup_size(WG)
fn avg_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = folded_invocation(wid, nwg, lid, WG);
    if (i < p.windows) {
        let v = load_window(corner(window(i)));
        dst[p.dst_base + i] = ((v.x + v.y) + (v.z + v.w)) * 0.25;
    }
}

// dx = dy/4 over each window (src is dy here), 0 on the dropped row/column
@compute @workgroup_size(WG)
fn avg_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = folded_invocation(wid, nwg, lid, WG);
    if (i < p.windows) {
        let g = src[p.src_base + i] * 0.25;
        store_window_grad(window(i), vec4<f32>(g));
    }
}
