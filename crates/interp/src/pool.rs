//! Output buffers reused from run to run and from layer to layer: when a run drops an f32
//! or 8-bit value after its last read, its buffer goes to the interpreter's pool, and a kernel that
//! writes every element of its output (convolution) takes a buffer of that length from the
//! pool instead of allocating and zero-filling a fresh one: the smallest buffer that holds
//! the output and is at most twice its size (a layer's output usually finds the buffer of
//! the layer two or three before it, or of the same layer in the run before) — no
//! allocation, no page faults, no zero fill.
//!
//! The pool keeps at most [`KEEP_BYTES`], dropping the buffers it was given longest ago
//! first, so it holds a few activations' worth at most. A buffer's old contents are never
//! read: only kernels that overwrite every element take one, so results are the same bits
//! whether a buffer came from the pool or not.

use std::any::{Any, TypeId};
use std::collections::VecDeque;
use std::sync::Mutex;

use ndarray::ArrayD;

/// Bytes the pool holds at most (one or two of MobileNetV2's or EfficientNet-B0's largest
/// activations). Every byte it holds is added to a run's peak memory: at 24 MiB, `modelc
/// run` of ResNet-50 peaked at 160 MiB, over the bound of 152.7 MiB (8 MiB: 140 MiB,
/// and MobileNetV2 as fast).
const KEEP_BYTES: usize = 8 << 20;

/// Buffers shorter than this are not kept (the allocator serves them well).
const MIN_LEN: usize = 1 << 10;

/// Freed buffers, oldest first.
#[derive(Default)]
pub(crate) struct Pool {
    free: Mutex<Free>,
}

#[derive(Default)]
struct Free {
    bufs: VecDeque<Kept>,
    bytes: usize,
}

/// One kept buffer: a `Vec<T>` for the element type `ty`, holding `cap` elements.
struct Kept {
    ty: TypeId,
    cap: usize,
    bytes: usize,
    buf: Box<dyn Any + Send>,
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Free> {
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps the buffer of a dropped value (when it owns exactly its elements).
    pub(crate) fn give<T: Send + 'static>(&self, a: ArrayD<T>) {
        let len = a.len();
        if len < MIN_LEN || !a.is_standard_layout() {
            return;
        }
        let (v, offset) = a.into_raw_vec_and_offset();
        let cap = v.capacity();
        let bytes = cap * std::mem::size_of::<T>();
        if offset.unwrap_or(0) != 0 || v.len() != len || bytes > KEEP_BYTES {
            return;
        }
        let mut free = self.lock();
        while free.bytes + bytes > KEEP_BYTES {
            let Some(old) = free.bufs.pop_front() else {
                break;
            };
            free.bytes -= old.bytes;
        }
        free.bytes += bytes;
        free.bufs.push_back(Kept {
            ty: TypeId::of::<T>(),
            cap,
            bytes,
            buf: Box::new(v),
        });
    }

    /// A buffer of `len` elements of `T` with unspecified (initialized) contents: the
    /// pool's smallest buffer of `T` with room for `len` and at most twice that, or, when
    /// it has none, a zeroed new one. The caller writes every element.
    pub(crate) fn take<T: Clone + num_traits::Zero + 'static>(
        pool: Option<&Pool>,
        len: usize,
    ) -> Vec<T> {
        if let Some(p) = pool.filter(|_| len >= MIN_LEN) {
            let found = {
                let mut free = p.lock();
                let fits = |k: &Kept| k.ty == TypeId::of::<T>() && (len..=2 * len).contains(&k.cap);
                let best = (0..free.bufs.len())
                    .filter(|&i| fits(&free.bufs[i]))
                    .min_by_key(|&i| free.bufs[i].cap);
                best.and_then(|i| free.bufs.remove(i))
                    .inspect(|k| free.bytes -= k.bytes)
            };
            if let Some(Ok(v)) = found.map(|k| k.buf.downcast::<Vec<T>>()) {
                let mut v = *v;
                // Within capacity: shortening writes nothing, lengthening writes only the
                // new tail.
                v.resize(len, T::zero());
                return v;
            }
        }
        vec![T::zero(); len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn reuses_buffers_by_length_and_keeps_a_bounded_amount() {
        let pool = Pool::default();
        let a = ArrayD::from_elem(IxDyn(&[2, 1024]), 3.0f32);
        let ptr = a.as_ptr();
        pool.give(a);
        // Under half its size, longer, or another type: a fresh zeroed buffer.
        assert_eq!(Pool::take::<u8>(Some(&pool), 8192), vec![0; 8192]);
        assert_eq!(Pool::take::<f32>(Some(&pool), 1023), vec![0.0; 1023]);
        assert_eq!(Pool::take::<f32>(Some(&pool), 2049), vec![0.0; 2049]);
        assert_eq!(Pool::take::<f64>(Some(&pool), 2048), vec![0.0; 2048]);
        let v = Pool::take::<f32>(Some(&pool), 1500);
        assert_eq!((v.as_ptr(), v.len()), (ptr, 1500));
        assert_eq!(pool.lock().bytes, 0);
        // Bytes are kept by their own type.
        let q = ArrayD::from_elem(IxDyn(&[3000]), 7u8);
        let qptr = q.as_ptr();
        pool.give(q);
        assert_eq!(Pool::take::<i8>(Some(&pool), 3000), vec![0; 3000]);
        let v = Pool::take::<u8>(Some(&pool), 2500);
        assert_eq!((v.as_ptr(), v.len()), (qptr, 2500));
        assert_eq!(pool.lock().bytes, 0);
        // A view that does not start at its buffer's start is not kept.
        let mut b = ArrayD::from_elem(IxDyn(&[4096]), 1.0f32);
        b.slice_collapse(ndarray::s![1..]);
        pool.give(b);
        assert!(pool.lock().bufs.is_empty());
        // Over the bound, the oldest buffers go first.
        let big = KEEP_BYTES / 4 / 3;
        for _ in 0..5 {
            pool.give(ArrayD::<f32>::zeros(IxDyn(&[big])));
        }
        let free = pool.lock();
        assert_eq!(free.bufs.len(), 3);
        assert!(free.bytes <= KEEP_BYTES);
    }
}
