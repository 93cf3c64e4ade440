//! What the templates show, read from what the app layer's operations
//! answer. Each operation's answer is read in one function here, and each
//! body an operation takes is built in one function in [`bodies`], so a
//! change of an operation's input or view type touches one place.

use orgscope_app::choices::OrgChoice;
use orgscope_app::knowledge::SearchHit;
use orgscope_app::orgs::OrgRef;
use orgscope_app::resources::Rescoped;
use serde_json::Value;

use crate::assets;

/// The person signed in, as `me::whoami` answers.
pub struct Me {
    pub username: String,
    pub role: String,
    pub tenant: Option<String>,
    /// Slug of their default org.
    pub default_org: Option<String>,
    pub memberships: Vec<Membership>,
}

pub struct Membership {
    pub slug: String,
    pub can_manage: bool,
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn opt(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// Reads `me::whoami`.
pub fn me(m: &orgscope_app::me::Me) -> Me {
    let memberships = m
        .memberships
        .iter()
        .flatten()
        .map(|ms| Membership {
            slug: ms.org.slug.clone(),
            can_manage: ms.can_manage,
        })
        .collect();
    Me {
        username: m.username.clone().unwrap_or_else(|| "operator".into()),
        role: m.role.clone().unwrap_or_default(),
        tenant: m.tenant.as_ref().map(|t| t.name.clone()),
        default_org: m
            .default_org
            .as_ref()
            .map(|o| o.slug.clone().unwrap_or_else(|| o.id.clone())),
        memberships,
    }
}

/// An org (or tenant-wide) as a badge: the text says it, the colour only helps.
#[derive(Clone)]
pub struct Badge {
    pub label: String,
    pub title: String,
    pub tone: u8,
    pub tenant_wide: bool,
}

impl Badge {
    pub fn tenant_wide() -> Badge {
        Badge {
            label: "Tenant-wide".into(),
            title: "Tenant-wide: everyone in the tenant can see it".into(),
            tone: 0,
            tenant_wide: true,
        }
    }

    pub fn all() -> Badge {
        Badge {
            label: "All my organizations".into(),
            title: "Everything you can see: your organizations and tenant-wide".into(),
            tone: 0,
            tenant_wide: true,
        }
    }

    pub fn org(slug: &str, orgs: &[OrgChoice]) -> Badge {
        let name = orgs
            .iter()
            .find(|o| o.slug == slug || o.id == slug)
            .map_or_else(|| slug.to_owned(), |o| o.name.clone());
        // FNV-1a: a stable tone per slug, among seven.
        let tone = slug.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        }) % 7;
        Badge {
            title: format!("Organization {name} ({slug})"),
            label: name,
            tone: u8::try_from(tone + 1).unwrap_or(1),
            tenant_wide: false,
        }
    }

    /// A resource's `org` (`{id, slug}` or null).
    pub fn of(org: &Value, orgs: &[OrgChoice]) -> Badge {
        match org["slug"].as_str().or(org["id"].as_str()) {
            Some(slug) => Badge::org(slug, orgs),
            None => Badge::tenant_wide(),
        }
    }

    /// A typed view's `org`.
    pub fn of_ref(org: Option<&OrgRef>, orgs: &[OrgChoice]) -> Badge {
        match org {
            Some(o) => Badge::org(o.slug.as_deref().unwrap_or(&o.id), orgs),
            None => Badge::tenant_wide(),
        }
    }

    /// An `org=` selector: `all` (or none), `tenant`, or an org.
    pub fn selector(org: Option<&str>, orgs: &[OrgChoice]) -> Badge {
        match org {
            None | Some("" | "all") => Badge::all(),
            Some("tenant" | "none") => Badge::tenant_wide(),
            Some(o) => Badge::org(o, orgs),
        }
    }
}

/// One of the viewer's orgs, and whether they manage it.
pub struct MemberBadge {
    pub badge: Badge,
    pub can_manage: bool,
}

/// An `<option>` of a picker.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    pub fn new(value: impl Into<String>, label: impl Into<String>, selected: bool) -> Choice {
        Choice {
            value: value.into(),
            label: label.into(),
            selected,
        }
    }
}

/// What the layout shows around every page.
pub struct Layout {
    pub title: String,
    /// The nav entry of this page.
    pub nav: &'static str,
    pub csrf: String,
    pub username: String,
    pub role: String,
    pub tenant: Option<String>,
    pub default_org: Option<Badge>,
    pub memberships: Vec<MemberBadge>,
    pub css: String,
    pub js: String,
    pub htmx: String,
    /// What the viewer's role opens (the admin nav entries).
    pub powers: orgscope_app::choices::Powers,
}

impl Layout {
    pub fn new(title: impl Into<String>, nav: &'static str, v: &crate::session::Viewer) -> Layout {
        let mut l = Layout::bare(title);
        l.nav = nav;
        l.csrf.clone_from(&v.csrf);
        l.username.clone_from(&v.me.username);
        l.role.clone_from(&v.me.role);
        l.tenant.clone_from(&v.me.tenant);
        l.default_org = v.me.default_org.as_deref().map(|d| Badge::org(d, &v.orgs));
        l.powers = v.powers.clone();
        l.memberships =
            v.me.memberships
                .iter()
                .map(|m| MemberBadge {
                    badge: Badge::org(&m.slug, &v.orgs),
                    can_manage: m.can_manage,
                })
                .collect();
        l
    }

    /// For pages shown to nobody in particular (sign-in, errors before sign-in).
    pub fn bare(title: impl Into<String>) -> Layout {
        Layout {
            title: title.into(),
            nav: "",
            csrf: String::new(),
            username: String::new(),
            role: String::new(),
            tenant: None,
            default_org: None,
            memberships: Vec::new(),
            css: assets::url("app.css"),
            js: assets::url("app.js"),
            htmx: assets::url("htmx.min.js"),
            powers: orgscope_app::choices::Powers::default(),
        }
    }

    pub fn signed_in(&self) -> bool {
        !self.username.is_empty()
    }

    /// The nav's groups of the generic kinds' pages.
    pub fn nav_groups(&self) -> Vec<NavGroup> {
        crate::pages::kinds::GROUPS
            .iter()
            .map(|(id, title, paths)| NavGroup {
                id,
                title,
                entries: paths
                    .iter()
                    .filter_map(|p| orgscope_core::kind::by_path(p))
                    .map(|k| (k.path, crate::fields::plural(k)))
                    .collect(),
            })
            .collect()
    }
}

/// A heading of the nav and its entries: (path, label).
pub struct NavGroup {
    pub id: &'static str,
    pub title: &'static str,
    pub entries: Vec<(&'static str, String)>,
}

/// A file in a listing or on its page (`files::list`, `resources::read`).
pub struct FileItem {
    pub id: String,
    pub name: String,
    pub org: Badge,
    pub org_slug: Option<String>,
    pub size: String,
    pub size_bytes: i64,
    pub content_type: String,
    pub sha256: String,
    pub extraction: String,
    pub extraction_label: &'static str,
    pub extraction_error: Option<String>,
    pub entries: i64,
    /// "1 entry", "3 entries".
    pub entries_label: String,
    pub created: When,
    pub updated: When,
}

/// A time: relative in the text, exact in the `title`.
pub struct When {
    pub iso: String,
    pub relative: String,
}

impl When {
    pub fn of(iso: &str) -> When {
        When {
            iso: iso.to_owned(),
            relative: relative(iso),
        }
    }
}

fn relative(iso: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    let Ok(t) = time::OffsetDateTime::parse(iso, &Rfc3339) else {
        return iso.to_owned();
    };
    let secs = (time::OffsetDateTime::now_utc() - t).whole_seconds();
    // A time to come (a job's next firing).
    match -secs {
        60..3600 => return format!("in {} min", -secs / 60),
        3600..86_400 => return format!("in {} h", -secs / 3600),
        86_400..2_592_000 => return format!("in {} d", -secs / 86_400),
        2_592_000.. => return iso.get(..10).unwrap_or(iso).to_owned(),
        _ => {}
    }
    match secs {
        ..60 => "just now".into(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        86_400..2_592_000 => format!("{} d ago", secs / 86_400),
        _ => iso.get(..10).unwrap_or(iso).to_owned(),
    }
}

/// A name that ends in a stored timestamp (a session named by the app
/// after its persona and the time it started) reads as a date for people:
/// "Helper 2026-12-02T14:05:09.123456Z" is "Helper, 2 Dec 2026 14:05 UTC".
pub fn readable_name(name: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    let Some((head, last)) = name.rsplit_once(' ') else {
        return name.to_owned();
    };
    let Ok(t) = time::OffsetDateTime::parse(last, &Rfc3339) else {
        return name.to_owned();
    };
    let t = t.to_offset(time::UtcOffset::UTC);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{head}, {} {} {} {:02}:{:02} UTC",
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year(),
        t.hour(),
        t.minute()
    )
}

/// Bytes for people: 1 decimal above a KiB.
pub fn size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn extraction_label(state: &str) -> &'static str {
    match state {
        "done" => "Searchable",
        "pending" | "queued" => "Queued",
        "running" => "Extracting",
        "failed" => "Failed",
        "skipped" | "none" | "unsupported" => "Not text",
        _ => "Unknown",
    }
}

/// Reads a file as `files::list` and `resources::read` answer it.
pub fn file(v: &Value, orgs: &[OrgChoice]) -> FileItem {
    let bytes = v["size"].as_i64().unwrap_or(0);
    let state = s(&v["extraction"]["state"]);
    FileItem {
        id: s(&v["id"]),
        name: s(&v["name"]),
        org: Badge::of(&v["org"], orgs),
        org_slug: opt(&v["org"]["slug"]),
        size: size(bytes),
        size_bytes: bytes,
        content_type: s(&v["content_type"]),
        sha256: s(&v["sha256"]),
        extraction_label: extraction_label(&state),
        extraction: state,
        extraction_error: opt(&v["extraction"]["error"]),
        entries: v["extraction"]["entries"].as_i64().unwrap_or(0),
        entries_label: {
            let n = v["extraction"]["entries"].as_i64().unwrap_or(0);
            format!("{n} {}", counted(n, "entries"))
        },
        created: When::of(v["created_at"].as_str().unwrap_or_default()),
        updated: When::of(v["updated_at"].as_str().unwrap_or_default()),
    }
}

/// A resource being moved to another org: what the move preview names.
pub struct Subject {
    pub name: String,
    pub org: Badge,
    /// Its page (`/files/file_…`); the move is `{base}/move`.
    pub base: String,
    /// Its list, for the breadcrumb.
    pub list: String,
    pub list_label: String,
}

impl FileItem {
    pub fn subject(&self) -> Subject {
        Subject {
            name: self.name.clone(),
            org: self.org.clone(),
            base: format!("/files/{}", crate::error::encode(&self.id)),
            list: "/files".into(),
            list_label: "Files".into(),
        }
    }
}

/// The impact of a re-scope, as `resources::rescope` answers it.
pub struct Impact {
    pub from: Badge,
    pub to: Badge,
    pub losing: Vec<String>,
    pub losing_count: usize,
    pub gaining: Vec<String>,
    pub gaining_count: usize,
    /// What follows the resource: (how many, what).
    pub derived: Vec<(i64, String)>,
    pub pruned: Vec<String>,
    pub blocking: Vec<String>,
}

impl Impact {
    /// Those the viewer may not learn the names of.
    pub fn losing_unnamed(&self) -> usize {
        self.losing_count.saturating_sub(self.losing.len())
    }
    pub fn gaining_unnamed(&self) -> usize {
        self.gaining_count.saturating_sub(self.gaining.len())
    }
    /// The confirm button names the effect.
    pub fn confirm_label(&self) -> String {
        let who = |n: usize, verb: &str| match n {
            1 => format!("1 person {verb}s"),
            n => format!("{n} people {verb}"),
        };
        let effect = match (self.losing_count, self.gaining_count) {
            (0, 0) => "no one's access changes".to_owned(),
            (l, 0) => format!("{} access", who(l, "lose")),
            (0, g) => format!("{} access", who(g, "gain")),
            (l, g) => format!("{}, {} access", who(l, "lose"), who(g, "gain")),
        };
        format!("Move to {}: {effect}", self.to.label)
    }
}

/// "3 knowledge entries", "1 knowledge entry".
pub fn counted(n: i64, plural: &str) -> String {
    if n != 1 {
        return plural.to_owned();
    }
    if let Some(stem) = plural.strip_suffix("ies") {
        format!("{stem}y")
    } else {
        plural.strip_suffix('s').unwrap_or(plural).to_owned()
    }
}

/// Reads the impact `resources::rescope` answers.
pub fn impact(r: &Rescoped, orgs: &[OrgChoice]) -> Impact {
    let i = &r.impact;
    let derived = i
        .derived
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, n)| {
                    let n = n.as_i64()?;
                    Some((n, counted(n, &k.replace('_', " "))))
                })
                .collect()
        })
        .unwrap_or_default();
    let blocking = i
        .blocking_references
        .iter()
        .map(|b| {
            let r = &b["ref"];
            let org = r["org"]["slug"].as_str().unwrap_or("tenant-wide");
            let how = if b["direction"] == "refers_to" {
                "it refers to"
            } else {
                "it is referred to by"
            };
            format!(
                "{how} {} {} (field {}, in {org})",
                s(&r["kind"]),
                s(&r["id"]),
                s(&r["field"])
            )
        })
        .collect();
    Impact {
        from: Badge::of_ref(i.from.as_ref(), orgs),
        to: Badge::of_ref(i.to.as_ref(), orgs),
        losing: i.users_losing_access.clone(),
        losing_count: usize::try_from(i.users_losing_access_count).unwrap_or(0),
        gaining: i.users_gaining_access.clone(),
        gaining_count: usize::try_from(i.users_gaining_access_count).unwrap_or(0),
        derived,
        pruned: i.assignments_pruned.clone(),
        blocking,
    }
}

/// A knowledge search hit, as `knowledge::search` answers it.
pub struct Hit {
    pub file_id: String,
    pub file_name: String,
    pub org: Badge,
    /// Escaped by the app layer, with the matches in `<mark>`.
    pub snippet_html: String,
    pub position: i64,
}

/// Reads a hit of `knowledge::search`.
pub fn hit(h: &SearchHit, orgs: &[OrgChoice]) -> Hit {
    Hit {
        file_id: h.file.id.clone(),
        file_name: h.file.name.clone(),
        org: Badge::of_ref(h.org.as_ref(), orgs),
        snippet_html: h.snippet.clone(),
        position: h.position,
    }
}

/// The "who has access" panel (`access::explain`).
pub struct AccessPanel {
    /// Where the "check a user" form goes (the resource's page).
    pub base: String,
    pub groups: Vec<AccessGroupView>,
    /// The username asked about, if any.
    pub asked: String,
    pub decision: Option<DecisionView>,
    pub decision_error: Option<String>,
}

/// One rule's group of people (or org keys).
pub struct AccessGroupView {
    pub text: String,
    pub org: Option<Badge>,
    pub see: bool,
    pub change: bool,
    pub count: i64,
    /// "person", "people", "key", "keys".
    pub noun: &'static str,
    pub names: Vec<String>,
    /// Counted but not named here (hidden from the viewer, or further pages).
    pub unnamed: i64,
}

/// One user's decision and the rule that made it.
pub struct DecisionView {
    pub name: String,
    pub see: bool,
    pub change: bool,
    pub because: String,
    pub see_because: String,
    pub change_because: String,
}

impl DecisionView {
    /// The answer in one sentence.
    pub fn summary(&self) -> String {
        match (self.see, self.change) {
            (true, true) => format!("{} can see and change it", self.name),
            (true, false) => format!("{} can see it, not change it", self.name),
            (false, _) => format!("{} cannot see it", self.name),
        }
    }
}

/// Reads `access::explain`'s groups.
pub fn access_panel(
    w: &orgscope_app::access::WhoHasAccess,
    orgs: &[OrgChoice],
    base: &str,
    shown: usize,
) -> AccessPanel {
    let groups = w
        .groups
        .iter()
        .map(|g| {
            let keys = g.rule.contains("key");
            let noun = match (keys, g.count == 1) {
                (true, true) => "key",
                (true, false) => "keys",
                (false, true) => "person",
                (false, false) => "people",
            };
            let names: Vec<String> = g.names.iter().take(shown).cloned().collect();
            AccessGroupView {
                text: g.text.clone(),
                org: g.org.as_ref().map(|o| Badge::of_ref(Some(o), orgs)),
                see: g.see,
                change: g.change,
                count: g.count,
                noun,
                unnamed: g.count - i64::try_from(names.len()).unwrap_or(0),
                names,
            }
        })
        .collect();
    AccessPanel {
        base: base.to_owned(),
        groups,
        asked: String::new(),
        decision: None,
        decision_error: None,
    }
}

/// Reads one decision of `access::explain`.
pub fn decision(d: &orgscope_app::access::Decision) -> DecisionView {
    DecisionView {
        name: d.name.clone(),
        see: d.see,
        change: d.change,
        because: d.because.clone(),
        see_because: d.see_because.clone(),
        change_because: d.change_because.clone(),
    }
}

/// An org in a listing or on its page (`orgs::get_org`, `list_orgs`).
pub struct OrgItem {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub badge: Badge,
    pub parent: Option<Badge>,
    pub parent_slug: String,
    pub domain: Option<String>,
    /// `pending` or `verified`.
    pub domain_status: String,
    pub txt_name: String,
    pub txt_value: Option<String>,
    pub verified_at: Option<When>,
    pub created: When,
    /// The viewer's own membership: "member", "manages", or "".
    pub yours: &'static str,
}

/// Reads an org.
pub fn org(o: &orgscope_app::orgs::Org, orgs: &[OrgChoice], me: &Me) -> OrgItem {
    let parent = o.parent.as_deref().map(|p| {
        orgs.iter()
            .find(|c| c.id == p)
            .map_or(p, |c| c.slug.as_str())
    });
    let v = o.domain_verification.as_ref();
    OrgItem {
        id: o.id.clone(),
        slug: o.slug.clone(),
        name: o.name.clone(),
        badge: Badge::org(&o.slug, orgs),
        parent: parent.map(|p| Badge::org(p, orgs)),
        parent_slug: parent.unwrap_or_default().to_owned(),
        domain: o.domain.clone(),
        domain_status: v.map(|v| v.status.clone()).unwrap_or_default(),
        txt_name: v.map(|v| v.txt_name.clone()).unwrap_or_default(),
        txt_value: v.and_then(|v| v.txt_value.clone()),
        verified_at: v.and_then(|v| v.verified_at.as_deref()).map(When::of),
        created: When::of(&o.created_at),
        yours: match me.memberships.iter().find(|m| m.slug == o.slug) {
            Some(m) if m.can_manage => "manages",
            Some(_) => "member",
            None => "",
        },
    }
}

/// A member of an org (`orgs::list_members`).
pub struct MemberItem {
    pub user: String,
    pub can_manage: bool,
    pub since: When,
}

pub fn member(m: &orgscope_app::orgs::Member) -> MemberItem {
    MemberItem {
        user: m.user.username.clone(),
        can_manage: m.can_manage,
        since: When::of(&m.created_at),
    }
}

/// What deleting an org would do (`orgs::delete_org` with `preview`).
pub struct OrgDeletion {
    /// (how many, what) the org owns.
    pub owns: Vec<(i64, String)>,
    pub owns_total: i64,
    pub children: Vec<String>,
    pub pruned: Vec<String>,
    pub keys: usize,
    pub losing: Vec<String>,
    pub losing_count: usize,
}

impl OrgDeletion {
    pub fn losing_unnamed(&self) -> usize {
        self.losing_count.saturating_sub(self.losing.len())
    }
}

pub fn org_deletion(i: &orgscope_app::orgs::OrgImpact) -> OrgDeletion {
    OrgDeletion {
        owns: i
            .owns
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (*n, counted(*n, &plural_kind(k))))
            .collect(),
        owns_total: i.owns.values().sum(),
        children: i.children_losing_their_parent.clone(),
        pruned: i
            .persona_assignments_pruned
            .iter()
            .map(|p| format!("{} from persona {}", p.user, p.persona))
            .collect(),
        keys: i.keys_revoked.len(),
        losing: i.users_losing_access.clone(),
        losing_count: usize::try_from(i.users_losing_access_count).unwrap_or(0),
    }
}

/// `api_key` reads as "api keys", `file` as "files".
fn plural_kind(k: &str) -> String {
    let k = k.replace('_', " ");
    if k.ends_with('y') && !k.ends_with("ey") {
        format!("{}ies", &k[..k.len() - 1])
    } else if k.ends_with('s') {
        k
    } else {
        format!("{k}s")
    }
}

/// A secret an operation answered once (a token, a key), to copy now.
pub struct SecretOnce {
    pub title: String,
    pub value: String,
}

/// The inputs of the operations, one builder each.
pub mod bodies {
    use orgscope_app::me::Login;
    use orgscope_app::resources::Rescope;
    use serde_json::{Value, json};

    /// `me::login`.
    pub fn login(tenant: Option<&str>, username: &str, password: &str) -> Login {
        Login {
            tenant: tenant.map(str::to_owned),
            username: username.to_owned(),
            password: password.to_owned(),
        }
    }

    /// `resources::update` of a name.
    pub fn rename(name: &str) -> Value {
        json!({ "name": name })
    }

    /// `orgs::create_org` from the form's fields (empty means none).
    pub fn new_org(
        slug: &str,
        name: &str,
        parent: &str,
        domain: &str,
    ) -> orgscope_app::orgs::NewOrg {
        orgscope_app::orgs::NewOrg {
            slug: slug.trim().to_owned(),
            name: name.trim().to_owned(),
            parent: some(parent),
            domain: some(domain),
        }
    }

    /// `orgs::update_org`: only what differs from `was` is sent (a domain
    /// sent again would start its proof over).
    pub fn org_changes(
        was: &super::OrgItem,
        name: &str,
        domain: &str,
        slug: Option<&str>,
        parent: Option<&str>,
    ) -> orgscope_app::orgs::OrgChanges {
        let domain = some(domain);
        orgscope_app::orgs::OrgChanges {
            name: Some(name.trim().to_owned()).filter(|n| *n != was.name),
            domain: (domain != was.domain).then_some(domain),
            slug: slug.map(|s| s.trim().to_owned()).filter(|s| *s != was.slug),
            parent: parent.filter(|p| p.trim() != was.parent_slug).map(some),
        }
    }

    /// `orgs::delete_org`: `move:<org>`, `tenant` or `delete`.
    pub fn disposal(choice: &str, preview: bool) -> orgscope_app::orgs::OrgDisposal {
        let mut d = orgscope_app::orgs::OrgDisposal {
            preview,
            ..Default::default()
        };
        match choice {
            "delete" => d.delete_resources = true,
            "tenant" => d.move_to = Some(None),
            c => {
                if let Some(org) = c.strip_prefix("move:") {
                    d.move_to = Some(Some(org.to_owned()));
                }
            }
        }
        d
    }

    /// `orgs::add_member`.
    pub fn new_member(user: &str, can_manage: bool) -> orgscope_app::orgs::NewMember {
        orgscope_app::orgs::NewMember {
            user: user.trim().to_owned(),
            can_manage,
        }
    }

    /// A form field: empty reads as none.
    pub fn some(v: &str) -> Option<String> {
        Some(v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// `resources::rescope`: `to` an org slug, or `None` for tenant-wide.
    pub fn rescope(to: Option<&str>, preview: bool) -> Rescope {
        Rescope {
            org: to.map(str::to_owned),
            preview,
            losing_cursor: None,
            gaining_cursor: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KB");
        assert_eq!(size(5 * 1024 * 1024), "5.0 MB");
        assert_eq!(counted(1, "knowledge entries"), "knowledge entry");
        assert_eq!(counted(2, "knowledge entries"), "knowledge entries");
        assert_eq!(counted(1, "sessions"), "session");
    }

    #[test]
    fn session_names_read_as_dates() {
        assert_eq!(
            readable_name("On-call helper 2026-12-02T14:05:09.123456Z"),
            "On-call helper, 2 Dec 2026 14:05 UTC"
        );
        assert_eq!(readable_name("My session"), "My session");
        assert_eq!(readable_name("Plan 2026"), "Plan 2026");
    }

    #[test]
    fn the_confirm_button_names_the_effect() {
        let mut i = Impact {
            from: Badge::tenant_wide(),
            to: Badge::org("mkt", &[]),
            losing: vec![],
            losing_count: 3,
            gaining: vec![],
            gaining_count: 0,
            derived: vec![],
            pruned: vec![],
            blocking: vec![],
        };
        assert_eq!(i.confirm_label(), "Move to mkt: 3 people lose access");
        i.losing_count = 1;
        assert_eq!(i.confirm_label(), "Move to mkt: 1 person loses access");
        i.gaining_count = 2;
        assert_eq!(
            i.confirm_label(),
            "Move to mkt: 1 person loses, 2 people gain access"
        );
    }
}
