//! Text on figures: DejaVu Sans, embedded in the binary (assets/fonts/, licence beside it), laid out
//! with its kerning and side bearings and blended anti-aliased onto an RGB buffer. Figures therefore
//! look the same on every machine, including ones with no fonts installed.
//!
//! plotters' own ab_glyph text path drops each glyph's left side bearing ("wei ght"), so every string
//! on a figure is drawn here instead, after plotters has drawn the lines.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};

const DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    // The bytes are a TrueType file checked in with the source; a parse failure is a build defect.
    FONT.get_or_init(|| FontRef::try_from_slice(DEJAVU_SANS).expect("assets/fonts/DejaVuSans.ttf is a valid font"))
}

/// `size` is the em size in pixels (as in CSS); ab_glyph's scale is the ascent-to-descent height.
fn scale(size: f32) -> PxScale {
    let f = font();
    PxScale::from(size * f.height_unscaled() / f.units_per_em().unwrap_or(2048.0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn superscript_spans() {
        assert_eq!(super::spans("10^{−3}"), vec![("10", false), ("−3", true)]);
        assert_eq!(super::spans("a^{b}c^{"), vec![("a", false), ("b", true), ("c^{", false)]);
        assert_eq!(super::spans("plain"), vec![("plain", false)]);
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HAlign {
    Left,
    Center,
    Right,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VAlign {
    /// The anchor is the top of the line box (ascent).
    Top,
    /// The anchor is the middle of the capital letters and digits: tick labels centre on their tick.
    Middle,
}

/// Width of `text` in pixels at em size `size`.
pub fn width(text: &str, size: f32) -> f32 {
    layout(text, size).0
}

/// Superscripts are written `^{…}` (tick labels 10^{−3}): smaller, raised, and set as real glyphs
/// at a readable size rather than Unicode's tiny superscript digits.
const SUP_SCALE: f32 = 0.72;
const SUP_RAISE: f32 = 0.40;

/// Splits `a^{b}c` into `[(a, false), (b, true), (c, false)]`.
fn spans(text: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("^{") {
        let Some(j) = rest[i..].find('}') else { break };
        out.push((&rest[..i], false));
        out.push((&rest[i + 2..i + j], true));
        rest = &rest[i + j + 1..];
    }
    out.push((rest, false));
    out.retain(|(s, _)| !s.is_empty());
    out
}

/// Height of one line (ascent + descent) in pixels at em size `size`.
pub fn line_height(size: f32) -> f32 {
    let s = font().as_scaled(scale(size));
    s.ascent() - s.descent()
}

/// Glyph positions on a baseline at y = ascent (of the full-size font), and the advance width.
fn layout(text: &str, size: f32) -> (f32, Vec<ab_glyph::Glyph>) {
    let ascent = font().as_scaled(scale(size)).ascent();
    let mut caret = 0.0f32;
    let mut glyphs = Vec::with_capacity(text.len());
    for (span, sup) in spans(text) {
        let s = font().as_scaled(scale(if sup { size * SUP_SCALE } else { size }));
        let baseline = if sup { ascent - SUP_RAISE * size } else { ascent };
        let mut prev = None;
        for c in span.chars() {
            let id = s.glyph_id(c);
            if let Some(p) = prev {
                caret += s.kern(p, id);
            }
            glyphs.push(id.with_scale_and_position(s.scale(), point(caret, baseline)));
            caret += s.h_advance(id);
            prev = Some(id);
        }
    }
    (caret, glyphs)
}

/// An RGB8 image being drawn on.
pub struct Canvas<'a> {
    pub buf: &'a mut [u8],
    pub w: u32,
    pub h: u32,
}

impl Canvas<'_> {
    fn blend(&mut self, x: i32, y: i32, color: [u8; 3], alpha: f32) {
        if x < 0 || y < 0 || x >= self.w as i32 || y >= self.h as i32 || alpha <= 0.0 {
            return;
        }
        let a = alpha.min(1.0);
        let i = 3 * (y as usize * self.w as usize + x as usize);
        for (d, c) in self.buf[i..i + 3].iter_mut().zip(color) {
            *d = (*d as f32 + (c as f32 - *d as f32) * a).round() as u8;
        }
    }

    /// Draws `text` at `(x, y)` aligned as asked. With `vertical`, the text reads bottom to top
    /// (a y-axis title) and the alignment applies to it before rotation.
    #[allow(clippy::too_many_arguments)]
    pub fn text(&mut self, text: &str, size: f32, (x, y): (i32, i32), h: HAlign, v: VAlign, color: [u8; 3], vertical: bool) {
        let s = font().as_scaled(scale(size));
        let (w, glyphs) = layout(text, size);
        let dx = match h {
            HAlign::Left => 0.0,
            HAlign::Center => -w / 2.0,
            HAlign::Right => -w,
        };
        let dy = match v {
            VAlign::Top => 0.0,
            // Cap height of DejaVu Sans is 0.729 em; centre on it.
            VAlign::Middle => -(s.ascent() - 0.729 * size / 2.0),
        };
        for g in glyphs {
            let Some(outline) = font().outline_glyph(g) else { continue };
            let b = outline.px_bounds();
            outline.draw(|gx, gy, cov| {
                // Position in the text's own frame, relative to the anchor.
                let tx = (b.min.x + gx as f32 + dx).round() as i32;
                let ty = (b.min.y + gy as f32 + dy).round() as i32;
                let (px, py) = if vertical { (x + ty, y - tx) } else { (x + tx, y + ty) };
                self.blend(px, py, color, cov);
            });
        }
    }
}
