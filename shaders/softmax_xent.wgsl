// softmax_xent.wgsl — softmax cross-entropy over logits [B, C] with integer labels [B]: per-sample losses,
// the gradient w.r.t. the logits, both at once, and variants that also reduce the losses to one number.
//
// One row per invocation (C is small: 10 classes), so a row's max, its sum of exponentials and its
// gradient stay in one invocation's registers. Numerically stable: with m = max_k x_k and
// ls = log Σ_k exp(x_k − m), loss = (m − x_label) + ls and softmax_k = exp((x_k − m) − ls); no exp
// argument is positive, so nothing overflows whatever the logits' magnitude.
// A label ≥ C is clamped to C − 1 (the host validates labels; the clamp only keeps reads in bounds).

struct Params {
    rows: u32,          // B
    cols: u32,          // C (≥ 1, checked by the wrapper)
    accumulate: u32,    // loss-sum kernels: add to loss_out[0] instead of overwriting it
    _pad0: u32,
    grad_scale: f32,    // dlogits = grad_scale · (softmax − onehot)
    loss_scale: f32,    // loss-sum kernels: loss_out[0] (+)= loss_scale · Σ_b loss_b
    _pad1: u32,
    _pad2: u32,
}

// rows per workgroup (one per invocation); a multiple of RED
const WG: u32 = 64u;
// tree fan-in of the single-workgroup loss sum: WG → WG/RED → 1
const RED: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
// Slot 3 holds the per-sample losses, the one-element loss sum, or (xent_backward) the gradient.
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad3: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad4: array<f32>;

var<workgroup> red: array<f32, WG>;
var<workgroup> red2: array<f32, RED>;

struct Row {
    at: u32,       // index of the row's first logit
    label: u32,    // clamped to [0, C)
    m: f32,        // max logit
    ls: f32,       // log Σ exp(x − m), in [0, log C]
}

fn row_stats(r: u32) -> Row {
    let cols = p.cols;
    let at = r * cols;
    var m = logits[at];
    for (var k = 1u; k < cols; k++) {
        m = max(m, logits[at + k]);
    }
    var s = 0.0;
    for (var k = 0u; k < cols; k++) {
        s += exp(logits[at + k] - m);
    }
    return Row(at, min(labels[r], cols - 1u), m, log(s));
}

fn row_loss(row: Row) -> f32 {
    return (row.m - logits[row.at + row.label]) + row.ls;
}

// The gradient of row `row` as a value: callers store it into their own binding.
fn row_grad(row: Row, k: u32) -> f32 {
    let e = exp((logits[row.at + k] - row.m) - row.ls);
    return p.grad_scale * (e - select(0.0, 1.0, k == row.label));
}

// losses[b] = −log softmax(x_b)[label_b]
@compute @workgroup_size(WG)
fn xent_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = folded_invocation(wid, nwg, lid, WG);
    if (r < p.rows && p.cols > 0u) {
        losses[r] = row_loss(row_stats(r));
    }
}

// dlogits (slot 3) = grad_scale · (softmax − onehot)
@compute @workgroup_size(WG)
fn xent_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = folded_invocation(wid, nwg, lid, WG);
    if (r < p.rows && p.cols > 0u) {
        let row = row_stats(r);
        for (var k = 0u; k < p.cols; k++) {
            grad3[row.at + k] = row_grad(row, k);
        }
    }
}

// Both: losses (slot 3) and dlogits (slot 4).
@compute @workgroup_size(WG)
fn xent_forward_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = folded_invocation(wid, nwg, lid, WG);
    if (r < p.rows && p.cols > 0u) {
        let row = row_stats(r);
        losses[r] = row_loss(row);
        for (var k = 0u; k < p.cols; k++) {
            grad4[row.at + k] = row_grad(row, k);
        }
    }
}

// Fixed-order sum of every invocation's `v` (valid in invocation 0); call from uniform control flow.
fn wg_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    if (lid < RED) {
        var s = 0.0;
        for (var m = 0u; m < WG / RED; m++) {
            s += red[lid * (WG / RED) + m];
        }
        red2[lid] = s;
    }
    workgroupBarrier();
    var total = 0.0;
    if (lid == 0u) {
        for (var m = 0u; m < RED; m++) {
            total += red2[m];
        }
    }
    return total;
}

fn store_loss_sum(lid: u32, partial: f32) {
    let s = wg_sum(lid, partial);
    if (lid == 0u) {
        var v = p.loss_scale * s;
        if (p.accumulate != 0u) {
            v += losses[0];
        }
        losses[0] = v;
    }
}

// One workgroup over all B rows: loss_out (slot 3, one element) (+)= loss_scale · Σ_b loss_b.
@compute @workgroup_size(WG)
fn xent_loss_sum(@builtin(local_invocation_id) lid: vec3<u32>) {
    let iters = (p.rows + WG - 1u) / WG;
    var partial = 0.0;
    for (var q = 0u; q < iters; q++) {
        let r = q * WG + lid.x;
        if (r < p.rows && p.cols > 0u) {
            partial += row_loss(row_stats(r));
        }
    }
    store_loss_sum(lid.x, partial);
}

// One workgroup: the loss sum (slot 3) and dlogits (slot 4) in one dispatch — the training step's loss.
@compute @workgroup_size(WG)
fn xent_loss_sum_backward(@builtin(local_invocation_id) lid: vec3<u32>) {
    let iters = (p.rows + WG - 1u) / WG;
    var partial = 0.0;
    for (var q = 0u; q < iters; q++) {
        let r = q * WG + lid.x;
        if (r < p.rows && p.cols > 0u) {
            let row = row_stats(r);
            partial += row_loss(row);
            for (var k = 0u; k < p.cols; k++) {
                grad4[row.at + k] = row_grad(row, k);
            }
        }
    }
    store_loss_sum(lid.x, partial);
}
