//! The terminal progress bar: steps, steps/s, ETA and the latest objective and active units.

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

use super::{LogPoint, Progress};

pub struct Bar {
    bar: Mutex<Option<ProgressBar>>,
}

impl Bar {
    pub fn new() -> Self {
        Bar { bar: Mutex::new(None) }
    }
}

impl Default for Bar {
    fn default() -> Self {
        Bar::new()
    }
}

impl Progress for Bar {
    fn start(&self, method: &str, from: u64, to: u64) {
        let pb = ProgressBar::new(to);
        pb.set_style(
            ProgressStyle::with_template("{prefix:>20} [{bar:30}] {pos}/{len} it  {per_sec}  ETA {eta}  {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        pb.set_prefix(method.to_string());
        pb.set_position(from);
        pb.reset_eta();
        *self.bar.lock().unwrap() = Some(pb);
    }

    fn advance(&self, step: u64) {
        if let Some(pb) = &*self.bar.lock().unwrap() {
            pb.set_position(step);
        }
    }

    fn point(&self, p: &LogPoint) {
        if let Some(pb) = &*self.bar.lock().unwrap() {
            pb.set_message(format!("objective {:.5}  active {:.1}%  val acc {:.2}%", p.objective, p.active_units, 100.0 * p.val_acc));
        }
    }

    fn message(&self, text: &str) {
        match &*self.bar.lock().unwrap() {
            Some(pb) => pb.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn finish(&self) {
        if let Some(pb) = self.bar.lock().unwrap().take() {
            pb.finish();
        }
    }
}
