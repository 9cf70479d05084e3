// optim_group.wgsl — joined in front of optim_prox.wgsl and optim_norms.wgsl: the uniform params of a
// group of homogeneous units and the norms of its units, read only, so that a norm computed by unit_norms
// (for balancing) equals the one pathprox_step computes itself.
//
// Views (see src/ops/optim.rs): w is [units, fan_in] (unit i's w = row i), v is [a, units, c] (unit i's v =
// the slice [:, i, :]), both read as vec4s from the including shader's bindings `w` and `v`; `p` is its
// uniform binding 0. Norms are summed in blocks so their f32 error grows like (64 + len/64)·eps, not len·eps.

struct Params {
    units: u32,
    fan_in: u32,
    a: u32,
    c: u32,
    flags: u32,      // bit 0: unit norms from `state`; bit 1 (pathprox_step): apply group `group`'s balancing
                     // factors; bit 2 (penalty_grad): path norm instead of group lasso; bit 3
                     // (pathprox_step): project w only, leave v alone (weight normalisation)
    group: u32,      // this group's index l: its factors are state[4l .. 4l + 2]
    norms_base: u32, // index in `state` (unit_norms: `out`) of this group's first (‖w‖, ‖v‖) pair
    _pad0: u32,
}

// Norms sum blocks of BLOCK elements of a w row (scalar path), BLOCK4 vec4s of it (vec4 path: the same 64
// elements), ROWS rows of v.
const BLOCK: u32 = 64u;
const BLOCK4: u32 = 16u;
const ROWS: u32 = 8u;

const LANES: vec4<u32> = vec4<u32>(0u, 1u, 2u, 3u);

fn quads() -> bool {
    return (p.units & 3u) == 0u;
}

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
