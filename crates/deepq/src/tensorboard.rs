//! TensorBoard event files: TFRecord-framed `Event` protocol buffers holding scalar summaries,
//! readable by TensorBoard's standard loader.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A TensorBoard file that could not be created or written, with its path.
#[derive(Debug, thiserror::Error)]
#[error("cannot write '{path}': {source}")]
pub struct TensorboardError {
    path: PathBuf,
    source: std::io::Error,
}

/// Appends scalar summaries to one `events.out.tfevents.*` file.
pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// Creates a new event file in `dir` and writes the file-version header event.
    pub fn create(dir: &Path) -> Result<Self, TensorboardError> {
        std::fs::create_dir_all(dir).map_err(|source| TensorboardError {
            path: dir.to_path_buf(),
            source,
        })?;
        let now = wall_time();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        // The process and a counter keep two writers of one second (a run that goes on in
        // the same directory) from sharing a file, as TensorFlow's own names do.
        static WRITERS: AtomicU64 = AtomicU64::new(0);
        let n = WRITERS.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(
            "events.out.tfevents.{}.{host}.{}.{n}",
            now as u64,
            std::process::id()
        ));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| TensorboardError {
                path: path.clone(),
                source,
            })?;
        let mut writer = EventWriter {
            out: BufWriter::new(file),
            path,
        };
        let mut event = Vec::new();
        put_double(&mut event, 1, now);
        put_varint_field(&mut event, 2, 0);
        put_bytes(&mut event, 3, b"brain.Event:2");
        writer.record(&event)?;
        Ok(writer)
    }

    /// Writes one scalar `value` under `tag` at `step`.
    pub fn scalar(&mut self, tag: &str, step: u64, value: f64) -> Result<(), TensorboardError> {
        let mut summary_value = Vec::new();
        put_bytes(&mut summary_value, 1, tag.as_bytes());
        put_float(&mut summary_value, 2, value as f32);
        let mut summary = Vec::new();
        put_bytes(&mut summary, 1, &summary_value);
        let mut event = Vec::new();
        put_double(&mut event, 1, wall_time());
        put_varint_field(&mut event, 2, step);
        put_bytes(&mut event, 5, &summary);
        self.record(&event)
    }

    /// Pushes buffered records to the file.
    pub fn flush(&mut self) -> Result<(), TensorboardError> {
        self.out.flush().map_err(|e| self.fail(e))
    }

    /// TFRecord framing: length, masked CRC of the length, data, masked CRC of the data.
    fn record(&mut self, data: &[u8]) -> Result<(), TensorboardError> {
        let len = (data.len() as u64).to_le_bytes();
        let result = self
            .out
            .write_all(&len)
            .and_then(|()| self.out.write_all(&masked_crc(&len).to_le_bytes()))
            .and_then(|()| self.out.write_all(data))
            .and_then(|()| self.out.write_all(&masked_crc(data).to_le_bytes()));
        result.map_err(|e| self.fail(e))
    }

    fn fail(&self, source: std::io::Error) -> TensorboardError {
        TensorboardError {
            path: self.path.clone(),
            source,
        }
    }

    /// The event file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The CRC TFRecord uses: CRC-32C, rotated and offset so that CRCs of CRCs stay robust.
pub fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    put_varint(out, u64::from(field) << 3);
    put_varint(out, v);
}

fn put_double(out: &mut Vec<u8>, field: u32, v: f64) {
    put_varint(out, (u64::from(field) << 3) | 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_float(out: &mut Vec<u8>, field: u32, v: f32) {
    put_varint(out, (u64::from(field) << 3) | 5);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, (u64::from(field) << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protobuf field as read back: (field number, value).
    #[derive(Debug, PartialEq)]
    enum Field {
        Varint(u32, u64),
        Fixed64(u32, [u8; 8]),
        Fixed32(u32, [u8; 4]),
        Bytes(u32, Vec<u8>),
    }

    fn varint(data: &[u8], pos: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let b = data[*pos];
            *pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    /// An independent protobuf reader, strict about wire types and lengths.
    fn parse(data: &[u8]) -> Vec<Field> {
        let mut pos = 0;
        let mut fields = Vec::new();
        while pos < data.len() {
            let key = varint(data, &mut pos);
            let field = (key >> 3) as u32;
            fields.push(match key & 7 {
                0 => Field::Varint(field, varint(data, &mut pos)),
                1 => {
                    pos += 8;
                    Field::Fixed64(field, data[pos - 8..pos].try_into().unwrap())
                }
                5 => {
                    pos += 4;
                    Field::Fixed32(field, data[pos - 4..pos].try_into().unwrap())
                }
                2 => {
                    let len = varint(data, &mut pos) as usize;
                    pos += len;
                    Field::Bytes(field, data[pos - len..pos].to_vec())
                }
                wire => panic!("unexpected wire type {wire}"),
            });
        }
        assert_eq!(pos, data.len(), "a field ran past the end of its message");
        fields
    }

    /// Splits a TFRecord file, checking both CRCs of every record.
    fn records(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut pos = 0;
        let mut out = Vec::new();
        while pos < bytes.len() {
            let len_bytes = &bytes[pos..pos + 8];
            let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
            let len_crc = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
            assert_eq!(len_crc, masked_crc(len_bytes), "length CRC");
            let data = &bytes[pos + 12..pos + 12 + len];
            let data_crc =
                u32::from_le_bytes(bytes[pos + 12 + len..pos + 16 + len].try_into().unwrap());
            assert_eq!(data_crc, masked_crc(data), "data CRC");
            out.push(data.to_vec());
            pos += 16 + len;
        }
        out
    }

    #[test]
    fn crcs_match_published_crc32c_vectors_and_tensorboards_masking() {
        let ascending: Vec<u8> = (0..32).collect();
        let descending: Vec<u8> = (0..32).rev().collect();
        // (data, its CRC-32C, its masked CRC). The CRC-32Cs are the catalogue check value of
        // "123456789" and the four 32-byte vectors of RFC 3720, appendix B.4; the masked CRCs
        // are what TensorBoard's reader computes (`masked_crc32c` in tensorboard 2.21's
        // `compat/tensorflow_stub/pywrap_tensorflow.py`) before it accepts a record.
        let cases: [(&[u8], u32, u32); 5] = [
            (b"123456789", 0xE306_9283, 0xC78A_B0E5),
            (&[0x00; 32], 0x8A91_36AA, 0x0FD7_FFFA),
            (&[0xFF; 32], 0x62A8_AB43, 0xF909_B029),
            (&ascending, 0x46DD_794E, 0x951F_7892),
            (&descending, 0x113F_DB5C, 0x593B_0D57),
        ];
        for (data, crc, masked) in cases {
            assert_eq!(crc32c::crc32c(data), crc, "CRC-32C of {data:02x?}");
            assert_eq!(masked_crc(data), masked, "masked CRC of {data:02x?}");
        }
    }

    #[test]
    fn events_read_back_with_valid_framing_and_protobuf() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EventWriter::create(dir.path()).unwrap();
        writer.scalar("episode/return", 42, 17.5).unwrap();
        writer.scalar("train/loss", 300, 0.25).unwrap();
        writer.flush().unwrap();
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert!(
            file.file_name()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
        );
        let recs = records(&std::fs::read(file.path()).unwrap());
        assert_eq!(recs.len(), 3);

        let header = parse(&recs[0]);
        assert!(matches!(header[0], Field::Fixed64(1, _)));
        assert_eq!(header[1], Field::Varint(2, 0));
        assert_eq!(header[2], Field::Bytes(3, b"brain.Event:2".to_vec()));

        for (rec, (tag, step, value)) in recs[1..]
            .iter()
            .zip([("episode/return", 42, 17.5f32), ("train/loss", 300, 0.25)])
        {
            let event = parse(rec);
            assert_eq!(event[1], Field::Varint(2, step));
            let Field::Bytes(5, summary) = &event[2] else {
                panic!("no summary: {event:?}")
            };
            let [Field::Bytes(1, value_msg)] = &parse(summary)[..] else {
                panic!("one value expected")
            };
            let value_fields = parse(value_msg);
            assert_eq!(value_fields[0], Field::Bytes(1, tag.as_bytes().to_vec()));
            assert_eq!(value_fields[1], Field::Fixed32(2, value.to_le_bytes()));
        }
    }

    #[test]
    fn writers_of_the_same_second_keep_their_own_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = EventWriter::create(dir.path()).unwrap();
        let mut second = EventWriter::create(dir.path()).unwrap();
        first.scalar("a", 1, 1.0).unwrap();
        second.scalar("b", 2, 2.0).unwrap();
        first.flush().unwrap();
        second.flush().unwrap();
        assert_ne!(first.path(), second.path());
        for writer in [&first, &second] {
            assert_eq!(records(&std::fs::read(writer.path()).unwrap()).len(), 2);
        }
    }
}
