// matmul_panels.wgsl — copies op(B) into column panels, the layout matmul_sg4 reads with B_MODE = B_PANELS.
//
// Why: matmul_sg4 walks all K rows of a WIDTH-column strip of B for every block of C. Read in place, each
// of those K steps lands on another 4 KiB page once a row of B is 4 KiB or more (N ≥ 1024), and on a CPU
// adapter the TLB and the prefetchers lose track: at 2048³ the kernel ran ~25% slower than at 2048×512×2048
// (lavapipe, Xeon). In panels a strip is contiguous: panel p holds op(B)(k, p·WIDTH + jj) at
// (p·K + k)·WIDTH + jj, and columns past N are zero. Copying is O(K·N) against the product's O(M·N·K).

struct Params {
    k: u32,
    n: u32,
    b_sk: u32,   // stride of B along k
    b_sj: u32,   // stride of B between columns of op(B)
    width: u32,  // columns per panel (a multiple of 4)
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> panels: array<vec4<f32>>;

fn b_or_zero(k: u32, j: u32) -> f32 {
    if (j >= p.n) { return 0.0; }
    return b[k * p.b_sk + j * p.b_sj];
}

// One invocation per vec4 of the output, in output order (writes are sequential; so are the reads of B
// along j). The grid may be folded into 2-D (Gpu::grid_1d), so the linear index is rebuilt.
@compute @workgroup_size(WG)
fn pack_panels(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let q = folded_invocation(wid, nwg, lid, WG);
    let quads = p.width / 4u;                  // vec4s per row of a panel
    let panel_rows = q / quads;                // = panel · K + k
    let panel = panel_rows / p.k;
    if (panel >= (p.n + p.width - 1u) / p.width) { return; }
    let k = panel_rows % p.k;
    let j0 = panel * p.width + 4u * (q % quads);
    panels[q] = vec4(b_or_zero(k, j0), b_or_zero(k, j0 + 1u), b_or_zero(k, j0 + 2u), b_or_zero(k, j0 + 3u));
}
