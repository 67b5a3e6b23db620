#!/usr/bin/env python3
"""Scores received speech against what was sent: wideband PESQ (MOS-LQO).

    speech_score.py SENT.wav RECEIVED.wav

The recording usually starts earlier and lasts longer than the speech in it,
so it is first aligned to the sent file by cross-correlation (on 16 kHz
mono), then cut to the sent file's length and scored with ITU-T P.862.2
(PyPI `pesq`). Prints one JSON object:
{"pesq_wb": 4.1, "offset_s": 1.23, "correlation": 0.97}
Exit status 2 with a sentence on stderr when a file cannot be read or holds
no speech.
"""
import json
import sys
import wave

import numpy as np
from pesq import pesq
from scipy.signal import correlate, resample_poly

RATE = 16_000


def read_mono_16k(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported")
        rate, channels = w.getframerate(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    if rate != RATE:
        g = np.gcd(rate, RATE)
        data = resample_poly(data, RATE // g, rate // g)
    return data


def align(sent, received):
    """Offset (in samples) of `sent` inside `received`, and the peak's
    normalised correlation."""
    if len(received) < len(sent):
        received = np.concatenate([received, np.zeros(len(sent) - len(received))])
    corr = correlate(received, sent, mode="valid", method="fft")
    offset = int(np.argmax(corr))
    window = received[offset : offset + len(sent)]
    norm = np.sqrt(np.sum(sent**2) * np.sum(window**2))
    return offset, float(corr[offset] / norm) if norm > 0 else 0.0


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        sent = read_mono_16k(sys.argv[1])
        received = read_mono_16k(sys.argv[2])
    except (OSError, EOFError, ValueError, wave.Error) as e:
        print(f"cannot read the audio: {e}", file=sys.stderr)
        return 2
    if np.max(np.abs(sent), initial=0) == 0:
        print("the sent file is silent", file=sys.stderr)
        return 2
    offset, correlation = align(sent, received)
    window = received[offset : offset + len(sent)]
    try:
        score = pesq(RATE, sent, window, "wb")
    except Exception as e:  # pesq raises its own types for silence
        print(f"PESQ could not score the recording: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"pesq_wb": round(float(score), 3), "offset_s": round(offset / RATE, 3),
                      "correlation": round(correlation, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
