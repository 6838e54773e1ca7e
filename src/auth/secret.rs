//! Newtypes for secrets: redacted `Debug`, no `Display`, wiped on drop where cheap.
//! Serde support exists only because the session store must persist them.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }
            /// The secret value. Call sites are easy to grep for.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                // Best effort: overwrite the heap buffer before it is freed.
                zeroize::Zeroize::zeroize(&mut self.0);
            }
        }
    };
}

secret_string!(
    /// The upstream (Zimbra) auth token the gateway holds for a user.
    UpstreamToken
);
secret_string!(
    /// A one-time code typed by a user (TOTP, emailed code or recovery code).
    OtpCode
);
secret_string!(
    /// A password typed by a user, only ever forwarded to the store.
    Password
);
secret_string!(
    /// A bearer value handed to a client: session id, reset link token, 2FA stage token.
    BearerToken
);
secret_string!(
    /// Any other secret text (otpauth URI, SMTP password…).
    SecretText
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let t = UpstreamToken::new("0_abc_def");
        assert_eq!(format!("{t:?}"), "UpstreamToken(<redacted>)");
        assert_eq!(t.expose(), "0_abc_def");
        let c = OtpCode::new("123456");
        assert!(!format!("{c:?}").contains("123456"));
    }

    #[test]
    fn serde_is_transparent() {
        let t = BearerToken::new("x");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"x\"");
    }
}
