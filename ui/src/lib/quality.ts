// The in-call quality indicator: the media figures (loss, jitter, RTT)
// turned into an estimated MOS (a simplified ITU-T G.107 E-model) and one of
// three levels. A MOS measured by the media session, once it reports one,
// should replace the estimate.
import type { UiMediaStats } from "./bindings";

export type QualityLevel = "good" | "fair" | "poor";

export interface Quality {
  level: QualityLevel;
  /** Estimated mean opinion score, 1–4.5. */
  mos: number;
  /** "Good", "Fair", "Poor". */
  label: string;
  /** The figures in words: "loss 0.0 % · jitter 3 ms · RTT 12 ms". */
  detail: string;
}

/** How much a lost packet hurts Opus with in-band FEC (G.113 Bpl). */
const BURST_ROBUSTNESS = 10;

/** Estimated MOS from loss (%), jitter and round-trip time (ms). */
export function estimateMos(s: Pick<UiMediaStats, "loss_pct" | "jitter_ms" | "rtt_ms">): number {
  const delay = (s.rtt_ms ?? 0) / 2 + 2 * s.jitter_ms + 10;
  const delayImpairment = delay < 160 ? delay / 40 : (delay - 120) / 10;
  const loss = Math.max(0, s.loss_pct);
  const lossImpairment = (95 * loss) / (loss + BURST_ROBUSTNESS);
  const r = 93.2 - delayImpairment - lossImpairment;
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  return Math.min(4.5, 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r));
}

export function quality(s: UiMediaStats): Quality {
  const mos = estimateMos(s);
  const level: QualityLevel = mos >= 4 ? "good" : mos >= 3.4 ? "fair" : "poor";
  const rtt = s.rtt_ms === null ? "RTT –" : `RTT ${Math.round(s.rtt_ms)} ms`;
  return {
    level,
    mos,
    label: { good: "Good", fair: "Fair", poor: "Poor" }[level],
    detail: `loss ${s.loss_pct.toFixed(1)} % · jitter ${Math.round(s.jitter_ms)} ms · ${rtt}`,
  };
}

/** A peak (0–1) as a meter's fill in percent: a 60 dB scale, so speech
 * (peaks around -20 dBFS) sits in the upper half and silence at 0. */
export function levelPercent(peak: number): number {
  if (!(peak > 0)) return 0;
  const db = 20 * Math.log10(Math.min(1, peak));
  return Math.round(Math.max(0, Math.min(100, ((db + 60) / 60) * 100)));
}
