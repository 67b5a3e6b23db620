// The UI's state and what changes it: commands sent through `api`, events
// from the shell (one typed UiEvent stream). Screens only read `state` and
// call these methods; no component talks to the shell itself.
import { writable, get, type Writable } from "svelte/store";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { api as realApi, errorMessage, isAppError, type Api, type LoginForm } from "./api";
import {
  EVENT,
  type AudioSettings,
  type LoginDefaults,
  type SessionInfo,
  type UiCall,
  type UiConnection,
  type UiAudioDevices,
  type UiAudioLevels,
  type UiEvent,
  type UiGroup,
  type UiMediaStats,
  type UiUser,
  type UiVideoSource,
  type VideoPrefs,
} from "./bindings";
import { LOCAL_KEY, VideoFrames, type VideoTile } from "./video";

/** The call on screen: ringing out, ringing in, or in progress. */
export interface CallView {
  stage: "outgoing" | "incoming" | "ongoing";
  call: UiCall;
  peerName: string;
  /** When the call was answered (ms, this machine's clock), for the timer. */
  startedAt: number | null;
  muted: boolean;
  /** The call's audio: not yet flowing, or flowing both ways. */
  media: "connecting" | "connected";
  /** The latest media figures (in a call). */
  stats: UiMediaStats | null;
  /** Why the call's audio failed, once it did (the call ends right after). */
  mediaError: string | null;
  /** Microphone and speaker peaks (0–1), while the audio runs. */
  levels: { mic: number; speaker: number } | null;
  /** Others in the call whose microphone is muted (user ids). */
  mutedPeers: string[];
  /** Who speaks now in a group call, the active speaker first (user ids). */
  speaking: string[];
  /** Our camera is on (sending). */
  camera: boolean;
}

export interface PhoneState {
  phase: "starting" | "signed_out" | "signing_in" | "signed_in";
  session: SessionInfo | null;
  defaults: LoginDefaults;
  connection: { state: UiConnection; message: string };
  users: UiUser[];
  groups: UiGroup[];
  history: UiCall[];
  call: CallView | null;
  /** The last sentence to show (an error, or what happened to a call). */
  notice: string | null;
  /** Missed calls newer than this (ms) count for the badge. */
  seenMissedAt: number;
  /** The chosen microphone, speaker and ring volume. */
  audio: AudioSettings;
  /** What the device pickers offer (null until listed). */
  devices: UiAudioDevices | null;
  /** The chosen camera and whether video calls start with it off. */
  video: VideoPrefs;
  /** What the camera picker offers (null until listed). */
  videoSources: UiVideoSource[] | null;
  /** The video tiles of the call (remote streams and our preview). */
  tiles: VideoTile[];
}

const SEEN_KEY = "softphone.seenMissedAt";

export const DEFAULT_AUDIO: AudioSettings = {
  input_device: null,
  output_device: null,
  ring_volume: 70,
  echo_cancellation: true,
};

export const DEFAULT_VIDEO: VideoPrefs = { source: null, start_with_camera_off: false };

function newView(stage: CallView["stage"], call: UiCall, peerName: string): CallView {
  return {
    stage,
    call,
    peerName,
    startedAt: null,
    muted: false,
    media: "connecting",
    stats: null,
    mediaError: null,
    levels: null,
    mutedPeers: [],
    speaking: [],
    camera: false,
  };
}

export class Phone {
  readonly state: Writable<PhoneState>;
  /** The video frames of the call, drawn outside the stores. */
  readonly frames: VideoFrames;
  private unlisten: UnlistenFn | null = null;

  constructor(
    private readonly api: Api = realApi,
    private readonly now: () => number = Date.now,
  ) {
    this.state = writable<PhoneState>({
      phase: "starting",
      session: null,
      defaults: { server_url: "http://127.0.0.1:8480", username: "", remember: true },
      connection: { state: "disconnected", message: "Not signed in" },
      users: [],
      groups: [],
      history: [],
      call: null,
      notice: null,
      seenMissedAt: Number(globalThis.localStorage?.getItem(SEEN_KEY) ?? 0) || 0,
      audio: DEFAULT_AUDIO,
      devices: null,
      video: DEFAULT_VIDEO,
      videoSources: null,
      tiles: [],
    });
    this.frames = new VideoFrames(
      (n) => void this.api.videoFramesDrawn(n).catch(() => {}),
      (tiles) => this.set({ tiles }),
      frameScheduler(),
    );
  }

  private set(patch: Partial<PhoneState>) {
    // No call, no video: tiles and undrawn frames go with it.
    if ("call" in patch && patch.call === null) this.frames.clear();
    this.state.update((s) => ({ ...s, ...patch }));
  }

  /** Listens to the shell, loads the login defaults, signs in from the keyring if it can. */
  async start(): Promise<void> {
    this.unlisten = await listen<UiEvent>(EVENT, (e) => this.handle(e.payload));
    try {
      this.set({ defaults: await this.api.getSettings() });
      this.set({ connection: { state: "connecting", message: "Signing in…" } });
      const session = await this.api.restoreSession();
      if (session) await this.signedIn(session);
      else this.signedOut(null);
    } catch (e) {
      this.signedOut(errorMessage(e));
    }
  }

  stop() {
    this.unlisten?.();
  }

  async login(form: LoginForm): Promise<void> {
    if (!form.username.trim() || !form.password) {
      this.set({ notice: "Enter your username and password." });
      return;
    }
    this.set({
      phase: "signing_in",
      notice: null,
      connection: { state: "connecting", message: "Connecting…" },
    });
    try {
      const session = await this.api.login(form);
      this.set({
        defaults: { server_url: form.serverUrl, username: form.username, remember: form.remember },
      });
      await this.signedIn(session);
    } catch (e) {
      let message = errorMessage(e);
      if (isAppError(e) && e.kind === "wrong_credentials") {
        message = "Wrong username or password. Check them and try again.";
      }
      this.signedOut(message);
    }
  }

  async logout(): Promise<void> {
    try {
      await this.api.logout();
      this.signedOut(null);
    } catch (e) {
      this.signedOut(errorMessage(e));
    }
  }

  private async signedIn(session: SessionInfo) {
    this.set({
      phase: "signed_in",
      session,
      notice: session.notice,
      connection: { state: "connected", message: "Connected" },
    });
    try {
      await this.api.watchCallQuality((s) => this.onStats(s));
      await this.api.watchAudioLevels((l) => this.onLevels(l));
      // Frames outside a call (the last ones of a call that just ended) make no tiles.
      await this.api.watchVideo((f) =>
        this.current()?.stage === "ongoing" ? this.frames.receive(f) : this.frames.discard(),
      );
      this.set({ audio: await this.api.getAudioSettings(), video: await this.api.getVideoSettings() });
    } catch (e) {
      this.set({ notice: errorMessage(e) });
    }
    await this.refresh();
  }

  private signedOut(notice: string | null) {
    this.set({
      phase: "signed_out",
      session: null,
      call: null,
      users: [],
      groups: [],
      history: [],
      notice,
      connection: { state: "disconnected", message: "Not signed in" },
    });
  }

  /** Reloads contacts, groups and history. */
  async refresh(): Promise<void> {
    try {
      const [users, groups, history] = await Promise.all([
        this.api.listUsers(),
        this.api.listGroups(),
        this.api.callHistory(false),
      ]);
      this.set({ users, groups, history });
    } catch (e) {
      this.set({ notice: errorMessage(e) });
    }
  }

  /** The name to show for a user or group id (the id if unknown). */
  nameOf(id: string): string {
    const s = get(this.state);
    return (
      s.users.find((u) => u.user_id === id)?.display_name ??
      s.groups.find((g) => g.group_id === id)?.display_name ??
      id
    );
  }

  /** Places an audio or video call to a user or a group. */
  async call(receiver: string, receiverType: "user" | "group" = "user", callType: "audio" | "video" = "audio"): Promise<void> {
    if (get(this.state).call) return;
    this.set({ notice: null });
    try {
      const call = await this.api.initiateCall(receiver, callType, receiverType, null);
      this.show(newView("outgoing", call, this.nameOf(receiver)));
    } catch (e) {
      this.set({ notice: errorMessage(e) });
    }
  }

  private show(call: CallView | null) {
    this.set({ call });
  }

  private current(): CallView | null {
    return get(this.state).call;
  }

  /** Runs a call command; on failure shows its sentence and leaves the call screen. `next` gets
   * the view as it is when the reply comes (events may have changed it meanwhile). */
  private async act(fn: (c: CallView) => Promise<UiCall>, next: (c: CallView, r: UiCall) => CallView | null) {
    const c = this.current();
    if (!c) return;
    try {
      const r = await fn(c);
      const now = this.current();
      this.show(next(now?.call.session_id === c.call.session_id ? now : c, r));
    } catch (e) {
      this.set({ notice: errorMessage(e), call: null });
    }
    if (!this.current()) void this.refresh();
  }

  /** Answers; `camera` true or false answers a video call with or without the camera
   * (undefined: as the settings say). */
  accept(camera?: boolean) {
    return this.act(
      (c) => this.api.acceptCall(c.call.session_id, camera ?? null),
      (c, r) => ({ ...c, stage: "ongoing", call: r, startedAt: this.now(), peerName: this.titleOf(r, c.peerName) }),
    );
  }

  /** What the call screen is titled: the group's name for a group call, else the peer's. */
  private titleOf(call: UiCall, peerName: string): string {
    return call.receiver_type === "group" ? this.nameOf(call.receiver) : peerName;
  }

  /** How a participant is listed: "You" for this user. */
  participantName(id: string): string {
    return id === get(this.state).session?.user_id ? "You" : this.nameOf(id);
  }
  decline() {
    return this.act((c) => this.api.rejectCall(c.call.session_id, "rejected"), () => null);
  }
  cancel() {
    return this.act((c) => this.api.rejectCall(c.call.session_id, "cancelled"), () => null);
  }
  hangUp() {
    return this.act((c) => this.api.endCall(c.call.session_id), () => null);
  }

  /** Mutes or unmutes the microphone of the call in progress. */
  async toggleMute(): Promise<void> {
    const c = this.current();
    if (c?.stage !== "ongoing") return;
    try {
      const muted = await this.api.setMuted(!c.muted);
      const now = this.current();
      if (now?.call.session_id === c.call.session_id) this.show({ ...now, muted });
    } catch (e) {
      this.set({ notice: errorMessage(e) });
    }
  }

  /** Turns the camera of the call in progress on or off (an audio call becomes a video call). */
  async toggleCamera(): Promise<void> {
    const c = this.current();
    if (c?.stage !== "ongoing") return;
    try {
      const camera = await this.api.setCamera(!c.camera);
      const now = this.current();
      if (now?.call.session_id === c.call.session_id) this.show({ ...now, camera });
      if (!camera) this.frames.remove(LOCAL_KEY);
    } catch (e) {
      this.set({ notice: errorMessage(e) });
    }
  }

  /** Lists the cameras (and the test pattern, the screen) for the camera picker. */
  async loadVideoSources(): Promise<void> {
    try {
      this.set({ videoSources: await this.api.listVideoSources() });
    } catch (e) {
      this.set({ notice: errorMessage(e) });
    }
  }

  /** Keeps a new camera choice (switched at once when the camera is on) or the start-off setting. */
  async saveVideo(patch: Partial<VideoPrefs>): Promise<void> {
    try {
      this.set({ video: await this.api.setVideoSettings({ ...get(this.state).video, ...patch }) });
    } catch (e) {
      this.set({ notice: errorMessage(e) });
    }
  }

  /** Lists the microphones and speakers for the pickers. */
  async loadDevices(): Promise<void> {
    try {
      this.set({ devices: await this.api.listAudioDevices() });
    } catch (e) {
      this.set({ notice: errorMessage(e) });
    }
  }

  /** Keeps a new microphone, speaker or ring volume (switched at once in a call, and used for the next ones). */
  async saveAudio(patch: Partial<AudioSettings>): Promise<void> {
    try {
      this.set({ audio: await this.api.setAudioSettings({ ...get(this.state).audio, ...patch }) });
    } catch (e) {
      this.set({ notice: errorMessage(e) });
    }
  }

  /** Levels from the level channel. */
  onLevels(l: UiAudioLevels): void {
    const c = this.current();
    if (c?.call.session_id === l.session_id) this.show({ ...c, levels: { mic: l.mic, speaker: l.speaker } });
  }

  /** Media figures from the quality channel. */
  onStats(stats: UiMediaStats): void {
    const c = this.current();
    if (c?.call.session_id === stats.session_id && !stats.last) this.show({ ...c, stats });
  }

  dismissNotice() {
    this.set({ notice: null });
  }

  /** The history was looked at: the badge resets. */
  markMissedSeen() {
    const seenMissedAt = this.now();
    globalThis.localStorage?.setItem(SEEN_KEY, String(seenMissedAt));
    this.set({ seenMissedAt });
  }

  /** Applies one event from the shell. */
  handle(ev: UiEvent): void {
    const c = this.current();
    const isCurrent = (call: UiCall) => c?.call.session_id === call.session_id;
    switch (ev.type) {
      case "incoming_call":
        if (!c) {
          this.show(newView("incoming", ev.call, ev.caller_name));
          this.set({ notice: null });
        }
        return;
      case "outgoing_accepted":
        if (isCurrent(ev.call)) this.show({ ...c!, stage: "ongoing", call: ev.call, startedAt: this.now() });
        return;
      case "outgoing_rejected":
      case "incoming_stopped":
      case "call_ended":
        if (isCurrent(ev.call)) {
          this.set({ call: null, notice: c!.mediaError ?? ev.message });
        }
        void this.refresh();
        return;
      case "call_resumed":
        if (isCurrent(ev.call)) this.show({ ...c!, call: ev.call });
        return;
      case "participant_joined":
        if (c?.call.session_id === ev.session_id && !c.call.participants.includes(ev.user_id)) {
          this.show({ ...c, call: { ...c.call, participants: [...c.call.participants, ev.user_id] } });
        }
        return;
      case "participant_left":
        if (c?.call.session_id === ev.session_id) {
          const gone = (u: string) => u !== ev.user_id;
          this.show({
            ...c,
            call: { ...c.call, participants: c.call.participants.filter(gone) },
            mutedPeers: c.mutedPeers.filter(gone),
            speaking: c.speaking.filter(gone),
          });
        }
        return;
      case "participant_muted":
        if (c?.call.session_id === ev.session_id) {
          const others = c.mutedPeers.filter((u) => u !== ev.user_id);
          this.show({ ...c, mutedPeers: ev.muted ? [...others, ev.user_id] : others });
        }
        return;
      case "speakers":
        if (c?.call.session_id === ev.session_id) this.show({ ...c, speaking: ev.speaking });
        return;
      case "presence":
        this.state.update((s) => ({
          ...s,
          users: s.users.map((u) => (u.user_id === ev.user_id ? { ...u, presence: ev.presence } : u)),
        }));
        return;
      case "connection": {
        const wasDown = get(this.state).connection.state !== "connected";
        this.set({ connection: { state: ev.state, message: ev.message } });
        if (ev.state === "connected" && wasDown && get(this.state).phase === "signed_in") void this.refresh();
        return;
      }
      case "media_connected":
        if (c?.call.session_id === ev.session_id) this.show({ ...c, media: "connected" });
        return;
      case "media_failed":
        if (c?.call.session_id === ev.session_id) this.show({ ...c, mediaError: ev.message });
        this.set({ notice: ev.message });
        return;
      case "audio_warning":
        this.set({ notice: ev.message });
        return;
      case "camera":
        if (c?.call.session_id === ev.session_id) this.show({ ...c, camera: ev.source !== null });
        if (ev.source === null) this.frames.remove(LOCAL_KEY);
        if (ev.failure) this.set({ notice: ev.failure });
        return;
      case "video_started":
        return; // its tile appears with its first frame
      case "video_stopped":
        if (c?.call.session_id === ev.session_id) this.frames.remove(ev.stream_id);
        return;
      case "server_error":
        this.set({ notice: ev.message });
        return;
    }
  }
}

/** Animation frames in a window; a timer elsewhere (tests, jsdom). */
function frameScheduler(): (fn: () => void) => void {
  return typeof requestAnimationFrame === "function"
    ? (fn) => requestAnimationFrame(() => fn())
    : (fn) => setTimeout(fn, 16);
}
