//! The portal's own secrets: confirmation links and developers' sessions,
//! kept hashed in `portal_tokens` (never in `tokens`, so the API never
//! takes one).

use sqlx::FromRow;

use crate::sql::Sql;
use crate::{Result, Tx, now};

/// A portal token found by its hash.
#[derive(Clone, Debug, FromRow)]
pub struct PortalToken {
    pub developer_id: String,
    pub purpose: String,
    /// A sign-up's password hash, applied when the link is followed.
    pub pending_secret: Option<String>,
    pub expires_at: String,
}

impl Tx {
    pub async fn portal_token_put(
        &mut self,
        hash: &str,
        developer: &str,
        purpose: &str,
        pending_secret: Option<&str>,
        expires_at: &str,
    ) -> Result<()> {
        let sql = Sql::insert(
            "portal_tokens",
            &[
                "hash",
                "developer_id",
                "purpose",
                "pending_secret",
                "expires_at",
                "created_at",
            ],
            vec![
                hash.into(),
                developer.into(),
                purpose.into(),
                pending_secret.into(),
                expires_at.into(),
                now().into(),
            ],
        );
        self.exec(&sql).await.map(|_| ())
    }

    /// The token with this hash and purpose (authentication: no principal
    /// yet; the caller checks its developer's org and its expiry).
    pub async fn portal_token_for_auth(
        &mut self,
        hash: &str,
        purpose: &str,
    ) -> Result<PortalToken> {
        let mut sql = Sql::new(
            "SELECT developer_id, purpose, pending_secret, expires_at FROM portal_tokens WHERE hash = ",
        );
        sql.arg(hash).push(" AND purpose = ").arg(purpose);
        self.one(&sql).await
    }

    /// Ends one token (a followed link, a signed-out session).
    pub async fn portal_token_drop(&mut self, hash: &str) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM portal_tokens WHERE hash = ");
        sql.arg(hash);
        self.exec(&sql).await.map(|_| ())
    }

    /// Ends every token of a developer for one purpose.
    pub async fn portal_tokens_drop(&mut self, developer: &str, purpose: &str) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM portal_tokens WHERE developer_id = ");
        sql.arg(developer).push(" AND purpose = ").arg(purpose);
        self.exec(&sql).await.map(|_| ())
    }
}

/// An org's portal settings (`portal_settings`).
#[derive(Clone, Debug, FromRow)]
pub struct PortalSettingsRow {
    pub org_id: String,
    pub title: Option<String>,
    /// Markdown.
    pub intro: Option<String>,
    pub accent: String,
    pub signup_open: i64,
}

impl Tx {
    /// The portal settings of an org (the caller has checked it may read
    /// them: they are public on the portal, and shown to its managers).
    pub async fn portal_settings(&mut self, org: &str) -> Result<Option<PortalSettingsRow>> {
        let mut sql = Sql::new(
            "SELECT org_id, title, intro, accent, signup_open FROM portal_settings WHERE org_id = ",
        );
        sql.arg(org);
        match self.one(&sql).await {
            Ok(row) => Ok(Some(row)),
            Err(crate::StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn portal_settings_put(&mut self, s: &PortalSettingsRow) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM portal_settings WHERE org_id = ");
        sql.arg(s.org_id.as_str());
        self.exec(&sql).await?;
        let sql = Sql::insert(
            "portal_settings",
            &[
                "org_id",
                "title",
                "intro",
                "accent",
                "signup_open",
                "updated_at",
            ],
            vec![
                s.org_id.as_str().into(),
                s.title.clone().into(),
                s.intro.clone().into(),
                s.accent.as_str().into(),
                s.signup_open.into(),
                now().into(),
            ],
        );
        self.exec(&sql).await.map(|_| ())
    }

    /// When the org's portal logo was last set, if it has one (a version
    /// for its address, read without the image).
    pub async fn portal_logo_stamp(&mut self, org: &str) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT updated_at FROM portal_logos WHERE org_id = ");
        sql.arg(org);
        match self.one::<(String,)>(&sql).await {
            Ok((at,)) => Ok(Some(at)),
            Err(crate::StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The org's portal logo: its content type and bytes.
    pub async fn portal_logo(&mut self, org: &str) -> Result<Option<(String, Vec<u8>)>> {
        let mut sql = Sql::new("SELECT content_type, image FROM portal_logos WHERE org_id = ");
        sql.arg(org);
        match self.one(&sql).await {
            Ok(row) => Ok(Some(row)),
            Err(crate::StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets (`Some`) or removes (`None`) the org's portal logo.
    pub async fn portal_logo_put(&mut self, org: &str, logo: Option<(&str, &[u8])>) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM portal_logos WHERE org_id = ");
        sql.arg(org);
        self.exec(&sql).await?;
        if let Some((content_type, image)) = logo {
            let sql = Sql::insert(
                "portal_logos",
                &["org_id", "content_type", "image", "updated_at"],
                vec![org.into(), content_type.into(), image.into(), now().into()],
            );
            self.exec(&sql).await?;
        }
        Ok(())
    }
}
