//! WAV file source and sink (crate `hound`). The source accepts any sample
//! rate, channel count and PCM/float format and converts to 48 kHz mono.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::{f32_to_i16, AudioSink, AudioSource, Pacer, Pacing, ReadStatus, StreamResampler};
use crate::error::{MediaError, Result};
use crate::SAMPLE_RATE;

/// Plays a WAV file as 20 ms frames, paced in real time or not.
#[derive(Debug)]
pub struct WavFileSource {
    samples: Vec<f32>,
    pos: usize,
    looping: bool,
    pacer: Pacer,
}

impl WavFileSource {
    /// Open and convert `path` (read whole: files for tests and bots are short).
    pub fn open(path: impl AsRef<Path>, pacing: Pacing) -> Result<Self> {
        let path = path.as_ref();
        let samples = read_wav_48k_mono(path)?;
        Ok(Self::from_samples(samples, pacing))
    }

    /// A source over samples already at 48 kHz mono.
    pub fn from_samples(samples: Vec<f32>, pacing: Pacing) -> Self {
        Self {
            samples,
            pos: 0,
            looping: false,
            pacer: Pacer::new(pacing),
        }
    }

    /// Start over at the end instead of ending.
    pub fn looping(mut self, looping: bool) -> Self {
        self.looping = looping;
        self
    }

    /// Length of the audio in 48 kHz samples.
    pub fn len_samples(&self) -> usize {
        self.samples.len()
    }
}

impl AudioSource for WavFileSource {
    fn read_frame(&mut self, frame: &mut [f32]) -> Result<ReadStatus> {
        self.pacer.wait();
        frame.iter_mut().for_each(|s| *s = 0.0);
        if self.pos >= self.samples.len() {
            if !self.looping || self.samples.is_empty() {
                return Ok(ReadStatus::Ended);
            }
            self.pos = 0;
        }
        let n = frame.len().min(self.samples.len() - self.pos);
        frame[..n].copy_from_slice(&self.samples[self.pos..self.pos + n]);
        self.pos += n;
        Ok(ReadStatus::Frame)
    }
}

/// Read a WAV file and convert it to 48 kHz mono f32.
pub fn read_wav_48k_mono(path: &Path) -> Result<Vec<f32>> {
    let mut reader = hound::WavReader::open(path).map_err(|e| MediaError::file(path, e))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    if channels == 0 || spec.sample_rate == 0 {
        return Err(MediaError::file(
            path,
            "the file declares no channels or no sample rate",
        ));
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| MediaError::file(path, e))?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| MediaError::file(path, e))?
        }
    };
    let mono: Vec<f32> = interleaved
        .chunks(channels)
        .map(|c| c.iter().sum::<f32>() / channels as f32)
        .collect();
    let mut r = StreamResampler::new(spec.sample_rate, SAMPLE_RATE)?;
    r.push(&mono)?;
    r.flush()?;
    let mut out = r.take_all();
    // Trim the resampler's padding so the length matches the original.
    let want = (mono.len() as u64 * u64::from(SAMPLE_RATE) / u64::from(spec.sample_rate)) as usize;
    out.truncate(want);
    Ok(out)
}

/// Records 20 ms frames into a 48 kHz mono 16-bit WAV file.
pub struct WavFileSink {
    path: PathBuf,
    writer: Option<hound::WavWriter<BufWriter<File>>>,
}

impl std::fmt::Debug for WavFileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavFileSink")
            .field("path", &self.path)
            .finish()
    }
}

impl WavFileSink {
    /// Create (or overwrite) `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer =
            hound::WavWriter::create(&path, spec).map_err(|e| MediaError::file(&path, e))?;
        Ok(Self {
            path,
            writer: Some(writer),
        })
    }
}

impl AudioSink for WavFileSink {
    fn write_frame(&mut self, frame: &[f32]) -> Result<()> {
        let Some(w) = self.writer.as_mut() else {
            return Err(MediaError::file(&self.path, "already finished"));
        };
        for &s in frame {
            w.write_sample(f32_to_i16(s))
                .map_err(|e| MediaError::file(&self.path, e))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            w.finalize().map_err(|e| MediaError::file(&self.path, e))?;
        }
        Ok(())
    }
}

impl Drop for WavFileSink {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; `finish` reports them.
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::goertzel_power;
    use crate::FRAME_SAMPLES;

    fn write_wav(path: &Path, rate: u32, channels: u16, bits: u16, secs: f32) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        let amp = ((1i64 << (bits - 1)) - 1) as f32 * 0.5;
        for i in 0..(rate as f32 * secs) as usize {
            let v = (std::f32::consts::TAU * 700.0 * i as f32 / rate as f32).sin() * amp;
            for _ in 0..channels {
                w.write_sample(v as i32).unwrap();
            }
        }
        w.finalize().unwrap();
    }

    #[test]
    fn any_rate_and_channels_become_48k_mono() {
        let dir = tempfile::tempdir().unwrap();
        for (rate, ch, bits) in [
            (8_000, 1, 16),
            (44_100, 2, 16),
            (16_000, 2, 24),
            (48_000, 1, 16),
        ] {
            let p = dir.path().join(format!("t{rate}_{ch}_{bits}.wav"));
            write_wav(&p, rate, ch, bits, 0.5);
            let mut src = WavFileSource::open(&p, Pacing::Unpaced).unwrap();
            assert!(
                (23_900..=24_000).contains(&src.len_samples()),
                "{rate}: {}",
                src.len_samples()
            );
            let mut f = [0.0; FRAME_SAMPLES];
            for _ in 0..10 {
                assert_eq!(src.read_frame(&mut f).unwrap(), ReadStatus::Frame);
            }
            assert!(
                goertzel_power(&f, 700.0) > 100.0 * goertzel_power(&f, 1400.0),
                "{rate}"
            );
            let amp = crate::analysis::rms(&f) * 2f64.sqrt();
            assert!((amp - 0.5).abs() < 0.05, "{rate} {ch}: amplitude {amp}");
            while src.read_frame(&mut f).unwrap() == ReadStatus::Frame {}
        }
    }

    #[test]
    fn missing_or_garbage_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = WavFileSource::open(dir.path().join("nope.wav"), Pacing::Unpaced).unwrap_err();
        assert!(err.to_string().contains("nope.wav"), "{err}");
        let junk = dir.path().join("junk.wav");
        std::fs::write(&junk, b"this is not a wav file").unwrap();
        let err = WavFileSource::open(&junk, Pacing::Unpaced).unwrap_err();
        assert!(matches!(err, MediaError::File { .. }), "{err}");
    }

    #[test]
    fn sink_writes_a_readable_file_and_looping_source_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.wav");
        let mut sink = WavFileSink::create(&p).unwrap();
        let tone = crate::analysis::sine(1000.0, 0.5, FRAME_SAMPLES * 3);
        for f in tone.chunks(FRAME_SAMPLES) {
            sink.write_frame(f).unwrap();
        }
        sink.finish().unwrap();
        assert!(sink.write_frame(&tone[..FRAME_SAMPLES]).is_err());
        let back = read_wav_48k_mono(&p).unwrap();
        assert_eq!(back.len(), FRAME_SAMPLES * 3);
        let mut src = WavFileSource::from_samples(back, Pacing::Unpaced).looping(true);
        let mut f = [0.0; FRAME_SAMPLES];
        for _ in 0..7 {
            assert_eq!(src.read_frame(&mut f).unwrap(), ReadStatus::Frame);
        }
    }
}
