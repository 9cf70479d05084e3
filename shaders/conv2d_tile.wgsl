// conv2d_tile.wgsl — the pixel tile a conv invocation owns, shared by every conv2d kernel that walks
// pixels in tiles (conv2d_sg, conv2d_reg, conv2d_wgrad; each file before it in the kernel's source).
//
// A tile is TB images × TR rows × TW columns (TB·TR ≤ 8, TR ≤ 8, TW ≤ 8) at the same place in each image; its input
// neighbourhood is the TB × (TR+2) × (TW+2) block around it (3×3 kernel, padding 1). Tiles are numbered
// image group by image group, row by row. The including file's Params supplies images, h, w, tiles_w
// (= ceil(W / TW)), tiles_img (= ceil(H / TR) · tiles_w) and tiles (= ceil(images / TB) · tiles_img).

const TR2: u32 = TR + 2u;   // rows of a tile's input neighbourhood
const TW2: u32 = TW + 2u;   // columns of a tile's input neighbourhood
const ROWS: u32 = TB * TR; // tile rows (at most 8)

// Neighbourhood element (b, r, c) of channel ch lies at ((img_at[b]·C + ch)·H·W + row_at[r] + col_at[c])
// and is present (not padding) when img_ok[b] && row_ok[r] && col_ok[c]. Indexes are clamped into the
// bound data, so every load is in bounds and the masks alone supply the zeros. Pixel (b, i, j) of the
// tile itself is neighbourhood element (b, i + 1, j + 1), so the same masks say which pixels exist.
struct Geom {
    n0: u32,
    h0: u32,
    w0: u32,
    img_at: array<u32, TB>,
    img_ok: array<bool, TB>,
    row_at: array<u32, TR2>,
    row_ok: array<bool, TR2>,
    col_at: array<u32, TW2>,
    col_ok: array<bool, TW2>,
}

// The geometry of tile `tile` (clamped to the last tile: callers that run past the end store nothing).
fn geometry(tile: u32) -> Geom {
    var g: Geom;
    let t = min(tile, p.tiles - 1u);
    let in_img = t % p.tiles_img;
    g.n0 = (t / p.tiles_img) * TB;
    g.h0 = (in_img / p.tiles_w) * TR;
    g.w0 = (in_img % p.tiles_w) * TW;
    for (var b = 0u; b < TB; b++) {
        g.img_ok[b] = g.n0 + b < p.images;
        g.img_at[b] = min(g.n0 + b, p.images - 1u);
    }
    for (var r = 0u; r < TR2; r++) {
        let hh = i32(g.h0 + r) - 1;   // -1 or ≥ H: padding
        g.row_ok[r] = hh >= 0 && hh < i32(p.h);
        g.row_at[r] = u32(clamp(hh, 0, i32(p.h) - 1)) * p.w;
    }
    for (var c = 0u; c < TW2; c++) {
        let ww = i32(g.w0 + c) - 1;
        g.col_ok[c] = ww >= 0 && ww < i32(p.w);
        g.col_at[c] = u32(clamp(ww, 0, i32(p.w) - 1));
    }
    return g;
}

// Whether pixel (b, i, j) of the tile is inside the images.
fn pixel_ok(g: ptr<function, Geom>, b: u32, i: u32, j: u32) -> bool {
    return (*g).img_ok[b] && (*g).row_ok[i + 1u] && (*g).col_ok[j + 1u];
}
