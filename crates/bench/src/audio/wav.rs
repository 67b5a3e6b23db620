//! Just enough WAV: 16-bit PCM in (first channel), 48 kHz mono 16-bit out.

use anyhow::{bail, Context as _, Result};
use std::path::Path;

/// The rate everything here runs at.
pub const RATE: u32 = 48_000;

/// Samples (-1.0 ..= 1.0) of the first channel and the sample rate.
pub fn read(path: &Path) -> Result<(Vec<f32>, u32)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&bytes).with_context(|| format!("{} is not a usable WAV file", path.display()))
}

/// [`read`] for 48 kHz files only.
pub fn read_48k(path: &Path) -> Result<Vec<f32>> {
    let (samples, rate) = read(path)?;
    if rate != RATE {
        bail!("{} is {rate} Hz, not {RATE}", path.display());
    }
    Ok(samples)
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes([
        *b.get(i)?,
        *b.get(i + 1)?,
        *b.get(i + 2)?,
        *b.get(i + 3)?,
    ]))
}

/// Parses a 16-bit PCM WAV image.
pub fn parse(bytes: &[u8]) -> Result<(Vec<f32>, u32)> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        bail!("no RIFF/WAVE header");
    }
    let (mut pos, mut fmt, mut data) = (12usize, None, None);
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32_at(bytes, pos + 4).unwrap_or(0) as usize;
        let end = (pos + 8).saturating_add(len).min(bytes.len());
        let body = &bytes[pos + 8..end];
        if id == b"fmt " {
            let channels = u16_at(body, 2).context("short fmt chunk")?;
            let rate = u32_at(body, 4).context("short fmt chunk")?;
            let bits = u16_at(body, 14).context("short fmt chunk")?;
            fmt = Some((channels.max(1) as usize, rate, bits));
        } else if id == b"data" {
            data = Some(body);
        }
        pos = end + (len & 1);
    }
    let (channels, rate, bits) = fmt.context("no fmt chunk")?;
    if bits != 16 {
        bail!("{bits}-bit samples; only 16-bit PCM is read");
    }
    let data = data.context("no data chunk")?;
    let samples = data
        .chunks_exact(2 * channels)
        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
        .collect();
    Ok((samples, rate))
}

/// Writes 48 kHz mono 16-bit PCM.
pub fn write(path: &Path, samples: &[f32]) -> Result<()> {
    let data_len = u32::try_from(samples.len() * 2).context("too long for a WAV file")?;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        let samples: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.01).sin() * 0.5).collect();
        write(&path, &samples).unwrap();
        let back = read_48k(&path).unwrap();
        assert_eq!(back.len(), samples.len());
        assert!(back.iter().zip(&samples).all(|(a, b)| (a - b).abs() < 1e-4));
        assert!(parse(b"RIFF....WAVEjunk").is_err());
    }
}
