// matmul_vec.wgsl — an 8×8 block of C per invocation held in four mat4x4 accumulators, with no local
// arrays and no loops except over k: the shape OpenGL drivers compile well. (naga's GLSL loops defeat
// Mesa's unroller, so matmul_reg's array tiles live in scratch memory there: ~5 GFLOP/s on llvmpipe-GL
// against ~13 for this kernel.) Also a good fallback for WebGPU without subgroups.

const B_MODE: u32 = 0u;   // how B is read (matmul_common.wgsl)
const WX: u32 = 8u;       // workgroup width (column blocks)
const WY: u32 = 8u;       // workgroup height (row blocks)

// Column j of an accumulator += a · b_j (an outer-product step, one fma per column).
fn outer_step(m: mat4x4<f32>, a: vec4<f32>, b: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(fma(a, vec4(b.x), m[0]), fma(a, vec4(b.y), m[1]), fma(a, vec4(b.z), m[2]), fma(a, vec4(b.w), m[3]));
}

fn load_b(k: u32, c: vec4<u32>) -> vec4<f32> {
    if (B_MODE == B_VEC4_ALONG_J) {
        return b4[(k * p.b_sk + c.x) / 4u];
    }
    return vec4(b_at(k, c.x), b_at(k, c.y), b_at(k, c.z), b_at(k, c.w));
}

// Stores rows row0..row0+3 of columns col0..col0+3 held in m (column j of m = column col0+j of C).
fn store_block(row0: u32, col0: u32, m: mat4x4<f32>) {
    for (var j = 0u; j < 4u; j++) {
        if (col0 + j < p.n) {
            let v = m[j];
            if (row0 < p.m) { store(row0, col0 + j, v.x); }
            if (row0 + 1u < p.m) { store(row0 + 1u, col0 + j, v.y); }
            if (row0 + 2u < p.m) { store(row0 + 2u, col0 + j, v.z); }
            if (row0 + 3u < p.m) { store(row0 + 3u, col0 + j, v.w); }
        }
    }
}

@compute @workgroup_size(WX, WY)
fn matmul(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * 8u;
    let col0 = gid.x * 8u;
    if (row0 >= p.m || col0 >= p.n) { return; }
    // Clamped (valid) rows and columns; results past the edge are computed but not stored.
    let last = p.m - 1u;
    let ra = vec4(min(row0, last), min(row0 + 1u, last), min(row0 + 2u, last), min(row0 + 3u, last)) * p.a_si;
    let rb = vec4(min(row0 + 4u, last), min(row0 + 5u, last), min(row0 + 6u, last), min(row0 + 7u, last)) * p.a_si;
    var ca: vec4<u32>;
    var cb: vec4<u32>;
    if (B_MODE == B_VEC4_ALONG_J) {
        // Whole vec4s: clamp the block start to the last vec4 of the row (N is a multiple of 4).
        ca = vec4(min(col0, p.n - 4u));
        cb = vec4(min(col0 + 4u, p.n - 4u));
    } else {
        let lastc = p.n - 1u;
        ca = vec4(min(col0, lastc), min(col0 + 1u, lastc), min(col0 + 2u, lastc), min(col0 + 3u, lastc));
        cb = vec4(min(col0 + 4u, lastc), min(col0 + 5u, lastc), min(col0 + 6u, lastc), min(col0 + 7u, lastc));
    }

    var m_aa = mat4x4<f32>();  // rows 0-3, columns 0-3
    var m_ab = mat4x4<f32>();  // rows 0-3, columns 4-7
    var m_ba = mat4x4<f32>();  // rows 4-7, columns 0-3
    var m_bb = mat4x4<f32>();  // rows 4-7, columns 4-7
    for (var k = 0u; k < p.k; k++) {
        let ks = k * p.a_sk;
        let a_lo = vec4(a[ra.x + ks], a[ra.y + ks], a[ra.z + ks], a[ra.w + ks]);
        let a_hi = vec4(a[rb.x + ks], a[rb.y + ks], a[rb.z + ks], a[rb.w + ks]);
        let b_lo = load_b(k, ca);
        let b_hi = load_b(k, cb);
        m_aa = outer_step(m_aa, a_lo, b_lo);
        m_ab = outer_step(m_ab, a_lo, b_hi);
        m_ba = outer_step(m_ba, a_hi, b_lo);
        m_bb = outer_step(m_bb, a_hi, b_hi);
    }
    store_block(row0, col0, m_aa);
    store_block(row0, col0 + 4u, m_ab);
    store_block(row0 + 4u, col0, m_ba);
    store_block(row0 + 4u, col0 + 4u, m_bb);
}
