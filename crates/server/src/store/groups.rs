//! Groups and their members. User and group ids share one namespace, so a
//! call's receiver id never means two things.

use super::{is_unique_violation, now_ms, to_db, validate_display_name, validate_id, Store};
use crate::error::{Error, Result};
use softphone_proto::GroupInfo;
use std::collections::BTreeMap;

impl Store {
    /// Creates a group with `members` (each must be an existing user).
    pub async fn create_group(
        &self,
        id: &str,
        display_name: &str,
        members: &[String],
    ) -> Result<()> {
        validate_id(id)?;
        validate_display_name(display_name)?;
        if self.user_exists(id).await? {
            return Err(Error::NameTakenByUser(id.to_owned()));
        }
        for member in members {
            if !self.user_exists(member).await? {
                return Err(Error::UnknownUser(member.clone()));
            }
        }
        let mut tx = self.pool().begin().await?;
        let inserted =
            sqlx::query("INSERT INTO groups (id, display_name, created_at) VALUES (?, ?, ?)")
                .bind(id)
                .bind(display_name)
                .bind(to_db(now_ms()))
                .execute(&mut *tx)
                .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(Error::GroupExists(id.to_owned())),
            Err(e) => return Err(e.into()),
        }
        for member in members {
            sqlx::query("INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?, ?)")
                .bind(id)
                .bind(member)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Adds a member; `Ok(false)` if they already were one.
    pub async fn add_group_member(&self, group: &str, user: &str) -> Result<bool> {
        if !self.group_exists(group).await? {
            return Err(Error::UnknownGroup(group.to_owned()));
        }
        if !self.user_exists(user).await? {
            return Err(Error::UnknownUser(user.to_owned()));
        }
        let done =
            sqlx::query("INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?, ?)")
                .bind(group)
                .bind(user)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// True if the group exists.
    pub async fn group_exists(&self, id: &str) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM groups WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// One group with its members, if it exists.
    pub async fn group(&self, id: &str) -> Result<Option<GroupInfo>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, display_name FROM groups WHERE id = ?")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        let Some((group_id, display_name)) = row else {
            return Ok(None);
        };
        let members: Vec<(String,)> =
            sqlx::query_as("SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id")
                .bind(id)
                .fetch_all(self.pool())
                .await?;
        Ok(Some(GroupInfo {
            group_id,
            display_name,
            members: members.into_iter().map(|(m,)| m).collect(),
        }))
    }

    /// Every group, or only those `member` belongs to, by id.
    pub async fn list_groups(&self, member: Option<&str>) -> Result<Vec<GroupInfo>> {
        let groups: Vec<(String, String)> = match member {
            Some(user) => {
                sqlx::query_as(
                    "SELECT g.id, g.display_name FROM groups g \
                     JOIN group_members m ON m.group_id = g.id WHERE m.user_id = ? ORDER BY g.id",
                )
                .bind(user)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query_as("SELECT id, display_name FROM groups ORDER BY id")
                    .fetch_all(self.pool())
                    .await?
            }
        };
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT group_id, user_id FROM group_members ORDER BY group_id, user_id",
        )
        .fetch_all(self.pool())
        .await?;
        let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (group, user) in rows {
            members.entry(group).or_default().push(user);
        }
        Ok(groups
            .into_iter()
            .map(|(group_id, display_name)| GroupInfo {
                members: members.remove(&group_id).unwrap_or_default(),
                group_id,
                display_name,
            })
            .collect())
    }

    /// True if `user` is a member of `group`.
    pub async fn is_group_member(&self, group: &str, user: &str) -> Result<bool> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM group_members WHERE group_id = ? AND user_id = ?")
                .bind(group)
                .bind(user)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }
}

#[cfg(test)]
mod tests {
    use crate::error::Error;
    use crate::store::test_util::temp_store;

    #[tokio::test]
    async fn groups_hold_existing_users_only() {
        let (store, _dir) = temp_store().await;
        for u in ["alice", "bob", "carol"] {
            store.create_user(u, u, "h").await.expect("user");
        }
        let members = vec!["alice".to_string(), "bob".to_string()];
        store
            .create_group("team", "Team", &members)
            .await
            .expect("team");
        assert!(matches!(
            store.create_group("team", "Team", &members).await,
            Err(Error::GroupExists(_))
        ));
        assert!(matches!(
            store
                .create_group("other", "Other", &["zed".to_string()])
                .await,
            Err(Error::UnknownUser(_))
        ));
        assert!(matches!(
            store.create_group("alice", "A", &[]).await,
            Err(Error::NameTakenByUser(_))
        ));
        assert!(matches!(
            store.create_user("team", "T", "h").await,
            Err(Error::NameTakenByGroup(_))
        ));
        assert!(store.add_group_member("team", "carol").await.expect("add"));
        assert!(!store
            .add_group_member("team", "carol")
            .await
            .expect("again"));
        assert!(matches!(
            store.add_group_member("nope", "carol").await,
            Err(Error::UnknownGroup(_))
        ));
        let team = store.group("team").await.expect("get").expect("exists");
        assert_eq!(team.members, vec!["alice", "bob", "carol"]);
        store
            .create_group("solo", "Solo", &["bob".to_string()])
            .await
            .expect("solo");
        let of_alice = store.list_groups(Some("alice")).await.expect("list");
        assert_eq!(of_alice.len(), 1);
        assert_eq!(store.list_groups(None).await.expect("all").len(), 2);
        assert!(store.is_group_member("solo", "bob").await.expect("q"));
        assert!(!store.is_group_member("solo", "alice").await.expect("q"));
    }
}
