//! THE ROUTE TABLE: which (method, path) reaches which store surface.
//!
//! Default deny. A request goes to the store only when a row of [`ROWS`] allows its
//! method on its normalized path (`path.rs`); anything else is refused (403) before
//! the session is even looked up. Every surface a row opens either has its inspector
//! or cannot make the store send mail:
//!
//! | surface | inspector, or why it cannot send mail |
//! |---|---|
//! | `soap`, `admin_soap` | the SOAP pipeline: strict parse, request table, policies |
//! | `upload` | byte counter (M4); the content is judged when a request names its `aid` |
//! | `rest` (GET/HEAD) | export audit (M7); reading sends nothing |
//! | `dav` (GET/HEAD/OPTIONS/PROPFIND/REPORT) | reading sends nothing |
//! | `static` (GET/HEAD of the web client) | reading pages and files sends nothing |
//! | `html_client`, `dav_write`, `rest_write`, `activesync`, `ews` | none possible: closed unless named in `paths.open_uninspected` |
//! | `preauth`, `extension`, admin | closed unless `paths.open_*` |
//!
//! Paths are matched the way Zimbra's Jetty maps them (`jetty.xml` rewrites, then the
//! service webapp's `web.xml`): a servlet mapping `/soap/*` covers `/soap` and
//! `/soap/…` but not `/soapx`, `/soap.json` or `/soap ` (`%20`); the exact mapping
//! `/upload` covers nothing else; matching is case-sensitive as in Jetty, except for
//! the rows of closed surfaces and the web client's reserved names, which compare
//! without case: a case variation can only be refused, never let through. The web
//! client's own rows also apply under `/zimbra` (its context path when the store's
//! `zimbraMailURL` is `/zimbra`, where `jetty.xml` also maps `/zimbra/home/*`).

use crate::config::{PathsConfig, UninspectedSurface};
use http::Method;

/// Which store surface a request targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `POST /service/soap`, `/service/soap/*`
    Soap,
    /// `POST /service/admin/soap*` (only when `paths.open_admin`)
    AdminSoap,
    /// `POST /service/upload`
    Upload,
    /// REST and content reads (`GET`/`HEAD` on `/home`, `/user`, `/service/content` …)
    Rest,
    /// REST writes (imports): uninspected.
    RestWrite,
    /// DAV reads (`/dav`, `/principals`, `/.well-known`)
    Dav,
    /// DAV writes (PUT, schedule-outbox POST …): uninspected.
    DavWrite,
    /// The HTML clients `/h/`, `/m/`: uninspected.
    HtmlClient,
    /// `/Microsoft-Server-ActiveSync`: uninspected.
    ActiveSync,
    /// `/ews/Exchange.asmx`: uninspected.
    Ews,
    /// `/service/preauth` (only when `paths.open_preauth`)
    Preauth,
    /// `/service/extension/*` (only when `paths.open_extension`)
    Extension,
    /// Web client pages and static files (`GET`/`HEAD`).
    Static,
    /// No row allows it (403).
    Closed,
    /// The gateway's own endpoints (`/healthz`, `/readyz`).
    Ops,
    /// The gateway's own portal pages (login, OTP …).
    Portal,
    /// Refused before classification (bad target, ambiguous framing).
    Invalid,
}

impl Surface {
    /// Label used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Soap => "soap",
            Surface::AdminSoap => "admin_soap",
            Surface::Upload => "upload",
            Surface::Rest => "rest",
            Surface::RestWrite => "rest_write",
            Surface::Dav => "dav",
            Surface::DavWrite => "dav_write",
            Surface::HtmlClient => "html_client",
            Surface::ActiveSync => "activesync",
            Surface::Ews => "ews",
            Surface::Preauth => "preauth",
            Surface::Extension => "extension",
            Surface::Static => "static",
            Surface::Closed => "closed",
            Surface::Ops => "ops",
            Surface::Portal => "portal",
            Surface::Invalid => "invalid",
        }
    }
}

/// The methods a row allows.
#[derive(Debug, Clone, Copy)]
enum Methods {
    Post,
    /// `GET`, `HEAD`.
    Read,
    /// `GET`, `HEAD`, `OPTIONS`, `PROPFIND`, `REPORT`.
    DavRead,
    Any,
}

impl Methods {
    fn allow(self, m: &Method) -> bool {
        match self {
            Methods::Post => m == Method::POST,
            Methods::Read => m == Method::GET || m == Method::HEAD,
            Methods::DavRead => {
                matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
                    || matches!(m.as_str(), "PROPFIND" | "REPORT")
            }
            Methods::Any => true,
        }
    }
}

/// How a row's paths match.
#[derive(Debug, Clone, Copy)]
enum Paths {
    /// Servlet prefix mappings `/x/*` (`/x` itself and below), case-sensitive.
    Servlet(&'static [&'static str]),
    /// Exact servlet mappings, case-sensitive.
    Exact(&'static [&'static str]),
    /// Prefixes compared without case (closed surfaces: a variation stays closed).
    NoCase(&'static [&'static str]),
    /// The web client's pages and files: any path whose first segment is not one of
    /// [`RESERVED`].
    WebClient,
}

/// What must hold for a row to open.
#[derive(Debug, Clone, Copy)]
enum Gate {
    Always,
    OpenPreauth,
    OpenAdmin,
    OpenExtension,
    Uninspected(UninspectedSurface),
}

impl Gate {
    fn open(self, cfg: &PathsConfig) -> bool {
        match self {
            Gate::Always => true,
            Gate::OpenPreauth => cfg.open_preauth,
            Gate::OpenAdmin => cfg.open_admin,
            Gate::OpenExtension => cfg.open_extension,
            Gate::Uninspected(s) => cfg.open_uninspected.contains(&s),
        }
    }
}

/// One allow-list row. `mail_url`: the row also applies under `/zimbra`.
#[derive(Debug, Clone, Copy)]
struct Row {
    methods: Methods,
    paths: Paths,
    surface: Surface,
    gate: Gate,
    mail_url: bool,
}

const fn row(methods: Methods, paths: Paths, surface: Surface, gate: Gate) -> Row {
    Row {
        methods,
        paths,
        surface,
        gate,
        mail_url: false,
    }
}

const fn web(methods: Methods, paths: Paths, surface: Surface, gate: Gate) -> Row {
    Row {
        methods,
        paths,
        surface,
        gate,
        mail_url: true,
    }
}

const REST_ROOT: &[&str] = &["/home", "/user"];
const REST_SERVICE: &[&str] = &["/service/home", "/service/user"];
const DAV: &[&str] = &[
    "/dav",
    "/principals",
    "/.well-known",
    "/service/dav",
    "/service/.well-known",
];

/// The allow-list. The first row whose paths match and whose methods allow the
/// request decides; a row that decides with its gate shut closes the request.
const ROWS: &[Row] = &[
    row(
        Methods::Post,
        Paths::Servlet(&["/service/soap"]),
        Surface::Soap,
        Gate::Always,
    ),
    row(
        Methods::Post,
        Paths::Servlet(&["/service/admin/soap"]),
        Surface::AdminSoap,
        Gate::OpenAdmin,
    ),
    row(
        Methods::Post,
        Paths::Exact(&["/service/upload"]),
        Surface::Upload,
        Gate::Always,
    ),
    web(
        Methods::Read,
        Paths::Servlet(REST_ROOT),
        Surface::Rest,
        Gate::Always,
    ),
    row(
        Methods::Read,
        Paths::Servlet(REST_SERVICE),
        Surface::Rest,
        Gate::Always,
    ),
    row(
        Methods::Read,
        Paths::Servlet(&["/service/content"]),
        Surface::Rest,
        Gate::Always,
    ),
    web(
        Methods::Any,
        Paths::Servlet(REST_ROOT),
        Surface::RestWrite,
        Gate::Uninspected(UninspectedSurface::RestWrite),
    ),
    row(
        Methods::Any,
        Paths::Servlet(REST_SERVICE),
        Surface::RestWrite,
        Gate::Uninspected(UninspectedSurface::RestWrite),
    ),
    row(
        Methods::DavRead,
        Paths::Servlet(DAV),
        Surface::Dav,
        Gate::Always,
    ),
    row(
        Methods::Any,
        Paths::Servlet(DAV),
        Surface::DavWrite,
        Gate::Uninspected(UninspectedSurface::DavWrite),
    ),
    row(
        Methods::Any,
        Paths::NoCase(&["/microsoft-server-activesync"]),
        Surface::ActiveSync,
        Gate::Uninspected(UninspectedSurface::Activesync),
    ),
    row(
        Methods::Any,
        Paths::NoCase(&["/ews"]),
        Surface::Ews,
        Gate::Uninspected(UninspectedSurface::Ews),
    ),
    web(
        Methods::Any,
        Paths::NoCase(&["/h", "/m"]),
        Surface::HtmlClient,
        Gate::Uninspected(UninspectedSurface::HtmlClient),
    ),
    row(
        Methods::Read,
        Paths::Servlet(&["/service/preauth"]),
        Surface::Preauth,
        Gate::OpenPreauth,
    ),
    row(
        Methods::Any,
        Paths::Servlet(&["/service/extension", "/service/admin/extension"]),
        Surface::Extension,
        Gate::OpenExtension,
    ),
    row(
        Methods::Read,
        Paths::Servlet(&["/zimbraAdmin"]),
        Surface::Static,
        Gate::OpenAdmin,
    ),
    row(
        Methods::Read,
        Paths::Servlet(&["/zimlet", "/service/zimlet"]),
        Surface::Static,
        Gate::Always,
    ),
    web(
        Methods::Read,
        Paths::WebClient,
        Surface::Static,
        Gate::Always,
    ),
];

/// First path segments that never belong to the web client's pages (compared
/// without case): other webapps, `jetty.xml` rewrites, and the rows above.
const RESERVED: &[&str] = &[
    "service",
    "zimbra",
    "zimbraadmin",
    "zimlet",
    "h",
    "m",
    "home",
    "user",
    "dav",
    "principals",
    ".well-known",
    "microsoft-server-activesync",
    "ews",
    "octopus",
    "shf",
    "certauth",
    "spnegoauth",
    "spnego",
    "autodiscover",
];

/// The web client's context path when the store's `zimbraMailURL` is `/zimbra`.
const MAIL_URL: &str = "/zimbra";

/// `path` is `prefix` or below it (servlet `prefix/*` semantics).
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn under_no_case(path: &str, prefix: &str) -> bool {
    path.len() >= prefix.len()
        && path.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        && matches!(path.as_bytes().get(prefix.len()), None | Some(b'/'))
}

impl Paths {
    fn matches(self, path: &str) -> bool {
        match self {
            Paths::Servlet(list) => list.iter().any(|p| under(path, p)),
            Paths::Exact(list) => list.contains(&path),
            Paths::NoCase(list) => list.iter().any(|p| under_no_case(path, p)),
            Paths::WebClient => {
                let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
                !RESERVED.iter().any(|r| first.eq_ignore_ascii_case(r))
            }
        }
    }
}

/// Whether `[paths] closed` names this path (compared without case).
fn closed_by_operator(decided: &str, cfg: &PathsConfig) -> bool {
    cfg.closed.iter().any(|c| {
        let c = c.trim_end_matches('/');
        c.is_empty() || under_no_case(decided, c)
    })
}

/// The surface a request reaches, or [`Surface::Closed`] (ops and portal routes are
/// decided by the router before).
pub fn classify(method: &Method, decided: &str, cfg: &PathsConfig) -> Surface {
    if closed_by_operator(decided, cfg) {
        return Surface::Closed;
    }
    let (path, mail_url) = match decided.strip_prefix(MAIL_URL) {
        Some("") => ("/", true),
        Some(rest) if rest.starts_with('/') => (rest, true),
        _ => (decided, false),
    };
    ROWS.iter()
        .filter(|r| r.mail_url || !mail_url)
        .find(|r| r.paths.matches(path) && r.methods.allow(method))
        .map_or(Surface::Closed, |r| {
            if r.gate.open(cfg) {
                r.surface
            } else {
                Surface::Closed
            }
        })
}

/// The UserServlet spelling (`/service/home/…`) of a REST path: `/home/*`,
/// `/user/*`, `/service/user/*` and their `/zimbra` forms reach the same servlet,
/// so a policy on exports must see them as one. `None` for other paths.
pub fn user_servlet_path(decided: &str) -> Option<String> {
    let path = match decided.strip_prefix(MAIL_URL) {
        Some(rest) if rest.starts_with('/') => rest,
        _ => decided,
    };
    let rest = path.strip_prefix("/service").unwrap_or(path);
    ["/home", "/user"]
        .iter()
        .find(|p| under(rest, p))
        .map(|p| format!("/service/home{}", &rest[p.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::path::normalize;

    fn with(open: &[UninspectedSurface]) -> PathsConfig {
        PathsConfig {
            open_uninspected: open.to_vec(),
            ..PathsConfig::default()
        }
    }

    fn at(method: &str, raw: &str, cfg: &PathsConfig) -> Surface {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        classify(&m, &normalize(raw).unwrap().decided, cfg)
    }

    fn default(method: &str, raw: &str) -> Surface {
        at(method, raw, &PathsConfig::default())
    }

    #[test]
    fn soap_only_on_the_servlet_mapping() {
        for p in [
            "/service/soap",
            "/service/soap/",
            "/service/soap/SendMsgRequest",
            "/service/soap;jsessionid=1",
            "/service//soap",
            "/service/x/../soap",
            "/%73ervice/soap",
        ] {
            assert_eq!(default("POST", p), Surface::Soap, "{p}");
        }
        for p in [
            "/service/soapx",
            "/service/soap.json",
            "/service/soap%20",
            "/service/Soap",
            "/SERVICE/soap",
            "/zimbra/service/soap",
            "/service/soap2/x",
        ] {
            assert_eq!(default("POST", p), Surface::Closed, "{p}");
        }
        assert_eq!(default("GET", "/service/soap"), Surface::Closed);
    }

    #[test]
    fn preauth_admin_and_extensions_are_closed_and_open_exactly() {
        for raw in [
            "/service/preauth",
            "/service/preauth/",
            "/service/../service/preauth",
            "/service//preauth",
            "/service;x=1/preauth",
            "/service/preauth;jsessionid=1",
            "/%73ervice/preauth",
            "/SERVICE/PREAUTH",
            "/service/preauthx",
            "/service//admin/soap",
            "/service/admin",
            "/service/admin/extension/x",
            "/service/extension/zimbraldap",
            "/zimbraAdmin/",
            "/x/..;/service/preauth",
        ] {
            assert_eq!(default("GET", raw), Surface::Closed, "{raw}");
        }
        let open = PathsConfig {
            open_preauth: true,
            open_admin: true,
            ..PathsConfig::default()
        };
        assert_eq!(at("GET", "/service/preauth", &open), Surface::Preauth);
        assert_eq!(at("GET", "/service/preauth/x", &open), Surface::Preauth);
        assert_eq!(at("GET", "/service/preauthx", &open), Surface::Closed);
        assert_eq!(at("POST", "/service/preauth", &open), Surface::Closed);
        assert_eq!(at("POST", "/service/admin/soap", &open), Surface::AdminSoap);
        assert_eq!(at("GET", "/zimbraAdmin/", &open), Surface::Static);
        assert_eq!(
            at("GET", "/service/admin/extension/x", &open),
            Surface::Closed
        );
    }

    #[test]
    fn upload_is_the_exact_mapping() {
        assert_eq!(default("POST", "/service/upload"), Surface::Upload);
        assert_eq!(default("POST", "/service/upload/"), Surface::Closed);
        assert_eq!(default("POST", "/service/uploadx"), Surface::Closed);
        assert_eq!(default("GET", "/service/upload"), Surface::Closed);
    }

    #[test]
    fn reads_pass_writes_of_uninspected_surfaces_are_closed() {
        for p in [
            "/home/~/Inbox",
            "/user/~/Inbox",
            "/service/home/~/",
            "/zimbra/home/~/",
        ] {
            assert_eq!(default("GET", p), Surface::Rest, "{p}");
            for m in ["POST", "PUT", "DELETE"] {
                assert_eq!(default(m, p), Surface::Closed, "{m} {p}");
            }
        }
        assert_eq!(default("GET", "/service/content/get"), Surface::Rest);
        assert_eq!(default("POST", "/service/content/get"), Surface::Closed);
        for p in [
            "/dav/u@x/Calendar/",
            "/.well-known/caldav",
            "/principals/users/u",
        ] {
            for m in ["GET", "PROPFIND", "REPORT", "OPTIONS"] {
                assert_eq!(default(m, p), Surface::Dav, "{m} {p}");
            }
            for m in [
                "PUT",
                "POST",
                "DELETE",
                "PROPPATCH",
                "MKCALENDAR",
                "MOVE",
                "COPY",
            ] {
                assert_eq!(default(m, p), Surface::Closed, "{m} {p}");
            }
        }
        for p in [
            "/h/search",
            "/h",
            "/m/",
            "/zimbra/h/compose",
            "/H/search",
            "/Microsoft-Server-ActiveSync",
            "/microsoft-server-activesync/x",
            "/ews/Exchange.asmx",
            "/EWS/exchange.asmx",
        ] {
            assert_eq!(default("GET", p), Surface::Closed, "GET {p}");
            assert_eq!(default("POST", p), Surface::Closed, "POST {p}");
        }
    }

    #[test]
    fn the_operator_opens_uninspected_surfaces_by_name() {
        use UninspectedSurface::*;
        let all = with(&[HtmlClient, DavWrite, RestWrite, Activesync, Ews]);
        assert_eq!(at("POST", "/h/search", &all), Surface::HtmlClient);
        assert_eq!(at("POST", "/zimbra/m/", &all), Surface::HtmlClient);
        assert_eq!(
            at("PUT", "/dav/u@x/Calendar/a.ics", &all),
            Surface::DavWrite
        );
        assert_eq!(
            at("POST", "/home/~/Inbox?fmt=tgz", &all),
            Surface::RestWrite
        );
        assert_eq!(
            at("POST", "/Microsoft-Server-ActiveSync", &all),
            Surface::ActiveSync
        );
        assert_eq!(at("POST", "/ews/Exchange.asmx", &all), Surface::Ews);
        let html = with(&[HtmlClient]);
        assert_eq!(at("POST", "/h/search", &html), Surface::HtmlClient);
        assert_eq!(at("PUT", "/dav/u/Calendar/a.ics", &html), Surface::Closed);
        assert_eq!(at("POST", "/home/~/Inbox", &html), Surface::Closed);
    }

    #[test]
    fn web_client_reads_only() {
        for p in [
            "/",
            "/js/app.js",
            "/public/login.jsp",
            "/zimbra",
            "/zimbra/js/x.js",
            "/t/",
        ] {
            assert_eq!(default("GET", p), Surface::Static, "{p}");
            assert_eq!(default("HEAD", p), Surface::Static, "{p}");
            assert_eq!(default("POST", p), Surface::Closed, "{p}");
        }
        assert_eq!(default("GET", "/zimlet/com_x/x.js"), Surface::Static);
        assert_eq!(
            default("GET", "/service/zimlet/res/all.js"),
            Surface::Static
        );
        for p in [
            "/service/proxy",
            "/service/wsdl/x",
            "/shf/x",
            "/autodiscover/x",
            "/spnegoauth",
            "/certauth",
            "/octopus/x",
            "/zimbra/zimbra/h/",
            "/zimbra/service/home/~/",
            "/Zimbra/h/",
        ] {
            assert_eq!(default("GET", p), Surface::Closed, "{p}");
        }
    }

    #[test]
    fn operator_closed_prefixes() {
        let cfg = PathsConfig {
            closed: vec!["/js/secret/".into()],
            ..PathsConfig::default()
        };
        assert_eq!(at("GET", "/js/secret/x", &cfg), Surface::Closed);
        assert_eq!(at("GET", "/JS/Secret", &cfg), Surface::Closed);
        assert_eq!(at("GET", "/js/other", &cfg), Surface::Static);
    }

    #[test]
    fn one_spelling_for_the_user_servlet() {
        for p in [
            "/home/~/x",
            "/user/~/x",
            "/service/user/~/x",
            "/zimbra/home/~/x",
        ] {
            assert_eq!(
                user_servlet_path(p).as_deref(),
                Some("/service/home/~/x"),
                "{p}"
            );
        }
        assert_eq!(user_servlet_path("/service/content/get"), None);
        assert_eq!(user_servlet_path("/homex"), None);
    }
}
