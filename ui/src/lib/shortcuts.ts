// Keyboard shortcuts: which key does what on which screen. Pure, so it is
// tested without a window; App.svelte wires it to `keydown`.
import type { CallView } from "./phone";

export type Action = "answer" | "decline" | "hang_up" | "cancel" | "mute" | "camera";

/** Shown in tooltips and the help line. */
export const SHORTCUTS: Record<Action, string> = {
  answer: "Ctrl+Enter",
  decline: "Ctrl+D",
  hang_up: "Ctrl+E",
  cancel: "Escape",
  mute: "Ctrl+M",
  camera: "Ctrl+Shift+O",
};

export interface KeyLike {
  key: string;
  ctrlKey: boolean;
  metaKey?: boolean;
  shiftKey?: boolean;
}

/** The action a key press means while `call` is on screen, if any. */
export function actionFor(e: KeyLike, call: CallView | null): Action | null {
  if (!call) return null;
  const ctrl = e.ctrlKey || !!e.metaKey;
  const key = e.key.toLowerCase();
  switch (call.stage) {
    case "incoming":
      if (ctrl && key === "enter") return "answer";
      if ((ctrl && key === "d") || key === "escape") return "decline";
      return null;
    case "outgoing":
      if (key === "escape" || (ctrl && key === "e")) return "cancel";
      return null;
    case "ongoing":
      if (ctrl && key === "e") return "hang_up";
      if (ctrl && key === "m") return "mute";
      if (ctrl && e.shiftKey && key === "o") return "camera";
      return null;
  }
}
