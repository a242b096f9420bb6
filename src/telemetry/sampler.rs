//! Snapshots on a thread of their own while the run works.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Monitor;
use crate::model::GpuSnapshot;

impl Monitor {
    /// Snapshots every `period` on a thread of its own until the sampler is stopped,
    /// each stamped with its time since `t0`. Nothing is sampled without a source.
    pub fn sample_every(self: &Arc<Self>, period: Duration, t0: Instant) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let handle = self.reader.is_some().then(|| {
            let (me, stop, samples) = (self.clone(), stop.clone(), samples.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(mut s) = me.snapshot() {
                        s.at_ms = Some(t0.elapsed().as_millis() as u64);
                        samples.lock().unwrap_or_else(|e| e.into_inner()).push(s);
                    }
                    std::thread::sleep(period);
                }
            })
        });
        Sampler {
            stop,
            samples,
            handle,
        }
    }
}

/// A running [`Monitor::sample_every`].
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<GpuSnapshot>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    /// The samples taken after the first `from` (the sampler keeps running).
    pub fn since(&self, from: usize) -> Vec<GpuSnapshot> {
        let all = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        all.get(from..).unwrap_or_default().to_vec()
    }

    /// Stops sampling and returns every sample.
    pub fn finish(mut self) -> Vec<GpuSnapshot> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
