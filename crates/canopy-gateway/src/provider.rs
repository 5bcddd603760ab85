//! Providers: where each route prefix sends its calls, and how their responses are read.

use std::collections::HashMap;

use canopy_core::extract::WireFormat;
use canopy_core::path::below_base;
use url::Url;

use crate::error::{ErrorKind, GatewayError};

/// One upstream a route prefix forwards to.
#[derive(Debug, Clone)]
pub struct Provider {
    /// The route prefix and the name recorded with each call (`openai`, `local-vllm`).
    pub name: String,
    /// The origin (and optional base path) calls go to; the rest of the client's path follows it.
    pub base_url: Url,
    /// How usage is read from its responses.
    pub format: WireFormat,
    /// Whether to speak cleartext HTTP/2 with prior knowledge (for `http://` upstreams that
    /// only speak h2c). Over `https://`, HTTP/2 is negotiated by ALPN without this.
    pub http2_prior_knowledge: bool,
}

/// The providers Canopy knows without configuration, as (name, origin, format).
/// The origin includes any base path the provider's OpenAI-compatible API lives under.
pub const BUILTIN: &[(&str, &str, WireFormat)] = &[
    ("openai", "https://api.openai.com", WireFormat::Openai),
    (
        "anthropic",
        "https://api.anthropic.com",
        WireFormat::Anthropic,
    ),
    (
        "gemini",
        "https://generativelanguage.googleapis.com",
        WireFormat::Gemini,
    ),
    ("groq", "https://api.groq.com/openai", WireFormat::Openai),
    ("mistral", "https://api.mistral.ai", WireFormat::Openai),
    (
        "openrouter",
        "https://openrouter.ai/api",
        WireFormat::Openai,
    ),
    ("together", "https://api.together.xyz", WireFormat::Openai),
    ("deepseek", "https://api.deepseek.com", WireFormat::Openai),
    ("xai", "https://api.x.ai", WireFormat::Openai),
    (
        "fireworks",
        "https://api.fireworks.ai/inference",
        WireFormat::Openai,
    ),
    (
        "perplexity",
        "https://api.perplexity.ai",
        WireFormat::Openai,
    ),
    ("cerebras", "https://api.cerebras.ai", WireFormat::Openai),
];

/// The wire format of a built-in provider, by name. A config section that changes only a
/// built-in provider's address keeps this format.
pub fn builtin_format(name: &str) -> Option<WireFormat> {
    BUILTIN
        .iter()
        .find(|(builtin, _, _)| *builtin == name)
        .map(|(_, _, format)| *format)
}

/// The name of the generic route whose upstream comes from `Helicone-Target-Url`.
pub const GATEWAY_ROUTE: &str = "gateway";

/// Every provider by route prefix.
#[derive(Debug, Clone)]
pub struct Providers {
    by_name: HashMap<String, Provider>,
    default: String,
}

impl Providers {
    /// The built-in providers with `overrides` applied on top (same name replaces the origin
    /// and format; a new name adds a provider). `default` serves the bare `/v1/*` route.
    pub fn new(overrides: Vec<Provider>, default: &str) -> Result<Self, String> {
        let mut by_name = HashMap::new();
        for (name, origin, format) in BUILTIN {
            let base_url = Url::parse(origin).map_err(|e| format!("built-in {name}: {e}"))?;
            let provider = Provider {
                name: (*name).to_owned(),
                base_url,
                format: *format,
                http2_prior_knowledge: false,
            };
            by_name.insert((*name).to_owned(), provider);
        }
        for provider in overrides {
            by_name.insert(provider.name.clone(), provider);
        }
        if !by_name.contains_key(default) {
            return Err(format!("the default provider `{default}` is not defined"));
        }
        Ok(Self {
            by_name,
            default: default.to_owned(),
        })
    }

    /// The provider behind a route prefix.
    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.by_name.get(name)
    }

    /// Every provider's name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// The first path segments Canopy proxies: `v1`, `gateway` and every provider's name.
    pub fn routes(&self) -> std::collections::BTreeSet<String> {
        let mut routes: std::collections::BTreeSet<String> = self.by_name.keys().cloned().collect();
        routes.insert("v1".to_owned());
        routes.insert(GATEWAY_ROUTE.to_owned());
        routes
    }

    /// The provider whose origin (scheme, host and port) is `url`'s, if Canopy serves one.
    pub fn by_origin(&self, url: &Url) -> Option<&Provider> {
        let origin = url.origin();
        let mut matching: Vec<&Provider> = self
            .by_name
            .values()
            .filter(|p| p.base_url.origin() == origin)
            .collect();
        // Several routes may share an origin: the one whose base path the URL is under, else
        // the first by name, so the choice never depends on hash order.
        matching.sort_by(|a, b| {
            let under = |p: &Provider| !url.path().starts_with(p.base_url.path());
            (under(a), &a.name).cmp(&(under(b), &b.name))
        });
        matching.first().copied()
    }

    /// The provider behind `/v1/*`.
    pub fn default_provider(&self) -> Option<&Provider> {
        self.by_name.get(&self.default)
    }
}

/// The wire format of one call: the provider's, except that Gemini's OpenAI-compatible
/// endpoints (`/v1beta/openai/...`) answer in OpenAI's shape, and the generic gateway route
/// guesses from the path.
pub fn format_for_path(provider_format: WireFormat, path: &str) -> WireFormat {
    match provider_format {
        WireFormat::Gemini if path.contains("/openai/") => WireFormat::Openai,
        format => format,
    }
}

/// The format of a `/gateway/*` call, guessed from its path.
pub fn guess_format(path: &str) -> WireFormat {
    if path.ends_with("/messages") || path.contains("/messages?") {
        WireFormat::Anthropic
    } else if path.contains(":generateContent") || path.contains(":streamGenerateContent") {
        WireFormat::Gemini
    } else {
        WireFormat::Openai
    }
}

/// Joins a provider's base URL with the client's path (below the route prefix) and query.
///
/// The path never leaves the base path: its dot segments are resolved here, in every spelling
/// an upstream's URL parser would resolve them (`..`, `%2e%2e`, backslashes), and a path that
/// would climb above the base path, or hides a dot segment behind escapes, is refused with a 400
/// in `format`'s error shape ([`canopy_core::path::below_base`]).
pub fn upstream_url(
    base: &Url,
    rest: &str,
    query: Option<&str>,
    format: WireFormat,
) -> Result<String, GatewayError> {
    let rest = below_base(rest).map_err(|e| {
        GatewayError::new(
            ErrorKind::InvalidPath,
            format,
            format!("{e}; Canopy sends a call only under the provider's base path"),
        )
    })?;
    let origin = base.as_str().trim_end_matches('/');
    let mut url = String::with_capacity(origin.len() + rest.len() + 2);
    url.push_str(origin);
    if !rest.starts_with('/') {
        url.push('/');
    }
    url.push_str(&rest);
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(query);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_base_paths_and_queries() {
        let groq = Url::parse("https://api.groq.com/openai").unwrap();
        let openai = WireFormat::Openai;
        assert_eq!(
            upstream_url(&groq, "/v1/chat/completions", None, openai).unwrap(),
            "https://api.groq.com/openai/v1/chat/completions"
        );
        let local = Url::parse("http://127.0.0.1:8000/").unwrap();
        assert_eq!(
            upstream_url(&local, "v1/models", Some("a=1"), openai).unwrap(),
            "http://127.0.0.1:8000/v1/models?a=1"
        );
    }

    #[test]
    fn paths_stay_below_the_base_path() {
        let based = Url::parse("http://127.0.0.1:9411/v1").unwrap();
        let url = |rest: &str| upstream_url(&based, rest, None, WireFormat::Openai);
        assert_eq!(
            url("/a/../models").unwrap(),
            "http://127.0.0.1:9411/v1/models"
        );
        for escape in [
            "/%2e%2e/x",
            "/../x",
            "/..\\x",
            "/%2e%2e%2fx",
            "/a/%2E%2E/%2e%2e/x",
        ] {
            let error = url(escape).unwrap_err();
            assert_eq!(error.kind, ErrorKind::InvalidPath, "{escape}");
            assert_eq!(error.kind.status(), http::StatusCode::BAD_REQUEST);
            assert!(error.message.contains("base path"), "{}", error.message);
        }
        let error = upstream_url(&based, "/../x", None, WireFormat::Anthropic).unwrap_err();
        assert_eq!(error.body()["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn formats_follow_the_path_where_the_provider_has_two() {
        assert_eq!(
            format_for_path(WireFormat::Gemini, "/v1beta/openai/chat/completions"),
            WireFormat::Openai
        );
        assert_eq!(
            format_for_path(WireFormat::Gemini, "/v1beta/models/x:generateContent"),
            WireFormat::Gemini
        );
        assert_eq!(guess_format("/v1/messages"), WireFormat::Anthropic);
        assert_eq!(guess_format("/v1/chat/completions"), WireFormat::Openai);
    }

    #[test]
    fn overrides_replace_builtins_and_add_new_providers() {
        let local = Provider {
            name: "openai".to_owned(),
            base_url: Url::parse("http://127.0.0.1:9").unwrap(),
            format: WireFormat::Openai,
            http2_prior_knowledge: false,
        };
        let providers = Providers::new(vec![local], "openai").unwrap();
        assert_eq!(
            providers.get("openai").unwrap().base_url.as_str(),
            "http://127.0.0.1:9/"
        );
        assert!(providers.get("anthropic").is_some());
        let routes = providers.routes();
        assert!(
            ["v1", "gateway", "openai", "anthropic"]
                .iter()
                .all(|r| routes.contains(*r))
        );
        assert!(!routes.contains("api"));
        assert!(Providers::new(vec![], "nope").is_err());
    }
}
