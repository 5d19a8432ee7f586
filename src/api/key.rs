//! The API key, read from `USPTO_API_KEY` and kept out of `Debug` and `Display`.

/// The API key, kept out of `Debug` and `Display`.
#[derive(Clone, Default)]
pub struct ApiKey(pub(super) Option<String>);

impl ApiKey {
    pub fn new(key: Option<String>) -> ApiKey {
        ApiKey(key.filter(|k| !k.trim().is_empty()))
    }
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "ApiKey(<set>)"
        } else {
            "ApiKey(<unset>)"
        })
    }
}
