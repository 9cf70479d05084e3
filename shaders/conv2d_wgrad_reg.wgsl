// conv2d_wgrad_reg.wgsl — the portable weight-gradient variant: every invocation loads its own gradients
// and inputs. Compiled after conv2d_tile.wgsl and conv2d_wgrad.wgsl.

const TM: u32 = 4u;   // output channels per invocation
const TC: u32 = 2u;   // input channels per invocation (at most 4)
const TB: u32 = 1u;   // images per tile
const TR: u32 = 1u;   // rows per tile (TB·TR ≤ 8)
const TW: u32 = 8u;   // columns per tile
const WG: u32 = 64u;  // invocations per workgroup

// Grid: x over blocks of WG (input-block, output-block) pairs, y over chunks.
@compute @workgroup_size(WG)
fn weight_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let c0 = (gid.x % p.c_blocks) * TC;
    let m0 = (gid.x / p.c_blocks) * TM;
    if (m0 >= p.c_out) { return; }
    // Channels past the edge read clamped (valid) planes and are not stored.
    var m_at: array<u32, TM>;
    for (var m = 0u; m < TM; m++) { m_at[m] = min(m0 + m, p.c_out - 1u); }

    var acc: Acc;
    let first = wid.y * p.tiles_per_chunk;
    let count = min(p.tiles_per_chunk, p.tiles - first);
    for (var k = 0u; k < count; k++) {
        var g = geometry(first + k);
        var d: Grads;
        load_grads(&d, &g, &m_at, 0u);
        if (ROWS > 1u) { load_grads(&d, &g, &m_at, 1u); }
        if (ROWS > 2u) { load_grads(&d, &g, &m_at, 2u); }
        if (ROWS > 3u) { load_grads(&d, &g, &m_at, 3u); }
        if (ROWS > 4u) { load_grads(&d, &g, &m_at, 4u); }
        if (ROWS > 5u) { load_grads(&d, &g, &m_at, 5u); }
        if (ROWS > 6u) { load_grads(&d, &g, &m_at, 6u); }
        if (ROWS > 7u) { load_grads(&d, &g, &m_at, 7u); }
        accumulate_tile(&acc, &d, &g, c0);
    }
    store_sums(&acc, (p.slot0 + wid.y) * p.c_out * p.c_in * 9u, m0, c0);
}
