//! The paper's Fig. 2: decision regions of the 2-D toy. The background is coloured by p(class 1), from
//! blue (class 0 sure) through purple to red (class 1 sure); a white line is drawn where p = 0.5, a blue
//! one at p = 0.25 and a red one at p = 0.75 (a narrower band between them: the outliers are handled
//! better).
//!
//! [`region_rgba`] turns a grid of probabilities into those pixels; the browser draws it as it is, and
//! [`write_fig2`] (native) lays out one panel per method with the points and titles into a PNG.

/// Background at p = 0 and p = 1 (linear between: purple at 0.5, so the white line shows).
const CLASS0_BG: [f32; 3] = [60.0, 105.0, 215.0];
const CLASS1_BG: [f32; 3] = [215.0, 60.0, 60.0];
/// The contour levels and their colours: p = 0.25 (blue), 0.5 (white), 0.75 (red).
pub const CONTOURS: [(f32, [u8; 3]); 3] = [(0.25, [100, 205, 255]), (0.5, [255, 255, 255]), (0.75, [255, 120, 95])];
/// The points' colours by class.
pub const CLASS_COLOURS: [[u8; 3]; 2] = [[20, 60, 190], [200, 20, 20]];

/// RGBA pixels of a `pixels` × `pixels` grid of p(class 1) (row 0 at the top): the background colour,
/// and a contour line wherever a pixel and a 4-neighbour lie on either side of a level.
pub fn region_rgba(p: &[f32], pixels: usize) -> Vec<u8> {
    assert_eq!(p.len(), pixels * pixels, "a square grid of probabilities");
    let mut out = Vec::with_capacity(4 * p.len());
    let at = |r: usize, c: usize| p[r * pixels + c];
    for r in 0..pixels {
        for c in 0..pixels {
            let v = at(r, c);
            let crosses = |level: f32| {
                let side = v >= level;
                let neighbours = [(r.wrapping_sub(1), c), (r + 1, c), (r, c.wrapping_sub(1)), (r, c + 1)];
                neighbours.iter().any(|&(nr, nc)| nr < pixels && nc < pixels && (at(nr, nc) >= level) != side)
            };
            let colour = match CONTOURS.iter().find(|(level, _)| crosses(*level)) {
                Some((_, line)) => *line,
                None => {
                    let t = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.5 };
                    std::array::from_fn(|k| (CLASS0_BG[k] + (CLASS1_BG[k] - CLASS0_BG[k]) * t).round() as u8)
                }
            };
            out.extend_from_slice(&[colour[0], colour[1], colour[2], 255]);
        }
    }
    out
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::{write_fig2, Panel};

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::path::Path;

    use super::super::text::{self, Canvas, HAlign, VAlign};
    use super::{region_rgba, CLASS_COLOURS};
    use crate::data::toy::{ToySet, EXTENT};
    use crate::Result;

    /// One panel: its title, a line of figures under it, and p(class 1) on a square grid.
    pub struct Panel {
        pub title: String,
        pub caption: String,
        pub pixels: usize,
        pub probabilities: Vec<f32>,
    }

    const MARGIN: i32 = 24;
    const GAP: i32 = 36;
    const TITLE_PX: f32 = 20.0;
    const PANEL_TITLE_PX: f32 = 17.0;
    const CAPTION_PX: f32 = 14.0;

    /// Writes the panels side by side, the points over each (outliers ringed in black), under `title`.
    pub fn write_fig2(path: &Path, title: &str, panels: &[Panel], points: &ToySet) -> Result<()> {
        let side = panels.iter().map(|p| p.pixels).max().unwrap_or(1) as i32;
        let n = panels.len().max(1) as i32;
        let (title_h, panel_title_h, caption_h) = (text::line_height(TITLE_PX).ceil() as i32, text::line_height(PANEL_TITLE_PX).ceil() as i32, text::line_height(CAPTION_PX).ceil() as i32);
        let w = (2 * MARGIN + n * side + (n - 1) * GAP) as u32;
        let top = MARGIN + title_h + 12 + panel_title_h + 6;
        let h = (top + side + 8 + caption_h + MARGIN) as u32;
        let mut buf = vec![255u8; (w * h * 3) as usize];
        let mut labels = vec![(title.to_string(), TITLE_PX, (w as i32 / 2, MARGIN), HAlign::Center)];
        for (k, panel) in panels.iter().enumerate() {
            let x0 = MARGIN + k as i32 * (side + GAP);
            let rgba = region_rgba(&panel.probabilities, panel.pixels);
            // The region image, nearest-neighbour scaled to the panel's side.
            for y in 0..side {
                for x in 0..side {
                    let (r, c) = (y as usize * panel.pixels / side as usize, x as usize * panel.pixels / side as usize);
                    let s = 4 * (r * panel.pixels + c);
                    let d = 3 * ((top + y) as usize * w as usize + (x0 + x) as usize);
                    buf[d..d + 3].copy_from_slice(&rgba[s..s + 3]);
                }
            }
            let to_px = |v: f32| (v + EXTENT) / (2.0 * EXTENT) * side as f32;
            for i in 0..points.len() {
                let (px, py) = (x0 as f32 + to_px(points.xy[2 * i]), top as f32 + side as f32 - to_px(points.xy[2 * i + 1]));
                let colour = CLASS_COLOURS[points.labels[i].min(1) as usize];
                if points.outlier[i] {
                    disc(&mut buf, w, (px, py), 7.0, [0, 0, 0]);
                }
                disc(&mut buf, w, (px, py), 4.6, [255, 255, 255]);
                disc(&mut buf, w, (px, py), 3.4, colour);
            }
            labels.push((panel.title.clone(), PANEL_TITLE_PX, (x0 + side / 2, top - panel_title_h - 4), HAlign::Center));
            labels.push((panel.caption.clone(), CAPTION_PX, (x0 + side / 2, top + side + 8), HAlign::Center));
        }
        let mut cv = Canvas { buf: &mut buf, w, h };
        for (t, size, pos, ha) in labels {
            cv.text(&t, size, pos, ha, VAlign::Top, [20, 20, 20], false);
        }
        super::super::plot::save_png_sized(path, buf, (w, h))
    }

    /// A filled disc with an anti-aliased edge.
    fn disc(buf: &mut [u8], w: u32, (cx, cy): (f32, f32), radius: f32, colour: [u8; 3]) {
        let h = (buf.len() / 3) as i32 / w as i32;
        let r = radius.ceil() as i32 + 1;
        for y in (cy as i32 - r)..=(cy as i32 + r) {
            for x in (cx as i32 - r)..=(cx as i32 + r) {
                if x < 0 || y < 0 || x >= w as i32 || y >= h {
                    continue;
                }
                let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
                let a = (radius - d + 0.5).clamp(0.0, 1.0);
                if a > 0.0 {
                    let i = 3 * (y as usize * w as usize + x as usize);
                    for (dst, c) in buf[i..i + 3].iter_mut().zip(colour) {
                        *dst = (*dst as f32 + (c as f32 - *dst as f32) * a).round() as u8;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_contours_sit_where_the_probability_crosses_their_level() {
        // p rises left to right across a 20-pixel row: 0.025, 0.075, …, 0.975.
        let n = 20;
        let p: Vec<f32> = (0..n * n).map(|i| ((i % n) as f32 + 0.5) / n as f32).collect();
        let img = region_rgba(&p, n);
        let rgb = |c: usize| [img[4 * c], img[4 * c + 1], img[4 * c + 2]];
        // Level 0.5 lies between columns 9 (0.475) and 10 (0.525): both are on the white line.
        assert_eq!(rgb(9), [255, 255, 255]);
        assert_eq!(rgb(10), [255, 255, 255]);
        assert_eq!(rgb(4), CONTOURS[0].1, "0.25 between columns 4 and 5");
        assert_eq!(rgb(15), CONTOURS[2].1, "0.75 between columns 14 and 15");
        // Away from the lines: the background, bluer on the left, redder on the right.
        let (left, right) = (rgb(1), rgb(18));
        assert!(left[2] > left[0] && right[0] > right[2], "{left:?} {right:?}");
        assert!(img.chunks(4).all(|px| px[3] == 255));
    }
}
