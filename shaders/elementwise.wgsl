// elementwise.wgsl — ReLU forward and backward over flat arrays of any shape.
//
// One element per invocation; the grid may be folded into 2-D when it exceeds the per-dimension limit,
// so the linear index is rebuilt from the workgroup id and the grid width.

struct Params {
    n: u32,          // elements
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// out = max(a, 0)          (b unused: bound to a)
@compute @workgroup_size(WG)
fn relu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = folded_invocation(wid, nwg, lid, WG);
    if (i < p.n) {
        out[i] = max(a[i], 0.0);
    }
}

// out = b where a > 0, else 0      (a: the ReLU's output y, b: dL/dy; out: dL/dx)
@compute @workgroup_size(WG)
fn relu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = folded_invocation(wid, nwg, lid, WG);
    if (i < p.n) {
        out[i] = select(0.0, b[i], a[i] > 0.0);
    }
}
