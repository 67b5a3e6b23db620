// Video frames from the shell: one binary message per frame, I420 (the
// layout is src-tauri/src/video/wire.rs), parsed here, converted to RGBA
// into a reused ImageData and drawn on canvases with putImageData. Frames bypass the Svelte stores: the newest frame of each
// stream waits in `VideoFrames` until the next animation frame draws it,
// a newer one replaces it (skipped), and the count of frames drawn or
// skipped goes back to the shell, which stops sending while the window is
// behind.

/** "SPVF" */
const MAGIC = [0x53, 0x50, 0x56, 0x46];
export const HEADER_LEN = 24;
export const LOCAL_KEY = "local";
/** Frames drawn or skipped per acknowledgement (the shell allows twice as many outstanding). */
export const ACK_EVERY = 3;

export interface ParsedFrame {
  /** Our own camera (preview). */
  local: boolean;
  /** Which stream: one tile each. */
  key: string;
  /** Whose (a user id), "" when unknown. */
  owner: string;
  width: number;
  height: number;
  seq: number;
  /** Packed I420 (Y, then U and V at half size rounded up), a view into the message. */
  i420: Uint8Array;
}

const FORMAT_I420 = 1;

const utf8 = new TextDecoder();

/** Reads one frame message; null if it is not one (wrong magic, version or length). */
export function parseFrame(buf: ArrayBuffer): ParsedFrame | null {
  if (buf.byteLength < HEADER_LEN) return null;
  const b = new Uint8Array(buf);
  if (MAGIC.some((m, i) => b[i] !== m) || b[4] !== 1 || b[10] !== FORMAT_I420) return null;
  const v = new DataView(buf);
  const k = v.getUint16(6, true);
  const o = v.getUint16(8, true);
  const width = v.getUint32(12, true);
  const height = v.getUint32(16, true);
  const start = HEADER_LEN + k + o;
  const len = width * height + 2 * Math.ceil(width / 2) * Math.ceil(height / 2);
  if (buf.byteLength !== start + len) return null;
  return {
    local: (b[5] & 1) !== 0,
    key: utf8.decode(b.subarray(HEADER_LEN, HEADER_LEN + k)),
    owner: utf8.decode(b.subarray(HEADER_LEN + k, start)),
    width,
    height,
    seq: v.getUint32(20, true),
    i420: new Uint8Array(buf, start, len),
  };
}

/** I420 (BT.601 limited range) to RGBA into `out` (width × height × 4), the same
 * integer arithmetic as the video crate's `Frame::write_rgba`: the chroma terms
 * once per two pixels, one 32-bit store per pixel (little-endian RGBA). */
export function i420ToRgba(f: { width: number; height: number; i420: Uint8Array }, out: Uint8ClampedArray): void {
  const { width: w, height: h, i420 } = f;
  const cw = (w + 1) >> 1;
  const uOff = w * h;
  const vOff = uOff + cw * ((h + 1) >> 1);
  const px = new Uint32Array(out.buffer, out.byteOffset, w * h);
  let o = 0;
  for (let y = 0; y < h; y++) {
    let yi = y * w;
    const cRow = (y >> 1) * cw;
    for (let x = 0; x < w; x += 2) {
      const d = i420[uOff + cRow + (x >> 1)] - 128;
      const e = i420[vOff + cRow + (x >> 1)] - 128;
      const rr = 409 * e;
      const gg = -100 * d - 208 * e;
      const bb = 516 * d;
      const pair = x + 1 < w ? 2 : 1;
      for (let k = 0; k < pair; k++) {
        const c = 298 * (i420[yi++] - 16) + 128;
        let r = (c + rr) >> 8;
        let g = (c + gg) >> 8;
        let b = (c + bb) >> 8;
        r = r < 0 ? 0 : r > 255 ? 255 : r;
        g = g < 0 ? 0 : g > 255 ? 255 : g;
        b = b < 0 ? 0 : b > 255 ? 255 : b;
        px[o++] = (0xff000000 | (b << 16) | (g << 8) | r) >>> 0;
      }
    }
  }
}

/** Columns and rows for `n` tiles in a box `width` × `height` (px) showing 16:9
 * pictures: the arrangement that makes each tile largest. */
export function gridLayout(n: number, width: number, height: number): { cols: number; rows: number } {
  if (n <= 1) return { cols: 1, rows: 1 };
  let best = { cols: 1, rows: n, size: 0 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const tileW = Math.min(width / cols, ((height / rows) * 16) / 9);
    if (tileW > best.size + 0.5) best = { cols, rows, size: tileW };
  }
  return { cols: best.cols, rows: best.rows };
}

/** One tile of the call screen. */
export interface VideoTile {
  key: string;
  owner: string;
  local: boolean;
}

/** What draws a stream: a canvas in the page, or anything with the same call. */
export interface FrameTarget {
  draw(f: ParsedFrame): void;
}

/** The streams seen, their newest undrawn frames and the acknowledgements. */
export class VideoFrames {
  private pending = new Map<string, ParsedFrame>();
  private targets = new Map<string, FrameTarget>();
  private known = new Map<string, VideoTile>();
  private settled = 0;
  private scheduled = false;
  /** Frames drawn per stream (for the page's data attributes and tests). */
  readonly drawn = new Map<string, number>();

  constructor(
    /** Tells the shell how many frames were drawn or skipped. */
    private readonly ack: (count: number) => void,
    /** The tiles changed (a stream came or went). */
    private readonly onTiles: (tiles: VideoTile[]) => void,
    private readonly schedule: (fn: () => void) => void = (fn) => requestAnimationFrame(() => fn()),
  ) {}

  /** A message from the channel. */
  receive(buf: ArrayBuffer): void {
    const f = parseFrame(buf);
    if (!f) {
      this.settled++;
      this.kick();
      return;
    }
    if (!this.known.has(f.key)) {
      this.known.set(f.key, { key: f.key, owner: f.owner, local: f.local });
      this.onTiles(this.tiles());
    }
    if (this.pending.has(f.key)) this.settled++; // replaced before it was drawn
    this.pending.set(f.key, f);
    this.kick();
  }

  /** A message that is not wanted (no call on screen): acknowledged, not kept. */
  discard(): void {
    this.settled++;
    this.kick();
  }

  tiles(): VideoTile[] {
    return [...this.known.values()];
  }

  /** A stream ended (its tile goes). */
  remove(key: string): void {
    if (this.pending.delete(key)) this.settled++;
    if (this.known.delete(key)) this.onTiles(this.tiles());
    this.kick();
  }

  /** The call ended: every tile goes. */
  clear(): void {
    this.settled += this.pending.size;
    this.pending.clear();
    const had = this.known.size > 0;
    this.known.clear();
    this.drawn.clear();
    if (had) this.onTiles([]);
    this.kick();
  }

  /** `target` draws stream `key` from now on (null: nothing does). */
  attach(key: string, target: FrameTarget | null): void {
    if (target) this.targets.set(key, target);
    else this.targets.delete(key);
  }

  private kick() {
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => this.flush());
  }

  /** Draws every pending frame that has a target, drops the rest, acknowledges them all. */
  flush(): void {
    this.scheduled = false;
    for (const [key, f] of this.pending) {
      const t = this.targets.get(key);
      if (t) {
        t.draw(f);
        this.drawn.set(key, (this.drawn.get(key) ?? 0) + 1);
      }
      this.settled++;
    }
    this.pending.clear();
    // Acknowledged in threes (one command per three frames, not one each):
    // the shell lets six be outstanding, so frames keep coming meanwhile.
    if (this.settled >= ACK_EVERY) {
      this.ack(this.settled);
      this.settled = 0;
    }
  }
}

/** Draws frames on a 2D canvas, resizing it to the frame (one ImageData, reused).
 * `onDrawn` gets how long the conversion and drawing took (ms). */
export function canvasTarget(canvas: HTMLCanvasElement, onDrawn?: (ms: number) => void): FrameTarget {
  const ctx = canvas.getContext("2d", { alpha: false });
  let image: ImageData | null = null;
  return {
    draw(f) {
      if (!ctx) return;
      const t0 = performance.now();
      if (!image || image.width !== f.width || image.height !== f.height) {
        canvas.width = f.width;
        canvas.height = f.height;
        image = ctx.createImageData(f.width, f.height);
      }
      i420ToRgba(f, image.data);
      ctx.putImageData(image, 0, 0);
      onDrawn?.(performance.now() - t0);
    },
  };
}
