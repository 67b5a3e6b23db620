import { describe, expect, it } from "vitest";
import { actionFor } from "./shortcuts";
import type { CallView } from "./phone";
import { mkCall } from "./fixtures";

const view = (stage: CallView["stage"]): CallView => ({ stage, call: mkCall(), peerName: "Alice", startedAt: null, muted: false, media: "connecting", stats: null, mediaError: null, levels: null, mutedPeers: [], speaking: [], camera: false });
const key = (k: string, ctrl = false) => ({ key: k, ctrlKey: ctrl });

describe("shortcuts", () => {
  it("answers and declines a ringing call", () => {
    expect(actionFor(key("Enter", true), view("incoming"))).toBe("answer");
    expect(actionFor(key("d", true), view("incoming"))).toBe("decline");
    expect(actionFor(key("Escape"), view("incoming"))).toBe("decline");
    expect(actionFor(key("Enter"), view("incoming"))).toBeNull();
  });
  it("hangs up and mutes in a call, cancels a call ringing out", () => {
    expect(actionFor(key("e", true), view("ongoing"))).toBe("hang_up");
    expect(actionFor(key("M", true), view("ongoing"))).toBe("mute");
    expect(actionFor(key("Escape"), view("outgoing"))).toBe("cancel");
  });
  it("turns the camera on or off in a call with Ctrl+Shift+O", () => {
    expect(actionFor({ key: "O", ctrlKey: true, shiftKey: true }, view("ongoing"))).toBe("camera");
    expect(actionFor({ key: "o", ctrlKey: true }, view("ongoing"))).toBeNull();
    expect(actionFor({ key: "O", ctrlKey: true, shiftKey: true }, view("incoming"))).toBeNull();
  });
  it("does nothing without a call", () => {
    expect(actionFor(key("e", true), null)).toBeNull();
  });
});
