//! `pathprox export --compact CHECKPOINT OUT`: writes the network without its dead units
//! (`analysis::compact`) in the same PyTorch naming, with its widths in the metadata.

use std::path::Path;

use crate::analysis::compact::{self, Compact};
use crate::analysis::model_file;
use crate::error::Result;
use crate::train::checkpoint::Checkpoint;

/// Compacts `input` into `out` and returns what was removed.
pub fn export_compact(input: &Path, out: &Path) -> Result<Compact> {
    let ck = Checkpoint::load(input)?;
    let spec = model_file::spec_of(&ck, &input.display().to_string())?;
    let mut c = compact::compact(&ck, &spec)?;
    c.checkpoint.metadata.insert("compact_of".into(), input.display().to_string());
    c.checkpoint.save(out)?;
    Ok(c)
}

/// What `export --compact` prints.
pub fn describe(c: &Compact) -> String {
    let join = |w: &[usize]| w.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("-");
    let mut s = format!(
        "widths {} → {}\nparameters {} → {} ({:.1}% of the original)\n",
        join(&c.widths_before),
        join(&c.spec.widths()),
        c.params_before,
        c.params_after,
        100.0 * c.params_after as f64 / c.params_before.max(1) as f64
    );
    let names = c.spec.param_names();
    for (&(wl, vl), &(units, removed, folded)) in c.spec.units.iter().zip(&c.removed) {
        s += &format!("units of layers {}→{}: {removed} of {units} removed ({folded} with a constant output folded into {}.bias)\n", names[wl], names[vl], names[vl]);
    }
    s
}
