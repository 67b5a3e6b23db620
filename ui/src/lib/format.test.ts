import { describe, expect, it } from "vitest";
import { describeCall, formatDuration, search, sortByPresence, unseenMissed } from "./format";
import { sentence } from "./api";
import type { UiUser } from "./bindings";
import { mkCall } from "./fixtures";


const users: UiUser[] = [
  { user_id: "carol", display_name: "Carol", presence: "offline" },
  { user_id: "alice", display_name: "Alice", presence: "in_call" },
  { user_id: "bob", display_name: "Bob", presence: "online" },
];

describe("format", () => {
  it("formats durations", () => {
    expect(formatDuration(0)).toBe("0:00");
    expect(formatDuration(7_900)).toBe("0:07");
    expect(formatDuration(754_000)).toBe("12:34");
    expect(formatDuration(3_723_000)).toBe("1:02:03");
    expect(formatDuration(-5)).toBe("0:00");
  });

  it("searches by name or id, ignoring case", () => {
    expect(search(users, "AL").map((u) => u.user_id)).toEqual(["alice"]);
    expect(search(users, "  ")).toHaveLength(3);
    expect(search(users, "zed")).toEqual([]);
  });

  it("puts online people first", () => {
    expect(sortByPresence(users).map((u) => u.user_id)).toEqual(["bob", "alice", "carol"]);
  });

  it("counts only missed calls newer than the last look", () => {
    const h = [mkCall({ missed: true, initiated_at: 10 }), mkCall({ missed: true, initiated_at: 30 }), mkCall()];
    expect(unseenMissed(h, 0)).toBe(2);
    expect(unseenMissed(h, 20)).toBe(1);
  });

  it("describes history lines", () => {
    expect(describeCall(mkCall())).toBe("Incoming, 0:42");
    expect(describeCall(mkCall({ missed: true, status: "unanswered" }))).toBe("Missed");
    expect(describeCall(mkCall({ outgoing: true, status: "busy" }))).toBe("Outgoing, busy");
  });

  it("turns messages into sentences", () => {
    expect(sentence("wrong username or password")).toBe("Wrong username or password.");
    expect(sentence("Bob is busy.")).toBe("Bob is busy.");
  });
});
