//! The ids of tenants, orgs and users as distinct types, so that a rule
//! asked about an org of a tenant cannot be handed the two the wrong way
//! round (`can_manage_org(p, tenant, org)`), nor a user's id for an org's.
//! They read as `&str` (the store binds them as text).
//!
//! ```compile_fail
//! use orgscope_core::ids::OrgId;
//! use orgscope_core::policy::{system_filter, SystemRead};
//! // An org's id where the tenant's belongs does not compile.
//! let f = system_filter(&OrgId::from("org_a"), None, SystemRead::Accounts);
//! ```

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        // Sets of ids are asked with a plain `&str` (a row's column).
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                Self(id.clone())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A tenant's id (`ten_…`).
    TenantId
);
id_type!(
    /// An org's id (`org_…`).
    OrgId
);
id_type!(
    /// A user's id (`usr_…`).
    UserId
);
