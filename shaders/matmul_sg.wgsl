// matmul_sg.wgsl — matmul for adapters with 8-wide subgroups (lavapipe: one AVX2 vector per subgroup).
//
// On a CPU adapter every storage load is a per-lane gather, so the kernel maximises arithmetic per load:
// each lane owns a TM×TN block of C in registers; the 8 lanes of a subgroup share the same TM rows and
// split the columns (8·TN wide). Per 8 steps of k, each lane loads ONE k-column element per row of A
// (lane l loads k0+l) and the subgroup broadcasts it to all lanes: 8× fewer A loads than loading
// directly. No workgroup memory and no barriers (both are costly on lavapipe).
// Measured on lavapipe (2 cores): ~30-45 GFLOP/s against ~16 for the best non-subgroup kernel.

const TM: u32 = 24u;      // rows of C per lane (shared by the subgroup)
const TN: u32 = 8u;       // columns of C per lane; a multiple of 4
const B_MODE: u32 = 0u;   // how B is read (matmul_common.wgsl)
const SG: u32 = 8u;       // subgroup width this kernel is written for

alias Tile = array<array<f32, TN>, TM>;

// acc += a_k ⊗ B(k, cols): one step of k for the lane's block.
fn step_k(acc: ptr<function, Tile>, a_k: ptr<function, array<f32, TM>>, k: u32, cols: ptr<function, array<u32, TN>>) {
    var b_k: array<f32, TN>;
    if (B_MODE == B_VEC4_ALONG_J) {
        for (var j = 0u; j < TN; j += 4u) {
            // cols[j] is a multiple of 4 (clamped to the last whole vec4 of the row).
            let v = b4[(k * p.b_sk + (*cols)[j]) / 4u];
            b_k[j] = v.x; b_k[j + 1u] = v.y; b_k[j + 2u] = v.z; b_k[j + 3u] = v.w;
        }
    } else {
        for (var j = 0u; j < TN; j++) { b_k[j] = b_at(k, (*cols)[j]); }
    }
    for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { (*acc)[i][j] = fma((*a_k)[i], b_k[j], (*acc)[i][j]); }
    }
}

// a_k[i] = the value of a_lane[i] held by lane `l` — written out per lane below because
// subgroupBroadcast needs a constant lane index.
fn take_lane0(a_lane: ptr<function, array<f32, TM>>, a_k: ptr<function, array<f32, TM>>) { for (var i = 0u; i < TM; i++) { (*a_k)[i] = subgroupBroadcast((*a_lane)[i], 0u); } }
fn take_lane1(a_lane: ptr<function, array<f32, TM>>, a_k: ptr<function, array<f32, TM>>) { for (var i = 0u; i < TM; i++) { (*a_k)[i] = subgroupBroadcast((*a_lane)[i], 1u); } }
fn take_lane2(a_lane: ptr<function, array<f32, TM>>, a_k: ptr<function, array<f32, TM>>) { for (var i = 0u; i < TM; i++) { (*a_k)[i] = subgroupBroadcast((*a_lane)[i], 2u); } }
fn take_lane3(a_lane: ptr<function, array<f32, TM>>, a_k: ptr<function, array<f32, TM>>) { for (var i = 0u; i < TM; i++) { (*a_k)[i] = subgroupBroadcast((*a_lane)[i], 3u); } }
fn take_lane4(a_lane: ptr<function, array<f32, TM>>, a_k: ptr<function, array<f32, TM>>) { for (var i = 0u; i < TM; i++) { (*a_k)[i] = subgroupBroadcast((*a_lane)[i], 4u); } }
fn take_lane5(a_lane: ptr<function, array<f32, TM>>, a_k: ptr<function, array<f32, TM>>) { for (var i = 0u; i < TM; i++) { (*a_k)[i] = subgroupBroadcast((*a_lane)[i], 5u); } }
fn take_lane6(a_lane: ptr<function, array<f32, TM>>, a_k: ptr<function, array<f32, TM>>) { for (var i = 0u; i < TM; i++) { (*a_k)[i] = subgroupBroadcast((*a_lane)[i], 6u); } }
fn take_lane7(a_lane: ptr<function, array<f32, TM>>, a_k: ptr<function, array<f32, TM>>) { for (var i = 0u; i < TM; i++) { (*a_k)[i] = subgroupBroadcast((*a_lane)[i], 7u); } }

// Workgroup = one subgroup. Grid: x over column blocks of SG·TN, y over row blocks of TM.
@compute @workgroup_size(SG)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let row0 = wid.y * TM;
    let col0 = (wid.x * SG + lane) * TN;
    // Lanes and rows past the edge still run — every lane must reach subgroupBroadcast — reading
    // clamped (valid) indexes; their results are never stored.
    var rows: array<u32, TM>;
    for (var i = 0u; i < TM; i++) { rows[i] = min(row0 + i, p.m - 1u); }
    var cols: array<u32, TN>;
    for (var j = 0u; j < TN; j++) {
        if (B_MODE == B_VEC4_ALONG_J) { cols[j] = min(col0 + j, p.n - 4u + j % 4u); } else { cols[j] = min(col0 + j, p.n - 1u); }
    }

    var acc: Tile;
    var a_lane: array<f32, TM>;
    var a_k: array<f32, TM>;
    let k_main = p.k - p.k % SG;
    for (var k0 = 0u; k0 < k_main; k0 += SG) {
        for (var i = 0u; i < TM; i++) { a_lane[i] = a_at(rows[i], k0 + lane); }
        take_lane0(&a_lane, &a_k); step_k(&acc, &a_k, k0, &cols);
        take_lane1(&a_lane, &a_k); step_k(&acc, &a_k, k0 + 1u, &cols);
        take_lane2(&a_lane, &a_k); step_k(&acc, &a_k, k0 + 2u, &cols);
        take_lane3(&a_lane, &a_k); step_k(&acc, &a_k, k0 + 3u, &cols);
        take_lane4(&a_lane, &a_k); step_k(&acc, &a_k, k0 + 4u, &cols);
        take_lane5(&a_lane, &a_k); step_k(&acc, &a_k, k0 + 5u, &cols);
        take_lane6(&a_lane, &a_k); step_k(&acc, &a_k, k0 + 6u, &cols);
        take_lane7(&a_lane, &a_k); step_k(&acc, &a_k, k0 + 7u, &cols);
    }
    // The last K % 8 steps: a shuffle with a (uniform) variable lane, once per dispatch row.
    let k_rest = p.k - k_main;
    if (k_rest > 0u) {
        let k_lane = min(k_main + lane, p.k - 1u);
        for (var i = 0u; i < TM; i++) { a_lane[i] = a_at(rows[i], k_lane); }
        for (var kk = 0u; kk < k_rest; kk++) {
            for (var i = 0u; i < TM; i++) { a_k[i] = subgroupShuffle(a_lane[i], kk); }
            step_k(&acc, &a_k, k_main + kk, &cols);
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
