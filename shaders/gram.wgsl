// gram.wgsl — Gram matrices of consecutive row blocks: for a [blocks·g, k] matrix A, out[b] = A_b·A_bᵀ
// ([g, g]) with A_b its rows b·g .. b·g+g−1. Local Lipschitz constants use it with g = 10: A_b is the
// Jacobian of one image's 10 logits, and only its 10×10 Gram matrix (100 floats) is read back.
//
// One invocation per output element; each sums its k products in four interleaved partial sums (shorter
// rounding chains, more independent work per lane). out[b,i,j] and out[b,j,i] do the same operations in the
// same order, so the result is exactly symmetric.

struct Params {
    blocks: u32,  // number of row blocks (images)
    g: u32,       // rows per block
    k: u32,       // columns of A
    _pad: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn block_gram(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = folded_invocation(wid, nwg, lid, WG);
    let gg = p.g * p.g;
    if (e >= p.blocks * gg) { return; }
    let b = e / gg;
    let i = (e % gg) / p.g;
    let j = e % p.g;
    let ri = (b * p.g + i) * p.k;
    let rj = (b * p.g + j) * p.k;
    var s = vec4<f32>(0.0);
    var c = 0u;
    for (; c + 4u <= p.k; c += 4u) {
        s += vec4<f32>(a[ri + c], a[ri + c + 1u], a[ri + c + 2u], a[ri + c + 3u]) * vec4<f32>(a[rj + c], a[rj + c + 1u], a[rj + c + 2u], a[rj + c + 3u]);
    }
    for (; c < p.k; c += 1u) {
        s.x += a[ri + c] * a[rj + c];
    }
    out[e] = (s.x + s.y) + (s.z + s.w);
}
