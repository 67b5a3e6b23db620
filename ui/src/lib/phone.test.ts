// The UI logic against a mocked shell (@tauri-apps/api/mocks): commands go
// through mockIPC, events through its event mocking.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import { get } from "svelte/store";
import type { Channel } from "@tauri-apps/api/core";
import { DEFAULT_AUDIO, DEFAULT_VIDEO, Phone } from "./phone";
import { encodeFrame } from "./video.test-util";
import { EVENT, type AudioSettings, type UiAudioLevels, type UiEvent, type UiMediaStats, type VideoPrefs } from "./bindings";
import { mkCall, mkStats } from "./fixtures";

type Handler = (args: Record<string, unknown>) => unknown;
let calls: { cmd: string; args: Record<string, unknown> }[];
let handlers: Record<string, Handler>;
let qualityChannel: Channel<UiMediaStats> | null;
let levelChannel: Channel<UiAudioLevels> | null;
let savedAudio: AudioSettings;
let videoChannel: Channel<ArrayBuffer> | null;
let savedVideo: VideoPrefs;

const session = { user_id: "bob", server_url: "http://127.0.0.1:8480", notice: null };
const ringing = mkCall({ status: "initiated", answered_at: null, duration_ms: null });

function setup(over: Record<string, Handler> = {}) {
  calls = [];
  qualityChannel = null;
  levelChannel = null;
  savedAudio = { ...DEFAULT_AUDIO };
  videoChannel = null;
  savedVideo = { ...DEFAULT_VIDEO };
  handlers = {
    watch_video: (a) => {
      videoChannel = a.onFrame as Channel<ArrayBuffer>;
      return null;
    },
    video_frames_drawn: () => null,
    get_video_settings: () => savedVideo,
    set_video_settings: (a) => (savedVideo = a.video as VideoPrefs),
    list_video_sources: () => [{ id: "pattern", name: "Test pattern" }, { id: "camera:v4l:usb", name: "USB camera" }],
    set_camera: (a) => a.on,
    watch_call_quality: (a) => {
      qualityChannel = a.onStats as Channel<UiMediaStats>;
      return null;
    },
    watch_audio_levels: (a) => {
      levelChannel = a.onLevels as Channel<UiAudioLevels>;
      return null;
    },
    get_audio_settings: () => savedAudio,
    set_audio_settings: (a) => (savedAudio = a.audio as AudioSettings),
    list_audio_devices: () => ({
      inputs: [{ id: "pulseaudio:vmic", name: "Virtual mic", is_default: true }],
      outputs: [{ id: "pulseaudio:spk", name: "Speaker", is_default: true }],
    }),
    set_muted: (a) => a.muted,
    get_settings: () => ({ server_url: "http://127.0.0.1:8480", username: "bob", remember: true }),
    restore_session: () => null,
    login: () => session,
    logout: () => null,
    list_users: () => [{ user_id: "alice", display_name: "Alice", presence: "online" }],
    list_groups: () => [{ group_id: "team", display_name: "Team", members: ["alice", "bob"] }],
    call_history: () => [],
    accept_call: () => ({ ...ringing, status: "ongoing", answered_at: 5 }),
    reject_call: () => ({ ...ringing, status: "rejected" }),
    end_call: () => ({ ...ringing, status: "ended" }),
    initiate_call: (a) => mkCall({ receiver: String(a.receiver), peer: String(a.receiver), outgoing: true, status: "initiated" }),
    ...over,
  };
  mockIPC(
    (cmd, args) => {
      calls.push({ cmd, args: (args ?? {}) as Record<string, unknown> });
      const h = handlers[cmd];
      if (!h) throw new Error(`unexpected command ${cmd}`);
      return h((args ?? {}) as Record<string, unknown>);
    },
    { shouldMockEvents: true },
  );
}

async function signedInPhone() {
  const phone = new Phone(undefined, () => 1_000);
  await phone.start();
  await phone.login({ serverUrl: "http://127.0.0.1:8480", username: "bob", password: "bob", remember: true });
  return phone;
}

const send = (ev: UiEvent) => emit(EVENT, ev);
const flush = () => new Promise((r) => setTimeout(r, 0));

beforeEach(() => setup());
afterEach(() => clearMocks());

describe("signing in", () => {
  it("shows the login screen when nothing is saved in the keyring", async () => {
    const phone = new Phone();
    await phone.start();
    expect(get(phone.state).phase).toBe("signed_out");
    expect(get(phone.state).defaults.username).toBe("bob");
  });

  it("is signed in from the keyring and loads contacts", async () => {
    setup({ restore_session: () => session });
    const phone = new Phone();
    await phone.start();
    const s = get(phone.state);
    expect(s.phase).toBe("signed_in");
    expect(s.users.map((u) => u.user_id)).toEqual(["alice"]);
    expect(s.groups).toHaveLength(1);
  });

  it("says so when the password is wrong", async () => {
    setup({ login: () => Promise.reject({ kind: "wrong_credentials", message: "wrong username or password" }) });
    const phone = new Phone();
    await phone.start();
    await phone.login({ serverUrl: "http://x", username: "bob", password: "nope", remember: false });
    expect(get(phone.state).phase).toBe("signed_out");
    expect(get(phone.state).notice).toBe("Wrong username or password. Check them and try again.");
  });

  it("says when the keyring would not keep the session", async () => {
    setup({ login: () => ({ ...session, notice: "Signed in, but the system keyring cannot be used." }) });
    const phone = await signedInPhone();
    expect(get(phone.state).phase).toBe("signed_in");
    expect(get(phone.state).notice).toBe("Signed in, but the system keyring cannot be used.");
  });

  it("passes the server's sentence when it is unreachable", async () => {
    const message = "cannot reach the server at http://127.0.0.1:9/ (connection refused); check the address and that the server is running";
    setup({ login: () => Promise.reject({ kind: "unreachable", message }) });
    const phone = new Phone();
    await phone.start();
    await phone.login({ serverUrl: "http://127.0.0.1:9", username: "bob", password: "bob", remember: true });
    expect(get(phone.state).notice).toMatch(/^Cannot reach the server at .* running\.$/);
  });

  it("sends the form as the command's arguments", async () => {
    await signedInPhone();
    const login = calls.find((c) => c.cmd === "login");
    expect(login?.args).toEqual({ serverUrl: "http://127.0.0.1:8480", username: "bob", password: "bob", remember: true });
  });
});

describe("incoming calls", () => {
  it("rings with the caller's name, and answering starts the timer", async () => {
    const phone = await signedInPhone();
    await send({ type: "incoming_call", call: ringing, caller_name: "Alice" });
    await flush();
    expect(get(phone.state).call).toMatchObject({ stage: "incoming", peerName: "Alice" });
    await phone.accept();
    expect(calls.find((c) => c.cmd === "accept_call")?.args).toEqual({ sessionId: "s1", camera: null });
    expect(get(phone.state).call).toMatchObject({ stage: "ongoing", startedAt: 1_000 });
    await phone.hangUp();
    expect(get(phone.state).call).toBeNull();
  });

  it("stops ringing when answered elsewhere", async () => {
    const phone = await signedInPhone();
    await send({ type: "incoming_call", call: ringing, caller_name: "Alice" });
    await send({ type: "incoming_stopped", call: { ...ringing, status: "ongoing" }, message: "Answered on another device." });
    await flush();
    expect(get(phone.state).call).toBeNull();
    expect(get(phone.state).notice).toBe("Answered on another device.");
  });

  it("declines as rejected", async () => {
    const phone = await signedInPhone();
    await send({ type: "incoming_call", call: ringing, caller_name: "Alice" });
    await flush();
    await phone.decline();
    expect(calls.find((c) => c.cmd === "reject_call")?.args).toEqual({ sessionId: "s1", reason: "rejected" });
    expect(get(phone.state).call).toBeNull();
  });
});

describe("group calls", () => {
  it("lists who is in the call as people join and leave", async () => {
    const phone = await signedInPhone();
    const group = { ...ringing, receiver_type: "group" as const, receiver: "team", participants: ["alice"] };
    await send({ type: "incoming_call", call: group, caller_name: "Alice" });
    await send({ type: "participant_joined", session_id: "s1", user_id: "bob" });
    await send({ type: "participant_joined", session_id: "s1", user_id: "carol" });
    await send({ type: "participant_joined", session_id: "s1", user_id: "carol" });
    await flush();
    expect(get(phone.state).call?.call.participants).toEqual(["alice", "bob", "carol"]);
    await send({ type: "participant_left", session_id: "s1", user_id: "alice" });
    await send({ type: "participant_left", session_id: "other", user_id: "bob" });
    await flush();
    expect(get(phone.state).call?.call.participants).toEqual(["bob", "carol"]);
  });
});

describe("outgoing calls", () => {
  it("shows why a call was not answered", async () => {
    const phone = await signedInPhone();
    await phone.call("alice");
    expect(get(phone.state).call).toMatchObject({ stage: "outgoing", peerName: "Alice" });
    const call = get(phone.state).call!.call;
    await send({ type: "outgoing_rejected", call: { ...call, status: "busy" }, message: "Alice is busy." });
    await flush();
    expect(get(phone.state).call).toBeNull();
    expect(get(phone.state).notice).toBe("Alice is busy.");
  });

  it("shows the shell's sentence when placing fails", async () => {
    setup({ initiate_call: () => Promise.reject({ kind: "not_connected", message: "not connected to the server (reconnecting)" }) });
    const phone = await signedInPhone();
    await phone.call("alice");
    expect(get(phone.state).call).toBeNull();
    expect(get(phone.state).notice).toBe("Not connected to the server (reconnecting).");
  });

  it("cancels before an answer, and the accepted call goes on screen", async () => {
    const phone = await signedInPhone();
    await phone.call("alice");
    const call = get(phone.state).call!.call;
    await send({ type: "outgoing_accepted", call: { ...call, status: "ongoing" } });
    await flush();
    expect(get(phone.state).call?.stage).toBe("ongoing");
  });
});

describe("audio", () => {
  async function inCall() {
    const phone = await signedInPhone();
    await send({ type: "incoming_call", call: ringing, caller_name: "Alice" });
    await flush();
    await phone.accept();
    return phone;
  }

  it("mutes and unmutes the microphone through the shell", async () => {
    const phone = await inCall();
    expect(get(phone.state).call?.muted).toBe(false);
    await phone.toggleMute();
    expect(calls.filter((c) => c.cmd === "set_muted").map((c) => c.args)).toEqual([{ muted: true }]);
    expect(get(phone.state).call?.muted).toBe(true);
    await phone.toggleMute();
    expect(get(phone.state).call?.muted).toBe(false);
  });

  it("does not mute while nothing is in progress", async () => {
    const phone = await signedInPhone();
    await phone.toggleMute();
    expect(calls.some((c) => c.cmd === "set_muted")).toBe(false);
  });

  it("shows when the audio connects, and the figures of this call only", async () => {
    const phone = await inCall();
    expect(get(phone.state).call?.media).toBe("connecting");
    await send({ type: "media_connected", session_id: "s1", after_ms: 62 });
    await flush();
    expect(get(phone.state).call?.media).toBe("connected");
    expect(qualityChannel).not.toBeNull();
    qualityChannel!.onmessage(mkStats({ session_id: "other", loss_pct: 50 }));
    expect(get(phone.state).call?.stats).toBeNull();
    qualityChannel!.onmessage(mkStats({ loss_pct: 1.5 }));
    expect(get(phone.state).call?.stats?.loss_pct).toBe(1.5);
  });

  it("moves the level meters of this call only", async () => {
    const phone = await inCall();
    expect(levelChannel).not.toBeNull();
    levelChannel!.onmessage({ session_id: "other", mic: 1, speaker: 1 });
    expect(get(phone.state).call?.levels).toBeNull();
    levelChannel!.onmessage({ session_id: "s1", mic: 0.25, speaker: 0.5 });
    expect(get(phone.state).call?.levels).toEqual({ mic: 0.25, speaker: 0.5 });
  });

  it("keeps the reason audio failed past the call's end", async () => {
    const phone = await inCall();
    await send({ type: "media_failed", session_id: "s1", message: "The call's audio failed: ICE failed" });
    await send({ type: "call_ended", call: { ...ringing, status: "ended" }, message: "Call ended." });
    await flush();
    expect(get(phone.state).call).toBeNull();
    expect(get(phone.state).notice).toBe("The call's audio failed: ICE failed");
  });

  it("says when a device is unavailable", async () => {
    const phone = await inCall();
    await send({ type: "audio_warning", session_id: "s1", message: "Microphone unavailable: gone. The other side hears silence." });
    await flush();
    expect(get(phone.state).notice).toBe("Microphone unavailable: gone. The other side hears silence.");
    expect(get(phone.state).call?.stage).toBe("ongoing");
  });

  it("lists devices and keeps the choice", async () => {
    const phone = await signedInPhone();
    await phone.loadDevices();
    expect(get(phone.state).devices?.outputs[0].id).toBe("pulseaudio:spk");
    await phone.saveAudio({ output_device: "pulseaudio:spk" });
    await phone.saveAudio({ ring_volume: 30 });
    expect(savedAudio).toEqual({ input_device: null, output_device: "pulseaudio:spk", ring_volume: 30, echo_cancellation: true });
    expect(get(phone.state).audio).toEqual(savedAudio);
  });

  it("reads the saved choice at sign-in", async () => {
    setup({ get_audio_settings: () => ({ input_device: "pulseaudio:vmic", output_device: null, ring_volume: 10, echo_cancellation: false }) });
    const phone = await signedInPhone();
    expect(get(phone.state).audio.input_device).toBe("pulseaudio:vmic");
  });
});

describe("presence, connection and the missed-call badge", () => {
  it("updates presence and the connection line", async () => {
    const phone = await signedInPhone();
    await send({ type: "presence", user_id: "alice", presence: "in_call" });
    await send({ type: "connection", state: "reconnecting", message: "Connection lost; reconnecting in 1 s…" });
    await flush();
    const s = get(phone.state);
    expect(s.users[0].presence).toBe("in_call");
    expect(s.connection).toEqual({ state: "reconnecting", message: "Connection lost; reconnecting in 1 s…" });
  });

  it("resets the badge once the history is looked at", async () => {
    setup({ call_history: () => [mkCall({ missed: true, status: "unanswered", initiated_at: 500 })] });
    const phone = await signedInPhone();
    expect(get(phone.state).history[0].missed).toBe(true);
    expect(get(phone.state).seenMissedAt).toBeLessThan(500);
    phone.markMissedSeen();
    expect(get(phone.state).seenMissedAt).toBe(1_000);
  });
});

describe("group call participants", () => {
  it("shows who is muted and who speaks, and forgets those who leave", async () => {
    const phone = await signedInPhone();
    const group = { ...ringing, receiver_type: "group" as const, receiver: "team", participants: ["alice", "carol"] };
    await send({ type: "incoming_call", call: group, caller_name: "Alice" });
    await send({ type: "participant_muted", session_id: "s1", user_id: "carol", muted: true });
    await send({ type: "participant_muted", session_id: "other", user_id: "alice", muted: true });
    await send({ type: "speakers", session_id: "s1", speaking: ["alice", "carol"] });
    await flush();
    expect(get(phone.state).call).toMatchObject({ mutedPeers: ["carol"], speaking: ["alice", "carol"] });
    await send({ type: "participant_muted", session_id: "s1", user_id: "carol", muted: false });
    await send({ type: "participant_muted", session_id: "s1", user_id: "alice", muted: true });
    await send({ type: "participant_left", session_id: "s1", user_id: "alice" });
    await flush();
    expect(get(phone.state).call).toMatchObject({ mutedPeers: [], speaking: ["carol"] });
  });
});

describe("answering a group call", () => {
  it("keeps what arrived while the answer was on its way, and titles the call with the group", async () => {
    const group = { ...ringing, receiver_type: "group" as const, receiver: "team", peer: "team", participants: ["alice", "carol"] };
    setup({
      // The server tells who is muted right as the accept goes through.
      accept_call: async () => {
        await send({ type: "participant_muted", session_id: "s1", user_id: "carol", muted: true });
        await flush();
        return { ...group, status: "ongoing", answered_at: 5, participants: ["alice", "carol", "bob"] };
      },
    });
    const phone = await signedInPhone();
    await send({ type: "incoming_call", call: group, caller_name: "Alice" });
    await flush();
    await phone.accept();
    await flush();
    const view = get(phone.state).call!;
    expect(view.stage).toBe("ongoing");
    expect(view.mutedPeers).toEqual(["carol"]);
    expect(view.peerName).toBe("Team");
    expect(phone.participantName("bob")).toBe("You");
    expect(phone.participantName("alice")).toBe("Alice");
  });
});

describe("video", () => {
  async function inCall(phone: Phone) {
    await send({ type: "incoming_call", call: { ...ringing, call_type: "video" }, caller_name: "Alice" });
    await flush();
    await phone.accept(true);
  }

  it("answers a video call with or without the camera, and places video calls", async () => {
    const phone = await signedInPhone();
    await inCall(phone);
    expect(calls.find((c) => c.cmd === "accept_call")?.args).toEqual({ sessionId: "s1", camera: true });
    await send({ type: "camera", session_id: "s1", source: "pattern", failure: null });
    await flush();
    expect(get(phone.state).call?.camera).toBe(true);
    await phone.hangUp();
    await phone.call("alice", "user", "video");
    expect(calls.find((c) => c.cmd === "initiate_call")?.args).toEqual({
      receiver: "alice", callType: "video", receiverType: "user", camera: null,
    });
  });

  it("turns the camera on and off mid-call (an audio call becomes a video call)", async () => {
    const phone = await signedInPhone();
    await send({ type: "incoming_call", call: ringing, caller_name: "Alice" });
    await flush();
    await phone.accept();
    expect(get(phone.state).call?.camera).toBe(false);
    await phone.toggleCamera();
    expect(calls.filter((c) => c.cmd === "set_camera").map((c) => c.args)).toEqual([{ on: true }]);
    expect(get(phone.state).call?.camera).toBe(true);
    await phone.toggleCamera();
    expect(get(phone.state).call?.camera).toBe(false);
    // A camera that fails says so and is off.
    await phone.toggleCamera();
    await send({ type: "camera", session_id: "s1", source: null, failure: "The camera stopped: unplugged." });
    await flush();
    expect(get(phone.state).call?.camera).toBe(false);
    expect(get(phone.state).notice).toBe("The camera stopped: unplugged.");
  });

  it("shows a refused camera's sentence and keeps it off", async () => {
    setup({ set_camera: () => Promise.reject({ kind: "other", message: "the other side did not take video" }) });
    const phone = await signedInPhone();
    await send({ type: "incoming_call", call: ringing, caller_name: "Alice" });
    await flush();
    await phone.accept();
    await phone.toggleCamera();
    expect(get(phone.state).call?.camera).toBe(false);
    expect(get(phone.state).notice).toBe("The other side did not take video.");
  });

  it("frames from the channel make tiles; a stopped stream and the call's end remove them", async () => {
    const phone = await signedInPhone();
    await inCall(phone);
    videoChannel!.onmessage(encodeFrame({ key: "alice-stream", owner: "alice", width: 4, height: 2 }));
    videoChannel!.onmessage(encodeFrame({ key: "local", local: true, width: 2, height: 2 }));
    expect(get(phone.state).tiles).toEqual([
      { key: "alice-stream", owner: "alice", local: false },
      { key: "local", owner: "", local: true },
    ]);
    await send({ type: "video_stopped", session_id: "s1", stream_id: "alice-stream" });
    await flush();
    expect(get(phone.state).tiles.map((t) => t.key)).toEqual(["local"]);
    await phone.hangUp();
    expect(get(phone.state).tiles).toEqual([]);
    // The last frames of the call that just ended make no tile.
    videoChannel!.onmessage(encodeFrame({ key: "alice-stream", owner: "alice", width: 4, height: 2 }));
    expect(get(phone.state).tiles).toEqual([]);
  });

  it("keeps the camera choice and the start-off setting", async () => {
    const phone = await signedInPhone();
    await phone.loadVideoSources();
    expect(get(phone.state).videoSources?.map((s) => s.id)).toEqual(["pattern", "camera:v4l:usb"]);
    await phone.saveVideo({ source: "pattern" });
    await phone.saveVideo({ start_with_camera_off: true });
    expect(savedVideo).toEqual({ source: "pattern", start_with_camera_off: true });
    expect(get(phone.state).video).toEqual(savedVideo);
  });
});
