// conv2d_reg.wgsl — implicit-GEMM 3×3 conv without subgroups or workgroup memory: the portable variant
// (llvmpipe through OpenGL, WebGPU without subgroups, GPUs). Compiled after conv2d_common.wgsl.
//
// Each invocation owns TM output channels × one TB×TR×TW pixel tile and reads its kernel taps directly
// (9·TM loads per reduction channel, against 9·TM·TN multiply-adds).

const TM: u32 = 8u;   // output channels per invocation
const TB: u32 = 1u;   // images per tile
const TR: u32 = 1u;   // rows per tile (TB·TR ≤ 8)
const TW: u32 = 8u;   // columns per tile
const WX: u32 = 8u;   // workgroup width (tiles)
const WY: u32 = 8u;   // workgroup height (channel blocks)

@compute @workgroup_size(WX, WY)
fn conv(@builtin(global_invocation_id) gid: vec3<u32>) {
    let tile = gid.x;
    let m0 = gid.y * TM;
    if (tile >= p.tiles || m0 >= p.c_out) { return; }
    var g = geometry(tile);
    // Channels past the edge read a clamped (valid) row of K and are not stored.
    var m_at: array<u32, TM>;
    for (var m = 0u; m < TM; m++) { m_at[m] = min(m0 + m, p.c_out - 1u) * p.w_m; }

    var acc: Acc;
    var k: Taps;
    for (var ch = 0u; ch < p.c_in; ch++) {
        for (var m = 0u; m < TM; m++) {
            for (var t = 0u; t < 9u; t++) { k[m][t] = wts[k_index(m_at[m], ch, t)]; }
        }
        accumulate_channel(&acc, &k, &g, ch);
    }
    store_tile(&acc, &g, m0);
}
