//! The summary table of a run: one row per method, as plain text that is also a Markdown table, so it
//! reads in a terminal and pastes into a README unchanged.

use super::{MethodLog, Metric, Run, SparsityLog, display_name};

/// A table that reads in a terminal and is also Markdown: columns padded to their widest cell, the first
/// (a name) left-aligned, the others (numbers) right-aligned, with a Markdown rule under the header.
pub(crate) fn markdown_table(head: &[String], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..head.len()).map(|i| rows.iter().map(|r| r[i].chars().count()).chain([head[i].chars().count()]).max().unwrap_or(0)).collect();
    let line = |cells: &[String]| {
        let cells: Vec<String> =
            cells.iter().enumerate().map(|(i, c)| if i == 0 { format!("{c:<w$}", w = widths[i]) } else { format!("{c:>w$}", w = widths[i]) }).collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let rule: Vec<String> = widths.iter().enumerate().map(|(i, &w)| if i == 0 { "-".repeat(w + 2) } else { format!("{}:", "-".repeat(w + 1)) }).collect();
    let mut out = line(head) + &format!("|{}|\n", rule.join("|"));
    for r in rows {
        out += &line(r);
    }
    out
}

/// The numbers of one method's row; `None` where the log has no such value.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    pub method: String,
    /// Test accuracy (fraction) at the log point with the best validation accuracy.
    pub test_acc_at_best_val: Option<f64>,
    pub best_val_acc: Option<f64>,
    pub best_val_iter: Option<u64>,
    /// Percent of units active at the last point that logged it.
    pub active_units_end: Option<f64>,
    /// The objective at the last log point; `None` if that point has none (see `diverged_at`).
    pub final_objective: Option<f64>,
    pub diverged_at: Option<u64>,
    /// Seconds, from the last point that logged it.
    pub wall_s: Option<f64>,
}

impl SummaryRow {
    pub fn of(m: &MethodLog) -> Self {
        let best = m.best_validation();
        SummaryRow {
            method: m.method.clone(),
            test_acc_at_best_val: best.map(|b| b.test_acc),
            best_val_acc: best.map(|b| b.val_acc),
            best_val_iter: best.map(|b| b.iter),
            active_units_end: m.last(Metric::ActiveUnits).map(|(_, v)| v),
            // The last line's own value: an earlier finite value would hide a divergence.
            final_objective: m.points.last().and_then(|p| p.get(Metric::Objective)),
            diverged_at: m.diverged_at(),
            wall_s: m.last(Metric::WallS).map(|(_, v)| v),
        }
    }
}

impl Run {
    pub fn summary_rows(&self) -> Vec<SummaryRow> {
        self.methods.iter().map(SummaryRow::of).collect()
    }

    /// The caption line, a blank line, the Markdown table, then notes on diverged runs and skipped lines.
    pub fn summary_table(&self) -> String {
        const HEAD: [&str; 7] = [
            "method",
            "test acc. at best val.",
            "best val. acc.",
            "at iter",
            "active units (end)",
            "final objective",
            "wall time",
        ];
        let dash = || "—".to_string();
        let pct = |x: Option<f64>, digits: usize| x.map_or_else(dash, |x| format!("{:.digits$}%", x));
        let mut rows: Vec<[String; 7]> = Vec::new();
        for r in self.summary_rows() {
            if let Some(it) = r.diverged_at {
                // Figures from before the divergence would read like a result: the row says what happened.
                let diverged = format!("diverged at {}", thousands(it));
                rows.push([display_name(&r.method), diverged.clone(), dash(), dash(), dash(), diverged, r.wall_s.map_or_else(dash, duration)]);
                continue;
            }
            let objective = match (r.final_objective, r.diverged_at) {
                (Some(x), _) => objective(x),
                (None, Some(it)) => format!("diverged at {}", thousands(it)),
                (None, None) => dash(),
            };
            rows.push([
                display_name(&r.method),
                pct(r.test_acc_at_best_val.map(|x| 100.0 * x), 2),
                pct(r.best_val_acc.map(|x| 100.0 * x), 2),
                r.best_val_iter.map_or_else(dash, thousands),
                pct(r.active_units_end, 1),
                objective,
                r.wall_s.map_or_else(dash, duration),
            ]);
        }
        let mut out = format!("{}\n\n", self.config.caption());
        if rows.is_empty() {
            return match &self.sparsity {
                Some(s) => out + &self.sparsity_table(s),
                None => out + "(no <method>.jsonl log in this run)\n",
            };
        }
        let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
        out += &markdown_table(&HEAD.map(String::from), &rows);
        let mut notes = Vec::new();
        for m in &self.methods {
            if let Some(it) = m.diverged_at() {
                notes.push(format!("{}: diverged (NaN/inf logged) at iteration {}.", display_name(&m.method), thousands(it)));
            }
            if !m.skipped_lines.is_empty() {
                notes.push(format!("{}.jsonl: skipped unreadable line(s) {:?}.", m.method, m.skipped_lines));
            }
        }
        if !notes.is_empty() {
            out += "\n";
            for n in notes {
                out += &format!("{n}\n");
            }
        }
        if let Some(s) = &self.sparsity {
            out += "\n";
            out += &self.sparsity_table(s);
        }
        out
    }

    /// Task 5's table: per method, the best test accuracy among its retrained models with at least each
    /// sparsity level (the levels of config.json's `levels`, else those the models reached, rounded).
    pub fn sparsity_table(&self, s: &SparsityLog) -> String {
        let mut levels: Vec<f64> = match self.config.extra.get("levels").and_then(|v| v.as_array()) {
            Some(v) => v.iter().filter_map(|x| x.as_f64()).collect(),
            None => s.points.iter().map(|p| p.sparsity.floor()).collect(),
        };
        levels.sort_by(f64::total_cmp);
        levels.dedup();
        let mut head = vec!["method".to_string()];
        head.extend(levels.iter().map(|l| format!("≥{}%", super::num(*l))));
        let mut rows = vec![head];
        for m in s.methods() {
            let frontier = s.frontier(&m);
            let mut row = vec![display_name(&m)];
            for &l in &levels {
                // The frontier is non-increasing: the first point at or above the level is the best there.
                let best = frontier.iter().find(|(x, _)| *x >= l - 1e-9).map(|(_, a)| *a);
                row.push(best.map_or_else(|| "—".into(), |a| format!("{:.2}", 100.0 * a)));
            }
            rows.push(row);
        }
        let mut out = "Best test accuracy (%) of a retrained model with at least this sparsity (% of units removed):\n\n".to_string();
        out += &markdown_table(&rows[0], &rows[1..]);
        if !s.skipped_lines.is_empty() {
            out += &format!("\nsparsity.jsonl: skipped unreadable line(s) {:?}.\n", s.skipped_lines);
        }
        out
    }
}

/// Reads `run_dir` and returns its summary table (see [`Run::summary_table`]).
#[cfg(not(target_arch = "wasm32"))]
pub fn summary_table(run_dir: &std::path::Path) -> crate::Result<String> {
    Ok(Run::load(run_dir)?.summary_table())
}

/// 4 significant digits, in plain decimals where that stays short (0.004212, 2.303), else 1.234e-5.
fn objective(x: f64) -> String {
    if x == 0.0 || (1e-3..1e4).contains(&x.abs()) {
        let digits = (3 - x.abs().log10().floor() as i32).max(0) as usize;
        format!("{x:.digits$}")
    } else {
        format!("{x:.3e}")
    }
}

/// 100000 → "100,000".
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// 42.3 → "42.3 s", 725 → "12 min 05 s", 7384 → "2 h 03 min".
fn duration(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        let t = s.round() as u64;
        format!("{} min {:02} s", t / 60, t % 60)
    } else {
        let m = (s / 60.0).round() as u64;
        format!("{} h {:02} min", m / 60, m % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(objective(0.0042123), "0.004212");
        assert_eq!(objective(2.30751), "2.308");
        assert_eq!(objective(1.5e-5), "1.500e-5");
        assert_eq!(thousands(100000), "100,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(duration(725.0), "12 min 05 s");
        assert_eq!(duration(7384.0), "2 h 03 min");
    }
}
