// Small pure helpers the screens share.
import type { UiCall, UiGroup, UiUser } from "./bindings";

/** "0:07", "12:34", "1:02:03". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Users and groups whose name or id contains `query` (case-insensitive). */
export function search<T extends UiUser | UiGroup>(items: T[], query: string): T[] {
  const q = query.trim().toLowerCase();
  if (!q) return items;
  return items.filter((i) => {
    const id = "user_id" in i ? i.user_id : i.group_id;
    return i.display_name.toLowerCase().includes(q) || id.toLowerCase().includes(q);
  });
}

/** Online first, then in a call, then offline; by name within each. */
export function sortByPresence(users: UiUser[]): UiUser[] {
  const rank = { online: 0, in_call: 1, offline: 2 } as const;
  return [...users].sort(
    (a, b) => rank[a.presence] - rank[b.presence] || a.display_name.localeCompare(b.display_name),
  );
}

/** Missed calls placed after `seenAt` (ms): the badge's number. */
export function unseenMissed(history: UiCall[], seenAt: number): number {
  return history.filter((c) => c.missed && c.initiated_at > seenAt).length;
}

/** One history line's description: "Missed", "Outgoing, 0:42", … */
export function describeCall(c: UiCall): string {
  if (c.missed) return "Missed";
  const dir = c.outgoing ? "Outgoing" : "Incoming";
  switch (c.status) {
    case "ended":
      return `${dir}, ${formatDuration(c.duration_ms ?? 0)}`;
    case "rejected":
      return `${dir}, declined`;
    case "busy":
      return `${dir}, busy`;
    case "unanswered":
      return `${dir}, not answered`;
    case "cancelled":
      return `${dir}, cancelled`;
    case "ongoing":
      return `${dir}, in progress`;
    default:
      return `${dir}, ringing`;
  }
}

export function formatTime(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const sameDay = new Date(now).toDateString() === d.toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleDateString([], { month: "short", day: "numeric" });
}
