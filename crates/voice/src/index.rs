//! RVC feature indexes: the training set's feature vectors, read from the faiss `.index` file
//! RVC writes, and the retrieval RVC does with them (each frame's k = 8 nearest stored
//! vectors, weighted by the inverse square of their faiss score, mixed into the frame by
//! `index_rate`).
//!
//! # The file
//!
//! What `faiss.write_index` writes for `IVF<n>,Flat` (`IwFl`) and plain flat indexes
//! (`IxF2` L2, `IxFI` inner product, `IxFl` either), as read from faiss at commit
//! `02dbb4e42f49`: `faiss/impl/index_write.cpp` (`write_index_header` 100–111,
//! `write_InvertedLists` "ilar" 303–344, `write_direct_map` 451–463, `write_ivf_header`
//! 465–473, flat 492–499, `IwFl` 737–743), `faiss/impl/index_read.cpp` (`read_index_header`
//! 283–301, `read_ArrayInvertedLists_sizes` 498–524, "ilar" 653–696, `read_direct_map`
//! 1505–1518, `read_ivf_header` 1521–1537, flat 1729–1748, `IwFl` 2158–2163) and
//! `faiss/impl/io_macros.h` (`READVECTOR`, `READXBVECTOR`/`WRITEXBVECTOR` 112–131). Values
//! are little-endian (faiss writes native order; every machine RVC runs on is little-endian).
//!
//! ```text
//! index      := fourcc header body
//! header     := d:i32 ntotal:i64 dummy:i64 dummy:i64 is_trained:u8 metric:i32 [metric_arg:f32 if metric > 1]
//! flat body  := n:u64 (f32 count, = ntotal*d) n × f32
//! IwFl body  := nlist:u64 nprobe:u64 quantizer:index direct_map invlists
//! direct_map := type:u8 n:u64 n × i64 [m:u64 m × (i64, i64) if type = 2]
//! invlists   := "ilar" nlist:u64 code_size:u64 sizes lists
//! sizes      := "full" n:u64 (= nlist) n × u64  |  "sprs" n:u64 (even) (n/2) × (list:u64 size:u64)
//! lists      := for each list with size s > 0: s × code_size bytes (s vectors of d f32), s × i64 ids
//! ```
//!
//! # The retrieval
//!
//! RVC (`infer/rtrvc.py` and `infer/vc/pipeline.py` in RVC-Project's WebUI) calls
//! `index.search(feats, k=8)`, then `weight = square(1 / score)` normalised per frame, and
//! mixes `sum(big_npy[ix] * weight)` where `big_npy = index.reconstruct_n(0, ntotal)` (the
//! stored vectors in id order). faiss's L2 score is the *squared* distance, so the weight is
//! 1/d⁴ in the plain distance; that is what is done here. RVC's own search goes through the
//! IVF with the `nprobe` in the file (its trainer writes 1, so one list of thousands is
//! searched); here the search is exact over all stored vectors, which finds true neighbours
//! where RVC's finds approximate ones.

use std::io::Read;
use std::ops::Range;
use std::sync::{Arc, Mutex, Weak};

/// Neighbours per frame, as RVC asks faiss for.
pub const K: usize = 8;

/// The largest dimension accepted (faiss allows 2²⁰; RVC's are 256 or 768).
const MAX_DIM: usize = 1 << 16;
/// The most bytes of vectors accepted (RVC's trainer caps an index at 200 000 × 768 × 4 bytes
/// ≈ 600 MB; this is far above that and far below what would exhaust a server).
const MAX_VECTOR_BYTES: u64 = 8 << 30;
/// More stored vectors than this are searched on several threads.
const PARALLEL_FROM: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot read the index: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Format(String),
}

fn bad<T>(reason: impl Into<String>) -> Result<T, IndexError> {
    Err(IndexError::Format(reason.into()))
}

/// A fourcc as quoted text, for messages (bytes that are not printable shown as `\xNN`).
fn show_fourcc(code: [u8; 4]) -> String {
    let text: String = code
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect();
    format!("\"{text}\"")
}

/// The file as a bounded stream: every count read from it is checked against the bytes that
/// are left before anything is allocated for it.
struct Input<R> {
    inner: R,
    pos: u64,
    len: u64,
}

impl<R: Read> Input<R> {
    fn need(&self, bytes: Option<u64>, what: &str) -> Result<(), IndexError> {
        let left = self.len - self.pos;
        match bytes {
            Some(n) if n <= left => Ok(()),
            Some(n) => bad(format!(
                "{what} needs {n} bytes at byte {} but only {left} are left (truncated or corrupt file)",
                self.pos
            )),
            None => bad(format!(
                "{what} at byte {}: a size too large to be real (corrupt file)",
                self.pos
            )),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], IndexError> {
        self.need(Some(N as u64), what)?;
        let mut buf = [0u8; N];
        self.inner.read_exact(&mut buf)?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn u8(&mut self, what: &str) -> Result<u8, IndexError> {
        Ok(self.array::<1>(what)?[0])
    }
    fn i32(&mut self, what: &str) -> Result<i32, IndexError> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }
    fn i64(&mut self, what: &str) -> Result<i64, IndexError> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, IndexError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count that must fit in memory as `usize`.
    fn count(&mut self, what: &str) -> Result<usize, IndexError> {
        let n = self.u64(what)?;
        usize::try_from(n).or_else(|_| bad(format!("{what} {n} is too large")))
    }

    fn skip(&mut self, bytes: Option<u64>, what: &str) -> Result<(), IndexError> {
        self.need(bytes, what)?;
        let n = bytes.unwrap_or(0);
        let copied = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())?;
        if copied != n {
            return bad(format!("the file ends inside {what}"));
        }
        self.pos += n;
        Ok(())
    }

    /// `count` f32 values, appended to `out`.
    fn f32s(&mut self, count: usize, out: &mut Vec<f32>, what: &str) -> Result<(), IndexError> {
        let bytes = (count as u64).checked_mul(4);
        self.need(bytes, what)?;
        out.reserve(count);
        let mut buf = [0u8; 4096];
        let mut left = count * 4;
        while left > 0 {
            let chunk = &mut buf[..left.min(4096)];
            self.inner.read_exact(chunk)?;
            out.extend(
                chunk
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
            left -= chunk.len();
        }
        self.pos += count as u64 * 4;
        Ok(())
    }
}

/// `read_index_header`: the dimension and the number of vectors.
fn header<R: Read>(input: &mut Input<R>, what: &str) -> Result<(usize, usize), IndexError> {
    let d = input.i32(&format!("{what} dimension"))?;
    let ntotal = input.i64(&format!("{what} vector count"))?;
    input.skip(Some(16), &format!("{what} header"))?;
    let trained = input.u8(&format!("{what} is_trained"))?;
    let metric = input.i32(&format!("{what} metric"))?;
    let d = usize::try_from(d)
        .ok()
        .filter(|d| (1..=MAX_DIM).contains(d))
        .map_or_else(
            || bad(format!("{what}: dimension {d} (expected 1 to {MAX_DIM})")),
            Ok,
        )?;
    let Ok(ntotal) = usize::try_from(ntotal) else {
        return bad(format!("{what}: vector count {ntotal} is negative"));
    };
    if trained > 1 {
        return bad(format!("{what}: is_trained byte {trained} is not 0 or 1"));
    }
    // 0 inner product, 1 L2; the others (L1, Linf, Lp, …) are no RVC index.
    if !(0..=1).contains(&metric) {
        return bad(format!(
            "{what}: metric type {metric} (only L2 and inner-product indexes are read)"
        ));
    }
    Ok((d, ntotal))
}

fn is_flat(code: [u8; 4]) -> bool {
    matches!(&code, b"IxF2" | b"IxFI" | b"IxFl")
}

/// A flat index's vectors after its fourcc: appended to `out` when given, skipped otherwise.
fn flat<R: Read>(
    input: &mut Input<R>,
    what: &str,
    out: Option<&mut Vec<f32>>,
) -> Result<(usize, usize), IndexError> {
    let (d, ntotal) = header(input, what)?;
    let floats = input.u64(&format!("{what} size"))?;
    if Some(floats) != (ntotal as u64).checked_mul(d as u64) {
        return bad(format!(
            "{what}: {floats} values stored for {ntotal} vectors of {d}"
        ));
    }
    // `floats` was checked against d × ntotal, so this cannot overflow on 64-bit; the bound
    // keeps 32-bit targets honest too.
    let count = usize::try_from(floats).or_else(|_| bad(format!("{what}: too large")))?;
    match out {
        Some(out) => {
            check_total(floats.checked_mul(4), what)?;
            input.f32s(count, out, &format!("{what} vectors"))?;
        }
        None => input.skip(floats.checked_mul(4), &format!("{what} vectors"))?,
    }
    Ok((d, ntotal))
}

fn check_total(bytes: Option<u64>, what: &str) -> Result<(), IndexError> {
    match bytes {
        Some(b) if b <= MAX_VECTOR_BYTES => Ok(()),
        _ => bad(format!(
            "{what}: more than {} GiB of vectors",
            MAX_VECTOR_BYTES >> 30
        )),
    }
}

/// An `IwFl` body: the vectors of every inverted list, placed at their ids.
fn ivf_flat<R: Read>(input: &mut Input<R>) -> Result<(usize, Vec<f32>), IndexError> {
    let (d, ntotal) = header(input, "IVF index")?;
    let nlist = input.count("IVF list count")?;
    let _nprobe = input.u64("IVF nprobe")?;
    let quantizer = input.array::<4>("quantizer type")?;
    if !is_flat(quantizer) {
        return bad(format!(
            "the IVF index's quantizer is {}; only flat quantizers (IxF2, IxFI, IxFl) are read",
            show_fourcc(quantizer)
        ));
    }
    let (qd, centroids) = flat(input, "quantizer", None)?;
    if qd != d || centroids != nlist {
        return bad(format!(
            "the quantizer holds {centroids} centroids of {qd} for {nlist} lists of {d}"
        ));
    }
    let map_type = input.u8("direct map type")?;
    let n = input.u64("direct map size")?;
    input.skip(n.checked_mul(8), "direct map")?;
    match map_type {
        0 | 1 => {}
        2 => {
            let n = input.u64("direct map hashtable size")?;
            input.skip(n.checked_mul(16), "direct map hashtable")?;
        }
        other => return bad(format!("direct map type {other} (expected 0, 1 or 2)")),
    }

    let lists = input.array::<4>("inverted lists type")?;
    match &lists {
        b"ilar" => {}
        b"il00" => return bad("the index was written without its inverted lists (il00)"),
        _ => {
            return bad(format!(
                "inverted lists of type {}; only in-file array lists (ilar) are read",
                show_fourcc(lists)
            ));
        }
    }
    if input.count("inverted list count")? != nlist {
        return bad("the inverted lists disagree with the index on the number of lists");
    }
    let code_size = input.u64("code size")?;
    if code_size != d as u64 * 4 {
        return bad(format!(
            "code size {code_size} for vectors of {d} f32 (expected {})",
            d * 4
        ));
    }
    let mut sizes = vec![0usize; nlist];
    let kind = input.array::<4>("list sizes type")?;
    match &kind {
        b"full" => {
            if input.count("list sizes count")? != nlist {
                return bad("the list sizes disagree with the number of lists");
            }
            for size in &mut sizes {
                *size = input.count("list size")?;
            }
        }
        b"sprs" => {
            let n = input.count("sparse list sizes count")?;
            if !n.is_multiple_of(2) {
                return bad(format!("{n} sparse list sizes (must be pairs)"));
            }
            input.need((n as u64).checked_mul(8), "sparse list sizes")?;
            for _ in 0..n / 2 {
                let list = input.count("list number")?;
                let size = input.count("list size")?;
                match sizes.get_mut(list) {
                    Some(s) => *s = size,
                    None => return bad(format!("list number {list} of {nlist}")),
                }
            }
        }
        _ => {
            return bad(format!(
                "list sizes of type {} (expected full or sprs)",
                show_fourcc(kind)
            ));
        }
    }
    let total = sizes
        .iter()
        .try_fold(0usize, |a, &s| a.checked_add(s))
        .filter(|&t| t == ntotal);
    if total.is_none() {
        return bad(format!(
            "the inverted lists do not hold the {ntotal} vectors the header gives"
        ));
    }
    let floats = ntotal.checked_mul(d);
    let bytes = floats.and_then(|f| (f as u64).checked_mul(4));
    check_total(bytes, "IVF index")?;
    // Codes and ids of every vector must still be in the file before the lot is allocated.
    input.need(
        bytes.and_then(|b| b.checked_add(ntotal as u64 * 8)),
        "the inverted lists",
    )?;
    let mut vectors = vec![0f32; floats.unwrap_or(0)];
    let mut placed = vec![false; ntotal];
    let mut codes = Vec::new();
    for (list, &size) in sizes.iter().enumerate() {
        if size == 0 {
            continue;
        }
        codes.clear();
        input.f32s(size * d, &mut codes, "list vectors")?;
        for row in codes.chunks_exact(d) {
            let id = input.i64("vector id")?;
            // reconstruct_n puts each vector at its id; RVC's ids are 0..ntotal in add order.
            let slot = usize::try_from(id).ok().filter(|&i| i < ntotal);
            let Some(slot) = slot.filter(|&i| !placed[i]) else {
                return bad(format!(
                    "list {list} holds id {id}: ids must be 0..{ntotal}, each once"
                ));
            };
            placed[slot] = true;
            vectors[slot * d..(slot + 1) * d].copy_from_slice(row);
        }
    }
    Ok((d, vectors))
}

/// The nearest stored vectors of one query: (squared L2 distance, row), nearest first.
pub type Neighbours = Vec<(f32, usize)>;

/// The stored vectors of an RVC index, ready to search.
pub struct FeatureIndex {
    dim: usize,
    vectors: Vec<f32>,
    /// ‖x‖² per stored vector, for ‖q − x‖² = ‖q‖² − 2 q·x + ‖x‖² (as faiss computes it).
    norms: Vec<f32>,
}

impl std::fmt::Debug for FeatureIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureIndex")
            .field("dim", &self.dim)
            .field("len", &self.len())
            .finish()
    }
}

/// The indexes in use, by file: sessions wearing the same voice share one copy (an index of
/// 100 000 vectors is about 300 MB). An entry lives as long as a converter holds it.
type OpenIndexes = std::collections::HashMap<std::path::PathBuf, (FileStamp, Weak<FeatureIndex>)>;
static OPEN_INDEXES: Mutex<Option<OpenIndexes>> = Mutex::new(None);

/// What tells a file from its rewritten self: its length and modification time.
type FileStamp = (u64, Option<std::time::SystemTime>);

impl FeatureIndex {
    /// The index in `path`, shared with every other holder of the same unchanged file.
    pub fn open_shared(path: &std::path::Path) -> Result<Arc<FeatureIndex>, IndexError> {
        let meta = std::fs::metadata(path)?;
        let stamp = (meta.len(), meta.modified().ok());
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let mut open = OPEN_INDEXES.lock().unwrap_or_else(|p| p.into_inner());
        let open = open.get_or_insert_with(Default::default);
        if let Some((known, weak)) = open.get(&key)
            && *known == stamp
            && let Some(index) = weak.upgrade()
        {
            return Ok(index);
        }
        let index = Arc::new(FeatureIndex::open(path)?);
        open.retain(|_, (_, weak)| weak.strong_count() > 0);
        open.insert(key, (stamp, Arc::downgrade(&index)));
        Ok(index)
    }

    /// Reads an index file.
    pub fn open(path: &std::path::Path) -> Result<FeatureIndex, IndexError> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        FeatureIndex::read(std::io::BufReader::new(file), len)
    }

    /// Reads an index of `len` bytes from `reader`.
    pub fn read(reader: impl Read, len: u64) -> Result<FeatureIndex, IndexError> {
        let mut input = Input {
            inner: reader,
            pos: 0,
            len,
        };
        let code = input.array::<4>("index type")?;
        let (dim, vectors) = if is_flat(code) {
            let mut vectors = Vec::new();
            let (d, _) = flat(&mut input, "flat index", Some(&mut vectors))?;
            (d, vectors)
        } else if &code == b"IwFl" {
            ivf_flat(&mut input)?
        } else {
            return bad(format!(
                "index type {}: only faiss IVF-Flat (IwFl) and flat (IxF2, IxFI, IxFl) indexes are read, as RVC writes them",
                show_fourcc(code)
            ));
        };
        FeatureIndex::from_vectors(dim, vectors)
    }

    /// An index over `vectors` (rows of `dim`).
    pub fn from_vectors(dim: usize, vectors: Vec<f32>) -> Result<FeatureIndex, IndexError> {
        if dim == 0 || !vectors.len().is_multiple_of(dim) {
            return bad(format!(
                "{} values are not whole vectors of {dim}",
                vectors.len()
            ));
        }
        if vectors.is_empty() {
            return bad("the index holds no vectors (RVC's trained_*.index; use added_*.index)");
        }
        if let Some(at) = vectors.iter().position(|v| !v.is_finite()) {
            return bad(format!("vector {} holds a non-finite value", at / dim));
        }
        let norms = vectors
            .chunks_exact(dim)
            .map(|x| x.iter().map(|v| v * v).sum())
            .collect();
        Ok(FeatureIndex {
            dim,
            vectors,
            norms,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Stored vectors.
    pub fn len(&self) -> usize {
        self.norms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.norms.is_empty()
    }

    /// All stored vectors in id order, row after row (faiss's `reconstruct_n(0, ntotal)`).
    pub fn vectors(&self) -> &[f32] {
        &self.vectors
    }

    /// The `k` nearest stored vectors (squared L2) of each query (rows of `dim` in
    /// `queries`), exactly, on up to `threads` threads.
    pub fn search(&self, queries: &[f32], k: usize, threads: usize) -> Vec<Neighbours> {
        let d = self.dim;
        let nq = queries.len() / d;
        let queries = &queries[..nq * d];
        let k = k.min(self.len());
        if nq == 0 || k == 0 {
            return vec![Vec::new(); nq];
        }
        let threads = if self.len() >= PARALLEL_FROM {
            threads.clamp(1, 16)
        } else {
            1
        };
        let qnorms: Vec<f32> = queries
            .chunks_exact(d)
            .map(|q| q.iter().map(|v| v * v).sum())
            .collect();
        let step = self.len().div_ceil(threads);
        let ranges: Vec<Range<usize>> = (0..threads)
            .map(|t| t * step..((t + 1) * step).min(self.len()))
            .filter(|r| !r.is_empty())
            .collect();
        let mut parts: Vec<Vec<TopK>> = if ranges.len() == 1 {
            vec![self.scan(queries, &qnorms, ranges[0].clone(), k)]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = ranges
                    .iter()
                    .map(|r| s.spawn(|| self.scan(queries, &qnorms, r.clone(), k)))
                    .collect();
                handles
                    .into_iter()
                    // A scan cannot panic short of a bug; its part is then left out.
                    .filter_map(|h| h.join().ok())
                    .collect()
            })
        };
        let mut merged = match parts.pop() {
            Some(last) => last,
            None => return vec![Vec::new(); nq],
        };
        for part in parts {
            for (into, from) in merged.iter_mut().zip(part) {
                for (dist, row) in from.items {
                    into.push(dist, row);
                }
            }
        }
        merged.into_iter().map(|t| t.items).collect()
    }

    /// Each query's retrieved vector: its neighbours' mean weighted by 1/score² (RVC's
    /// `weight = square(1 / score)`, score being the squared distance).
    pub fn retrieve(&self, queries: &[f32], k: usize, threads: usize) -> Vec<f32> {
        let d = self.dim;
        let mut out = Vec::with_capacity(queries.len() / d * d);
        for neighbours in self.search(queries, k, threads) {
            let mut mean = vec![0f32; d];
            let weights = inverse_square_weights(&neighbours);
            for (&(_, row), w) in neighbours.iter().zip(weights) {
                let x = &self.vectors[row * d..(row + 1) * d];
                for (m, v) in mean.iter_mut().zip(x) {
                    *m += w * v;
                }
            }
            out.extend(mean);
        }
        out
    }

    /// RVC's mix: `feats = rate · retrieved + (1 − rate) · feats`, over rows of `dim`.
    pub fn mix(&self, feats: &mut [f32], rate: f32, threads: usize) {
        let retrieved = self.retrieve(feats, K, threads);
        for (f, r) in feats.iter_mut().zip(retrieved) {
            *f = rate * r + (1.0 - rate) * *f;
        }
    }

    /// One thread's share: rows `rows` against every query.
    fn scan(&self, queries: &[f32], qnorms: &[f32], rows: Range<usize>, k: usize) -> Vec<TopK> {
        let d = self.dim;
        let nq = qnorms.len();
        let mut tops: Vec<TopK> = (0..nq).map(|_| TopK::new(k)).collect();
        let mut row = rows.start;
        while row < rows.end {
            let take = (rows.end - row).min(4);
            let mut x: [&[f32]; 4] = [&[]; 4];
            for (j, slot) in x.iter_mut().enumerate() {
                // Short blocks repeat their last row; the repeats are not pushed.
                let r = row + j.min(take - 1);
                *slot = &self.vectors[r * d..(r + 1) * d];
            }
            let mut q = 0;
            while q < nq {
                let pair = (nq - q).min(2);
                let q0 = &queries[q * d..(q + 1) * d];
                let q1 = &queries[(q + pair - 1) * d..(q + pair) * d];
                let dots = dots_2x4(q0, q1, x);
                for (i, dots) in dots.iter().enumerate().take(pair) {
                    for (j, dot) in dots.iter().enumerate().take(take) {
                        let dist = (qnorms[q + i] - 2.0 * dot + self.norms[row + j]).max(0.0);
                        tops[q + i].push(dist, row + j);
                    }
                }
                q += pair;
            }
            row += take;
        }
        tops
    }
}

/// RVC's weights, normalised: 1/score² per neighbour. Scaled by the smallest score first, so
/// tiny scores do not overflow; a score of 0 (a stored vector hit exactly) takes all the
/// weight, shared among such hits (the limit of the formula, where RVC's numpy gives NaN).
pub fn inverse_square_weights(neighbours: &[(f32, usize)]) -> Vec<f32> {
    let least = neighbours.iter().map(|n| n.0).fold(f32::INFINITY, f32::min);
    let raw: Vec<f32> = if least > 0.0 {
        neighbours.iter().map(|n| (least / n.0).powi(2)).collect()
    } else {
        neighbours
            .iter()
            .map(|n| if n.0 > 0.0 { 0.0 } else { 1.0 })
            .collect()
    };
    let sum: f32 = raw.iter().sum();
    raw.into_iter().map(|w| w / sum).collect()
}

/// The k best (smallest distance, then lowest row) seen so far, kept sorted.
struct TopK {
    k: usize,
    items: Vec<(f32, usize)>,
}

impl TopK {
    fn new(k: usize) -> TopK {
        TopK {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    #[inline]
    fn push(&mut self, dist: f32, row: usize) {
        if self.items.len() == self.k
            && let Some(&worst) = self.items.last()
            && (dist, row) >= worst
        {
            return;
        }
        let at = self.items.partition_point(|&item| item < (dist, row));
        self.items.insert(at, (dist, row));
        self.items.truncate(self.k);
    }
}

/// Dot products of two queries with four stored vectors.
fn dots_2x4(q0: &[f32], q1: &[f32], x: [&[f32]; 4]) -> [[f32; 4]; 2] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU was just checked to have AVX2 and FMA, all this needs.
            return unsafe { dots_2x4_avx2(q0, q1, x) };
        }
    }
    dots_2x4_body::<false>(q0, q1, x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dots_2x4_avx2(q0: &[f32], q1: &[f32], x: [&[f32]; 4]) -> [[f32; 4]; 2] {
    dots_2x4_body::<true>(q0, q1, x)
}

/// The inner loop: eight-lane accumulators (one AVX register each) for each of the eight
/// products, so eight independent chains stay in registers and every load feeds two or four
/// multiply-adds. `FMA` fuses the multiply-add, which only pays where the CPU has it
/// (otherwise `mul_add` is a libm call).
#[inline(always)]
fn dots_2x4_body<const FMA: bool>(q0: &[f32], q1: &[f32], x: [&[f32]; 4]) -> [[f32; 4]; 2] {
    const L: usize = 8;
    #[inline(always)]
    fn madd<const FMA: bool>(acc: &mut [f32; L], a: &[f32; L], b: &[f32; L]) {
        for l in 0..L {
            acc[l] = if FMA {
                a[l].mul_add(b[l], acc[l])
            } else {
                a[l] * b[l] + acc[l]
            };
        }
    }
    let n = q0
        .len()
        .min(q1.len())
        .min(x.iter().map(|v| v.len()).min().unwrap_or(0));
    let whole = n - n % L;
    let mut acc = [[[0f32; L]; 4]; 2];
    let (q0w, q1w) = (&q0[..whole], &q1[..whole]);
    let [x0, x1, x2, x3] = x.map(|v| &v[..whole]);
    let chunks = q0w
        .chunks_exact(L)
        .zip(q1w.chunks_exact(L))
        .zip(x0.chunks_exact(L).zip(x1.chunks_exact(L)))
        .zip(x2.chunks_exact(L).zip(x3.chunks_exact(L)));
    for (((a, b), (c0, c1)), (c2, c3)) in chunks {
        let (Ok(a), Ok(b)) = (<&[f32; L]>::try_from(a), <&[f32; L]>::try_from(b)) else {
            continue;
        };
        let xs = [c0, c1, c2, c3];
        for (j, c) in xs.into_iter().enumerate() {
            let Ok(c) = <&[f32; L]>::try_from(c) else {
                continue;
            };
            madd::<FMA>(&mut acc[0][j], a, c);
            madd::<FMA>(&mut acc[1][j], b, c);
        }
    }
    let mut out = [[0f32; 4]; 2];
    for (qi, q) in [q0, q1].iter().enumerate() {
        for (xi, xv) in x.iter().enumerate() {
            let tail: f32 = q[whole..n]
                .iter()
                .zip(&xv[whole..n])
                .map(|(a, b)| a * b)
                .sum();
            out[qi][xi] = acc[qi][xi].iter().sum::<f32>() + tail;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_the_smallest_in_order() {
        let mut t = TopK::new(3);
        for (d, r) in [(5.0, 0), (1.0, 1), (3.0, 2), (0.5, 3), (3.0, 4), (9.0, 5)] {
            t.push(d, r);
        }
        assert_eq!(t.items, vec![(0.5, 3), (1.0, 1), (3.0, 2)]);
    }

    #[test]
    fn weights_follow_inverse_square_scores_and_exact_hits_take_all() {
        let w = inverse_square_weights(&[(1.0, 0), (2.0, 1)]);
        assert!(
            (w[0] - 0.8).abs() < 1e-6 && (w[1] - 0.2).abs() < 1e-6,
            "{w:?}"
        );
        let w = inverse_square_weights(&[(0.0, 0), (0.0, 1), (2.0, 2)]);
        assert_eq!(w, vec![0.5, 0.5, 0.0]);
        let w = inverse_square_weights(&[(1e-30, 0), (2e-30, 1)]);
        assert!((w[0] - 0.8).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn unknown_index_types_are_named() {
        let err = FeatureIndex::read(&b"IwPQ\0\0\0\0"[..], 8).unwrap_err();
        assert!(err.to_string().contains("\"IwPQ\""), "{err}");
    }
}
