// conv2d_sg.wgsl — implicit-GEMM 3×3 conv for adapters with 8-wide subgroups (lavapipe: one AVX2 vector
// per subgroup). Compiled after conv2d_tile.wgsl and conv2d_common.wgsl.
//
// As in matmul_sg: a storage load is a per-lane gather on a CPU adapter, so the 8 lanes of a subgroup own
// the same TM output channels (and different pixel tiles) and share the 9·TM kernel taps of each reduction
// channel: every lane loads S = 9·TM/8 of them and the subgroup broadcasts them all, 8× fewer tap loads
// than loading every tap in every lane. No workgroup memory and no barriers.

const TM: u32 = 16u;  // output channels per lane (shared by the subgroup)
const TB: u32 = 1u;   // images per tile
const TR: u32 = 1u;   // rows per tile (TB·TR ≤ 8)
const TW: u32 = 8u;   // columns per tile
const SG: u32 = 8u;   // subgroup width this kernel is written for
const S: u32 = (9u * TM + SG - 1u) / SG;   // taps each lane loads per reduction channel

fn put(k: ptr<function, Taps>, v: u32, value: f32) {
    if (v < 9u * TM) { (*k)[v / 9u][v % 9u] = value; }
}

// k = every lane's `mine`: tap v = m·9 + t sits in slot v / SG of lane v % SG. The lane indexes of
// subgroupBroadcast must be constants, hence the eight lines; the slot loop is unrolled, so v is constant too.
fn spread(mine: ptr<function, array<f32, S>>, k: ptr<function, Taps>) {
    for (var s = 0u; s < S; s++) {
        put(k, s * SG + 0u, subgroupBroadcast((*mine)[s], 0u));
        put(k, s * SG + 1u, subgroupBroadcast((*mine)[s], 1u));
        put(k, s * SG + 2u, subgroupBroadcast((*mine)[s], 2u));
        put(k, s * SG + 3u, subgroupBroadcast((*mine)[s], 3u));
        put(k, s * SG + 4u, subgroupBroadcast((*mine)[s], 4u));
        put(k, s * SG + 5u, subgroupBroadcast((*mine)[s], 5u));
        put(k, s * SG + 6u, subgroupBroadcast((*mine)[s], 6u));
        put(k, s * SG + 7u, subgroupBroadcast((*mine)[s], 7u));
    }
}

// Workgroup = one subgroup. Grid: x over groups of SG tiles, y over blocks of TM output channels.
@compute @workgroup_size(SG)
fn conv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let tile = wid.x * SG + lane;
    let m0 = wid.y * TM;
    // Lanes past the last tile still run — every lane must reach subgroupBroadcast — on a clamped (valid)
    // tile, and store nothing; channels past the edge read a clamped row of K and are not stored.
    var g = geometry(tile);
    // Where this lane's taps lie in channel 0 (channel c adds c·w_c).
    var tap_at: array<u32, S>;
    for (var s = 0u; s < S; s++) {
        let v = min(s * SG + lane, 9u * TM - 1u);
        tap_at[s] = k_index(min(m0 + v / 9u, p.c_out - 1u) * p.w_m, 0u, v % 9u);
    }

    var acc: Acc;
    var mine: array<f32, S>;
    var k: Taps;
    for (var ch = 0u; ch < p.c_in; ch++) {
        for (var s = 0u; s < S; s++) { mine[s] = wts[tap_at[s] + ch * p.w_c]; }
        spread(&mine, &k);
        accumulate_channel(&acc, &k, &g, ch);
    }
    if (tile < p.tiles) { store_tile(&acc, &g, m0); }
}
