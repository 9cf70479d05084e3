// optim_prune.wgsl — structural pruning of homogeneous units (docs/algorithm.md, Task 5: "prune units whose w or v
// is zero every iteration"), and holding a chosen set of units dead while a sparse model retrains.
//
// Views as in optim_prox.wgsl (see src/ops/optim.rs, `Group`): w is [units, fan_in] (unit i's w = row i), the
// w-layer bias [units]; v is [a, units, c] (unit i's v = the slice [:, i, :]). The v-layer bias is not the
// unit's and is never touched. `alive` is a persistent flag per unit (1 alive, 0 pruned) that these kernels
// only ever lower.
//
// Two dispatches, so that no invocation reads a flag that another invocation of the same dispatch writes:
// - prune_mask: one invocation per unit: alive[i] ← 0 if w_i or v_i has no nonzero element (exact zeros;
//   −0 counts as zero, NaN as nonzero). A unit already pruned is skipped.
// - prune_apply: one invocation per vec4 of [w | w bias | v]: components whose unit is pruned become 0.
//   Each vec4 has exactly one writer, and a vec4 none of whose components is pruned is not written at all.
//   The lanes of a view's last vec4 that lie past its end are written back unchanged, and only when a live
//   lane dies: the views of one buffer never share a vec4 (`Group` checks), so no other writer exists.
// No invocation loops more than fan_in + a·c times (the wrapper keeps that under llvmpipe's 65,535).

struct Params {
    units: u32,
    fan_in: u32,
    a: u32,
    c: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> alive: array<u32>;
@group(0) @binding(2) var<storage, read_write> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> w_bias: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> v: array<vec4<f32>>;

const LANES: vec4<u32> = vec4<u32>(0u, 1u, 2u, 3u);

// Whether row i of w has a nonzero element; stops at the first one (almost always the first element).
fn w_nonzero(i: u32) -> bool {
    let base = i * p.fan_in;
    for (var j = 0u; j < p.fan_in; j++) {
        let e = base + j;
        if (w[e >> 2u][e & 3u] != 0.0) {
            return true;
        }
    }
    return false;
}

// Whether unit i's slice of v has a nonzero element. One flat loop over its a·c elements: llvmpipe's limiter
// charges a nested loop more than its iterations (each entry of the inner loop costs extra).
fn v_nonzero(i: u32) -> bool {
    let n = p.a * p.c;
    for (var q = 0u; q < n; q++) {
        let r = q / p.c;
        let e = (r * p.units + i) * p.c + (q - r * p.c);
        if (v[e >> 2u][e & 3u] != 0.0) {
            return true;
        }
    }
    return false;
}

@compute @workgroup_size(WG)
fn prune_mask(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = folded_invocation(wid, nwg, lid, WG);
    if (i >= p.units || alive[i] == 0u) {
        return;
    }
    if (!(w_nonzero(i) && v_nonzero(i))) {
        alive[i] = 0u;
    }
}

// Which components of a vec4 belong to pruned units (u: their units; live: which lie inside the tensor).
fn pruned(u: vec4<u32>, live: vec4<bool>) -> vec4<bool> {
    // The clamp keeps lanes past the tensor (whose unit may be `units`) inside `alive`; `live` masks them.
    let last = p.units - 1u;
    let dead = vec4<bool>(alive[min(u.x, last)] == 0u, alive[min(u.y, last)] == 0u, alive[min(u.z, last)] == 0u, alive[min(u.w, last)] == 0u);
    return dead & live;
}

@compute @workgroup_size(WG)
fn prune_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = folded_invocation(wid, nwg, lid, WG);
    let len_w = p.units * p.fan_in;
    let len_v = p.a * p.units * p.c;
    let nw = (len_w + 3u) >> 2u;
    let nb = (p.units + 3u) >> 2u;
    let nv = (len_v + 3u) >> 2u;
    let zero = vec4<f32>(0.0);
    if (t < nw) {
        let e = vec4<u32>(4u * t) + LANES;
        let kill = pruned(e / vec4<u32>(p.fan_in), e < vec4<u32>(len_w));
        if (any(kill)) {
            w[t] = select(w[t], zero, kill);
        }
    } else if (t < nw + nb) {
        let j = t - nw;
        let e = vec4<u32>(4u * j) + LANES;
        let kill = pruned(e, e < vec4<u32>(p.units));
        if (any(kill)) {
            w_bias[j] = select(w_bias[j], zero, kill);
        }
    } else if (t < nw + nb + nv) {
        let j = t - nw - nb;
        let e = vec4<u32>(4u * j) + LANES;
        let kill = pruned((e / vec4<u32>(p.c)) % vec4<u32>(p.units), e < vec4<u32>(len_v));
        if (any(kill)) {
            v[j] = select(v[j], zero, kill);
        }
    }
}
