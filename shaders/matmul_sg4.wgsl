// matmul_sg4.wgsl — matmul for lavapipe (8-wide subgroups) that reads both operands four floats per load.
//
// Why: on lavapipe (Mesa 22.3) every storage load inside a loop is a loop over the 8 lanes with two
// branches per lane, whether or not the address is the same for all lanes, so the cost of a kernel is
// mostly its number of loads. A vec4 load moves four floats per lane for about twice the cost of one.
//   A: each lane loads quads, and subgroupBroadcast hands every lane each A(i, k):
//      along k (a_sk == 1, K % 4 == 0): lane l loads A(row 4q + l/2, k0 + 4(l%2) .. +3);
//      along i (a_si == 1, M % 4 == 0, the Aᵀ·B form): lane l loads A(rows 4q .. 4q+3, k0 + l).
//      Either way, TM/4 loads per 8 steps of k.
//   B: along j (b_sj == 1, N % 4 == 0), TN/4 loads per step, or along k (b_sk == 1, K % 4 == 0, the
//      A·Bᵀ form), TN loads per 4 steps, or from column panels of 8·TN (B_PANELS: a copy made by
//      matmul_panels.wgsl, any form and N; read like along j, with b_sk = 8·TN).
// Each lane owns a TM×TN block of C; the subgroup's 8 lanes share the TM rows and split 8·TN columns.
// The block does not fit in registers, so the 8 steps of k run row by row (`row_steps`): each row's
// accumulators stay in registers for 8 steps instead of going to the stack and back on every step.
// Measured on lavapipe (Xeon, AVX-512), alternating: 1024³ 30 GFLOP/s at 32×8 and 26 at 16×8, against 22
// for matmul_sg (README, Benchmarks). Without AVX-512 it is no faster than matmul_sg: there every float
// loaded costs ~9× more (benches/load_costs.rs).

const TM: u32 = 16u;      // rows of C per lane (a multiple of 4, at most 48)
const TN: u32 = 8u;       // columns of C per lane (a multiple of 4)
const A_MODE: u32 = 1u;   // A_VEC4_ALONG_K or A_VEC4_ALONG_I
const B_MODE: u32 = 1u;   // B_VEC4_ALONG_J (matmul_common.wgsl), B_VEC4_ALONG_K or B_PANELS
const SG: u32 = 8u;       // subgroup width this kernel is written for

const A_VEC4_ALONG_K: u32 = 1u;
const A_VEC4_ALONG_I: u32 = 2u;
const B_VEC4_ALONG_K: u32 = 2u;
const B_PANELS: u32 = 3u;
const TQ: u32 = TM / 4u;        // quads of rows
const TN4: u32 = TN / 4u;       // vec4s of columns

// The same buffer as `a`, read four floats at a time.
@group(0) @binding(7) var<storage, read> a4: array<vec4<f32>>;

alias Tile = array<array<vec4<f32>, TN4>, TM>;
alias AQuads = array<vec4<f32>, TQ>;
alias BBlock = array<array<vec4<f32>, TN4>, SG>;  // op(B)(k0 + s, the lane's columns) for the 8 steps s

// The 8 values A(row, k0 .. k0+7) of one row of a quad. Along k the quad v is held by lanes 2r (steps
// 0-3) and 2r + 1 (steps 4-7); one function per r because subgroupBroadcast takes a constant lane.
fn row_k0(v: vec4<f32>) -> array<f32, SG> { let x = subgroupBroadcast(v, 0u); let y = subgroupBroadcast(v, 1u); return array(x.x, x.y, x.z, x.w, y.x, y.y, y.z, y.w); }
fn row_k1(v: vec4<f32>) -> array<f32, SG> { let x = subgroupBroadcast(v, 2u); let y = subgroupBroadcast(v, 3u); return array(x.x, x.y, x.z, x.w, y.x, y.y, y.z, y.w); }
fn row_k2(v: vec4<f32>) -> array<f32, SG> { let x = subgroupBroadcast(v, 4u); let y = subgroupBroadcast(v, 5u); return array(x.x, x.y, x.z, x.w, y.x, y.y, y.z, y.w); }
fn row_k3(v: vec4<f32>) -> array<f32, SG> { let x = subgroupBroadcast(v, 6u); let y = subgroupBroadcast(v, 7u); return array(x.x, x.y, x.z, x.w, y.x, y.y, y.z, y.w); }
// Along i, lane s holds step s of every row of the quad; `x` is one row's component.
fn row_i(x: f32) -> array<f32, SG> {
    return array(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u),
                 subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u));
}

// Row i of the block += Σ_s a_row[s] · bb[s]: eight steps of k on one row.
fn row_steps(acc: ptr<function, Tile>, i: u32, a_row: array<f32, SG>, bb: ptr<function, BBlock>) {
    var r = (*acc)[i];
    for (var s = 0u; s < SG; s++) {
        let a = vec4(a_row[s]);
        for (var j = 0u; j < TN4; j++) { r[j] = fma(a, (*bb)[s][j], r[j]); }
    }
    (*acc)[i] = r;
}

// bb = op(B)(k0 + s, the lane's columns) for s < steps, zero for the rest.
fn load_b(bb: ptr<function, BBlock>, k0: u32, steps: u32, cols: ptr<function, array<u32, TN>>) {
    if (B_MODE == B_VEC4_ALONG_K) {
        // steps is 4 or 8 here (K % 4 == 0).
        for (var j = 0u; j < TN; j++) {
            let lo = b4[((*cols)[j] * p.b_sj + k0) / 4u];
            var hi = vec4<f32>();
            if (steps == SG) { hi = b4[((*cols)[j] * p.b_sj + k0 + 4u) / 4u]; }
            let v = j / 4u;
            let c = j % 4u;
            (*bb)[0][v][c] = lo.x; (*bb)[1][v][c] = lo.y; (*bb)[2][v][c] = lo.z; (*bb)[3][v][c] = lo.w;
            (*bb)[4][v][c] = hi.x; (*bb)[5][v][c] = hi.y; (*bb)[6][v][c] = hi.z; (*bb)[7][v][c] = hi.w;
        }
    } else {
        for (var s = 0u; s < SG; s++) {
            if (s < steps) {
                for (var j = 0u; j < TN4; j++) { (*bb)[s][j] = b4[((k0 + s) * p.b_sk + (*cols)[4u * j]) / 4u]; }
            } else {
                (*bb)[s] = array<vec4<f32>, TN4>();
            }
        }
    }
}

// Up to eight steps of k from k0: the lane's A quads (zero past K), then B, row by row.
fn eight_steps(acc: ptr<function, Tile>, a_base: ptr<function, array<u32, TQ>>, lane: u32, k0: u32, steps: u32, cols: ptr<function, array<u32, TN>>) {
    var av: AQuads;
    if (A_MODE == A_VEC4_ALONG_I) {
        // a_base[q] = index of A(first row of quad q, k = 0); lane loads step `lane`.
        let live = lane < steps;
        let kl = select(k0, k0 + lane, live);
        for (var q = 0u; q < TQ; q++) { av[q] = select(vec4<f32>(), a4[((*a_base)[q] + kl * p.a_sk) / 4u], live); }
    } else {
        // a_base[q] = index of the lane's first float (row, k = 4·(lane % 2)); steps is 4 or 8.
        let live = steps == SG || lane % 2u == 0u;
        for (var q = 0u; q < TQ; q++) { av[q] = select(vec4<f32>(), a4[((*a_base)[q] + select(k0 - 4u * (lane % 2u), k0, live)) / 4u], live); }
    }
    var bb: BBlock;
    load_b(&bb, k0, steps, cols);
    // Quad by quad, written out rather than looped: Mesa does not unroll a loop over 8 quads with this
    // body, and then indexes the accumulators dynamically (through memory). Constant q keeps them in SSA.
    quad_steps(acc, &av, 0u, &bb);
    if (TQ > 1u) { quad_steps(acc, &av, 1u, &bb); }
    if (TQ > 2u) { quad_steps(acc, &av, 2u, &bb); }
    if (TQ > 3u) { quad_steps(acc, &av, 3u, &bb); }
    if (TQ > 4u) { quad_steps(acc, &av, 4u, &bb); }
    if (TQ > 5u) { quad_steps(acc, &av, 5u, &bb); }
    if (TQ > 6u) { quad_steps(acc, &av, 6u, &bb); }
    if (TQ > 7u) { quad_steps(acc, &av, 7u, &bb); }
    if (TQ > 8u) { quad_steps(acc, &av, 8u, &bb); }
    if (TQ > 9u) { quad_steps(acc, &av, 9u, &bb); }
    if (TQ > 10u) { quad_steps(acc, &av, 10u, &bb); }
    if (TQ > 11u) { quad_steps(acc, &av, 11u, &bb); }
}

// Rows 4q .. 4q+3 of the block += their A values (from quad q) · bb, eight steps each.
fn quad_steps(acc: ptr<function, Tile>, av: ptr<function, AQuads>, q: u32, bb: ptr<function, BBlock>) {
    let v = (*av)[q];
    if (A_MODE == A_VEC4_ALONG_I) {
        row_steps(acc, 4u * q, row_i(v.x), bb);
        row_steps(acc, 4u * q + 1u, row_i(v.y), bb);
        row_steps(acc, 4u * q + 2u, row_i(v.z), bb);
        row_steps(acc, 4u * q + 3u, row_i(v.w), bb);
    } else {
        row_steps(acc, 4u * q, row_k0(v), bb);
        row_steps(acc, 4u * q + 1u, row_k1(v), bb);
        row_steps(acc, 4u * q + 2u, row_k2(v), bb);
        row_steps(acc, 4u * q + 3u, row_k3(v), bb);
    }
}

// Workgroup = one subgroup. Grid: x over column blocks of SG·TN, y over row blocks of TM.
@compute @workgroup_size(SG)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let row0 = wid.y * TM;
    let col0 = (wid.x * SG + lane) * TN;
    // Rows and columns past the edge read clamped (valid) indexes; their results are never stored.
    // Every lane runs to the end: subgroupBroadcast needs all 8.
    var cols: array<u32, TN>;
    for (var j = 0u; j < TN; j++) {
        if (B_MODE == B_PANELS) {
            // Where the column starts in this block's panel; past N the panel holds zeros.
            cols[j] = wid.x * p.k * SG * TN + lane * TN + j;
        } else if (B_MODE == B_VEC4_ALONG_J) {
            cols[j] = min(col0 + j, p.n - 4u + j % 4u);
        } else {
            cols[j] = min(col0 + j, p.n - 1u);
        }
    }
    var a_base: array<u32, TQ>;   // where this lane's A quads start (see eight_steps)
    for (var q = 0u; q < TQ; q++) {
        if (A_MODE == A_VEC4_ALONG_I) {
            a_base[q] = min(row0 + 4u * q, p.m - 4u);
        } else {
            a_base[q] = min(row0 + 4u * q + lane / 2u, p.m - 1u) * p.a_si + 4u * (lane % 2u);
        }
    }

    var acc: Tile;
    let k_main = p.k - p.k % SG;
    for (var k0 = 0u; k0 < k_main; k0 += SG) {
        eight_steps(&acc, &a_base, lane, k0, SG, &cols);
    }
    if (k_main < p.k) {
        eight_steps(&acc, &a_base, lane, k_main, p.k - k_main, &cols);
    }

    for (var i = 0u; i < TM; i++) {
        if (row0 + i < p.m) {
            for (var j = 0u; j < TN; j++) {
                if (col0 + j < p.n) { store(row0 + i, col0 + j, acc[i][j / 4u][j % 4u]); }
            }
        }
    }
}
