// conv2d_wgrad_sg.wgsl — the weight-gradient variant for 8-wide subgroups (lavapipe). Compiled after
// conv2d_tile.wgsl and conv2d_wgrad.wgsl.
//
// The 8 lanes of a subgroup own the same TM output channels and pixel tiles and different input channels
// (TC each), so the tile's TM gradient planes are the same for all of them: each lane loads the gradients
// of one pixel (S pixels if the tile has more than 8) and the subgroup broadcasts them, 8× fewer gradient
// loads than loading them in every lane. Each lane still loads its own channels' input neighbourhoods.

const TM: u32 = 8u;   // output channels per lane (shared by the subgroup)
const TC: u32 = 2u;   // input channels per lane (at most 4)
const TB: u32 = 1u;   // images per tile
const TR: u32 = 1u;   // rows per tile (TB·TR ≤ 8)
const TW: u32 = 8u;   // columns per tile
const SG: u32 = 8u;   // subgroup width this kernel is written for
const S: u32 = (ROWS * TW + SG - 1u) / SG;   // tile pixels each lane loads

alias Mine = array<array<f32, TM>, S>;

// d[pixel s·SG + L] = lane L's mine[s], for each lane L (a constant, as subgroupBroadcast needs).
fn take_lane0(d: ptr<function, Grads>, mine: ptr<function, Mine>, s: u32) { let px = s * SG + 0u; if (px < ROWS * TW) { for (var m = 0u; m < TM; m++) { (*d)[px / TW][m][px % TW] = subgroupBroadcast((*mine)[s][m], 0u); } } }
fn take_lane1(d: ptr<function, Grads>, mine: ptr<function, Mine>, s: u32) { let px = s * SG + 1u; if (px < ROWS * TW) { for (var m = 0u; m < TM; m++) { (*d)[px / TW][m][px % TW] = subgroupBroadcast((*mine)[s][m], 1u); } } }
fn take_lane2(d: ptr<function, Grads>, mine: ptr<function, Mine>, s: u32) { let px = s * SG + 2u; if (px < ROWS * TW) { for (var m = 0u; m < TM; m++) { (*d)[px / TW][m][px % TW] = subgroupBroadcast((*mine)[s][m], 2u); } } }
fn take_lane3(d: ptr<function, Grads>, mine: ptr<function, Mine>, s: u32) { let px = s * SG + 3u; if (px < ROWS * TW) { for (var m = 0u; m < TM; m++) { (*d)[px / TW][m][px % TW] = subgroupBroadcast((*mine)[s][m], 3u); } } }
fn take_lane4(d: ptr<function, Grads>, mine: ptr<function, Mine>, s: u32) { let px = s * SG + 4u; if (px < ROWS * TW) { for (var m = 0u; m < TM; m++) { (*d)[px / TW][m][px % TW] = subgroupBroadcast((*mine)[s][m], 4u); } } }
fn take_lane5(d: ptr<function, Grads>, mine: ptr<function, Mine>, s: u32) { let px = s * SG + 5u; if (px < ROWS * TW) { for (var m = 0u; m < TM; m++) { (*d)[px / TW][m][px % TW] = subgroupBroadcast((*mine)[s][m], 5u); } } }
fn take_lane6(d: ptr<function, Grads>, mine: ptr<function, Mine>, s: u32) { let px = s * SG + 6u; if (px < ROWS * TW) { for (var m = 0u; m < TM; m++) { (*d)[px / TW][m][px % TW] = subgroupBroadcast((*mine)[s][m], 6u); } } }
fn take_lane7(d: ptr<function, Grads>, mine: ptr<function, Mine>, s: u32) { let px = s * SG + 7u; if (px < ROWS * TW) { for (var m = 0u; m < TM; m++) { (*d)[px / TW][m][px % TW] = subgroupBroadcast((*mine)[s][m], 7u); } } }

// Workgroup = one subgroup. Grid: x over groups of SG·TC input channels, y over blocks of TM output
// channels, z over chunks.
@compute @workgroup_size(SG)
fn weight_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let c0 = (wid.x * SG + lane) * TC;
    let m0 = wid.y * TM;
    let hw = p.h * p.w;
    // Lanes whose channels lie past Cin still run (every lane must reach subgroupBroadcast) on clamped
    // channels, and store nothing; so do channels m past Cout.
    var m_at: array<u32, TM>;
    for (var m = 0u; m < TM; m++) { m_at[m] = min(m0 + m, p.c_out - 1u) * hw; }

    var acc: Acc;
    var mine: Mine;
    let first = wid.z * p.tiles_per_chunk;
    let count = min(p.tiles_per_chunk, p.tiles - first);
    for (var k = 0u; k < count; k++) {
        var g = geometry(first + k);
        // This lane's pixels of the tile: (b, i, j) from px = s·SG + lane, computed without indexing
        // g's arrays by a lane-dependent value (which would push them out of registers).
        for (var s = 0u; s < S; s++) {
            let px = s * SG + lane;
            let q = px / TW;
            let n = g.n0 + q / TR;
            let h = g.h0 + q % TR;
            let w = g.w0 + px % TW;
            let ok = px < ROWS * TW && n < p.images && h < p.h && w < p.w;
            let at = select(0u, n * p.c_out * hw + h * p.w + w, ok);
            for (var m = 0u; m < TM; m++) { mine[s][m] = select(0.0, dy[at + m_at[m]], ok); }
        }
        var d: Grads;
        for (var s = 0u; s < S; s++) {
            take_lane0(&d, &mine, s); take_lane1(&d, &mine, s); take_lane2(&d, &mine, s); take_lane3(&d, &mine, s);
            take_lane4(&d, &mine, s); take_lane5(&d, &mine, s); take_lane6(&d, &mine, s); take_lane7(&d, &mine, s);
        }
        accumulate_tile(&acc, &d, &g, c0);
    }
    store_sums(&acc, (p.slot0 + wid.z) * p.c_out * p.c_in * 9u, m0, c0);
}
