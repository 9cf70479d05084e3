// gemm_block.wgsl — the block tiling that the hardware-GPU kernels share (matmul_gpu.wgsl, conv2d_gemm.wgsl,
// conv2d_wgrad_gemm.wgsl; joined in front of each): the workgroup's geometry, the double-buffered slices in
// workgroup memory and the multiply-adds of one slice. Each kernel file declares TM, TN (rows and columns
// of the block per invocation, 4 or 8) and BK (the depth of a slice) and fills the slices its own way:
// from memory (matmul) or gathered as an implicit im2col (conv).
//
// A workgroup of 16×16 invocations computes a BM×BN = (16·TM)×(16·TN) block of C. Invocation (x, y) owns
// the row quads y, y+16, … and the column quads x, x+16, … of the block, so neighbouring invocations read
// neighbouring vec4s of b_s (no bank conflicts) and the same vec4 of a_s (a broadcast). No subgroup width
// is assumed.

const WX: u32 = 16u;
const WY: u32 = 16u;
const THREADS: u32 = WX * WY;
const BM: u32 = WY * TM;
const BN: u32 = WX * TN;
const BM4: u32 = BM / 4u;
const BN4: u32 = BN / 4u;
const TM4: u32 = TM / 4u;
const TN4: u32 = TN / 4u;

// Both slices k-major as vec4s (A transposed), in two buffers:
// a_s[buf][kk · BM4 + i / 4] = op(A)(row0 + i .. i+3, k0 + kk); b_s[buf][kk · BN4 + j / 4] likewise for B.
var<workgroup> a_s: array<array<vec4<f32>, BM4 * BK>, 2>;
var<workgroup> b_s: array<array<vec4<f32>, BN4 * BK>, 2>;

// acc[i][q] += A(row i, kk) · B(kk, column quad q) over the slice in buffer `cur`: per step of k, TM/4 +
// TN/4 vec4 reads of workgroup memory and TM·TN/4 vec4 multiply-adds.
fn multiply_slice(cur: u32, lid: vec3<u32>, acc: ptr<function, array<array<vec4<f32>, TN4>, TM>>) {
    for (var kk = 0u; kk < BK; kk++) {
        var av: array<vec4<f32>, TM4>;
        var bv: array<vec4<f32>, TN4>;
        for (var q = 0u; q < TM4; q++) { av[q] = a_s[cur][kk * BM4 + lid.y + q * WY]; }
        for (var q = 0u; q < TN4; q++) { bv[q] = b_s[cur][kk * BN4 + lid.x + q * WX]; }
        for (var i = 0u; i < TM; i++) {
            let a_ik = vec4<f32>(av[i / 4u][i % 4u]);
            for (var q = 0u; q < TN4; q++) { (*acc)[i][q] = fma(a_ik, bv[q], (*acc)[i][q]); }
        }
    }
}

// Row i of an invocation's accumulators is row block_row(lid, i) of the block; column quad q starts at
// column block_col(lid, q).
fn block_row(lid: vec3<u32>, i: u32) -> u32 {
    return (lid.y + (i / 4u) * WY) * 4u + i % 4u;
}

fn block_col(lid: vec3<u32>, q: u32) -> u32 {
    return (lid.x + q * WX) * 4u;
}
