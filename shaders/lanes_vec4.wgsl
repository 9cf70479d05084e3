// See lanes_f32.wgsl: the same for four values per element.
alias V = vec4<f32>;
const VW: u32 = 4u;

fn lane_sum(v: V) -> f32 {
    return (v.x + v.y) + (v.z + v.w);
}
