// The UI's state and what changes it: commands sent through `api`, events
// from the shell (one typed UiEvent stream). Screens only read `state` and
// call these methods; no component talks to the shell itself.
import { writable, get, type Writable } from "svelte/store";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { api as realApi, errorMessage, isAppError, type Api, type LoginForm } from "./api";
import {
  EVENT,
  type LoginDefaults,
  type SessionInfo,
  type UiCall,
  type UiConnection,
  type UiEvent,
  type UiGroup,
  type UiUser,
} from "./bindings";

/** The call on screen: ringing out, ringing in, or in progress. */
export interface CallView {
  stage: "outgoing" | "incoming" | "ongoing";
  call: UiCall;
  peerName: string;
  /** When the call was answered (ms, this machine's clock), for the timer. */
  startedAt: number | null;
  muted: boolean;
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
}

const SEEN_KEY = "softphone.seenMissedAt";

export const AUDIO_UNAVAILABLE = "Audio is not available yet, so there is nothing to mute.";

export class Phone {
  readonly state: Writable<PhoneState>;
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
    });
  }

  private set(patch: Partial<PhoneState>) {
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

  private nameOf(id: string): string {
    const s = get(this.state);
    return (
      s.users.find((u) => u.user_id === id)?.display_name ??
      s.groups.find((g) => g.group_id === id)?.display_name ??
      id
    );
  }

  /** Places an audio call to a user or a group. */
  async call(receiver: string, receiverType: "user" | "group" = "user"): Promise<void> {
    if (get(this.state).call) return;
    this.set({ notice: null });
    try {
      const call = await this.api.initiateCall(receiver, "audio", receiverType);
      this.show({ stage: "outgoing", call, peerName: this.nameOf(receiver), startedAt: null, muted: false });
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

  /** Runs a call command; on failure shows its sentence and, if `drop`, leaves the call screen. */
  private async act(fn: (c: CallView) => Promise<UiCall>, next: (c: CallView, r: UiCall) => CallView | null) {
    const c = this.current();
    if (!c) return;
    try {
      const r = await fn(c);
      this.show(next(c, r));
    } catch (e) {
      this.set({ notice: errorMessage(e), call: null });
    }
    if (!this.current()) void this.refresh();
  }

  accept() {
    return this.act(
      (c) => this.api.acceptCall(c.call.session_id),
      (c, r) => ({ ...c, stage: "ongoing", call: r, startedAt: this.now() }),
    );
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

  /** There is no audio yet: say so instead of pretending to mute. */
  toggleMute() {
    this.set({ notice: AUDIO_UNAVAILABLE });
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
          this.show({ stage: "incoming", call: ev.call, peerName: ev.caller_name, startedAt: null, muted: false });
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
          this.set({ call: null, notice: ev.message });
        }
        void this.refresh();
        return;
      case "call_resumed":
        if (isCurrent(ev.call)) this.show({ ...c!, call: ev.call });
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
      case "server_error":
        this.set({ notice: ev.message });
        return;
    }
  }
}
