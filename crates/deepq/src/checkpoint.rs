//! Checkpoints: everything a run needs to continue bit for bit, in one self-checking blob.
//!
//! Layout: the magic bytes `DEEPQCK5`, the CRC-32C of the payload (4 bytes, little endian),
//! then the payload: a postcard-encoded [`CheckpointHeader`] followed by the trainer's state.
//! A truncated or altered file fails the checksum before anything is decoded. A saved replay
//! buffer ([`encode_replay`]) is framed the same way under its own magic, `DEEPQRB1`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::DqnConfig;
use crate::replay::Replay;

/// First bytes of every checkpoint. The digit is the format's version: 2 since networks
/// record their quantile head (QR-DQN), 3 since they record their precision (bf16), 4 since
/// replay stores each frame of a stacked image once, 5 since networks record their
/// activation.
pub const MAGIC: &[u8; 8] = b"DEEPQCK5";

/// The magic of checkpoints written before the current format.
const OLDER_MAGICS: &[&[u8; 8]] = &[b"DEEPQCK1", b"DEEPQCK2", b"DEEPQCK3", b"DEEPQCK4"];

/// What a checkpoint says about itself, readable without knowing the env or network type.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointHeader {
    /// Version of deepq that wrote it.
    pub deepq_version: String,
    /// The run's full configuration.
    pub config: DqnConfig,
    /// Environment steps taken when it was written.
    pub steps: u64,
    /// Episodes finished when it was written.
    pub episodes: u64,
}

/// The header as stored: postcard cannot decode TOML-style untagged values, so the
/// config travels as its TOML text.
#[derive(Serialize, Deserialize)]
struct StoredHeader {
    deepq_version: String,
    config_toml: String,
    steps: u64,
    episodes: u64,
}

/// Why a checkpoint could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CheckpointError {
    /// The bytes do not start with [`MAGIC`].
    #[error("not a deepq checkpoint (missing the DEEPQCK5 header)")]
    NotACheckpoint,
    /// A checkpoint of an earlier format, which this version cannot continue.
    #[error(
        "checkpoint written by an earlier deepq (format {0}; this version reads format 5): finish the run with the version that started it, or start it again"
    )]
    OlderFormat(char),
    /// The checksum does not match: the file was truncated or altered.
    #[error("the file is corrupt or truncated (checksum mismatch)")]
    Corrupt,
    /// The bytes do not start with [`REPLAY_MAGIC`].
    #[error("not a deepq replay buffer (missing the DEEPQRB1 header)")]
    NotAReplayBuffer,
    /// The checksum matched but the content does not decode (e.g. another version's format).
    #[error("checkpoint cannot be decoded: {0}")]
    Decode(String),
    /// The checkpoint is of a run on another environment than the one it was to resume on.
    #[error("the checkpoint is of a run on {saved}, not on {given}")]
    OtherEnv {
        /// The run's environment.
        saved: String,
        /// The environment given to resume it on.
        given: String,
    },
}

/// Encodes a header and a state into checkpoint bytes.
pub fn encode<S: Serialize>(header: &CheckpointHeader, state: &S) -> Vec<u8> {
    encode_framed(MAGIC, header, state)
}

/// First bytes of a saved replay buffer, framed as a checkpoint is (header and checksum).
pub const REPLAY_MAGIC: &[u8; 8] = b"DEEPQRB1";

/// A replay buffer as bytes, with the config of the run it belongs to (SB3's
/// `save_replay_buffer`).
pub fn encode_replay(cfg: &DqnConfig, replay: &Replay) -> Vec<u8> {
    let header = CheckpointHeader {
        deepq_version: env!("CARGO_PKG_VERSION").to_string(),
        config: cfg.clone(),
        steps: 0,
        episodes: 0,
    };
    encode_framed(REPLAY_MAGIC, &header, replay)
}

/// A replay buffer written by [`encode_replay`], with the config of its run.
pub fn decode_replay(bytes: &[u8]) -> Result<(DqnConfig, Replay), CheckpointError> {
    if !bytes.starts_with(REPLAY_MAGIC) {
        return Err(CheckpointError::NotAReplayBuffer);
    }
    let (header, state) = read_framed(REPLAY_MAGIC, bytes)?;
    Ok((header.config, decode_state(state)?))
}

fn encode_framed<S: Serialize>(magic: &[u8; 8], header: &CheckpointHeader, state: &S) -> Vec<u8> {
    let stored = StoredHeader {
        deepq_version: header.deepq_version.clone(),
        config_toml: header.config.to_toml(),
        steps: header.steps,
        episodes: header.episodes,
    };
    let header = postcard::to_stdvec(&stored).expect("checkpoint headers serialize");
    let state_len =
        postcard::experimental::serialized_size(state).expect("trainer state serializes");
    // One buffer of the exact size, written in place: the encoded state of a large replay
    // buffer (7 GB for Atari's 1M transitions) is never copied, nor grown by doubling.
    let payload_start = magic.len() + 4;
    let mut bytes = Vec::with_capacity(payload_start + header.len() + state_len);
    bytes.extend_from_slice(magic);
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&header);
    postcard::to_io(state, &mut bytes).expect("trainer state serializes into memory");
    let crc = crc32c::crc32c(&bytes[payload_start..]);
    bytes[magic.len()..payload_start].copy_from_slice(&crc.to_le_bytes());
    bytes
}

/// Checks the magic and checksum and decodes the header; returns it with the encoded state.
pub fn read_header(bytes: &[u8]) -> Result<(CheckpointHeader, &[u8]), CheckpointError> {
    if let Some(older) = OLDER_MAGICS
        .iter()
        .find(|m| bytes.starts_with(m.as_slice()))
    {
        return Err(CheckpointError::OlderFormat(char::from(older[7])));
    }
    read_framed(MAGIC, bytes)
}

/// Checks `magic` and the checksum and decodes the header.
fn read_framed<'a>(
    magic: &[u8; 8],
    bytes: &'a [u8],
) -> Result<(CheckpointHeader, &'a [u8]), CheckpointError> {
    let rest = bytes
        .strip_prefix(magic.as_slice())
        .ok_or(CheckpointError::NotACheckpoint)?;
    if rest.len() < 4 {
        return Err(CheckpointError::Corrupt);
    }
    let (crc, payload) = rest.split_at(4);
    if u32::from_le_bytes(crc.try_into().expect("4 bytes")) != crc32c::crc32c(payload) {
        return Err(CheckpointError::Corrupt);
    }
    let (stored, state): (StoredHeader, &[u8]) =
        postcard::take_from_bytes(payload).map_err(|e| CheckpointError::Decode(e.to_string()))?;
    let table: toml::Table = stored
        .config_toml
        .parse()
        .map_err(|e: toml::de::Error| CheckpointError::Decode(e.message().to_string()))?;
    let mut config = DqnConfig::default();
    config
        .apply_toml(&table)
        .map_err(|e| CheckpointError::Decode(e.to_string()))?;
    let header = CheckpointHeader {
        deepq_version: stored.deepq_version,
        config,
        steps: stored.steps,
        episodes: stored.episodes,
    };
    Ok((header, state))
}

/// Decodes the state part returned by [`read_header`].
pub fn decode_state<S: DeserializeOwned>(state: &[u8]) -> Result<S, CheckpointError> {
    postcard::from_bytes(state).map_err(|e| CheckpointError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunSettings;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        let header = CheckpointHeader {
            deepq_version: "0.1.0".into(),
            config: DqnConfig {
                run: RunSettings {
                    seed: 7,
                    ..RunSettings::default()
                },
                ..DqnConfig::default()
            },
            steps: 123,
            episodes: 4,
        };
        encode(&header, &(vec![1.5f32, -2.0], 99u64))
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let (header, state) = read_header(&bytes).unwrap();
        assert_eq!(
            (header.config.run.seed, header.steps, header.episodes),
            (7, 123, 4)
        );
        let decoded: (Vec<f32>, u64) = decode_state(state).unwrap();
        assert_eq!(decoded, (vec![1.5, -2.0], 99));
    }

    #[test]
    fn one_exact_buffer_holds_the_magic_the_checksum_and_the_payload() {
        let bytes = sample();
        assert_eq!(bytes.capacity(), bytes.len());
        assert_eq!(&bytes[..8], MAGIC);
        assert_eq!(bytes[8..12], crc32c::crc32c(&bytes[12..]).to_le_bytes());
    }

    #[test]
    fn damage_is_detected() {
        let bytes = sample();
        assert_eq!(
            read_header(b"hello").unwrap_err(),
            CheckpointError::NotACheckpoint
        );
        let mut older = bytes.clone();
        older[..8].copy_from_slice(b"DEEPQCK1");
        let err = read_header(&older).unwrap_err();
        assert_eq!(err, CheckpointError::OlderFormat('1'));
        assert!(err.to_string().contains("earlier deepq"));
        for cut in [8, 10, bytes.len() - 1] {
            assert_eq!(
                read_header(&bytes[..cut]).unwrap_err(),
                CheckpointError::Corrupt,
                "cut at {cut}"
            );
        }
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(read_header(&flipped).unwrap_err(), CheckpointError::Corrupt);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512), with_magic: bool) {
            let mut bytes = if with_magic { MAGIC.to_vec() } else { Vec::new() };
            bytes.extend(&tail);
            if let Ok((_, state)) = read_header(&bytes) {
                let _ = decode_state::<(Vec<f32>, u64)>(state);
            }
        }

        #[test]
        fn valid_checksum_over_garbage_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend(crc32c::crc32c(&payload).to_le_bytes());
            bytes.extend(&payload);
            if let Ok((_, state)) = read_header(&bytes) {
                let _ = decode_state::<(Vec<f32>, u64)>(state);
            }
        }
    }
}
