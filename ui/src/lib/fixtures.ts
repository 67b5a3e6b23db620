// Test data shared by the unit tests.
import type { UiCall } from "./bindings";

export function mkCall(over: Partial<UiCall> = {}): UiCall {
  return {
    session_id: "s1", call_type: "audio", receiver_type: "user", initiator: "alice", receiver: "bob",
    peer: "alice", outgoing: false, missed: false, status: "ended", initiated_at: 1000,
    answered_at: 2000, duration_ms: 42_000, ...over,
  };
}
