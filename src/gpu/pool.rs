//! The buffer pool: storage buffers are recycled instead of re-allocated, and a buffer is reused only once
//! nothing on the host refers to it *and* every submission that could touch it has finished on the GPU.
//!
//! Why the second condition: `queue.write_buffer` and `clear_buffer` run at the start of the *next* submit,
//! so handing a buffer to a new tensor while older submitted work still reads it would let the new
//! contents overwrite what that work was reading. Each retired buffer therefore carries the serial of the
//! last submission made before it was retired, and the pool waits for the queue to report that serial done.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Every tensor buffer can be read and written by kernels and copied in both directions.
pub const TENSOR_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Buffers are sized in multiples of 16 bytes so that a kernel may read a whole `vec4<f32>` at the end of a
/// tensor whose length is not a multiple of 4 without leaving the buffer.
pub fn padded_size(bytes: u64) -> u64 {
    bytes.max(16).div_ceil(16) * 16
}

/// Submission serials: `submitted` counts submits; `completed` is advanced by the queue's
/// work-done callbacks (fired during `device.poll` natively, by the browser on the web).
#[derive(Default)]
pub struct Serials {
    pub submitted: AtomicU64,
    pub completed: AtomicU64,
}

#[derive(Default)]
struct Inner {
    /// Reusable now, by padded byte size.
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    /// Waiting for the GPU to finish submission `serial`.
    retired: Vec<(u64, wgpu::Buffer)>,
    free_bytes: u64,
}

pub struct BufferPool {
    inner: Mutex<Inner>,
    serials: Arc<Serials>,
    /// Free buffers beyond this many bytes are destroyed instead of kept.
    max_free_bytes: u64,
}

/// A pooled buffer: returns itself to the pool when the last `Arc` to it drops.
pub struct PooledBuffer {
    pub buffer: wgpu::Buffer,
    pool: Weak<BufferPool>,
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.retire(self.buffer.clone());
        }
    }
}

impl BufferPool {
    pub fn new(serials: Arc<Serials>) -> Arc<Self> {
        Arc::new(BufferPool { inner: Mutex::new(Inner::default()), serials, max_free_bytes: 1 << 30 })
    }

    /// A buffer of at least `bytes` (padded); its contents are whatever its last user left.
    pub fn take(self: &Arc<Self>, device: &wgpu::Device, bytes: u64) -> Arc<PooledBuffer> {
        let size = padded_size(bytes);
        let reused = {
            let mut inner = self.inner.lock().unwrap();
            self.reclaim(&mut inner);
            let found = inner.free.get_mut(&size).and_then(|v| v.pop());
            if found.is_some() {
                inner.free_bytes -= size;
            }
            found
        };
        let buffer = reused.unwrap_or_else(|| {
            device.create_buffer(&wgpu::BufferDescriptor { label: Some("tensor"), size, usage: TENSOR_USAGE, mapped_at_creation: false })
        });
        Arc::new(PooledBuffer { buffer, pool: Arc::downgrade(self) })
    }

    fn retire(&self, buffer: wgpu::Buffer) {
        let serial = self.serials.submitted.load(Ordering::Acquire);
        self.inner.lock().unwrap().retired.push((serial, buffer));
    }

    /// Moves retired buffers whose last possible submission has completed to the free lists.
    fn reclaim(&self, inner: &mut Inner) {
        let done = self.serials.completed.load(Ordering::Acquire);
        let mut i = 0;
        while i < inner.retired.len() {
            if inner.retired[i].0 <= done {
                let (_, buffer) = inner.retired.swap_remove(i);
                let size = buffer.size();
                if inner.free_bytes + size > self.max_free_bytes {
                    buffer.destroy();
                } else {
                    inner.free_bytes += size;
                    inner.free.entry(size).or_default().push(buffer);
                }
            } else {
                i += 1;
            }
        }
    }

    /// (free buffers, retired buffers) — for tests of the pool itself.
    pub fn counts(&self) -> (usize, usize) {
        let mut inner = self.inner.lock().unwrap();
        self.reclaim(&mut inner);
        (inner.free.values().map(Vec::len).sum(), inner.retired.len())
    }
}
