//! The test pattern as a source.

use super::{Pacer, Pacing, SourceConfig, SourceId, VideoSource};
use crate::error::Result;
use crate::frame::Frame;
use crate::pattern;

/// The moving test pattern ([`crate::pattern`]), frame counter from 0 (or
/// [`PatternSource::starting_at`]), one frame per interval.
#[derive(Debug)]
pub struct PatternSource {
    id: SourceId,
    config: SourceConfig,
    pacer: Pacer,
    counter: u32,
}

impl PatternSource {
    /// A pattern of `config.width` × `config.height` at `config.fps`.
    pub fn new(config: SourceConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            id: SourceId::Pattern,
            pacer: Pacer::new(config.pacing, config.interval()),
            config,
            counter: 0,
        })
    }

    /// Start counting at `counter` instead of 0.
    pub fn starting_at(mut self, counter: u32) -> Self {
        self.counter = counter;
        self
    }

    /// The counter the next frame will carry.
    pub fn next_counter(&self) -> u32 {
        self.counter
    }
}

impl VideoSource for PatternSource {
    fn id(&self) -> &SourceId {
        &self.id
    }

    fn read_frame(&mut self, frame: &mut Frame) -> Result<()> {
        self.pacer.wait();
        frame.resize(self.config.width, self.config.height)?;
        pattern::draw(frame, self.counter);
        frame.timestamp_us = match self.config.pacing {
            Pacing::RealTime => self.config.clock.now_us(),
            Pacing::Unpaced => u64::from(self.counter) * 1_000_000 / u64::from(self.config.fps),
        };
        self.counter = self.counter.wrapping_add(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::frame::Clock;
    use crate::pattern::read_counter;
    use crate::source::open_source;

    #[test]
    fn unpaced_frames_count_up_with_virtual_timestamps() {
        let config = SourceConfig {
            width: 320,
            height: 180,
            fps: 25,
            pacing: Pacing::Unpaced,
            clock: Clock::new(),
        };
        let mut source = PatternSource::new(config).unwrap().starting_at(7);
        let mut frame = Frame::new(2, 2).unwrap();
        for n in 7..17 {
            source.read_frame(&mut frame).unwrap();
            assert_eq!((frame.width(), frame.height()), (320, 180));
            assert_eq!(read_counter(&frame), Some(n));
            assert_eq!(frame.timestamp_us, u64::from(n) * 40_000);
        }
        assert_eq!(source.next_counter(), 17);
        assert_eq!(source.id().to_string(), "pattern");
    }

    #[test]
    fn real_time_frames_come_at_the_frame_rate_stamped_by_the_clock() {
        let clock = Clock::new();
        let config = SourceConfig {
            width: 160,
            height: 90,
            fps: 50,
            pacing: Pacing::RealTime,
            clock,
        };
        let mut source = open_source(&SourceId::Pattern, config).unwrap();
        let mut frame = Frame::new(2, 2).unwrap();
        let start = Instant::now();
        let mut stamps = Vec::new();
        for n in 0..11 {
            source.read_frame(&mut frame).unwrap();
            assert_eq!(read_counter(&frame), Some(n));
            stamps.push(frame.timestamp_us);
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(200),
            "10 intervals of 20 ms took {took:?}"
        );
        // At least the 10 intervals; the upper bound leaves room for a
        // loaded machine (the pacer restarts its schedule after a stall).
        let span = stamps[10] - stamps[0];
        assert!(
            (195_000..1_000_000).contains(&span),
            "timestamps span {span} µs"
        );
        assert!(stamps.windows(2).all(|w| w[0] < w[1]));
        assert!(stamps[10] <= clock.now_us());
    }
}
