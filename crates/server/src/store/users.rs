//! Accounts and login tokens. Passwords arrive here already hashed (see
//! [`crate::auth`]); tokens arrive as their SHA-256, never in the clear.

use super::{
    from_db, is_unique_violation, now_ms, to_db, validate_display_name, validate_id, Store,
};
use crate::error::{Error, Result};

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Login name.
    pub id: String,
    /// Name to show.
    pub display_name: String,
    /// Argon2 PHC string.
    pub password_hash: String,
}

impl Store {
    /// Creates a user. Fails with a sentence if the id is bad or taken.
    pub async fn create_user(
        &self,
        id: &str,
        display_name: &str,
        password_hash: &str,
    ) -> Result<()> {
        validate_id(id)?;
        validate_display_name(display_name)?;
        if self.group_exists(id).await? {
            return Err(Error::NameTakenByGroup(id.to_owned()));
        }
        let result = sqlx::query(
            "INSERT INTO users (id, display_name, password_hash, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(display_name)
        .bind(password_hash)
        .bind(to_db(now_ms()))
        .execute(self.pool())
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(Error::UserExists(id.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// One user, if they exist.
    pub async fn user(&self, id: &str) -> Result<Option<UserRecord>> {
        let row: Option<(String, String, String)> =
            sqlx::query_as("SELECT id, display_name, password_hash FROM users WHERE id = ?")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(id, display_name, password_hash)| UserRecord {
            id,
            display_name,
            password_hash,
        }))
    }

    /// True if the user exists.
    pub async fn user_exists(&self, id: &str) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// Every user as `(id, display_name)`, by id.
    pub async fn list_users(&self) -> Result<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT id, display_name FROM users ORDER BY id")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Replaces a user's password hash and signs them out everywhere.
    pub async fn set_password_hash(&self, id: &str, password_hash: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::UnknownUser(id.to_owned()));
        }
        sqlx::query("DELETE FROM tokens WHERE user_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a token's hash for `user_id` until `expires_at` (ms), and drops
    /// tokens that have expired.
    pub async fn insert_token(&self, hash: &str, user_id: &str, expires_at: u64) -> Result<()> {
        let now = now_ms();
        sqlx::query("DELETE FROM tokens WHERE expires_at <= ?")
            .bind(to_db(now))
            .execute(self.pool())
            .await?;
        sqlx::query(
            "INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(hash)
        .bind(user_id)
        .bind(to_db(now))
        .bind(to_db(expires_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The user a token hash belongs to, if it exists and has not expired at `now`.
    pub async fn token_user(&self, hash: &str, now: u64) -> Result<Option<(String, u64)>> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT user_id, expires_at FROM tokens WHERE hash = ? AND expires_at > ?",
        )
        .bind(hash)
        .bind(to_db(now))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(user, expires)| (user, from_db(expires))))
    }

    /// Forgets a token (logout).
    pub async fn delete_token(&self, hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM tokens WHERE hash = ?")
            .bind(hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::error::Error;
    use crate::store::test_util::temp_store;

    #[tokio::test]
    async fn users_are_created_listed_and_unique() {
        let (store, _dir) = temp_store().await;
        store.create_user("bob", "Bob", "h1").await.expect("bob");
        store
            .create_user("alice", "Alice", "h2")
            .await
            .expect("alice");
        let err = store.create_user("bob", "Bob", "h").await.expect_err("dup");
        assert!(matches!(err, Error::UserExists(_)), "{err}");
        assert!(matches!(
            store.create_user("Bad Name", "x", "h").await,
            Err(Error::InvalidId(_))
        ));
        let users = store.list_users().await.expect("list");
        assert_eq!(
            users,
            vec![
                ("alice".into(), "Alice".into()),
                ("bob".into(), "Bob".into())
            ]
        );
        assert_eq!(
            store
                .user("alice")
                .await
                .expect("get")
                .map(|u| u.password_hash),
            Some("h2".into())
        );
        assert!(store.user("zed").await.expect("get").is_none());
    }

    #[tokio::test]
    async fn tokens_expire_and_are_revoked_by_a_new_password() {
        let (store, _dir) = temp_store().await;
        store
            .create_user("alice", "Alice", "h")
            .await
            .expect("alice");
        let now = crate::store::now_ms();
        store
            .insert_token("t1", "alice", now + 60_000)
            .await
            .expect("t1");
        assert_eq!(
            store.token_user("t1", now).await.expect("q").map(|t| t.0),
            Some("alice".into())
        );
        assert!(store
            .token_user("t1", now + 60_000)
            .await
            .expect("q")
            .is_none());
        assert!(store.token_user("nope", now).await.expect("q").is_none());
        store
            .set_password_hash("alice", "h2")
            .await
            .expect("passwd");
        assert!(store.token_user("t1", now).await.expect("q").is_none());
        assert!(matches!(
            store.set_password_hash("zed", "h").await,
            Err(Error::UnknownUser(_))
        ));
        store
            .insert_token("t2", "alice", now + 60_000)
            .await
            .expect("t2");
        store.delete_token("t2").await.expect("logout");
        assert!(store.token_user("t2", now).await.expect("q").is_none());
    }
}
