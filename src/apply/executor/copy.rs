//! The copy of one volume, with the snapshot watchdog beside it: the copy
//! stops at the next chunk once the snapshot overflowed or a signal came.

use super::*;

impl Executor<'_> {
    pub(super) fn copy(
        &mut self,
        volume: &str,
        snapshot: &LvPath,
        backup: &LvPath,
        bandwidth: Bandwidth,
        verify: bool,
    ) -> Result<(), StepError> {
        let started = Instant::now();
        // A look at every snapshot before the copy starts: the one about
        // to be read has filled while it waited.
        self.grower.look(self.sys);
        let limit = match self.options.bandwidth.unwrap_or(bandwidth) {
            Bandwidth::Unlimited => None,
            Bandwidth::BytesPerSecond(n) => Some(n),
        };
        // A thin snapshot: record it, and read only what changed since the
        // origin's base when there is one to trust.
        let report = self.sys.report()?;
        let basis_started = Instant::now();
        let basis = crate::apply::incremental::thin_basis(
            self.sys,
            &self.compiled.plan().name,
            snapshot,
            &report,
        );
        if let Some(reason) = &basis.full_read {
            tracing::info!(volume, "full read: {reason}");
        }
        if basis.base.is_some() {
            tracing::info!(
                volume,
                "thin snapshot: ids and delta in {:.2} s",
                basis_started.elapsed().as_secs_f64()
            );
        }
        let thin_changed = basis
            .changed
            .as_ref()
            .map(|c| c.ranges.iter().map(|r| r.len).sum::<u64>());
        let mut job = CopyJob {
            volume: volume.to_string(),
            source: device_path(snapshot),
            destination: device_path(backup),
            manifest: (self.manifest_for)(volume),
            bytes_per_second: limit,
            base: basis.base,
            changed: basis.changed,
            mapped: basis.mapped,
            previous_manifest: None,
            destination_tag: None,
            destination_snapshot_of: None,
            destination_zeroed: false,
        };
        self.generation_copy(volume, &mut job)?;
        if let Some(dir) = job.manifest.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let watch = Watch {
            target_pool: self.generations.get(volume).map(|made| {
                let threshold = self
                    .compiled
                    .plan()
                    .target
                    .generations
                    .as_ref()
                    .map_or(crate::plan::DEFAULT_POOL_THRESHOLD, |g| g.threshold_percent);
                (made.pool.clone(), f64::from(threshold))
            }),
            ..Watch::default()
        };
        let cancel = AtomicBool::new(false);
        let done = AtomicBool::new(false);
        let sys = self.sys;
        let interrupt = self.interrupt;
        let interval = self.options.watchdog_interval;
        let sink: Box<dyn ProgressSink> = if self.options.progress {
            crate::copy::progress::sink_for(crate::copy::progress::ProgressMode::Auto)
        } else {
            Box::new(NoProgress)
        };
        // Shared with the grower, which may lift the throttle when the
        // snapshot can grow no more and a full-speed copy ends first.
        let shared = std::sync::Arc::new(CopyState::new(limit.is_some()));
        self.grower.set_copy(volume, Some(shared.clone()));
        let recorder = Recorder {
            inner: sink.as_ref(),
            last: std::sync::Mutex::new(None),
            journal: std::sync::Mutex::new((&mut *self.journal, Instant::now())),
            volume,
            shared: &shared,
        };
        // Per chunk: stop as soon as the watchdog saw the snapshot invalid;
        // after the last chunk, look once more: the hard gate.
        let check = |chunk: &ChunkRead| -> Result<(), String> {
            if watch.invalid.load(Ordering::SeqCst) {
                return Err(watch.reason().unwrap_or_else(|| "snapshot invalid".into()));
            }
            if chunk.last {
                watch.sample(sys, volume, snapshot)?;
            }
            Ok(())
        };
        let result = std::thread::scope(|s| {
            let _stop = SetOnDrop(&done);
            super::span::spawn_in_span(s, || {
                watchdog::run(
                    sys, volume, snapshot, interval, &watch, interrupt, &cancel, &done,
                )
            });
            let control = CopyControl {
                cancel: &cancel,
                progress: &recorder,
                source_check: Some(&check),
                throttle: Some(&shared.switch),
            };
            sys.copy(&job, &control)
        });
        let checked = match result {
            Err(_) if watch.invalid.load(Ordering::SeqCst) => {
                Err(StepError::Failed(watch.reason().unwrap_or_default()))
            }
            Err(CopyFailure::Cancelled) => Err(StepError::Interrupted),
            Err(CopyFailure::Failed(_)) if self.interrupt.load(Ordering::SeqCst) => {
                Err(StepError::Interrupted)
            }
            Err(CopyFailure::Failed(why)) => {
                // An overflowed snapshot answers reads with I/O errors: say
                // what really happened when that is it.
                match watch.sample(sys, volume, snapshot) {
                    Err(_) if watch.invalid.load(Ordering::SeqCst) => Err(StepError::Failed(
                        format!("{} (the copy: {why})", watch.reason().unwrap_or_default()),
                    )),
                    _ => Err(StepError::Failed(why.to_string())),
                }
            }
            // The hard gate, once more after the copy returned (an empty
            // source never calls the per-chunk check).
            Ok(stats) => watch
                .sample(sys, volume, snapshot)
                .map(|()| stats)
                .map_err(StepError::Failed),
        };
        self.grower.set_copy(volume, None);
        let progress = *recorder.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = self.volume_mut(volume) {
            v.snapshot_peak_percent = watch.peak();
            v.thin_changed_bytes = thin_changed;
            v.duration_seconds = started.elapsed().as_secs_f64();
            // What a stopped copy had done: the backup LV was touched.
            if let Some(p) = progress {
                v.size_bytes = p.total;
                v.bytes_written = p.written;
            }
        }
        let stats = checked?;
        if let Some(v) = self.volume_mut(volume) {
            v.size_bytes = stats.size;
            v.bytes_written = stats.bytes_written;
            v.snapshot_peak_percent = watch.peak();
            if !verify {
                v.status = VolumeStatus::Ok;
            }
        }
        tracing::info!(
            volume,
            "copied {} bytes ({} written), snapshot peak {}",
            stats.size,
            stats.bytes_written,
            watch
                .peak()
                .map(|p| format!("{p:.1}%"))
                .unwrap_or_else(|| "unknown".into())
        );
        Ok(())
    }
}

/// Passes progress on and keeps the last update: how far a copy got. The
/// copy's progress also goes to the journal now and then, so the record of
/// a run that dies mid-copy says how far it got.
struct Recorder<'a> {
    inner: &'a dyn ProgressSink,
    last: std::sync::Mutex<Option<ProgressUpdate>>,
    /// The journal and when progress last went to it.
    journal: std::sync::Mutex<(&'a mut Journal, Instant)>,
    volume: &'a str,
    shared: &'a CopyState,
}

impl ProgressSink for Recorder<'_> {
    fn update(&self, update: &ProgressUpdate) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(*update);
        if update.phase == crate::copy::progress::Phase::Copy {
            let mut journal = self.journal.lock().unwrap_or_else(|e| e.into_inner());
            if journal.1.elapsed() >= events::PROGRESS_EVERY {
                journal.1 = Instant::now();
                events::append_best_effort(
                    journal.0,
                    &Event::CopyProgress {
                        volume: self.volume.to_string(),
                        done: update.done,
                        total: update.total,
                        written: update.written,
                        at: events::now(),
                    },
                );
            }
        }
        self.shared.total.store(update.total, Ordering::SeqCst);
        self.inner.update(update);
    }

    fn finish(&self, update: &ProgressUpdate) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(*update);
        self.inner.finish(update);
    }
}

struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
