//! Uploads seen going through `/service/upload` (M4): `aid` → size, so the policy can
//! check attachment totals at send without fetching anything from the store.
//!
//! The size recorded is the whole request body (multipart overhead included, every
//! file of a multi-file upload gets the total): an over-estimate, never an under-one.
//! Contents are not kept: a whole uploaded MIME (`m@aid`) stays refused (default deny).

use crate::policy::UploadInfo;
use moka::future::Cache;
use std::collections::HashMap;
use std::time::Duration;

/// Zimbra keeps pending uploads in memory for a limited time; one hour covers it.
const TTL: Duration = Duration::from_secs(3600);
const CAPACITY: u64 = 50_000;
/// The servlet's answer is a short line or a tiny HTML page.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub struct UploadRecords {
    sizes: Cache<String, u64>,
}

impl Default for UploadRecords {
    fn default() -> Self {
        UploadRecords {
            sizes: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TTL)
                .build(),
        }
    }
}

impl UploadRecords {
    /// Records every upload id found in the servlet's answer.
    pub async fn record(&self, answer: &[u8], size: u64) {
        for aid in aids_in(&String::from_utf8_lossy(answer)) {
            self.sizes.insert(aid, size).await;
        }
    }

    /// The known uploads among `aids` (unknown ones are left out: refused by the policy).
    pub async fn lookup(&self, aids: &[String]) -> HashMap<String, UploadInfo> {
        let mut out = HashMap::new();
        for a in aids {
            if let Some(size) = self.sizes.get(a).await {
                let info = UploadInfo {
                    size,
                    content: None,
                };
                out.insert(a.clone(), info);
            }
        }
        out
    }
}

/// Upload ids (`{serverId}:{uuid}`) quoted in any of the servlet's answer formats.
fn aids_in(text: &str) -> Vec<String> {
    text.split(['\'', '"'])
        .filter(|t| {
            t.split_once(':').is_some_and(|(server, id)| {
                !server.is_empty()
                    && server
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && uuid::Uuid::try_parse(id).is_ok()
            })
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_in_every_format() {
        let id = "a1b2:3f2504e0-4f89-11d3-9a0c-0305e82c3301";
        let r = UploadRecords::default();
        r.record(format!("200,'c1','{id}'\n").as_bytes(), 42).await;
        let got = r.lookup(&[id.to_string(), "x:y".into()]).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[id].size, 42);
        let ext = format!(r#"200,'null',[{{"aid":"{id}","ct":"a/b","s":1}}]"#);
        assert_eq!(aids_in(&ext), vec![id.to_string()]);
        assert!(aids_in("413,'c1'\n").is_empty());
    }
}
