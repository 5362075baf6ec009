//! National clouds: each one's login host and Graph host, in one table.

/// One Microsoft cloud: where to sign in and where Graph lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cloud {
    /// The value of the `azure_cloud` parameter.
    pub name: &'static str,
    /// Login (authority) base URL.
    pub login: &'static str,
    /// Graph base URL.
    pub graph: &'static str,
}

/// Every cloud the `azure_cloud` parameter accepts. US GCC (moderate) uses the worldwide hosts.
pub const CLOUDS: &[Cloud] = &[
    Cloud {
        name: "Worldwide",
        login: "https://login.microsoftonline.com",
        graph: "https://graph.microsoft.com",
    },
    Cloud {
        name: "US GCC",
        login: "https://login.microsoftonline.com",
        graph: "https://graph.microsoft.com",
    },
    Cloud {
        name: "US GCC-High",
        login: "https://login.microsoftonline.us",
        graph: "https://graph.microsoft.us",
    },
    Cloud {
        name: "DoD",
        login: "https://login.microsoftonline.us",
        graph: "https://dod-graph.microsoft.us",
    },
    Cloud {
        name: "China",
        login: "https://login.chinacloudapi.cn",
        graph: "https://microsoftgraph.chinacloudapi.cn",
    },
];

/// The worldwide cloud, used when nothing else is configured.
pub const WORLDWIDE: Cloud = CLOUDS[0];

/// Login hosts of Microsoft Cloud Deutschland, which closed on 2021-10-29.
pub const CLOSED_LOGIN_HOSTS: &[&str] = &["https://login.microsoftonline.de"];

/// Finds a cloud by its `azure_cloud` name, ignoring case.
pub fn by_name(name: &str) -> Option<Cloud> {
    CLOUDS
        .iter()
        .copied()
        .find(|c| c.name.eq_ignore_ascii_case(name.trim()))
}

/// Finds the cloud whose login host is `login` (the legacy `azure_ad_endpoint` parameter).
/// `login.partner.microsoftonline.cn` is China's newer alias; `login.windows.net` the old global one.
pub fn by_login(login: &str) -> Option<Cloud> {
    let login = login.trim_end_matches('/').to_ascii_lowercase();
    match login.as_str() {
        "https://login.windows.net" => Some(WORLDWIDE),
        "https://login.partner.microsoftonline.cn" => by_name("China"),
        _ => CLOUDS.iter().copied().find(|c| c.login == login),
    }
}

/// Login hosts of the national clouds, with the two aliases [`by_login`] accepts.
fn login_hosts() -> impl Iterator<Item = &'static str> {
    let aliases = ["https://login.windows.net", "https://login.partner.microsoftonline.cn"];
    CLOUDS.iter().map(|c| c.login).chain(aliases)
}

/// True when `url` is a national cloud's login host (https, default port; any path).
pub fn is_cloud_login(url: &str) -> bool {
    login_hosts().any(|host| same_host(url, host))
}

/// True when `url` is a national cloud's Graph host (https, default port; any path).
pub fn is_cloud_graph(url: &str) -> bool {
    CLOUDS.iter().any(|c| same_host(url, c.graph))
}

/// Same scheme, host and port as the host URL `host`.
fn same_host(url: &str, host: &str) -> bool {
    match (url::Url::parse(url), url::Url::parse(host)) {
        (Ok(url), Ok(host)) => url.origin() == host.origin(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let cases = [
            ("worldwide", Some("https://graph.microsoft.com")),
            ("US GCC-High", Some("https://graph.microsoft.us")),
            ("dod", Some("https://dod-graph.microsoft.us")),
            ("China", Some("https://microsoftgraph.chinacloudapi.cn")),
            ("Germany", None),
        ];
        for (name, graph) in cases {
            assert_eq!(by_name(name).map(|c| c.graph), graph, "{name}");
        }
        assert_eq!(
            by_login("https://login.microsoftonline.us/").map(|c| c.name),
            Some("US GCC-High")
        );
        assert_eq!(
            by_login("https://login.partner.microsoftonline.cn").map(|c| c.name),
            Some("China")
        );
        assert_eq!(by_login("http://127.0.0.1:8765"), None);
    }

    #[test]
    fn cloud_hosts_are_told_from_others() {
        let cases = [
            ("https://login.microsoftonline.us", true, false),
            ("https://LOGIN.microsoftonline.com/", true, false),
            ("https://login.windows.net", true, false),
            ("https://dod-graph.microsoft.us", false, true),
            ("https://graph.microsoft.com:443/v1.0", false, true),
            ("https://graph.microsoft.com:8443", false, false),
            ("http://graph.microsoft.com", false, false),
            ("https://graph.microsoft.com.evil.example", false, false),
            ("https://graph.example.test", false, false),
            ("https://login.example.com", false, false),
        ];
        for (url, login, graph) in cases {
            assert_eq!((is_cloud_login(url), is_cloud_graph(url)), (login, graph), "{url}");
        }
    }
}
