// optim_prox.wgsl — the kernels that rewrite a group of homogeneous units in place: the PathProx step
// (projection of w, group soft-threshold of v, optionally with layer-wise balancing folded in), the
// application of balancing factors alone, and the sub-gradients of the group-lasso and path-norm penalties.
//
// Views (see src/ops/optim.rs): w is [units, fan_in] (unit i's w = row i), the w-layer bias [units]; v is
// [a, units, c] (unit i's v = the slice [:, i, :]), the v-layer bias [a]. `state` is the balancing scratch
// filled by optim_norms.wgsl::unit_norms and optim_balance.wgsl::balance_factors: per group l, 4 values at
// 4l (w-bias factor, v factor, v-bias factor, P_l before balancing); per unit, (‖w_i‖, ‖v_i‖) at
// p.norms_base + 2i.
//
// Tensors are seen as vec4s: lavapipe loads storage lane by lane, and a vec4 per lane costs little more than
// a scalar. WGSL allows a write to one component to touch the whole vec4, so every vec4 has exactly one
// writing invocation:
// - w: invocation q owns rows 4q..4q+3, one contiguous block of 4·fan_in elements = fan_in vec4s starting
//   at vec4 q·fan_in (always aligned), and vec4 q of the w bias (those rows' biases);
// - v: when units % 4 == 0 ("quads"), invocation q owns units 4q..4q+3, whose elements in each row of v are
//   c whole vec4s; otherwise one invocation owns all of v (slow, correct; every model here has units % 4 = 0);
// - v bias: one invocation per vec4.
// Each owner computes the norms of its units itself (or reads them from `state`): one dispatch per group,
// no barriers. Norms are summed in blocks so their f32 error grows like (64 + len/64)·eps, not len·eps.
//
// Binding order: pathprox_step and penalty_grad use prefixes of the list; balance_apply binds all of it.

struct Params {
    units: u32,
    fan_in: u32,
    a: u32,
    c: u32,
    flags: u32,      // pathprox_step: bit 0 = unit norms from `state`, bit 1 = apply group `group`'s balancing
                     // factors; penalty_grad: 0 = group lasso, 1 = path norm
    group: u32,      // this group's index l: its factors are state[4l .. 4l + 2]
    norms_base: u32, // index in `state` of this group's first (‖w‖, ‖v‖) pair
    _pad0: u32,
}

const WG: u32 = 64u;
// Norms sum blocks of BLOCK elements of a w row (scalar path), BLOCK4 vec4s of it (vec4 path: the same 64
// elements), ROWS rows of v.
const BLOCK: u32 = 64u;
const BLOCK4: u32 = 16u;
const ROWS: u32 = 8u;

const EPS: f32 = 1e-6;
const NORMS_GIVEN: u32 = 1u;
const BALANCED: u32 = 2u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> hyper: array<f32>;
@group(0) @binding(2) var<storage, read_write> w: array<vec4<f32>>;   // penalty_grad: read only
@group(0) @binding(3) var<storage, read_write> v: array<vec4<f32>>;   // penalty_grad: read only
// pathprox_step, balance_apply: the w bias and the v bias; penalty_grad: the gradients of w and of v.
@group(0) @binding(4) var<storage, read_write> out_w: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> out_v: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> state: array<f32>;

fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, wg: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * wg + lid.x;
}

// ---- norms (read only; the same code as in optim_norms.wgsl) ------------------------------------------------

fn w_row_sumsq(row: u32) -> f32 {
    let base = row * p.fan_in;
    var total = 0.0;
    for (var b = 0u; b < p.fan_in; b += BLOCK) {
        let end = min(b + BLOCK, p.fan_in);
        var s = 0.0;
        for (var j = b; j < end; j++) {
            let e = base + j;
            let x = w[e >> 2u][e & 3u];
            s += x * x;
        }
        total += s;
    }
    return total;
}

// Σx² of rows 4q..4q+3 of w (0 for rows ≥ units).
fn w_sumsq4(q: u32) -> vec4<f32> {
    var total = vec4<f32>(0.0);
    for (var r = 0u; r < 4u; r++) {
        let row = 4u * q + r;
        if (row >= p.units) {
            break;
        }
        if ((p.fan_in & 3u) == 0u) {
            let n4 = p.fan_in >> 2u;
            let base = row * n4;
            var t = 0.0;
            for (var b = 0u; b < n4; b += BLOCK4) {
                let end = min(b + BLOCK4, n4);
                var s = vec4<f32>(0.0);
                for (var j = b; j < end; j++) {
                    let x = w[base + j];
                    s += x * x;
                }
                t += (s.x + s.y) + (s.z + s.w);
            }
            total[r] = t;
        } else {
            total[r] = w_row_sumsq(row);
        }
    }
    return total;
}

fn v_unit_sumsq(i: u32) -> f32 {
    var total = 0.0;
    for (var r0 = 0u; r0 < p.a; r0 += ROWS) {
        let r1 = min(r0 + ROWS, p.a);
        var s = 0.0;
        for (var r = r0; r < r1; r++) {
            let base = (r * p.units + i) * p.c;
            for (var k = 0u; k < p.c; k++) {
                let e = base + k;
                let x = v[e >> 2u][e & 3u];
                s += x * x;
            }
        }
        total += s;
    }
    return total;
}

fn quads() -> bool {
    return (p.units & 3u) == 0u;
}

// Σx² of units 4q..4q+3 of v. Quads only: in row r their 4c elements are the c vec4s from (r·units/4 + q)·c,
// and component k of the j-th of them belongs to unit (4j + k) / c of the quad.
fn v_sumsq4(q: u32) -> vec4<f32> {
    let u4 = p.units >> 2u;
    var total = vec4<f32>(0.0);
    for (var r0 = 0u; r0 < p.a; r0 += ROWS) {
        let r1 = min(r0 + ROWS, p.a);
        var s = vec4<f32>(0.0);
        for (var r = r0; r < r1; r++) {
            let base = (r * u4 + q) * p.c;
            if (p.c == 1u) {
                let x = v[base];
                s += x * x;
            } else {
                var unit = 0u;
                var col = 0u;
                for (var j = 0u; j < p.c; j++) {
                    let x = v[base + j];
                    for (var k = 0u; k < 4u; k++) {
                        s[min(unit, 3u)] += x[k] * x[k];
                        col += 1u;
                        if (col == p.c) {
                            col = 0u;
                            unit += 1u;
                        }
                    }
                }
            }
        }
        total += s;
    }
    return total;
}

// ‖v‖ of units 4q..4q+3 (either layout; 0 past the last unit).
fn v_norm4(q: u32) -> vec4<f32> {
    if (quads()) {
        return sqrt(v_sumsq4(q));
    }
    var n = vec4<f32>(0.0);
    for (var r = 0u; r < 4u; r++) {
        if (4u * q + r < p.units) {
            n[r] = sqrt(v_unit_sumsq(4u * q + r));
        }
    }
    return n;
}

// The (‖w‖, ‖v‖) of units 4q..4q+3 stored in `state` (component k = 1 for ‖v‖).
fn given4(q: u32, k: u32) -> vec4<f32> {
    var n = vec4<f32>(0.0);
    for (var r = 0u; r < 4u; r++) {
        if (4u * q + r < p.units) {
            n[r] = state[p.norms_base + 2u * (4u * q + r) + k];
        }
    }
    return n;
}

// ---- writers -----------------------------------------------------------------------------------------------

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
        // Component k of vec4 j is element 4j + k; (row, col) tracked from the block start, where the rows
        // of a quad start at column 0; elements past the tensor (only in the last quad) stay as they are.
        let len = p.units * p.fan_in;
        let first = q * p.fan_in;
        let nvec = (len + 3u) >> 2u;
        var row = 0u;
        var col = 0u;
        for (var jj = 0u; jj < p.fan_in; jj++) {
            let j = first + jj;
            if (j >= nvec) {
                break;
            }
            var x = w[j];
            for (var k = 0u; k < 4u; k++) {
                if (4u * j + k < len) {
                    x[k] = x[k] / d[min(row, 3u)];
                }
                col += 1u;
                if (col == p.fan_in) {
                    col = 0u;
                    row += 1u;
                }
            }
            w[j] = x;
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
        let first = q * p.fan_in;
        let nvec = (len + 3u) >> 2u;
        var row = 0u;
        var col = 0u;
        for (var jj = 0u; jj < p.fan_in; jj++) {
            let j = first + jj;
            if (j >= nvec) {
                break;
            }
            var g = out_w[j];
            let x = w[j];
            for (var k = 0u; k < 4u; k++) {
                if (4u * j + k < len) {
                    g[k] = g[k] + coef[min(row, 3u)] * x[k];
                }
                col += 1u;
                if (col == p.fan_in) {
                    col = 0u;
                    row += 1u;
                }
            }
            out_w[j] = g;
        }
    }
}

// Per-component unit-quad values for vec4 j of a row's block (c > 1): components' units are (4j + k) / c.
fn spread(j: u32, x: vec4<f32>) -> vec4<f32> {
    let e = vec4<u32>(4u * j) + vec4<u32>(0u, 1u, 2u, 3u);
    let u = min(e / vec4<u32>(p.c), vec4<u32>(3u));
    return vec4<f32>(x[u.x], x[u.y], x[u.z], x[u.w]);
}

// ---- kernels -----------------------------------------------------------------------------------------------

// Invocations [0, ⌈units/4⌉): project rows 4q..4q+3 of w and their biases onto the unit sphere,
// w_i ← y_i / max(‖y_i‖, ε), b_i ← b_i / max(‖y_i‖, ε).
// Then the v owners (units/4 quads, or 1): v_i ← 0 if m ≤ τ else (1 − τ/max(m, ε))·z_i, m = ‖z_i‖, τ = γλ.
// With BALANCED, balancing is applied first, as if balance_apply had run: z = f·z, the w bias ×s_{l−1},
// and ⌈a/4⌉ more invocations scale the v bias by s_l.
@compute @workgroup_size(WG)
fn pathprox_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = linear(wid, nwg, lid, WG);
    let given = (p.flags & NORMS_GIVEN) != 0u;
    let balanced = (p.flags & BALANCED) != 0u;
    let fbase = 4u * p.group;
    let nq = (p.units + 3u) >> 2u;
    let nv = select(1u, p.units >> 2u, quads());
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
        let live = vec4<u32>(4u * q) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.units);
        out_w[q] = select(out_w[q], b / d, live);
    } else if (t < nq + nv) {
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
                        let dj = spread(j, select(vec4<f32>(0.0), vec4<f32>(1.0), dead)) != vec4<f32>(0.0);
                        v[base + j] = select(spread(j, scale) * (f * v[base + j]), vec4<f32>(0.0), dj);
                    }
                }
            }
        } else {
            // The only writer of v: units one after another, element by element.
            for (var i = 0u; i < p.units; i++) {
                var nz: f32;
                if (given) {
                    nz = state[p.norms_base + 2u * i + 1u];
                } else {
                    nz = sqrt(v_unit_sumsq(i));
                }
                let m = f * nz;
                let dead = m <= tau;
                let scale = 1.0 - tau / max(m, EPS);
                for (var r = 0u; r < p.a; r++) {
                    let base = (r * p.units + i) * p.c;
                    for (var k = 0u; k < p.c; k++) {
                        let e = base + k;
                        v[e >> 2u][e & 3u] = select(scale * (f * v[e >> 2u][e & 3u]), 0.0, dead);
                    }
                }
            }
        }
    } else if (balanced && t < nq + nv + ((p.a + 3u) >> 2u)) {
        let j = t - nq - nv;
        let live = vec4<u32>(4u * j) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.a);
        out_v[j] = select(out_v[j], out_v[j] * state[fbase + 2u], live);
    }
}

// Sub-gradients added to the gradients (out_w = ∂/∂w, out_v = ∂/∂v), 0 where a norm is 0:
//   group lasso (flags 0): λ·w_i/‖w_i‖ and λ·v_i/‖v_i‖
//   path norm   (flags 1): λ‖v_i‖·w_i/‖w_i‖ and λ‖w_i‖·v_i/‖v_i‖
// Owners as in pathprox_step (out_w like w, out_v like v); each computes the norms it needs.
@compute @workgroup_size(WG)
fn penalty_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = linear(wid, nwg, lid, WG);
    let lambda = hyper[1];
    let path = p.flags != 0u;
    let nq = (p.units + 3u) >> 2u;
    let nv = select(1u, p.units >> 2u, quads());
    if (t < nq) {
        let q = t;
        let nw = sqrt(w_sumsq4(q));
        var k = vec4<f32>(lambda);
        if (path) {
            k = lambda * v_norm4(q);
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
                        cj = spread(j, coef);
                    }
                    out_v[base + j] = out_v[base + j] + cj * v[base + j];
                }
            }
        } else {
            for (var i = 0u; i < p.units; i++) {
                let nv1 = sqrt(v_unit_sumsq(i));
                var k = lambda;
                if (path) {
                    k = lambda * sqrt(w_row_sumsq(i));
                }
                let coef = select(0.0, k / max(nv1, 1e-30), nv1 > 0.0);
                for (var r = 0u; r < p.a; r++) {
                    let base = (r * p.units + i) * p.c;
                    for (var kk = 0u; kk < p.c; kk++) {
                        let e = base + kk;
                        out_v[e >> 2u][e & 3u] = out_v[e >> 2u][e & 3u] + coef * v[e >> 2u][e & 3u];
                    }
                }
            }
        }
    }
}

const APPLY_WG: u32 = 256u;

// Multiplies group `group`'s w bias, v and v bias by its balancing factors: one vec4 per invocation over
// [w bias (⌈units/4⌉ vec4s) | v (⌈a·units·c/4⌉) | v bias (⌈a/4⌉)], elements past each tensor untouched.
@compute @workgroup_size(APPLY_WG)
fn balance_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = linear(wid, nwg, lid, APPLY_WG);
    let fbase = 4u * p.group;
    let lanes = vec4<u32>(0u, 1u, 2u, 3u);
    let nb = (p.units + 3u) >> 2u;
    let len_v = p.a * p.units * p.c;
    let nv = (len_v + 3u) >> 2u;
    if (t < nb) {
        let live = vec4<u32>(4u * t) + lanes < vec4<u32>(p.units);
        out_w[t] = select(out_w[t], out_w[t] * state[fbase], live);
    } else if (t < nb + nv) {
        let j = t - nb;
        let live = vec4<u32>(4u * j) + lanes < vec4<u32>(len_v);
        v[j] = select(v[j], v[j] * state[fbase + 1u], live);
    } else if (t < nb + nv + ((p.a + 3u) >> 2u)) {
        let j = t - nb - nv;
        let live = vec4<u32>(4u * j) + lanes < vec4<u32>(p.a);
        out_v[j] = select(out_v[j], out_v[j] * state[fbase + 2u], live);
    }
}
