// optim_balance.wgsl — the factors of layer-wise balancing (docs/algorithm.md, Algorithm 1 step 2), computed on
// the GPU from the per-unit norms that optim_norms.wgsl::unit_norms left in `state`, so a training step
// never reads back.
//
// With s_0 = 1 and s_l = P̄ / max(P_l as changed by steps 1..l−1, 1e-6), the sequential procedure leaves:
//   group l's w bias ×s_{l−1},   group l's v ×s_l/s_{l−1},   group l's v bias ×s_l,   w unchanged.
// Written per group l to state[4l .. 4l+3] = (s_{l−1}, s_l/s_{l−1}, s_l, P_l before balancing).
//
// One invocation does it all: the work is a few thousand products (2752 units in VGG19) and a recurrence
// over ≤ 16 groups. Measured on lavapipe: 0.04 ms, where a 64-wide workgroup with a barrier and invocation 0
// finishing cost 1.2 ms. (llvmpipe stops an invocation's loops after 65535 iterations in all, which bounds
// this design to about 60k units.)

struct Group {
    base: u32,    // index in `state` of the group's first (‖w‖, ‖v‖) pair
    units: u32,
    _pad0: u32,
    _pad1: u32,
}

// Not tunable: Params mirrors it in Rust.
const MAX_GROUPS = 16u;

struct Params {
    count: u32,   // groups, 1..MAX_GROUPS
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    groups: array<Group, MAX_GROUPS>,
}

const EPS: f32 = 1e-6;
const BLOCK: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> state: array<f32>;

@compute @workgroup_size(1)
fn balance_factors() {
    let count = min(p.count, MAX_GROUPS);
    var logsum = 0.0;
    for (var l = 0u; l < count; l++) {
        let g = p.groups[l];
        var total = 0.0;
        for (var b = 0u; b < g.units; b += BLOCK) {
            let end = min(b + BLOCK, g.units);
            var s = 0.0;
            for (var i = b; i < end; i++) {
                s += state[g.base + 2u * i] * state[g.base + 2u * i + 1u];
            }
            total += s;
        }
        state[4u * l + 3u] = total;
        // The geometric mean in log space: a product of G path norms can leave f32's range.
        logsum += log(max(total, EPS));
    }
    let pbar = exp(logsum / f32(count));
    var s_prev = 1.0;
    var cur = state[3];
    for (var l = 0u; l < count; l++) {
        let s = pbar / max(cur, EPS);
        state[4u * l] = s_prev;
        state[4u * l + 1u] = s / max(s_prev, 1e-30);
        state[4u * l + 2u] = s;
        // Dividing group l+1's v by s_l divides its path norm by s_l (clipped, as the reference does).
        if (l + 1u < count) {
            cur = state[4u * l + 7u] / max(s, EPS);
        }
        s_prev = s;
    }
}
