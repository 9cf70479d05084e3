// gather.wgsl — builds a training batch on the GPU: rows of a u8 image set picked by an index stream,
// normalised to f32 per channel, and their labels. The data set stays resident as bytes (4 per u32
// word, 4× smaller than f32: MNIST's 60,000 images are 47 MB) and is never copied back.
// A set of f32 values (the 2-D toy's points) is bound the same way, one value per word (`f32_values`).
//
// gather_augment adds CIFAR-10's training augmentation on the way (torchvision's RandomCrop(32, padding=4)
// then RandomHorizontalFlip): each batch row has a code in `aug` (dx | dy << 8 | flip << 16, dx and dy
// in 0..=2·pad): output pixel (y, x) is the zero-padded image's pixel (y + dy, x' + dx) with
// x' = W − 1 − x when flipped, else x; padding reads byte 0 and is normalised like any pixel.
//
// A set larger than one storage binding is bound as two parts: rows below `split_row` come from
// `images_lo`, the rest from `images_hi` (each part starts on a row boundary).

struct Params {
    batch: u32,        // rows to gather (B)
    row_len: u32,      // bytes per image (D = channels · plane)
    plane: u32,        // bytes per channel plane (H·W): channel = column / plane
    first: u32,        // position of this batch in the index stream
    split_row: u32,    // rows [0, split_row) live in images_lo
    width: u32,        // gather_augment: image width W (H = plane / W)
    f32_values: u32,   // 1: each word is an f32 value (bit pattern), not four bytes
    _pad2: u32,
    scale: vec4<f32>,  // per channel: x = value · scale[c] + shift[c]  (bytes: (byte/255 − mean)/std)
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
@group(0) @binding(7) var<storage, read> aug: array<u32>;   // gather_augment only

const PAD: i32 = 4;

// The raw value at (row, col): a byte 0..255, or an f32 value.
fn value_at(row: u32, col: u32) -> f32 {
    let per_word = select(4u, 1u, p.f32_values == 1u);
    var word: u32;
    var at: u32;
    if (row < p.split_row) {
        at = row * p.row_len + col;
        word = images_lo[at / per_word];
    } else {
        at = (row - p.split_row) * p.row_len + col;
        word = images_hi[at / per_word];
    }
    if (p.f32_values == 1u) {
        return bitcast<f32>(word);
    }
    return f32((word >> ((at % 4u) * 8u)) & 0xFFu);
}

// One invocation per output element; the label is written by column 0's invocation.
@compute @workgroup_size(WG)
fn gather_normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = folded_invocation(wid, nwg, lid, WG);
    if (e >= p.batch * p.row_len) { return; }
    let b = e / p.row_len;
    let col = e % p.row_len;
    let row = indices[p.first + b];
    let c = min(col / p.plane, 3u);
    out_x[e] = value_at(row, col) * p.scale[c] + p.shift[c];
    if (col == 0u) { out_y[b] = labels[row]; }
}

// As gather_normalize, reading each output pixel from the shifted, padded, possibly flipped image.
@compute @workgroup_size(WG)
fn gather_augment(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = folded_invocation(wid, nwg, lid, WG);
    if (e >= p.batch * p.row_len) { return; }
    let b = e / p.row_len;
    let col = e % p.row_len;
    let row = indices[p.first + b];
    let code = aug[p.first + b];
    let c = min(col / p.plane, 3u);
    let in_plane = col % p.plane;
    let w = i32(p.width);
    let h = i32(p.plane / p.width);
    var x = i32(in_plane % p.width);
    let y = i32(in_plane / p.width);
    if (((code >> 16u) & 1u) == 1u) {
        x = w - 1 - x;
    }
    let sx = x + i32(code & 0xFFu) - PAD;
    let sy = y + i32((code >> 8u) & 0xFFu) - PAD;
    var value = 0.0;
    if (sx >= 0 && sx < w && sy >= 0 && sy < h) {
        value = value_at(row, c * p.plane + u32(sy) * p.width + u32(sx));
    }
    out_x[e] = value * p.scale[c] + p.shift[c];
    if (col == 0u) { out_y[b] = labels[row]; }
}
