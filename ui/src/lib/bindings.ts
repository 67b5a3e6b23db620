// Generated from the Rust types by src-tauri/src/bindings.rs (ts-rs). Do not edit:
// run `UPDATE_BINDINGS=1 cargo test -p softphone bindings` after changing them.

/** The Tauri event every UiEvent is emitted under. */
export const EVENT = "softphone://event";

export type UiCallType = "audio" | "video";

export type UiReceiverType = "user" | "group";

export type UiCallStatus = "initiated" | "ongoing" | "rejected" | "busy" | "cancelled" | "unanswered" | "ended";

export type UiPresence = "offline" | "online" | "in_call";

export type UiCall = { 
/**
 * The call's id.
 */
session_id: string, 
/**
 * Audio or video.
 */
call_type: UiCallType, 
/**
 * User or group call.
 */
receiver_type: UiReceiverType, 
/**
 * Who placed it.
 */
initiator: string, 
/**
 * The user or group called.
 */
receiver: string, 
/**
 * The other party: the caller for incoming calls, the receiver otherwise.
 */
peer: string, 
/**
 * Did this user place it?
 */
outgoing: boolean, 
/**
 * Incoming and never answered (nobody picked up, or the caller gave up).
 */
missed: boolean, 
/**
 * Where it stands.
 */
status: UiCallStatus, 
/**
 * When it was placed (ms since the Unix epoch).
 */
initiated_at: number, 
/**
 * When it was answered.
 */
answered_at: number | null, 
/**
 * How long it lasted, once ended.
 */
duration_ms: number | null, 
/**
 * Who is in the call now (user ids, this user included; for group calls
 * the in-call screen lists them).
 */
participants: Array<string>, };

export type UiUser = { 
/**
 * Their id (what calls use).
 */
user_id: string, 
/**
 * Their name to show.
 */
display_name: string, 
/**
 * Online, offline or in a call.
 */
presence: UiPresence, };

export type UiGroup = { 
/**
 * Its id (what calls use).
 */
group_id: string, 
/**
 * Its name to show.
 */
display_name: string, 
/**
 * Member user ids.
 */
members: Array<string>, };

export type SessionInfo = { 
/**
 * Who is signed in.
 */
user_id: string, 
/**
 * Where.
 */
server_url: string, 
/**
 * Something to tell the person about the sign-in (the keyring refused
 * to keep the session, …).
 */
notice: string | null, };

export type LoginDefaults = { 
/**
 * The last server URL used (or the default).
 */
server_url: string, 
/**
 * The last username used.
 */
username: string, 
/**
 * Whether "remember me" was on.
 */
remember: boolean, };

export type RejectReason = "rejected" | "busy" | "cancelled";

export type ErrorKind = "wrong_credentials" | "unreachable" | "session_expired" | "not_logged_in" | "not_connected" | "already_in_call" | "not_found" | "invalid_input" | "keyring" | "settings" | "other";

export type AppError = { 
/**
 * What kind of failure.
 */
kind: ErrorKind, 
/**
 * The sentence to show.
 */
message: string, };

export type UiConnection = "connecting" | "connected" | "reconnecting" | "disconnected";

export type UiEvent = { "type": "incoming_call", 
/**
 * The call.
 */
call: UiCall, 
/**
 * The caller's name to show.
 */
caller_name: string, } | { "type": "outgoing_accepted", 
/**
 * The call, ongoing.
 */
call: UiCall, } | { "type": "outgoing_rejected", 
/**
 * The call, final.
 */
call: UiCall, 
/**
 * Why, as a sentence ("Bob is busy.").
 */
message: string, } | { "type": "incoming_stopped", 
/**
 * The call as it now stands.
 */
call: UiCall, 
/**
 * Why, as a sentence.
 */
message: string, } | { "type": "call_ended", 
/**
 * The call, ended.
 */
call: UiCall, 
/**
 * Why, as a sentence.
 */
message: string, } | { "type": "call_resumed", 
/**
 * The call.
 */
call: UiCall, } | { "type": "participant_joined", 
/**
 * The call.
 */
session_id: string, 
/**
 * Who.
 */
user_id: string, } | { "type": "participant_left", 
/**
 * The call.
 */
session_id: string, 
/**
 * Who.
 */
user_id: string, } | { "type": "participant_muted", 
/**
 * The call.
 */
session_id: string, 
/**
 * Who.
 */
user_id: string, 
/**
 * Muted now.
 */
muted: boolean, } | { "type": "speakers", 
/**
 * The call.
 */
session_id: string, 
/**
 * User ids, the active speaker first (empty: nobody).
 */
speaking: Array<string>, } | { "type": "presence", 
/**
 * Who.
 */
user_id: string, 
/**
 * Now.
 */
presence: UiPresence, } | { "type": "connection", 
/**
 * The state.
 */
state: UiConnection, 
/**
 * In words, for the status line.
 */
message: string, } | { "type": "media_connected", 
/**
 * The call.
 */
session_id: string, 
/**
 * From the answer to connected (ms).
 */
after_ms: number, } | { "type": "media_failed", 
/**
 * The call.
 */
session_id: string, 
/**
 * What went wrong, as a sentence.
 */
message: string, } | { "type": "audio_warning", 
/**
 * The call.
 */
session_id: string, 
/**
 * The sentence.
 */
message: string, } | { "type": "camera", 
/**
 * The call.
 */
session_id: string, 
/**
 * The source sending now (`pattern`, `camera:…`, `screen:…`), or
 * `None`: off.
 */
source: string | null, 
/**
 * A sentence when it was not asked for.
 */
failure: string | null, } | { "type": "video_started", 
/**
 * The call.
 */
session_id: string, 
/**
 * The stream (the key of its frames, see `video::wire`).
 */
stream_id: string, 
/**
 * Whose, when known (a user id).
 */
owner: string | null, } | { "type": "video_stopped", 
/**
 * The call.
 */
session_id: string, 
/**
 * The stream.
 */
stream_id: string, } | { "type": "server_error", 
/**
 * Its sentence.
 */
message: string, };

export type AudioSettings = { 
/**
 * The microphone's id, or the system default.
 */
input_device: string | null, 
/**
 * The speaker's id (calls, ringtone and ringback), or the system default.
 */
output_device: string | null, 
/**
 * Ringtone and ringback volume, 0 (silent) to 100.
 */
ring_volume: number, 
/**
 * Run the echo canceller when both devices are real (speakers; a
 * headset needs none).
 */
echo_cancellation: boolean, };

export type UiAudioDevice = { 
/**
 * Stable id (`pulseaudio:…`); what the settings keep.
 */
id: string, 
/**
 * Its name to show.
 */
name: string, 
/**
 * The system's default of its kind.
 */
is_default: boolean, };

export type UiAudioDevices = { 
/**
 * Capture devices.
 */
inputs: Array<UiAudioDevice>, 
/**
 * Playback devices.
 */
outputs: Array<UiAudioDevice>, };

export type UiMediaStats = { 
/**
 * The call.
 */
session_id: string, 
/**
 * Round-trip time (ms), once measured.
 */
rtt_ms: number | null, 
/**
 * Incoming packets lost, in percent.
 */
loss_pct: number, 
/**
 * Interarrival jitter of the incoming audio (ms).
 */
jitter_ms: number, 
/**
 * Outgoing bitrate (kb/s).
 */
send_kbps: number, 
/**
 * Incoming bitrate (kb/s).
 */
recv_kbps: number, 
/**
 * Jitter-buffer delay (ms).
 */
playout_delay_ms: number, 
/**
 * Incoming packets so far.
 */
packets_received: number, 
/**
 * Frames concealed so far.
 */
concealed: number, 
/**
 * The session's last report (the call's media stopped).
 */
last: boolean, };

export type UiAudioLevels = { 
/**
 * The call.
 */
session_id: string, 
/**
 * Microphone peak, 0–1 (measured before mute).
 */
mic: number, 
/**
 * Speaker peak, 0–1.
 */
speaker: number, };

export type VideoPrefs = { 
/**
 * The chosen source's id, or the first camera (else the test pattern).
 */
source: string | null, 
/**
 * Video calls (placed or answered) start with the camera off; it can
 * be turned on in the call.
 */
start_with_camera_off: boolean, };

export type UiVideoSource = { 
/**
 * Stable id (`pattern`, `camera:v4l:…`, `screen::0`).
 */
id: string, 
/**
 * What to show.
 */
name: string, };
