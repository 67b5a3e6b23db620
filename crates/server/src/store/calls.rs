//! The call log: one row per call (upserted by session id as the call moves),
//! with its invitees and participants replaced alongside, and the per-user
//! queries behind `GET /v1/calls`.

use super::{enum_str, from_db, parse_enum, to_db, Store};
use crate::error::Result;
use softphone_proto::{Call, CallDirection, CallLogQuery, Invitee, Participant};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::collections::HashMap;

/// Default and largest page of `GET /v1/calls`.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest `limit` honoured.
pub const MAX_LIMIT: u32 = 500;

const CALL_COLUMNS: &str = "c.session_id, c.call_type, c.receiver_type, c.initiator, c.receiver, \
     c.status, c.ring_timeout_ms, c.initiated_at, c.answered_at, c.ended_at, c.duration_ms, c.end_reason";

type CallRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// `(session_id, user_id, device_id, joined_at, left_at, left_reason)`.
type ParticipantRow = (String, String, String, i64, Option<i64>, Option<String>);

impl Store {
    /// Writes calls in one transaction: each row upserted, its invitees and
    /// participants replaced. Later entries for the same session win.
    pub async fn save_calls(&self, calls: &[Call]) -> Result<()> {
        // Keep the newest version of each call, in first-seen order.
        let mut newest: HashMap<&str, usize> = HashMap::new();
        for (i, call) in calls.iter().enumerate() {
            newest.insert(call.session_id.as_str(), i);
        }
        let unique: Vec<&Call> = calls
            .iter()
            .enumerate()
            .filter(|(i, c)| newest.get(c.session_id.as_str()) == Some(i))
            .map(|(_, c)| c)
            .collect();
        let mut tx = self.pool().begin().await?;
        // A few multi-row statements per chunk rather than several per call:
        // the writer must keep up with thousands of call changes a second.
        for chunk in unique.chunks(WRITE_CHUNK) {
            save_chunk(&mut tx, chunk).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One call by session id.
    pub async fn call(&self, session_id: &str) -> Result<Option<Call>> {
        let sql = format!("SELECT {CALL_COLUMNS} FROM calls c WHERE c.session_id = ?");
        let row: Option<CallRow> = sqlx::query_as(&sql)
            .bind(session_id)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(row) => Ok(self.complete(vec![row]).await?.pop()),
            None => Ok(None),
        }
    }

    /// `me`'s call log, newest first, filtered as [`CallLogQuery`] says:
    ///
    /// - scope: calls that involve `me` (placed, invited to, or joined); with
    ///   `group`, calls to that group that involve `me` or, if `me` is a
    ///   member, all of them;
    /// - `direction`: `outgoing` = placed by `me`; `incoming` = `me` was
    ///   invited; `missed` = invited and the response is missed or busy
    ///   ([`Call::is_missed_by`]);
    /// - `with_user`: 1:1 calls between `me` and that user.
    pub async fn call_log(&self, me: &str, query: &CallLogQuery) -> Result<Vec<Call>> {
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
        let mut qb: QueryBuilder<'_, Sqlite> =
            QueryBuilder::new(format!("SELECT {CALL_COLUMNS} FROM calls c WHERE "));
        match &query.group {
            Some(group) => {
                qb.push("c.receiver_type = 'group' AND c.receiver = ");
                qb.push_bind(group.clone());
                qb.push(" AND (");
                push_involves(&mut qb, me);
                qb.push(" OR EXISTS (SELECT 1 FROM group_members gm WHERE gm.group_id = c.receiver AND gm.user_id = ");
                qb.push_bind(me.to_owned());
                qb.push("))");
            }
            None => push_involves(&mut qb, me),
        }
        match query.direction {
            Some(CallDirection::Outgoing) => {
                qb.push(" AND c.initiator = ");
                qb.push_bind(me.to_owned());
            }
            Some(CallDirection::Incoming) => {
                qb.push(" AND EXISTS (SELECT 1 FROM call_invitees i WHERE i.session_id = c.session_id AND i.user_id = ");
                qb.push_bind(me.to_owned());
                qb.push(")");
            }
            Some(CallDirection::Missed) => {
                qb.push(" AND EXISTS (SELECT 1 FROM call_invitees i WHERE i.session_id = c.session_id AND i.user_id = ");
                qb.push_bind(me.to_owned());
                qb.push(" AND i.response IN ('missed', 'busy'))");
            }
            None => {}
        }
        if let Some(other) = &query.with_user {
            qb.push(" AND c.receiver_type = 'user' AND ((c.initiator = ");
            qb.push_bind(me.to_owned());
            qb.push(" AND c.receiver = ");
            qb.push_bind(other.clone());
            qb.push(") OR (c.initiator = ");
            qb.push_bind(other.clone());
            qb.push(" AND c.receiver = ");
            qb.push_bind(me.to_owned());
            qb.push("))");
        }
        qb.push(" ORDER BY c.initiated_at DESC, c.rowid DESC LIMIT ");
        qb.push_bind(i64::from(limit));
        let rows: Vec<CallRow> = qb.build_query_as().fetch_all(self.pool()).await?;
        self.complete(rows).await
    }

    /// Finishes calls a crash left live: `initiated` → `cancelled`,
    /// `ongoing` → `ended`, reason `server_shutdown`, at `now`. Ringing
    /// invitees become missed; participants still in leave with `call_ended`.
    /// Returns how many calls it finished.
    pub async fn finish_interrupted_calls(&self, now: u64) -> Result<u64> {
        let now = to_db(now);
        let mut tx = self.pool().begin().await?;
        let live = "SELECT session_id FROM calls WHERE status IN ('initiated', 'ongoing')";
        sqlx::query(&format!(
            "UPDATE call_invitees SET response = 'missed' WHERE response = 'ringing' AND session_id IN ({live})"
        ))
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "UPDATE call_participants SET left_at = ?, left_reason = 'call_ended' \
             WHERE left_at IS NULL AND session_id IN ({live})"
        ))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "UPDATE calls SET \
               status = CASE status WHEN 'initiated' THEN 'cancelled' ELSE 'ended' END, \
               end_reason = 'server_shutdown', \
               ended_at = ?1, \
               duration_ms = CASE WHEN answered_at IS NULL THEN NULL ELSE MAX(?1 - answered_at, 0) END \
             WHERE status IN ('initiated', 'ongoing')",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Turns call rows into [`Call`]s, loading their invitees and participants.
    async fn complete(&self, rows: Vec<CallRow>) -> Result<Vec<Call>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        let ids_json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        let invitee_rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT session_id, user_id, response FROM call_invitees \
             WHERE session_id IN (SELECT value FROM json_each(?)) ORDER BY session_id, rowid",
        )
        .bind(&ids_json)
        .fetch_all(self.pool())
        .await?;
        let participant_rows: Vec<ParticipantRow> = sqlx::query_as(
            "SELECT session_id, user_id, device_id, joined_at, left_at, left_reason FROM call_participants \
             WHERE session_id IN (SELECT value FROM json_each(?)) ORDER BY session_id, seq",
        )
        .bind(&ids_json)
        .fetch_all(self.pool())
        .await?;
        let mut invitees: HashMap<String, Vec<Invitee>> = HashMap::new();
        for (sid, user_id, response) in invitee_rows {
            invitees.entry(sid).or_default().push(Invitee {
                user_id,
                response: parse_enum(&response)?,
            });
        }
        let mut participants: HashMap<String, Vec<Participant>> = HashMap::new();
        for (sid, user_id, device_id, joined_at, left_at, left_reason) in participant_rows {
            participants.entry(sid).or_default().push(Participant {
                user_id,
                device_id,
                joined_at: from_db(joined_at),
                left_at: left_at.map(from_db),
                left_reason: left_reason.as_deref().map(parse_enum).transpose()?,
            });
        }
        rows.into_iter()
            .map(|r| {
                Ok(Call {
                    invitees: invitees.remove(&r.0).unwrap_or_default(),
                    participants: participants.remove(&r.0).unwrap_or_default(),
                    session_id: r.0,
                    call_type: parse_enum(&r.1)?,
                    receiver_type: parse_enum(&r.2)?,
                    initiator: r.3,
                    receiver: r.4,
                    status: parse_enum(&r.5)?,
                    ring_timeout_ms: from_db(r.6),
                    initiated_at: from_db(r.7),
                    answered_at: r.8.map(from_db),
                    ended_at: r.9.map(from_db),
                    duration_ms: r.10.map(from_db),
                    end_reason: r.11.as_deref().map(parse_enum).transpose()?,
                })
            })
            .collect()
    }
}

/// `(placed by me OR invited me OR joined by me)`, as a set of session ids
/// found through the per-user indexes: an `OR` of correlated `EXISTS` would
/// scan every call ever made for every query.
fn push_involves(qb: &mut QueryBuilder<'_, Sqlite>, me: &str) {
    qb.push("c.session_id IN (SELECT session_id FROM calls WHERE initiator = ");
    qb.push_bind(me.to_owned());
    qb.push(" UNION SELECT session_id FROM call_invitees WHERE user_id = ");
    qb.push_bind(me.to_owned());
    qb.push(" UNION SELECT session_id FROM call_participants WHERE user_id = ");
    qb.push_bind(me.to_owned());
    qb.push(")");
}

/// Calls per multi-row statement (SQLite allows 32766 bound values).
const WRITE_CHUNK: usize = 256;
/// Rows per multi-row insert of invitees or participants.
const ROW_CHUNK: usize = 2048;

/// The statements are built for each chunk's size, so they are not kept in
/// the connection's statement cache (a cache of large multi-row statements
/// held hundreds of megabytes).
async fn save_chunk(conn: &mut SqliteConnection, calls: &[&Call]) -> Result<()> {
    let mut upsert: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
        "INSERT INTO calls (session_id, call_type, receiver_type, initiator, receiver, status, \
           ring_timeout_ms, initiated_at, answered_at, ended_at, duration_ms, end_reason) ",
    );
    upsert.push_values(calls, |mut row, call| {
        row.push_bind(call.session_id.clone())
            .push_bind(enum_str(&call.call_type))
            .push_bind(enum_str(&call.receiver_type))
            .push_bind(call.initiator.clone())
            .push_bind(call.receiver.clone())
            .push_bind(enum_str(&call.status))
            .push_bind(to_db(call.ring_timeout_ms))
            .push_bind(to_db(call.initiated_at))
            .push_bind(call.answered_at.map(to_db))
            .push_bind(call.ended_at.map(to_db))
            .push_bind(call.duration_ms.map(to_db))
            .push_bind(call.end_reason.as_ref().map(enum_str));
    });
    upsert.push(
        " ON CONFLICT (session_id) DO UPDATE SET \
           call_type = excluded.call_type, receiver_type = excluded.receiver_type, \
           initiator = excluded.initiator, receiver = excluded.receiver, status = excluded.status, \
           ring_timeout_ms = excluded.ring_timeout_ms, initiated_at = excluded.initiated_at, \
           answered_at = excluded.answered_at, ended_at = excluded.ended_at, \
           duration_ms = excluded.duration_ms, end_reason = excluded.end_reason",
    );
    upsert.build().persistent(false).execute(&mut *conn).await?;

    for table in ["call_invitees", "call_participants"] {
        let mut delete: QueryBuilder<'_, Sqlite> =
            QueryBuilder::new(format!("DELETE FROM {table} WHERE session_id IN ("));
        let mut ids = delete.separated(", ");
        for call in calls {
            ids.push_bind(call.session_id.clone());
        }
        delete.push(")");
        delete.build().persistent(false).execute(&mut *conn).await?;
    }

    let invitees: Vec<(&str, &Invitee)> = calls
        .iter()
        .flat_map(|c| c.invitees.iter().map(move |i| (c.session_id.as_str(), i)))
        .collect();
    for rows in invitees.chunks(ROW_CHUNK) {
        let mut insert: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
            "INSERT OR REPLACE INTO call_invitees (session_id, user_id, response) ",
        );
        insert.push_values(rows, |mut row, (sid, invitee)| {
            row.push_bind(sid.to_string())
                .push_bind(invitee.user_id.clone())
                .push_bind(enum_str(&invitee.response));
        });
        insert.build().persistent(false).execute(&mut *conn).await?;
    }

    let participants: Vec<(&str, usize, &Participant)> = calls
        .iter()
        .flat_map(|c| {
            c.participants
                .iter()
                .enumerate()
                .map(move |(seq, p)| (c.session_id.as_str(), seq, p))
        })
        .collect();
    for rows in participants.chunks(ROW_CHUNK) {
        let mut insert: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
            "INSERT OR REPLACE INTO call_participants \
               (session_id, seq, user_id, device_id, joined_at, left_at, left_reason) ",
        );
        insert.push_values(rows, |mut row, (sid, seq, p)| {
            row.push_bind(sid.to_string())
                .push_bind(i64::try_from(*seq).unwrap_or(i64::MAX))
                .push_bind(p.user_id.clone())
                .push_bind(p.device_id.clone())
                .push_bind(to_db(p.joined_at))
                .push_bind(p.left_at.map(to_db))
                .push_bind(p.left_reason.as_ref().map(enum_str));
        });
        insert.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}
