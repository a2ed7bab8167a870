//! Payload compression with per-project zstd dictionaries.
//!
//! Error events of one application share most of their bytes (SDK info, modules, contexts, frame
//! layout), so a dictionary trained on a project's own events shrinks each stored event about four
//! times more than plain zstd. Ingest compresses each event once, with the project's newest
//! dictionary; the payload carries the dictionary id to the inbox and the events table, and every
//! reader decompresses with that id. Dictionaries are never deleted, so any stored payload stays
//! readable.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sentinel_store::{CompressionDict, CountScope, Store, StoreError};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

use crate::clock::Clock;

const LEVEL_PLAIN: i32 = 1;
const LEVEL_WITH_DICT: i32 = 3;
/// Dictionary size; 64 KiB measured best on sentry-python-shaped events (see docs/PERFORMANCE.md).
const DICT_BYTES: usize = 64 * 1024;

thread_local! {
    // One compression and one decompression context per thread, reused: creating a context per
    // call allocated (and zeroed, and for decompression mmap'd) a few hundred KiB every time.
    static CCTX: RefCell<zstd::zstd_safe::CCtx<'static>> = RefCell::new(zstd::zstd_safe::CCtx::create());
    static DCTX: RefCell<zstd::zstd_safe::DCtx<'static>> = RefCell::new(zstd::zstd_safe::DCtx::create());
}

fn zstd_error(code: usize) -> std::io::Error {
    std::io::Error::other(zstd::zstd_safe::get_error_name(code))
}

struct Dict {
    id: i64,
    enc: EncoderDictionary<'static>,
    dec: DecoderDictionary<'static>,
}

#[derive(Default)]
struct State {
    newest_by_project: HashMap<i64, Arc<Dict>>,
    by_id: HashMap<i64, Arc<Dict>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("payload names compression dictionary {0}, which is not stored")]
    UnknownDict(i64),
    #[error("payload cannot be decompressed: {0}")]
    Corrupt(String),
}

#[derive(Default)]
pub struct Codec {
    state: RwLock<State>,
}

impl Codec {
    /// A codec knowing every stored dictionary.
    pub async fn load(store: &dyn Store) -> Result<Self, StoreError> {
        let codec = Codec::default();
        codec.install_all(store.compression_dicts().await?);
        Ok(codec)
    }

    fn install_all(&self, dicts: Vec<CompressionDict>) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        for d in dicts {
            if state.by_id.contains_key(&d.id) {
                continue;
            }
            let dict = Arc::new(Dict {
                id: d.id,
                enc: EncoderDictionary::copy(&d.bytes, LEVEL_WITH_DICT),
                dec: DecoderDictionary::copy(&d.bytes),
            });
            state.by_id.insert(d.id, dict.clone());
            let newer = state
                .newest_by_project
                .get(&d.project_id)
                .is_none_or(|cur| cur.id < d.id);
            if newer {
                state.newest_by_project.insert(d.project_id, dict);
            }
        }
    }

    /// Picks up dictionaries stored since the last load (e.g. trained by another node).
    pub async fn refresh(&self, store: &dyn Store) -> Result<(), StoreError> {
        self.install_all(store.compression_dicts().await?);
        Ok(())
    }

    pub fn has_dict(&self, project_id: i64) -> bool {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .newest_by_project
            .contains_key(&project_id)
    }

    pub fn knows(&self, dict_id: i64) -> bool {
        dict_id == 0
            || self
                .state
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .by_id
                .contains_key(&dict_id)
    }

    /// Compresses an event payload with the project's newest dictionary (or none yet).
    /// Returns the dictionary id (0 for none) and the compressed bytes.
    pub fn compress_event(&self, project_id: i64, data: &[u8]) -> std::io::Result<(i64, Vec<u8>)> {
        let dict = self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .newest_by_project
            .get(&project_id)
            .cloned();
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(data.len()));
        CCTX.with_borrow_mut(|cctx| match &dict {
            Some(d) => cctx.compress_using_cdict(&mut out, data, d.enc.as_cdict()),
            None => cctx.compress(&mut out, data, LEVEL_PLAIN),
        })
        .map_err(zstd_error)?;
        Ok((dict.map_or(0, |d| d.id), out))
    }

    /// Compresses without a dictionary (non-event items).
    pub fn compress_plain(data: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(data.len()));
        CCTX.with_borrow_mut(|cctx| cctx.compress(&mut out, data, LEVEL_PLAIN))
            .map_err(zstd_error)?;
        Ok(out)
    }

    /// Decompresses a payload, refusing to produce more than `cap` bytes.
    pub fn decompress(&self, dict_id: i64, data: &[u8], cap: usize) -> Result<Vec<u8>, CodecError> {
        let dict = match dict_id {
            0 => None,
            id => Some(
                self.state
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .by_id
                    .get(&id)
                    .cloned()
                    .ok_or(CodecError::UnknownDict(id))?,
            ),
        };
        // Every payload Sentinel writes records its size; trust it only up to `cap`.
        let size = match zstd::zstd_safe::get_frame_content_size(data) {
            Ok(Some(n)) if n <= cap as u64 => n as usize,
            Ok(Some(n)) => {
                return Err(CodecError::Corrupt(format!(
                    "payload decompresses to {n} bytes, over the {cap} limit"
                )));
            }
            _ => cap,
        };
        let mut out = Vec::with_capacity(size);
        DCTX.with_borrow_mut(|dctx| match &dict {
            Some(d) => dctx.decompress_using_ddict(&mut out, data, d.dec.as_ddict()),
            None => dctx.decompress(&mut out, data),
        })
        .map_err(|code| CodecError::Corrupt(zstd::zstd_safe::get_error_name(code).to_owned()))?;
        Ok(out)
    }
}

/// Trains a dictionary for each project that has none yet and has at least `min_events` events.
pub struct Trainer {
    pub store: Arc<dyn Store>,
    pub codec: Arc<Codec>,
    pub clock: Arc<dyn Clock>,
    pub min_events: usize,
    pub max_payload_bytes: usize,
}

impl Trainer {
    /// One pass over the projects; returns how many dictionaries it trained.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let mut trained = 0;
        for project in self.store.list_projects().await? {
            if self.codec.has_dict(project.id) {
                continue;
            }
            // Cheap first: the rollups know how many events the project has.
            let counts = self
                .store
                .event_counts(CountScope::Project(project.id), 0, i64::MAX / 2, i64::MAX / 4)
                .await?;
            if counts.iter().map(|(_, n)| *n).sum::<u64>() < self.min_events as u64 {
                continue;
            }
            let sample = self
                .store
                .sample_event_payloads(project.id, self.min_events)
                .await?;
            if sample.len() < self.min_events {
                continue;
            }
            let codec = self.codec.clone();
            let cap = self.max_payload_bytes;
            let bytes = tokio::task::spawn_blocking(move || {
                let samples: Vec<Vec<u8>> = sample
                    .iter()
                    .filter_map(|(dict, payload)| codec.decompress(*dict, payload, cap).ok())
                    .collect();
                // zstd wants about 100 times the dictionary size in samples; small projects get a
                // smaller dictionary rather than none.
                let total: usize = samples.iter().map(Vec::len).sum();
                zstd::dict::from_samples(&samples, (total / 50).clamp(4 * 1024, DICT_BYTES))
            })
            .await?;
            match bytes {
                Ok(bytes) => {
                    let id = self
                        .store
                        .save_compression_dict(project.id, &bytes, self.clock.now_ms())
                        .await?;
                    self.codec.refresh(self.store.as_ref()).await?;
                    tracing::info!(
                        project.id = project.id,
                        dict.id = id,
                        bytes = bytes.len(),
                        "trained a compression dictionary"
                    );
                    trained += 1;
                }
                // Too little or too uniform data: try again later with more events.
                Err(e) => {
                    tracing::warn!(project.id = project.id, error = %e, "dictionary training failed; will retry")
                }
            }
        }
        Ok(trained)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Vec<u8>> {
        (0..300)
            .map(|i| {
                format!(
                    r#"{{"event_id":"{i:032x}","platform":"python","sdk":{{"name":"sentry.python","version":"2.75.0"}},"modules":{{"django":"5.1","requests":"2.32"}},"exception":{{"values":[{{"type":"KeyError","value":"'k{}'","stacktrace":{{"frames":[{{"module":"app.views","function":"f{}","lineno":{}}}]}}}}]}}}}"#,
                    i % 17,
                    i % 5,
                    i * 7
                )
                .into_bytes()
            })
            .collect()
    }

    #[test]
    fn payloads_round_trip_with_and_without_a_dictionary() {
        let codec = Codec::default();
        let data = &samples()[3];
        let (id, plain) = codec.compress_event(1, data).unwrap();
        assert_eq!(id, 0);
        assert_eq!(&codec.decompress(0, &plain, 1 << 20).unwrap(), data);

        let dict = zstd::dict::from_samples(&samples(), 16 * 1024).unwrap();
        codec.install_all(vec![CompressionDict {
            id: 7,
            project_id: 1,
            created_ms: 0,
            bytes: dict,
        }]);
        let (id, packed) = codec.compress_event(1, data).unwrap();
        assert_eq!(id, 7);
        assert!(packed.len() < plain.len(), "{} < {}", packed.len(), plain.len());
        assert_eq!(&codec.decompress(7, &packed, 1 << 20).unwrap(), data);
        // Other projects keep compressing without it; old payloads stay readable.
        assert_eq!(codec.compress_event(2, data).unwrap().0, 0);
        assert_eq!(&codec.decompress(0, &plain, 1 << 20).unwrap(), data);
    }

    #[test]
    fn unknown_dictionaries_and_oversized_output_are_errors() {
        let codec = Codec::default();
        assert!(matches!(
            codec.decompress(9, b"x", 10),
            Err(CodecError::UnknownDict(9))
        ));
        let big = Codec::compress_plain(&[0u8; 10_000]).unwrap();
        assert!(matches!(
            codec.decompress(0, &big, 100),
            Err(CodecError::Corrupt(_))
        ));
    }

    #[test]
    fn the_newest_dictionary_of_a_project_is_used() {
        let codec = Codec::default();
        let dict = zstd::dict::from_samples(&samples(), 16 * 1024).unwrap();
        codec.install_all(vec![
            CompressionDict {
                id: 3,
                project_id: 1,
                created_ms: 0,
                bytes: dict.clone(),
            },
            CompressionDict {
                id: 5,
                project_id: 1,
                created_ms: 1,
                bytes: dict,
            },
        ]);
        assert_eq!(codec.compress_event(1, b"{}").unwrap().0, 5);
        assert!(codec.knows(3) && codec.knows(5) && codec.knows(0) && !codec.knows(4));
    }
}
