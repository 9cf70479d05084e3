// matmul_reg.wgsl — register-blocked matmul without subgroups or workgroup memory: the portable choice for
// CPU adapters that lack subgroups (llvmpipe through OpenGL, WebGPU without the subgroups feature).
//
// Each invocation computes a TM×TN block of C, loading TM values of A and TN of B per step of k for
// TM·TN multiply-adds. Measured on llvmpipe: 8×8 blocks ~13 GFLOP/s, 16×8 ~16, 4×4 ~6.

const TM: u32 = 16u;      // rows of C per invocation
const TN: u32 = 8u;       // columns of C per invocation; a multiple of 4
const B_MODE: u32 = 0u;   // how B is read (matmul_common.wgsl)
const WX: u32 = 8u;       // workgroup width (column blocks)
const WY: u32 = 8u;       // workgroup height (row blocks)

@compute @workgroup_size(WX, WY)
fn matmul(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * TM;
    let col0 = gid.x * TN;
    if (row0 >= p.m || col0 >= p.n) { return; }
    // Rows and columns past the edge read clamped (valid) indexes and are not stored.
    var rows: array<u32, TM>;
    for (var i = 0u; i < TM; i++) { rows[i] = min(row0 + i, p.m - 1u); }
    var cols: array<u32, TN>;
    for (var j = 0u; j < TN; j++) {
        if (B_MODE == B_VEC4_ALONG_J) { cols[j] = min(col0 + j, p.n - 4u + j % 4u); } else { cols[j] = min(col0 + j, p.n - 1u); }
    }

    var acc: array<array<f32, TN>, TM>;
    for (var k = 0u; k < p.k; k++) {
        var b_k: array<f32, TN>;
        if (B_MODE == B_VEC4_ALONG_J) {
            for (var j = 0u; j < TN; j += 4u) {
                let v = b4[(k * p.b_sk + cols[j]) / 4u];
                b_k[j] = v.x; b_k[j + 1u] = v.y; b_k[j + 2u] = v.z; b_k[j + 3u] = v.w;
            }
        } else {
            for (var j = 0u; j < TN; j++) { b_k[j] = b_at(k, cols[j]); }
        }
        for (var i = 0u; i < TM; i++) {
            let a_ik = a_at(rows[i], k);
            for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a_ik, b_k[j], acc[i][j]); }
        }
    }

    for (var i = 0u; i < TM; i++) {
        if (row0 + i < p.m) {
            for (var j = 0u; j < TN; j++) {
                if (col0 + j < p.n) { store(row0 + i, col0 + j, acc[i][j]); }
            }
        }
    }
}
