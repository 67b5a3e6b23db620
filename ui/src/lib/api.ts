// The shell's commands, typed. Payload and answer types come from
// bindings.ts (generated from the Rust types); the command names match
// src-tauri/src/commands/mod.rs. Nothing else in the UI calls `invoke`.
import { Channel, invoke } from "@tauri-apps/api/core";
import type {
  AppError,
  AudioSettings,
  LoginDefaults,
  RejectReason,
  SessionInfo,
  UiCall,
  UiCallType,
  UiAudioDevices,
  UiAudioLevels,
  UiGroup,
  UiMediaStats,
  UiReceiverType,
  UiUser,
  UiVideoSource,
  VideoPrefs,
} from "./bindings";

export interface LoginForm {
  serverUrl: string;
  username: string;
  password: string;
  remember: boolean;
}

export const api = {
  getSettings: () => invoke<LoginDefaults>("get_settings"),
  login: (f: LoginForm) =>
    invoke<SessionInfo>("login", {
      serverUrl: f.serverUrl,
      username: f.username,
      password: f.password,
      remember: f.remember,
    }),
  restoreSession: () => invoke<SessionInfo | null>("restore_session"),
  logout: () => invoke<null>("logout"),
  /** `camera`: start with it on or off (null: on for video calls unless the settings say off). */
  initiateCall: (receiver: string, callType: UiCallType, receiverType: UiReceiverType, camera: boolean | null = null) =>
    invoke<UiCall>("initiate_call", { receiver, callType, receiverType, camera }),
  acceptCall: (sessionId: string, camera: boolean | null = null) => invoke<UiCall>("accept_call", { sessionId, camera }),
  rejectCall: (sessionId: string, reason: RejectReason) =>
    invoke<UiCall>("reject_call", { sessionId, reason }),
  endCall: (sessionId: string) => invoke<UiCall>("end_call", { sessionId }),
  listUsers: () => invoke<UiUser[]>("list_users"),
  listGroups: () => invoke<UiGroup[]>("list_groups"),
  callHistory: (missedOnly = false) => invoke<UiCall[]>("call_history", { missedOnly }),
  listAudioDevices: () => invoke<UiAudioDevices>("list_audio_devices"),
  getAudioSettings: () => invoke<AudioSettings>("get_audio_settings"),
  setAudioSettings: (audio: AudioSettings) => invoke<AudioSettings>("set_audio_settings", { audio }),
  setMuted: (muted: boolean) => invoke<boolean>("set_muted", { muted }),
  /** Call-quality figures arrive on a channel of their own (every ~2 s in a call). */
  watchCallQuality: (onStats: (s: UiMediaStats) => void) => {
    const channel = new Channel<UiMediaStats>();
    channel.onmessage = onStats;
    return invoke<null>("watch_call_quality", { onStats: channel });
  },
  /** Microphone and speaker levels, five times a second in a call. */
  watchAudioLevels: (onLevels: (l: UiAudioLevels) => void) => {
    const channel = new Channel<UiAudioLevels>();
    channel.onmessage = onLevels;
    return invoke<null>("watch_audio_levels", { onLevels: channel });
  },
  listVideoSources: () => invoke<UiVideoSource[]>("list_video_sources"),
  getVideoSettings: () => invoke<VideoPrefs>("get_video_settings"),
  setVideoSettings: (video: VideoPrefs) => invoke<VideoPrefs>("set_video_settings", { video }),
  /** Turns the call's camera on or off; answers whether it is on. */
  setCamera: (on: boolean) => invoke<boolean>("set_camera", { on }),
  /** Video frames arrive as binary messages (see video.ts), newest first to draw. */
  watchVideo: (onFrame: (frame: ArrayBuffer) => void) => {
    const channel = new Channel<ArrayBuffer>();
    channel.onmessage = onFrame;
    return invoke<null>("watch_video", { onFrame: channel });
  },
  /** The window drew or skipped `count` frames (the shell sends more). */
  videoFramesDrawn: (count: number) => invoke<null>("video_frames_drawn", { count }),
};

export type Api = typeof api;

/** The sentence to show for a failed command (an AppError, or anything else). */
export function errorMessage(e: unknown): string {
  if (isAppError(e)) return sentence(e.message);
  if (e instanceof Error) return sentence(e.message);
  return sentence(String(e));
}

export function isAppError(e: unknown): e is AppError {
  return typeof e === "object" && e !== null && "kind" in e && "message" in e;
}

/** Capitalizes the first letter and ends with a full stop. */
export function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const s = t[0].toUpperCase() + t.slice(1);
  return /[.!?…]$/.test(s) ? s : `${s}.`;
}
