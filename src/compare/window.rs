//! The window method: a one-sided prediction interval for one more run, from the
//! between-run spread of the baseline runs' log minima.

use crate::model::comparison::{PerfVerdict, WINDOW_ALPHA};

/// The window's prediction interval for one more run, on log values (module docs).
#[derive(Debug, Clone, Copy)]
pub struct Prediction {
    /// Mean and standard deviation of the logs.
    pub mean: f64,
    pub spread: f64,
    /// Half-width: t(1 − α, n − 1)·s·√(1 + 1/n).
    pub half: f64,
}

impl Prediction {
    /// Of at least two positive values (medians in ns, or throughputs: the interval
    /// of a reciprocal is the reciprocal's).
    pub fn of(values: &[f64]) -> Prediction {
        use statrs::distribution::{ContinuousCDF, StudentsT};
        let n = values.len() as f64;
        let logs: Vec<f64> = values.iter().map(|m| m.ln()).collect();
        let mean = logs.iter().sum::<f64>() / n;
        let spread = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let t = StudentsT::new(0.0, 1.0, n - 1.0)
            .expect("n ≥ 2 degrees of freedom")
            .inverse_cdf(1.0 - WINDOW_ALPHA);
        Prediction {
            mean,
            spread,
            half: t * spread * (1.0 + 1.0 / n).sqrt(),
        }
    }

    /// The interval's ends, back from logs.
    pub fn bounds(&self) -> (f64, f64) {
        ((self.mean - self.half).exp(), (self.mean + self.half).exp())
    }

    /// The window verdict for a run whose summary (its fastest sample, ns) is
    /// `current`, with its ratio to the window's centre. See the module docs.
    pub fn verdict(&self, current: f64, threshold: f64) -> (PerfVerdict, f64) {
        let d = current.ln() - self.mean;
        let ratio = d.exp();
        let verdict = if ratio > 1.0 + threshold {
            if d > self.half {
                PerfVerdict::Slower
            } else {
                PerfVerdict::Inconclusive
            }
        } else if ratio < 1.0 - threshold {
            if d < -self.half {
                PerfVerdict::Faster
            } else {
                PerfVerdict::Inconclusive
            }
        } else {
            PerfVerdict::Unchanged
        };
        (verdict, ratio)
    }
}
