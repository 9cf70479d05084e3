// matmul_tiled.wgsl — the classic GPU matmul: a workgroup stages BK-deep slices of a (WY·TM)×(WX·TN) tile
// of A and B in workgroup memory, then each invocation accumulates its TM×TN block from there.
// Right for hardware GPUs (coalesced loads, fast barriers); slow on lavapipe, where barriers are costly.

const TM: u32 = 4u;       // rows of C per invocation
const TN: u32 = 4u;       // columns of C per invocation
const WX: u32 = 16u;      // workgroup width
const WY: u32 = 16u;      // workgroup height
const BK: u32 = 16u;      // depth of each staged slice of k

const TILE_M: u32 = WY * TM;
const TILE_N: u32 = WX * TN;

var<workgroup> a_tile: array<array<f32, TILE_M>, BK>;   // a_tile[kk][i] = op(A)(row0 + i, k0 + kk)
var<workgroup> b_tile: array<array<f32, TILE_N>, BK>;   // b_tile[kk][j] = op(B)(k0 + kk, col0 + j)

@compute @workgroup_size(WX, WY)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row0 = wid.y * TILE_M;
    let col0 = wid.x * TILE_N;
    var acc: array<array<f32, TN>, TM>;
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        // Stage the slices; out-of-range elements are zero so they add nothing.
        for (var e = li; e < BK * TILE_M; e += WX * WY) {
            let kk = e / TILE_M;
            let i = e % TILE_M;
            var v = 0.0;
            if (row0 + i < p.m && k0 + kk < p.k) { v = a_at(row0 + i, k0 + kk); }
            a_tile[kk][i] = v;
        }
        for (var e = li; e < BK * TILE_N; e += WX * WY) {
            let kk = e / TILE_N;
            let j = e % TILE_N;
            var v = 0.0;
            if (col0 + j < p.n && k0 + kk < p.k) { v = b_at(k0 + kk, col0 + j); }
            b_tile[kk][j] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var a_k: array<f32, TM>;
            for (var i = 0u; i < TM; i++) { a_k[i] = a_tile[kk][lid.y + i * WY]; }
            for (var j = 0u; j < TN; j++) {
                let b_kj = b_tile[kk][lid.x + j * WX];
                for (var i = 0u; i < TM; i++) { acc[i][j] = fma(a_k[i], b_kj, acc[i][j]); }
            }
        }
        workgroupBarrier();
    }
    // Invocation (x, y) owns rows y, y+WY, ... and columns x, x+WX, ... of the tile (strided, so that
    // neighbouring invocations read neighbouring workgroup-memory words).
    for (var i = 0u; i < TM; i++) {
        let row = row0 + lid.y + i * WY;
        if (row < p.m) {
            for (var j = 0u; j < TN; j++) {
                let col = col0 + lid.x + j * WX;
                if (col < p.n) { store(row, col, acc[i][j]); }
            }
        }
    }
}
