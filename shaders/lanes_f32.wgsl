// lanes_f32.wgsl / lanes_vec4.wgsl — joined in front of reduce.wgsl, one or the other, so that the kernels
// that read one value or four adjacent ones per load (column sums, group norms) are written once over the
// element type `V` (VW values per element) and compiled twice (src/ops/reduce.rs: SHADER, SHADER_VEC4).
alias V = f32;
const VW: u32 = 1u;

// The sum of an element's values.
fn lane_sum(v: V) -> f32 {
    return v;
}
