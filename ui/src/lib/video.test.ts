// Frame messages, the grid and the frame queue's drawing and acknowledgements.
import { describe, expect, it } from "vitest";
import { gridLayout, i420ToRgba, parseFrame, VideoFrames, type ParsedFrame, type VideoTile } from "./video";
import { encodeFrame } from "./video.test-util";

describe("frame messages", () => {
  it("parses the header, the key, the owner and the pixels", () => {
    const f = parseFrame(encodeFrame({ key: "alice/desktop-1", owner: "alice", width: 4, height: 2, seq: 9, fill: [235, 128, 128] }))!;
    expect(f).toMatchObject({ local: false, key: "alice/desktop-1", owner: "alice", width: 4, height: 2, seq: 9 });
    expect(f.i420.length).toBe(8 + 2 * 2);
    expect(parseFrame(encodeFrame({ key: "odd", width: 3, height: 3 }))!.i420.length).toBe(9 + 2 * 4);
    expect(parseFrame(encodeFrame({ key: "local", local: true, width: 1, height: 1 }))!.local).toBe(true);
  });

  it("refuses what is not a frame", () => {
    const good = encodeFrame({ key: "k", width: 2, height: 2 });
    expect(parseFrame(good.slice(0, good.byteLength - 1))).toBeNull();
    expect(parseFrame(new ArrayBuffer(10))).toBeNull();
    const wrongMagic = good.slice(0);
    new Uint8Array(wrongMagic)[0] = 0;
    expect(parseFrame(wrongMagic)).toBeNull();
    const wrongVersion = good.slice(0);
    new Uint8Array(wrongVersion)[4] = 2;
    expect(parseFrame(wrongVersion)).toBeNull();
    const rgba = good.slice(0);
    new Uint8Array(rgba)[10] = 0;
    expect(parseFrame(rgba)).toBeNull();
  });
});

describe("I420 to RGBA", () => {
  // The pattern's bars as the video crate codes them (rgb_to_yuv of BT.601 75 % bars).
  const cases: [number[], number[]][] = [
    [[235, 128, 128], [255, 255, 255]], // white
    [[16, 128, 128], [0, 0, 0]], // black
    [[65, 100, 212], [191, 0, 0]], // 75 % red
    [[35, 212, 115], [0, 0, 191]], // 75 % blue
  ];
  it.each(cases)("converts %j to about %j", (yuv, rgb) => {
    const f = parseFrame(encodeFrame({ key: "k", width: 2, height: 2, fill: yuv }))!;
    const out = new Uint8ClampedArray(16);
    i420ToRgba(f, out);
    for (let i = 0; i < 3; i++) expect(Math.abs(out[i] - rgb[i])).toBeLessThanOrEqual(3);
    expect(out[3]).toBe(255);
    expect([...out.slice(12, 16)]).toEqual([...out.slice(0, 4)]);
  });
});

describe("grid layout", () => {
  it("gives each tile the most room", () => {
    expect(gridLayout(0, 400, 300)).toEqual({ cols: 1, rows: 1 });
    expect(gridLayout(1, 400, 300)).toEqual({ cols: 1, rows: 1 });
    expect(gridLayout(2, 400, 600)).toEqual({ cols: 1, rows: 2 }); // tall: stacked
    expect(gridLayout(2, 1200, 300)).toEqual({ cols: 2, rows: 1 }); // wide: side by side
    expect(gridLayout(4, 800, 450)).toEqual({ cols: 2, rows: 2 });
    const five = gridLayout(5, 800, 450);
    expect(five.cols * five.rows).toBeGreaterThanOrEqual(5);
  });
});

describe("the frame queue", () => {
  function queue() {
    const acks: number[] = [];
    const tiles: VideoTile[][] = [];
    const jobs: (() => void)[] = [];
    const frames = new VideoFrames((n) => acks.push(n), (t) => tiles.push(t), (fn) => jobs.push(fn));
    const run = () => jobs.splice(0).forEach((j) => j());
    return { frames, acks, tiles, run };
  }

  it("draws the newest frame of each stream once per animation frame and acknowledges all", () => {
    const { frames, acks, tiles, run } = queue();
    const drawn: ParsedFrame[] = [];
    frames.attach("a", { draw: (f) => drawn.push(f) });
    frames.receive(encodeFrame({ key: "a", owner: "alice", width: 2, height: 2, seq: 1 }));
    frames.receive(encodeFrame({ key: "a", owner: "alice", width: 2, height: 2, seq: 2 }));
    frames.receive(encodeFrame({ key: "b", width: 2, height: 2, seq: 3 })); // no canvas: dropped
    expect(tiles.at(-1)?.map((t) => t.key)).toEqual(["a", "b"]);
    run();
    expect(drawn.map((f) => f.seq)).toEqual([2]);
    expect(acks).toEqual([3]); // one skipped, one drawn, one dropped
    expect(frames.drawn.get("a")).toBe(1);
    frames.remove("b");
    expect(tiles.at(-1)?.map((t) => t.key)).toEqual(["a"]);
    frames.clear();
    expect(tiles.at(-1)).toEqual([]);
  });

  it("acknowledges in threes, garbage too, so the shell never waits for it", () => {
    const { frames, acks, run } = queue();
    frames.receive(new ArrayBuffer(3));
    run();
    expect(acks).toEqual([]);
    frames.receive(encodeFrame({ key: "a", width: 2, height: 2 }));
    run();
    frames.receive(encodeFrame({ key: "a", width: 2, height: 2 }));
    run();
    expect(acks).toEqual([3]);
  });
});
