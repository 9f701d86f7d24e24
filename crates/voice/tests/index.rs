//! The RVC index reader on files laid out as faiss writes them (`faiss_file.rs`), broken
//! files refused, and the retrieval against a brute-force reference in f64.

mod faiss_file;

use faiss_file::*;
use studio_voice::index::{FeatureIndex, K, inverse_square_weights};

fn read(bytes: &[u8]) -> Result<FeatureIndex, String> {
    FeatureIndex::read(bytes, bytes.len() as u64).map_err(|e| e.to_string())
}

fn refused(bytes: &[u8], says: &str) {
    match read(bytes) {
        Ok(_) => panic!("read a file that should be refused ({says})"),
        Err(e) => assert!(e.contains(says), "expected {says:?} in {e:?}"),
    }
}

/// Where the inverted lists start in a file from `ivf_flat` with no direct map: the IVF
/// header (4 + 33 + 16 bytes), the quantizer (4 + 33 + 8 + its vectors), the map (1 + 8).
fn ilar_at(d: usize, nlist: usize) -> usize {
    53 + 45 + nlist * d * 4 + 9
}

#[test]
fn flat_indexes_give_their_vectors() {
    let mut rng = Rng(1);
    for metric in [METRIC_L2, METRIC_IP] {
        let vectors = rng.normals(5 * 7);
        let mut bytes = Vec::new();
        flat(&mut bytes, 7, &vectors, metric);
        let index = read(&bytes).unwrap();
        assert_eq!((index.dim(), index.len()), (7, 5));
        assert_eq!(index.vectors(), &vectors[..]);
    }
}

#[test]
fn ivf_flat_indexes_give_their_vectors_in_id_order() {
    let mut rng = Rng(2);
    for map in [DirectMap::None, DirectMap::Array, DirectMap::Hashtable] {
        // Four lists, all used: sizes stored in full.
        let (bytes, vectors) = random_ivf(&mut rng, 12, 50, 4, map);
        if matches!(map, DirectMap::None) {
            assert_eq!(&bytes[ilar_at(12, 4)..][..4], b"ilar".as_slice());
        }
        let index = read(&bytes).unwrap();
        assert_eq!((index.dim(), index.len()), (12, 50));
        assert_eq!(index.vectors(), &vectors[..]);
    }
    // Sixty-four lists for ten vectors: sizes stored sparse.
    let (bytes, vectors) = random_ivf(&mut rng, 6, 10, 64, DirectMap::None);
    assert_eq!(&bytes[ilar_at(6, 64) + 20..][..4], b"sprs".as_slice());
    assert_eq!(read(&bytes).unwrap().vectors(), &vectors[..]);
}

#[test]
fn every_truncation_is_refused() {
    let (bytes, _) = random_ivf(&mut Rng(3), 4, 6, 2, DirectMap::Array);
    for len in 0..bytes.len() {
        let cut = &bytes[..len];
        // The length known (a file's) and the length unknown (a stream that ends early).
        assert!(read(cut).is_err(), "{len} bytes read");
        assert!(
            FeatureIndex::read(cut, bytes.len() as u64).is_err(),
            "{len} bytes read as a stream"
        );
    }
    assert!(read(&bytes).is_ok());
}

#[test]
fn huge_counts_are_refused_before_anything_is_allocated() {
    let d = 4;
    let (good, _) = random_ivf(&mut Rng(4), d, 6, 2, DirectMap::None);
    let patch = |at: usize, value: &[u8]| {
        let mut b = good.clone();
        b[at..at + value.len()].copy_from_slice(value);
        b
    };
    let ilar = ilar_at(d, 2);
    let max = u64::MAX.to_le_bytes();
    // The IVF's vector count.
    refused(&patch(8, &i64::MAX.to_le_bytes()), "do not hold the");
    refused(&patch(8, &(-1i64).to_le_bytes()), "negative");
    refused(&patch(4, &i32::MAX.to_le_bytes()), "dimension");
    refused(&patch(4, &0i32.to_le_bytes()), "dimension");
    // The list count, the quantizer's vector count and value count.
    refused(&patch(37, &max), "centroids");
    refused(&patch(61, &i64::MAX.to_le_bytes()), "values stored");
    refused(&patch(90, &max), "values stored");
    // The direct map's size.
    refused(&patch(ilar - 8, &max), "too large to be real");
    // A list size of 2⁶⁴ − 1, and sizes that overflow together.
    refused(&patch(ilar + 32, &max), "do not hold the");
    let mut b = patch(ilar + 32, &(u64::MAX / 2).to_le_bytes());
    b[ilar + 40..ilar + 48].copy_from_slice(&(u64::MAX / 2 + 8).to_le_bytes());
    refused(&b, "do not hold the");
    // The sizes' own count.
    refused(&patch(ilar + 24, &max), "disagree");
    // A flat index of 2⁴⁰ vectors (16 TiB), consistent with itself; and one of 2²⁰ (16 MiB)
    // in a file of a few bytes.
    let mut flat_bytes = Vec::new();
    flat(&mut flat_bytes, d, &[0.5; 8], METRIC_L2);
    let mut b = flat_bytes.clone();
    b[8..16].copy_from_slice(&(1i64 << 40).to_le_bytes());
    b[37..45].copy_from_slice(&(4u64 << 40).to_le_bytes());
    refused(&b, "more than 8 GiB");
    let mut b = flat_bytes;
    b[8..16].copy_from_slice(&(1i64 << 20).to_le_bytes());
    b[37..45].copy_from_slice(&(4u64 << 20).to_le_bytes());
    refused(&b, "only 32 are left");
}

#[test]
fn what_is_not_an_rvc_index_is_refused_by_name() {
    refused(b"IwPQ\0\0\0\0", "\"IwPQ\"");
    refused(b"IHNf", "\"IHNf\"");
    refused(b"\x00\x01ab", "\"\\x00\\x01ab\"");
    let d = 4;
    let (good, _) = random_ivf(&mut Rng(5), d, 6, 2, DirectMap::None);
    let patch = |at: usize, value: &[u8]| {
        let mut b = good.clone();
        b[at..at + value.len()].copy_from_slice(value);
        b
    };
    let ilar = ilar_at(d, 2);
    refused(&patch(53, b"IHNf"), "quantizer is \"IHNf\"");
    refused(&patch(ilar, b"il00"), "without its inverted lists");
    refused(&patch(ilar, b"ilod"), "\"ilod\"");
    refused(&patch(ilar + 20, b"half"), "\"half\"");
    refused(
        &patch(ilar + 12, &(d as u64 * 2).to_le_bytes()),
        "code size 8",
    );
    refused(&patch(33, &5i32.to_le_bytes()), "metric type 5");
    refused(&patch(32, &[7]), "is_trained");
    refused(&patch(ilar - 9, &[3]), "direct map type 3");
    // Ids: the last list's last id, made a duplicate of the one before and out of range.
    let last_id = good.len() - 8;
    let before = i64::from_le_bytes(good[last_id - 8..last_id].try_into().unwrap());
    refused(&patch(last_id, &before.to_le_bytes()), "each once");
    refused(&patch(last_id, &6i64.to_le_bytes()), "each once");
    refused(&patch(last_id, &(-1i64).to_le_bytes()), "each once");
    // A NaN in a stored vector would poison every distance to it.
    let mut b = Vec::new();
    flat(&mut b, 2, &[1.0, f32::NAN, 0.0, 0.0], METRIC_L2);
    refused(&b, "vector 0 holds a non-finite value");
    // An index trained but never filled (RVC's trained_*.index).
    let mut b = Vec::new();
    flat(&mut b, 3, &[], METRIC_L2);
    refused(&b, "no vectors");
}

/// The exact k nearest in f64: (squared distance, row), nearest first.
fn brute_force(vectors: &[f32], d: usize, q: &[f32], k: usize) -> Vec<(f64, usize)> {
    let mut all: Vec<(f64, usize)> = vectors
        .chunks_exact(d)
        .enumerate()
        .map(|(row, x)| {
            let dist = x
                .iter()
                .zip(q)
                .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                .sum();
            (dist, row)
        })
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.truncate(k + 1);
    all
}

/// Distances are computed as ‖q‖² − 2q·x + ‖x‖² in f32 (as faiss does), so they carry an
/// absolute error of a few f32 ulps of ‖q‖² + ‖x‖²; neighbours are only compared where the
/// k-th and (k+1)-th reference distances are further apart than this.
fn tolerance(vectors: &[f32], d: usize, q: &[f32]) -> f64 {
    let qn: f64 = q.iter().map(|&v| (v as f64).powi(2)).sum();
    let xn = vectors
        .chunks_exact(d)
        .map(|x| x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>())
        .fold(0.0, f64::max);
    1e-5 * (qn + xn)
}

fn check_search(d: usize, n: usize, nq: usize, threads: usize, seed: u64) -> usize {
    let mut rng = Rng(seed);
    let vectors = rng.normals(n * d);
    let index = FeatureIndex::from_vectors(d, vectors.clone()).unwrap();
    // Queries near stored vectors, as real frames are near training frames, and far ones.
    let mut queries = rng.normals(nq * d);
    for (i, q) in queries
        .chunks_exact_mut(d)
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
    {
        let near = &vectors[(i * 37 % n) * d..][..d];
        for (v, x) in q.iter_mut().zip(near) {
            *v = x + 0.1 * *v;
        }
    }
    let found = index.search(&queries, K, threads);
    assert_eq!(found.len(), nq);
    let mut compared = 0;
    for (q, got) in queries.chunks_exact(d).zip(&found) {
        let want = brute_force(&vectors, d, q, K);
        let tol = tolerance(&vectors, d, q);
        assert_eq!(got.len(), K.min(n));
        for ((gd, _), (wd, _)) in got.iter().zip(&want) {
            assert!(
                (*gd as f64 - wd).abs() <= tol,
                "distance {gd} vs {wd} (tol {tol})"
            );
        }
        if want.len() > K && want[K].0 - want[K - 1].0 <= tol {
            continue;
        }
        compared += 1;
        let rows = |v: &[(f64, usize)]| {
            let mut r: Vec<usize> = v.iter().take(K).map(|n| n.1).collect();
            r.sort();
            r
        };
        let got_rows: Vec<(f64, usize)> = got.iter().map(|&(dd, r)| (dd as f64, r)).collect();
        assert_eq!(rows(&got_rows), rows(&want));
    }
    compared
}

#[test]
fn the_search_finds_the_exact_neighbours() {
    // Dimensions that are and are not a multiple of the eight lanes; odd query counts and
    // row counts that leave partial tiles.
    assert!(check_search(13, 1001, 7, 1, 10) >= 6);
    assert!(check_search(768, 2003, 5, 1, 11) >= 4);
    assert!(
        check_search(8, 3, 3, 1, 12) >= 3,
        "fewer stored vectors than k"
    );
    // Large enough to be split over threads.
    assert!(check_search(16, 20_011, 9, 3, 13) >= 8);
}

#[test]
fn the_mix_matches_rvcs_formula_in_f64() {
    let (d, n, nq) = (96, 3000, 6);
    let mut rng = Rng(20);
    let vectors = rng.normals(n * d);
    let index = FeatureIndex::from_vectors(d, vectors.clone()).unwrap();
    let feats = rng.normals(nq * d);
    for rate in [0.0f32, 0.3, 0.75, 1.0] {
        let mut mixed = feats.clone();
        index.mix(&mut mixed, rate, 1);
        for (q, (got, orig)) in feats
            .chunks_exact(d)
            .zip(mixed.chunks_exact(d).zip(feats.chunks_exact(d)))
        {
            // RVC: weight = (1/score)², normalised; retrieved = Σ weight · big_npy[ix].
            let nearest = brute_force(&vectors, d, q, K);
            let weights: Vec<f64> = nearest.iter().take(K).map(|n| 1.0 / (n.0 * n.0)).collect();
            let total: f64 = weights.iter().sum();
            for c in 0..d {
                let retrieved: f64 = nearest
                    .iter()
                    .zip(&weights)
                    .map(|(n, w)| w / total * vectors[n.1 * d + c] as f64)
                    .sum();
                let want = rate as f64 * retrieved + (1.0 - rate as f64) * orig[c] as f64;
                // f32 arithmetic on values of order 1: 1e-5 absolute.
                assert!(
                    (got[c] as f64 - want).abs() < 1e-5,
                    "rate {rate}, component {c}: {} vs {want}",
                    got[c]
                );
            }
        }
    }
    // Weights as a function.
    let w = inverse_square_weights(&[(2.0, 0), (4.0, 1)]);
    assert!((w[0] - 0.8).abs() < 1e-6);
}

/// `cargo test -p studio-voice --test index -- --ignored --nocapture search_speed` (the dev
/// profile builds this crate at opt-level 3; `--release` gives the same loop)
#[test]
#[ignore = "a benchmark: run it on purpose"]
fn search_speed() {
    let (d, n) = (768, 100_000);
    let mut rng = Rng(30);
    let index = FeatureIndex::from_vectors(d, rng.normals(n * d)).unwrap();
    let threads_max = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    // A default neural voice (100 ms block, 300 ms context, 20 + 10 ms) mixes the 7 newest
    // of a window's 21 vectors; the whole window is 21.
    for nq in [7, 21] {
        let queries = rng.normals(nq * d);
        for threads in [1, threads_max] {
            let mut feats = queries.clone();
            index.mix(&mut feats, 0.75, threads);
            let runs = 5;
            let started = std::time::Instant::now();
            for _ in 0..runs {
                let mut feats = queries.clone();
                index.mix(&mut feats, 0.75, threads);
            }
            let ms = started.elapsed().as_secs_f64() * 1000.0 / runs as f64;
            println!(
                "{n} stored vectors of {d}, {nq} queries, {threads} thread(s): {ms:.1} ms per block"
            );
        }
    }
}

/// Sessions wearing the same voice share its index: one copy while any holds it, read again
/// once none does or when the file is rewritten.
#[test]
fn an_index_file_in_use_is_shared_and_a_rewritten_one_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("added_IVF4_Flat_nprobe_1_alto_v2.index");
    let mut rng = Rng(9);
    let (bytes, _) = random_ivf(&mut rng, 8, 20, 4, DirectMap::None);
    std::fs::write(&path, &bytes).unwrap();
    let a = FeatureIndex::open_shared(&path).unwrap();
    let b = FeatureIndex::open_shared(&path).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b), "one copy for two holders");
    drop((a, b));
    let c = FeatureIndex::open_shared(&path).unwrap();
    assert_eq!(c.len(), 20);
    // Rewritten with another size: read again, not the copy in use.
    let (bytes, _) = random_ivf(&mut rng, 8, 30, 4, DirectMap::None);
    std::fs::write(&path, &bytes).unwrap();
    let d = FeatureIndex::open_shared(&path).unwrap();
    assert_eq!((c.len(), d.len()), (20, 30));
    assert!(!std::sync::Arc::ptr_eq(&c, &d));
}
