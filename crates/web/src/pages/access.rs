//! The "who has access" panel of a resource page: everyone who sees or
//! changes it, grouped by the rule that admits them, and a small form that
//! checks one user. It is `orgscope_app::access::explain`'s answer; a
//! viewer the app does not let ask (403) sees no panel at all.

use orgscope_app::Error;
use orgscope_app::access::{self, AccessAnswer, AccessQuery};
use orgscope_core::kind::Kind;

use crate::Host;
use crate::session::Viewer;
use crate::views::{self, AccessPanel};

/// Names shown per group before "and N more".
const NAMES: usize = 12;

/// The panel for a resource, or `None` when the viewer may not ask.
/// `user` is the "check a user" form's value.
pub async fn panel<S: Host>(
    state: &S,
    v: &Viewer,
    kind: &'static Kind,
    id: &str,
    base: &str,
    user: Option<&str>,
) -> Result<Option<AccessPanel>, Error> {
    let env = state.env();
    let groups = match access::explain(&env, &v.caller, kind, id, &AccessQuery::default()).await {
        Ok(AccessAnswer::Groups(g)) => g,
        Ok(_) => return Err(Error::Internal("explain answered no groups".into())),
        Err(Error::Forbidden(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut panel = views::access_panel(&groups, &v.orgs, base, NAMES);
    if let Some(user) = user {
        panel.asked = user.to_owned();
        let q = AccessQuery {
            user: Some(user.to_owned()),
            ..AccessQuery::default()
        };
        match access::explain(&env, &v.caller, kind, id, &q).await {
            Ok(AccessAnswer::Decision(d)) => panel.decision = Some(views::decision(&d)),
            Ok(_) => return Err(Error::Internal("explain answered no decision".into())),
            Err(Error::NotFound(_)) => {
                panel.decision_error = Some(format!(
                    "There is no user “{user}” you can name. Check the username."
                ));
            }
            Err(e @ (Error::BadRequest(_) | Error::Invalid(_))) => {
                panel.decision_error = Some(crate::error::PageError::from(e).message());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Some(panel))
}
