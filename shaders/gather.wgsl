// gather.wgsl — builds a training batch on the GPU: rows of a u8 image set picked by an index stream,
// normalised to f32 per channel, and their labels. The data set stays resident as bytes (4 per u32
// word, 4× smaller than f32: MNIST's 60,000 images are 47 MB) and is never copied back.
//
// A set larger than one storage binding is bound as two parts: rows below `split_row` come from
// `images_lo`, the rest from `images_hi` (each part starts on a row boundary).

struct Params {
    batch: u32,        // rows to gather (B)
    row_len: u32,      // bytes per image (D = channels · plane)
    plane: u32,        // bytes per channel plane (H·W): channel = column / plane
    first: u32,        // position of this batch in the index stream
    split_row: u32,    // rows [0, split_row) live in images_lo
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    scale: vec4<f32>,  // per channel: x = byte · scale[c] + shift[c]  (i.e. (byte/255 − mean)/std)
    shift: vec4<f32>,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> images_lo: array<u32>;
@group(0) @binding(2) var<storage, read> images_hi: array<u32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read> indices: array<u32>;
@group(0) @binding(5) var<storage, read_write> out_x: array<f32>;
@group(0) @binding(6) var<storage, read_write> out_y: array<u32>;

fn byte_at(row: u32, col: u32) -> u32 {
    var word: u32;
    var at: u32;
    if (row < p.split_row) {
        at = row * p.row_len + col;
        word = images_lo[at / 4u];
    } else {
        at = (row - p.split_row) * p.row_len + col;
        word = images_hi[at / 4u];
    }
    return (word >> ((at % 4u) * 8u)) & 0xFFu;
}

// One invocation per output element; the label is written by column 0's invocation.
@compute @workgroup_size(WG)
fn gather_normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = (wid.x + wid.y * nwg.x) * WG + lid.x;
    if (e >= p.batch * p.row_len) { return; }
    let b = e / p.row_len;
    let col = e % p.row_len;
    let row = indices[p.first + b];
    let c = min(col / p.plane, 3u);
    out_x[e] = f32(byte_at(row, col)) * p.scale[c] + p.shift[c];
    if (col == 0u) { out_y[b] = labels[row]; }
}
