//! A small writer of faiss index files, byte for byte what `faiss.write_index` writes for
//! flat and IVF-Flat indexes (`faiss/impl/index_write.cpp` at commit 02dbb4e42f49:
//! `write_index_header` 100–111, "ilar" lists 303–344, `write_direct_map` 451–463,
//! `write_ivf_header` 465–473, flat indexes 492–499, `IwFl` 737–743; `WRITEXBVECTOR` in
//! `io_macros.h` 112–118), so the reader is tested on the real layout. Little-endian.
#![allow(dead_code)]

/// faiss's metric numbers.
pub const METRIC_IP: i32 = 0;
pub const METRIC_L2: i32 = 1;

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend(v.to_le_bytes());
}

pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend(v.to_le_bytes());
}

pub fn put_f32s(out: &mut Vec<u8>, values: &[f32]) {
    for v in values {
        out.extend(v.to_le_bytes());
    }
}

/// `write_index_header`: d, ntotal, two dummies of 1 << 20, is_trained, metric.
pub fn header(out: &mut Vec<u8>, d: i32, ntotal: i64, metric: i32) {
    out.extend(d.to_le_bytes());
    put_i64(out, ntotal);
    put_i64(out, 1 << 20);
    put_i64(out, 1 << 20);
    out.push(1);
    out.extend(metric.to_le_bytes());
}

/// A flat index: fourcc by metric, header, then the codes as `WRITEXBVECTOR` writes them
/// (the byte count / 4, then the bytes).
pub fn flat(out: &mut Vec<u8>, d: usize, vectors: &[f32], metric: i32) {
    out.extend(if metric == METRIC_IP {
        b"IxFI"
    } else {
        b"IxF2"
    });
    header(out, d as i32, (vectors.len() / d) as i64, metric);
    put_u64(out, vectors.len() as u64);
    put_f32s(out, vectors);
}

/// How the IVF's direct map is stored.
#[derive(Clone, Copy)]
pub enum DirectMap {
    None,
    /// Type 1: an array of list/offset entries, one per vector.
    Array,
    /// Type 2: an empty array, then (id, entry) pairs.
    Hashtable,
}

/// An `IVF<nlist>,Flat` index: `lists[l]` holds (id, vector) pairs of list `l`.
pub fn ivf_flat(
    d: usize,
    centroids: &[f32],
    lists: &[Vec<(i64, Vec<f32>)>],
    nprobe: u64,
    map: DirectMap,
) -> Vec<u8> {
    let nlist = lists.len();
    let ntotal: usize = lists.iter().map(Vec::len).sum();
    let mut out = Vec::new();
    out.extend(b"IwFl");
    header(&mut out, d as i32, ntotal as i64, METRIC_L2);
    put_u64(&mut out, nlist as u64);
    put_u64(&mut out, nprobe);
    flat(&mut out, d, centroids, METRIC_L2);
    match map {
        DirectMap::None => {
            out.push(0);
            put_u64(&mut out, 0);
        }
        DirectMap::Array => {
            out.push(1);
            put_u64(&mut out, ntotal as u64);
            for (l, list) in lists.iter().enumerate() {
                for offset in 0..list.len() {
                    put_i64(&mut out, ((l as i64) << 32) | offset as i64);
                }
            }
        }
        DirectMap::Hashtable => {
            out.push(2);
            put_u64(&mut out, 0);
            put_u64(&mut out, ntotal as u64);
            for (l, list) in lists.iter().enumerate() {
                for (offset, (id, _)) in list.iter().enumerate() {
                    put_i64(&mut out, *id);
                    put_i64(&mut out, ((l as i64) << 32) | offset as i64);
                }
            }
        }
    }
    out.extend(b"ilar");
    put_u64(&mut out, nlist as u64);
    put_u64(&mut out, (d * 4) as u64);
    // faiss stores sizes in full when more than half the lists are used, else sparse.
    let used = lists.iter().filter(|l| !l.is_empty()).count();
    if used > nlist / 2 {
        out.extend(b"full");
        put_u64(&mut out, nlist as u64);
        for list in lists {
            put_u64(&mut out, list.len() as u64);
        }
    } else {
        out.extend(b"sprs");
        put_u64(&mut out, 2 * used as u64);
        for (l, list) in lists.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
            put_u64(&mut out, l as u64);
            put_u64(&mut out, list.len() as u64);
        }
    }
    for list in lists.iter().filter(|l| !l.is_empty()) {
        for (_, v) in list {
            put_f32s(&mut out, v);
        }
        for (id, _) in list {
            put_i64(&mut out, *id);
        }
    }
    out
}

/// Deterministic pseudo-random numbers for test data (xorshift64*, Box–Muller).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    pub fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
    pub fn normals(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.normal()).collect()
    }
}

/// `n` random vectors of `d` spread over `nlist` lists by nearest centroid (as `index.add`
/// assigns them), ids 0..n in add order; returns the file and the vectors in id order.
pub fn random_ivf(
    rng: &mut Rng,
    d: usize,
    n: usize,
    nlist: usize,
    map: DirectMap,
) -> (Vec<u8>, Vec<f32>) {
    let vectors = rng.normals(n * d);
    let centroids = rng.normals(nlist * d);
    let mut lists: Vec<Vec<(i64, Vec<f32>)>> = vec![Vec::new(); nlist];
    for (id, v) in vectors.chunks_exact(d).enumerate() {
        let nearest = (0..nlist)
            .min_by(|&a, &b| {
                let dist = |c: usize| -> f32 {
                    v.iter()
                        .zip(&centroids[c * d..(c + 1) * d])
                        .map(|(x, y)| (x - y) * (x - y))
                        .sum()
                };
                dist(a).total_cmp(&dist(b))
            })
            .unwrap();
        lists[nearest].push((id as i64, v.to_vec()));
    }
    (ivf_flat(d, &centroids, &lists, 1, map), vectors)
}
