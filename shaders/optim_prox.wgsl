// optim_prox.wgsl — the kernels that rewrite a group of homogeneous units in place: the PathProx step
// (projection of w, group soft-threshold of v, optionally with layer-wise balancing folded in), the
// sub-gradients of the group-lasso and path-norm penalties, and the application of balancing factors.
//
// Views (see src/ops/optim.rs): w is [units, fan_in] (unit i's w = row i), the w-layer bias [units]; v is
// [a, units, c] (unit i's v = the slice [:, i, :]), the v-layer bias [a]. `state` holds unit norms
// (‖w_i‖, ‖v_i‖) at p.norms_base + 2i, written by optim_norms.wgsl's unit_norms, and for balancing, per group
// l, 4 values at 4l (w-bias factor, v factor, v-bias factor, P_l before balancing) from optim_balance.wgsl.
//
// Tensors are seen as vec4s: lavapipe loads storage lane by lane, and a vec4 per lane costs little more than
// a scalar (SGD measured 2.3x faster). WGSL allows a write to one component to touch the whole vec4, so
// every vec4 has exactly one writing invocation:
// - w: invocation q owns rows 4q..4q+3, one contiguous block of 4·fan_in elements = fan_in vec4s starting
//   at vec4 q·fan_in (always aligned), and vec4 q of the w bias (those rows' biases);
// - v, when units % 4 == 0 ("quads"): invocation q owns units 4q..4q+3, whose elements in each row of v are
//   c whole vec4s; it computes their norms itself, so the whole step is one dispatch;
// - v otherwise ("flat"): one invocation per vec4 of v, each component finding its unit; the norms must
//   then be in `state` (the wrapper runs unit_norms first);
// - v bias: one invocation per vec4.
// No invocation loops much: llvmpipe (lavapipe and GL) silently stops every loop of an invocation once all
// its loops together reach 65535 iterations (gallivm's loop limiter), so nothing here loops over units.
// Params, the views' unit norms and `quads()` come from optim_group.wgsl, joined in front.

const WG: u32 = 64u;
const EPS: f32 = 1e-6;
const NORMS_GIVEN: u32 = 1u;
const BALANCED: u32 = 2u;
const PATH: u32 = 4u;
const W_ONLY: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> hyper: array<f32>;
@group(0) @binding(2) var<storage, read_write> w: array<vec4<f32>>;   // penalty_grad: read only
@group(0) @binding(3) var<storage, read_write> v: array<vec4<f32>>;   // penalty_grad: read only
// pathprox_step, balance_apply: the w bias and the v bias; penalty_grad: the gradients of w and of v.
@group(0) @binding(4) var<storage, read_write> out_w: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> out_v: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> state: array<f32>;

// The stored ‖w‖ (k = 0) or ‖v‖ (k = 1) of units 4q..4q+3.
fn given4(q: u32, k: u32) -> vec4<f32> {
    var n = vec4<f32>(0.0);
    for (var r = 0u; r < 4u; r++) {
        if (4u * q + r < p.units) {
            n[r] = state[p.norms_base + 2u * (4u * q + r) + k];
        }
    }
    return n;
}

// The stored ‖w‖ (k = 0) or ‖v‖ (k = 1) of the units of vec4 j of v (flat layout), and which of its
// components lie inside v.
fn given_flat(j: u32, k: u32) -> vec4<f32> {
    let e = vec4<u32>(4u * j) + LANES;
    let u = (e / vec4<u32>(p.c)) % vec4<u32>(p.units);
    // Components past v still map to units < units, so every index stays inside the group's norms.
    let s = vec4<u32>(p.norms_base + k) + 2u * u;
    return vec4<f32>(state[s.x], state[s.y], state[s.z], state[s.w]);
}

fn flat_live(j: u32) -> vec4<bool> {
    return vec4<u32>(4u * j) + LANES < vec4<u32>(p.a * p.units * p.c);
}

// ---- writers -----------------------------------------------------------------------------------------------

// Rows (0..3 within the quad) of the components of the jj-th vec4 of a w quad's block (fan_in % 4 != 0).
fn quad_rows(jj: u32) -> vec4<u32> {
    return min((vec4<u32>(4u * jj) + LANES) / vec4<u32>(p.fan_in), vec4<u32>(3u));
}

fn pick(x: vec4<f32>, i: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(x[i.x], x[i.y], x[i.z], x[i.w]);
}

// Rows 4q..4q+3 of w divided by d[row] (projection), one pass over the owned block.
fn w_divide4(q: u32, d: vec4<f32>) {
    if ((p.fan_in & 3u) == 0u) {
        let n4 = p.fan_in >> 2u;
        for (var r = 0u; r < 4u; r++) {
            let row = 4u * q + r;
            if (row >= p.units) {
                break;
            }
            for (var jj = 0u; jj < n4; jj++) {
                let j = row * n4 + jj;
                w[j] = w[j] / d[r];
            }
        }
    } else {
        // Elements past the tensor (in the last quad's last vec4) are written back unchanged.
        let len = p.units * p.fan_in;
        let nvec = (len + 3u) >> 2u;
        for (var jj = 0u; jj < p.fan_in; jj++) {
            let j = q * p.fan_in + jj;
            if (j >= nvec) {
                break;
            }
            let x = w[j];
            let live = vec4<u32>(4u * j) + LANES < vec4<u32>(len);
            w[j] = select(x, x / pick(d, quad_rows(jj)), live);
        }
    }
}

// gw ← gw + coef[row]·w over rows 4q..4q+3 (gw is out_w, laid out as w).
fn w_add_scaled4(q: u32, coef: vec4<f32>) {
    if ((p.fan_in & 3u) == 0u) {
        let n4 = p.fan_in >> 2u;
        for (var r = 0u; r < 4u; r++) {
            let row = 4u * q + r;
            if (row >= p.units) {
                break;
            }
            for (var jj = 0u; jj < n4; jj++) {
                let j = row * n4 + jj;
                out_w[j] = out_w[j] + coef[r] * w[j];
            }
        }
    } else {
        let len = p.units * p.fan_in;
        let nvec = (len + 3u) >> 2u;
        for (var jj = 0u; jj < p.fan_in; jj++) {
            let j = q * p.fan_in + jj;
            if (j >= nvec) {
                break;
            }
            let g = out_w[j];
            let live = vec4<u32>(4u * j) + LANES < vec4<u32>(len);
            out_w[j] = select(g, g + pick(coef, quad_rows(jj)) * w[j], live);
        }
    }
}

// ---- kernels -----------------------------------------------------------------------------------------------

// w owners [0, ⌈units/4⌉): w_i ← y_i / max(‖y_i‖, ε), w-bias_i ← w-bias_i / max(‖y_i‖, ε).
// v owners (units/4 quads, or ⌈len(v)/4⌉ flat vec4s with the norms given):
// v_i ← 0 if m ≤ τ else (1 − τ/max(m, ε))·z_i, m = ‖z_i‖, τ = γλ.
// With BALANCED, balancing is applied first, as if balance_apply had run: z = f·z, the w bias ×s_{l−1},
// and ⌈a/4⌉ more invocations scale the v bias by s_l.
@compute @workgroup_size(WG)
fn pathprox_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = folded_invocation(wid, nwg, lid, WG);
    let given = (p.flags & NORMS_GIVEN) != 0u;
    let balanced = (p.flags & BALANCED) != 0u;
    let fbase = 4u * p.group;
    let nq = (p.units + 3u) >> 2u;
    let nv = select((p.a * p.units * p.c + 3u) >> 2u, p.units >> 2u, quads());
    if (t < nq) {
        let q = t;
        var n: vec4<f32>;
        if (given) {
            n = given4(q, 0u);
        } else {
            n = sqrt(w_sumsq4(q));
        }
        let d = max(n, vec4<f32>(EPS));
        w_divide4(q, d);
        var b = out_w[q];
        if (balanced) {
            b = b * state[fbase];
        }
        let live = vec4<u32>(4u * q) + LANES < vec4<u32>(p.units);
        out_w[q] = select(out_w[q], b / d, live);
    } else if ((p.flags & W_ONLY) == 0u && t < nq + nv) {
        var f = 1.0;
        if (balanced) {
            f = state[fbase + 1u];
        }
        let tau = hyper[0] * hyper[1];
        if (quads()) {
            let q = t - nq;
            var nz: vec4<f32>;
            if (given) {
                nz = given4(q, 1u);
            } else {
                nz = sqrt(v_sumsq4(q));
            }
            // ‖f·z‖ = f·‖z‖ for the positive balancing factor f.
            let m = f * nz;
            let dead = m <= vec4<f32>(tau);
            // As the reference implementation: z − τ·z/max(m, ε), i.e. (1 − τ/m)·z for every m ≥ ε.
            let scale = 1.0 - tau / max(m, vec4<f32>(EPS));
            let u4 = p.units >> 2u;
            for (var r = 0u; r < p.a; r++) {
                let base = (r * u4 + q) * p.c;
                if (p.c == 1u) {
                    if (all(dead)) {
                        v[base] = vec4<f32>(0.0);
                    } else {
                        v[base] = select(scale * (f * v[base]), vec4<f32>(0.0), dead);
                    }
                } else {
                    for (var j = 0u; j < p.c; j++) {
                        let u = quad_units(j);
                        let dj = vec4<bool>(dead[u.x], dead[u.y], dead[u.z], dead[u.w]);
                        v[base + j] = select(pick(scale, u) * (f * v[base + j]), vec4<f32>(0.0), dj);
                    }
                }
            }
        } else {
            let j = t - nq;
            let m = f * given_flat(j, 1u);
            let dead = m <= vec4<f32>(tau);
            let scale = 1.0 - tau / max(m, vec4<f32>(EPS));
            let x = v[j];
            v[j] = select(x, select(scale * (f * x), vec4<f32>(0.0), dead), flat_live(j));
        }
    } else if (balanced && t < nq + nv + ((p.a + 3u) >> 2u)) {
        let j = t - nq - nv;
        let live = vec4<u32>(4u * j) + LANES < vec4<u32>(p.a);
        out_v[j] = select(out_v[j], out_v[j] * state[fbase + 2u], live);
    }
}

// Sub-gradients added to the gradients (out_w = ∂/∂w, out_v = ∂/∂v), 0 where a norm is 0:
//   group lasso: λ·w_i/‖w_i‖ and λ·v_i/‖v_i‖;   path norm (PATH): λ‖v_i‖·w_i/‖w_i‖ and λ‖w_i‖·v_i/‖v_i‖.
// Owners as in pathprox_step (out_w like w, out_v like v); with quads the owners compute the norms, else
// all norms come from `state` (NORMS_GIVEN).
@compute @workgroup_size(WG)
fn penalty_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = folded_invocation(wid, nwg, lid, WG);
    let lambda = hyper[1];
    let given = (p.flags & NORMS_GIVEN) != 0u;
    let path = (p.flags & PATH) != 0u;
    let nq = (p.units + 3u) >> 2u;
    let nv = select((p.a * p.units * p.c + 3u) >> 2u, p.units >> 2u, quads());
    if (t < nq) {
        let q = t;
        var nw: vec4<f32>;
        if (given) {
            nw = given4(q, 0u);
        } else {
            nw = sqrt(w_sumsq4(q));
        }
        var k = vec4<f32>(lambda);
        if (path) {
            if (given) {
                k = lambda * given4(q, 1u);
            } else {
                k = lambda * v_norm4(q);
            }
        }
        w_add_scaled4(q, select(vec4<f32>(0.0), k / max(nw, vec4<f32>(1e-30)), nw > vec4<f32>(0.0)));
    } else if (t < nq + nv) {
        if (quads()) {
            let q = t - nq;
            let nv4 = sqrt(v_sumsq4(q));
            var k = vec4<f32>(lambda);
            if (path) {
                k = lambda * sqrt(w_sumsq4(q));
            }
            let coef = select(vec4<f32>(0.0), k / max(nv4, vec4<f32>(1e-30)), nv4 > vec4<f32>(0.0));
            let u4 = p.units >> 2u;
            for (var r = 0u; r < p.a; r++) {
                let base = (r * u4 + q) * p.c;
                for (var j = 0u; j < p.c; j++) {
                    var cj = coef;
                    if (p.c != 1u) {
                        cj = pick(coef, quad_units(j));
                    }
                    out_v[base + j] = out_v[base + j] + cj * v[base + j];
                }
            }
        } else {
            let j = t - nq;
            let nv4 = given_flat(j, 1u);
            var k = vec4<f32>(lambda);
            if (path) {
                k = lambda * given_flat(j, 0u);
            }
            let coef = select(vec4<f32>(0.0), k / max(nv4, vec4<f32>(1e-30)), nv4 > vec4<f32>(0.0));
            let g = out_v[j];
            out_v[j] = select(g, g + coef * v[j], flat_live(j));
        }
    }
}

const APPLY_WG: u32 = 256u;

// Multiplies group `group`'s w bias, v and v bias by its balancing factors: one vec4 per invocation over
// [w bias (⌈units/4⌉ vec4s) | v (⌈a·units·c/4⌉) | v bias (⌈a/4⌉)], elements past each tensor untouched.
@compute @workgroup_size(APPLY_WG)
fn balance_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = folded_invocation(wid, nwg, lid, APPLY_WG);
    let fbase = 4u * p.group;
    let nb = (p.units + 3u) >> 2u;
    let nv = (p.a * p.units * p.c + 3u) >> 2u;
    if (t < nb) {
        let live = vec4<u32>(4u * t) + LANES < vec4<u32>(p.units);
        out_w[t] = select(out_w[t], out_w[t] * state[fbase], live);
    } else if (t < nb + nv) {
        let j = t - nb;
        v[j] = select(v[j], v[j] * state[fbase + 1u], flat_live(j));
    } else if (t < nb + nv + ((p.a + 3u) >> 2u)) {
        let j = t - nb - nv;
        let live = vec4<u32>(4u * j) + LANES < vec4<u32>(p.a);
        out_v[j] = select(out_v[j], out_v[j] * state[fbase + 2u], live);
    }
}
