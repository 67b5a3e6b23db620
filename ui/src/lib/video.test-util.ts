// Builds frame messages as the shell does (src-tauri/src/video/wire.rs), for tests.
export function encodeFrame(f: {
  key: string; owner?: string; local?: boolean; width: number; height: number; seq?: number; fill?: number[];
}): ArrayBuffer {
  const enc = new TextEncoder();
  const key = enc.encode(f.key);
  const owner = enc.encode(f.owner ?? "");
  const px = f.width * f.height * 4;
  const buf = new ArrayBuffer(24 + key.length + owner.length + px);
  const b = new Uint8Array(buf);
  const v = new DataView(buf);
  b.set([0x53, 0x50, 0x56, 0x46, 1, f.local ? 1 : 0]);
  v.setUint16(6, key.length, true);
  v.setUint16(8, owner.length, true);
  v.setUint32(12, f.width, true);
  v.setUint32(16, f.height, true);
  v.setUint32(20, f.seq ?? 0, true);
  b.set(key, 24);
  b.set(owner, 24 + key.length);
  const fill = f.fill ?? [10, 20, 30, 255];
  for (let i = 0; i < px; i += 4) b.set(fill, 24 + key.length + owner.length + i);
  return buf;
}
