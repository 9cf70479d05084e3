//! Heat maps of a grid search: one panel per method (rows = learning rates, columns = λ), each cell
//! coloured by its value on one scale shared by all panels (so panels compare), annotated with the number,
//! diverged cells hatched grey, missing ones left blank with a dash, and one cell per panel outlined (the
//! selected point). A colour bar on the right gives the scale. Text goes through `super::text` like
//! every other figure; the image size follows the grid.

use std::path::Path;

use plotters::prelude::*;

use super::text::{self, Canvas, HAlign, VAlign};
use crate::Result;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell {
    Value(f64),
    Diverged,
    Missing,
}

pub struct Panel {
    pub title: String,
    /// One per row, top to bottom.
    pub row_labels: Vec<String>,
    /// One per column, left to right.
    pub col_labels: Vec<String>,
    /// `cells[row][col]`.
    pub cells: Vec<Vec<Cell>>,
    /// (row, col) to outline.
    pub selected: Option<(usize, usize)>,
}

pub struct HeatMaps {
    pub title: String,
    pub subtitle: String,
    pub row_axis: String,
    pub col_axis: String,
    /// Decimals of the cell annotations.
    pub digits: usize,
    pub panels: Vec<Panel>,
}

const CELL_W: i32 = 62;
const CELL_H: i32 = 40;
const MARGIN: i32 = 24;
const TITLE_PX: f32 = 22.0;
const SUBTITLE_PX: f32 = 14.0;
const PANEL_TITLE_PX: f32 = 17.0;
const LABEL_PX: f32 = 13.0;
const AXIS_PX: f32 = 15.0;
const CELL_PX: f32 = 13.0;
const BAR_W: i32 = 18;
const TEXT: [u8; 3] = [0, 0, 0];
const SUBTEXT: [u8; 3] = [85, 85, 85];
const DIVERGED: [u8; 3] = [200, 200, 200];

/// Viridis at 9 stops (matplotlib's), interpolated linearly: perceptually ordered and colour-blind safe.
const VIRIDIS: [[u8; 3]; 9] = [
    [68, 1, 84],
    [71, 44, 122],
    [59, 81, 139],
    [44, 113, 142],
    [33, 144, 141],
    [39, 173, 129],
    [92, 200, 99],
    [170, 220, 50],
    [253, 231, 37],
];

/// The colour of `t` ∈ [0, 1] (clamped).
pub fn viridis(t: f64) -> [u8; 3] {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    [0, 1, 2].map(|k| (a[k] as f64 + f * (b[k] as f64 - a[k] as f64)).round() as u8)
}

/// Dark text on light cells, white on dark ones.
fn ink(c: [u8; 3]) -> [u8; 3] {
    let luma = 0.299 * c[0] as f64 + 0.587 * c[1] as f64 + 0.114 * c[2] as f64;
    if luma > 140.0 { TEXT } else { [255, 255, 255] }
}

impl HeatMaps {
    /// The colour scale: the smallest and largest finite value over all panels.
    fn range(&self) -> Option<(f64, f64)> {
        let vals = self.panels.iter().flat_map(|p| p.cells.iter().flatten()).filter_map(|c| match c {
            Cell::Value(v) if v.is_finite() => Some(*v),
            _ => None,
        });
        vals.fold(None, |acc, v| Some(acc.map_or((v, v), |(a, b): (f64, f64)| (a.min(v), b.max(v)))))
    }

    /// Image size in pixels and the RGB8 pixels.
    pub fn draw(&self) -> ((u32, u32), Vec<u8>) {
        let rows = self.panels.iter().map(|p| p.row_labels.len()).max().unwrap_or(0).max(1) as i32;
        let cols = self.panels.iter().map(|p| p.col_labels.len()).max().unwrap_or(0).max(1) as i32;
        let row_label_w = self
            .panels
            .iter()
            .flat_map(|p| p.row_labels.iter())
            .map(|l| text::width(l, LABEL_PX).ceil() as i32)
            .max()
            .unwrap_or(0);
        let axis_h = text::line_height(AXIS_PX).ceil() as i32;
        let label_h = text::line_height(LABEL_PX).ceil() as i32;
        // Per panel: the row-axis title, the row labels, then the cells.
        let left_of_cells = axis_h + 8 + row_label_w + 8;
        let panel_w = left_of_cells + cols * CELL_W;
        let header = 12 + text::line_height(TITLE_PX).ceil() as i32 + 3 + text::line_height(SUBTITLE_PX).ceil() as i32 + 14;
        let panel_title_h = text::line_height(PANEL_TITLE_PX).ceil() as i32 + 6;
        let grid_top = header + panel_title_h;
        let grid_h = rows * CELL_H;
        let bar_block = 30 + BAR_W + 8 + text::width("100.00", LABEL_PX).ceil() as i32;
        let n = self.panels.len().max(1) as i32;
        let content_w = n * panel_w + (n - 1) * 36 + bar_block;
        let title_w = text::width(&self.title, TITLE_PX).max(text::width(&self.subtitle, SUBTITLE_PX)).ceil() as i32;
        let w = (content_w.max(title_w) + 2 * MARGIN) as u32;
        let h = (grid_top + grid_h + 6 + label_h + 6 + axis_h + MARGIN) as u32;
        let wi = w as i32;
        let x_start = (wi - content_w) / 2;
        let range = self.range();
        let scale = |v: f64| match range {
            Some((a, b)) if b > a => (v - a) / (b - a),
            _ => 0.5,
        };

        let mut buf = vec![255u8; (w * h * 3) as usize];
        // (text, size, position, alignment, colour, vertical)
        type Label = (String, f32, (i32, i32), HAlign, VAlign, [u8; 3], bool);
        let mut labels: Vec<Label> = Vec::new();
        {
            // Errors from plotters' bitmap backend can only be out-of-buffer writes, which it clips.
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            let rgb = |c: [u8; 3]| RGBColor(c[0], c[1], c[2]);
            for (k, p) in self.panels.iter().enumerate() {
                let px = x_start + k as i32 * (panel_w + 36);
                let gx = px + left_of_cells;
                let pw = p.col_labels.len() as i32 * CELL_W;
                labels.push((p.title.clone(), PANEL_TITLE_PX, (gx + pw / 2, header), HAlign::Center, VAlign::Top, TEXT, false));
                for (r, row) in p.cells.iter().enumerate() {
                    for (c, cell) in row.iter().enumerate() {
                        let (x0, y0) = (gx + c as i32 * CELL_W, grid_top + r as i32 * CELL_H);
                        let (x1, y1) = (x0 + CELL_W, y0 + CELL_H);
                        let centre = ((x0 + x1) / 2, (y0 + y1) / 2);
                        match *cell {
                            Cell::Value(v) => {
                                let color = viridis(scale(v));
                                let _ = root.draw(&Rectangle::new([(x0, y0), (x1, y1)], rgb(color).filled()));
                                labels.push((format!("{v:.d$}", d = self.digits), CELL_PX, centre, HAlign::Center, VAlign::Middle, ink(color), false));
                            }
                            Cell::Diverged => {
                                let _ = root.draw(&Rectangle::new([(x0, y0), (x1, y1)], rgb(DIVERGED).filled()));
                                // Hatching: diagonal strokes clipped to the cell.
                                for s in (-CELL_H..CELL_W).step_by(8) {
                                    // The line x − x0 = s + (y1 − y), cut to the cell's columns.
                                    let a = if s < 0 { (x0, y1 + s) } else { (x0 + s, y1) };
                                    let over = s + CELL_H - CELL_W;
                                    let b = if over > 0 { (x1, y0 + over) } else { (x0 + s + CELL_H, y0) };
                                    let _ = root.draw(&PathElement::new(vec![a, b], RGBColor(170, 170, 170).stroke_width(1)));
                                }
                                labels.push(("diverged".into(), 11.0, centre, HAlign::Center, VAlign::Middle, TEXT, false));
                            }
                            Cell::Missing => {
                                labels.push(("—".into(), CELL_PX, centre, HAlign::Center, VAlign::Middle, SUBTEXT, false));
                            }
                        }
                        let _ = root.draw(&Rectangle::new([(x0, y0), (x1, y1)], RGBColor(255, 255, 255).stroke_width(1)));
                    }
                }
                if let Some((r, c)) = p.selected {
                    let (x0, y0) = (gx + c as i32 * CELL_W, grid_top + r as i32 * CELL_H);
                    for d in 0..3 {
                        let _ = root.draw(&Rectangle::new([(x0 + d, y0 + d), (x0 + CELL_W - d, y0 + CELL_H - d)], BLACK.stroke_width(1)));
                    }
                }
                for (r, l) in p.row_labels.iter().enumerate() {
                    let y = grid_top + r as i32 * CELL_H + CELL_H / 2;
                    labels.push((l.clone(), LABEL_PX, (gx - 8, y), HAlign::Right, VAlign::Middle, TEXT, false));
                }
                for (c, l) in p.col_labels.iter().enumerate() {
                    let x = gx + c as i32 * CELL_W + CELL_W / 2;
                    labels.push((l.clone(), LABEL_PX, (x, grid_top + grid_h + 6), HAlign::Center, VAlign::Top, TEXT, false));
                }
                labels.push((self.col_axis.clone(), AXIS_PX, (gx + pw / 2, grid_top + grid_h + 6 + label_h + 6), HAlign::Center, VAlign::Top, TEXT, false));
                let rows_h = p.row_labels.len() as i32 * CELL_H;
                labels.push((self.row_axis.clone(), AXIS_PX, (px, grid_top + rows_h / 2), HAlign::Center, VAlign::Top, TEXT, true));
            }
            // Colour bar: low at the bottom, high at the top.
            if let Some((a, b)) = range {
                let bx = x_start + n * panel_w + (n - 1) * 36 + 30;
                for y in 0..grid_h {
                    let t = 1.0 - y as f64 / (grid_h - 1).max(1) as f64;
                    let _ = root.draw(&PathElement::new(vec![(bx, grid_top + y), (bx + BAR_W, grid_top + y)], rgb(viridis(t)).stroke_width(1)));
                }
                let _ = root.draw(&Rectangle::new([(bx, grid_top), (bx + BAR_W, grid_top + grid_h)], BLACK.stroke_width(1)));
                let fmt = |v: f64| format!("{v:.d$}", d = self.digits);
                labels.push((fmt(b), LABEL_PX, (bx + BAR_W + 6, grid_top + 6), HAlign::Left, VAlign::Middle, TEXT, false));
                labels.push((fmt(a), LABEL_PX, (bx + BAR_W + 6, grid_top + grid_h - 6), HAlign::Left, VAlign::Middle, TEXT, false));
                // The colour bar needs no title of its own: the figure's title names the value.
            }
            let _ = root.present();
        }
        let mut cv = Canvas { buf: &mut buf, w, h };
        cv.text(&self.title, TITLE_PX, (wi / 2, 12), HAlign::Center, VAlign::Top, TEXT, false);
        let sub_top = 12 + text::line_height(TITLE_PX).ceil() as i32 + 3;
        cv.text(&self.subtitle, SUBTITLE_PX, (wi / 2, sub_top), HAlign::Center, VAlign::Top, SUBTEXT, false);
        for (t, size, pos, ha, va, color, vertical) in labels {
            cv.text(&t, size, pos, ha, va, color, vertical);
        }
        ((w, h), buf)
    }

    /// Draws and writes the PNG (through a temporary file and a rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let (size, buf) = self.draw();
        super::plot::save_png_sized(path, buf, size)
    }
}
