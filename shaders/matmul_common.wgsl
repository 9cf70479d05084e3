// matmul_common.wgsl — what every matmul variant shares: parameters, bindings, operand access and the
// fused epilogue. Each variant file (matmul_sg, matmul_reg, matmul_tiled) is compiled after this one.
//
//   C[M,N] = op(A)[M,K] · op(B)[K,N]   then, by flag: (+ C) (+ bias[j]) (ReLU) (× [mask[i,j] > 0])
//
// op(A)(i,k) = a[i*a_si + k*a_sk] and op(B)(k,j) = b[k*b_sk + j*b_sj], so one kernel serves the three
// forms training needs: A·B, Aᵀ·B and A·Bᵀ (the wrapper sets the strides).

struct Params {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,
    a_si: u32,   // stride of A between rows of op(A)
    a_sk: u32,   // stride of A along k
    b_sk: u32,   // stride of B along k
    b_sj: u32,   // stride of B between columns of op(B)
}

const FLAG_ACCUMULATE: u32 = 1u;   // add the old C
const FLAG_BIAS: u32 = 2u;         // add bias[j]
const FLAG_RELU: u32 = 4u;         // max(·, 0)
const FLAG_MASK: u32 = 8u;         // zero where mask[i,j] <= 0 (the ReLU backward of the layer below)

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
// The same buffer as `b`, read four floats at a time where its layout allows (see B_MODE in the variants).
@group(0) @binding(3) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<f32>;
@group(0) @binding(6) var<storage, read_write> c: array<f32>;

// B_MODE (a constant of each variant) says how B is read:
const B_SCALAR: u32 = 0u;       // any strides
const B_VEC4_ALONG_J: u32 = 1u; // b_sj == 1 and N % 4 == 0: op(B)(k, j..j+3) is one aligned vec4

fn a_at(i: u32, k: u32) -> f32 {
    return a[i * p.a_si + k * p.a_sk];
}

fn b_at(k: u32, j: u32) -> f32 {
    return b[k * p.b_sk + j * p.b_sj];
}

// Writes one finished element (the caller checks i < M and j < N).
fn store(i: u32, j: u32, acc: f32) {
    let at = i * p.n + j;
    var v = acc;
    if ((p.flags & FLAG_ACCUMULATE) != 0u) { v += c[at]; }
    if ((p.flags & FLAG_BIAS) != 0u) { v += bias[j]; }
    if ((p.flags & FLAG_RELU) != 0u) { v = max(v, 0.0); }
    if ((p.flags & FLAG_MASK) != 0u) { v = select(0.0, v, mask[at] > 0.0); }
    c[at] = v;
}
