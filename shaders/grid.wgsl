// grid.wgsl — joined in front of every shader dispatched on the folded 1-D grid of `Gpu::grid_1d`
// (src/gpu/kernel.rs): a dispatch of more workgroups than one grid dimension allows is folded into x × y,
// so a kernel rebuilds the linear workgroup index from its id and the grid's width, and skips the surplus
// workgroups of the fold itself.

// The linear index of this workgroup on the folded grid.
fn folded_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// The linear index of this invocation, for workgroups of `wg` invocations along x.
fn folded_invocation(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, wg: u32) -> u32 {
    return folded_workgroup(wid, nwg) * wg + lid.x;
}
