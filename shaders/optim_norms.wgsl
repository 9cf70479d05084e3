// optim_norms.wgsl — per-unit norms of a group of homogeneous units, read only, for layer-wise balancing
// (unit_norms).
//
// Params and the norms themselves come from optim_group.wgsl, joined in front (as for optim_prox.wgsl),
// so a norm computed here equals the one pathprox_step computes.

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Invocations [0, ⌈units/4⌉) write ‖w‖ of rows 4q..4q+3 to out[norms_base + 2i]; then ‖v_i‖ goes to
// out[norms_base + 2i + 1], by unit quads when units % 4 == 0, else one unit per invocation.
@compute @workgroup_size(WG)
fn unit_norms(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = folded_invocation(wid, nwg, lid, WG);
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
