import { describe, expect, it } from "vitest";
import { estimateMos, levelPercent, quality } from "./quality";
import { mkStats } from "./fixtures";

describe("call quality", () => {
  it("is good on a clean network", () => {
    const q = quality(mkStats());
    expect(q.level).toBe("good");
    expect(q.mos).toBeGreaterThan(4.3);
    expect(q.detail).toBe("loss 0.0 % · jitter 2 ms · RTT 20 ms");
  });

  it("falls with loss, jitter and delay", () => {
    expect(quality(mkStats({ loss_pct: 3 })).level).toBe("fair");
    expect(quality(mkStats({ loss_pct: 12 })).level).toBe("poor");
    expect(quality(mkStats({ rtt_ms: 600, jitter_ms: 60 })).level).toBe("poor");
    expect(estimateMos({ loss_pct: 1, jitter_ms: 2, rtt_ms: 20 })).toBeLessThan(
      estimateMos({ loss_pct: 0, jitter_ms: 2, rtt_ms: 20 }),
    );
  });

  it("stays within the MOS scale and says when RTT is unknown", () => {
    expect(estimateMos({ loss_pct: 100, jitter_ms: 500, rtt_ms: 2000 })).toBe(1);
    expect(estimateMos({ loss_pct: 0, jitter_ms: 0, rtt_ms: 0 })).toBeLessThanOrEqual(4.5);
    expect(quality(mkStats({ rtt_ms: null })).detail).toContain("RTT –");
  });
});

describe("level meters", () => {
  it("map peaks onto a 60 dB scale", () => {
    expect(levelPercent(1)).toBe(100);
    expect(levelPercent(0.1)).toBe(67);
    expect(levelPercent(0.001)).toBe(0);
    expect(levelPercent(0)).toBe(0);
    expect(levelPercent(Number.NaN)).toBe(0);
  });
});
