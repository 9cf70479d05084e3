// optim_norms.wgsl — per-unit norms of a group of homogeneous units, read only, for layer-wise balancing
// (unit_norms).
//
// Views as in optim_prox.wgsl: w is [units, fan_in] (unit i = row i), v is [a, units, c] (unit i = the slice
// [:, i, :]), both read as vec4s. The norm helpers are the same code as optim_prox.wgsl's (WGSL has no
// includes), so a norm computed here equals the one pathprox_step would compute.

struct Params {
    units: u32,
    fan_in: u32,
    a: u32,
    c: u32,
    flags: u32,      // unused here (optim_prox.wgsl's flags)
    _pad0: u32,
    norms_base: u32, // unit_norms: index in `out` of this group's first (‖w‖, ‖v‖) pair
    _pad1: u32,
}

const WG: u32 = 64u;
// Norms sum blocks of BLOCK elements of a w row (scalar path), BLOCK4 vec4s of it (vec4 path: the same 64
// elements), ROWS rows of v.
const BLOCK: u32 = 64u;
const BLOCK4: u32 = 16u;
const ROWS: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const LANES: vec4<u32> = vec4<u32>(0u, 1u, 2u, 3u);

fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid.x;
}

fn quads() -> bool {
    return (p.units & 3u) == 0u;
}

// ---- norms (the same code as in optim_prox.wgsl) ----------------------------------------------------------

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

// Units (0..3 within the quad) of the components of the j-th vec4 of a quad's 4c elements in one row of v.
fn quad_units(j: u32) -> vec4<u32> {
    return min((vec4<u32>(4u * j) + LANES) / vec4<u32>(p.c), vec4<u32>(3u));
}

// Σx² of units 4q..4q+3 of v (quads only): in row r their 4c elements are the c vec4s from (r·units/4 + q)·c.
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
                for (var j = 0u; j < p.c; j++) {
                    let x = v[base + j];
                    let x2 = x * x;
                    let u = quad_units(j);
                    s[u.x] += x2.x;
                    s[u.y] += x2.y;
                    s[u.z] += x2.z;
                    s[u.w] += x2.w;
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

// Invocations [0, ⌈units/4⌉) write ‖w‖ of rows 4q..4q+3 to out[norms_base + 2i]; then ‖v_i‖ goes to
// out[norms_base + 2i + 1], by unit quads when units % 4 == 0, else one unit per invocation.
@compute @workgroup_size(WG)
fn unit_norms(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = linear(wid, nwg, lid);
    let nq = (p.units + 3u) >> 2u;
    let nv = select(p.units, p.units >> 2u, quads());
    if (t < nq) {
        let n = sqrt(w_sumsq4(t));
        for (var r = 0u; r < 4u; r++) {
            if (4u * t + r < p.units) {
                out[p.norms_base + 2u * (4u * t + r)] = n[r];
            }
        }
    } else if (t < nq + nv) {
        if (quads()) {
            let q = t - nq;
            let n = sqrt(v_sumsq4(q));
            for (var r = 0u; r < 4u; r++) {
                out[p.norms_base + 2u * (4u * q + r) + 1u] = n[r];
            }
        } else {
            let i = t - nq;
            out[p.norms_base + 2u * i + 1u] = sqrt(v_unit_sumsq(i));
        }
    }
}
