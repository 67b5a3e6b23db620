// Builds frame messages as the shell does (src-tauri/src/video/wire.rs), for tests.
export function encodeFrame(f: {
  key: string; owner?: string; local?: boolean; width: number; height: number; seq?: number;
  /** [y, u, v] of every pixel. */
  fill?: number[];
}): ArrayBuffer {
  const enc = new TextEncoder();
  const key = enc.encode(f.key);
  const owner = enc.encode(f.owner ?? "");
  const luma = f.width * f.height;
  const chroma = Math.ceil(f.width / 2) * Math.ceil(f.height / 2);
  const px = luma + 2 * chroma;
  const buf = new ArrayBuffer(24 + key.length + owner.length + px);
  const b = new Uint8Array(buf);
  const v = new DataView(buf);
  b.set([0x53, 0x50, 0x56, 0x46, 1, f.local ? 1 : 0]);
  b[10] = 1; // I420
  v.setUint16(6, key.length, true);
  v.setUint16(8, owner.length, true);
  v.setUint32(12, f.width, true);
  v.setUint32(16, f.height, true);
  v.setUint32(20, f.seq ?? 0, true);
  b.set(key, 24);
  b.set(owner, 24 + key.length);
  const [fy, fu, fv] = f.fill ?? [16, 128, 128];
  const start = 24 + key.length + owner.length;
  b.fill(fy, start, start + luma);
  b.fill(fu, start + luma, start + luma + chroma);
  b.fill(fv, start + luma + chroma, start + px);
  return buf;
}
