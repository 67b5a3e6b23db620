// Test data shared by the unit tests.
import type { UiCall, UiMediaStats } from "./bindings";

export function mkCall(over: Partial<UiCall> = {}): UiCall {
  return {
    session_id: "s1", call_type: "audio", receiver_type: "user", initiator: "alice", receiver: "bob",
    peer: "alice", outgoing: false, missed: false, status: "ended", initiated_at: 1000,
    answered_at: 2000, duration_ms: 42_000, participants: [], ...over,
  };
}

export function mkStats(over: Partial<UiMediaStats> = {}): UiMediaStats {
  return {
    session_id: "s1", rtt_ms: 20, loss_pct: 0, jitter_ms: 2, send_kbps: 32, recv_kbps: 32,
    playout_delay_ms: 40, packets_received: 500, concealed: 0, last: false, ...over,
  };
}
